//! `sipcheck FILE...` — parses each file as one UDP datagram and prints what an endpoint
//! would do with it:
//!
//! ```text
//! FILE: ok <start line>
//! FILE: reject <status> <reason>     (the response a UAS would send)
//! FILE: drop <reason>                (a response, or non-SIP bytes, to discard)
//! ```
//!
//! `--repeat N` parses each file N more times and prints the mean ns per parse; with
//! `--typed`, each timed parse also reads Via, From, To, CSeq, Call-ID and Contact typed.
//! Exits 0 when every file was read (whatever the verdicts), 1 when a file could not be read,
//! 2 on a usage error.
//!
//! Run: `cargo run --release -p sip-core --example sipcheck -- ../shared/testdata/rfc4475/*.dat`

// A command-line tool timing its own parses, not the core: it may read the clock.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use sip_core::message::Message;
use sip_core::message::validate::{UasPolicy, Verdict, check_datagram};

fn main() -> ExitCode {
    let mut repeat: u64 = 0;
    let mut typed = false;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--repeat" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => repeat = n,
                None => return usage("--repeat needs a number"),
            },
            "--typed" => typed = true,
            "-h" | "--help" => {
                println!("usage: sipcheck [--repeat N [--typed]] FILE...");
                return ExitCode::SUCCESS;
            }
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        return usage("no files given");
    }
    let policy = UasPolicy::default();
    let mut unreadable = false;
    for file in &files {
        let bytes = match std::fs::read(file) {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) => {
                println!("{file}: error cannot read: {e}");
                unreadable = true;
                continue;
            }
        };
        let verdict = match check_datagram(bytes.clone(), &policy) {
            Verdict::Accept(message) => format!("ok {}", printable(&message.start_line())),
            Verdict::Reject(rejection) => {
                format!("reject {} {}", rejection.status, printable(&rejection.reason))
            }
            Verdict::Drop(reason) => format!("drop {}", printable(&reason.0)),
        };
        if repeat > 0 {
            let started = Instant::now();
            for _ in 0..repeat {
                let parsed = Message::parse(std::hint::black_box(bytes.clone()));
                if let (true, Ok(message)) = (typed, &parsed) {
                    read_typed_headers(message);
                }
                std::hint::black_box(parsed.is_ok());
            }
            let ns = started.elapsed().as_nanos() / u128::from(repeat);
            println!("{file}: {verdict} ({ns} ns/message)");
        } else {
            println!("{file}: {verdict}");
        }
    }
    if unreadable {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads the headers every transaction and dialog needs, as a stack does per message.
fn read_typed_headers(message: &Message) {
    let headers = message.headers();
    for via in headers.vias() {
        std::hint::black_box(via.is_ok());
    }
    std::hint::black_box(headers.from_addr().map(|r| r.is_ok()));
    std::hint::black_box(headers.to_addr().map(|r| r.is_ok()));
    std::hint::black_box(headers.cseq().map(|r| r.is_ok()));
    std::hint::black_box(headers.call_id().map(|r| r.is_ok()));
    for contact in headers.contacts() {
        std::hint::black_box(contact.is_ok());
    }
}

/// Escapes control characters so one verdict stays on one line.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(char::escape_debug)
        .collect::<String>()
        .replace("\\'", "'")
        .replace("\\\"", "\"")
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("sipcheck: {problem}\nusage: sipcheck [--repeat N [--typed]] FILE...");
    ExitCode::from(2)
}
