//! What arrives for calls from the peer: new INVITEs, requests inside a call (BYE,
//! re-INVITE, UPDATE, PRACK, INFO…) and the ACK for our 2xx.

use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;

use super::*;

impl InviteSessions {
    // ---- inputs ----

    /// A request inside dialog `dialog`, whose INVITE session is call `call` (the Endpoint
    /// found both in the dialog table).
    pub(crate) fn on_in_dialog_request(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: CallId,
        dialog: DialogId,
        new: NewRequest,
    ) {
        let handled = self.with_call(cx, now, call, |this, cx, c| {
            this.on_request_in_call(cx, now, c, dialog, new)
        });
        debug_assert!(handled.is_some(), "the dialog table names a live call");
    }

    pub(super) fn respond_status(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        tx: TransactionId,
        status: StatusCode,
        retry_after: Option<u32>,
    ) {
        if let Ok(mut response) = cx.response(tx, status) {
            if let Some(seconds) = retry_after {
                response
                    .headers
                    .push(HeaderName::RetryAfter, ByteString::from(seconds.to_string()));
            }
            let _ = cx.respond(now, tx, response);
        }
    }

    /// An INVITE outside any dialog: a new incoming call.
    pub(crate) fn on_new_invite(&mut self, cx: &mut Seam, now: Instant, new: NewRequest) {
        let NewRequest {
            transaction: tx,
            request,
            source,
            transport,
            ..
        } = new;
        cx.shared.stats.calls.invites += 1;
        let (Some(route), Some(to_tag)) = (
            cx.transactions.server_route(tx),
            cx.transactions.to_tag(tx).map(str::to_owned),
        ) else {
            return;
        };
        if self.calls.len() >= cx.shared.config.limits.max_calls {
            let retry_after = cx.shared.config.retry_after;
            cx.shared.stats.rejected += 1;
            self.respond_status(cx, now, tx, StatusCode::SERVICE_UNAVAILABLE, Some(retry_after));
            return;
        }
        // RFC 3891 §3: an INVITE with Replaces names the call it takes the place of.
        let replaced = match request.headers.replaces() {
            None => None,
            Some(Err(_)) => {
                // More than one Replaces, or one that does not parse.
                self.respond_status(cx, now, tx, StatusCode::BAD_REQUEST, None);
                return;
            }
            Some(Ok(replaces)) => match self.match_replaces(cx, &replaces) {
                Ok(call) => Some(call),
                Err(status) => {
                    self.respond_status(cx, now, tx, status, None);
                    return;
                }
            },
        };
        let local_seq = cx.shared.rng.next_u64() as u32 & 0x7fff_ffff;
        let Some(session_request) = self.check_session_request(cx, now, tx, &request) else {
            return;
        };
        let dialog = match Dialog::uas(&request, &to_tag, local_seq.max(1), true) {
            Ok(dialog) => dialog,
            Err(error) => {
                // §8.1.1.8 / §12.1.1: an INVITE must carry a Call-ID, From and To (and a
                // Contact, or from an RFC 2543 peer a From to stand for it).
                if let Ok(mut response) = cx.response(tx, StatusCode::BAD_REQUEST) {
                    response.reason = ByteString::from(error.to_string());
                    let _ = cx.respond(now, tx, response);
                }
                return;
            }
        };
        let require_100rel = request
            .headers
            .option_tags(HeaderName::Require)
            .flatten()
            .any(|t| t.eq_ignore_ascii_case("100rel"));
        let reliable = require_100rel
            || (cx.shared.config.calls.reliable_provisionals && request.headers.supports("100rel"));
        let body = request.body.clone();
        // RFC 3262 §3: the first RSeq is random in 1..2³¹.
        let first_rseq = (cx.shared.rng.next_u64() as u32 & 0x7fff_ffff).max(1);
        let id = CallId(cx.shared.fresh_id());
        let oa = if body.is_empty() {
            OfferAnswer::Stable
        } else {
            OfferAnswer::RemoteOffer
        };
        let mut call = Box::new(Call::new(id, Role::Uas, tx, request.clone(), route, oa));
        let dialog_id = DialogId(cx.shared.fresh_id());
        cx.dialogs.insert(dialog_id, dialog, Usage::Invite(id));
        call.dialogs.push(dialog_id);
        call.remote_body = body;
        call.session_request = Some(session_request);
        call.reliable = reliable.then(|| {
            Box::new(Reliable {
                enabled: true,
                next_rseq: first_rseq,
                ..Reliable::default()
            })
        });
        cx.transactions.set_owner(tx, Owner::Call(id, CallPart::Invite));
        self.call_event(
            cx,
            id,
            CallEvent::Incoming {
                request,
                source,
                transport,
            },
        );
        if let Some(replaced) = replaced {
            self.call_event(cx, id, CallEvent::Replacing { replaced });
            self.replacing.insert(id, replaced);
            cx.shared.stats.calls.replaces += 1;
        }
        if self.replacing.contains_key(&id) {
            self.set_state(
                cx,
                now,
                &mut call,
                CallState::Replacing,
                "INVITE with Replaces received",
            );
        } else {
            self.set_state(cx, now, &mut call, CallState::Ringing, "INVITE received");
        }
        self.incoming_per_source.add(call.route.remote.ip());
        self.calls.insert(id, call);
    }

    /// The call a Replaces header names (RFC 3891 §3), or the status refusing it: 481 when
    /// it names no dialog of a call of ours (or an early one we did not start), 486 when
    /// `early-only` meets a confirmed dialog, 603 when that call is already over.
    fn match_replaces(&self, cx: &Seam, replaces: &crate::message::Replaces) -> Result<CallId, StatusCode> {
        // Its to-tag is our tag in the dialog, its from-tag the peer's.
        let key = DialogKey {
            call_id: ByteString::from(replaces.call_id()),
            local_tag: ByteString::from(replaces.to_tag()),
            remote_tag: ByteString::from(replaces.from_tag()),
        };
        let dialog_id = cx
            .dialogs
            .find(&key)
            .ok_or(StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST)?;
        let call_id = cx
            .dialogs
            .invite_session(dialog_id)
            .ok_or(StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST)?;
        let c = self
            .calls
            .get(&call_id)
            .ok_or(StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST)?;
        let dialog = cx
            .dialogs
            .get(dialog_id)
            .ok_or(StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST)?;
        match (dialog.state(), c.state) {
            (_, CallState::Ending | CallState::Ended) | (DialogState::Terminated, _) => {
                Err(StatusCode::DECLINE)
            }
            (DialogState::Confirmed, _) if replaces.early_only() => Err(StatusCode::BUSY_HERE),
            (DialogState::Confirmed, _) => Ok(call_id),
            (DialogState::Early, _) if c.role == Role::Uac => Ok(call_id),
            (DialogState::Early, _) => Err(StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST),
        }
    }

    fn on_request_in_call(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        dialog_id: DialogId,
        new: NewRequest,
    ) {
        let (tx, request, seq) = (new.transaction, new.request, new.fields.cseq.seq);
        let Some(dialog) = cx.dialogs.get_mut(dialog_id) else {
            self.respond_status(cx, now, tx, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST, None);
            return;
        };
        if dialog.check_remote_seq(&request.method, seq) == CSeqCheck::OutOfOrder {
            // §12.2.2: lower CSeq than the last one.
            self.respond_status(cx, now, tx, StatusCode::SERVER_INTERNAL_ERROR, None);
            return;
        }
        match request.method {
            Method::Bye => {
                cx.shared.stats.calls.byes += 1;
                self.respond_status(cx, now, tx, StatusCode::OK, None);
                // §15.1.2: a pending INVITE of this dialog gets 487.
                if let Ok(tx) = self.pending_uas_invite(c) {
                    self.respond_status(cx, now, tx, StatusCode::REQUEST_TERMINATED, None);
                }
                self.stop_reliable(cx, c);
                // Our own BYE, for a transfer done or a call replaced, crossed theirs: the
                // call still ended for our reason.
                let reason = match c.end_reason.clone() {
                    Some(reason @ (EndReason::Transferred | EndReason::Replaced))
                        if c.state == CallState::Ending =>
                    {
                        reason
                    }
                    _ => EndReason::RemoteBye,
                };
                self.end(cx, now, c, reason, "BYE received");
            }
            Method::Invite => self.on_reinvite(cx, now, c, tx, request, seq),
            Method::Update => self.on_update(cx, now, c, tx, dialog_id, request),
            Method::Prack => self.on_prack(cx, now, c, tx, &request),
            ref method if cx.shared.config.calls.in_dialog_methods.contains(method) => {
                if cx.shared.config.calls.auto_accept_in_dialog {
                    self.respond_status(cx, now, tx, StatusCode::OK, None);
                }
                self.call_event(
                    cx,
                    c.id,
                    CallEvent::Request {
                        transaction: tx,
                        request,
                    },
                );
            }
            // §12.2.2: a method the call layer neither handles nor takes for the application.
            _ => cx.respond_with_allow(now, tx, StatusCode::NOT_IMPLEMENTED),
        }
    }

    /// A re-INVITE from the peer (§14.2).
    pub(super) fn on_reinvite(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        tx: TransactionId,
        request: Request,
        seq: u32,
    ) {
        cx.shared.stats.calls.invites += 1;
        if c.outgoing.is_some() {
            // Glare: our re-INVITE/UPDATE crosses theirs (§14.2: 491).
            self.respond_status(cx, now, tx, StatusCode::REQUEST_PENDING, None);
            return;
        }
        if !c.is_up() || c.incoming_reinvite || c.awaiting_ack.is_some() {
            // §14.2: an INVITE while one is in progress gets 500 with a Retry-After.
            self.respond_retry_later(cx, now, tx);
            return;
        }
        if let Some(dialog) = c
            .confirmed_dialog(&cx.dialogs)
            .and_then(|id| cx.dialogs.get_mut(id))
        {
            dialog.refresh_target(&request.headers);
        }
        let body = if request.body.is_empty() {
            // No offer: our 2xx offers our current description, the ACK answers (§14.2).
            let offer = hold_offer(&c.local_body, c.local_hold, c.remote_hold);
            let _ = c.oa.send_offer();
            offer
        } else {
            match self.take_remote_offer(cx, now, c, &request.body) {
                Some(answer) => answer,
                None => {
                    // §14.2: an offer we cannot accept gets 488; the session stays as it was.
                    self.respond_status(cx, now, tx, StatusCode::NOT_ACCEPTABLE_HERE, None);
                    return;
                }
            }
        };
        let Some(response) = self.refresh_ok(cx, c, tx, &request, body) else {
            return;
        };
        c.incoming_reinvite = true;
        let _ = self.send_2xx(cx, now, c, tx, seq, response);
        self.restart_session_timer(cx, now, c);
    }

    /// The 200 to a target refresh (re-INVITE or UPDATE) from the peer: our Contact, the
    /// session timer it refreshes (RFC 4028), and `body` — our answer or offer — which
    /// becomes our description.
    fn refresh_ok(
        &mut self,
        cx: &mut Seam,
        c: &mut Call,
        tx: TransactionId,
        request: &Request,
        body: Bytes,
    ) -> Option<Response> {
        let mut response = cx.response(tx, StatusCode::OK).ok()?;
        response
            .headers
            .push(HeaderName::Contact, self.contact_for(c.route.transport));
        if let Some(value) = Self::session_timer_from_request(c, request) {
            response
                .headers
                .push(HeaderName::Require, ByteString::from_static("timer"));
            response.headers.push(HeaderName::SessionExpires, value);
        }
        if !body.is_empty() {
            c.local_body = body.clone();
            response.set_body(body, Some(SDP));
        }
        Some(response)
    }

    /// 500 with a random Retry-After of 0–9 s: an offer is still being worked out here
    /// (RFC 3261 §14.2, RFC 3311 §5.2).
    fn respond_retry_later(&mut self, cx: &mut Seam, now: Instant, tx: TransactionId) {
        let wait = (cx.shared.rng.next_u64() % 10) as u32;
        self.respond_status(cx, now, tx, StatusCode::SERVER_INTERNAL_ERROR, Some(wait));
    }

    /// An UPDATE from the peer (RFC 3311 §5.2).
    pub(super) fn on_update(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        tx: TransactionId,
        dialog_id: DialogId,
        request: Request,
    ) {
        if !request.body.is_empty() {
            match c.oa {
                OfferAnswer::LocalOffer => {
                    self.respond_status(cx, now, tx, StatusCode::REQUEST_PENDING, None);
                    return;
                }
                OfferAnswer::RemoteOffer => {
                    self.respond_retry_later(cx, now, tx);
                    return;
                }
                OfferAnswer::Stable => {}
            }
        }
        if let Some(dialog) = cx.dialogs.get_mut(dialog_id) {
            dialog.refresh_target(&request.headers);
        }
        let body = if request.body.is_empty() {
            Bytes::new()
        } else {
            match self.take_remote_offer(cx, now, c, &request.body) {
                Some(answer) => answer,
                None => {
                    // RFC 3311 §5.2: an offer we cannot accept gets 488.
                    self.respond_status(cx, now, tx, StatusCode::NOT_ACCEPTABLE_HERE, None);
                    return;
                }
            }
        };
        let Some(response) = self.refresh_ok(cx, c, tx, &request, body) else {
            return;
        };
        let _ = cx.respond(now, tx, response);
        if c.is_up() {
            self.restart_session_timer(cx, now, c);
        }
    }

    /// The peer offered `offer` (re-INVITE or UPDATE): records it, works out hold and
    /// unhold (RFC 3264 §8.4), and returns our answer — or `None` when the offer shares no
    /// media format with our description (RFC 3264 §6): the application is told with
    /// [`CallEvent::RemoteOfferRejected`], the session stays as it was, and the caller
    /// refuses the request with 488.
    pub(super) fn take_remote_offer(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        offer: &Bytes,
    ) -> Option<Bytes> {
        let offer = offer.clone();
        let Ok(answer) = answer_to(&c.local_body, &offer, c.local_hold) else {
            self.call_event(cx, c.id, CallEvent::RemoteOfferRejected { body: offer });
            return None;
        };
        let _ = c.oa.receive_offer();
        let holds = offer_holds(&offer);
        let _ = c.oa.send_answer();
        if holds != c.remote_hold {
            self.set_hold(cx, now, c, Side::Remote, holds);
        } else {
            self.call_event(cx, c.id, CallEvent::RemoteOffer { body: offer });
        }
        Some(answer)
    }

    /// `by` now holds (or releases) the session: the flag, the event, and the call state.
    pub(super) fn set_hold(&mut self, cx: &mut Seam, now: Instant, c: &mut Call, by: Side, holds: bool) {
        match by {
            Side::Local => c.local_hold = holds,
            Side::Remote => c.remote_hold = holds,
        }
        let event = if holds {
            CallEvent::Hold { by }
        } else {
            CallEvent::Unhold { by }
        };
        self.call_event(cx, c.id, event);
        self.update_up_state(cx, now, c, if holds { "hold" } else { "unhold" });
    }

    /// An established call's state after its hold or transfer changed:
    /// [`Call::up_state`]. A call not (or no longer) up keeps its state.
    pub(super) fn update_up_state(&mut self, cx: &mut Seam, now: Instant, c: &mut Call, cause: &'static str) {
        if c.is_up() {
            let state = c.up_state();
            self.set_state(cx, now, c, state, cause);
        }
    }

    /// A PRACK (RFC 3262 §3): it must name the outstanding reliable provisional.
    pub(super) fn on_prack(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        tx: TransactionId,
        request: &Request,
    ) {
        let invite_seq = c.invite_seq();
        let matches = match (
            c.reliable.as_deref().and_then(|r| r.outstanding.as_ref()),
            request.headers.rack(),
        ) {
            (Some((rseq, _)), Some(Ok(rack))) => {
                rack.rseq == *rseq && rack.cseq == invite_seq && rack.method == Method::Invite
            }
            _ => false,
        };
        if !matches {
            self.respond_status(cx, now, tx, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST, None);
            return;
        }
        self.respond_status(cx, now, tx, StatusCode::OK, None);
        if let Some(reliable) = c.reliable.as_deref_mut() {
            reliable.outstanding = None;
        }
        self.disarm(cx, c, CallTimer::RetransmitProvisional);
        self.disarm(cx, c, CallTimer::PrackTimeout);
        let next = c
            .reliable
            .as_deref_mut()
            .and_then(|r| (!r.queued.is_empty()).then(|| r.queued.remove(0)));
        if let Some(next) = next {
            if let Ok(invite_tx) = self.pending_uas_invite(c) {
                let _ = self.send_reliable(cx, now, c, invite_tx, next);
            }
        }
    }

    /// The ACK for a 2xx (§13.3.1.4) in the dialog of call `call` (the Endpoint found it
    /// in the dialog table).
    pub(crate) fn on_ack(&mut self, cx: &mut Seam, now: Instant, call: CallId, ack: Request) {
        self.with_call(cx, now, call, |this, cx, c| {
            let seq = ack.headers.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
            if c.awaiting_ack.as_deref().is_none_or(|(s, _)| *s != seq) {
                cx.shared.stats.dropped += 1;
                return;
            }
            c.awaiting_ack = None;
            this.disarm(cx, c, CallTimer::Retransmit2xx);
            this.disarm(cx, c, CallTimer::AckTimeout);
            if !ack.body.is_empty() && c.oa == OfferAnswer::LocalOffer {
                let _ = c.oa.receive_answer();
                c.remote_body = ack.body.clone();
            }
            if c.incoming_reinvite {
                c.incoming_reinvite = false;
                return;
            }
            // The peer's description is the application's now: the core keeps only its
            // own (what re-INVITEs, hold and answers are built from).
            let body = std::mem::take(&mut c.remote_body);
            this.set_state(cx, now, c, CallState::Connected, "ACK received");
            // A REFER sent while we waited for the ACK makes the call Referring now.
            this.update_up_state(cx, now, c, "REFER in progress");
            this.call_event(cx, c.id, CallEvent::Answered { body });
            if c.bye_after_ack {
                c.bye_after_ack = false;
                let _ = this.send_bye(cx, now, c);
                this.set_state(cx, now, c, CallState::Ending, "BYE after ACK");
            }
        });
    }
}
