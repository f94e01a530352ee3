//! An auto-answering user agent on a [`Driver`]: the `mio_answer` example's loop, kept in the
//! library so that tests can run it against a caller.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::{Events, Poll};
use sip_core::call::{CallEvent, CallId};
use sip_core::endpoint::Event;
use sip_core::message::StatusCode;
use sip_core::sdp::{NoCommonFormat, SessionDescription};

use crate::{Driver, Error};

/// Audio formats we answer with: PCMU, PCMA and telephone-event.
const FORMATS: [u8; 3] = [0, 8, 101];

/// What [`serve`] does and when it stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Wait this long between ringing and answering (`None`: answer at once).
    pub answer_after: Option<Duration>,
    /// Hang up this long after a call is answered (`None`: let the caller hang up).
    pub hangup_after: Option<Duration>,
    /// Stop once this many calls have ended.
    pub max_calls: Option<usize>,
    /// Stop after this long, whatever is in progress.
    pub duration: Option<Duration>,
    /// The RTP port put in our SDP (no media is sent: this is signalling only).
    pub rtp_port: u16,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            answer_after: None,
            hangup_after: None,
            max_calls: None,
            duration: None,
            rtp_port: 40_000,
        }
    }
}

/// What [`serve`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeReport {
    /// Incoming calls seen.
    pub incoming: usize,
    /// Calls that were answered and ACKed.
    pub answered: usize,
    /// Calls that ended (answered or not).
    pub ended: usize,
    /// Calls we hung up ourselves (`hangup_after`).
    pub hung_up: usize,
}

/// Something to do to a call later.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Answer with this body.
    Answer(Bytes),
    Hangup,
}

/// Answers every incoming call on `driver` until `options` says stop: 180 Ringing, then
/// 200 OK with a small audio SDP (an answer to the caller's offer, or an offer when the
/// INVITE had none), then BYE after `hangup_after` if set. A call whose offer shares no
/// media format with ours gets 488 Not Acceptable Here instead (RFC 3264 §6). Requests inside a call that the
/// core hands over (INFO, MESSAGE) get 200 here unless the core already accepted them
/// ([`CallConfig::auto_accept_in_dialog`](sip_core::call::CallConfig)); everything else —
/// OPTIONS, 405, 481, 501 — the core answers itself. Every event is shown to `on_event`
/// first.
///
/// `driver` must be registered with `poll` (see [`Driver::register`]); `poll` should be
/// the driver's alone, since [`Driver::run_once`] ignores foreign tokens.
pub fn serve(
    driver: &mut Driver,
    poll: &mut Poll,
    options: &ServeOptions,
    mut on_event: impl FnMut(&Event),
) -> Result<ServeReport, Error> {
    let mut events = Events::with_capacity(256);
    let mut report = ServeReport::default();
    let stop_at = options.duration.map(|d| Instant::now() + d);
    // Few calls are pending at once in a demo, so a list beats a timer wheel.
    let mut pending: Vec<(Instant, CallId, Action)> = Vec::new();
    loop {
        let now = Instant::now();
        if stop_at.is_some_and(|at| now >= at) || options.max_calls.is_some_and(|max| report.ended >= max) {
            return Ok(report);
        }
        run_due(driver, &mut pending, &mut report, now);
        let next = pending
            .iter()
            .map(|(at, ..)| *at)
            .chain(stop_at)
            .min()
            .map(|at| at.saturating_duration_since(now));
        driver.run_once(poll, &mut events, next)?;
        while let Some(event) = driver.next_event() {
            on_event(&event);
            let now = Instant::now();
            match event {
                Event::Call {
                    call,
                    event: CallEvent::Incoming { request, .. },
                } => {
                    report.incoming += 1;
                    // The call may be cancelled before we get here: errors just mean "too late".
                    match answer_body(&request.body, driver.local_addr().ip(), options.rtp_port, call) {
                        Ok(body) => {
                            let _ = driver.endpoint_mut().ringing(now, call);
                            match options.answer_after {
                                Some(delay) => pending.push((now + delay, call, Action::Answer(body))),
                                None => {
                                    let _ = driver.endpoint_mut().answer(now, call, body, None);
                                }
                            }
                        }
                        // RFC 3264 §6: nothing offered that we can answer; RFC 3261
                        // §21.4.26: 488.
                        Err(_) => {
                            let _ = driver.endpoint_mut().reject(
                                now,
                                call,
                                StatusCode::NOT_ACCEPTABLE_HERE,
                                None,
                            );
                        }
                    }
                    driver.flush(now);
                }
                Event::Call {
                    call,
                    event: CallEvent::Answered { .. },
                } => {
                    report.answered += 1;
                    if let Some(delay) = options.hangup_after {
                        pending.push((now + delay, call, Action::Hangup));
                    }
                }
                Event::Call {
                    call,
                    event: CallEvent::Terminated { .. },
                } => {
                    report.ended += 1;
                    pending.retain(|(_, c, _)| *c != call);
                }
                // The application's part: accept what the call reports (the core may have
                // answered already, when it auto-accepts; then this is refused, harmlessly).
                Event::Call {
                    event: CallEvent::Request { transaction, .. },
                    ..
                } => {
                    let endpoint = driver.endpoint_mut();
                    if let Ok(response) = endpoint.response(transaction, StatusCode::OK) {
                        let _ = endpoint.respond(now, transaction, response);
                    }
                    driver.flush(now);
                }
                _ => {}
            }
        }
    }
}

/// Carries out every pending action that is due.
fn run_due(
    driver: &mut Driver,
    pending: &mut Vec<(Instant, CallId, Action)>,
    report: &mut ServeReport,
    now: Instant,
) {
    let (due, later): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(at, ..)| *at <= now);
    *pending = later;
    for (_, call, action) in due {
        // A call may have ended meanwhile: the command's error then just means "too late".
        match action {
            Action::Answer(body) => {
                let _ = driver.endpoint_mut().answer(now, call, body, None);
            }
            Action::Hangup => {
                if driver.endpoint_mut().hangup(now, call).is_ok() {
                    report.hung_up += 1;
                }
            }
        }
        driver.flush(now);
    }
}

/// Our session description: an answer to `offer` when there is one we can read, else an
/// offer of our own (the INVITE had no body: RFC 3261 §13.2.1, our 2xx makes the offer).
/// Fails when the offer shares no media format with ours.
fn answer_body(offer: &[u8], address: IpAddr, rtp_port: u16, call: CallId) -> Result<Bytes, NoCommonFormat> {
    let ours = SessionDescription::simple_audio("sip-mio", call.as_u64(), address, rtp_port, &FORMATS);
    if offer.is_empty() {
        return Ok(ours.to_bytes());
    }
    match SessionDescription::parse(offer) {
        Ok(offer) => Ok(ours.answer_for(&offer, false)?.to_bytes()),
        // An offer we cannot read: answer with ours and let the core judge (it ends the
        // call with a media failure when the answer cannot match).
        Err(_) => Ok(ours.to_bytes()),
    }
}
