//! How an Endpoint behaves ([`EndpointConfig`], [`EndpointLimits`]) and what it counts
//! ([`Stats`]).

use std::net::SocketAddr;
use std::time::Duration;

use crate::call::{CallConfig, CallStats};
use crate::message::validate::UasPolicy;
use crate::subscription::SubscriptionConfig;
use crate::transaction::TimerConfig;
use crate::transport::Transport;

/// Limits: hitting one answers 503 or refuses with an error, never grows memory unbounded.
///
/// Built from [`EndpointLimits::default`] and changed field by field (the struct is
/// `#[non_exhaustive]`: limits are added as attacks are found).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointLimits {
    /// Largest message accepted, in bytes.
    pub max_message_size: usize,
    /// Live transactions (client and server together); a new request over the limit gets
    /// 503 with Retry-After.
    pub max_transactions: usize,
    /// Open connections. When the table is full, a new connection evicts the oldest one
    /// that has not carried a whole message yet (it cannot hold a dialog), and is refused
    /// only when there is none.
    pub max_flows: usize,
    /// Connections accepted from one IP address; more are refused, so one host cannot fill
    /// the table.
    pub max_flows_per_source: usize,
    /// A connection that completes no message (or CRLF keep-alive) for this long is closed.
    /// Bytes of an unfinished message do not count. Keep it above the RFC 5626 keep-alive
    /// interval clients use on TCP (95–120 s).
    pub flow_idle_timeout: Duration,
    /// Once the first byte of a message arrives on a connection, the rest must follow
    /// within this, or the connection is closed: a peer trickling bytes cannot hold a slot
    /// and a buffer.
    pub flow_message_timeout: Duration,
    /// Bytes of unfinished messages held for all connections together; past it, the
    /// connections whose unfinished message started first are closed.
    pub max_buffered_bytes: usize,
    /// Live calls (INVITE sessions); a new INVITE over the limit gets a stateless 503 with
    /// Retry-After, before any transaction or call is made for it.
    pub max_calls: usize,
    /// Calls one IP address may have started (incoming calls it holds); past it, its new
    /// INVITEs get the same 503, so a flood from one host leaves room for everyone else.
    /// Behind a proxy every call arrives from the proxy's address: set this to
    /// `max_calls` there.
    pub max_calls_per_source: usize,
    /// Live subscriptions (ours and peers' to us, REFER's implicit ones included); a new
    /// SUBSCRIBE over the limit gets 503 with Retry-After, `subscribe` an error.
    pub max_subscriptions: usize,
}

/// Sized for one process on an ordinary server, so that every table at its limit still
/// fits in a few hundred megabytes:
/// - 10,000 calls: a busy PBX or contact centre at peak (~55 calls/s at a 3-minute hold).
///   A call costs the core ~1.5 KB once connected and up to ~5 KB while its 2xx awaits an
///   ACK, and an async driver with a task and a handle per call about twice that again,
///   so a full table stays near 100 MB. One address may hold half of them (5,000): a flood
///   from one host leaves the other half for everyone else, and what it makes the process
///   hold stays under ~70 MB (`bench/flood.sh`). Behind a proxy every call comes from its
///   address: raise `max_calls_per_source` to `max_calls` there.
/// - 300,000 transactions: a transaction outlives its final response by up to 32 s
///   (Timers H, J), so this holds ~9,000 requests/s sustained; one that only absorbs
///   retransmissions keeps its key and its response, well under a kilobyte.
/// - 10,000 connections, 256 from one address (an office NAT of a few hundred phones);
///   idle after 300 s (above RFC 5626 keep-alive intervals); 20 s to finish a message;
///   32 MiB for unfinished messages in all (500 of the largest at once), where 10,000
///   connections each holding one could otherwise take 640 MB.
impl Default for EndpointLimits {
    fn default() -> Self {
        EndpointLimits {
            max_message_size: 65_535,
            max_transactions: 300_000,
            max_flows: 10_000,
            max_flows_per_source: 256,
            flow_idle_timeout: Duration::from_secs(300),
            flow_message_timeout: Duration::from_secs(20),
            max_buffered_bytes: 32 << 20,
            max_calls: 10_000,
            max_calls_per_source: 5_000,
            max_subscriptions: 10_000,
        }
    }
}

/// How an [`Endpoint`](crate::Endpoint) behaves.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The address this endpoint is bound to and sends from. It is also the address it
    /// names in its Via sent-by, Contact and default identity, unless
    /// [`advertised`](EndpointConfig::advertised) says otherwise.
    pub local: SocketAddr,
    /// The address this endpoint says it is at, when it is not `local`: bound to
    /// `0.0.0.0` (or `[::]`), behind a port-forwarding NAT, or on a host reached under
    /// another address. It goes in the Via sent-by, the Contact and the default identity
    /// (`sip:` + this address); `local` stays the address datagrams are sent from. See
    /// [`EndpointConfig::advertised_addr`].
    pub advertised: Option<SocketAddr>,
    /// The port TLS is reached at, when it is not the advertised address's port (a TLS
    /// listener cannot share the port of a TCP one): our Contact for TLS names it.
    pub tls_port: Option<u16>,
    /// The port our WebSocket listener (RFC 7118) is reached at: our Via and Contact over
    /// WS name it, as `tls_port` does for TLS. `None`: the advertised address's port.
    pub ws_port: Option<u16>,
    /// The port our secure WebSocket listener is reached at, for our Via and Contact over
    /// WSS. `None`: the advertised address's port.
    pub wss_port: Option<u16>,
    /// The Max-Forwards of every request the Endpoint originates (RFC 3261 §8.1.1.6;
    /// default 70): calls, dialog requests, CANCEL and ACK, subscriptions, registrations,
    /// messages, and requests sent with
    /// [`Endpoint::send_request`](crate::Endpoint::send_request) that carry none.
    pub max_forwards: u8,
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
    /// Retry-After seconds in the 503 sent over a limit, or to new requests while the
    /// Endpoint is not accepting (`Endpoint::set_accepting`).
    pub retry_after: u32,
    /// The call layer (dialogs and invite sessions).
    pub calls: CallConfig,
    /// Subscriptions (RFC 6665): the event packages we notify for, and intervals.
    pub subscriptions: SubscriptionConfig,
    /// Instant messages outside a dialog (MESSAGE, RFC 3428).
    pub messages: crate::pager::PagerConfig,
    /// The transports the driver can send over (default UDP and TCP): RFC 3263 picks
    /// only among these, and a request that needs another fails at once.
    pub transports: Vec<Transport>,
    /// Server location by DNS (RFC 3263): how long answers and failed targets are kept.
    pub dns: DnsConfig,
    /// Usernames and passwords for digest authentication (RFC 3261 §22, RFC 7616): a 401
    /// or 407 to a request of ours is answered with them, and the request sent again.
    pub credentials: Vec<Credential>,
}

/// How the Endpoint locates servers by DNS (RFC 3263) and remembers what it learnt.
///
/// Defaults: a question unanswered after 8 s counts as failed (hickory's own timeout
/// is 5 s); answers are kept for their TTL but at most an hour, and "no such record" for
/// 30 s; a target that failed (a transport error, a timeout or a 503, RFC 3263 §4.3) is
/// tried last for 60 s; at most 1,024 answers are kept and 1,024 lookups wait at once.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// How long a question may go unanswered before it counts as failed.
    pub query_timeout: Duration,
    /// The longest an answer is kept, whatever its TTL.
    pub max_ttl: Duration,
    /// How long "no such record" is kept.
    pub negative_ttl: Duration,
    /// How long a target that failed is put last.
    pub failed_target_memory: Duration,
    /// How many answers are kept; past it the one that expires first goes.
    pub max_cache_entries: usize,
    /// How many names may be waiting for answers at once; past it a request to a new
    /// name fails at once.
    pub max_pending_lookups: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            query_timeout: Duration::from_secs(8),
            max_ttl: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(30),
            failed_target_memory: Duration::from_secs(60),
            max_cache_entries: 1024,
            max_pending_lookups: 1024,
        }
    }
}

/// A username and password for digest authentication, for one realm or for any.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The realm they are for; `None`: every realm without credentials of its own.
    pub realm: Option<String>,
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

impl Credential {
    /// Credentials for every realm.
    pub fn any_realm(username: &str, password: &str) -> Self {
        Credential {
            realm: None,
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }
}

impl std::fmt::Debug for Credential {
    /// The password stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("realm", &self.realm)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl EndpointConfig {
    /// Defaults for an endpoint at `local`, seeded with `seed`.
    pub fn new(local: SocketAddr, seed: u64) -> Self {
        EndpointConfig {
            local,
            advertised: None,
            tls_port: None,
            ws_port: None,
            wss_port: None,
            max_forwards: 70,
            timers: TimerConfig::default(),
            seed,
            user_agent: None,
            limits: EndpointLimits::default(),
            policy: UasPolicy::default(),
            mtu: 1500,
            send_trying: true,
            retry_after: 5,
            calls: CallConfig::default(),
            subscriptions: SubscriptionConfig::default(),
            messages: crate::pager::PagerConfig::default(),
            credentials: Vec::new(),
            transports: vec![Transport::Udp, Transport::Tcp],
            dns: DnsConfig::default(),
        }
    }

    /// The address this endpoint names itself by in Via, Contact and its default
    /// identity: [`advertised`](EndpointConfig::advertised) when set, else
    /// [`local`](EndpointConfig::local).
    ///
    /// ```
    /// use sip_core::endpoint::EndpointConfig;
    ///
    /// let mut config = EndpointConfig::new("0.0.0.0:5060".parse().unwrap(), 1);
    /// assert_eq!(config.advertised_addr(), config.local);
    /// config.advertised = Some("192.0.2.7:5060".parse().unwrap());
    /// assert_eq!(config.advertised_addr().to_string(), "192.0.2.7:5060");
    /// ```
    pub fn advertised_addr(&self) -> SocketAddr {
        self.advertised.unwrap_or(self.local)
    }

    /// The address we name ourselves by over `transport` (our Via sent-by and Contact):
    /// the [advertised address](EndpointConfig::advertised_addr), with the port of the
    /// transport's own listener when it has one ([`tls_port`](EndpointConfig::tls_port),
    /// [`ws_port`](EndpointConfig::ws_port), [`wss_port`](EndpointConfig::wss_port)).
    ///
    /// ```
    /// use sip_core::endpoint::{EndpointConfig, Transport};
    ///
    /// let mut config = EndpointConfig::new("192.0.2.1:5060".parse().unwrap(), 1);
    /// config.ws_port = Some(8080);
    /// assert_eq!(config.transport_addr(Transport::Ws).to_string(), "192.0.2.1:8080");
    /// assert_eq!(config.transport_addr(Transport::Wss).to_string(), "192.0.2.1:5060");
    /// ```
    pub fn transport_addr(&self, transport: Transport) -> SocketAddr {
        let advertised = self.advertised_addr();
        let port = match transport {
            Transport::Tls => self.tls_port,
            Transport::Ws => self.ws_port,
            Transport::Wss => self.wss_port,
            _ => None,
        };
        match port {
            Some(port) => SocketAddr::new(advertised.ip(), port),
            None => advertised,
        }
    }

    /// How we write our address for `transport` in Via and Contact: the
    /// [`transport_addr`](EndpointConfig::transport_addr), except over WS and WSS without
    /// a listener of ours, where nothing could reach that address: there RFC 7118 §5's
    /// `.invalid` host stands (a token derived from the seed by SHA-256, so it is stable
    /// for a seed and says nothing of it). Responses and requests come back on the
    /// connection anyway.
    pub(crate) fn sent_by(&self, transport: Transport) -> String {
        let listener = match transport {
            Transport::Ws => self.ws_port,
            Transport::Wss => self.wss_port,
            _ => return self.transport_addr(transport).to_string(),
        };
        if listener.is_some() {
            return self.transport_addr(transport).to_string();
        }
        use sha2::Digest;
        let mut digest = sha2::Sha256::new();
        digest.update(self.seed.to_le_bytes());
        digest.update(b"RFC 7118 .invalid host");
        let token: String = digest
            .finalize()
            .iter()
            .take(6)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("{token}.invalid")
    }
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
    /// Messages and events dropped because the driver left 65,536 of them untaken (it
    /// should poll after every input).
    pub outputs_dropped: u64,
    /// REFERs we sent (RFC 3515).
    pub refers_sent: u64,
    /// REFERs we received.
    pub refers_received: u64,
    /// Transfers we asked for (REFER) whose final NOTIFY said 2xx.
    pub transfers_succeeded: u64,
    /// Transfers we asked for whose final NOTIFY said a failure.
    pub transfers_failed: u64,
    /// Connections refused on arrival: the table was full of flows that carried messages,
    /// or their address held its share already.
    pub flows_refused: u64,
    /// Connections closed to make room: accepted ones that had not carried a whole message
    /// when the table was full, and those holding the oldest unfinished messages when
    /// unfinished messages held more than `max_buffered_bytes`.
    pub flows_evicted: u64,
    /// Connections closed for completing nothing for the idle timeout, or for leaving a
    /// message unfinished past its deadline.
    pub flows_timed_out: u64,
    /// DNS questions asked of the driver (RFC 3263).
    pub dns_queries: u64,
    /// Requests sent to the next DNS target after the one before failed (a transport
    /// error, a timeout or a 503; RFC 3263 §4.3).
    pub failovers: u64,
    /// Requests that found no target at all: no records, every answer failed, or every
    /// target refused before one could be tried.
    pub unlocated: u64,
    /// Call counters.
    pub calls: CallStats,
}
