//! Honest call outcomes: how a call ended is reported as it really happened.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use sip_core::call::{CallState, EndReason};
use sip_core::sim::harness::Pair;

/// Every copy of Alice's BYE is lost: after Timer F (64·T1) her call ends, and the reason
/// says the hang-up was never answered — not a clean local BYE.
#[test]
fn a_bye_that_is_never_answered_ends_the_call_with_timeout() {
    let mut pair = Pair::new(31);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
    pair.net.lose(alice, bob, "BYE", usize::MAX);
    pair.net.on(alice, |ep, now| ep.bye(now, call)).unwrap();
    pair.run_until_state(alice, call, CallState::Ended);
    assert_eq!(pair.end_reason(alice, call), Some(EndReason::Timeout));
}

/// The same with the BYE answered: a clean local hang-up.
#[test]
fn an_answered_bye_ends_the_call_as_a_local_bye() {
    let mut pair = Pair::new(31);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
    pair.net.on(alice, |ep, now| ep.bye(now, call)).unwrap();
    pair.run_until_state(alice, call, CallState::Ended);
    assert_eq!(pair.end_reason(alice, call), Some(EndReason::LocalBye));
}

/// The platform reports Alice's INVITE refused (ICMP port unreachable): the call fails at
/// once with a transport error, not after 32 s of Timer B.
#[test]
fn a_call_to_a_dead_udp_port_fails_at_once_with_a_transport_error() {
    use std::time::Instant;

    use bytes::Bytes;
    use sip_core::call::CallEvent;
    use sip_core::endpoint::{Endpoint, EndpointConfig, Event};
    use sip_core::message::Uri;

    let mut alice = Endpoint::new(EndpointConfig::new("192.0.2.1:5060".parse().unwrap(), 3));
    let now = Instant::now();
    let dead = "192.0.2.9:5099".parse().unwrap();
    let call = alice
        .invite(
            now,
            Uri::parse("sip:bob@192.0.2.9:5099").unwrap(),
            Bytes::new(),
            None,
        )
        .unwrap();
    // A datagram refused by another destination changes nothing.
    alice.handle_unreachable(now, "192.0.2.9:5098".parse().unwrap());
    assert!(alice.transaction_count() > 0);
    alice.handle_unreachable(now, dead);
    let reason = std::iter::from_fn(|| alice.poll_event()).find_map(|event| match event {
        Event::Call {
            call: id,
            event: CallEvent::Terminated { reason, .. },
        } if id == call => Some(reason),
        _ => None,
    });
    assert_eq!(reason, Some(EndReason::TransportError));
    assert_eq!(alice.stats().calls.failed, 1);
}

/// Bob answers and no ACK ever comes: at 64·T1 he sends BYE (RFC 3261 §13.3.1.4) and the
/// call ends then, with NoAck — its state does not wait another 32 s for the BYE's answer.
#[test]
fn a_call_whose_ack_never_comes_ends_when_its_bye_goes_out() {
    use std::time::Duration;

    let mut pair = Pair::new(33);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    pair.net.lose(alice, bob, "ACK", usize::MAX);
    pair.net.lose(alice, bob, "SIP/2.0 200 OK", usize::MAX);
    let _ = pair.call(alice, bob);
    pair.net.run_for(Duration::from_secs(33));
    let bobs = pair.calls(bob);
    assert_eq!(bobs.len(), 1);
    assert_eq!(pair.end_reason(bob, bobs[0]), Some(EndReason::NoAck));
    assert_eq!(pair.net.endpoint(bob).call_count(), 0, "the call's state is gone");
    assert!(pair.net.ladder().contains("BYE"), "and its BYE went out");
}
