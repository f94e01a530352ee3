//! What the Endpoint answers by itself, derived from what is enabled (RFC 3261 §8.2.1,
//! §11.2, §12.2.2): it advertises only what it handles and answers what nothing else does.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use bytes::Bytes;
use sip_core::call::{CallEvent, CallState};
use sip_core::endpoint::{Endpoint, EndpointConfig, Event};
use sip_core::message::{HeaderName, Message, Method, StatusCode};
use sip_core::sim::harness::Pair;

const BOB: &str = "192.0.2.2:5060";
const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, NOTIFY, PRACK, UPDATE, INFO";

/// `method` from Alice to Bob outside any dialog.
fn request(method: &str) -> Bytes {
    Bytes::from(format!(
        "{method} sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{method}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@192.0.2.1>;tag=a\r\nTo: <sip:bob@192.0.2.2>\r\n\
         Call-ID: answering@192.0.2.1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    ))
}

/// What `bob` sends back to `payload`, parsed.
fn answer(bob: &mut Endpoint, payload: Bytes) -> Message {
    bob.handle_datagram(
        Instant::now(),
        BOB.parse().unwrap(),
        "192.0.2.1:5060".parse().unwrap(),
        payload,
    );
    let transmit = bob.poll_transmit().expect("an answer");
    Message::parse(transmit.payload).unwrap()
}

fn bob() -> Endpoint {
    Endpoint::new(EndpointConfig::new(BOB.parse().unwrap(), 21))
}

#[test]
fn options_is_answered_with_allow_accept_and_supported_of_what_really_works() {
    let mut bob = bob();
    let ok = answer(&mut bob, request("OPTIONS"));
    let ok = ok.as_response().unwrap();
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.headers.get(HeaderName::Allow), Some(ALLOW));
    assert_eq!(
        ok.headers.get(HeaderName::Supported),
        Some("100rel, timer, replaces")
    );
    assert!(
        ok.headers
            .get(HeaderName::Accept)
            .unwrap()
            .contains("application/sdp")
    );
    assert!(bob.poll_event().is_none(), "the application never sees it");
}

#[test]
fn a_method_nothing_handles_outside_a_dialog_gets_405_with_our_allow() {
    let mut bob = bob();
    for method in ["SUBSCRIBE", "REFER", "REGISTER", "PUBLISH"] {
        let rejected = answer(&mut bob, request(method));
        let rejected = rejected.as_response().unwrap();
        assert_eq!(rejected.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(rejected.headers.get(HeaderName::Allow), Some(ALLOW), "{method}");
    }
}

#[test]
fn bye_outside_any_dialog_gets_481() {
    let mut bob = bob();
    let rejected = answer(&mut bob, request("BYE"));
    assert_eq!(
        rejected.as_response().unwrap().status,
        StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST
    );
}

#[test]
fn a_method_the_application_takes_reaches_it_and_is_allowed() {
    let mut config = EndpointConfig::new(BOB.parse().unwrap(), 22);
    config.calls.app_methods = vec![Method::Message];
    let mut bob = Endpoint::new(config);
    bob.handle_datagram(
        Instant::now(),
        BOB.parse().unwrap(),
        "192.0.2.1:5060".parse().unwrap(),
        request("MESSAGE"),
    );
    assert!(
        matches!(bob.poll_event(), Some(Event::Request { request, .. }) if request.method == Method::Message)
    );
    assert!(bob.poll_transmit().is_none(), "the application answers it");
}

#[test]
fn a_plain_transaction_layer_hands_options_to_the_application() {
    let mut config = EndpointConfig::new(BOB.parse().unwrap(), 23);
    config.calls.enabled = false;
    let mut bob = Endpoint::new(config);
    bob.handle_datagram(
        Instant::now(),
        BOB.parse().unwrap(),
        "192.0.2.1:5060".parse().unwrap(),
        request("OPTIONS"),
    );
    assert!(matches!(bob.poll_event(), Some(Event::Request { .. })));
}

#[test]
fn our_invite_advertises_only_what_we_handle() {
    let mut pair = Pair::new(24);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    pair.call(alice, bob);
    let (_, incoming) = pair.run_until_event(bob, |e| matches!(e, CallEvent::Incoming { .. }));
    let CallEvent::Incoming { request, .. } = incoming else {
        unreachable!()
    };
    assert_eq!(request.headers.get(HeaderName::Allow), Some(ALLOW));
}

#[test]
fn a_method_nothing_handles_inside_a_call_gets_501() {
    let mut pair = Pair::new(25);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
    let notify = pair
        .net
        .on(alice, |ep, now| {
            ep.request_in_dialog(
                now,
                call,
                Method::Extension("FROBNICATE".into()),
                Bytes::new(),
                None,
            )
        })
        .unwrap();
    let rejected = pair.run_until_response(alice, notify);
    assert_eq!(rejected.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(rejected.headers.get(HeaderName::Allow), Some(ALLOW));
    assert!(
        pair.call_events(bob, pair.current_call(bob).unwrap())
            .all(|e| !matches!(e, CallEvent::Request { .. })),
        "Bob's application never sees it"
    );
}

#[test]
fn info_inside_a_call_is_accepted_before_it_is_reported_when_configured() {
    let mut pair = Pair::configured(26, |_| {}, |bob| bob.calls.auto_accept_in_dialog = true);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    // Bob's application only listens: it answers calls but not the INFO.
    pair.net.set_handler(bob, |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            let sdp = sip_core::sdp::SessionDescription::simple_audio(
                "bob",
                1,
                "192.0.2.2".parse().unwrap(),
                4000,
                &[0],
            );
            endpoint.answer(now, call, sdp.to_bytes(), None).unwrap();
        }
    });
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
    let info = pair
        .net
        .on(alice, |ep, now| {
            ep.request_in_dialog(
                now,
                call,
                Method::Info,
                "Signal=5\r\n".into(),
                Some("application/dtmf-relay"),
            )
        })
        .unwrap();
    assert_eq!(pair.run_until_response(alice, info).status, StatusCode::OK);
    let bob_call = pair.current_call(bob).unwrap();
    assert!(
        pair.call_events(bob, bob_call)
            .any(|e| matches!(e, CallEvent::Request { request, .. } if request.method == Method::Info)),
        "reported to Bob's application after the 200"
    );
}
