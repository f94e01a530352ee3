//! Drives a sip-core `Endpoint` from a third runtime, async-std, with no mio at all: the
//! core is sans-IO, so any loop that owns a socket and a clock can run it.
//!
//! ```text
//! cargo run -p sip-mio --example async_std_call -- [TARGET]     # default 127.0.0.1:5070
//! ```
//!
//! Places one call to `TARGET` (an address such as `127.0.0.1:5070` or a `sip:` URI with an
//! IP host), waits for the answer, hangs up after one second and exits 0 once the BYE is
//! answered; anything else (rejected, timed out, no answer within 10 s) exits 1. Try it
//! against the `mio_answer` example.
//!
//! async-std is a dev-dependency of sip-mio for this example only; it is deprecated
//! upstream in favour of smol, and the library never depends on it.

use std::error::Error;
use std::hash::{BuildHasher, Hasher};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use async_std::net::UdpSocket;
use bytes::Bytes;
use sip_core::Endpoint;
use sip_core::call::{CallEvent, EndReason};
use sip_core::endpoint::{EndpointConfig, Event, FlowEvent, FlowRequest, Transport};
use sip_core::message::Uri;
use sip_core::sdp::SessionDescription;

/// How the call went, when it went anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The call was answered.
    pub answered: bool,
    /// Why it ended.
    pub reason: EndReason,
}

/// Calls `target` from a fresh UDP socket on loopback, hangs up `hold` after the answer,
/// and returns once the call is over; gives up (with an error) after `give_up`.
pub async fn place_call(target: &str, hold: Duration, give_up: Duration) -> Result<Outcome, Box<dyn Error>> {
    let uri = if target.starts_with("sip:") {
        Uri::parse(target)?
    } else {
        Uri::parse(&format!("sip:{target}"))?
    };
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let local = socket.local_addr()?;
    let mut endpoint = Endpoint::new(EndpointConfig::new(local, seed()));
    let offer = SessionDescription::simple_audio("async-std", 1, local.ip(), 40_010, &[0, 8]);
    let call = endpoint.invite(Instant::now(), uri, offer.to_bytes(), None)?;
    println!("{call}: calling {target} from {local}");

    let give_up = Instant::now() + give_up;
    let mut hangup_at = None;
    let mut answered = false;
    let mut buf = vec![0u8; 65_536];
    loop {
        // The draining rule: everything the core produced goes out before we sleep.
        while let Some(request) = endpoint.poll_flow_request() {
            // UDP only here: a connection the core asks for is refused at once, so its
            // transaction fails over instead of waiting for a timer.
            if let FlowRequest::Connect { flow, .. } = request {
                endpoint.handle_flow_event(Instant::now(), flow, FlowEvent::Failed);
            }
        }
        while let Some(transmit) = endpoint.poll_transmit() {
            if transmit.transport == Transport::Udp {
                socket.send_to(&transmit.payload, transmit.remote).await?;
            }
        }
        while let Some(event) = endpoint.poll_event() {
            let Event::Call { call, event } = event else {
                continue;
            };
            match event {
                CallEvent::StateChanged { from, to } => println!("{call}: {from} -> {to}"),
                CallEvent::Answered { .. } => {
                    println!("{call}: answered; hanging up in {hold:?}");
                    answered = true;
                    hangup_at = Some(Instant::now() + hold);
                }
                CallEvent::Terminated { reason, .. } => {
                    println!("{call}: ended ({reason:?})");
                    return Ok(Outcome { answered, reason });
                }
                other => println!("{call}: {other:?}"),
            }
        }

        let now = Instant::now();
        if now >= give_up {
            return Err("gave up waiting for the call to end".into());
        }
        if hangup_at.is_some_and(|at| now >= at) {
            hangup_at = None;
            endpoint.bye(now, call)?;
            continue;
        }
        // Sleep until a datagram comes or the first of: the core's next timer, our hang-up,
        // giving up.
        let wake = [endpoint.poll_timeout(), hangup_at, Some(give_up)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(give_up);
        let wait = wake.saturating_duration_since(now);
        match async_std::future::timeout(wait, socket.recv_from(&mut buf)).await {
            Ok(Ok((n, remote))) => {
                let payload = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                endpoint.handle_datagram(Instant::now(), local, remote, payload);
            }
            // An ICMP error for an earlier datagram; the transaction layer copes.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_elapsed) => endpoint.handle_timeout(Instant::now()),
        }
    }
}

/// A seed the peer cannot guess: std's `RandomState` is keyed from the OS.
fn seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

fn main() -> ExitCode {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5070".to_owned());
    let outcome = async_std::task::block_on(place_call(
        &target,
        Duration::from_secs(1),
        Duration::from_secs(10),
    ));
    match outcome {
        Ok(Outcome {
            answered: true,
            reason: EndReason::LocalBye,
        }) => ExitCode::SUCCESS,
        Ok(outcome) => {
            eprintln!("call failed: {outcome:?}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("async_std_call: {error}");
            ExitCode::FAILURE
        }
    }
}
