//! The application-facing subscription model (RFC 6665): ids, what a subscription reports,
//! the errors its commands return, and how notifications are described.
//!
//! Subscriptions live in the [`Endpoint`](crate::Endpoint) beside calls, each a usage of
//! its dialog (RFC 5057): a call's BYE does not end a subscription in the same dialog, and
//! the dialog ends with its last usage. Either side may be ours:
//!
//! - **subscriber**: [`Endpoint::subscribe`](crate::Endpoint::subscribe) sends SUBSCRIBE;
//!   the Endpoint answers the NOTIFYs (200), refreshes before expiry and reports each
//!   NOTIFY's state and body; [`Endpoint::unsubscribe`](crate::Endpoint::unsubscribe) ends
//!   it with `Expires: 0`. A forked SUBSCRIBE makes one subscription per notifier
//!   ([`SubscriptionEvent::Forked`], RFC 6665 §4.1.4).
//! - **notifier**: a SUBSCRIBE for a package listed in
//!   [`SubscriptionConfig::packages`] is reported as
//!   [`SubscriptionEvent::Incoming`]; the application accepts it (the Endpoint sends 200
//!   and the first NOTIFY at once, RFC 6665 §4.2.1.2) or rejects it, then sends NOTIFYs
//!   with [`Endpoint::notify`](crate::Endpoint::notify). Refreshes are answered, and
//!   re-notified, by the Endpoint; expiry and unsubscription send the final NOTIFY.
//!
//! Outcomes arrive as [`Event::Subscription`](crate::endpoint::Event::Subscription).

use std::fmt;

use bytes::Bytes;

use crate::message::{Request, StatusCode};

pub use crate::ids::SubscriptionId;

/// How subscriptions behave (in [`EndpointConfig`](crate::endpoint::EndpointConfig)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionConfig {
    /// Event packages we act as notifier for (`Allow-Events`, RFC 6665 §8.2.2). A
    /// SUBSCRIBE for another gets 489 Bad Event. Empty (the default): SUBSCRIBE is not
    /// allowed at all.
    pub packages: Vec<String>,
    /// The subscription interval we grant when the SUBSCRIBE names none, in seconds.
    pub default_expires: u32,
    /// The longest interval we grant; longer requests are cut to it (RFC 6665 §4.2.1.1).
    pub max_expires: u32,
    /// The shortest interval we accept; a shorter non-zero request gets 423 Interval Too
    /// Brief with Min-Expires.
    pub min_expires: u32,
    /// Take REFER (RFC 3515): each is offered to the application as
    /// [`SubscriptionEvent::Refer`], which must accept or reject it (within 64·T1, else
    /// 408). Off (the default), REFER is not allowed.
    pub accept_refer: bool,
    /// After a transfer we asked for succeeds (our REFER's NOTIFY reports a 2xx), hang up
    /// the call the REFER was sent in, with
    /// [`EndReason::Transferred`](crate::call::EndReason::Transferred): the peer talks to
    /// the target now (RFC 5589 §6). On by default; off, the call stays up and ending it
    /// is the application's choice.
    pub end_call_after_transfer: bool,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        SubscriptionConfig {
            packages: Vec::new(),
            default_expires: 3600,
            max_expires: 3600,
            min_expires: 60,
            accept_refer: false,
            end_call_after_transfer: true,
        }
    }
}

/// The timers of a subscription, as [`Wakeup`](crate::endpoint::Wakeup) reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SubscriptionTimer {
    /// (subscriber) Refresh before the interval runs out.
    Refresh,
    /// The interval ran out: a notifier sends the final NOTIFY, a subscriber gives up.
    Expiry,
}

/// Which side of a subscription we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionRole {
    /// We subscribed and receive NOTIFYs.
    Subscriber,
    /// We were subscribed to and send NOTIFYs.
    Notifier,
}

/// A subscription's state as its NOTIFYs say it (RFC 6665 §4.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyState {
    /// Authorized: notifications follow.
    Active,
    /// Not authorized yet.
    Pending,
    /// Over (the last NOTIFY).
    Terminated,
}

impl fmt::Display for NotifyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotifyState::Active => "active",
            NotifyState::Pending => "pending",
            NotifyState::Terminated => "terminated",
        })
    }
}

/// What a notifier sends: the state (active or pending; the final, terminated NOTIFY is
/// sent by [`Endpoint::terminate_subscription`](crate::Endpoint::terminate_subscription)
/// and by expiry) and the package's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Active or pending.
    pub state: NotifyState,
    /// The body's media type, when there is a body.
    pub content_type: Option<String>,
    /// The package's state document (may be empty).
    pub body: Bytes,
}

impl Notification {
    /// An active subscription's notification with `body` of type `content_type`.
    pub fn active(content_type: &str, body: impl Into<Bytes>) -> Self {
        Notification {
            state: NotifyState::Active,
            content_type: Some(content_type.to_owned()),
            body: body.into(),
        }
    }

    /// A pending subscription's notification, without a body (RFC 6665 §4.2.1.2: a
    /// notifier that cannot yet authorize still notifies).
    pub fn pending() -> Self {
        Notification {
            state: NotifyState::Pending,
            content_type: None,
            body: Bytes::new(),
        }
    }
}

/// Why a subscription ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionEnd {
    /// The SUBSCRIBE was refused with this status (a subscriber's), or we refused it (a
    /// notifier's).
    Rejected(StatusCode),
    /// The notifier said so in a terminated NOTIFY: its reason (`timeout`, `noresource`,
    /// `deactivated`, …) and when to try again (RFC 6665 §4.1.3).
    Notified {
        /// The `reason` parameter, when there was one.
        reason: Option<String>,
        /// The `retry-after` parameter, in seconds.
        retry_after: Option<u32>,
    },
    /// We ended it ([`Endpoint::unsubscribe`](crate::Endpoint::unsubscribe) or
    /// [`Endpoint::terminate_subscription`](crate::Endpoint::terminate_subscription)), or
    /// our REFER's result came in a NOTIFY that left its subscription active.
    Local,
    /// The subscriber unsubscribed (`Expires: 0`).
    Unsubscribed,
    /// Its interval ran out without a refresh.
    Expired,
    /// A SUBSCRIBE or NOTIFY got no answer (Timer F), or a transport error.
    Timeout,
    /// The peer does not know it any more (481 to a refresh or a NOTIFY, RFC 6665
    /// §4.1.2.2, §4.2.2).
    Gone,
}

/// What a subscription reports, in [`Event::Subscription`](crate::endpoint::Event::Subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionEvent {
    /// (notifier) A SUBSCRIBE for one of our packages: answer it with
    /// [`Endpoint::accept_subscription`](crate::Endpoint::accept_subscription) or
    /// [`Endpoint::reject_subscription`](crate::Endpoint::reject_subscription).
    Incoming {
        /// The SUBSCRIBE (boxed: it is most of the event's size).
        request: Box<Request>,
        /// Its event package (the `Event` value's type, without parameters).
        package: String,
        /// The interval it asks for, in seconds (after our `default_expires`).
        expires: u32,
    },
    /// (subscriber) A 2xx accepted our SUBSCRIBE for `expires` seconds. NOTIFYs say what
    /// it is worth.
    Accepted {
        /// The interval granted, in seconds. When the 2xx comes from another fork than the
        /// notifier whose NOTIFY got here first (RFC 6665 §5.4.9), it is the interval that
        /// NOTIFY gave, not the 2xx's.
        expires: u32,
    },
    /// (subscriber) Our SUBSCRIBE was forked on its way (RFC 6665 §4.1.4), and a notifier
    /// other than `original`'s notifies too: this is a new subscription, in a dialog of its
    /// own, reported under its own id before its first [`SubscriptionEvent::Notify`]. It is
    /// refreshed by the Endpoint and ends on its own, like `original`:
    /// [`Endpoint::unsubscribe`](crate::Endpoint::unsubscribe) it when one notifier is
    /// enough. It gets no `Accepted` (only one 2xx ever comes back to a forked
    /// SUBSCRIBE); until its NOTIFYs say otherwise it lasts the interval the SUBSCRIBE
    /// asked for. Whether several notifiers' states merge into one is the event package's
    /// business (§5.4.9), left to the application.
    Forked {
        /// The subscription [`Endpoint::subscribe`](crate::Endpoint::subscribe) returned
        /// for the SUBSCRIBE (it may have ended since).
        original: SubscriptionId,
    },
    /// (subscriber) A NOTIFY arrived (and was answered 200).
    Notify {
        /// The state it gives.
        state: NotifyState,
        /// The remaining interval it gives, in seconds.
        expires: Option<u32>,
        /// Its body's media type.
        content_type: Option<String>,
        /// Its body.
        body: Bytes,
    },
    /// (referee) A REFER (RFC 3515) asks us to send a request to `target`; its implicit
    /// subscription is this one. Answer with
    /// [`Endpoint::accept_refer`](crate::Endpoint::accept_refer) (202 and `100 Trying`),
    /// then report the new request's progress with
    /// [`Endpoint::notify_refer`](crate::Endpoint::notify_refer); or refuse it with
    /// [`Endpoint::reject_subscription`](crate::Endpoint::reject_subscription) (403, 603).
    Refer {
        /// The REFER.
        request: Box<Request>,
        /// Its Refer-To URI (embedded headers such as Replaces included).
        target: Box<crate::message::Uri>,
        /// Its Referred-By URI, when it has one (RFC 3892).
        referred_by: Option<String>,
    },
    /// (referrer) The progress of the request our REFER asked for, read from a NOTIFY's
    /// `message/sipfrag` status line (RFC 3515 §2.4.5): 100 Trying, 180 Ringing, then a
    /// final status — 2xx when the transfer succeeded, the failure otherwise. Reported
    /// after the [`SubscriptionEvent::Notify`] that carried it.
    Transfer {
        /// The status line's code and reason.
        status: StatusCode,
    },
    /// Refreshed: our refresh got a 2xx (subscriber), or the subscriber refreshed
    /// (notifier); `expires` is the new interval.
    Refreshed {
        /// The interval, in seconds.
        expires: u32,
    },
    /// Over; the subscription's id is no longer valid.
    Terminated {
        /// Why.
        reason: SubscriptionEnd,
    },
}

/// A subscription command could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// No such subscription (never, or no longer).
    #[error("no subscription {0}")]
    Unknown(SubscriptionId),
    /// The subscription is not in a state that allows this command (say, `notify` before
    /// `accept_subscription`, or on a subscriber's subscription).
    #[error("subscription {0} cannot do that now")]
    InvalidState(SubscriptionId),
    /// No connected call of this id (to subscribe inside its dialog).
    #[error("no connected call {0}")]
    NoSuchCall(crate::ids::CallId),
    /// The target (or the outbound proxy) cannot be located at all (RFC 3263): no host,
    /// a `sips:` URI with an insecure transport, or a transport that is not enabled. A
    /// name whose DNS leads nowhere fails later, as a transport error.
    #[error("cannot reach {0}")]
    Unresolvable(String),
    /// The subscription limit ([`EndpointLimits::max_subscriptions`](crate::endpoint::EndpointLimits)) is reached.
    #[error("too many subscriptions")]
    TooMany,
    /// An event package or parameter that is not a token.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Sending failed (a transaction or connection limit).
    #[error(transparent)]
    Send(#[from] crate::error::SendError),
}
