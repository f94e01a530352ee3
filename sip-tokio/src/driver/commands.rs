//! Commands from the handles ([`UserAgent`](crate::UserAgent), [`Call`](crate::Call)) and
//! how the driver carries them out on the Endpoint.

use std::time::Instant;

use bytes::Bytes;
use sip_core::call::{CallError, CallState};
use sip_core::endpoint::{CallId, TransactionId, Transport};
use sip_core::message::{Method, RequestBuilder, StatusCode, Uri};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::Driver;
use super::events::NewCall;
use crate::Error;
use crate::call_events::{CallEventReceiver, call_event_queue};

/// What a call handle asks of its call.
#[derive(Debug)]
pub(crate) enum CallOp {
    Ringing,
    Answer(Bytes, Option<String>),
    Reject(StatusCode, Option<String>),
    Cancel,
    Bye,
    Hangup,
    Hold,
    Unhold,
    Reinvite(Bytes),
    Update(Bytes),
}

/// A call's id and event receiver, as handed out.
pub(crate) type CallHandle = (CallId, CallEventReceiver);

/// Commands from the handles.
#[derive(Debug)]
pub(crate) enum Command {
    Invite {
        target: Uri,
        body: Bytes,
        content_type: Option<String>,
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
    Incoming {
        reply: oneshot::Sender<mpsc::Receiver<NewCall>>,
    },
    Options {
        target: Uri,
        reply: oneshot::Sender<Result<StatusCode, Error>>,
    },
    Shutdown {
        deadline: Instant,
        reply: oneshot::Sender<()>,
    },
    Connections {
        reply: oneshot::Sender<usize>,
    },
}

impl Driver {
    pub(super) fn on_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Invite {
                target,
                body,
                content_type,
                reply,
            } => {
                let result = self
                    .endpoint
                    .invite(now, target, body, content_type.as_deref())
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
            Command::Incoming { reply } => {
                let (tx, rx) = mpsc::channel(self.incoming_queue);
                self.incoming = Some(tx);
                let _ = reply.send(rx);
            }
            Command::Options { target, reply } => match self.send_options(now, target) {
                Ok(transaction) => {
                    self.options.insert(transaction, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Connections { reply } => {
                let _ = reply.send(self.flows.len());
            }
            Command::Shutdown { deadline, reply } => {
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
            CallOp::Answer(body, content_type) => ep.answer(now, call, body, content_type.as_deref()),
            CallOp::Reject(status, reason) => ep.reject(now, call, status, reason.as_deref()),
            CallOp::Cancel => ep.cancel(now, call),
            CallOp::Bye => ep.bye(now, call),
            CallOp::Hangup => ep.hangup(now, call),
            CallOp::Hold => ep.hold(now, call),
            CallOp::Unhold => ep.unhold(now, call),
            CallOp::Reinvite(body) => ep.reinvite(now, call, body),
            CallOp::Update(body) => ep.update(now, call, body),
        }
    }

    fn send_options(&mut self, now: Instant, target: Uri) -> Result<TransactionId, Error> {
        let destination = sip_core::dialog::uri_socket_addr(&target)
            .ok_or_else(|| Error::BadTarget(format!("{target}: the host must be an IP address")))?;
        let transport = match target.transport_param() {
            Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
            _ => Transport::Udp,
        };
        let identity = self
            .endpoint
            .config()
            .calls
            .identity
            .clone()
            .unwrap_or_else(|| format!("sip:{}", self.local));
        let tag = self.endpoint.random_token(10);
        let call_id = self.endpoint.random_token(20);
        let request = RequestBuilder::new(Method::Options, target.clone())
            // The Endpoint replaces this placeholder with its own Via.
            .via("SIP/2.0/UDP placeholder")
            .from(format!("<{identity}>;tag={tag}"))
            .to(format!("<{target}>"))
            .call_id(call_id)
            .cseq(1)
            .header("Accept", "application/sdp")
            .build()
            .map_err(|e| Error::BadTarget(format!("{target}: {e}")))?;
        Ok(self.endpoint.send_request(now, request, destination, transport)?)
    }
}
