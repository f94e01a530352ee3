//! The transport seam: everything that touches a socket, behind a few small types the
//! driver's loop uses without knowing which transport is underneath.
//!
//! - UDP ([`udp`]) is read by the loop itself: a datagram is a whole message and the hot
//!   path should not cross a channel.
//! - Connection-oriented transports ([`tcp`], [`tls`], [`ws`] for WS and WSS) run as
//!   tasks: an *accept loop* per listener reports [`NetEvent::Accepted`] with a
//!   [`Connection`], and each connection has a *reader* task reporting [`NetEvent::Data`]
//!   (a byte stream the core frames) or [`NetEvent::Message`] (a WebSocket frame, one whole
//!   message) and [`NetEvent::Closed`], and a *writer* task fed through a [`FlowWriter`].
//!   The driver keeps the table of these flows ([`Flows`]) and talks to the core.
//!
//! Adding a transport means a file beside `tcp.rs` with its accept loop, its connect and
//! its reader/writer tasks, a [`Connection`] variant, and a line in [`connect`] and
//! [`Sockets`].

mod flows;
mod tcp;
mod tls;
mod udp;
mod ws;

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use sip_core::endpoint::{FlowId, Transport};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

pub(crate) use flows::Flows;
pub(crate) use tls::TlsSettings;
pub(crate) use udp::Udp;
pub(crate) use udp::{recv_from as udp_recv_from, writable as udp_writable};

/// Events from socket tasks to the driver; readers and accept loops wait when it is full,
/// so a flood is held back by the kernel's buffers instead of growing this queue.
const NET_QUEUE: usize = 1024;

/// Messages waiting for one connection's writer; a connection this far behind is treated
/// as broken rather than buffered without bound. One connection may carry every call (a
/// trunk, SIPp's `-t t1`): at 12k calls/s that is ~50k messages/s, so the bound must
/// absorb a scheduling hiccup of a fraction of a second, not just a few ms.
pub(crate) const FLOW_QUEUE: usize = 16 * 1024;

/// What socket tasks report to the driver.
pub(crate) enum NetEvent {
    /// An accept loop took a connection; the driver gives it a flow id and starts it.
    Accepted {
        transport: Transport,
        remote: SocketAddr,
        connection: Connection,
    },
    /// A connection the driver asked for is up; messages for it go to `writer` now.
    Connected { flow: FlowId, writer: FlowWriter },
    /// Bytes read from a connection (part of a message, or several).
    Data { flow: FlowId, data: Bytes },
    /// One whole message from a message-oriented connection (a WebSocket frame).
    Message { flow: FlowId, data: Bytes },
    /// The peer answered a keep-alive (a WebSocket pong) or sent one.
    KeepAlive { flow: FlowId },
    /// A connection ended: closed by the peer, or `failed` (connect, read or write error).
    Closed { flow: FlowId, failed: bool },
    /// A DNS lookup of the driver's ([`crate::dns`]) is done: the answer to question `id`.
    /// (Without the `dns` feature no lookup runs, so none is sent.)
    #[cfg_attr(not(feature = "dns"), allow(dead_code))]
    Dns {
        id: sip_core::endpoint::DnsQueryId,
        result: Result<sip_core::dns::DnsAnswer, sip_core::dns::DnsError>,
    },
}

/// Where socket tasks send their [`NetEvent`]s.
pub(crate) type NetSender = mpsc::Sender<NetEvent>;

/// The channel of [`NetEvent`]s, bounded by [`NET_QUEUE`].
pub(crate) fn net_channel() -> (NetSender, mpsc::Receiver<NetEvent>) {
    mpsc::channel(NET_QUEUE)
}

/// A connection taken by an accept loop, before the driver gave it a flow id.
pub(crate) enum Connection {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A TLS connection, handshake done (boxed: the session state is large).
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
    /// A WebSocket connection (`ws://`), handshake done.
    Ws(Box<ws::PlainStream>),
    /// A secure WebSocket connection (`wss://`), handshakes done.
    Wss(Box<ws::SecureStream>),
}

impl Connection {
    /// Starts the connection's reader and writer tasks, tagged with `flow`.
    pub(crate) fn start(self, flow: FlowId, net: &NetSender) -> OpenedFlow {
        match self {
            Connection::Tcp(stream) => tcp::start(flow, stream, net),
            Connection::Tls(stream) => tls::start(flow, *stream, net),
            Connection::Ws(stream) => ws::start(flow, *stream, net),
            Connection::Wss(stream) => ws::start(flow, *stream, net),
        }
    }
}

/// The tasks of a connection that is up.
pub(crate) struct OpenedFlow {
    pub(crate) writer: FlowWriter,
    pub(crate) reader: JoinHandle<()>,
}

/// The sending end of one connection's writer task: messages go out in order, whatever
/// the transport.
pub(crate) struct FlowWriter(mpsc::Sender<Bytes>);

impl FlowWriter {
    /// A writer and the receiving end its task reads, holding up to [`FLOW_QUEUE`]
    /// messages.
    fn channel() -> (FlowWriter, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(FLOW_QUEUE);
        (FlowWriter(tx), rx)
    }

    /// Queues `payload` without waiting. Fails when the writer task is gone or
    /// [`FLOW_QUEUE`] messages behind.
    pub(crate) fn send(&self, payload: Bytes) -> Result<(), Bytes> {
        self.0.try_send(payload).map_err(|e| e.into_inner())
    }
}

/// Starts connecting a new flow over `transport`: the task reports
/// [`NetEvent::Connected`] (then reads) or [`NetEvent::Closed`] with `failed`. `None` when
/// this driver has no such transport.
pub(crate) fn connect(
    transport: Transport,
    flow: FlowId,
    (remote, server_name): (SocketAddr, Option<String>),
    connectors: &Connectors,
    net: &NetSender,
) -> Option<JoinHandle<()>> {
    match transport {
        Transport::Tcp => Some(tcp::connect(flow, remote, net.clone())),
        Transport::Tls => {
            let connector = connectors.tls.clone()?;
            Some(tls::connect(flow, (remote, server_name), connector, net.clone()))
        }
        Transport::Ws => Some(ws::connect(
            flow,
            (remote, server_name),
            None,
            connectors.ws.clone(),
            net.clone(),
        )),
        Transport::Wss => {
            let connector = connectors.tls.clone()?;
            Some(ws::connect(
                flow,
                (remote, server_name),
                Some(connector),
                connectors.ws.clone(),
                net.clone(),
            ))
        }
        // UDP has no connections (nor does any transport added to the core after this
        // driver).
        _ => None,
    }
}

/// What the driver needs to open connections beyond TCP's: TLS's client settings (for
/// TLS and WSS) and the WebSocket limits.
#[derive(Clone)]
pub(crate) struct Connectors {
    tls: Option<tokio_rustls::TlsConnector>,
    ws: ws::WsSettings,
}

/// A listening socket, before its accept loop starts.
enum Listener {
    Tcp(TcpListener),
    Tls(TcpListener, tokio_rustls::TlsAcceptor),
    /// WebSocket: `ws://` without an acceptor, `wss://` with one.
    Ws(TcpListener, Option<tokio_rustls::TlsAcceptor>),
}

/// The bound sockets, before the driver starts.
pub(crate) struct Sockets {
    udp: Option<Udp>,
    listeners: Vec<Listener>,
    connectors: Connectors,
    pub(crate) local_addr: SocketAddr,
    /// The TLS listener's port, when there is one.
    pub(crate) tls_port: Option<u16>,
    /// The WebSocket listener's port, when there is one.
    pub(crate) ws_port: Option<u16>,
    /// The secure WebSocket listener's port, when there is one.
    pub(crate) wss_port: Option<u16>,
    /// TLS's settings as built, for a WSS listener added after TLS.
    tls_config: Option<tls::TlsConfig>,
}

impl Sockets {
    /// Binds UDP and/or TCP on `addr`. Both share one port (one Via sent-by), so with
    /// port 0 the TCP listener takes the port UDP got, retrying when that one is taken.
    /// `max_message` (the core's `max_message_size`) limits WebSocket frames.
    pub(crate) async fn bind(
        addr: SocketAddr,
        udp: bool,
        tcp: bool,
        max_message: usize,
    ) -> io::Result<Sockets> {
        if !udp && !tcp {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no transport enabled",
            ));
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let udp_socket = if udp { Some(Udp::bind(addr)?) } else { None };
            let local = match &udp_socket {
                Some(socket) => socket.local_addr()?,
                None => addr,
            };
            let listener = if tcp {
                match tcp::bind(local).await {
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
                listeners: listener.into_iter().map(Listener::Tcp).collect(),
                connectors: Connectors {
                    tls: None,
                    ws: ws::WsSettings { max_message },
                },
                local_addr,
                tls_port: None,
                ws_port: None,
                wss_port: None,
                tls_config: None,
            });
        }
    }

    /// Adds TLS: connections are opened with `settings`, and with a `listen` port (0
    /// picks a free one) on the bound address's IP, accepted there too — which needs an
    /// identity (a certificate and its key).
    pub(crate) async fn add_tls(&mut self, settings: &TlsSettings, listen: Option<u16>) -> io::Result<()> {
        let config = settings.build()?;
        if let Some(port) = listen {
            let acceptor = config.acceptor.clone().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a TLS listener needs an identity (Builder::tls_identity)",
                )
            })?;
            let listener = tcp::bind(SocketAddr::new(self.local_addr.ip(), port)).await?;
            self.tls_port = Some(listener.local_addr()?.port());
            self.listeners.push(Listener::Tls(listener, acceptor));
        }
        self.connectors.tls = Some(config.connector.clone());
        self.tls_config = Some(config);
        Ok(())
    }

    /// Adds a WebSocket listener (RFC 7118) on `port` of the bound address's IP (0 picks a
    /// free one): `ws://`, or `wss://` when `secure` — which needs TLS added first with an
    /// identity. (Connecting over WS needs nothing added; over WSS, TLS.)
    pub(crate) async fn add_ws(&mut self, port: u16, secure: bool) -> io::Result<()> {
        let acceptor = if secure {
            let acceptor = self.tls_config.as_ref().and_then(|c| c.acceptor.clone());
            Some(acceptor.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a WSS listener needs a TLS identity (Builder::tls_identity)",
                )
            })?)
        } else {
            None
        };
        let listener = tcp::bind(SocketAddr::new(self.local_addr.ip(), port)).await?;
        let port = Some(listener.local_addr()?.port());
        if secure {
            self.wss_port = port;
        } else {
            self.ws_port = port;
        }
        self.listeners.push(Listener::Ws(listener, acceptor));
        Ok(())
    }

    /// The transports listened on, in the order of [`Transport`].
    pub(crate) fn transports(&self) -> Vec<Transport> {
        let tcp = self.listeners.iter().any(|l| matches!(l, Listener::Tcp(_)));
        [
            (Transport::Udp, self.udp.is_some()),
            (Transport::Tcp, tcp),
            (Transport::Tls, self.tls_port.is_some()),
            (Transport::Ws, self.ws_port.is_some()),
            (Transport::Wss, self.wss_port.is_some()),
        ]
        .into_iter()
        .filter_map(|(transport, on)| on.then_some(transport))
        .collect()
    }

    /// The transports requests can go out over: UDP with a UDP socket, TCP and WS always
    /// (a connection needs no listener), TLS and WSS once TLS is configured. RFC 3263
    /// chooses among these.
    pub(crate) fn sendable(&self) -> Vec<Transport> {
        let mut transports = Vec::with_capacity(5);
        if self.udp.is_some() {
            transports.push(Transport::Udp);
        }
        transports.push(Transport::Tcp);
        if self.connectors.tls.is_some() {
            transports.push(Transport::Tls);
        }
        transports.push(Transport::Ws);
        if self.connectors.tls.is_some() {
            transports.push(Transport::Wss);
        }
        transports
    }

    /// Starts an accept loop per listener, reporting to `net`; hands back the UDP socket
    /// (read by the driver's loop) and the loops, for the driver to stop.
    pub(crate) fn start(self, net: &NetSender) -> (Option<Udp>, Vec<JoinHandle<()>>, Connectors) {
        let accept_loops = self
            .listeners
            .into_iter()
            .map(|listener| match listener {
                Listener::Tcp(listener) => tokio::spawn(tcp::accept_loop(listener, net.clone())),
                Listener::Tls(listener, acceptor) => {
                    tokio::spawn(tls::accept_loop(listener, acceptor, net.clone()))
                }
                Listener::Ws(listener, acceptor) => tokio::spawn(ws::accept_loop(
                    listener,
                    acceptor,
                    self.connectors.ws.clone(),
                    net.clone(),
                )),
            })
            .collect();
        (self.udp, accept_loops, self.connectors)
    }
}
