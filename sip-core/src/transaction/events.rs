//! What the transaction layer reports: crate-private events naming the transaction's
//! owner and carrying what validation parsed, and how one becomes the application's
//! public [`Event`] when the application owns the transaction.

use std::net::SocketAddr;

use bytestring::ByteString;

use crate::event::Event;
use crate::ids::TransactionId;
use crate::message::{CSeq, Request, Response};
use crate::owner::Owner;
use crate::transport::Transport;

use super::Timer;

/// What happened in the transaction layer, for the owner of the transaction (or, for a new
/// request, for whoever the Endpoint routes it to).
#[derive(Debug)]
pub(crate) enum TransactionEvent {
    /// A new request, validated, in a new server transaction (owned by the application
    /// until a usage claims it).
    Request(NewRequest),
    /// An ACK no INVITE server transaction absorbed: the ACK for a 2xx (§13.3.1.4).
    Ack { request: Request, source: SocketAddr },
    /// A 2xx to an INVITE that matched no client transaction (§13.2.2.4).
    StrayInviteSuccess { response: Response },
    /// A response in a client transaction.
    Response {
        transaction: TransactionId,
        owner: Owner,
        response: Response,
    },
    /// A CANCEL matched this pending INVITE server transaction; the layer answered the
    /// CANCEL with 200 and the INVITE with 487 (§9.2).
    Cancelled {
        transaction: TransactionId,
        owner: Owner,
    },
    /// Timer B, F or H fired.
    Timeout {
        transaction: TransactionId,
        owner: Owner,
        timer: Timer,
    },
    /// The transport failed for this transaction (§8.1.3.1).
    TransportError {
        transaction: TransactionId,
        owner: Owner,
    },
    /// The transaction is over and forgotten.
    Terminated {
        transaction: TransactionId,
        owner: Owner,
    },
}

/// A request that arrived outside any transaction, and the server transaction made for it.
#[derive(Debug)]
pub(crate) struct NewRequest {
    pub(crate) transaction: TransactionId,
    /// The request, with `received`/`rport` added to its top Via.
    pub(crate) request: Request,
    pub(crate) source: SocketAddr,
    pub(crate) transport: Transport,
    /// What validation parsed, so no layer parses it again.
    pub(crate) fields: RequestFields,
}

/// The dialog-identifying fields of a request, as validation parsed them.
#[derive(Debug, Clone)]
pub(crate) struct RequestFields {
    pub(crate) call_id: ByteString,
    pub(crate) from_tag: Option<ByteString>,
    pub(crate) to_tag: Option<ByteString>,
    pub(crate) cseq: CSeq,
}

/// A transaction event as the application sees it.
pub(super) fn public_event(event: TransactionEvent) -> Event {
    match event {
        TransactionEvent::Request(new) => Event::Request {
            transaction: new.transaction,
            request: new.request,
            source: new.source,
            transport: new.transport,
        },
        TransactionEvent::Ack { request, source } => Event::Ack { request, source },
        TransactionEvent::StrayInviteSuccess { response } => Event::StrayInviteSuccess { response },
        TransactionEvent::Response {
            transaction,
            response,
            ..
        } => Event::Response {
            transaction,
            response,
        },
        TransactionEvent::Cancelled { transaction, .. } => Event::Cancelled { transaction },
        TransactionEvent::Timeout {
            transaction, timer, ..
        } => Event::Timeout { transaction, timer },
        TransactionEvent::TransportError { transaction, .. } => Event::TransportError { transaction },
        TransactionEvent::Terminated { transaction, .. } => Event::Terminated { transaction },
    }
}
