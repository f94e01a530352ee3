//! What the Endpoint reports to its user, from [`Endpoint::poll_event`](crate::Endpoint::poll_event).

use std::net::SocketAddr;

use crate::call::{CallEvent, CallId};
use crate::ids::{MessageId, RegistrationId, SubscriptionId, TransactionId};
use crate::message::{Request, Response};
use crate::pager::MessageEvent;
use crate::registration::RegistrationEvent;
use crate::subscription::SubscriptionEvent;
use crate::transaction::Timer;
use crate::transport::Transport;

/// What happened, for the transaction user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new request; answer it with [`Endpoint::respond`](crate::Endpoint::respond).
    Request {
        /// Its server transaction.
        transaction: TransactionId,
        /// The request, with `received`/`rport` added to its top Via.
        request: Request,
        /// Who sent it.
        source: SocketAddr,
        /// How it came.
        transport: Transport,
    },
    /// An ACK that belongs to no INVITE server transaction in a state that absorbs it: the
    /// ACK for a 2xx, which the dialog layer consumes (RFC 3261 §13.3.1.4).
    Ack {
        /// The ACK.
        request: Request,
        /// Who sent it.
        source: SocketAddr,
    },
    /// A response to a request sent with [`Endpoint::send_request`](crate::Endpoint::send_request).
    Response {
        /// The client transaction.
        transaction: TransactionId,
        /// The response.
        response: Response,
    },
    /// A 2xx to an INVITE that matched no transaction (a retransmission after Timer M, or
    /// a late fork): the dialog layer ACKs it (RFC 3261 §13.2.2.4).
    StrayInviteSuccess {
        /// The response.
        response: Response,
    },
    /// A CANCEL matched this pending INVITE server transaction; the Endpoint answered the
    /// CANCEL with 200 and the INVITE with 487 (RFC 3261 §9.2).
    Cancelled {
        /// The INVITE's server transaction.
        transaction: TransactionId,
    },
    /// Timer B or F (client: no final response) or H (server: no ACK) fired.
    Timeout {
        /// The transaction.
        transaction: TransactionId,
        /// Which timer.
        timer: Timer,
    },
    /// The transport could not deliver for this transaction (RFC 3261 §8.1.3.1).
    TransportError {
        /// The transaction.
        transaction: TransactionId,
    },
    /// The transaction is over and forgotten.
    Terminated {
        /// The transaction.
        transaction: TransactionId,
    },
    /// Something happened to a call (see [`crate::call`]).
    Call {
        /// The call.
        call: CallId,
        /// What.
        event: CallEvent,
    },
    /// Something happened to a subscription (see [`crate::subscription`]).
    Subscription {
        /// The subscription.
        subscription: SubscriptionId,
        /// What.
        event: SubscriptionEvent,
    },
    /// Something happened to a registration (see [`crate::registration`]).
    Registration {
        /// The registration.
        registration: RegistrationId,
        /// What.
        event: RegistrationEvent,
    },
    /// A dialog that is no call's (a subscription's) changed state (with
    /// [`CallConfig::dialog_events`](crate::call::CallConfig::dialog_events); a call's are
    /// [`CallEvent::DialogState`]).
    Dialog {
        /// The dialog.
        dialog: crate::ids::DialogId,
        /// Before (`None`: just created).
        from: Option<crate::dialog::DialogState>,
        /// After.
        to: crate::dialog::DialogState,
    },
    /// What became of an instant message we sent (see [`crate::pager`]).
    Message {
        /// The message.
        message: MessageId,
        /// What.
        event: MessageEvent,
    },
    /// An instant message (MESSAGE outside a dialog, RFC 3428), already answered 200.
    MessageReceived {
        /// The From header's value (who sent it).
        from: String,
        /// The To header's value (whom it is for).
        to: String,
        /// Its Content-Type, if it had one.
        content_type: Option<String>,
        /// Its body.
        body: bytes::Bytes,
    },
}
