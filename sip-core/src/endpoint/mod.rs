//! The [`Endpoint`]: one state machine that owns every transaction and connection of a
//! SIP element and applies the transport rules of RFC 3261 §18 and the UAS checks of §8.2.

mod calls;
/// The seeded generator, at the crate root now; this path is kept for the simulator.
pub(crate) use crate::rng;
mod types;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;

use crate::message::builder::push_decimal;
use crate::message::validate::{Rejection, validate_request_core, validate_response_core};
use crate::message::{
    HeaderName, Host, Message, Method, ParseLimits, Request, Response, StatusCode, StreamDecoder, StreamItem,
    Via, response_to_with,
};
use crate::transaction::{
    Action, ClientInvite, ClientInviteState, ClientKey, ClientNonInvite, ServerInvite, ServerInviteState,
    ServerKey, ServerNonInvite, Timer, same_transaction_request,
};

use crate::ids::IdCounter;
use crate::rng::Rng;
use crate::timer_queue::{Armed, TimerQueue};
use crate::transport::Route;
// The shared types live at the crate root; the Endpoint's API names them here too.
pub use crate::config::{EndpointConfig, EndpointLimits, Stats};
pub use crate::error::SendError;
pub use crate::event::Event;
pub use crate::ids::{CallId, FlowId, TransactionId};
pub use crate::transport::{FlowEvent, FlowRequest, Transmit, Transport};
pub use types::{TimerId, Wakeup};

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
/// let mut bob = Endpoint::new(EndpointConfig::new(bob_addr, 2));
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
    config: EndpointConfig,
    /// `config.local` as text, formatted once for every Via we write.
    local_text: String,
    rng: Rng,
    ids: IdCounter,
    // Hash maps: every message and timer looks its transaction up, several times, and
    // a B-tree walk costs more than the rest of a timer action. Never iterated where the
    // order could reach output (`fail_flow` sorts). Entries are boxed: the tables move
    // their values when they grow, and a server entry (with its request) is most of a
    // kilobyte.
    clients: TransactionMap<ClientEntry>,
    servers: TransactionMap<ServerEntry>,
    // Lookup only, never iterated: hash maps cannot leak their order into output. Keyed
    // from the configured seed, not the OS (std's RandomState would draw randomness here).
    client_keys: KeyMap<ClientKey>,
    server_keys: KeyMap<ServerKey>,
    merge_keys: KeyMap<MergeKey>,
    flows: BTreeMap<FlowId, Flow>,
    /// Every timer: transactions' and calls'.
    timers: TimerQueue<TimerId>,
    transmits: VecDeque<Transmit>,
    flow_requests: VecDeque<FlowRequest>,
    events: VecDeque<Event>,
    stats: Stats,
    scratch: Vec<Action>,
    calls: calls::Calls,
}

/// A lookup table from a matching key to its transaction, hashed with foldhash keyed from
/// the Endpoint's seed: deterministic for a seed, unpredictable to peers when the driver
/// seeds from the OS.
type KeyMap<K> = HashMap<K, TransactionId, foldhash::quality::FixedState>;

/// Transactions by id: our own counter values, so the fast hasher suffices.
type TransactionMap<E> = HashMap<TransactionId, Box<E>, foldhash::fast::FixedState>;

#[derive(Debug)]
struct ClientEntry {
    key: ClientKey,
    machine: ClientMachine,
    route: Route,
    armed: Armed<Timer>,
}

/// The INVITE machine keeps its request (for the ACK and CANCEL), so it is boxed: map
/// entries are sized by their largest variant, and most transactions are non-INVITE.
#[derive(Debug)]
enum ClientMachine {
    Invite(Box<ClientInvite>),
    NonInvite(ClientNonInvite),
}

#[derive(Debug)]
struct ServerEntry {
    armed: Armed<Timer>,
    key: ServerKey,
    merge_key: Option<MergeKey>,
    machine: ServerMachine,
    route: Route,
    request: Request,
    to_tag: String,
}

#[derive(Debug)]
enum ServerMachine {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

impl ClientMachine {
    fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        match self {
            ClientMachine::Invite(m) => m.on_timer(timer, now, out),
            ClientMachine::NonInvite(m) => m.on_timer(timer, now, out),
        }
    }

    fn on_response(&mut self, response: Response, now: Instant, out: &mut Vec<Action>) {
        match self {
            ClientMachine::Invite(m) => m.on_response(response, now, out),
            ClientMachine::NonInvite(m) => m.on_response(response, now, out),
        }
    }

    fn on_transport_error(&mut self, out: &mut Vec<Action>) {
        match self {
            ClientMachine::Invite(m) => m.on_transport_error(out),
            ClientMachine::NonInvite(m) => m.on_transport_error(out),
        }
    }
}

impl ServerMachine {
    fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        match self {
            ServerMachine::Invite(m) => m.on_timer(timer, now, out),
            ServerMachine::NonInvite(m) => m.on_timer(timer, now, out),
        }
    }

    fn on_retransmission(&mut self, out: &mut Vec<Action>) {
        match self {
            ServerMachine::Invite(m) => m.on_retransmission(out),
            ServerMachine::NonInvite(m) => m.on_retransmission(out),
        }
    }

    fn respond(&mut self, response: &Response, now: Instant, out: &mut Vec<Action>) -> bool {
        match self {
            ServerMachine::Invite(m) => m.respond(response, now, out),
            ServerMachine::NonInvite(m) => m.respond(response, now, out),
        }
    }

    fn on_transport_error(&mut self, out: &mut Vec<Action>) {
        match self {
            ServerMachine::Invite(m) => m.on_transport_error(out),
            ServerMachine::NonInvite(m) => m.on_transport_error(out),
        }
    }
}

/// RFC 3261 §8.2.2.2: a request without To tag whose From tag, Call-ID and CSeq match a
/// pending one that arrived by another path is a merged request (482).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MergeKey {
    from_tag: ByteString,
    call_id: ByteString,
    cseq: u32,
    method: Method,
}

#[derive(Debug)]
struct Flow {
    transport: Transport,
    remote: SocketAddr,
    decoder: StreamDecoder,
}

/// What the topmost Via of a request about to be sent is: [`Endpoint::prepare_request`]
/// replaces a placeholder (or our own Via from an earlier attempt) and otherwise adds ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopVia {
    /// Our own Via is already on top (dialog requests built with it).
    Ours,
    /// A placeholder, or our own Via from an earlier attempt: replaced.
    Placeholder,
    /// From the application: look.
    Unknown,
}

/// Whose actions are being applied.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Client(TransactionId),
    Server(TransactionId),
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(config: EndpointConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let hasher = foldhash::quality::FixedState::with_seed(rng.next_u64());
        let calls = calls::Calls::new(hasher.clone(), &config);
        Endpoint {
            rng,
            local_text: config.local.to_string(),
            config,
            ids: IdCounter::new(),
            clients: HashMap::with_hasher(foldhash::fast::FixedState::default()),
            servers: HashMap::with_hasher(foldhash::fast::FixedState::default()),
            client_keys: HashMap::with_hasher(hasher.clone()),
            server_keys: HashMap::with_hasher(hasher.clone()),
            merge_keys: HashMap::with_hasher(hasher.clone()),
            calls,
            flows: BTreeMap::new(),
            timers: TimerQueue::default(),
            transmits: VecDeque::new(),
            flow_requests: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            scratch: Vec::new(),
        }
    }

    // ---- getters ----

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Live transactions, client and server.
    pub fn transaction_count(&self) -> usize {
        self.clients.len() + self.servers.len()
    }

    /// Transactions still at work: client ones waiting for a final response, server ones
    /// that have not sent theirs. Those only absorbing retransmissions (Completed,
    /// Confirmed, Accepted) are not counted: this is what a graceful shutdown waits for.
    /// (It walks every transaction: for shutdown and monitoring, not the hot path.)
    pub fn pending_transaction_count(&self) -> usize {
        use crate::transaction::{ClientNonInviteState, ServerNonInviteState};
        let clients = self
            .clients
            .values()
            .filter(|e| match &e.machine {
                ClientMachine::Invite(m) => {
                    matches!(
                        m.state(),
                        ClientInviteState::Calling | ClientInviteState::Proceeding
                    )
                }
                ClientMachine::NonInvite(m) => {
                    matches!(
                        m.state(),
                        ClientNonInviteState::Trying | ClientNonInviteState::Proceeding
                    )
                }
            })
            .count();
        let servers = self
            .servers
            .values()
            .filter(|e| match &e.machine {
                ServerMachine::Invite(m) => m.state() == ServerInviteState::Proceeding,
                ServerMachine::NonInvite(m) => {
                    matches!(
                        m.state(),
                        ServerNonInviteState::Trying | ServerNonInviteState::Proceeding
                    )
                }
            })
            .count();
        clients + servers
    }

    /// Armed timers.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }

    /// The next deadline and the timer behind it — why [`Endpoint::poll_timeout`] says what
    /// it says.
    pub fn next_wakeup(&self) -> Option<Wakeup> {
        self.timers.first().map(|(at, timer)| Wakeup { at, timer })
    }

    /// A fresh random token (for tags and Call-IDs), from the seeded generator.
    pub fn random_token(&mut self, len: usize) -> String {
        self.rng.token(len)
    }

    /// An id for a connection the driver accepted; report it with
    /// [`FlowEvent::Accepted`].
    pub fn new_flow_id(&mut self) -> FlowId {
        FlowId(self.fresh_id())
    }

    // ---- outputs ----

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next connection to open or close.
    pub fn poll_flow_request(&mut self) -> Option<FlowRequest> {
        self.flow_requests.pop_front()
    }

    /// The next event for the transaction user.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest instant [`Endpoint::handle_timeout`] has work; `None` when idle.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| at)
    }

    // ---- inputs ----

    /// A UDP datagram arrived at `local` from `remote`. (One address per Endpoint today:
    /// `local` is taken for multi-homed endpoints to come and not used yet.)
    pub fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, payload: Bytes) {
        let _ = local;
        self.stats.received += 1;
        let limits = ParseLimits {
            max_message_size: self.config.limits.max_message_size,
            ..ParseLimits::default()
        };
        let route = Route {
            transport: Transport::Udp,
            flow: None,
            remote,
        };
        match Message::parse_with_limits(payload.clone(), &limits) {
            Ok(Message::Request(request)) => self.handle_request(now, request, route),
            Ok(Message::Response(response)) => self.handle_response(now, response),
            Err(error) => {
                self.stats.invalid += 1;
                self.stateless_bad_request(&payload, &error.to_string(), route);
            }
        }
        self.dispatch(now);
    }

    /// Bytes arrived on connection `flow`. The Endpoint frames messages by Content-Length,
    /// answers CRLF keep-alive pings, and asks to close the flow on a framing error.
    pub fn handle_stream_data(&mut self, now: Instant, flow: FlowId, data: &[u8]) {
        let Some(state) = self.flows.get_mut(&flow) else {
            return;
        };
        state.decoder.push(data);
        let route = Route {
            transport: state.transport,
            flow: Some(flow),
            remote: state.remote,
        };
        loop {
            let Some(state) = self.flows.get_mut(&flow) else {
                return;
            };
            match state.decoder.next_item() {
                Ok(None) => return,
                Ok(Some(StreamItem::Message(message))) => {
                    self.stats.received += 1;
                    match message {
                        Message::Request(request) => self.handle_request(now, request, route),
                        Message::Response(response) => self.handle_response(now, response),
                    }
                    self.dispatch(now);
                }
                Ok(Some(StreamItem::Invalid(_))) => {
                    self.stats.received += 1;
                    self.stats.invalid += 1;
                }
                // RFC 5626 §4.4.1: answer a ping with a pong.
                Ok(Some(StreamItem::KeepAlivePing)) => self.transmit(route, Bytes::from_static(b"\r\n")),
                Ok(Some(StreamItem::KeepAlivePong)) => {}
                Err(_) => {
                    self.stats.invalid += 1;
                    self.fail_flow(flow);
                    self.flow_requests.push_back(FlowRequest::Close { flow });
                    return;
                }
            }
        }
    }

    /// Something happened to a connection.
    pub fn handle_flow_event(&mut self, now: Instant, flow: FlowId, event: FlowEvent) {
        match event {
            FlowEvent::Accepted { transport, remote } => {
                if self.flows.len() >= self.config.limits.max_flows {
                    self.flow_requests.push_back(FlowRequest::Close { flow });
                    return;
                }
                self.flows
                    .insert(flow, Flow::new(transport, remote, &self.config));
            }
            FlowEvent::Connected => {}
            FlowEvent::Closed | FlowEvent::Failed => self.fail_flow(flow),
        }
        self.dispatch(now);
    }

    /// Fires every timer due at `now`; harmless when none is.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Transaction and call timers fire in deadline order, from one queue.
        while let Some(due) = self.timers.pop_due(now) {
            match due {
                TimerId::Transaction { transaction, timer } => {
                    self.fire_transaction_timer(now, transaction, timer)
                }
                TimerId::Call { call, timer } => self.fire_call_timer(now, call, timer),
            }
            self.dispatch(now);
        }
    }

    fn fire_transaction_timer(&mut self, now: Instant, id: TransactionId, timer: Timer) {
        let mut out = std::mem::take(&mut self.scratch);
        let owner = if let Some(entry) = self.clients.get_mut(&id) {
            entry.armed.fired(timer);
            entry.machine.on_timer(timer, now, &mut out);
            Owner::Client(id)
        } else if let Some(entry) = self.servers.get_mut(&id) {
            entry.armed.fired(timer);
            entry.machine.on_timer(timer, now, &mut out);
            Owner::Server(id)
        } else {
            self.scratch = out;
            return;
        };
        // Whatever a timer sends is a retransmission (A, E, G).
        let retransmissions = out.iter().filter(|a| matches!(a, Action::Transmit(_))).count();
        self.stats.retransmitted += retransmissions as u64;
        self.apply(owner, &mut out);
        self.scratch = out;
    }

    // ---- commands ----

    /// Sends `request` to `destination` in a new client transaction. The Endpoint puts its
    /// own Via on top (replacing a topmost Via without the magic cookie, such as a
    /// placeholder), with a fresh branch and `rport` (RFC 3581), fills Max-Forwards (70),
    /// User-Agent and Content-Length when absent, and moves a UDP request within 200 bytes
    /// of the MTU to TCP (RFC 3261 §18.1.1).
    pub fn send_request(
        &mut self,
        now: Instant,
        mut request: Request,
        destination: SocketAddr,
        transport: Transport,
    ) -> Result<TransactionId, SendError> {
        if matches!(request.method, Method::Ack) {
            return Err(SendError::InvalidRequest(
                "an ACK is not a transaction: use send_stateless".into(),
            ));
        }
        if self.transaction_count() >= self.config.limits.max_transactions {
            return Err(SendError::TooManyTransactions);
        }
        let branch = self.new_branch();
        let mut transport = transport;
        self.prepare_request(&mut request, &branch, transport, TopVia::Unknown);
        if transport == Transport::Udp && request.encoded_len() + 200 > self.config.mtu {
            transport = Transport::Tcp;
            self.prepare_request(&mut request, &branch, transport, TopVia::Placeholder);
        }
        let flow = match transport {
            Transport::Udp => None,
            _ => Some(self.connect(transport, destination)?),
        };
        let route = Route {
            transport,
            flow,
            remote: destination,
        };
        let result = self.start_client(now, request, branch, route);
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
        let entry = self
            .clients
            .get(&invite)
            .ok_or(SendError::UnknownTransaction(invite))?;
        let ClientMachine::Invite(machine) = &entry.machine else {
            return Err(SendError::InvalidState(invite));
        };
        if machine.state() != ClientInviteState::Proceeding {
            return Err(SendError::InvalidState(invite));
        }
        let route = entry.route;
        // The CANCEL's top Via is the INVITE's, branch included (§9.1).
        let branch = entry.key.branch.clone();
        let original = machine.request();
        let to = original.headers.get(HeaderName::To).unwrap_or_default();
        let cancel = same_transaction_request(original, Method::Cancel, to);
        let result = self.start_client(now, cancel, branch, route);
        self.dispatch(now);
        result
    }

    /// Sends a request outside any transaction (the ACK for a 2xx, RFC 3261 §13.2.2.4),
    /// with the Endpoint's Via.
    pub fn send_stateless(&mut self, now: Instant, mut request: Request, destination: SocketAddr) {
        let _ = now;
        let branch = self.new_branch();
        self.prepare_request(&mut request, &branch, Transport::Udp, TopVia::Unknown);
        let route = Route {
            transport: Transport::Udp,
            flow: None,
            remote: destination,
        };
        self.transmit(route, request.to_bytes());
    }

    /// A response to server transaction `transaction`'s request: Via, From, To, Call-ID and
    /// CSeq copied (RFC 3261 §8.2.6) with this transaction's To tag.
    pub fn response(&self, transaction: TransactionId, status: StatusCode) -> Result<Response, SendError> {
        self.response_with(transaction, status, [], Bytes::new())
    }

    /// [`Endpoint::response`] with `extra` headers and `body` written at once.
    pub(crate) fn response_with<'a>(
        &'a self,
        transaction: TransactionId,
        status: StatusCode,
        extra: impl IntoIterator<Item = (HeaderName, &'a str)>,
        body: Bytes,
    ) -> Result<Response, SendError> {
        let entry = self
            .servers
            .get(&transaction)
            .ok_or(SendError::UnknownTransaction(transaction))?;
        let tag = (status.as_u16() != 100).then_some(entry.to_tag.as_str());
        let server = self
            .config
            .user_agent
            .as_deref()
            .map(|agent| (HeaderName::Server, agent));
        Ok(response_to_with(
            &entry.request,
            status,
            None,
            tag,
            server.into_iter().chain(extra),
            body,
        ))
    }

    /// Sends `response` in server transaction `transaction`.
    pub fn respond(
        &mut self,
        now: Instant,
        transaction: TransactionId,
        response: Response,
    ) -> Result<(), SendError> {
        let entry = self
            .servers
            .get_mut(&transaction)
            .ok_or(SendError::UnknownTransaction(transaction))?;
        let mut out = std::mem::take(&mut self.scratch);
        let accepted = entry.machine.respond(&response, now, &mut out);
        if accepted && response.status.is_final() {
            // A final response ends the window in which a merged request is detected.
            if let Some(merge_key) = entry.merge_key.take() {
                self.merge_keys.remove(&merge_key);
            }
        }
        self.apply(Owner::Server(transaction), &mut out);
        self.scratch = out;
        self.dispatch(now);
        if accepted {
            Ok(())
        } else {
            Err(SendError::InvalidState(transaction))
        }
    }

    // ---- internals ----

    fn fresh_id(&mut self) -> u64 {
        self.ids.next()
    }

    /// A fresh RFC 3261 branch: the magic cookie and 20 random characters.
    fn new_branch(&mut self) -> ByteString {
        let mut branch = String::with_capacity(27);
        branch.push_str(crate::message::MAGIC_COOKIE);
        self.rng.push_token(&mut branch, 20);
        ByteString::from(branch)
    }

    /// Our Via for a request sent over `transport` in the transaction of `branch`, with
    /// `rport` (RFC 3581). Exactly the room it takes: a buffer without spare room becomes a
    /// shared buffer without another allocation.
    pub(crate) fn our_via(&self, branch: &str, transport: Transport) -> String {
        let transport_text = transport.as_str();
        let mut via = String::with_capacity(
            "SIP/2.0/ ;branch=;rport".len() + transport_text.len() + self.local_text.len() + branch.len(),
        );
        via.push_str("SIP/2.0/");
        via.push_str(transport_text);
        via.push(' ');
        via.push_str(&self.local_text);
        via.push_str(";branch=");
        via.push_str(branch);
        via.push_str(";rport");
        via
    }

    /// Puts our Via (with `branch`) on top of a request we send and fills in what it lacks
    /// (Max-Forwards, User-Agent, Content-Length). `top` says what its topmost Via is.
    fn prepare_request(&self, request: &mut Request, branch: &str, transport: Transport, top: TopVia) {
        let replace = match top {
            TopVia::Ours => None,
            TopVia::Placeholder => Some(true),
            // Decided on the text (parsing our own Via on every send would cost more than
            // the rest of this): a top Via without the magic cookie is a placeholder, and
            // one with this very branch is ours from an earlier attempt (the UDP→TCP switch).
            TopVia::Unknown => Some(match request.headers.values(HeaderName::Via).next() {
                None => false,
                Some(top) => {
                    let finder =
                        |needle: &str| memchr::memmem::find(top.as_bytes(), needle.as_bytes()).is_some();
                    !finder(crate::message::MAGIC_COOKIE) || finder(branch)
                }
            }),
        };
        if let Some(replace) = replace {
            let via = ByteString::from(self.our_via(branch, transport));
            if replace {
                // In place: the index of the other headers stays as it is.
                request.headers.replace_first_value(HeaderName::Via, via);
            } else {
                request.headers.push_front(HeaderName::Via, via);
            }
        }
        if !request.headers.contains(HeaderName::MaxForwards) {
            request
                .headers
                .push(HeaderName::MaxForwards, ByteString::from_static("70"));
        }
        if let Some(agent) = &self.config.user_agent {
            if !request.headers.contains(HeaderName::UserAgent) {
                request
                    .headers
                    .push(HeaderName::UserAgent, ByteString::from(agent.as_str()));
            }
        }
        if !request.headers.contains(HeaderName::ContentLength) {
            request.headers.push(
                HeaderName::ContentLength,
                ByteString::from(request.body.len().to_string()),
            );
        }
    }

    fn connect(&mut self, transport: Transport, remote: SocketAddr) -> Result<FlowId, SendError> {
        // Reuse a connection to the same peer (RFC 3261 §18.1.1 allows it; RFC 5923 spirit).
        if let Some((&id, _)) = self
            .flows
            .iter()
            .find(|(_, f)| f.transport == transport && f.remote == remote)
        {
            return Ok(id);
        }
        if self.flows.len() >= self.config.limits.max_flows {
            return Err(SendError::TooManyFlows);
        }
        let flow = FlowId(self.fresh_id());
        self.flows
            .insert(flow, Flow::new(transport, remote, &self.config));
        self.flow_requests.push_back(FlowRequest::Connect {
            flow,
            transport,
            remote,
        });
        Ok(flow)
    }

    /// Starts a client transaction for `request`, whose top Via carries `branch` (the key is
    /// built from what we wrote rather than by parsing our own Via back).
    fn start_client(
        &mut self,
        now: Instant,
        request: Request,
        branch: ByteString,
        route: Route,
    ) -> Result<TransactionId, SendError> {
        let key = ClientKey {
            branch,
            method: request.method.clone(),
        };
        let id = TransactionId(self.fresh_id());
        let mut out = std::mem::take(&mut self.scratch);
        let reliable = route.transport.is_reliable();
        let machine = if request.method == Method::Invite {
            ClientMachine::Invite(Box::new(ClientInvite::start(
                request,
                reliable,
                self.config.timers,
                now,
                &mut out,
            )))
        } else {
            ClientMachine::NonInvite(ClientNonInvite::start(
                &request,
                reliable,
                self.config.timers,
                now,
                &mut out,
            ))
        };
        self.client_keys.insert(key.clone(), id);
        self.clients.insert(
            id,
            Box::new(ClientEntry {
                key,
                machine,
                route,
                armed: Armed::default(),
            }),
        );
        self.apply(Owner::Client(id), &mut out);
        self.scratch = out;
        Ok(id)
    }

    fn handle_request(&mut self, now: Instant, mut request: Request, route: Route) {
        // Every request but an ACK is validated (§8.2) once, up front; the top Via that
        // validation parsed also serves matching and the received/rport rewrite, so the
        // common path parses each core header once. ACKs are only matched (§17.2.3).
        let mut validation =
            (request.method != Method::Ack).then(|| validate_request_core(&request, &self.config.policy));
        let top_via = match &mut validation {
            Some(Ok(core)) => core.top_via.take(),
            _ => request.headers.top_via().and_then(Result::ok),
        };
        // The key comes from the Via as sent (received/rport do not change branch or sent-by).
        let key = match &top_via {
            Some(via) => ServerKey::with_top_via(&request, via),
            None => ServerKey::from_request(&request),
        };
        let reply_to = match &top_via {
            Some(via) => mark_received(&mut request, via, route.remote),
            None => route.remote,
        };
        let route = Route {
            remote: if route.flow.is_some() {
                route.remote
            } else {
                reply_to
            },
            ..route
        };
        let Ok(key) = key else {
            self.stats.invalid += 1;
            self.stateless_reject(
                &request,
                &Rejection::for_status(StatusCode::BAD_REQUEST, "bad Via"),
                route,
            );
            return;
        };
        let Some(validation) = validation else {
            self.handle_ack(now, request, key, route.remote);
            return;
        };
        if let Some(&id) = self.server_keys.get(&key) {
            // A retransmission: the transaction answers it (RFC 3261 §17.2.1, §17.2.2).
            let mut out = std::mem::take(&mut self.scratch);
            if let Some(entry) = self.servers.get_mut(&id) {
                entry.machine.on_retransmission(&mut out);
            }
            if out.is_empty() {
                self.stats.dropped += 1;
            }
            self.stats.retransmitted += out.len() as u64;
            self.apply(Owner::Server(id), &mut out);
            self.scratch = out;
            return;
        }
        if self.transaction_count() >= self.config.limits.max_transactions {
            let mut rejection =
                Rejection::for_status(StatusCode::SERVICE_UNAVAILABLE, "too many transactions");
            rejection
                .headers
                .push((HeaderName::RetryAfter, self.config.retry_after.to_string()));
            self.stateless_reject(&request, &rejection, route);
            return;
        }
        let core = match validation {
            Ok(core) => core,
            Err(rejection) => {
                self.reject_in_transaction(now, request, key, route, &rejection);
                return;
            }
        };
        if request.method == Method::Cancel {
            self.handle_cancel(now, request, key, route);
            return;
        }
        // RFC 3261 §8.2.2.2: only requests outside a dialog (no To tag) can be merged.
        let merge_key = match (&core.to_tag, &core.from_tag) {
            (None, Some(from_tag)) => Some(MergeKey {
                from_tag: from_tag.clone(),
                call_id: core.call_id.clone(),
                cseq: core.cseq.seq,
                method: core.cseq.method.clone(),
            }),
            _ => None,
        };
        if let Some(merge) = &merge_key {
            if self.merge_keys.contains_key(merge) {
                let rejection = Rejection::for_status(StatusCode::LOOP_DETECTED, "merged request");
                self.reject_in_transaction(now, request, key, route, &rejection);
                return;
            }
        }
        // The request's own To tag (in a dialog), else a fresh one for our responses.
        let to_tag = match &core.to_tag {
            Some(tag) => tag.to_string(),
            None => self.rng.token(10),
        };
        let id = self.new_server(request.clone(), key, merge_key, route, to_tag);
        self.emit(Event::Request {
            transaction: id,
            request,
            source: route.remote,
            transport: route.transport,
        });
        let is_invite = matches!(
            self.servers.get(&id).map(|e| &e.machine),
            Some(ServerMachine::Invite(_))
        );
        if is_invite && self.config.send_trying {
            if let Ok(trying) = self.response(id, StatusCode::TRYING) {
                let _ = self.respond(now, id, trying);
            }
        }
    }

    /// The To tag for our responses to a request that was not validated (or failed to be):
    /// its own, when it carries one, else a fresh one.
    fn response_to_tag(&mut self, request: &Request) -> String {
        request
            .headers
            .to_addr()
            .and_then(Result::ok)
            .and_then(|to| to.tag().map(str::to_owned))
            .unwrap_or_else(|| self.rng.token(10))
    }

    fn new_server(
        &mut self,
        request: Request,
        key: ServerKey,
        merge_key: Option<MergeKey>,
        route: Route,
        to_tag: String,
    ) -> TransactionId {
        let id = TransactionId(self.fresh_id());
        let reliable = route.transport.is_reliable();
        let machine = if request.method == Method::Invite {
            ServerMachine::Invite(ServerInvite::new(reliable, self.config.timers))
        } else {
            ServerMachine::NonInvite(ServerNonInvite::new(reliable, self.config.timers))
        };
        self.server_keys.insert(key.clone(), id);
        if let Some(merge) = &merge_key {
            self.merge_keys.insert(merge.clone(), id);
        }
        self.servers.insert(
            id,
            Box::new(ServerEntry {
                armed: Armed::default(),
                key,
                merge_key,
                machine,
                route,
                request,
                to_tag,
            }),
        );
        id
    }

    /// Answers a request that failed validation inside a transaction of its own, so its
    /// retransmissions get the same answer.
    fn reject_in_transaction(
        &mut self,
        now: Instant,
        request: Request,
        key: ServerKey,
        route: Route,
        rejection: &Rejection,
    ) {
        self.stats.rejected += 1;
        let to_tag = self.response_to_tag(&request);
        let id = self.new_server(request, key, None, route, to_tag);
        let Some(entry) = self.servers.get(&id) else {
            return;
        };
        let response = rejection.to_response(&entry.request, &self.agent(), Some(&entry.to_tag));
        let _ = self.respond(now, id, response);
    }

    fn handle_cancel(&mut self, now: Instant, cancel: Request, key: ServerKey, route: Route) {
        let target = ServerKey::cancelled_invite(&cancel)
            .ok()
            .and_then(|invite_key| self.server_keys.get(&invite_key).copied());
        let to_tag = self.response_to_tag(&cancel);
        let cancel_id = self.new_server(cancel, key, None, route, to_tag);
        let Some(invite_id) = target else {
            // RFC 3261 §9.2: no matching transaction → 481.
            if let Ok(response) = self.response(cancel_id, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST) {
                let _ = self.respond(now, cancel_id, response);
            }
            return;
        };
        if let Ok(ok) = self.response(cancel_id, StatusCode::OK) {
            let _ = self.respond(now, cancel_id, ok);
        }
        let pending = matches!(
            self.servers.get(&invite_id).map(|e| &e.machine),
            Some(ServerMachine::Invite(m)) if m.state() == ServerInviteState::Proceeding
        );
        if pending {
            if let Ok(terminated) = self.response(invite_id, StatusCode::REQUEST_TERMINATED) {
                let _ = self.respond(now, invite_id, terminated);
            }
            self.emit(Event::Cancelled {
                transaction: invite_id,
            });
        }
    }

    fn handle_ack(&mut self, now: Instant, ack: Request, key: ServerKey, source: SocketAddr) {
        let Some(&id) = self.server_keys.get(&key) else {
            self.emit(Event::Ack { request: ack, source });
            return;
        };
        let mut out = std::mem::take(&mut self.scratch);
        if let Some(ServerEntry {
            machine: ServerMachine::Invite(machine),
            key,
            ..
        }) = self.servers.get_mut(&id).map(|entry| &mut **entry)
        {
            // RFC 2543 ACKs match on the To tag of the response we sent (§17.2.3).
            let tag_matches = !matches!(key, ServerKey::Legacy { .. })
                || ack
                    .headers
                    .to_addr()
                    .and_then(Result::ok)
                    .is_some_and(|to| to.tag() == machine.final_to_tag());
            if tag_matches {
                machine.on_ack(ack, now, &mut out);
            }
        }
        self.apply(Owner::Server(id), &mut out);
        self.scratch = out;
    }

    fn handle_response(&mut self, now: Instant, response: Response) {
        // RFC 3261 §8.1.3.3 / §18.1.2: exactly one Via, and well-formed basics.
        let Ok((via, cseq)) = validate_response_core(&response) else {
            self.stats.dropped += 1;
            return;
        };
        let Some(branch) = via.branch() else {
            self.stats.dropped += 1;
            return;
        };
        let key = ClientKey {
            branch: response.headers.share(branch),
            method: cseq.method,
        };
        let Some(&id) = self.client_keys.get(&key) else {
            if key.method == Method::Invite && response.status.is_success() {
                self.emit(Event::StrayInviteSuccess { response });
            } else {
                self.stats.dropped += 1;
            }
            return;
        };
        let mut out = std::mem::take(&mut self.scratch);
        if let Some(entry) = self.clients.get_mut(&id) {
            entry.machine.on_response(response, now, &mut out);
        }
        if out.is_empty() {
            self.stats.dropped += 1;
        }
        self.apply(Owner::Client(id), &mut out);
        self.scratch = out;
    }

    /// Carries out a transaction's actions.
    fn apply(&mut self, owner: Owner, out: &mut Vec<Action>) {
        let (id, route) = match owner {
            Owner::Client(id) => (id, self.clients.get(&id).map(|e| e.route)),
            Owner::Server(id) => (id, self.servers.get(&id).map(|e| e.route)),
        };
        for action in out.drain(..) {
            match action {
                Action::Transmit(payload) => {
                    if let Some(route) = route {
                        self.transmit(route, payload);
                    }
                }
                Action::SetTimer(timer, at) => {
                    if let Some(armed) = armed_of(&mut self.clients, &mut self.servers, owner) {
                        armed.set(&mut self.timers, transaction_timer(id), timer, at);
                    }
                }
                Action::CancelTimer(timer) => {
                    if let Some(armed) = armed_of(&mut self.clients, &mut self.servers, owner) {
                        armed.cancel(&mut self.timers, transaction_timer(id), timer);
                    }
                }
                Action::Response(response) => self.emit(Event::Response {
                    transaction: id,
                    response,
                }),
                Action::Ack(request) => self.emit(Event::Ack {
                    request,
                    source: route.map_or(self.config.local, |r| r.remote),
                }),
                Action::Timeout(timer) => self.emit(Event::Timeout {
                    transaction: id,
                    timer,
                }),
                Action::TransportError => self.emit(Event::TransportError { transaction: id }),
                Action::Terminated => self.forget(owner),
            }
        }
    }

    fn forget(&mut self, owner: Owner) {
        let id = match owner {
            Owner::Client(id) => {
                if let Some(mut entry) = self.clients.remove(&id) {
                    entry.armed.clear(&mut self.timers, transaction_timer(id));
                    self.client_keys.remove(&entry.key);
                }
                id
            }
            Owner::Server(id) => {
                if let Some(mut entry) = self.servers.remove(&id) {
                    entry.armed.clear(&mut self.timers, transaction_timer(id));
                    if self.server_keys.get(&entry.key) == Some(&id) {
                        self.server_keys.remove(&entry.key);
                    }
                    if let Some(merge) = entry.merge_key {
                        self.merge_keys.remove(&merge);
                    }
                }
                id
            }
        };
        self.emit(Event::Terminated { transaction: id });
    }

    fn transmit(&mut self, route: Route, payload: Bytes) {
        self.stats.sent += 1;
        self.transmits.push_back(Transmit {
            transport: route.transport,
            flow: route.flow,
            local: self.config.local,
            remote: route.remote,
            payload,
        });
    }

    /// Every transaction using a flow that failed gets a transport error (§18.4). Flow
    /// failures are rare, so a scan of the transactions is fine here.
    fn fail_flow(&mut self, flow: FlowId) {
        self.flows.remove(&flow);
        // Client transactions first, each kind oldest first: the maps' order is arbitrary.
        let clients = ids_on_flow(&self.clients, |e| e.route, flow);
        let servers = ids_on_flow(&self.servers, |e| e.route, flow);
        let owners = clients
            .into_iter()
            .map(Owner::Client)
            .chain(servers.into_iter().map(Owner::Server));
        for owner in owners {
            let mut out = Vec::new();
            match owner {
                Owner::Client(id) => {
                    if let Some(entry) = self.clients.get_mut(&id) {
                        entry.machine.on_transport_error(&mut out);
                    }
                }
                Owner::Server(id) => {
                    if let Some(entry) = self.servers.get_mut(&id) {
                        entry.machine.on_transport_error(&mut out);
                    }
                }
            }
            self.apply(owner, &mut out);
        }
    }

    fn agent(&self) -> String {
        self.config
            .user_agent
            .clone()
            .unwrap_or_else(|| self.config.local.to_string())
    }

    fn stateless_reject(&mut self, request: &Request, rejection: &Rejection, route: Route) {
        self.stats.rejected += 1;
        if request.method == Method::Ack {
            return;
        }
        let tag = self.rng.token(10);
        let response = rejection.to_response(request, &self.agent(), Some(&tag));
        self.transmit(route, response.to_bytes());
    }

    /// A request that did not parse but whose Via, From, To, Call-ID and CSeq lines can be
    /// found gets a stateless 400 naming the problem (RFC 3261 §8.2, DESIGN "Bad input").
    fn stateless_bad_request(&mut self, payload: &[u8], problem: &str, route: Route) {
        let Some(response) = salvage_400(payload, problem, &self.agent()) else {
            self.stats.dropped += 1;
            return;
        };
        self.stats.rejected += 1;
        let route = match response.1 {
            Some(reply_to) if route.flow.is_none() => Route {
                remote: reply_to,
                ..route
            },
            _ => route,
        };
        self.transmit(route, response.0);
    }
}

/// The armed timers of a transaction (a free function so the maps and the timer queue can
/// be borrowed at once).
/// The transactions of `map` whose messages go over `flow`, oldest first.
fn ids_on_flow<E>(map: &TransactionMap<E>, route: impl Fn(&E) -> Route, flow: FlowId) -> Vec<TransactionId> {
    let mut ids: Vec<TransactionId> = map
        .iter()
        .filter(|(_, entry)| route(entry).flow == Some(flow))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    ids
}

/// The queue key of transaction `id`'s timers.
fn transaction_timer(id: TransactionId) -> impl Fn(Timer) -> TimerId {
    move |timer| TimerId::Transaction {
        transaction: id,
        timer,
    }
}

fn armed_of<'a>(
    clients: &'a mut TransactionMap<ClientEntry>,
    servers: &'a mut TransactionMap<ServerEntry>,
    owner: Owner,
) -> Option<&'a mut Armed<Timer>> {
    match owner {
        Owner::Client(id) => clients.get_mut(&id).map(|e| &mut e.armed),
        Owner::Server(id) => servers.get_mut(&id).map(|e| &mut e.armed),
    }
}

impl Flow {
    fn new(transport: Transport, remote: SocketAddr, config: &EndpointConfig) -> Self {
        Flow {
            transport,
            remote,
            decoder: StreamDecoder::with_limits(ParseLimits {
                max_message_size: config.limits.max_message_size,
                ..ParseLimits::default()
            }),
        }
    }
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: note where the request really came from in its top
/// Via (`received` when the sent-by host differs; `rport` filled in when asked), and work
/// out where responses go (§18.2.2, RFC 3581 §4).
pub(crate) fn mark_received(request: &mut Request, via: &Via, source: SocketAddr) -> SocketAddr {
    let sent_by_ip = match via.host() {
        Host::Ipv4(address) => Some(IpAddr::V4(address)),
        Host::Ipv6(address) => Some(IpAddr::V6(address)),
        Host::Domain(_) => None,
    };
    // One pass over the parameters for both (this runs for every request received).
    let (mut rport, mut received) = (None, None);
    // Where the first `rport` name ends in the Via text: a bare one gets its value there.
    let mut rport_end = 0;
    let text = via.as_str();
    for (name, value) in via.params().iter() {
        if rport.is_none() && name.eq_ignore_ascii_case("rport") {
            rport = Some(value);
            rport_end = (name.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize) + name.len();
        } else if received.is_none() && name.eq_ignore_ascii_case("received") {
            received = Some(value);
        }
    }
    let wants_rport = rport == Some(None);
    let needs_received = sent_by_ip != Some(source.ip()) || wants_rport;
    let reply_to = if wants_rport {
        source
    } else {
        SocketAddr::new(source.ip(), via.port().unwrap_or(5060))
    };
    if needs_received || wants_rport {
        let mut value = String::with_capacity(via.as_str().len() + 40);
        match (wants_rport, text.get(..rport_end), text.get(rport_end..)) {
            // The bare `rport` becomes `rport=<port>`.
            (true, Some(head), Some(tail)) => {
                value.push_str(head);
                value.push('=');
                push_decimal(&mut value, u32::from(source.port()));
                value.push_str(tail);
            }
            _ => value.push_str(text),
        }
        if needs_received && received.flatten().is_none() {
            value.push_str(";received=");
            push_ip(&mut value, source.ip());
        }
        request
            .headers
            .replace_first_value(HeaderName::Via, ByteString::from(value));
    }
    reply_to
}

/// Appends `ip` as text (IPv4 without going through `fmt`, which costs more than the rest of
/// the Via rewrite).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, u32::from(octet));
            }
        }
        IpAddr::V6(v6) => out.push_str(&v6.to_string()),
    }
}

/// Builds a stateless 400 for bytes that did not parse, copying the Via, From, To, Call-ID
/// and CSeq lines found in them; `None` when no Via can be read (then nothing can be sent)
/// or the bytes look like a response. Also returns where to send it (the Via's sent-by
/// port at the source, like §18.2.2).
fn salvage_400(payload: &[u8], problem: &str, agent: &str) -> Option<(Bytes, Option<SocketAddr>)> {
    let text = String::from_utf8_lossy(payload);
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.lines();
    let first = lines.next()?;
    if first.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/")) {
        return None;
    }
    let wanted = [
        (HeaderName::Via, "Via"),
        (HeaderName::From, "From"),
        (HeaderName::To, "To"),
        (HeaderName::CallId, "Call-ID"),
        (HeaderName::CSeq, "CSeq"),
    ];
    let mut copied: Vec<(HeaderName, &str)> = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = HeaderName::parse(name.trim());
        if wanted.iter().any(|(w, _)| *w == name) {
            copied.push((name, value.trim()));
        }
    }
    if !copied.iter().any(|(n, _)| *n == HeaderName::Via) {
        return None;
    }
    let mut out = String::from("SIP/2.0 400 Bad Request\r\n");
    for (name, spelled) in wanted {
        for (_, value) in copied.iter().filter(|(n, _)| *n == name) {
            if value.contains(['\r', '\n']) {
                continue;
            }
            out.push_str(spelled);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
    }
    let problem = problem.replace(['"', '\\', '\r', '\n'], "'");
    out.push_str(&format!(
        "Warning: 399 {agent} \"{problem}\"\r\nContent-Length: 0\r\n\r\n"
    ));
    Some((Bytes::from(out), None))
}
