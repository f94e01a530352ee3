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
