//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, as updated by RFC 6026 §7.2).

use std::time::Instant;

use bytes::Bytes;

use super::timers::{CompactTimers, from_micros, to_micros};
use super::{Action, Timer, TimerConfig};
use crate::message::{HeaderName, HeaderWriter, Method, Request, Response, Version};

/// States of [`ClientInvite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientInviteState {
    /// INVITE sent, no response yet.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A 2xx arrived; further 2xx (from forks) still go to the user until Timer M
    /// (RFC 6026 §7.2).
    Accepted,
    /// A 300–699 arrived and was ACKed; absorbing its retransmissions until Timer D.
    Completed,
    /// Over.
    Terminated,
}

/// An INVITE client transaction: retransmits on Timer A (UDP, doubling without cap), gives
/// up on Timer B, ACKs non-2xx final responses itself (§17.1.1.3) and hands every 2xx to its
/// user, who ACKs them (§13.2.2.4).
#[derive(Debug, Clone)]
pub struct ClientInvite {
    state: ClientInviteState,
    request: Request,
    bytes: Bytes,
    ack: Option<Bytes>,
    reliable: bool,
    timers: CompactTimers,
    /// The current retransmit interval, in microseconds.
    interval: u32,
}

impl ClientInvite {
    /// Starts the transaction at `now`: transmits the INVITE and arms A (UDP) and B.
    pub fn start(
        request: Request,
        reliable: bool,
        timers: TimerConfig,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Self {
        let bytes = request.to_bytes();
        let tx = ClientInvite {
            state: ClientInviteState::Calling,
            request,
            bytes,
            ack: None,
            reliable,
            timers: CompactTimers::new(timers),
            interval: to_micros(timers.duration(Timer::A, reliable)),
        };
        out.push(Action::Transmit(tx.bytes.clone()));
        if timers.runs(Timer::A, reliable) {
            out.push(Action::SetTimer(Timer::A, now + from_micros(tx.interval)));
        }
        out.push(Action::SetTimer(
            Timer::B,
            now + timers.duration(Timer::B, reliable),
        ));
        tx
    }

    /// The current state.
    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    /// The INVITE this transaction sent.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// A response matched this transaction.
    pub fn on_response(&mut self, response: Response, now: Instant, out: &mut Vec<Action>) {
        use ClientInviteState::*;
        let status = response.status;
        match self.state {
            Calling | Proceeding if status.is_provisional() => {
                if self.state == Calling {
                    // §17.1.1.2: no more retransmissions; Timer B only matters in Calling.
                    out.push(Action::CancelTimer(Timer::A));
                    out.push(Action::CancelTimer(Timer::B));
                }
                self.state = Proceeding;
                out.push(Action::Response(response));
            }
            Calling | Proceeding if status.is_success() => {
                // RFC 6026 §7.2: Accepted, so 2xx retransmissions and forked 2xx reach the
                // user, who ACKs each.
                self.state = Accepted;
                out.push(Action::CancelTimer(Timer::A));
                out.push(Action::CancelTimer(Timer::B));
                out.push(Action::Response(response));
                out.push(Action::SetTimer(
                    Timer::M,
                    now + self.timers.config().duration(Timer::M, self.reliable),
                ));
            }
            Calling | Proceeding => {
                self.state = Completed;
                out.push(Action::CancelTimer(Timer::A));
                out.push(Action::CancelTimer(Timer::B));
                let ack = ack_for(&self.request, &response).to_bytes();
                out.push(Action::Transmit(ack.clone()));
                self.ack = Some(ack);
                out.push(Action::Response(response));
                out.push(Action::SetTimer(
                    Timer::D,
                    now + self.timers.config().duration(Timer::D, self.reliable),
                ));
            }
            Accepted if status.is_success() => out.push(Action::Response(response)),
            // §17.1.1.2: a retransmitted final response gets the same ACK again.
            Completed if status.is_final() && !status.is_success() => {
                if let Some(ack) = &self.ack {
                    out.push(Action::Transmit(ack.clone()));
                }
            }
            Accepted | Completed | Terminated => {}
        }
    }

    /// A timer this transaction armed has fired.
    pub fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        use ClientInviteState::*;
        match (timer, self.state) {
            (Timer::A, Calling) => {
                out.push(Action::Transmit(self.bytes.clone()));
                self.interval = to_micros(self.timers.config().backoff(Timer::A, from_micros(self.interval)));
                out.push(Action::SetTimer(Timer::A, now + from_micros(self.interval)));
            }
            // §17.1.1.2: Timer B only ends the transaction while still Calling.
            (Timer::B, Calling) => {
                self.state = Terminated;
                out.push(Action::Timeout(Timer::B));
                out.push(Action::Terminated);
            }
            (Timer::D, Completed) | (Timer::M, Accepted) => {
                self.state = Terminated;
                out.push(Action::Terminated);
            }
            _ => {}
        }
    }

    /// The transport failed to send (§17.1.4).
    pub fn on_transport_error(&mut self, out: &mut Vec<Action>) {
        if matches!(
            self.state,
            ClientInviteState::Calling | ClientInviteState::Proceeding
        ) {
            self.state = ClientInviteState::Terminated;
            out.push(Action::TransportError);
            out.push(Action::Terminated);
        }
    }
}

/// The ACK for a non-2xx final response, built by the client transaction as RFC 3261
/// §17.1.1.3 says: the INVITE's Request-URI, Call-ID, From, CSeq number and top Via (only
/// it), the response's To (with its tag), the INVITE's Route headers, and the INVITE's
/// Max-Forwards (70 when it has none).
///
/// ```
/// use sip_core::message::{HeaderName, Method, RequestBuilder, StatusCode, Uri, response_to};
/// use sip_core::transaction::ack_for;
///
/// let invite = RequestBuilder::new(Method::Invite, Uri::parse("sip:bob@192.0.2.2").unwrap())
///     .via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1")
///     .max_forwards(16)
///     .from("<sip:alice@192.0.2.1>;tag=a")
///     .to("<sip:bob@192.0.2.2>")
///     .call_id("c1")
///     .cseq(1)
///     .build()
///     .unwrap();
/// let busy = response_to(&invite, StatusCode::BUSY_HERE, None, Some("b"));
/// let ack = ack_for(&invite, &busy);
/// assert_eq!(ack.method, Method::Ack);
/// assert_eq!(ack.headers.get(HeaderName::MaxForwards), Some("16"));
/// assert_eq!(ack.headers.get(HeaderName::To), Some("<sip:bob@192.0.2.2>;tag=b"));
/// ```
pub fn ack_for(invite: &Request, response: &Response) -> Request {
    let to = response.headers.get(HeaderName::To).unwrap_or_default();
    same_transaction_request(invite, Method::Ack, to)
}

/// A request that travels in the INVITE's transaction (the non-2xx ACK, §17.1.1.3, and
/// CANCEL, §9.1): the INVITE's Request-URI, top Via (only it), Route headers, From, Call-ID
/// and CSeq number, with `method` and the given To; the INVITE's Max-Forwards (70 when it
/// has none, RFC 3261 §8.1.1.6), no body.
pub(crate) fn same_transaction_request(invite: &Request, method: Method, to: &str) -> Request {
    let source = &invite.headers;
    let mut headers = HeaderWriter::with_capacity(512, 8);
    if let Some(via) = source.values(HeaderName::Via).next() {
        headers.push(HeaderName::Via, via);
    }
    // What the INVITE was sent with: the Endpoint's configured value.
    let max_forwards = source.get(HeaderName::MaxForwards).unwrap_or("70");
    headers.push(HeaderName::MaxForwards, max_forwards);
    for route in source.get_all(HeaderName::Route) {
        headers.push(HeaderName::Route, route);
    }
    if let Some(from) = source.get(HeaderName::From) {
        headers.push(HeaderName::From, from);
    }
    headers.push(HeaderName::To, to);
    if let Some(call_id) = source.get(HeaderName::CallId) {
        headers.push(HeaderName::CallId, call_id);
    }
    let seq = source
        .cseq()
        .and_then(Result::ok)
        .map_or(0, |c| c.seq)
        .to_string();
    headers.push_parts(HeaderName::CSeq, &[&seq, " ", method.as_str()]);
    headers.push(HeaderName::ContentLength, "0");
    Request {
        method,
        uri: invite.uri.clone(),
        version: Version::SIP_2_0,
        headers: headers.finish(),
        body: Bytes::new(),
    }
}
