//! Subscriptions (RFC 6665) as a usage of their dialog, on both sides: the subscriber's
//! SUBSCRIBE, refreshes, unsubscription and NOTIFY handling; the notifier's answers, its
//! NOTIFYs (one at a time, the newest state waiting behind the one in flight), refreshes
//! and expiry. The public model is [`crate::subscription`].

mod notifier;
mod refer;
mod subscriber;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;

use crate::config::EndpointConfig;
use crate::dialog::Usage;
use crate::error::SendError;
use crate::event::Event;
use crate::ids::{DialogId, SubscriptionId, TransactionId};
use crate::message::{HeaderName, Method, Request, StatusCode};
use crate::owner::Owner;
use crate::shared::TopVia;
use crate::subscription::{
    Notification, SubscriptionEnd, SubscriptionEvent, SubscriptionRole, SubscriptionTimer,
};
use crate::timer_queue::{Deadline, TimerId};
use crate::transaction::{NewRequest, TransactionEvent};
use crate::transport::Route;

use super::Seam;
use crate::local::Local;

/// Where a subscription is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// (subscriber) Our first SUBSCRIBE is out.
    Subscribing,
    /// (notifier) The SUBSCRIBE waits for the application's answer.
    Offered,
    /// Accepted: NOTIFYs flow, refreshes keep it.
    Established,
    /// Ending: our unsubscription is out and the final NOTIFY awaited (subscriber), or our
    /// final NOTIFY is out (notifier). `Subscription::end` says why.
    Ending,
}

/// What a notifier has to send once the NOTIFY in flight is answered.
#[derive(Debug, Clone)]
enum Outgoing {
    /// A NOTIFY with this state.
    Notify(Notification),
    /// The final NOTIFY (`terminated`), with this reason, if any.
    Final(Option<ByteString>),
}

/// One subscription, ours or a peer's.
#[derive(Debug)]
struct Subscription {
    id: SubscriptionId,
    role: SubscriptionRole,
    /// The Event header we send and match (`presence`, `refer;id=93`).
    event: ByteString,
    phase: Phase,
    /// Its dialog, once there is one.
    dialog: Option<DialogId>,
    /// (subscriber) Our first SUBSCRIBE, from which the 2xx makes the dialog; (notifier)
    /// the peer's SUBSCRIBE, until it is answered. Boxed: held only for a while, and
    /// inline it would triple every subscription's size (a live subscription costs
    /// ~300 bytes less).
    request: Option<Box<Request>>,
    /// How its messages go when the dialog names no better way (the first request's).
    route: Route,
    /// Our client transaction in flight: a SUBSCRIBE (subscriber) or NOTIFY (notifier).
    pending: Option<TransactionId>,
    /// (notifier) The peer's SUBSCRIBE awaiting the application.
    offered: Option<TransactionId>,
    /// The interval asked for (subscriber) or granted (notifier), in seconds.
    interval: u32,
    /// When it runs out.
    expires_at: Option<Instant>,
    /// (notifier) The state last notified, re-sent on refresh (RFC 6665 §4.2.1.2).
    last: Option<Notification>,
    /// (notifier) What waits for the NOTIFY in flight.
    queued: Option<Outgoing>,
    /// Why it is ending (set when `phase` becomes `Ending`).
    end: Option<SubscriptionEnd>,
    /// (subscriber) The Call-ID and our From tag, its key in `Subscriptions::by_call`.
    call: Option<(ByteString, ByteString)>,
    /// REFER's implicit subscription (RFC 3515): accepted with 202, never refreshed by us,
    /// its interval whatever the notifier's NOTIFYs say.
    implicit: bool,
    /// `Refer-Sub: false` (RFC 4488): as referee, the REFER asked for no subscription, so
    /// it is accepted without one (no NOTIFY, over with the 202); as referrer, ours asked
    /// for none, and a 202 that agrees ends it.
    no_notify: bool,
    /// (referrer) Ours is the first REFER we sent in its dialog: its NOTIFYs may omit the
    /// Event's `id` (RFC 3515 §2.4.6).
    first_refer: bool,
    /// (referrer) A NOTIFY for it named it by `id`: its notifier uses ids.
    notified_by_id: bool,
    armed: Vec<(SubscriptionTimer, Deadline)>,
}

impl Subscription {
    /// A subscription as it starts: nothing in flight, no timer, no interval running yet.
    fn new(
        id: SubscriptionId,
        role: SubscriptionRole,
        event: &str,
        phase: Phase,
        route: Route,
        interval: u32,
    ) -> Box<Subscription> {
        Box::new(Subscription {
            id,
            role,
            event: ByteString::from(event),
            phase,
            dialog: None,
            request: None,
            route,
            pending: None,
            offered: None,
            interval,
            expires_at: None,
            last: None,
            queued: None,
            end: None,
            call: None,
            implicit: false,
            no_notify: false,
            first_refer: false,
            notified_by_id: false,
            armed: Vec::new(),
        })
    }
}

/// What one SUBSCRIBE of ours outside a dialog made. A proxy may fork it, and every
/// notifier that accepts it notifies in a dialog of its own: each such dialog is a
/// subscription of its own, refreshed and ended independently (RFC 6665 §4.1.4, §5.4.9).
#[derive(Debug)]
struct Forking {
    /// The subscription [`Subscriptions::subscribe`] returned: the first dialog made, by
    /// the 2xx or by a NOTIFY, is its; every later one is a fork.
    original: SubscriptionId,
    /// The Event header the SUBSCRIBE carried, which a fork's NOTIFY must match (§4.4.1).
    event: ByteString,
    /// The interval the SUBSCRIBE asked for: a fork gets no 2xx to say what was granted,
    /// so it runs on this until its NOTIFYs shorten it (a notifier may shorten an interval,
    /// never lengthen it, §4.2.1.1).
    interval: u32,
    /// Its subscriptions still alive, the original's included. A NOTIFY from a new fork
    /// is taken while any is (each is its own entity, §5.4.9); with the last, the
    /// SUBSCRIBE is forgotten and such a NOTIFY matches nothing (481, §4.1.3). (So a fork
    /// of a fetch, §4.4.3, whose NOTIFY comes after the original's final one is refused:
    /// the RFC sets no time for forks to show up, and we keep nothing past the last.)
    live: usize,
}

/// Every subscription of the Endpoint.
#[derive(Debug)]
pub(crate) struct Subscriptions {
    /// By id (lookup only; our own counter values, so the fast hasher suffices).
    subs: HashMap<SubscriptionId, Box<Subscription>, foldhash::fast::FixedState>,
    /// Our SUBSCRIBEs outside a dialog by their Call-ID and From tag: a NOTIFY that
    /// overtakes the 2xx, or comes from another fork, names no dialog yet, only these (RFC
    /// 6665 §4.1.2.4, §4.1.4). Lookup only, keyed with the Endpoint's seeded hasher (the
    /// values come from the network).
    by_call: HashMap<(ByteString, ByteString), Forking, foldhash::quality::FixedState>,
    local: Local,
}

impl Subscriptions {
    /// None yet; `hasher` keys the index of our SUBSCRIBEs.
    pub(crate) fn new(config: &EndpointConfig, hasher: foldhash::quality::FixedState) -> Self {
        Subscriptions {
            subs: HashMap::default(),
            by_call: HashMap::with_hasher(hasher),
            local: Local::new(config),
        }
    }

    /// Live subscriptions.
    pub(crate) fn len(&self) -> usize {
        self.subs.len()
    }

    /// The dialog subscription `id` is a usage of, once it has one.
    pub(crate) fn dialog_of(&self, id: SubscriptionId) -> Option<DialogId> {
        self.subs.get(&id).and_then(|sub| sub.dialog)
    }

    // ---- inputs ----

    /// A NOTIFY or SUBSCRIBE inside dialog `dialog`: to the subscription its Event names;
    /// a NOTIFY naming none gets 481 (RFC 6665 §4.1.3); a SUBSCRIBE naming none asks for a
    /// new subscription in this dialog.
    pub(crate) fn on_in_dialog_request(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        dialog: DialogId,
        new: NewRequest,
    ) {
        let event = new.request.headers.event().and_then(Result::ok);
        let ours = cx.dialogs.subscriptions(dialog);
        let found = event.as_ref().and_then(|event| {
            let exact = ours.iter().copied().find(|id| {
                self.subs.get(id).is_some_and(|sub| {
                    crate::message::Event::parse(&sub.event).is_ok_and(|ours| ours.matches(event))
                })
            });
            // RFC 3515 §2.4.6: only the NOTIFYs of a second or later REFER in a dialog
            // must carry `id`, so a bare `Event: refer` is the first REFER's (linphone
            // sends them so).
            let bare_refer = new.request.method == Method::Notify
                && event.id().is_none()
                && event.package().eq_ignore_ascii_case("refer");
            if let Some(id) = exact {
                if event.id().is_some() {
                    if let Some(sub) = self.subs.get_mut(&id) {
                        sub.notified_by_id = true;
                    }
                }
                return Some(id);
            }
            if bare_refer {
                self.bare_refer_notify(ours)
            } else {
                None
            }
        });
        match (new.request.method.clone(), found) {
            (Method::Notify, Some(id)) => self.on_notify(cx, now, id, new),
            (Method::Subscribe, Some(id)) => self.on_refresh(cx, now, id, new),
            (Method::Subscribe, None) => self.on_new_subscribe(cx, now, Some(dialog), new),
            _ => cx.answer_and_forget(
                now,
                new.transaction,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
            ),
        }
    }

    /// The REFER subscription of ours a NOTIFY with a bare `Event: refer` is for (RFC 3515
    /// §2.4.6): the first REFER's, while it lives. Some notifiers (linphone 5.1) omit `id`
    /// for every REFER; for those — when no NOTIFY of this dialog named its REFER by `id` —
    /// it is the oldest REFER still live. A notifier that does use ids never gets a later
    /// REFER's subscription for a bare NOTIFY (a late one of the first REFER gets 481).
    fn bare_refer_notify(&self, ours: &[SubscriptionId]) -> Option<SubscriptionId> {
        let refers = || {
            ours.iter().copied().filter_map(|id| {
                self.subs
                    .get(&id)
                    .filter(|sub| sub.implicit && sub.role == SubscriptionRole::Subscriber)
            })
        };
        if let Some(first) = refers().find(|sub| sub.first_refer) {
            return Some(first.id);
        }
        if refers().any(|sub| sub.notified_by_id) {
            return None;
        }
        refers().next().map(|sub| sub.id)
    }

    /// An event of one of our transactions (a SUBSCRIBE or NOTIFY of subscription `id`).
    pub(crate) fn on_transaction_event(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        event: TransactionEvent,
    ) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        // Our first SUBSCRIBE may have waited for DNS or failed over (RFC 3263): the
        // subscription's requests go the way its answer came.
        if let TransactionEvent::Response { transaction, .. } = &event {
            let first = sub.role == SubscriptionRole::Subscriber && sub.phase == Phase::Subscribing;
            if let Some(route) = cx.transactions.client_route(*transaction).filter(|_| first) {
                sub.route = route;
            }
        }
        match sub.role {
            SubscriptionRole::Subscriber => self.subscriber_transaction_event(cx, now, id, event),
            SubscriptionRole::Notifier => self.notifier_transaction_event(cx, now, id, event),
        }
    }

    /// Timer `timer` of subscription `id` fired.
    pub(crate) fn fire_timer(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        timer: SubscriptionTimer,
    ) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        sub.armed.retain(|(t, _)| *t != timer);
        match (sub.role, timer) {
            (SubscriptionRole::Subscriber, SubscriptionTimer::Refresh) => self.refresh_now(cx, now, id),
            (SubscriptionRole::Subscriber, SubscriptionTimer::Expiry) => {
                let reason = match sub.phase {
                    // Our unsubscription was never confirmed by a final NOTIFY.
                    Phase::Ending => sub.end.clone().unwrap_or(SubscriptionEnd::Local),
                    _ => SubscriptionEnd::Expired,
                };
                self.finish(cx, id, reason);
            }
            (SubscriptionRole::Notifier, SubscriptionTimer::Expiry) => match sub.phase {
                // The application never answered the SUBSCRIBE or REFER: 408, and over.
                Phase::Offered => {
                    if let Some(tx) = sub.offered.take() {
                        if let Ok(response) = cx.response(tx, StatusCode::REQUEST_TIMEOUT) {
                            let _ = cx.respond(now, tx, response);
                        }
                    }
                    self.finish(cx, id, SubscriptionEnd::Timeout);
                }
                // RFC 6665 §4.2.2: on expiry, a final NOTIFY with reason "timeout".
                Phase::Established => {
                    sub.end = Some(SubscriptionEnd::Expired);
                    self.send_final(cx, now, id, Some(ByteString::from_static("timeout")));
                }
                // The final NOTIFY was never answered.
                Phase::Ending => {
                    let reason = sub.end.clone().unwrap_or(SubscriptionEnd::Expired);
                    self.finish(cx, id, reason);
                }
                Phase::Subscribing => {}
            },
            (SubscriptionRole::Notifier, _) => {}
        }
    }

    // ---- shared by both sides ----

    fn emit(cx: &mut Seam, subscription: SubscriptionId, event: SubscriptionEvent) {
        cx.shared.emit(Event::Subscription { subscription, event });
    }

    /// Ends subscription `id`: its timers go, its dialog loses a usage (and ends with its
    /// last, RFC 5057 §5), and the application hears why.
    fn finish(&mut self, cx: &mut Seam, id: SubscriptionId, reason: SubscriptionEnd) {
        let Some(mut sub) = self.subs.remove(&id) else {
            return;
        };
        for (timer, at) in sub.armed.drain(..) {
            cx.shared.timers.remove(
                at,
                TimerId::Subscription {
                    subscription: id,
                    timer,
                },
            );
        }
        if let Some(dialog) = sub.dialog.take() {
            cx.dialogs.end_usage(dialog, Usage::Subscription(id));
        }
        if let Some(key) = sub.call.take() {
            let last = self.by_call.get_mut(&key).is_none_or(|forking| {
                forking.live = forking.live.saturating_sub(1);
                forking.live == 0
            });
            if last {
                self.by_call.remove(&key);
                crate::shared::shrink_when_sparse(&mut self.by_call);
            }
        }
        crate::shared::shrink_when_sparse(&mut self.subs);
        if sub.implicit && sub.role == SubscriptionRole::Subscriber {
            // Our REFER's call is no longer transferring, whatever became of it.
            cx.shared.refers_settled.push((id, None));
        }
        Self::emit(cx, id, SubscriptionEvent::Terminated { reason });
    }

    fn arm(cx: &mut Seam, sub: &mut Subscription, timer: SubscriptionTimer, at: Instant) {
        Self::disarm(cx, sub, timer);
        let deadline = cx.shared.timers.insert(
            at,
            TimerId::Subscription {
                subscription: sub.id,
                timer,
            },
        );
        sub.armed.push((timer, deadline));
    }

    fn disarm(cx: &mut Seam, sub: &mut Subscription, timer: SubscriptionTimer) {
        let id = sub.id;
        sub.armed.retain(|&(t, at)| {
            if t == timer {
                cx.shared.timers.remove(
                    at,
                    TimerId::Subscription {
                        subscription: id,
                        timer: t,
                    },
                );
                false
            } else {
                true
            }
        });
    }

    /// Sends `method` in the subscription's dialog with `headers` and `body` (and its
    /// media type), in a client transaction of the subscription's.
    fn send_in_dialog(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: SubscriptionId,
        method: Method,
        headers: &[(HeaderName, &str)],
        (content_type, body): (Option<&str>, Bytes),
    ) -> Result<TransactionId, SendError> {
        let Some(sub) = self.subs.get(&id) else {
            return Err(SendError::InvalidRequest("no such subscription".into()));
        };
        let dialog_id = sub
            .dialog
            .ok_or_else(|| SendError::InvalidRequest("the subscription has no dialog yet".into()))?;
        let hop = cx.dialog_route(now, sub.route, sub.dialog)?;
        let route = hop.route;
        if cx.transactions.count() >= cx.shared.config.limits.max_transactions {
            return Err(SendError::TooManyTransactions);
        }
        let contact = self.local.contact(route.transport);
        let branch = cx.shared.new_branch();
        let via = cx.shared.our_via(&branch, route.transport);
        let dialog = cx
            .dialogs
            .get_mut(dialog_id)
            .ok_or_else(|| SendError::InvalidRequest("the subscription's dialog is gone".into()))?;
        let mut request = dialog.request_via(
            method,
            Some(&contact),
            body,
            content_type,
            &via,
            &cx.shared.max_forwards,
        );
        for (name, value) in headers {
            request.headers.push(*name, ByteString::from(*value));
        }
        cx.shared
            .prepare_request(&mut request, &branch, route.transport, TopVia::Ours);
        let tx = cx.start_in_dialog(now, request, branch, hop, Owner::Subscription(id));
        if let Some(sub) = self.subs.get_mut(&id) {
            sub.pending = Some(tx);
        }
        Ok(tx)
    }
}

/// The dialog rules for a request inside subscription dialog `dialog` (RFC 3261 §12.2.2):
/// one out of order gets 500 and false; otherwise its Contact refreshes the remote target
/// (NOTIFY and SUBSCRIBE are target refresh requests, RFC 6665 §4.1.3, §4.2.1.1).
fn take_in_dialog(
    cx: &mut Seam,
    now: Instant,
    dialog: Option<DialogId>,
    tx: TransactionId,
    request: &Request,
) -> bool {
    let Some(dialog) = dialog.and_then(|d| cx.dialogs.get_mut(d)) else {
        return true;
    };
    if dialog.check_remote_cseq(request) == crate::dialog::CSeqCheck::OutOfOrder {
        if let Ok(response) = cx.response(tx, StatusCode::SERVER_INTERNAL_ERROR) {
            let _ = cx.respond(now, tx, response);
        }
        return false;
    }
    dialog.refresh_target(&request.headers);
    true
}

/// How long an offered SUBSCRIBE or REFER waits for the application: the peer's
/// transaction gives up after 64·T1, and so do we (408).
fn offer_deadline(cx: &Seam, now: Instant) -> Instant {
    now + cx.shared.config.timers.t1 * 64
}

/// Answers `tx` 503 with Retry-After: the subscription limit is reached.
fn refuse_over_limit(cx: &mut Seam, now: Instant, tx: TransactionId) {
    let retry = cx.shared.config.retry_after.to_string();
    let headers = [(HeaderName::RetryAfter, retry.as_str())];
    if let Ok(response) = cx.response_with(tx, StatusCode::SERVICE_UNAVAILABLE, headers, Bytes::new()) {
        let _ = cx.respond(now, tx, response);
    }
}

/// Answers `tx` 423 Interval Too Brief with our Min-Expires (RFC 6665 §4.2.1.1).
fn refuse_brief(cx: &mut Seam, now: Instant, tx: TransactionId, min_expires: u32) {
    let min = min_expires.to_string();
    let headers = [(HeaderName::MinExpires, min.as_str())];
    if let Ok(response) = cx.response_with(tx, StatusCode::INTERVAL_TOO_BRIEF, headers, Bytes::new()) {
        let _ = cx.respond(now, tx, response);
    }
}

/// When a subscriber refreshes an interval of `expires` seconds: half-way for short ones,
/// else 32 s ahead (RFC 6665 leaves it to us; this leaves a refresh time to be retried
/// by its transaction before the notifier lets the subscription go).
fn refresh_delay(expires: u32) -> Duration {
    Duration::from_secs(u64::from(expires.saturating_sub((expires / 2).min(32))))
}

/// The `Expires` of a message, when it has a readable one.
fn expires_of(headers: &crate::message::Headers) -> Option<u32> {
    headers.expires().and_then(Result::ok)
}

/// The status of a response, as a number.
fn code(status: StatusCode) -> u16 {
    status.as_u16()
}
