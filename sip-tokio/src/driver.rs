//! The driver task: one loop that owns the Endpoint, its sockets and its clock.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sip_core::call::{CallEvent, CallState};
use sip_core::endpoint::{
    CallId, Endpoint, EndpointConfig, Event, FlowEvent, FlowId, FlowRequest, TransactionId, Transmit,
    Transport,
};
use sip_core::message::{HeaderName, Method, Request, RequestBuilder, StatusCode, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, trace, warn};

use crate::Error;
use crate::call::Invitation;

/// Datagrams read per loop turn before the other inputs get a look in.
const UDP_BATCH: usize = 64;
/// Commands taken per loop turn, for the same fairness.
const COMMAND_BATCH: usize = 64;
/// UDP datagrams kept while the socket would block; past this the oldest is dropped (the
/// transaction layer retransmits, so a loss here is a loss on the wire).
const UDP_QUEUE: usize = 4096;
/// Messages waiting for one TCP connection's writer; a connection this far behind is
/// treated as broken rather than buffered without bound. One connection may carry every
/// call (a trunk, SIPp's `-t t1`): at 12k calls/s that is ~50k messages/s, so the bound
/// must absorb a scheduling hiccup of a fraction of a second, not just a few ms.
const TCP_QUEUE: usize = 16 * 1024;
/// Bytes of queued messages a TCP writer joins into one write.
const TCP_WRITE_BATCH: usize = 64 * 1024;
/// Events from socket tasks to the driver; readers wait when it is full (backpressure).
const NET_QUEUE: usize = 1024;
/// How long a TCP connect may take before the flow is reported failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// What our Allow header says (the call layer's list).
const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, UPDATE, PRACK, REFER, NOTIFY, SUBSCRIBE";

/// Whether a message was sent or received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We sent it.
    Sent,
    /// We received it.
    Received,
}

/// One message seen by the driver, for [`Builder::on_message`](crate::Builder::on_message).
#[derive(Debug, Clone, Copy)]
pub struct MessageTrace<'a> {
    /// Sent or received.
    pub direction: Direction,
    /// Over what.
    pub transport: Transport,
    /// Our address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The bytes. Over TCP a received chunk is what one read returned: part of a message
    /// or several (the core frames streams itself).
    pub payload: &'a [u8],
    /// When the driver saw it, on tokio's clock (virtual time under
    /// `tokio::time::pause`).
    pub at: Instant,
}

impl MessageTrace<'_> {
    /// The first line of the payload (the start line of a whole message), lossily
    /// decoded.
    pub fn start_line(&self) -> String {
        let end = self
            .payload
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(self.payload.len());
        String::from_utf8_lossy(self.payload.get(..end).unwrap_or_default()).into_owned()
    }
}

/// The observer type kept by the driver.
pub type MessageObserver = Arc<dyn Fn(&MessageTrace<'_>) + Send + Sync>;

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
pub(crate) type CallHandle = (CallId, mpsc::UnboundedReceiver<CallEvent>);

/// A new incoming call on its way to [`IncomingCalls`](crate::IncomingCalls).
#[derive(Debug)]
pub(crate) struct NewCall {
    pub(crate) id: CallId,
    pub(crate) events: mpsc::UnboundedReceiver<CallEvent>,
    pub(crate) invitation: Box<Invitation>,
}

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

/// What socket tasks report.
enum NetEvent {
    Connected {
        flow: FlowId,
        writer: mpsc::Sender<Bytes>,
    },
    Data {
        flow: FlowId,
        data: Bytes,
    },
    Closed {
        flow: FlowId,
        failed: bool,
    },
}

/// The bound sockets, before the driver starts.
pub(crate) struct Sockets {
    udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
    pub(crate) local_addr: SocketAddr,
}

/// Socket buffer size for UDP, as SIPp's `-buff_size` for load: at thousands of calls a
/// second a burst of datagrams arrives faster than one loop turn drains it, and the kernel's
/// default receive buffer (about 208 KiB on Linux) drops the rest — retransmissions, then
/// failed calls. The kernel caps it at `net.core.rmem_max`/`wmem_max`.
const UDP_BUFFER: usize = 4 * 1024 * 1024;

/// A non-blocking UDP socket bound to `addr` with [`UDP_BUFFER`]-sized buffers (best effort:
/// a kernel that refuses keeps its default).
fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if let Err(e) = socket.set_recv_buffer_size(UDP_BUFFER) {
        debug!("UDP receive buffer left at the default: {e}");
    }
    if let Err(e) = socket.set_send_buffer_size(UDP_BUFFER) {
        debug!("UDP send buffer left at the default: {e}");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

impl Sockets {
    /// Binds UDP and/or TCP on `addr`. Both share one port (one Via sent-by), so with
    /// port 0 the TCP listener takes the port UDP got, retrying when that one is taken.
    pub(crate) async fn bind(addr: SocketAddr, udp: bool, tcp: bool) -> io::Result<Sockets> {
        if !udp && !tcp {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no transport enabled",
            ));
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let udp_socket = if udp { Some(bind_udp(addr)?) } else { None };
            let local = match &udp_socket {
                Some(socket) => socket.local_addr()?,
                None => addr,
            };
            let listener = if tcp {
                match TcpListener::bind(local).await {
                    Ok(listener) => Some(listener),
                    Err(e) if udp && addr.port() == 0 && attempts < 16 => {
                        debug!("TCP port {} taken ({e}); trying another", local.port());
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            } else {
                None
            };
            let local_addr = match &listener {
                Some(l) if udp_socket.is_none() => l.local_addr()?,
                _ => local,
            };
            return Ok(Sockets {
                udp: udp_socket,
                tcp: listener,
                local_addr,
            });
        }
    }

    pub(crate) fn transports(&self) -> &'static [Transport] {
        match (self.udp.is_some(), self.tcp.is_some()) {
            (true, true) => &[Transport::Udp, Transport::Tcp],
            (true, false) => &[Transport::Udp],
            _ => &[Transport::Tcp],
        }
    }
}

/// A TCP connection and when it last carried something.
struct Flow {
    state: FlowState,
    last_used: Instant,
}

enum FlowState {
    /// Connecting; messages wait here. The task connects, then reads.
    Connecting {
        remote: SocketAddr,
        queued: Vec<Bytes>,
        task: JoinHandle<()>,
    },
    Open {
        remote: SocketAddr,
        writer: mpsc::Sender<Bytes>,
        reader: JoinHandle<()>,
    },
}

impl Flow {
    fn new(state: FlowState, now: Instant) -> Flow {
        Flow {
            state,
            last_used: now,
        }
    }

    fn remote(&self) -> SocketAddr {
        match &self.state {
            FlowState::Connecting { remote, .. } | FlowState::Open { remote, .. } => *remote,
        }
    }

    fn abort(&self) {
        match &self.state {
            FlowState::Connecting { task, .. } => task.abort(),
            FlowState::Open { reader, .. } => reader.abort(),
        }
    }
}

struct Driver {
    endpoint: Endpoint,
    local: SocketAddr,
    udp: Option<UdpSocket>,
    udp_queue: VecDeque<(SocketAddr, Bytes)>,
    // Lookup only, never iterated to decide what to send.
    flows: HashMap<FlowId, Flow>,
    net_tx: mpsc::Sender<NetEvent>,
    calls: HashMap<CallId, mpsc::UnboundedSender<CallEvent>>,
    incoming: Option<mpsc::Sender<NewCall>>,
    incoming_queue: usize,
    options: HashMap<TransactionId, oneshot::Sender<Result<StatusCode, Error>>>,
    shutdown: Option<(Instant, Vec<oneshot::Sender<()>>)>,
    observer: Option<MessageObserver>,
    /// TCP connections quiet for this long are closed.
    idle_timeout: Duration,
    /// When to look for idle connections next (while any exist).
    next_idle_sweep: Option<Instant>,
}

/// What woke the loop.
enum Input {
    Datagram(io::Result<(usize, SocketAddr)>),
    Writable,
    Accepted(io::Result<(TcpStream, SocketAddr)>),
    Net(NetEvent),
    Command(Option<Command>),
    Timer,
}

async fn recv_udp(udp: Option<&UdpSocket>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    match udp {
        Some(socket) => socket.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

async fn udp_writable(udp: Option<&UdpSocket>) {
    match udp {
        Some(socket) => {
            // An error here shows up again on the next send; nothing to do with it now.
            let _ = socket.writable().await;
        }
        None => std::future::pending().await,
    }
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// The current time on tokio's clock, as the `std::time::Instant` the core takes.
///
/// Reading tokio's clock rather than std's is what lets an application's tests run calls
/// under `tokio::time::pause`: the paused clock jumps to the next timer when the runtime
/// is idle, and the core must see those jumps or its 32-second timers would still take
/// 32 real seconds (the driver's sleeps end at once, but the core, asked again, would find
/// nothing due yet).
pub(crate) fn clock_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The driver task.
pub(crate) async fn run(
    config: EndpointConfig,
    sockets: Sockets,
    mut commands: mpsc::Receiver<Command>,
    observer: Option<MessageObserver>,
    incoming_queue: usize,
    idle_timeout: Duration,
) {
    let (net_tx, mut net_rx) = mpsc::channel(NET_QUEUE);
    let local = sockets.local_addr;
    let listener = sockets.tcp;
    let mut driver = Driver {
        endpoint: Endpoint::new(config),
        local,
        udp: sockets.udp,
        udp_queue: VecDeque::new(),
        flows: HashMap::new(),
        net_tx,
        calls: HashMap::new(),
        incoming: None,
        incoming_queue,
        options: HashMap::new(),
        shutdown: None,
        observer,
        idle_timeout,
        next_idle_sweep: None,
    };
    debug!(%local, "driver started");
    let mut buf = vec![0u8; 65_536];
    // One Sleep for the whole loop, reset only when the wanted deadline changes.
    let sleep = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    loop {
        let wanted = driver.wakeup();
        if wanted != armed {
            armed = wanted;
            if let Some(at) = wanted {
                sleep.as_mut().reset(tokio::time::Instant::from_std(at));
            }
        }
        let input = tokio::select! {
            r = recv_udp(driver.udp.as_ref(), &mut buf) => Input::Datagram(r),
            () = udp_writable(driver.udp.as_ref()), if !driver.udp_queue.is_empty() => Input::Writable,
            r = accept(listener.as_ref()) => Input::Accepted(r),
            Some(event) = net_rx.recv() => Input::Net(event),
            command = commands.recv() => Input::Command(command),
            () = &mut sleep, if armed.is_some() => Input::Timer,
        };
        // The one clock read of this turn.
        let now = clock_now();
        match input {
            Input::Datagram(result) => {
                let mut result = result;
                for _ in 0..UDP_BATCH {
                    match result {
                        Ok((len, remote)) => {
                            let payload = Bytes::copy_from_slice(buf.get(..len).unwrap_or_default());
                            driver.observe(Direction::Received, Transport::Udp, remote, &payload, now);
                            driver.endpoint.handle_datagram(now, local, remote, payload);
                            driver.drain(now);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        // ICMP errors for earlier sends surface here (ECONNREFUSED on Linux);
                        // they say nothing about this socket, so keep reading.
                        Err(e) => debug!("UDP receive: {e}"),
                    }
                    result = match driver.udp.as_ref() {
                        Some(socket) => socket.try_recv_from(&mut buf),
                        None => break,
                    };
                }
            }
            Input::Writable => driver.flush_udp(),
            Input::Accepted(Ok((stream, remote))) => driver.accepted(now, stream, remote),
            Input::Accepted(Err(e)) => {
                // Usually out of file descriptors: back off a little instead of spinning.
                warn!("TCP accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Input::Net(event) => {
                driver.on_net(now, event);
                while let Ok(event) = net_rx.try_recv() {
                    driver.on_net(now, event);
                }
            }
            Input::Command(None) => {
                debug!("every handle dropped; driver stops");
                break;
            }
            Input::Command(Some(command)) => {
                driver.on_command(now, command);
                for _ in 1..COMMAND_BATCH {
                    match commands.try_recv() {
                        Ok(command) => driver.on_command(now, command),
                        Err(_) => break,
                    }
                }
            }
            Input::Timer => {
                armed = None;
                driver.endpoint.handle_timeout(now);
            }
        }
        driver.close_idle_flows(now);
        driver.drain(now);
        if driver.shutdown_done(now) {
            break;
        }
    }
    driver.stop();
}

impl Driver {
    /// The next instant the loop must wake: the Endpoint's, the shutdown deadline, or the
    /// next look for idle connections.
    fn wakeup(&self) -> Option<Instant> {
        [
            self.endpoint.poll_timeout(),
            self.shutdown.as_ref().map(|(at, _)| *at),
            self.next_idle_sweep,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Closes TCP connections that carried nothing for `idle_timeout`, telling the core
    /// (which reconnects when a dialog next needs one). Runs a few times per timeout.
    fn close_idle_flows(&mut self, now: Instant) {
        if self.flows.is_empty() {
            self.next_idle_sweep = None;
            return;
        }
        let check_every = (self.idle_timeout / 4).max(Duration::from_secs(1));
        match self.next_idle_sweep {
            Some(at) if at > now => return,
            None => {
                self.next_idle_sweep = Some(now + check_every);
                return;
            }
            Some(_) => {}
        }
        let mut idle: Vec<FlowId> = self
            .flows
            .iter()
            .filter(|(_, f)| now.saturating_duration_since(f.last_used) >= self.idle_timeout)
            .map(|(id, _)| *id)
            .collect();
        // In id order, so the core sees the closes in a stable order.
        idle.sort();
        for flow in idle {
            debug!(%flow, "closing idle connection");
            self.close_flow(flow);
            self.endpoint.handle_flow_event(now, flow, FlowEvent::Closed);
        }
        self.next_idle_sweep = (!self.flows.is_empty()).then_some(now + check_every);
    }

    fn observe(
        &self,
        direction: Direction,
        transport: Transport,
        remote: SocketAddr,
        payload: &[u8],
        at: Instant,
    ) {
        if let Some(observer) = &self.observer {
            observer(&MessageTrace {
                direction,
                transport,
                local: self.local,
                remote,
                payload,
                at,
            });
        }
    }

    /// The draining rule: empty every output queue; events may issue commands that queue
    /// more, so go round until all are empty.
    fn drain(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            // Connects first: the transmits of a new flow are queued with its Connect.
            while let Some(request) = self.endpoint.poll_flow_request() {
                busy = true;
                self.flow_request(now, request);
            }
            while let Some(transmit) = self.endpoint.poll_transmit() {
                busy = true;
                self.transmit(now, transmit);
            }
            while let Some(event) = self.endpoint.poll_event() {
                busy = true;
                self.on_event(now, event);
            }
            if !busy {
                return;
            }
        }
    }

    fn transmit(&mut self, now: Instant, transmit: Transmit) {
        let Transmit {
            transport,
            flow,
            remote,
            payload,
            ..
        } = transmit;
        self.observe(Direction::Sent, transport, remote, &payload, now);
        match (transport, flow) {
            (Transport::Udp, _) => self.send_udp(remote, payload),
            (_, Some(flow)) => self.send_stream(now, flow, payload),
            (_, None) => warn!(%transport, %remote, "stream transmit without a connection; dropped"),
        }
    }

    fn send_udp(&mut self, remote: SocketAddr, payload: Bytes) {
        let Some(socket) = &self.udp else {
            warn!(%remote, "UDP is not enabled; message dropped");
            return;
        };
        // Keep order: while anything waits, new datagrams wait behind it.
        if self.udp_queue.is_empty() {
            match socket.try_send_to(&payload, remote) {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    // Unreachable network, wrong address family…: a loss, which the
                    // transaction layer's timers turn into a timeout.
                    debug!(%remote, "UDP send: {e}");
                    return;
                }
            }
        }
        if self.udp_queue.len() >= UDP_QUEUE {
            self.udp_queue.pop_front();
            warn!("UDP send queue full; oldest datagram dropped");
        }
        self.udp_queue.push_back((remote, payload));
    }

    fn flush_udp(&mut self) {
        let Some(socket) = &self.udp else {
            self.udp_queue.clear();
            return;
        };
        while let Some((remote, payload)) = self.udp_queue.front() {
            match socket.try_send_to(payload, *remote) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => debug!(%remote, "UDP send: {e}"),
                Ok(_) => {}
            }
            self.udp_queue.pop_front();
        }
    }

    fn send_stream(&mut self, now: Instant, flow: FlowId, payload: Bytes) {
        let broken = match self.flows.get_mut(&flow) {
            Some(entry) => {
                entry.last_used = now;
                match &mut entry.state {
                    FlowState::Connecting { queued, .. } => {
                        queued.push(payload);
                        false
                    }
                    FlowState::Open { writer, .. } => writer.try_send(payload).is_err(),
                }
            }
            None => true,
        };
        if broken {
            debug!(%flow, "connection gone or too far behind; failing it");
            self.close_flow(flow);
            self.endpoint.handle_flow_event(now, flow, FlowEvent::Failed);
        }
    }

    fn close_flow(&mut self, flow: FlowId) {
        if let Some(state) = self.flows.remove(&flow) {
            // Dropping the writer's sender ends the writer task, which shuts the write half.
            state.abort();
        }
    }

    fn flow_request(&mut self, now: Instant, request: FlowRequest) {
        match request {
            FlowRequest::Connect {
                flow,
                transport: Transport::Tcp,
                remote,
            } => {
                let net = self.net_tx.clone();
                let task = tokio::spawn(connect_then_read(flow, remote, net));
                self.flows.insert(
                    flow,
                    Flow::new(
                        FlowState::Connecting {
                            remote,
                            queued: Vec::new(),
                            task,
                        },
                        now,
                    ),
                );
            }
            FlowRequest::Connect { flow, transport, .. } => {
                warn!(%transport, "transport not supported by this driver");
                self.endpoint.handle_flow_event(now, flow, FlowEvent::Failed);
            }
            FlowRequest::Close { flow } => self.close_flow(flow),
        }
    }

    fn accepted(&mut self, now: Instant, stream: TcpStream, remote: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let flow = self.endpoint.new_flow_id();
        let (read, write) = stream.into_split();
        let writer = spawn_writer(flow, write, self.net_tx.clone());
        let reader = tokio::spawn(read_loop(flow, read, self.net_tx.clone()));
        self.flows.insert(
            flow,
            Flow::new(
                FlowState::Open {
                    remote,
                    writer,
                    reader,
                },
                now,
            ),
        );
        debug!(%flow, %remote, "TCP connection accepted");
        self.endpoint.handle_flow_event(
            now,
            flow,
            FlowEvent::Accepted {
                transport: Transport::Tcp,
                remote,
            },
        );
    }

    fn on_net(&mut self, now: Instant, event: NetEvent) {
        match event {
            NetEvent::Connected { flow, writer } => {
                let Some(Flow {
                    state: FlowState::Connecting { remote, queued, task },
                    ..
                }) = self.flows.remove(&flow)
                else {
                    // Closed while connecting: dropping the writer ends it.
                    return;
                };
                for payload in queued {
                    // A fresh channel holds TCP_QUEUE messages; more than that queued
                    // while connecting is a runaway, so the rest is dropped.
                    if writer.try_send(payload).is_err() {
                        warn!(%flow, "too many messages queued while connecting; some dropped");
                        break;
                    }
                }
                self.flows.insert(
                    flow,
                    Flow::new(
                        FlowState::Open {
                            remote,
                            writer,
                            reader: task,
                        },
                        now,
                    ),
                );
                self.endpoint.handle_flow_event(now, flow, FlowEvent::Connected);
            }
            NetEvent::Data { flow, data } => {
                if let Some(entry) = self.flows.get_mut(&flow) {
                    entry.last_used = now;
                    let remote = entry.remote();
                    self.observe(Direction::Received, Transport::Tcp, remote, &data, now);
                    self.endpoint.handle_stream_data(now, flow, &data);
                }
            }
            NetEvent::Closed { flow, failed } => {
                if self.flows.contains_key(&flow) {
                    self.close_flow(flow);
                    let event = if failed {
                        FlowEvent::Failed
                    } else {
                        FlowEvent::Closed
                    };
                    self.endpoint.handle_flow_event(now, flow, event);
                }
            }
        }
    }

    fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Call { call, event } => self.on_call_event(now, call, event),
            Event::Request {
                transaction, request, ..
            } => self.answer_request(now, transaction, &request),
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

    /// Requests outside any call: OPTIONS gets 200 with our Allow (RFC 3261 §11.2);
    /// anything else the call layer did not take gets 405.
    fn answer_request(&mut self, now: Instant, transaction: TransactionId, request: &Request) {
        let status = if request.method == Method::Options {
            StatusCode::OK
        } else {
            StatusCode::METHOD_NOT_ALLOWED
        };
        if let Ok(mut response) = self.endpoint.response(transaction, status) {
            response.headers.push(HeaderName::Allow, ALLOW);
            if let Err(e) = self.endpoint.respond(now, transaction, response) {
                debug!("respond: {e}");
            }
        }
    }

    fn on_call_event(&mut self, now: Instant, call: CallId, event: CallEvent) {
        match event {
            CallEvent::Incoming {
                request,
                source,
                transport,
            } => {
                let (tx, rx) = mpsc::unbounded_channel();
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
                    let _ = tx.send(event);
                }
            }
            CallEvent::Request {
                transaction,
                ref request,
            } => {
                // Nobody else answers requests inside a call: INFO, MESSAGE, OPTIONS and
                // NOTIFY get 200, the rest 501, so the peer's transaction ends promptly.
                let status = match request.method {
                    Method::Info | Method::Message | Method::Options | Method::Notify => StatusCode::OK,
                    _ => StatusCode::NOT_IMPLEMENTED,
                };
                if let Ok(response) = self.endpoint.response(transaction, status) {
                    if let Err(e) = self.endpoint.respond(now, transaction, response) {
                        debug!("respond: {e}");
                    }
                }
                if let Some(tx) = self.calls.get(&call) {
                    let _ = tx.send(event);
                }
            }
            event => {
                if let Some(tx) = self.calls.get(&call) {
                    // A dropped handle is not an error: the call goes on without a listener.
                    let _ = tx.send(event);
                }
            }
        }
    }

    fn on_command(&mut self, now: Instant, command: Command) {
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
                        let (tx, rx) = mpsc::unbounded_channel();
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

    fn call_op(&mut self, now: Instant, call: CallId, op: CallOp) -> Result<(), sip_core::call::CallError> {
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

    /// True when a shutdown was asked and everything is done or the deadline passed.
    fn shutdown_done(&mut self, now: Instant) -> bool {
        let Some((deadline, _)) = &self.shutdown else {
            return false;
        };
        // Done when the deadline passed, or every call has ended and no transaction is
        // still at work (those only absorbing retransmissions are not waited for).
        now >= *deadline
            || (self.endpoint.call_count() == 0 && self.endpoint.pending_transaction_count() == 0)
    }

    fn stop(&mut self) {
        for (_, flow) in self.flows.drain() {
            flow.abort();
        }
        if let Some((_, waiters)) = self.shutdown.take() {
            for waiter in waiters {
                let _ = waiter.send(());
            }
        }
        debug!(local = %self.local, "driver stopped");
    }
}

/// Connects, hands the driver a writer, then reads until the connection ends.
async fn connect_then_read(flow: FlowId, remote: SocketAddr, net: mpsc::Sender<NetEvent>) {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(remote)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            debug!(%flow, %remote, "TCP connect: {e}");
            let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
            return;
        }
        Err(_) => {
            debug!(%flow, %remote, "TCP connect timed out");
            let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let writer = spawn_writer(flow, write, net.clone());
    // Connected goes first on the same channel, so no Data can overtake it.
    if net.send(NetEvent::Connected { flow, writer }).await.is_err() {
        return;
    }
    read_loop(flow, read, net).await;
}

/// Forwards what a connection reads to the driver, tagged with its flow.
async fn read_loop(flow: FlowId, mut read: OwnedReadHalf, net: mpsc::Sender<NetEvent>) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        buf.reserve(16 * 1024);
        let event = match read.read_buf(&mut buf).await {
            Ok(0) => NetEvent::Closed { flow, failed: false },
            Ok(_) => NetEvent::Data {
                flow,
                data: buf.split().freeze(),
            },
            Err(e) => {
                debug!(%flow, "TCP read: {e}");
                NetEvent::Closed { flow, failed: true }
            }
        };
        let last = matches!(event, NetEvent::Closed { .. });
        if net.send(event).await.is_err() || last {
            return;
        }
    }
}

/// A task writing one connection's messages in order; it ends (closing the write side)
/// when the driver drops the sender, and reports a failed write.
fn spawn_writer(flow: FlowId, mut write: OwnedWriteHalf, net: mpsc::Sender<NetEvent>) -> mpsc::Sender<Bytes> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(TCP_QUEUE);
    tokio::spawn(async move {
        let mut batch = BytesMut::new();
        while let Some(payload) = rx.recv().await {
            // Messages already queued go out in the same write: under load one system
            // call carries a burst instead of one call per message.
            let result = if rx.is_empty() {
                write.write_all(&payload).await
            } else {
                batch.clear();
                batch.extend_from_slice(&payload);
                while batch.len() < TCP_WRITE_BATCH {
                    match rx.try_recv() {
                        Ok(more) => batch.extend_from_slice(&more),
                        Err(_) => break,
                    }
                }
                write.write_all(&batch).await
            };
            if let Err(e) = result {
                debug!(%flow, "TCP write: {e}");
                let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
                return;
            }
        }
        let _ = write.shutdown().await;
    });
    tx
}
