//! Instant messages outside a dialog (RFC 3428) as a usage: one MESSAGE, one answer, no
//! dialog and no state once it is answered. The model is in [`crate::pager`].

use std::time::Instant;

use bytes::Bytes;

use crate::dialog::uri_socket_addr;
use crate::event::Event;
use crate::ids::MessageId;
use crate::message::{HeaderName, HeaderWriter, Method, Request, StatusCode, Uri, Version};
use crate::owner::Owner;
use crate::pager::{MessageEvent, PagerError};
use crate::transaction::{NewRequest, TransactionEvent};
use crate::transport::Transport;

use super::Seam;
use super::local::Local;

/// Sends MESSAGEs and takes incoming ones. Nothing is kept per message: the outcome is
/// read from its transaction's events, which carry its id as their owner.
#[derive(Debug)]
pub(crate) struct Pager {
    local: Local,
}

impl Pager {
    pub(crate) fn new(config: &crate::config::EndpointConfig) -> Self {
        Pager {
            local: Local::new(config),
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
        let destination = uri_socket_addr(&to).ok_or_else(|| PagerError::Unresolvable(to.to_string()))?;
        let transport = match to.transport_param() {
            Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
            _ => Transport::Udp,
        };
        let identity = self.local.identity();
        let tag = cx.shared.rng.token(10);
        let call_id = cx.shared.rng.token(20);
        let length = body.len().to_string();
        let mut headers = HeaderWriter::with_capacity(320, 8);
        headers.push(HeaderName::MaxForwards, "70");
        headers.push_parts(HeaderName::From, &["<", &identity, ">;tag=", &tag]);
        headers.push_parts(HeaderName::To, &["<", to.as_str(), ">"]);
        headers.push(HeaderName::CallId, &call_id);
        headers.push(HeaderName::CSeq, "1 MESSAGE");
        headers.push(HeaderName::ContentType, content_type);
        headers.push(HeaderName::ContentLength, &length);
        let request = Request {
            method: Method::Message,
            uri: to,
            version: Version::SIP_2_0,
            headers: headers.finish(),
            body,
        };
        let id = MessageId(cx.shared.fresh_id());
        cx.send_request(now, request, destination, transport, Owner::Message(id))?;
        Ok(id)
    }

    /// An event of the transaction of message `id`: its outcome, once.
    pub(crate) fn on_transaction_event(&mut self, cx: &mut Seam, id: MessageId, event: TransactionEvent) {
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
