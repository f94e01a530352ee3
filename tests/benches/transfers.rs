//! Transfer figures, printed as tables (`cargo bench --bench transfers`):
//!
//! - blind transfers per second between three Endpoints in the simulator, one core: alice
//!   (the transferor) calls bob (the transferee), who rings and answers; once answered,
//!   alice `refer`s bob to carol (the target); bob takes the REFER with
//!   `accept_refer_and_call`, so his Endpoint answers 202, notifies `100 Trying` and calls
//!   carol, who rings and answers, and reports the call's progress to alice (180, then 200
//!   in the final NOTIFY, which ends the subscription). On that final 2xx alice's Endpoint
//!   hangs up her call with bob (BYE, `end_call_after_transfer`), and when the BYE reaches bob he hangs up his call with carol. A
//!   transfer is complete when no call or subscription is left at any of the three. Every
//!   message is serialized and parsed on both sides (ladder and event recording off), each
//!   SDP body is ~300 bytes, and the lingering transactions' timers are run out too, so the
//!   figure covers all the work a transfer costs. Plain calls (alice calls bob, who rings
//!   and answers, and alice hangs up at once) go through the same network in the same run,
//!   for comparison;
//! - resident memory of 10 k concurrent connected calls between alice and bob, measured in
//!   a fresh process as the growth of RSS (the workspace forbids `unsafe`, so no counting
//!   allocator): first the calls alone, then with each call's REFER subscription active —
//!   alice referred bob, bob took it with `accept_refer` (202, `100 Trying` NOTIFY) and sends
//!   no final NOTIFY. Both are taken once every transaction is gone: the calls, then the
//!   REFERs, go 1/40 at a time, each lot's transactions ending before the next starts (the
//!   peak RSS keeps holds at most one lot's transactions). For that to fit in the
//!   180 s a REFER subscription lasts, T1 is 50 ms and T4 1 s there (64·T1 = 3.2 s), which
//!   changes no per-call state. RSS cannot tell two Endpoints of one process apart, so,
//!   as for calls, "per side" is half the growth: for the subscription, the mean of alice's
//!   end (the subscriber) and bob's (the notifier).
//!
//! `TRANSFERS_BENCH_QUICK=1` runs a few thousand transfers once and skips the memory figure
//! (for profiling). Wall-clock timing is fine here (a benchmark, not the core); this
//! machine is shared, so take the best of a few runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::call::{CallEvent, CallId, EndReason};
use sip_core::endpoint::{EndpointConfig, Event};
use sip_core::message::Uri;
use sip_core::sdp::SessionDescription;
use sip_core::sim::{Network, NodeId};
use sip_core::subscription::SubscriptionEvent;

const ALICE: &str = "192.0.2.1:5060";
const BOB: &str = "192.0.2.2:5060";
const CAROL: &str = "192.0.2.3:5060";
const BOB_URI: &str = "sip:bob@192.0.2.2:5060";
const CAROL_URI: &str = "sip:carol@192.0.2.3:5060";

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

/// Alice's offer to bob in transfer (or call) `n`.
fn alice_offer(n: u64) -> Bytes {
    body("alice", "192.0.2.1", 1_000_000_000, 20_000, n)
}

/// Bob's answer to alice.
fn bob_answer(n: u64) -> Bytes {
    body("bob", "192.0.2.2", 2_000_000_000, 30_000, n)
}

/// Bob's offer to carol.
fn bob_offer(n: u64) -> Bytes {
    body("bob", "192.0.2.2", 3_000_000_000, 40_000, n)
}

/// Carol's answer to bob.
fn carol_answer(n: u64) -> Bytes {
    body("carol", "192.0.2.3", 4_000_000_000, 50_000, n)
}

/// `user`'s SDP at `address` for transfer `n`: a session id counted from `session`, and a
/// port from `port` on, so that each of a party's sessions has its own.
fn body(user: &str, address: &str, session: u64, port: u16, n: u64) -> Bytes {
    sdp(
        user,
        session + n,
        address.parse().unwrap(),
        port + (n % 5000) as u16 * 2,
    )
}

/// The network of the three and their nodes.
struct Parties {
    net: Network,
    alice: NodeId,
    bob: NodeId,
    carol: NodeId,
}

/// Alice, bob (who takes REFER) and carol, every one configured by `configure` too and with
/// room for the benchmark's concurrent calls, subscriptions and transactions, past the
/// default limits. A call is the plain INVITE/100/180/200/ACK (no 100rel).
fn parties(configure: impl Fn(&mut EndpointConfig)) -> Parties {
    let mut net = Network::new(1);
    net.record_ladder = false;
    net.record_events = false;
    let room = |config: &mut EndpointConfig| {
        config.calls.reliable_provisionals = false;
        config.limits.max_calls = 1_000_000;
        config.limits.max_calls_per_source = 1_000_000;
        config.limits.max_subscriptions = 1_000_000;
        config.limits.max_transactions = 10_000_000;
        configure(config);
    };
    let alice = net.add_node_configured("alice", ALICE.parse().unwrap(), room);
    let bob = net.add_node_configured("bob", BOB.parse().unwrap(), |config| {
        room(config);
        config.subscriptions.accept_refer = true;
    });
    let carol = net.add_node_configured("carol", CAROL.parse().unwrap(), room);
    Parties {
        net,
        alice,
        bob,
        carol,
    }
}

#[derive(Default)]
struct Outcome {
    /// Final 2xx transfer statuses alice heard.
    transferred: Cell<u64>,
    /// Calls ended by our BYE, at any of the three.
    local_byes: Cell<u64>,
    /// Calls ended by the peer's BYE, at any of the three.
    remote_byes: Cell<u64>,
    /// Refused commands, failed transfers, calls ended otherwise.
    errors: Cell<u64>,
}

impl Outcome {
    fn error(&self) {
        self.errors.set(self.errors.get() + 1);
    }

    fn ended(&self, reason: &EndReason) {
        let count = match reason {
            // Transferred: alice's BYE once the transfer succeeded.
            EndReason::LocalBye | EndReason::Transferred => &self.local_byes,
            EndReason::RemoteBye => &self.remote_byes,
            _ => &self.errors,
        };
        count.set(count.get() + 1);
    }
}

struct Throughput {
    per_second: f64,
    messages_each: f64,
}

/// `total` blind transfers (`transfer`) or plain calls, `batch` started at a time; each
/// batch is run until idle (every transaction, call and subscription timer has fired or
/// been cancelled) before the next starts.
fn per_second(transfer: bool, total: u64, batch: u64) -> Throughput {
    let Parties {
        mut net,
        alice,
        bob,
        carol,
    } = parties(|_| {});
    let outcome = Rc::new(Outcome::default());
    // Prebuild the bodies so the figure is the stack's, not the SDP builder's.
    let offers: Vec<Bytes> = (0..total).map(alice_offer).collect();
    let bob_answers: Vec<Bytes> = (0..total).map(bob_answer).collect();
    let bob_offers: Vec<Bytes> = (0..total).map(bob_offer).collect();
    let carol_answers: Vec<Bytes> = (0..total).map(carol_answer).collect();
    let carol_uri = Uri::parse(CAROL_URI).unwrap();

    // Alice: refers bob to carol once he answers (her Endpoint hangs up when the transfer
    // succeeds); for a plain call, hangs up as soon as bob answers.
    let seen = outcome.clone();
    let mut referring = HashMap::new();
    net.set_handler(alice, move |endpoint, event, now| match event {
        Event::Call {
            call,
            event: CallEvent::Answered { .. },
        } => {
            if !transfer {
                if endpoint.bye(now, call).is_err() {
                    seen.error();
                }
                return;
            }
            match endpoint.refer(now, call, &carol_uri) {
                Ok(subscription) => {
                    referring.insert(subscription, call);
                }
                Err(_) => seen.error(),
            }
        }
        Event::Call {
            event: CallEvent::Terminated { reason, .. },
            ..
        } => seen.ended(&reason),
        Event::Subscription {
            subscription,
            event: SubscriptionEvent::Transfer { status },
        } if status.is_final() => {
            let Some(call) = referring.remove(&subscription) else {
                return seen.error();
            };
            // A success ends the call by itself (`end_call_after_transfer`, on by
            // default); after a failure it would be alice's to end.
            if status.is_success() {
                seen.transferred.set(seen.transferred.get() + 1);
            } else {
                seen.error();
                if endpoint.bye(now, call).is_err() {
                    seen.error();
                }
            }
        }
        _ => {}
    });

    // Bob: rings and answers alice's calls; carries every REFER out himself; when alice's
    // BYE ends a call whose REFER he carried out, hangs up the call it made.
    let seen = outcome.clone();
    let mut answers = bob_answers.into_iter();
    let mut offers_to_carol = bob_offers.into_iter();
    // Alice's calls by Call-ID, until their REFER comes; then the call each REFER made.
    let mut by_call_id: HashMap<String, CallId> = HashMap::new();
    let mut made: HashMap<CallId, CallId> = HashMap::new();
    net.set_handler(bob, move |endpoint, event, now| match event {
        Event::Call {
            call,
            event: CallEvent::Incoming { request, .. },
        } => {
            if transfer {
                let call_id = request.headers.call_id().unwrap().unwrap();
                by_call_id.insert(call_id.to_owned(), call);
            }
            let body = answers.next().unwrap_or_default();
            if endpoint.ringing(now, call).is_err() || endpoint.answer(now, call, body, None).is_err() {
                seen.error();
            }
        }
        Event::Subscription {
            subscription,
            event: SubscriptionEvent::Refer { request, .. },
        } => {
            let call_id = request.headers.call_id().unwrap().unwrap();
            let Some(referred_in) = by_call_id.remove(call_id) else {
                return seen.error();
            };
            let body = offers_to_carol.next().unwrap_or_default();
            match endpoint.accept_refer_and_call(now, subscription, body) {
                Ok(call) => {
                    made.insert(referred_in, call);
                }
                Err(_) => seen.error(),
            }
        }
        Event::Call {
            call,
            event: CallEvent::Terminated { reason, .. },
        } => {
            seen.ended(&reason);
            if let Some(to_carol) = made.remove(&call)
                && endpoint.bye(now, to_carol).is_err()
            {
                seen.error();
            }
        }
        _ => {}
    });

    // Carol: rings and answers.
    let seen = outcome.clone();
    let mut answers = carol_answers.into_iter();
    net.set_handler(carol, move |endpoint, event, now| match event {
        Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } => {
            let body = answers.next().unwrap_or_default();
            if endpoint.ringing(now, call).is_err() || endpoint.answer(now, call, body, None).is_err() {
                seen.error();
            }
        }
        Event::Call {
            event: CallEvent::Terminated { reason, .. },
            ..
        } => seen.ended(&reason),
        _ => {}
    });

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

    let what = if transfer { "transfers" } else { "calls" };
    let context = format!("{total} {what}, batch {batch}, seed 1");
    // A transfer is two calls, each ended by one side's BYE; a plain call is one.
    let calls = if transfer { 2 * total } else { total };
    assert_eq!(
        outcome.errors.get(),
        0,
        "no command refused, no failure ({context})"
    );
    assert_eq!(
        outcome.transferred.get(),
        if transfer { total } else { 0 },
        "every transfer succeeded ({context})"
    );
    assert_eq!(
        outcome.local_byes.get(),
        calls,
        "every call ended by a BYE ({context})"
    );
    assert_eq!(outcome.remote_byes.get(), calls, "every BYE heard ({context})");
    let mut messages = 0;
    for node in [alice, bob, carol] {
        let endpoint = net.endpoint(node);
        assert_eq!(endpoint.call_count(), 0, "no call left ({context})");
        assert_eq!(
            endpoint.subscription_count(),
            0,
            "no subscription left ({context})"
        );
        assert_eq!(endpoint.dialog_count(), 0, "no dialog left ({context})");
        assert_eq!(endpoint.transaction_count(), 0, "no transaction left ({context})");
        assert_eq!(endpoint.stats().retransmitted, 0, "no retransmission ({context})");
        messages += endpoint.stats().sent;
    }
    if transfer {
        assert_eq!(net.endpoint(alice).stats().transfers_succeeded, total);
    }
    Throughput {
        per_second: total as f64 / elapsed.as_secs_f64(),
        messages_each: messages as f64 / total as f64,
    }
}

/// In a fresh process: `count` calls from alice to bob set up to Connected on both sides,
/// then alice refers bob (to carol) in each, and bob accepts with `accept_refer` and nothing
/// more, so the subscription stays active. Both go 1/40 of `count` at a time, each lot run
/// until its transactions are gone; RSS is read before, after the calls and after the
/// REFERs. Prints table rows.
fn memory(count: u64) {
    const LOTS: u64 = 40;
    // 64·T1 = 3.2 s (Timers J, L, M) and T4 = 1 s (Timer K): every transaction of a lot is
    // gone after SETTLE, and 40 lots of REFERs fit in the 180 s their subscriptions last.
    const SETTLE: Duration = Duration::from_secs(4);
    let Parties {
        mut net, alice, bob, ..
    } = parties(|config| {
        config.timers.t1 = Duration::from_millis(50);
        config.timers.t4 = Duration::from_secs(1);
    });
    let lot_size = count.div_ceil(LOTS) as usize;

    let connected = Rc::new(Cell::new(0u64));
    let trying = Rc::new(Cell::new(0u64));
    {
        let (connected, trying) = (connected.clone(), trying.clone());
        net.set_handler(alice, move |_, event, _| match event {
            Event::Call {
                event: CallEvent::Answered { .. },
                ..
            } => connected.set(connected.get() + 1),
            Event::Subscription {
                event: SubscriptionEvent::Transfer { status },
                ..
            } if status.is_provisional() => trying.set(trying.get() + 1),
            _ => {}
        });
    }
    let bob_errors = Rc::new(Cell::new(0u64));
    let bob_connected = Rc::new(Cell::new(0u64));
    let referred = Rc::new(Cell::new(0u64));
    {
        let (errors, connected, referred) = (bob_errors.clone(), bob_connected.clone(), referred.clone());
        // Bob builds each answer as its call comes in, so it is counted like alice's offers.
        let mut answers = 0;
        net.set_handler(bob, move |endpoint, event, now| match event {
            Event::Call {
                call,
                event: CallEvent::Incoming { .. },
            } => {
                let body = bob_answer(answers);
                if endpoint.ringing(now, call).is_err() || endpoint.answer(now, call, body, None).is_err() {
                    errors.set(errors.get() + 1);
                }
                answers += 1;
            }
            // The ACK arrived: bob's side is Connected.
            Event::Call {
                event: CallEvent::Answered { .. },
                ..
            } => connected.set(connected.get() + 1),
            // 202 and `100 Trying`; the final NOTIFY is never sent.
            Event::Subscription {
                subscription,
                event: SubscriptionEvent::Refer { .. },
            } => {
                if endpoint.accept_refer(now, subscription).is_err() {
                    errors.set(errors.get() + 1);
                }
                referred.set(referred.get() + 1);
            }
            _ => {}
        });
    }
    let target = Uri::parse(BOB_URI).unwrap();
    let carol_uri = Uri::parse(CAROL_URI).unwrap();
    // Resident before the first reading, so the list does not count as the calls' memory.
    let mut calls: Vec<Option<CallId>> = vec![None; count as usize];
    let transactions =
        |net: &mut Network| net.endpoint(alice).transaction_count() + net.endpoint(bob).transaction_count();
    let subscriptions =
        |net: &mut Network| net.endpoint(alice).subscription_count() + net.endpoint(bob).subscription_count();

    let before = resident_bytes();
    for (i, lot) in calls.chunks_mut(lot_size).enumerate() {
        let now = net.now();
        for (j, call) in lot.iter_mut().enumerate() {
            let body = alice_offer((i * lot_size + j) as u64);
            *call = Some(
                net.endpoint(alice)
                    .invite(now, target.clone(), body, None)
                    .unwrap(),
            );
        }
        net.pump(alice);
        net.run_for(SETTLE);
    }
    let after_calls = resident_bytes();
    let calls_alone = (transactions(&mut net), subscriptions(&mut net));

    let refers_started = net.now();
    for lot in calls.chunks(lot_size) {
        let now = net.now();
        for call in lot {
            net.endpoint(alice).refer(now, call.unwrap(), &carol_uri).unwrap();
        }
        net.pump(alice);
        net.run_for(SETTLE);
    }
    let after_refers = resident_bytes();
    let with_refers = (transactions(&mut net), subscriptions(&mut net));

    let context = format!("{count} calls, seed 1");
    assert!(
        net.now() - refers_started < Duration::from_secs(180),
        "the first REFER subscriptions have not expired ({context})"
    );
    assert_eq!(connected.get(), count, "every call answered at alice ({context})");
    assert_eq!(bob_connected.get(), count, "every call ACKed at bob ({context})");
    assert_eq!(referred.get(), count, "every REFER reached bob ({context})");
    assert_eq!(trying.get(), count, "every 100 Trying reached alice ({context})");
    assert_eq!(bob_errors.get(), 0, "no command refused ({context})");
    assert_eq!(calls_alone, (0, 0), "the calls alone, no transaction ({context})");
    assert_eq!(
        with_refers,
        (0, 2 * count as usize),
        "a subscription at each side, no transaction ({context})"
    );
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
        assert_eq!(endpoint.stats().retransmitted, 0, "no retransmission ({context})");
    }
    let row = |what: &str, subscriptions: u64, growth: isize| {
        let growth = growth as f64;
        let calls = count as f64;
        println!(
            "| {what} | {count} | {subscriptions} | {:.1} MB | {:.0} | {:.0} |",
            growth / 1e6,
            growth / calls,
            growth / calls / 2.0
        );
    };
    row("connected call", 0, after_calls - before);
    row(
        "connected call + REFER subscription (202 and `100 Trying` sent, no final NOTIFY)",
        count,
        after_refers - before,
    );
    row(
        "the REFER subscription alone (the difference)",
        count,
        after_refers - after_calls,
    );
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
        memory(count.parse().unwrap());
        return;
    }
    let quick = std::env::var_os("TRANSFERS_BENCH_QUICK").is_some_and(|v| v != "0");
    // `cargo test --benches` runs this too: keep that quick.
    let bench_mode = args.iter().any(|a| a == "--bench") && !quick;
    let (transfers, calls, runs, concurrent): (u64, u64, usize, Option<u64>) = if bench_mode {
        (50_000, 100_000, 3, Some(10_000))
    } else {
        (2_000, 2_000, 1, None)
    };
    let sizes = [alice_offer, bob_answer, bob_offer, carol_answer].map(|body| body(0).len());
    println!();
    println!(
        "Blind transfers and plain calls through the simulator (3 Endpoints, one core, parse + \
         serialize both sides, {}-{} B SDP bodies; every timer run out):",
        sizes.iter().min().unwrap(),
        sizes.iter().max().unwrap(),
    );
    println!();
    println!("| flow | count | in flight | per second (best of {runs}) | messages each | messages/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (flow, transfer, total) in [
        (
            "blind transfer: alice→bob call, REFER/202, NOTIFY 100, bob→carol call, NOTIFY \
             180, NOTIFY 200, BYE alice→bob, BYE bob→carol",
            true,
            transfers,
        ),
        ("plain call: INVITE/100/180/200/ACK/BYE/200", false, calls),
    ] {
        let batch = 1000;
        let best = (0..runs)
            .map(|_| per_second(transfer, total, batch))
            .max_by(|a, b| a.per_second.total_cmp(&b.per_second))
            .unwrap();
        println!(
            "| {flow} | {total} | {batch} | {:.0} | {:.0} | {:.0} |",
            best.per_second,
            best.messages_each,
            best.per_second * best.messages_each
        );
    }
    let Some(count) = concurrent else {
        return;
    };
    println!();
    println!(
        "Memory of concurrent connected calls with and without an active REFER subscription \
         (fresh process, growth of resident memory with no transaction alive, alice and bob \
         together; \"per side\" is half of it):"
    );
    println!();
    println!(
        "| state | connected calls | REFER subscriptions | RSS growth | bytes/call | bytes/call per side |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(&exe)
        .args(["--memory", &count.to_string()])
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&output.stdout));
    if !output.status.success() {
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
    }
}
