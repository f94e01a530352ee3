//! What comes back to calls for what they sent: responses to our INVITE, re-INVITE,
//! UPDATE and BYE (forks and their extra 2xx included), stray 2xx retransmissions, and
//! transaction failures.

use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;

use super::*;

impl InviteSessions {
    /// A 2xx retransmitted after the INVITE transaction ended (Timer M), in the dialog of
    /// call `call`: ACK it again (§13.2.2.4).
    pub(crate) fn on_stray_success(&mut self, cx: &mut Seam, call: CallId, response: Response) {
        let seq = response.headers.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
        if let Some(c) = self.calls.get(&call) {
            resend_ack(cx, c, seq);
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
            CallPart::Invite => {
                // The INVITE may have waited for DNS, or failed over to another target
                // (RFC 3263 §4.3): its route is where the answer came from.
                if let Some(route) = cx.transactions.client_route(tx) {
                    c.route = route;
                }
                self.on_invite_response(cx, now, c, response)
            }
            CallPart::Reinvite | CallPart::Update => {
                self.on_modify_response(cx, now, c, purpose, tx, response)
            }
            CallPart::Bye => {
                let challenged = response.status == StatusCode::UNAUTHORIZED
                    || response.status == StatusCode::PROXY_AUTHENTICATION_REQUIRED;
                // §22.2: a challenged BYE goes again with credentials (the next CSeq of
                // the dialog); the call ends with its answer.
                if challenged
                    && cx
                        .retry_challenged(
                            now,
                            tx,
                            &response,
                            c.dialog(&cx.dialogs),
                            Owner::Call(c.id, CallPart::Bye),
                        )
                        .is_some()
                {
                    return;
                }
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
        if (status == StatusCode::UNAUTHORIZED || status == StatusCode::PROXY_AUTHENTICATION_REQUIRED)
            && self.retry_with_credentials(cx, now, c, &response)
        {
            return;
        }
        if (300..400).contains(&status.as_u16()) && self.follow_redirect(cx, now, c, &response) {
            return;
        }
        if status == StatusCode::SESSION_INTERVAL_TOO_SMALL
            && c.state != CallState::Ending
            && self.retry_with_min_se(cx, now, c, &response)
        {
            return;
        }
        for dialog in c.dialogs.take() {
            cx.dialogs.end_usage(dialog, Usage::Invite(c.id));
        }
        if let Some(reason) = c.cancelling().filter(|_| c.state == CallState::Ending) {
            self.end(cx, now, c, reason, "487 received");
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
        let Ok(via) = self.in_dialog_via(cx, now, c) else {
            return true;
        };
        let Some(dialog) = cx.dialogs.get_mut(dialog_id) else {
            return true;
        };
        let mut prack = dialog.request_via(
            Method::Prack,
            None,
            Bytes::new(),
            None,
            &via.text,
            &cx.shared.max_forwards,
        );
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
                resend_ack(cx, c, seq);
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
                cx.dialogs.confirm(id, &response);
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
                    self.send_ack(cx, now, c, seq, Bytes::new());
                    let _ = self.send_bye(cx, now, c);
                    c.end_reason = Some(EndReason::MediaFailure);
                    self.set_state(cx, now, c, CallState::Ending, "no answer to the 2xx offer");
                    return;
                }
                // RFC 3264 §6: the answer from our description, directions mirrored.
                match answer_to(&c.local_body, &c.remote_body, c.local_hold) {
                    Ok(answer) => {
                        c.local_body = answer.clone();
                        answer
                    }
                    Err(rejecting) => {
                        self.refuse_2xx_offer(cx, now, c, seq, rejecting);
                        return;
                    }
                }
            }
            _ => Bytes::new(),
        };
        self.send_ack(cx, now, c, seq, ack_body);
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
        let mut ack = dialog.ack_via(seq, Bytes::new(), None, &via, &cx.shared.max_forwards);
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
        let mut bye = dialog.request_via(
            Method::Bye,
            None,
            Bytes::new(),
            None,
            &via,
            &cx.shared.max_forwards,
        );
        cx.shared
            .prepare_request(&mut bye, &branch, route.transport, TopVia::Ours);
        cx.shared.stats.calls.byes += 1;
        cx.start_client(now, bye, branch, route, Owner::Call(c.id, CallPart::ForkBye));
    }

    /// The offer in the 2xx to our INVITE or re-INVITE (which carried none) shares no
    /// media format with us, and a 2xx cannot be refused: as §13.2.2.4 says, the ACK
    /// carries a valid answer — `rejecting`, every stream rejected (RFC 3264 §6) — and BYE
    /// ends the call, which has no media.
    fn refuse_2xx_offer(&mut self, cx: &mut Seam, now: Instant, c: &mut Call, seq: u32, rejecting: Bytes) {
        self.send_ack(cx, now, c, seq, rejecting);
        let _ = self.send_bye(cx, now, c);
        c.end_reason = Some(EndReason::MediaFailure);
        self.set_state(
            cx,
            now,
            c,
            CallState::Ending,
            "no media in common with the 2xx offer",
        );
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
            let ours = c.outgoing.as_deref().is_some_and(|m| m.tx == tx);
            if !ours {
                // A retransmitted 2xx: the same ACK again.
                if let Some((payload, route)) = c.last_ack_for(seq) {
                    cx.shared.transmit(route, payload);
                }
                return;
            }
        }
        let Some(Modification {
            tx: ours,
            intent,
            previous,
        }) = c.outgoing.take().map(|b| *b)
        else {
            return;
        };
        if ours != tx {
            c.outgoing = Some(Box::new(Modification {
                tx: ours,
                intent,
                previous,
            }));
            return;
        }
        // §22.2: a challenged re-INVITE or UPDATE goes again with credentials; it stays
        // our modification in progress.
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
            let dialog = c.dialog(&cx.dialogs);
            if let Some(retry) = cx.retry_challenged(now, tx, &response, dialog, Owner::Call(c.id, purpose)) {
                c.outgoing = Some(Box::new(Modification {
                    tx: retry,
                    intent,
                    previous,
                }));
                return;
            }
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
                match answer_to(&c.local_body, &c.remote_body, c.local_hold) {
                    Ok(answer) => ack_body = answer,
                    Err(rejecting) => {
                        self.refuse_2xx_offer(cx, now, c, seq, rejecting);
                        return;
                    }
                }
            }
            if purpose == CallPart::Reinvite {
                self.send_ack(cx, now, c, seq, ack_body);
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
        // §14.1: a refused re-INVITE (or UPDATE, RFC 3311 §5.1) leaves the session as it
        // was: our description goes back to the one before the offer.
        c.local_body = restore_after_refusal(previous, &c.local_body);
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
                let reason = c.cancelling().unwrap_or(reason);
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

/// Sends again the ACK we sent for the 2xx of CSeq `seq`, when that 2xx comes again
/// (§13.2.2.4), and counts it as a retransmission.
fn resend_ack(cx: &mut Seam, c: &Call, seq: u32) {
    if let Some((payload, route)) = c.last_ack_for(seq) {
        cx.shared.stats.retransmitted += 1;
        cx.shared.transmit(route, payload);
    }
}
