//! The transport seam: everything that touches a socket, behind a few small types the
//! driver's loop uses without knowing which transport is underneath.
//!
//! - UDP ([`udp`]) is read by the loop itself: a datagram is a whole message and the hot
//!   path should not cross a channel.
//! - Connection-oriented transports ([`tcp`], [`tls`]; WebSocket later) run as tasks: an
//!   *accept loop* per listener reports [`NetEvent::Accepted`] with a [`Connection`], and
//!   each connection has a *reader* task reporting [`NetEvent::Data`] and
//!   [`NetEvent::Closed`] and a *writer* task fed through a [`FlowWriter`]. The driver
//!   keeps the table of these flows ([`Flows`]) and talks to the core.
//!
//! Adding a transport means a file beside `tcp.rs` with its accept loop, its connect and
//! its reader/writer tasks, a [`Connection`] variant, and a line in [`connect`] and
//! [`Sockets`].

mod flows;
mod tcp;
mod tls;
mod udp;

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
}

impl Connection {
    /// Starts the connection's reader and writer tasks, tagged with `flow`.
    pub(crate) fn start(self, flow: FlowId, net: &NetSender) -> OpenedFlow {
        match self {
            Connection::Tcp(stream) => tcp::start(flow, stream, net),
            Connection::Tls(stream) => tls::start(flow, *stream, net),
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
    remote: SocketAddr,
    connectors: &Connectors,
    net: &NetSender,
) -> Option<JoinHandle<()>> {
    match transport {
        Transport::Tcp => Some(tcp::connect(flow, remote, net.clone())),
        Transport::Tls => {
            let connector = connectors.tls.clone()?;
            Some(tls::connect(flow, remote, connector, net.clone()))
        }
        // UDP has no connections; WebSocket is not here yet (nor any transport added to
        // the core after this driver).
        _ => None,
    }
}

/// What the driver needs to open connections beyond TCP's: TLS's client settings.
#[derive(Clone, Default)]
pub(crate) struct Connectors {
    tls: Option<tokio_rustls::TlsConnector>,
}

/// A listening socket, before its accept loop starts.
enum Listener {
    Tcp(TcpListener),
    Tls(TcpListener, tokio_rustls::TlsAcceptor),
}

/// The bound sockets, before the driver starts.
pub(crate) struct Sockets {
    udp: Option<Udp>,
    listeners: Vec<Listener>,
    connectors: Connectors,
    pub(crate) local_addr: SocketAddr,
    /// The TLS listener's port, when there is one.
    pub(crate) tls_port: Option<u16>,
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
                connectors: Connectors::default(),
                local_addr,
                tls_port: None,
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
        self.connectors.tls = Some(config.connector);
        Ok(())
    }

    /// The transports bound.
    pub(crate) fn transports(&self) -> &'static [Transport] {
        let tcp = self.listeners.iter().any(|l| matches!(l, Listener::Tcp(_)));
        let tls = self.tls_port.is_some();
        match (self.udp.is_some(), tcp, tls) {
            (true, true, true) => &[Transport::Udp, Transport::Tcp, Transport::Tls],
            (true, true, false) => &[Transport::Udp, Transport::Tcp],
            (true, false, true) => &[Transport::Udp, Transport::Tls],
            (true, false, false) => &[Transport::Udp],
            (false, true, true) => &[Transport::Tcp, Transport::Tls],
            (false, false, true) => &[Transport::Tls],
            (false, _, false) => &[Transport::Tcp],
        }
    }

    /// The transports requests can go out over: UDP with a UDP socket, TCP always (a
    /// connection needs no listener), TLS once configured. RFC 3263 chooses among these.
    pub(crate) fn sendable(&self) -> Vec<Transport> {
        let mut transports = Vec::with_capacity(3);
        if self.udp.is_some() {
            transports.push(Transport::Udp);
        }
        transports.push(Transport::Tcp);
        if self.connectors.tls.is_some() {
            transports.push(Transport::Tls);
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
            })
            .collect();
        (self.udp, accept_loops, self.connectors)
    }
}
