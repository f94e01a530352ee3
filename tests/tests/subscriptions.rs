//! Subscriptions (RFC 6665) between two Endpoints in the simulator, both sides ours: Alice
//! subscribes, Bob notifies. Each scenario is pinned by a ladder snapshot in `snapshots/`.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use sip_core::endpoint::{EndpointConfig, Event};
use sip_core::message::{HeaderName, StatusCode};
use sip_core::sim::{Network, NodeId};
use sip_core::subscription::{Notification, NotifyState, SubscriptionEnd, SubscriptionEvent, SubscriptionId};
use sip_tests::{pair_configured, snapshot};

const PIDF: &str = "application/pidf+xml";

/// Bob notifies for `presence`, granting at most 600 s.
fn presence_notifier(config: &mut EndpointConfig) {
    config.subscriptions.packages = vec!["presence".to_owned()];
    config.subscriptions.max_expires = 600;
}

fn alice_default(_: &mut EndpointConfig) {}

/// Bob's application: accepts every subscription with an `open` document.
fn accept_every_subscription(endpoint: &mut sip_core::Endpoint, event: Event, now: std::time::Instant) {
    if let Event::Subscription {
        subscription,
        event: SubscriptionEvent::Incoming { .. },
    } = event
    {
        endpoint
            .accept_subscription(now, subscription, Notification::active(PIDF, "open"))
            .unwrap();
    }
}

/// Alice and Bob; Bob accepts every subscription with an `open` document.
fn network(seed: u64) -> (Network, NodeId, NodeId) {
    let (mut net, alice, bob) = pair_configured(seed, alice_default, presence_notifier);
    net.set_handler(bob, accept_every_subscription);
    (net, alice, bob)
}

/// What `node` heard of its subscriptions, in order.
fn subscription_events(net: &Network, node: NodeId) -> Vec<(SubscriptionId, SubscriptionEvent)> {
    net.events(node)
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Subscription { subscription, event } => Some((*subscription, event.clone())),
            _ => None,
        })
        .collect()
}

fn subscribe(net: &mut Network, alice: NodeId, bob: NodeId, expires: u32) -> SubscriptionId {
    let target = format!("sip:bob@{}", net.addr(bob)).parse().unwrap();
    net.on(alice, |ep, now| ep.subscribe(now, target, "presence", expires))
        .unwrap()
}

fn ended(net: &Network, node: NodeId, id: SubscriptionId) -> Option<SubscriptionEnd> {
    subscription_events(net, node)
        .into_iter()
        .find_map(|(sub, event)| match event {
            SubscriptionEvent::Terminated { reason } if sub == id => Some(reason),
            _ => None,
        })
}

#[test]
fn a_subscription_is_accepted_notified_and_ended_by_the_subscriber() {
    let (mut net, alice, bob) = network(61);
    let id = subscribe(&mut net, alice, bob, 3600);
    net.run_for(Duration::from_secs(1));
    let events = subscription_events(&net, alice);
    // Bob grants 600 of the 3600 s asked, and notifies at once.
    assert!(events.contains(&(id, SubscriptionEvent::Accepted { expires: 600 })));
    assert!(events.iter().any(|(sub, event)| *sub == id
        && matches!(event, SubscriptionEvent::Notify { state: NotifyState::Active, body, .. } if &body[..] == b"open")));
    // Bob's state changes: Alice hears of it.
    let bobs = subscription_events(&net, bob)[0].0;
    net.on(bob, |ep, now| {
        ep.notify(now, bobs, Notification::active(PIDF, "closed"))
    })
    .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(subscription_events(&net, alice).iter().any(|(_, event)| matches!(
        event, SubscriptionEvent::Notify { body, .. } if &body[..] == b"closed")));
    // Alice unsubscribes; Bob's final NOTIFY ends it on both sides.
    net.on(alice, |ep, now| ep.unsubscribe(now, id)).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(ended(&net, alice, id), Some(SubscriptionEnd::Local));
    assert_eq!(ended(&net, bob, bobs), Some(SubscriptionEnd::Unsubscribed));
    assert_eq!(net.endpoint(alice).subscription_count(), 0);
    assert_eq!(net.endpoint(bob).subscription_count(), 0);
    snapshot!("subscription_accepted_notified_unsubscribed", &net);
}

#[test]
fn a_subscription_is_refreshed_before_it_runs_out() {
    let (mut net, alice, bob) = network(62);
    let id = subscribe(&mut net, alice, bob, 120);
    // 120 s granted: Alice refreshes 32 s ahead, at 88 s, and Bob notifies again.
    net.run_for(Duration::from_secs(100));
    let refreshed = subscription_events(&net, alice)
        .iter()
        .filter(|(sub, event)| *sub == id && matches!(event, SubscriptionEvent::Refreshed { expires: 120 }))
        .count();
    assert_eq!(refreshed, 1);
    let notifies = subscription_events(&net, alice)
        .iter()
        .filter(|(_, event)| matches!(event, SubscriptionEvent::Notify { .. }))
        .count();
    assert_eq!(notifies, 2, "the first NOTIFY and the one after the refresh");
    assert_eq!(ended(&net, alice, id), None);
    snapshot!("subscription_refreshed", &net);
}

#[test]
fn a_subscription_nobody_refreshes_expires_with_a_final_notify() {
    let (mut net, alice, bob) = network(63);
    let id = subscribe(&mut net, alice, bob, 120);
    net.run_for(Duration::from_secs(1));
    // Alice's refreshes never reach Bob.
    net.lose(alice, bob, "SUBSCRIBE", usize::MAX);
    net.run_for(Duration::from_secs(200));
    let bobs = subscription_events(&net, bob)[0].0;
    assert_eq!(ended(&net, bob, bobs), Some(SubscriptionEnd::Expired));
    assert_eq!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Notified {
            reason: Some("timeout".to_owned()),
            retry_after: None
        })
    );
    net.run_until_idle().unwrap();
    assert_eq!(net.endpoint(alice).subscription_count(), 0);
    assert_eq!(net.endpoint(bob).subscription_count(), 0);
    snapshot!("subscription_expired_final_notify", &net);
}

#[test]
fn a_subscribe_for_a_package_nobody_serves_gets_489_with_allow_events() {
    let (mut net, alice, bob) = network(64);
    let target = format!("sip:bob@{}", net.addr(bob)).parse().unwrap();
    let id = net
        .on(alice, |ep, now| ep.subscribe(now, target, "dialog", 600))
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Rejected(StatusCode::BAD_EVENT))
    );
    assert!(net.ladder().contains("489"));
    snapshot!("subscription_bad_event_489", &net);
}

#[test]
fn a_rejected_subscription_ends_on_both_sides() {
    let (mut net, alice, bob) = pair_configured(65, alice_default, presence_notifier);
    net.set_handler(bob, |endpoint, event, now| {
        if let Event::Subscription {
            subscription,
            event: SubscriptionEvent::Incoming { .. },
        } = event
        {
            endpoint
                .reject_subscription(now, subscription, StatusCode::FORBIDDEN)
                .unwrap();
        }
    });
    let id = subscribe(&mut net, alice, bob, 600);
    net.run_until_idle().unwrap();
    assert_eq!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Rejected(StatusCode::FORBIDDEN))
    );
    assert_eq!(net.endpoint(bob).subscription_count(), 0);
    snapshot!("subscription_rejected", &net);
}

#[test]
fn the_notifier_ends_a_subscription_with_a_reason() {
    let (mut net, alice, bob) = network(66);
    let id = subscribe(&mut net, alice, bob, 600);
    net.run_for(Duration::from_secs(1));
    let bobs = subscription_events(&net, bob)[0].0;
    net.on(bob, |ep, now| {
        ep.terminate_subscription(now, bobs, Some("noresource"))
    })
    .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Notified {
            reason: Some("noresource".to_owned()),
            retry_after: None
        })
    );
    assert_eq!(ended(&net, bob, bobs), Some(SubscriptionEnd::Local));
    snapshot!("subscription_terminated_by_notifier", &net);
}

#[test]
fn a_notify_naming_no_subscription_gets_481() {
    let (mut net, alice, bob) = network(67);
    let id = subscribe(&mut net, alice, bob, 600);
    net.run_for(Duration::from_secs(1));
    // Alice forgets the subscription: her unsubscription is lost, so Bob still notifies.
    net.lose(alice, bob, "SUBSCRIBE", usize::MAX);
    net.on(alice, |ep, now| ep.unsubscribe(now, id)).unwrap();
    net.run_for(Duration::from_secs(40));
    assert_eq!(net.endpoint(alice).subscription_count(), 0);
    let bobs = subscription_events(&net, bob)[0].0;
    net.on(bob, |ep, now| {
        ep.notify(now, bobs, Notification::active(PIDF, "away"))
    })
    .unwrap();
    net.run_until_idle().unwrap();
    // Alice's dialog is gone: 481, and Bob lets the subscription go (RFC 6665 §4.2.2).
    assert_eq!(ended(&net, bob, bobs), Some(SubscriptionEnd::Gone));
    let last_notify_answer = net.ladder().lines().filter(|line| line.contains("481")).count();
    assert!(last_notify_answer >= 1);
    let _ = HeaderName::Event;
}

#[test]
fn a_notify_that_overtakes_the_2xx_makes_the_dialog() {
    let (mut net, alice, bob) = network(68);
    // Bob's 200 to the SUBSCRIBE is lost once: his NOTIFY reaches Alice first.
    net.lose(bob, alice, "SIP/2.0 200 OK", 1);
    let id = subscribe(&mut net, alice, bob, 600);
    net.run_for(Duration::from_secs(2));
    let events = subscription_events(&net, alice);
    let notify = events
        .iter()
        .position(|(sub, event)| *sub == id && matches!(event, SubscriptionEvent::Notify { .. }));
    let accepted = events
        .iter()
        .position(|(sub, event)| *sub == id && matches!(event, SubscriptionEvent::Accepted { .. }));
    assert!(notify.is_some() && accepted.is_some(), "{events:?}");
    assert!(
        notify < accepted,
        "the NOTIFY came first and was taken, not refused"
    );
    assert!(!net.ladder().contains("481"));
    // The dialog the NOTIFY made carries the rest.
    net.on(alice, |ep, now| ep.unsubscribe(now, id)).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(ended(&net, alice, id), Some(SubscriptionEnd::Local));
    snapshot!("subscription_notify_overtakes_2xx", &net);
}

/// RFC 5057: a subscription inside a call's dialog is a usage of its own. Alice hangs up;
/// the subscription goes on, and the dialog ends only with it.
#[test]
fn a_subscription_in_a_calls_dialog_outlives_the_call() {
    let (mut net, alice, bob) = pair_configured(69, alice_default, presence_notifier);
    net.set_handler(bob, |endpoint, event, now| match event {
        Event::Call {
            call,
            event: sip_core::call::CallEvent::Incoming { .. },
        } => {
            endpoint.answer(now, call, sip_tests::bob_sdp(), None).unwrap();
        }
        Event::Subscription {
            subscription,
            event: SubscriptionEvent::Incoming { .. },
        } => {
            endpoint
                .accept_subscription(now, subscription, Notification::active(PIDF, "open"))
                .unwrap();
        }
        _ => {}
    });
    let call = sip_tests::call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let id = net
        .on(alice, |ep, now| ep.subscribe_in_call(now, call, "presence", 600))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(subscription_events(&net, alice).contains(&(id, SubscriptionEvent::Accepted { expires: 600 })));
    assert_eq!(net.endpoint(alice).dialog_count(), 1, "one dialog, two usages");
    // The call ends; the subscription does not.
    net.on(alice, |ep, now| ep.bye(now, call)).unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.endpoint(alice).call_count(), 0);
    assert_eq!(
        net.endpoint(alice).dialog_count(),
        1,
        "the subscription keeps the dialog"
    );
    let bobs = subscription_events(&net, bob)[0].0;
    net.on(bob, |ep, now| {
        ep.notify(now, bobs, Notification::active(PIDF, "closed"))
    })
    .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(subscription_events(&net, alice).iter().any(|(_, event)| matches!(
        event, SubscriptionEvent::Notify { body, .. } if &body[..] == b"closed")));
    // The last usage gone, so is the dialog, on both sides.
    net.on(alice, |ep, now| ep.unsubscribe(now, id)).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(ended(&net, alice, id), Some(SubscriptionEnd::Local));
    assert_eq!(net.endpoint(alice).dialog_count(), 0);
    assert_eq!(net.endpoint(bob).dialog_count(), 0);
    snapshot!("subscription_in_a_calls_dialog_outlives_the_call", &net);
}

#[test]
fn past_the_subscription_limit_a_subscribe_gets_503() {
    let (mut net, alice, bob) = pair_configured(70, alice_default, |config| {
        presence_notifier(config);
        config.limits.max_subscriptions = 1;
    });
    net.set_handler(bob, accept_every_subscription);
    let first = subscribe(&mut net, alice, bob, 600);
    net.run_for(Duration::from_secs(1));
    let second = subscribe(&mut net, alice, bob, 600);
    net.run_for(Duration::from_secs(1));
    assert_eq!(ended(&net, alice, first), None);
    assert_eq!(
        ended(&net, alice, second),
        Some(SubscriptionEnd::Rejected(StatusCode::SERVICE_UNAVAILABLE))
    );
}

/// Carol (192.0.2.3), a second notifier for `presence` who accepts every subscription
/// with `document`: configured like Bob, then by `configure`.
fn second_notifier(
    net: &mut Network,
    document: &'static str,
    configure: impl FnOnce(&mut EndpointConfig),
) -> NodeId {
    let node = net.add_node_configured("carol", "192.0.2.3:5060".parse().unwrap(), |config| {
        presence_notifier(config);
        configure(config);
    });
    net.set_handler(node, move |endpoint, event, now| {
        if let Event::Subscription {
            subscription,
            event: SubscriptionEvent::Incoming { .. },
        } = event
        {
            endpoint
                .accept_subscription(now, subscription, Notification::active(PIDF, document))
                .unwrap();
        }
    });
    node
}

/// The SUBSCRIBE Bob received, as bytes, so another notifier can be handed a copy: what a
/// forking proxy's second branch would deliver (same Call-ID, From tag and Via branch; the
/// simulator has no forking proxy). That notifier's 2xx reaches Alice's transaction after
/// Bob's and is absorbed there, as a proxy would have absorbed it (RFC 3261 §16.7).
fn fork_of_the_subscribe(net: &Network, bob: NodeId) -> bytes::Bytes {
    net.events(bob)
        .iter()
        .find_map(|(_, event)| match event {
            Event::Subscription {
                event: SubscriptionEvent::Incoming { request, .. },
                ..
            } => Some(request.to_bytes()),
            _ => None,
        })
        .expect("Bob was subscribed to")
}

/// The subscriptions `node` heard were forked from `original`, in order.
fn forks_of(net: &Network, node: NodeId, original: SubscriptionId) -> Vec<SubscriptionId> {
    subscription_events(net, node)
        .into_iter()
        .filter_map(|(sub, event)| match event {
            SubscriptionEvent::Forked { original: o } if o == original => Some(sub),
            _ => None,
        })
        .collect()
}

/// The bodies of the NOTIFYs subscription `id` reported, in order.
fn notified(net: &Network, node: NodeId, id: SubscriptionId) -> Vec<String> {
    subscription_events(net, node)
        .into_iter()
        .filter_map(|(sub, event)| match event {
            SubscriptionEvent::Notify { body, .. } if sub == id => {
                Some(String::from_utf8_lossy(&body).into_owned())
            }
            _ => None,
        })
        .collect()
}

/// RFC 6665 §4.1.4: Alice's SUBSCRIBE is forked to Bob and Carol, who both accept it. Bob's
/// dialog (the 2xx's) is the original subscription's; Carol's NOTIFY, from another dialog,
/// is a second subscription, reported as `Forked` before its NOTIFY. Each is refreshed on
/// its own, towards its own notifier, and each ends on its own.
#[test]
fn a_forked_subscribe_makes_one_subscription_per_notifier() {
    let (mut net, alice, bob) = network(71);
    let carol = second_notifier(&mut net, "busy", alice_default);
    let id = subscribe(&mut net, alice, bob, 120);
    net.run_for(Duration::from_millis(15));
    let copy = fork_of_the_subscribe(&net, bob);
    net.inject(alice, carol, copy);
    net.run_for(Duration::from_secs(1));
    let forks = forks_of(&net, alice, id);
    assert_eq!(forks.len(), 1, "{:?}", subscription_events(&net, alice));
    let fork = forks[0];
    assert_ne!(fork, id);
    // The fork is announced before its NOTIFY, which is reported under its own id.
    let events = subscription_events(&net, alice);
    let announced = events
        .iter()
        .position(|(sub, event)| *sub == fork && matches!(event, SubscriptionEvent::Forked { .. }));
    let first_notify = events
        .iter()
        .position(|(sub, event)| *sub == fork && matches!(event, SubscriptionEvent::Notify { .. }));
    assert!(announced < first_notify, "{events:?}");
    assert_eq!(notified(&net, alice, id), ["open"]);
    assert_eq!(notified(&net, alice, fork), ["busy"]);
    assert_eq!(net.endpoint(alice).subscription_count(), 2);
    assert_eq!(net.endpoint(alice).dialog_count(), 2, "one dialog per notifier");
    // Each notifier's state reaches its own subscription.
    let carols = subscription_events(&net, carol)[0].0;
    net.on(carol, |ep, now| {
        ep.notify(now, carols, Notification::active(PIDF, "away"))
    })
    .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(notified(&net, alice, fork), ["busy", "away"]);
    assert_eq!(notified(&net, alice, id), ["open"]);
    // 120 s: both are refreshed at 88 s, each in its own dialog, to its own notifier.
    net.run_for(Duration::from_secs(100));
    for sub in [id, fork] {
        let refreshed = subscription_events(&net, alice)
            .iter()
            .filter(|(s, event)| *s == sub && matches!(event, SubscriptionEvent::Refreshed { .. }))
            .count();
        assert_eq!(refreshed, 1, "subscription {sub:?}");
    }
    // Alice lets Carol's go; Bob's lives on.
    net.on(alice, |ep, now| ep.unsubscribe(now, fork)).unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(ended(&net, alice, fork), Some(SubscriptionEnd::Local));
    assert_eq!(ended(&net, carol, carols), Some(SubscriptionEnd::Unsubscribed));
    assert_eq!(ended(&net, alice, id), None);
    assert_eq!(net.endpoint(alice).subscription_count(), 1);
    net.on(alice, |ep, now| ep.unsubscribe(now, id)).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(ended(&net, alice, id), Some(SubscriptionEnd::Local));
    for node in [alice, bob, carol] {
        assert_eq!(net.endpoint(node).subscription_count(), 0);
        assert_eq!(net.endpoint(node).dialog_count(), 0);
    }
    assert!(!net.ladder().contains("481"), "{}", net.ladder());
    snapshot!("subscription_forked_one_per_notifier", &net);
}

/// A fork the subscriber cannot keep (past `max_subscriptions`) is declined with 481 (RFC
/// 6665 §5.4.9), and its notifier lets it go (§4.2.2); the original goes on.
#[test]
fn a_fork_past_the_subscription_limit_gets_481() {
    let (mut net, alice, bob) = pair_configured(
        72,
        |config| config.limits.max_subscriptions = 1,
        presence_notifier,
    );
    net.set_handler(bob, accept_every_subscription);
    let carol = second_notifier(&mut net, "busy", alice_default);
    let id = subscribe(&mut net, alice, bob, 600);
    net.run_for(Duration::from_millis(15));
    let copy = fork_of_the_subscribe(&net, bob);
    net.inject(alice, carol, copy);
    net.run_for(Duration::from_secs(1));
    assert!(forks_of(&net, alice, id).is_empty());
    let carols = subscription_events(&net, carol)[0].0;
    assert_eq!(ended(&net, carol, carols), Some(SubscriptionEnd::Gone));
    assert_eq!(ended(&net, alice, id), None);
    assert_eq!(notified(&net, alice, id), ["open"]);
    assert_eq!(net.endpoint(alice).dialog_count(), 1);
}

/// Once the SUBSCRIBE's every subscription has ended, it is forgotten: a NOTIFY from a
/// fork that shows up only now matches nothing and gets 481 (RFC 6665 §4.1.3).
#[test]
fn a_fork_after_the_subscription_ended_gets_481() {
    let (mut net, alice, bob) = network(73);
    let carol = second_notifier(&mut net, "busy", alice_default);
    let id = subscribe(&mut net, alice, bob, 600);
    net.run_for(Duration::from_secs(1));
    net.on(alice, |ep, now| ep.unsubscribe(now, id)).unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(ended(&net, alice, id), Some(SubscriptionEnd::Local));
    let copy = fork_of_the_subscribe(&net, bob);
    net.inject(alice, carol, copy);
    net.run_for(Duration::from_secs(1));
    assert!(forks_of(&net, alice, id).is_empty());
    let carols = subscription_events(&net, carol)[0].0;
    assert_eq!(ended(&net, carol, carols), Some(SubscriptionEnd::Gone));
    assert_eq!(net.endpoint(alice).subscription_count(), 0);
    assert_eq!(net.endpoint(alice).dialog_count(), 0);
}

/// The first dialog made is the original subscription's, whoever makes it. Here the one
/// 2xx that comes back is Bob's (Carol's is lost, as a forking proxy would have dropped
/// it), and late: Carol's NOTIFY arrives first (RFC 6665 §4.1.2.4), so the original is
/// Carol's, Bob's 2xx (from another dialog) only completes the transaction (§5.4.9) — his
/// 600 s are not what Carol granted — and Bob's NOTIFY is the fork.
#[test]
fn the_first_notifier_heard_from_holds_the_original_subscription() {
    let (mut net, alice, bob) = network(74);
    let carol = second_notifier(&mut net, "busy", |config| config.subscriptions.max_expires = 300);
    let slow = sip_core::sim::LinkConfig {
        latency: Duration::from_millis(100),
        ..sip_core::sim::LinkConfig::default()
    };
    net.set_link(bob, alice, slow);
    net.lose(carol, alice, "SIP/2.0 200 OK", 1);
    let id = subscribe(&mut net, alice, bob, 600);
    net.run_for(Duration::from_millis(15));
    let copy = fork_of_the_subscribe(&net, bob);
    net.inject(alice, carol, copy);
    net.run_for(Duration::from_secs(1));
    assert_eq!(notified(&net, alice, id), ["busy"], "Carol's dialog came first");
    let forks = forks_of(&net, alice, id);
    assert_eq!(forks.len(), 1);
    assert_eq!(notified(&net, alice, forks[0]), ["open"], "Bob's is the fork");
    assert!(subscription_events(&net, alice).contains(&(id, SubscriptionEvent::Accepted { expires: 300 })));
    assert_eq!(net.endpoint(alice).dialog_count(), 2);
    // Each is refreshed in time for its own notifier: nothing runs out.
    net.run_for(Duration::from_secs(700));
    assert_eq!(ended(&net, alice, id), None);
    assert_eq!(ended(&net, alice, forks[0]), None);
    let carols = subscription_events(&net, carol)[0].0;
    assert_eq!(ended(&net, carol, carols), None);
    assert!(!net.ladder().contains("481"), "{}", net.ladder());
}

/// A fork whose first NOTIFY already says `terminated` (Carol grants no time at all) makes
/// no dialog (RFC 6665 §4.4.1), but is reported — `Forked`, its NOTIFY, its end — since its
/// state may be what was wanted; the original goes on.
#[test]
fn a_fork_whose_first_notify_ends_it_makes_no_dialog() {
    let (mut net, alice, bob) = network(75);
    let carol = second_notifier(&mut net, "busy", |config| config.subscriptions.max_expires = 0);
    let id = subscribe(&mut net, alice, bob, 600);
    net.run_for(Duration::from_millis(15));
    let copy = fork_of_the_subscribe(&net, bob);
    net.inject(alice, carol, copy);
    net.run_for(Duration::from_secs(1));
    let forks = forks_of(&net, alice, id);
    assert_eq!(forks.len(), 1);
    assert_eq!(notified(&net, alice, forks[0]), ["busy"]);
    assert_eq!(
        ended(&net, alice, forks[0]),
        Some(SubscriptionEnd::Notified {
            reason: Some("timeout".to_owned()),
            retry_after: None
        })
    );
    assert_eq!(ended(&net, alice, id), None);
    assert_eq!(net.endpoint(alice).subscription_count(), 1);
    assert_eq!(net.endpoint(alice).dialog_count(), 1, "only Bob's");
    assert_eq!(net.endpoint(carol).subscription_count(), 0);
}

/// Bob's NOTIFY is lost once, and so is Alice's answer to its retransmission: Bob's
/// transaction sends it again until it is answered (RFC 3261 §17.1.2.2), and Alice's
/// server transaction absorbs the copy she already answered — she reports the state once,
/// and the subscription goes on, on both sides.
#[test]
fn a_lost_notify_is_retransmitted_and_reported_once() {
    let (mut net, alice, bob) = network(76);
    let id = subscribe(&mut net, alice, bob, 600);
    net.run_for(Duration::from_secs(1));
    let bobs = subscription_events(&net, bob)[0].0;
    net.lose(bob, alice, "NOTIFY", 1);
    net.lose(alice, bob, "SIP/2.0 200 OK", 1);
    net.on(bob, |ep, now| {
        ep.notify(now, bobs, Notification::active(PIDF, "closed"))
    })
    .unwrap();
    net.run_for(Duration::from_secs(5));
    assert_eq!(notified(&net, alice, id), ["open", "closed"], "reported once");
    let copies = net
        .ladder()
        .lines()
        .filter(|line| line.contains("bob    -> alice  NOTIFY"))
        .count();
    assert_eq!(
        copies, 4,
        "the first NOTIFY, then the lost one and its two retransmissions"
    );
    // Nothing ended; Bob's next NOTIFY goes through as usual.
    assert_eq!(ended(&net, alice, id), None);
    assert_eq!(ended(&net, bob, bobs), None);
    net.on(bob, |ep, now| {
        ep.notify(now, bobs, Notification::active(PIDF, "open"))
    })
    .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(notified(&net, alice, id), ["open", "closed", "open"]);
    snapshot!("subscription_lost_notify_retransmitted", &net);
}

/// A fetch (`Expires: 0`, RFC 6665 §4.1.2.4): the 2xx grants no interval, so nothing is
/// refreshed; the subscriber waits (up to Timer N) for the final NOTIFY — here lost once
/// and retransmitted — and takes it.
#[test]
fn a_fetch_waits_for_its_final_notify_without_refreshing() {
    let (mut net, alice, bob) = network(69);
    net.lose(bob, alice, "NOTIFY", 1);
    let id = subscribe(&mut net, alice, bob, 0);
    net.run_until_idle().unwrap();
    assert!(
        matches!(ended(&net, alice, id), Some(SubscriptionEnd::Notified { .. })),
        "{:?}",
        subscription_events(&net, alice)
    );
    let ladder = net.ladder();
    assert_eq!(
        ladder.matches("alice  -> bob    SUBSCRIBE").count(),
        1,
        "{ladder}"
    );
    assert!(!ladder.contains("481"), "{ladder}");
}

/// With `dialog_events`, a subscription's dialog (no call's) reports its states as
/// `Event::Dialog`: created confirmed by the 2xx, terminated with the subscription.
#[test]
fn a_subscription_dialog_reports_its_states() {
    use sip_core::dialog::DialogState::{Confirmed, Terminated};
    let (mut net, alice, bob) =
        pair_configured(70, |config| config.calls.dialog_events = true, presence_notifier);
    net.set_handler(bob, accept_every_subscription);
    let id = subscribe(&mut net, alice, bob, 600);
    net.run_for(Duration::from_secs(1));
    net.on(alice, |ep, now| ep.unsubscribe(now, id)).unwrap();
    net.run_until_idle().unwrap();
    let states: Vec<_> = net
        .events(alice)
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Dialog { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(states, [(None, Confirmed), (Some(Confirmed), Terminated)]);
}
