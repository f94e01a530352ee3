//! The subscription commands of the [`Endpoint`] (RFC 6665; the model is in
//! [`crate::subscription`]). Each takes `now`, acts at once, and reports outcomes later as
//! [`Event::Subscription`](crate::endpoint::Event::Subscription).

use std::time::Instant;

use bytes::Bytes;

use crate::ids::CallId;
use crate::message::{ReferTo, Replaces, StatusCode, Uri};
use crate::subscription::{Notification, SubscriptionError, SubscriptionId};

use super::Endpoint;
use crate::usage::Seam;
use crate::usage::subscription::Subscriptions;

impl Endpoint {
    /// Subscribes to `event` (a package, with an `id` parameter when wanted:
    /// `presence`, `dialog;id=1`) at `target` for `expires` seconds: a SUBSCRIBE outside
    /// any dialog, whose 2xx makes the dialog. The Endpoint answers the NOTIFYs and
    /// refreshes before the interval runs out; every NOTIFY is reported.
    ///
    /// A proxy may fork the SUBSCRIBE to several notifiers (RFC 6665 §4.1.4). The first
    /// dialog made — by the 2xx, or by a NOTIFY that overtakes it — is the returned
    /// subscription's; each other notifier's NOTIFY starts a subscription of its own,
    /// reported as [`SubscriptionEvent::Forked`](crate::subscription::SubscriptionEvent::Forked)
    /// and then like any other. Past
    /// [`EndpointLimits::max_subscriptions`](crate::endpoint::EndpointLimits) a fork is
    /// declined (481).
    ///
    /// ```
    /// use std::time::Instant;
    /// use sip_core::endpoint::{Endpoint, EndpointConfig};
    /// use sip_core::message::Uri;
    ///
    /// let mut alice = Endpoint::new(EndpointConfig::new("192.0.2.1:5060".parse().unwrap(), 1));
    /// let target = Uri::parse("sip:bob@192.0.2.2:5060").unwrap();
    /// let subscription = alice.subscribe(Instant::now(), target, "presence", 600).unwrap();
    /// let subscribe = alice.poll_transmit().unwrap();
    /// assert!(subscribe.payload.starts_with(b"SUBSCRIBE sip:bob@192.0.2.2:5060 SIP/2.0"));
    /// # let _ = subscription;
    /// ```
    pub fn subscribe(
        &mut self,
        now: Instant,
        target: Uri,
        event: &str,
        expires: u32,
    ) -> Result<SubscriptionId, SubscriptionError> {
        self.subscription_command(now, |subs, seam| {
            subs.subscribe(seam, now, target, event, expires)
        })
    }

    /// Subscribes to `event` inside the dialog of connected call `call` (RFC 6665 §4.1.2,
    /// RFC 5057): the subscription is a usage of that dialog of its own, so hanging up the
    /// call leaves it running, and the dialog ends with the last of them.
    pub fn subscribe_in_call(
        &mut self,
        now: Instant,
        call: CallId,
        event: &str,
        expires: u32,
    ) -> Result<SubscriptionId, SubscriptionError> {
        let Some(dialog) = self.invites.confirmed_dialog_of(&self.seam.dialogs, call) else {
            return Err(SubscriptionError::NoSuchCall(call));
        };
        self.subscription_command(now, |subs, seam| {
            subs.subscribe_in_dialog(seam, now, dialog, event, expires)
        })
    }

    /// Asks the peer of connected call `call` to send a request to `target` (REFER, RFC
    /// 3515: a blind transfer). Returns the implicit subscription whose
    /// [`SubscriptionEvent::Notify`](crate::subscription::SubscriptionEvent::Notify) events
    /// carry the progress as `message/sipfrag` (read it with
    /// [`sipfrag::parse`](crate::message::sipfrag::parse)); it ends with the final one.
    pub fn refer(
        &mut self,
        now: Instant,
        call: CallId,
        target: &Uri,
    ) -> Result<SubscriptionId, SubscriptionError> {
        self.refer_with(now, call, target, true)
    }

    /// [`Endpoint::refer`] asking for no progress (`Refer-Sub: false`, RFC 4488): a peer
    /// that honours it answers 202 with `Refer-Sub: false` and sends no NOTIFY, and the
    /// returned subscription ends with the 202; one that does not honour it notifies as
    /// usual.
    pub fn refer_without_progress(
        &mut self,
        now: Instant,
        call: CallId,
        target: &Uri,
    ) -> Result<SubscriptionId, SubscriptionError> {
        self.refer_with(now, call, target, false)
    }

    /// REFER in `call`'s dialog, asking for progress when `subscribe`.
    fn refer_with(
        &mut self,
        now: Instant,
        call: CallId,
        target: &Uri,
        subscribe: bool,
    ) -> Result<SubscriptionId, SubscriptionError> {
        let Some(dialog) = self.invites.confirmed_dialog_of(&self.seam.dialogs, call) else {
            return Err(SubscriptionError::NoSuchCall(call));
        };
        let identity = self.invites.identity().clone();
        let result =
            self.subscriptions
                .refer_in_dialog(&mut self.seam, now, dialog, target, &identity, subscribe);
        if let Ok(refer) = result {
            self.invites.start_referring(&mut self.seam, now, call, refer);
        }
        self.dispatch(now);
        result
    }

    /// An attended transfer (RFC 5589 §7): asks the peer of connected call `call` to call
    /// the peer of our connected call `other` in its place — a REFER whose Refer-To is
    /// `other`'s remote target with a Replaces naming `other`'s dialog (RFC 3891 §7), so
    /// the new call takes the place of ours with that peer. Both our calls end once it
    /// succeeds: `call` by us (when
    /// [`SubscriptionConfig::end_call_after_transfer`](crate::subscription::SubscriptionConfig::end_call_after_transfer)),
    /// `other` by its peer, whose new call replaced it.
    pub fn attended_transfer(
        &mut self,
        now: Instant,
        call: CallId,
        other: CallId,
    ) -> Result<SubscriptionId, SubscriptionError> {
        if other == call {
            return Err(SubscriptionError::Invalid(format!(
                "{call} cannot be transferred to itself"
            )));
        }
        let dialog = self
            .invites
            .confirmed_dialog_of(&self.seam.dialogs, other)
            .and_then(|(dialog, _)| self.seam.dialogs.get(dialog))
            .ok_or(SubscriptionError::NoSuchCall(other))?;
        let key = dialog.key();
        // Our tag is the from-tag and the peer's the to-tag: the Replaces is read by the
        // peer of `other`, to whom the dialog is (to-tag = theirs) (RFC 3891 §3).
        let replaces = Replaces::new(&key.call_id, &key.remote_tag, &key.local_tag, false)
            .map_err(|e| SubscriptionError::Invalid(e.to_string()))?;
        let target = dialog.remote_target().clone();
        self.refer_with_replaces(now, call, &target, &replaces)
    }

    /// [`Endpoint::refer`] with `replaces` embedded in the Refer-To (`target?Replaces=…`,
    /// RFC 3891 §7): the peer's new call to `target` replaces the dialog `replaces` names
    /// there. [`Endpoint::attended_transfer`] builds `replaces` from a call of ours; this
    /// takes any (`Replaces::new(call_id, to_tag, from_tag, early_only)`, the tags as the
    /// target sees them: to-tag its own).
    pub fn refer_with_replaces(
        &mut self,
        now: Instant,
        call: CallId,
        target: &Uri,
        replaces: &Replaces,
    ) -> Result<SubscriptionId, SubscriptionError> {
        let refer_to = ReferTo::with_replaces(target, replaces)
            .map_err(|_| SubscriptionError::Invalid(format!("{target} takes no headers")))?;
        self.refer_with(now, call, refer_to.uri(), true)
    }

    /// Accepts a REFER offered as
    /// [`SubscriptionEvent::Refer`](crate::subscription::SubscriptionEvent::Refer): 202, then
    /// at once a NOTIFY saying `100 Trying` (RFC 3515 §2.4.4–2.4.5).
    pub fn accept_refer(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
    ) -> Result<(), SubscriptionError> {
        self.subscription_command(now, |subs, seam| subs.accept_refer(seam, now, subscription))
    }

    /// Accepts a REFER and carries it out: 202 and `100 Trying`, then a call to its target
    /// offering `offer` (an SDP body), with the REFER's Referred-By in the INVITE (RFC
    /// 3892). The call's progress is reported to the referrer by itself — ringing as 180,
    /// the answer as 200, a failure as its status — and the subscription ends with the
    /// final one (RFC 3515 §2.4.5). Hanging up the call that carried the REFER is the
    /// application's choice. A Replaces embedded in the Refer-To (an attended transfer)
    /// goes into the INVITE with `Require: replaces`; a target embedding any other header
    /// is refused with an error and the REFER left to answer.
    pub fn accept_refer_and_call(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        offer: Bytes,
    ) -> Result<CallId, SubscriptionError> {
        let target = self.subscriptions.refer_target(subscription)?;
        self.subscriptions
            .accept_refer(&mut self.seam, now, subscription)?;
        let replaces = target.replaces.as_ref().map(ToString::to_string);
        let result = self.invites.invite_for_refer(
            &mut self.seam,
            now,
            target.uri,
            offer,
            (target.referred_by.as_deref(), replaces.as_deref()),
            subscription,
        );
        let result = match result {
            Ok(call) => Ok(call),
            Err(error) => {
                // Nothing was sent: the referrer hears that the request failed.
                let _ = self.subscriptions.notify_refer(
                    &mut self.seam,
                    now,
                    subscription,
                    StatusCode::SERVICE_UNAVAILABLE,
                );
                Err(SubscriptionError::Invalid(format!(
                    "cannot place the call: {error}"
                )))
            }
        };
        self.dispatch(now);
        result
    }

    /// Reports the progress of the request a REFER asked for: a provisional `status`
    /// (180) in a NOTIFY, a final one (200, 486…) in the last NOTIFY, which ends the
    /// subscription.
    pub fn notify_refer(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        status: StatusCode,
    ) -> Result<(), SubscriptionError> {
        self.subscription_command(now, |subs, seam| {
            subs.notify_refer(seam, now, subscription, status)
        })
    }

    /// Ends our subscription `subscription` with `Expires: 0` (RFC 6665 §4.1.2.3); it is
    /// over with the notifier's final NOTIFY.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
    ) -> Result<(), SubscriptionError> {
        self.subscription_command(now, |subs, seam| subs.unsubscribe(seam, now, subscription))
    }

    /// Accepts an incoming subscription: 200 with the interval granted, then at once the
    /// first NOTIFY with `first`'s state and body (RFC 6665 §4.2.1.2).
    pub fn accept_subscription(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        first: Notification,
    ) -> Result<(), SubscriptionError> {
        self.subscription_command(now, |subs, seam| subs.accept(seam, now, subscription, first))
    }

    /// Refuses an incoming subscription with `status` (403, 489, 603…).
    pub fn reject_subscription(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        status: StatusCode,
    ) -> Result<(), SubscriptionError> {
        self.subscription_command(now, |subs, seam| subs.reject(seam, now, subscription, status))
    }

    /// Notifies the subscriber of `subscription` (accepted, ours to notify) of a new
    /// state. One NOTIFY is in flight at a time; while one is, only the newest state waits
    /// to follow it.
    pub fn notify(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        notification: Notification,
    ) -> Result<(), SubscriptionError> {
        self.subscription_command(now, |subs, seam| {
            subs.notify(seam, now, subscription, notification)
        })
    }

    /// Ends a subscription we notify for with a final NOTIFY (`terminated`, with `reason`
    /// such as `noresource` or `deactivated`, RFC 6665 §4.2.2).
    pub fn terminate_subscription(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        reason: Option<&str>,
    ) -> Result<(), SubscriptionError> {
        self.subscription_command(now, |subs, seam| subs.terminate(seam, now, subscription, reason))
    }

    /// Runs a subscription command, then hands on the transaction events it caused, as
    /// after every command.
    fn subscription_command<T>(
        &mut self,
        now: Instant,
        command: impl FnOnce(&mut Subscriptions, &mut Seam) -> T,
    ) -> T {
        let result = command(&mut self.subscriptions, &mut self.seam);
        self.dispatch(now);
        result
    }

    /// The call whose dialog subscription `subscription` shares, if any: for a REFER
    /// offered as [`SubscriptionEvent::Refer`](crate::subscription::SubscriptionEvent::Refer),
    /// the call it came in (RFC 3515 §2.4.1: a transfer asks to replace *this* call); `None`
    /// for one outside any call.
    pub fn subscription_call(&self, subscription: SubscriptionId) -> Option<CallId> {
        let dialog = self.subscriptions.dialog_of(subscription)?;
        self.seam.dialogs.invite_session(dialog)
    }

    /// Live subscriptions, ours and peers'.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.len()
    }
}
