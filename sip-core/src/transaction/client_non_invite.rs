//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).

use std::time::Instant;

use bytes::Bytes;

use super::timers::{CompactTimers, from_micros, to_micros};
use super::{Action, Timer, TimerConfig};
use crate::message::{Request, Response};

/// States of [`ClientNonInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientNonInviteState {
    /// Request sent, no response yet.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived; absorbing its retransmissions until Timer K.
    Completed,
    /// Over.
    Terminated,
}

/// A non-INVITE client transaction: sends the request, retransmits it on Timer E (doubling
/// up to T2, UDP only), gives up on Timer F, and absorbs retransmitted responses until K.
#[derive(Debug, Clone)]
pub struct ClientNonInvite {
    state: ClientNonInviteState,
    request: Bytes,
    reliable: bool,
    timers: CompactTimers,
    /// The current retransmit interval, in microseconds.
    interval: u32,
}

impl ClientNonInvite {
    /// The request as sent (its bytes: the machine keeps no parsed copy).
    pub fn request_bytes(&self) -> &Bytes {
        &self.request
    }

    /// Starts the transaction at `now`: transmits `request` and arms E (UDP) and F.
    pub fn start(
        request: &Request,
        reliable: bool,
        timers: TimerConfig,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Self {
        let tx = ClientNonInvite {
            state: ClientNonInviteState::Trying,
            request: request.to_bytes(),
            reliable,
            timers: CompactTimers::new(timers),
            interval: to_micros(timers.duration(Timer::E, reliable)),
        };
        out.push(Action::Transmit(tx.request.clone()));
        if timers.runs(Timer::E, reliable) {
            out.push(Action::SetTimer(Timer::E, now + from_micros(tx.interval)));
        }
        out.push(Action::SetTimer(
            Timer::F,
            now + timers.duration(Timer::F, reliable),
        ));
        tx
    }

    /// The current state.
    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// A response matched this transaction (RFC 3261 §17.1.3).
    pub fn on_response(&mut self, response: Response, now: Instant, out: &mut Vec<Action>) {
        use ClientNonInviteState::*;
        match self.state {
            Trying | Proceeding if response.status.is_provisional() => {
                self.state = Proceeding;
                out.push(Action::Response(response));
            }
            Trying | Proceeding => {
                self.state = Completed;
                out.push(Action::CancelTimer(Timer::E));
                out.push(Action::CancelTimer(Timer::F));
                out.push(Action::Response(response));
                let k = self.timers.config().duration(Timer::K, self.reliable);
                out.push(Action::SetTimer(Timer::K, now + k));
            }
            // Retransmissions of the final response are absorbed (§17.1.2.2).
            Completed | Terminated => {}
        }
    }

    /// A timer this transaction armed has fired.
    pub fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        use ClientNonInviteState::*;
        match (timer, self.state) {
            (Timer::E, Trying | Proceeding) => {
                out.push(Action::Transmit(self.request.clone()));
                // §17.1.2.2: in Trying E doubles up to T2; in Proceeding it is T2.
                self.interval = match self.state {
                    Proceeding => to_micros(self.timers.config().t2),
                    _ => to_micros(self.timers.config().backoff(Timer::E, from_micros(self.interval))),
                };
                out.push(Action::SetTimer(Timer::E, now + from_micros(self.interval)));
            }
            (Timer::F, Trying | Proceeding) => {
                self.state = Terminated;
                out.push(Action::Timeout(Timer::F));
                out.push(Action::Terminated);
            }
            (Timer::K, Completed) => {
                self.state = Terminated;
                out.push(Action::Terminated);
            }
            _ => {}
        }
    }

    /// The transport failed to send the request (§17.1.4).
    pub fn on_transport_error(&mut self, out: &mut Vec<Action>) {
        if matches!(
            self.state,
            ClientNonInviteState::Trying | ClientNonInviteState::Proceeding
        ) {
            self.state = ClientNonInviteState::Terminated;
            out.push(Action::TransportError);
            out.push(Action::Terminated);
        }
    }
}
