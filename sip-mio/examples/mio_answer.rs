//! Answers SIP calls from a plain mio loop, with no async runtime anywhere.
//!
//! ```text
//! cargo run -p sip-mio --example mio_answer -- [--bind 127.0.0.1:5070] [--tcp]
//!     [--answer-after-ms N] [--hangup-ms N] [--duration SECONDS] [--calls N]
//! ```
//!
//! Every incoming call is rung (180) and answered (200 with a small audio SDP); with
//! `--hangup-ms` it is hung up that long after the ACK. It prints every event and exits
//! after `--duration` seconds or once `--calls` calls have ended (by default it runs until
//! killed).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use mio::{Poll, Token};
use sip_core::call::CallEvent;
use sip_core::endpoint::Event;
use sip_mio::{Driver, Listen, ServeOptions, serve};

/// The command line.
struct Args {
    bind: SocketAddr,
    listen: Listen,
    options: ServeOptions,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        bind: SocketAddr::from(([127, 0, 0, 1], 5070)),
        listen: Listen::Udp,
        options: ServeOptions::default(),
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
            "--tcp" => args.listen = Listen::UdpAndTcp,
            "--answer-after-ms" => args.options.answer_after = Some(millis(value(&flag)?)?),
            "--hangup-ms" => args.options.hangup_after = Some(millis(value(&flag)?)?),
            "--duration" => {
                let text = value(&flag)?;
                let seconds: f64 = text.parse().map_err(|e| format!("{text}: {e}"))?;
                let duration = Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text}: {e}"))?;
                args.options.duration = Some(duration);
            }
            "--calls" => {
                let text = value(&flag)?;
                args.options.max_calls = Some(text.parse().map_err(|e| format!("{text}: {e}"))?);
            }
            "--help" | "-h" => {
                return Err("usage: mio_answer [--bind ADDR] [--tcp] [--answer-after-ms N] \
                            [--hangup-ms N] [--duration SECONDS] [--calls N]"
                    .into());
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(args)
}

/// One line per event; the bulky ones (whole messages, histories) are summarised.
fn print_event(event: &Event) {
    match event {
        Event::Call { call, event } => match event {
            CallEvent::Incoming {
                request,
                source,
                transport,
            } => {
                println!("{call}: incoming {} from {source} over {transport}", request.uri);
            }
            CallEvent::StateChanged { from, to } => println!("{call}: {from} -> {to}"),
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
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mio_answer: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut driver = Driver::bind(args.bind, args.listen)?;
    let mut poll = Poll::new()?;
    driver.register(poll.registry(), Token(0))?;
    println!("answering on {} ({:?})", driver.local_addr(), args.listen);
    let report = serve(&mut driver, &mut poll, &args.options, print_event)?;
    println!(
        "done: {} incoming, {} answered, {} ended, {} hung up by us",
        report.incoming, report.answered, report.ended, report.hung_up
    );
    Ok(())
}
