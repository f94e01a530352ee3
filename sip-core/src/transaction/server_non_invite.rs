//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).

use std::time::Instant;

use bytes::Bytes;

use super::timers::CompactTimers;
use super::{Action, Timer, TimerConfig};
use crate::message::Response;

/// States of [`ServerNonInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerNonInviteState {
    /// The request was passed to the user; nothing sent yet.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent; answering retransmitted requests with it until Timer J.
    Completed,
    /// Over.
    Terminated,
}

/// A non-INVITE server transaction: absorbs retransmitted requests (answering them with the
/// last response sent), sends the user's responses, and lingers on Timer J.
#[derive(Debug, Clone)]
pub struct ServerNonInvite {
    state: ServerNonInviteState,
    last_response: Option<Bytes>,
    reliable: bool,
    timers: CompactTimers,
}

impl ServerNonInvite {
    /// A transaction for a request just received (and passed to the user by the owner).
    pub fn new(reliable: bool, timers: TimerConfig) -> Self {
        ServerNonInvite {
            state: ServerNonInviteState::Trying,
            last_response: None,
            reliable,
            timers: CompactTimers::new(timers),
        }
    }

    /// The current state.
    pub fn state(&self) -> ServerNonInviteState {
        self.state
    }

    /// The request was received again (§17.2.2): resend the last response, if any.
    pub fn on_retransmission(&mut self, out: &mut Vec<Action>) {
        if matches!(
            self.state,
            ServerNonInviteState::Proceeding | ServerNonInviteState::Completed
        ) {
            if let Some(response) = &self.last_response {
                out.push(Action::Transmit(response.clone()));
            }
        }
    }

    /// The user responds. Returns false (and does nothing) once a final response was sent.
    pub fn respond(&mut self, response: &Response, now: Instant, out: &mut Vec<Action>) -> bool {
        use ServerNonInviteState::*;
        if !matches!(self.state, Trying | Proceeding) {
            return false;
        }
        let bytes = response.to_bytes();
        out.push(Action::Transmit(bytes.clone()));
        self.last_response = Some(bytes);
        if response.status.is_provisional() {
            self.state = Proceeding;
        } else {
            self.state = Completed;
            out.push(Action::SetTimer(
                Timer::J,
                now + self.timers.config().duration(Timer::J, self.reliable),
            ));
        }
        true
    }

    /// A timer this transaction armed has fired.
    pub fn on_timer(&mut self, timer: Timer, _now: Instant, out: &mut Vec<Action>) {
        if timer == Timer::J && self.state == ServerNonInviteState::Completed {
            self.state = ServerNonInviteState::Terminated;
            out.push(Action::Terminated);
        }
    }

    /// The transport failed to send a response (§17.2.4).
    pub fn on_transport_error(&mut self, out: &mut Vec<Action>) {
        if self.state != ServerNonInviteState::Terminated {
            self.state = ServerNonInviteState::Terminated;
            out.push(Action::TransportError);
            out.push(Action::Terminated);
        }
    }
}
