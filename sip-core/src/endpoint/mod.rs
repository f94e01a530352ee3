//! The [`Endpoint`]: one state machine that owns every transaction and connection of a
//! SIP element and applies the transport rules of RFC 3261 §18 and the UAS checks of §8.2.

mod answering;
mod calls;
mod pager;
mod registrations;
mod subscriptions;

use std::net::SocketAddr;
use std::time::Instant;

use crate::dns::{DnsAnswer, DnsError, DnsQuery};
use bytes::Bytes;

use crate::connections::{Admission, Completed, Expiry};
use crate::dialog::{DialogKey, DialogTable};
use crate::message::{Message, Method, ParseLimits, Request, Response, StatusCode, StreamItem, Uri};
use crate::owner::Owner;
use crate::shared::{Shared, TopVia, shrink_when_drained};
use crate::transaction::{NewCalls, NewRequest, TransactionEvent, TransactionLayer};
use crate::transport::Route;
use crate::usage::Seam;
use crate::usage::invite::InviteSessions;
use crate::usage::pager::Pager;
use crate::usage::registration::Registrations;
use crate::usage::subscription::Subscriptions;

// The shared types live at the crate root; the Endpoint's API names them here too.
pub use crate::config::{EndpointConfig, EndpointLimits, Stats};
pub use crate::error::SendError;
pub use crate::event::Event;
pub use crate::ids::{CallId, DnsQueryId, FlowId, TransactionId};
pub use crate::timer_queue::{TimerId, Wakeup};
pub use crate::transport::{FlowEvent, FlowRequest, Transmit, Transport};

/// A SIP endpoint as a pure state machine: it does no I/O, reads no clock and draws no
/// randomness but its seed.
///
/// # Methods, by kind
///
/// - **Getters**: [`stats`](Endpoint::stats), [`transaction_count`](Endpoint::transaction_count),
///   [`timer_count`](Endpoint::timer_count), [`next_wakeup`](Endpoint::next_wakeup),
///   [`config`](Endpoint::config).
/// - **Inputs** (`handle_*`), each with the current time:
///   [`handle_datagram`](Endpoint::handle_datagram),
///   [`handle_stream_data`](Endpoint::handle_stream_data),
///   [`handle_flow_message`](Endpoint::handle_flow_message),
///   [`handle_flow_event`](Endpoint::handle_flow_event),
///   [`handle_timeout`](Endpoint::handle_timeout).
/// - **Commands**, each with the current time, returning an id or a [`SendError`] for
///   misuse; outcomes arrive later as events:
///   [`send_request`](Endpoint::send_request), [`respond`](Endpoint::respond),
///   [`cancel`](Endpoint::cancel), [`send_stateless`](Endpoint::send_stateless).
/// - **Outputs** (`poll_*`): [`poll_transmit`](Endpoint::poll_transmit),
///   [`poll_flow_request`](Endpoint::poll_flow_request), [`poll_event`](Endpoint::poll_event),
///   [`poll_timeout`](Endpoint::poll_timeout).
///
/// # The draining rule
///
/// After any input or command, drain `poll_transmit`, `poll_flow_request` and `poll_event`
/// until each returns `None`; then sleep until `poll_timeout()` (`None`: nothing to wait for)
/// and call `handle_timeout(now)`, which fires whatever is due and is harmless otherwise.
///
/// # Example: two endpoints driven by hand
///
/// ```
/// use std::time::{Duration, Instant};
/// use sip_core::endpoint::{Endpoint, EndpointConfig, Event, Transport};
/// use sip_core::message::{Method, RequestBuilder, StatusCode, Uri};
///
/// let alice_addr = "192.0.2.1:5060".parse().unwrap();
/// let bob_addr = "192.0.2.2:5060".parse().unwrap();
/// let mut alice = Endpoint::new(EndpointConfig::new(alice_addr, 1));
/// // Bob's application answers OPTIONS itself (else his Endpoint would, RFC 3261 §11.2).
/// let mut bob_config = EndpointConfig::new(bob_addr, 2);
/// bob_config.calls.app_methods = vec![Method::Options];
/// let mut bob = Endpoint::new(bob_config);
/// let now = Instant::now();
///
/// // Alice sends OPTIONS; the Endpoint adds its Via (branch, rport).
/// let options = RequestBuilder::new(Method::Options, Uri::parse("sip:bob@192.0.2.2").unwrap())
///     .via("SIP/2.0/UDP placeholder") // replaced by the Endpoint's own Via
///     .from("<sip:alice@192.0.2.1>;tag=a1").to("<sip:bob@192.0.2.2>")
///     .call_id("call-1").cseq(1).build().unwrap();
/// let tx = alice.send_request(now, options, bob_addr, Transport::Udp).unwrap();
///
/// // Carry Alice's datagram to Bob by hand.
/// let datagram = alice.poll_transmit().unwrap();
/// bob.handle_datagram(now, bob_addr, alice_addr, datagram.payload);
/// let Some(Event::Request { transaction, .. }) = bob.poll_event() else { panic!() };
/// let ok = bob.response(transaction, StatusCode::OK).unwrap();
/// bob.respond(now, transaction, ok).unwrap();
///
/// // And Bob's answer back to Alice.
/// let answer = bob.poll_transmit().unwrap();
/// alice.handle_datagram(now, alice_addr, bob_addr, answer.payload);
/// let Some(Event::Response { transaction, response }) = alice.poll_event() else { panic!() };
/// assert_eq!((transaction, response.status), (tx, StatusCode::OK));
///
/// // Timer K (T4 over UDP) is all that is left on Alice's side.
/// assert_eq!(alice.poll_timeout(), Some(now + Duration::from_secs(5)));
/// alice.handle_timeout(now + Duration::from_secs(5));
/// assert!(matches!(alice.poll_event(), Some(Event::Terminated { .. })));
/// assert_eq!(alice.transaction_count(), 0);
/// ```
#[derive(Debug)]
pub struct Endpoint {
    /// The layers below the usages: shared state and the transaction layer.
    seam: Seam,
    /// Invite sessions (calls).
    invites: InviteSessions,
    /// Subscriptions (RFC 6665), ours and peers'.
    subscriptions: Subscriptions,
    /// Our registrations (RFC 3261 §10).
    registrations: Registrations,
    /// Instant messages outside a dialog (RFC 3428).
    pager: Pager,
    /// True while transaction events are being handed to the usages (a usage's own
    /// commands feed the same inbox, drained by the loop already running).
    dispatching: bool,
    /// False once the application stops taking new work ([`Endpoint::set_accepting`]):
    /// new requests outside a dialog then get 503 with Retry-After.
    accepting: bool,
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(mut config: EndpointConfig) -> Self {
        config.policy = answering::effective_policy(&config);
        let shared = Shared::new(config);
        let hasher = shared.hasher.clone();
        let invites = InviteSessions::new(&shared.config, shared.hasher.clone());
        let subscriptions = Subscriptions::new(&shared.config, shared.hasher.clone());
        let registrations = Registrations::new();
        let record_dialogs = shared.config.calls.dialog_events;
        let pager = Pager::new(&shared.config);
        let mut dialogs = DialogTable::new(hasher.clone());
        dialogs.set_recording(record_dialogs);
        Endpoint {
            seam: Seam {
                transactions: TransactionLayer::new(hasher),
                dialogs,
                shared,
            },
            invites,
            subscriptions,
            registrations,
            pager,
            dispatching: false,
            accepting: true,
        }
    }

    // ---- getters ----

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.seam.shared.config
    }

    /// Our identity as it goes in the From of the requests we originate, before its tag: a
    /// name-addr made from [`CallConfig::identity`](crate::call::CallConfig::identity), or
    /// `<sip:` + the [advertised address](EndpointConfig::advertised_addr) + `>` without one.
    ///
    /// ```
    /// use sip_core::Endpoint;
    /// use sip_core::endpoint::EndpointConfig;
    ///
    /// let mut config = EndpointConfig::new("192.0.2.1:5060".parse().unwrap(), 1);
    /// assert_eq!(Endpoint::new(config.clone()).identity(), "<sip:192.0.2.1:5060>");
    /// config.calls.identity = Some("Alice <sip:alice@example.com>".into());
    /// assert_eq!(Endpoint::new(config).identity(), r#""Alice" <sip:alice@example.com>"#);
    /// ```
    pub fn identity(&self) -> &str {
        self.invites.identity()
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.seam.shared.stats
    }

    /// Whether new requests outside a dialog are taken (see [`Endpoint::set_accepting`]).
    pub fn accepting(&self) -> bool {
        self.accepting
    }

    /// Live transactions, client and server.
    pub fn transaction_count(&self) -> usize {
        self.seam.transactions.count()
    }

    /// Transactions still at work: client ones waiting for a final response, server ones
    /// that have not sent theirs. Those only absorbing retransmissions (Completed,
    /// Confirmed, Accepted) are not counted: this is what a graceful shutdown waits for.
    /// (It walks every transaction: for shutdown and monitoring, not the hot path.)
    pub fn pending_transaction_count(&self) -> usize {
        self.seam.transactions.pending_count()
    }

    /// Armed timers.
    pub fn timer_count(&self) -> usize {
        self.seam.shared.timers.len()
    }

    /// The next deadline and the timer behind it — why [`Endpoint::poll_timeout`] says what
    /// it says.
    pub fn next_wakeup(&self) -> Option<Wakeup> {
        self.seam
            .shared
            .timers
            .first()
            .map(|(at, timer)| Wakeup { at, timer })
    }

    /// A fresh random token (for tags and Call-IDs), from the seeded generator.
    pub fn random_token(&mut self, len: usize) -> String {
        self.seam.shared.rng.token(len)
    }

    /// An id for a connection the driver accepted; report it with
    /// [`FlowEvent::Accepted`].
    pub fn new_flow_id(&mut self) -> FlowId {
        FlowId(self.seam.shared.fresh_id())
    }

    // ---- outputs ----

    /// The next message to send. Poll after every input: past 65,536 untaken messages the
    /// oldest is dropped (counted in [`Stats::outputs_dropped`]), a loss on the wire.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let transmits = &mut self.seam.shared.transmits;
        if transmits.is_empty() {
            // Checked before taking, so what is taken moves straight to the caller.
            shrink_when_drained(transmits);
            return None;
        }
        transmits.pop_front()
    }

    /// The next connection to open or close.
    pub fn poll_flow_request(&mut self) -> Option<FlowRequest> {
        self.seam.shared.flow_requests.pop_front()
    }

    /// The next event for the transaction user. Poll after every input: past 65,536 unread
    /// events new ones are dropped (counted in [`Stats::outputs_dropped`]).
    pub fn poll_event(&mut self) -> Option<Event> {
        let events = &mut self.seam.shared.events;
        if events.is_empty() {
            // Checked before taking, so an event (a few hundred bytes) moves once.
            shrink_when_drained(events);
            return None;
        }
        events.pop_front()
    }

    /// The next DNS question for the driver's resolver (RFC 3263 server location: a
    /// request to a host name waits for the answers). Answer each, once, with
    /// [`Endpoint::handle_dns_response`]; one unanswered after
    /// [`DnsConfig::query_timeout`](crate::config::DnsConfig::query_timeout) counts as
    /// failed. Poll after every input and command, like the other queues.
    pub fn poll_dns_query(&mut self) -> Option<DnsQuery> {
        let query = self.seam.shared.locator.poll_query()?;
        self.seam.shared.stats.dns_queries += 1;
        Some(query)
    }

    /// The earliest instant [`Endpoint::handle_timeout`] has work; `None` when idle.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.seam.shared.timers.first().map(|(at, _)| at)
    }

    // ---- inputs ----

    /// A UDP datagram arrived at `local` from `remote`. (One address per Endpoint today:
    /// `local` is taken for multi-homed endpoints to come and not used yet.)
    pub fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, payload: Bytes) {
        let _ = local;
        let shared = &mut self.seam.shared;
        shared.stats.received += 1;
        let limits = ParseLimits {
            max_message_size: shared.config.limits.max_message_size,
            ..ParseLimits::default()
        };
        let route = Route {
            transport: Transport::Udp,
            flow: None,
            remote,
        };
        match Message::parse_with_limits(payload.clone(), &limits) {
            Ok(message) => self.handle_message(now, message, route),
            Err(error) => {
                shared.stats.invalid += 1;
                TransactionLayer::on_unparsable(shared, now, &payload, &error.to_string(), route);
            }
        }
        self.dispatch(now);
    }

    /// Bytes arrived on connection `flow`. The Endpoint frames messages by Content-Length,
    /// answers CRLF keep-alive pings, and asks to close the flow on a framing error — or
    /// later, when a message it started is not finished in time (see
    /// [`EndpointLimits::flow_message_timeout`](crate::config::EndpointLimits)).
    pub fn handle_stream_data(&mut self, now: Instant, flow: FlowId, data: &[u8]) {
        let Some(state) = self.seam.shared.flows.get_mut(flow) else {
            return;
        };
        state.decoder.push(data);
        let route = Route {
            transport: state.transport,
            flow: Some(flow),
            remote: state.remote,
        };
        loop {
            let shared = &mut self.seam.shared;
            let Some(state) = shared.flows.get_mut(flow) else {
                return;
            };
            match state.decoder.next_item() {
                Ok(None) => break,
                Ok(Some(StreamItem::Message(message))) => {
                    shared.stats.received += 1;
                    shared.flows.completed(flow, now, Completed::Message);
                    self.handle_message(now, message, route);
                    self.dispatch(now);
                }
                Ok(Some(StreamItem::Invalid(_))) => {
                    shared.stats.received += 1;
                    shared.stats.invalid += 1;
                    shared.flows.completed(flow, now, Completed::Invalid);
                }
                // RFC 5626 §4.4.1: answer a ping with a pong.
                Ok(Some(StreamItem::KeepAlivePing)) => {
                    shared.flows.completed(flow, now, Completed::KeepAlive);
                    shared.transmit(route, Bytes::from_static(b"\r\n"));
                }
                Ok(Some(StreamItem::KeepAlivePong)) => {
                    shared.flows.completed(flow, now, Completed::KeepAlive);
                }
                Err(_) => {
                    shared.stats.invalid += 1;
                    self.close_flow(now, flow);
                    return;
                }
            }
        }
        let shared = &mut self.seam.shared;
        let limits = &shared.config.limits;
        let shed = shared.flows.framed(&mut shared.timers, flow, now, limits);
        for flow in shed {
            self.seam.shared.stats.flows_evicted += 1;
            self.close_flow(now, flow);
        }
        self.dispatch(now);
    }

    /// A whole message arrived on connection `flow` as one WebSocket frame (RFC 7118
    /// §3.2: each text or binary frame carries exactly one SIP message; there is no
    /// Content-Length framing and no CRLF keep-alive, the WebSocket's own ping and pong
    /// keep it alive). A frame that is not one valid message is bad input, as a datagram
    /// would be: a stateless 400 with a Warning when its Via is usable, else dropped and
    /// counted; the connection stays open. The driver limits a frame to
    /// [`EndpointLimits::max_message_size`](crate::config::EndpointLimits); a larger one
    /// that reaches the Endpoint all the same does not parse.
    pub fn handle_flow_message(&mut self, now: Instant, flow: FlowId, payload: Bytes) {
        let shared = &mut self.seam.shared;
        let Some(state) = shared.flows.get_mut(flow) else {
            return;
        };
        let route = Route {
            transport: state.transport,
            flow: Some(flow),
            remote: state.remote,
        };
        shared.stats.received += 1;
        let limits = ParseLimits {
            max_message_size: shared.config.limits.max_message_size,
            ..ParseLimits::default()
        };
        // RFC 7118 §3.2: exactly one message per frame, so octets past its Content-Length
        // make the frame invalid rather than being ignored as a datagram's are.
        match Message::parse_frame_with_limits(payload.clone(), &limits) {
            Ok(message) => {
                shared.flows.completed(flow, now, Completed::Message);
                self.handle_message(now, message, route);
            }
            Err(error) => {
                shared.stats.invalid += 1;
                shared.flows.completed(flow, now, Completed::Invalid);
                TransactionLayer::on_unparsable(shared, now, &payload, &error.to_string(), route);
            }
        }
        self.dispatch(now);
    }

    /// Something happened to a connection. An accepted one may be refused (the driver is
    /// asked to close it) or take the place of one that carried nothing yet: see
    /// [`EndpointLimits`].
    pub fn handle_flow_event(&mut self, now: Instant, flow: FlowId, event: FlowEvent) {
        match event {
            FlowEvent::Accepted { transport, remote } => {
                let shared = &mut self.seam.shared;
                match shared.flows.admit(remote, &shared.config.limits) {
                    Admission::Accepted => {}
                    Admission::AcceptedEvicting(evicted) => {
                        shared.stats.flows_evicted += 1;
                        self.close_flow(now, evicted);
                    }
                    Admission::RefusedPerSource | Admission::RefusedFull => {
                        shared.stats.flows_refused += 1;
                        shared.flow_requests.push_back(FlowRequest::Close { flow });
                        return;
                    }
                }
                let shared = &mut self.seam.shared;
                let limits = &shared.config.limits;
                shared
                    .flows
                    .insert(&mut shared.timers, now, flow, transport, remote, true, limits);
            }
            FlowEvent::Connected => {}
            FlowEvent::KeepAlive => {
                self.seam.shared.flows.completed(flow, now, Completed::KeepAlive);
                return;
            }
            FlowEvent::Closed | FlowEvent::Failed => self.fail_flow(now, flow),
        }
        self.dispatch(now);
    }

    /// The platform reported that a UDP datagram we sent to `remote` was refused (ICMP port
    /// unreachable; on Linux, `IP_RECVERR`'s error queue says which destination). Requests
    /// to `remote` that have heard nothing back fail at once with a transport error (RFC
    /// 3261 §8.1.3.1) instead of retransmitting for 32 s: a call to a dead port ends with
    /// [`EndReason::TransportError`](crate::call::EndReason::TransportError).
    pub fn handle_unreachable(&mut self, now: Instant, remote: SocketAddr) {
        let seam = &mut self.seam;
        seam.transactions.on_unreachable(&mut seam.shared, now, remote);
        self.dispatch(now);
    }

    /// The driver's answer to DNS question `query` (from [`Endpoint::poll_dns_query`]): the
    /// records, or why there are none. Requests waiting for it are sent to the first target
    /// RFC 3263 gives, or fail with a transport error when there is none. An answer to a
    /// question that timed out, or a second one, is ignored.
    pub fn handle_dns_response(
        &mut self,
        now: Instant,
        query: DnsQueryId,
        result: Result<DnsAnswer, DnsError>,
    ) {
        self.answer_dns(now, (query, false), result);
        self.dispatch(now);
    }

    /// Fires every timer due at `now`; harmless when none is.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Transaction and call timers fire in deadline order, from one queue.
        while let Some(due) = self.seam.shared.timers.pop_due(now) {
            match due {
                TimerId::Transaction { transaction, timer } => {
                    self.seam
                        .transactions
                        .on_timer(&mut self.seam.shared, now, transaction, timer);
                }
                TimerId::Call { call, timer } => {
                    self.invites.fire_call_timer(&mut self.seam, now, call, timer)
                }
                TimerId::Subscription { subscription, timer } => {
                    self.subscriptions
                        .fire_timer(&mut self.seam, now, subscription, timer)
                }
                TimerId::Registration { registration, timer } => {
                    self.registrations
                        .fire_timer(&mut self.seam, now, registration, timer)
                }
                TimerId::Dns { query } => {
                    // Unanswered for `DnsConfig::query_timeout`: it failed.
                    self.answer_dns(now, (query, true), Err(DnsError::Failed));
                }
                TimerId::Flow { flow } => {
                    let shared = &mut self.seam.shared;
                    let limits = &shared.config.limits;
                    match shared.flows.on_timer(&mut shared.timers, flow, now, limits) {
                        Some(Expiry::Idle | Expiry::UnfinishedMessage) => {
                            shared.stats.flows_timed_out += 1;
                            self.close_flow(now, flow);
                        }
                        None => {}
                    }
                }
            }
            self.dispatch(now);
        }
    }

    // ---- commands ----

    /// Sends `request` to `destination` in a new client transaction. The Endpoint puts its
    /// own Via on top (replacing a topmost Via without the magic cookie, such as a
    /// placeholder), with a fresh branch and `rport` (RFC 3581), fills Max-Forwards
    /// ([`EndpointConfig::max_forwards`]), User-Agent and Content-Length when absent, and
    /// moves a UDP request within 200 bytes of the MTU to TCP (RFC 3261 §18.1.1).
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        destination: SocketAddr,
        transport: Transport,
    ) -> Result<TransactionId, SendError> {
        let result = self
            .seam
            .send_request(now, request, destination, transport, Owner::App);
        self.dispatch(now);
        result
    }

    /// Sends `request` to `target` in a new client transaction, as
    /// [`Endpoint::send_request`] does, with the destination located by RFC 3263: at once
    /// for an IP address, else after the DNS questions it asks through
    /// [`Endpoint::poll_dns_query`] are answered; when a target fails (a transport error,
    /// a timeout, a 503) the request goes to the next. `target` is usually the
    /// Request-URI, or an outbound proxy's URI. A lookup that finds nothing ends the
    /// transaction with [`Event::TransportError`](crate::event::Event).
    ///
    /// ```
    /// use std::time::Instant;
    /// use sip_core::endpoint::{Endpoint, EndpointConfig};
    /// use sip_core::message::{Method, RequestBuilder, Uri};
    /// use sip_core::dns::RecordType;
    ///
    /// let mut endpoint = Endpoint::new(EndpointConfig::new("127.0.0.1:5060".parse().unwrap(), 1));
    /// let target = Uri::parse("sip:example.com").unwrap();
    /// let options = RequestBuilder::new(Method::Options, target.clone())
    ///     .via("SIP/2.0/UDP placeholder")
    ///     .from("<sip:a@127.0.0.1>;tag=1")
    ///     .to("<sip:example.com>")
    ///     .call_id("c1")
    ///     .cseq(1)
    ///     .build()
    ///     .unwrap();
    /// endpoint.send_request_to(Instant::now(), options, &target).unwrap();
    /// // Nothing is sent yet: first the NAPTR records of example.com (RFC 3263 §4.1).
    /// assert!(endpoint.poll_transmit().is_none());
    /// let query = endpoint.poll_dns_query().unwrap();
    /// assert_eq!((query.name.as_str(), query.record_type), ("example.com", RecordType::Naptr));
    /// ```
    pub fn send_request_to(
        &mut self,
        now: Instant,
        request: Request,
        target: &Uri,
    ) -> Result<TransactionId, SendError> {
        let result = self.seam.send_request_to(now, request, target, Owner::App);
        self.dispatch(now);
        result
    }

    /// Cancels a pending INVITE (RFC 3261 §9.1): a CANCEL with the INVITE's Request-URI,
    /// Call-ID, From, To, CSeq number and top Via (same branch), sent in its own client
    /// transaction. Only allowed once a provisional response arrived.
    pub fn cancel_transaction(
        &mut self,
        now: Instant,
        invite: TransactionId,
    ) -> Result<TransactionId, SendError> {
        let result = self.seam.cancel_transaction(now, invite, Owner::App);
        self.dispatch(now);
        result
    }

    /// Sends a request outside any transaction (the ACK for a 2xx, RFC 3261 §13.2.2.4),
    /// with the Endpoint's Via.
    pub fn send_stateless(&mut self, now: Instant, mut request: Request, destination: SocketAddr) {
        let _ = now;
        let shared = &mut self.seam.shared;
        let branch = shared.new_branch();
        shared.prepare_request(&mut request, &branch, Transport::Udp, TopVia::Unknown);
        let route = Route {
            transport: Transport::Udp,
            flow: None,
            remote: destination,
        };
        shared.transmit(route, request.to_bytes());
    }

    /// A response to server transaction `transaction`'s request: Via, From, To, Call-ID and
    /// CSeq copied (RFC 3261 §8.2.6) with this transaction's To tag.
    pub fn response(&self, transaction: TransactionId, status: StatusCode) -> Result<Response, SendError> {
        self.seam.response(transaction, status)
    }

    /// Takes new work or stops taking it (on by default). With `false` — a graceful stop,
    /// or a node taken out of a pool — every new request outside a dialog (INVITE,
    /// OPTIONS, SUBSCRIBE, REFER, MESSAGE, the application's own methods) is answered 503
    /// Service Unavailable with Retry-After ([`EndpointConfig::retry_after`]), in a
    /// transaction of its own (so it is retransmitted and ACKed as usual, and not
    /// rate-limited like the stateless refusals of an overload). Calls, subscriptions and
    /// transactions already under way go on: requests inside a dialog, ACKs and CANCELs
    /// are handled as before.
    ///
    /// OPTIONS is refused too, as RFC 3261 §11.2 asks (the answer to OPTIONS is the one an
    /// INVITE would get): a proxy probing us with OPTIONS, such as Kamailio's dispatcher,
    /// then takes us out of its pool instead of sending calls only to have them refused.
    /// Requests that exist only inside a dialog (BYE, PRACK, UPDATE, NOTIFY) still get 481
    /// when they name none.
    pub fn set_accepting(&mut self, accepting: bool) {
        self.accepting = accepting;
    }

    /// Sends `response` in server transaction `transaction`.
    pub fn respond(
        &mut self,
        now: Instant,
        transaction: TransactionId,
        response: Response,
    ) -> Result<(), SendError> {
        let result = self.seam.respond(now, transaction, response);
        self.dispatch(now);
        result
    }

    // ---- internals ----

    /// The invite sessions, for the call layer's own tests.
    #[cfg(test)]
    pub(crate) fn invites(&self) -> &InviteSessions {
        &self.invites
    }

    /// A message arrived over `route`: the transaction layer matches it.
    fn handle_message(&mut self, now: Instant, message: Message, route: Route) {
        let seam = &mut self.seam;
        match message {
            Message::Request(request) => {
                let new_calls = match request.method {
                    Method::Invite => self
                        .invites
                        .admits_calls_from(route.remote.ip(), &seam.shared.config.limits),
                    _ => NewCalls::Admitted,
                };
                seam.transactions
                    .on_request(&mut seam.shared, now, request, route, new_calls)
            }
            Message::Response(response) => seam.transactions.on_response(&mut seam.shared, now, response),
        }
    }

    /// Feeds a DNS answer (or failure) to the locator and sends what it completes.
    fn answer_dns(&mut self, now: Instant, query: (DnsQueryId, bool), result: Result<DnsAnswer, DnsError>) {
        let Shared {
            locator,
            config,
            rng,
            timers,
            ids,
            ..
        } = &mut self.seam.shared;
        let done = locator.on_answer(config, timers, ids, &mut || rng.next_u64(), now, query, result);
        for (tx, targets) in done {
            self.seam
                .transactions
                .on_located(&mut self.seam.shared, now, tx, targets);
        }
    }

    /// Every transaction using a flow that failed gets a transport error (§18.4).
    fn fail_flow(&mut self, now: Instant, flow: FlowId) {
        let seam = &mut self.seam;
        seam.shared.flows.remove(&mut seam.shared.timers, flow);
        seam.transactions.on_flow_failed(&mut seam.shared, now, flow);
    }

    /// Closes a flow we give up on (a framing error, a deadline, eviction): what used it
    /// fails, and the driver is asked to close the socket.
    fn close_flow(&mut self, now: Instant, flow: FlowId) {
        self.fail_flow(now, flow);
        self.seam
            .shared
            .flow_requests
            .push_back(FlowRequest::Close { flow });
    }

    /// Hands the transaction events waiting for the usages to them, by owner. Commands the
    /// usages issue feed the same inbox; the loop ends when it is empty.
    fn dispatch(&mut self, now: Instant) {
        if self.dispatching {
            return;
        }
        self.dispatching = true;
        loop {
            while let Some(event) = self.seam.transactions.poll_event() {
                self.route_to_usage(now, event);
            }
            // Calls placed for a REFER report to its subscription (which may send NOTIFYs,
            // whose transaction events the loop then hands on).
            // Dialog state changes are reported, with their time.
            if self.seam.dialogs.has_changes() {
                self.seam.report_dialog_changes(now);
            }
            // And REFERs of ours that settled tell the call they were sent in.
            if self.seam.shared.refer_progress.is_empty() && self.seam.shared.refers_settled.is_empty() {
                break;
            }
            for (refer, status) in std::mem::take(&mut self.seam.shared.refer_progress) {
                let _ = self
                    .subscriptions
                    .notify_refer(&mut self.seam, now, refer, status);
            }
            let end_call = self.seam.shared.config.subscriptions.end_call_after_transfer;
            for (refer, status) in std::mem::take(&mut self.seam.shared.refers_settled) {
                self.invites
                    .refer_settled(&mut self.seam, now, refer, status, end_call);
            }
        }
        self.dispatching = false;
    }

    /// One transaction event, to the usage it belongs to: by its transaction's owner, or —
    /// for a new request, an ACK for a 2xx or a stray 2xx, which no transaction of ours
    /// owns — by the dialog it names.
    fn route_to_usage(&mut self, now: Instant, event: TransactionEvent) {
        let seam = &mut self.seam;
        match event {
            TransactionEvent::Request(new) => self.route_request(now, new),
            TransactionEvent::Ack { request, .. } => {
                let call = DialogKey::of_request(&request)
                    .and_then(|key| seam.dialogs.find(&key))
                    .and_then(|dialog| seam.dialogs.invite_session(dialog));
                match call {
                    Some(call) => self.invites.on_ack(seam, now, call, request),
                    None => seam.shared.stats.dropped += 1,
                }
            }
            TransactionEvent::StrayInviteSuccess { response } => {
                let Some(key) = DialogKey::of_response(&response) else {
                    return;
                };
                let call = seam
                    .dialogs
                    .find(&key)
                    .and_then(|dialog| seam.dialogs.invite_session(dialog));
                match call {
                    Some(call) => self.invites.on_stray_success(seam, call, response),
                    None => seam.shared.stats.dropped += 1,
                }
            }
            TransactionEvent::Response {
                owner: Owner::Call(..),
                ..
            }
            | TransactionEvent::Cancelled {
                owner: Owner::Call(..),
                ..
            }
            | TransactionEvent::Timeout {
                owner: Owner::Call(..),
                ..
            }
            | TransactionEvent::TransportError {
                owner: Owner::Call(..),
                ..
            }
            | TransactionEvent::Terminated {
                owner: Owner::Call(..),
                ..
            } => self.invites.on_transaction_event(seam, now, event),
            TransactionEvent::Response {
                owner: Owner::Subscription(id),
                ..
            }
            | TransactionEvent::Cancelled {
                owner: Owner::Subscription(id),
                ..
            }
            | TransactionEvent::Timeout {
                owner: Owner::Subscription(id),
                ..
            }
            | TransactionEvent::TransportError {
                owner: Owner::Subscription(id),
                ..
            }
            | TransactionEvent::Terminated {
                owner: Owner::Subscription(id),
                ..
            } => self.subscriptions.on_transaction_event(seam, now, id, event),
            TransactionEvent::Response {
                owner: Owner::Registration(id),
                ..
            }
            | TransactionEvent::Cancelled {
                owner: Owner::Registration(id),
                ..
            }
            | TransactionEvent::Timeout {
                owner: Owner::Registration(id),
                ..
            }
            | TransactionEvent::TransportError {
                owner: Owner::Registration(id),
                ..
            }
            | TransactionEvent::Terminated {
                owner: Owner::Registration(id),
                ..
            } => self.registrations.on_transaction_event(seam, now, id, event),
            TransactionEvent::Response {
                owner: Owner::Message(id),
                ..
            }
            | TransactionEvent::Timeout {
                owner: Owner::Message(id),
                ..
            }
            | TransactionEvent::TransportError {
                owner: Owner::Message(id),
                ..
            } => self.pager.on_transaction_event(seam, now, id, event),
            TransactionEvent::Cancelled {
                owner: Owner::Message(_),
                ..
            }
            | TransactionEvent::Terminated {
                owner: Owner::Message(_),
                ..
            } => {}
            // The application's transactions are routed to it at once by the seam.
            TransactionEvent::Response { .. }
            | TransactionEvent::Cancelled { .. }
            | TransactionEvent::Timeout { .. }
            | TransactionEvent::TransportError { .. }
            | TransactionEvent::Terminated { .. } => {}
        }
    }

    /// A new request (one the policy allows; validation answered the rest). Inside a dialog
    /// (it names one with its tags, §12.2.2) it goes to the dialog's usage, or gets 481 when
    /// we have no such dialog. Outside one, an INVITE starts a call, OPTIONS is answered
    /// here, the application's own methods go to it, and the rest get 481 or 405.
    fn route_request(&mut self, now: Instant, new: NewRequest) {
        let seam = &mut self.seam;
        let fields = &new.fields;
        // Its To tag is ours, its From tag the peer's (empty from an RFC 2543 peer, which
        // sends none: §12.1.1).
        let key = fields.to_tag.as_ref().map(|local_tag| DialogKey {
            call_id: fields.call_id.clone(),
            local_tag: local_tag.clone(),
            remote_tag: fields.from_tag.clone().unwrap_or_default(),
        });
        let config = &seam.shared.config;
        let method = &new.request.method;
        let accepting = self.accepting;
        match key {
            Some(key) => {
                let dialog = seam.dialogs.find(&key);
                match (dialog, method) {
                    (Some(dialog), Method::Notify | Method::Subscribe) => {
                        self.subscriptions.on_in_dialog_request(seam, now, dialog, new);
                        return;
                    }
                    (None, Method::Notify) => {
                        self.subscriptions.on_notify_without_dialog(seam, now, new);
                        return;
                    }
                    (Some(dialog), Method::Refer) => {
                        self.subscriptions.on_refer(seam, now, Some(dialog), new);
                        return;
                    }
                    _ => {}
                }
                let usage = dialog.and_then(|dialog| Some((seam.dialogs.invite_session(dialog)?, dialog)));
                match usage {
                    // §11.2: OPTIONS inside a dialog is answered like one outside it.
                    Some(_) if *method == Method::Options && answering::answers_options(config) => {
                        answering::answer_options(seam, now, new.transaction)
                    }
                    Some((call, dialog)) => self.invites.on_in_dialog_request(seam, now, call, dialog, new),
                    None => seam.answer_and_forget(
                        now,
                        new.transaction,
                        StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                    ),
                }
            }
            // Not taking new work (a graceful stop): everything that would start something
            // here is refused; what names no dialog of ours still gets its 481 below.
            None if !accepting && !answering::only_in_dialog(config, method) => {
                answering::refuse_unavailable(seam, now, new.transaction)
            }
            None if *method == Method::Invite => self.invites.on_new_invite(seam, now, new),
            None if *method == Method::Subscribe => self.subscriptions.on_new_subscribe(seam, now, None, new),
            None if *method == Method::Refer => self.subscriptions.on_refer(seam, now, None, new),
            None if *method == Method::Options && answering::answers_options(config) => {
                answering::answer_options(seam, now, new.transaction)
            }
            None if config.calls.app_methods.contains(method) => seam.shared.emit(Event::Request {
                transaction: new.transaction,
                request: new.request,
                source: new.source,
                transport: new.transport,
            }),
            None if *method == Method::Message && config.messages.accept => {
                self.pager.on_message(seam, now, new)
            }
            // BYE, PRACK, UPDATE and what we take only inside a call name no dialog of ours
            // (§12.2.2, §15.1.2).
            None if answering::only_in_dialog(config, method) => seam.answer_and_forget(
                now,
                new.transaction,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
            ),
            // Allowed by the policy but handled by nothing outside a dialog.
            None => seam.respond_with_allow(now, new.transaction, StatusCode::METHOD_NOT_ALLOWED),
        }
    }
}
