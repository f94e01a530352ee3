//! REFER (RFC 3515) between two Endpoints in the simulator: Alice, in a call with Bob,
//! refers him to Carol; Bob's application accepts and reports the progress of its new call
//! as `message/sipfrag` NOTIFYs in the REFER's implicit subscription. Ladder snapshots in
//! `snapshots/`.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_core::call::{CallEvent, CallId, CallState};
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

fn carol() -> Uri {
    Uri::parse("sip:carol@192.0.2.3").unwrap()
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
    let id = net.on(alice, |ep, now| ep.refer(now, call, &carol())).unwrap();
    net.run_for(Duration::from_secs(1));
    let (referred, target) = bobs_refer(&net, bob);
    assert_eq!(target, carol());
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
    // The call is untouched: hanging it up is Alice's choice.
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
    assert_eq!(net.endpoint(alice).stats().refers_sent, 1);
    assert_eq!(net.endpoint(bob).stats().refers_received, 1);
    snapshot!("refer_trying_ringing_success", &net);
}

#[test]
fn refer_to_busy_target_reports_486() {
    let (mut net, alice, bob, call) = connected(72, |ep, refer, now| ep.accept_refer(now, refer).unwrap());
    let id = net.on(alice, |ep, now| ep.refer(now, call, &carol())).unwrap();
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
    let id = net.on(alice, |ep, now| ep.refer(now, call, &carol())).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Rejected(StatusCode::DECLINE))
    );
    assert_eq!(net.endpoint(alice).call_state(call), Some(CallState::Connected));
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
    let id = net.on(alice, |ep, now| ep.refer(now, call, &carol())).unwrap();
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
    let id = net.on(alice, |ep, now| ep.refer(now, call, &carol())).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(
        ended(&net, alice, id),
        Some(SubscriptionEnd::Rejected(StatusCode::METHOD_NOT_ALLOWED))
    );
}
