//! Usages of dialogs and transactions (RFC 5057): invite sessions today. Each usage is a type
//! with its own state that acts on the layers below only through the [`Seam`]: start a
//! client transaction, respond, cancel, arm or disarm a timer, emit an event.

pub(crate) mod invite;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;

use crate::dialog::DialogTable;
use crate::error::SendError;
use crate::event::Event;
use crate::ids::TransactionId;
use crate::message::{HeaderName, Request, Response, StatusCode};
use crate::owner::Owner;
use crate::shared::Shared;
use crate::transaction::{TransactionEvent, TransactionLayer};
use crate::transport::{Route, Transport};

/// The layers below the usages, as the usages see them: what every layer shares, the
/// transaction layer and the dialog table. Every transaction command goes through here, so what the transaction
/// layer reports is routed at once and in order: events of the application's transactions
/// become public events, the rest wait in `inbox` for the Endpoint to hand to their usage.
#[derive(Debug)]
pub(crate) struct Seam {
    pub(crate) shared: Shared,
    pub(crate) transactions: TransactionLayer,
    /// Every dialog and its usages.
    pub(crate) dialogs: DialogTable,
    /// Transaction events for the usages, in order.
    pub(crate) inbox: VecDeque<TransactionEvent>,
}

impl Seam {
    /// Routes what the transaction layer reported: to the application (its own
    /// transactions, and everything when no usage runs), else to the usages' inbox.
    pub(crate) fn route_transaction_events(&mut self) {
        while let Some(event) = self.transactions.poll_event() {
            let for_usages = self.shared.config.calls.enabled
                && match &event {
                    TransactionEvent::Request(_)
                    | TransactionEvent::Ack { .. }
                    | TransactionEvent::StrayInviteSuccess { .. } => true,
                    TransactionEvent::Response { owner, .. }
                    | TransactionEvent::Cancelled { owner, .. }
                    | TransactionEvent::Timeout { owner, .. }
                    | TransactionEvent::TransportError { owner, .. }
                    | TransactionEvent::Terminated { owner, .. } => *owner != Owner::App,
                };
            if for_usages {
                self.inbox.push_back(event);
            } else {
                self.shared.events.push_back(public_event(event));
            }
        }
    }

    /// Sends `request` in a new client transaction owned by `owner`.
    pub(crate) fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        destination: SocketAddr,
        transport: Transport,
        owner: Owner,
    ) -> Result<TransactionId, SendError> {
        let result =
            self.transactions
                .send_request(&mut self.shared, now, request, destination, transport, owner);
        self.route_transaction_events();
        result
    }

    /// Starts a client transaction for a request already carrying our Via with `branch`.
    pub(crate) fn start_client(
        &mut self,
        now: Instant,
        request: Request,
        branch: ByteString,
        route: Route,
        owner: Owner,
    ) -> TransactionId {
        let id = self
            .transactions
            .start_client(&mut self.shared, now, request, branch, route, owner);
        self.route_transaction_events();
        id
    }

    /// Cancels INVITE client transaction `invite` (§9.1); the CANCEL's transaction is
    /// `owner`'s.
    pub(crate) fn cancel_transaction(
        &mut self,
        now: Instant,
        invite: TransactionId,
        owner: Owner,
    ) -> Result<TransactionId, SendError> {
        let result = self.transactions.cancel(&mut self.shared, now, invite, owner);
        self.route_transaction_events();
        result
    }

    /// A response to server transaction `transaction`'s request (§8.2.6).
    pub(crate) fn response(
        &self,
        transaction: TransactionId,
        status: StatusCode,
    ) -> Result<Response, SendError> {
        self.transactions.response(&self.shared, transaction, status)
    }

    /// [`Seam::response`] with `extra` headers and `body` written at once.
    pub(crate) fn response_with<'a>(
        &'a self,
        transaction: TransactionId,
        status: StatusCode,
        extra: impl IntoIterator<Item = (HeaderName, &'a str)>,
        body: Bytes,
    ) -> Result<Response, SendError> {
        self.transactions
            .response_with(&self.shared, transaction, status, extra, body)
    }

    /// Answers server transaction `transaction` with a bare `status`.
    pub(crate) fn respond_status(&mut self, now: Instant, transaction: TransactionId, status: StatusCode) {
        if let Ok(response) = self.response(transaction, status) {
            let _ = self.respond(now, transaction, response);
        }
    }

    /// Answers server transaction `transaction` with `status` and our Allow (405, 501).
    pub(crate) fn respond_with_allow(
        &mut self,
        now: Instant,
        transaction: TransactionId,
        status: StatusCode,
    ) {
        let allow = [(HeaderName::Allow, self.shared.allow.as_str())];
        if let Ok(response) = self.response_with(transaction, status, allow, Bytes::new()) {
            let _ = self.respond(now, transaction, response);
        }
    }

    /// Sends `response` in server transaction `transaction`.
    pub(crate) fn respond(
        &mut self,
        now: Instant,
        transaction: TransactionId,
        response: Response,
    ) -> Result<(), SendError> {
        let result = self
            .transactions
            .respond(&mut self.shared, now, transaction, response);
        self.route_transaction_events();
        result
    }
}

/// A transaction event as the application sees it.
fn public_event(event: TransactionEvent) -> Event {
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
