//! `sipua`: a small SIP user agent on the tokio driver — listen, call (with load and a
//! setup-time summary), OPTIONS, and a self-contained demo.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sip_core::endpoint::EndpointLimits;
use sip_core::sdp::SessionDescription;
use sip_tokio::listen::{ListenOptions, Listener};
use sip_tokio::{Call, CallEvent, EndReason, Error, RegistrationEvent, TransferEvent, UserAgent};

/// mimalloc gives memory back to the OS soon after it is freed; glibc's malloc keeps what a
/// flood made it take (its arenas only shrink from the top), so an agent's RSS would stay
/// at the flood's peak for good.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "sipua", about = "A SIP user agent on sip-tokio")]
struct Cli {
    /// Print every SIP message sent and received (time, direction, peer, the message) on
    /// stderr.
    #[arg(short = 'v', long = "trace", global = true)]
    trace: bool,
    /// Ask this nameserver (`IP:PORT`, UDP and TCP) the DNS questions that locate a target
    /// whose host is a name (RFC 3263: NAPTR, SRV, A/AAAA), instead of those of
    /// /etc/resolv.conf. Names are asked as written (no search domains); with it,
    /// /etc/hosts is not read (localhost is still the loopback address).
    #[arg(long, value_name = "ADDR", global = true)]
    dns_server: Option<SocketAddr>,
    #[command(subcommand)]
    command: Cmd,
}

/// `--trace`, for every agent this process starts.
static TRACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--dns-server`, for every agent this process starts.
static DNS_SERVER: std::sync::OnceLock<SocketAddr> = std::sync::OnceLock::new();

/// `builder` with the options given before or after the subcommand: `--trace` and
/// `--dns-server`.
fn global_options(builder: sip_tokio::Builder) -> sip_tokio::Builder {
    let builder = traced(builder);
    match DNS_SERVER.get() {
        Some(server) => builder.dns_server(*server),
        None => builder,
    }
}

/// `builder` printing every message on stderr when `--trace` was given.
fn traced(builder: sip_tokio::Builder) -> sip_tokio::Builder {
    if !TRACE.load(std::sync::atomic::Ordering::Relaxed) {
        return builder;
    }
    let since = Instant::now();
    builder.on_message(move |m| eprintln!("{}\n", m.block(since)))
}

/// The core's limits (defaults: `EndpointLimits::default()`); past one, a new request gets
/// 503 with Retry-After, or a command is refused.
#[derive(Args, Clone, Copy)]
struct LimitArgs {
    /// Live calls at most.
    #[arg(long, value_name = "N")]
    limit_calls: Option<usize>,
    /// Live incoming calls one IP address may hold at most (behind a proxy: as many as
    /// --limit-calls).
    #[arg(long, value_name = "N")]
    limit_calls_per_source: Option<usize>,
    /// Live transactions (client and server) at most.
    #[arg(long, value_name = "N")]
    limit_transactions: Option<usize>,
    /// Open connections at most (when full, one that has carried no message yet makes
    /// room).
    #[arg(long, value_name = "N")]
    limit_connections: Option<usize>,
    /// Connections accepted from one IP address at most.
    #[arg(long, value_name = "N")]
    limit_connections_per_source: Option<usize>,
    /// Close a connection that completes no message for this long.
    #[arg(long, value_name = "S")]
    idle_timeout: Option<u64>,
    /// Close a connection that leaves a started message unfinished for this long.
    #[arg(long, value_name = "S")]
    message_timeout: Option<u64>,
    /// The largest message accepted, in bytes.
    #[arg(long, value_name = "BYTES")]
    limit_message_size: Option<usize>,
}

impl LimitArgs {
    fn limits(self) -> EndpointLimits {
        let mut limits = EndpointLimits::default();
        if let Some(calls) = self.limit_calls {
            limits.max_calls = calls;
        }
        if let Some(per_source) = self.limit_calls_per_source {
            limits.max_calls_per_source = per_source;
        }
        if let Some(transactions) = self.limit_transactions {
            limits.max_transactions = transactions;
        }
        if let Some(flows) = self.limit_connections {
            limits.max_flows = flows;
        }
        if let Some(per_source) = self.limit_connections_per_source {
            limits.max_flows_per_source = per_source;
        }
        if let Some(seconds) = self.idle_timeout {
            limits.flow_idle_timeout = Duration::from_secs(seconds.max(1));
        }
        if let Some(seconds) = self.message_timeout {
            limits.flow_message_timeout = Duration::from_secs(seconds.max(1));
        }
        if let Some(bytes) = self.limit_message_size {
            limits.max_message_size = bytes;
        }
        limits
    }
}

/// A transport: for a client, the one a target URI without a `transport` parameter goes
/// over; for `listen` and `registrar`, a listener to open.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportArg {
    /// UDP.
    Udp,
    /// TCP (on the UDP port).
    Tcp,
    /// TLS (RFC 3261 §26): `;transport=tls`.
    Tls,
    /// WebSocket (RFC 7118): `;transport=ws`.
    Ws,
    /// Secure WebSocket: `;transport=wss`.
    Wss,
}

impl TransportArg {
    /// The `transport` URI parameter for it (`None` for UDP, the default).
    fn uri_param(self) -> Option<&'static str> {
        match self {
            TransportArg::Udp => None,
            TransportArg::Tcp => Some("tcp"),
            TransportArg::Tls => Some("tls"),
            TransportArg::Ws => Some("ws"),
            TransportArg::Wss => Some("wss"),
        }
    }
}

/// TLS for TLS and WSS: our certificate, whom we trust.
#[derive(Args, Clone, Default)]
struct TlsArgs {
    /// Our certificate chain, PEM (leaf first): presented by the TLS and WSS listeners,
    /// and to servers that ask for a client certificate.
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<std::path::PathBuf>,
    /// The private key of --cert, PEM.
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<std::path::PathBuf>,
    /// Trust the CA certificates in this PEM file for TLS and WSS servers (repeatable).
    /// Without any (and without --insecure) every TLS or WSS connection we open fails.
    #[arg(long, value_name = "PEM")]
    ca: Vec<std::path::PathBuf>,
    /// FOR TESTS ONLY: accept any TLS or WSS server certificate, unverified. Anyone on
    /// the path can then read and change the signalling.
    #[arg(long)]
    insecure: bool,
}

impl TlsArgs {
    /// The TLS files and flags, without listeners.
    fn options(&self) -> sip_tokio::TransportOptions {
        let mut options = sip_tokio::TransportOptions::default();
        options.certificate = self.cert.clone().zip(self.key.clone());
        options.roots = self.ca.clone();
        options.insecure = self.insecure;
        options
    }
}

/// The listeners of `listen` and `registrar`: `--transport` names them, each with its port.
#[derive(Args, Clone)]
struct ListenTransportArgs {
    /// The listeners to open (comma-separated or repeated): UDP is always on, on --bind;
    /// `tcp` shares its port; `tls`, `ws` and `wss` take --tls-port, --ws-port and
    /// --wss-port. `tls` and `wss` need --cert and --key.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "udp")]
    transport: Vec<TransportArg>,
    /// The TLS listener's port (0: a free one, printed at start).
    #[arg(long, value_name = "PORT", default_value_t = 5061)]
    tls_port: u16,
    /// The WebSocket listener's port (0: a free one, printed at start).
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    ws_port: u16,
    /// The secure WebSocket listener's port (0: a free one, printed at start).
    #[arg(long, value_name = "PORT", default_value_t = 8443)]
    wss_port: u16,
    #[command(flatten)]
    tls: TlsArgs,
}

impl ListenTransportArgs {
    fn tcp(&self) -> bool {
        self.transport.contains(&TransportArg::Tcp)
    }

    fn options(&self) -> sip_tokio::TransportOptions {
        let mut options = self.tls.options();
        let on = |transport: TransportArg, port: u16| self.transport.contains(&transport).then_some(port);
        options.tls = on(TransportArg::Tls, self.tls_port);
        options.ws = on(TransportArg::Ws, self.ws_port);
        options.wss = on(TransportArg::Wss, self.wss_port);
        options
    }
}

/// Digest credentials (RFC 3261 §22), answering any realm's 401 or 407, and the outbound
/// proxy.
#[derive(Args, Clone, Default)]
struct AuthArgs {
    /// Send requests outside a dialog through this proxy (`sip:HOST[:PORT][;transport=tcp]`,
    /// a preloaded Route).
    #[arg(long, value_name = "URI")]
    proxy: Option<String>,
    /// The username for digest authentication.
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// The password for digest authentication.
    #[arg(long, requires = "user")]
    password: Option<String>,
}

impl AuthArgs {
    fn apply(&self, builder: sip_tokio::Builder) -> sip_tokio::Builder {
        let builder = match &self.proxy {
            Some(proxy) => builder.outbound_proxy(proxy),
            None => builder,
        };
        match (&self.user, &self.password) {
            (Some(user), Some(password)) => builder.credentials(user, password),
            _ => builder,
        }
    }
}

/// Who we say we are: the From of what we send, and the address in our Via and Contact.
#[derive(Args, Clone, Default)]
struct IdentityArgs {
    /// Our identity, the From of what we send: a SIP URI (`sip:alice@example.com`) or a
    /// name-addr (`"Alice" <sip:alice@example.com>`). Its user part goes in our Contact.
    /// Default: sip: + the advertised (else bound) address; for register, the AOR.
    #[arg(long, value_name = "URI")]
    from: Option<String>,
    /// A display name for our identity (`"NAME" <sip:…>` in From).
    #[arg(long, value_name = "NAME")]
    display_name: Option<String>,
    #[command(flatten)]
    advertise: AdvertiseArgs,
}

impl IdentityArgs {
    fn apply(&self, builder: sip_tokio::Builder) -> sip_tokio::Builder {
        let builder = self.advertise.apply(builder);
        let builder = match &self.from {
            Some(from) => builder.identity(from),
            None => builder,
        };
        match &self.display_name {
            Some(name) => builder.display_name(name),
            None => builder,
        }
    }
}

/// The address we are reached at, when it is not the bound one.
#[derive(Args, Clone, Copy, Default)]
struct AdvertiseArgs {
    /// The address to put in our Via and Contact instead of the bound one (when bound to
    /// 0.0.0.0, or behind a port-forwarding NAT); port 0 stands for the bound port.
    #[arg(long, value_name = "ADDR")]
    advertise: Option<SocketAddr>,
}

impl AdvertiseArgs {
    fn apply(self, builder: sip_tokio::Builder) -> sip_tokio::Builder {
        match self.advertise {
            Some(addr) => builder.advertise(addr),
            None => builder,
        }
    }
}

/// Transferring an answered call (REFER, RFC 3515): the call counts as successful when
/// the transfer succeeds and the call ends with it.
#[derive(Args, Clone)]
struct TransferArgs {
    /// Once the call is answered, transfer the peer to this URI (a blind transfer).
    #[arg(long, value_name = "URI")]
    transfer_to: Option<String>,
    /// Attended transfer: call the --transfer-to URI first (consultation), then transfer
    /// the peer to that call, which the peer's new call replaces (RFC 3891).
    #[arg(long, requires = "transfer_to")]
    attended: bool,
    /// Wait this long after the answer (and the consultation's) before transferring.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    transfer_after: u64,
}

// Parsed once per run: the size of the biggest subcommand's arguments costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Wait for calls.
    Listen {
        /// Local address.
        #[arg(long, default_value = "127.0.0.1:5060")]
        bind: SocketAddr,
        #[command(flatten)]
        transports: ListenTransportArgs,
        /// Answer every call.
        #[arg(long)]
        auto_answer: bool,
        /// Ring this long before answering (with --auto-answer).
        #[arg(long, value_name = "MS", default_value_t = 0)]
        answer_after: u64,
        /// Reject every call with this status.
        #[arg(long, value_name = "CODE")]
        reject: Option<u16>,
        /// Hang up answered calls this long after the ACK.
        #[arg(long, value_name = "MS")]
        hangup_after: Option<u64>,
        /// Take REFER (RFC 3515): follow each transfer — call its target (with the
        /// Replaces of an attended transfer) — and report its progress to the referrer.
        #[arg(long)]
        accept_refer: bool,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        advertise: AdvertiseArgs,
        /// Stop after this many seconds (default: run until stopped).
        #[arg(long, value_name = "S")]
        duration: Option<u64>,
        /// On SIGTERM or Ctrl-C, stop gracefully: refuse new requests (INVITE, OPTIONS…)
        /// with 503 and Retry-After, and wait up to this many seconds for the calls in
        /// progress to end before hanging up the rest (0: hang up at once). A second
        /// signal stops at once.
        #[arg(long, value_name = "S", default_value_t = 25)]
        drain_timeout: u64,
        /// Print nothing per call.
        #[arg(long)]
        quiet: bool,
    },
    /// Call TARGET (`sip:user@HOST[:PORT]`, HOST an IP address or a name located by DNS),
    /// N times at R calls per second.
    Call {
        /// The target URI.
        target: String,
        /// Local address (default 127.0.0.1:0, or [::]:0 for an IPv6 target).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// The transport, where the target URI has no `transport` parameter.
        #[arg(long, value_enum, default_value = "udp")]
        transport: TransportArg,
        #[command(flatten)]
        tls: TlsArgs,
        /// Hang up this long after the answer (sooner if the peer hangs up).
        #[arg(long, value_name = "MS", default_value_t = 0)]
        hangup_after: u64,
        /// Cancel a call still unanswered this long after the INVITE.
        #[arg(long, value_name = "MS")]
        cancel_after: Option<u64>,
        /// An extra header for the INVITE, `NAME:VALUE` (repeatable).
        #[arg(long = "header", value_name = "NAME:VALUE")]
        headers: Vec<String>,
        /// Once answered, send these DTMF digits inside the call, one INFO each
        /// (`application/dtmf-relay`).
        #[arg(long, value_name = "DIGITS")]
        dtmf: Option<String>,
        /// Once answered, send this text inside the call (MESSAGE, `text/plain`).
        #[arg(long, value_name = "TEXT")]
        say: Option<String>,
        /// Number of calls.
        #[arg(long, value_name = "N", default_value_t = 1)]
        count: usize,
        #[command(flatten)]
        limits: LimitArgs,
        /// Calls started per second.
        #[arg(long, value_name = "R", default_value_t = 10.0)]
        rate: f64,
        #[command(flatten)]
        transfer: TransferArgs,
        #[command(flatten)]
        auth: AuthArgs,
        #[command(flatten)]
        identity: IdentityArgs,
        /// Print only the summary.
        #[arg(long)]
        quiet: bool,
    },
    /// Send OPTIONS to TARGET and print the status.
    Options {
        /// The target URI.
        target: String,
        /// Local address (default 127.0.0.1:0, or [::]:0 for an IPv6 target).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// The transport, where the target URI has no `transport` parameter.
        #[arg(long, value_enum, default_value = "udp")]
        transport: TransportArg,
        #[command(flatten)]
        tls: TlsArgs,
        #[command(flatten)]
        identity: IdentityArgs,
    },
    /// Register at REGISTRAR (`sip:HOST[:PORT][;transport=tcp]`) and stay registered —
    /// refreshing — until stopped (Ctrl-C, SIGTERM or --duration), then unregister. Exits
    /// non-zero when the first registration fails.
    Register {
        /// The registrar URI.
        registrar: String,
        /// The address-of-record to register (default: the --from URI, else
        /// sip:sipua@REGISTRAR's host).
        #[arg(long, value_name = "URI")]
        aor: Option<String>,
        /// The interval to ask for, in seconds.
        #[arg(long, value_name = "S", default_value_t = 3600)]
        expires: u32,
        /// Local address (default 127.0.0.1:0, or [::]:0 for an IPv6 registrar).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// The transport, where the registrar URI has no `transport` parameter.
        #[arg(long, value_enum, default_value = "udp")]
        transport: TransportArg,
        #[command(flatten)]
        tls: TlsArgs,
        /// Unregister and stop after this many seconds (default: run until stopped).
        #[arg(long, value_name = "S")]
        duration: Option<u64>,
        #[command(flatten)]
        auth: AuthArgs,
        #[command(flatten)]
        identity: IdentityArgs,
    },
    /// An in-memory registrar: challenges every REGISTER with digest authentication for
    /// the --user list, keeps the bindings until they run out, and routes calls to
    /// registered users (302 to their bindings; 480 or 404 otherwise).
    Registrar {
        /// Local address.
        #[arg(long, default_value = "127.0.0.1:5060")]
        bind: SocketAddr,
        #[command(flatten)]
        transports: ListenTransportArgs,
        /// A user and password, `name:password` (repeat for more users).
        #[arg(long = "user", value_name = "NAME:PASSWORD", required = true)]
        users: Vec<String>,
        /// The realm of the challenges.
        #[arg(long, default_value = "sip-rs")]
        realm: String,
        /// The digest algorithms offered, preferred first (`sha-256,md5`; some old
        /// clients take a 401 only when it offers MD5 alone: `md5`).
        #[arg(long, value_delimiter = ',', default_value = "sha-256,md5")]
        digest: Vec<String>,
        /// Stop after this many seconds (default: run until stopped).
        #[arg(long, value_name = "S")]
        duration: Option<u64>,
    },
    /// Send an instant message (MESSAGE, RFC 3428) to TARGET and print the status.
    Message {
        /// The target URI.
        target: String,
        /// The text to send.
        text: String,
        /// Its media type.
        #[arg(long, default_value = "text/plain")]
        content_type: String,
        /// Local address (default 127.0.0.1:0, or [::]:0 for an IPv6 target).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// The transport, where the target URI has no `transport` parameter.
        #[arg(long, value_enum, default_value = "udp")]
        transport: TransportArg,
        #[command(flatten)]
        tls: TlsArgs,
        #[command(flatten)]
        auth: AuthArgs,
        #[command(flatten)]
        identity: IdentityArgs,
    },
    /// Alice calls Bob in this process over loopback UDP, printed as a ladder.
    Demo {
        /// Alice, Bob and Carol instead: a blind transfer, then an attended one.
        #[arg(long)]
        transfer: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    TRACE.store(cli.trace, std::sync::atomic::Ordering::Relaxed);
    if let Some(server) = cli.dns_server {
        let _ = DNS_SERVER.set(server);
    }
    // One thread: the driver and the per-call tasks talk over channels, and on a
    // multi-threaded runtime every message would wake another thread (futex and eventfd
    // work that cost more CPU under load than the SIP stack itself).
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM and SIGINT (Ctrl-C), counted as they come.
struct StopSignals(tokio::sync::watch::Receiver<u32>);

impl StopSignals {
    /// Completes once `n` signals have come.
    fn at(&self, n: u32) -> impl Future<Output = ()> + use<> {
        let mut count = self.0.clone();
        async move {
            // A closed channel (the counting task is gone) never completes.
            if count.wait_for(|seen| *seen >= n).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Starts counting SIGTERM and SIGINT; from now on neither ends the process by itself.
fn stop_signals() -> Result<StopSignals, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;
    let (count, counted) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            count.send_modify(|seen| *seen += 1);
        }
    });
    Ok(StopSignals(counted))
}

fn default_bind(target: &str) -> SocketAddr {
    if target.contains('[') {
        "[::]:0".parse().unwrap()
    } else {
        "127.0.0.1:0".parse().unwrap()
    }
}

fn with_transport(target: &str, transport: TransportArg) -> String {
    let target = if target.starts_with("sip:") || target.starts_with("sips:") {
        target.to_owned()
    } else {
        format!("sip:{target}")
    };
    match transport.uri_param() {
        Some(param) if !target.contains(";transport=") => format!("{target};transport={param}"),
        _ => target,
    }
}

/// A client agent: TCP on for `--transport tcp`, the TLS files of `tls` for TLS and WSS.
async fn start_with(
    bind: SocketAddr,
    transport: TransportArg,
    tls: &TlsArgs,
    limits: EndpointLimits,
    auth: &AuthArgs,
    identity: &IdentityArgs,
) -> Result<UserAgent, String> {
    global_options(identity.apply(auth.apply(UserAgent::builder())))
        .bind(bind)
        .tcp(transport == TransportArg::Tcp)
        .transport_options(&tls.options())
        .limits(limits)
        .start()
        .await
        .map_err(|e| describe_start(bind, e))
}

/// Why an agent did not start: a bad identity, or an address that cannot be bound.
fn describe_start(bind: SocketAddr, error: Error) -> String {
    match error {
        Error::BadIdentity(_) => error.to_string(),
        other => format!("cannot bind {bind}: {other}"),
    }
}

fn sdp(ip: IpAddr, user: &str) -> Bytes {
    // Unspecified addresses are no use in c=; a loopback stands in for them.
    let ip = if ip.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        ip
    };
    SessionDescription::simple_audio(user, 1, ip, 40_000, &[0, 8, 101]).to_bytes()
}

async fn run(command: Cmd) -> Result<ExitCode, String> {
    match command {
        Cmd::Demo { transfer: false } => {
            sip_tokio::demo::run(std::io::stdout())
                .await
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Demo { transfer: true } => {
            let summary = sip_tokio::demo::run_transfers(std::io::stdout())
                .await
                .map_err(|e| e.to_string())?;
            let succeeded = |events: &[TransferEvent]| events.last() == Some(&TransferEvent::Succeeded);
            Ok(if succeeded(&summary.blind) && succeeded(&summary.attended) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Register {
            registrar,
            aor,
            expires,
            bind,
            transport,
            tls,
            duration,
            auth,
            identity,
        } => {
            let options = RegisterOptions {
                aor,
                expires,
                bind,
                transport,
                tls,
                duration,
            };
            register(registrar, options, &auth, &identity).await
        }
        Cmd::Registrar {
            bind,
            transports,
            users,
            realm,
            digest,
            duration,
        } => {
            let algorithms = digest
                .iter()
                .map(|name| {
                    sip_core::auth::DigestAlgorithm::parse(name).ok_or_else(|| {
                        format!("--digest {name}: not an algorithm (md5, sha-256, sha-512-256)")
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let users = users
                .iter()
                .map(|entry| {
                    entry
                        .split_once(':')
                        .map(|(name, password)| (name.to_owned(), password.to_owned()))
                        .ok_or_else(|| format!("--user {entry}: expected NAME:PASSWORD"))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let options = sip_tokio::registrar::RegistrarOptions {
                bind,
                tcp: transports.tcp(),
                transports: transports.options(),
                realm,
                users,
                algorithms,
                duration: duration.map(Duration::from_secs),
                trace: TRACE.load(std::sync::atomic::Ordering::Relaxed),
                ..Default::default()
            };
            let registrar = sip_tokio::registrar::Registrar::bind(options)
                .await
                .map_err(|e| format!("cannot bind {bind}: {e}"))?;
            let report = registrar
                .run(std::io::stdout(), async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await;
            println!(
                "accepted {}, challenged {}, refused {}, calls redirected {}, unroutable {}, messages {}, bindings left {}",
                report.accepted,
                report.challenged,
                report.refused,
                report.redirected,
                report.unroutable,
                report.messages,
                report.bindings
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Message {
            target,
            text,
            content_type,
            bind,
            transport,
            tls,
            auth,
            identity,
        } => {
            let ua = start_with(
                bind.unwrap_or_else(|| default_bind(&target)),
                transport,
                &tls,
                EndpointLimits::default(),
                &auth,
                &identity,
            )
            .await?;
            let target = with_transport(&target, transport);
            let result = ua.message(&target, &content_type, Bytes::from(text)).await;
            ua.shutdown(Duration::from_millis(100)).await;
            match result {
                Ok(status) => {
                    println!("{} {}", status.as_u16(), status.canonical_reason());
                    Ok(ExitCode::SUCCESS)
                }
                Err(Error::Rejected(status)) => {
                    println!("{} {}", status.as_u16(), status.canonical_reason());
                    Ok(ExitCode::FAILURE)
                }
                Err(Error::Timeout) => Err(format!("no response from {target} (timeout)")),
                Err(e) => Err(e.to_string()),
            }
        }
        Cmd::Options {
            target,
            bind,
            transport,
            tls,
            identity,
        } => {
            let ua = start_with(
                bind.unwrap_or_else(|| default_bind(&target)),
                transport,
                &tls,
                EndpointLimits::default(),
                &AuthArgs::default(),
                &identity,
            )
            .await?;
            let target = with_transport(&target, transport);
            let result = ua.options_response(&target).await;
            ua.shutdown(Duration::from_millis(100)).await;
            match result {
                Ok(response) => {
                    let status = response.status;
                    println!("{} {}", status.as_u16(), response.reason);
                    // What the peer says of itself: every header but the transaction's own.
                    use sip_core::message::HeaderName;
                    let own = [
                        HeaderName::Via,
                        HeaderName::From,
                        HeaderName::To,
                        HeaderName::CallId,
                        HeaderName::CSeq,
                        HeaderName::ContentLength,
                    ];
                    for header in response.headers.iter().filter(|h| !own.contains(&h.name)) {
                        println!("{}: {}", header.name_str, header.value);
                    }
                    Ok(if status.is_success() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    })
                }
                Err(Error::Timeout) => Err(format!("no response from {target} (timeout)")),
                Err(Error::Transport) => Err(format!("cannot reach {target} (connection failed)")),
                Err(e) => Err(e.to_string()),
            }
        }
        Cmd::Listen {
            bind,
            transports,
            auto_answer,
            answer_after,
            reject,
            hangup_after,
            accept_refer,
            limits,
            advertise,
            duration,
            drain_timeout,
            quiet,
        } => {
            if let Some(code) = reject {
                if !(300..700).contains(&code) {
                    return Err(format!("--reject {code}: the status must be 300..699"));
                }
            }
            let options = ListenOptions {
                bind,
                advertise: advertise.advertise,
                tcp: transports.tcp(),
                transports: transports.options(),
                auto_answer,
                answer_after: Duration::from_millis(answer_after),
                reject,
                hangup_after: hangup_after.map(Duration::from_millis),
                duration: duration.map(Duration::from_secs),
                max_calls: None,
                drain_timeout: Duration::from_secs(drain_timeout),
                limits: limits.limits(),
                accept_refer,
                quiet,
                trace: TRACE.load(std::sync::atomic::Ordering::Relaxed),
                dns_server: DNS_SERVER.get().copied(),
            };
            // Signals are caught from before the first call: SIGTERM's default would end the
            // process at once, calls and all.
            let signals = stop_signals()?;
            let listener = Listener::bind(options)
                .await
                .map_err(|e| format!("cannot bind {bind}: {e}"))?;
            // Runs until --duration passes, or until stopped: the first signal drains (with
            // a --drain-timeout above 0), a second one stops at once.
            let (drain, stop) = if drain_timeout == 0 {
                (signals.at(u32::MAX), signals.at(1))
            } else {
                (signals.at(1), signals.at(2))
            };
            let report = listener.run_draining(std::io::stdout(), drain, stop).await;
            // One line, --quiet or not, for scripts and tests to read.
            println!(
                "summary: incoming {}, answered {}, rejected {}, not acceptable {}, ended {}, \
                 caller hung up {}, we hung up {}, still up at the stop {}",
                report.incoming,
                report.answered,
                report.rejected,
                report.not_acceptable,
                report.ended,
                report.remote_bye,
                report.hung_up,
                report.still_up
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Call {
            target,
            bind,
            transport,
            tls,
            hangup_after,
            cancel_after,
            headers,
            dtmf,
            say,
            count,
            limits,
            rate,
            transfer,
            auth,
            identity,
            quiet,
        } => {
            let ua = start_with(
                bind.unwrap_or_else(|| default_bind(&target)),
                transport,
                &tls,
                limits.limits(),
                &auth,
                &identity,
            )
            .await?;
            let target = with_transport(&target, transport);
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|h| {
                    h.split_once(':')
                        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                        .ok_or_else(|| format!("--header {h}: expected NAME:VALUE"))
                })
                .collect::<Result<_, String>>()?;
            let headers = std::sync::Arc::new(headers);
            let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
            let started = Instant::now();
            let mut tasks = Vec::with_capacity(count);
            for i in 0..count {
                // Calls start on a fixed schedule, not after each other's completion.
                tokio::time::sleep_until((started + interval.mul_f64(i as f64)).into()).await;
                let ua = ua.clone();
                let target = target.clone();
                let transfer = transfer.clone();
                let headers = std::sync::Arc::clone(&headers);
                let (dtmf, say) = (dtmf.clone(), say.clone());
                tasks.push(tokio::spawn(async move {
                    let plan = CallPlan {
                        hangup_after,
                        cancel_after,
                        headers: &headers,
                        transfer: &transfer,
                        dtmf: dtmf.as_deref(),
                        say: say.as_deref(),
                    };
                    one_call(&ua, &target, &plan, quiet).await
                }));
            }
            let mut setups = Vec::new();
            let mut failed = 0usize;
            for task in tasks {
                match task.await {
                    Ok(Ok(setup)) => setups.push(setup),
                    Ok(Err(message)) => {
                        failed += 1;
                        if !quiet {
                            eprintln!("call failed: {message}");
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("call task failed: {e}");
                    }
                }
            }
            ua.shutdown(Duration::from_secs(2)).await;
            setups.sort();
            // Percentiles of what was measured only: with no call answered there is none.
            let pct = |p: f64| -> Option<f64> {
                let index = ((setups.len().checked_sub(1)? as f64) * p).round() as usize;
                Some(setups.get(index.min(setups.len() - 1))?.as_secs_f64() * 1000.0)
            };
            let setup = match (pct(0.5), pct(0.99)) {
                (Some(p50), Some(p99)) => format!("setup time p50 {p50:.1} ms, p99 {p99:.1} ms"),
                _ => "no call answered".to_owned(),
            };
            println!(
                "calls: {count}, successful: {}, failed: {failed}, {setup}, elapsed {:.2} s",
                setups.len(),
                started.elapsed().as_secs_f64()
            );
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// What `sipua register` registers, for how long, and from where.
struct RegisterOptions {
    aor: Option<String>,
    expires: u32,
    bind: Option<SocketAddr>,
    transport: TransportArg,
    tls: TlsArgs,
    duration: Option<u64>,
}

/// `sipua register`: registers, prints each event, and unregisters when stopped.
async fn register(
    registrar: String,
    options: RegisterOptions,
    auth: &AuthArgs,
    identity: &IdentityArgs,
) -> Result<ExitCode, String> {
    let RegisterOptions {
        aor,
        expires,
        bind,
        transport,
        tls,
        duration,
    } = options;
    let bind = bind.unwrap_or_else(|| default_bind(&registrar));
    let registrar = with_transport(&registrar, transport);
    // The AOR: --aor, else the URI of --from, else sip:sipua@ the registrar's host.
    let from_uri = match &identity.from {
        Some(from) => Some(
            sip_core::call::parse_identity(from)
                .map_err(|e| format!("--from {from}: {e}"))?
                .uri()
                .to_string(),
        ),
        None => None,
    };
    let aor = match aor.or(from_uri) {
        Some(aor) => aor,
        None => {
            let uri = sip_core::message::Uri::parse(&registrar).map_err(|e| format!("{registrar}: {e}"))?;
            format!("sip:sipua@{}", uri.host_str().unwrap_or("invalid"))
        }
    };
    // Registered with the display name, if one was given, in To and From.
    let registered = match &identity.display_name {
        Some(name) => {
            let uri = sip_core::message::Uri::parse(&aor).map_err(|e| format!("--aor {aor}: {e}"))?;
            sip_core::message::NameAddr::new(Some(name), uri).to_string()
        }
        None => aor.clone(),
    };
    let mut builder = global_options(identity.apply(auth.apply(UserAgent::builder())))
        .bind(bind)
        .tcp(transport == TransportArg::Tcp)
        .transport_options(&tls.options());
    if identity.from.is_none() {
        builder = builder.identity(aor.clone());
    }
    let ua = builder.start().await.map_err(|e| describe_start(bind, e))?;
    let mut registration = ua
        .register(&registrar, Some(&registered), expires)
        .await
        .map_err(|e| e.to_string())?;
    match registration.registered().await {
        Ok(granted) => println!("registered {aor} at {registrar} for {granted} s"),
        Err(e) => {
            ua.shutdown(Duration::from_secs(2)).await;
            return Err(format!("registration failed: {e}"));
        }
    }
    let stop = async {
        let deadline = duration.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match terminate.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
            _ = async { match deadline { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {}
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            event = registration.next_event() => match event {
                Some(RegistrationEvent::Registered { expires, .. }) => println!("refreshed for {expires} s"),
                Some(RegistrationEvent::Failed { status, retry_in }) => println!(
                    "registration failed ({}); trying again in {} s",
                    status.map_or("no response".to_owned(), |s| format!("{} {}", s.as_u16(), s.canonical_reason())),
                    retry_in.map_or(0, |d| d.as_secs())
                ),
                Some(RegistrationEvent::Unregistered) | None => break,
                Some(_) => {}
            },
        }
    }
    // The shutdown unregisters first.
    ua.shutdown(Duration::from_secs(5)).await;
    println!("unregistered");
    Ok(ExitCode::SUCCESS)
}

/// One outgoing call: the setup time when it was answered and ended cleanly (or, with
/// --transfer-to, was transferred).
/// What `sipua call` does with each call.
struct CallPlan<'a> {
    hangup_after: u64,
    cancel_after: Option<u64>,
    headers: &'a [(String, String)],
    transfer: &'a TransferArgs,
    dtmf: Option<&'a str>,
    say: Option<&'a str>,
}

async fn one_call(
    ua: &UserAgent,
    target: &str,
    plan: &CallPlan<'_>,
    quiet: bool,
) -> Result<Duration, String> {
    let CallPlan {
        hangup_after,
        cancel_after,
        headers,
        transfer,
        dtmf,
        say,
    } = *plan;
    let started = Instant::now();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let mut call = ua
        .call_with_headers(target, sdp(ua.advertised_addr().ip(), "sipua"), None, &headers)
        .await
        .map_err(|e| e.to_string())?;
    // --cancel-after: CANCEL if still unanswered then (RFC 3261 §9.1).
    let cancel_at = cancel_after.map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
    let setup = loop {
        let event = tokio::select! {
            event = call.next_event() => event,
            () = async { match cancel_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                let _ = call.cancel().await;
                return match call.ended().await {
                    Some(EndReason::Cancelled) => {
                        if !quiet {
                            println!("{}: cancelled after {} ms", call.id(), cancel_after.unwrap_or_default());
                        }
                        Err("cancelled".into())
                    }
                    Some(reason) => Err(describe(&reason, target)),
                    None => Err("the user agent stopped".into()),
                };
            }
        };
        match event {
            Some(CallEvent::Answered { .. }) => break started.elapsed(),
            Some(CallEvent::Redirected { target: to }) if !quiet => {
                println!("{}: redirected to {to}", call.id())
            }
            Some(CallEvent::Ringing { .. }) if !quiet => println!("{}: ringing", call.id()),
            Some(CallEvent::Terminated { reason, .. }) => return Err(describe(&reason, target)),
            Some(_) => {}
            None => return Err("the user agent stopped".into()),
        }
    };
    if !quiet {
        println!(
            "{}: answered in {:.1} ms",
            call.id(),
            setup.as_secs_f64() * 1000.0
        );
    }
    in_call_requests(&call, dtmf, say, quiet).await;
    if let Some(to) = &transfer.transfer_to {
        transfer_call(ua, &mut call, to, transfer, quiet).await?;
        return Ok(setup);
    }
    // Hang up after --hangup-after, unless the peer hangs up first: its BYE ends the call
    // at once.
    let hangup_at = tokio::time::Instant::now() + Duration::from_millis(hangup_after);
    let reason = loop {
        tokio::select! {
            event = call.next_event() => match event {
                Some(CallEvent::Terminated { reason, .. }) => break Some(reason),
                Some(_) => {}
                None => break None,
            },
            () = tokio::time::sleep_until(hangup_at) => {
                let _ = call.hangup().await;
                break call.ended().await;
            }
        }
    };
    if !quiet {
        if let Some(reason) = &reason {
            println!(
                "{}: ended after {:.1} s ({reason})",
                call.id(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    match reason {
        Some(EndReason::LocalBye | EndReason::RemoteBye) => Ok(setup),
        Some(reason) => Err(describe(&reason, target)),
        None => Err("the user agent stopped".into()),
    }
}

/// `--dtmf` (one INFO per digit, RFC 2976 with `application/dtmf-relay`) and `--say` (a
/// MESSAGE) inside an answered call, each reported with the status it got.
async fn in_call_requests(call: &Call, dtmf: Option<&str>, say: Option<&str>, quiet: bool) {
    use sip_core::message::Method;
    let mut requests: Vec<(Method, &str, String)> = dtmf
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
        .map(|digit| {
            (
                Method::Info,
                "application/dtmf-relay",
                format!("Signal={digit}\r\nDuration=160\r\n"),
            )
        })
        .collect();
    if let Some(text) = say {
        requests.push((Method::Message, "text/plain", text.to_owned()));
    }
    for (method, content_type, body) in requests {
        let what = method.to_string();
        match call
            .send_request(method, Some(content_type), Bytes::from(body))
            .await
        {
            Ok(response) if !quiet => println!(
                "{}: {what} answered {} {}",
                call.id(),
                response.status.as_u16(),
                response.reason
            ),
            Err(e) if !quiet => println!("{}: {what} failed: {e}", call.id()),
            _ => {}
        }
    }
}

/// Transfers answered call `call` to `to` as `how` says, printing its progress; `Ok` once
/// the transfer succeeded and the call (and a consultation call) ended with it.
async fn transfer_call(
    ua: &UserAgent,
    call: &mut Call,
    to: &str,
    how: &TransferArgs,
    quiet: bool,
) -> Result<(), String> {
    let id = call.id();
    let say = |line: String| {
        if !quiet {
            println!("{id}: {line}");
        }
    };
    let mut consultation = None;
    if how.attended {
        say(format!("consulting {to}"));
        let mut other = ua
            .call(to, sdp(ua.advertised_addr().ip(), "sipua"), None)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match other.next_event().await {
                Some(CallEvent::Answered { .. }) => break,
                Some(CallEvent::Terminated { reason, .. }) => {
                    let _ = call.hangup().await;
                    return Err(format!("consultation: {}", describe(&reason, to)));
                }
                Some(_) => {}
                None => return Err("the user agent stopped".into()),
            }
        }
        consultation = Some(other);
    }
    tokio::time::sleep(Duration::from_millis(how.transfer_after)).await;
    let transfer = match &consultation {
        Some(other) => call.attended_transfer(other).await,
        None => call.refer(to).await,
    };
    let mut transfer = transfer.map_err(|e| format!("cannot transfer: {e}"))?;
    say(format!(
        "{} transfer to {to}",
        if how.attended { "attended" } else { "blind" }
    ));
    let mut result = Err("the user agent stopped".to_owned());
    while let Some(event) = transfer.next_event().await {
        say(format!("transfer {event}"));
        match event {
            TransferEvent::Succeeded => result = Ok(()),
            TransferEvent::Failed(_) => result = Err(format!("transfer {event}")),
            _ => {}
        }
    }
    if result.is_err() {
        // The transfer failed: the call (and the consultation) are ours to end.
        let _ = call.hangup().await;
        if let Some(other) = &consultation {
            let _ = other.hangup().await;
        }
    }
    // After a success our call ends by itself (Transferred), and the consultation is
    // ended by its peer, whose new call replaced it.
    let end = call.ended().await;
    if let Some(reason) = &end {
        say(format!("ended ({reason})"));
    }
    if let Some(mut other) = consultation {
        if let Some(reason) = other.ended().await {
            say(format!("consultation ended ({reason})"));
        }
    }
    result?;
    match end {
        Some(EndReason::Transferred) => Ok(()),
        Some(reason) => Err(describe(&reason, to)),
        None => Err("the user agent stopped".into()),
    }
}

fn describe(reason: &EndReason, target: &str) -> String {
    match reason {
        EndReason::Timeout => format!("no response from {target} (timeout)"),
        EndReason::TransportError => format!("cannot reach {target} (transport error)"),
        EndReason::Rejected(status) => format!("rejected: {} {}", status.as_u16(), status.canonical_reason()),
        other => format!("ended: {other}"),
    }
}
