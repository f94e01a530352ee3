//! Invite sessions inside the [`Endpoint`]: the call model's commands, the routing of
//! transaction events to calls, and the session timers of RFC 3261 §13–15, RFC 3262 and
//! RFC 3311. The dialog state itself is [`Dialog`]; offer/answer is [`OfferAnswer`]; hold
//! directions come from [`crate::sdp`].

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;

use crate::call::{CallError, CallEvent, CallState, EndReason, Side, Transition};
use crate::dialog::{CSeqCheck, Dialog, DialogKey, DialogState, OfferAnswer, Role, uri_socket_addr};
use crate::message::{HeaderName, HeaderWriter, Method, Request, Response, StatusCode, Uri, Version};
use crate::transaction::ClientInviteState;

use super::types::CallId;
use super::{ClientMachine, Endpoint, Event, Route, SendError, TransactionId, Transport};

/// The `Allow` we advertise in dialog-creating messages.
const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, UPDATE, PRACK, REFER, NOTIFY, SUBSCRIBE";
/// The body type of session descriptions.
const SDP: &str = "application/sdp";

/// Why a client transaction of a call exists, so its events reach the right handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// The INVITE that set the call up.
    Invite,
    /// Our CANCEL of it.
    Cancel,
    /// Our BYE.
    Bye,
    /// A BYE ending an extra 2xx from another fork (§13.2.2.4).
    ForkBye,
    /// Our PRACK (RFC 3262).
    Prack,
    /// Our re-INVITE.
    Reinvite,
    /// Our UPDATE (RFC 3311).
    Update,
    /// A request the application sent in the dialog: its events go to the application.
    App,
}

/// What a re-INVITE or UPDATE of ours is for, so a glare retry (§14.1) redoes it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Intent {
    Hold,
    Unhold,
    Offer(Bytes),
}

/// Timers of the call layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum CallTimer {
    /// Resend our 2xx (§13.3.1.4: T1 doubling to T2).
    Retransmit2xx,
    /// No ACK within 64·T1: end the session with BYE.
    AckTimeout,
    /// Resend our reliable provisional (RFC 3262 §3).
    RetransmitProvisional,
    /// No PRACK within 64·T1: reject the INVITE with 5xx.
    PrackTimeout,
    /// Retry a re-INVITE or UPDATE that met glare (§14.1).
    GlareRetry,
}

/// A response we resend on a timer until the peer acknowledges it.
#[derive(Debug)]
struct Resend {
    payload: Bytes,
    route: Route,
    interval: Duration,
}

/// One INVITE session.
#[derive(Debug)]
pub(super) struct Call {
    id: CallId,
    role: Role,
    state: CallState,
    history: Vec<Transition>,
    end_reason: Option<EndReason>,
    /// The INVITE transaction that set the call up (while it lives).
    invite_tx: Option<TransactionId>,
    /// UAC: our INVITE (dialogs from forks are made from it); UAS: the INVITE until the
    /// final response. Dropped once connected, so a live call does not keep it.
    invite: Option<Request>,
    /// Where the peer is: the transport and flow of the INVITE, and its address.
    route: Route,
    /// UAC: every early dialog, then the confirmed one; UAS: ours. The current dialog is
    /// the confirmed one, else the newest.
    dialogs: Vec<Dialog>,
    /// UAC: forks whose extra 2xx we ACKed and BYEd, with that ACK for its retransmissions.
    killed_forks: Vec<(ByteString, Bytes, Route)>,
    /// Our contact, as the Contact header value.
    contact: ByteString,
    local_body: Bytes,
    remote_body: Bytes,
    oa: OfferAnswer,
    local_hold: bool,
    remote_hold: bool,
    /// UAS: the 2xx (initial or re-INVITE) awaiting its ACK, and the INVITE's CSeq.
    awaiting_ack: Option<(u32, Resend)>,
    /// UAC: the ACK of the last 2xx, resent when that 2xx is (§13.2.2.4).
    last_ack: Option<(u32, Bytes, Route)>,
    /// Our re-INVITE/UPDATE in progress.
    outgoing: Option<(TransactionId, Intent)>,
    /// A re-INVITE from the peer not yet ACKed.
    incoming_reinvite: bool,
    /// A glare retry waiting for its timer.
    glare_retry: Option<(Method, Intent)>,
    /// UAC asked to cancel before any provisional: the CANCEL waits for one (§9.1).
    cancel_pending: bool,
    /// UAS asked for BYE before the ACK came (§15: wait for it).
    bye_after_ack: bool,
    /// Reliable provisionals (RFC 3262).
    reliable: Reliable,
    /// Armed call timers.
    armed: Vec<(CallTimer, Instant)>,
    connected_once: bool,
}

/// RFC 3262 state of one call.
#[derive(Debug, Default)]
struct Reliable {
    /// UAS: send provisionals reliably.
    enabled: bool,
    /// UAS: the RSeq of the next reliable provisional.
    next_rseq: u32,
    /// UAS: the unacknowledged one, with its RSeq.
    outstanding: Option<(u32, Resend)>,
    /// UAS: provisionals waiting for the outstanding one to be PRACKed (§3: one at a time).
    queued: Vec<Response>,
    /// UAC: the last RSeq received, per dialog remote tag.
    last_rseq: Vec<(ByteString, u32)>,
}

impl Call {
    /// The confirmed dialog, else the newest early one.
    fn dialog(&self) -> Option<&Dialog> {
        self.dialogs
            .iter()
            .find(|d| d.state() == DialogState::Confirmed)
            .or(self.dialogs.last())
    }

    fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        let index = self
            .dialogs
            .iter()
            .position(|d| d.state() == DialogState::Confirmed)
            .or(self.dialogs.len().checked_sub(1))?;
        self.dialogs.get_mut(index)
    }

    fn invite_seq(&self) -> u32 {
        self.invite
            .as_ref()
            .and_then(|i| i.headers.cseq())
            .and_then(Result::ok)
            .map_or(1, |c| c.seq)
    }

    /// The content type of our session descriptions.
    fn is_up(&self) -> bool {
        matches!(self.state, CallState::Connected | CallState::Hold)
    }
}

/// The call layer's share of the Endpoint: calls, the dialog index, transaction owners and
/// call timers.
#[derive(Debug, Default)]
pub(super) struct Calls {
    pub(super) calls: std::collections::BTreeMap<CallId, Box<Call>>,
    /// Lookup only: dialog id → call.
    pub(super) by_dialog: std::collections::HashMap<DialogKey, CallId, foldhash::quality::FixedState>,
    /// Lookup only: client or server transaction → the call and what it is for.
    pub(super) transactions:
        std::collections::HashMap<TransactionId, (CallId, Purpose), foldhash::quality::FixedState>,
    pub(super) timers: BTreeSet<(Instant, CallId, CallTimer)>,
    /// Events from the transaction layer waiting for the call layer.
    pub(super) inbox: std::collections::VecDeque<Event>,
    pub(super) dispatching: bool,
}

impl Calls {
    pub(super) fn new(hasher: foldhash::quality::FixedState) -> Self {
        Calls {
            calls: Default::default(),
            by_dialog: std::collections::HashMap::with_hasher(hasher.clone()),
            transactions: std::collections::HashMap::with_hasher(hasher),
            timers: BTreeSet::new(),
            inbox: Default::default(),
            dispatching: false,
        }
    }
}

impl Endpoint {
    // ---- getters ----

    /// The state of a live call.
    pub fn call_state(&self, call: CallId) -> Option<CallState> {
        self.calls.calls.get(&call).map(|c| c.state)
    }

    /// The transitions of a live call so far (an ended call hands its history over in
    /// [`CallEvent::Terminated`]).
    pub fn call_history(&self, call: CallId) -> Option<&[Transition]> {
        self.calls.calls.get(&call).map(|c| c.history.as_slice())
    }

    /// The dialog of a live call (the confirmed one, else the newest early one).
    pub fn call_dialog(&self, call: CallId) -> Option<&Dialog> {
        self.calls.calls.get(&call).and_then(|c| c.dialog())
    }

    /// Live calls.
    pub fn call_count(&self) -> usize {
        self.calls.calls.len()
    }

    /// Live dialogs, early ones included.
    pub fn dialog_count(&self) -> usize {
        self.calls.calls.values().map(|c| c.dialogs.len()).sum()
    }

    // ---- routing of transaction events ----

    /// Where the transaction layer puts an event: the call layer's inbox when a call owns
    /// it or may want it, else the user's queue.
    pub(super) fn emit(&mut self, event: Event) {
        let for_calls = self.config.calls.enabled
            && match &event {
                Event::Request { .. } | Event::Ack { .. } | Event::StrayInviteSuccess { .. } => true,
                Event::Response { transaction, .. }
                | Event::Timeout { transaction, .. }
                | Event::TransportError { transaction }
                | Event::Cancelled { transaction }
                | Event::Terminated { transaction } => self.calls.transactions.contains_key(transaction),
                _ => false,
            };
        if for_calls {
            self.calls.inbox.push_back(event);
        } else {
            self.events.push_back(event);
        }
    }

    /// Runs the call layer over what the transaction layer produced. Commands the call
    /// layer issues feed the same inbox; the loop ends when it is empty.
    pub(super) fn dispatch(&mut self, now: Instant) {
        if self.calls.dispatching {
            return;
        }
        self.calls.dispatching = true;
        while let Some(event) = self.calls.inbox.pop_front() {
            self.on_call_input(now, event);
        }
        self.calls.dispatching = false;
    }

    fn on_call_input(&mut self, now: Instant, event: Event) {
        match event {
            Event::Request {
                transaction,
                request,
                source,
                transport,
            } => self.on_request_for_calls(now, transaction, request, source, transport),
            Event::Ack { request, .. } => self.on_ack_for_calls(now, request),
            Event::StrayInviteSuccess { response } => self.on_stray_success(response),
            Event::Response {
                transaction,
                response,
            } => {
                let Some(&(call, purpose)) = self.calls.transactions.get(&transaction) else {
                    return;
                };
                if purpose == Purpose::App {
                    self.call_event(
                        call,
                        CallEvent::Response {
                            transaction,
                            response,
                        },
                    );
                    return;
                }
                self.with_call(now, call, |this, c| {
                    this.on_call_response(now, c, purpose, transaction, response)
                });
            }
            Event::Timeout { transaction, .. } | Event::TransportError { transaction } => {
                let Some(&(call, purpose)) = self.calls.transactions.get(&transaction) else {
                    return;
                };
                if purpose == Purpose::App {
                    self.events.push_back(event);
                    return;
                }
                let transport = matches!(event, Event::TransportError { .. });
                self.with_call(now, call, |this, c| {
                    this.on_call_failure(now, c, purpose, transport)
                });
            }
            Event::Cancelled { transaction } => {
                let Some(&(call, _)) = self.calls.transactions.get(&transaction) else {
                    return;
                };
                self.with_call(now, call, |this, c| {
                    this.stop_reliable(c);
                    this.end(now, c, EndReason::RemoteCancelled, "CANCEL received");
                });
            }
            Event::Terminated { transaction } => {
                if let Some((call, purpose)) = self.calls.transactions.remove(&transaction) {
                    if let Some(c) = self.calls.calls.get_mut(&call) {
                        if c.invite_tx == Some(transaction) {
                            // Its last forked 2xx has arrived (Timer M) or its final
                            // response is done: the INVITE is no longer needed.
                            c.invite_tx = None;
                            c.invite = None;
                        }
                    }
                    if purpose == Purpose::App {
                        self.events.push_back(Event::Terminated { transaction });
                    }
                }
            }
            other => self.events.push_back(other),
        }
    }

    /// Takes the call out of the map while `f` works on it (so `f` may use the whole
    /// Endpoint), then puts it back, or forgets it when it ended.
    fn with_call<R>(
        &mut self,
        now: Instant,
        id: CallId,
        f: impl FnOnce(&mut Self, &mut Call) -> R,
    ) -> Option<R> {
        let mut call = self.calls.calls.remove(&id)?;
        let result = f(self, &mut call);
        if call.state == CallState::Ended {
            self.forget_call(now, call);
        } else {
            self.calls.calls.insert(id, call);
        }
        Some(result)
    }

    fn forget_call(&mut self, now: Instant, mut call: Box<Call>) {
        let _ = now;
        for (timer, at) in call.armed.drain(..) {
            self.calls.timers.remove(&(at, call.id, timer));
        }
        for dialog in &call.dialogs {
            if self.calls.by_dialog.get(dialog.key()) == Some(&call.id) {
                self.calls.by_dialog.remove(dialog.key());
            }
        }
        if call.connected_once {
            self.stats.calls.successful += 1;
        } else {
            self.stats.calls.failed += 1;
        }
        let reason = call.end_reason.take().unwrap_or(EndReason::Timeout);
        let history = std::mem::take(&mut call.history);
        self.call_event(call.id, CallEvent::Terminated { reason, history });
    }

    fn call_event(&mut self, call: CallId, event: CallEvent) {
        self.events.push_back(Event::Call { call, event });
    }

    fn set_state(&mut self, now: Instant, call: &mut Call, to: CallState, cause: &'static str) {
        let from = call.state;
        if from == to {
            return;
        }
        call.state = to;
        call.history.push(Transition {
            from,
            to,
            cause,
            at: now,
        });
        if to == CallState::Connected {
            call.connected_once = true;
        }
        self.call_event(call.id, CallEvent::StateChanged { from, to });
    }

    fn end(&mut self, now: Instant, call: &mut Call, reason: EndReason, cause: &'static str) {
        if call.state == CallState::Ended {
            return;
        }
        for dialog in &mut call.dialogs {
            dialog.terminate();
        }
        call.end_reason = Some(reason);
        self.set_state(now, call, CallState::Ended, cause);
    }

    // ---- timers ----

    fn arm(&mut self, call: &mut Call, timer: CallTimer, at: Instant) {
        self.disarm(call, timer);
        call.armed.push((timer, at));
        self.calls.timers.insert((at, call.id, timer));
    }

    fn disarm(&mut self, call: &mut Call, timer: CallTimer) {
        call.armed.retain(|&(t, at)| {
            if t == timer {
                self.calls.timers.remove(&(at, call.id, t));
                false
            } else {
                true
            }
        });
    }

    /// The earliest call timer.
    pub(super) fn next_call_deadline(&self) -> Option<Instant> {
        self.calls.timers.first().map(|(at, _, _)| *at)
    }

    /// Fires the earliest call timer if due; false when none is.
    pub(super) fn fire_call_timer(&mut self, now: Instant) -> bool {
        let Some(&(at, id, timer)) = self.calls.timers.first() else {
            return false;
        };
        if at > now {
            return false;
        }
        self.calls.timers.remove(&(at, id, timer));
        self.with_call(now, id, |this, call| {
            call.armed.retain(|&(t, _)| t != timer);
            this.on_call_timer(now, call, timer);
        });
        true
    }

    fn on_call_timer(&mut self, now: Instant, call: &mut Call, timer: CallTimer) {
        let t2 = self.config.timers.t2;
        match timer {
            CallTimer::Retransmit2xx => {
                if let Some((_, resend)) = &mut call.awaiting_ack {
                    let (payload, route) = (resend.payload.clone(), resend.route);
                    resend.interval = (resend.interval * 2).min(t2);
                    let next = now + resend.interval;
                    self.stats.retransmitted += 1;
                    self.transmit(route, payload);
                    self.arm(call, CallTimer::Retransmit2xx, next);
                }
            }
            CallTimer::AckTimeout => {
                if call.awaiting_ack.take().is_some() {
                    self.disarm(call, CallTimer::Retransmit2xx);
                    // §13.3.1.4: no ACK — the session is over; end it with BYE.
                    let _ = self.send_bye(now, call);
                    call.end_reason = Some(EndReason::NoAck);
                    if call.state != CallState::Ending {
                        self.set_state(now, call, CallState::Ending, "no ACK");
                    }
                }
            }
            CallTimer::RetransmitProvisional => {
                if let Some((_, resend)) = &mut call.reliable.outstanding {
                    let (payload, route) = (resend.payload.clone(), resend.route);
                    resend.interval = (resend.interval * 2).min(t2);
                    let next = now + resend.interval;
                    self.stats.retransmitted += 1;
                    self.transmit(route, payload);
                    self.arm(call, CallTimer::RetransmitProvisional, next);
                }
            }
            CallTimer::PrackTimeout => {
                if call.reliable.outstanding.is_some() {
                    self.stop_reliable(call);
                    // RFC 3262 §3: no PRACK for 64·T1 — reject the INVITE with a 5xx.
                    if let Some(tx) = call.invite_tx {
                        if let Ok(mut response) = self.response(tx, StatusCode::SERVER_INTERNAL_ERROR) {
                            response.reason = ByteString::from_static("No PRACK");
                            let _ = self.respond(now, tx, response);
                        }
                    }
                    self.end(now, call, EndReason::NoPrack, "no PRACK");
                }
            }
            CallTimer::GlareRetry => {
                if let Some((method, intent)) = call.glare_retry.take() {
                    if call.is_up() && call.oa.is_stable() && call.outgoing.is_none() {
                        let _ = self.modify(now, call, method, intent);
                    }
                }
            }
        }
    }

    // ---- commands ----

    /// Starts a call to `target` with `body` (an SDP offer, or empty for a delayed offer)
    /// and returns its id. From is the configured identity with a fresh tag; To is the
    /// target; the INVITE goes to the outbound proxy if one is configured, else to the
    /// target's host, which must be an IP address (no DNS in the core yet).
    pub fn invite(
        &mut self,
        now: Instant,
        target: Uri,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<CallId, CallError> {
        if self.calls.calls.len() >= self.config.limits.max_calls {
            return Err(CallError::TooManyCalls);
        }
        let proxy = match &self.config.calls.outbound_proxy {
            Some(text) => Some(Uri::parse(text).map_err(|e| CallError::Build(e.to_string()))?),
            None => None,
        };
        let next_hop = proxy.as_ref().unwrap_or(&target);
        let destination =
            uri_socket_addr(next_hop).ok_or_else(|| CallError::Unresolvable(next_hop.to_string()))?;
        let transport = match next_hop.transport_param() {
            Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
            _ => Transport::Udp,
        };
        let call_id = self.rng.token(20);
        let tag = self.rng.token(10);
        let contact = self.contact_for(transport);
        let identity = self
            .config
            .calls
            .identity
            .clone()
            .unwrap_or_else(|| format!("sip:{}", self.local_text));
        let mut headers = HeaderWriter::with_capacity(512, 12);
        headers.push(HeaderName::Via, "SIP/2.0/UDP placeholder");
        headers.push(HeaderName::MaxForwards, "70");
        if let Some(proxy) = &proxy {
            headers.push_parts(HeaderName::Route, &["<", proxy.as_str(), ";lr>"]);
        }
        headers.push_parts(HeaderName::From, &["<", &identity, ">;tag=", &tag]);
        headers.push_parts(HeaderName::To, &["<", target.as_str(), ">"]);
        headers.push(HeaderName::CallId, &call_id);
        headers.push(HeaderName::CSeq, "1 INVITE");
        headers.push(HeaderName::Contact, &contact);
        headers.push(HeaderName::Allow, ALLOW);
        if self.config.calls.reliable_provisionals {
            headers.push(HeaderName::Supported, "100rel");
        }
        if !body.is_empty() {
            headers.push(HeaderName::ContentType, content_type.unwrap_or(SDP));
        }
        headers.push(HeaderName::ContentLength, &body.len().to_string());
        let request = Request {
            method: Method::Invite,
            uri: target,
            version: Version::SIP_2_0,
            headers: headers.finish(),
            body: body.clone(),
        };
        let tx = self.send_request(now, request, destination, transport)?;
        let (route, invite) = match self.clients.get(&tx) {
            Some(entry) => match &entry.machine {
                ClientMachine::Invite(m) => (entry.route, m.request().clone()),
                ClientMachine::NonInvite(_) => return Err(CallError::Send(SendError::InvalidState(tx))),
            },
            None => return Err(CallError::Send(SendError::UnknownTransaction(tx))),
        };
        let id = CallId(self.fresh_id());
        let mut call = Box::new(Call {
            id,
            role: Role::Uac,
            state: CallState::Idle,
            history: Vec::new(),
            end_reason: None,
            invite_tx: Some(tx),
            invite: Some(invite),
            route,
            dialogs: Vec::new(),
            killed_forks: Vec::new(),
            contact: ByteString::from(contact),
            oa: if body.is_empty() {
                OfferAnswer::Stable
            } else {
                OfferAnswer::LocalOffer
            },
            local_body: body,
            remote_body: Bytes::new(),
            local_hold: false,
            remote_hold: false,
            awaiting_ack: None,
            last_ack: None,
            outgoing: None,
            incoming_reinvite: false,
            glare_retry: None,
            cancel_pending: false,
            bye_after_ack: false,
            reliable: Reliable::default(),
            armed: Vec::new(),
            connected_once: false,
        });
        self.stats.calls.invites += 1;
        self.calls.transactions.insert(tx, (id, Purpose::Invite));
        self.set_state(now, &mut call, CallState::Calling, "INVITE sent");
        self.calls.calls.insert(id, call);
        self.dispatch(now);
        Ok(id)
    }

    /// Sends 180 Ringing on an incoming call (reliably when RFC 3262 applies).
    pub fn ringing(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        self.provisional(now, call, StatusCode::RINGING, Bytes::new(), None)
    }

    /// Sends a provisional response (101–199) on an incoming call, with an optional body
    /// (183 with an SDP answer is early media). Reliable (RFC 3262: `Require: 100rel`,
    /// `RSeq`, retransmitted until PRACK) when the INVITE requires it, or supports it and
    /// [`CallConfig::reliable_provisionals`](crate::call::CallConfig) is on.
    pub fn provisional(
        &mut self,
        now: Instant,
        call: CallId,
        status: StatusCode,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<(), CallError> {
        if !(101..200).contains(&status.as_u16()) {
            return Err(CallError::BadStatus(status.as_u16()));
        }
        let result = self
            .with_call(now, call, |this, c| {
                let tx = this.pending_uas_invite(c)?;
                let mut response = this.dialog_response(c, tx, status)?;
                if !body.is_empty() {
                    if c.oa == OfferAnswer::RemoteOffer {
                        let _ = c.oa.send_answer();
                        c.local_body = body.clone();
                    }
                    response.set_body(body, Some(content_type.unwrap_or(SDP)));
                }
                if c.reliable.enabled {
                    if c.reliable.outstanding.is_some() {
                        // RFC 3262 §3: one unacknowledged reliable provisional at a time.
                        c.reliable.queued.push(response);
                        return Ok(());
                    }
                    this.send_reliable(now, c, tx, response)?;
                } else {
                    this.respond(now, tx, response)?;
                }
                if c.state == CallState::Idle {
                    this.set_state(now, c, CallState::Ringing, "provisional sent");
                }
                Ok(())
            })
            .unwrap_or(Err(CallError::UnknownCall(call)));
        self.dispatch(now);
        result
    }

    /// Answers an incoming call with 200 OK carrying `body` (our answer, or our offer when
    /// the INVITE had none). The 2xx is retransmitted until the ACK comes (§13.3.1.4).
    pub fn answer(
        &mut self,
        now: Instant,
        call: CallId,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<(), CallError> {
        let result = self
            .with_call(now, call, |this, c| {
                let tx = this.pending_uas_invite(c)?;
                let mut response = this.dialog_response(c, tx, StatusCode::OK)?;
                let body = if body.is_empty() {
                    c.local_body.clone()
                } else {
                    body
                };
                match c.oa {
                    OfferAnswer::RemoteOffer => {
                        let _ = c.oa.send_answer();
                    }
                    // No offer in the INVITE: our 2xx makes it, the ACK answers (§13.2.1).
                    OfferAnswer::Stable if c.remote_body.is_empty() && !body.is_empty() => {
                        let _ = c.oa.send_offer();
                    }
                    _ => {}
                }
                if !body.is_empty() {
                    c.local_body = body.clone();
                    response.set_body(body, Some(content_type.unwrap_or(SDP)));
                }
                this.stop_reliable(c);
                let seq = c.invite_seq();
                this.send_2xx(now, c, tx, seq, response)?;
                // §12.1.1: the dialog is confirmed once our 2xx is out.
                if let Some(dialog) = c.dialogs.first_mut() {
                    dialog.mark_confirmed();
                }
                c.invite = None;
                this.set_state(now, c, CallState::Answering, "200 sent");
                Ok(())
            })
            .unwrap_or(Err(CallError::UnknownCall(call)));
        self.dispatch(now);
        result
    }

    /// Rejects an incoming call with a 300–699 final response.
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallId,
        status: StatusCode,
        reason: Option<&str>,
    ) -> Result<(), CallError> {
        if !(300..700).contains(&status.as_u16()) {
            return Err(CallError::BadStatus(status.as_u16()));
        }
        let result = self
            .with_call(now, call, |this, c| {
                let tx = this.pending_uas_invite(c)?;
                let mut response = this.response(tx, status)?;
                if let Some(reason) = reason {
                    response.reason = ByteString::from(reason.replace(['\r', '\n'], " "));
                }
                this.stop_reliable(c);
                this.respond(now, tx, response)?;
                c.invite = None;
                this.end(now, c, EndReason::Rejected(status), "rejected");
                Ok(())
            })
            .unwrap_or(Err(CallError::UnknownCall(call)));
        self.dispatch(now);
        result
    }

    /// Cancels an outgoing call that has no final response yet (§9.1). Before any
    /// provisional arrived the CANCEL waits for one, as the RFC requires.
    pub fn cancel(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        let result = self
            .with_call(now, call, |this, c| {
                if c.role != Role::Uac || !matches!(c.state, CallState::Calling | CallState::Ringing) {
                    return Err(CallError::InvalidState {
                        call: c.id,
                        state: c.state,
                    });
                }
                this.set_state(now, c, CallState::Ending, "cancel");
                c.end_reason = Some(EndReason::Cancelled);
                this.send_cancel_if_possible(now, c);
                Ok(())
            })
            .unwrap_or(Err(CallError::UnknownCall(call)));
        self.dispatch(now);
        result
    }

    /// Ends an established call with BYE (§15). Before our 2xx is ACKed the BYE waits for
    /// the ACK (or its timeout), as §15 requires.
    pub fn bye(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        let result = self
            .with_call(now, call, |this, c| match c.state {
                CallState::Connected | CallState::Hold | CallState::Referring | CallState::Replacing => {
                    this.send_bye(now, c)?;
                    c.end_reason = Some(EndReason::LocalBye);
                    this.set_state(now, c, CallState::Ending, "BYE sent");
                    Ok(())
                }
                CallState::Answering => {
                    c.bye_after_ack = true;
                    c.end_reason = Some(EndReason::LocalBye);
                    this.set_state(now, c, CallState::Ending, "BYE after ACK");
                    Ok(())
                }
                state => Err(CallError::InvalidState { call: c.id, state }),
            })
            .unwrap_or(Err(CallError::UnknownCall(call)));
        self.dispatch(now);
        result
    }

    /// Ends a call whatever its state: CANCEL while an outgoing call rings, 603 Decline
    /// for an unanswered incoming call, BYE once answered. Harmless when already ending.
    pub fn hangup(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        let (role, state) = self
            .calls
            .calls
            .get(&call)
            .map(|c| (c.role, c.state))
            .ok_or(CallError::UnknownCall(call))?;
        match (role, state) {
            (_, CallState::Ending | CallState::Ended) => Ok(()),
            (Role::Uac, CallState::Calling | CallState::Ringing | CallState::Idle) => self.cancel(now, call),
            (Role::Uas, CallState::Idle | CallState::Ringing) => {
                self.reject(now, call, StatusCode::DECLINE, None)
            }
            _ => self.bye(now, call),
        }
    }

    /// Puts the call on hold: a re-INVITE whose offer is our session description with
    /// `sendonly` (or `inactive` when the peer already holds us), RFC 3264 §8.4.
    pub fn hold(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        self.modify_command(now, call, Method::Invite, Intent::Hold)
    }

    /// Takes the call off hold: a re-INVITE restoring `sendrecv` (or `recvonly` while the
    /// peer still holds us).
    pub fn unhold(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        self.modify_command(now, call, Method::Invite, Intent::Unhold)
    }

    /// Sends a re-INVITE with a new offer (§14.1). Glare (491) is retried automatically.
    pub fn reinvite(&mut self, now: Instant, call: CallId, body: Bytes) -> Result<(), CallError> {
        self.modify_command(now, call, Method::Invite, Intent::Offer(body))
    }

    /// Sends an UPDATE with a new offer (RFC 3311), in an early or confirmed dialog.
    pub fn update(&mut self, now: Instant, call: CallId, body: Bytes) -> Result<(), CallError> {
        self.modify_command(now, call, Method::Update, Intent::Offer(body))
    }

    /// Sends any request inside the call's dialog (INFO, MESSAGE, OPTIONS, NOTIFY…); its
    /// response arrives as [`CallEvent::Response`].
    pub fn request_in_dialog(
        &mut self,
        now: Instant,
        call: CallId,
        method: Method,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<TransactionId, CallError> {
        if matches!(
            method,
            Method::Ack | Method::Cancel | Method::Invite | Method::Bye
        ) {
            return Err(CallError::Build(format!("{method} is sent by the call commands")));
        }
        let result = self
            .with_call(now, call, |this, c| {
                let contact = (method == Method::Update).then(|| c.contact.clone());
                let invalid = CallError::InvalidState {
                    call: c.id,
                    state: c.state,
                };
                let dialog = c.dialog_mut().ok_or(invalid)?;
                let request = dialog.request_with(method, contact.as_deref(), body, content_type);
                this.send_in_dialog(now, c, request, Purpose::App)
            })
            .unwrap_or(Err(CallError::UnknownCall(call)));
        self.dispatch(now);
        result
    }

    // ---- command helpers ----

    fn modify_command(
        &mut self,
        now: Instant,
        call: CallId,
        method: Method,
        intent: Intent,
    ) -> Result<(), CallError> {
        let result = self
            .with_call(now, call, |this, c| {
                let allowed = c.is_up()
                    || (method == Method::Update && c.dialog().is_some() && c.state != CallState::Ending);
                if !allowed {
                    return Err(CallError::InvalidState {
                        call: c.id,
                        state: c.state,
                    });
                }
                // §14.1: no re-INVITE while another INVITE transaction is in progress in
                // either direction; RFC 3311 §5.1: no UPDATE while an offer is outstanding.
                if !c.oa.is_stable()
                    || c.outgoing.is_some()
                    || c.incoming_reinvite
                    || c.awaiting_ack.is_some()
                {
                    return Err(CallError::OfferPending);
                }
                this.modify(now, c, method, intent)
            })
            .unwrap_or(Err(CallError::UnknownCall(call)));
        self.dispatch(now);
        result
    }

    /// Sends a re-INVITE or UPDATE carrying the offer `intent` calls for.
    fn modify(
        &mut self,
        now: Instant,
        c: &mut Call,
        method: Method,
        intent: Intent,
    ) -> Result<(), CallError> {
        let body = match &intent {
            Intent::Offer(body) => body.clone(),
            Intent::Hold => hold_offer(&c.local_body, true, c.remote_hold),
            Intent::Unhold => hold_offer(&c.local_body, false, c.remote_hold),
        };
        let contact = c.contact.clone();
        let invalid = CallError::InvalidState {
            call: c.id,
            state: c.state,
        };
        let dialog = c.dialog_mut().ok_or(invalid)?;
        let content_type = (!body.is_empty()).then_some(SDP);
        let request = dialog.request_with(method.clone(), Some(&contact), body.clone(), content_type);
        let purpose = if method == Method::Invite {
            Purpose::Reinvite
        } else {
            Purpose::Update
        };
        let tx = self.send_in_dialog(now, c, request, purpose)?;
        if !body.is_empty() {
            let _ = c.oa.send_offer();
            c.local_body = body;
        }
        if method == Method::Invite {
            self.stats.calls.invites += 1;
        }
        c.outgoing = Some((tx, intent));
        Ok(())
    }

    /// The server transaction of an incoming call still waiting for its final response.
    fn pending_uas_invite(&self, c: &Call) -> Result<TransactionId, CallError> {
        match (c.role, c.state, c.invite_tx) {
            (Role::Uas, CallState::Idle | CallState::Ringing, Some(tx)) => Ok(tx),
            _ => Err(CallError::InvalidState {
                call: c.id,
                state: c.state,
            }),
        }
    }

    /// A dialog-creating response: our Contact and Allow, and the request's Record-Route
    /// copied (§12.1.1).
    fn dialog_response(
        &self,
        c: &Call,
        tx: TransactionId,
        status: StatusCode,
    ) -> Result<Response, CallError> {
        let mut response = self.response(tx, status)?;
        if let Some(invite) = &c.invite {
            for record_route in invite.headers.get_all(HeaderName::RecordRoute) {
                response
                    .headers
                    .push(HeaderName::RecordRoute, ByteString::from(record_route));
            }
        }
        response.headers.push(HeaderName::Contact, c.contact.clone());
        response
            .headers
            .push(HeaderName::Allow, ByteString::from_static(ALLOW));
        Ok(response)
    }

    /// Sends a 2xx to an INVITE and keeps it for retransmission until the ACK (§13.3.1.4;
    /// over reliable transports the transport does the retransmitting).
    fn send_2xx(
        &mut self,
        now: Instant,
        c: &mut Call,
        tx: TransactionId,
        seq: u32,
        response: Response,
    ) -> Result<(), CallError> {
        let payload = response.to_bytes();
        let route = self.servers.get(&tx).map_or(c.route, |e| e.route);
        self.respond(now, tx, response)?;
        let t1 = self.config.timers.t1;
        c.awaiting_ack = Some((
            seq,
            Resend {
                payload,
                route,
                interval: t1,
            },
        ));
        if !route.transport.is_reliable() {
            self.arm(c, CallTimer::Retransmit2xx, now + t1);
        }
        self.arm(c, CallTimer::AckTimeout, now + t1 * 64);
        Ok(())
    }

    /// Sends a reliable provisional (RFC 3262 §3) and arms its retransmission.
    fn send_reliable(
        &mut self,
        now: Instant,
        c: &mut Call,
        tx: TransactionId,
        mut response: Response,
    ) -> Result<(), CallError> {
        let rseq = c.reliable.next_rseq;
        c.reliable.next_rseq = rseq.wrapping_add(1);
        response
            .headers
            .push(HeaderName::Require, ByteString::from_static("100rel"));
        response
            .headers
            .push(HeaderName::RSeq, ByteString::from(rseq.to_string()));
        let payload = response.to_bytes();
        let route = self.servers.get(&tx).map_or(c.route, |e| e.route);
        self.respond(now, tx, response)?;
        let t1 = self.config.timers.t1;
        c.reliable.outstanding = Some((
            rseq,
            Resend {
                payload,
                route,
                interval: t1,
            },
        ));
        if !route.transport.is_reliable() {
            self.arm(c, CallTimer::RetransmitProvisional, now + t1);
        }
        self.arm(c, CallTimer::PrackTimeout, now + t1 * 64);
        Ok(())
    }

    fn stop_reliable(&mut self, c: &mut Call) {
        c.reliable.outstanding = None;
        c.reliable.queued.clear();
        self.disarm(c, CallTimer::RetransmitProvisional);
        self.disarm(c, CallTimer::PrackTimeout);
    }

    fn send_cancel_if_possible(&mut self, now: Instant, c: &mut Call) {
        let Some(tx) = c.invite_tx else {
            return;
        };
        let proceeding = matches!(
            self.clients.get(&tx).map(|e| &e.machine),
            Some(ClientMachine::Invite(m)) if m.state() == ClientInviteState::Proceeding
        );
        if proceeding {
            c.cancel_pending = false;
            if let Ok(cancel) = self.cancel_transaction(now, tx) {
                self.calls.transactions.insert(cancel, (c.id, Purpose::Cancel));
            }
        } else {
            c.cancel_pending = true;
        }
    }

    fn send_bye(&mut self, now: Instant, c: &mut Call) -> Result<TransactionId, CallError> {
        self.disarm(c, CallTimer::Retransmit2xx);
        self.disarm(c, CallTimer::AckTimeout);
        c.awaiting_ack = None;
        c.glare_retry = None;
        self.disarm(c, CallTimer::GlareRetry);
        let invalid = CallError::InvalidState {
            call: c.id,
            state: c.state,
        };
        let dialog = c.dialog_mut().ok_or(invalid)?;
        let bye = dialog.request(Method::Bye);
        self.stats.calls.byes += 1;
        self.send_in_dialog(now, c, bye, Purpose::Bye)
    }

    /// Where requests in the call's dialog go: over the flow the dialog came in on while it
    /// is open (connection reuse), else to the next hop of the route set or remote target,
    /// else back to the address the peer used.
    fn dialog_route(&mut self, c: &Call) -> Result<Route, SendError> {
        let transport = c.route.transport;
        if transport.is_reliable() {
            if let Some(flow) = c.route.flow.filter(|f| self.flows.contains_key(f)) {
                return Ok(Route {
                    flow: Some(flow),
                    ..c.route
                });
            }
        }
        let remote = c
            .dialog()
            .and_then(Dialog::next_hop_addr)
            .unwrap_or(c.route.remote);
        let flow = match transport {
            Transport::Udp => None,
            _ => Some(self.connect(transport, remote)?),
        };
        Ok(Route {
            transport,
            flow,
            remote,
        })
    }

    fn send_in_dialog(
        &mut self,
        now: Instant,
        c: &mut Call,
        mut request: Request,
        purpose: Purpose,
    ) -> Result<TransactionId, CallError> {
        let route = self.dialog_route(c)?;
        if self.transaction_count() >= self.config.limits.max_transactions {
            return Err(CallError::Send(SendError::TooManyTransactions));
        }
        let branch = self.new_branch();
        self.prepare_request(&mut request, &branch, route.transport);
        let tx = self.start_client(now, request, route)?;
        self.calls.transactions.insert(tx, (c.id, purpose));
        Ok(tx)
    }

    /// Sends the ACK for a 2xx (§13.2.2.4), outside any transaction, and remembers it for
    /// the 2xx's retransmissions.
    fn send_ack(&mut self, c: &mut Call, seq: u32, body: Bytes) {
        let Some(dialog) = c.dialog() else {
            return;
        };
        let content_type = (!body.is_empty()).then_some(SDP);
        let mut ack = dialog.ack(seq, body, content_type);
        let Ok(route) = self.dialog_route(c) else {
            return;
        };
        let branch = self.new_branch();
        self.prepare_request(&mut ack, &branch, route.transport);
        let payload = ack.to_bytes();
        self.transmit(route, payload.clone());
        c.last_ack = Some((seq, payload, route));
    }

    fn contact_for(&self, transport: Transport) -> String {
        match transport {
            Transport::Udp => format!("<sip:{}>", self.local_text),
            other => format!(
                "<sip:{};transport={}>",
                self.local_text,
                other.as_str().to_ascii_lowercase()
            ),
        }
    }

    // ---- inputs ----

    fn on_request_for_calls(
        &mut self,
        now: Instant,
        tx: TransactionId,
        request: Request,
        source: std::net::SocketAddr,
        transport: Transport,
    ) {
        let key = DialogKey::of_request(&request);
        match key {
            None if request.method == Method::Invite => {
                self.on_new_invite(now, tx, request, source, transport)
            }
            // Outside any dialog and not a call: the application's.
            None => self.events.push_back(Event::Request {
                transaction: tx,
                request,
                source,
                transport,
            }),
            Some(key) => match self.calls.by_dialog.get(&key).copied() {
                Some(call) => {
                    self.with_call(now, call, |this, c| {
                        this.on_in_dialog_request(now, c, tx, request)
                    });
                }
                // §12.2.2: a request naming a dialog we do not have gets 481.
                None => self.respond_status(now, tx, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST, None),
            },
        }
    }

    fn respond_status(
        &mut self,
        now: Instant,
        tx: TransactionId,
        status: StatusCode,
        retry_after: Option<u32>,
    ) {
        if let Ok(mut response) = self.response(tx, status) {
            if let Some(seconds) = retry_after {
                response
                    .headers
                    .push(HeaderName::RetryAfter, ByteString::from(seconds.to_string()));
            }
            let _ = self.respond(now, tx, response);
        }
    }

    fn on_new_invite(
        &mut self,
        now: Instant,
        tx: TransactionId,
        request: Request,
        source: std::net::SocketAddr,
        transport: Transport,
    ) {
        self.stats.calls.invites += 1;
        let Some((route, to_tag)) = self.servers.get(&tx).map(|e| (e.route, e.to_tag.clone())) else {
            return;
        };
        if self.calls.calls.len() >= self.config.limits.max_calls {
            let retry_after = self.config.retry_after;
            self.stats.rejected += 1;
            self.respond_status(now, tx, StatusCode::SERVICE_UNAVAILABLE, Some(retry_after));
            return;
        }
        let local_seq = self.rng.next_u64() as u32 & 0x7fff_ffff;
        let dialog = match Dialog::uas(&request, &to_tag, local_seq.max(1), true) {
            Ok(dialog) => dialog,
            Err(error) => {
                // §8.1.1.8 / §12.1.1: an INVITE must carry a Contact (and a From tag).
                if let Ok(mut response) = self.response(tx, StatusCode::BAD_REQUEST) {
                    response.reason = ByteString::from(error.to_string());
                    let _ = self.respond(now, tx, response);
                }
                return;
            }
        };
        let require_100rel = request
            .headers
            .option_tags(HeaderName::Require)
            .flatten()
            .any(|t| t.eq_ignore_ascii_case("100rel"));
        let reliable =
            require_100rel || (self.config.calls.reliable_provisionals && request.headers.supports("100rel"));
        let body = Bytes::copy_from_slice(&request.body);
        let id = CallId(self.fresh_id());
        let mut call = Box::new(Call {
            id,
            role: Role::Uas,
            state: CallState::Idle,
            history: Vec::new(),
            end_reason: None,
            invite_tx: Some(tx),
            invite: Some(request.clone()),
            route,
            dialogs: vec![dialog],
            killed_forks: Vec::new(),
            contact: ByteString::from(self.contact_for(transport)),
            oa: if body.is_empty() {
                OfferAnswer::Stable
            } else {
                OfferAnswer::RemoteOffer
            },
            local_body: Bytes::new(),
            remote_body: body,
            local_hold: false,
            remote_hold: false,
            awaiting_ack: None,
            last_ack: None,
            outgoing: None,
            incoming_reinvite: false,
            glare_retry: None,
            cancel_pending: false,
            bye_after_ack: false,
            reliable: Reliable {
                enabled: reliable,
                next_rseq: (self.rng.next_u64() as u32 & 0x7fff_ffff).max(1),
                ..Reliable::default()
            },
            armed: Vec::new(),
            connected_once: false,
        });
        if let Some(dialog) = call.dialogs.first() {
            self.calls.by_dialog.insert(dialog.key().clone(), id);
        }
        self.calls.transactions.insert(tx, (id, Purpose::Invite));
        self.call_event(
            id,
            CallEvent::Incoming {
                request,
                source,
                transport,
            },
        );
        self.set_state(now, &mut call, CallState::Ringing, "INVITE received");
        self.calls.calls.insert(id, call);
    }

    fn on_in_dialog_request(&mut self, now: Instant, c: &mut Call, tx: TransactionId, request: Request) {
        let Some(dialog) = c
            .dialogs
            .iter_mut()
            .find(|d| DialogKey::of_request(&request).as_ref() == Some(d.key()))
        else {
            self.respond_status(now, tx, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST, None);
            return;
        };
        if dialog.check_remote_cseq(&request) == CSeqCheck::OutOfOrder {
            // §12.2.2: lower CSeq than the last one.
            self.respond_status(now, tx, StatusCode::SERVER_INTERNAL_ERROR, None);
            return;
        }
        match request.method {
            Method::Bye => {
                self.stats.calls.byes += 1;
                self.respond_status(now, tx, StatusCode::OK, None);
                // §15.1.2: a pending INVITE of this dialog gets 487.
                if let Ok(tx) = self.pending_uas_invite(c) {
                    self.respond_status(now, tx, StatusCode::REQUEST_TERMINATED, None);
                }
                self.stop_reliable(c);
                self.end(now, c, EndReason::RemoteBye, "BYE received");
            }
            Method::Invite => self.on_reinvite(now, c, tx, request),
            Method::Update => self.on_update(now, c, tx, request),
            Method::Prack => self.on_prack(now, c, tx, &request),
            _ => self.call_event(
                c.id,
                CallEvent::Request {
                    transaction: tx,
                    request,
                },
            ),
        }
    }

    /// A re-INVITE from the peer (§14.2).
    fn on_reinvite(&mut self, now: Instant, c: &mut Call, tx: TransactionId, request: Request) {
        self.stats.calls.invites += 1;
        if c.outgoing.is_some() {
            // Glare: our re-INVITE/UPDATE crosses theirs (§14.2: 491).
            self.respond_status(now, tx, StatusCode::REQUEST_PENDING, None);
            return;
        }
        if !c.is_up() || c.incoming_reinvite || c.awaiting_ack.is_some() {
            // §14.2: an INVITE while one is in progress gets 500 with a Retry-After.
            let wait = (self.rng.next_u64() % 10) as u32;
            self.respond_status(now, tx, StatusCode::SERVER_INTERNAL_ERROR, Some(wait));
            return;
        }
        if let Some(dialog) = c.dialogs.iter_mut().find(|d| d.state() == DialogState::Confirmed) {
            dialog.refresh_target(&request.headers);
        }
        let seq = request.headers.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
        let body = if request.body.is_empty() {
            // No offer: our 2xx offers our current description, the ACK answers (§14.2).
            let offer = hold_offer(&c.local_body, c.local_hold, c.remote_hold);
            let _ = c.oa.send_offer();
            offer
        } else {
            self.take_remote_offer(now, c, &request.body)
        };
        let Ok(mut response) = self.response(tx, StatusCode::OK) else {
            return;
        };
        response.headers.push(HeaderName::Contact, c.contact.clone());
        if !body.is_empty() {
            c.local_body = body.clone();
            response.set_body(body, Some(SDP));
        }
        c.incoming_reinvite = true;
        let _ = self.send_2xx(now, c, tx, seq, response);
    }

    /// An UPDATE from the peer (RFC 3311 §5.2).
    fn on_update(&mut self, now: Instant, c: &mut Call, tx: TransactionId, request: Request) {
        if !request.body.is_empty() {
            match c.oa {
                OfferAnswer::LocalOffer => {
                    self.respond_status(now, tx, StatusCode::REQUEST_PENDING, None);
                    return;
                }
                OfferAnswer::RemoteOffer => {
                    let wait = (self.rng.next_u64() % 10) as u32;
                    self.respond_status(now, tx, StatusCode::SERVER_INTERNAL_ERROR, Some(wait));
                    return;
                }
                OfferAnswer::Stable => {}
            }
        }
        for dialog in &mut c.dialogs {
            if DialogKey::of_request(&request).as_ref() == Some(dialog.key()) {
                dialog.refresh_target(&request.headers);
            }
        }
        let body = if request.body.is_empty() {
            Bytes::new()
        } else {
            self.take_remote_offer(now, c, &request.body)
        };
        let Ok(mut response) = self.response(tx, StatusCode::OK) else {
            return;
        };
        response.headers.push(HeaderName::Contact, c.contact.clone());
        if !body.is_empty() {
            c.local_body = body.clone();
            response.set_body(body, Some(SDP));
        }
        let _ = self.respond(now, tx, response);
    }

    /// The peer offered `offer` (re-INVITE or UPDATE): records it, works out hold and
    /// unhold (RFC 3264 §8.4), and returns our answer.
    fn take_remote_offer(&mut self, now: Instant, c: &mut Call, offer: &Bytes) -> Bytes {
        let _ = c.oa.receive_offer();
        let offer = Bytes::copy_from_slice(offer);
        let holds = offer_holds(&offer);
        let answer = answer_to(&c.local_body, &offer, c.local_hold);
        let _ = c.oa.send_answer();
        c.remote_body = offer.clone();
        if holds != c.remote_hold {
            c.remote_hold = holds;
            let event = if holds {
                CallEvent::Hold { by: Side::Remote }
            } else {
                CallEvent::Unhold { by: Side::Remote }
            };
            self.call_event(c.id, event);
            self.update_hold_state(now, c);
        } else {
            self.call_event(c.id, CallEvent::RemoteOffer { body: offer });
        }
        answer
    }

    fn update_hold_state(&mut self, now: Instant, c: &mut Call) {
        if !c.is_up() {
            return;
        }
        if c.local_hold || c.remote_hold {
            self.set_state(now, c, CallState::Hold, "hold");
        } else {
            self.set_state(now, c, CallState::Connected, "unhold");
        }
    }

    /// A PRACK (RFC 3262 §3): it must name the outstanding reliable provisional.
    fn on_prack(&mut self, now: Instant, c: &mut Call, tx: TransactionId, request: &Request) {
        let invite_seq = c.invite_seq();
        let matches = match (&c.reliable.outstanding, request.headers.rack()) {
            (Some((rseq, _)), Some(Ok(rack))) => {
                rack.rseq == *rseq && rack.cseq == invite_seq && rack.method == Method::Invite
            }
            _ => false,
        };
        if !matches {
            self.respond_status(now, tx, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST, None);
            return;
        }
        self.respond_status(now, tx, StatusCode::OK, None);
        c.reliable.outstanding = None;
        self.disarm(c, CallTimer::RetransmitProvisional);
        self.disarm(c, CallTimer::PrackTimeout);
        if !c.reliable.queued.is_empty() {
            let next = c.reliable.queued.remove(0);
            if let Ok(invite_tx) = self.pending_uas_invite(c) {
                let _ = self.send_reliable(now, c, invite_tx, next);
            }
        }
    }

    fn on_ack_for_calls(&mut self, now: Instant, ack: Request) {
        let Some(key) = DialogKey::of_request(&ack) else {
            self.stats.dropped += 1;
            return;
        };
        let Some(call) = self.calls.by_dialog.get(&key).copied() else {
            self.stats.dropped += 1;
            return;
        };
        self.with_call(now, call, |this, c| {
            let seq = ack.headers.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
            if c.awaiting_ack.as_ref().is_none_or(|(s, _)| *s != seq) {
                this.stats.dropped += 1;
                return;
            }
            c.awaiting_ack = None;
            this.disarm(c, CallTimer::Retransmit2xx);
            this.disarm(c, CallTimer::AckTimeout);
            if !ack.body.is_empty() && c.oa == OfferAnswer::LocalOffer {
                let _ = c.oa.receive_answer();
                c.remote_body = Bytes::copy_from_slice(&ack.body);
            }
            if c.incoming_reinvite {
                c.incoming_reinvite = false;
                return;
            }
            let body = c.remote_body.clone();
            this.set_state(now, c, CallState::Connected, "ACK received");
            this.call_event(c.id, CallEvent::Answered { body });
            if c.bye_after_ack {
                c.bye_after_ack = false;
                let _ = this.send_bye(now, c);
                this.set_state(now, c, CallState::Ending, "BYE after ACK");
            }
        });
    }

    fn on_stray_success(&mut self, response: Response) {
        // A 2xx retransmitted after the INVITE transaction ended (Timer M): ACK it again.
        let Some(key) = DialogKey::of_response(&response) else {
            return;
        };
        let Some(call) = self.calls.by_dialog.get(&key).copied() else {
            self.stats.dropped += 1;
            return;
        };
        let seq = response.headers.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
        if let Some(c) = self.calls.calls.get(&call) {
            if let Some((ack_seq, payload, route)) = &c.last_ack {
                if *ack_seq == seq {
                    let (payload, route) = (payload.clone(), *route);
                    self.stats.retransmitted += 1;
                    self.transmit(route, payload);
                }
            }
        }
    }

    fn on_call_response(
        &mut self,
        now: Instant,
        c: &mut Call,
        purpose: Purpose,
        tx: TransactionId,
        response: Response,
    ) {
        match purpose {
            Purpose::Invite => self.on_invite_response(now, c, response),
            Purpose::Reinvite | Purpose::Update => self.on_modify_response(now, c, purpose, tx, response),
            Purpose::Bye => {
                if response.status.is_final() {
                    let reason = c.end_reason.clone().unwrap_or(EndReason::LocalBye);
                    self.end(now, c, reason, "BYE answered");
                }
            }
            Purpose::Cancel | Purpose::ForkBye | Purpose::Prack | Purpose::App => {}
        }
    }

    /// A response to our initial INVITE (§13.2.2).
    fn on_invite_response(&mut self, now: Instant, c: &mut Call, response: Response) {
        let status = response.status;
        if status.as_u16() < 200 {
            if status.as_u16() == 100 {
                return;
            }
            let fresh = self.on_provisional(now, c, &response);
            if c.cancel_pending {
                self.send_cancel_if_possible(now, c);
            }
            if !fresh {
                return;
            }
            if c.state == CallState::Calling {
                self.set_state(now, c, CallState::Ringing, "provisional received");
            }
            self.call_event(c.id, CallEvent::Ringing { status });
            if !response.body.is_empty() {
                if c.oa == OfferAnswer::LocalOffer {
                    let _ = c.oa.receive_answer();
                    c.remote_body = Bytes::copy_from_slice(&response.body);
                }
                self.call_event(
                    c.id,
                    CallEvent::EarlyMedia {
                        body: Bytes::copy_from_slice(&response.body),
                    },
                );
            }
            return;
        }
        if status.is_success() {
            self.on_invite_success(now, c, response);
            return;
        }
        // 3xx–6xx: the transaction ACKs it (§17.1.1.3).
        for dialog in c.dialogs.drain(..) {
            if self.calls.by_dialog.get(dialog.key()) == Some(&c.id) {
                self.calls.by_dialog.remove(dialog.key());
            }
        }
        if c.state == CallState::Ending && c.end_reason == Some(EndReason::Cancelled) {
            self.end(now, c, EndReason::Cancelled, "487 received");
        } else {
            self.call_event(
                c.id,
                CallEvent::Rejected {
                    status,
                    reason: response.reason.clone(),
                },
            );
            self.end(now, c, EndReason::Rejected(status), "rejected");
        }
    }

    /// A 101–199: makes or finds the early dialog (§13.2.2.1) and PRACKs a reliable one
    /// (RFC 3262 §4). False for a retransmitted reliable provisional.
    fn on_provisional(&mut self, now: Instant, c: &mut Call, response: &Response) -> bool {
        let Some(key) = DialogKey::of_response(response) else {
            return true;
        };
        if !c.dialogs.iter().any(|d| d.key() == &key) {
            let Some(invite) = &c.invite else {
                return true;
            };
            if let Ok(dialog) = Dialog::uac(invite, response) {
                self.calls.by_dialog.insert(key.clone(), c.id);
                c.dialogs.push(dialog);
            }
        }
        let reliable = response
            .headers
            .option_tags(HeaderName::Require)
            .flatten()
            .any(|t| t.eq_ignore_ascii_case("100rel"));
        let Some(Ok(rseq)) = response.headers.rseq().filter(|_| reliable) else {
            return true;
        };
        let last = c
            .reliable
            .last_rseq
            .iter()
            .find(|(tag, _)| *tag == key.remote_tag)
            .map(|(_, r)| *r);
        match last {
            Some(last) if rseq <= last => return false,
            // §4: out of order (a gap) — wait for the missing one's retransmission.
            Some(last) if rseq != last.wrapping_add(1) => return false,
            _ => {}
        }
        c.reliable.last_rseq.retain(|(tag, _)| *tag != key.remote_tag);
        c.reliable.last_rseq.push((key.remote_tag.clone(), rseq));
        let invite_seq = c.invite_seq();
        let Some(index) = c.dialogs.iter().position(|d| d.key() == &key) else {
            return true;
        };
        let Some(dialog) = c.dialogs.get_mut(index) else {
            return true;
        };
        dialog.refresh_target(&response.headers);
        let mut prack = dialog.request(Method::Prack);
        prack.headers.push(
            HeaderName::RAck,
            ByteString::from(format!("{rseq} {invite_seq} INVITE")),
        );
        // The PRACK goes in the dialog of this provisional, which may not be the newest.
        let moved = c.dialogs.remove(index);
        c.dialogs.push(moved);
        let _ = self.send_in_dialog(now, c, prack, Purpose::Prack);
        true
    }

    /// A 2xx to our INVITE (§13.2.2.4): confirm its dialog and ACK; a 2xx from a second
    /// fork is ACKed and BYEd; a retransmission gets the same ACK.
    fn on_invite_success(&mut self, now: Instant, c: &mut Call, response: Response) {
        let Some(key) = DialogKey::of_response(&response) else {
            return;
        };
        let seq = response.headers.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
        if let Some((_, payload, route)) = c.killed_forks.iter().find(|(tag, _, _)| *tag == key.remote_tag) {
            let (payload, route) = (payload.clone(), *route);
            self.stats.retransmitted += 1;
            self.transmit(route, payload);
            return;
        }
        let confirmed = c
            .dialogs
            .iter()
            .find(|d| d.state() == DialogState::Confirmed)
            .map(|d| d.key().clone());
        match confirmed {
            Some(confirmed) if confirmed == key => {
                // A retransmission: the same ACK again.
                if let Some((ack_seq, payload, route)) = &c.last_ack {
                    if *ack_seq == seq {
                        let (payload, route) = (payload.clone(), *route);
                        self.stats.retransmitted += 1;
                        self.transmit(route, payload);
                    }
                }
                return;
            }
            Some(_) => {
                self.kill_fork(now, c, &response, seq, key);
                return;
            }
            None => {}
        }
        // Confirm (or create) this fork's dialog; the other early dialogs end.
        let Some(invite) = c.invite.take() else {
            return;
        };
        let dialog = match c.dialogs.iter().position(|d| d.key() == &key) {
            Some(index) => {
                let mut dialog = c.dialogs.remove(index);
                dialog.confirm(&response);
                dialog
            }
            None => match Dialog::uac(&invite, &response) {
                Ok(dialog) => dialog,
                Err(_) => {
                    c.invite = Some(invite);
                    return;
                }
            },
        };
        for early in c.dialogs.drain(..) {
            if self.calls.by_dialog.get(early.key()) == Some(&c.id) {
                self.calls.by_dialog.remove(early.key());
            }
        }
        self.calls.by_dialog.insert(key, c.id);
        c.dialogs.push(dialog);
        // Keep the INVITE while the transaction may still deliver forked 2xx responses.
        c.invite = Some(invite);
        let ack_body = match c.oa {
            OfferAnswer::LocalOffer => {
                let _ = c.oa.receive_answer();
                c.remote_body = Bytes::copy_from_slice(&response.body);
                Bytes::new()
            }
            // A delayed offer: the 2xx offers, our ACK answers (§13.2.2.4).
            OfferAnswer::Stable if !response.body.is_empty() && c.remote_body.is_empty() => {
                c.remote_body = Bytes::copy_from_slice(&response.body);
                c.local_body.clone()
            }
            _ => Bytes::new(),
        };
        self.send_ack(c, seq, ack_body);
        if c.state == CallState::Ending {
            // The 2xx crossed our CANCEL: ACK, then BYE (§9.1, §15).
            let _ = self.send_bye(now, c);
            return;
        }
        self.set_state(now, c, CallState::Connected, "200 received");
        let body = c.remote_body.clone();
        self.call_event(c.id, CallEvent::Answered { body });
    }

    /// A 2xx from a second fork: ACK it and end that dialog with BYE (§13.2.2.4).
    fn kill_fork(&mut self, now: Instant, c: &mut Call, response: &Response, seq: u32, key: DialogKey) {
        let Some(invite) = &c.invite else {
            return;
        };
        let Ok(mut dialog) = Dialog::uac(invite, response) else {
            return;
        };
        let route = match dialog.next_hop_addr() {
            Some(remote) if c.route.transport == Transport::Udp => Route { remote, ..c.route },
            _ => c.route,
        };
        let mut ack = dialog.ack(seq, Bytes::new(), None);
        let branch = self.new_branch();
        self.prepare_request(&mut ack, &branch, route.transport);
        let payload = ack.to_bytes();
        self.transmit(route, payload.clone());
        c.killed_forks.push((key.remote_tag.clone(), payload, route));
        let mut bye = dialog.request(Method::Bye);
        let branch = self.new_branch();
        self.prepare_request(&mut bye, &branch, route.transport);
        self.stats.calls.byes += 1;
        if let Ok(tx) = self.start_client(now, bye, route) {
            self.calls.transactions.insert(tx, (c.id, Purpose::ForkBye));
        }
    }

    /// A response to our re-INVITE or UPDATE.
    fn on_modify_response(
        &mut self,
        now: Instant,
        c: &mut Call,
        purpose: Purpose,
        tx: TransactionId,
        response: Response,
    ) {
        let status = response.status;
        if !status.is_final() {
            return;
        }
        let seq = response.headers.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
        if purpose == Purpose::Reinvite && status.is_success() {
            let ours = c.outgoing.as_ref().is_some_and(|(t, _)| *t == tx);
            if !ours {
                // A retransmitted 2xx: the same ACK again.
                if let Some((ack_seq, payload, route)) = &c.last_ack {
                    if *ack_seq == seq {
                        let (payload, route) = (payload.clone(), *route);
                        self.transmit(route, payload);
                    }
                }
                return;
            }
        }
        let Some((ours, intent)) = c.outgoing.take() else {
            return;
        };
        if ours != tx {
            c.outgoing = Some((ours, intent));
            return;
        }
        if status.is_success() {
            if let Some(dialog) = c.dialog_mut() {
                dialog.refresh_target(&response.headers);
            }
            let offered = c.oa == OfferAnswer::LocalOffer;
            let mut ack_body = Bytes::new();
            if offered {
                let _ = c.oa.receive_answer();
                c.remote_body = Bytes::copy_from_slice(&response.body);
            } else if !response.body.is_empty() && purpose == Purpose::Reinvite {
                // We sent no offer: the 2xx offers, the ACK answers.
                c.remote_body = Bytes::copy_from_slice(&response.body);
                ack_body = answer_to(&c.local_body, &c.remote_body, c.local_hold);
            }
            if purpose == Purpose::Reinvite {
                self.send_ack(c, seq, ack_body);
            }
            match intent {
                Intent::Hold => {
                    c.local_hold = true;
                    self.call_event(c.id, CallEvent::Hold { by: Side::Local });
                    self.update_hold_state(now, c);
                }
                Intent::Unhold => {
                    c.local_hold = false;
                    self.call_event(c.id, CallEvent::Unhold { by: Side::Local });
                    self.update_hold_state(now, c);
                }
                Intent::Offer(_) => {
                    let body = c.remote_body.clone();
                    self.call_event(c.id, CallEvent::OfferAnswered { body });
                }
            }
            return;
        }
        c.oa.rollback();
        match status.as_u16() {
            491 => {
                // §14.1: glare — retry after a random wait: 2.1–4 s if we chose the
                // Call-ID (we are the dialog's UAC), else 0–2 s, in 10 ms units.
                let ticks = self.rng.next_u64();
                let wait_ms = if c.role == Role::Uac {
                    2100 + (ticks % 191) * 10
                } else {
                    (ticks % 201) * 10
                };
                let at = now + Duration::from_millis(wait_ms);
                let method = if purpose == Purpose::Reinvite {
                    Method::Invite
                } else {
                    Method::Update
                };
                c.glare_retry = Some((method, intent));
                self.arm(c, CallTimer::GlareRetry, at);
                self.call_event(c.id, CallEvent::GlareRetry { at });
            }
            // §14.1: 481 or 408 to a re-INVITE — the dialog is gone.
            481 | 408 => {
                let _ = self.send_bye(now, c);
                c.end_reason = Some(EndReason::DialogGone);
                self.set_state(now, c, CallState::Ending, "dialog gone");
            }
            _ => self.call_event(c.id, CallEvent::OfferRejected { status }),
        }
    }

    fn on_call_failure(&mut self, now: Instant, c: &mut Call, purpose: Purpose, transport_error: bool) {
        let reason = if transport_error {
            EndReason::TransportError
        } else {
            EndReason::Timeout
        };
        match purpose {
            Purpose::Invite if c.role == Role::Uac && !c.is_up() => {
                let reason = if c.end_reason == Some(EndReason::Cancelled) {
                    EndReason::Cancelled
                } else {
                    reason
                };
                self.end(now, c, reason, "no final response");
            }
            Purpose::Bye => {
                let reason = c.end_reason.clone().unwrap_or(reason);
                self.end(now, c, reason, "BYE timed out");
            }
            // §14.1: a timeout on a re-INVITE ends the dialog.
            Purpose::Reinvite | Purpose::Update if c.outgoing.take().is_some() => {
                c.oa.rollback();
                let _ = self.send_bye(now, c);
                c.end_reason = Some(EndReason::DialogGone);
                self.set_state(now, c, CallState::Ending, "re-INVITE timed out");
            }
            _ => {}
        }
    }
}

/// Our offer for hold (`sendonly`, or `inactive` when the peer holds us) or unhold
/// (`sendrecv`, or `recvonly` when the peer holds us), RFC 3264 §8.4, with the o= version
/// bumped. A body that is not SDP is sent unchanged.
fn hold_offer(local: &Bytes, hold: bool, peer_holds: bool) -> Bytes {
    use crate::sdp::{Direction, SessionDescription};
    let Ok(mut sdp) = SessionDescription::parse(local) else {
        return local.clone();
    };
    let direction = match (hold, peer_holds) {
        (true, false) => Direction::SendOnly,
        (true, true) => Direction::Inactive,
        (false, false) => Direction::SendRecv,
        (false, true) => Direction::RecvOnly,
    };
    sdp.set_direction(direction);
    sdp.bump_version();
    sdp.to_bytes()
}

/// True when an offer puts us on hold (every active stream sendonly or inactive).
fn offer_holds(offer: &Bytes) -> bool {
    crate::sdp::SessionDescription::parse(offer).is_ok_and(|sdp| sdp.is_hold_offer())
}

/// Our answer to `offer`, from our current description `local` (RFC 3264 §6, §8.4).
fn answer_to(local: &Bytes, offer: &Bytes, holding: bool) -> Bytes {
    use crate::sdp::SessionDescription;
    match (SessionDescription::parse(local), SessionDescription::parse(offer)) {
        (Ok(mut template), Ok(offer)) => {
            // Our last description carries the direction of the last exchange; the answer
            // starts from what we want now (sendrecv, or sendonly while we hold).
            template.set_direction(crate::sdp::Direction::SendRecv);
            let mut answer = template.answer_for(&offer, holding);
            // RFC 3264 §8: every new description of the session bumps the o= version.
            answer.bump_version();
            answer.to_bytes()
        }
        _ => local.clone(),
    }
}
