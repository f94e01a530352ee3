//! `sipua demo`: Alice calls Bob in one process over loopback UDP — ringing, answer,
//! hold, unhold, hang-up — printed as a live ladder, one line per message sent or
//! received, then a summary. `sipua demo --transfer` ([`run_transfers`]): Alice, Bob and
//! Carol, a blind transfer and then an attended one, on the same ladder.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sip_tokio::Error> {
//! let summary = sip_tokio::demo::run(std::io::sink()).await?;
//! assert!(summary.messages >= 14);
//! # Ok(())
//! # }
//! ```

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::call::{CallEvent, EndReason, Side};
use sip_core::sdp::SessionDescription;
use tokio::sync::mpsc;

use crate::driver::clock_now;
use crate::trace::Direction;
use crate::{Call, Error, IncomingCalls, IncomingRefers, Transfer, TransferEvent, UserAgent};

/// How long any one step may take before the demo gives up.
const STEP: Duration = Duration::from_secs(10);

/// What the demo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// SIP messages sent by both agents (each also appears once as received).
    pub messages: usize,
    /// From Alice's INVITE to her seeing the call answered.
    pub setup: Duration,
    /// The whole call, INVITE to both sides ended.
    pub total: Duration,
    /// Why Alice's side ended.
    pub caller_end: EndReason,
    /// Why Bob's side ended.
    pub callee_end: EndReason,
}

/// The shared ladder printer.
struct Ladder<W> {
    out: Mutex<W>,
    start: Instant,
    sent: AtomicUsize,
}

impl<W: Write> Ladder<W> {
    fn line(&self, text: &str) {
        // A demo's output is best effort: a closed stdout must not stop the call.
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{text}");
        }
    }

    fn elapsed_ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64() * 1000.0
    }
}

async fn agent<W: Write + Send + 'static>(
    name: &'static str,
    ladder: &Arc<Ladder<W>>,
) -> Result<UserAgent, Error> {
    let ladder = Arc::clone(ladder);
    UserAgent::builder()
        .bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .accept_refer(name == "bob")
        .identity(format!("sip:{name}@127.0.0.1"))
        .on_message(move |m| {
            let arrow = match m.direction {
                Direction::Sent => {
                    ladder.sent.fetch_add(1, Ordering::Relaxed);
                    "->"
                }
                Direction::Received => "<-",
            };
            ladder.line(&format!(
                "{:>9.3} ms  {name:<5} {arrow} {:<21} {}",
                ladder.elapsed_ms(m.at),
                m.remote.to_string(),
                m.start_line()
            ));
        })
        .start()
        .await
}

async fn until<T>(
    call: &mut Call,
    what: &str,
    mut pick: impl FnMut(&CallEvent) -> Option<T>,
) -> Result<T, Error> {
    let wait = async {
        while let Some(event) = call.next_event().await {
            if let Some(found) = pick(&event) {
                return Ok(found);
            }
            if let CallEvent::Terminated { reason, .. } = event {
                tracing::debug!("call ended while waiting for {what}");
                return Err(Error::Ended(reason));
            }
        }
        Err(Error::Closed)
    };
    tokio::time::timeout(STEP, wait)
        .await
        .map_err(|_| Error::Timeout)?
}

fn ladder<W: Write>(out: W) -> Arc<Ladder<W>> {
    Arc::new(Ladder {
        out: Mutex::new(out),
        // The driver's clock, so the ladder's times line up with `MessageTrace::at`.
        start: clock_now(),
        sent: AtomicUsize::new(0),
    })
}

/// Runs the demo, writing the ladder to `out`, and returns its summary.
pub async fn run<W: Write + Send + 'static>(out: W) -> Result<Summary, Error> {
    let ladder = ladder(out);
    let alice = agent("alice", &ladder).await?;
    let bob = agent("bob", &ladder).await?;
    ladder.line(&format!(
        "# alice at {}, bob at {} (UDP)",
        alice.local_addr(),
        bob.local_addr()
    ));
    let mut incoming = bob.incoming().await?;
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let offer = SessionDescription::simple_audio("alice", 1, ip, 40_000, &[0, 8, 101]).to_bytes();
    let answer = SessionDescription::simple_audio("bob", 2, ip, 42_000, &[0, 8, 101]).to_bytes();

    ladder.line("# alice calls bob");
    let started = clock_now();
    let mut caller = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), offer, None)
        .await?;
    let mut callee = tokio::time::timeout(STEP, incoming.next())
        .await
        .map_err(|_| Error::Timeout)?
        .ok_or(Error::Closed)?;
    ladder.line("# bob rings");
    callee.ringing().await?;
    until(&mut caller, "ringing", |e| {
        matches!(e, CallEvent::Ringing { .. }).then_some(())
    })
    .await?;
    ladder.line("# bob answers");
    callee.answer(answer, None).await?;
    until(&mut caller, "the answer", |e| {
        matches!(e, CallEvent::Answered { .. }).then_some(())
    })
    .await?;
    let setup = clock_now().saturating_duration_since(started);
    until(&mut callee, "the ACK", |e| {
        matches!(e, CallEvent::Answered { .. }).then_some(())
    })
    .await?;

    ladder.line("# alice puts bob on hold");
    caller.hold().await?;
    until(&mut caller, "hold", |e| {
        matches!(e, CallEvent::Hold { by: Side::Local }).then_some(())
    })
    .await?;
    until(&mut callee, "hold", |e| {
        matches!(e, CallEvent::Hold { by: Side::Remote }).then_some(())
    })
    .await?;
    ladder.line("# alice takes bob off hold");
    caller.unhold().await?;
    until(&mut caller, "unhold", |e| {
        matches!(e, CallEvent::Unhold { by: Side::Local }).then_some(())
    })
    .await?;
    until(&mut callee, "unhold", |e| {
        matches!(e, CallEvent::Unhold { by: Side::Remote }).then_some(())
    })
    .await?;

    ladder.line("# alice hangs up");
    caller.hangup().await?;
    let caller_end = wait_end(&mut caller).await?;
    let callee_end = wait_end(&mut callee).await?;
    let total = clock_now().saturating_duration_since(started);
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;

    let summary = Summary {
        messages: ladder.sent.load(Ordering::Relaxed),
        setup,
        total,
        caller_end,
        callee_end,
    };
    ladder.line(&format!(
        "# summary: {} messages, call set up in {:.1} ms, whole call {:.1} ms; alice: {:?}, bob: {:?}",
        summary.messages,
        summary.setup.as_secs_f64() * 1000.0,
        summary.total.as_secs_f64() * 1000.0,
        summary.caller_end,
        summary.callee_end
    ));
    Ok(summary)
}

async fn wait_end(call: &mut Call) -> Result<EndReason, Error> {
    tokio::time::timeout(STEP, call.ended())
        .await
        .map_err(|_| Error::Timeout)?
        .ok_or(Error::Closed)
}

/// What the transfer demo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSummary {
    /// SIP messages sent by the three agents.
    pub messages: usize,
    /// What Alice's blind transfer reported: every [`TransferEvent`].
    pub blind: Vec<TransferEvent>,
    /// The attended transfer's events.
    pub attended: Vec<TransferEvent>,
    /// How Carol's call with Alice ended in the attended transfer (replaced by Bob's).
    pub replaced_end: EndReason,
}

/// Bob's part: answers every call, and carries out every REFER himself (the Endpoint
/// calls the target and reports to the referrer). Returns the calls he placed, for the
/// demo to hang up.
fn transferee(
    mut incoming: IncomingCalls,
    mut refers: IncomingRefers,
    answer: Bytes,
) -> mpsc::Receiver<Call> {
    let (placed_tx, placed) = mpsc::channel(4);
    let answers = answer.clone();
    tokio::spawn(async move {
        while let Some(call) = incoming.next().await {
            let _ = call.answer(answers.clone(), None).await;
            // The handle is dropped; the call lives on until its peer ends it.
        }
    });
    tokio::spawn(async move {
        while let Some(refer) = refers.next().await {
            if let Ok(call) = refer.accept_and_call(answer.clone()).await {
                if placed_tx.send(call).await.is_err() {
                    break;
                }
            }
        }
    });
    placed
}

/// Carol's part: rings, then answers every call, and hands each on.
fn target(mut incoming: IncomingCalls, answer: Bytes) -> mpsc::Receiver<Call> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        while let Some(call) = incoming.next().await {
            let _ = call.ringing().await;
            let _ = call.answer(answer.clone(), None).await;
            if tx.send(call).await.is_err() {
                break;
            }
        }
    });
    rx
}

async fn transfer_events(transfer: &mut Transfer) -> Result<Vec<TransferEvent>, Error> {
    let mut events = Vec::new();
    let wait = async {
        while let Some(event) = transfer.next_event().await {
            events.push(event);
        }
    };
    tokio::time::timeout(STEP, wait)
        .await
        .map_err(|_| Error::Timeout)?;
    Ok(events)
}

async fn next_call(calls: &mut mpsc::Receiver<Call>) -> Result<Call, Error> {
    tokio::time::timeout(STEP, calls.recv())
        .await
        .map_err(|_| Error::Timeout)?
        .ok_or(Error::Closed)
}

async fn connect(from: &UserAgent, to: &UserAgent, name: &str, offer: &Bytes) -> Result<Call, Error> {
    let mut call = from
        .call(&format!("sip:{name}@{}", to.local_addr()), offer.clone(), None)
        .await?;
    until(&mut call, "the answer", |e| {
        matches!(e, CallEvent::Answered { .. }).then_some(())
    })
    .await?;
    Ok(call)
}

/// Runs the transfer demo — Alice transfers Bob to Carol blind, then again attended
/// (after consulting Carol, whose call with Alice Bob's new call replaces) — writing the
/// ladder to `out`, and returns its summary.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sip_tokio::Error> {
/// let summary = sip_tokio::demo::run_transfers(std::io::sink()).await?;
/// assert_eq!(summary.blind.last(), Some(&sip_tokio::TransferEvent::Succeeded));
/// assert_eq!(summary.attended.last(), Some(&sip_tokio::TransferEvent::Succeeded));
/// # Ok(())
/// # }
/// ```
pub async fn run_transfers<W: Write + Send + 'static>(out: W) -> Result<TransferSummary, Error> {
    let ladder = ladder(out);
    let alice = agent("alice", &ladder).await?;
    let bob = agent("bob", &ladder).await?;
    let carol = agent("carol", &ladder).await?;
    ladder.line(&format!(
        "# alice at {}, bob at {}, carol at {} (UDP)",
        alice.local_addr(),
        bob.local_addr(),
        carol.local_addr()
    ));
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let sdp = |user: &str, session: u64, port: u16| {
        SessionDescription::simple_audio(user, session, ip, port, &[0, 8, 101]).to_bytes()
    };
    let mut bobs_calls = transferee(
        bob.incoming().await?,
        bob.incoming_refers().await?,
        sdp("bob", 2, 42_000),
    );
    let mut carols_calls = target(carol.incoming().await?, sdp("carol", 3, 44_000));
    let offer = sdp("alice", 1, 40_000);

    ladder.line("# blind transfer: alice calls bob, then refers him to carol");
    let mut with_bob = connect(&alice, &bob, "bob", &offer).await?;
    let mut transfer = with_bob
        .refer(&format!("sip:carol@{}", carol.local_addr()))
        .await?;
    let blind = transfer_events(&mut transfer).await?;
    let bob_to_carol = next_call(&mut bobs_calls).await?;
    let mut carol_with_bob = next_call(&mut carols_calls).await?;
    wait_end(&mut with_bob).await?;
    ladder.line(&format!(
        "# alice heard: {}; her call ended; bob and carol talk; bob hangs up",
        list(&blind)
    ));
    bob_to_carol.hangup().await?;
    wait_end(&mut carol_with_bob).await?;

    ladder.line("# attended transfer: alice calls bob, then consults carol, then transfers bob to her");
    let with_bob = connect(&alice, &bob, "bob", &offer).await?;
    let mut with_carol = connect(&alice, &carol, "carol", &offer).await?;
    let mut carol_with_alice = next_call(&mut carols_calls).await?;
    let mut transfer = with_bob.attended_transfer(&with_carol).await?;
    let attended = transfer_events(&mut transfer).await?;
    let bob_to_carol = next_call(&mut bobs_calls).await?;
    let mut carol_with_bob = next_call(&mut carols_calls).await?;
    let replaced_end = wait_end(&mut carol_with_alice).await?;
    wait_end(&mut with_carol).await?;
    ladder.line(&format!(
        "# alice heard: {}; carol's call with her ended ({replaced_end}); bob hangs up",
        list(&attended)
    ));
    bob_to_carol.hangup().await?;
    wait_end(&mut carol_with_bob).await?;
    for agent in [&alice, &bob, &carol] {
        agent.shutdown(Duration::from_secs(1)).await;
    }
    let summary = TransferSummary {
        messages: ladder.sent.load(Ordering::Relaxed),
        blind,
        attended,
        replaced_end,
    };
    ladder.line(&format!(
        "# summary: {} messages; blind transfer {}, attended transfer {}",
        summary.messages,
        outcome(&summary.blind),
        outcome(&summary.attended)
    ));
    Ok(summary)
}

fn list(events: &[TransferEvent]) -> String {
    events
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn outcome(events: &[TransferEvent]) -> &'static str {
    match events.last() {
        Some(TransferEvent::Succeeded) => "succeeded",
        _ => "failed",
    }
}
