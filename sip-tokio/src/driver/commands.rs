//! Commands from the handles ([`UserAgent`](crate::UserAgent), [`Call`](crate::Call)) and
//! how the driver carries them out on the Endpoint.

use std::time::Instant;

use bytes::Bytes;
use sip_core::call::{CallError, CallState};
use sip_core::endpoint::{CallId, TransactionId};
use sip_core::message::{HeaderName, Method, Replaces, Request, RequestBuilder, Response, StatusCode, Uri};
use sip_core::subscription::SubscriptionId;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::Driver;
use super::events::{NewCall, TransferSender};
use crate::Error;
use crate::call_events::{CallEventReceiver, call_event_queue};
use crate::pager::IncomingMessage;
use crate::registration::REGISTRATION_EVENT_QUEUE;
use crate::transfer::{NewRefer, TRANSFER_EVENT_QUEUE, Transfer};
use sip_core::registration::{RegistrationEvent, RegistrationId};

/// What a call handle asks of its call.
#[derive(Debug)]
pub(crate) enum CallOp {
    Ringing,
    Answer(Bytes, Option<String>, Headers),
    Reject(StatusCode, Option<String>, Headers),
    Cancel,
    Bye,
    Hangup,
    Hold,
    Unhold,
    Reinvite(Bytes),
    Update(Bytes),
    Redirect(Vec<Uri>),
}

/// Extra headers from the application, as (name, value).
pub(crate) type Headers = Vec<(String, String)>;

/// Borrowed as the core takes them.
fn borrowed(headers: &Headers) -> Vec<(&str, &str)> {
    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// A call's id and event receiver, as handed out.
pub(crate) type CallHandle = (CallId, CallEventReceiver);

/// Whom a transfer we ask for sends the peer to.
#[derive(Debug)]
pub(crate) enum TransferTo {
    /// A blind transfer to this URI.
    Blind(Uri),
    /// An attended transfer: to the peer of our other call, replacing that call.
    Attended(CallId),
    /// To this URI, replacing the dialog this Replaces names there.
    Replacing(Uri, Box<Replaces>),
}

/// What an [`IncomingRefer`](crate::IncomingRefer) handle asks of its REFER.
#[derive(Debug)]
pub(crate) enum ReferOp {
    Accept,
    Reject(StatusCode),
    Notify(StatusCode),
    AcceptAndCall(Bytes),
}

/// Commands from the handles.
#[derive(Debug)]
pub(crate) enum Command {
    Invite {
        target: Uri,
        body: Bytes,
        content_type: Option<String>,
        headers: Headers,
        reply: oneshot::Sender<Result<CallHandle, Error>>,
    },
    Call {
        call: CallId,
        op: CallOp,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    State {
        call: CallId,
        reply: oneshot::Sender<Option<CallState>>,
    },
    InDialog {
        call: CallId,
        method: Method,
        body: Bytes,
        content_type: Option<String>,
        reply: oneshot::Sender<Result<Response, Error>>,
    },
    History {
        call: CallId,
        reply: oneshot::Sender<Option<Vec<sip_core::call::Transition>>>,
    },
    Stats {
        reply: oneshot::Sender<crate::AgentStats>,
    },
    Descriptions {
        call: CallId,
        reply: oneshot::Sender<(Option<Bytes>, Option<Bytes>)>,
    },
    Incoming {
        reply: oneshot::Sender<mpsc::Receiver<NewCall>>,
    },
    Options {
        target: Uri,
        reply: oneshot::Sender<Result<Response, Error>>,
    },
    SendRequest {
        request: Box<Request>,
        target: Uri,
        reply: oneshot::Sender<Result<Response, Error>>,
    },
    Transfer {
        call: CallId,
        to: TransferTo,
        reply: oneshot::Sender<Result<Transfer, Error>>,
    },
    Refer {
        subscription: SubscriptionId,
        op: ReferOp,
        /// The new call, for [`ReferOp::AcceptAndCall`].
        reply: oneshot::Sender<Result<Option<CallHandle>, Error>>,
    },
    IncomingRefers {
        reply: oneshot::Sender<mpsc::Receiver<NewRefer>>,
    },
    Register {
        registrar: Uri,
        aor: Option<String>,
        expires: u32,
        reply: oneshot::Sender<Result<(RegistrationId, mpsc::Receiver<RegistrationEvent>), Error>>,
    },
    Unregister {
        id: RegistrationId,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Message {
        to: Uri,
        content_type: String,
        body: Bytes,
        reply: oneshot::Sender<Result<StatusCode, Error>>,
    },
    IncomingMessages {
        reply: oneshot::Sender<mpsc::Receiver<IncomingMessage>>,
    },
    IncomingRequests {
        reply: oneshot::Sender<mpsc::Receiver<crate::requests::NewRequest>>,
    },
    Respond {
        transaction: TransactionId,
        response: Box<Response>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Shutdown {
        deadline: Instant,
        reply: oneshot::Sender<()>,
    },
    Connections {
        reply: oneshot::Sender<usize>,
    },
    SetAccepting {
        accepting: bool,
        reply: oneshot::Sender<()>,
    },
}

impl Driver {
    pub(super) fn on_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Invite {
                target,
                body,
                content_type,
                headers,
                reply,
            } => {
                let result = self
                    .endpoint
                    .invite_with_headers(now, target, body, content_type.as_deref(), &borrowed(&headers))
                    .map(|id| {
                        let (tx, rx) = call_event_queue(self.call_event_queue);
                        self.calls.insert(id, tx);
                        (id, rx)
                    })
                    .map_err(Error::from);
                let _ = reply.send(result);
            }
            Command::Call { call, op, reply } => {
                let _ = reply.send(self.call_op(now, call, op).map_err(Error::from));
            }
            Command::State { call, reply } => {
                let _ = reply.send(self.endpoint.call_state(call));
            }
            Command::InDialog {
                call,
                method,
                body,
                content_type,
                reply,
            } => match self
                .endpoint
                .request_in_dialog(now, call, method, body, content_type.as_deref())
            {
                // Its final response (or failure) goes to `reply`, like an OPTIONS's.
                Ok(transaction) => {
                    self.waiting.insert(transaction, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::History { call, reply } => {
                let _ = reply.send(self.endpoint.call_history(call).map(<[_]>::to_vec));
            }
            Command::Descriptions { call, reply } => {
                let local = self
                    .endpoint
                    .call_local_description(call)
                    .filter(|b| !b.is_empty())
                    .cloned();
                let remote = self.remote_descriptions.get(&call).cloned();
                let _ = reply.send((local, remote));
            }
            Command::Stats { reply } => {
                let ep = &self.endpoint;
                let _ = reply.send(crate::AgentStats {
                    counters: ep.stats().clone(),
                    dialogs: ep.dialog_count(),
                    calls: ep.call_count(),
                    transactions: ep.transaction_count(),
                    subscriptions: ep.subscription_count(),
                    registrations: ep.registration_count(),
                    connections: self.flows.len(),
                });
            }
            Command::Incoming { reply } => {
                let (tx, rx) = mpsc::channel(self.incoming_queue);
                self.incoming = Some(tx);
                let _ = reply.send(rx);
            }
            Command::SendRequest {
                request,
                target,
                reply,
            } => match self.send_raw(now, *request, &target) {
                Ok(transaction) => {
                    self.waiting.insert(transaction, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Options { target, reply } => match self.send_options(now, target) {
                Ok(transaction) => {
                    self.waiting.insert(transaction, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Transfer { call, to, reply } => {
                let _ = reply.send(self.transfer(now, call, to));
            }
            Command::Refer {
                subscription,
                op,
                reply,
            } => {
                let _ = reply.send(self.refer_op(now, subscription, op));
            }
            Command::IncomingRefers { reply } => {
                let (tx, rx) = mpsc::channel(self.incoming_queue);
                self.refers = Some(tx);
                let _ = reply.send(rx);
            }
            Command::Register {
                registrar,
                aor,
                expires,
                reply,
            } => {
                let result = self
                    .endpoint
                    .register(now, registrar, aor.as_deref(), expires)
                    .map(|id| {
                        let (tx, rx) = mpsc::channel(REGISTRATION_EVENT_QUEUE);
                        self.registrations.insert(id, tx);
                        (id, rx)
                    })
                    .map_err(Error::from);
                let _ = reply.send(result);
            }
            Command::Unregister { id, reply } => {
                let _ = reply.send(self.endpoint.unregister(now, id).map_err(Error::from));
            }
            Command::Message {
                to,
                content_type,
                body,
                reply,
            } => match self.endpoint.send_message(now, to, &content_type, body) {
                Ok(id) => {
                    self.messages.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Command::IncomingMessages { reply } => {
                let (tx, rx) = mpsc::channel(self.incoming_queue);
                self.incoming_messages = Some(tx);
                let _ = reply.send(rx);
            }
            Command::IncomingRequests { reply } => {
                let (tx, rx) = mpsc::channel(self.incoming_queue);
                self.requests = Some(tx);
                let _ = reply.send(rx);
            }
            Command::Respond {
                transaction,
                mut response,
                reply,
            } => {
                // §8.2.6.2: a UAS's final response carries a To tag of its own.
                let untagged = response
                    .headers
                    .get(HeaderName::To)
                    .is_some_and(|to| sip_core::message::tag_of(to).is_none());
                if response.status.as_u16() > 100 && untagged {
                    if let Some(to) = response.headers.get(HeaderName::To) {
                        let tagged = format!("{to};tag={}", self.endpoint.random_token(10));
                        response.headers.set(HeaderName::To, tagged);
                    }
                }
                let _ = reply.send(
                    self.endpoint
                        .respond(now, transaction, *response)
                        .map_err(Error::from),
                );
            }
            Command::Connections { reply } => {
                let _ = reply.send(self.flows.len());
            }
            Command::SetAccepting { accepting, reply } => {
                self.endpoint.set_accepting(accepting);
                let _ = reply.send(());
            }
            Command::Shutdown { deadline, reply } => {
                // Bindings go first (RFC 3261 §10.2.2), oldest first.
                for id in self.endpoint.registrations() {
                    if let Err(e) = self.endpoint.unregister(now, id) {
                        debug!(%id, "unregister at shutdown: {e}");
                    }
                }
                // Sorted so the hang-ups go out in a repeatable order.
                let mut live: Vec<CallId> = self.calls.keys().copied().collect();
                live.sort();
                for call in live {
                    if let Err(e) = self.endpoint.hangup(now, call) {
                        debug!(%call, "hangup at shutdown: {e}");
                    }
                }
                let (at, waiters) = self.shutdown.get_or_insert_with(|| (deadline, Vec::new()));
                *at = (*at).min(deadline);
                waiters.push(reply);
            }
        }
    }

    fn call_op(&mut self, now: Instant, call: CallId, op: CallOp) -> Result<(), CallError> {
        let ep = &mut self.endpoint;
        match op {
            CallOp::Ringing => ep.ringing(now, call),
            CallOp::Answer(body, content_type, headers) => {
                ep.answer_with_headers(now, call, body, content_type.as_deref(), &borrowed(&headers))
            }
            CallOp::Reject(status, reason, headers) => {
                ep.reject_with_headers(now, call, status, reason.as_deref(), &borrowed(&headers))
            }
            CallOp::Cancel => ep.cancel(now, call),
            CallOp::Bye => ep.bye(now, call),
            CallOp::Hangup => ep.hangup(now, call),
            CallOp::Hold => ep.hold(now, call),
            CallOp::Unhold => ep.unhold(now, call),
            CallOp::Reinvite(body) => ep.reinvite(now, call, body),
            CallOp::Update(body) => ep.update(now, call, body),
            CallOp::Redirect(targets) => ep.redirect(now, call, &targets),
        }
    }

    /// Sends the REFER of a transfer and keeps the queue its progress goes to.
    fn transfer(&mut self, now: Instant, call: CallId, to: TransferTo) -> Result<Transfer, Error> {
        let ep = &mut self.endpoint;
        let id = match to {
            TransferTo::Blind(target) => ep.refer(now, call, &target),
            TransferTo::Attended(other) => ep.attended_transfer(now, call, other),
            TransferTo::Replacing(target, replaces) => ep.refer_with_replaces(now, call, &target, &replaces),
        }?;
        let (tx, rx) = mpsc::channel(TRANSFER_EVENT_QUEUE);
        self.transfers.insert(id, TransferSender::new(tx));
        Ok(Transfer::new(id, rx))
    }

    fn refer_op(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        op: ReferOp,
    ) -> Result<Option<CallHandle>, Error> {
        let ep = &mut self.endpoint;
        match op {
            ReferOp::Accept => ep.accept_refer(now, subscription)?,
            ReferOp::Reject(status) => ep.reject_subscription(now, subscription, status)?,
            ReferOp::Notify(status) => ep.notify_refer(now, subscription, status)?,
            ReferOp::AcceptAndCall(offer) => {
                let id = ep.accept_refer_and_call(now, subscription, offer)?;
                let (tx, rx) = call_event_queue(self.call_event_queue);
                self.calls.insert(id, tx);
                return Ok(Some((id, rx)));
            }
        }
        Ok(None)
    }

    /// Sends an application's request outside any dialog to `target`, located by RFC
    /// 3263 (at once for an IP address, else through the DNS questions the core asks).
    fn send_raw(&mut self, now: Instant, request: Request, target: &Uri) -> Result<TransactionId, Error> {
        Ok(self.endpoint.send_request_to(now, request, target)?)
    }

    /// Sends OPTIONS to `target`, located as [`Driver::send_raw`] does.
    fn send_options(&mut self, now: Instant, target: Uri) -> Result<TransactionId, Error> {
        let tag = self.endpoint.random_token(10);
        let call_id = self.endpoint.random_token(20);
        let request = RequestBuilder::new(Method::Options, target.clone())
            // The Endpoint replaces this placeholder with its own Via.
            .via("SIP/2.0/UDP placeholder")
            .max_forwards(self.endpoint.config().max_forwards)
            .from(format!("{};tag={tag}", self.endpoint.identity()))
            .to(format!("<{target}>"))
            .call_id(call_id)
            .cseq(1)
            .header("Accept", "application/sdp")
            .build()
            .map_err(|e| Error::BadTarget(format!("{target}: {e}")))?;
        Ok(self.endpoint.send_request_to(now, request, &target)?)
    }
}
