//! One outgoing call on a [`Driver`]: the `mio_call` example's loop, kept in the library so
//! that tests can run it against other user agents (such as `sipua listen`).

use std::time::{Duration, Instant};

use mio::{Events, Poll};
use sip_core::call::{CallEvent, EndReason};
use sip_core::endpoint::Event;
use sip_core::message::Uri;
use sip_core::sdp::SessionDescription;

use crate::{Driver, Error};

/// Audio formats we offer: PCMU, PCMA and telephone-event.
const FORMATS: [u8; 3] = [0, 8, 101];

/// How [`place_call`] runs its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOptions {
    /// Hang up this long after the answer (the call is "held" this long).
    pub hold: Duration,
    /// Give up (hang up and stop waiting) if the call has not ended this long after the
    /// INVITE.
    pub give_up: Duration,
    /// The RTP port put in our SDP offer (no media is sent: this is signalling only).
    pub rtp_port: u16,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            hold: Duration::from_secs(1),
            give_up: Duration::from_secs(10),
            rtp_port: 40_020,
        }
    }
}

/// How a call placed by [`place_call`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// From the INVITE to the answer (the 2xx, which the core ACKs at once); `None` when
    /// the call was never answered.
    pub setup: Option<Duration>,
    /// Why the call ended; `None` when `give_up` passed first.
    pub reason: Option<EndReason>,
}

impl CallOutcome {
    /// True for a call that was answered and then ended by our own BYE: what a caller
    /// wants.
    pub fn is_success(&self) -> bool {
        self.setup.is_some() && self.reason == Some(EndReason::LocalBye)
    }
}

/// Calls `target` from `driver`, offering a small audio SDP; once the call is answered,
/// waits `options.hold` and hangs up, then returns when the call has ended — or, if
/// `options.give_up` passes first, hangs up and returns at once with no end reason. Every
/// event is shown to `on_event` first.
///
/// `driver` must be registered with `poll` (see [`Driver::register`]). Events of other
/// calls and out-of-dialog requests are passed to `on_event` and otherwise ignored.
///
/// Fails with [`Error::Call`] when the core refuses the INVITE (a target it cannot send
/// to) and with [`Error::Poll`] when polling fails.
pub fn place_call(
    driver: &mut Driver,
    poll: &mut Poll,
    target: Uri,
    options: &CallOptions,
    mut on_event: impl FnMut(&Event),
) -> Result<CallOutcome, Error> {
    let mut events = Events::with_capacity(64);
    let started = Instant::now();
    let give_up = started + options.give_up;
    let ip = driver.local_addr().ip();
    let offer = SessionDescription::simple_audio("sip-mio", 1, ip, options.rtp_port, &FORMATS);
    let call = driver
        .endpoint_mut()
        .invite(started, target, offer.to_bytes(), None)?;
    driver.flush(started);

    let mut outcome = CallOutcome {
        setup: None,
        reason: None,
    };
    let mut hangup_at = None;
    loop {
        let now = Instant::now();
        if now >= give_up {
            // Best effort: the peer learns the call is over even though we stop watching.
            let _ = driver.endpoint_mut().hangup(now, call);
            driver.flush(now);
            return Ok(outcome);
        }
        if hangup_at.is_some_and(|at| now >= at) {
            hangup_at = None;
            // The peer may have hung up meanwhile: the error then means "too late", and
            // the Terminated event says how the call ended.
            let _ = driver.endpoint_mut().bye(now, call);
            driver.flush(now);
        }
        // Sleep no longer than until our next deadline; the driver itself shortens this
        // to the core's next timer.
        let wake = hangup_at.unwrap_or(give_up).min(give_up);
        driver.run_once(poll, &mut events, Some(wake.saturating_duration_since(now)))?;
        while let Some(event) = driver.next_event() {
            on_event(&event);
            let Event::Call { call: id, event } = event else {
                continue;
            };
            if id != call {
                continue;
            }
            match event {
                CallEvent::Answered { .. } => {
                    let now = Instant::now();
                    outcome.setup = Some(now.saturating_duration_since(started));
                    hangup_at = Some(now + options.hold);
                }
                CallEvent::Terminated { reason, .. } => {
                    outcome.reason = Some(reason);
                    return Ok(outcome);
                }
                _ => {}
            }
        }
    }
}
