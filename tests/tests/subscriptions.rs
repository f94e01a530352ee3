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
