//! Instant messages outside a dialog (MESSAGE, RFC 3428) between Alice and Bob in the
//! simulator. Ladder snapshots in `snapshots/`.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_core::endpoint::Event;
use sip_core::message::{Method, StatusCode, Uri};
use sip_core::pager::MessageEvent;
use sip_tests::{pair, pair_configured, snapshot};

fn bob_uri() -> Uri {
    Uri::parse("sip:bob@192.0.2.2:5060").unwrap()
}

#[test]
fn a_message_is_delivered_both_ways() {
    let (mut net, alice, bob) = pair(101, |_| {});
    let to_bob = net
        .on(alice, |ep, now| {
            ep.send_message(now, bob_uri(), "text/plain", Bytes::from_static(b"hello bob"))
        })
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let alice_uri = Uri::parse("sip:alice@192.0.2.1:5060").unwrap();
    let to_alice = net
        .on(bob, |ep, now| {
            ep.send_message(
                now,
                alice_uri,
                "text/plain;charset=utf-8",
                Bytes::from_static(b"hi alice"),
            )
        })
        .unwrap();
    net.run_until_idle().unwrap();
    let received = |node| {
        net.events(node)
            .iter()
            .filter_map(|(_, event)| match event {
                Event::MessageReceived {
                    content_type, body, ..
                } => Some((content_type.clone().unwrap_or_default(), body.clone())),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        received(bob),
        vec![("text/plain".to_owned(), Bytes::from_static(b"hello bob"))]
    );
    assert_eq!(
        received(alice),
        vec![(
            "text/plain;charset=utf-8".to_owned(),
            Bytes::from_static(b"hi alice")
        )]
    );
    let outcome = |node, id| {
        net.events(node).iter().find_map(|(_, event)| match event {
            Event::Message { message, event } if *message == id => Some(event.clone()),
            _ => None,
        })
    };
    assert_eq!(
        outcome(alice, to_bob),
        Some(MessageEvent::Delivered {
            status: StatusCode::OK
        })
    );
    assert!(matches!(
        outcome(bob, to_alice),
        Some(MessageEvent::Delivered { .. })
    ));
    snapshot!("message_both_ways", &net);
}

#[test]
fn with_messages_off_a_message_outside_a_call_gets_481() {
    let (mut net, alice, _bob) = pair_configured(102, |_| {}, |config| config.messages.accept = false);
    let id = net
        .on(alice, |ep, now| {
            ep.send_message(now, bob_uri(), "text/plain", Bytes::from_static(b"hello?"))
        })
        .unwrap();
    net.run_until_idle().unwrap();
    let outcome = net.events(alice).iter().find_map(|(_, event)| match event {
        Event::Message { message, event } if *message == id => Some(event.clone()),
        _ => None,
    });
    assert_eq!(
        outcome,
        Some(MessageEvent::Failed {
            status: Some(StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST)
        })
    );
}

#[test]
fn an_application_that_takes_message_answers_it_itself() {
    let (mut net, alice, bob) = pair_configured(
        103,
        |_| {},
        |config| config.calls.app_methods.push(Method::Message),
    );
    net.set_handler(bob, |ep, event, now| {
        if let Event::Request {
            transaction, request, ..
        } = event
        {
            let response = sip_core::message::response_to(&request, StatusCode::ACCEPTED, None, Some("b1"));
            ep.respond(now, transaction, response).unwrap();
        }
    });
    let id = net
        .on(alice, |ep, now| {
            ep.send_message(now, bob_uri(), "text/plain", Bytes::from_static(b"later"))
        })
        .unwrap();
    net.run_until_idle().unwrap();
    assert!(net.events(alice).iter().any(|(_, event)| matches!(
        event,
        Event::Message { message, event: MessageEvent::Delivered { status } }
            if *message == id && *status == StatusCode::ACCEPTED
    )));
}

#[test]
fn a_message_with_no_media_type_is_refused_before_sending() {
    let (mut net, alice, _bob) = pair(104, |_| {});
    let result = net.on(alice, |ep, now| {
        ep.send_message(now, bob_uri(), "plain text", Bytes::new())
    });
    assert!(matches!(result, Err(sip_core::pager::PagerError::Invalid(_))));
}
