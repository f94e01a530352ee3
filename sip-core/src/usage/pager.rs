//! Instant messages outside a dialog (RFC 3428) as a usage: one MESSAGE, one answer, no
//! dialog and no state once it is answered. The model is in [`crate::pager`].

use std::time::Instant;

use bytes::Bytes;

use crate::event::Event;
use crate::ids::MessageId;
use crate::message::{HeaderName, HeaderWriter, Method, Request, StatusCode, Uri, Version};
use crate::owner::Owner;
use crate::pager::{MessageEvent, PagerError};
use crate::transaction::{NewRequest, TransactionEvent};

use super::Seam;
use crate::local::Local;

/// Sends MESSAGEs and takes incoming ones. A message in flight keeps only its request, to
/// send again with credentials after a 401 or 407 (RFC 3261 §22.2); its outcome is read
/// from its transaction's events, which carry its id as their owner.
#[derive(Debug)]
pub(crate) struct Pager {
    local: Local,
    /// Messages in flight, as sent (lookup only; one per live transaction, so the
    /// transaction limit bounds it).
    in_flight: std::collections::HashMap<MessageId, Box<Request>, foldhash::fast::FixedState>,
}

impl Pager {
    pub(crate) fn new(config: &crate::config::EndpointConfig) -> Self {
        Pager {
            local: Local::new(config),
            in_flight: Default::default(),
        }
    }

    /// [`Endpoint::send_message`](crate::Endpoint::send_message), in the usage.
    pub(crate) fn send(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        to: Uri,
        content_type: &str,
        body: Bytes,
    ) -> Result<MessageId, PagerError> {
        let valid_type = content_type.split_once('/').is_some_and(|(kind, sub)| {
            is_token(kind) && is_token(sub.split(';').next().unwrap_or("").trim())
        });
        if !valid_type {
            return Err(PagerError::Invalid(format!("{content_type} is no media type")));
        }
        let hop = cx.first_hop(&to).map_err(PagerError::Unresolvable)?;
        let identity = self.local.identity();
        let tag = cx.shared.rng.token(10);
        let call_id = cx.shared.rng.token(20);
        let length = body.len().to_string();
        let mut headers = HeaderWriter::with_capacity(320, 8);
        headers.push(HeaderName::MaxForwards, &cx.shared.max_forwards);
        if let Some(route) = &hop.route {
            headers.push(HeaderName::Route, route);
        }
        headers.push_parts(HeaderName::From, &[identity, ";tag=", &tag]);
        headers.push_parts(HeaderName::To, &["<", to.as_str(), ">"]);
        headers.push(HeaderName::CallId, &call_id);
        headers.push(HeaderName::CSeq, "1 MESSAGE");
        headers.push(HeaderName::ContentType, content_type);
        headers.push(HeaderName::ContentLength, &length);
        let mut request = Request {
            method: Method::Message,
            uri: to,
            version: Version::SIP_2_0,
            headers: headers.finish(),
            body,
        };
        cx.preauthorize(&mut request);
        let id = MessageId(cx.shared.fresh_id());
        cx.send_request_to(now, request.clone(), &hop.next, Owner::Message(id))?;
        self.in_flight.insert(id, Box::new(request));
        Ok(id)
    }

    /// An event of the transaction of message `id`: its outcome, once — after answering
    /// a 401 or 407 with credentials, if we have them.
    pub(crate) fn on_transaction_event(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: MessageId,
        event: TransactionEvent,
    ) {
        if let TransactionEvent::Response {
            response,
            transaction,
            ..
        } = &event
        {
            let challenged = response.status == StatusCode::UNAUTHORIZED
                || response.status == StatusCode::PROXY_AUTHENTICATION_REQUIRED;
            if challenged && self.retry(cx, now, id, *transaction, response) {
                return;
            }
        }
        if matches!(
            &event,
            TransactionEvent::Response { response, .. } if response.status.is_final()
        ) || matches!(
            event,
            TransactionEvent::Timeout { .. } | TransactionEvent::TransportError { .. }
        ) {
            self.in_flight.remove(&id);
            crate::shared::shrink_when_sparse(&mut self.in_flight);
        }
        let outcome = match event {
            TransactionEvent::Response { response, .. } if response.status.is_success() => {
                MessageEvent::Delivered {
                    status: response.status,
                }
            }
            TransactionEvent::Response { response, .. } if response.status.is_final() => {
                MessageEvent::Failed {
                    status: Some(response.status),
                }
            }
            TransactionEvent::Timeout { .. } | TransactionEvent::TransportError { .. } => {
                MessageEvent::Failed { status: None }
            }
            _ => return,
        };
        cx.shared.emit(Event::Message {
            message: id,
            event: outcome,
        });
    }

    /// Sends message `id` again with credentials for `response`'s challenges, over the
    /// way the challenged one went. False when there is nothing to answer with.
    fn retry(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: MessageId,
        transaction: crate::ids::TransactionId,
        response: &crate::message::Response,
    ) -> bool {
        let Some(sent) = self.in_flight.get(&id) else {
            return false;
        };
        let Ok(retry) = cx.retry_with_credentials(sent, response) else {
            return false;
        };
        let Some(route) = cx.transactions.client_route(transaction) else {
            return false;
        };
        if cx
            .send_request(
                now,
                retry.clone(),
                route.remote,
                route.transport,
                Owner::Message(id),
            )
            .is_err()
        {
            return false;
        }
        self.in_flight.insert(id, Box::new(retry));
        true
    }

    /// A MESSAGE outside any dialog (the policy let it through, so we take them): 200,
    /// then the application hears it (RFC 3428 §7).
    pub(crate) fn on_message(&mut self, cx: &mut Seam, now: Instant, new: NewRequest) {
        let (transaction, request) = (new.transaction, new.request);
        if let Ok(response) = cx.response(transaction, StatusCode::OK) {
            let _ = cx.respond(now, transaction, response);
        }
        let header = |name| request.headers.get(name).map(str::to_owned);
        cx.shared.emit(Event::MessageReceived {
            from: header(HeaderName::From).unwrap_or_default(),
            to: header(HeaderName::To).unwrap_or_default(),
            content_type: header(HeaderName::ContentType),
            body: request.body,
        });
    }
}

/// RFC 3261 §25.1 `token`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}
