//! What arrives for calls: requests, ACKs and responses routed from the transaction layer.

use std::time::{Duration, Instant};

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
        self.set_state(cx, now, &mut call, CallState::Ringing, "INVITE received");
        self.calls.insert(id, call);
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
                self.end(cx, now, c, EndReason::RemoteBye, "BYE received");
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
            self.take_remote_offer(cx, now, c, &request.body)
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
            self.take_remote_offer(cx, now, c, &request.body)
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
    /// unhold (RFC 3264 §8.4), and returns our answer.
    pub(super) fn take_remote_offer(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        offer: &Bytes,
    ) -> Bytes {
        let _ = c.oa.receive_offer();
        let offer = offer.clone();
        let holds = offer_holds(&offer);
        let answer = answer_to(&c.local_body, &offer, c.local_hold);
        let _ = c.oa.send_answer();
        if holds != c.remote_hold {
            self.set_hold(cx, now, c, Side::Remote, holds);
        } else {
            self.call_event(cx, c.id, CallEvent::RemoteOffer { body: offer });
        }
        answer
    }

    /// `by` now holds (or releases) the session: the flag, the event, and the call state.
    fn set_hold(&mut self, cx: &mut Seam, now: Instant, c: &mut Call, by: Side, holds: bool) {
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
        self.update_hold_state(cx, now, c);
    }

    pub(super) fn update_hold_state(&mut self, cx: &mut Seam, now: Instant, c: &mut Call) {
        if !c.is_up() {
            return;
        }
        if c.local_hold || c.remote_hold {
            self.set_state(cx, now, c, CallState::Hold, "hold");
        } else {
            self.set_state(cx, now, c, CallState::Connected, "unhold");
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
            this.call_event(cx, c.id, CallEvent::Answered { body });
            if c.bye_after_ack {
                c.bye_after_ack = false;
                let _ = this.send_bye(cx, now, c);
                this.set_state(cx, now, c, CallState::Ending, "BYE after ACK");
            }
        });
    }

    /// A 2xx retransmitted after the INVITE transaction ended (Timer M), in the dialog of
    /// call `call`: ACK it again (§13.2.2.4).
    pub(crate) fn on_stray_success(&mut self, cx: &mut Seam, call: CallId, response: Response) {
        let seq = response.headers.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
        if let Some(c) = self.calls.get(&call) {
            if let Some((ack_seq, payload, route)) = c.last_ack.as_deref() {
                if *ack_seq == seq {
                    let (payload, route) = (payload.clone(), *route);
                    cx.shared.stats.retransmitted += 1;
                    cx.shared.transmit(route, payload);
                }
            }
        }
    }

    pub(super) fn on_call_response(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        purpose: CallPart,
        tx: TransactionId,
        response: Response,
    ) {
        match purpose {
            // A failure of an INVITE we already replaced (a 422 retry) is old news.
            CallPart::Invite if c.invite_tx != Some(tx) && !response.status.is_success() => {}
            CallPart::Invite => self.on_invite_response(cx, now, c, response),
            CallPart::Reinvite | CallPart::Update => {
                self.on_modify_response(cx, now, c, purpose, tx, response)
            }
            CallPart::Bye => {
                if response.status.is_final() {
                    let reason = c.end_reason.clone().unwrap_or(EndReason::LocalBye);
                    self.end(cx, now, c, reason, "BYE answered");
                }
            }
            CallPart::Cancel | CallPart::ForkBye | CallPart::Prack | CallPart::App => {}
        }
    }

    /// A response to our initial INVITE (§13.2.2).
    pub(super) fn on_invite_response(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        response: Response,
    ) {
        let status = response.status;
        if status.as_u16() < 200 {
            if status.as_u16() == 100 {
                return;
            }
            let fresh = self.on_provisional(cx, now, c, &response);
            if c.cancel_pending {
                self.send_cancel_if_possible(cx, now, c);
            }
            if !fresh {
                return;
            }
            if c.state == CallState::Calling {
                self.set_state(cx, now, c, CallState::Ringing, "provisional received");
            }
            self.call_event(cx, c.id, CallEvent::Ringing { status });
            if !response.body.is_empty() {
                if c.oa == OfferAnswer::LocalOffer {
                    let _ = c.oa.receive_answer();
                    c.remote_body = response.body.clone();
                }
                self.call_event(
                    cx,
                    c.id,
                    CallEvent::EarlyMedia {
                        body: response.body.clone(),
                    },
                );
            }
            return;
        }
        if status.is_success() {
            self.on_invite_success(cx, now, c, response);
            return;
        }
        // 3xx–6xx: the transaction ACKs it (§17.1.1.3).
        if status == StatusCode::SESSION_INTERVAL_TOO_SMALL
            && c.state != CallState::Ending
            && self.retry_with_min_se(cx, now, c, &response)
        {
            return;
        }
        for dialog in c.dialogs.take() {
            cx.dialogs.end_usage(dialog, Usage::Invite(c.id));
        }
        if c.state == CallState::Ending && c.end_reason == Some(EndReason::Cancelled) {
            self.end(cx, now, c, EndReason::Cancelled, "487 received");
        } else {
            self.call_event(
                cx,
                c.id,
                CallEvent::Rejected {
                    status,
                    reason: response.reason.clone(),
                },
            );
            self.end(cx, now, c, EndReason::Rejected(status), "rejected");
        }
    }

    /// A 101–199: makes or finds the early dialog (§13.2.2.1) and PRACKs a reliable one
    /// (RFC 3262 §4). False for a retransmitted reliable provisional.
    pub(super) fn on_provisional(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        response: &Response,
    ) -> bool {
        let Some(key) = DialogKey::of_response(response) else {
            return true;
        };
        if c.dialog_with_key(&cx.dialogs, &key).is_none() {
            let Some(invite) = &c.invite else {
                return true;
            };
            if let Ok(dialog) = Dialog::uac_keyed(invite, response, &key) {
                let id = DialogId(cx.shared.fresh_id());
                cx.dialogs.insert(id, dialog, Usage::Invite(c.id));
                c.dialogs.push(id);
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
        let last = c.reliable.as_deref().and_then(|r| {
            r.last_rseq
                .iter()
                .find(|(tag, _)| *tag == key.remote_tag)
                .map(|(_, r)| *r)
        });
        match last {
            Some(last) if rseq <= last => return false,
            // §4: out of order (a gap) — wait for the missing one's retransmission.
            Some(last) if rseq != last.wrapping_add(1) => return false,
            _ => {}
        }
        c.reliable().last_rseq.retain(|(tag, _)| *tag != key.remote_tag);
        c.reliable()
            .last_rseq
            .push((ByteString::from(&*key.remote_tag), rseq));
        let invite_seq = c.invite_seq();
        let Some(dialog_id) = c.dialog_with_key(&cx.dialogs, &key) else {
            return true;
        };
        let Some(dialog) = cx.dialogs.get_mut(dialog_id) else {
            return true;
        };
        dialog.refresh_target(&response.headers);
        // The PRACK goes in the dialog of this provisional, which may not be the newest.
        c.dialogs.move_to_end(dialog_id);
        let Ok(via) = self.in_dialog_via(cx, c) else {
            return true;
        };
        let Some(dialog) = cx.dialogs.get_mut(dialog_id) else {
            return true;
        };
        let mut prack = dialog.request_via(Method::Prack, None, Bytes::new(), None, &via.text);
        prack.headers.push(
            HeaderName::RAck,
            ByteString::from(format!("{rseq} {invite_seq} INVITE")),
        );
        let _ = self.send_in_dialog(cx, now, c, prack, via, CallPart::Prack);
        true
    }

    /// A 2xx to our INVITE (§13.2.2.4): confirm its dialog and ACK; a 2xx from a second
    /// fork is ACKed and BYEd; a retransmission gets the same ACK.
    pub(super) fn on_invite_success(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        response: Response,
    ) {
        let Some(key) = DialogKey::of_response(&response) else {
            return;
        };
        let seq = response.headers.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
        let mut killed = c.killed_forks.iter().flat_map(|forks| forks.iter());
        if let Some((_, payload, route)) = killed.find(|(tag, _, _)| *tag == key.remote_tag) {
            let (payload, route) = (payload.clone(), *route);
            cx.shared.stats.retransmitted += 1;
            cx.shared.transmit(route, payload);
            return;
        }
        let confirmed = c.confirmed_dialog(&cx.dialogs).and_then(|id| cx.dialogs.get(id));
        match confirmed {
            Some(confirmed) if confirmed.has_key(&key) => {
                // A retransmission: the same ACK again.
                if let Some((ack_seq, payload, route)) = c.last_ack.as_deref() {
                    if *ack_seq == seq {
                        let (payload, route) = (payload.clone(), *route);
                        cx.shared.stats.retransmitted += 1;
                        cx.shared.transmit(route, payload);
                    }
                }
                return;
            }
            Some(_) => {
                self.kill_fork(cx, now, c, &response, seq, key);
                return;
            }
            None => {}
        }
        // Confirm (or create) this fork's dialog; the other early dialogs end.
        let Some(invite) = c.invite.take() else {
            return;
        };
        let confirmed = match c.dialog_with_key(&cx.dialogs, &key) {
            Some(id) => {
                if let Some(dialog) = cx.dialogs.get_mut(id) {
                    dialog.confirm(&response);
                }
                id
            }
            None => match Dialog::uac_keyed(&invite, &response, &key) {
                Ok(dialog) => {
                    let id = DialogId(cx.shared.fresh_id());
                    cx.dialogs.insert(id, dialog, Usage::Invite(c.id));
                    id
                }
                Err(_) => {
                    c.invite = Some(invite);
                    return;
                }
            },
        };
        for early in c.dialogs.take() {
            if early != confirmed {
                cx.dialogs.end_usage(early, Usage::Invite(c.id));
            }
        }
        c.dialogs.push(confirmed);
        let delayed_offer = invite.body.is_empty();
        // Keep the INVITE while the transaction may still deliver forked 2xx responses.
        c.invite = Some(invite);
        let ack_body = match c.oa {
            OfferAnswer::LocalOffer => {
                let _ = c.oa.receive_answer();
                c.remote_body = response.body.clone();
                Bytes::new()
            }
            // A delayed offer: the 2xx offers, our ACK answers (§13.2.2.4).
            OfferAnswer::Stable if delayed_offer && !response.body.is_empty() => {
                c.remote_body = response.body.clone();
                if c.local_body.is_empty() {
                    // §13.2.2.4: we have nothing to answer with; ACK, then end the call.
                    self.send_ack(cx, c, seq, Bytes::new());
                    let _ = self.send_bye(cx, now, c);
                    c.end_reason = Some(EndReason::MediaFailure);
                    self.set_state(cx, now, c, CallState::Ending, "no answer to the 2xx offer");
                    return;
                }
                // RFC 3264 §6: the answer from our description, directions mirrored.
                let answer = answer_to(&c.local_body, &c.remote_body, c.local_hold);
                c.local_body = answer.clone();
                answer
            }
            _ => Bytes::new(),
        };
        self.send_ack(cx, c, seq, ack_body);
        if c.state == CallState::Ending {
            // The 2xx crossed our CANCEL: ACK, then BYE (§9.1, §15).
            let _ = self.send_bye(cx, now, c);
            return;
        }
        self.take_session_timer_from_2xx(c, &response);
        self.restart_session_timer(cx, now, c);
        self.set_state(cx, now, c, CallState::Connected, "200 received");
        // Handed to the application; the core keeps only its own description.
        let body = std::mem::take(&mut c.remote_body);
        self.call_event(cx, c.id, CallEvent::Answered { body });
    }

    /// A 2xx from a second fork: ACK it and end that dialog with BYE (§13.2.2.4).
    pub(super) fn kill_fork(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        response: &Response,
        seq: u32,
        key: DialogKey,
    ) {
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
        let branch = cx.shared.new_branch();
        let via = cx.shared.our_via(&branch, route.transport);
        let mut ack = dialog.ack_via(seq, Bytes::new(), None, &via);
        cx.shared
            .prepare_request(&mut ack, &branch, route.transport, TopVia::Ours);
        let payload = ack.to_bytes();
        cx.shared.transmit(route, payload.clone());
        c.killed_forks.get_or_insert_with(Default::default).push((
            ByteString::from(&*key.remote_tag),
            payload,
            route,
        ));
        let branch = cx.shared.new_branch();
        let via = cx.shared.our_via(&branch, route.transport);
        let mut bye = dialog.request_via(Method::Bye, None, Bytes::new(), None, &via);
        cx.shared
            .prepare_request(&mut bye, &branch, route.transport, TopVia::Ours);
        cx.shared.stats.calls.byes += 1;
        cx.start_client(now, bye, branch, route, Owner::Call(c.id, CallPart::ForkBye));
    }

    /// A response to our re-INVITE or UPDATE.
    pub(super) fn on_modify_response(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        purpose: CallPart,
        tx: TransactionId,
        response: Response,
    ) {
        let status = response.status;
        if !status.is_final() {
            return;
        }
        let seq = response.headers.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
        if purpose == CallPart::Reinvite && status.is_success() {
            let ours = c.outgoing.as_deref().is_some_and(|(t, _)| *t == tx);
            if !ours {
                // A retransmitted 2xx: the same ACK again.
                if let Some((ack_seq, payload, route)) = c.last_ack.as_deref() {
                    if *ack_seq == seq {
                        let (payload, route) = (payload.clone(), *route);
                        cx.shared.transmit(route, payload);
                    }
                }
                return;
            }
        }
        let Some((ours, intent)) = c.outgoing.take().map(|b| *b) else {
            return;
        };
        if ours != tx {
            c.outgoing = Some(Box::new((ours, intent)));
            return;
        }
        if status.is_success() {
            if let Some(dialog) = c.dialog(&cx.dialogs).and_then(|id| cx.dialogs.get_mut(id)) {
                dialog.refresh_target(&response.headers);
            }
            let offered = c.oa == OfferAnswer::LocalOffer;
            let mut ack_body = Bytes::new();
            if offered {
                let _ = c.oa.receive_answer();
                c.remote_body = response.body.clone();
            } else if !response.body.is_empty() && purpose == CallPart::Reinvite {
                // We sent no offer: the 2xx offers, the ACK answers.
                c.remote_body = response.body.clone();
                ack_body = answer_to(&c.local_body, &c.remote_body, c.local_hold);
            }
            if purpose == CallPart::Reinvite {
                self.send_ack(cx, c, seq, ack_body);
            }
            self.take_session_timer_from_2xx(c, &response);
            self.restart_session_timer(cx, now, c);
            match intent {
                Intent::Hold => self.set_hold(cx, now, c, Side::Local, true),
                Intent::Unhold => self.set_hold(cx, now, c, Side::Local, false),
                Intent::Offer(_) => {
                    let body = std::mem::take(&mut c.remote_body);
                    self.call_event(cx, c.id, CallEvent::OfferAnswered { body });
                    // The application's own offer may hold or release the peer (its
                    // direction says so, RFC 3264 §8.4).
                    let holds = offer_holds(&c.local_body);
                    if holds != c.local_hold {
                        self.set_hold(cx, now, c, Side::Local, holds);
                    }
                }
                Intent::Refresh => {}
            }
            return;
        }
        c.oa.rollback();
        match status.as_u16() {
            491 => {
                // §14.1: glare — retry after a random wait: 2.1–4 s if we chose the
                // Call-ID (we are the dialog's UAC), else 0–2 s, in 10 ms units.
                let ticks = cx.shared.rng.next_u64();
                let wait_ms = if c.role == Role::Uac {
                    2100 + (ticks % 191) * 10
                } else {
                    (ticks % 201) * 10
                };
                let at = now + Duration::from_millis(wait_ms);
                let method = if purpose == CallPart::Reinvite {
                    Method::Invite
                } else {
                    Method::Update
                };
                c.glare_retry = Some(Box::new((method, intent)));
                self.arm(cx, c, CallTimer::GlareRetry, at);
                self.call_event(cx, c.id, CallEvent::GlareRetry { at });
            }
            // §14.1: 481 or 408 to a re-INVITE — the dialog is gone.
            481 | 408 => {
                let _ = self.send_bye(cx, now, c);
                c.end_reason = Some(EndReason::DialogGone);
                self.set_state(cx, now, c, CallState::Ending, "dialog gone");
            }
            _ => self.call_event(cx, c.id, CallEvent::OfferRejected { status }),
        }
    }

    pub(super) fn on_call_failure(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        purpose: CallPart,
        transport_error: bool,
    ) {
        let reason = if transport_error {
            EndReason::TransportError
        } else {
            EndReason::Timeout
        };
        match purpose {
            CallPart::Invite if c.role == Role::Uac && !c.is_up() => {
                let reason = if c.end_reason == Some(EndReason::Cancelled) {
                    EndReason::Cancelled
                } else {
                    reason
                };
                self.end(cx, now, c, reason, "no final response");
            }
            CallPart::Bye => {
                // Our hang-up was never answered: the call did not end cleanly, whatever
                // we meant (RFC 3261 §15.1.1: the session is over, but not by agreement).
                // A more specific reason that made us send the BYE (no ACK, session
                // expired, dialog gone) stands.
                let reason = match c.end_reason.clone() {
                    None | Some(EndReason::LocalBye) => reason,
                    Some(specific) => specific,
                };
                self.end(cx, now, c, reason, "BYE timed out");
            }
            // §14.1: a timeout on a re-INVITE ends the dialog.
            CallPart::Reinvite | CallPart::Update if c.outgoing.take().is_some() => {
                c.oa.rollback();
                let _ = self.send_bye(cx, now, c);
                c.end_reason = Some(EndReason::DialogGone);
                self.set_state(cx, now, c, CallState::Ending, "re-INVITE timed out");
            }
            _ => {}
        }
    }
}
