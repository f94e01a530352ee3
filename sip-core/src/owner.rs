//! Whose a transaction is. The transaction layer records an [`Owner`] with every
//! transaction, and the Endpoint routes the transaction's events by it: to the application
//! as public events, or to the usage that started (or claimed) it — no side map from
//! transaction to usage.

use crate::ids::{CallId, MessageId, RegistrationId, SubscriptionId};

/// The owner of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The application: the transaction's events are public [`Event`](crate::event::Event)s.
    App,
    /// A call (an invite session), and the part the transaction plays in it.
    Call(CallId, CallPart),
    /// A subscription: our SUBSCRIBE (a subscriber's) or our NOTIFY (a notifier's).
    Subscription(SubscriptionId),
    /// A registration: our REGISTER.
    Registration(RegistrationId),
    /// An instant message we sent (MESSAGE outside a dialog, RFC 3428).
    Message(MessageId),
}

/// What a transaction does for its call, so its events reach the right handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallPart {
    /// The INVITE that set the call up (ours, or the peer's server transaction).
    Invite,
    /// Our CANCEL of it.
    Cancel,
    /// Our BYE.
    Bye,
    /// A BYE ending an extra 2xx from another fork (RFC 3261 §13.2.2.4).
    ForkBye,
    /// Our PRACK (RFC 3262).
    Prack,
    /// Our re-INVITE.
    Reinvite,
    /// Our UPDATE (RFC 3311).
    Update,
    /// A request the application sent in the call's dialog: its outcome goes to the
    /// application, as an event of the call.
    App,
}
