//! The user-facing handle and its builder.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use sip_core::endpoint::{EndpointConfig, EndpointLimits};
use sip_core::message::{NameAddr, Request, Response, StatusCode, Uri};
use sip_core::transaction::TimerConfig;
use tokio::sync::{mpsc, oneshot};

use crate::AgentStats;
use crate::Error;
use crate::call::{Call, IncomingCalls};
use crate::call_events::DEFAULT_CALL_EVENT_QUEUE;
use crate::driver::{self, Command, DriverOptions};
use crate::pager::IncomingMessages;
use crate::registration::Registration;
use crate::requests::IncomingRequests;
use crate::trace::{MessageObserver, MessageTrace};
use crate::transfer::IncomingRefers;
use crate::transport::{Sockets, TlsSettings};

/// Commands queued between the handles and the driver; senders wait when it is full, so a
/// burst of commands cannot grow memory without bound.
const COMMAND_QUEUE: usize = 1024;

/// The listeners beyond UDP and TCP, and the TLS files, of an agent configured from the
/// command line (`sipua listen --transport tls,ws,wss --cert … --key …`): see
/// [`Builder::transport_options`]. Every field is off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportOptions {
    /// A TLS listener on this port (0: a free one).
    pub tls: Option<u16>,
    /// A WebSocket (`ws://`, RFC 7118) listener on this port (0: a free one).
    pub ws: Option<u16>,
    /// A secure WebSocket (`wss://`) listener on this port (0: a free one).
    pub wss: Option<u16>,
    /// Our certificate chain and private key, PEM files: needed by the TLS and WSS
    /// listeners, and presented to servers that ask for a client certificate.
    pub certificate: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// PEM files of the certificates a TLS or WSS server's must chain to.
    pub roots: Vec<std::path::PathBuf>,
    /// Accept any server certificate, unverified: for tests only (anyone on the path can
    /// then read and change the signalling).
    pub insecure: bool,
}

/// Configures and starts a [`UserAgent`].
pub struct Builder {
    bind: SocketAddr,
    advertise: Option<SocketAddr>,
    udp: bool,
    tcp: bool,
    tls_listen: Option<u16>,
    tls: TlsSettings,
    tls_on: bool,
    tls_identity_files: Option<(std::path::PathBuf, std::path::PathBuf)>,
    tls_roots_files: Vec<std::path::PathBuf>,
    ws_listen: Option<u16>,
    wss_listen: Option<u16>,
    user_agent: Option<String>,
    identity: Option<String>,
    display_name: Option<String>,
    max_forwards: u8,
    timers: TimerConfig,
    limits: EndpointLimits,
    seed: Option<u64>,
    reliable_provisionals: bool,
    incoming_queue: usize,
    call_event_queue: usize,
    accept_refer: bool,
    end_call_after_transfer: bool,
    app_methods: Vec<sip_core::message::Method>,
    content_types: Vec<String>,
    outbound_proxy: Option<String>,
    dialog_events: bool,
    credentials: Vec<sip_core::config::Credential>,
    idle_timeout: Option<Duration>,
    dns_server: Option<SocketAddr>,
    observer: Option<MessageObserver>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("bind", &self.bind)
            .field("advertise", &self.advertise)
            .field("udp", &self.udp)
            .field("tcp", &self.tcp)
            .field("tls_listen", &self.tls_listen)
            .field("tls_insecure", &self.tls.insecure)
            .field("ws_listen", &self.ws_listen)
            .field("wss_listen", &self.wss_listen)
            .field("user_agent", &self.user_agent)
            .field("identity", &self.identity)
            .field("dns_server", &self.dns_server)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            udp: true,
            tcp: false,
            tls_listen: None,
            tls: TlsSettings::default(),
            tls_on: false,
            tls_identity_files: None,
            tls_roots_files: Vec::new(),
            ws_listen: None,
            wss_listen: None,
            user_agent: Some(concat!("sip-rs/", env!("CARGO_PKG_VERSION")).to_owned()),
            identity: None,
            display_name: None,
            max_forwards: 70,
            timers: TimerConfig::default(),
            limits: EndpointLimits::default(),
            seed: None,
            reliable_provisionals: false,
            incoming_queue: 1024,
            call_event_queue: DEFAULT_CALL_EVENT_QUEUE,
            accept_refer: false,
            end_call_after_transfer: true,
            credentials: Vec::new(),
            app_methods: Vec::new(),
            content_types: Vec::new(),
            outbound_proxy: None,
            dialog_events: false,
            idle_timeout: None,
            dns_server: None,
            observer: None,
        }
    }
}

impl Builder {
    /// The local address (IPv4 or IPv6; port 0 picks a free port). Default
    /// `127.0.0.1:0`.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The address to name ourselves by in Via, Contact and the default identity, when it
    /// is not the bound one: the agent is bound to `0.0.0.0` (or `[::]`), or sits behind a
    /// port-forwarding NAT. Requests and responses still go out from the bound address;
    /// peers send their answers and in-dialog requests here. A port of 0 stands for the
    /// bound port (useful with [`Builder::bind`] on port 0). Default: the bound address.
    ///
    /// ```
    /// use sip_tokio::UserAgent;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sip_tokio::Error> {
    /// // Bound to every interface, reached at 127.0.0.1 on the same port.
    /// let agent = UserAgent::builder()
    ///     .bind("0.0.0.0:0".parse()?)
    ///     .advertise("127.0.0.1:0".parse()?)
    ///     .start()
    ///     .await?;
    /// assert!(agent.local_addr().ip().is_unspecified());
    /// assert_eq!(agent.advertised_addr().ip().to_string(), "127.0.0.1");
    /// assert_eq!(agent.advertised_addr().port(), agent.local_addr().port());
    /// # agent.shutdown(std::time::Duration::ZERO).await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }

    /// Listen and send over UDP (default on).
    pub fn udp(mut self, on: bool) -> Self {
        self.udp = on;
        self
    }

    /// Listen for and open TCP connections (default off). The listener takes the same
    /// port as the UDP socket, since both share one Via sent-by.
    pub fn tcp(mut self, on: bool) -> Self {
        self.tcp = on;
        self
    }

    /// Listen for TLS connections on `port` of the bound address's IP (0 picks a free
    /// port; 5061 is the standard one), with the certificate of
    /// [`Builder::tls_identity`]. Our Contact for TLS names this port; requests to a
    /// `sips:` URI or one with `;transport=tls` go over TLS (connections are reused, as
    /// for TCP). Default: no TLS listener.
    pub fn tls(mut self, port: u16) -> Self {
        self.tls_listen = Some(port);
        self.tls_on = true;
        self
    }

    /// Listen for WebSocket connections (RFC 7118, `ws://`) on `port` of the bound
    /// address's IP (0 picks a free port). Only handshakes that offer the `sip`
    /// subprotocol are taken; each frame carries one SIP message. Our Via and Contact over
    /// WS name this port. Requests to a URI with `;transport=ws` go over WS whether or not
    /// this listener is on (connections are reused, as for TCP). Default: no WS listener.
    ///
    /// ```
    /// # async fn example() -> Result<(), sip_tokio::Error> {
    /// let agent = sip_tokio::UserAgent::builder().ws(0).start().await?;
    /// let ws = agent.ws_addr().expect("a WebSocket listener");
    /// println!("browsers connect to ws://{ws}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn ws(mut self, port: u16) -> Self {
        self.ws_listen = Some(port);
        self
    }

    /// Listen for secure WebSocket connections (`wss://`: WebSocket over TLS) on `port`
    /// of the bound address's IP (0 picks a free port), with the certificate of
    /// [`Builder::tls_identity`]. Requests to a URI with `;transport=wss` (or a `sips:`
    /// URI with `;transport=ws`, RFC 7118 §5.2) go over WSS, checking the server's
    /// certificate against [`Builder::tls_roots`] as TLS does. Default: no WSS listener.
    pub fn wss(mut self, port: u16) -> Self {
        self.wss_listen = Some(port);
        self.tls_on = true;
        self
    }

    /// Our TLS certificate chain (leaf first) and its private key, as PEM text: presented
    /// by the TLS and WSS listeners, and to a server that asks for a client certificate.
    pub fn tls_identity(mut self, cert_chain_pem: impl AsRef<[u8]>, key_pem: impl AsRef<[u8]>) -> Self {
        self.tls.identity = Some((cert_chain_pem.as_ref().to_vec(), key_pem.as_ref().to_vec()));
        self.tls_identity_files = None;
        self.tls_on = true;
        self
    }

    /// As [`Builder::tls_identity`], read from PEM files when the agent starts.
    pub fn tls_identity_files(
        mut self,
        cert_chain: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls_identity_files = Some((cert_chain.into(), key.into()));
        self.tls_on = true;
        self
    }

    /// Adds the certificates of `ca_pem` (PEM, one or more) to those a TLS server's
    /// certificate must chain to. Without any, and without
    /// [`Builder::tls_insecure_for_tests`], every TLS connection we open fails.
    pub fn tls_roots(mut self, ca_pem: impl AsRef<[u8]>) -> Self {
        self.tls.roots.push(ca_pem.as_ref().to_vec());
        self.tls_on = true;
        self
    }

    /// The listeners and TLS files of `options` (what `sipua`'s `--transport`, `--cert`,
    /// `--key`, `--ca` and `--insecure` say): [`Builder::tls`], [`Builder::ws`],
    /// [`Builder::wss`], [`Builder::tls_identity_files`], roots read from PEM files when
    /// the agent starts, and [`Builder::tls_insecure_for_tests`].
    pub fn transport_options(mut self, options: &TransportOptions) -> Self {
        if let Some(port) = options.tls {
            self = self.tls(port);
        }
        if let Some(port) = options.ws {
            self = self.ws(port);
        }
        if let Some(port) = options.wss {
            self = self.wss(port);
        }
        if let Some((chain, key)) = &options.certificate {
            self = self.tls_identity_files(chain, key);
        }
        if !options.roots.is_empty() {
            self.tls_roots_files.extend(options.roots.iter().cloned());
            self.tls_on = true;
        }
        if options.insecure {
            self = self.tls_insecure_for_tests();
        }
        self
    }

    /// Accepts any TLS server certificate, unverified: for tests only. Anyone on the path
    /// can then read and change the signalling.
    pub fn tls_insecure_for_tests(mut self) -> Self {
        self.tls.insecure = true;
        self.tls_on = true;
        self
    }

    /// The User-Agent / Server header value (`None`: none sent).
    pub fn user_agent(mut self, value: Option<String>) -> Self {
        self.user_agent = value;
        self
    }

    /// Who we are: the From of the requests we make (calls, messages, OPTIONS), our
    /// Referred-By and the address-of-record we register by default — a SIP URI
    /// (`sip:alice@example.com`) or a name-addr (`<sip:alice@example.com>`, `"Alice"
    /// <sip:alice@example.com>`). Its user part goes in our Contact too. Default: `sip:` +
    /// the advertised (else bound) address. [`Builder::start`] fails with
    /// [`Error::BadIdentity`] when it does not parse (see
    /// [`parse_identity`](sip_core::call::parse_identity)).
    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = Some(identity.into());
        self
    }

    /// A display name for our identity: `"Alice" <sip:…>` in From, with the URI of
    /// [`Builder::identity`] or the default one (it replaces a display name the identity
    /// has).
    ///
    /// ```
    /// use sip_tokio::UserAgent;
    ///
    /// let builder = UserAgent::builder()
    ///     .identity("sip:alice@192.0.2.1")
    ///     .display_name("Alice");
    /// # let _ = builder;
    /// ```
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }

    /// The Max-Forwards of every request this agent originates (default 70, RFC 3261
    /// §8.1.1.6).
    pub fn max_forwards(mut self, hops: u8) -> Self {
        self.max_forwards = hops;
        self
    }

    /// T1 (RTT estimate, default 500 ms).
    pub fn t1(mut self, value: Duration) -> Self {
        self.timers.t1 = value;
        self
    }

    /// T2 (longest retransmit interval, default 4 s).
    pub fn t2(mut self, value: Duration) -> Self {
        self.timers.t2 = value;
        self
    }

    /// T4 (longest a message stays in the network, default 5 s).
    pub fn t4(mut self, value: Duration) -> Self {
        self.timers.t4 = value;
        self
    }

    /// The Endpoint's limits (message size, transactions, flows, calls).
    pub fn limits(mut self, limits: EndpointLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Seed for tags, branches and Call-IDs (default: drawn from the OS). A constant
    /// seed makes ids repeatable, which helps when comparing traces.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Send provisionals reliably (RFC 3262) when the peer supports it.
    pub fn reliable_provisionals(mut self, on: bool) -> Self {
        self.reliable_provisionals = on;
        self
    }

    /// How many incoming calls may wait unanswered in [`IncomingCalls`] before new ones
    /// are refused with 503 (default 1024).
    pub fn incoming_queue(mut self, calls: usize) -> Self {
        self.incoming_queue = calls.max(1);
        self
    }

    /// How many events each call may queue for its [`Call`] handle before newer ones are
    /// dropped and counted (default 64; at least 1). One more slot is always kept for the
    /// call's [`Terminated`](crate::CallEvent::Terminated) event, which is never dropped.
    /// See [`Call`] for the whole policy.
    pub fn call_event_queue(mut self, events: usize) -> Self {
        self.call_event_queue = events.max(1);
        self
    }

    /// How long a TCP connection may complete no message before it is closed (default 5
    /// minutes, [`EndpointLimits::flow_idle_timeout`]; this wins over what
    /// [`Builder::limits`] says). A dialog whose connection was closed sends its next
    /// request over a new one.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle.max(Duration::from_secs(1)));
        self
    }

    /// A function called (in the driver task, so it must be quick) for every SIP message
    /// sent or received — for ladders and traces.
    pub fn on_message(mut self, observer: impl Fn(&MessageTrace<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Digest credentials (RFC 3261 §22, RFC 7616) for every realm without its own: a 401
    /// or 407 to a REGISTER, INVITE or MESSAGE of this agent is answered with them.
    pub fn credentials(mut self, username: &str, password: &str) -> Self {
        self.credentials
            .push(sip_core::config::Credential::any_realm(username, password));
        self
    }

    /// Digest credentials for one realm (they win over [`Builder::credentials`] there).
    pub fn realm_credentials(mut self, realm: &str, username: &str, password: &str) -> Self {
        self.credentials.push(sip_core::config::Credential {
            realm: Some(realm.to_owned()),
            username: username.to_owned(),
            password: password.to_owned(),
        });
        self
    }

    /// Takes `method` (REGISTER, PUBLISH, an extension method…) outside dialogs as the
    /// application's own: such requests arrive on [`UserAgent::incoming_requests`] for it
    /// to answer, and the method is in our Allow.
    pub fn take_method(mut self, method: sip_core::message::Method) -> Self {
        if !self.app_methods.contains(&method) {
            self.app_methods.push(method);
        }
        self
    }

    /// Sends every request outside a dialog — INVITE, REGISTER, MESSAGE, SUBSCRIBE — to
    /// `proxy` (`sip:IP[:port][;transport=tcp]`) with a preloaded Route (loose routing,
    /// RFC 3261 §8.1.2); requests inside a dialog follow its route set.
    ///
    /// ```
    /// # async fn example() -> Result<(), sip_tokio::Error> {
    /// let ua = sip_tokio::UserAgent::builder()
    ///     .outbound_proxy("sip:192.0.2.7:5060")
    ///     .credentials("alice", "secret")
    ///     .accept_content_type("application/vnd.example+json")
    ///     .dialog_events(true)
    ///     .start()
    ///     .await?;
    /// # drop(ua);
    /// # Ok(())
    /// # }
    /// ```
    pub fn outbound_proxy(mut self, proxy: &str) -> Self {
        self.outbound_proxy = Some(proxy.to_owned());
        self
    }

    /// Reports each change of a call's dialog states on the call's handle
    /// ([`CallEvent::DialogState`](sip_core::call::CallEvent::DialogState): created early or
    /// confirmed, confirmed, terminated). Off by default.
    pub fn dialog_events(mut self, on: bool) -> Self {
        self.dialog_events = on;
        self
    }

    /// Accepts bodies of `content_type` (`type/subtype`) in requests, beside the defaults
    /// (SDP, `application/dtmf-relay`, `application/dtmf`, sipfrag, `text/plain`, the
    /// multipart types); a request with any other body gets 415 with our Accept.
    pub fn accept_content_type(mut self, content_type: &str) -> Self {
        let content_type = content_type.trim().to_ascii_lowercase();
        if !self.content_types.contains(&content_type) {
            self.content_types.push(content_type);
        }
        self
    }

    /// Takes REFER (RFC 3515): peers' transfers arrive on
    /// [`UserAgent::incoming_refers`], and REFER, `norefersub` are advertised. Off by
    /// default: REFER gets 405.
    pub fn accept_refer(mut self, on: bool) -> Self {
        self.accept_refer = on;
        self
    }

    /// Whether a call is hung up once a transfer we asked for in it succeeds (default
    /// on: the peer talks to the target now, RFC 5589 §6). Off, ending it is the
    /// application's choice.
    pub fn end_call_after_transfer(mut self, on: bool) -> Self {
        self.end_call_after_transfer = on;
        self
    }

    /// Asks `server` the DNS questions of server location (RFC 3263: NAPTR, SRV, A or
    /// AAAA for a target whose host is a name), over UDP and, for a truncated answer, TCP —
    /// instead of the nameservers of the system's configuration (`/etc/resolv.conf`), the
    /// default. For tests and for a nameserver of one's own: names are asked as they are
    /// (no search domains, as with the system's configuration) and `/etc/hosts` is not
    /// read; `localhost` is the loopback address all the same (RFC 6761). Without the
    /// crate's `dns` feature there is no resolver, and this changes nothing: every
    /// lookup fails.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sip_tokio::Error> {
    /// let agent = sip_tokio::UserAgent::builder()
    ///     .dns_server("127.0.0.1:5353".parse()?)
    ///     .start()
    ///     .await?;
    /// # agent.shutdown(std::time::Duration::ZERO).await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn dns_server(mut self, server: SocketAddr) -> Self {
        self.dns_server = Some(server);
        self
    }

    /// Binds the sockets and starts the driver task on the current tokio runtime.
    ///
    /// Fails with [`Error::BadIdentity`] when the [identity](Builder::identity) does not
    /// parse, and with [`Error::Io`] when an address is in use or cannot be bound.
    pub async fn start(self) -> Result<UserAgent, Error> {
        let identity = match &self.identity {
            Some(identity) => Some(
                sip_core::call::parse_identity(identity)
                    .map_err(|e| Error::BadIdentity(format!("{identity}: {e}")))?,
            ),
            None => None,
        };
        let max_message = self.limits.max_message_size;
        let mut sockets = Sockets::bind(self.bind, self.udp, self.tcp, max_message).await?;
        if self.tls_on {
            let mut settings = self.tls.clone();
            if let Some((chain, key)) = &self.tls_identity_files {
                settings.identity = Some((std::fs::read(chain)?, std::fs::read(key)?));
            }
            for roots in &self.tls_roots_files {
                settings.roots.push(std::fs::read(roots)?);
            }
            sockets.add_tls(&settings, self.tls_listen).await?;
        }
        if let Some(port) = self.ws_listen {
            sockets.add_ws(port, false).await?;
        }
        if let Some(port) = self.wss_listen {
            sockets.add_ws(port, true).await?;
        }
        let local = sockets.local_addr;
        let advertised = self.advertise.map(|mut addr| {
            if addr.port() == 0 {
                addr.set_port(local.port());
            }
            addr
        });
        let identity = match (identity, &self.display_name) {
            (identity, None) => identity.map(|identity| identity.to_string()),
            (Some(identity), Some(name)) => {
                Some(NameAddr::new(Some(name), identity.uri().clone()).to_string())
            }
            (None, Some(name)) => {
                let uri = Uri::parse(&format!("sip:{}", advertised.unwrap_or(local)))
                    .map_err(|e| Error::BadIdentity(e.to_string()))?;
                Some(NameAddr::new(Some(name), uri).to_string())
            }
        };
        let mut config = EndpointConfig::new(local, self.seed.unwrap_or_else(os_seed));
        config.advertised = advertised;
        config.tls_port = sockets.tls_port;
        config.transports = sockets.sendable();
        config.ws_port = sockets.ws_port;
        config.wss_port = sockets.wss_port;
        config.max_forwards = self.max_forwards;
        config.timers = self.timers;
        config.limits = self.limits;
        if let Some(idle) = self.idle_timeout {
            config.limits.flow_idle_timeout = idle;
        }
        config.user_agent = self.user_agent;
        config.calls.identity = identity;
        config.calls.reliable_provisionals = self.reliable_provisionals;
        config.subscriptions.accept_refer = self.accept_refer;
        config.credentials = self.credentials;
        config.calls.app_methods = self.app_methods;
        config.calls.dialog_events = self.dialog_events;
        if let Some(proxy) = self.outbound_proxy {
            let uri = parse_target(&proxy)?;
            config.calls.outbound_proxy = Some(uri.to_string());
        }
        for content_type in self.content_types {
            if !config.policy.accepted_content_types.contains(&content_type) {
                config.policy.accepted_content_types.push(content_type);
            }
        }
        config.subscriptions.end_call_after_transfer = self.end_call_after_transfer;
        // A call handle reports requests inside its call (INFO, MESSAGE) but cannot answer
        // them: the core accepts them with 200 before reporting them.
        config.calls.auto_accept_in_dialog = true;
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let transports: Arc<[sip_core::endpoint::Transport]> = sockets.transports().into();
        let reached_at =
            |port: Option<u16>| port.map(|port| SocketAddr::new(advertised.unwrap_or(local).ip(), port));
        let tls = reached_at(sockets.tls_port);
        let ws = reached_at(sockets.ws_port);
        let wss = reached_at(sockets.wss_port);
        let dns = crate::dns::Lookups::new(self.dns_server, config.dns.query_timeout);
        let options = DriverOptions {
            observer: self.observer,
            incoming_queue: self.incoming_queue,
            call_event_queue: self.call_event_queue,
            dns,
        };
        tokio::spawn(driver::run(config, sockets, rx, options));
        Ok(UserAgent {
            commands: tx,
            local,
            advertised: advertised.unwrap_or(local),
            transports,
            tls,
            ws,
            wss,
        })
    }
}

/// A seed from the OS without another crate: std's `RandomState` keys are random per
/// process, mixed with the time and pid so two agents in one process differ.
fn os_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// A SIP user agent: a handle to the driver task that owns one Endpoint and its sockets.
/// Clones share the driver; it stops on [`UserAgent::shutdown`] or when every handle
/// (user agents and calls) is dropped.
#[derive(Debug, Clone)]
pub struct UserAgent {
    commands: mpsc::Sender<Command>,
    local: SocketAddr,
    advertised: SocketAddr,
    transports: Arc<[sip_core::endpoint::Transport]>,
    tls: Option<SocketAddr>,
    ws: Option<SocketAddr>,
    wss: Option<SocketAddr>,
}

impl UserAgent {
    /// A builder with defaults (UDP on 127.0.0.1, any port).
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The bound local address (the actual port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The address this agent names itself by in Via and Contact: the one given to
    /// [`Builder::advertise`] (its port filled in when 0 was given), else the bound one.
    /// The address for peers to reach it at, and for a session description's `c=` line.
    pub fn advertised_addr(&self) -> SocketAddr {
        self.advertised
    }

    /// Where this agent's TLS listener is reached ([`Builder::tls`]): the advertised IP
    /// and the listener's port. `None` without a TLS listener.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls
    }

    /// Where this agent's WebSocket listener is reached ([`Builder::ws`]): the
    /// advertised IP and the listener's port. `None` without one.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws
    }

    /// Where this agent's secure WebSocket listener is reached ([`Builder::wss`]). `None`
    /// without one.
    pub fn wss_addr(&self) -> Option<SocketAddr> {
        self.wss
    }

    /// The transports this agent listens on.
    pub fn transports(&self) -> &[sip_core::endpoint::Transport] {
        &self.transports
    }

    /// Whether `other` is a handle of the same agent (the same driver).
    pub(crate) fn same_agent(&self, other: &UserAgent) -> bool {
        self.commands.same_channel(&other.commands)
    }

    pub(crate) async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)
    }

    /// Calls `target` offering `body` (an SDP offer, or empty for a delayed offer).
    /// `target` is a SIP or SIPS URI (`sip:` may be left out): with an IP address it goes
    /// there (over UDP, or what `;transport=` says; TLS for `sips:`); with a name it is
    /// located by DNS first (RFC 3263: NAPTR, SRV, A/AAAA — see
    /// [`Builder::dns_server`]), and when a target fails the next one is tried.
    pub async fn call(&self, target: &str, body: Bytes, content_type: Option<&str>) -> Result<Call, Error> {
        self.call_with_headers(target, body, content_type, &[]).await
    }

    /// [`UserAgent::call`] with extra headers in the INVITE (`("X-Account", "42")`): a
    /// name must be a token and not one the stack writes (Via, From, To, Call-ID, CSeq,
    /// Contact, Max-Forwards, Content-Type, Content-Length).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sip_tokio::Error> {
    /// use bytes::Bytes;
    /// let bob = sip_tokio::UserAgent::builder().start().await?;
    /// let alice = sip_tokio::UserAgent::builder().start().await?;
    /// let mut incoming = bob.incoming().await?;
    /// let target = format!("sip:bob@{}", bob.local_addr());
    /// let call = alice
    ///     .call_with_headers(&target, Bytes::new(), None, &[("X-Account", "42")])
    ///     .await?;
    /// let ringing = incoming.next().await.ok_or(sip_tokio::Error::Closed)?;
    /// assert_eq!(ringing.request().and_then(|r| r.headers.get("X-Account")), Some("42"));
    /// ringing.reject_with_headers(486, None, &[("Retry-After", "60")]).await?;
    /// # drop(call);
    /// # alice.shutdown(std::time::Duration::from_millis(100)).await;
    /// # bob.shutdown(std::time::Duration::from_millis(100)).await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_with_headers(
        &self,
        target: &str,
        body: Bytes,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Call, Error> {
        let uri = parse_target(target)?;
        let content_type = content_type.map(str::to_owned);
        let headers = owned(headers);
        let (id, events) = self
            .request(|reply| Command::Invite {
                target: uri,
                body,
                content_type,
                headers,
                reply,
            })
            .await??;
        Ok(Call::new(id, self.clone(), events, None))
    }

    /// The stream of incoming calls. A new call replaces the previous stream (that one
    /// ends). Until this is called, incoming INVITEs are answered 480.
    pub async fn incoming(&self) -> Result<IncomingCalls, Error> {
        let receiver = self.request(|reply| Command::Incoming { reply }).await?;
        Ok(IncomingCalls::new(receiver, self.clone()))
    }

    /// The stream of REFERs from peers (transfers they ask of us, RFC 3515), for an agent
    /// built with [`Builder::accept_refer`]. A new call replaces the previous stream (that
    /// one ends). Until this is called, REFERs are declined (603).
    pub async fn incoming_refers(&self) -> Result<IncomingRefers, Error> {
        let receiver = self.request(|reply| Command::IncomingRefers { reply }).await?;
        Ok(IncomingRefers::new(receiver, self.clone()))
    }

    /// Registers at `registrar` (`sip:HOST[:port][;transport=tcp]`, the host an IP address
    /// or a name located by DNS, RFC 3263) the address-of-record
    /// `aor` (this agent's identity when `None`) for `expires` seconds; the agent keeps it
    /// registered — refreshing, retrying — until [`Registration::unregister`] or
    /// [`UserAgent::shutdown`]. Wait for the first outcome with
    /// [`Registration::registered`].
    pub async fn register(
        &self,
        registrar: &str,
        aor: Option<&str>,
        expires: u32,
    ) -> Result<Registration, Error> {
        let registrar = parse_target(registrar)?;
        let aor = aor.map(str::to_owned);
        let (id, events) = self
            .request(|reply| Command::Register {
                registrar,
                aor,
                expires,
                reply,
            })
            .await??;
        Ok(Registration::new(id, self.clone(), events))
    }

    /// Sends an instant message (MESSAGE outside a dialog, RFC 3428) to `to` and returns
    /// the 2xx it got; [`Error::Rejected`] with the status when it was refused,
    /// [`Error::Timeout`] when nothing answered.
    pub async fn message(&self, to: &str, content_type: &str, body: Bytes) -> Result<StatusCode, Error> {
        let to = parse_target(to)?;
        let content_type = content_type.to_owned();
        self.request(|reply| Command::Message {
            to,
            content_type,
            body,
            reply,
        })
        .await?
    }

    /// The stream of incoming instant messages (each already answered 200). A new call
    /// replaces the previous stream. Until this is called, messages are answered and
    /// dropped.
    pub async fn incoming_messages(&self) -> Result<IncomingMessages, Error> {
        let receiver = self.request(|reply| Command::IncomingMessages { reply }).await?;
        Ok(IncomingMessages::new(receiver))
    }

    /// The stream of requests of the methods this agent takes
    /// ([`Builder::take_method`]), for the application to answer. A new call replaces the
    /// previous stream. Until this is called, they are answered 480.
    pub async fn incoming_requests(&self) -> Result<IncomingRequests, Error> {
        let receiver = self.request(|reply| Command::IncomingRequests { reply }).await?;
        Ok(IncomingRequests::new(receiver, self.clone()))
    }

    /// Sends OPTIONS to `target` and returns the final status of the response.
    pub async fn options(&self, target: &str) -> Result<StatusCode, Error> {
        Ok(self.options_response(target).await?.status)
    }

    /// Sends OPTIONS to `target` and returns the final response (its Allow, Accept,
    /// Supported, …).
    pub async fn options_response(&self, target: &str) -> Result<Response, Error> {
        let uri = parse_target(target)?;
        self.request(|reply| Command::Options { target: uri, reply })
            .await?
    }

    /// Sends `request` — any method, built by the application (with
    /// [`RequestBuilder`](sip_core::message::RequestBuilder); a placeholder Via is
    /// replaced with ours) — outside any dialog to `target` (its address, or a name located
    /// by DNS, RFC 3263; `;transport=tcp` for TCP), and returns its final response
    /// ([`Error::Timeout`] when none came, [`Error::Transport`] when no target took it). 401 and
    /// 407 are returned as they are: answering them is the application's part here.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use sip_core::message::{Method, RequestBuilder, Uri};
    /// let bob = sip_tokio::UserAgent::builder().start().await?;
    /// let alice = sip_tokio::UserAgent::builder().start().await?;
    /// let target = format!("sip:bob@{}", bob.local_addr());
    /// let request = RequestBuilder::new(Method::Options, Uri::parse(&target)?)
    ///     .via("SIP/2.0/UDP placeholder")
    ///     .from("<sip:alice@127.0.0.1>;tag=a1")
    ///     .to(format!("<{target}>"))
    ///     .call_id("probe-1")
    ///     .cseq(1)
    ///     .build()?;
    /// let response = alice.send_request(request, &target).await?;
    /// assert!(response.headers.get("Allow").is_some());
    /// # alice.shutdown(std::time::Duration::from_millis(100)).await;
    /// # bob.shutdown(std::time::Duration::from_millis(100)).await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_request(&self, request: Request, target: &str) -> Result<Response, Error> {
        let target = parse_target(target)?;
        self.request(|reply| Command::SendRequest {
            request: Box::new(request),
            target,
            reply,
        })
        .await?
    }

    /// The agent's counters and what is live now (calls, dialogs, transactions, …).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sip_tokio::Error> {
    /// let ua = sip_tokio::UserAgent::builder().start().await?;
    /// let stats = ua.stats().await?;
    /// assert_eq!((stats.calls, stats.counters.calls.invites), (0, 0));
    /// # ua.shutdown(std::time::Duration::from_millis(10)).await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stats(&self) -> Result<AgentStats, Error> {
        self.request(|reply| Command::Stats { reply }).await
    }

    /// Open connections (TCP and TLS, accepted or opened), for monitoring.
    pub async fn connections(&self) -> Result<usize, Error> {
        self.request(|reply| Command::Connections { reply }).await
    }

    /// Takes new work, or stops taking it (on from the start): with `false` every new
    /// request outside a dialog — INVITE, OPTIONS, SUBSCRIBE, REFER, MESSAGE, the methods
    /// the application took — is answered 503 Service Unavailable with Retry-After, while
    /// the calls in progress go on until they end. This is the first half of a graceful
    /// stop: wait for the calls (see [`UserAgent::stats`]), then
    /// [`shutdown`](UserAgent::shutdown). OPTIONS is refused too (RFC 3261 §11.2), so a
    /// proxy probing with OPTIONS (Kamailio's dispatcher) stops sending calls here. See
    /// [`Endpoint::set_accepting`](sip_core::Endpoint::set_accepting).
    pub async fn set_accepting(&self, accepting: bool) -> Result<(), Error> {
        self.request(|reply| Command::SetAccepting { accepting, reply })
            .await
    }

    /// Hangs up every live call, then waits until they have ended (BYEs answered or
    /// timed out) and every transaction still at work has finished, or `grace` has
    /// passed, and stops the driver. Transactions that only absorb retransmissions
    /// (Timers J and K) are not waited for.
    ///
    /// `grace` runs on tokio's clock, like every timer of the driver.
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = driver::clock_now() + grace;
        // Closed already is as good as done.
        let _ = self.request(|reply| Command::Shutdown { deadline, reply }).await;
    }
}

/// Extra headers, owned for the trip to the driver.
pub(crate) fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// Parses a target URI (`sip:` may be left out). Its host may be an IP address or a name:
/// the core locates names by DNS (RFC 3263) when the request goes out.
pub(crate) fn parse_target(target: &str) -> Result<Uri, Error> {
    let text = if target.contains(':') && (target.starts_with("sip:") || target.starts_with("sips:")) {
        target.to_owned()
    } else {
        format!("sip:{target}")
    };
    let uri = Uri::parse(&text).map_err(|e| Error::BadTarget(format!("{target}: {e}")))?;
    if uri.host_str().is_none_or(str::is_empty) {
        return Err(Error::BadTarget(format!("{target}: no host")));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_an_address_or_a_host_name() {
        assert!(parse_target("sip:bob@127.0.0.1:5070").is_ok());
        assert!(parse_target("127.0.0.1:5070").is_ok());
        assert!(parse_target("sip:bob@[::1]:5070;transport=tcp").is_ok());
        let named = parse_target("sip:bob@example.com").unwrap();
        assert_eq!(named.host_str(), Some("example.com"));
        assert_eq!(
            parse_target("bob@example.com;transport=tcp").unwrap().to_string(),
            "sip:bob@example.com;transport=tcp"
        );
        assert!(parse_target("sips:example.com").is_ok());
        assert!(matches!(parse_target("not a uri"), Err(Error::BadTarget(_))));
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(os_seed(), os_seed());
    }
}
