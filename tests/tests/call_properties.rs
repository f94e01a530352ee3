//! Properties of the call layer over the simulated network (quickcheck):
//!
//! * whatever the seed, loss (up to 30 %), duplication, reordering and jitter in either
//!   direction, a call set up and then hung up by either side ends on both sides, each side
//!   sees each of its calls end exactly once, the two histories agree, and nothing (call,
//!   dialog, transaction, timer) is left behind;
//! * whatever interleaving of hold, unhold, re-INVITE and UPDATE the two sides start, at
//!   quiescence offer/answer is not stuck (both sides can start a new re-INVITE and get it
//!   answered), both sides agree on the call state and on who holds, and the call ends
//!   cleanly.
//!
//! Two bugs these found (fixed) are kept at the end as minimal regression tests.
//!
//! Case counts default to the numbers below; `QUICKCHECK_TESTS` overrides all of them.

// Test code: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use sip_core::call::{CallError, CallEvent, CallId, CallState, EndReason, Side};
use sip_core::endpoint::Event;
use sip_core::sdp::{Direction, SessionDescription};
use sip_core::sim::harness::ALICE_ADDR;
use sip_core::sim::{LinkConfig, Network, NodeId};
use sip_tests::{auto_answer, bob_sdp, call_to_bob, defaults, pair, sdp_with_version};

// ------------------------------------------------------------------------------------------
// Running
// ------------------------------------------------------------------------------------------

/// A QuickCheck runner doing `cases` cases (or `QUICKCHECK_TESTS`).
fn qc(cases: u64) -> QuickCheck {
    let cases = std::env::var("QUICKCHECK_TESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    QuickCheck::new().tests(cases).max_tests(cases * 10)
}

// ------------------------------------------------------------------------------------------
// Session descriptions and the simulated pair
// ------------------------------------------------------------------------------------------

/// One direction of a link: loss, duplication and reordering in percent, jitter in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    loss: u8,
    duplicate: u8,
    reorder: u8,
    jitter_ms: u8,
}

impl Link {
    const CLEAN: Link = Link {
        loss: 0,
        duplicate: 0,
        reorder: 0,
        jitter_ms: 0,
    };

    fn config(self) -> LinkConfig {
        LinkConfig {
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(u64::from(self.jitter_ms)),
            loss: f64::from(self.loss) / 100.0,
            duplicate: f64::from(self.duplicate) / 100.0,
            reorder: f64::from(self.reorder) / 100.0,
        }
    }

    /// The same link with a quarter of the loss (0–5 %).
    fn milder(self) -> Link {
        Link {
            loss: self.loss / 4,
            ..self
        }
    }
}

impl Arbitrary for Link {
    fn arbitrary(g: &mut Gen) -> Self {
        // A third of the links are lossless, so the lossless-only assertions run often.
        let loss = if u8::arbitrary(g) % 3 == 0 {
            0
        } else {
            u8::arbitrary(g) % 31
        };
        Link {
            loss,
            duplicate: u8::arbitrary(g) % 21,
            reorder: u8::arbitrary(g) % 21,
            jitter_ms: u8::arbitrary(g) % 31,
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let l = *self;
        let mut out = Vec::new();
        for candidate in [
            Link { loss: 0, ..l },
            Link { duplicate: 0, ..l },
            Link { reorder: 0, ..l },
            Link { jitter_ms: 0, ..l },
            Link {
                loss: l.loss / 2,
                ..l
            },
            Link {
                duplicate: l.duplicate / 2,
                ..l
            },
            Link {
                reorder: l.reorder / 2,
                ..l
            },
            Link {
                jitter_ms: l.jitter_ms / 2,
                ..l
            },
        ] {
            if candidate != l && !out.contains(&candidate) {
                out.push(candidate);
            }
        }
        Box::new(out.into_iter())
    }
}

/// Alice and Bob with the given links (Alice → Bob, Bob → Alice); Bob rings and answers
/// every incoming call at once.
fn linked_pair(seed: u64, to_bob: Link, to_alice: Link) -> (Network, NodeId, NodeId) {
    let (mut net, alice, bob) = pair(seed, defaults);
    net.set_link(alice, bob, to_bob.config());
    net.set_link(bob, alice, to_alice.config());
    auto_answer(&mut net, bob);
    (net, alice, bob)
}

/// The call events a node saw for `call`, in order.
fn events_of(net: &Network, node: NodeId, call: CallId) -> Vec<CallEvent> {
    net.events(node)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Call { call: c, event } if *c == call => Some(event.clone()),
            _ => None,
        })
        .collect()
}

/// Every call a node saw, in order of first appearance.
fn calls_of(net: &Network, node: NodeId) -> Vec<CallId> {
    let mut calls = Vec::new();
    for (_, event) in net.events(node) {
        if let Event::Call { call, .. } = event
            && !calls.contains(call)
        {
            calls.push(*call);
        }
    }
    calls
}

/// How `call` ended and its state path, once per Terminated event (empty while it is live).
fn ending(net: &Network, node: NodeId, call: CallId) -> Vec<(EndReason, Vec<CallState>)> {
    events_of(net, node, call)
        .into_iter()
        .filter_map(|e| match e {
            CallEvent::Terminated { reason, history } => {
                let mut path: Vec<CallState> = history.first().map(|t| t.from).into_iter().collect();
                path.extend(history.iter().map(|t| t.to));
                Some((reason, path))
            }
            _ => None,
        })
        .collect()
}

/// What is left in an endpoint, as a message (empty when nothing is).
fn leftovers(net: &mut Network, node: NodeId) -> String {
    let e = net.endpoint(node);
    let (calls, dialogs, transactions, timeout) = (
        e.call_count(),
        e.dialog_count(),
        e.transaction_count(),
        e.poll_timeout(),
    );
    if calls == 0 && dialogs == 0 && transactions == 0 && timeout.is_none() {
        String::new()
    } else {
        format!("calls {calls}, dialogs {dialogs}, transactions {transactions}, timer armed {timeout:?}")
    }
}

/// The last `n` lines of the ladder, for failure messages.
fn ladder_tail(net: &Network, n: usize) -> String {
    let lines: Vec<&str> = net.ladder().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs in 10 ms slices until `done` or until `limit` of virtual time has passed in all.
fn run_while_not(net: &mut Network, limit: Duration, mut done: impl FnMut(&mut Network) -> bool) -> bool {
    loop {
        if done(net) {
            return true;
        }
        if net.elapsed() > limit {
            return false;
        }
        net.run_for(Duration::from_millis(10));
    }
}

fn is_up(state: Option<CallState>) -> bool {
    matches!(state, Some(CallState::Connected | CallState::Hold))
}

// ------------------------------------------------------------------------------------------
// 1. Set-up and tear-down under loss
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Teardown {
    seed: u64,
    to_bob: Link,
    to_alice: Link,
    bob_hangs_up: bool,
    hangup_delay_ms: u16,
}

impl Arbitrary for Teardown {
    fn arbitrary(g: &mut Gen) -> Self {
        Teardown {
            seed: u64::arbitrary(g),
            to_bob: Link::arbitrary(g),
            to_alice: Link::arbitrary(g),
            bob_hangs_up: bool::arbitrary(g),
            hangup_delay_ms: u16::arbitrary(g) % 2001,
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let t = self.clone();
        let mut out: Vec<Teardown> = Vec::new();
        if t.hangup_delay_ms != 0 {
            out.push(Teardown {
                hangup_delay_ms: 0,
                ..t.clone()
            });
        }
        out.extend(t.to_bob.shrink().map(|to_bob| Teardown { to_bob, ..t.clone() }));
        out.extend(t.to_alice.shrink().map(|to_alice| Teardown {
            to_alice,
            ..t.clone()
        }));
        Box::new(out.into_iter())
    }
}

fn prop_setup_and_teardown(t: Teardown) -> TestResult {
    let (mut net, alice, bob) = linked_pair(t.seed, t.to_bob, t.to_alice);
    let call = call_to_bob(&mut net, alice);
    let hanger = if t.bob_hangs_up { bob } else { alice };
    // The hanger's call: Alice's is known; Bob's once his first event names it.
    let hanger_call = |net: &Network| {
        if hanger == alice {
            Some(call)
        } else {
            calls_of(net, bob).first().copied()
        }
    };
    // Wait until the hanger is connected, or its call (or Alice's) is already over.
    let connected = run_while_not(&mut net, Duration::from_secs(70), |net| {
        let state = hanger_call(net).and_then(|c| net.endpoint(hanger).call_state(c));
        let alice_gone = net.endpoint(alice).call_state(call).is_none();
        is_up(state) || (hanger_call(net).is_some() && state.is_none()) || (alice_gone && hanger == alice)
    });
    let mut bye_sent = false;
    if connected {
        net.run_for(Duration::from_millis(u64::from(t.hangup_delay_ms)));
        if let Some(c) = hanger_call(&net) {
            let state = net.endpoint(hanger).call_state(c);
            match net.on(hanger, |e, now| e.bye(now, c)) {
                Ok(()) => bye_sent = true,
                // The call ended (or started ending) on its own meanwhile.
                Err(CallError::InvalidState { .. } | CallError::UnknownCall(_)) if !is_up(state) => {}
                Err(e) => {
                    return TestResult::error(format!("bye in state {state:?}: {e}\n{}", net.ladder()));
                }
            }
        }
    }
    if let Err(livelock) = net.run_until_idle() {
        return TestResult::error(format!("{livelock}\n{}", ladder_tail(&net, 60)));
    }

    let mut problems = Vec::new();
    // Each side: each call it ever saw ended exactly once, and nothing is left.
    for (name, node) in [("alice", alice), ("bob", bob)] {
        for c in calls_of(&net, node) {
            let endings = ending(&net, node, c).len();
            if endings != 1 {
                problems.push(format!("{name}'s call {c:?} ended {endings} times"));
            }
        }
        let left = leftovers(&mut net, node);
        if !left.is_empty() {
            problems.push(format!("{name} left {left}"));
        }
    }
    // Retransmitted or duplicated INVITEs never make a second call.
    let bob_calls = calls_of(&net, bob);
    if bob_calls.len() > 1 {
        problems.push(format!("bob saw {} calls", bob_calls.len()));
    }
    if calls_of(&net, alice) != [call] {
        problems.push("alice saw a call she did not make".into());
    }
    let alice_end = ending(&net, alice, call).pop();
    let bob_end = bob_calls.first().and_then(|&c| ending(&net, bob, c).pop());
    let went_through = |end: &Option<(EndReason, Vec<CallState>)>, state| {
        end.as_ref().is_some_and(|(_, path)| path.contains(&state))
    };
    // Alice connects on a 2xx, which Bob sends only when answering; Bob connects on the
    // ACK, which Alice sends only once connected.
    if went_through(&alice_end, CallState::Connected) && !went_through(&bob_end, CallState::Answering) {
        problems.push("alice connected but bob never answered".into());
    }
    if went_through(&bob_end, CallState::Connected) && !went_through(&alice_end, CallState::Connected) {
        problems.push("bob connected but alice never did".into());
    }
    if went_through(&alice_end, CallState::Connected) {
        let answers: Vec<Bytes> = events_of(&net, alice, call)
            .into_iter()
            .filter_map(|e| match e {
                CallEvent::Answered { body } => Some(body),
                _ => None,
            })
            .collect();
        if answers != [bob_sdp()] {
            problems.push(format!("alice's Answered events: {answers:?}"));
        }
    }
    // Why each side ended: nobody rejects, cancels or fails media here.
    if let Some((reason, path)) = &alice_end {
        let ok = match reason {
            EndReason::LocalBye | EndReason::RemoteBye => path.contains(&CallState::Connected),
            // Timer B with no answer at all, or a BYE nobody answered.
            EndReason::Timeout => true,
            _ => false,
        };
        if !ok {
            problems.push(format!("alice ended {reason:?} via {path:?}"));
        }
    }
    if let Some((reason, path)) = &bob_end {
        let ok = match reason {
            EndReason::LocalBye | EndReason::RemoteBye => path.contains(&CallState::Answering),
            EndReason::NoAck => !path.contains(&CallState::Connected),
            EndReason::Timeout => true,
            _ => false,
        };
        if !ok {
            problems.push(format!("bob ended {reason:?} via {path:?}"));
        }
    }
    // The side that hung up ended it with its BYE (or, rarely, met the peer's crossing BYE)
    // — or, when no answer to its BYE ever reached it, with Timeout (Timer F).
    if bye_sent {
        let (end, hanger_name) = if hanger == alice {
            (&alice_end, "alice")
        } else {
            (&bob_end, "bob")
        };
        let bye_answered = net.ladder().lines().any(|line| {
            line.contains(&format!("-> {hanger_name} "))
                && line.contains("SIP/2.0 ")
                && line.contains(" BYE)")
                && !line.contains("[LOST]")
        });
        let expected = match end {
            Some((EndReason::LocalBye | EndReason::RemoteBye, _)) => true,
            Some((EndReason::Timeout, _)) => !bye_answered,
            _ => false,
        };
        if !expected {
            problems.push(format!("the hanger's BYE went out but it ended {end:?}"));
        }
    }
    // Without loss, the call always goes through and the BYE ends it on both sides.
    if t.to_bob.loss == 0 && t.to_alice.loss == 0 {
        let (hanger_end, other_end) = if hanger == alice {
            (&alice_end, &bob_end)
        } else {
            (&bob_end, &alice_end)
        };
        if !bye_sent
            || !matches!(hanger_end, Some((EndReason::LocalBye, _)))
            || !matches!(other_end, Some((EndReason::RemoteBye, _)))
        {
            problems.push(format!(
                "lossless, yet bye sent {bye_sent}, hanger ended {hanger_end:?}, other ended {other_end:?}"
            ));
        }
    }
    if problems.is_empty() {
        TestResult::passed()
    } else {
        TestResult::error(format!("{}\n{}", problems.join("\n"), net.ladder()))
    }
}

#[test]
fn call_setup_and_teardown_survives_any_loss_within_budget() {
    qc(1000).quickcheck(prop_setup_and_teardown as fn(Teardown) -> TestResult);
}

// ------------------------------------------------------------------------------------------
// 2. Hold, unhold, re-INVITE and UPDATE interleavings
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Hold,
    Unhold,
    /// A re-INVITE with a fresh session description (new port, new version).
    Reinvite,
    /// An UPDATE with a fresh session description.
    Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step {
    bob: bool,
    op: Op,
    delay_ms: u16,
}

impl Arbitrary for Step {
    fn arbitrary(g: &mut Gen) -> Self {
        Step {
            bob: bool::arbitrary(g),
            op: *g
                .choose(&[Op::Hold, Op::Unhold, Op::Reinvite, Op::Update])
                .unwrap(),
            // Often at once (crossing requests), else anywhere in 3 s.
            delay_ms: if bool::arbitrary(g) {
                u16::arbitrary(g) % 60
            } else {
                u16::arbitrary(g) % 3001
            },
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let s = *self;
        let mut out = Vec::new();
        if s.delay_ms != 0 {
            out.push(Step { delay_ms: 0, ..s });
            out.push(Step {
                delay_ms: s.delay_ms / 2,
                ..s
            });
        }
        if s.op != Op::Hold {
            out.push(Step { op: Op::Hold, ..s });
        }
        Box::new(out.into_iter())
    }
}

#[derive(Debug, Clone)]
struct Script {
    seed: u64,
    to_bob: Link,
    to_alice: Link,
    steps: Vec<Step>,
}

impl Arbitrary for Script {
    fn arbitrary(g: &mut Gen) -> Self {
        let len = 1 + usize::arbitrary(g) % 12;
        Script {
            seed: u64::arbitrary(g),
            // Some loss, but less: the point is the interleavings.
            to_bob: Link::arbitrary(g).milder(),
            to_alice: Link::arbitrary(g).milder(),
            steps: (0..len).map(|_| Step::arbitrary(g)).collect(),
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let s = self.clone();
        let mut out: Vec<Script> = Vec::new();
        // Drop one step, then shrink each step, then the links.
        for i in 0..s.steps.len() {
            if s.steps.len() > 1 {
                let mut steps = s.steps.clone();
                steps.remove(i);
                out.push(Script { steps, ..s.clone() });
            }
        }
        for i in 0..s.steps.len() {
            for smaller in s.steps[i].shrink() {
                let mut steps = s.steps.clone();
                steps[i] = smaller;
                out.push(Script { steps, ..s.clone() });
            }
        }
        out.extend(s.to_bob.shrink().map(|to_bob| Script { to_bob, ..s.clone() }));
        out.extend(s.to_alice.shrink().map(|to_alice| Script {
            to_alice,
            ..s.clone()
        }));
        Box::new(out.into_iter())
    }
}

/// Who holds, as one side's events tell it: (we hold, the peer holds).
fn hold_view(events: &[CallEvent]) -> (bool, bool) {
    let (mut local, mut remote) = (false, false);
    for event in events {
        match event {
            CallEvent::Hold { by: Side::Local } => local = true,
            CallEvent::Unhold { by: Side::Local } => local = false,
            CallEvent::Hold { by: Side::Remote } => remote = true,
            CallEvent::Unhold { by: Side::Remote } => remote = false,
            _ => {}
        }
    }
    (local, remote)
}

fn count_offer_answered(events: &[CallEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, CallEvent::OfferAnswered { .. }))
        .count()
}

/// A fresh session description from `node` (new port, new `o=` version) whose direction
/// keeps the hold the side's events say is in force: `sendonly` while it holds (`inactive`
/// when held as well), `recvonly` while only held, else `sendrecv` — RFC 3264 §8.4, as
/// `hold`/`unhold` build theirs — or, every other step, a plain `sendrecv` offer that
/// releases any hold this side had.
fn fresh_offer(net: &Network, node: NodeId, call: CallId, fresh: u16) -> Bytes {
    let (user, ip) = if net.addr(node) == ALICE_ADDR {
        ("alice", "192.0.2.1")
    } else {
        ("bob", "192.0.2.2")
    };
    let (holds, held) = hold_view(&events_of(net, node, call));
    let mut sdp = SessionDescription::simple_audio(
        user,
        1000,
        ip.parse::<IpAddr>().unwrap(),
        40000 + 2 * fresh,
        &[0, 8, 101],
    );
    sdp.origin_mut().version = 5000 + u64::from(fresh);
    sdp.set_direction(match (holds, held) {
        // Every other fresh offer is a plain sendrecv one, whatever the hold: it releases
        // a hold this side had (and must say so on both sides).
        _ if fresh % 2 == 1 => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (true, true) => Direction::Inactive,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::SendRecv,
    });
    sdp.to_bytes()
}

/// A command of the script, at the current time.
fn apply(net: &mut Network, node: NodeId, call: CallId, op: Op, fresh: u16) -> Result<(), CallError> {
    let body = fresh_offer(net, node, call, fresh);
    net.on(node, |endpoint, now| match op {
        Op::Hold => endpoint.hold(now, call),
        Op::Unhold => endpoint.unhold(now, call),
        Op::Reinvite => endpoint.reinvite(now, call, body),
        Op::Update => endpoint.update(now, call, body),
    })
}

/// Whether `node` has a glare retry (§14.1) still to send for `call`.
fn glare_retry_pending(net: &Network, node: NodeId, call: CallId) -> bool {
    let now = net.now();
    events_of(net, node, call)
        .iter()
        .any(|e| matches!(e, CallEvent::GlareRetry { at } if *at >= now))
}

/// Ends the call from Alice and checks that both sides end and leave nothing behind.
fn bye_and_check_clean(
    net: &mut Network,
    alice: NodeId,
    bob: NodeId,
    call: CallId,
    problems: &mut Vec<String>,
) {
    if let Err(e) = net.on(alice, |e, now| e.bye(now, call)) {
        problems.push(format!("final bye: {e}"));
    }
    if let Err(livelock) = net.run_until_idle() {
        problems.push(livelock.to_string());
        return;
    }
    for (name, node) in [("alice", alice), ("bob", bob)] {
        let left = leftovers(net, node);
        if !left.is_empty() {
            problems.push(format!("{name} left {left}"));
        }
        for c in calls_of(net, node) {
            let endings = ending(net, node, c).len();
            if endings != 1 {
                problems.push(format!("{name}'s call {c:?} ended {endings} times"));
            }
        }
    }
}

fn prop_interleavings(script: Script) -> TestResult {
    let (mut net, alice, bob) = linked_pair(script.seed, script.to_bob, script.to_alice);
    let call = call_to_bob(&mut net, alice);
    // Both sides connected first (Bob's answer and Alice's ACK may need retransmissions).
    let up = run_while_not(&mut net, Duration::from_secs(40), |net| {
        let bob_up = calls_of(net, bob)
            .first()
            .is_some_and(|&c| net.endpoint(bob).call_state(c) == Some(CallState::Connected));
        bob_up && net.endpoint(alice).call_state(call) == Some(CallState::Connected)
    });
    if !up {
        return TestResult::discard();
    }
    let bob_call = calls_of(&net, bob)[0];
    let lossless = script.to_bob.loss == 0 && script.to_alice.loss == 0;
    let mut problems = Vec::new();
    for (i, step) in script.steps.iter().enumerate() {
        net.run_for(Duration::from_millis(u64::from(step.delay_ms)));
        let (node, c) = if step.bob { (bob, bob_call) } else { (alice, call) };
        let state = net.endpoint(node).call_state(c);
        match apply(&mut net, node, c, step.op, i as u16) {
            Ok(()) | Err(CallError::OfferPending | CallError::InvalidState { .. }) => {}
            // The call ended under loss (re-INVITE timeout, no ACK): checked below.
            Err(CallError::UnknownCall(_)) if state.is_none() => {}
            Err(e) => problems.push(format!("step {i} {step:?} in state {state:?}: {e}")),
        }
    }
    net.run_for(Duration::from_secs(40));

    let alice_state = net.endpoint(alice).call_state(call);
    let bob_state = net.endpoint(bob).call_state(bob_call);
    if alice_state.is_none() || bob_state.is_none() {
        // Loss ended the call (a re-INVITE that timed out, an ACK never arriving): both ends
        // must still end and leave nothing behind.
        if lossless {
            problems.push(format!(
                "lossless, yet the call ended: alice {:?}, bob {:?}",
                ending(&net, alice, call),
                ending(&net, bob, bob_call)
            ));
        }
        if let Err(livelock) = net.run_until_idle() {
            problems.push(livelock.to_string());
        }
        for (name, node) in [("alice", alice), ("bob", bob)] {
            let left = leftovers(&mut net, node);
            if !left.is_empty() {
                problems.push(format!("{name} left {left}"));
            }
        }
        for (name, node, c) in [("alice", alice, call), ("bob", bob, bob_call)] {
            let endings = ending(&net, node, c);
            if endings.len() != 1 {
                problems.push(format!("{name} ended {} times", endings.len()));
            }
        }
    } else {
        // At quiescence both sides agree on the state and on who holds.
        if !is_up(alice_state) || alice_state != bob_state {
            problems.push(format!("at rest alice is {alice_state:?}, bob is {bob_state:?}"));
        }
        let (alice_holds, alice_held) = hold_view(&events_of(&net, alice, call));
        let (bob_holds, bob_held) = hold_view(&events_of(&net, bob, bob_call));
        if alice_holds != bob_held || bob_holds != alice_held {
            problems.push(format!(
                "hold views disagree: alice holds {alice_holds} / is held {alice_held}, \
                 bob holds {bob_holds} / is held {bob_held}"
            ));
        }
        let expected = if alice_holds || alice_held {
            CallState::Hold
        } else {
            CallState::Connected
        };
        if alice_state != Some(expected) {
            problems.push(format!(
                "alice is {alice_state:?} but her hold view says {expected:?}"
            ));
        }
        // Nothing is stuck: each side in turn starts a re-INVITE and gets it answered.
        for (name, node, c) in [("alice", alice, call), ("bob", bob, bob_call)] {
            let before = count_offer_answered(&events_of(&net, node, c));
            // Under loss the previous exchange may still wait for a retransmitted ACK: the
            // refusal must stop within a retransmission budget, not last.
            let deadline = net.elapsed() + Duration::from_secs(40);
            let started = loop {
                match apply(&mut net, node, c, Op::Reinvite, 100) {
                    Ok(()) => break Ok(()),
                    Err(CallError::OfferPending) if net.elapsed() < deadline => {
                        net.run_for(Duration::from_millis(50));
                    }
                    Err(e) => break Err(e),
                }
            };
            if let Err(e) = started {
                if net.endpoint(node).call_state(c).is_some() || lossless {
                    problems.push(format!("{name}'s re-INVITE at rest refused: {e}"));
                }
                continue;
            }
            let limit = net.elapsed() + Duration::from_secs(40);
            let answered = run_while_not(&mut net, limit, |net| {
                count_offer_answered(&events_of(net, node, c)) > before
            });
            if !answered && net.endpoint(node).call_state(c).is_some() {
                problems.push(format!("{name}'s re-INVITE at rest was never answered"));
            }
            // Let the ACK land before the other side starts its own.
            net.run_for(Duration::from_secs(1));
        }
        if net.endpoint(alice).call_state(call).is_some() {
            bye_and_check_clean(&mut net, alice, bob, call, &mut problems);
        } else if lossless {
            problems.push("lossless, yet the call ended after the re-INVITEs at rest".into());
        }
    }
    if problems.is_empty() {
        TestResult::passed()
    } else {
        TestResult::error(format!("{}\n{}", problems.join("\n"), net.ladder()))
    }
}

#[test]
fn hold_unhold_reinvite_interleavings_never_leave_offer_answer_stuck() {
    qc(1000).quickcheck(prop_interleavings as fn(Script) -> TestResult);
}

// ------------------------------------------------------------------------------------------
// Minimal cases of bugs the properties above found (fixed; kept as regressions)
// ------------------------------------------------------------------------------------------

/// A lossless connected call (seed 1).
fn connected() -> (Network, NodeId, NodeId, CallId, CallId) {
    let (mut net, alice, bob) = linked_pair(1, Link::CLEAN, Link::CLEAN);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(100));
    let bob_call = calls_of(&net, bob)[0];
    assert_eq!(net.endpoint(bob).call_state(bob_call), Some(CallState::Connected));
    (net, alice, bob, call, bob_call)
}

/// Found by the interleavings property: a fresh `sendrecv` re-INVITE (or UPDATE) from a
/// side that holds takes the call off hold — on both sides (Alice: `Unhold { by: Local }`,
/// Bob: `Unhold { by: Remote }`, both Connected). Lossless, seed 1.
#[test]
fn a_fresh_sendrecv_offer_while_holding_releases_the_hold_on_both_sides() {
    let (mut net, alice, bob, call, bob_call) = connected();
    net.on(alice, |e, now| e.hold(now, call)).unwrap();
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.endpoint(bob).call_state(bob_call), Some(CallState::Hold));
    let sendrecv = sdp_with_version("alice", "192.0.2.1", 40000, 5000);
    net.on(alice, |e, now| e.reinvite(now, call, sendrecv)).unwrap();
    net.run_for(Duration::from_millis(100));
    // Bob saw Alice take the call off hold (Unhold { by: Remote }) and is Connected...
    assert_eq!(net.endpoint(bob).call_state(bob_call), Some(CallState::Connected));
    // ...but Alice still holds.
    assert_eq!(
        net.endpoint(alice).call_state(call),
        net.endpoint(bob).call_state(bob_call),
        "alice {:?}",
        hold_view(&events_of(&net, alice, call))
    );
}

/// Found by the interleavings property: Alice's hold and Bob's re-INVITE cross (491 both
/// ways; Alice, the dialog's UAC, would retry after 2.1–4 s, §14.1). Alice's `unhold` at
/// 40 ms supersedes the waiting hold retry, so the call does not end up on hold behind the
/// application's back. Lossless, seed 1.
#[test]
fn a_later_command_supersedes_a_pending_glare_retry() {
    let (mut net, alice, bob, call, bob_call) = connected();
    net.on(alice, |e, now| e.hold(now, call)).unwrap();
    let offer = sdp_with_version("bob", "192.0.2.2", 40002, 5001);
    net.on(bob, |e, now| e.reinvite(now, bob_call, offer)).unwrap();
    net.run_for(Duration::from_millis(40));
    assert!(glare_retry_pending(&net, alice, call));
    let unhold = net.on(alice, |e, now| e.unhold(now, call));
    net.run_for(Duration::from_secs(10));
    let (alice_holds, _) = hold_view(&events_of(&net, alice, call));
    assert!(
        unhold == Err(CallError::OfferPending) || !alice_holds,
        "unhold returned {unhold:?}, yet alice holds at the end:\n{}",
        net.ladder()
    );
}

/// Every answer to Alice's BYE lost (seven in a row at 24 % loss): Timer F ends her call
/// with Timeout, which the property must accept (found by it once).
#[test]
fn a_hang_up_whose_every_answer_is_lost_ends_with_timeout() {
    let case = Teardown {
        seed: 18_429_281_185_910_617_691,
        to_bob: Link {
            loss: 12,
            duplicate: 4,
            reorder: 1,
            jitter_ms: 1,
        },
        to_alice: Link {
            loss: 24,
            duplicate: 1,
            reorder: 1,
            jitter_ms: 1,
        },
        bob_hangs_up: false,
        hangup_delay_ms: 0,
    };
    let result = prop_setup_and_teardown(case);
    assert!(!result.is_failure(), "{result:?}");
}
