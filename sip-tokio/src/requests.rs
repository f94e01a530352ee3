//! Requests the application answers itself: the methods an agent was built to take
//! ([`Builder::take_method`](crate::Builder::take_method)), outside any dialog — REGISTER
//! for a registrar, say. Everything else the core answers.

use std::net::SocketAddr;

use bytes::Bytes;
use sip_core::endpoint::{TransactionId, Transport};
use sip_core::message::{HeaderName, Request, Response, StatusCode, response_to};
use tokio::sync::mpsc;

use crate::driver::Command;
use crate::{Error, UserAgent};

/// A request to answer (from [`UserAgent::incoming_requests`]). Answer it once, with
/// [`respond`](IncomingRequest::respond) or [`respond_with`](IncomingRequest::respond_with);
/// one never answered times out in the core (the peer sees no answer).
#[derive(Debug)]
pub struct IncomingRequest {
    transaction: TransactionId,
    request: Box<Request>,
    source: SocketAddr,
    transport: Transport,
    agent: UserAgent,
}

/// A request on its way to [`IncomingRequests`].
#[derive(Debug)]
pub(crate) struct NewRequest {
    pub(crate) transaction: TransactionId,
    pub(crate) request: Box<Request>,
    pub(crate) source: SocketAddr,
    pub(crate) transport: Transport,
}

impl IncomingRequest {
    /// The request (its top Via carries `received`/`rport`).
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Who sent it, and over what.
    pub fn source(&self) -> (SocketAddr, Transport) {
        (self.source, self.transport)
    }

    /// A response to this request with `status` (and a To tag of `to_tag` when the
    /// request had none and the status is above 100), for [`respond_with`](Self::respond_with)
    /// after adding headers.
    pub fn response(&self, status: StatusCode, to_tag: Option<&str>) -> Response {
        response_to(&self.request, status, None, to_tag)
    }

    /// Answers with `status`, `headers` and `body` (the Content-Type among the headers);
    /// the agent gives a final answer a To tag of its own when the request had none.
    pub async fn respond(
        &self,
        status: StatusCode,
        headers: &[(HeaderName, &str)],
        body: Bytes,
    ) -> Result<(), Error> {
        let mut response = self.response(status, None);
        for (name, value) in headers {
            response.headers.push(*name, (*value).to_owned());
        }
        response.body = body;
        self.respond_with(response).await
    }

    /// Answers with `response`, as built (a final one without a To tag gets a fresh one,
    /// RFC 3261 §8.2.6.2).
    pub async fn respond_with(&self, response: Response) -> Result<(), Error> {
        let transaction = self.transaction;
        self.agent
            .request(|reply| Command::Respond {
                transaction,
                response: Box::new(response),
                reply,
            })
            .await?
    }
}

/// Requests to answer, in arrival order (from [`UserAgent::incoming_requests`]).
#[derive(Debug)]
pub struct IncomingRequests {
    receiver: mpsc::Receiver<NewRequest>,
    agent: UserAgent,
}

impl IncomingRequests {
    pub(crate) fn new(receiver: mpsc::Receiver<NewRequest>, agent: UserAgent) -> Self {
        IncomingRequests { receiver, agent }
    }

    /// The next request; `None` when the agent stopped or another
    /// [`incoming_requests`](UserAgent::incoming_requests) took over.
    pub async fn next(&mut self) -> Option<IncomingRequest> {
        let new = self.receiver.recv().await?;
        Some(IncomingRequest {
            transaction: new.transaction,
            request: new.request,
            source: new.source,
            transport: new.transport,
            agent: self.agent.clone(),
        })
    }
}
