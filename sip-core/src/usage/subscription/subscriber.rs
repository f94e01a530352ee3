//! The subscriber's side (RFC 6665 §4.1): SUBSCRIBE, the 2xx that makes the dialog,
//! refreshes before expiry, unsubscription, and the NOTIFYs that report the state.

use bytes::Bytes;

use crate::dialog::{Dialog, DialogKey, Usage};
use crate::message::{
    EventType, HeaderName, HeaderWriter, Method, Request, StatusCode, Substate, Uri, Version,
};
use crate::subscription::{NotifyState, SubscriptionError};

use super::*;

impl Subscriptions {
    /// [`Endpoint::subscribe`](crate::Endpoint::subscribe), in the usage.
    pub(crate) fn subscribe(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        target: Uri,
        event: &str,
        expires: u32,
    ) -> Result<SubscriptionId, SubscriptionError> {
        if self.subs.len() >= cx.shared.config.limits.max_subscriptions {
            return Err(SubscriptionError::TooMany);
        }
        // The Event value as sent: a package (and templates), with an `id` when given.
        let parsed =
            crate::message::Event::parse(event).map_err(|e| SubscriptionError::Invalid(e.to_string()))?;
        EventType::parse(parsed.event_type().as_str())
            .map_err(|e| SubscriptionError::Invalid(e.to_string()))?;
        let hop = cx.first_hop(&target).map_err(SubscriptionError::Unresolvable)?;
        let transport = hop.transport;
        let call_id = cx.shared.rng.token(20);
        let tag = cx.shared.rng.token(10);
        let identity = self.local.identity();
        let contact = self.local.contact(transport);
        let expires_text = expires.to_string();
        let mut headers = HeaderWriter::with_capacity(384, 10);
        headers.push(HeaderName::MaxForwards, &cx.shared.max_forwards);
        if let Some(route) = &hop.route {
            headers.push(HeaderName::Route, route);
        }
        headers.push_parts(HeaderName::From, &[identity, ";tag=", &tag]);
        headers.push_parts(HeaderName::To, &["<", target.as_str(), ">"]);
        headers.push(HeaderName::CallId, &call_id);
        headers.push(HeaderName::CSeq, "1 SUBSCRIBE");
        headers.push(HeaderName::Contact, &contact);
        headers.push(HeaderName::Event, event);
        headers.push(HeaderName::Expires, &expires_text);
        headers.push(HeaderName::Allow, &cx.shared.allow);
        headers.push(HeaderName::ContentLength, "0");
        let mut request = Request {
            method: Method::Subscribe,
            uri: target,
            version: Version::SIP_2_0,
            headers: headers.finish(),
            body: Bytes::new(),
        };
        cx.preauthorize(&mut request);
        let id = SubscriptionId(cx.shared.fresh_id());
        let tx = cx.send_request_to(now, request.clone(), &hop.next, Owner::Subscription(id))?;
        // While DNS is asked (RFC 3263) the SUBSCRIBE has no route yet: the subscription
        // takes the transaction's with its answer.
        let route = cx.transactions.client_route(tx).unwrap_or(Route {
            transport,
            flow: None,
            remote: cx.shared.config.local,
        });
        let mut sub = Subscription::new(
            id,
            SubscriptionRole::Subscriber,
            event,
            Phase::Subscribing,
            route,
            expires,
        );
        sub.request = Some(Box::new(request));
        sub.pending = Some(tx);
        sub.call = Some((ByteString::from(call_id.as_str()), ByteString::from(tag.as_str())));
        self.subs.insert(id, sub);
        self.by_call.insert(
            (ByteString::from(call_id), ByteString::from(tag)),
            Forking {
                original: id,
                event: ByteString::from(event),
                interval: expires,
                live: 1,
            },
        );
        Ok(id)
    }

    /// [`Endpoint::subscribe_in_call`](crate::Endpoint::subscribe_in_call): a SUBSCRIBE
    /// inside an existing dialog, which the subscription joins as a usage of its own (RFC
    /// 5057): ending the call does not end it.
    pub(crate) fn subscribe_in_dialog(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        (dialog, route): (DialogId, Route),
        event: &str,
        expires: u32,
    ) -> Result<SubscriptionId, SubscriptionError> {
        if self.subs.len() >= cx.shared.config.limits.max_subscriptions {
            return Err(SubscriptionError::TooMany);
        }
        crate::message::Event::parse(event).map_err(|e| SubscriptionError::Invalid(e.to_string()))?;
        let id = SubscriptionId(cx.shared.fresh_id());
        let mut sub = Subscription::new(
            id,
            SubscriptionRole::Subscriber,
            event,
            Phase::Subscribing,
            route,
            expires,
        );
        sub.dialog = Some(dialog);
        self.subs.insert(id, sub);
        cx.dialogs.add_usage(dialog, Usage::Subscription(id));
        let expires_text = expires.to_string();
        let headers = [
            (HeaderName::Event, event),
            (HeaderName::Expires, expires_text.as_str()),
        ];
        if let Err(error) =
            self.send_in_dialog(cx, now, id, Method::Subscribe, &headers, (None, Bytes::new()))
        {
            // Nothing was sent: take it out again without an event.
            if let Some(sub) = self.subs.remove(&id) {
                if let Some(dialog) = sub.dialog {
                    cx.dialogs.end_usage(dialog, Usage::Subscription(id));
                }
            }
            return Err(error.into());
        }
        Ok(id)
    }

    /// [`Endpoint::unsubscribe`](crate::Endpoint::unsubscribe): SUBSCRIBE with `Expires: 0`
    /// (RFC 6665 §4.1.2.3); the final NOTIFY ends it. Before the dialog exists there is
    /// nothing to unsubscribe from: it just ends.
    pub(crate) fn unsubscribe(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
    ) -> Result<(), SubscriptionError> {
        let sub = self.subs.get_mut(&id).ok_or(SubscriptionError::Unknown(id))?;
        if sub.role != SubscriptionRole::Subscriber || sub.phase == Phase::Ending {
            return Err(SubscriptionError::InvalidState(id));
        }
        if sub.dialog.is_none() {
            self.finish(cx, id, SubscriptionEnd::Local);
            return Ok(());
        }
        sub.phase = Phase::Ending;
        sub.end = Some(SubscriptionEnd::Local);
        Self::disarm(cx, sub, SubscriptionTimer::Refresh);
        // The final NOTIFY should follow within a transaction's lifetime.
        let give_up = now + cx.shared.config.timers.t1 * 64;
        Self::arm(cx, sub, SubscriptionTimer::Expiry, give_up);
        let event = sub.event.clone();
        let headers = [(HeaderName::Event, &*event), (HeaderName::Expires, "0")];
        match self.send_in_dialog(cx, now, id, Method::Subscribe, &headers, (None, Bytes::new())) {
            Ok(_) => Ok(()),
            Err(error) => {
                self.finish(cx, id, SubscriptionEnd::Local);
                Err(error.into())
            }
        }
    }

    /// The Refresh timer: SUBSCRIBE again in the dialog for the same interval.
    pub(super) fn refresh_now(&mut self, cx: &mut Seam, now: Instant, id: SubscriptionId) {
        let Some(sub) = self.subs.get(&id) else {
            return;
        };
        if sub.phase != Phase::Established || sub.pending.is_some() {
            return;
        }
        let event = sub.event.clone();
        let interval = sub.interval.to_string();
        let headers = [
            (HeaderName::Event, &*event),
            (HeaderName::Expires, interval.as_str()),
        ];
        // A refresh that cannot be sent leaves the subscription to run out.
        let _ = self.send_in_dialog(cx, now, id, Method::Subscribe, &headers, (None, Bytes::new()));
    }

    /// A NOTIFY that names no dialog of ours. One that matches a SUBSCRIBE of ours outside
    /// a dialog (its Call-ID, our From tag as its To tag, and its Event, RFC 6665 §4.4.1)
    /// makes a dialog, from the NOTIFY, as its UAS: the original subscription's when it has
    /// none yet (the NOTIFY overtook the 2xx, §4.1.2.4), else a fork's (§4.1.4). Anything
    /// else gets 481 (§4.1.3).
    pub(crate) fn on_notify_without_dialog(&mut self, cx: &mut Seam, now: Instant, new: NewRequest) {
        let fields = &new.fields;
        let key = fields.to_tag.clone().map(|tag| (fields.call_id.clone(), tag));
        let event = new.request.headers.event().and_then(Result::ok);
        let found = key.filter(|key| {
            self.by_call.get(key).is_some_and(|forking| {
                event.as_ref().is_some_and(|event| {
                    crate::message::Event::parse(&forking.event).is_ok_and(|ours| ours.matches(event))
                })
            })
        });
        let Some(key) = found else {
            cx.answer_and_forget(
                now,
                new.transaction,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
            );
            return;
        };
        let original = self.by_call.get(&key).map(|forking| forking.original);
        match original.filter(|id| self.subs.get(id).is_some_and(|sub| sub.dialog.is_none())) {
            Some(id) => self.notify_makes_dialog(cx, now, id, &key.1, new),
            None => self.on_fork(cx, now, key, new),
        }
    }

    /// The first NOTIFY of original subscription `id`, ahead of the 2xx: it makes the
    /// dialog (our tag `local_tag`), and is handled in it.
    fn notify_makes_dialog(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        local_tag: &str,
        new: NewRequest,
    ) {
        // Our SUBSCRIBE was CSeq 1: the dialog's next request of ours is 2.
        match Dialog::uas(&new.request, local_tag, 1, false) {
            Ok(dialog) => {
                let dialog_id = DialogId(cx.shared.fresh_id());
                cx.dialogs.insert(dialog_id, dialog, Usage::Subscription(id));
                if let Some(sub) = self.subs.get_mut(&id) {
                    sub.dialog = Some(dialog_id);
                    sub.request = None;
                }
                self.on_notify(cx, now, id, new);
            }
            Err(_) => {
                if let Ok(response) = cx.response(new.transaction, StatusCode::BAD_REQUEST) {
                    let _ = cx.respond(now, new.transaction, response);
                }
            }
        }
    }

    /// A NOTIFY from another fork of the SUBSCRIBE keyed `key` (RFC 6665 §4.1.4): a new
    /// subscription in a new dialog, reported as [`SubscriptionEvent::Forked`] before its
    /// first NOTIFY. It gets no 2xx, so it is established at once, for the interval the
    /// SUBSCRIBE asked, which its NOTIFYs may shorten.
    fn on_fork(&mut self, cx: &mut Seam, now: Instant, key: (ByteString, ByteString), new: NewRequest) {
        let tx = new.transaction;
        let Some(forking) = self.by_call.get(&key) else {
            return;
        };
        let (original, event, interval) = (forking.original, forking.event.clone(), forking.interval);
        // Checked before anything is made: a NOTIFY without a readable state is refused
        // (400, as for any other NOTIFY) and makes nothing.
        let terminated = match notified_state(&new.request) {
            Some(state) => state.state() == Substate::Terminated,
            None => {
                if let Ok(response) = cx.response(tx, StatusCode::BAD_REQUEST) {
                    let _ = cx.respond(now, tx, response);
                }
                return;
            }
        };
        if self.subs.len() >= cx.shared.config.limits.max_subscriptions {
            // A fork we cannot keep is declined with 481, the answer RFC 6665 §5.4.9 gives
            // to NOTIFYs of forks a subscriber does not take; on it the notifier removes its
            // subscription (§4.2.2), where 503 would leave it there, retrying.
            cx.answer_and_forget(now, tx, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST);
            return;
        }
        let Some(route) = cx.transactions.server_route(tx) else {
            return;
        };
        let id = SubscriptionId(cx.shared.fresh_id());
        let mut sub = Subscription::new(
            id,
            SubscriptionRole::Subscriber,
            &event,
            Phase::Established,
            route,
            interval,
        );
        // RFC 6665 §4.4.1: a NOTIFY saying `terminated` makes no dialog usage; the fork is
        // reported all the same (its state may be what a fetch asked for, §4.4.3) and ends
        // with it.
        if !terminated {
            // Our SUBSCRIBE was CSeq 1: the dialog's next request of ours is 2.
            let Ok(dialog) = Dialog::uas(&new.request, &key.1, 1, false) else {
                if let Ok(response) = cx.response(tx, StatusCode::BAD_REQUEST) {
                    let _ = cx.respond(now, tx, response);
                }
                return;
            };
            let dialog_id = DialogId(cx.shared.fresh_id());
            cx.dialogs.insert(dialog_id, dialog, Usage::Subscription(id));
            sub.dialog = Some(dialog_id);
        }
        // A fork of a fetch (`Expires: 0`) waits Timer N for its final NOTIFY, unrefreshed,
        // as the original does (RFC 6665 §4.1.2.4).
        let at = match interval {
            0 => now + cx.shared.config.timers.t1 * 64,
            _ => now + Duration::from_secs(u64::from(interval)),
        };
        sub.expires_at = Some(at);
        Self::arm(cx, &mut sub, SubscriptionTimer::Expiry, at);
        if interval > 0 {
            Self::arm(
                cx,
                &mut sub,
                SubscriptionTimer::Refresh,
                now + refresh_delay(interval),
            );
        }
        sub.call = Some(key.clone());
        if let Some(forking) = self.by_call.get_mut(&key) {
            forking.live += 1;
        }
        self.subs.insert(id, sub);
        Self::emit(cx, id, SubscriptionEvent::Forked { original });
        self.on_notify(cx, now, id, new);
    }

    /// A NOTIFY for subscriber subscription `id` (RFC 6665 §4.1.3): answered 200 (or 400
    /// without a readable Subscription-State), reported, and a terminated one ends it.
    pub(super) fn on_notify(&mut self, cx: &mut Seam, now: Instant, id: SubscriptionId, new: NewRequest) {
        let tx = new.transaction;
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        if sub.role != SubscriptionRole::Subscriber {
            cx.answer_and_forget(now, tx, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST);
            return;
        }
        let request = new.request;
        let Some(state) = notified_state(&request) else {
            if let Ok(response) = cx.response(tx, StatusCode::BAD_REQUEST) {
                let _ = cx.respond(now, tx, response);
            }
            return;
        };
        if !take_in_dialog(cx, now, sub.dialog, tx, &request) {
            return;
        }
        if let Ok(response) = cx.response(tx, StatusCode::OK) {
            let _ = cx.respond(now, tx, response);
        }
        let notify_state = match state.state() {
            Substate::Active => NotifyState::Active,
            Substate::Pending => NotifyState::Pending,
            // RFC 6665 §4.1.3: an unknown state is treated as active... no: as the
            // subscriber cannot tell, it keeps the subscription as it was: pending.
            Substate::Terminated => NotifyState::Terminated,
            _ => NotifyState::Pending,
        };
        let expires = state.expires();
        let reason = state.reason().map(|r| r.as_str().to_owned());
        let retry_after = state.retry_after();
        let content_type = request.headers.get(HeaderName::ContentType).map(str::to_owned);
        Self::emit(
            cx,
            id,
            SubscriptionEvent::Notify {
                state: notify_state,
                expires,
                content_type,
                body: request.body.clone(),
            },
        );
        // REFER's progress, read from the sipfrag (RFC 3515 §2.4.5).
        let progress = sub
            .implicit
            .then(|| crate::message::sipfrag::parse(request.body.clone()).ok())
            .flatten()
            .and_then(|fragment| fragment.as_response().map(|r| r.status));
        if let Some(status) = progress {
            if status.is_success() {
                cx.shared.stats.transfers_succeeded += 1;
            } else if status.is_final() {
                cx.shared.stats.transfers_failed += 1;
            }
            if status.is_final() {
                cx.shared.refers_settled.push((id, Some(status)));
            }
            Self::emit(cx, id, SubscriptionEvent::Transfer { status });
            if status.is_final() && notify_state != NotifyState::Terminated {
                // The result is in: the subscription has nothing more to report (RFC 3515
                // §2.4.5), though this notifier keeps it active (linphone 5.1 does after a
                // failure). We end our side; a later NOTIFY of it gets 481, which ends the
                // notifier's too (RFC 6665 §4.2.2) — unless it comes with a bare `Event:
                // refer` from a notifier that never names REFERs by id, which a later REFER
                // of ours then takes (see `bare_refer_notify`).
                self.finish(cx, id, SubscriptionEnd::Local);
                return;
            }
        }
        if notify_state == NotifyState::Terminated {
            let reason = match sub.end.clone() {
                // Our own unsubscription, confirmed.
                Some(SubscriptionEnd::Local) => SubscriptionEnd::Local,
                _ => SubscriptionEnd::Notified { reason, retry_after },
            };
            self.finish(cx, id, reason);
            return;
        }
        // A NOTIFY ahead of the 2xx to our SUBSCRIBE outside a dialog: the interval it gives
        // is kept for when the 2xx comes, which may be another fork's and say nothing of
        // this dialog (RFC 6665 §5.4.9).
        if let Some(seconds) = expires.filter(|_| sub.phase == Phase::Subscribing && sub.call.is_some()) {
            sub.interval = sub.interval.min(seconds);
        }
        // The notifier may shorten the interval (RFC 6665 §4.1.3): follow it. An implicit
        // subscription (REFER's) lasts whatever its notifier says, longer too.
        if let Some(seconds) = expires.filter(|_| sub.phase == Phase::Established) {
            let at = now + Duration::from_secs(u64::from(seconds));
            if sub.implicit {
                sub.expires_at = Some(at);
                Self::arm(cx, sub, SubscriptionTimer::Expiry, at);
            } else if sub.expires_at.is_none_or(|current| at < current) {
                sub.expires_at = Some(at);
                Self::arm(cx, sub, SubscriptionTimer::Expiry, at);
                Self::arm(cx, sub, SubscriptionTimer::Refresh, now + refresh_delay(seconds));
            }
        }
    }

    /// The outcome of our SUBSCRIBE (first, refresh or unsubscription).
    pub(super) fn subscriber_transaction_event(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        event: TransactionEvent,
    ) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        match event {
            TransactionEvent::Response {
                transaction,
                response,
                ..
            } if sub.pending == Some(transaction) => {
                let status = response.status;
                if status.is_provisional() {
                    return;
                }
                if (status == StatusCode::UNAUTHORIZED || status == StatusCode::PROXY_AUTHENTICATION_REQUIRED)
                    && Self::retry_challenged(cx, now, sub, transaction, &response)
                {
                    return;
                }
                sub.pending = None;
                match (sub.phase, code(status)) {
                    (Phase::Ending, _) if !status.is_success() => self.finish(cx, id, SubscriptionEnd::Local),
                    (Phase::Ending, _) => {}
                    (phase, 200..=299) => {
                        // RFC 6665 §5.4.9: a 2xx from another dialog than the one a NOTIFY
                        // already made (another fork's) only completes the transaction; its
                        // Expires is another notifier's grant.
                        let foreign = sub.dialog.and_then(|d| cx.dialogs.get(d)).is_some_and(|dialog| {
                            DialogKey::of_response(&response).is_some_and(|key| !dialog.has_key(&key))
                        });
                        if sub.dialog.is_none() {
                            let Some(request) = sub.request.take() else {
                                return;
                            };
                            match Dialog::uac(&request, &response) {
                                Ok(dialog) => {
                                    let dialog_id = DialogId(cx.shared.fresh_id());
                                    cx.dialogs.insert(dialog_id, dialog, Usage::Subscription(id));
                                    sub.dialog = Some(dialog_id);
                                }
                                Err(_) => {
                                    self.finish(cx, id, SubscriptionEnd::Rejected(StatusCode::BAD_REQUEST));
                                    return;
                                }
                            }
                        }
                        // RFC 6665 §4.1.2.1: the 2xx's Expires is what was granted — unless
                        // it is another fork's: then what our dialog's NOTIFY gave stands.
                        let granted = match expires_of(&response.headers) {
                            Some(seconds) if !foreign => seconds,
                            _ => sub.interval,
                        };
                        sub.interval = granted;
                        sub.phase = Phase::Established;
                        // A fetch (`Expires: 0`, RFC 6665 §4.1.2.4) is not refreshed: it waits
                        // for its final NOTIFY as long as Timer N (64·T1, §4.1.2.2), no more.
                        let at = match granted {
                            0 => now + cx.shared.config.timers.t1 * 64,
                            _ => now + Duration::from_secs(u64::from(granted)),
                        };
                        sub.expires_at = Some(at);
                        Self::arm(cx, sub, SubscriptionTimer::Expiry, at);
                        if !sub.implicit && granted > 0 {
                            Self::arm(cx, sub, SubscriptionTimer::Refresh, now + refresh_delay(granted));
                        }
                        let event = if phase == Phase::Subscribing {
                            SubscriptionEvent::Accepted { expires: granted }
                        } else {
                            SubscriptionEvent::Refreshed { expires: granted }
                        };
                        // RFC 4488 §4: our REFER asked for no subscription and the 2xx
                        // agrees: accepted, and no NOTIFY will come.
                        let none_made =
                            sub.no_notify && response.headers.refer_sub().and_then(Result::ok) == Some(false);
                        Self::emit(cx, id, event);
                        if none_made {
                            self.finish(cx, id, SubscriptionEnd::Local);
                        }
                    }
                    (Phase::Subscribing, _) => self.finish(cx, id, SubscriptionEnd::Rejected(status)),
                    // RFC 6665 §4.1.2.2: a refresh answered 481 means it is gone; any other
                    // failure leaves it to run out.
                    (_, 481) => self.finish(cx, id, SubscriptionEnd::Gone),
                    _ => {}
                }
            }
            TransactionEvent::Timeout { transaction, .. }
            | TransactionEvent::TransportError { transaction, .. }
                if sub.pending == Some(transaction) =>
            {
                sub.pending = None;
                match sub.phase {
                    Phase::Subscribing => self.finish(cx, id, SubscriptionEnd::Timeout),
                    Phase::Ending => self.finish(cx, id, SubscriptionEnd::Local),
                    // A refresh that got nothing: the subscription runs out.
                    Phase::Established | Phase::Offered => {}
                }
            }
            TransactionEvent::Terminated { transaction, .. } if sub.pending == Some(transaction) => {
                sub.pending = None;
            }
            _ => {}
        }
    }
}

/// A NOTIFY's Subscription-State, read leniently: a subscriber acts on the state even
/// when a parameter is malformed (RFC 6665 §4.1.3 makes the state what counts), so only a
/// NOTIFY without a readable state is refused.
fn notified_state(request: &Request) -> Option<crate::message::SubscriptionState> {
    match request.headers.subscription_state()? {
        Ok(state) => Some(state),
        Err(_) => request
            .headers
            .get(HeaderName::SubscriptionState)
            .and_then(crate::message::SubscriptionState::parse_lenient),
    }
}

impl Subscriptions {
    /// Sends subscription `sub`'s SUBSCRIBE or REFER again with credentials after a 401 or
    /// 407 (RFC 3261 §22.2), with the next CSeq. A REFER's implicit subscription is named
    /// by its REFER's CSeq (RFC 3515 §2.4.6): it takes the new one. False when there is
    /// nothing to answer with.
    fn retry_challenged(
        cx: &mut Seam,
        now: Instant,
        sub: &mut Subscription,
        transaction: TransactionId,
        response: &crate::message::Response,
    ) -> bool {
        let Some(retry) = cx.retry_challenged(
            now,
            transaction,
            response,
            sub.dialog,
            Owner::Subscription(sub.id),
        ) else {
            return false;
        };
        sub.pending = Some(retry);
        let Some(sent) = cx.transactions.client_non_invite_request(retry) else {
            return true;
        };
        if sub.implicit {
            if let Some(cseq) = sent.headers.cseq().and_then(Result::ok) {
                sub.event = ByteString::from(format!("refer;id={}", cseq.seq));
            }
        }
        if sub.request.is_some() {
            // The 2xx makes the dialog from the SUBSCRIBE it answers (its CSeq is ours).
            sub.request = Some(Box::new(sent));
        }
        true
    }
}
