//! The [`Driver`]: sockets and a clock around one [`Endpoint`], and nothing else.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Registry, Token};
use sip_core::Endpoint;
use sip_core::dns::{DnsAnswer, DnsError, DnsQuery};
use sip_core::endpoint::DnsQueryId;
use sip_core::endpoint::{EndpointConfig, Event, FlowEvent, FlowId, FlowRequest, Transmit, Transport};

/// The largest UDP datagram, so one read never truncates a message.
const RECV_BUFFER: usize = 65_536;
/// Datagrams kept while the UDP socket's send buffer is full. UDP may lose them anyway (the
/// transaction layer retransmits), so a small bound is enough and keeps memory fixed.
const UDP_BACKLOG: usize = 1024;
/// Bytes kept for one TCP connection whose peer does not read; past this the connection is
/// reported failed rather than grown without bound.
const TCP_BACKLOG: usize = 4 * 1024 * 1024;
/// Attempts at finding a port free for both UDP and TCP when binding port 0.
const BIND_ATTEMPTS: usize = 32;

/// Which sockets a [`Driver`] opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// A UDP socket only. Outgoing TCP (a `;transport=tcp` target) still works.
    Udp,
    /// A UDP socket and a TCP listener on the same port, as RFC 3261 §18 asks of a UA.
    UdpAndTcp,
}

/// What can go wrong with the driver's own sockets. Network input never yields an error:
/// bad bytes are the core's business and broken connections are reported to it as
/// [`FlowEvent::Failed`] or [`FlowEvent::Closed`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A socket could not be registered with the `mio` registry.
    #[error("cannot register with the poll: {0}")]
    Register(#[source] io::Error),
    /// [`Driver::register`] was called twice.
    #[error("the driver is already registered")]
    AlreadyRegistered,
    /// `Poll::poll` failed.
    #[error("poll failed: {0}")]
    Poll(#[source] io::Error),
    /// The core refused a call command (see [`crate::place_call`]).
    #[error(transparent)]
    Call(#[from] sip_core::call::CallError),
}

/// Transport counters, for monitoring. The core's own counters are in
/// [`Endpoint::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Datagrams received.
    pub udp_received: u64,
    /// Datagrams sent.
    pub udp_sent: u64,
    /// Datagrams the OS refused (no route, …); the transaction layer will time out.
    pub udp_send_errors: u64,
    /// Datagrams dropped because the send backlog was full.
    pub udp_dropped: u64,
    /// Receive errors on the UDP socket.
    pub udp_recv_errors: u64,
    /// TCP connections accepted.
    pub accepted: u64,
    /// TCP connections opened for the core.
    pub connected: u64,
    /// Writes that found a TCP connection's send buffer full (or the connection still
    /// opening) and waited in the driver's per-connection backlog.
    pub tcp_backlogged: u64,
    /// Connections reported failed to the core.
    pub flows_failed: u64,
    /// Connections the peer closed.
    pub flows_closed: u64,
    /// `accept` errors (such as running out of file descriptors).
    pub accept_errors: u64,
    /// Transmits for a transport this driver does not have (TLS, WebSocket) or a flow it
    /// no longer knows.
    pub unsendable: u64,
}

/// One TCP connection.
struct Conn {
    stream: TcpStream,
    /// `None` until the driver is registered.
    token: Option<Token>,
    /// False while a connect is in progress: writes wait in `out`.
    connected: bool,
    /// Bytes not yet accepted by the socket, oldest first.
    out: VecDeque<Bytes>,
    /// Total bytes in `out`.
    out_len: usize,
}

/// A [`sip_core::Endpoint`] with its sockets, driven by `mio` readiness events.
///
/// Tokens: the driver takes `first_token` for its UDP socket, the next one for its TCP
/// listener and every later one, in order and never reused, for its TCP connections. Give
/// the rest of your application tokens below `first_token`.
///
/// Time: every entry point takes `now`; only [`Driver::run_once`] reads the clock itself.
pub struct Driver {
    endpoint: Endpoint,
    local: SocketAddr,
    udp: UdpSocket,
    udp_backlog: VecDeque<(SocketAddr, Bytes)>,
    listener: Option<TcpListener>,
    /// Ordered by flow id so that anything done "for every connection" happens in a
    /// reproducible order.
    conns: BTreeMap<FlowId, Conn>,
    by_token: HashMap<Token, FlowId>,
    registry: Option<Registry>,
    first_token: Token,
    /// Offset from `first_token` of the next connection token.
    next_token: usize,
    events: VecDeque<Event>,
    /// The core's DNS questions, for the application to answer (see
    /// [`Driver::answer_dns_yourself`]); `None`: every one is answered "failed" at once.
    dns_queries: Option<VecDeque<DnsQuery>>,
    buf: Vec<u8>,
    stats: DriverStats,
}

/// How many DNS questions wait for the application at most; past it the oldest is
/// answered "failed" (an application that stopped taking them).
const DNS_QUERY_LIMIT: usize = 1024;

impl Driver {
    /// Binds `addr` (UDP, and TCP on the same port with [`Listen::UdpAndTcp`]) and makes an
    /// Endpoint for the bound address, seeded from the OS. Port 0 picks a free port.
    ///
    /// The bound address is the Endpoint's `local`, which goes into Via and Contact: bind
    /// a concrete address (such as `127.0.0.1`), not `0.0.0.0`, or use
    /// [`Driver::bind_with`] to advertise another.
    pub fn bind(addr: SocketAddr, listen: Listen) -> Result<Driver, Error> {
        Driver::bind_with(addr, listen, |local| EndpointConfig::new(local, os_seed()))
    }

    /// Like [`Driver::bind`], with the Endpoint's configuration made by `config` from the
    /// address actually bound.
    pub fn bind_with(
        addr: SocketAddr,
        listen: Listen,
        config: impl FnOnce(SocketAddr) -> EndpointConfig,
    ) -> Result<Driver, Error> {
        let (udp, listener) = bind_sockets(addr, listen)?;
        let local = udp.local_addr().map_err(|source| Error::Bind { addr, source })?;
        Ok(Driver {
            endpoint: Endpoint::new(config(local)),
            local,
            udp,
            udp_backlog: VecDeque::new(),
            listener,
            conns: BTreeMap::new(),
            by_token: HashMap::new(),
            registry: None,
            first_token: Token(0),
            next_token: 2,
            events: VecDeque::new(),
            dns_queries: None,
            buf: vec![0; RECV_BUFFER],
            stats: DriverStats::default(),
        })
    }

    /// The address the sockets are bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The Endpoint, for its getters.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The Endpoint, for commands (`invite`, `answer`, `bye`, `respond`, …). Call
    /// [`Driver::flush`] afterwards so that what they produced goes out.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// Transport counters.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// Open TCP connections (accepted or opened, connected or not yet).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// From now on the core's DNS questions (RFC 3263: a request to a host name) wait in
    /// [`Driver::next_dns_query`] for the application to answer with
    /// [`Driver::handle_dns_response`], from whatever resolver its loop has. Without it —
    /// this driver has no resolver of its own — each is answered "failed" at once, so a
    /// name fails fast (targets must be addresses).
    pub fn answer_dns_yourself(&mut self) {
        self.dns_queries.get_or_insert_with(VecDeque::new);
    }

    /// The next DNS question of the core, oldest first (after
    /// [`Driver::answer_dns_yourself`]).
    pub fn next_dns_query(&mut self) -> Option<DnsQuery> {
        self.dns_queries.as_mut()?.pop_front()
    }

    /// The answer to a question from [`Driver::next_dns_query`]; what it lets the core
    /// send goes out.
    pub fn handle_dns_response(
        &mut self,
        now: Instant,
        query: DnsQueryId,
        answer: Result<DnsAnswer, DnsError>,
    ) {
        self.endpoint.handle_dns_response(now, query, answer);
        self.flush(now);
    }

    /// The next event from the core, oldest first.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Registers the sockets with `registry` from `first_token` on (see the type's docs),
    /// and keeps a clone of the registry for the connections to come.
    pub fn register(&mut self, registry: &Registry, first_token: Token) -> Result<(), Error> {
        if self.registry.is_some() {
            return Err(Error::AlreadyRegistered);
        }
        self.first_token = first_token;
        // Writable too: a full send buffer is only waited out on a writable edge.
        registry
            .register(
                &mut self.udp,
                first_token,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(Error::Register)?;
        if let Some(listener) = &mut self.listener {
            let token = Token(first_token.0.saturating_add(1));
            registry
                .register(listener, token, Interest::READABLE)
                .map_err(Error::Register)?;
        }
        self.registry = Some(registry.try_clone().map_err(Error::Register)?);
        // Connections asked for before registration get their tokens now.
        let waiting: Vec<FlowId> = self.conns.keys().copied().collect();
        let now = Instant::now();
        for flow in waiting {
            if !self.register_conn(flow) {
                self.fail(flow, now, FlowEvent::Failed);
            }
        }
        self.flush(now);
        Ok(())
    }

    /// How long the core may sleep from `now`: `poll_timeout() - now`, zero when a timer
    /// is already due, `None` when the core is idle.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.endpoint
            .poll_timeout()
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// Fires the core's due timers and sends what they produced. Harmless when nothing is
    /// due, so it can be called after every poll.
    pub fn on_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.flush(now);
    }

    /// Drains the core after a command: sends its transmits, opens or closes connections,
    /// and queues its events for [`Driver::next_event`].
    pub fn flush(&mut self, now: Instant) {
        // Reporting a failed connection to the core can make it send elsewhere, so go
        // round until a pass finds every queue empty.
        loop {
            let mut progress = false;
            // Connection requests first: transmits for a new flow are queued before the
            // core's Connect is read, and they must find the connection there to wait in.
            while let Some(request) = self.endpoint.poll_flow_request() {
                progress = true;
                self.flow_request(request, now);
            }
            while let Some(transmit) = self.endpoint.poll_transmit() {
                progress = true;
                self.send(transmit, now);
            }
            while let Some(event) = self.endpoint.poll_event() {
                progress = true;
                self.events.push_back(event);
            }
            while let Some(query) = self.endpoint.poll_dns_query() {
                progress = true;
                match &mut self.dns_queries {
                    Some(queue) => {
                        if queue.len() >= DNS_QUERY_LIMIT {
                            if let Some(oldest) = queue.pop_front() {
                                self.endpoint
                                    .handle_dns_response(now, oldest.id, Err(DnsError::Failed));
                            }
                        }
                        queue.push_back(query);
                    }
                    None => self
                        .endpoint
                        .handle_dns_response(now, query.id, Err(DnsError::Failed)),
                }
            }
            if !progress {
                break;
            }
        }
    }

    /// Handles one readiness event. Returns false when `event`'s token is not the
    /// driver's (so the caller can route it elsewhere).
    pub fn handle(&mut self, event: &mio::event::Event, now: Instant) -> bool {
        if self.registry.is_none() {
            return false;
        }
        let token = event.token();
        if token == self.first_token {
            if event.is_writable() {
                self.flush_udp();
            }
            if event.is_readable() {
                self.read_udp(now);
            }
        } else if self.listener.is_some() && token.0 == self.first_token.0.saturating_add(1) {
            self.accept(now);
        } else if let Some(&flow) = self.by_token.get(&token) {
            self.conn_event(flow, event, now);
        } else {
            return false;
        }
        self.flush(now);
        true
    }

    /// One turn of a loop that owns `poll`: sleeps until a socket is ready, the core's
    /// next deadline, or `max_wait` (whichever comes first), handles the events and fires
    /// due timers. Events for tokens that are not the driver's are ignored, so give the
    /// driver a `Poll` of its own, or write the loop yourself with [`Driver::handle`].
    pub fn run_once(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        max_wait: Option<Duration>,
    ) -> Result<(), Error> {
        let wait = match (self.timeout(Instant::now()), max_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match poll.poll(events, wait) {
            Ok(()) => {}
            // A signal is not a failure: the caller simply goes round again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Poll(e)),
        }
        let now = Instant::now();
        for event in events.iter() {
            self.handle(event, now);
        }
        self.on_timeout(now);
        Ok(())
    }

    // ---- UDP ----

    fn read_udp(&mut self, now: Instant) {
        // Readiness is edge-triggered: read until the socket says WouldBlock.
        loop {
            match self.udp.recv_from(&mut self.buf) {
                Ok((n, remote)) => {
                    self.stats.udp_received += 1;
                    let payload = Bytes::copy_from_slice(self.buf.get(..n).unwrap_or_default());
                    self.endpoint.handle_datagram(now, self.local, remote, payload);
                    self.flush(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // An ICMP error for an earlier send (reported this way on some systems)
                // says nothing about the next datagram.
                Err(e) if is_transient(&e) => {}
                Err(_) => {
                    self.stats.udp_recv_errors += 1;
                    break;
                }
            }
        }
    }

    fn send_udp(&mut self, remote: SocketAddr, payload: Bytes) {
        // Keep order: once datagrams wait, new ones wait behind them.
        if !self.udp_backlog.is_empty() {
            self.queue_udp(remote, payload);
            return;
        }
        match self.udp.send_to(&payload, remote) {
            Ok(_) => self.stats.udp_sent += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.queue_udp(remote, payload),
            Err(_) => self.stats.udp_send_errors += 1,
        }
    }

    fn queue_udp(&mut self, remote: SocketAddr, payload: Bytes) {
        if self.udp_backlog.len() >= UDP_BACKLOG {
            self.stats.udp_dropped += 1;
        } else {
            self.udp_backlog.push_back((remote, payload));
        }
    }

    fn flush_udp(&mut self) {
        while let Some((remote, payload)) = self.udp_backlog.front() {
            match self.udp.send_to(payload, *remote) {
                Ok(_) => self.stats.udp_sent += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => self.stats.udp_send_errors += 1,
            }
            self.udp_backlog.pop_front();
        }
    }

    // ---- TCP ----

    fn send(&mut self, transmit: Transmit, now: Instant) {
        match (transmit.transport, transmit.flow) {
            (Transport::Udp, _) => self.send_udp(transmit.remote, transmit.payload),
            (Transport::Tcp, Some(flow)) => self.send_tcp(flow, transmit.payload, now),
            (_, flow) => {
                // TLS and WebSocket are not this driver's: fail the flow so the core's
                // transactions learn at once instead of timing out.
                self.stats.unsendable += 1;
                if let Some(flow) = flow {
                    self.fail(flow, now, FlowEvent::Failed);
                }
            }
        }
    }

    fn send_tcp(&mut self, flow: FlowId, payload: Bytes, now: Instant) {
        let Some(conn) = self.conns.get_mut(&flow) else {
            // The connection is gone (the peer closed it) but the core still sends on it:
            // tell it, so the transaction fails over instead of timing out.
            self.stats.unsendable += 1;
            self.endpoint.handle_flow_event(now, flow, FlowEvent::Failed);
            return;
        };
        if conn.out_len.saturating_add(payload.len()) > TCP_BACKLOG {
            self.fail(flow, now, FlowEvent::Failed);
            return;
        }
        conn.out_len += payload.len();
        conn.out.push_back(payload);
        if conn.connected && write_out(conn).is_err() {
            return self.fail(flow, now, FlowEvent::Failed);
        }
        if !conn.out.is_empty() {
            self.stats.tcp_backlogged += 1;
        }
    }

    fn flow_request(&mut self, request: FlowRequest, now: Instant) {
        match request {
            FlowRequest::Connect {
                flow,
                transport: Transport::Tcp,
                remote,
                ..
            } => match TcpStream::connect(remote) {
                Ok(stream) => {
                    self.conns.insert(flow, Conn::new(stream, false));
                    if self.registry.is_some() && !self.register_conn(flow) {
                        self.fail(flow, now, FlowEvent::Failed);
                    }
                }
                Err(_) => {
                    self.stats.flows_failed += 1;
                    self.endpoint.handle_flow_event(now, flow, FlowEvent::Failed);
                }
            },
            FlowRequest::Connect { flow, .. } => {
                self.stats.flows_failed += 1;
                self.endpoint.handle_flow_event(now, flow, FlowEvent::Failed);
            }
            FlowRequest::Close { flow } => {
                // The core asked for it, so it already knows: nothing to report.
                if let Some(conn) = self.remove_conn(flow) {
                    let _ = conn.stream.shutdown(Shutdown::Both);
                }
            }
            // A request kind added to the core after this driver was written: nothing
            // this driver can do with it.
            _ => {}
        }
    }

    fn accept(&mut self, now: Instant) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, remote)) => {
                    let flow = self.endpoint.new_flow_id();
                    self.conns.insert(flow, Conn::new(stream, true));
                    if !self.register_conn(flow) {
                        // Never told to the core, so just drop it.
                        self.remove_conn(flow);
                        self.stats.accept_errors += 1;
                        continue;
                    }
                    self.stats.accepted += 1;
                    let event = FlowEvent::Accepted {
                        transport: Transport::Tcp,
                        remote,
                    };
                    self.endpoint.handle_flow_event(now, flow, event);
                    self.flush(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if is_transient(&e) => {}
                Err(_) => {
                    // Out of descriptors or similar: the next connection brings a new edge.
                    self.stats.accept_errors += 1;
                    return;
                }
            }
        }
    }

    fn conn_event(&mut self, flow: FlowId, event: &mio::event::Event, now: Instant) {
        let Some(conn) = self.conns.get_mut(&flow) else {
            return;
        };
        if !conn.connected {
            // mio's recipe for a non-blocking connect: on a writable (or error) event, a
            // pending socket error means failure, and a peer address means success.
            if !(event.is_writable() || event.is_error() || event.is_write_closed()) {
                return;
            }
            match conn.stream.take_error() {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return self.fail(flow, now, FlowEvent::Failed),
            }
            match conn.stream.peer_addr() {
                Ok(_) => {
                    conn.connected = true;
                    let _ = conn.stream.set_nodelay(true);
                    self.stats.connected += 1;
                    self.endpoint.handle_flow_event(now, flow, FlowEvent::Connected);
                    self.flush(now);
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected && !event.is_error() => return,
                Err(_) => return self.fail(flow, now, FlowEvent::Failed),
            }
        }
        if event.is_writable() {
            let Some(conn) = self.conns.get_mut(&flow) else {
                return;
            };
            if write_out(conn).is_err() {
                return self.fail(flow, now, FlowEvent::Failed);
            }
        }
        if event.is_readable() || event.is_read_closed() {
            self.read_conn(flow, now);
        }
        if event.is_error() && self.conns.contains_key(&flow) {
            self.fail(flow, now, FlowEvent::Failed);
        }
    }

    fn read_conn(&mut self, flow: FlowId, now: Instant) {
        loop {
            // Looked up again each time: handing data to the core may close the flow.
            let Some(conn) = self.conns.get_mut(&flow) else {
                return;
            };
            match conn.stream.read(&mut self.buf) {
                Ok(0) => return self.fail(flow, now, FlowEvent::Closed),
                Ok(n) => {
                    let data = self.buf.get(..n).unwrap_or_default();
                    self.endpoint.handle_stream_data(now, flow, data);
                    self.flush(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(flow, now, FlowEvent::Failed),
            }
        }
    }

    /// Gives `flow` a token and registers it; false when registration failed.
    fn register_conn(&mut self, flow: FlowId) -> bool {
        let (Some(registry), Some(conn)) = (&self.registry, self.conns.get_mut(&flow)) else {
            return false;
        };
        let Some(token) = self.first_token.0.checked_add(self.next_token).map(Token) else {
            return false;
        };
        self.next_token += 1;
        if registry
            .register(&mut conn.stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            return false;
        }
        conn.token = Some(token);
        self.by_token.insert(token, flow);
        true
    }

    fn remove_conn(&mut self, flow: FlowId) -> Option<Conn> {
        let mut conn = self.conns.remove(&flow)?;
        if let Some(token) = conn.token {
            self.by_token.remove(&token);
            if let Some(registry) = &self.registry {
                let _ = registry.deregister(&mut conn.stream);
            }
        }
        Some(conn)
    }

    /// Drops the connection and tells the core (`Closed` or `Failed`).
    fn fail(&mut self, flow: FlowId, now: Instant, event: FlowEvent) {
        if let Some(conn) = self.remove_conn(flow) {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        if event == FlowEvent::Closed {
            self.stats.flows_closed += 1;
        } else {
            self.stats.flows_failed += 1;
        }
        self.endpoint.handle_flow_event(now, flow, event);
    }
}

impl Conn {
    fn new(stream: TcpStream, connected: bool) -> Conn {
        if connected {
            let _ = stream.set_nodelay(true);
        }
        Conn {
            stream,
            token: None,
            connected,
            out: VecDeque::new(),
            out_len: 0,
        }
    }
}

/// Writes as much of `conn.out` as the socket takes; Ok when the rest waits for a writable
/// edge, Err when the connection is broken.
fn write_out(conn: &mut Conn) -> io::Result<()> {
    while let Some(front) = conn.out.front_mut() {
        match conn.stream.write(front) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                let n = n.min(front.len());
                front.advance(n);
                conn.out_len = conn.out_len.saturating_sub(n);
                if front.is_empty() {
                    conn.out.pop_front();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
    )
}

fn bind_sockets(addr: SocketAddr, listen: Listen) -> Result<(UdpSocket, Option<TcpListener>), Error> {
    let bind_udp = |addr| UdpSocket::bind(addr).map_err(|source| Error::Bind { addr, source });
    if listen == Listen::Udp {
        return Ok((bind_udp(addr)?, None));
    }
    // With port 0 the OS picks a UDP port that may be taken for TCP: try a few.
    let attempts = if addr.port() == 0 { BIND_ATTEMPTS } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = bind_udp(addr)?;
        let port = udp
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?
            .port();
        let tcp_addr = SocketAddr::new(addr.ip(), port);
        match TcpListener::bind(tcp_addr) {
            Ok(listener) => return Ok((udp, Some(listener))),
            Err(source) => {
                last = Some(Error::Bind {
                    addr: tcp_addr,
                    source,
                })
            }
        }
    }
    Err(last.unwrap_or(Error::Bind {
        addr,
        source: io::ErrorKind::AddrInUse.into(),
    }))
}

/// A seed for the core's generator (tags, branches, Call-IDs) that peers cannot guess:
/// std's `RandomState` is keyed from the OS, mixed with the time and process id.
fn os_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}
