//! Parse / typed-access / serialize benchmark for `sip-core`, with `rsip` 0.4 and
//! `rsipstack` 0.7's own `sip` parser as peers.
//!
//! Inputs are the three shared benchmark messages in `shared/testdata/bench/`
//! (`invite.sip`, `ok200.sip`, `register.sip`), read at run time from beside the
//! checkout. Every peer gets the same bytes. Figures are ns per message.
//!
//! Criterion groups, one benchmark per file and implementation:
//!
//! * `raw` — parse only. `sip_core::message::Message::parse` is handed a clone of one
//!   pre-built `Bytes` (a refcount bump, the realistic zero-copy input) and leaves header
//!   values raw. The peers parse the same bytes as `&[u8]` with `SipMessage::try_from`,
//!   which splits the headers into their (untyped, `String`-backed) header enums.
//! * `typed` — parse, then read the headers a transaction/dialog layer needs: every Via,
//!   From, To, CSeq, Call-ID and every Contact. sip-core: `vias()`, `from_addr()`,
//!   `to_addr()`, `cseq()`, `call_id()`, `contacts()`. rsip: each `Header::Via` and
//!   `from_header()` / `to_header()` / `cseq_header()` / `contact_headers()` through
//!   `ToTypedHeader::typed()`, and `call_id_header().value()` (rsip has no typed
//!   Call-ID). rsipstack: the same, except Contacts via `typed_contact_headers()`, which
//!   (like sip-core's `contacts()`) also splits comma-joined values. rsip 0.4 rejects a
//!   Contact with a quoted parameter value (invite.sip's `+sip.instance="<urn:…>"`); that
//!   failed attempt is still timed, and the tables say so in a note.
//! * `serialize` — write a pre-parsed message back to bytes: sip-core `to_bytes()`,
//!   rsip `to_string()` (its only serializer), rsipstack `to_bytes()`.
//!
//! After the criterion run the bench measures the same closures again with a plain
//! timed loop, all cases interleaved over 9 rounds of ~30 ms runs, best run each, and
//! prints markdown tables of absolute times and of the ratios ours/peer (< 1 means
//! sip-core is faster).
//!
//! Run:
//!
//! ```text
//! cargo bench -p sip-tests --bench parse                      # criterion + tables
//! cargo bench -p sip-tests --bench parse -- typed             # criterion filter, + tables
//! PARSE_BENCH_QUICK=1 cargo bench -p sip-tests --bench parse  # tables only (~15 s)
//! ```
//!
//! Under `cargo test --benches` (no `--bench` argument) criterion runs every benchmark
//! once as a smoke test and the tables are skipped.
//!
//! Results are black-boxed with `std::hint::black_box`: criterion 0.5's own `black_box`
//! (without its nightly-only `real_blackbox` feature) is a volatile copy of the whole
//! value, which would charge each implementation for the size of its message struct.

// Benchmark code over known-good, checked-in inputs: a panic here is a broken input file
// or a parser regression, and should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion};
use sip_core::message::Message;

/// Directory holding the shared benchmark messages.
const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/bench/");

/// The benchmark messages, by file name.
const FILES: [&str; 3] = ["invite.sip", "ok200.sip", "register.sip"];

/// One input message, read once.
struct Input {
    name: &'static str,
    bytes: Bytes,
}

fn load_inputs() -> Vec<Input> {
    FILES
        .iter()
        .map(|name| {
            let path = format!("{DATA_DIR}{name}");
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
            Input {
                name,
                bytes: Bytes::from(data),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// sip-core
// ---------------------------------------------------------------------------------------

fn ours_raw(bytes: &Bytes) -> Message {
    Message::parse(bytes.clone()).unwrap()
}

/// Parse and read every typed header the typed group covers; returns how many Via and
/// Contact values were seen (used by the up-front sanity check).
fn ours_typed(bytes: &Bytes) -> (usize, usize) {
    let msg = Message::parse(bytes.clone()).unwrap();
    let h = msg.headers();
    let mut vias = 0;
    for via in h.vias() {
        black_box(via.unwrap());
        vias += 1;
    }
    black_box(h.from_addr().unwrap().unwrap());
    black_box(h.to_addr().unwrap().unwrap());
    black_box(h.cseq().unwrap().unwrap());
    black_box(h.call_id().unwrap().unwrap());
    let mut contacts = 0;
    for contact in h.contacts() {
        black_box(contact.unwrap());
        contacts += 1;
    }
    black_box(&msg);
    (vias, contacts)
}

// ---------------------------------------------------------------------------------------
// rsip 0.4
// ---------------------------------------------------------------------------------------

fn rsip_raw(bytes: &[u8]) -> rsip::SipMessage {
    rsip::SipMessage::try_from(bytes).unwrap()
}

fn rsip_typed(bytes: &[u8]) -> (usize, usize) {
    use rsip::prelude::*;

    let msg = rsip::SipMessage::try_from(bytes).unwrap();
    let mut vias = 0;
    for header in msg.headers().iter() {
        if let rsip::Header::Via(via) = header {
            black_box(via.typed().unwrap());
            vias += 1;
        }
    }
    black_box(msg.from_header().unwrap().typed().unwrap());
    black_box(msg.to_header().unwrap().typed().unwrap());
    black_box(msg.cseq_header().unwrap().typed().unwrap());
    black_box(msg.call_id_header().unwrap().value());
    // rsip 0.4 rejects some valid Contacts (e.g. the quoted `+sip.instance="<urn:…>"`
    // parameter in invite.sip), so count successes instead of unwrapping: the failed
    // attempt is still timed. `sanity_check` reports any shortfall.
    let mut contacts = 0;
    for contact in msg.contact_headers() {
        contacts += usize::from(black_box(contact.typed()).is_ok());
    }
    black_box(&msg);
    (vias, contacts)
}

// ---------------------------------------------------------------------------------------
// rsipstack 0.7 (its own `sip` module)
// ---------------------------------------------------------------------------------------

fn rsipstack_raw(bytes: &[u8]) -> rsipstack::sip::SipMessage {
    rsipstack::sip::SipMessage::try_from(bytes).unwrap()
}

fn rsipstack_typed(bytes: &[u8]) -> (usize, usize) {
    use rsipstack::sip::prelude::*;

    let msg = rsipstack::sip::SipMessage::try_from(bytes).unwrap();
    let mut vias = 0;
    for header in msg.headers().iter() {
        if let rsipstack::sip::Header::Via(via) = header {
            black_box(via.typed().unwrap());
            vias += 1;
        }
    }
    black_box(msg.from_header().unwrap().typed().unwrap());
    black_box(msg.to_header().unwrap().typed().unwrap());
    black_box(msg.cseq_header().unwrap().typed().unwrap());
    black_box(msg.call_id_header().unwrap().value());
    let contacts = msg.typed_contact_headers().unwrap();
    let n_contacts = contacts.len();
    black_box(contacts);
    black_box(&msg);
    (vias, n_contacts)
}

// ---------------------------------------------------------------------------------------
// Sanity check: every implementation parses every input and sees the same headers
// (rsip's Contact shortfall aside, reported as a note).
// ---------------------------------------------------------------------------------------

/// Panics if sip-core or rsipstack disagree on what the inputs hold; returns notes on
/// what rsip could not type (printed with the tables, since its typed figure then times a
/// failed parse).
fn sanity_check(inputs: &[Input]) -> Vec<String> {
    use rsip::prelude::*;

    let mut notes = Vec::new();
    for input in inputs {
        let ours = ours_typed(&input.bytes);
        let rsipstack = rsipstack_typed(&input.bytes);
        let rsip = rsip_typed(&input.bytes);
        assert!(ours.0 >= 1 && ours.1 >= 1, "{}: no Via/Contact", input.name);
        assert_eq!(
            ours, rsipstack,
            "{}: (vias, contacts) ours vs rsipstack",
            input.name
        );
        assert_eq!(ours.0, rsip.0, "{}: Via count ours vs rsip", input.name);
        if rsip.1 != ours.1 {
            let msg = rsip_raw(&input.bytes);
            for contact in msg.contact_headers() {
                if let Err(e) = contact.typed() {
                    notes.push(format!(
                        "{}: rsip 0.4 fails to type `Contact: {}` ({e}); its typed time includes \
                         that failed attempt.",
                        input.name,
                        contact.value(),
                    ));
                }
            }
        }

        // Bodies and round trips agree too.
        let msg = ours_raw(&input.bytes);
        assert_eq!(msg.to_bytes(), input.bytes, "{}: sip-core round trip", input.name);
        let body_len = msg.body().len();
        let stack_body = match rsipstack_raw(&input.bytes) {
            rsipstack::sip::SipMessage::Request(r) => r.body.len(),
            rsipstack::sip::SipMessage::Response(r) => r.body.len(),
        };
        assert_eq!(body_len, stack_body, "{}: body length vs rsipstack", input.name);
        let rsip_body = match rsip_raw(&input.bytes) {
            rsip::SipMessage::Request(r) => r.body.len(),
            rsip::SipMessage::Response(r) => r.body.len(),
        };
        assert_eq!(body_len, rsip_body, "{}: body length vs rsip", input.name);
    }
    notes
}

// ---------------------------------------------------------------------------------------
// Criterion groups
// ---------------------------------------------------------------------------------------

fn bench_raw(c: &mut Criterion, inputs: &[Input]) {
    let mut group = c.benchmark_group("raw");
    for input in inputs {
        let bytes = &input.bytes;
        group.bench_with_input(BenchmarkId::new("sip-core", input.name), bytes, |b, bytes| {
            b.iter(|| {
                black_box(ours_raw(black_box(bytes)));
            });
        });
        group.bench_with_input(BenchmarkId::new("rsipstack", input.name), bytes, |b, bytes| {
            b.iter(|| {
                black_box(rsipstack_raw(black_box(bytes)));
            });
        });
        group.bench_with_input(BenchmarkId::new("rsip", input.name), bytes, |b, bytes| {
            b.iter(|| {
                black_box(rsip_raw(black_box(bytes)));
            });
        });
    }
    group.finish();
}

fn bench_typed(c: &mut Criterion, inputs: &[Input]) {
    let mut group = c.benchmark_group("typed");
    for input in inputs {
        let bytes = &input.bytes;
        group.bench_with_input(BenchmarkId::new("sip-core", input.name), bytes, |b, bytes| {
            b.iter(|| {
                black_box(ours_typed(black_box(bytes)));
            });
        });
        group.bench_with_input(BenchmarkId::new("rsipstack", input.name), bytes, |b, bytes| {
            b.iter(|| {
                black_box(rsipstack_typed(black_box(bytes)));
            });
        });
        group.bench_with_input(BenchmarkId::new("rsip", input.name), bytes, |b, bytes| {
            b.iter(|| {
                black_box(rsip_typed(black_box(bytes)));
            });
        });
    }
    group.finish();
}

fn bench_serialize(c: &mut Criterion, inputs: &[Input]) {
    let mut group = c.benchmark_group("serialize");
    for input in inputs {
        let ours = ours_raw(&input.bytes);
        group.bench_with_input(BenchmarkId::new("sip-core", input.name), &ours, |b, msg| {
            b.iter(|| {
                black_box(black_box(msg).to_bytes());
            });
        });
        let stack = rsipstack_raw(&input.bytes);
        group.bench_with_input(BenchmarkId::new("rsipstack", input.name), &stack, |b, msg| {
            b.iter(|| {
                black_box(black_box(msg).to_bytes());
            });
        });
        let rsip = rsip_raw(&input.bytes);
        group.bench_with_input(BenchmarkId::new("rsip", input.name), &rsip, |b, msg| {
            b.iter(|| {
                black_box(black_box(msg).to_string());
            });
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------
// Ratio tables: plain timed loops, interleaved, best of many.
// ---------------------------------------------------------------------------------------

/// Rounds of the interleaved measurement. Every case runs once per round, so a burst of
/// load from another tenant of this shared machine hits all cases alike, and the minimum
/// over the rounds is each case's undisturbed time.
const ROUNDS: usize = 9;

/// One timed case: the closure, how many calls make one ~30 ms run, the best ns/call.
struct Case<'a> {
    f: Box<dyn FnMut() + 'a>,
    iters: u64,
    best: f64,
}

impl<'a> Case<'a> {
    fn new(mut f: impl FnMut() + 'a) -> Self {
        const CALIBRATE: Duration = Duration::from_millis(10);
        const TARGET_NS: f64 = 30_000_000.0;
        let start = Instant::now();
        let mut calls: u64 = 0;
        while start.elapsed() < CALIBRATE {
            f();
            calls += 1;
        }
        let per_call = start.elapsed().as_nanos() as f64 / calls as f64;
        Case {
            f: Box::new(f),
            iters: ((TARGET_NS / per_call) as u64).clamp(500, 100_000),
            best: f64::INFINITY,
        }
    }

    fn run(&mut self) {
        let start = Instant::now();
        for _ in 0..self.iters {
            (self.f)();
        }
        self.best = self
            .best
            .min(start.elapsed().as_nanos() as f64 / self.iters as f64);
    }
}

/// One file's timings, ns/message.
struct Row {
    name: &'static str,
    ours_raw: f64,
    ours_typed: f64,
    ours_ser: f64,
    stack_raw: f64,
    stack_typed: f64,
    stack_ser: f64,
    rsip_raw: f64,
    rsip_typed: f64,
    rsip_ser: f64,
}

fn measure(input: &Input) -> Row {
    let bytes = &input.bytes;
    let ours_msg = ours_raw(bytes);
    let stack_msg = rsipstack_raw(bytes);
    let rsip_msg = rsip_raw(bytes);
    let mut cases = vec![
        Case::new(|| {
            black_box(ours_raw(black_box(bytes)));
        }),
        Case::new(|| {
            black_box(ours_typed(black_box(bytes)));
        }),
        Case::new(|| {
            black_box(black_box(&ours_msg).to_bytes());
        }),
        Case::new(|| {
            black_box(rsipstack_raw(black_box(bytes)));
        }),
        Case::new(|| {
            black_box(rsipstack_typed(black_box(bytes)));
        }),
        Case::new(|| {
            black_box(black_box(&stack_msg).to_bytes());
        }),
        Case::new(|| {
            black_box(rsip_raw(black_box(bytes)));
        }),
        Case::new(|| {
            black_box(rsip_typed(black_box(bytes)));
        }),
        Case::new(|| {
            black_box(black_box(&rsip_msg).to_string());
        }),
    ];
    for _ in 0..ROUNDS {
        for case in &mut cases {
            case.run();
        }
    }
    let best: Vec<f64> = cases.iter().map(|c| c.best).collect();
    Row {
        name: input.name,
        ours_raw: best[0],
        ours_typed: best[1],
        ours_ser: best[2],
        stack_raw: best[3],
        stack_typed: best[4],
        stack_ser: best[5],
        rsip_raw: best[6],
        rsip_typed: best[7],
        rsip_ser: best[8],
    }
}

fn print_tables(inputs: &[Input], notes: &[String]) {
    let rows: Vec<Row> = inputs.iter().map(measure).collect();

    println!();
    println!(
        "Best of {ROUNDS} interleaved timed runs, ns/message; ratio = ours / peer (< 1: sip-core faster)."
    );
    println!();
    println!("Typed (parse + Via*, From, To, CSeq, Call-ID, Contact*):");
    println!();
    println!("| file | ours raw | ours typed | rsipstack typed | rsip typed | ours/rsipstack | ours/rsip |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} |",
            r.name,
            r.ours_raw,
            r.ours_typed,
            r.stack_typed,
            r.rsip_typed,
            r.ours_typed / r.stack_typed,
            r.ours_typed / r.rsip_typed,
        );
    }
    println!();
    println!("Raw (parse only):");
    println!();
    println!("| file | ours raw | rsipstack raw | rsip raw | ours/rsipstack | ours/rsip |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} |",
            r.name,
            r.ours_raw,
            r.stack_raw,
            r.rsip_raw,
            r.ours_raw / r.stack_raw,
            r.ours_raw / r.rsip_raw,
        );
    }
    println!();
    println!("Serialize (pre-parsed message to bytes):");
    println!();
    println!("| file | ours | rsipstack | rsip | ours/rsipstack | ours/rsip |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} |",
            r.name,
            r.ours_ser,
            r.stack_ser,
            r.rsip_ser,
            r.ours_ser / r.stack_ser,
            r.ours_ser / r.rsip_ser,
        );
    }
    if !notes.is_empty() {
        println!();
        println!("Notes:");
        for note in notes {
            println!("- {note}");
        }
    }
}

fn main() {
    let inputs = load_inputs();
    let notes = sanity_check(&inputs);

    let quick = std::env::var("PARSE_BENCH_QUICK").is_ok_and(|v| v == "1");
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and criterion then
    // runs each benchmark once as a smoke test. Skip the (timed) tables in that case.
    let bench_mode = std::env::args().any(|a| a == "--bench");

    if !quick {
        let mut c = Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
            .sample_size(50)
            .configure_from_args();
        bench_raw(&mut c, &inputs);
        bench_typed(&mut c, &inputs);
        bench_serialize(&mut c, &inputs);
        c.final_summary();
    }

    if quick || bench_mode {
        print_tables(&inputs, &notes);
    }
}
