//! REFER (RFC 3515) on top of subscriptions: a REFER creates an implicit subscription to
//! the `refer` package, whose id is the REFER's CSeq number (§2.4.6), and whose NOTIFYs
//! carry the referred request's progress as `message/sipfrag` (RFC 3420).
//!
//! - **referrer** (transferor): [`Subscriptions::refer_in_dialog`] sends REFER in an existing
//!   dialog; the 202 makes it a subscriber subscription, and each NOTIFY's status line is
//!   reported.
//! - **referee** (transferee): an incoming REFER is offered to the application
//!   ([`SubscriptionEvent::Refer`]); [`Subscriptions::accept_refer`] answers 202 and notifies
//!   `100 Trying` at once, [`Subscriptions::notify_refer`] reports the new request's
//!   progress, and a final status ends the subscription.

use bytes::Bytes;

use crate::dialog::Usage;
use crate::message::{HeaderName, StatusCode, Uri, sipfrag};
use crate::subscription::{NotifyState, SubscriptionError};

use super::*;

/// What an offered REFER asks for.
pub(crate) struct ReferTarget {
    /// Where to send the new request (without the Refer-To's headers part).
    pub(crate) uri: Uri,
    /// The Replaces it embeds (an attended transfer).
    pub(crate) replaces: Option<crate::message::Replaces>,
    /// Its Referred-By as written.
    pub(crate) referred_by: Option<String>,
}

/// How long a referee's implicit subscription lasts when nothing else is said: long enough
/// for the referred call to ring out (RFC 3515 leaves the choice to the notifier).
const REFER_EXPIRES: u32 = 180;

impl Subscriptions {
    /// (referrer) Sends REFER to `target` in dialog `dialog` (a call's), as `referred_by` (a
    /// name-addr: our identity), and returns the implicit subscription that reports its
    /// progress. Without `subscribe`, the REFER asks for none (`Refer-Sub: false`, RFC
    /// 4488): a 202 that agrees ends it at once.
    pub(crate) fn refer_in_dialog(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        (dialog, route): (DialogId, Route),
        target: &Uri,
        referred_by: &str,
        subscribe: bool,
    ) -> Result<SubscriptionId, SubscriptionError> {
        if self.subs.len() >= cx.shared.config.limits.max_subscriptions {
            return Err(SubscriptionError::TooMany);
        }
        // The REFER takes the dialog's next CSeq number, which names the subscription.
        let seq = cx
            .dialogs
            .get(dialog)
            .map(|d| d.local_seq().wrapping_add(1))
            .ok_or(SubscriptionError::InvalidState(SubscriptionId(
                cx.shared.fresh_id(),
            )))?;
        let event = format!("refer;id={seq}");
        let id = SubscriptionId(cx.shared.fresh_id());
        let mut sub = Subscription::new(
            id,
            SubscriptionRole::Subscriber,
            &event,
            Phase::Subscribing,
            route,
            REFER_EXPIRES,
        );
        sub.dialog = Some(dialog);
        sub.implicit = true;
        sub.no_notify = !subscribe;
        sub.first_refer = cx.dialogs.note_refer(dialog);
        self.subs.insert(id, sub);
        cx.dialogs.add_usage(dialog, Usage::Subscription(id));
        let refer_to = format!("<{target}>");
        let mut headers = vec![
            (HeaderName::ReferTo, refer_to.as_str()),
            (HeaderName::ReferredBy, referred_by),
        ];
        if !subscribe {
            headers.push((HeaderName::ReferSub, "false"));
        }
        if let Err(error) = self.send_in_dialog(cx, now, id, Method::Refer, &headers, (None, Bytes::new())) {
            if let Some(sub) = self.subs.remove(&id) {
                if let Some(dialog) = sub.dialog {
                    cx.dialogs.end_usage(dialog, Usage::Subscription(id));
                }
            }
            return Err(error.into());
        }
        cx.shared.stats.refers_sent += 1;
        Ok(id)
    }

    /// (referee) A REFER, inside dialog `dialog` or outside any: 400 unless it carries
    /// exactly one readable Refer-To (RFC 3515 §2.4.1), 503 over the subscription limit,
    /// else offered to the application.
    pub(crate) fn on_refer(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        dialog: Option<DialogId>,
        new: NewRequest,
    ) {
        let tx = new.transaction;
        cx.shared.stats.refers_received += 1;
        let target = match new.request.headers.refer_to() {
            Some(Ok(refer_to)) => refer_to.uri().clone(),
            // Absent, repeated or unreadable.
            _ => {
                if let Ok(mut response) = cx.response(tx, StatusCode::BAD_REQUEST) {
                    response.reason = ByteString::from_static("Bad Refer-To");
                    let _ = cx.respond(now, tx, response);
                }
                return;
            }
        };
        if self.subs.len() >= cx.shared.config.limits.max_subscriptions {
            refuse_over_limit(cx, now, tx);
            return;
        }
        let Some(route) = cx.transactions.server_route(tx) else {
            return;
        };
        let event = format!("refer;id={}", new.fields.cseq.seq);
        let id = SubscriptionId(cx.shared.fresh_id());
        let mut sub = Subscription::new(
            id,
            SubscriptionRole::Notifier,
            &event,
            Phase::Offered,
            route,
            REFER_EXPIRES,
        );
        sub.dialog = dialog;
        sub.request = Some(Box::new(new.request.clone()));
        sub.offered = Some(tx);
        sub.implicit = true;
        // RFC 4488 §4: we honour `Refer-Sub: false`.
        sub.no_notify = new.request.headers.refer_sub().and_then(Result::ok) == Some(false);
        Self::arm(cx, &mut sub, SubscriptionTimer::Expiry, offer_deadline(cx, now));
        self.subs.insert(id, sub);
        if let Some(dialog) = dialog {
            cx.dialogs.add_usage(dialog, Usage::Subscription(id));
        }
        let referred_by = new
            .request
            .headers
            .referred_by()
            .and_then(Result::ok)
            .map(|by| by.uri().to_string());
        Self::emit(
            cx,
            id,
            SubscriptionEvent::Refer {
                request: Box::new(new.request),
                target: Box::new(target),
                referred_by,
            },
        );
    }

    /// (referee) Accepts a REFER: 202, then at once the first NOTIFY, `100 Trying` (RFC
    /// 3515 §2.4.4, §2.4.5).
    pub(crate) fn accept_refer(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
    ) -> Result<(), SubscriptionError> {
        let sub = self.subs.get(&id).ok_or(SubscriptionError::Unknown(id))?;
        if !sub.implicit || sub.role != SubscriptionRole::Notifier {
            return Err(SubscriptionError::InvalidState(id));
        }
        let trying = sipfrag_of(StatusCode::TRYING);
        self.accept(cx, now, id, trying)
    }

    /// (referee) What offered REFER `id` asks for: its Refer-To URI without its headers
    /// part, the Replaces embedded in it (an attended transfer, RFC 3891 §7) — any other
    /// embedded header is refused, since placing the call without it would be a different
    /// call than asked — and its Referred-By as written, for the new request (RFC 3892).
    pub(crate) fn refer_target(&self, id: SubscriptionId) -> Result<ReferTarget, SubscriptionError> {
        let sub = self.subs.get(&id).ok_or(SubscriptionError::Unknown(id))?;
        let (true, Phase::Offered, Some(request)) = (sub.implicit, sub.phase, sub.request.as_ref()) else {
            return Err(SubscriptionError::InvalidState(id));
        };
        let refer_to = request
            .headers
            .refer_to()
            .and_then(Result::ok)
            .ok_or(SubscriptionError::InvalidState(id))?;
        let uri = refer_to.uri();
        let replaces = match refer_to.embedded_replaces() {
            None => None,
            Some(Ok(replaces)) => Some(replaces),
            Some(Err(e)) => return Err(SubscriptionError::Invalid(format!("its Replaces: {e}"))),
        };
        if refer_to.embedded_headers().next().is_some() {
            return Err(SubscriptionError::Invalid(
                "a Refer-To embedding headers other than Replaces is not supported".into(),
            ));
        }
        // The Request-URI is the target without its headers part (RFC 3261 §19.1.5).
        let target = match uri.headers() {
            Some(headers) => {
                let base = uri
                    .as_str()
                    .strip_suffix(headers)
                    .and_then(|t| t.strip_suffix('?'))
                    .unwrap_or(uri.as_str());
                Uri::parse(base).map_err(|e| SubscriptionError::Invalid(e.to_string()))?
            }
            None => uri.clone(),
        };
        let referred_by = request.headers.get(HeaderName::ReferredBy).map(str::to_owned);
        Ok(ReferTarget {
            uri: target,
            replaces,
            referred_by,
        })
    }

    /// (referee) Reports the referred request's progress: a provisional `status` in a
    /// NOTIFY, a final one in the last NOTIFY, which ends the subscription (RFC 3515
    /// §2.4.5).
    pub(crate) fn notify_refer(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        status: StatusCode,
    ) -> Result<(), SubscriptionError> {
        let sub = self.subs.get_mut(&id).ok_or(SubscriptionError::Unknown(id))?;
        if !sub.implicit || sub.role != SubscriptionRole::Notifier || sub.phase != Phase::Established {
            return Err(SubscriptionError::InvalidState(id));
        }
        let notification = sipfrag_of(status);
        if status.is_provisional() {
            sub.last = Some(notification.clone());
            self.send_or_queue(cx, now, id, Outgoing::Notify(notification));
        } else {
            sub.last = Some(notification);
            sub.end = Some(SubscriptionEnd::Local);
            self.send_final(cx, now, id, Some(ByteString::from_static("noresource")));
        }
        Ok(())
    }
}

/// The `message/sipfrag` notification of `status` (`SIP/2.0 180 Ringing`).
fn sipfrag_of(status: StatusCode) -> Notification {
    Notification {
        state: NotifyState::Active,
        content_type: Some(sipfrag::CONTENT_TYPE.to_owned()),
        body: sipfrag::status_line(status, None),
    }
}
