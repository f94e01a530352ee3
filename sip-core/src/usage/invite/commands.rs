//! The call commands: what the application asks of a call.

use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;

use super::*;

impl InviteSessions {
    // ---- commands ----

    /// [`Endpoint::invite`](crate::Endpoint::invite), in the call layer.
    pub(crate) fn invite(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        target: Uri,
        body: Bytes,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<CallId, CallError> {
        check_app_headers(headers)?;
        self.start_call(
            cx,
            now,
            target,
            (body.clone(), content_type),
            body,
            (&[], headers),
        )
    }

    /// [`Endpoint::invite_replacing`](crate::Endpoint::invite_replacing), in the call layer.
    pub(crate) fn invite_replacing(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        target: Uri,
        body: Bytes,
        replaces: &crate::message::Replaces,
    ) -> Result<CallId, CallError> {
        let value = replaces.to_string();
        // RFC 3891 §6: a UAS that does not know Replaces must refuse, not take a new call.
        let extra = [
            (HeaderName::Replaces, value.as_str()),
            (HeaderName::Require, "replaces"),
        ];
        self.start_call(cx, now, target, (body.clone(), Some(SDP)), body, (&extra, &[]))
    }

    /// A call placed for REFER `refer` (RFC 3515): its INVITE carries the REFER's
    /// Referred-By (RFC 3892), and its progress is reported to the referrer.
    pub(crate) fn invite_for_refer(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        target: Uri,
        body: Bytes,
        (referred_by, replaces): (Option<&str>, Option<&str>),
        refer: SubscriptionId,
    ) -> Result<CallId, CallError> {
        let mut extra: Vec<(HeaderName, &str)> = referred_by
            .map(|by| (HeaderName::ReferredBy, by))
            .into_iter()
            .collect();
        if let Some(replaces) = replaces {
            // An attended transfer: the target replaces its call with the referrer.
            extra.push((HeaderName::Replaces, replaces));
            extra.push((HeaderName::Require, "replaces"));
        }
        let id = self.start_call(cx, now, target, (body.clone(), Some(SDP)), body, (&extra, &[]))?;
        self.referred.insert(id, refer);
        Ok(id)
    }

    /// [`Endpoint::invite_without_offer`](crate::Endpoint::invite_without_offer), in the call layer.
    pub(crate) fn invite_without_offer(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        target: Uri,
        template: Bytes,
    ) -> Result<CallId, CallError> {
        self.start_call(cx, now, target, (Bytes::new(), Some(SDP)), template, (&[], &[]))
    }

    /// The INVITE of a new call: `body` (of `content_type`) goes in it, with `extra`
    /// headers; `local` is our description.
    fn start_call(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        target: Uri,
        (body, content_type): (Bytes, Option<&str>),
        local: Bytes,
        (extra, app): ExtraHeaders<'_>,
    ) -> Result<CallId, CallError> {
        if self.calls.len() >= cx.shared.config.limits.max_calls {
            return Err(CallError::TooManyCalls);
        }
        let hop = cx.first_hop(&target).map_err(CallError::Unresolvable)?;
        let transport = hop.transport;
        let call_id = cx.shared.rng.token(20);
        let tag = cx.shared.rng.token(10);
        let contact = self.contact_for(transport);
        let identity = self.local.identity();
        let mut headers = HeaderWriter::with_capacity(512, 12);
        // No Via: send_request puts ours on top (a placeholder would only be removed).
        headers.push(HeaderName::MaxForwards, &cx.shared.max_forwards);
        if let Some(route) = &hop.route {
            headers.push(HeaderName::Route, route);
        }
        headers.push_parts(HeaderName::From, &[identity, ";tag=", &tag]);
        headers.push_parts(HeaderName::To, &["<", target.as_str(), ">"]);
        headers.push(HeaderName::CallId, &call_id);
        headers.push(HeaderName::CSeq, "1 INVITE");
        headers.push(HeaderName::Contact, &contact);
        headers.push(HeaderName::Allow, &cx.shared.allow);
        let session_expires = self.requested_session_interval(cx);
        match (
            cx.shared.config.calls.reliable_provisionals,
            session_expires.is_some(),
        ) {
            (true, true) => headers.push(HeaderName::Supported, "100rel, timer"),
            (true, false) => headers.push(HeaderName::Supported, "100rel"),
            (false, true) => headers.push(HeaderName::Supported, "timer"),
            (false, false) => {}
        }
        if let Some(seconds) = &session_expires {
            // RFC 4028 §7.1: we ask; the UAS decides the refresher.
            headers.push(HeaderName::SessionExpires, seconds);
        }
        for (name, value) in extra {
            headers.push(*name, value);
        }
        for (name, value) in app {
            match HeaderName::parse(name) {
                HeaderName::Other => headers.push_named(name, value),
                known => headers.push(known, value),
            }
        }
        if !body.is_empty() {
            headers.push(HeaderName::ContentType, content_type.unwrap_or(SDP));
        }
        let mut number = [0u8; 10];
        let length = u32::try_from(body.len()).unwrap_or(u32::MAX);
        headers.push(
            HeaderName::ContentLength,
            crate::message::builder::decimal(&mut number, length),
        );
        let mut request = Request {
            method: Method::Invite,
            uri: target,
            version: Version::SIP_2_0,
            headers: headers.finish(),
            body: body.clone(),
        };
        // Credentials for a realm that challenged us before go along (RFC 3261 §22.3).
        cx.preauthorize(&mut request);
        // Owned by the application until the call exists: the call's id is drawn after the
        // transaction's (ids are handed out in order of creation).
        let tx = cx.send_request_to(now, request, &hop.next, Owner::App)?;
        let Some(invite) = cx.transactions.client_invite_request(tx).cloned() else {
            return Err(CallError::Send(SendError::UnknownTransaction(tx)));
        };
        // While DNS is asked (RFC 3263) the INVITE has no route yet: the call takes the
        // transaction's once the first response comes.
        let route = cx.transactions.client_route(tx).unwrap_or(Route {
            transport,
            flow: None,
            remote: cx.shared.config.local,
        });
        let id = CallId(cx.shared.fresh_id());
        let oa = if body.is_empty() {
            OfferAnswer::Stable
        } else {
            OfferAnswer::LocalOffer
        };
        let mut call = Box::new(Call::new(id, Role::Uac, tx, invite, route, oa));
        call.local_body = local;
        cx.shared.stats.calls.invites += 1;
        cx.transactions.set_owner(tx, Owner::Call(id, CallPart::Invite));
        self.set_state(cx, now, &mut call, CallState::Calling, "INVITE sent");
        self.calls.insert(id, call);
        Ok(id)
    }

    /// [`Endpoint::ringing`](crate::Endpoint::ringing), in the call layer.
    pub(crate) fn ringing(&mut self, cx: &mut Seam, now: Instant, call: CallId) -> Result<(), CallError> {
        self.provisional(cx, now, call, StatusCode::RINGING, Bytes::new(), None)
    }

    /// [`Endpoint::provisional`](crate::Endpoint::provisional), in the call layer.
    pub(crate) fn provisional(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: CallId,
        status: StatusCode,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<(), CallError> {
        if !(101..200).contains(&status.as_u16()) {
            return Err(CallError::BadStatus(status.as_u16()));
        }
        self.call_command(cx, now, call, |this, cx, c| {
            let tx = this.pending_uas_invite(c)?;
            let response = this.dialog_response(cx, c, tx, status, body.clone(), content_type)?;
            if !body.is_empty() && c.oa == OfferAnswer::RemoteOffer {
                let _ = c.oa.send_answer();
                c.local_body = body;
            }
            if c.reliable.as_deref().is_some_and(|r| r.enabled) {
                if c.reliable().outstanding.is_some() {
                    // RFC 3262 §3: one unacknowledged reliable provisional at a time.
                    c.reliable().queued.push(response);
                    return Ok(());
                }
                this.send_reliable(cx, now, c, tx, response)?;
            } else {
                cx.respond(now, tx, response)?;
            }
            if c.state == CallState::Idle {
                this.set_state(cx, now, c, CallState::Ringing, "provisional sent");
            }
            Ok(())
        })
    }

    /// [`Endpoint::answer`](crate::Endpoint::answer), in the call layer.
    pub(crate) fn answer(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: CallId,
        body: Bytes,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<(), CallError> {
        check_app_headers(headers)?;
        self.call_command(cx, now, call, |this, cx, c| {
            let tx = this.pending_uas_invite(c)?;
            let body = if body.is_empty() {
                c.local_body.clone()
            } else {
                body
            };
            let mut response = this.dialog_response(cx, c, tx, StatusCode::OK, body.clone(), content_type)?;
            push_app_headers(&mut response.headers, headers);
            match c.oa {
                OfferAnswer::RemoteOffer => {
                    let _ = c.oa.send_answer();
                }
                // No offer in the INVITE: our 2xx makes it, the ACK answers (§13.2.1).
                OfferAnswer::Stable
                    if c.invite.as_ref().is_some_and(|i| i.body.is_empty()) && !body.is_empty() =>
                {
                    let _ = c.oa.send_offer();
                }
                _ => {}
            }
            if !body.is_empty() {
                c.local_body = body;
            }
            this.stop_reliable(cx, c);
            let seq = c.invite_seq();
            this.add_session_timer_to_2xx(cx, c, &mut response);
            this.send_2xx(cx, now, c, tx, seq, response)?;
            this.restart_session_timer(cx, now, c);
            // §12.1.1: the dialog is confirmed once our 2xx is out.
            if let Some(dialog) = c.dialogs.first() {
                cx.dialogs.mark_confirmed(dialog);
            }
            c.invite = None;
            this.set_state(cx, now, c, CallState::Answering, "200 sent");
            Ok(())
        })
    }

    /// [`Endpoint::reject`](crate::Endpoint::reject), in the call layer.
    pub(crate) fn reject(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: CallId,
        status: StatusCode,
        reason: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<(), CallError> {
        if !(300..700).contains(&status.as_u16()) {
            return Err(CallError::BadStatus(status.as_u16()));
        }
        check_app_headers(headers)?;
        self.call_command(cx, now, call, |this, cx, c| {
            let tx = this.pending_uas_invite(c)?;
            let mut response = cx.response(tx, status)?;
            push_app_headers(&mut response.headers, headers);
            if let Some(reason) = reason {
                response.reason = ByteString::from(reason.replace(['\r', '\n'], " "));
            }
            this.stop_reliable(cx, c);
            cx.respond(now, tx, response)?;
            c.invite = None;
            this.end(cx, now, c, EndReason::Rejected(status), "rejected");
            Ok(())
        })
    }

    /// [`Endpoint::redirect`](crate::Endpoint::redirect), in the call layer: 302 with a
    /// Contact for each target (RFC 3261 §21.3.3).
    pub(crate) fn redirect(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: CallId,
        targets: &[Uri],
    ) -> Result<(), CallError> {
        let status = StatusCode::MOVED_TEMPORARILY;
        self.call_command(cx, now, call, |this, cx, c| {
            let tx = this.pending_uas_invite(c)?;
            let contacts: Vec<String> = targets.iter().map(|t| format!("<{t}>")).collect();
            let headers = contacts.iter().map(|c| (HeaderName::Contact, c.as_str()));
            let response = cx.response_with(tx, status, headers, Bytes::new())?;
            this.stop_reliable(cx, c);
            cx.respond(now, tx, response)?;
            c.invite = None;
            this.end(cx, now, c, EndReason::Rejected(status), "redirected");
            Ok(())
        })
    }

    /// [`Endpoint::cancel`](crate::Endpoint::cancel), in the call layer.
    pub(crate) fn cancel(&mut self, cx: &mut Seam, now: Instant, call: CallId) -> Result<(), CallError> {
        self.call_command(cx, now, call, |this, cx, c| {
            if c.role != Role::Uac || !matches!(c.state, CallState::Calling | CallState::Ringing) {
                return Err(CallError::InvalidState {
                    call: c.id,
                    state: c.state,
                });
            }
            this.set_state(cx, now, c, CallState::Ending, "cancel");
            c.end_reason = Some(EndReason::Cancelled);
            this.send_cancel_if_possible(cx, now, c);
            Ok(())
        })
    }

    /// [`Endpoint::bye`](crate::Endpoint::bye), in the call layer.
    pub(crate) fn bye(&mut self, cx: &mut Seam, now: Instant, call: CallId) -> Result<(), CallError> {
        self.call_command(cx, now, call, |this, cx, c| match c.state {
            CallState::Connected | CallState::Hold | CallState::Referring => {
                this.send_bye(cx, now, c)?;
                c.end_reason = Some(EndReason::LocalBye);
                this.set_state(cx, now, c, CallState::Ending, "BYE sent");
                Ok(())
            }
            CallState::Answering => {
                c.bye_after_ack = true;
                c.end_reason = Some(EndReason::LocalBye);
                this.set_state(cx, now, c, CallState::Ending, "BYE after ACK");
                Ok(())
            }
            state => Err(CallError::InvalidState { call: c.id, state }),
        })
    }

    /// [`Endpoint::hangup`](crate::Endpoint::hangup), in the call layer.
    pub(crate) fn hangup(&mut self, cx: &mut Seam, now: Instant, call: CallId) -> Result<(), CallError> {
        let (role, state) = self
            .calls
            .get(&call)
            .map(|c| (c.role, c.state))
            .ok_or(CallError::UnknownCall(call))?;
        match (role, state) {
            (_, CallState::Ending | CallState::Ended) => Ok(()),
            (Role::Uac, CallState::Calling | CallState::Ringing | CallState::Idle) => {
                self.cancel(cx, now, call)
            }
            (Role::Uas, CallState::Idle | CallState::Ringing | CallState::Replacing) => {
                self.reject(cx, now, call, StatusCode::DECLINE, None, &[])
            }
            _ => self.bye(cx, now, call),
        }
    }

    /// [`Endpoint::hold`](crate::Endpoint::hold), in the call layer.
    pub(crate) fn hold(&mut self, cx: &mut Seam, now: Instant, call: CallId) -> Result<(), CallError> {
        self.modify_command(cx, now, call, Method::Invite, Intent::Hold)
    }

    /// [`Endpoint::unhold`](crate::Endpoint::unhold), in the call layer.
    pub(crate) fn unhold(&mut self, cx: &mut Seam, now: Instant, call: CallId) -> Result<(), CallError> {
        self.modify_command(cx, now, call, Method::Invite, Intent::Unhold)
    }

    /// [`Endpoint::reinvite`](crate::Endpoint::reinvite), in the call layer.
    pub(crate) fn reinvite(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: CallId,
        body: Bytes,
    ) -> Result<(), CallError> {
        self.modify_command(cx, now, call, Method::Invite, Intent::Offer(body))
    }

    /// [`Endpoint::update`](crate::Endpoint::update), in the call layer.
    pub(crate) fn update(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: CallId,
        body: Bytes,
    ) -> Result<(), CallError> {
        self.modify_command(cx, now, call, Method::Update, Intent::Offer(body))
    }

    /// [`Endpoint::request_in_dialog`](crate::Endpoint::request_in_dialog), in the call layer.
    pub(crate) fn request_in_dialog(
        &mut self,
        cx: &mut Seam,
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
        self.call_command(cx, now, call, |this, cx, c| {
            let contact = (method == Method::Update).then(|| this.contact_for(c.route.transport));
            let invalid = CallError::InvalidState {
                call: c.id,
                state: c.state,
            };
            let Some(dialog_id) = c.dialog(&cx.dialogs) else {
                return Err(invalid);
            };
            let via = this.in_dialog_via(cx, now, c)?;
            let dialog = cx.dialogs.get_mut(dialog_id).ok_or(invalid)?;
            let request = dialog.request_via(
                method,
                contact.as_deref(),
                body,
                content_type,
                &via.text,
                &cx.shared.max_forwards,
            );
            this.send_in_dialog(cx, now, c, request, via, CallPart::App)
        })
    }

    // ---- command helpers ----

    pub(super) fn modify_command(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: CallId,
        method: Method,
        intent: Intent,
    ) -> Result<(), CallError> {
        self.call_command(cx, now, call, |this, cx, c| {
            let allowed = c.is_up()
                || (method == Method::Update
                    && c.dialog(&cx.dialogs).is_some()
                    && c.state != CallState::Ending);
            if !allowed {
                return Err(CallError::InvalidState {
                    call: c.id,
                    state: c.state,
                });
            }
            // §14.1: no re-INVITE while another INVITE transaction is in progress in
            // either direction; RFC 3311 §5.1: no UPDATE while an offer is outstanding.
            if !c.oa.is_stable() || c.outgoing.is_some() || c.incoming_reinvite || c.awaiting_ack.is_some() {
                return Err(CallError::OfferPending);
            }
            // A newer command supersedes a glare retry still waiting (§14.1): the
            // application's latest intent is the one that goes out.
            if c.glare_retry.take().is_some() {
                this.disarm(cx, c, CallTimer::GlareRetry);
            }
            this.modify(cx, now, c, method, intent)
        })
    }

    /// Sends a re-INVITE or UPDATE carrying the offer `intent` calls for.
    pub(super) fn modify(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        method: Method,
        intent: Intent,
    ) -> Result<(), CallError> {
        let body = match &intent {
            Intent::Offer(body) => body.clone(),
            Intent::Hold => hold_offer(&c.local_body, true, c.remote_hold),
            Intent::Unhold => hold_offer(&c.local_body, false, c.remote_hold),
            // RFC 4028 §10: a refresh re-offers the session unchanged (same o= version).
            Intent::Refresh => c.local_body.clone(),
        };
        let session_expires = Self::session_expires_value(c);
        let contact = self.contact_for(c.route.transport);
        let invalid = CallError::InvalidState {
            call: c.id,
            state: c.state,
        };
        let Some(dialog_id) = c.dialog(&cx.dialogs) else {
            return Err(invalid);
        };
        let via = self.in_dialog_via(cx, now, c)?;
        let dialog = cx.dialogs.get_mut(dialog_id).ok_or(invalid)?;
        let content_type = (!body.is_empty()).then_some(SDP);
        let mut request = dialog.request_via(
            method.clone(),
            Some(&contact),
            body.clone(),
            content_type,
            &via.text,
            &cx.shared.max_forwards,
        );
        if let Some(value) = session_expires {
            request
                .headers
                .push(HeaderName::Supported, ByteString::from_static("timer"));
            request.headers.push(HeaderName::SessionExpires, value);
        }
        let purpose = if method == Method::Invite {
            CallPart::Reinvite
        } else {
            CallPart::Update
        };
        let tx = self.send_in_dialog(cx, now, c, request, via, purpose)?;
        let previous = c.local_body.clone();
        if !body.is_empty() {
            let _ = c.oa.send_offer();
            c.local_body = body;
        }
        if method == Method::Invite {
            cx.shared.stats.calls.invites += 1;
        }
        c.outgoing = Some(Box::new(Modification { tx, intent, previous }));
        Ok(())
    }

    /// The server transaction of an incoming call still waiting for its final response.
    pub(super) fn pending_uas_invite(&self, c: &Call) -> Result<TransactionId, CallError> {
        match (c.role, c.state, c.invite_tx) {
            (Role::Uas, CallState::Idle | CallState::Ringing | CallState::Replacing, Some(tx)) => Ok(tx),
            _ => Err(CallError::InvalidState {
                call: c.id,
                state: c.state,
            }),
        }
    }

    /// A dialog-creating response: our Contact and Allow, the request's Record-Route copied
    /// (§12.1.1), and `body` (of `content_type`, SDP unless said) when there is one.
    pub(super) fn dialog_response(
        &self,
        cx: &Seam,
        c: &Call,
        tx: TransactionId,
        status: StatusCode,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<Response, CallError> {
        // §12.1.1: the Record-Routes of the INVITE are copied into the response.
        let record_routes = c
            .invite
            .iter()
            .flat_map(|invite| invite.headers.get_all(HeaderName::RecordRoute))
            .map(|value| (HeaderName::RecordRoute, value));
        let contact = self.contact_for(c.route.transport);
        let ours = [
            (HeaderName::Contact, &*contact),
            (HeaderName::Allow, cx.shared.allow.as_str()),
        ];
        let typed = (!body.is_empty()).then(|| (HeaderName::ContentType, content_type.unwrap_or(SDP)));
        Ok(cx.response_with(tx, status, record_routes.chain(ours).chain(typed), body)?)
    }

    /// Sends a 2xx to an INVITE and keeps it for retransmission until the ACK (§13.3.1.4;
    /// over reliable transports the transport does the retransmitting).
    pub(super) fn send_2xx(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        tx: TransactionId,
        seq: u32,
        response: Response,
    ) -> Result<(), CallError> {
        let resend = self.respond_resending(
            cx,
            now,
            c,
            tx,
            response,
            (CallTimer::Retransmit2xx, CallTimer::AckTimeout),
        )?;
        c.awaiting_ack = Some(Box::new((seq, resend)));
        Ok(())
    }

    /// Sends `response` in `tx` and arms its retransmission by the call layer (T1 doubling
    /// to T2 over UDP, the first of `(retransmit, give_up)`) and the 64·T1 give-up: the 2xx
    /// until the ACK (§13.3.1.4), a reliable provisional until the PRACK (RFC 3262 §3).
    fn respond_resending(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        tx: TransactionId,
        response: Response,
        (retransmit, give_up): (CallTimer, CallTimer),
    ) -> Result<Resend, CallError> {
        let route = cx.transactions.server_route(tx).unwrap_or(c.route);
        cx.respond(now, tx, response)?;
        // The bytes the transaction just sent (serialized once, shared for our retransmissions).
        let payload = cx.transactions.last_response(tx);
        // Nothing to resend if the transaction is already gone (a transport failure).
        let payload_is_empty = payload.is_empty();
        let t1 = cx.shared.config.timers.t1;
        if !route.transport.is_reliable() && !payload_is_empty {
            self.arm(cx, c, retransmit, now + t1);
        }
        self.arm(cx, c, give_up, now + t1 * 64);
        Ok(Resend {
            payload,
            route,
            interval: t1,
        })
    }

    /// Sends a reliable provisional (RFC 3262 §3) and arms its retransmission.
    pub(super) fn send_reliable(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        tx: TransactionId,
        mut response: Response,
    ) -> Result<(), CallError> {
        let rseq = c.reliable().next_rseq;
        c.reliable().next_rseq = rseq.wrapping_add(1);
        response
            .headers
            .push(HeaderName::Require, ByteString::from_static("100rel"));
        response
            .headers
            .push(HeaderName::RSeq, ByteString::from(rseq.to_string()));
        let resend = self.respond_resending(
            cx,
            now,
            c,
            tx,
            response,
            (CallTimer::RetransmitProvisional, CallTimer::PrackTimeout),
        )?;
        c.reliable().outstanding = Some((rseq, resend));
        Ok(())
    }

    pub(super) fn stop_reliable(&mut self, cx: &mut Seam, c: &mut Call) {
        if let Some(reliable) = c.reliable.as_deref_mut() {
            reliable.outstanding = None;
            reliable.queued.clear();
        }
        self.disarm(cx, c, CallTimer::RetransmitProvisional);
        self.disarm(cx, c, CallTimer::PrackTimeout);
    }

    pub(super) fn send_cancel_if_possible(&mut self, cx: &mut Seam, now: Instant, c: &mut Call) {
        let Some(tx) = c.invite_tx else {
            return;
        };
        // Still waiting for DNS: nothing went out, so nothing needs a CANCEL; it ends as
        // if answered 487.
        if cx.transactions.abandon_locating(&mut cx.shared, tx) {
            c.cancel_pending = false;
            return;
        }
        if cx.transactions.client_invite_proceeding(tx) {
            c.cancel_pending = false;
            let _ = cx.cancel_transaction(now, tx, Owner::Call(c.id, CallPart::Cancel));
        } else {
            c.cancel_pending = true;
        }
    }

    pub(super) fn send_bye(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
    ) -> Result<TransactionId, CallError> {
        self.disarm(cx, c, CallTimer::Retransmit2xx);
        self.disarm(cx, c, CallTimer::AckTimeout);
        c.awaiting_ack = None;
        c.glare_retry = None;
        self.disarm(cx, c, CallTimer::GlareRetry);
        let invalid = CallError::InvalidState {
            call: c.id,
            state: c.state,
        };
        let Some(dialog_id) = c.dialog(&cx.dialogs) else {
            return Err(invalid);
        };
        let via = self.in_dialog_via(cx, now, c)?;
        let dialog = cx.dialogs.get_mut(dialog_id).ok_or(invalid)?;
        let bye = dialog.request_via(
            Method::Bye,
            None,
            Bytes::new(),
            None,
            &via.text,
            &cx.shared.max_forwards,
        );
        cx.shared.stats.calls.byes += 1;
        self.send_in_dialog(cx, now, c, bye, via, CallPart::Bye)
    }

    /// Where requests in the call's dialog go (see [`Seam::dialog_route`]).
    pub(super) fn dialog_route(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &Call,
    ) -> Result<crate::usage::DialogHop, SendError> {
        let dialog = c.dialog(&cx.dialogs);
        cx.dialog_route(now, c.route, dialog)
    }

    /// Where an in-dialog request of `c` goes and the Via it carries (with a fresh branch);
    /// refused over the transaction limit.
    pub(super) fn in_dialog_via(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &Call,
    ) -> Result<OutgoingVia, CallError> {
        let hop = self.dialog_route(cx, now, c)?;
        if cx.transactions.count() >= cx.shared.config.limits.max_transactions {
            return Err(CallError::Send(SendError::TooManyTransactions));
        }
        let branch = cx.shared.new_branch();
        let text = cx.shared.our_via(&branch, hop.route.transport);
        Ok(OutgoingVia {
            route: hop.route,
            locate: hop.locate,
            branch,
            text,
        })
    }

    /// Sends `request`, built with `via` on top, in a client transaction of its own.
    pub(super) fn send_in_dialog(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        mut request: Request,
        via: OutgoingVia,
        purpose: CallPart,
    ) -> Result<TransactionId, CallError> {
        cx.shared
            .prepare_request(&mut request, &via.branch, via.route.transport, TopVia::Ours);
        let hop = crate::usage::DialogHop {
            route: via.route,
            locate: via.locate,
        };
        Ok(cx.start_in_dialog(now, request, via.branch, hop, Owner::Call(c.id, purpose)))
    }

    /// Sends the ACK for a 2xx (§13.2.2.4), outside any transaction, and remembers it for
    /// the 2xx's retransmissions.
    pub(super) fn send_ack(&mut self, cx: &mut Seam, now: Instant, c: &mut Call, seq: u32, body: Bytes) {
        let Some(dialog_id) = c.dialog(&cx.dialogs) else {
            return;
        };
        // The ACK has no transaction to wait in: to a name, it goes to the first target
        // the DNS cache knows, else where the INVITE went (see `Seam::dialog_route`).
        let Ok(crate::usage::DialogHop { route, .. }) = self.dialog_route(cx, now, c) else {
            return;
        };
        let branch = cx.shared.new_branch();
        let via = cx.shared.our_via(&branch, route.transport);
        let Some(dialog) = cx.dialogs.get(dialog_id) else {
            return;
        };
        let content_type = (!body.is_empty()).then_some(SDP);
        let mut ack = dialog.ack_via(seq, body, content_type, &via, &cx.shared.max_forwards);
        cx.shared
            .prepare_request(&mut ack, &branch, route.transport, TopVia::Ours);
        let payload = ack.to_bytes();
        cx.shared.transmit(route, payload.clone());
        c.last_ack = Some(Box::new((seq, payload, route)));
    }

    /// Our Contact for calls over `transport` (formatted once per Endpoint).
    pub(super) fn contact_for(&self, transport: Transport) -> ByteString {
        self.local.contact(transport)
    }
}

/// The headers a new INVITE carries beyond its own: the stack's (Replaces, Require,
/// Referred-By) and the application's (name, value).
type ExtraHeaders<'a> = (&'a [(HeaderName, &'a str)], &'a [(&'a str, &'a str)]);

/// Headers the stack writes itself: an application's extra header may not name one (a
/// second Via or CSeq would break the dialog, the transaction or the framing).
const OURS: [HeaderName; 9] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::ContentLength,
    HeaderName::ContentType,
    HeaderName::MaxForwards,
    HeaderName::Contact,
];

/// Checks an application's extra headers: each name a token (RFC 3261 §25.1) and not one
/// the stack writes, each value on one line.
pub(super) fn check_app_headers(headers: &[(&str, &str)]) -> Result<(), CallError> {
    for (name, value) in headers {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b));
        if !token {
            return Err(CallError::Build(format!("{name:?} is not a header name")));
        }
        if OURS.contains(&HeaderName::parse(name)) {
            return Err(CallError::Build(format!("{name} is written by the stack")));
        }
        if value.contains(['\r', '\n']) {
            return Err(CallError::Build(format!("the value of {name} spans lines")));
        }
    }
    Ok(())
}

/// Adds checked extra headers to a response.
fn push_app_headers(response: &mut crate::message::Headers, headers: &[(&str, &str)]) {
    for (name, value) in headers {
        match HeaderName::parse(name) {
            HeaderName::Other => response.push_named(name, (*value).to_owned()),
            known => response.push(known, (*value).to_owned()),
        }
    }
}
