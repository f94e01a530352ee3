//! WebSocket flows in the core (RFC 7118), driven by hand: one message per frame through
//! `handle_flow_message`, answers on the flow the request came on, bad frames treated as
//! bad datagrams are, and what we write about ourselves over WS and WSS.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use sip_core::endpoint::{Endpoint, EndpointConfig, Event, FlowEvent, FlowId, FlowRequest, Transport};
use sip_core::message::{HeaderName, Message, Method, StatusCode, Uri};

const BOB: &str = "192.0.2.2:5060";
/// A browser's address as its WebSocket connection shows it.
const BROWSER: &str = "198.51.100.7:53211";

fn bob() -> Endpoint {
    let mut config = EndpointConfig::new(BOB.parse().unwrap(), 11);
    config.ws_port = Some(8080);
    config.wss_port = Some(8443);
    // A driver with WebSocket client connections (sip-tokio's always has WS, and WSS
    // once TLS is configured).
    config.transports = vec![
        Transport::Udp,
        Transport::Tcp,
        Transport::Tls,
        Transport::Ws,
        Transport::Wss,
    ];
    config.calls.app_methods = vec![Method::Message];
    Endpoint::new(config)
}

fn accept(bob: &mut Endpoint, now: Instant, transport: Transport) -> FlowId {
    let flow = bob.new_flow_id();
    let remote: SocketAddr = BROWSER.parse().unwrap();
    bob.handle_flow_event(now, flow, FlowEvent::Accepted { transport, remote });
    flow
}

/// An OPTIONS as a browser's JsSIP writes it: its Via and Contact name a random
/// `.invalid` host (RFC 7118 §5), since it neither knows its address nor takes connections.
fn options(transport: &str, branch: &str) -> Bytes {
    Bytes::from(format!(
        "OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/{transport} df7jal23ls0d.invalid;branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=f1\r\nTo: <sip:bob@192.0.2.2>\r\n\
         Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\n\
         Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\nContent-Length: 0\r\n\r\n"
    ))
}

#[test]
fn a_request_in_a_websocket_frame_is_answered_on_the_same_connection() {
    let mut bob = bob();
    let now = Instant::now();
    let flow = accept(&mut bob, now, Transport::Ws);
    bob.handle_flow_message(now, flow, options("WS", "a1"));
    let answer = bob.poll_transmit().expect("an answer");
    assert_eq!(answer.flow, Some(flow));
    assert_eq!(answer.transport, Transport::Ws);
    assert_eq!(answer.remote, BROWSER.parse().unwrap());
    let response = Message::parse(answer.payload).unwrap();
    let response = response.as_response().unwrap();
    assert_eq!(response.status, StatusCode::OK);
    // RFC 3261 §18.2.1: the `.invalid` sent-by is not where it came from.
    let via = response
        .headers
        .values(HeaderName::Via)
        .next()
        .unwrap()
        .to_string();
    assert!(via.contains("received=198.51.100.7"), "{via}");
    // No connection is opened towards `.invalid`, and the flow stays.
    assert_eq!(bob.poll_flow_request(), None);
    assert_eq!(bob.stats().received, 1);
}

#[test]
fn a_frame_that_is_not_one_message_gets_400_when_its_via_is_usable_and_is_dropped_otherwise() {
    let mut bob = bob();
    let now = Instant::now();
    let flow = accept(&mut bob, now, Transport::Wss);
    // A broken CSeq, a usable Via: a 400 with a Warning, on the flow.
    let broken = String::from_utf8(options("WSS", "b1").to_vec())
        .unwrap()
        .replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS");
    bob.handle_flow_message(now, flow, Bytes::from(broken));
    let answer = bob.poll_transmit().expect("a 400");
    assert_eq!(answer.flow, Some(flow));
    let response = Message::parse(answer.payload).unwrap();
    let response = response.as_response().unwrap();
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(response.headers.contains(HeaderName::Warning));

    // A CRLF keep-alive means nothing on a WebSocket (RFC 7118 has the WebSocket's own
    // pings), and garbage has no Via to answer: both are dropped and counted.
    bob.handle_flow_message(now, flow, Bytes::from_static(b"\r\n\r\n"));
    bob.handle_flow_message(now, flow, Bytes::from_static(b"\x00\x01garbage"));
    assert_eq!(bob.poll_transmit(), None);
    assert_eq!(bob.stats().invalid, 2);
    assert_eq!(bob.stats().rejected, 1);
    // None of it closes the connection: the next frame is answered on it.
    assert_eq!(bob.poll_flow_request(), None);
    bob.handle_flow_message(now, flow, options("WSS", "b2"));
    let answer = bob.poll_transmit().expect("an answer");
    assert_eq!(answer.flow, Some(flow));
}

#[test]
fn a_frame_holding_two_messages_is_not_taken_as_the_first() {
    let mut bob = bob();
    let now = Instant::now();
    let flow = accept(&mut bob, now, Transport::Ws);
    let mut two = options("WS", "c1").to_vec();
    two.extend_from_slice(&options("WS", "c2"));
    bob.handle_flow_message(now, flow, Bytes::from(two));
    // RFC 7118 §3.2: exactly one message per frame; this is not a valid message: a
    // stateless 400 (its Via is usable), never a 200 for the first of the two.
    let answers: Vec<u16> = std::iter::from_fn(|| bob.poll_transmit())
        .map(|t| {
            Message::parse(t.payload)
                .unwrap()
                .as_response()
                .unwrap()
                .status
                .as_u16()
        })
        .collect();
    assert_eq!(answers, [400]);
    assert_eq!(bob.stats().invalid, 1);
}

#[test]
fn a_frame_past_the_message_size_limit_is_not_parsed() {
    let mut config = EndpointConfig::new(BOB.parse().unwrap(), 11);
    config.limits.max_message_size = 1024;
    let mut bob = Endpoint::new(config);
    let now = Instant::now();
    let flow = accept(&mut bob, now, Transport::Ws);
    let big = String::from_utf8(options("WS", "d1").to_vec()).unwrap().replace(
        "Max-Forwards: 70",
        &format!("Max-Forwards: 70\r\nX-Pad: {}", "x".repeat(2000)),
    );
    bob.handle_flow_message(now, flow, Bytes::from(big));
    assert!(std::iter::from_fn(|| bob.poll_event()).all(|e| !matches!(e, Event::Request { .. })));
    assert_eq!(bob.stats().invalid, 1);
}

#[test]
fn over_ws_and_wss_our_via_and_contact_name_the_websocket_listeners() {
    let mut bob = bob();
    let now = Instant::now();
    for (target, transport, via, contact) in [
        (
            "sip:alice@198.51.100.7:8080;transport=ws",
            Transport::Ws,
            "SIP/2.0/WS 192.0.2.2:8080;",
            "<sip:192.0.2.2:8080;transport=ws>",
        ),
        (
            "sip:alice@198.51.100.7:8443;transport=wss",
            Transport::Wss,
            "SIP/2.0/WSS 192.0.2.2:8443;",
            "<sip:192.0.2.2:8443;transport=wss>",
        ),
        (
            // RFC 7118 §5.2: the secure WebSocket as a sips: URI with transport=ws.
            "sips:alice@198.51.100.7:8444;transport=ws",
            Transport::Wss,
            "SIP/2.0/WSS 192.0.2.2:8443;",
            "<sip:192.0.2.2:8443;transport=wss>",
        ),
    ] {
        bob.invite(now, Uri::parse(target).unwrap(), Bytes::new(), None)
            .unwrap();
        let Some(FlowRequest::Connect { transport: asked, .. }) = bob.poll_flow_request() else {
            panic!("no connect for {target}");
        };
        assert_eq!(asked, transport, "{target}");
        let sent = bob.poll_transmit().unwrap();
        assert_eq!(sent.transport, transport);
        let invite = Message::parse(sent.payload).unwrap();
        let invite = invite.as_request().unwrap();
        let top_via = invite.headers.values(HeaderName::Via).next().unwrap().to_string();
        assert!(top_via.starts_with(via), "{target}: {top_via}");
        let our_contact = invite
            .headers
            .values(HeaderName::Contact)
            .next()
            .unwrap()
            .to_string();
        assert_eq!(our_contact, contact, "{target}");
        while bob.poll_event().is_some() {}
    }
}

#[test]
fn without_a_websocket_listener_our_via_and_contact_name_an_invalid_host() {
    // RFC 7118 §5: a client that takes no WebSocket connections names an `.invalid` host;
    // the same one for a seed, and no address that could not be reached.
    let mut config = EndpointConfig::new(BOB.parse().unwrap(), 11);
    config.transports = vec![Transport::Udp, Transport::Tcp, Transport::Ws];
    let mut bob = Endpoint::new(config);
    let now = Instant::now();
    bob.invite(
        now,
        Uri::parse("sip:alice@198.51.100.7:8080;transport=ws").unwrap(),
        Bytes::new(),
        None,
    )
    .unwrap();
    let _ = bob.poll_flow_request();
    let sent = bob.poll_transmit().unwrap();
    let invite = Message::parse(sent.payload).unwrap();
    let invite = invite.as_request().unwrap();
    let via = invite.headers.values(HeaderName::Via).next().unwrap().to_string();
    let contact = invite
        .headers
        .values(HeaderName::Contact)
        .next()
        .unwrap()
        .to_string();
    let host = via
        .strip_prefix("SIP/2.0/WS ")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_owned();
    assert!(
        host.ends_with(".invalid") && host.len() == 12 + ".invalid".len(),
        "{via}"
    );
    assert_eq!(contact, format!("<sip:{host};transport=ws>"));
}

#[test]
fn websocket_keep_alives_keep_a_connection_from_being_closed_as_idle() {
    let mut config = EndpointConfig::new(BOB.parse().unwrap(), 11);
    config.limits.flow_idle_timeout = std::time::Duration::from_secs(300);
    let mut bob = Endpoint::new(config);
    let t0 = Instant::now();
    let flow = accept(&mut bob, t0, Transport::Ws);
    let run_until = |bob: &mut Endpoint, at: Instant| {
        while let Some(due) = bob.poll_timeout().filter(|due| *due <= at) {
            bob.handle_timeout(due);
        }
    };
    // A pong every 30 s (the driver's pings answered) and no SIP message at all.
    for n in 1..=20u64 {
        let at = t0 + std::time::Duration::from_secs(30 * n);
        run_until(&mut bob, at);
        bob.handle_flow_event(at, flow, FlowEvent::KeepAlive);
    }
    assert_eq!(bob.poll_flow_request(), None, "closed while kept alive");
    // Once the pongs stop, the idle timeout runs from the last one.
    run_until(&mut bob, t0 + std::time::Duration::from_secs(600 + 299));
    assert_eq!(bob.poll_flow_request(), None);
    run_until(&mut bob, t0 + std::time::Duration::from_secs(600 + 300));
    assert_eq!(bob.poll_flow_request(), Some(FlowRequest::Close { flow }));
}
