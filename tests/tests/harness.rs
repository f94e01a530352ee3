//! The simulator's call harness (`sip_core::sim::harness::Pair`): the lossy call of its
//! documentation as a test of its own, and how its waits and checks fail when what they
//! wait for does not come.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use sip_core::call::{CallEvent, CallState, EndReason};
use sip_core::endpoint::Event;
use sip_core::message::{Method, StatusCode};
use sip_core::sim::LinkConfig;
use sip_core::sim::harness::Pair;

#[test]
fn a_lossy_call_held_resumed_and_given_an_info_ends_on_both_sides_leaving_nothing() {
    let mut pair = Pair::new(6).with_loss(0.2);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let call = pair.call(alice, bob);
    let (bob_call, _) = pair.run_until_event(bob, |e| matches!(e, CallEvent::Answered { .. }));
    pair.net.on(alice, |ep, now| ep.hold(now, call)).unwrap();
    pair.run_until_state(bob, bob_call, CallState::Hold);
    pair.run_until_idle(); // Bob takes no new offer before Alice's ACK is in (RFC 3261 §14.2)
    pair.net.on(alice, |ep, now| ep.unhold(now, call)).unwrap();
    pair.run_until_state(alice, call, CallState::Connected);
    let info = pair.net.on(alice, |ep, now| {
        ep.request_in_dialog(now, call, Method::Info, "Signal=5\r\n".into(), Some("text/plain"))
    });
    let answer = pair.run_until_response(alice, info.unwrap());
    assert_eq!(answer.status, StatusCode::OK);
    pair.net.on(alice, |ep, now| ep.bye(now, call)).unwrap();
    pair.run_until_idle();
    assert_eq!(pair.end_reason(alice, call), Some(EndReason::LocalBye));
    assert_eq!(pair.end_reason(bob, bob_call), Some(EndReason::RemoteBye));
    pair.assert_quiescent();
    assert!(pair.retransmissions() > 0, "losses made good");
}

#[test]
fn the_same_seed_replays_the_same_lossy_call() {
    let run = |seed| {
        let mut pair = Pair::new(seed).with_loss(0.2);
        pair.auto_answer(pair.bob);
        let call = pair.call(pair.alice, pair.bob);
        pair.run_until_state(pair.alice, call, CallState::Connected);
        pair.net.on(pair.alice, |ep, now| ep.bye(now, call)).unwrap();
        pair.run_until_idle();
        pair.net.ladder().to_owned()
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn bobs_side_of_the_call_is_his_current_call_until_it_ends() {
    let mut pair = Pair::new(1);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    assert_eq!(pair.current_call(bob), None);
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
    let bob_call = pair.current_call(bob).expect("Bob has the call");
    assert_eq!(pair.calls(bob), [bob_call]);
    assert_eq!(
        pair.state(bob, bob_call),
        Some(CallState::Answering),
        "Alice's ACK is on its way"
    );
    pair.run_until_state(bob, bob_call, CallState::Connected);
    pair.net.on(bob, |ep, now| ep.bye(now, bob_call)).unwrap();
    pair.run_until_state(alice, call, CallState::Ended);
    assert_eq!(pair.end_reason(alice, call), Some(EndReason::RemoteBye));
    pair.run_until_idle();
    assert_eq!(pair.current_call(bob), None);
    assert_eq!(pair.calls(bob), [bob_call], "an ended call is still listed");
    pair.assert_quiescent();
}

#[test]
fn auto_answer_offers_in_the_200_when_the_invite_has_no_offer() {
    let mut pair = Pair::new(2);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let (target, template) = (pair.uri(bob), pair.audio_description(alice).to_bytes());
    let call = pair
        .net
        .on(alice, |ep, now| ep.invite_without_offer(now, target, template))
        .unwrap();
    pair.run_until_state(alice, call, CallState::Connected);
    let answered = pair.call_events(alice, call).find_map(|e| match e {
        CallEvent::Answered { body } => Some(body.clone()),
        _ => None,
    });
    assert_eq!(answered, Some(pair.audio_description(bob).to_bytes()));
}

#[test]
fn auto_answer_says_200_to_requests_inside_the_call() {
    let mut pair = Pair::new(3);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
    let message = pair.net.on(alice, |ep, now| {
        ep.request_in_dialog(now, call, Method::Message, "hi".into(), Some("text/plain"))
    });
    let (_, received) = pair.run_until_event(bob, |e| matches!(e, CallEvent::Request { .. }));
    assert!(matches!(received, CallEvent::Request { request, .. } if request.body == "hi"));
    assert_eq!(
        pair.run_until_response(alice, message.unwrap()).status,
        StatusCode::OK
    );
}

#[test]
#[should_panic(expected = "to be Connected, but it ended first (Rejected(StatusCode(486)))")]
fn waiting_for_a_state_fails_at_once_when_the_call_ends_first() {
    let mut pair = Pair::new(4);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.net.set_handler(bob, |ep, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            ep.reject(now, call, StatusCode::BUSY_HERE, None).unwrap();
        }
    });
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
}

#[test]
#[should_panic(expected = "waited for bob to report a matching call event, but it did not come within 1s")]
fn waiting_for_an_event_that_does_not_come_in_time_fails_after_the_wait_limit() {
    let mut pair = Pair::new(5).with_loss(1.0);
    pair.wait_limit = Duration::from_secs(1);
    let (alice, bob) = (pair.alice, pair.bob);
    // Every INVITE is lost: Alice retransmits for 32 s (Timer B), longer than the wait.
    pair.call(alice, bob);
    pair.run_until_event(bob, |e| matches!(e, CallEvent::Incoming { .. }));
}

#[test]
#[should_panic(expected = "waited for bob to report a matching call event, but nothing more can happen")]
fn a_wait_fails_as_soon_as_nothing_more_can_happen() {
    let mut pair = Pair::new(6);
    let (alice, bob) = (pair.alice, pair.bob);
    // Bob has no handler, so his call rings without end; nothing is left to happen.
    pair.call(alice, bob);
    pair.run_until_event(bob, |e| matches!(e, CallEvent::Answered { .. }));
}

#[test]
#[should_panic(expected = "waited for a datagram on the wire, but nothing more can happen")]
fn a_wait_on_any_condition_names_it_when_it_fails() {
    let mut pair = Pair::new(6);
    pair.run_until("a datagram on the wire", |pair| pair.net.in_flight() > 0);
}

#[test]
#[should_panic(
    expected = "waited for quiescence, but alice has 1 live call, 1 dialog; bob has 1 live call, 1 dialog"
)]
fn quiescence_fails_listing_what_is_left() {
    let mut pair = Pair::new(8);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
    pair.run_until_idle();
    pair.assert_quiescent();
}

#[test]
#[should_panic(expected = "but the transaction ended without one: Timer F fired")]
fn waiting_for_a_response_fails_when_the_request_times_out() {
    let mut pair = Pair::new(9);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let call = pair.call(alice, bob);
    pair.run_until_idle();
    // From now on every datagram is lost: the INFO is retransmitted until Timer F.
    pair.net.set_links(
        alice,
        bob,
        LinkConfig {
            loss: 1.0,
            ..LinkConfig::default()
        },
    );
    let info = pair.net.on(alice, |ep, now| {
        ep.request_in_dialog(now, call, Method::Info, "Signal=5\r\n".into(), Some("text/plain"))
    });
    pair.run_until_response(alice, info.unwrap());
}

#[test]
#[should_panic(
    expected = "within 120s of virtual time; left: alice has 1 live call, 1 dialog, 1 transaction"
)]
fn waiting_for_idle_fails_while_a_session_timer_keeps_refreshing_the_call() {
    let mut pair = Pair::configured(10, |c| c.calls.session_expires = Some(90), |_| {});
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
    pair.run_until_idle();
}
