//! Invite sessions, a usage of a dialog: the call model's commands, what the transaction
//! layer reports about calls, and the session timers of RFC 3261 §13–15, RFC 3262 and
//! RFC 3311. The dialog state itself is [`Dialog`]; offer/answer is [`OfferAnswer`]; hold
//! directions come from [`crate::sdp`].

mod auth;
mod commands;
mod inputs;
mod responses;
mod session_timer;
mod transfer;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;

use crate::call::{CallError, CallEvent, CallState, CallTimer, EndReason, Side, Transition};
use crate::config::{EndpointConfig, EndpointLimits};
use crate::dialog::{CSeqCheck, Dialog, DialogKey, DialogState, DialogTable, OfferAnswer, Role, Usage};
use crate::error::SendError;
use crate::event::Event;
use crate::ids::{CallId, DialogId, SubscriptionId, TransactionId};
use crate::message::{HeaderName, HeaderWriter, Method, Request, Response, StatusCode, Uri, Version};
use crate::owner::{CallPart, Owner};
use crate::shared::TopVia;
use crate::sources::SourceCounts;
use crate::timer_queue::{Deadline, TimerId};
use crate::transaction::{NewCalls, NewRequest, TransactionEvent};
use crate::transport::{Route, Transport};

use super::Seam;
use crate::local::Local;

/// The body type of session descriptions.
const SDP: &str = "application/sdp";

/// What a re-INVITE or UPDATE of ours is for, so a glare retry (§14.1) redoes it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Intent {
    Hold,
    Unhold,
    Offer(Bytes),
    /// A session refresh (RFC 4028 §10): our description unchanged.
    Refresh,
}

/// Our re-INVITE or UPDATE in progress.
#[derive(Debug)]
struct Modification {
    /// Its client transaction (a challenged request's retry replaces it).
    tx: TransactionId,
    /// What it is for.
    intent: Intent,
    /// Our description before its offer: the session's again if the offer is refused
    /// (RFC 3261 §14.1).
    previous: Bytes,
}

/// A response we resend on a timer until the peer acknowledges it.
#[derive(Debug)]
struct Resend {
    payload: Bytes,
    route: Route,
    interval: Duration,
}

impl Resend {
    /// The next retransmission: what, where, and when the one after it is due (the interval
    /// doubles up to T2, RFC 3261 §13.3.1.4, RFC 3262 §3).
    fn again(&mut self, now: Instant, t2: Duration) -> (Bytes, Route, Instant) {
        self.interval = (self.interval * 2).min(t2);
        (self.payload.clone(), self.route, now + self.interval)
    }
}

/// A call's dialogs, oldest first. One is kept inline: forking is rare, and a vector
/// would cost every call a heap allocation.
#[derive(Debug, Default)]
pub(super) enum DialogIds {
    #[default]
    None,
    One(DialogId),
    Many(Vec<DialogId>),
}

impl DialogIds {
    pub(super) fn as_slice(&self) -> &[DialogId] {
        match self {
            DialogIds::None => &[],
            DialogIds::One(id) => std::slice::from_ref(id),
            DialogIds::Many(ids) => ids,
        }
    }

    pub(super) fn first(&self) -> Option<DialogId> {
        self.as_slice().first().copied()
    }

    /// Adds `id` as the newest.
    pub(super) fn push(&mut self, id: DialogId) {
        *self = match std::mem::take(self) {
            DialogIds::None => DialogIds::One(id),
            DialogIds::One(first) => DialogIds::Many(vec![first, id]),
            DialogIds::Many(mut ids) => {
                ids.push(id);
                DialogIds::Many(ids)
            }
        };
    }

    /// Makes `id` the newest.
    pub(super) fn move_to_end(&mut self, id: DialogId) {
        if let DialogIds::Many(ids) = self {
            if let Some(index) = ids.iter().position(|&d| d == id) {
                let moved = ids.remove(index);
                ids.push(moved);
            }
        }
    }

    /// Takes every id, leaving none.
    pub(super) fn take(&mut self) -> DialogIds {
        std::mem::take(self)
    }
}

impl IntoIterator for DialogIds {
    type Item = DialogId;
    type IntoIter = std::iter::Chain<std::option::IntoIter<DialogId>, std::vec::IntoIter<DialogId>>;

    fn into_iter(self) -> Self::IntoIter {
        let (one, many) = match self {
            DialogIds::None => (None, Vec::new()),
            DialogIds::One(id) => (Some(id), Vec::new()),
            DialogIds::Many(ids) => (None, ids),
        };
        one.into_iter().chain(many)
    }
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
    invite: Option<Box<Request>>,
    /// Where the peer is: the transport and flow of the INVITE, and its address.
    route: Route,
    /// UAC: every early dialog, then the confirmed one; UAS: ours — in the dialog table.
    /// The current dialog is the confirmed one, else the newest.
    dialogs: DialogIds,
    /// UAC: forks whose extra 2xx we ACKed and BYEd, with that ACK for its retransmissions
    /// (boxed: few calls fork, and every call pays for the field — 8 bytes, not a
    /// vector's 24).
    #[allow(clippy::box_collection)]
    killed_forks: Option<Box<Vec<(ByteString, Bytes, Route)>>>,
    local_body: Bytes,
    remote_body: Bytes,
    oa: OfferAnswer,
    local_hold: bool,
    remote_hold: bool,
    /// 3xx responses followed so far (RFC 3261 §8.1.3.4), to stop a redirect loop.
    redirects: u8,
    /// REFERs sent in this call whose transfer is not settled yet: while there are any, the
    /// call is [`CallState::Referring`].
    referring: u32,
    /// UAS: the 2xx (initial or re-INVITE) awaiting its ACK, and the INVITE's CSeq.
    awaiting_ack: Option<Box<(u32, Resend)>>,
    /// UAC: the ACK of the last 2xx, resent when that 2xx is (§13.2.2.4).
    last_ack: Option<Box<(u32, Bytes, Route)>>,
    /// Our re-INVITE/UPDATE in progress.
    outgoing: Option<Box<Modification>>,
    /// A re-INVITE from the peer not yet ACKed.
    incoming_reinvite: bool,
    /// A glare retry waiting for its timer.
    glare_retry: Option<Box<(Method, Intent)>>,
    /// UAC asked to cancel before any provisional: the CANCEL waits for one (§9.1).
    cancel_pending: bool,
    /// UAS asked for BYE before the ACK came (§15: wait for it).
    bye_after_ack: bool,
    /// Reliable provisionals (RFC 3262).
    reliable: Option<Box<Reliable>>,
    /// Armed call timers.
    armed: Vec<(CallTimer, Deadline)>,
    connected_once: bool,
    /// The session timer (RFC 4028), once negotiated.
    session_timer: Option<session_timer::SessionTimer>,
    /// UAS: the Session-Expires the INVITE asked for, until we answer.
    session_request: Option<session_timer::SessionRequest>,
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
    /// A call just started by its INVITE transaction `tx`; the rest of its state is what a
    /// call starts with on either side.
    fn new(
        id: CallId,
        role: Role,
        tx: TransactionId,
        invite: Request,
        route: Route,
        oa: OfferAnswer,
    ) -> Call {
        Call {
            id,
            role,
            state: CallState::Idle,
            // Three transitions take a call to Connected, either way.
            history: Vec::with_capacity(3),
            end_reason: None,
            invite_tx: Some(tx),
            invite: Some(Box::new(invite)),
            route,
            dialogs: DialogIds::None,
            killed_forks: None,
            oa,
            local_body: Bytes::new(),
            remote_body: Bytes::new(),
            local_hold: false,
            referring: 0,
            redirects: 0,
            remote_hold: false,
            awaiting_ack: None,
            last_ack: None,
            outgoing: None,
            incoming_reinvite: false,
            glare_retry: None,
            cancel_pending: false,
            bye_after_ack: false,
            reliable: None,
            armed: Vec::new(),
            connected_once: false,
            session_timer: None,
            session_request: None,
        }
    }

    /// The RFC 3262 state, made on first use (most calls never need it).
    fn reliable(&mut self) -> &mut Reliable {
        self.reliable.get_or_insert_with(Default::default)
    }

    /// The current dialog: the confirmed one, else the newest early one.
    pub(super) fn dialog(&self, table: &DialogTable) -> Option<DialogId> {
        self.confirmed_dialog(table)
            .or(self.dialogs.as_slice().last().copied())
    }

    /// The confirmed dialog, if one is.
    pub(super) fn confirmed_dialog(&self, table: &DialogTable) -> Option<DialogId> {
        self.dialogs
            .as_slice()
            .iter()
            .copied()
            .find(|&id| table.get(id).is_some_and(|d| d.state() == DialogState::Confirmed))
    }

    /// This call's dialog that `key` names.
    pub(super) fn dialog_with_key(&self, table: &DialogTable, key: &DialogKey) -> Option<DialogId> {
        table.find(key).filter(|id| self.dialogs.as_slice().contains(id))
    }

    pub(super) fn invite_seq(&self) -> u32 {
        self.invite
            .as_ref()
            .and_then(|i| i.headers.cseq())
            .and_then(Result::ok)
            .map_or(1, |c| c.seq)
    }

    /// The ACK we sent for the 2xx of CSeq `seq` and where it went, while we keep it.
    pub(super) fn last_ack_for(&self, seq: u32) -> Option<(Bytes, Route)> {
        self.last_ack
            .as_deref()
            .filter(|(ack_seq, _, _)| *ack_seq == seq)
            .map(|(_, payload, route)| (payload.clone(), *route))
    }

    /// True while the session is established (connected, on hold, or transferring).
    pub(super) fn is_up(&self) -> bool {
        matches!(
            self.state,
            CallState::Connected | CallState::Hold | CallState::Referring
        )
    }

    /// The state of an established session: a transfer in progress says more than a hold,
    /// which says more than plain connected.
    fn up_state(&self) -> CallState {
        if self.referring > 0 {
            CallState::Referring
        } else if self.local_hold || self.remote_hold {
            CallState::Hold
        } else {
            CallState::Connected
        }
    }

    /// Why we are cancelling our INVITE, when we are: the application cancelled it, or
    /// another call replaced it while early (RFC 3891 §3). The failure that follows (487,
    /// or no answer at all) ends the call for that reason, not as a rejection.
    pub(super) fn cancelling(&self) -> Option<EndReason> {
        match self.end_reason {
            Some(EndReason::Cancelled) => Some(EndReason::Cancelled),
            Some(EndReason::Replaced) => Some(EndReason::Replaced),
            _ => None,
        }
    }
}

/// Where an in-dialog request goes and the topmost Via it is built with.
pub(super) struct OutgoingVia {
    route: Route,
    /// The next hop's URI when RFC 3263 locates it (see `DialogHop`).
    locate: Option<Uri>,
    branch: ByteString,
    text: String,
}

/// Invite sessions (calls): the usage of a dialog that RFC 3261 §13–15 describes. The
/// dialogs themselves are in the dialog table; a call knows their ids.
#[derive(Debug)]
pub(crate) struct InviteSessions {
    /// Calls by id (lookup only; our own counter values, so the fast hasher suffices).
    calls: std::collections::HashMap<CallId, Box<Call>, foldhash::fast::FixedState>,
    /// Incoming calls per source address (where their INVITE came from), for
    /// [`EndpointLimits::max_calls_per_source`](crate::config::EndpointLimits).
    incoming_per_source: SourceCounts,
    /// Our Contact per transport, and the From of our calls.
    local: Local,
    /// Incoming calls that replace another (RFC 3891), and the call each replaces.
    replacing: std::collections::HashMap<CallId, CallId, foldhash::fast::FixedState>,
    /// Calls placed for a REFER, and the REFER's subscription their progress goes to.
    referred: std::collections::HashMap<CallId, SubscriptionId, foldhash::fast::FixedState>,
    /// REFERs we sent whose transfer is not settled, and the call each was sent in.
    referring: std::collections::HashMap<SubscriptionId, CallId, foldhash::fast::FixedState>,
}

impl InviteSessions {
    /// No calls yet; `hasher` keys the table of sources.
    pub(crate) fn new(config: &EndpointConfig, hasher: foldhash::quality::FixedState) -> Self {
        InviteSessions {
            incoming_per_source: SourceCounts::new(hasher),
            local: Local::new(config),
            calls: Default::default(),
            referred: Default::default(),
            referring: Default::default(),
            replacing: Default::default(),
        }
    }

    /// Whether a new INVITE from `source` may start a call: under the call limit, and
    /// under the share of it one address may hold.
    pub(crate) fn admits_calls_from(&self, source: IpAddr, limits: &EndpointLimits) -> NewCalls {
        if self.calls.len() < limits.max_calls
            && self.incoming_per_source.get(source) < limits.max_calls_per_source
        {
            NewCalls::Admitted
        } else {
            NewCalls::Refused
        }
    }

    // ---- getters ----

    /// The state of a live call.
    pub(crate) fn call_state(&self, call: CallId) -> Option<CallState> {
        self.calls.get(&call).map(|c| c.state)
    }

    /// The transitions of a live call so far.
    pub(crate) fn call_history(&self, call: CallId) -> Option<&[Transition]> {
        self.calls.get(&call).map(|c| c.history.as_slice())
    }

    /// Our current session description in a live call (empty before we have one).
    pub(crate) fn local_description(&self, call: CallId) -> Option<&Bytes> {
        self.calls.get(&call).map(|c| &c.local_body)
    }

    /// The dialog of a live call (the confirmed one, else the newest early one).
    pub(crate) fn call_dialog<'a>(&self, dialogs: &'a DialogTable, call: CallId) -> Option<&'a Dialog> {
        let id = self.calls.get(&call)?.dialog(dialogs)?;
        dialogs.get(id)
    }

    /// The confirmed dialog of a live call and the route its requests take by default:
    /// where another usage (a subscription, REFER) joins the call's dialog.
    pub(crate) fn confirmed_dialog_of(
        &self,
        dialogs: &DialogTable,
        call: CallId,
    ) -> Option<(DialogId, Route)> {
        let c = self.calls.get(&call)?;
        Some((c.confirmed_dialog(dialogs)?, c.route))
    }

    /// Our identity as a name-addr: the From of what we originate (without its tag), our
    /// Referred-By, our default address-of-record.
    pub(crate) fn identity(&self) -> &ByteString {
        self.local.identity()
    }

    /// Live calls.
    pub(crate) fn call_count(&self) -> usize {
        self.calls.len()
    }

    // ---- inputs: what the Endpoint routes here ----

    /// An event of a transaction a call owns.
    pub(crate) fn on_transaction_event(&mut self, cx: &mut Seam, now: Instant, event: TransactionEvent) {
        match event {
            TransactionEvent::Response {
                transaction,
                owner: Owner::Call(call, part),
                response,
            } => {
                if part == CallPart::App {
                    self.call_event(
                        cx,
                        call,
                        CallEvent::Response {
                            transaction,
                            response,
                        },
                    );
                    return;
                }
                self.with_call(cx, now, call, |this, cx, c| {
                    this.on_call_response(cx, now, c, part, transaction, response)
                });
            }
            TransactionEvent::Timeout {
                transaction,
                owner: Owner::Call(call, part),
                timer,
            } => {
                if part == CallPart::App {
                    cx.shared.emit(Event::Timeout { transaction, timer });
                    return;
                }
                self.with_call(cx, now, call, |this, cx, c| {
                    this.on_call_failure(cx, now, c, part, false)
                });
            }
            TransactionEvent::TransportError {
                transaction,
                owner: Owner::Call(call, part),
            } => {
                if part == CallPart::App {
                    cx.shared.emit(Event::TransportError { transaction });
                    return;
                }
                self.with_call(cx, now, call, |this, cx, c| {
                    this.on_call_failure(cx, now, c, part, true)
                });
            }
            TransactionEvent::Cancelled {
                owner: Owner::Call(call, _),
                ..
            } => {
                self.with_call(cx, now, call, |this, cx, c| {
                    this.stop_reliable(cx, c);
                    this.end(cx, now, c, EndReason::RemoteCancelled, "CANCEL received");
                });
            }
            TransactionEvent::Terminated {
                transaction,
                owner: Owner::Call(call, part),
            } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    if c.invite_tx == Some(transaction) {
                        // Its last forked 2xx has arrived (Timer M) or its final
                        // response is done: the INVITE is no longer needed.
                        c.invite_tx = None;
                        c.invite = None;
                    }
                    if matches!(part, CallPart::Invite | CallPart::Reinvite) {
                        // Timer M: the peer has stopped retransmitting its 2xx (it
                        // gives up after 64·T1 too), so its ACK need not be kept.
                        c.last_ack = None;
                    }
                }
                if part == CallPart::App {
                    cx.shared.emit(Event::Terminated { transaction });
                }
            }
            // Events of transactions no call owns, and those the Endpoint routes by the
            // dialog they name, do not come here.
            TransactionEvent::Request(_)
            | TransactionEvent::Ack { .. }
            | TransactionEvent::StrayInviteSuccess { .. }
            | TransactionEvent::Response { .. }
            | TransactionEvent::Timeout { .. }
            | TransactionEvent::TransportError { .. }
            | TransactionEvent::Cancelled { .. }
            | TransactionEvent::Terminated { .. } => {}
        }
    }

    /// Takes the call out of the map while `f` works on it (so `f` may use the whole
    /// Endpoint), then puts it back, or forgets it when it ended.
    pub(super) fn with_call<R>(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: CallId,
        f: impl FnOnce(&mut Self, &mut Seam, &mut Call) -> R,
    ) -> Option<R> {
        let mut call = self.calls.remove(&id)?;
        let result = f(self, cx, &mut call);
        if call.state == CallState::Ended {
            self.forget_call(cx, now, call);
        } else {
            self.calls.insert(id, call);
        }
        Some(result)
    }

    /// Runs a call command: `f` on the call (`UnknownCall` when there is none), then the
    /// transaction events it caused are handed on, as after every command.
    pub(super) fn call_command<T>(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: CallId,
        f: impl FnOnce(&mut Self, &mut Seam, &mut Call) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        // The Endpoint hands on the transaction events the command caused, as after
        // every command.
        self.with_call(cx, now, call, f)
            .unwrap_or(Err(CallError::UnknownCall(call)))
    }

    pub(super) fn forget_call(&mut self, cx: &mut Seam, now: Instant, mut call: Box<Call>) {
        let _ = now;
        crate::shared::shrink_when_sparse(&mut self.calls);
        if call.role == Role::Uas {
            self.incoming_per_source.remove(call.route.remote.ip());
        }
        for (timer, at) in call.armed.drain(..) {
            cx.shared
                .timers
                .remove(at, TimerId::Call { call: call.id, timer });
        }
        // The call was these dialogs' INVITE usage; a dialog with no other usage ends
        // with it (RFC 5057 §5).
        for dialog in call.dialogs.take() {
            cx.dialogs.end_usage(dialog, Usage::Invite(call.id));
        }
        if call.connected_once {
            cx.shared.stats.calls.successful += 1;
        } else {
            cx.shared.stats.calls.failed += 1;
        }
        let reason = call.end_reason.take().unwrap_or(EndReason::Timeout);
        let history = std::mem::take(&mut call.history);
        self.call_event(cx, call.id, CallEvent::Terminated { reason, history });
    }

    pub(super) fn call_event(&mut self, cx: &mut Seam, call: CallId, event: CallEvent) {
        cx.shared.emit(Event::Call { call, event });
    }

    pub(super) fn set_state(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: &mut Call,
        to: CallState,
        cause: &'static str,
    ) {
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
        self.call_event(cx, call.id, CallEvent::StateChanged { from, to });
        if !self.referred.is_empty() {
            self.report_to_referrer(cx, call, to);
        }
        if !self.replacing.is_empty() && matches!(to, CallState::Connected | CallState::Ended) {
            if let Some(replaced) = self.replacing.remove(&call.id) {
                if to == CallState::Connected {
                    self.end_replaced(cx, now, replaced);
                }
            }
        }
    }

    pub(super) fn end(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: &mut Call,
        reason: EndReason,
        cause: &'static str,
    ) {
        if call.state == CallState::Ended {
            return;
        }
        for &id in call.dialogs.as_slice() {
            cx.dialogs.terminate(id);
        }
        // The dialogs' ends are told before the call's.
        if cx.dialogs.has_changes() {
            cx.report_dialog_changes(now);
        }
        call.end_reason = Some(reason);
        self.set_state(cx, now, call, CallState::Ended, cause);
    }

    // ---- timers ----

    pub(super) fn arm(&mut self, cx: &mut Seam, call: &mut Call, timer: CallTimer, at: Instant) {
        self.disarm(cx, call, timer);
        let deadline = cx
            .shared
            .timers
            .insert(at, TimerId::Call { call: call.id, timer });
        call.armed.push((timer, deadline));
    }

    pub(super) fn disarm(&mut self, cx: &mut Seam, call: &mut Call, timer: CallTimer) {
        call.armed.retain(|&(t, at)| {
            if t == timer {
                cx.shared.timers.remove(
                    at,
                    TimerId::Call {
                        call: call.id,
                        timer: t,
                    },
                );
                false
            } else {
                true
            }
        });
        if call.armed.is_empty() {
            // An established call usually has no timer: give the room back.
            call.armed = Vec::new();
        }
    }

    /// Fires call timer `timer` of call `id` (the queue already let go of it).
    pub(crate) fn fire_call_timer(&mut self, cx: &mut Seam, now: Instant, id: CallId, timer: CallTimer) {
        self.with_call(cx, now, id, |this, cx, call| {
            call.armed.retain(|&(t, _)| t != timer);
            if call.armed.is_empty() {
                call.armed = Vec::new();
            }
            this.on_call_timer(cx, now, call, timer);
        });
    }

    /// Sends a retransmission and re-arms its timer.
    fn retransmit(
        &mut self,
        cx: &mut Seam,
        call: &mut Call,
        timer: CallTimer,
        (payload, route, next): (Bytes, Route, Instant),
    ) {
        cx.shared.stats.retransmitted += 1;
        cx.shared.transmit(route, payload);
        self.arm(cx, call, timer, next);
    }

    pub(super) fn on_call_timer(&mut self, cx: &mut Seam, now: Instant, call: &mut Call, timer: CallTimer) {
        let t2 = cx.shared.config.timers.t2;
        match timer {
            CallTimer::Retransmit2xx => {
                if let Some((_, resend)) = call.awaiting_ack.as_deref_mut() {
                    let again = resend.again(now, t2);
                    self.retransmit(cx, call, timer, again);
                }
            }
            CallTimer::AckTimeout => {
                if call.awaiting_ack.take().is_some() {
                    self.disarm(cx, call, CallTimer::Retransmit2xx);
                    // §13.3.1.4: no ACK — the session is over; end it with BYE. The call
                    // ends here: its outcome does not wait on the BYE's answer, and a peer
                    // that never ACKed (a flood, most often) is unlikely to give one, so
                    // the call's state goes now rather than after the BYE's 32 s. The BYE's
                    // transaction carries on alone; its events find no call and are dropped.
                    let _ = self.send_bye(cx, now, call);
                    self.end(cx, now, call, EndReason::NoAck, "no ACK");
                }
            }
            CallTimer::RetransmitProvisional => {
                if let Some((_, resend)) = call.reliable.as_deref_mut().and_then(|r| r.outstanding.as_mut()) {
                    let again = resend.again(now, t2);
                    self.retransmit(cx, call, timer, again);
                }
            }
            CallTimer::PrackTimeout => {
                if call.reliable.as_deref().is_some_and(|r| r.outstanding.is_some()) {
                    self.stop_reliable(cx, call);
                    // RFC 3262 §3: no PRACK for 64·T1 — reject the INVITE with a 5xx.
                    if let Some(tx) = call.invite_tx {
                        if let Ok(mut response) = cx.response(tx, StatusCode::SERVER_INTERNAL_ERROR) {
                            response.reason = ByteString::from_static("No PRACK");
                            let _ = cx.respond(now, tx, response);
                        }
                    }
                    self.end(cx, now, call, EndReason::NoPrack, "no PRACK");
                }
            }
            CallTimer::SessionRefresh | CallTimer::SessionExpiry => {
                self.on_session_timer(cx, now, call, timer)
            }
            CallTimer::GlareRetry => {
                if let Some((method, intent)) = call.glare_retry.take().map(|b| *b) {
                    if call.is_up() && call.oa.is_stable() && call.outgoing.is_none() {
                        let _ = self.modify(cx, now, call, method, intent);
                    }
                }
            }
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

/// Our description once our offer `refused` was turned down: `previous`, the one in force
/// before it (RFC 3261 §14.1: the session stays as it was), with the o= version of the
/// refused offer, so that our next offer is still one higher than any we sent (RFC 3264
/// §8). A body that is not SDP is restored as it was.
fn restore_after_refusal(previous: Bytes, refused: &Bytes) -> Bytes {
    use crate::sdp::SessionDescription;
    match (
        SessionDescription::parse(&previous),
        SessionDescription::parse(refused),
    ) {
        (Ok(mut restored), Ok(refused)) if refused.origin().version != restored.origin().version => {
            restored.origin_mut().version = refused.origin().version;
            restored.to_bytes()
        }
        _ => previous,
    }
}

/// True when an offer puts us on hold (every active stream sendonly or inactive).
fn offer_holds(offer: &Bytes) -> bool {
    crate::sdp::SessionDescription::parse(offer).is_ok_and(|sdp| sdp.is_hold_offer())
}

/// Our answer to `offer`, from our current description `local` (RFC 3264 §6, §8.4), with
/// the o= version bumped (§8). `Err` when the offer shares no media format with `local`,
/// holding the answer that rejects every offered stream: a request carrying such an offer
/// is refused with 488 (RFC 3261 §14.2, RFC 3311 §5.2), and an offer in a 2xx, which cannot
/// be refused, is answered with it in the ACK before the call ends (§13.2.2.4). A body
/// that is not SDP (ours or the offer) is answered with ours unchanged.
fn answer_to(local: &Bytes, offer: &Bytes, holding: bool) -> Result<Bytes, Bytes> {
    use crate::sdp::SessionDescription;
    match (SessionDescription::parse(local), SessionDescription::parse(offer)) {
        (Ok(mut template), Ok(offer)) => {
            // Our last description carries the direction of the last exchange; the answer
            // starts from what we want now (sendrecv, or sendonly while we hold).
            template.set_direction(crate::sdp::Direction::SendRecv);
            let (mut answer, accepted) = match template.answer_for(&offer, holding) {
                Ok(answer) => (answer, true),
                Err(refused) => (refused.into_rejecting_answer(), false),
            };
            // RFC 3264 §8: every new description of the session bumps the o= version.
            answer.bump_version();
            match accepted {
                true => Ok(answer.to_bytes()),
                false => Err(answer.to_bytes()),
            }
        }
        _ => Ok(local.clone()),
    }
}
#[cfg(test)]
mod tests {
    /// A connected call holds exactly one dialog on either side, its id kept inline (no
    /// vector: a vector's first push makes room for four, most of a call's memory when
    /// calls held their dialogs), and the dialog table holds that one dialog.
    #[cfg(feature = "sim")]
    #[test]
    fn a_connected_call_keeps_its_one_dialog_inline_on_either_side() {
        use crate::call::CallEvent;
        use crate::endpoint::Event;
        use crate::sim::Network;
        let mut net = Network::new(5);
        let alice = net.add_node("alice", "192.0.2.1:5060".parse().unwrap());
        let bob = net.add_node("bob", "192.0.2.2:5060".parse().unwrap());
        net.set_handler(bob, |endpoint, event, now| {
            if let Event::Call {
                call,
                event: CallEvent::Incoming { .. },
            } = event
            {
                let answer = crate::sdp::SessionDescription::simple_audio(
                    "bob",
                    2,
                    "192.0.2.2".parse().unwrap(),
                    40000,
                    &[0],
                );
                endpoint.answer(now, call, answer.to_bytes(), None).unwrap();
            }
        });
        let now = net.now();
        let target = crate::message::Uri::parse("sip:bob@192.0.2.2:5060").unwrap();
        let offer = crate::sdp::SessionDescription::simple_audio(
            "alice",
            1,
            "192.0.2.1".parse().unwrap(),
            20000,
            &[0],
        );
        net.endpoint(alice)
            .invite(now, target, offer.to_bytes(), None)
            .unwrap();
        net.pump(alice);
        net.run_for(std::time::Duration::from_secs(40));
        for node in [alice, bob] {
            let calls = &net.endpoint(node).invites().calls;
            assert_eq!(calls.len(), 1);
            #[allow(clippy::iter_over_hash_type)] // one call: no order to leak
            for call in calls.values() {
                assert!(
                    matches!(call.dialogs, super::DialogIds::One(_)),
                    "{:?}",
                    call.dialogs
                );
            }
            assert_eq!(net.endpoint(node).dialog_count(), 1);
        }
    }

    /// A refused offer leaves our description as it was before it, under the refused
    /// offer's o= version so that the next offer still goes one higher (RFC 3264 §8).
    #[test]
    fn a_refused_offer_restores_the_previous_description_with_its_version() {
        use crate::sdp::SessionDescription;
        let ip = "192.0.2.1".parse().unwrap();
        let previous = SessionDescription::simple_audio("alice", 7, ip, 4000, &[0, 8]);
        let mut refused = SessionDescription::simple_audio("alice", 7, ip, 4000, &[18]);
        refused.origin_mut().version = 8;
        let restored = super::restore_after_refusal(previous.to_bytes(), &refused.to_bytes());
        let restored = SessionDescription::parse(&restored).unwrap();
        assert_eq!(restored.origin().version, 8);
        assert_eq!(restored.media(), previous.media());
        // An unchanged re-offer (a session refresh) restores the very bytes.
        let same = previous.to_bytes();
        assert_eq!(super::restore_after_refusal(same.clone(), &same), same);
        // So does a body that is not SDP.
        let text = bytes::Bytes::from_static(b"not sdp");
        assert_eq!(
            super::restore_after_refusal(text.clone(), &refused.to_bytes()),
            text
        );
    }

    /// 100,000 connected calls must fit in 300 MB with both sides in one process: the call
    /// and its dialog are most of it, so their sizes are pinned (the calls bench measures
    /// the whole).
    #[test]
    fn a_call_and_its_dialog_stay_small() {
        assert!(
            size_of::<super::Call>() <= 296,
            "Call is {} bytes",
            size_of::<super::Call>()
        );
        // A dialog's usages ride along in its table entry: an id (never 0) costs nothing more
        // in an `Option`.
        assert_eq!(
            size_of::<Option<crate::ids::CallId>>(),
            size_of::<crate::ids::CallId>()
        );
        assert!(
            size_of::<crate::dialog::Dialog>() <= 240,
            "Dialog is {} bytes",
            size_of::<crate::dialog::Dialog>()
        );
    }
}
