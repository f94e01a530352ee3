//! Who an Endpoint says it is, in the simulator: an identity with a display name and a user
//! part (From, Contact, Referred-By, the registered address-of-record), the configured
//! Max-Forwards, and an advertised address other than the one the Endpoint is bound to.
//! Ladder snapshots in `snapshots/`.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use sip_core::call::{CallEvent, EndReason};
use sip_core::endpoint::{EndpointConfig, Event};
use sip_core::message::{HeaderName, Method, Request, StatusCode, Uri, response_to};
use sip_core::registration::RegistrationEvent;
use sip_core::sim::{Network, NodeId};
use sip_core::subscription::{SubscriptionEnd, SubscriptionEvent};
use sip_tests::{bob_sdp, call_to_bob, pair_configured, snapshot};

const ALICE: &str = r#""Alice" <sip:alice@192.0.2.1>"#;

/// Alice as `"Alice" <sip:alice@192.0.2.1>`, whose requests may cross 16 hops.
fn alice_with_a_display_name(config: &mut EndpointConfig) {
    config.calls.identity = Some(ALICE.to_owned());
    config.max_forwards = 16;
}

/// Bob answers calls, takes INFO and MESSAGE in calls without asking, and keeps every
/// request his application sees. REFERs he refuses (603).
fn bob(config: &mut EndpointConfig) {
    config.calls.auto_accept_in_dialog = true;
    config.subscriptions.accept_refer = true;
}

/// Alice and Bob as [`alice_with_a_display_name`] and [`bob`] make them; the requests
/// Bob's application saw (calls' INVITEs, requests in calls, REFERs) are kept.
fn pair(seed: u64) -> (Network, NodeId, NodeId, Rc<RefCell<Vec<Request>>>) {
    let (mut net, alice, bob) = pair_configured(seed, alice_with_a_display_name, bob);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&seen);
    net.set_handler(bob, move |endpoint, event, now| match event {
        Event::Call {
            call,
            event: CallEvent::Incoming { request, .. },
        } => {
            log.borrow_mut().push(request);
            endpoint.ringing(now, call).unwrap();
            endpoint.answer(now, call, bob_sdp(), None).unwrap();
        }
        Event::Call {
            event: CallEvent::Request { request, .. },
            ..
        } => log.borrow_mut().push(request),
        Event::Subscription {
            subscription,
            event: SubscriptionEvent::Refer { request, .. },
        } => {
            log.borrow_mut().push(*request);
            endpoint
                .reject_subscription(now, subscription, StatusCode::DECLINE)
                .unwrap();
        }
        _ => {}
    });
    (net, alice, bob, seen)
}

fn header(request: &Request, name: HeaderName) -> &str {
    request.headers.get(name).unwrap_or_default()
}

/// The call ended on both sides as Bob's BYE ends it.
fn bob_hangs_up(net: &mut Network, alice: NodeId, bob: NodeId, call: sip_core::call::CallId) {
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
        .expect("Bob's call");
    net.on(bob, |ep, now| ep.bye(now, bobs_call)).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(net.endpoint(alice).call_count(), 0);
    assert_eq!(net.endpoint(bob).call_count(), 0);
    let ended = net.events(alice).iter().find_map(|(_, event)| match event {
        Event::Call {
            call: c,
            event: CallEvent::Terminated { reason, .. },
        } if *c == call => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        ended,
        Some(EndReason::RemoteBye),
        "Bob's BYE reached Alice's Contact"
    );
}

#[test]
fn a_caller_with_a_display_name_is_answered_with_one_pair_of_brackets_in_its_from() {
    let (mut net, alice, bob, seen) = pair(141);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let info = net.on(alice, |ep, now| {
        ep.request_in_dialog(
            now,
            call,
            Method::Info,
            Bytes::from_static(b"Signal=1\r\n"),
            Some("application/dtmf-relay"),
        )
    });
    info.unwrap();
    net.run_for(Duration::from_secs(1));
    bob_hangs_up(&mut net, alice, bob, call);

    let seen = seen.borrow();
    let [invite, info] = &seen[..] else {
        panic!("Bob saw {} requests", seen.len());
    };
    let from = header(invite, HeaderName::From);
    assert!(from.starts_with(&format!("{ALICE};tag=")), "From: {from}");
    assert_eq!(header(invite, HeaderName::Contact), "<sip:alice@192.0.2.1:5060>");
    assert_eq!(header(invite, HeaderName::MaxForwards), "16");
    // A request the dialog builds keeps the From and the configured Max-Forwards.
    assert_eq!(info.method, Method::Info);
    assert_eq!(header(info, HeaderName::From), from);
    assert_eq!(header(info, HeaderName::MaxForwards), "16");
    // Bob took the From as it is: no 400, and the INVITE went out once.
    let ladder = net.ladder();
    assert!(!ladder.contains("SIP/2.0 400"), "{ladder}");
    assert_eq!(
        ladder.matches("INVITE sip:bob@192.0.2.2 SIP/2.0").count(),
        1,
        "{ladder}"
    );
    snapshot!("identity_display_name_call", &net);
}

#[test]
fn a_refer_names_the_referrer_by_its_identity_with_its_display_name() {
    let (mut net, alice, _bob, seen) = pair(142);
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let carol = Uri::parse("sip:carol@192.0.2.3").unwrap();
    let refer = net.on(alice, |ep, now| ep.refer(now, call, &carol)).unwrap();
    net.run_for(Duration::from_secs(1));
    let seen = seen.borrow();
    let refer_request = seen
        .iter()
        .find(|r| r.method == Method::Refer)
        .expect("Bob saw the REFER");
    assert_eq!(header(refer_request, HeaderName::ReferredBy), ALICE);
    assert_eq!(header(refer_request, HeaderName::MaxForwards), "16");
    let ended = net.events(alice).iter().find_map(|(_, event)| match event {
        Event::Subscription {
            subscription,
            event: SubscriptionEvent::Terminated { reason },
        } if *subscription == refer => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(ended, Some(SubscriptionEnd::Rejected(StatusCode::DECLINE)));
}

#[test]
fn a_registration_and_a_message_carry_the_identity_with_its_display_name() {
    let (mut net, alice, bob) =
        pair_configured(143, alice_with_a_display_name, |config: &mut EndpointConfig| {
            config.calls.app_methods.push(Method::Register)
        });
    let registers = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&registers);
    net.set_handler(bob, move |endpoint, event, now| {
        if let Event::Request {
            transaction, request, ..
        } = event
        {
            let contact = format!("{};expires=60", header(&request, HeaderName::Contact));
            let mut ok = response_to(&request, StatusCode::OK, None, Some("reg1"));
            ok.headers.push(HeaderName::Contact, contact);
            endpoint.respond(now, transaction, ok).unwrap();
            log.borrow_mut().push(request);
        }
    });
    let registrar = Uri::parse("sip:192.0.2.2:5060").unwrap();
    net.on(alice, |ep, now| ep.register(now, registrar, None, 60))
        .unwrap();
    let bob_uri = Uri::parse("sip:bob@192.0.2.2").unwrap();
    net.on(alice, |ep, now| {
        ep.send_message(now, bob_uri, "text/plain", Bytes::from_static(b"hello"))
    })
    .unwrap();
    net.run_for(Duration::from_secs(1));

    let registers = registers.borrow();
    let [register] = &registers[..] else {
        panic!("Bob saw {} REGISTERs", registers.len());
    };
    assert_eq!(header(register, HeaderName::To), ALICE);
    assert!(header(register, HeaderName::From).starts_with(&format!("{ALICE};tag=")));
    assert_eq!(
        header(register, HeaderName::Contact),
        "<sip:alice@192.0.2.1:5060>"
    );
    assert_eq!(header(register, HeaderName::MaxForwards), "16");
    assert!(net.events(alice).iter().any(|(_, event)| matches!(
        event,
        Event::Registration {
            event: RegistrationEvent::Registered { .. },
            ..
        }
    )));
    let from = net.events(bob).iter().find_map(|(_, event)| match event {
        Event::MessageReceived { from, .. } => Some(from.clone()),
        _ => None,
    });
    assert!(
        from.as_deref()
            .is_some_and(|from| from.starts_with(&format!("{ALICE};tag="))),
        "{from:?}"
    );
}

#[test]
fn an_identity_that_does_not_parse_gives_way_to_the_default_one() {
    let (mut net, alice, bob, seen) = {
        let (mut net, alice, bob) = pair_configured(
            144,
            |config: &mut EndpointConfig| {
                config.calls.identity = Some(r#""Alice <sip:alice@192.0.2.1>"#.into())
            },
            bob,
        );
        let seen = Rc::new(RefCell::new(Vec::new()));
        let log = Rc::clone(&seen);
        net.set_handler(bob, move |endpoint, event, now| {
            if let Event::Call {
                call,
                event: CallEvent::Incoming { request, .. },
            } = event
            {
                log.borrow_mut().push(request);
                endpoint.answer(now, call, bob_sdp(), None).unwrap();
            }
        });
        (net, alice, bob, seen)
    };
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    let from = header(&seen.borrow()[0], HeaderName::From).to_owned();
    assert!(from.starts_with("<sip:192.0.2.1:5060>;tag="), "From: {from}");
    bob_hangs_up(&mut net, alice, bob, call);
}

/// Alice is bound to 192.0.2.1:5060 behind a NAT that forwards 203.0.113.5:5080 to her;
/// she advertises the outside address.
fn alice_behind_a_nat(config: &mut EndpointConfig) {
    config.advertised = Some("203.0.113.5:5080".parse().unwrap());
}

#[test]
fn an_endpoint_names_its_advertised_address_in_via_contact_and_from() {
    let (mut net, alice, bob) = pair_configured(145, alice_behind_a_nat, |_| {});
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&seen);
    net.set_handler(bob, move |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { request, .. },
        } = event
        {
            log.borrow_mut().push(request);
            endpoint.answer(now, call, bob_sdp(), None).unwrap();
        }
    });
    let call = call_to_bob(&mut net, alice);
    net.run_for(Duration::from_secs(1));
    {
        let seen = seen.borrow();
        let invite = &seen[0];
        let via = header(invite, HeaderName::Via);
        assert!(via.starts_with("SIP/2.0/UDP 203.0.113.5:5080;"), "Via: {via}");
        // Bob saw where it really came from (RFC 3261 §18.2.1, RFC 3581).
        assert!(via.contains("received=192.0.2.1"), "Via: {via}");
        assert_eq!(header(invite, HeaderName::Contact), "<sip:203.0.113.5:5080>");
        assert!(header(invite, HeaderName::From).starts_with("<sip:203.0.113.5:5080>;tag="));
        assert_eq!(header(invite, HeaderName::MaxForwards), "70", "the default");
    }
    assert_eq!(net.endpoint(alice).identity(), "<sip:203.0.113.5:5080>");
    // Bob's BYE goes to the advertised address, which the NAT forwards to Alice.
    bob_hangs_up(&mut net, alice, bob, call);
    assert!(
        net.ladder().contains("BYE sip:203.0.113.5:5080 SIP/2.0"),
        "{}",
        net.ladder()
    );
    snapshot!("identity_advertised_address", &net);
}
