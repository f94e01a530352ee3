//! The Endpoint's transport and UAS rules (RFC 3261 §8.2, §18; RFC 3581), one behaviour
//! per test, driven by hand with datagrams.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use sip_core::endpoint::{Endpoint, EndpointConfig, Event, FlowEvent, FlowRequest, Transport};
use sip_core::message::{HeaderName, Message, Method, RequestBuilder, Uri};

const BOB: &str = "192.0.2.2:5060";

/// Bob, answering OPTIONS himself (the Endpoint would otherwise answer them): these tests
/// use OPTIONS as a request the application sees and answers.
fn bob() -> Endpoint {
    let mut config = EndpointConfig::new(BOB.parse().unwrap(), 11);
    config.calls.app_methods = vec![Method::Options];
    Endpoint::new(config)
}

fn source() -> SocketAddr {
    "198.51.100.7:40000".parse().unwrap()
}

fn deliver(endpoint: &mut Endpoint, text: &str) {
    endpoint.handle_datagram(
        Instant::now(),
        BOB.parse().unwrap(),
        source(),
        Bytes::from(text.to_owned()),
    );
}

fn sent(endpoint: &mut Endpoint) -> Vec<(SocketAddr, Message)> {
    std::iter::from_fn(|| endpoint.poll_transmit())
        .map(|t| (t.remote, Message::parse(t.payload).unwrap()))
        .collect()
}

fn options(extra: &str, via: &str) -> String {
    format!(
        "OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=f1\r\nTo: <sip:bob@192.0.2.2>\r\nCall-ID: c1@example.com\r\n\
         CSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// An OPTIONS from Alice with a placeholder Via for the Endpoint to replace.
fn outgoing_options() -> sip_core::message::Request {
    RequestBuilder::new(Method::Options, Uri::parse("sip:bob@192.0.2.2").unwrap())
        .via("SIP/2.0/UDP placeholder")
        .from("<sip:alice@192.0.2.1>;tag=x")
        .to("<sip:bob@192.0.2.2>")
        .call_id("c")
        .cseq(1)
        .build()
        .unwrap()
}

fn status(message: &Message) -> u16 {
    message.as_response().unwrap().status.as_u16()
}

#[test]
fn received_and_rport_are_added_and_the_response_goes_to_the_source_port() {
    let mut bob = bob();
    deliver(
        &mut bob,
        &options("", "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKnat;rport"),
    );
    let Some(Event::Request {
        transaction, request, ..
    }) = bob.poll_event()
    else {
        panic!()
    };
    let via = request.headers.top_via().unwrap().unwrap();
    assert_eq!(via.received(), Some("198.51.100.7"));
    assert_eq!(via.rport(), Some(Some(40000)));
    let ok = bob
        .response(transaction, sip_core::message::StatusCode::OK)
        .unwrap();
    bob.respond(Instant::now(), transaction, ok).unwrap();
    let out = sent(&mut bob);
    assert_eq!(
        out[0].0,
        source(),
        "RFC 3581: back to the source address and port"
    );
    let via = out[0].1.headers().top_via().unwrap().unwrap();
    assert_eq!(via.rport(), Some(Some(40000)));
}

#[test]
fn without_rport_the_response_goes_to_the_received_address_and_sent_by_port() {
    let mut bob = bob();
    deliver(
        &mut bob,
        &options("", "SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKnorport"),
    );
    let Some(Event::Request { transaction, .. }) = bob.poll_event() else {
        panic!()
    };
    let ok = bob
        .response(transaction, sip_core::message::StatusCode::OK)
        .unwrap();
    bob.respond(Instant::now(), transaction, ok).unwrap();
    let out = sent(&mut bob);
    assert_eq!(out[0].0, "198.51.100.7:5070".parse().unwrap(), "RFC 3261 §18.2.2");
}

#[test]
fn an_unparsable_request_with_a_readable_via_gets_a_stateless_400_with_warning() {
    let mut bob = bob();
    // A request of a usual size: the stateless 400 is never larger than what it answers,
    // so a bare-bones one would leave its Warning no room.
    deliver(
        &mut bob,
        &options(
            "Contact: <sip:alice@10.0.0.5>\r\nUser-Agent: endpoint-rules test\r\nContent-Length: five\r\n",
            "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKbad",
        ),
    );
    let out = sent(&mut bob);
    assert_eq!(out.len(), 1);
    let response = &out[0].1;
    assert_eq!(status(response), 400);
    assert!(
        response
            .headers()
            .get(HeaderName::Warning)
            .unwrap()
            .contains("Content-Length")
    );
    assert_eq!(
        response.headers().top_via().unwrap().unwrap().branch(),
        Some("z9hG4bKbad")
    );
    assert_eq!(bob.stats().invalid, 1);
    assert!(bob.poll_event().is_none());
}

#[test]
fn garbage_without_a_via_is_dropped_and_counted() {
    let mut bob = bob();
    deliver(&mut bob, "this is not SIP\r\n\r\n");
    assert!(sent(&mut bob).is_empty());
    assert_eq!(bob.stats().invalid, 1);
}

#[test]
fn unsupported_require_gets_420_listing_unsupported() {
    let mut bob = bob();
    deliver(
        &mut bob,
        &options("Require: foo\r\n", "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK420"),
    );
    let out = sent(&mut bob);
    assert_eq!(status(&out[0].1), 420);
    assert_eq!(out[0].1.headers().get(HeaderName::Unsupported), Some("foo"));
    assert!(bob.poll_event().is_none(), "the user never sees it");
}

#[test]
fn an_unknown_method_gets_501_with_allow() {
    let mut bob = bob();
    let text = options("", "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK501").replace("OPTIONS", "FROBNICATE");
    deliver(&mut bob, &text);
    let out = sent(&mut bob);
    assert_eq!(status(&out[0].1), 501);
    assert!(
        out[0]
            .1
            .headers()
            .get(HeaderName::Allow)
            .unwrap()
            .contains("INVITE")
    );
}

#[test]
fn a_merged_request_arriving_by_another_path_gets_482() {
    let mut bob = bob();
    deliver(&mut bob, &options("", "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKpath1"));
    assert!(matches!(bob.poll_event(), Some(Event::Request { .. })));
    deliver(&mut bob, &options("", "SIP/2.0/UDP 10.0.0.6;branch=z9hG4bKpath2"));
    let out = sent(&mut bob);
    assert_eq!(status(&out[0].1), 482);
}

#[test]
fn over_the_transaction_limit_a_new_request_gets_503_with_retry_after() {
    let mut config = EndpointConfig::new(BOB.parse().unwrap(), 3);
    config.limits.max_transactions = 1;
    config.calls.app_methods = vec![Method::Options];
    let mut bob = Endpoint::new(config);
    deliver(&mut bob, &options("", "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKfirst"));
    let second = options("", "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKsecond").replace("c1@", "c2@");
    deliver(&mut bob, &second);
    let out = sent(&mut bob);
    assert_eq!(status(&out[0].1), 503);
    assert_eq!(out[0].1.headers().get(HeaderName::RetryAfter), Some("5"));
}

#[test]
fn a_request_we_originate_carries_our_via_with_rport_and_max_forwards_70() {
    let mut alice = Endpoint::new(EndpointConfig::new("192.0.2.1:5060".parse().unwrap(), 5));
    let request = outgoing_options();
    alice
        .send_request(Instant::now(), request, BOB.parse().unwrap(), Transport::Udp)
        .unwrap();
    let out = sent(&mut alice);
    let headers = out[0].1.headers();
    assert_eq!(headers.vias().count(), 1, "the placeholder is replaced");
    let via = headers.top_via().unwrap().unwrap();
    assert!(via.has_magic_cookie());
    assert_eq!(via.rport(), Some(None));
    assert_eq!(via.host_str(), "192.0.2.1");
    assert_eq!(headers.max_forwards().unwrap().unwrap(), 70);
}

#[test]
fn a_failed_connection_becomes_a_transport_error_for_its_transaction() {
    let mut alice = Endpoint::new(EndpointConfig::new("192.0.2.1:5060".parse().unwrap(), 6));
    let request = outgoing_options();
    let now = Instant::now();
    let tx = alice
        .send_request(now, request, BOB.parse().unwrap(), Transport::Tcp)
        .unwrap();
    let Some(FlowRequest::Connect { flow, transport, .. }) = alice.poll_flow_request() else {
        panic!()
    };
    assert_eq!(transport, Transport::Tcp);
    alice.handle_flow_event(now, flow, FlowEvent::Failed);
    let events: Vec<Event> = std::iter::from_fn(|| alice.poll_event()).collect();
    assert!(events.contains(&Event::TransportError { transaction: tx }));
    assert!(events.contains(&Event::Terminated { transaction: tx }));
    assert_eq!(alice.transaction_count(), 0);
    assert_eq!(alice.timer_count(), 0);
}

#[test]
fn a_crlf_ping_on_a_flow_gets_a_pong() {
    let mut bob = bob();
    let flow = bob.new_flow_id();
    let now = Instant::now();
    bob.handle_flow_event(
        now,
        flow,
        FlowEvent::Accepted {
            transport: Transport::Tcp,
            remote: source(),
        },
    );
    bob.handle_stream_data(now, flow, b"\r\n\r\n");
    let pong = bob.poll_transmit().unwrap();
    assert_eq!((pong.flow, &pong.payload[..]), (Some(flow), &b"\r\n"[..]));
}

#[test]
fn a_framing_error_on_a_flow_closes_it() {
    let mut bob = bob();
    let flow = bob.new_flow_id();
    let now = Instant::now();
    bob.handle_flow_event(
        now,
        flow,
        FlowEvent::Accepted {
            transport: Transport::Tcp,
            remote: source(),
        },
    );
    bob.handle_stream_data(
        now,
        flow,
        b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n",
    );
    assert_eq!(bob.poll_flow_request(), Some(FlowRequest::Close { flow }));
}

#[test]
fn a_transaction_that_only_absorbs_retransmissions_is_not_pending() {
    let mut bob = bob();
    deliver(
        &mut bob,
        &options("", "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKpend"),
    );
    let Some(Event::Request { transaction, .. }) = bob.poll_event() else {
        panic!()
    };
    assert_eq!(bob.pending_transaction_count(), 1, "no final response yet");
    let ok = bob
        .response(transaction, sip_core::message::StatusCode::OK)
        .unwrap();
    bob.respond(Instant::now(), transaction, ok).unwrap();
    // Completed for Timer J (32 s over UDP): alive, but only absorbing retransmissions.
    assert_eq!(bob.transaction_count(), 1);
    assert_eq!(bob.pending_transaction_count(), 0);
}
