//! Transaction-layer figures, printed as a table (`cargo bench --bench transactions`):
//!
//! - complete OPTIONS transactions per second between two Endpoints in the simulator, with
//!   every message serialized and parsed on both sides (ladder recording off);
//! - for 10 k / 100 k / 1 M concurrent client transactions in one Endpoint: heap bytes per
//!   transaction (growth of resident memory), the cost of `poll_timeout`, and the cost per timer
//!   of the `handle_timeout` that fires them all (Timer E at T1).
//!
//! Wall-clock timing is fine here (a benchmark, not the core); this machine is shared, so
//! take the best of a few runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use sip_core::endpoint::{Endpoint, EndpointConfig, Event, Transport};
use sip_core::message::{Method, Request, RequestBuilder, StatusCode, Uri};
use sip_core::sim::Network;

/// Resident memory of this process, in bytes (Linux `/proc/self/statm`; 0 elsewhere).
/// The workspace forbids `unsafe`, so no counting allocator: the growth of RSS while
/// transactions are created is the figure.
fn resident_bytes() -> isize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<isize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn options(cseq: u32) -> Request {
    RequestBuilder::new(Method::Options, Uri::parse("sip:bob@192.0.2.2").unwrap())
        .via("SIP/2.0/UDP placeholder")
        .from("Alice <sip:alice@192.0.2.1>;tag=a73kszlfl")
        .to("Bob <sip:bob@192.0.2.2>")
        .call_id(format!("{cseq}@192.0.2.1"))
        .cseq(cseq)
        .build()
        .unwrap()
}

/// OPTIONS transactions per second, `batch` in flight at a time.
fn options_per_second(total: u32, batch: u32) -> f64 {
    let mut net = Network::new(1);
    net.record_ladder = false;
    net.record_events = false;
    let alice = net.add_node("alice", "192.0.2.1:5060".parse().unwrap());
    // Bob's application answers the OPTIONS (otherwise his Endpoint would, with its
    // capabilities): the figure is the transaction layer's, with an application on top.
    let bob = net.add_node_configured("bob", "192.0.2.2:5060".parse().unwrap(), |config| {
        config.calls.app_methods = vec![Method::Options];
    });
    net.set_handler(bob, |endpoint, event, now| {
        if let Event::Request { transaction, .. } = event {
            let ok = endpoint.response(transaction, StatusCode::OK).unwrap();
            endpoint.respond(now, transaction, ok).unwrap();
        }
    });
    // Prebuild the requests so the figure is the stack's, not the builder's.
    let requests: Vec<Request> = (1..=total).map(options).collect();
    let started = Instant::now();
    let mut requests = requests.into_iter();
    let mut done = 0;
    while done < total {
        for request in requests.by_ref().take(batch as usize) {
            net.send_request(alice, request, bob, Transport::Udp).unwrap();
        }
        net.run_until_idle().unwrap();
        done += batch;
    }
    let elapsed = started.elapsed();
    assert_eq!(
        net.endpoint(alice).stats().received,
        u64::from(total),
        "every OPTIONS answered"
    );
    f64::from(total) / elapsed.as_secs_f64()
}

struct Concurrency {
    count: usize,
    bytes_per_transaction: f64,
    poll_timeout_ns: f64,
    handle_timeout_ns_per_timer: f64,
}

fn concurrent(count: usize) -> Concurrency {
    let local = "192.0.2.1:5060".parse().unwrap();
    let destination = "192.0.2.2:5060".parse().unwrap();
    let mut config = EndpointConfig::new(local, 9);
    // Room for the largest count measured, past the default limit.
    config.limits.max_transactions = 10_000_000;
    let mut endpoint = Endpoint::new(config);
    let now = Instant::now();
    let before = resident_bytes();
    for request in (1..=count as u32).map(options) {
        endpoint
            .send_request(now, request, destination, Transport::Udp)
            .unwrap();
        // The driver would send these right away; drop them like it would.
        while endpoint.poll_transmit().is_some() {}
    }
    let after = resident_bytes();
    let bytes_per_transaction = (after - before) as f64 / count as f64;

    let calls = 1_000_000;
    let started = Instant::now();
    for _ in 0..calls {
        black_box(black_box(&endpoint).poll_timeout());
    }
    let poll_timeout_ns = started.elapsed().as_nanos() as f64 / f64::from(calls);

    // Every transaction's Timer E is due at T1: one handle_timeout fires them all.
    let due = now + Duration::from_millis(500);
    let started = Instant::now();
    endpoint.handle_timeout(due);
    let fired = started.elapsed();
    let mut retransmissions = 0usize;
    while endpoint.poll_transmit().is_some() {
        retransmissions += 1;
    }
    assert_eq!(retransmissions, count);
    Concurrency {
        count,
        bytes_per_transaction,
        poll_timeout_ns,
        handle_timeout_ns_per_timer: fired.as_nanos() as f64 / count as f64,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Each concurrency figure is measured in a fresh process, so memory freed by earlier
    // work cannot hide the growth.
    if let Some(count) = args
        .iter()
        .position(|a| a == "--concurrency")
        .and_then(|i| args.get(i + 1))
    {
        let c = concurrent(count.parse().unwrap());
        println!(
            "| {} | {:.0} | {:.1} ns | {:.0} ns |",
            c.count, c.bytes_per_transaction, c.poll_timeout_ns, c.handle_timeout_ns_per_timer
        );
        return;
    }
    // `cargo test --benches` runs this too: keep that quick.
    let bench_mode = args.iter().any(|a| a == "--bench");
    let (total, sizes): (u32, &[usize]) = if bench_mode {
        (200_000, &[10_000, 100_000, 1_000_000])
    } else {
        (2_000, &[1_000])
    };
    let best_rate = (0..3)
        .map(|_| options_per_second(total, 1000))
        .fold(0.0, f64::max);
    println!();
    println!("OPTIONS transactions through the simulator (2 Endpoints, parse + serialize both sides):");
    println!("  {total} transactions, 1000 in flight: {best_rate:.0} transactions/s (best of 3)");
    println!();
    println!(
        "| concurrent client transactions | resident bytes / transaction | poll_timeout | handle_timeout per timer |"
    );
    println!("|---:|---:|---:|---:|");
    let exe = std::env::current_exe().unwrap();
    for &count in sizes {
        let output = std::process::Command::new(&exe)
            .args(["--concurrency", &count.to_string()])
            .output()
            .unwrap();
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
}
