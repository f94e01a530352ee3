//! The core's events, routed to the application: call events to each call's handle, new
//! calls to [`IncomingCalls`](crate::IncomingCalls), OPTIONS outcomes to their waiters.

use std::time::Instant;

use bytes::Bytes;

use sip_core::call::CallEvent;
use sip_core::endpoint::{CallId, Event};
use sip_core::message::StatusCode;
use sip_core::subscription::{SubscriptionEnd, SubscriptionEvent, SubscriptionId};
use tokio::sync::mpsc;
use tracing::{debug, trace, warn};

use super::Driver;
use crate::Error;
use crate::call::Invitation;
use crate::call_events::{CallEventReceiver, Sent, call_event_queue};
use crate::pager::IncomingMessage;
use crate::transfer::{NewRefer, TransferEvent};
use sip_core::pager::MessageEvent;
use sip_core::registration::RegistrationEvent;

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
            Event::Subscription { subscription, event } => {
                self.on_subscription_event(now, subscription, event)
            }
            Event::Registration { registration, event } => {
                let last = event == RegistrationEvent::Unregistered;
                if let Some(tx) = self.registrations.get(&registration) {
                    // Never waits: past the queue's room only the end still goes in.
                    if last || tx.capacity() > 1 {
                        let _ = tx.try_send(event);
                    }
                }
                if last {
                    self.registrations.remove(&registration);
                }
            }
            Event::Message { message, event } => {
                if let Some(reply) = self.messages.remove(&message) {
                    let _ = reply.send(match event {
                        MessageEvent::Delivered { status } => Ok(status),
                        MessageEvent::Failed { status: Some(status) } => Err(Error::Rejected(status)),
                        _ => Err(Error::Timeout),
                    });
                }
            }
            Event::MessageReceived {
                from,
                to,
                content_type,
                body,
            } => {
                let message = IncomingMessage {
                    from,
                    to,
                    content_type,
                    body,
                };
                match &self.incoming_messages {
                    Some(tx) => {
                        if tx.try_send(message).is_err() {
                            debug!("incoming message dropped: nobody reads them fast enough");
                        }
                    }
                    None => debug!("incoming message dropped: nobody takes messages"),
                }
            }
            // The core answers every request outside a dialog itself (OPTIONS, 405, 481);
            // one reaches the application only for methods it configured as its own, and
            // this driver configures none.
            Event::Request {
                transaction,
                request,
                source,
                transport,
            } => {
                let method = request.method.clone();
                let new = crate::requests::NewRequest {
                    transaction,
                    request: Box::new(request),
                    source,
                    transport,
                };
                let refused = match &self.requests {
                    Some(requests) => match requests.try_send(new) {
                        Ok(()) => None,
                        Err(mpsc::error::TrySendError::Full(new)) => {
                            Some((new, StatusCode::SERVICE_UNAVAILABLE))
                        }
                        Err(mpsc::error::TrySendError::Closed(new)) => {
                            Some((new, StatusCode::TEMPORARILY_UNAVAILABLE))
                        }
                    },
                    None => Some((new, StatusCode::TEMPORARILY_UNAVAILABLE)),
                };
                if let Some((new, status)) = refused {
                    warn!(%method, %status, "request for the application, which takes none now");
                    let response = sip_core::message::response_to(&new.request, status, None, None);
                    if let Err(e) = self.endpoint.respond(now, transaction, response) {
                        debug!("refusing the request: {e}");
                    }
                }
            }
            Event::Response {
                transaction,
                response,
            } => {
                if response.status.is_final() {
                    if let Some(reply) = self.waiting.remove(&transaction) {
                        let _ = reply.send(Ok(response));
                    }
                }
            }
            Event::Timeout { transaction, .. } => {
                if let Some(reply) = self.waiting.remove(&transaction) {
                    let _ = reply.send(Err(Error::Timeout));
                }
            }
            Event::TransportError { transaction } => {
                if let Some(reply) = self.waiting.remove(&transaction) {
                    let _ = reply.send(Err(Error::Transport));
                }
            }
            Event::Terminated { transaction } => {
                // Dropping a waiting reply tells its caller the request went nowhere.
                self.waiting.remove(&transaction);
            }
            other => trace!(?other, "event not used by the driver"),
        }
    }

    fn on_call_event(&mut self, now: Instant, call: CallId, event: CallEvent) {
        // The peer's session description, as it changes.
        let remote = match &event {
            CallEvent::Incoming { request, .. } => Some(&request.body),
            CallEvent::Answered { body }
            | CallEvent::EarlyMedia { body }
            | CallEvent::RemoteOffer { body }
            | CallEvent::OfferAnswered { body } => Some(body),
            _ => None,
        };
        if let Some(body) = remote.filter(|b| !b.is_empty()) {
            // A copy: a slice would keep the whole datagram it came in alive.
            self.remote_descriptions
                .insert(call, Bytes::copy_from_slice(body));
        }
        if matches!(event, CallEvent::Terminated { .. }) {
            self.remote_descriptions.remove(&call);
        }
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
                // During a graceful shutdown new calls are refused and never delivered.
                let refused = match &self.incoming {
                    _ if self.shutdown.is_some() => Some(StatusCode::SERVICE_UNAVAILABLE),
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
            // The final response to a request a handle sent in the call and waits for.
            CallEvent::Response {
                transaction,
                response,
            } if response.status.is_final() && self.waiting.contains_key(&transaction) => {
                if let Some(reply) = self.waiting.remove(&transaction) {
                    let _ = reply.send(Ok(response));
                }
            }
            event => self.deliver(call, event),
        }
    }

    /// Subscriptions here are transfers: ours (REFERs we sent, reported to their
    /// [`Transfer`](crate::Transfer)) and peers' (REFERs to us, handed to
    /// [`IncomingRefers`](crate::IncomingRefers)). The driver takes no other package.
    fn on_subscription_event(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
        event: SubscriptionEvent,
    ) {
        match event {
            SubscriptionEvent::Refer {
                request,
                target,
                referred_by,
            } => {
                let new = NewRefer {
                    id: subscription,
                    call: self.endpoint.subscription_call(subscription),
                    request,
                    target,
                    referred_by,
                };
                let refused = match &self.refers {
                    Some(refers) => match refers.try_send(new) {
                        Ok(()) => None,
                        Err(mpsc::error::TrySendError::Full(_)) => Some(StatusCode::SERVICE_UNAVAILABLE),
                        Err(mpsc::error::TrySendError::Closed(_)) => Some(StatusCode::DECLINE),
                    },
                    None => Some(StatusCode::DECLINE),
                };
                if let Some(status) = refused {
                    debug!(%subscription, %status, "REFER refused: nobody takes transfers now");
                    if let Err(e) = self.endpoint.reject_subscription(now, subscription, status) {
                        debug!("reject REFER: {e}");
                    }
                }
            }
            SubscriptionEvent::Accepted { .. } => self.report_transfer(subscription, TransferEvent::Accepted),
            SubscriptionEvent::Transfer { status } => {
                let event = if status.is_provisional() {
                    TransferEvent::Progress(status)
                } else if status.is_success() {
                    TransferEvent::Succeeded
                } else {
                    TransferEvent::Failed(Some(status))
                };
                self.report_transfer(subscription, event);
            }
            SubscriptionEvent::Terminated { reason } => {
                if let Some(mut transfer) = self.transfers.remove(&subscription) {
                    // Over without a result: refused, or the reports stopped.
                    let status = match reason {
                        SubscriptionEnd::Rejected(status) => Some(status),
                        _ => None,
                    };
                    transfer.send(TransferEvent::Failed(status));
                }
            }
            other => trace!(%subscription, ?other, "subscription event not used by the driver"),
        }
    }

    /// Reports an event of a transfer we asked for; after its result, nothing more.
    fn report_transfer(&mut self, subscription: SubscriptionId, event: TransferEvent) {
        let done = event.is_final();
        if let Some(transfer) = self.transfers.get_mut(&subscription) {
            transfer.send(event);
        }
        if done {
            self.transfers.remove(&subscription);
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

/// The driver's end of a transfer's event queue: never waits; past the queue's room,
/// provisional progress is dropped, and the last slot is kept for the result.
#[derive(Debug)]
pub(crate) struct TransferSender {
    tx: mpsc::Sender<TransferEvent>,
}

impl TransferSender {
    pub(crate) fn new(tx: mpsc::Sender<TransferEvent>) -> Self {
        TransferSender { tx }
    }

    fn send(&mut self, event: TransferEvent) {
        if event.is_final() || self.tx.capacity() > 1 {
            // A dropped handle is no error: the transfer goes on without a listener.
            let _ = self.tx.try_send(event);
        }
    }
}
