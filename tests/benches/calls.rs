//! Call-layer figures, printed as a table (`cargo bench --bench calls`):
//!
//! - complete calls per second between two Endpoints in the simulator, one core: alice
//!   `invite`s bob with a ~300-byte SDP offer, bob rings and answers with a ~300-byte SDP
//!   answer, alice hangs up with BYE once answered; a call is complete when alice sees
//!   `CallEvent::Terminated`. Every message is serialized and parsed on both sides (ladder
//!   and event recording off), and the lingering transactions' timers (J, K, L, M) are run
//!   out too, so the figure covers all the work a call costs;
//! - resident memory of 100 k concurrent connected calls (both Endpoints, ~300-byte SDP
//!   each way), measured in a fresh process as the growth of RSS (the workspace forbids
//!   `unsafe`, so no counting allocator): right after setup (INVITE transactions still
//!   alive), once 64·T1 has passed (transactions gone; RSS keeps the peak, so this equals the
//!   first), and in a second process where each 1000 calls' transactions end before the next
//!   1000 start (the calls alone).
//!
//! `CALLS_BENCH_QUICK=1` runs a few thousand calls once and skips the memory figure (for
//! callgrind and the like). Wall-clock timing is fine here (a benchmark, not the core); this
//! machine is shared, so take the best of a few runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::call::{CallEvent, EndReason};
use sip_core::endpoint::{EndpointConfig, Event};
use sip_core::message::Uri;
use sip_core::sdp::SessionDescription;
use sip_core::sim::{Network, NodeId};

const ALICE: &str = "192.0.2.1:5060";
const BOB: &str = "192.0.2.2:5060";
const BOB_URI: &str = "sip:bob@192.0.2.2:5060";

/// Resident memory of this process, in bytes (Linux `/proc/self/statm`; 0 elsewhere).
fn resident_bytes() -> isize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<isize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// A distinct audio SDP of about 300 bytes: `simple_audio` (PCMU, PCMA, G722,
/// telephone-event) plus `a=maxptime` and `a=rtcp`, as real user agents send.
fn sdp(user: &str, session: u64, address: IpAddr, port: u16) -> Bytes {
    let mut text =
        SessionDescription::simple_audio(user, session, address, port, &[0, 8, 9, 101]).to_string();
    text.push_str("a=maxptime:150\r\na=rtcp:");
    text.push_str(&(port + 1).to_string());
    text.push_str(" IN IP4 ");
    text.push_str(&address.to_string());
    text.push_str("\r\n");
    // Exactly its length, as an application holding a template would (a grown String
    // carries up to twice the room).
    Bytes::copy_from_slice(text.as_bytes())
}

fn offer(n: u64) -> Bytes {
    sdp(
        "alice",
        1_000_000_000 + n,
        "192.0.2.1".parse().unwrap(),
        20_000 + (n % 10_000) as u16 * 2,
    )
}

fn answer(n: u64) -> Bytes {
    sdp(
        "bob",
        2_000_000_000 + n,
        "192.0.2.2".parse().unwrap(),
        40_000 + (n % 10_000) as u16 * 2,
    )
}

/// Two nodes, alice and bob. `reliable` keeps the default `Supported: 100rel` on alice's
/// INVITEs (so bob's 180 is reliable and PRACKed); off, a call is the plain
/// INVITE/100/180/200/ACK/BYE/200. Both hold the 100,000 concurrent calls (and their
/// transactions) of the memory figure, past the default limits.
fn network(reliable: bool) -> (Network, NodeId, NodeId) {
    let mut net = Network::new(1);
    net.record_ladder = false;
    net.record_events = false;
    let alice = net.add_node_configured("alice", ALICE.parse().unwrap(), |config| {
        config.calls.reliable_provisionals = reliable;
        room_for_the_benchmark(config);
    });
    let bob = net.add_node_configured("bob", BOB.parse().unwrap(), room_for_the_benchmark);
    (net, alice, bob)
}

fn room_for_the_benchmark(config: &mut EndpointConfig) {
    config.limits.max_calls = 1_000_000;
    config.limits.max_calls_per_source = 1_000_000;
    config.limits.max_transactions = 10_000_000;
}

/// Bob rings then answers every incoming call with the next of `answers`; errors counted.
fn answering_bob(net: &mut Network, bob: NodeId, answers: Vec<Bytes>, errors: Rc<Cell<u64>>) {
    let mut answers = answers.into_iter();
    net.set_handler(bob, move |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            let body = answers.next().unwrap_or_default();
            if endpoint.ringing(now, call).is_err() || endpoint.answer(now, call, body, None).is_err() {
                errors.set(errors.get() + 1);
            }
        }
    });
}

struct Throughput {
    calls_per_second: f64,
    messages_per_call: f64,
}

#[derive(Default)]
struct Outcome {
    terminated: Cell<u64>,
    not_local_bye: Cell<u64>,
    errors: Cell<u64>,
}

/// `total` complete calls, `batch` started at a time; each batch is run until idle (every
/// transaction and call timer has fired or been cancelled) before the next starts.
fn calls_per_second(total: u64, batch: u64, reliable: bool) -> Throughput {
    let (mut net, alice, bob) = network(reliable);
    let outcome = Rc::new(Outcome::default());
    let seen = outcome.clone();
    net.set_handler(alice, move |endpoint, event, now| {
        if let Event::Call { call, event } = event {
            match event {
                CallEvent::Answered { .. } if endpoint.bye(now, call).is_err() => {
                    seen.errors.set(seen.errors.get() + 1);
                }
                CallEvent::Terminated { reason, .. } => {
                    seen.terminated.set(seen.terminated.get() + 1);
                    if reason != EndReason::LocalBye {
                        seen.not_local_bye.set(seen.not_local_bye.get() + 1);
                    }
                }
                _ => {}
            }
        }
    });
    let bob_errors = Rc::new(Cell::new(0));
    // Prebuild the bodies so the figure is the stack's, not the SDP builder's.
    answering_bob(
        &mut net,
        bob,
        (0..total).map(answer).collect(),
        bob_errors.clone(),
    );
    let offers: Vec<Bytes> = (0..total).map(offer).collect();
    let target = Uri::parse(BOB_URI).unwrap();

    let started = Instant::now();
    let mut offers = offers.into_iter();
    let mut started_calls = 0;
    while started_calls < total {
        let now = net.now();
        for body in offers.by_ref().take(batch as usize) {
            net.endpoint(alice)
                .invite(now, target.clone(), body, None)
                .unwrap();
            started_calls += 1;
        }
        net.pump(alice);
        net.run_until_idle().unwrap();
    }
    let elapsed = started.elapsed();

    let context = format!("{total} calls, batch {batch}, 100rel {reliable}, seed 1");
    assert_eq!(
        outcome.terminated.get(),
        total,
        "every call terminated at alice ({context})"
    );
    assert_eq!(
        outcome.not_local_bye.get(),
        0,
        "every call ended by alice's BYE ({context})"
    );
    assert_eq!(
        outcome.errors.get() + bob_errors.get(),
        0,
        "no command refused ({context})"
    );
    for node in [alice, bob] {
        let endpoint = net.endpoint(node);
        assert_eq!(endpoint.call_count(), 0, "no call left ({context})");
        assert_eq!(endpoint.dialog_count(), 0, "no dialog left ({context})");
        assert_eq!(endpoint.transaction_count(), 0, "no transaction left ({context})");
        assert_eq!(endpoint.stats().retransmitted, 0, "no retransmission ({context})");
    }
    let messages = net.endpoint(alice).stats().sent + net.endpoint(bob).stats().sent;
    Throughput {
        calls_per_second: total as f64 / elapsed.as_secs_f64(),
        messages_per_call: messages as f64 / total as f64,
    }
}

/// In a fresh process: `count` calls set up to Connected on both sides, 1000 at a time, then
/// 40 s of virtual time so every INVITE transaction (Timer L/M, 64·T1 = 32 s) has gone.
/// `settle` also lets 40 s pass after each 1000, so their transactions are gone (and their
/// memory free for the next ones) before the next 1000 start: the growth is then the calls'
/// alone. Prints table rows.
fn memory(count: u64, settle: bool) {
    let (mut net, alice, bob) = network(false);
    let connected = Rc::new(Cell::new(0u64));
    let seen = connected.clone();
    net.set_handler(alice, move |_, event, _| {
        if let Event::Call {
            event: CallEvent::Answered { .. },
            ..
        } = event
        {
            seen.set(seen.get() + 1);
        }
    });
    let bob_errors = Rc::new(Cell::new(0));
    let bob_connected = Rc::new(Cell::new(0u64));
    {
        let errors = bob_errors.clone();
        let connected = bob_connected.clone();
        // Bob builds each answer as its call comes in, so it is counted like alice's offers.
        let mut answers = 0;
        net.set_handler(bob, move |endpoint, event, now| match event {
            Event::Call {
                call,
                event: CallEvent::Incoming { .. },
            } => {
                if endpoint.ringing(now, call).is_err()
                    || endpoint.answer(now, call, answer(answers), None).is_err()
                {
                    errors.set(errors.get() + 1);
                }
                answers += 1;
            }
            // The ACK arrived: bob's side is Connected.
            Event::Call {
                event: CallEvent::Answered { .. },
                ..
            } => connected.set(connected.get() + 1),
            _ => {}
        });
    }
    let target = Uri::parse(BOB_URI).unwrap();
    let transactions =
        |net: &mut Network| net.endpoint(alice).transaction_count() + net.endpoint(bob).transaction_count();
    let before = resident_bytes();
    let mut n = 0;
    while n < count {
        let now = net.now();
        for _ in 0..1000.min(count - n) {
            net.endpoint(alice)
                .invite(now, target.clone(), offer(n), None)
                .unwrap();
            n += 1;
        }
        net.pump(alice);
        // INVITE, 100, 180, 200, ACK: four link latencies (10 ms), well before any timer.
        net.run_for(if settle {
            Duration::from_secs(40)
        } else {
            Duration::from_millis(100)
        });
    }
    let after_setup = resident_bytes();
    let transactions_at_setup = transactions(&mut net);
    net.run_for(Duration::from_secs(40));
    let after = resident_bytes();

    let context = format!("{count} calls, settle {settle}, seed 1");
    assert_eq!(connected.get(), count, "every call answered at alice ({context})");
    assert_eq!(bob_connected.get(), count, "every call ACKed at bob ({context})");
    assert_eq!(bob_errors.get(), 0, "no command refused ({context})");
    for node in [alice, bob] {
        let endpoint = net.endpoint(node);
        assert_eq!(
            endpoint.call_count() as u64,
            count,
            "every call alive ({context})"
        );
        assert_eq!(
            endpoint.dialog_count() as u64,
            count,
            "one dialog per call ({context})"
        );
        assert_eq!(endpoint.transaction_count(), 0, "no transaction left ({context})");
        assert_eq!(endpoint.stats().retransmitted, 0, "no retransmission ({context})");
    }
    let row = |what: &str, transactions: usize, growth: isize| {
        let growth = growth as f64;
        let calls = count as f64;
        println!(
            "| {what} | {count} | {transactions} | {:.1} MB | {:.0} | {:.0} |",
            growth / 1e6,
            growth / calls,
            growth / calls / 2.0
        );
    };
    if settle {
        row(
            "1000 at a time, each 1000's transactions gone before the next (calls alone)",
            transactions(&mut net),
            after - before,
        );
    } else {
        row(
            "1000 at a time, 100 ms (virtual) apart: right after setup",
            transactions_at_setup,
            after_setup - before,
        );
        row(
            "the same, 40 s later (RSS keeps the peak: freed memory is not returned)",
            transactions(&mut net),
            after - before,
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // The memory figure is measured in a fresh process, so memory freed by earlier work
    // cannot hide the growth.
    if let Some(count) = args
        .iter()
        .position(|a| a == "--memory")
        .and_then(|i| args.get(i + 1))
    {
        memory(count.parse().unwrap(), args.iter().any(|a| a == "--settle"));
        return;
    }
    let quick = std::env::var_os("CALLS_BENCH_QUICK").is_some_and(|v| v != "0");
    // `cargo test --benches` runs this too: keep that quick.
    let bench_mode = args.iter().any(|a| a == "--bench") && !quick;
    let (total, single, runs, concurrent): (u64, u64, usize, Option<u64>) = if bench_mode {
        (200_000, 20_000, 3, Some(100_000))
    } else {
        (2_000, 200, 1, None)
    };
    println!();
    println!(
        "Complete calls through the simulator (2 Endpoints, one core, parse + serialize both sides, \
         ~{} B SDP offer, ~{} B answer; timers J/K/L/M run out):",
        offer(0).len(),
        answer(0).len()
    );
    println!();
    println!("| flow | calls | in flight | calls/s (best of {runs}) | messages/call | messages/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (flow, reliable, total, batch) in [
        ("INVITE/100/180/200/ACK/BYE/200", false, total, 1000),
        ("INVITE/100/180/200/ACK/BYE/200", false, single * 2, 100),
        ("INVITE/100/180/200/ACK/BYE/200", false, single, 1),
        ("same, 180 sent reliably (+PRACK/200)", true, total, 1000),
    ] {
        let best = (0..runs)
            .map(|_| calls_per_second(total, batch, reliable))
            .max_by(|a, b| a.calls_per_second.total_cmp(&b.calls_per_second))
            .unwrap();
        println!(
            "| {flow} | {total} | {batch} | {:.0} | {:.0} | {:.0} |",
            best.calls_per_second,
            best.messages_per_call,
            best.calls_per_second * best.messages_per_call
        );
    }
    let Some(count) = concurrent else {
        return;
    };
    println!();
    println!(
        "Memory of concurrent connected calls (fresh process each, growth of resident memory, \
         both Endpoints together; \"per side\" is half of it):"
    );
    println!();
    println!(
        "| setup | connected calls | transactions alive | RSS growth | bytes/call | bytes/call per side |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let exe = std::env::current_exe().unwrap();
    for settle in [false, true] {
        let mut command = std::process::Command::new(&exe);
        command.args(["--memory", &count.to_string()]);
        if settle {
            command.arg("--settle");
        }
        let output = command.output().unwrap();
        print!("{}", String::from_utf8_lossy(&output.stdout));
        if !output.status.success() {
            eprint!("{}", String::from_utf8_lossy(&output.stderr));
        }
    }
}
