//! REFER (RFC 3515) between two Endpoints in the simulator: Alice, in a call with Bob,
//! refers him to Carol; Bob's application accepts and reports the progress of its new call
//! as `message/sipfrag` NOTIFYs in the REFER's implicit subscription. Ladder snapshots in
//! `snapshots/`.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_core::call::{CallEvent, CallId, CallState, EndReason};
use sip_core::endpoint::{EndpointConfig, Event};
use sip_core::message::{Method, StatusCode, Uri, sipfrag};
use sip_core::sim::{Network, NodeId};
use sip_core::subscription::{SubscriptionEnd, SubscriptionEvent, SubscriptionId};
use sip_tests::{bob_sdp, call_to_bob, pair_configured, snapshot};

fn takes_refer(config: &mut EndpointConfig) {
    config.subscriptions.accept_refer = true;
}

fn plain(_: &mut EndpointConfig) {}

/// Alice and Bob in a call; Bob answers calls and hands REFERs to `on_refer`.
fn connected(
    seed: u64,
    on_refer: impl Fn(&mut sip_core::Endpoint, SubscriptionId, std::time::Instant) + 'static,
) -> (Network, NodeId, NodeId, CallId) {
    let (mut net, alice, bob) = pair_configured(seed, plain, takes_refer);
    net.set_handler(bob, move |endpoint, event, now| match event {
        Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } => endpoint.answer(now, call, bob_sdp(), None).unwrap(),
        Event::Subscription {
            subscription,
            event: SubscriptionEvent::Refer { .. },
        } => on_refer(endpoint, subscription, now),
        _ => {}
    });
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    (net, alice, bob, call)
}

fn carol_uri() -> Uri {
    Uri::parse("sip:carol@192.0.2.3").unwrap()
}

/// Alice (192.0.2.1), Bob (192.0.2.2, takes REFER and carries it out himself with
/// `accept_refer_and_call`, answers calls) and Carol (192.0.2.3, answers calls).
fn three_parties(seed: u64) -> (Network, NodeId, NodeId, NodeId) {
    let mut net = Network::new(seed);
    let alice = net.add_node("alice", "192.0.2.1:5060".parse().unwrap());
    let bob = net.add_node_configured("bob", "192.0.2.2:5060".parse().unwrap(), takes_refer);
    let carol = net.add_node("carol", "192.0.2.3:5060".parse().unwrap());
    sip_tests::auto_answer(&mut net, carol);
    net.set_handler(bob, transferee);
    (net, alice, bob, carol)
}

/// Bob as transferee: answers calls, carries every REFER out.
fn transferee(endpoint: &mut sip_core::Endpoint, event: Event, now: std::time::Instant) {
    match event {
        Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } => endpoint.answer(now, call, bob_sdp(), None).unwrap(),
        Event::Subscription {
            subscription,
            event: SubscriptionEvent::Refer { .. },
        } => {
            endpoint
                .accept_refer_and_call(now, subscription, bob_sdp())
                .unwrap();
        }
        _ => {}
    }
}

/// The status lines Alice's NOTIFYs carried, in order.
fn progress(net: &Network, alice: NodeId, id: SubscriptionId) -> Vec<u16> {
    net.events(alice)
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Subscription {
                subscription,
                event: SubscriptionEvent::Notify { body, .. },
            } if *subscription == id => {
                let fragment = sipfrag::parse(body.clone()).unwrap();
                Some(fragment.as_response().unwrap().status.as_u16())
            }
            _ => None,
        })
        .collect()
}

fn ended(net: &Network, node: NodeId, id: SubscriptionId) -> Option<SubscriptionEnd> {
    net.events(node).iter().find_map(|(_, event)| match event {
        Event::Subscription {
            subscription,
            event: SubscriptionEvent::Terminated { reason },
        } if *subscription == id => Some(reason.clone()),
        _ => None,
    })
}

/// How call `call` at `node` ended, if it has.
fn call_end(net: &Network, node: NodeId, call: CallId) -> Option<EndReason> {
    net.events(node).iter().find_map(|(_, event)| match event {
        Event::Call {
            call: c,
            event: CallEvent::Terminated { reason, .. },
        } if *c == call => Some(reason.clone()),
        _ => None,
    })
}

/// The states call `call` at `node` went through, from its state-change events.
fn states(net: &Network, node: NodeId, call: CallId) -> Vec<CallState> {
    net.events(node)
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Call {
                call: c,
                event: CallEvent::StateChanged { to, .. },
            } if *c == call => Some(*to),
            _ => None,
        })
        .collect()
}

fn bobs_refer(net: &Network, bob: NodeId) -> (SubscriptionId, Uri) {
    net.events(bob)
        .iter()
        .find_map(|(_, event)| match event {
            Event::Subscription {
                subscription,
                event: SubscriptionEvent::Refer { target, .. },
            } => Some((*subscription, (**target).clone())),
            _ => None,
        })
        .expect("Bob was referred")
}

#[test]
fn a_refer_reports_trying_ringing_and_success_as_sipfrag() {
    let (mut net, alice, bob, call) = connected(71, |ep, refer, now| ep.accept_refer(now, refer).unwrap());
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let (referred, target) = bobs_refer(&net, bob);
    assert_eq!(target, carol_uri());
    // Bob's new call to Carol rings, then is answered: he says so.
    net.on(bob, |ep, now| ep.notify_refer(now, referred, StatusCode::RINGING))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    net.on(bob, |ep, now| ep.notify_refer(now, referred, StatusCode::OK))
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(progress(&net, alice, id), vec![100, 180, 200]);
    assert_eq!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Notified {
            reason: Some("noresource".to_owned()),
            retry_after: None
        })
    );
    assert_eq!(ended(&net, bob, referred), Some(SubscriptionEnd::Local));
    // Alice's call was Referring until the 200, then she hung up (the default).
    assert_eq!(
        states(&net, alice, call),
        [
            CallState::Calling,
            CallState::Connected,
            CallState::Referring,
            CallState::Ending,
            CallState::Ended
        ]
    );
    assert_eq!(call_end(&net, alice, call), Some(EndReason::Transferred));
    assert_eq!(net.endpoint(alice).stats().refers_sent, 1);
    assert_eq!(net.endpoint(bob).stats().refers_received, 1);
    snapshot!("refer_trying_ringing_success", &net);
}

#[test]
fn refer_to_busy_target_reports_486() {
    let (mut net, alice, bob, call) = connected(72, |ep, refer, now| ep.accept_refer(now, refer).unwrap());
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let (referred, _) = bobs_refer(&net, bob);
    net.on(bob, |ep, now| {
        ep.notify_refer(now, referred, StatusCode::BUSY_HERE)
    })
    .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(progress(&net, alice, id), vec![100, 486]);
    assert!(matches!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Notified { .. })
    ));
}

#[test]
fn a_declined_refer_is_rejected_603() {
    let (mut net, alice, _bob, call) = connected(73, |ep, refer, now| {
        ep.reject_subscription(now, refer, StatusCode::DECLINE).unwrap()
    });
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Rejected(StatusCode::DECLINE))
    );
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    snapshot!("refer_declined_603", &net);
}

#[test]
fn a_refer_without_refer_to_gets_400() {
    let (mut net, alice, _bob, call) = connected(74, |_, _, _| panic!("not offered"));
    let tx = net
        .on(alice, |ep, now| {
            ep.request_in_dialog(now, call, Method::Refer, Bytes::new(), None)
        })
        .unwrap();
    net.run_until_idle().unwrap();
    assert!(
        net.ladder().contains("SIP/2.0 400 Bad Refer-To"),
        "{}",
        net.ladder()
    );
    let _ = tx;
}

#[test]
fn a_refer_nobody_answers_gets_408_after_64_t1() {
    let (mut net, alice, bob, call) = connected(75, |_, _, _| {});
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_for(Duration::from_secs(40));
    let (referred, _) = bobs_refer(&net, bob);
    assert_eq!(ended(&net, bob, referred), Some(SubscriptionEnd::Timeout));
    assert!(ended(&net, alice, id).is_some());
    assert_eq!(net.endpoint(bob).subscription_count(), 0);
}

#[test]
fn without_accept_refer_a_refer_is_not_allowed() {
    let (mut net, alice, bob) = pair_configured(76, plain, plain);
    sip_tests::auto_answer(&mut net, bob);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Rejected(StatusCode::METHOD_NOT_ALLOWED))
    );
}

/// A blind transfer in all three roles: Alice (transferor) refers Bob (transferee) to
/// Carol (target); Bob's Endpoint places the call itself, carrying Alice's Referred-By,
/// and reports its progress; Carol answers; Alice hears 100, 180, 200, then hangs up.
#[test]
fn a_blind_transfer_connects_the_transferee_to_the_target() {
    let (mut net, alice, bob, carol) = three_parties(77);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_for(Duration::from_secs(2));
    assert_eq!(progress(&net, alice, id), vec![100, 180, 200]);
    assert!(matches!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Notified { .. })
    ));
    // The same, as Alice's application reads it.
    let transfer: Vec<u16> = net
        .events(alice)
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Subscription {
                event: SubscriptionEvent::Transfer { status },
                ..
            } => Some(status.as_u16()),
            _ => None,
        })
        .collect();
    assert_eq!(transfer, vec![100, 180, 200]);
    assert_eq!(net.endpoint(alice).stats().transfers_succeeded, 1);
    // Bob talks to Carol, and Carol's INVITE said who referred him.
    let carols: Vec<CallId> = net
        .events(carol)
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Call {
                call,
                event: CallEvent::Incoming { request, .. },
            } => {
                assert!(
                    request
                        .headers
                        .get("Referred-By")
                        .is_some_and(|by| by.contains("192.0.2.1"))
                );
                Some(*call)
            }
            _ => None,
        })
        .collect();
    assert_eq!(carols.len(), 1);
    assert_eq!(
        net.endpoint(carol).call_state(carols[0]),
        Some(CallState::Connected)
    );
    // Alice's part is done: she hung up once Carol answered, and only Bob and Carol are
    // left talking.
    net.run_until_idle().unwrap();
    assert_eq!(call_end(&net, alice, call), Some(EndReason::Transferred));
    assert_eq!(net.endpoint(alice).call_count(), 0);
    assert_eq!(net.endpoint(alice).subscription_count(), 0);
    assert_eq!(net.endpoint(bob).call_count(), 1);
    assert_eq!(net.endpoint(carol).call_count(), 1);
    snapshot!("refer_blind_transfer_three_roles", &net);
}

#[test]
fn a_transfer_to_a_target_that_rejects_reports_its_status() {
    let (mut net, alice, _bob, carol) = three_parties(78);
    // Carol is busy.
    net.set_handler(carol, |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            endpoint.reject(now, call, StatusCode::BUSY_HERE, None).unwrap();
        }
    });
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(progress(&net, alice, id), vec![100, 486]);
    assert_eq!(net.endpoint(alice).stats().transfers_failed, 1);
    // The transfer failed; Alice and Bob are still talking.
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    assert_eq!(
        states(&net, alice, call)[1..],
        [CallState::Connected, CallState::Referring, CallState::Connected]
    );
    snapshot!("refer_transfer_to_busy_target", &net);
}

/// Properties: with any loss (up to 20 % on every link, drawn from the seed), a blind
/// transfer ends with the transferee talking to the target and the transferor's call
/// ended; once Bob and Carol hang up too, nothing is left on any of the three.
fn prop_blind_transfer_survives_loss(seed: u64, loss_percent: u8) -> quickcheck::TestResult {
    use quickcheck::TestResult;
    use sip_core::sim::LinkConfig;

    let loss = f64::from(loss_percent % 21) / 100.0;
    let (mut net, alice, bob, carol) = three_parties(seed);
    net.record_ladder = false;
    let link = LinkConfig {
        loss,
        ..LinkConfig::default()
    };
    for (a, b) in [(alice, bob), (bob, carol), (alice, carol)] {
        net.set_links(a, b, link);
    }
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(40));
    if net.endpoint(alice).call_state(call) != Some(CallState::Connected) {
        // The call itself did not get up under this loss: nothing to transfer.
        return TestResult::discard();
    }
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    // The REFER's subscription ends with the final NOTIFY (or, if every copy of it is
    // lost, by its expiry): then Alice's part is done and she hangs up.
    net.run_for(Duration::from_secs(240));
    let mut problems = Vec::new();
    if ended(&net, alice, id).is_none() {
        problems.push("alice's REFER subscription never ended".to_owned());
    }
    let _ = net.on(alice, |ep, now| ep.bye(now, call));
    net.run_for(Duration::from_secs(40));
    let talking = |net: &mut Network, node: NodeId| {
        let e = net.endpoint(node);
        e.call_count() == 1
    };
    if net.endpoint(alice).call_count() != 0 {
        problems.push("alice's call did not end".to_owned());
    }
    if !talking(&mut net, bob) || !talking(&mut net, carol) {
        problems.push(format!(
            "bob has {} calls, carol {}",
            net.endpoint(bob).call_count(),
            net.endpoint(carol).call_count()
        ));
    }
    // Bob hangs up on Carol; then everything drains.
    let bobs: Vec<CallId> = net
        .events(bob)
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Call { call, .. } => Some(*call),
            _ => None,
        })
        .collect();
    for c in bobs {
        let _ = net.on(bob, |ep, now| ep.bye(now, c));
    }
    let _ = net.run_until_idle();
    for (name, node) in [("alice", alice), ("bob", bob), ("carol", carol)] {
        let e = net.endpoint(node);
        let left = (
            e.call_count(),
            e.dialog_count(),
            e.transaction_count(),
            e.subscription_count(),
        );
        if left != (0, 0, 0, 0) || e.poll_timeout().is_some() {
            problems.push(format!(
                "{name} left calls/dialogs/transactions/subscriptions {left:?}"
            ));
        }
    }
    if problems.is_empty() {
        TestResult::passed()
    } else {
        TestResult::error(format!("seed {seed}, loss {loss}: {}", problems.join("; ")))
    }
}

#[test]
fn a_blind_transfer_survives_any_loss_within_budget() {
    let cases = std::env::var("QUICKCHECK_TESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    quickcheck::QuickCheck::new()
        .tests(cases)
        .max_tests(cases * 10)
        .quickcheck(prop_blind_transfer_survives_loss as fn(u64, u8) -> quickcheck::TestResult);
}

/// RFC 4488: Alice asks for no progress (`Refer-Sub: false`); Bob honours it — 202 with
/// `Refer-Sub: false` and no NOTIFY — and still carries the transfer out.
#[test]
fn a_refer_without_subscription_gets_no_notify() {
    let (mut net, alice, bob, carol) = three_parties(79);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let id = net
        .on(alice, |ep, now| {
            ep.refer_without_progress(now, call, &carol_uri())
        })
        .unwrap();
    net.run_for(Duration::from_secs(2));
    assert_eq!(ended(&net, alice, id), Some(SubscriptionEnd::Local));
    assert!(progress(&net, alice, id).is_empty());
    assert!(!net.ladder().contains("NOTIFY"), "{}", net.ladder());
    assert_eq!(net.endpoint(bob).subscription_count(), 0);
    assert_eq!(
        net.endpoint(carol).call_count(),
        1,
        "the transfer happened all the same"
    );
    snapshot!("refer_without_subscription", &net);
}

/// The dialog of `call` at `node`, as a Replaces naming it to its peer: the peer's tag is
/// the to-tag (the one who receives the Replaces), ours the from-tag (RFC 3891 §6.1).
fn replaces_for(
    net: &mut Network,
    node: NodeId,
    call: CallId,
    early_only: bool,
) -> sip_core::message::Replaces {
    let key = net.endpoint(node).call_dialog(call).unwrap().key();
    sip_core::message::Replaces::new(&key.call_id, &key.remote_tag, &key.local_tag, early_only).unwrap()
}

/// RFC 3891 §3: Carol's INVITE replaces Alice's call with Bob — the target side of an
/// attended transfer. Bob's new call says which it replaces, and once he answers it the
/// old one ends with a BYE and `Replaced`.
#[test]
fn an_invite_with_replaces_takes_the_place_of_a_confirmed_call() {
    let (mut net, alice, bob, carol) = three_parties(80);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let replaces = replaces_for(&mut net, alice, call, false);
    let target = Uri::parse("sip:bob@192.0.2.2").unwrap();
    let carols = net
        .on(carol, |ep, now| {
            ep.invite_replacing(now, target, sip_tests::alice_sdp(), &replaces)
        })
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(net.endpoint(carol).call_state(carols), Some(CallState::Connected));
    let replacing: Vec<CallId> = net
        .events(bob)
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Call {
                event: CallEvent::Replacing { replaced },
                ..
            } => Some(*replaced),
            _ => None,
        })
        .collect();
    assert_eq!(replacing.len(), 1, "Bob's new call said what it replaces");
    let bobs_old = replacing[0];
    let bob_ended = net.events(bob).iter().find_map(|(_, event)| match event {
        Event::Call {
            call,
            event: CallEvent::Terminated { reason, .. },
        } if *call == bobs_old => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(bob_ended, Some(EndReason::Replaced));
    assert_eq!(net.endpoint(alice).call_count(), 0, "Alice got the BYE");
    assert_eq!(net.endpoint(bob).call_count(), 1, "Bob talks to Carol");
    assert_eq!(net.endpoint(bob).stats().calls.replaces, 1);
    snapshot!("replaces_confirmed_call", &net);
}

#[test]
fn replaces_naming_no_dialog_gets_481() {
    let (mut net, alice, bob, carol) = three_parties(81);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let key = net.endpoint(alice).call_dialog(call).unwrap().key();
    let wrong = sip_core::message::Replaces::new(&key.call_id, "nope", &key.local_tag, false).unwrap();
    let target = Uri::parse("sip:bob@192.0.2.2").unwrap();
    let carols = net
        .on(carol, |ep, now| {
            ep.invite_replacing(now, target, sip_tests::alice_sdp(), &wrong)
        })
        .unwrap();
    net.run_until_idle().unwrap();
    assert!(net.ladder().contains("481"), "{}", net.ladder());
    assert_eq!(net.endpoint(carol).call_state(carols), None);
    assert_eq!(net.endpoint(bob).call_count(), 1, "Bob's call with Alice goes on");
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    snapshot!("replaces_no_match_481", &net);
}

#[test]
fn early_only_replaces_of_a_confirmed_call_gets_486() {
    let (mut net, alice, bob, carol) = three_parties(82);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let replaces = replaces_for(&mut net, alice, call, true);
    let target = Uri::parse("sip:bob@192.0.2.2").unwrap();
    net.on(carol, |ep, now| {
        ep.invite_replacing(now, target, sip_tests::alice_sdp(), &replaces)
    })
    .unwrap();
    net.run_until_idle().unwrap();
    assert!(net.ladder().contains("SIP/2.0 486"), "{}", net.ladder());
    assert_eq!(net.endpoint(bob).call_count(), 1);
    snapshot!("replaces_early_only_486", &net);
}

/// An attended transfer in all three roles: Alice talks to Bob and to Carol, then refers
/// Bob to Carol with a Replaces naming her call with Carol (RFC 3891 §7). Bob's INVITE
/// carries it; Carol's new call replaces Alice's, whose call Carol ends; Alice hears 200 and
/// hangs up on Bob. Bob and Carol are left talking.
#[test]
fn an_attended_transfer_replaces_the_targets_call_with_the_transferor() {
    let (mut net, alice, bob, carol) = three_parties(83);
    let with_bob = call_to_bob(&mut net, alice);
    let with_carol = net
        .on(alice, |ep, now| {
            ep.invite(now, carol_uri(), sip_tests::alice_sdp(), None)
        })
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let id = net
        .on(alice, |ep, now| ep.attended_transfer(now, with_bob, with_carol))
        .unwrap();
    net.run_for(Duration::from_secs(2));
    assert_eq!(progress(&net, alice, id), vec![100, 180, 200]);
    net.run_until_idle().unwrap();
    assert_eq!(call_end(&net, alice, with_bob), Some(EndReason::Transferred));
    let alices_end = net.events(alice).iter().find_map(|(_, event)| match event {
        Event::Call {
            call,
            event: CallEvent::Terminated { reason, .. },
        } if *call == with_carol => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(alices_end, Some(EndReason::RemoteBye), "Carol ended it");
    assert_eq!(net.endpoint(alice).call_count(), 0);
    assert_eq!(net.endpoint(bob).call_count(), 1, "Bob talks to Carol");
    assert_eq!(net.endpoint(carol).call_count(), 1, "Carol talks to Bob");
    assert_eq!(net.endpoint(carol).stats().calls.replaces, 1);
    snapshot!("refer_attended_transfer_three_roles", &net);
}

/// With `end_call_after_transfer` off, a transfer that succeeds leaves the transferor's
/// call up (back from Referring to Connected), for the application to end.
#[test]
fn with_end_call_after_transfer_off_the_call_stays_up() {
    let (mut net, alice, bob) = pair_configured(
        73,
        |config| config.subscriptions.end_call_after_transfer = false,
        takes_refer,
    );
    net.set_handler(bob, transferee);
    let carol = net.add_node("carol", "192.0.2.3:5060".parse().unwrap());
    sip_tests::auto_answer(&mut net, carol);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(progress(&net, alice, id), vec![100, 180, 200]);
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    assert_eq!(
        states(&net, alice, call)[1..],
        [CallState::Connected, CallState::Referring, CallState::Connected]
    );
}

/// `attended_transfer` needs a connected call to replace: a call still ringing (whose
/// early dialog the target could not let us replace, RFC 3891 §3) is refused.
#[test]
fn an_attended_transfer_to_an_unanswered_call_is_refused() {
    let (mut net, alice, _bob, carol) = three_parties(84);
    // Carol rings and never answers: Alice's call with her has an early dialog.
    net.set_handler(carol, |ep, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            ep.ringing(now, call).unwrap();
        }
    });
    let with_bob = call_to_bob(&mut net, alice);
    let with_carol = net
        .on(alice, |ep, now| {
            ep.invite(now, carol_uri(), sip_tests::alice_sdp(), None)
        })
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        net.endpoint(alice).call_state(with_carol),
        Some(CallState::Ringing)
    );
    assert!(
        net.endpoint(alice).call_dialog(with_carol).is_some(),
        "an early dialog"
    );
    let result = net.on(alice, |ep, now| ep.attended_transfer(now, with_bob, with_carol));
    assert_eq!(
        result,
        Err(sip_core::subscription::SubscriptionError::NoSuchCall(with_carol))
    );
    assert_eq!(net.endpoint(alice).stats().refers_sent, 0);
}

/// Bob's `100 Trying` NOTIFY reaches Alice before his 202 (lost once, so it comes with
/// the REFER's retransmission): RFC 6665 §4.1.2.4 — the subscriber must be ready for a
/// NOTIFY before the SUBSCRIBE (here the REFER) transaction completes. Alice takes and
/// reports it, the 202 still completes her REFER, and the progress carries on to the end.
#[test]
fn a_notify_that_overtakes_the_202_is_taken() {
    let (mut net, alice, bob, call) = connected(84, |ep, refer, now| ep.accept_refer(now, refer).unwrap());
    net.lose(bob, alice, "SIP/2.0 202", 1);
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let events: Vec<SubscriptionEvent> = net
        .events(alice)
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Subscription { subscription, event } if *subscription == id => Some(event.clone()),
            _ => None,
        })
        .collect();
    let notify = events
        .iter()
        .position(|event| matches!(event, SubscriptionEvent::Notify { .. }));
    let accepted = events
        .iter()
        .position(|event| matches!(event, SubscriptionEvent::Accepted { .. }));
    assert!(notify.is_some() && accepted.is_some(), "{events:?}");
    assert!(
        notify < accepted,
        "the NOTIFY came first and was taken: {events:?}"
    );
    assert!(events.contains(&SubscriptionEvent::Transfer {
        status: StatusCode::TRYING
    }));
    assert!(!net.ladder().contains("481"), "{}", net.ladder());
    let (referred, _) = bobs_refer(&net, bob);
    net.on(bob, |ep, now| ep.notify_refer(now, referred, StatusCode::RINGING))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    net.on(bob, |ep, now| ep.notify_refer(now, referred, StatusCode::OK))
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(progress(&net, alice, id), vec![100, 180, 200]);
    assert!(matches!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Notified { .. })
    ));
    assert_eq!(net.endpoint(alice).subscription_count(), 0);
    assert_eq!(net.endpoint(bob).subscription_count(), 0);
    snapshot!("refer_notify_overtakes_202", &net);
}

/// Alice (192.0.2.1, answers calls), Bob (192.0.2.2, rings and never answers) and Carol
/// (192.0.2.3); Alice calls Bob and he rings: an early dialog, Alice's the UAC's. Returns
/// Alice's call and Bob's.
fn early_call(seed: u64) -> (Network, NodeId, NodeId, NodeId, CallId, CallId) {
    let mut net = Network::new(seed);
    let alice = net.add_node("alice", "192.0.2.1:5060".parse().unwrap());
    let bob = net.add_node("bob", "192.0.2.2:5060".parse().unwrap());
    let carol = net.add_node("carol", "192.0.2.3:5060".parse().unwrap());
    net.set_handler(alice, |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            endpoint.answer(now, call, sip_tests::alice_sdp(), None).unwrap();
        }
    });
    net.set_handler(bob, |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            endpoint.ringing(now, call).unwrap();
        }
    });
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Ringing));
    let bobs = net
        .events(bob)
        .iter()
        .find_map(|(_, event)| match event {
            Event::Call {
                call,
                event: CallEvent::Incoming { .. },
            } => Some(*call),
            _ => None,
        })
        .expect("Bob was called");
    (net, alice, bob, carol, call, bobs)
}

/// RFC 3891 §3: an INVITE with Replaces naming an early dialog that the UA receiving it
/// initiated takes its place — Alice is calling Bob, who rings; Carol (who picks the call
/// up, say, having learnt the dialog from Bob) sends Alice an INVITE replacing it. Alice's
/// new call says what it replaces; once it is answered, her INVITE to Bob is CANCELled
/// and that call ends as `Replaced`.
#[test]
fn replaces_of_an_early_call_we_started_cancels_it() {
    let (mut net, alice, bob, carol, call, bobs) = early_call(85);
    // Bob's side of the dialog names it to Alice: her tag is the to-tag.
    let replaces = replaces_for(&mut net, bob, bobs, false);
    let target = Uri::parse("sip:alice@192.0.2.1").unwrap();
    let carols = net
        .on(carol, |ep, now| {
            ep.invite_replacing(now, target, sip_tests::sdp("carol", "192.0.2.3", 5004), &replaces)
        })
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(net.endpoint(carol).call_state(carols), Some(CallState::Connected));
    let replacing: Vec<CallId> = net
        .events(alice)
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Call {
                event: CallEvent::Replacing { replaced },
                ..
            } => Some(*replaced),
            _ => None,
        })
        .collect();
    assert_eq!(replacing, [call], "Alice's new call names her call to Bob");
    let alices_end = net.events(alice).iter().find_map(|(_, event)| match event {
        Event::Call {
            call: c,
            event: CallEvent::Terminated { reason, .. },
        } if *c == call => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(alices_end, Some(EndReason::Replaced));
    assert!(
        !net.events(alice).iter().any(|(_, event)| matches!(
            event,
            Event::Call { call: c, event: CallEvent::Rejected { .. } } if *c == call
        )),
        "the 487 answers our own CANCEL: no rejection"
    );
    let ladder = net.ladder();
    let answered = ladder
        .find("alice  -> carol  SIP/2.0 200 OK")
        .expect("Alice answered Carol");
    let cancelled = ladder.find("alice  -> bob    CANCEL").expect("Alice cancelled");
    assert!(answered < cancelled, "the CANCEL follows the answer: {ladder}");
    assert_eq!(net.endpoint(bob).call_count(), 0, "Bob's ringing stopped");
    assert_eq!(net.endpoint(alice).call_count(), 1, "Alice talks to Carol");
    assert_eq!(net.endpoint(alice).stats().calls.replaces, 1);
    snapshot!("replaces_early_call_we_started", &net);
}

/// RFC 3891 §3: an early dialog the receiving UA did not initiate cannot be replaced —
/// Carol names Bob's ringing call (Alice's INVITE to him) to Bob: 481, and the dialog is
/// left as it was.
#[test]
fn replaces_of_an_early_call_we_did_not_start_gets_481() {
    let (mut net, alice, bob, carol, call, bobs) = early_call(86);
    // Alice's side of the dialog names it to Bob: his tag is the to-tag.
    let replaces = replaces_for(&mut net, alice, call, false);
    let target = Uri::parse("sip:bob@192.0.2.2").unwrap();
    let carols = net
        .on(carol, |ep, now| {
            ep.invite_replacing(now, target, sip_tests::sdp("carol", "192.0.2.3", 5004), &replaces)
        })
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(
        net.ladder().contains("bob    -> carol  SIP/2.0 481"),
        "{}",
        net.ladder()
    );
    assert_eq!(net.endpoint(carol).call_state(carols), None);
    assert_eq!(net.endpoint(bob).call_state(bobs), Some(CallState::Ringing));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Ringing));
    assert_eq!(net.endpoint(bob).stats().calls.replaces, 0);
    snapshot!("replaces_early_call_we_did_not_start", &net);
}

/// A NOTIFY as linphone 5.1 writes them: `Event: refer` without `id` (RFC 3515 §2.4.6
/// lets the first REFER's NOTIFYs omit it), a Subscription-State whose reason parameter
/// is mangled, no Contact. Sent by hand from Bob's address in Alice's call with Bob.
fn linphone_style_notify(
    net: &mut Network,
    (alice, bob): (NodeId, NodeId),
    call: CallId,
    state: &str,
    fragment: &str,
) {
    let dialog = net.endpoint(alice).call_dialog(call).unwrap();
    let (key, seq) = (dialog.key(), dialog.remote_seq().unwrap() + 1);
    let body = format!("{fragment}\r\n");
    let notify = format!(
        "NOTIFY sip:alice@192.0.2.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK-linphone-{state_len}\r\n\
         From: <sip:bob@192.0.2.2>;tag={bob_tag}\r\n\
         To: <sip:alice@192.0.2.1>;tag={alice_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {seq} NOTIFY\r\n\
         Max-Forwards: 70\r\n\
         Subscription-State: {state}\r\n\
         Event: refer\r\n\
         Content-Type: message/sipfrag\r\n\
         Content-Length: {len}\r\n\r\n{body}",
        state_len = state.len(),
        bob_tag = key.remote_tag,
        alice_tag = key.local_tag,
        call_id = key.call_id,
        len = body.len(),
    );
    net.inject(bob, alice, Bytes::from(notify));
}

/// linphone's last NOTIFY — bare `Event: refer`, `terminated;reason=reason=noresource` —
/// is taken: 200, the transfer succeeds, Alice's call ends as transferred.
#[test]
fn a_bare_refer_notify_with_a_mangled_state_is_taken() {
    let (mut net, alice, bob, call) = connected(85, |ep, refer, now| ep.accept_refer(now, refer).unwrap());
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    linphone_style_notify(
        &mut net,
        (alice, bob),
        call,
        "terminated;reason=reason=noresource",
        "SIP/2.0 200 Ok",
    );
    net.run_for(Duration::from_secs(1));
    assert_eq!(progress(&net, alice, id), vec![100, 200], "{}", net.ladder());
    assert!(
        matches!(
            ended(&net, alice, id),
            Some(SubscriptionEnd::Notified { reason: None, .. })
        ),
        "{}",
        net.ladder()
    );
    assert_eq!(call_end(&net, alice, call), Some(EndReason::Transferred));
    assert!(!net.ladder().contains("400 Bad Request"), "{}", net.ladder());
}

/// linphone reports a failed transfer in a NOTIFY that keeps the subscription active and
/// sends no other: the result settles it — Alice's side ends, her call goes on.
#[test]
fn a_final_result_in_an_active_notify_settles_the_transfer() {
    let (mut net, alice, bob, call) = connected(86, |ep, refer, now| ep.accept_refer(now, refer).unwrap());
    let id = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    linphone_style_notify(&mut net, (alice, bob), call, "active", "SIP/2.0 486 Busy Here");
    net.run_for(Duration::from_secs(1));
    assert_eq!(progress(&net, alice, id), vec![100, 486]);
    assert_eq!(ended(&net, alice, id), Some(SubscriptionEnd::Local));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    assert_eq!(net.endpoint(alice).stats().transfers_failed, 1);
}

/// A transfer that fails while the call is on hold leaves it on hold: Referring sits above
/// Hold and gives way to it again.
#[test]
fn a_transfer_that_fails_on_hold_goes_back_to_hold() {
    let (mut net, alice, bob, call) = connected(87, |ep, refer, now| ep.accept_refer(now, refer).unwrap());
    net.on(alice, |ep, now| ep.hold(now, call)).unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Hold));
    net.on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Referring));
    let (referred, _) = bobs_refer(&net, bob);
    net.on(bob, |ep, now| {
        ep.notify_refer(now, referred, StatusCode::BUSY_HERE)
    })
    .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Hold));
}

/// The transferee hangs up the old call as soon as it reports success, so its BYE crosses
/// the transferor's: the transferor's call still ends as transferred.
#[test]
fn a_bye_crossing_ours_after_a_transfer_keeps_transferred() {
    let (mut net, alice, bob, call) = connected(88, |ep, refer, now| ep.accept_refer(now, refer).unwrap());
    net.on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let (referred, _) = bobs_refer(&net, bob);
    let bobs_call = net
        .events(bob)
        .iter()
        .find_map(|(_, event)| match event {
            Event::Call {
                call,
                event: CallEvent::Incoming { .. },
            } => Some(*call),
            _ => None,
        })
        .unwrap();
    net.on(bob, |ep, now| {
        ep.notify_refer(now, referred, StatusCode::OK).unwrap();
        ep.bye(now, bobs_call).unwrap();
    });
    net.run_until_idle().unwrap();
    let ladder = net.ladder();
    assert_eq!(ladder.matches("BYE sip:").count(), 2, "both sent BYE: {ladder}");
    assert_eq!(call_end(&net, alice, call), Some(EndReason::Transferred));
}

/// A notifier that names REFERs by `id`: a late bare `Event: refer` NOTIFY can only be the
/// first REFER's (RFC 3515 §2.4.6), which is over — 481 — and never the second's.
#[test]
fn a_late_bare_notify_of_the_first_refer_is_not_taken_by_the_second() {
    let (mut net, alice, bob, call) = connected(89, |ep, refer, now| ep.accept_refer(now, refer).unwrap());
    let first = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let (referred, _) = bobs_refer(&net, bob);
    net.on(bob, |ep, now| {
        ep.notify_refer(now, referred, StatusCode::BUSY_HERE)
    })
    .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(ended(&net, alice, first).is_some());
    let second = net
        .on(alice, |ep, now| ep.refer(now, call, &carol_uri()))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(progress(&net, alice, second), vec![100], "named by id");
    linphone_style_notify(
        &mut net,
        (alice, bob),
        call,
        "terminated;reason=timeout",
        "SIP/2.0 486 Busy Here",
    );
    net.run_for(Duration::from_secs(1));
    assert!(
        net.ladder().contains("alice  -> bob    SIP/2.0 481"),
        "{}",
        net.ladder()
    );
    assert_eq!(progress(&net, alice, second), vec![100]);
    assert_eq!(ended(&net, alice, second), None, "the second REFER lives on");
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Referring));
}
