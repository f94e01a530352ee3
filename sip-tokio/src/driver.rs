//! The driver task: one loop that owns the Endpoint, its sockets and its clock.
//!
//! This file is the loop and what it does with the network; [`commands`] carries out the
//! handles' commands, [`events`] routes the core's events to the application, and the
//! sockets sit behind [`crate::transport`].
//!
//! # Every queue has a limit
//!
//! Neither the network nor a slow application can grow the driver's memory without bound:
//!
//! - commands from the handles: `COMMAND_QUEUE` (1024, `user_agent.rs`); senders wait;
//! - socket tasks to the driver: `NET_QUEUE` (1024); readers and accept loops wait, and
//!   the kernel's buffers hold the rest;
//! - datagrams waiting for a writable UDP socket: `UDP_QUEUE` (4096); the oldest is
//!   dropped, a loss the transaction layer retransmits over;
//! - messages for one connection, connecting or open: `FLOW_QUEUE` (16 Ki); past it the
//!   flow fails, as a connection that far behind is as good as broken;
//! - each call's events: `Builder::call_event_queue` (64) plus a slot for the end; newer
//!   events are dropped and counted (the policy is on `Call`);
//! - incoming calls waiting for the application: `Builder::incoming_queue` (1024); past
//!   it new calls get 503; REFERs from peers likewise;
//! - each transfer's events: `TRANSFER_EVENT_QUEUE` (8), progress dropped past it and a
//!   slot kept for the result;
//! - DNS lookups running for the core (RFC 3263): `dns::MAX_IN_FLIGHT` (64); past it a
//!   question is answered failed at once, and the answers come back over `NET_QUEUE`;
//! - the tables (calls, flows, OPTIONS waiting for their answer) hold one entry per live
//!   call, connection or transaction, so the core's `EndpointLimits` bound them.

mod commands;
mod events;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::endpoint::{
    CallId, Endpoint, EndpointConfig, FlowEvent, FlowId, FlowRequest, TransactionId, Transmit, Transport,
};
use sip_core::message::StatusCode;
use sip_core::subscription::SubscriptionId;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

pub(crate) use commands::{CallOp, Command, ReferOp, TransferTo};
pub(crate) use events::NewCall;

use crate::Error;
use crate::call_events::CallEventSender;
use crate::dns::Lookups;
use crate::trace::{Direction, MessageObserver, MessageTrace};
use crate::transport::{self, Flows, NetEvent, NetSender, Sockets, Udp};

struct Driver {
    endpoint: Endpoint,
    local: SocketAddr,
    udp: Option<Udp>,
    flows: Flows,
    net_tx: NetSender,
    /// Client settings for transports beyond TCP (TLS, WebSocket).
    connectors: transport::Connectors,
    /// The listeners' accept loops, stopped with the driver.
    accept_loops: Vec<JoinHandle<()>>,
    /// The DNS lookups asked by the core (RFC 3263), running in tasks of their own.
    dns: Lookups,
    // One entry per live call the application holds: bounded by the core's `max_calls`.
    // Each call's queue of events is bounded too (`call_event_queue`).
    calls: HashMap<CallId, CallEventSender>,
    // The peer's latest session description per live call (a copy of the body, not of the
    // datagram): one entry per live call at most, gone with the call.
    remote_descriptions: HashMap<CallId, Bytes>,
    incoming: Option<mpsc::Sender<NewCall>>,
    incoming_queue: usize,
    // One entry per transfer we asked for that has not ended: each is a live REFER
    // subscription, so the core's `max_subscriptions` bounds it.
    transfers: HashMap<SubscriptionId, events::TransferSender>,
    /// Where REFERs from peers go (`UserAgent::incoming_refers`); bounded by
    /// `incoming_queue`.
    refers: Option<mpsc::Sender<crate::transfer::NewRefer>>,
    // One entry per live registration: the core's registrations bound it (each is a
    // command of the application's).
    registrations: HashMap<
        sip_core::registration::RegistrationId,
        mpsc::Sender<sip_core::registration::RegistrationEvent>,
    >,
    // One entry per MESSAGE in progress: each is a live transaction.
    messages: HashMap<sip_core::pager::MessageId, oneshot::Sender<Result<StatusCode, Error>>>,
    /// Where incoming MESSAGEs go (`UserAgent::incoming_messages`); bounded by
    /// `incoming_queue`.
    incoming_messages: Option<mpsc::Sender<crate::pager::IncomingMessage>>,
    /// Where requests of the methods the application takes go
    /// (`UserAgent::incoming_requests`); bounded by `incoming_queue`.
    requests: Option<mpsc::Sender<crate::requests::NewRequest>>,
    call_event_queue: usize,
    // One entry per request a handle sent and waits for (OPTIONS, raw requests, requests
    // inside a call): each is a live transaction, so the core's `max_transactions` bounds
    // it, and it goes when the transaction ends.
    waiting: HashMap<TransactionId, oneshot::Sender<Result<sip_core::message::Response, Error>>>,
    // One waiter per `shutdown` call still waiting: each caller waits, so no more than
    // the tasks calling it.
    shutdown: Option<(Instant, Vec<oneshot::Sender<()>>)>,
    observer: Option<MessageObserver>,
}

/// Datagrams read per loop turn before the other inputs get a look in.
const UDP_BATCH: usize = 64;
/// Commands taken per loop turn, for the same fairness.
const COMMAND_BATCH: usize = 64;

/// What woke the loop.
enum Input {
    Datagram(io::Result<(usize, SocketAddr)>),
    Writable,
    Net(NetEvent),
    Command(Option<Command>),
    Timer,
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

/// How the driver treats the application and the network, from the
/// [`Builder`](crate::Builder).
pub(crate) struct DriverOptions {
    pub(crate) observer: Option<MessageObserver>,
    /// Incoming calls waiting for the application before new ones get 503.
    pub(crate) incoming_queue: usize,
    /// Events each call's handle may leave unread.
    pub(crate) call_event_queue: usize,
    /// The resolver for the core's DNS questions.
    pub(crate) dns: Lookups,
}

/// The driver task.
pub(crate) async fn run(
    config: EndpointConfig,
    sockets: Sockets,
    mut commands: mpsc::Receiver<Command>,
    options: DriverOptions,
) {
    let DriverOptions {
        observer,
        incoming_queue,
        call_event_queue,
        dns,
    } = options;
    let (net_tx, mut net_rx) = transport::net_channel();
    let local = sockets.local_addr;
    let (udp, accept_loops, connectors) = sockets.start(&net_tx);
    let mut driver = Driver {
        endpoint: Endpoint::new(config),
        local,
        udp,
        flows: Flows::new(),
        net_tx,
        connectors,
        accept_loops,
        dns,
        calls: HashMap::new(),
        remote_descriptions: HashMap::new(),
        incoming: None,
        incoming_queue,
        transfers: HashMap::new(),
        refers: None,
        registrations: HashMap::new(),
        messages: HashMap::new(),
        incoming_messages: None,
        requests: None,
        call_event_queue,
        waiting: HashMap::new(),
        shutdown: None,
        observer,
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
        let udp_waiting = driver.udp.as_ref().is_some_and(Udp::has_queued);
        let input = tokio::select! {
            r = transport::udp_recv_from(driver.udp.as_ref(), &mut buf) => Input::Datagram(r),
            () = transport::udp_writable(driver.udp.as_ref()), if udp_waiting => Input::Writable,
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
                        Err(e) => {
                            if let Some(udp) = driver.udp.as_mut() {
                                udp.receive_failed(&e);
                            }
                        }
                    }
                    result = match driver.udp.as_ref() {
                        Some(udp) => udp.try_recv_from(&mut buf),
                        None => break,
                    };
                }
            }
            Input::Writable => {
                if let Some(udp) = driver.udp.as_mut() {
                    udp.flush();
                }
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
        driver.drain(now);
        if driver.shutdown_done(now) {
            break;
        }
    }
    driver.stop();
}

impl Driver {
    /// The next instant the loop must wake: the Endpoint's, or the shutdown deadline.
    fn wakeup(&self) -> Option<Instant> {
        [
            self.endpoint.poll_timeout(),
            self.shutdown.as_ref().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
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
            // Destinations that refused our datagrams: their requests fail now.
            for remote in self.udp.as_mut().map(Udp::take_refused).unwrap_or_default() {
                busy = true;
                debug!(%remote, "UDP destination refused a datagram (ICMP port unreachable)");
                self.endpoint.handle_unreachable(now, remote);
            }
            // Connects first: the transmits of a new flow are queued with its Connect.
            while let Some(request) = self.endpoint.poll_flow_request() {
                busy = true;
                self.flow_request(now, request);
            }
            while let Some(transmit) = self.endpoint.poll_transmit() {
                busy = true;
                self.transmit(now, transmit);
            }
            // RFC 3263 questions: each looked up in a task, answered through `on_net`; one
            // that cannot be looked up now is answered at once.
            while let Some(query) = self.endpoint.poll_dns_query() {
                busy = true;
                let id = query.id;
                if let Err(error) = self.dns.start(query, &self.net_tx) {
                    self.endpoint.handle_dns_response(now, id, Err(error));
                }
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
            (Transport::Udp, _) => match self.udp.as_mut() {
                Some(udp) => udp.send(remote, payload),
                None => warn!(%remote, "UDP is not enabled; message dropped"),
            },
            (_, Some(flow)) => self.send_stream(now, flow, payload),
            (_, None) => warn!(%transport, %remote, "stream transmit without a connection; dropped"),
        }
    }

    fn send_stream(&mut self, now: Instant, flow: FlowId, payload: Bytes) {
        if !self.flows.send(flow, payload) {
            debug!(%flow, "connection gone or too far behind; failing it");
            self.flows.close(flow);
            self.endpoint.handle_flow_event(now, flow, FlowEvent::Failed);
        }
    }

    fn flow_request(&mut self, now: Instant, request: FlowRequest) {
        match request {
            FlowRequest::Connect {
                flow,
                transport,
                remote,
                server_name,
            } => match transport::connect(
                transport,
                flow,
                (remote, server_name),
                &self.connectors,
                &self.net_tx,
            ) {
                Some(task) => self.flows.connecting(flow, transport, remote, task),
                None => {
                    warn!(%transport, "transport not supported by this driver");
                    self.endpoint.handle_flow_event(now, flow, FlowEvent::Failed);
                }
            },
            FlowRequest::Close { flow } => {
                self.flows.close(flow);
            }
            // A request kind added to the core after this driver was written.
            other => warn!(?other, "flow request not understood by this driver"),
        }
    }

    fn on_net(&mut self, now: Instant, event: NetEvent) {
        match event {
            NetEvent::Accepted {
                transport,
                remote,
                connection,
            } => {
                let flow = self.endpoint.new_flow_id();
                let opened = connection.start(flow, &self.net_tx);
                self.flows.opened(flow, transport, remote, opened);
                debug!(%flow, %remote, %transport, "connection accepted");
                self.endpoint
                    .handle_flow_event(now, flow, FlowEvent::Accepted { transport, remote });
            }
            NetEvent::Connected { flow, writer } => {
                if self.flows.connected(flow, writer) {
                    self.endpoint.handle_flow_event(now, flow, FlowEvent::Connected);
                }
            }
            NetEvent::Data { flow, data } => {
                if let Some((transport, remote)) = self.flows.peer(flow) {
                    self.observe(Direction::Received, transport, remote, &data, now);
                    self.endpoint.handle_stream_data(now, flow, &data);
                }
            }
            NetEvent::KeepAlive { flow } => {
                if self.flows.peer(flow).is_some() {
                    self.endpoint.handle_flow_event(now, flow, FlowEvent::KeepAlive);
                }
            }
            NetEvent::Message { flow, data } => {
                if let Some((transport, remote)) = self.flows.peer(flow) {
                    self.observe(Direction::Received, transport, remote, &data, now);
                    self.endpoint.handle_flow_message(now, flow, data);
                }
            }
            NetEvent::Closed { flow, failed } => {
                if self.flows.close(flow) {
                    let event = if failed {
                        FlowEvent::Failed
                    } else {
                        FlowEvent::Closed
                    };
                    self.endpoint.handle_flow_event(now, flow, event);
                }
            }
            NetEvent::Dns { id, result } => {
                if self.dns.finished(id) {
                    self.endpoint.handle_dns_response(now, id, result);
                }
            }
        }
    }

    /// True when a shutdown was asked and everything is done or the deadline passed.
    fn shutdown_done(&mut self, now: Instant) -> bool {
        let Some((deadline, _)) = &self.shutdown else {
            return false;
        };
        // Done when the deadline passed, or every call has ended and no transaction is
        // still at work (those only absorbing retransmissions are not waited for).
        now >= *deadline
            || (self.endpoint.call_count() == 0
                && self.endpoint.registration_count() == 0
                && self.endpoint.pending_transaction_count() == 0)
    }

    fn stop(&mut self) {
        for accept_loop in &self.accept_loops {
            accept_loop.abort();
        }
        self.dns.stop();
        self.flows.close_all();
        if let Some((_, waiters)) = self.shutdown.take() {
            for waiter in waiters {
                let _ = waiter.send(());
            }
        }
        debug!(local = %self.local, "driver stopped");
    }
}
