//! The notifier's side (RFC 6665 §4.2): a SUBSCRIBE offered to the application, the 200
//! and first NOTIFY of an accepted one, NOTIFYs one at a time, refreshes re-notified,
//! unsubscription and expiry ended by a final NOTIFY.

use bytes::Bytes;

use crate::dialog::{Dialog, Usage};
use crate::message::{HeaderName, StatusCode};
use crate::subscription::{NotifyState, SubscriptionError};

use super::*;

impl Subscriptions {
    /// A SUBSCRIBE asking for a new subscription, outside a dialog or (`dialog`) inside
    /// one: 489 for a package we do not serve (with Allow-Events, RFC 6665 §8.3.1), 423
    /// for too short an interval, 503 over the limit; else offered to the application.
    pub(crate) fn on_new_subscribe(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        dialog: Option<DialogId>,
        new: NewRequest,
    ) {
        let tx = new.transaction;
        let config = &cx.shared.config.subscriptions;
        let event = new.request.headers.event().and_then(Result::ok);
        let package = event.as_ref().map(|e| e.event_type().as_str().to_owned());
        let Some((event, package)) = event
            .zip(package)
            .filter(|(_, p)| config.packages.iter().any(|ours| ours == p))
        else {
            let allow_events = config.packages.join(", ");
            let headers = [(HeaderName::AllowEvents, allow_events.as_str())];
            if let Ok(response) = cx.response_with(tx, StatusCode::BAD_EVENT, headers, Bytes::new()) {
                let _ = cx.respond(now, tx, response);
            }
            return;
        };
        let asked = expires_of(&new.request.headers).unwrap_or(config.default_expires);
        if asked != 0 && asked < config.min_expires {
            refuse_brief(cx, now, tx, config.min_expires);
            return;
        }
        if self.subs.len() >= cx.shared.config.limits.max_subscriptions {
            refuse_over_limit(cx, now, tx);
            return;
        }
        let expires = asked.min(config.max_expires);
        let Some(route) = cx.transactions.server_route(tx) else {
            return;
        };
        let id = SubscriptionId(cx.shared.fresh_id());
        if let Some(dialog) = dialog {
            cx.dialogs.add_usage(dialog, Usage::Subscription(id));
        }
        let mut sub = Subscription::new(
            id,
            SubscriptionRole::Notifier,
            event.as_str(),
            Phase::Offered,
            route,
            expires,
        );
        sub.dialog = dialog;
        sub.request = Some(Box::new(new.request.clone()));
        sub.offered = Some(tx);
        Self::arm(cx, &mut sub, SubscriptionTimer::Expiry, offer_deadline(cx, now));
        self.subs.insert(id, sub);
        Self::emit(
            cx,
            id,
            SubscriptionEvent::Incoming {
                request: Box::new(new.request),
                package,
                expires,
            },
        );
    }

    /// [`Endpoint::accept_subscription`](crate::Endpoint::accept_subscription): 200 with
    /// the interval granted, then at once the first NOTIFY (RFC 6665 §4.2.1.2) — the final
    /// one for a fetch (`Expires: 0`, §4.4.3).
    pub(crate) fn accept(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        notification: Notification,
    ) -> Result<(), SubscriptionError> {
        let sub = self.subs.get_mut(&id).ok_or(SubscriptionError::Unknown(id))?;
        let (Phase::Offered, Some(tx), Some(request)) = (sub.phase, sub.offered, sub.request.as_ref()) else {
            return Err(SubscriptionError::InvalidState(id));
        };
        if notification.state == NotifyState::Terminated {
            return Err(SubscriptionError::InvalidState(id));
        }
        if sub.dialog.is_none() {
            let to_tag = cx.transactions.to_tag(tx).map(str::to_owned).unwrap_or_default();
            let local_seq = (cx.shared.rng.next_u64() as u32 & 0x7fff_ffff).max(1);
            match Dialog::uas(request, &to_tag, local_seq, false) {
                Ok(dialog) => {
                    let dialog_id = DialogId(cx.shared.fresh_id());
                    cx.dialogs.insert(dialog_id, dialog, Usage::Subscription(id));
                    sub.dialog = Some(dialog_id);
                }
                Err(_) => return Err(SubscriptionError::InvalidState(id)),
            }
        }
        let expires = sub.interval.to_string();
        let contact = self.local.contact(sub.route.transport);
        let headers = [
            (HeaderName::Expires, expires.as_str()),
            (HeaderName::Contact, &*contact),
        ];
        // RFC 3515 §2.4.2: a REFER is accepted with 202; RFC 6665 §4.2.1.1: a SUBSCRIBE
        // with 200.
        let status = if sub.implicit {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        let mut response = cx.response_with(tx, status, headers, Bytes::new())?;
        let no_notify = sub.no_notify;
        if no_notify {
            // RFC 4488 §4: the 2xx says no subscription was made.
            response
                .headers
                .push(HeaderName::ReferSub, ByteString::from_static("false"));
        }
        cx.respond(now, tx, response)?;
        if no_notify {
            self.finish(cx, id, SubscriptionEnd::Local);
            return Ok(());
        }
        let Some(sub) = self.subs.get_mut(&id) else {
            return Ok(());
        };
        sub.offered = None;
        sub.request = None;
        sub.phase = Phase::Established;
        sub.last = Some(notification.clone());
        if sub.interval == 0 {
            sub.end = Some(SubscriptionEnd::Expired);
            self.send_final(cx, now, id, Some(ByteString::from_static("timeout")));
            return Ok(());
        }
        let at = now + Duration::from_secs(u64::from(sub.interval));
        sub.expires_at = Some(at);
        Self::arm(cx, sub, SubscriptionTimer::Expiry, at);
        self.send_or_queue(cx, now, id, Outgoing::Notify(notification));
        Ok(())
    }

    /// [`Endpoint::reject_subscription`](crate::Endpoint::reject_subscription).
    pub(crate) fn reject(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        status: StatusCode,
    ) -> Result<(), SubscriptionError> {
        let sub = self.subs.get(&id).ok_or(SubscriptionError::Unknown(id))?;
        let (Phase::Offered, Some(tx)) = (sub.phase, sub.offered) else {
            return Err(SubscriptionError::InvalidState(id));
        };
        if !(300..700).contains(&code(status)) {
            return Err(SubscriptionError::Invalid(format!("{status} is not a refusal")));
        }
        let response = cx.response(tx, status)?;
        cx.respond(now, tx, response)?;
        self.finish(cx, id, SubscriptionEnd::Rejected(status));
        Ok(())
    }

    /// [`Endpoint::notify`](crate::Endpoint::notify): a NOTIFY now, or once the one in
    /// flight is answered (only the newest state waits).
    pub(crate) fn notify(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        notification: Notification,
    ) -> Result<(), SubscriptionError> {
        let sub = self.subs.get_mut(&id).ok_or(SubscriptionError::Unknown(id))?;
        if sub.role != SubscriptionRole::Notifier
            || sub.phase != Phase::Established
            || notification.state == NotifyState::Terminated
        {
            return Err(SubscriptionError::InvalidState(id));
        }
        sub.last = Some(notification.clone());
        self.send_or_queue(cx, now, id, Outgoing::Notify(notification));
        Ok(())
    }

    /// [`Endpoint::terminate_subscription`](crate::Endpoint::terminate_subscription): the
    /// final NOTIFY, with `reason` (RFC 6665 §4.2.2).
    pub(crate) fn terminate(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        reason: Option<&str>,
    ) -> Result<(), SubscriptionError> {
        let sub = self.subs.get_mut(&id).ok_or(SubscriptionError::Unknown(id))?;
        if sub.role != SubscriptionRole::Notifier || sub.phase != Phase::Established {
            return Err(SubscriptionError::InvalidState(id));
        }
        if let Some(reason) = reason {
            crate::message::EventType::parse(reason)
                .map_err(|e| SubscriptionError::Invalid(e.to_string()))?;
        }
        sub.end = Some(SubscriptionEnd::Local);
        self.send_final(cx, now, id, reason.map(ByteString::from));
        Ok(())
    }

    /// A SUBSCRIBE in the dialog of notifier subscription `id`: a refresh (200, the new
    /// interval, and the current state notified again, RFC 6665 §4.2.1.2) or, with
    /// `Expires: 0`, an unsubscription (200 and the final NOTIFY).
    pub(super) fn on_refresh(&mut self, cx: &mut Seam, now: Instant, id: SubscriptionId, new: NewRequest) {
        let tx = new.transaction;
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        if sub.role != SubscriptionRole::Notifier || sub.phase != Phase::Established {
            cx.answer_and_forget(now, tx, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST);
            return;
        }
        if !take_in_dialog(cx, now, sub.dialog, tx, &new.request) {
            return;
        }
        let config = &cx.shared.config.subscriptions;
        let asked = expires_of(&new.request.headers).unwrap_or(config.default_expires);
        if asked != 0 && asked < config.min_expires {
            refuse_brief(cx, now, tx, config.min_expires);
            return;
        }
        let granted = asked.min(config.max_expires);
        let expires = granted.to_string();
        if let Ok(response) = cx.response_with(
            tx,
            StatusCode::OK,
            [(HeaderName::Expires, expires.as_str())],
            Bytes::new(),
        ) {
            let _ = cx.respond(now, tx, response);
        }
        if granted == 0 {
            sub.end = Some(SubscriptionEnd::Unsubscribed);
            self.send_final(cx, now, id, None);
            return;
        }
        sub.interval = granted;
        let at = now + Duration::from_secs(u64::from(granted));
        sub.expires_at = Some(at);
        Self::arm(cx, sub, SubscriptionTimer::Expiry, at);
        let last = sub.last.clone();
        Self::emit(cx, id, SubscriptionEvent::Refreshed { expires: granted });
        if let Some(last) = last {
            self.send_or_queue(cx, now, id, Outgoing::Notify(last));
        }
    }

    /// Sends the final NOTIFY (`terminated`, with `reason`) now or after the one in flight;
    /// the subscription ends when it is answered.
    pub(super) fn send_final(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        reason: Option<ByteString>,
    ) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        sub.phase = Phase::Ending;
        Self::disarm(cx, sub, SubscriptionTimer::Expiry);
        // Give up on it after a transaction's lifetime, answered or not.
        let give_up = now + cx.shared.config.timers.t1 * 64;
        Self::arm(cx, sub, SubscriptionTimer::Expiry, give_up);
        self.send_or_queue(cx, now, id, Outgoing::Final(reason));
    }

    pub(super) fn send_or_queue(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        outgoing: Outgoing,
    ) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        if sub.pending.is_some() {
            // Only the newest waits; a final NOTIFY is never replaced by a state.
            if !matches!(sub.queued, Some(Outgoing::Final(_))) {
                sub.queued = Some(outgoing);
            }
            return;
        }
        self.send_notify(cx, now, id, outgoing);
    }

    fn send_notify(&mut self, cx: &mut Seam, now: Instant, id: SubscriptionId, outgoing: Outgoing) {
        let Some(sub) = self.subs.get(&id) else {
            return;
        };
        let event = sub.event.clone();
        let remaining = sub
            .expires_at
            .map_or(0, |at| at.saturating_duration_since(now).as_secs());
        let last = sub.last.clone();
        let (state, content_type, body) = match outgoing {
            Outgoing::Notify(n) => (format!("{};expires={remaining}", n.state), n.content_type, n.body),
            Outgoing::Final(reason) => {
                let state = match reason {
                    Some(reason) => format!("terminated;reason={reason}"),
                    None => "terminated".to_owned(),
                };
                // The final NOTIFY carries the last state known (RFC 6665 §4.2.2).
                let (content_type, body) = last.map_or((None, Bytes::new()), |n| (n.content_type, n.body));
                (state, content_type, body)
            }
        };
        let headers = [
            (HeaderName::Event, &*event),
            (HeaderName::SubscriptionState, state.as_str()),
        ];
        if self
            .send_in_dialog(
                cx,
                now,
                id,
                Method::Notify,
                &headers,
                (content_type.as_deref(), body),
            )
            .is_err()
        {
            self.finish(cx, id, SubscriptionEnd::Timeout);
        }
    }

    /// The outcome of our NOTIFY.
    pub(super) fn notifier_transaction_event(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        event: TransactionEvent,
    ) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        let failed_with = match event {
            TransactionEvent::Response {
                transaction,
                response,
                ..
            } if sub.pending == Some(transaction) => {
                if response.status.is_provisional() {
                    return;
                }
                sub.pending = None;
                match code(response.status) {
                    200..=299 => None,
                    // RFC 6665 §4.2.2: 481, 408 and no answer at all end the subscription;
                    // other failures leave it as it is.
                    481 => Some(SubscriptionEnd::Gone),
                    408 => Some(SubscriptionEnd::Timeout),
                    _ => None,
                }
            }
            TransactionEvent::Timeout { transaction, .. }
            | TransactionEvent::TransportError { transaction, .. }
                if sub.pending == Some(transaction) =>
            {
                sub.pending = None;
                Some(SubscriptionEnd::Timeout)
            }
            TransactionEvent::Terminated { transaction, .. } if sub.pending == Some(transaction) => {
                sub.pending = None;
                None
            }
            _ => return,
        };
        if let Some(reason) = failed_with {
            self.finish(cx, id, reason);
            return;
        }
        if sub.pending.is_some() {
            return;
        }
        match sub.queued.take() {
            Some(outgoing) => self.send_notify(cx, now, id, outgoing),
            // The final NOTIFY was answered: over.
            None if sub.phase == Phase::Ending => {
                let reason = sub.end.clone().unwrap_or(SubscriptionEnd::Local);
                self.finish(cx, id, reason);
            }
            None => {}
        }
    }
}
