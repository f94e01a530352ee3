//! RFC 3261's backward compatibility with RFC 2543 peers over the wire (RFC 4475 §3.4.1):
//! an INVITE with no From tag, no branch, no Contact, no Max-Forwards and no Content-Length
//! sets up a call, and the peer's ACK and BYE — with no From tag either — reach it.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use sip_core::call::{CallEvent, CallState, EndReason};
use sip_core::endpoint::{Endpoint, EndpointConfig, Event};
use sip_core::message::{HeaderName, Message, tag_of};
use sip_core::sdp::SessionDescription;

const PEER: &str = "192.0.2.5:5060";
const US: &str = "192.0.2.2:5060";

fn inv2543() -> Bytes {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/rfc4475/inv2543.dat"
    );
    Bytes::from(std::fs::read(path).unwrap())
}

fn deliver(endpoint: &mut Endpoint, now: Instant, payload: Bytes) {
    let peer: SocketAddr = PEER.parse().unwrap();
    endpoint.handle_datagram(now, US.parse().unwrap(), peer, payload);
}

fn sent(endpoint: &mut Endpoint) -> Vec<Message> {
    std::iter::from_fn(|| endpoint.poll_transmit())
        .map(|t| Message::parse(t.payload).unwrap())
        .collect()
}

fn events(endpoint: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| endpoint.poll_event()).collect()
}

/// An RFC 2543-style request in the call: no branch, no From tag, our To tag.
fn in_dialog(method: &str, cseq: u32, to_tag: &str) -> Bytes {
    Bytes::from(format!(
        "{method} sip:UserB@example.com SIP/2.0\r\nVia: SIP/2.0/UDP iftgw.example.com\r\n\
         From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n\
         To: sip:+16505552222@ss1.example.net;user=phone;tag={to_tag}\r\n\
         Call-ID: inv2543.1717@ift.client.example.com\r\nCSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

#[test]
fn the_rfc_2543_invite_of_rfc_4475_sets_up_a_call() {
    let mut bob = Endpoint::new(EndpointConfig::new(US.parse().unwrap(), 41));
    let now = Instant::now();
    deliver(&mut bob, now, inv2543());
    let call = events(&mut bob)
        .into_iter()
        .find_map(|e| match e {
            Event::Call {
                call,
                event: CallEvent::Incoming { .. },
            } => Some(call),
            _ => None,
        })
        .expect("the INVITE became a call, not a 400");
    let answer = SessionDescription::simple_audio("bob", 1, "192.0.2.2".parse().unwrap(), 4000, &[0]);
    bob.answer(now, call, answer.to_bytes(), None).unwrap();
    let ok = sent(&mut bob)
        .into_iter()
        .find(|m| m.as_response().is_some_and(|r| r.status.as_u16() == 200))
        .expect("a 200");
    let to = ok.headers().get(HeaderName::To).unwrap();
    let our_tag = tag_of(to).expect("our 200 carries our To tag").to_owned();

    // The peer's ACK, with no From tag, confirms the call.
    deliver(&mut bob, now, in_dialog("ACK", 56, &our_tag));
    assert_eq!(bob.call_state(call), Some(CallState::Connected));

    // And its BYE ends it.
    deliver(&mut bob, now, in_dialog("BYE", 57, &our_tag));
    let answers = sent(&mut bob);
    assert!(
        answers
            .iter()
            .any(|m| m.as_response().is_some_and(|r| r.status.as_u16() == 200)),
        "{answers:?}"
    );
    let ended = events(&mut bob).into_iter().any(|e| {
        matches!(
            e,
            Event::Call {
                event: CallEvent::Terminated {
                    reason: EndReason::RemoteBye,
                    ..
                },
                ..
            }
        )
    });
    assert!(ended, "the BYE ended the call");
}
