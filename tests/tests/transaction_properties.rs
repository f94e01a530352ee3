//! Properties of the transaction layer over the simulated network (quickcheck): whatever
//! the seed, duplication, reordering and jitter, a non-INVITE transaction ends the same
//! way on both sides when losses stay within the retransmission budget, times out cleanly
//! beyond it, and leaves nothing behind.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use sip_core::endpoint::{Event, Transport};
use sip_core::message::{Method, RequestBuilder, StatusCode, Uri};
use sip_core::sim::LinkConfig;
use sip_core::transaction::Timer;
use sip_tests::{answer_with, pair, transaction_layer};

/// A network condition: a seed, scripted losses of the first requests and responses, and
/// random duplication, reordering and jitter.
#[derive(Debug, Clone)]
struct Conditions {
    seed: u64,
    lost_requests: usize,
    lost_responses: usize,
    duplicate: f64,
    reorder: f64,
    jitter_ms: u64,
}

impl Arbitrary for Conditions {
    fn arbitrary(g: &mut Gen) -> Self {
        Conditions {
            seed: u64::arbitrary(g),
            lost_requests: usize::arbitrary(g) % 13,
            lost_responses: usize::arbitrary(g) % 13,
            duplicate: f64::from(u8::arbitrary(g) % 50) / 100.0,
            reorder: f64::from(u8::arbitrary(g) % 50) / 100.0,
            jitter_ms: u64::arbitrary(g) % 40,
        }
    }
}

struct Outcome {
    client_final: Option<u16>,
    client_timed_out: bool,
    server_final: Option<u16>,
    idle: bool,
}

fn run(conditions: &Conditions) -> Outcome {
    // A plain transaction layer: Bob's application answers the OPTIONS itself.
    let (mut net, alice, bob) = pair(conditions.seed, transaction_layer);
    net.set_links(
        alice,
        bob,
        LinkConfig {
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(conditions.jitter_ms),
            duplicate: conditions.duplicate,
            reorder: conditions.reorder,
            loss: 0.0,
        },
    );
    net.lose(alice, bob, "OPTIONS", conditions.lost_requests);
    net.lose(bob, alice, "SIP/2.0 200", conditions.lost_responses);
    answer_with(&mut net, bob, StatusCode::OK);
    let options = RequestBuilder::new(Method::Options, Uri::parse("sip:bob@192.0.2.2").unwrap())
        .via("SIP/2.0/UDP placeholder")
        .from("<sip:alice@192.0.2.1>;tag=p")
        .to("<sip:bob@192.0.2.2>")
        .call_id("prop@192.0.2.1")
        .cseq(1)
        .build()
        .unwrap();
    net.send_request(alice, options, bob, Transport::Udp).unwrap();
    let idle = net.run_until_idle().is_ok();
    let client_final = net.events(alice).iter().find_map(|(_, e)| match e {
        Event::Response { response, .. } if response.status.is_final() => Some(response.status.as_u16()),
        _ => None,
    });
    let client_timed_out = net
        .events(alice)
        .iter()
        .any(|(_, e)| matches!(e, Event::Timeout { timer: Timer::F, .. }));
    let server_final = net
        .events(bob)
        .iter()
        .any(|(_, e)| matches!(e, Event::Request { .. }))
        .then_some(200);
    let idle = idle
        && [alice, bob]
            .iter()
            .all(|&n| net.endpoint(n).transaction_count() == 0 && net.endpoint(n).timer_count() == 0);
    Outcome {
        client_final,
        client_timed_out,
        server_final,
        idle,
    }
}

/// 11 transmissions fit in 64*T1 (0, 0.5, 1.5, 3.5, 7.5, 11.5 … 31.5 s); each copy that
/// arrives is answered (the first freshly, the others by retransmission), so the client
/// learns the outcome unless every copy or every answer is lost.
fn within_budget(c: &Conditions) -> bool {
    c.lost_requests + c.lost_responses < 11
}

fn prop_both_ends_agree_within_budget(conditions: Conditions) -> TestResult {
    if !within_budget(&conditions) {
        return TestResult::discard();
    }
    let outcome = run(&conditions);
    TestResult::from_bool(
        outcome.client_final == Some(200) && outcome.server_final == Some(200) && !outcome.client_timed_out,
    )
}

fn prop_beyond_budget_the_client_times_out_and_never_hangs(conditions: Conditions) -> TestResult {
    if within_budget(&conditions) {
        return TestResult::discard();
    }
    let outcome = run(&conditions);
    // Duplicates may still sneak an answer through; either way the client finishes.
    TestResult::from_bool(outcome.idle && (outcome.client_timed_out || outcome.client_final == Some(200)))
}

fn prop_nothing_is_left_after_quiescence(conditions: Conditions) -> bool {
    run(&conditions).idle
}

#[test]
fn both_ends_of_a_non_invite_transaction_agree_within_the_retransmission_budget() {
    QuickCheck::new()
        .tests(300)
        .max_tests(3000)
        .quickcheck(prop_both_ends_agree_within_budget as fn(Conditions) -> TestResult);
}

#[test]
fn beyond_the_budget_the_client_times_out_and_never_hangs() {
    QuickCheck::new()
        .tests(100)
        .max_tests(5000)
        .quickcheck(prop_beyond_budget_the_client_times_out_and_never_hangs as fn(Conditions) -> TestResult);
}

#[test]
fn no_transaction_or_timer_is_left_after_quiescence() {
    QuickCheck::new()
        .tests(300)
        .quickcheck(prop_nothing_is_left_after_quiescence as fn(Conditions) -> bool);
}

#[test]
fn losing_every_copy_times_out_exactly_at_64_t1() {
    let outcome = run(&Conditions {
        seed: 1,
        lost_requests: 12,
        lost_responses: 0,
        duplicate: 0.0,
        reorder: 0.0,
        jitter_ms: 0,
    });
    assert!(outcome.client_timed_out && outcome.client_final.is_none() && outcome.idle);
}

/// Network input never panics the Endpoint: mutated requests and responses (and raw
/// noise) go in as datagrams, all timers run out, and nothing is left behind.
fn prop_endpoint_survives_mutated_datagrams(seed: u64, mutations: Vec<(u16, u8)>, noise: Vec<u8>) -> bool {
    use sip_core::endpoint::{Endpoint, EndpointConfig};
    let templates = [
        "INVITE sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKq;rport\r\nMax-Forwards: 70\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:bob@192.0.2.2>\r\nCall-ID: q@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKq\r\nFrom: <sip:a@x>;tag=1\r\n\
To: <sip:b@x>;tag=2\r\nCall-ID: q@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        "CANCEL sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKq\r\nFrom: <sip:a@x>;tag=1\r\n\
To: <sip:bob@192.0.2.2>\r\nCall-ID: q@x\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
        "ACK sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKq\r\nFrom: <sip:a@x>;tag=1\r\n\
To: <sip:bob@192.0.2.2>;tag=z\r\nCall-ID: q@x\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
    ];
    let local = "192.0.2.2:5060".parse().unwrap();
    let remote = "198.51.100.1:5060".parse().unwrap();
    let mut endpoint = Endpoint::new(EndpointConfig::new(local, seed));
    let start = std::time::Instant::now();
    for (i, template) in templates.iter().enumerate() {
        let mut bytes = template.as_bytes().to_vec();
        for &(at, value) in mutations.iter().skip(i).step_by(templates.len()) {
            let at = usize::from(at) % bytes.len();
            bytes[at] = value;
        }
        endpoint.handle_datagram(start, local, remote, bytes::Bytes::from(bytes));
        endpoint.handle_datagram(
            start,
            local,
            remote,
            bytes::Bytes::from(template.as_bytes().to_vec()),
        );
    }
    endpoint.handle_datagram(start, local, remote, bytes::Bytes::from(noise));
    while endpoint.poll_transmit().is_some() || endpoint.poll_event().is_some() {}
    // Answer whatever is still open so INVITE transactions can finish, then run out the clock.
    let mut now = start;
    for _ in 0..64 {
        let Some(at) = endpoint.poll_timeout() else { break };
        now = now.max(at);
        endpoint.handle_timeout(now);
        while endpoint.poll_transmit().is_some() || endpoint.poll_event().is_some() {}
    }
    // An INVITE left in Proceeding has no timer (its user must answer); everything else ends.
    endpoint.timer_count() == 0
}

#[test]
fn the_endpoint_survives_mutated_and_random_datagrams() {
    QuickCheck::new()
        .tests(2000)
        .quickcheck(prop_endpoint_survives_mutated_datagrams as fn(u64, Vec<(u16, u8)>, Vec<u8>) -> bool);
}
