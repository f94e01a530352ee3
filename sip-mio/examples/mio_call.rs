//! Places one SIP call from a plain mio loop, with no async runtime anywhere.
//!
//! ```text
//! cargo run -p sip-mio --example mio_call -- [TARGET] [--bind 127.0.0.1:0] [--hold-ms N]
//!     [--give-up-ms N]
//! ```
//!
//! Calls `TARGET` (an address such as `127.0.0.1:5060`, or a `sip:` URI with an IP host;
//! `;transport=tcp` calls over TCP; default `127.0.0.1:5060`), waits for the answer, hangs
//! up `--hold-ms` later (default 1000) and exits 0 once the BYE is answered. Anything else —
//! rejected, timed out, no end within `--give-up-ms` (default 10000) — exits 1. Try it
//! against `sipua listen --auto-answer` or the `mio_answer` example.
//!
//! The loop itself is [`sip_mio::place_call`]; this file only parses arguments and prints.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use mio::{Poll, Token};
use sip_core::call::CallEvent;
use sip_core::endpoint::Event;
use sip_core::message::Uri;
use sip_mio::{CallOptions, CallOutcome, Driver, Listen, place_call};

/// The command line.
pub struct Args {
    /// Whom to call: an address or a `sip:` URI.
    pub target: String,
    /// Our local address.
    pub bind: SocketAddr,
    /// Hold time and patience.
    pub options: CallOptions,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        target: "127.0.0.1:5060".to_owned(),
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        options: CallOptions::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let millis = |text: String| {
            text.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|e| format!("{text}: {e}"))
        };
        match flag.as_str() {
            "--bind" => {
                let text = value("--bind")?;
                args.bind = text.parse().map_err(|e| format!("{text}: {e}"))?;
            }
            "--hold-ms" => args.options.hold = millis(value(&flag)?)?,
            "--give-up-ms" => args.options.give_up = millis(value(&flag)?)?,
            "--help" | "-h" => {
                return Err("usage: mio_call [TARGET] [--bind ADDR] [--hold-ms N] [--give-up-ms N]".into());
            }
            other if other.starts_with('-') => return Err(format!("unknown argument {other} (try --help)")),
            target => args.target = target.to_owned(),
        }
    }
    Ok(args)
}

/// The target as a URI: a bare address gets the `sip:` scheme.
fn target_uri(target: &str) -> Result<Uri, String> {
    let text = if target.starts_with("sip:") || target.starts_with("sips:") {
        target.to_owned()
    } else {
        format!("sip:{target}")
    };
    Uri::parse(&text).map_err(|e| format!("{target}: {e}"))
}

/// One line per call event; the bulky ones (whole messages, histories) are summarised.
fn print_event(event: &Event) {
    match event {
        Event::Call { call, event } => match event {
            CallEvent::StateChanged { from, to } => println!("{call}: {from} -> {to}"),
            CallEvent::Ringing { .. } => println!("{call}: ringing"),
            CallEvent::Answered { body } => println!("{call}: answered ({} bytes of SDP)", body.len()),
            CallEvent::Terminated { reason, history } => {
                println!("{call}: ended ({reason:?}) after {} transitions", history.len());
            }
            other => println!("{call}: {other:?}"),
        },
        Event::Request { request, source, .. } => println!("request {} from {source}", request.method),
        other => println!("{other:?}"),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    match run(&args) {
        Ok(outcome) if outcome.is_success() => ExitCode::SUCCESS,
        Ok(outcome) => {
            match outcome.reason {
                None => eprintln!("mio_call: gave up after {:?}", args.options.give_up),
                Some(reason) => eprintln!("mio_call: call failed ({reason:?})"),
            }
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("mio_call: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Binds a UDP driver (TCP targets still work: the driver opens connections on demand),
/// places the call and returns how it went.
pub fn run(args: &Args) -> Result<CallOutcome, Box<dyn std::error::Error>> {
    let target = target_uri(&args.target)?;
    let mut driver = Driver::bind(args.bind, Listen::Udp)?;
    let mut poll = Poll::new()?;
    driver.register(poll.registry(), Token(0))?;
    println!("calling {target} from {}", driver.local_addr());
    let outcome = place_call(&mut driver, &mut poll, target, &args.options, print_event)?;
    if let (Some(setup), true) = (outcome.setup, outcome.is_success()) {
        println!(
            "done: answered in {:.1} ms, hung up",
            setup.as_secs_f64() * 1000.0
        );
    }
    Ok(outcome)
}
