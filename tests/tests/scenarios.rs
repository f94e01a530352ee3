//! Whole transaction scenarios over the simulated network, each pinned by a ladder snapshot
//! in `snapshots/` (one line per datagram: virtual ms, from -> to, start line, CSeq, branch).

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_core::endpoint::{Event, TransactionId, Transport};
use sip_core::message::{Method, Request, RequestBuilder, StatusCode, Uri};
use sip_core::sim::LinkConfig;
use sip_core::transaction::Timer;
use sip_tests::{ack_for_2xx, answer_with, assert_quiescent, pair, snapshot, statuses, transaction_layer};

/// The Call-ID of every scenario's requests.
const CALL_ID: &str = "3848276298220188511@192.0.2.1";

fn request(method: Method, cseq: u32) -> Request {
    sip_tests::request(method, CALL_ID, cseq, None)
}

#[test]
fn options_is_answered_200() {
    let (mut net, alice, bob) = pair(1, transaction_layer);
    answer_with(&mut net, bob, StatusCode::OK);
    net.send_request(alice, request(Method::Options, 1), bob, Transport::Udp)
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(statuses(&net, alice), [200]);
    assert_quiescent(&mut net, &[alice, bob]);
    snapshot!("options_200", &net);
}

#[test]
fn invite_rejected_486_is_acked_by_the_client_transaction() {
    let (mut net, alice, bob) = pair(2, transaction_layer);
    answer_with(&mut net, bob, StatusCode::BUSY_HERE);
    net.send_request(alice, request(Method::Invite, 1), bob, Transport::Udp)
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(statuses(&net, alice), [100, 486]);
    assert_quiescent(&mut net, &[alice, bob]);
    snapshot!("invite_486_ack", &net);
}

#[test]
fn invite_100_180_200_hands_the_2xx_to_the_user_who_acks_it() {
    let (mut net, alice, bob) = pair(3, transaction_layer);
    let ringing: std::rc::Rc<std::cell::Cell<Option<TransactionId>>> = Default::default();
    let seen = ringing.clone();
    net.set_handler(bob, move |endpoint, event, now| {
        if let Event::Request {
            transaction, request, ..
        } = event
            && request.method == Method::Invite
        {
            let response = endpoint.response(transaction, StatusCode::RINGING).unwrap();
            endpoint.respond(now, transaction, response).unwrap();
            seen.set(Some(transaction));
        }
    });
    net.set_handler(alice, |endpoint, event, now| {
        if let Event::Response { response, .. } = event
            && response.status.is_success()
        {
            let destination = "192.0.2.2:5060".parse().unwrap();
            endpoint.send_stateless(now, ack_for_2xx(&response, None), destination);
        }
    });
    net.send_request(alice, request(Method::Invite, 1), bob, Transport::Udp)
        .unwrap();
    net.run_for(Duration::from_millis(2000));
    let tx = ringing.get().unwrap();
    net.on(bob, |e, now| {
        let ok = e.response(tx, StatusCode::OK).unwrap();
        e.respond(now, tx, ok).unwrap();
    });
    net.run_until_idle().unwrap();
    assert_eq!(statuses(&net, alice), [100, 180, 200]);
    assert!(
        net.events(bob)
            .iter()
            .any(|(_, e)| matches!(e, Event::Ack { .. })),
        "the 2xx ACK reaches Bob's user"
    );
    assert_quiescent(&mut net, &[alice, bob]);
    snapshot!("invite_100_180_200", &net);
}

#[test]
fn non_invite_under_loss_doubles_e_to_t2_and_times_out_on_f() {
    let (mut net, alice, bob) = pair(4, transaction_layer);
    answer_with(&mut net, bob, StatusCode::OK);
    net.lose(alice, bob, "OPTIONS", usize::MAX);
    let tx = net
        .send_request(alice, request(Method::Options, 1), bob, Transport::Udp)
        .unwrap();
    net.run_until_idle().unwrap();
    let timeout = net
        .events(alice)
        .iter()
        .find(|(_, e)| matches!(e, Event::Timeout { transaction, timer: Timer::F } if *transaction == tx));
    assert!(timeout.is_some(), "Timer F reported");
    assert_eq!(net.elapsed(), Duration::from_secs(32), "F fires at 64*T1");
    assert_quiescent(&mut net, &[alice, bob]);
    snapshot!("non_invite_loss_e_f", &net);
}

#[test]
fn unanswered_invite_doubles_a_and_times_out_on_b_at_32_s() {
    let (mut net, alice, bob) = pair(5, transaction_layer);
    net.lose(alice, bob, "INVITE", usize::MAX);
    net.send_request(alice, request(Method::Invite, 1), bob, Transport::Udp)
        .unwrap();
    net.run_until_idle().unwrap();
    assert!(
        net.events(alice)
            .iter()
            .any(|(_, e)| matches!(e, Event::Timeout { timer: Timer::B, .. }))
    );
    assert_eq!(net.elapsed(), Duration::from_secs(32));
    snapshot!("invite_unanswered_a_b", &net);
}

#[test]
fn server_invite_resends_its_final_response_on_g_until_the_ack() {
    let (mut net, alice, bob) = pair(6, transaction_layer);
    answer_with(&mut net, bob, StatusCode::BUSY_HERE);
    net.lose(bob, alice, "486", 2);
    net.send_request(alice, request(Method::Invite, 1), bob, Transport::Udp)
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(statuses(&net, alice), [100, 486]);
    assert_quiescent(&mut net, &[alice, bob]);
    snapshot!("invite_486_g_until_ack", &net);
}

#[test]
fn server_invite_gives_up_on_h_when_no_ack_arrives() {
    let (mut net, alice, bob) = pair(7, transaction_layer);
    answer_with(&mut net, bob, StatusCode::BUSY_HERE);
    net.lose(alice, bob, "ACK", usize::MAX);
    net.send_request(alice, request(Method::Invite, 1), bob, Transport::Udp)
        .unwrap();
    net.run_until_idle().unwrap();
    assert!(
        net.events(bob)
            .iter()
            .any(|(_, e)| matches!(e, Event::Timeout { timer: Timer::H, .. }))
    );
    assert_quiescent(&mut net, &[alice, bob]);
    snapshot!("invite_486_h_expires", &net);
}

#[test]
fn cancel_of_a_pending_invite_gets_200_then_487_and_the_ack() {
    let (mut net, alice, bob) = pair(8, transaction_layer);
    answer_with(&mut net, bob, StatusCode::RINGING);
    let invite = net
        .send_request(alice, request(Method::Invite, 1), bob, Transport::Udp)
        .unwrap();
    net.run_for(Duration::from_millis(500));
    let cancel = net.on(alice, |e, now| e.cancel_transaction(now, invite)).unwrap();
    net.run_until_idle().unwrap();
    let responses: Vec<(TransactionId, u16)> = net
        .events(alice)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Response {
                transaction,
                response,
            } => Some((*transaction, response.status.as_u16())),
            _ => None,
        })
        .collect();
    assert!(responses.contains(&(cancel, 200)));
    assert!(responses.contains(&(invite, 487)));
    assert!(
        net.events(bob)
            .iter()
            .any(|(_, e)| matches!(e, Event::Cancelled { .. }))
    );
    assert_quiescent(&mut net, &[alice, bob]);
    snapshot!("invite_cancel_487", &net);
}

#[test]
fn a_retransmitted_request_is_absorbed_and_answered_with_the_same_response() {
    let (mut net, alice, bob) = pair(9, transaction_layer);
    answer_with(&mut net, bob, StatusCode::OK);
    net.set_link(
        alice,
        bob,
        LinkConfig {
            duplicate: 1.0,
            ..LinkConfig::default()
        },
    );
    net.send_request(alice, request(Method::Options, 1), bob, Transport::Udp)
        .unwrap();
    net.run_until_idle().unwrap();
    let requests = net
        .events(bob)
        .iter()
        .filter(|(_, e)| matches!(e, Event::Request { .. }))
        .count();
    assert_eq!(requests, 1, "the duplicate never reaches Bob's user");
    assert!(net.endpoint(bob).stats().retransmitted >= 1);
    snapshot!("options_duplicate_absorbed", &net);
}

#[test]
fn an_rfc2543_request_without_the_magic_cookie_is_matched_by_its_dialog_fields() {
    let (mut net, alice, bob) = pair(10, transaction_layer);
    answer_with(&mut net, bob, StatusCode::OK);
    let old_style = Bytes::from_static(
        b"OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060\r\n\
From: <sip:alice@192.0.2.1>;tag=old\r\nTo: <sip:bob@192.0.2.2>\r\nCall-ID: rfc2543@192.0.2.1\r\n\
CSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    net.inject(alice, bob, old_style.clone());
    net.run_for(Duration::from_millis(500));
    net.inject(alice, bob, old_style);
    net.run_until_idle().unwrap();
    let requests = net
        .events(bob)
        .iter()
        .filter(|(_, e)| matches!(e, Event::Request { .. }))
        .count();
    assert_eq!(requests, 1, "the retransmission matched the first transaction");
    snapshot!("rfc2543_matched_without_cookie", &net);
}

#[test]
fn the_same_seed_gives_the_same_ladder_byte_for_byte() {
    let run = |seed| {
        let (mut net, alice, bob) = pair(seed, transaction_layer);
        answer_with(&mut net, bob, StatusCode::OK);
        net.set_links(
            alice,
            bob,
            LinkConfig {
                loss: 0.3,
                duplicate: 0.2,
                reorder: 0.2,
                jitter: Duration::from_millis(30),
                ..LinkConfig::default()
            },
        );
        for cseq in 1..=5 {
            net.send_request(alice, request(Method::Options, cseq), bob, Transport::Udp)
                .unwrap();
        }
        net.run_until_idle().unwrap();
        net.ladder().to_owned()
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn a_response_returns_over_the_tcp_flow_the_request_came_on() {
    let (mut net, alice, bob) = pair(11, transaction_layer);
    answer_with(&mut net, bob, StatusCode::OK);
    net.send_request(alice, request(Method::Options, 1), bob, Transport::Tcp)
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(statuses(&net, alice), [200]);
    let request_transport = net.events(bob).iter().find_map(|(_, e)| match e {
        Event::Request {
            transport, request, ..
        } => Some((
            *transport,
            request.headers.top_via().unwrap().unwrap().transport().to_owned(),
        )),
        _ => None,
    });
    assert_eq!(request_transport, Some((Transport::Tcp, "TCP".to_owned())));
    // Over a reliable transport Timer E never runs and K is zero: one line each way.
    assert_eq!(net.ladder().lines().count(), 2);
    assert_quiescent(&mut net, &[alice, bob]);
    snapshot!("options_over_tcp", &net);
}

#[test]
fn a_udp_request_within_200_bytes_of_the_mtu_moves_to_tcp() {
    let (mut net, alice, bob) = pair(12, transaction_layer);
    answer_with(&mut net, bob, StatusCode::OK);
    let text = "x".repeat(1200);
    let message = RequestBuilder::new(Method::Message, Uri::parse("sip:bob@192.0.2.2").unwrap())
        .via("SIP/2.0/UDP placeholder")
        .from("Alice <sip:alice@192.0.2.1>;tag=big")
        .to("Bob <sip:bob@192.0.2.2>")
        .call_id("large@192.0.2.1")
        .cseq(1)
        .body(text, "text/plain")
        .build()
        .unwrap();
    assert!(message.to_bytes().len() > 1500 - 200);
    net.send_request(alice, message, bob, Transport::Udp).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(statuses(&net, alice), [200]);
    assert!(
        net.ladder().lines().all(|line| line.ends_with("[TCP]")),
        "{}",
        net.ladder()
    );
    snapshot!("large_request_moved_to_tcp", &net);
}
