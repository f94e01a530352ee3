//! The Endpoint's identifiers, configuration, inputs and outputs.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use crate::call::{CallConfig, CallEvent, CallStats};
use crate::message::validate::UasPolicy;
use crate::message::{Request, Response};
use crate::transaction::{Timer, TimerConfig};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) u64);

        impl $name {
            /// The raw number (never reused within one Endpoint).
            pub fn as_u64(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_type!(
    /// A transaction of one Endpoint. Ids come from a counter that is never reset, so a
    /// stale id can never reach a new transaction.
    TransactionId,
    "tx"
);
id_type!(
    /// A call (INVITE session) of one Endpoint — not the SIP `Call-ID` header, which is
    /// text. Never reused.
    CallId,
    "call"
);
id_type!(
    /// A connection (TCP, TLS, WebSocket) of one Endpoint.
    FlowId,
    "flow"
);

/// Transport protocols (RFC 3261 §18; RFC 7118 for WebSocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    },
    /// Close the connection (a framing error made it unusable, RFC 4475 §3.1.2.3).
    Close {
        /// The flow.
        flow: FlowId,
    },
}

/// What the driver reports about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowEvent {
    /// A connection from a peer was accepted; the driver chose the id with
    /// [`Endpoint::new_flow_id`](super::Endpoint::new_flow_id).
    Accepted {
        /// The transport.
        transport: Transport,
        /// The peer.
        remote: SocketAddr,
    },
    /// A connection the Endpoint asked for is up.
    Connected,
    /// The connection closed.
    Closed,
    /// The connection could not be opened or broke (RFC 3261 §18.4).
    Failed,
}

/// What happened, for the transaction user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new request; answer it with [`Endpoint::respond`](super::Endpoint::respond).
    Request {
        /// Its server transaction.
        transaction: TransactionId,
        /// The request, with `received`/`rport` added to its top Via.
        request: Request,
        /// Who sent it.
        source: SocketAddr,
        /// How it came.
        transport: Transport,
    },
    /// An ACK that belongs to no INVITE server transaction in a state that absorbs it: the
    /// ACK for a 2xx, which the dialog layer consumes (RFC 3261 §13.3.1.4).
    Ack {
        /// The ACK.
        request: Request,
        /// Who sent it.
        source: SocketAddr,
    },
    /// A response to a request sent with [`Endpoint::send_request`](super::Endpoint::send_request).
    Response {
        /// The client transaction.
        transaction: TransactionId,
        /// The response.
        response: Response,
    },
    /// A 2xx to an INVITE that matched no transaction (a retransmission after Timer M, or
    /// a late fork): the dialog layer ACKs it (RFC 3261 §13.2.2.4).
    StrayInviteSuccess {
        /// The response.
        response: Response,
    },
    /// A CANCEL matched this pending INVITE server transaction; the Endpoint answered the
    /// CANCEL with 200 and the INVITE with 487 (RFC 3261 §9.2).
    Cancelled {
        /// The INVITE's server transaction.
        transaction: TransactionId,
    },
    /// Timer B or F (client: no final response) or H (server: no ACK) fired.
    Timeout {
        /// The transaction.
        transaction: TransactionId,
        /// Which timer.
        timer: Timer,
    },
    /// The transport could not deliver for this transaction (RFC 3261 §8.1.3.1).
    TransportError {
        /// The transaction.
        transaction: TransactionId,
    },
    /// The transaction is over and forgotten.
    Terminated {
        /// The transaction.
        transaction: TransactionId,
    },
    /// Something happened to a call (see [`crate::call`]).
    Call {
        /// The call.
        call: CallId,
        /// What.
        event: CallEvent,
    },
}

/// Limits: hitting one answers 503 or refuses with an error, never grows memory unbounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointLimits {
    /// Largest message accepted, in bytes.
    pub max_message_size: usize,
    /// Live transactions (client and server together); a new request over the limit gets
    /// 503 with Retry-After.
    pub max_transactions: usize,
    /// Open connections.
    pub max_flows: usize,
    /// Live calls (INVITE sessions); a new INVITE over the limit gets 503 with Retry-After.
    pub max_calls: usize,
}

impl Default for EndpointLimits {
    fn default() -> Self {
        EndpointLimits {
            max_message_size: 65_535,
            max_transactions: 1_000_000,
            max_flows: 10_000,
            max_calls: 1_000_000,
        }
    }
}

/// How an [`Endpoint`](super::Endpoint) behaves.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The address this endpoint sends from and puts in its Via sent-by.
    pub local: SocketAddr,
    /// T1, T2, T4.
    pub timers: TimerConfig,
    /// Seed for branches, tags and Call-IDs. Drivers seed from the OS; tests use a constant.
    pub seed: u64,
    /// User-Agent / Server header value, if any.
    pub user_agent: Option<String>,
    /// Limits.
    pub limits: EndpointLimits,
    /// What requests the UAS accepts (drives 405/501/416/420/415/…).
    pub policy: UasPolicy,
    /// Path MTU: a UDP request within 200 bytes of it goes over TCP (RFC 3261 §18.1.1).
    pub mtu: usize,
    /// Send 100 (Trying) as soon as an INVITE arrives (RFC 3261 §17.2.1).
    pub send_trying: bool,
    /// Retry-After seconds in the 503 sent over the transaction limit.
    pub retry_after: u32,
    /// The call layer (dialogs and invite sessions).
    pub calls: CallConfig,
}

impl EndpointConfig {
    /// Defaults for an endpoint at `local`, seeded with `seed`.
    pub fn new(local: SocketAddr, seed: u64) -> Self {
        EndpointConfig {
            local,
            timers: TimerConfig::default(),
            seed,
            user_agent: None,
            limits: EndpointLimits::default(),
            policy: UasPolicy::default(),
            mtu: 1500,
            send_trying: true,
            retry_after: 5,
            calls: CallConfig::default(),
        }
    }
}

/// Caller misuse of a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No live transaction has this id (it terminated, or never existed here).
    #[error("no such transaction {0}")]
    UnknownTransaction(TransactionId),
    /// The transaction's state does not allow this (e.g. a second final response).
    #[error("transaction {0} does not accept this now")]
    InvalidState(TransactionId),
    /// The request lacks something the transaction layer needs.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The transaction limit is reached.
    #[error("too many transactions")]
    TooManyTransactions,
    /// The connection limit is reached.
    #[error("too many connections")]
    TooManyFlows,
}

/// Counters, for monitoring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages received (datagrams and framed stream messages).
    pub received: u64,
    /// Messages handed to the transport, retransmissions included.
    pub sent: u64,
    /// Retransmissions sent (by timers or in answer to retransmitted requests).
    pub retransmitted: u64,
    /// Messages received and dropped: stray responses, bad responses, absorbed duplicates.
    pub dropped: u64,
    /// Messages that did not parse.
    pub invalid: u64,
    /// Requests answered with an error status by validation (400, 505, 416, 420, 482, 503…).
    pub rejected: u64,
    /// Call counters.
    pub calls: CallStats,
}

/// When and why the Endpoint wants to be woken (see [`Endpoint::poll_timeout`](super::Endpoint::poll_timeout)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wakeup {
    /// The deadline.
    pub at: Instant,
    /// The transaction whose timer it is.
    pub transaction: TransactionId,
    /// The timer.
    pub timer: Timer,
}
