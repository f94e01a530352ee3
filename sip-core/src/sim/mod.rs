//! A deterministic, seeded network of [`Endpoint`]s in virtual time, and a ladder renderer.
//!
//! The network reads the real clock once, for the origin of its virtual clock (an `Instant`
//! cannot be made otherwise); ladders show times relative to it, so runs compare byte for
//! byte. Links have latency, jitter, loss, duplication and reordering, all drawn from one seeded
//! generator; scripted losses ([`Network::lose`]) pin down a scenario exactly. The clock
//! jumps to the next delivery or timer, so a 32-second timeout takes microseconds. Every
//! datagram delivered, lost or duplicated becomes one line of the [`Network::ladder`]:
//!
//! ```text
//!     10 alice  -> bob    OPTIONS sip:bob@192.0.2.2 SIP/2.0  (1 OPTIONS) b1
//!     20 bob    -> alice  SIP/2.0 200 OK  (1 OPTIONS) b1
//! ```
//!
//! Connections (TCP, TLS, WebSocket) are simulated too: a connection request opens both ends
//! at once, and what is written arrives whole and in order after the link latency
//! (marked `[TCP]` in the ladder).
//!
//! Application logic runs in per-node handlers called with each event; commands from the
//! test itself go through [`Network::on`], which runs them at the current virtual time and
//! sends what they queued.
//!
//! A zone of DNS records ([`Network::dns_records`]) answers every endpoint's RFC 3263
//! questions after [`Network::dns_latency`], each question and answer a ladder line
//! (`alice -> dns  NAPTR example.com`), so a call to a name shows how it was located.
//!
//! For calls between two user agents, [`harness::Pair`] sets up Alice and Bob and runs
//! until a call reaches a state or reports an event, failing clearly instead of hanging.
//!
//! Besides endpoints, a network can hold relays ([`Network::add_relay`]): stateless,
//! Record-Routing proxies (RFC 3261 §16.11) whose forwarded messages are ladder lines like any
//! other, so a call through a relay shows both legs and proves that requests follow Route.
//!
//! ```
//! use sip_core::endpoint::{Event, Transport};
//! use sip_core::message::{Method, RequestBuilder, StatusCode, Uri};
//! use sip_core::sim::Network;
//!
//! let mut net = Network::new(7);
//! let alice = net.add_node("alice", "192.0.2.1:5060".parse().unwrap());
//! let bob = net.add_node("bob", "192.0.2.2:5060".parse().unwrap());
//! net.set_handler(bob, |endpoint, event, now| {
//!     if let Event::Request { transaction, .. } = event {
//!         let ok = endpoint.response(transaction, StatusCode::OK).unwrap();
//!         endpoint.respond(now, transaction, ok).unwrap();
//!     }
//! });
//! let options = RequestBuilder::new(Method::Options, Uri::parse("sip:bob@192.0.2.2").unwrap())
//!     .via("SIP/2.0/UDP placeholder").from("<sip:alice@192.0.2.1>;tag=a")
//!     .to("<sip:bob@192.0.2.2>").call_id("c").cseq(1).build().unwrap();
//! net.send_request(alice, options, bob, Transport::Udp).unwrap();
//! net.run_until_idle().unwrap();
//! assert!(net.events(alice).iter().any(|(_, e)| matches!(e, Event::Response { response, .. } if response.status == StatusCode::OK)));
//! assert_eq!(net.endpoint(alice).transaction_count(), 0);
//! ```

use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::dns::{DnsAnswer, DnsError, DnsQuery, DnsRecords, RecordType};
use crate::endpoint::{
    Endpoint, EndpointConfig, Event, FlowEvent, FlowId, FlowRequest, SendError, TransactionId, Transport,
};
use crate::message::{Message, Request};
use crate::rng::Rng;

pub mod harness;
mod relay;

use relay::Relay;
pub use relay::{DropReason, RelayConfig, RelayDrop};

/// A node of the [`Network`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(usize);

/// A link's behaviour, one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// One-way delay.
    pub latency: Duration,
    /// Extra delay, uniform in `[0, jitter)`.
    pub jitter: Duration,
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability a datagram is held back by an extra `latency` (so later ones overtake it).
    pub reorder: f64,
}

impl Default for LinkConfig {
    /// 10 ms, no jitter, no loss.
    fn default() -> Self {
        LinkConfig {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
        }
    }
}

/// [`Network::run_until_idle`] took more steps than its bound: something loops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no quiescence after {steps} steps (livelock?)")]
pub struct Livelock {
    /// The steps taken.
    pub steps: usize,
}

type Handler = Box<dyn FnMut(&mut Endpoint, Event, Instant)>;

struct Node {
    name: String,
    addr: SocketAddr,
    /// The endpoint's advertised address, when it has one: what is sent there reaches it
    /// too, as through a port-forwarding NAT.
    advertised: Option<SocketAddr>,
    kind: Kind,
    handler: Option<Handler>,
    events: Vec<(Instant, Event)>,
}

/// What a node is. Relays have no Endpoint: no transactions, no timers, no events.
enum Kind {
    // Boxed: an Endpoint is much larger than a relay.
    Endpoint(Box<Endpoint>),
    Relay(Relay),
}

impl Node {
    fn endpoint(&self) -> Option<&Endpoint> {
        match &self.kind {
            Kind::Endpoint(endpoint) => Some(endpoint),
            Kind::Relay(_) => None,
        }
    }

    fn endpoint_mut(&mut self) -> Option<&mut Endpoint> {
        match &mut self.kind {
            Kind::Endpoint(endpoint) => Some(endpoint),
            Kind::Relay(_) => None,
        }
    }

    /// The next timer deadline; relays have none, so they are always idle.
    fn poll_timeout(&self) -> Option<Instant> {
        self.endpoint().and_then(Endpoint::poll_timeout)
    }
}

/// A DNS answer on its way: the asking node, its question and the answer.
type DnsInFlight = (NodeId, DnsQuery, Result<DnsAnswer, DnsError>);

struct Datagram {
    from: NodeId,
    to: NodeId,
    payload: Bytes,
    duplicate: bool,
    /// Lost on the way: only recorded in the ladder, at the time it would have arrived.
    lost: bool,
    /// For connection-oriented transports: the receiver's flow.
    flow: Option<FlowId>,
}

/// A datagram on the wire, ordered by arrival time and then by when it was sent (so equal
/// arrival times keep their sending order and runs stay deterministic).
struct InFlight {
    at: Instant,
    sequence: u64,
    datagram: Datagram,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.sequence) == (other.at, other.sequence)
    }
}

impl Eq for InFlight {}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    /// Reversed, so the max-heap [`BinaryHeap`] pops the earliest arrival first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.sequence).cmp(&(self.at, self.sequence))
    }
}

/// A scripted loss: the next `count` datagrams from `from` to `to` whose start line
/// contains `pattern` are lost.
struct LossRule {
    from: NodeId,
    to: NodeId,
    pattern: String,
    count: usize,
}

/// A seeded in-memory network of endpoints with a virtual clock.
pub struct Network {
    start: Instant,
    now: Instant,
    rng: Rng,
    nodes: Vec<Node>,
    links: BTreeMap<(NodeId, NodeId), LinkConfig>,
    default_link: LinkConfig,
    /// A heap: pushing and popping cost a few comparisons, where a map would allocate
    /// nodes and shift entries for every datagram.
    in_flight: BinaryHeap<InFlight>,
    sequence: u64,
    loss_rules: Vec<LossRule>,
    ladder: String,
    branch_labels: BTreeMap<String, usize>,
    /// DNS records by question; a question not here is answered "not found".
    zone: BTreeMap<(RecordType, String), Result<DnsAnswer, DnsError>>,
    /// DNS answers on their way: (arrival, sequence) -> the asking node, the question and
    /// its answer.
    dns_in_flight: BTreeMap<(Instant, u64), DnsInFlight>,
    /// How long the simulated resolver takes to answer (default 5 ms).
    pub dns_latency: Duration,
    /// Both ends of every simulated connection: (node, its flow id) -> the peer's.
    connections: BTreeMap<(NodeId, FlowId), (NodeId, FlowId, Transport)>,
    /// The step bound of [`Network::run_until_idle`].
    pub max_steps: usize,
    /// Whether datagrams are recorded in the ladder (on by default; benchmarks turn it
    /// off, since recording parses every datagram once more).
    pub record_ladder: bool,
    /// Whether events are kept for [`Network::events`] (on by default; handlers are
    /// called either way).
    pub record_events: bool,
}

impl Network {
    /// An empty network; `seed` drives every random choice of links and endpoints.
    pub fn new(seed: u64) -> Self {
        // A fixed origin: Instant has no constructor, so take one once; every ladder time
        // is relative to it, so the real value never shows.
        // The virtual clock needs an instant to start from, and std makes one only from the
        // clock. Nothing depends on its value: every output is relative to it.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        Network {
            start,
            now: start,
            rng: Rng::new(seed),
            nodes: Vec::new(),
            links: BTreeMap::new(),
            default_link: LinkConfig::default(),
            in_flight: BinaryHeap::new(),
            sequence: 0,
            loss_rules: Vec::new(),
            ladder: String::new(),
            branch_labels: BTreeMap::new(),
            connections: BTreeMap::new(),
            zone: BTreeMap::new(),
            dns_in_flight: BTreeMap::new(),
            dns_latency: Duration::from_millis(5),
            max_steps: 1_000_000,
            record_ladder: true,
            record_events: true,
        }
    }

    /// Adds an endpoint at `addr` with the default configuration (seeded from the network).
    pub fn add_node(&mut self, name: &str, addr: SocketAddr) -> NodeId {
        let seed = self.rng.next_u64();
        self.add_node_with(name, EndpointConfig::new(addr, seed))
    }

    /// Adds an endpoint at `addr` seeded like [`Network::add_node`], after `configure` has
    /// adjusted its configuration (timers, call options, limits…).
    pub fn add_node_configured(
        &mut self,
        name: &str,
        addr: SocketAddr,
        configure: impl FnOnce(&mut EndpointConfig),
    ) -> NodeId {
        let seed = self.rng.next_u64();
        let mut config = EndpointConfig::new(addr, seed);
        configure(&mut config);
        self.add_node_with(name, config)
    }

    /// Adds an endpoint with its own configuration (its `local` is its address). When the
    /// configuration sets [`advertised`](EndpointConfig::advertised), what is sent to that
    /// address reaches the node too, as through a port-forwarding NAT in front of it.
    pub fn add_node_with(&mut self, name: &str, config: EndpointConfig) -> NodeId {
        let addr = config.local;
        self.nodes.push(Node {
            name: name.to_owned(),
            addr,
            advertised: config.advertised,
            kind: Kind::Endpoint(Box::new(Endpoint::new(config))),
            handler: None,
            events: Vec::new(),
        });
        NodeId(self.nodes.len() - 1)
    }

    /// Adds a relay at `addr` with [`RelayConfig::default`] (Record-Routing, loose routing).
    ///
    /// A relay is a stateless proxy (RFC 3261 §16.11) speaking UDP: it forwards each request
    /// to its top Route (after popping a Route naming itself, §16.4) or else its Request-URI,
    /// with Max-Forwards decremented, its own Via on top and, on dialog-creating requests,
    /// its Record-Route; each response it pops its own Via from and sends where the next Via
    /// says. Next hops must be IP literals of nodes of the network. What it cannot forward
    /// it drops and records ([`Network::relay_drops`], and the ladder). It has no timers,
    /// events or handler, and accepts no connections (so requests moved to TCP fail).
    pub fn add_relay(&mut self, name: &str, addr: SocketAddr) -> NodeId {
        self.add_relay_with(name, addr, RelayConfig::default())
    }

    /// Adds a relay at `addr` behaving as `config` says (see [`Network::add_relay`]).
    pub fn add_relay_with(&mut self, name: &str, addr: SocketAddr, config: RelayConfig) -> NodeId {
        self.nodes.push(Node {
            name: name.to_owned(),
            addr,
            advertised: None,
            kind: Kind::Relay(Relay {
                config,
                drops: Vec::new(),
            }),
            handler: None,
            events: Vec::new(),
        });
        NodeId(self.nodes.len() - 1)
    }

    /// True when `node` is a relay ([`Network::add_relay`]) rather than an endpoint.
    pub fn is_relay(&self, node: NodeId) -> bool {
        self.nodes
            .get(node.0)
            .is_some_and(|n| matches!(n.kind, Kind::Relay(_)))
    }

    /// Every datagram relay `node` dropped, in order (empty for endpoints).
    pub fn relay_drops(&self, node: NodeId) -> &[RelayDrop] {
        match self.nodes.get(node.0).map(|n| &n.kind) {
            Some(Kind::Relay(relay)) => &relay.drops,
            _ => &[],
        }
    }

    /// Sets the link from `from` to `to` (one direction).
    pub fn set_link(&mut self, from: NodeId, to: NodeId, link: LinkConfig) {
        self.links.insert((from, to), link);
    }

    /// Sets the link both ways.
    pub fn set_links(&mut self, a: NodeId, b: NodeId, link: LinkConfig) {
        self.set_link(a, b, link);
        self.set_link(b, a, link);
    }

    /// Loses the next `count` datagrams from `from` to `to` whose start line contains
    /// `pattern` (e.g. `"ACK"`, `"SIP/2.0 200"`).
    pub fn lose(&mut self, from: NodeId, to: NodeId, pattern: &str, count: usize) {
        self.loss_rules.push(LossRule {
            from,
            to,
            pattern: pattern.to_owned(),
            count,
        });
    }

    /// Application logic for `node`: called with every event it produces (the event is
    /// also recorded in [`Network::events`]). Relays produce no events, so a handler set on
    /// one is never called.
    pub fn set_handler(
        &mut self,
        node: NodeId,
        handler: impl FnMut(&mut Endpoint, Event, Instant) + 'static,
    ) {
        if let Some(n) = self.nodes.get_mut(node.0) {
            n.handler = Some(Box::new(handler));
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time elapsed since the network was created.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// A node's endpoint, to inspect it. To command it, prefer [`Network::on`], which also
    /// sends what the command queued; after commanding the endpoint returned here, call
    /// [`Network::pump`] yourself, or nothing goes on the wire.
    ///
    /// # Panics
    ///
    /// When `node` is a relay ([`Network::is_relay`]): relays have no Endpoint, and asking
    /// for one is a mistake in the test, best reported where it is made.
    pub fn endpoint(&mut self, node: NodeId) -> &mut Endpoint {
        let n = self.node_mut(node);
        let name = n.name.clone();
        match n.endpoint_mut() {
            Some(endpoint) => endpoint,
            None => panic!("node {name:?} ({node:?}) is a relay, which has no Endpoint"),
        }
    }

    /// Runs `command` on `node`'s endpoint at the current virtual time, then pumps the
    /// node (so whatever the command queued goes on the wire and its events reach the
    /// handler), and returns what `command` returned:
    ///
    /// ```
    /// # use sip_core::sim::Network;
    /// # use sip_core::message::Uri;
    /// # use bytes::Bytes;
    /// let mut net = Network::new(1);
    /// let alice = net.add_node("alice", "192.0.2.1:5060".parse().unwrap());
    /// let bob = net.add_node("bob", "192.0.2.2:5060".parse().unwrap());
    /// let target = Uri::parse("sip:bob@192.0.2.2").unwrap();
    /// let call = net.on(alice, |endpoint, now| endpoint.invite(now, target, Bytes::new(), None));
    /// assert!(call.is_ok());
    /// net.run_for(std::time::Duration::from_millis(50));
    /// assert_eq!(net.endpoint(bob).call_count(), 1, "the INVITE went out");
    /// ```
    ///
    /// # Panics
    ///
    /// When `node` is a relay (see [`Network::endpoint`]).
    pub fn on<R>(&mut self, node: NodeId, command: impl FnOnce(&mut Endpoint, Instant) -> R) -> R {
        let now = self.now;
        let result = command(self.endpoint(node), now);
        self.pump(node);
        result
    }

    /// A node's name, as the ladder shows it (empty for an unknown node).
    pub fn name(&self, node: NodeId) -> &str {
        self.nodes.get(node.0).map_or("", |n| n.name.as_str())
    }

    /// A node's address.
    pub fn addr(&self, node: NodeId) -> SocketAddr {
        self.nodes
            .get(node.0)
            .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |n| n.addr)
    }

    /// Every event `node` produced, with its virtual time.
    pub fn events(&self, node: NodeId) -> &[(Instant, Event)] {
        self.nodes.get(node.0).map_or(&[], |n| &n.events)
    }

    /// Sends `request` from `from` to node `to` now.
    ///
    /// # Panics
    ///
    /// When `from` is a relay (see [`Network::endpoint`]).
    pub fn send_request(
        &mut self,
        from: NodeId,
        request: Request,
        to: NodeId,
        transport: Transport,
    ) -> Result<TransactionId, SendError> {
        let destination = self.addr(to);
        self.on(from, |endpoint, now| {
            endpoint.send_request(now, request, destination, transport)
        })
    }

    /// Puts raw bytes on the wire from `from` to `to` now (for hand-made messages).
    pub fn inject(&mut self, from: NodeId, to: NodeId, payload: Bytes) {
        self.route(from, to, payload);
    }

    /// Puts `records` for `name` in the network's DNS zone, with a TTL of 300 s: what the
    /// simulated resolver answers every endpoint (addresses answer A or AAAA questions by
    /// their family). A question the zone has nothing for is answered "not found".
    ///
    /// ```
    /// use sip_core::dns::{DnsRecords, SrvRecord};
    /// use sip_core::sim::Network;
    ///
    /// let mut net = Network::new(1);
    /// net.dns_records("_sip._udp.example.com", DnsRecords::Srv(vec![SrvRecord {
    ///     priority: 10,
    ///     weight: 0,
    ///     port: 5060,
    ///     target: "bob.example.com".into(),
    /// }]));
    /// net.dns_records("bob.example.com", DnsRecords::Addresses(vec!["192.0.2.2".parse().unwrap()]));
    /// ```
    pub fn dns_records(&mut self, name: &str, records: DnsRecords) {
        let record_type = match &records {
            DnsRecords::Addresses(ips) if ips.iter().all(std::net::IpAddr::is_ipv6) && !ips.is_empty() => {
                RecordType::Aaaa
            }
            other => other.record_type(),
        };
        let answer = DnsAnswer {
            records,
            ttl: Duration::from_secs(300),
        };
        self.zone.insert((record_type, name.to_owned()), Ok(answer));
    }

    /// Makes the simulated resolver fail questions of `record_type` for `name` with
    /// `error` (a SERVFAIL or timeout is [`DnsError::Failed`]).
    pub fn dns_failure(&mut self, name: &str, record_type: RecordType, error: DnsError) {
        self.zone.insert((record_type, name.to_owned()), Err(error));
    }

    /// Drains `node`'s outputs: datagrams go on the wire, events to its handler (whose
    /// commands are drained in turn). Does nothing for a relay, which forwards as it
    /// receives and so never has output waiting.
    pub fn pump(&mut self, node: NodeId) {
        let now = self.now;
        loop {
            let Some(n) = self.nodes.get_mut(node.0) else {
                return;
            };
            let Kind::Endpoint(endpoint) = &mut n.kind else {
                return;
            };
            // Connections first: a transmit may already be queued for a new flow.
            if let Some(request) = endpoint.poll_flow_request() {
                self.handle_flow_request(node, request);
                continue;
            }
            if let Some(query) = endpoint.poll_dns_query() {
                self.ask_dns(node, query);
                continue;
            }
            if let Some(transmit) = endpoint.poll_transmit() {
                if let Some(flow) = transmit.flow {
                    self.stream(node, flow, transmit.payload);
                    continue;
                }
                match self.node_at(transmit.remote) {
                    Some(to) => self.route(node, to, transmit.payload),
                    None => self.record(node, None, &transmit.payload, "unroutable"),
                }
                continue;
            }
            if let Some(event) = endpoint.poll_event() {
                if self.record_events {
                    n.events.push((now, event.clone()));
                }
                if let Some(mut handler) = n.handler.take() {
                    if let Kind::Endpoint(endpoint) = &mut n.kind {
                        handler(endpoint, event, now);
                    }
                    if let Some(n) = self.nodes.get_mut(node.0) {
                        n.handler = Some(handler);
                    }
                }
                continue;
            }
            return;
        }
    }

    /// Processes the next delivery or timer. False when nothing is left to do.
    pub fn step(&mut self) -> bool {
        let next_delivery = self.in_flight.peek().map(|f| f.at);
        let next_answer = self.dns_in_flight.keys().next().map(|(at, _)| *at);
        let next_timer = self.nodes.iter().filter_map(Node::poll_timeout).min();
        let Some(at) = [next_delivery, next_answer, next_timer]
            .into_iter()
            .flatten()
            .min()
        else {
            return false;
        };
        self.now = self.now.max(at);
        if next_delivery == Some(at) {
            if let Some(InFlight { datagram, .. }) = self.in_flight.pop() {
                self.deliver(datagram);
            }
        } else if next_answer == Some(at) {
            self.answer_dns();
        } else {
            for index in 0..self.nodes.len() {
                let due = self
                    .nodes
                    .get(index)
                    .and_then(Node::poll_timeout)
                    .is_some_and(|t| t <= self.now);
                if due {
                    let now = self.now;
                    // Only endpoints have timers, so `due` implies an endpoint.
                    if let Some(endpoint) = self.node_mut(NodeId(index)).endpoint_mut() {
                        endpoint.handle_timeout(now);
                    }
                    self.pump(NodeId(index));
                }
            }
        }
        true
    }

    /// Steps until the virtual clock would pass `until`, then sets it to `until`.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            match self.next_event_at() {
                Some(at) if at <= until => {
                    self.step();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        self.run_until(until);
    }

    /// Steps until nothing is in flight and no timer is armed, or fails after
    /// [`Network::max_steps`] steps.
    pub fn run_until_idle(&mut self) -> Result<(), Livelock> {
        for _ in 0..self.max_steps {
            if !self.step() {
                return Ok(());
            }
        }
        Err(Livelock {
            steps: self.max_steps,
        })
    }

    /// Datagrams and connection writes on the wire, not yet arrived (lost ones count until
    /// the moment they would have arrived, when the ladder records the loss).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The ladder so far: one line per datagram delivered, lost or duplicated.
    pub fn ladder(&self) -> &str {
        &self.ladder
    }

    /// When the next delivery or timer is due, if anything is left to do.
    fn next_event_at(&self) -> Option<Instant> {
        let next_delivery = self.in_flight.peek().map(|f| f.at);
        let next_timer = self.nodes.iter().filter_map(Node::poll_timeout).min();
        let next_answer = self.dns_in_flight.keys().next().map(|(at, _)| *at);
        [next_delivery, next_timer, next_answer]
            .into_iter()
            .flatten()
            .min()
    }

    /// A DNS question from `node`: answered from the zone after the resolver's latency.
    fn ask_dns(&mut self, node: NodeId, query: DnsQuery) {
        let answer = self
            .zone
            .get(&(query.record_type, query.name.clone()))
            .cloned()
            .unwrap_or(Err(DnsError::NotFound));
        let line = format!("{} {}", query.record_type, query.name);
        self.record_text(Some(node), None, &line);
        self.sequence += 1;
        self.dns_in_flight.insert(
            (self.now + self.dns_latency, self.sequence),
            (node, query, answer),
        );
    }

    /// Delivers the earliest DNS answer; false when none is on its way.
    fn answer_dns(&mut self) -> bool {
        let Some(((at, _), (node, query, answer))) = self.dns_in_flight.pop_first() else {
            return false;
        };
        self.now = self.now.max(at);
        let outcome = match &answer {
            Ok(answer) => describe_records(&answer.records),
            Err(DnsError::NotFound) => "not found".to_owned(),
            Err(error) => error.to_string(),
        };
        let line = format!("{} {}: {outcome}", query.record_type, query.name);
        self.record_text(None, Some(node), &line);
        let now = self.now;
        if let Some(endpoint) = self.node_mut(node).endpoint_mut() {
            endpoint.handle_dns_response(now, query.id, answer);
        }
        self.pump(node);
        true
    }

    /// The node at `addr` (its own address, else its advertised one), if any.
    fn node_at(&self, addr: SocketAddr) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|m| m.addr == addr)
            .or_else(|| self.nodes.iter().position(|m| m.advertised == Some(addr)))
            .map(NodeId)
    }

    fn node_mut(&mut self, node: NodeId) -> &mut Node {
        // Node ids only come from add_node, so the index exists.
        match self.nodes.get_mut(node.0) {
            Some(n) => n,
            None => panic!("unknown node {node:?}"),
        }
    }

    /// Opens (both ends at once) or closes a simulated connection. Connecting to an
    /// address no node has, or a relay's (relays speak UDP only), fails.
    fn handle_flow_request(&mut self, node: NodeId, request: FlowRequest) {
        let now = self.now;
        match request {
            FlowRequest::Connect {
                flow,
                transport,
                remote,
                ..
            } => {
                let peer = self.node_at(remote).filter(|&peer| !self.is_relay(peer));
                let Some(peer) = peer else {
                    self.endpoint(node)
                        .handle_flow_event(now, flow, FlowEvent::Failed);
                    return;
                };
                let local = self.addr(node);
                let peer_flow = self.endpoint(peer).new_flow_id();
                self.endpoint(peer).handle_flow_event(
                    now,
                    peer_flow,
                    FlowEvent::Accepted {
                        transport,
                        remote: local,
                    },
                );
                self.connections
                    .insert((node, flow), (peer, peer_flow, transport));
                self.connections
                    .insert((peer, peer_flow), (node, flow, transport));
                self.endpoint(node)
                    .handle_flow_event(now, flow, FlowEvent::Connected);
            }
            FlowRequest::Close { flow } => {
                if let Some((peer, peer_flow, _)) = self.connections.remove(&(node, flow)) {
                    self.connections.remove(&(peer, peer_flow));
                    self.endpoint(peer)
                        .handle_flow_event(now, peer_flow, FlowEvent::Closed);
                    self.pump(peer);
                }
            }
        }
    }

    /// Bytes written to a connection arrive in order, whole, after the link latency
    /// (connections are reliable: no loss, duplication or reordering).
    fn stream(&mut self, from: NodeId, flow: FlowId, payload: Bytes) {
        let Some(&(to, peer_flow, _)) = self.connections.get(&(from, flow)) else {
            self.record(from, None, &payload, "no connection");
            return;
        };
        let link = self.links.get(&(from, to)).copied().unwrap_or(self.default_link);
        self.sequence += 1;
        self.in_flight.push(InFlight {
            at: self.now + link.latency,
            sequence: self.sequence,
            datagram: Datagram {
                from,
                to,
                payload,
                duplicate: false,
                lost: false,
                flow: Some(peer_flow),
            },
        });
    }

    fn route(&mut self, from: NodeId, to: NodeId, payload: Bytes) {
        let link = self.links.get(&(from, to)).copied().unwrap_or(self.default_link);
        // The start line is only needed to match scripted losses (most runs have none).
        let start_line = if self.loss_rules.is_empty() {
            String::new()
        } else {
            first_line(&payload)
        };
        let scripted_loss = match self
            .loss_rules
            .iter_mut()
            .find(|r| r.from == from && r.to == to && r.count > 0 && start_line.contains(&r.pattern))
        {
            Some(rule) => {
                rule.count -= 1;
                true
            }
            None => false,
        };
        let lost = scripted_loss || (link.loss > 0.0 && self.rng.next_f64() < link.loss);
        let copies = if !lost && link.duplicate > 0.0 && self.rng.next_f64() < link.duplicate {
            2
        } else {
            1
        };
        for copy in 0..copies {
            let mut delay = link.latency;
            if link.jitter > Duration::ZERO {
                delay += link.jitter.mul_f64(self.rng.next_f64());
            }
            if link.reorder > 0.0 && self.rng.next_f64() < link.reorder {
                delay += link.latency;
            }
            self.sequence += 1;
            self.in_flight.push(InFlight {
                at: self.now + delay,
                sequence: self.sequence,
                datagram: Datagram {
                    from,
                    to,
                    payload: payload.clone(),
                    duplicate: copy == 1,
                    lost,
                    flow: None,
                },
            });
        }
    }

    fn deliver(&mut self, datagram: Datagram) {
        if datagram.lost {
            self.record(datagram.from, Some(datagram.to), &datagram.payload, "LOST");
            return;
        }
        let now = self.now;
        if let Some(flow) = datagram.flow {
            let transport = self
                .connections
                .get(&(datagram.to, flow))
                .map_or(Transport::Tcp, |&(_, _, transport)| transport);
            self.record(
                datagram.from,
                Some(datagram.to),
                &datagram.payload,
                transport.as_str(),
            );
            // Connections only ever join two endpoints (relays refuse them).
            if let Some(endpoint) = self.node_mut(datagram.to).endpoint_mut() {
                endpoint.handle_stream_data(now, flow, &datagram.payload);
            }
            self.pump(datagram.to);
            return;
        }
        let note = if datagram.duplicate { "dup" } else { "" };
        self.record(datagram.from, Some(datagram.to), &datagram.payload, note);
        let (local, remote) = (self.addr(datagram.to), self.addr(datagram.from));
        match self.node_mut(datagram.to).endpoint_mut() {
            Some(endpoint) => endpoint.handle_datagram(now, local, remote, datagram.payload),
            None => self.relay_datagram(datagram.to, remote, datagram.payload),
        }
        self.pump(datagram.to);
    }

    /// A relay received `payload` from `source`: forward it at once (a stateless proxy
    /// keeps nothing, RFC 3261 §16.11), or drop it and record why.
    fn relay_datagram(&mut self, node: NodeId, source: SocketAddr, payload: Bytes) {
        let addr = self.addr(node);
        let config = match &self.node_mut(node).kind {
            Kind::Relay(relay) => relay.config,
            Kind::Endpoint(_) => return,
        };
        let reason = match relay::forward(&config, addr, source, payload.clone()) {
            Ok((destination, forwarded)) => match self.node_at(destination) {
                Some(to) => {
                    self.route(node, to, forwarded);
                    return;
                }
                None => DropReason::Unroutable,
            },
            Err(reason) => reason,
        };
        self.record(node, None, &payload, reason.as_str());
        let at = self.now;
        if let Kind::Relay(relay) = &mut self.node_mut(node).kind {
            relay.drops.push(RelayDrop { at, reason, payload });
        }
    }

    /// A ladder line that is no SIP message: a DNS question (`to` is the resolver, `None`)
    /// or answer (`from` is `None`).
    fn record_text(&mut self, from: Option<NodeId>, to: Option<NodeId>, text: &str) {
        if !self.record_ladder {
            return;
        }
        let ms = (self.now - self.start).as_millis();
        let name = |id: Option<NodeId>| {
            id.and_then(|i| self.nodes.get(i.0))
                .map_or_else(|| "dns".to_owned(), |n| n.name.clone())
        };
        let line = format!("{ms:>6} {:<6} -> {:<6} {text}", name(from), name(to));
        let _ = writeln!(self.ladder, "{}", line.trim_end());
    }

    fn record(&mut self, from: NodeId, to: Option<NodeId>, payload: &Bytes, note: &str) {
        if !self.record_ladder {
            return;
        }
        let ms = (self.now - self.start).as_millis();
        let name = |id: Option<NodeId>| {
            id.and_then(|i| self.nodes.get(i.0))
                .map_or_else(|| "?".to_owned(), |n| n.name.clone())
        };
        let (from_name, to_name) = (name(Some(from)), name(to));
        let (cseq, branch, sdp) = match Message::parse(payload.clone()) {
            Ok(message) => {
                // A session description shows its media direction, so hold and unhold
                // read off the ladder.
                let sdp = crate::sdp::SessionDescription::parse(message.body())
                    .ok()
                    .and_then(|sdp| sdp.effective_direction(0))
                    .map_or_else(String::new, |d| format!(" sdp:{d}"));
                let headers = message.headers();
                let cseq = headers
                    .get(crate::message::HeaderName::CSeq)
                    .unwrap_or("")
                    .to_owned();
                let branch = headers
                    .top_via()
                    .and_then(Result::ok)
                    .and_then(|v| v.branch().map(str::to_owned))
                    .unwrap_or_default();
                (cseq, branch, sdp)
            }
            Err(_) => (String::new(), String::new(), String::new()),
        };
        let label = if branch.is_empty() {
            String::new()
        } else {
            let next = self.branch_labels.len() + 1;
            format!("b{}", self.branch_labels.entry(branch).or_insert(next))
        };
        let note = if note.is_empty() {
            String::new()
        } else {
            format!("  [{note}]")
        };
        let line = format!(
            "{ms:>6} {from_name:<6} -> {to_name:<6} {}  ({cseq}) {label}{sdp}{note}",
            first_line(payload)
        );
        let _ = writeln!(self.ladder, "{}", line.trim_end());
    }
}

/// DNS records as a ladder shows them.
fn describe_records(records: &DnsRecords) -> String {
    match records {
        DnsRecords::Naptr(records) => records
            .iter()
            .map(|r| format!("{} {} {}", r.order, r.services, r.replacement))
            .collect::<Vec<_>>()
            .join(", "),
        DnsRecords::Srv(records) => records
            .iter()
            .map(|r| format!("{} {} {}:{}", r.priority, r.weight, r.target, r.port))
            .collect::<Vec<_>>()
            .join(", "),
        DnsRecords::Addresses(ips) => ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
    }
}

fn first_line(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(payload.len());
    String::from_utf8_lossy(payload.get(..end).unwrap_or_default()).into_owned()
}
