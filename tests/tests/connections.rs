//! Connections under attack: the Endpoint's admission and liveness rules for stream flows
//! (TCP today, TLS and WebSocket later), driven by hand in simulated time. A peer cannot
//! hold a slot by trickling bytes or by never speaking, one address cannot fill the table,
//! and a full table still takes a new client when a silent connection can make room.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip_core::endpoint::{
    Endpoint, EndpointConfig, EndpointLimits, FlowEvent, FlowId, FlowRequest, Transport,
};
use sip_core::message::Message;

const BOB: &str = "192.0.2.2:5060";

fn bob(configure: impl FnOnce(&mut EndpointLimits)) -> Endpoint {
    let mut config = EndpointConfig::new(BOB.parse().unwrap(), 11);
    configure(&mut config.limits);
    Endpoint::new(config)
}

fn peer(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, host], port))
}

fn accept(bob: &mut Endpoint, now: Instant, remote: SocketAddr) -> FlowId {
    let flow = bob.new_flow_id();
    bob.handle_flow_event(
        now,
        flow,
        FlowEvent::Accepted {
            transport: Transport::Tcp,
            remote,
        },
    );
    flow
}

fn closes(bob: &mut Endpoint) -> Vec<FlowId> {
    std::iter::from_fn(|| bob.poll_flow_request())
        .filter_map(|request| match request {
            FlowRequest::Close { flow } => Some(flow),
            _ => None,
        })
        .collect()
}

fn options(call_id: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/TCP 198.51.100.1;branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=f1\r\nTo: <sip:bob@192.0.2.2>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// What Bob sent back on `flow`, as status codes.
fn answers_on(bob: &mut Endpoint, flow: FlowId) -> Vec<u16> {
    std::iter::from_fn(|| bob.poll_transmit())
        .filter(|t| t.flow == Some(flow))
        .map(|t| Message::parse(t.payload).unwrap())
        .map(|m| m.as_response().unwrap().status.as_u16())
        .collect()
}

/// Runs Bob's timers up to `at`.
fn run_until(bob: &mut Endpoint, at: Instant) {
    while let Some(due) = bob.poll_timeout().filter(|due| *due <= at) {
        bob.handle_timeout(due);
    }
}

#[test]
fn a_message_trickled_past_its_deadline_closes_the_connection() {
    let mut bob = bob(|limits| limits.flow_message_timeout = Duration::from_secs(20));
    let t0 = Instant::now();
    let flow = accept(&mut bob, t0, peer(1, 40000));
    let message = options("trickle");
    // One byte every 5 s (at 0, 5, 10 and 15 s): data, but no message finished.
    for (i, byte) in message.iter().take(4).enumerate() {
        let at = t0 + Duration::from_secs(5 * i as u64);
        run_until(&mut bob, at);
        bob.handle_stream_data(at, flow, std::slice::from_ref(byte));
    }
    assert!(
        closes(&mut bob).is_empty(),
        "within 20 s of the first byte it stays"
    );
    run_until(&mut bob, t0 + Duration::from_secs(20));
    assert_eq!(
        closes(&mut bob),
        vec![flow],
        "20 s after the first byte it is closed"
    );
    assert_eq!(bob.stats().flows_timed_out, 1);
}

#[test]
fn partial_data_does_not_keep_a_connection_from_going_idle() {
    // The message deadline is out of the way: only the idle timeout can close it.
    let mut bob = bob(|limits| {
        limits.flow_idle_timeout = Duration::from_secs(60);
        limits.flow_message_timeout = Duration::from_secs(3600);
    });
    let t0 = Instant::now();
    let flow = accept(&mut bob, t0, peer(1, 40000));
    let message = options("slow");
    for second in (0..60).step_by(10) {
        let at = t0 + Duration::from_secs(second);
        run_until(&mut bob, at);
        bob.handle_stream_data(at, flow, &message[second as usize..second as usize + 1]);
    }
    run_until(&mut bob, t0 + Duration::from_secs(60));
    assert_eq!(closes(&mut bob), vec![flow]);
}

#[test]
fn whole_messages_keep_a_connection_open_past_the_idle_timeout() {
    let mut bob = bob(|limits| limits.flow_idle_timeout = Duration::from_secs(60));
    let t0 = Instant::now();
    let flow = accept(&mut bob, t0, peer(1, 40000));
    for minute in 0..5 {
        let at = t0 + Duration::from_secs(50 * minute);
        run_until(&mut bob, at);
        bob.handle_stream_data(at, flow, &options(&format!("c{minute}")));
        assert_eq!(answers_on(&mut bob, flow), vec![200]);
    }
    assert!(closes(&mut bob).is_empty(), "a message every 50 s keeps it");
    // Then silence: 60 s after the last message it is closed.
    run_until(&mut bob, t0 + Duration::from_secs(200 + 59));
    assert!(closes(&mut bob).is_empty());
    run_until(&mut bob, t0 + Duration::from_secs(200 + 60));
    assert_eq!(closes(&mut bob), vec![flow]);
}

#[test]
fn a_message_split_across_reads_is_not_cut_off_by_the_deadline() {
    let mut bob = bob(|limits| limits.flow_message_timeout = Duration::from_secs(20));
    let t0 = Instant::now();
    let flow = accept(&mut bob, t0, peer(1, 40000));
    // Half a message at 0 s, the rest and half of the next at 15 s, the rest at 30 s: each
    // message finishes within 20 s of its own first byte.
    let first = options("first");
    let second = options("second");
    let (a, b) = first.split_at(first.len() / 2);
    let (c, d) = second.split_at(second.len() / 2);
    bob.handle_stream_data(t0, flow, a);
    run_until(&mut bob, t0 + Duration::from_secs(15));
    bob.handle_stream_data(t0 + Duration::from_secs(15), flow, &[b, c].concat());
    run_until(&mut bob, t0 + Duration::from_secs(30));
    bob.handle_stream_data(t0 + Duration::from_secs(30), flow, d);
    assert_eq!(answers_on(&mut bob, flow), vec![200, 200]);
    assert!(closes(&mut bob).is_empty());
}

#[test]
fn one_address_cannot_take_more_than_its_share_of_connections() {
    let mut bob = bob(|limits| limits.max_flows_per_source = 3);
    let now = Instant::now();
    let flows: Vec<FlowId> = (0..4)
        .map(|i| accept(&mut bob, now, peer(1, 40000 + i)))
        .collect();
    assert_eq!(
        closes(&mut bob),
        vec![flows[3]],
        "the fourth from one address is refused"
    );
    assert_eq!(bob.stats().flows_refused, 1);
    // Another address is not affected, and a slot freed is a slot again.
    let other = accept(&mut bob, now, peer(2, 40000));
    bob.handle_flow_event(now, flows[0], FlowEvent::Closed);
    let again = accept(&mut bob, now, peer(1, 40010));
    assert!(closes(&mut bob).is_empty());
    bob.handle_stream_data(now, other, &options("other"));
    bob.handle_stream_data(now, again, &options("again"));
    assert_eq!(answers_on(&mut bob, other), vec![200]);
}

#[test]
fn a_full_table_makes_room_by_closing_the_oldest_silent_connection() {
    let mut bob = bob(|limits| limits.max_flows = 3);
    let now = Instant::now();
    let talker = accept(&mut bob, now, peer(1, 40000));
    bob.handle_stream_data(now, talker, &options("talker"));
    assert_eq!(answers_on(&mut bob, talker), vec![200]);
    let silent_old = accept(&mut bob, now, peer(2, 40000));
    let silent_new = accept(&mut bob, now, peer(3, 40000));
    // Full. A new client evicts the oldest connection that never sent a message.
    let client = accept(&mut bob, now, peer(4, 40000));
    assert_eq!(closes(&mut bob), vec![silent_old]);
    assert_eq!(bob.stats().flows_evicted, 1);
    bob.handle_stream_data(now, client, &options("client"));
    assert_eq!(
        answers_on(&mut bob, client),
        vec![200],
        "the new client is served"
    );
    // Only silent_new is left to evict; after it, a table of talkers refuses.
    let second = accept(&mut bob, now, peer(5, 40000));
    assert_eq!(closes(&mut bob), vec![silent_new]);
    bob.handle_stream_data(now, second, &options("second"));
    let refused = accept(&mut bob, now, peer(6, 40000));
    assert_eq!(
        closes(&mut bob),
        vec![refused],
        "no silent connection left: refused"
    );
    assert_eq!(bob.stats().flows_refused, 1);
    // The talkers were never touched.
    bob.handle_stream_data(now, talker, &options("talker-again"));
    assert_eq!(answers_on(&mut bob, talker), vec![200]);
}

#[test]
fn a_connection_that_only_sends_garbage_stays_evictable() {
    let mut bob = bob(|limits| limits.max_flows = 1);
    let now = Instant::now();
    let noisy = accept(&mut bob, now, peer(1, 40000));
    // Framed (a head and its Content-Length) but not SIP.
    bob.handle_stream_data(now, noisy, b"HELLO\r\nContent-Length: 0\r\n\r\n");
    let client = accept(&mut bob, now, peer(2, 40000));
    assert_eq!(closes(&mut bob), vec![noisy]);
    bob.handle_stream_data(now, client, &options("client"));
    assert_eq!(answers_on(&mut bob, client), vec![200]);
}

#[test]
fn closing_a_connection_disarms_its_timer() {
    let mut bob = bob(|_| {});
    let now = Instant::now();
    let flow = accept(&mut bob, now, peer(1, 40000));
    assert_eq!(bob.timer_count(), 1, "the idle timer");
    bob.handle_flow_event(now, flow, FlowEvent::Closed);
    assert_eq!(bob.timer_count(), 0);
    assert_eq!(bob.poll_timeout(), None);
}

#[test]
fn unfinished_messages_past_the_memory_budget_close_the_oldest_first() {
    let mut bob = bob(|limits| limits.max_buffered_bytes = 1000);
    let t0 = Instant::now();
    let head = |n: usize| {
        format!(
            "OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\nX-Pad: {}\r\n",
            "a".repeat(n)
        )
    };
    let flows: Vec<FlowId> = (0..3)
        .map(|i| {
            let at = t0 + Duration::from_secs(i);
            let flow = accept(&mut bob, at, peer(i as u8 + 1, 40000));
            bob.handle_stream_data(at, flow, head(400).as_bytes());
            flow
        })
        .collect();
    // Three unfinished heads of ~450 bytes: over 1000, the one that started first goes.
    assert_eq!(closes(&mut bob), vec![flows[0]]);
    assert_eq!(bob.stats().flows_evicted, 1);
    // The others finish their messages and are served.
    let rest = "Via: SIP/2.0/TCP 198.51.100.1;branch=z9hG4bKb\r\nMax-Forwards: 70\r\n\
                From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@192.0.2.2>\r\nCall-ID: b\r\n\
                CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    bob.handle_stream_data(t0 + Duration::from_secs(3), flows[1], rest.as_bytes());
    assert_eq!(answers_on(&mut bob, flows[1]), vec![200]);
    assert!(closes(&mut bob).is_empty());
}
