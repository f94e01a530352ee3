//! Transports and what crosses between the core and a driver's sockets: datagrams and
//! stream bytes to send ([`Transmit`]), connections to open or close ([`FlowRequest`]) and
//! what happened to them ([`FlowEvent`]).

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::ids::FlowId;

/// Transport protocols (RFC 3261 §18; RFC 7118 for WebSocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Transport {
    /// UDP: unreliable; the transaction layer retransmits.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// WebSocket.
    Ws,
    /// Secure WebSocket.
    Wss,
}

impl Transport {
    /// True for every transport but UDP: Timers A, E, G do not run and D, I, J, K are 0.
    pub fn is_reliable(self) -> bool {
        self != Transport::Udp
    }

    /// The Via transport token.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bytes to send: over UDP from `local` to `remote`, or over connection `flow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The transport.
    pub transport: Transport,
    /// The connection to write to, for connection-oriented transports.
    pub flow: Option<FlowId>,
    /// The local address to send from.
    pub local: SocketAddr,
    /// The destination.
    pub remote: SocketAddr,
    /// The message. A retransmission is the same `Bytes` (a reference count, not a copy).
    pub payload: Bytes,
}

/// A connection the Endpoint wants the driver to open or close.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowRequest {
    /// Connect to `remote` over `transport`; report the outcome with
    /// [`FlowEvent::Connected`] or [`FlowEvent::Failed`]. Transmits for this flow may
    /// already be queued: send them once connected.
    Connect {
        /// The new flow.
        flow: FlowId,
        /// The transport.
        transport: Transport,
        /// Where to connect.
        remote: SocketAddr,
        /// For TLS and WSS: the name the peer's certificate must carry, and the SNI to
        /// send — the host of the URI being reached when it is a name (RFC 5922 §4), not
        /// the SRV target's; `None`: check the certificate against `remote`'s address.
        server_name: Option<String>,
    },
    /// Close the connection (a framing error made it unusable, RFC 4475 §3.1.2.3).
    Close {
        /// The flow.
        flow: FlowId,
    },
}

/// What the driver reports about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowEvent {
    /// A connection from a peer was accepted; the driver chose the id with
    /// [`Endpoint::new_flow_id`](crate::Endpoint::new_flow_id).
    Accepted {
        /// The transport.
        transport: Transport,
        /// The peer.
        remote: SocketAddr,
    },
    /// A connection the Endpoint asked for is up.
    Connected,
    /// The peer showed it is there without sending a message: a WebSocket pong or ping
    /// (RFC 6455 §5.5.2, RFC 7118 has no CRLF keep-alive). It keeps the connection from
    /// being closed as idle, as a CRLF keep-alive does on TCP (RFC 5626 §4.4.1).
    KeepAlive,
    /// The connection closed.
    Closed,
    /// The connection could not be opened or broke (RFC 3261 §18.4).
    Failed,
}

/// Where a transaction's (or a usage's) messages go: the transport, the connection for
/// connection-oriented transports, and the peer's address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    pub(crate) transport: Transport,
    pub(crate) flow: Option<FlowId>,
    pub(crate) remote: SocketAddr,
}

/// The transport a request to `uri` goes over (RFC 3261 §18.1.1, RFC 3263 §4.1 without
/// DNS): its `transport` parameter (`tcp`, `tls`, `ws`, `wss`), else TLS for a `sips:`
/// URI, else UDP. A `sips:` URI never goes over a transport that is not secure: with
/// `tcp` it is TLS, with `ws` it is WSS (RFC 7118 §5.2 names the secure WebSocket by a
/// `sips:` URI with `transport=ws`; `transport=wss`, which peers write too, is taken as
/// WSS as well).
pub fn uri_transport(uri: &crate::message::Uri) -> Transport {
    let sips = uri.scheme() == crate::message::Scheme::Sips;
    match uri.transport_param() {
        Some(t) if t.eq_ignore_ascii_case("tls") => Transport::Tls,
        Some(t) if t.eq_ignore_ascii_case("tcp") && sips => Transport::Tls,
        Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
        Some(t) if t.eq_ignore_ascii_case("wss") => Transport::Wss,
        Some(t) if t.eq_ignore_ascii_case("ws") && sips => Transport::Wss,
        Some(t) if t.eq_ignore_ascii_case("ws") => Transport::Ws,
        _ if sips => Transport::Tls,
        _ => Transport::Udp,
    }
}
