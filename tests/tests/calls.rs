//! Whole calls over the simulated network — dialogs, invite sessions and the call model —
//! each pinned by a ladder snapshot in `snapshots/`.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_core::call::{CallEvent, CallId, CallState, EndReason, Side};
use sip_core::endpoint::{EndpointConfig, Event};
use sip_core::message::{HeaderName, Method, Request, StatusCode, Uri, response_to};
use sip_core::sim::{Network, NodeId};
use sip_tests::{
    alice_sdp, auto_answer, bob_sdp, call_to_bob, defaults, pair, pair_configured, sdp, snapshot,
};

const PROXY: &str = "192.0.2.3:5060";
const CAROL: &str = "192.0.2.4:5060";

fn reliable(config: &mut EndpointConfig) {
    config.calls.reliable_provisionals = true;
}

/// Bob rings on every incoming call and waits.
fn ring_only(net: &mut Network, node: NodeId) {
    net.set_handler(node, |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            endpoint.ringing(now, call).unwrap();
        }
    });
}

/// The call events a node saw, in order.
fn call_events(net: &Network, node: NodeId) -> Vec<CallEvent> {
    net.events(node)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Call { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

/// The first call a node saw (incoming or outgoing).
fn first_call(net: &Network, node: NodeId) -> CallId {
    net.events(node)
        .iter()
        .find_map(|(_, e)| match e {
            Event::Call { call, .. } => Some(*call),
            _ => None,
        })
        .expect("a call")
}

fn end_reasons(net: &Network, node: NodeId) -> Vec<EndReason> {
    call_events(net, node)
        .into_iter()
        .filter_map(|e| match e {
            CallEvent::Terminated { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

/// The state path of a node's first call, from its Terminated history.
fn state_path(net: &Network, node: NodeId) -> Vec<CallState> {
    let history = call_events(net, node)
        .into_iter()
        .find_map(|e| match e {
            CallEvent::Terminated { history, .. } => Some(history),
            _ => None,
        })
        .expect("the call ended");
    let mut path = vec![history[0].from];
    path.extend(history.iter().map(|t| t.to));
    path
}

/// Nothing may be left behind once a scenario is over.
fn assert_clean(net: &mut Network, nodes: &[NodeId]) {
    for &node in nodes {
        let endpoint = net.endpoint(node);
        assert_eq!(endpoint.call_count(), 0, "calls left");
        assert_eq!(endpoint.dialog_count(), 0, "dialogs left");
        assert_eq!(endpoint.transaction_count(), 0, "transactions left");
        assert_eq!(endpoint.poll_timeout(), None, "timers left");
    }
}

#[test]
fn basic_call_alice_hangs_up() {
    let (mut net, alice, bob) = pair(1, defaults);
    auto_answer(&mut net, bob);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_basic_alice_hangs_up", &net);
    assert_eq!(end_reasons(&net, alice), [EndReason::LocalBye]);
    assert_eq!(end_reasons(&net, bob), [EndReason::RemoteBye]);
    assert_eq!(
        state_path(&net, alice),
        [
            CallState::Idle,
            CallState::Calling,
            CallState::Ringing,
            CallState::Connected,
            CallState::Ending,
            CallState::Ended
        ]
    );
    assert_eq!(
        state_path(&net, bob),
        [
            CallState::Idle,
            CallState::Ringing,
            CallState::Answering,
            CallState::Connected,
            CallState::Ended
        ]
    );
    let answered: Vec<_> = call_events(&net, alice)
        .into_iter()
        .filter_map(|e| match e {
            CallEvent::Answered { body } => Some(body),
            _ => None,
        })
        .collect();
    assert_eq!(answered, [bob_sdp()], "Alice gets Bob's answer");
    let stats = net.endpoint(alice).stats().calls;
    assert_eq!(
        (stats.invites, stats.byes, stats.successful, stats.failed),
        (1, 1, 1, 0)
    );
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn basic_call_bob_hangs_up() {
    let (mut net, alice, bob) = pair(2, defaults);
    auto_answer(&mut net, bob);
    call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(100));
    let call = first_call(&net, bob);
    net.on(bob, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_basic_bob_hangs_up", &net);
    assert_eq!(end_reasons(&net, alice), [EndReason::RemoteBye]);
    assert_eq!(end_reasons(&net, bob), [EndReason::LocalBye]);
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn rejection_with_486_ends_both_sides() {
    let (mut net, alice, bob) = pair(3, defaults);
    net.set_handler(bob, |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            endpoint.reject(now, call, StatusCode::BUSY_HERE, None).unwrap();
        }
    });
    call_to_bob(&mut net, alice);
    net.run_until_idle().unwrap();
    snapshot!("call_rejected_486", &net);
    assert!(call_events(&net, alice).contains(&CallEvent::Rejected {
        status: StatusCode::BUSY_HERE,
        reason: "Busy Here".into()
    }));
    assert_eq!(
        end_reasons(&net, alice),
        [EndReason::Rejected(StatusCode::BUSY_HERE)]
    );
    assert_eq!(net.endpoint(alice).stats().calls.failed, 1);
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn cancel_before_answer_gets_487() {
    let (mut net, alice, bob) = pair(4, defaults);
    ring_only(&mut net, bob);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Ringing));
    net.on(alice, |e, now| e.cancel(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_cancel_before_answer", &net);
    assert_eq!(end_reasons(&net, alice), [EndReason::Cancelled]);
    assert_eq!(end_reasons(&net, bob), [EndReason::RemoteCancelled]);
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let (mut net, alice, bob) = pair(5, |c| c.send_trying = false);
    ring_only(&mut net, bob);
    // Bob's 180 is lost once: Alice's CANCEL must wait until a provisional arrives (§9.1).
    net.lose(bob, alice, "180", 1);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(15));
    net.on(alice, |e, now| e.cancel(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_cancel_waits_for_provisional", &net);
    assert_eq!(end_reasons(&net, alice), [EndReason::Cancelled]);
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn cancel_crossing_200_is_acked_then_byed() {
    let (mut net, alice, bob) = pair(6, defaults);
    ring_only(&mut net, bob);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(100));
    // Both at once: Alice's CANCEL and Bob's 200 cross on the wire.
    let bob_call = first_call(&net, bob);
    net.on(bob, |e, now| e.answer(now, bob_call, bob_sdp(), None).unwrap());
    net.on(alice, |e, now| e.cancel(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_cancel_crosses_200", &net);
    assert_eq!(end_reasons(&net, alice), [EndReason::Cancelled]);
    assert_eq!(end_reasons(&net, bob), [EndReason::RemoteBye]);
    assert_clean(&mut net, &[alice, bob]);
}

/// Carol answers for a second branch of a fork: responses to Alice's INVITE made by hand
/// from the INVITE Bob received (same Via branch, another To tag).
fn fork_response(net: &Network, bob: NodeId, status: StatusCode, tag: &str, body: Bytes) -> Bytes {
    let invite: Request = call_events(net, bob)
        .into_iter()
        .find_map(|e| match e {
            CallEvent::Incoming { request, .. } => Some(request),
            _ => None,
        })
        .unwrap();
    let mut response = response_to(&invite, status, None, Some(tag));
    response
        .headers
        .push(HeaderName::Contact, "<sip:carol@192.0.2.4>");
    if !body.is_empty() {
        response.set_body(body, Some("application/sdp"));
    }
    response.to_bytes()
}

#[test]
fn fork_with_two_early_dialogs_and_one_answer() {
    let (mut net, alice, bob) = pair(7, defaults);
    let carol = net.add_node("carol", CAROL.parse().unwrap());
    ring_only(&mut net, bob);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(15));
    let ringing = fork_response(&net, bob, StatusCode::RINGING, "carol1", Bytes::new());
    net.inject(carol, alice, ringing);
    net.run_for(Duration::from_millis(50));
    assert_eq!(net.endpoint(alice).dialog_count(), 2, "one early dialog per fork");
    let bob_call = first_call(&net, bob);
    net.on(bob, |e, now| e.answer(now, bob_call, bob_sdp(), None).unwrap());
    net.run_for(Duration::from_millis(100));
    assert_eq!(
        net.endpoint(alice).dialog_count(),
        1,
        "the answer ends the other early dialog"
    );
    let bob_tag = net
        .endpoint(bob)
        .call_dialog(bob_call)
        .unwrap()
        .key()
        .local_tag
        .clone();
    assert_eq!(
        net.endpoint(alice).call_dialog(call).unwrap().key().remote_tag,
        bob_tag
    );
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_fork_two_early_one_answer", &net);
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn fork_with_two_answers_acks_and_byes_the_second() {
    let (mut net, alice, bob) = pair(8, defaults);
    let carol = net.add_node("carol", CAROL.parse().unwrap());
    auto_answer(&mut net, bob);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(25));
    // Carol's 200 arrives after Bob's.
    let ok = fork_response(
        &net,
        bob,
        StatusCode::OK,
        "carol1",
        sdp("carol", "192.0.2.4", 7000),
    );
    net.inject(carol, alice, ok);
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_fork_two_answers", &net);
    let ladder = net.ladder();
    assert!(
        ladder.contains("alice  -> carol  ACK sip:carol@192.0.2.4"),
        "{ladder}"
    );
    assert!(
        ladder.contains("alice  -> carol  BYE sip:carol@192.0.2.4"),
        "{ladder}"
    );
    assert_eq!(end_reasons(&net, alice), [EndReason::LocalBye]);
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn uas_retransmits_2xx_until_the_ack_arrives() {
    let (mut net, alice, bob) = pair(9, defaults);
    auto_answer(&mut net, bob);
    net.lose(alice, bob, "ACK", 2);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(3));
    let bob_call = first_call(&net, bob);
    assert_eq!(net.endpoint(bob).call_state(bob_call), Some(CallState::Connected));
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_2xx_retransmitted_until_ack", &net);
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn missing_ack_ends_the_call_with_bye_after_64_t1() {
    let (mut net, alice, bob) = pair(10, defaults);
    auto_answer(&mut net, bob);
    net.lose(alice, bob, "ACK", 100);
    call_to_bob(&mut net, alice);
    net.run_until_idle().unwrap();
    snapshot!("call_missing_ack_bye", &net);
    assert_eq!(end_reasons(&net, bob), [EndReason::NoAck]);
    assert_eq!(end_reasons(&net, alice), [EndReason::RemoteBye]);
    assert_clean(&mut net, &[alice, bob]);
}

fn connected_pair(seed: u64) -> (Network, NodeId, NodeId, CallId, CallId) {
    let (mut net, alice, bob) = pair(seed, defaults);
    auto_answer(&mut net, bob);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(100));
    let bob_call = first_call(&net, bob);
    (net, alice, bob, call, bob_call)
}

fn holds(net: &Network, node: NodeId) -> Vec<CallEvent> {
    call_events(net, node)
        .into_iter()
        .filter(|e| matches!(e, CallEvent::Hold { .. } | CallEvent::Unhold { .. }))
        .collect()
}

#[test]
fn alice_holds_and_unholds() {
    let (mut net, alice, bob, call, bob_call) = connected_pair(11);
    net.on(alice, |e, now| e.hold(now, call).unwrap());
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Hold));
    assert_eq!(net.endpoint(bob).call_state(bob_call), Some(CallState::Hold));
    net.on(alice, |e, now| e.unhold(now, call).unwrap());
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_hold_unhold_by_alice", &net);
    assert_eq!(
        holds(&net, alice),
        [
            CallEvent::Hold { by: Side::Local },
            CallEvent::Unhold { by: Side::Local }
        ]
    );
    assert_eq!(
        holds(&net, bob),
        [
            CallEvent::Hold { by: Side::Remote },
            CallEvent::Unhold { by: Side::Remote }
        ]
    );
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn bob_holds_then_alice_holds_too_and_both_release() {
    let (mut net, alice, bob, call, bob_call) = connected_pair(12);
    net.on(bob, |e, now| e.hold(now, bob_call).unwrap());
    net.run_for(Duration::from_millis(100));
    // Alice is held: her own hold offer must be inactive (RFC 3264 §8.4).
    net.on(alice, |e, now| e.hold(now, call).unwrap());
    net.run_for(Duration::from_millis(100));
    net.on(bob, |e, now| e.unhold(now, bob_call).unwrap());
    net.run_for(Duration::from_millis(100));
    assert_eq!(
        net.endpoint(bob).call_state(bob_call),
        Some(CallState::Hold),
        "Alice still holds"
    );
    net.on(alice, |e, now| e.unhold(now, call).unwrap());
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.endpoint(bob).call_state(bob_call), Some(CallState::Connected));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    net.on(bob, |e, now| e.bye(now, bob_call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_hold_by_both", &net);
    let ladder = net.ladder();
    // Held by Bob, Alice's own hold offer is inactive (RFC 3264 §8.4), and so is Bob's answer.
    assert!(
        ladder.contains("alice  -> bob    INVITE sip:192.0.2.2:5060 SIP/2.0  (2 INVITE) b5 sdp:inactive"),
        "{ladder}"
    );
    assert!(
        ladder.contains("SIP/2.0 200 OK  (2 INVITE) b5 sdp:inactive"),
        "{ladder}"
    );
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn reinvite_glare_is_resolved_by_the_retry() {
    let (mut net, alice, bob, call, bob_call) = connected_pair(13);
    // Both re-INVITE at the same instant: each gets 491, then retries after §14.1's wait.
    net.on(alice, |e, now| e.hold(now, call).unwrap());
    net.on(bob, |e, now| e.hold(now, bob_call).unwrap());
    net.run_for(Duration::from_secs(10));
    snapshot!("call_reinvite_glare", &net);
    let glare = |node| {
        call_events(&net, node)
            .into_iter()
            .filter(|e| matches!(e, CallEvent::GlareRetry { .. }))
            .count()
    };
    assert_eq!((glare(alice), glare(bob)), (1, 1));
    // Both holds went through in the end: each side is held and holds.
    assert!(holds(&net, alice).contains(&CallEvent::Hold { by: Side::Local }));
    assert!(holds(&net, alice).contains(&CallEvent::Hold { by: Side::Remote }));
    assert!(holds(&net, bob).contains(&CallEvent::Hold { by: Side::Local }));
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn a_second_offer_while_one_is_pending_is_refused() {
    let (mut net, alice, _bob, call, _) = connected_pair(14);
    net.on(alice, |e, now| e.hold(now, call).unwrap());
    let second = net.on(alice, |e, now| e.reinvite(now, call, alice_sdp()));
    assert_eq!(second, Err(sip_core::call::CallError::OfferPending));
}

#[test]
fn prack_recovers_a_lost_reliable_provisional() {
    let (mut net, alice, bob) = pair(15, reliable);
    ring_only(&mut net, bob);
    net.lose(bob, alice, "180", 1);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Ringing));
    let bob_call = first_call(&net, bob);
    net.on(bob, |e, now| e.answer(now, bob_call, bob_sdp(), None).unwrap());
    net.run_for(Duration::from_millis(100));
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_prack_lost_reliable_180", &net);
    let ladder = net.ladder();
    assert_eq!(ladder.matches("PRACK sip:").count(), 1, "{ladder}");
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn update_in_an_early_dialog() {
    let (mut net, alice, bob) = pair(16, reliable);
    // Bob answers the offer in a reliable 183 (early media), so the early dialog can
    // carry an UPDATE (RFC 3311 §5.1).
    net.set_handler(bob, |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            endpoint
                .provisional(now, call, StatusCode::SESSION_PROGRESS, bob_sdp(), None)
                .unwrap();
        }
    });
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(100));
    let offer = sdp("alice", "192.0.2.1", 49180);
    net.on(alice, |e, now| e.update(now, call, offer).unwrap());
    net.run_for(Duration::from_millis(100));
    let bob_call = first_call(&net, bob);
    net.on(bob, |e, now| e.answer(now, bob_call, Bytes::new(), None).unwrap());
    net.run_for(Duration::from_millis(100));
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_update_in_early_dialog", &net);
    assert!(
        call_events(&net, alice)
            .iter()
            .any(|e| matches!(e, CallEvent::EarlyMedia { .. }))
    );
    assert!(
        call_events(&net, alice)
            .iter()
            .any(|e| matches!(e, CallEvent::OfferAnswered { .. }))
    );
    assert!(
        call_events(&net, bob)
            .iter()
            .any(|e| matches!(e, CallEvent::RemoteOffer { .. }))
    );
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn call_through_a_record_routing_proxy_follows_the_route_set() {
    let (mut net, alice, bob) = pair_configured(
        17,
        |c| c.calls.outbound_proxy = Some(format!("sip:{PROXY}")),
        defaults,
    );
    net.add_relay("proxy", PROXY.parse().unwrap());
    auto_answer(&mut net, bob);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(200));
    let bob_call = first_call(&net, bob);
    assert_eq!(
        net.endpoint(bob).call_dialog(bob_call).unwrap().route_set()[0].as_str(),
        "sip:192.0.2.3:5060;lr"
    );
    net.on(bob, |e, now| e.hold(now, bob_call).unwrap());
    net.run_for(Duration::from_millis(200));
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_through_record_routing_proxy", &net);
    // Every in-dialog request went through the proxy, in both directions.
    for line in net
        .ladder()
        .lines()
        .filter(|l| l.contains("ACK ") || l.contains("BYE ") || l.contains("INVITE "))
    {
        assert!(line.contains("proxy"), "{line}");
    }
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn info_inside_the_dialog_reaches_the_application() {
    let (mut net, alice, bob, call, _) = connected_pair(18);
    net.set_handler(bob, |endpoint, event, now| {
        if let Event::Call {
            event: CallEvent::Request { transaction, request },
            ..
        } = event
        {
            assert_eq!(request.method, Method::Info);
            let ok = endpoint.response(transaction, StatusCode::OK).unwrap();
            endpoint.respond(now, transaction, ok).unwrap();
        }
    });
    net.on(alice, |e, now| {
        e.request_in_dialog(
            now,
            call,
            Method::Info,
            Bytes::from_static(b"Signal=5\r\n"),
            Some("text/plain"),
        )
        .unwrap();
    });
    net.run_for(Duration::from_millis(100));
    assert!(
        call_events(&net, alice)
            .iter()
            .any(|e| matches!(e, CallEvent::Response { response, .. } if response.status == StatusCode::OK)),
        "{}",
        net.ladder()
    );
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn a_request_for_an_unknown_dialog_gets_481() {
    let (mut net, alice, bob, call, _) = connected_pair(19);
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    // A BYE naming a dialog Bob never had (or has forgotten).
    let replay = "BYE sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKreplay\r\n\
         From: <sip:192.0.2.1:5060>;tag=gone1\r\nTo: <sip:bob@192.0.2.2>;tag=gone2\r\nCall-ID: gone\r\n\
         CSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n";
    net.inject(alice, bob, Bytes::from_static(replay.as_bytes()));
    net.run_until_idle().unwrap();
    let last = net.ladder().lines().last().unwrap();
    assert!(last.contains("bob    -> alice  SIP/2.0 481"), "{last}");
}

#[test]
fn a_lower_cseq_in_the_dialog_gets_500() {
    let (mut net, alice, bob, _, bob_call) = connected_pair(20);
    let dialog = net.endpoint(bob).call_dialog(bob_call).unwrap().clone();
    let key = dialog.key();
    let stale = format!(
        "INFO sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKstale\r\n\
         From: <sip:192.0.2.1:5060>;tag={}\r\nTo: <sip:bob@192.0.2.2>;tag={}\r\nCall-ID: {}\r\n\
         CSeq: 0 INFO\r\nContent-Length: 0\r\n\r\n",
        key.remote_tag, key.local_tag, key.call_id
    );
    net.inject(alice, bob, Bytes::from(stale));
    net.run_for(Duration::from_millis(100));
    let last = net.ladder().lines().last().unwrap();
    assert!(last.contains("bob    -> alice  SIP/2.0 500"), "{last}");
}

#[test]
fn over_tcp_the_bye_reuses_the_connection_the_call_came_in_on() {
    let (mut net, alice, bob) = pair(21, defaults);
    auto_answer(&mut net, bob);
    let target = Uri::parse("sip:bob@192.0.2.2;transport=tcp").unwrap();
    let call = net
        .on(alice, |e, now| e.invite(now, target, alice_sdp(), None))
        .unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    let bob_call = first_call(&net, bob);
    net.on(bob, |e, now| e.bye(now, bob_call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_over_tcp_bye_reuses_connection", &net);
    // Every message, Bob's BYE included, went over the one connection Alice opened.
    for line in net.ladder().lines() {
        assert!(line.contains("[TCP]"), "{line}");
    }
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn over_the_call_limit_an_invite_gets_503_with_retry_after() {
    let (mut net, alice, bob) = pair_configured(22, |c| c.limits.max_calls = 2, |c| c.limits.max_calls = 1);
    ring_only(&mut net, bob);
    call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(100));
    let second = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(100));
    assert_eq!(
        net.endpoint(alice).call_state(second),
        None,
        "the second call ended"
    );
    assert!(end_reasons(&net, alice).contains(&EndReason::Rejected(StatusCode::SERVICE_UNAVAILABLE)));
    call_to_bob(&mut net, alice);
    let now = net.now();
    assert_eq!(
        net.endpoint(alice)
            .invite(now, Uri::parse("sip:bob@192.0.2.2").unwrap(), alice_sdp(), None),
        Err(sip_core::call::CallError::TooManyCalls),
        "Alice is at her own limit of 2"
    );
}

#[test]
fn session_timer_refreshes_at_half_the_interval_and_ends_a_silent_session() {
    let (mut net, alice, bob) = pair_configured(23, |c| c.calls.session_expires = Some(90), defaults);
    auto_answer(&mut net, bob);
    call_to_bob(&mut net, alice);
    // Alice refreshes at 45 s and 90 s (RFC 4028 §10: half the interval)…
    net.run_for(Duration::from_secs(100));
    let refreshes = net
        .ladder()
        .lines()
        .filter(|l| l.contains("alice  -> bob    INVITE sip:192.0.2.2:5060"))
        .count();
    assert_eq!(refreshes, 2, "{}", net.ladder());
    // …then goes silent: Bob ends the session 60 s after the last refresh (90 − 30).
    net.lose(alice, bob, "INVITE", 100);
    net.run_until_idle().unwrap();
    snapshot!("call_session_timer", &net);
    assert_eq!(end_reasons(&net, bob), [EndReason::SessionExpired]);
    assert_eq!(end_reasons(&net, alice), [EndReason::RemoteBye]);
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn a_session_interval_below_min_se_gets_422_and_the_invite_is_retried() {
    let (mut net, alice, bob) = pair_configured(
        24,
        |c| c.calls.session_expires = Some(90),
        |c| c.calls.min_se = 120,
    );
    auto_answer(&mut net, bob);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_session_timer_422_retry", &net);
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn an_offer_in_the_200_to_an_invite_without_one_is_acked_then_byed_when_we_cannot_answer() {
    let (mut net, alice, bob) = pair(25, defaults);
    auto_answer(&mut net, bob);
    // No offer in the INVITE: Bob's 200 carries his, and Alice has no description to answer
    // with (RFC 3261 §13.2.2.4: ACK, then BYE).
    let target = Uri::parse("sip:bob@192.0.2.2").unwrap();
    net.on(alice, |e, now| e.invite(now, target, Bytes::new(), None))
        .unwrap();
    net.run_until_idle().unwrap();
    snapshot!("call_delayed_offer_without_answer", &net);
    assert_eq!(end_reasons(&net, alice), [EndReason::MediaFailure]);
    assert_eq!(end_reasons(&net, bob), [EndReason::RemoteBye]);
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn basic_call_the_other_way_bob_calls_alice() {
    let (mut net, alice, bob) = pair(26, defaults);
    auto_answer(&mut net, alice);
    let target = Uri::parse("sip:alice@192.0.2.1").unwrap();
    let call = net
        .on(bob, |e, now| e.invite(now, target, bob_sdp(), None))
        .unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.endpoint(bob).call_state(call), Some(CallState::Connected));
    net.on(bob, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_basic_bob_calls_alice", &net);
    assert_eq!(end_reasons(&net, bob), [EndReason::LocalBye]);
    assert_eq!(end_reasons(&net, alice), [EndReason::RemoteBye]);
    assert_clean(&mut net, &[alice, bob]);
}

#[test]
fn a_delayed_offer_is_answered_in_the_ack() {
    let (mut net, alice, bob) = pair(27, defaults);
    auto_answer(&mut net, bob);
    // No offer in the INVITE (RFC 3261 §13.2.1): Bob offers in his 200, Alice answers in
    // the ACK from her template.
    let target = Uri::parse("sip:bob@192.0.2.2").unwrap();
    let call = net
        .on(alice, |e, now| e.invite_without_offer(now, target, alice_sdp()))
        .unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    // Holding works from the template too.
    net.on(alice, |e, now| e.hold(now, call).unwrap());
    net.run_for(Duration::from_millis(100));
    net.on(alice, |e, now| e.bye(now, call).unwrap());
    net.run_until_idle().unwrap();
    snapshot!("call_delayed_offer_answered_in_ack", &net);
    assert!(
        net.ladder()
            .contains("ACK sip:192.0.2.2:5060 SIP/2.0  (1 ACK) b2 sdp:sendrecv"),
        "{}",
        net.ladder()
    );
    assert_eq!(end_reasons(&net, alice), [EndReason::LocalBye]);
    assert_eq!(end_reasons(&net, bob), [EndReason::RemoteBye]);
    assert_clean(&mut net, &[alice, bob]);
}

/// A redirect server (RFC 3261 §8.3) answers Alice's INVITE with 302 and Bob's Contact;
/// Alice's call follows it (§8.1.3.4): a new INVITE to Bob in the same call, answered.
#[test]
fn a_302_is_followed_to_its_contact() {
    let mut net = Network::new(131);
    let alice = net.add_node("alice", "192.0.2.1:5060".parse().unwrap());
    let bob = net.add_node("bob", "192.0.2.2:5060".parse().unwrap());
    let redirector = net.add_node("redir", "192.0.2.9:5060".parse().unwrap());
    auto_answer(&mut net, bob);
    net.set_handler(redirector, |ep, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            let bob = Uri::parse("sip:bob@192.0.2.2:5060").unwrap();
            ep.redirect(now, call, &[bob]).unwrap();
        }
    });
    let call = net
        .on(alice, |ep, now| {
            ep.invite(now, Uri::parse("sip:bob@192.0.2.9").unwrap(), alice_sdp(), None)
        })
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    assert!(net.events(alice).iter().any(|(_, event)| matches!(
        event,
        Event::Call { event: CallEvent::Redirected { target }, .. } if target.as_str() == "sip:bob@192.0.2.2:5060"
    )));
    snapshot!("call_redirected_302", &net);
}

/// Redirects that never end (a server redirecting to itself) stop after five: the call is
/// rejected with the last 302.
#[test]
fn a_redirect_loop_ends_after_five() {
    let mut net = Network::new(132);
    let alice = net.add_node("alice", "192.0.2.1:5060".parse().unwrap());
    let redirector = net.add_node("redir", "192.0.2.9:5060".parse().unwrap());
    net.set_handler(redirector, |ep, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            let itself = Uri::parse("sip:bob@192.0.2.9:5060").unwrap();
            ep.redirect(now, call, &[itself]).unwrap();
        }
    });
    let call = net
        .on(alice, |ep, now| {
            ep.invite(now, Uri::parse("sip:bob@192.0.2.9").unwrap(), alice_sdp(), None)
        })
        .unwrap();
    net.run_until_idle().unwrap();
    let redirects = net
        .events(alice)
        .iter()
        .filter(|(_, event)| {
            matches!(
                event,
                Event::Call {
                    event: CallEvent::Redirected { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(redirects, 5);
    let ended = net.events(alice).iter().find_map(|(_, event)| match event {
        Event::Call {
            call: c,
            event: CallEvent::Terminated { reason, .. },
        } if *c == call => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(ended, Some(EndReason::Rejected(StatusCode::MOVED_TEMPORARILY)));
}

/// With `dialog_events`, a call reports its dialog's states — created early by the 180,
/// confirmed by the 200, terminated by the BYE — and the dialog keeps them as its history.
#[test]
fn a_calls_dialog_reports_its_states() {
    let (mut net, alice, bob) = pair_configured(
        133,
        |config| config.calls.dialog_events = true,
        |config| config.calls.dialog_events = true,
    );
    auto_answer(&mut net, bob);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let states = |net: &Network, node| {
        net.events(node)
            .iter()
            .filter_map(|(_, event)| match event {
                Event::Call {
                    event: CallEvent::DialogState { from, to, .. },
                    ..
                } => Some((*from, *to)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    use sip_core::dialog::DialogState::{Confirmed, Early, Terminated};
    assert_eq!(states(&net, alice), [(None, Early), (Some(Early), Confirmed)]);
    assert_eq!(states(&net, bob), [(None, Early), (Some(Early), Confirmed)]);
    let id = net
        .events(alice)
        .iter()
        .find_map(|(_, event)| match event {
            Event::Call {
                event: CallEvent::DialogState { dialog, .. },
                ..
            } => Some(*dialog),
            _ => None,
        })
        .unwrap();
    let history: Vec<_> = net
        .endpoint(alice)
        .dialog_history(id)
        .unwrap()
        .iter()
        .map(|t| t.to)
        .collect();
    assert_eq!(history, [Early, Confirmed]);
    net.on(alice, |ep, now| ep.bye(now, call)).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(states(&net, alice).last(), Some(&(Some(Confirmed), Terminated)));
    assert_eq!(states(&net, bob).last(), Some(&(Some(Confirmed), Terminated)));
    assert_eq!(net.endpoint(alice).dialog_history(id), None, "gone with the call");
}
