//! The core's events, routed to the application: call events to each call's handle, new
//! calls to [`IncomingCalls`](crate::IncomingCalls), OPTIONS outcomes to their waiters.

use std::time::Instant;

use sip_core::call::CallEvent;
use sip_core::endpoint::{CallId, Event};
use sip_core::message::StatusCode;
use tokio::sync::mpsc;
use tracing::{debug, trace, warn};

use super::Driver;
use crate::Error;
use crate::call::Invitation;
use crate::call_events::{CallEventReceiver, Sent, call_event_queue};

/// A new incoming call on its way to [`IncomingCalls`](crate::IncomingCalls).
#[derive(Debug)]
pub(crate) struct NewCall {
    pub(crate) id: CallId,
    pub(crate) events: CallEventReceiver,
    pub(crate) invitation: Box<Invitation>,
}

impl Driver {
    pub(super) fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Call { call, event } => self.on_call_event(now, call, event),
            // The core answers every request outside a dialog itself (OPTIONS, 405, 481);
            // one reaches the application only for methods it configured as its own, and
            // this driver configures none.
            Event::Request { request, .. } => {
                warn!(method = %request.method, "request for the application, which takes none here")
            }
            Event::Response {
                transaction,
                response,
            } => {
                if response.status.is_final() {
                    if let Some(reply) = self.options.remove(&transaction) {
                        let _ = reply.send(Ok(response.status));
                    }
                }
            }
            Event::Timeout { transaction, .. } => {
                if let Some(reply) = self.options.remove(&transaction) {
                    let _ = reply.send(Err(Error::Timeout));
                }
            }
            Event::TransportError { transaction } => {
                if let Some(reply) = self.options.remove(&transaction) {
                    let _ = reply.send(Err(Error::Transport));
                }
            }
            Event::Terminated { transaction } => {
                // Dropping a waiting reply tells its caller the request went nowhere.
                self.options.remove(&transaction);
            }
            other => trace!(?other, "event not used by the driver"),
        }
    }

    fn on_call_event(&mut self, now: Instant, call: CallId, event: CallEvent) {
        match event {
            CallEvent::Incoming {
                request,
                source,
                transport,
            } => {
                let (tx, rx) = call_event_queue(self.call_event_queue);
                let new = NewCall {
                    id: call,
                    events: rx,
                    invitation: Box::new(Invitation {
                        request,
                        source,
                        transport,
                    }),
                };
                let refused = match &self.incoming {
                    Some(incoming) => match incoming.try_send(new) {
                        Ok(()) => None,
                        Err(mpsc::error::TrySendError::Full(_)) => Some(StatusCode::SERVICE_UNAVAILABLE),
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            Some(StatusCode::TEMPORARILY_UNAVAILABLE)
                        }
                    },
                    None => Some(StatusCode::TEMPORARILY_UNAVAILABLE),
                };
                match refused {
                    None => {
                        self.calls.insert(call, tx);
                    }
                    Some(status) => {
                        debug!(%call, %status, "incoming call refused: nobody takes calls now");
                        if let Err(e) = self.endpoint.reject(now, call, status, None) {
                            debug!("reject: {e}");
                        }
                    }
                }
            }
            CallEvent::Terminated { .. } => {
                if let Some(tx) = self.calls.remove(&call) {
                    tx.finish(event);
                }
            }
            event => self.deliver(call, event),
        }
    }

    /// Queues an event of a live call for its handle, without waiting: a full queue drops
    /// it (see [`Call`](crate::Call) for the policy).
    fn deliver(&mut self, call: CallId, event: CallEvent) {
        let Some(tx) = self.calls.get_mut(&call) else {
            return;
        };
        match tx.send(event) {
            Sent::Dropped { first: true } => warn!(
                %call,
                capacity = self.call_event_queue,
                "the call's handle does not read its events; newer ones are dropped"
            ),
            // A dropped handle is not an error: the call goes on without a listener.
            Sent::Queued | Sent::Dropped { first: false } | Sent::NoListener => {}
        }
    }
}
