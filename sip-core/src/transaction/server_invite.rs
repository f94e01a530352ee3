//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as updated by RFC 6026 §7.1).

use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;

use super::timers::{CompactTimers, from_micros, to_micros};
use super::{Action, Timer, TimerConfig};
use crate::message::{Request, Response};

/// States of [`ServerInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerInviteState {
    /// The INVITE was passed to the user; provisional responses may have been sent.
    Proceeding,
    /// A 2xx was sent; the transaction absorbs INVITE retransmissions and passes ACKs up
    /// until Timer L (RFC 6026 §7.1). The user retransmits the 2xx (§13.3.1.4).
    Accepted,
    /// A 300–699 was sent; retransmitted on Timer G until the ACK, or Timer H.
    Completed,
    /// The ACK arrived; absorbing ACK retransmissions until Timer I.
    Confirmed,
    /// Over.
    Terminated,
}

/// An INVITE server transaction.
#[derive(Debug, Clone)]
pub struct ServerInvite {
    state: ServerInviteState,
    last_response: Option<Bytes>,
    /// The To tag of the final response, to match an RFC 2543 ACK (§17.2.3).
    final_to_tag: Option<ByteString>,
    reliable: bool,
    timers: CompactTimers,
    /// The current retransmit interval, in microseconds.
    interval: u32,
}

impl ServerInvite {
    /// A transaction for an INVITE just received (and passed to the user by the owner).
    /// RFC 3261 §17.2.1 asks for a 100 (Trying) unless the user answers within 200 ms;
    /// the owner sends it with [`ServerInvite::respond`].
    pub fn new(reliable: bool, timers: TimerConfig) -> Self {
        ServerInvite {
            state: ServerInviteState::Proceeding,
            last_response: None,
            final_to_tag: None,
            reliable,
            timers: CompactTimers::new(timers),
            interval: to_micros(timers.duration(Timer::G, reliable)),
        }
    }

    /// The current state.
    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// The last response sent, as sent (the call layer retransmits a 2xx or a reliable
    /// provisional from it, RFC 3261 §13.3.1.4, RFC 3262 §3).
    pub fn last_response(&self) -> Option<&Bytes> {
        self.last_response.as_ref()
    }

    /// The To tag of the final response sent, if any.
    pub fn final_to_tag(&self) -> Option<&str> {
        self.final_to_tag.as_deref()
    }

    /// The INVITE was received again: resend the last provisional response (Proceeding) or
    /// the final response (Completed); absorb it otherwise (§17.2.1, RFC 6026 §7.1).
    pub fn on_retransmission(&mut self, out: &mut Vec<Action>) {
        if matches!(
            self.state,
            ServerInviteState::Proceeding | ServerInviteState::Completed
        ) {
            if let Some(response) = &self.last_response {
                out.push(Action::Transmit(response.clone()));
            }
        }
    }

    /// The user responds. 2xx responses after the first are the user's retransmissions
    /// (§13.3.1.4) and are sent as given. Returns false when the state allows no response.
    pub fn respond(&mut self, response: &Response, now: Instant, out: &mut Vec<Action>) -> bool {
        use ServerInviteState::*;
        let status = response.status;
        match self.state {
            Proceeding => {
                let bytes = response.to_bytes();
                out.push(Action::Transmit(bytes.clone()));
                self.last_response = Some(bytes);
                if status.is_success() {
                    self.state = Accepted;
                    out.push(Action::SetTimer(
                        Timer::L,
                        now + self.timers.config().duration(Timer::L, self.reliable),
                    ));
                } else if status.is_final() {
                    self.state = Completed;
                    self.final_to_tag = response
                        .headers
                        .to_addr()
                        .and_then(Result::ok)
                        .and_then(|to| to.tag().map(ByteString::from));
                    if self.timers.config().runs(Timer::G, self.reliable) {
                        out.push(Action::SetTimer(Timer::G, now + from_micros(self.interval)));
                    }
                    out.push(Action::SetTimer(
                        Timer::H,
                        now + self.timers.config().duration(Timer::H, self.reliable),
                    ));
                }
                true
            }
            Accepted if status.is_success() => {
                out.push(Action::Transmit(response.to_bytes()));
                true
            }
            _ => false,
        }
    }

    /// An ACK matched this transaction. In Completed it confirms the non-2xx response; in
    /// Accepted it acknowledges a 2xx and goes to the user (RFC 6026 §7.1).
    pub fn on_ack(&mut self, ack: Request, now: Instant, out: &mut Vec<Action>) {
        use ServerInviteState::*;
        match self.state {
            Completed => {
                self.state = Confirmed;
                out.push(Action::CancelTimer(Timer::G));
                out.push(Action::CancelTimer(Timer::H));
                out.push(Action::SetTimer(
                    Timer::I,
                    now + self.timers.config().duration(Timer::I, self.reliable),
                ));
            }
            Accepted => out.push(Action::Ack(ack)),
            Proceeding | Confirmed | Terminated => {}
        }
    }

    /// A timer this transaction armed has fired.
    pub fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        use ServerInviteState::*;
        match (timer, self.state) {
            (Timer::G, Completed) => {
                if let Some(response) = &self.last_response {
                    out.push(Action::Transmit(response.clone()));
                }
                self.interval = to_micros(self.timers.config().backoff(Timer::G, from_micros(self.interval)));
                out.push(Action::SetTimer(Timer::G, now + from_micros(self.interval)));
            }
            (Timer::H, Completed) => {
                self.state = Terminated;
                out.push(Action::Timeout(Timer::H));
                out.push(Action::Terminated);
            }
            (Timer::I, Confirmed) | (Timer::L, Accepted) => {
                self.state = Terminated;
                out.push(Action::Terminated);
            }
            _ => {}
        }
    }

    /// The transport failed to send a response (§17.2.4).
    pub fn on_transport_error(&mut self, out: &mut Vec<Action>) {
        if self.state != ServerInviteState::Terminated {
            self.state = ServerInviteState::Terminated;
            out.push(Action::TransportError);
            out.push(Action::Terminated);
        }
    }
}
