//! `sipua listen`: wait for calls and ring, answer, reject or hang them up as told, printing
//! one line per call event. The example is a thin command-line wrapper over this module, so
//! that tests (including other drivers' tests) can run the very same logic in process.
//!
//! [`run`] binds and serves until the process ends or a stop condition in
//! [`ListenOptions`] holds. [`Listener`] splits the two steps so the caller learns the bound
//! address (port 0 picks one) before any call arrives, and can pass its own stop signal —
//! or two, with [`Listener::run_draining`]: a graceful stop that refuses new calls with 503
//! while the calls in progress end (what `sipua listen` does on SIGTERM), and a stop at once.
//!
//! ```
//! use std::time::Duration;
//! use sip_tokio::listen::{ListenOptions, Listener};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sip_tokio::Error> {
//! let options = ListenOptions {
//!     auto_answer: true,
//!     duration: Some(Duration::from_millis(50)),
//!     ..ListenOptions::default()
//! };
//! let listener = Listener::bind(options).await?;
//! let target = format!("sip:bob@{}", listener.local_addr());
//! // … hand `target` to a caller, then:
//! let report = listener.run(std::io::sink(), std::future::pending()).await;
//! assert_eq!(report.incoming, 0);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use sip_core::call::{CallError, CallEvent, EndReason};
use sip_core::endpoint::{CallId, EndpointLimits, Transport};
use sip_core::message::HeaderName;
use sip_core::sdp::{NoCommonFormat, SessionDescription};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::{Call, Error, IncomingCalls, IncomingRefer, IncomingRefers, TransportOptions, UserAgent};

/// Incoming calls that may wait for the listener (a few seconds of calls at SIPp-load rates).
const INCOMING_QUEUE: usize = 65_536;

/// The audio formats in our SDP: PCMU, PCMA and telephone-event.
const FORMATS: [u8; 3] = [0, 8, 101];
/// The RTP port put in our SDP (no media flows: this is signalling only).
const RTP_PORT: u16 = 40_000;

/// Where the listeners with ports of their own are: `, tls 127.0.0.1:5061, ws …`, or
/// nothing.
pub(crate) fn listener_addrs(agent: &UserAgent) -> String {
    [
        ("tls", agent.tls_addr()),
        ("ws", agent.ws_addr()),
        ("wss", agent.wss_addr()),
    ]
    .into_iter()
    .filter_map(|(name, addr)| addr.map(|addr| format!(", {name} {addr}")))
    .collect()
}

/// What [`run`] does with incoming calls and when it stops. Every stop condition is
/// optional; with none set it serves until the process ends (as `sipua listen` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOptions {
    /// The local address (port 0 picks a free port). Default `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// The address to name ourselves by in Via and Contact and in our session
    /// descriptions, when it is not the bound one (see
    /// [`Builder::advertise`](crate::Builder::advertise); a port of 0 stands for the bound
    /// port). Default: none, the bound address.
    pub advertise: Option<SocketAddr>,
    /// Listen on TCP as well as UDP (on the same port).
    pub tcp: bool,
    /// Listeners for TLS, WebSocket and secure WebSocket, and the TLS files (default:
    /// none).
    pub transports: TransportOptions,
    /// Answer every call (200 OK with a small audio SDP) after ringing. Whatever this
    /// says, a call whose offer shares no media format with ours is refused with 488 Not
    /// Acceptable Here (RFC 3264 §6, RFC 3261 §21.4.26) without ringing.
    pub auto_answer: bool,
    /// Ring this long before answering (with `auto_answer`).
    pub answer_after: Duration,
    /// Reject every call with this status (300..=699); takes precedence over
    /// `auto_answer`.
    pub reject: Option<u16>,
    /// Hang up an answered call this long after the caller's ACK (`None`: let the caller
    /// hang up).
    pub hangup_after: Option<Duration>,
    /// Stop after this long, hanging up whatever is still in progress.
    pub duration: Option<Duration>,
    /// Stop once this many calls have ended.
    pub max_calls: Option<usize>,
    /// How long a graceful stop ([`Listener::run_draining`]) waits for the calls in
    /// progress to end before hanging up what is left. Default 25 s.
    pub drain_timeout: Duration,
    /// The core's limits (live calls, transactions, connections, message size): past one a
    /// new request gets 503 with Retry-After. Default: [`EndpointLimits::default`].
    pub limits: EndpointLimits,
    /// Take REFER (RFC 3515) and carry every transfer out: call its target (with the
    /// Replaces of an attended transfer) and report that call's progress to the
    /// referrer; the new call is then served like an answered incoming one.
    pub accept_refer: bool,
    /// Print only the report at the end, nothing per call.
    pub quiet: bool,
    /// Print every SIP message sent and received on stderr (`sipua --trace`).
    pub trace: bool,
    /// The nameserver to ask when a transfer's target is a host name (RFC 3263; see
    /// [`Builder::dns_server`](crate::Builder::dns_server)). Default: none, the system's
    /// configuration.
    pub dns_server: Option<SocketAddr>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            advertise: None,
            tcp: false,
            transports: TransportOptions::default(),
            auto_answer: false,
            answer_after: Duration::ZERO,
            reject: None,
            hangup_after: None,
            duration: None,
            max_calls: None,
            drain_timeout: DRAIN_TIMEOUT,
            limits: EndpointLimits::default(),
            accept_refer: false,
            quiet: false,
            trace: false,
            dns_server: None,
        }
    }
}

/// What [`run`] did, counted over every call it saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenReport {
    /// Incoming calls.
    pub incoming: usize,
    /// Calls we rejected (`reject`).
    pub rejected: usize,
    /// Calls refused with 488 Not Acceptable Here because their offer shared no media
    /// format with ours (RFC 3264 §6).
    pub not_acceptable: usize,
    /// Calls whose answer the caller ACKed.
    pub answered: usize,
    /// Calls we hung up ourselves (`hangup_after`, not the shutdown at the end).
    pub hung_up: usize,
    /// Calls that ended, for whatever reason, while we watched them.
    pub ended: usize,
    /// Calls the caller ended with BYE ([`EndReason::RemoteBye`]).
    pub remote_bye: usize,
    /// REFERs followed (`accept_refer`): calls placed to a transfer's target.
    pub transfers: usize,
    /// Of those, calls the target answered.
    pub transfers_answered: usize,
    /// Calls still in progress when serving stopped, which the shutdown then hung up or
    /// refused. A graceful stop whose calls all ended within `drain_timeout` leaves none.
    pub still_up: usize,
}

/// A bound listener that has not started serving yet: [`Listener::local_addr`] tells
/// callers where to send their INVITEs before [`Listener::run`] starts.
#[derive(Debug)]
pub struct Listener {
    agent: UserAgent,
    incoming: IncomingCalls,
    /// REFERs to follow, with `accept_refer`.
    refers: Option<IncomingRefers>,
    options: ListenOptions,
}

impl Listener {
    /// Checks `options`, binds the sockets and takes over incoming calls (until this, the
    /// agent would answer INVITEs with 480).
    ///
    /// Fails with [`Error::Call`] for a `reject` status outside 300..=699 and with
    /// [`Error::Io`] when the address cannot be bound.
    pub async fn bind(options: ListenOptions) -> Result<Listener, Error> {
        if let Some(code) = options.reject {
            if !(300..700).contains(&code) {
                return Err(Error::Call(CallError::BadStatus(code)));
            }
        }
        // Under load calls arrive faster than a single-threaded runtime takes them up in
        // bursts; a deep queue absorbs the burst instead of refusing calls with 503.
        let mut builder = UserAgent::builder();
        if options.trace {
            let since = std::time::Instant::now();
            builder = builder.on_message(move |m| eprintln!("{}\n", m.block(since)));
        }
        let mut builder = builder
            .incoming_queue(INCOMING_QUEUE)
            .bind(options.bind)
            .tcp(options.tcp)
            .transport_options(&options.transports)
            .limits(options.limits.clone())
            .accept_refer(options.accept_refer);
        if let Some(advertise) = options.advertise {
            builder = builder.advertise(advertise);
        }
        if let Some(server) = options.dns_server {
            builder = builder.dns_server(server);
        }
        let agent = builder.start().await?;
        let incoming = agent.incoming().await?;
        let refers = match options.accept_refer {
            true => Some(agent.incoming_refers().await?),
            false => None,
        };
        Ok(Listener {
            agent,
            incoming,
            refers,
            options,
        })
    }

    /// The bound address (the actual port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.agent.local_addr()
    }

    /// The address callers reach us at: the advertised one, else the bound one (see
    /// [`UserAgent::advertised_addr`]).
    pub fn advertised_addr(&self) -> SocketAddr {
        self.agent.advertised_addr()
    }

    /// The transports listened on.
    pub fn transports(&self) -> &[Transport] {
        self.agent.transports()
    }

    /// Serves calls, one task each, writing one line per call event to `out` (unless
    /// `quiet`), until `stop` completes, `duration` passes, `max_calls` calls have ended,
    /// or the agent stops. Then it shuts the agent down — live calls are hung up, with two
    /// seconds' grace — and returns the counts, including the calls ended by the shutdown.
    ///
    /// Output is best effort: a write error (a closed stdout) does not stop the calls.
    pub async fn run(self, out: impl Write, stop: impl Future<Output = ()>) -> ListenReport {
        self.run_draining(out, std::future::pending(), stop).await
    }

    /// [`Listener::run`] with a graceful stop as well: once `drain` completes the agent
    /// stops accepting ([`UserAgent::set_accepting`]) — every new request outside a dialog,
    /// INVITE and OPTIONS alike, gets 503 Service Unavailable with Retry-After, so a proxy
    /// sends new calls elsewhere and one probing with OPTIONS takes us out of its pool —
    /// while the calls in progress go on until they end. When the last has ended, or
    /// `drain_timeout` has passed, it stops as `run` does (hanging up what is left).
    /// `stop` still stops at once, draining or not; `duration` and `max_calls` still hold.
    pub async fn run_draining(
        self,
        mut out: impl Write,
        drain: impl Future<Output = ()>,
        stop: impl Future<Output = ()>,
    ) -> ListenReport {
        let Listener {
            agent,
            mut incoming,
            mut refers,
            options,
        } = self;
        let quiet = options.quiet;
        let mut say = |line: std::fmt::Arguments<'_>| {
            if !quiet {
                let _ = writeln!(out, "{line}");
            }
        };
        let advertised = match agent.advertised_addr() {
            addr if addr == agent.local_addr() => String::new(),
            addr => format!(", advertised as {addr}"),
        };
        say(format_args!(
            "listening on {} ({:?}){}{advertised}",
            agent.local_addr(),
            agent.transports(),
            listener_addrs(&agent)
        ));
        // Our session descriptions name the address we are reached at.
        let ip = agent.advertised_addr().ip();
        let plan = Plan::from(&options);
        let mut report = ListenReport::default();
        // Dropping the set aborts the call tasks, so no task outlives `run`.
        let mut tasks = JoinSet::new();
        // What the call tasks have to say as their calls go on, printed as it comes
        // (bounded; a line that finds it full is dropped, never waited for).
        let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<String>(1024);
        let lines_tx = (!quiet).then_some(lines_tx);
        let deadline = options.duration.map(|d| Instant::now() + d);
        let limit_reached = |report: &ListenReport| options.max_calls.is_some_and(|max| report.ended >= max);
        tokio::pin!(stop);
        tokio::pin!(drain);
        // Set once the graceful stop has begun: when it gives up on the calls in progress.
        let mut draining_until: Option<Instant> = None;
        while !limit_reached(&report) {
            // Draining and no call task left: done once the agent has no call either (one
            // may still wait in `incoming`, taken on the next turn).
            if draining_until.is_some()
                && tasks.is_empty()
                && agent.stats().await.map_or(true, |stats| stats.calls == 0)
            {
                say(format_args!("drained: every call has ended"));
                break;
            }
            tokio::select! {
                call = incoming.next() => {
                    let Some(call) = call else { break };
                    report.incoming += 1;
                    say(format_args!("{}: incoming from {}", call.id(), from(&call)));
                    tasks.spawn(serve_call(call, plan, ip, lines_tx.clone()));
                }
                refer = next_refer(&mut refers) => {
                    let Some(refer) = refer else {
                        refers = None;
                        continue;
                    };
                    let came_in = refer.call().map_or("no call".to_owned(), |call| call.to_string());
                    say(format_args!(
                        "transfer: REFER to {} in {came_in}{}",
                        refer.target(),
                        if refer.replaces().is_some() { " (attended: replaces a call there)" } else { "" }
                    ));
                    tasks.spawn(follow_transfer(refer, plan, ip));
                }
                Some(line) = lines.recv() => say(format_args!("{line}")),
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    // A task that panicked has no outcome to count; the call itself lives on
                    // in the driver until the shutdown below.
                    if let Ok(outcome) = done {
                        outcome.record(&mut report, &mut say);
                    }
                }
                () = sleep_until(deadline) => break,
                () = &mut stop => break,
                () = &mut drain, if draining_until.is_none() => {
                    // Refused from now on; should the agent be gone already, the loop ends
                    // on its own (`incoming` closes).
                    let _ = agent.set_accepting(false).await;
                    draining_until = Some(Instant::now() + options.drain_timeout);
                    say(format_args!(
                        "draining: new requests refused with 503; waiting up to {:?} for {} calls in progress",
                        options.drain_timeout,
                        tasks.len()
                    ));
                }
                () = sleep_until(draining_until) => {
                    say(format_args!("drain timeout: {} calls still in progress are hung up", tasks.len()));
                    break;
                }
                // While draining with no task left, look at the agent's calls again now
                // and then (a call it refused is gone in a moment, and tells nobody).
                () = tokio::time::sleep(DRAIN_POLL), if draining_until.is_some() && tasks.is_empty() => {}
            }
        }
        report.still_up = tasks.len();
        agent.shutdown(SHUTDOWN_GRACE).await;
        // After the shutdown every call has ended (or the driver is gone, which ends the
        // tasks' event streams), so the remaining tasks finish promptly; the bound only
        // guards against a task stuck on something else.
        let drain = async {
            while let Some(done) = tasks.join_next().await {
                if let Ok(outcome) = done {
                    outcome.record(&mut report, &mut say);
                }
            }
        };
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
        report
    }
}

/// How long live calls get to end when the listener stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// [`ListenOptions::drain_timeout`]'s default: long enough for short calls and a proxy
/// to notice, short enough for a service manager's stop timeout (systemd's default is
/// 90 s, Kubernetes' grace period 30 s: the agent's own 2 s shutdown grace comes on top).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// How often a drain with no call task left asks the agent whether any call is.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// Binds as `options` says and serves calls until one of its stop conditions holds (with
/// none set, until the process ends), writing one line per call event to `out`. This is
/// `sipua listen`.
///
/// Fails only when [`Listener::bind`] does.
pub async fn run(options: ListenOptions, out: impl Write) -> Result<ListenReport, Error> {
    let listener = Listener::bind(options).await?;
    Ok(listener.run(out, std::future::pending()).await)
}

/// The next REFER to follow, or never without `accept_refer`.
async fn next_refer(refers: &mut Option<IncomingRefers>) -> Option<IncomingRefer> {
    match refers {
        Some(refers) => refers.next().await,
        None => std::future::pending().await,
    }
}

/// Follows a transfer: the Endpoint accepts the REFER, calls its target and reports that
/// call's progress to the referrer by itself; the new call is then served as `plan`
/// says for an answered one (hung up after `hangup_after`, if set).
async fn follow_transfer(refer: IncomingRefer, plan: Plan, ip: IpAddr) -> Outcome {
    let ip = if ip.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        ip
    };
    let offer =
        SessionDescription::simple_audio("sipua", refer.id().as_u64(), ip, RTP_PORT, &FORMATS).to_bytes();
    let mut outcome = Outcome {
        // Until the call exists the REFER stands for it in the log.
        id: format!("REFER {}", refer.id()),
        transfer: true,
        placed: false,
        rejected: false,
        not_acceptable: None,
        answered: false,
        hung_up: false,
        answer_error: None,
        reason: None,
    };
    let mut call = match refer.accept_and_call(offer).await {
        Ok(call) => call,
        Err(e) => {
            outcome.answer_error = Some(e);
            return outcome;
        }
    };
    outcome.placed = true;
    outcome.id = call.id().to_string();
    let mut hangup_at = None;
    loop {
        let event = tokio::select! {
            event = call.next_event() => event,
            () = sleep_until(hangup_at) => {
                hangup_at = None;
                outcome.hung_up = call.hangup().await.is_ok();
                continue;
            }
        };
        match event {
            Some(CallEvent::Answered { .. }) => {
                outcome.answered = true;
                hangup_at = plan.hangup_after.map(|delay| Instant::now() + delay);
            }
            Some(CallEvent::Terminated { reason, .. }) => {
                outcome.reason = Some(reason);
                return outcome;
            }
            Some(_) => {}
            None => return outcome,
        }
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The caller as its From header names it.
fn from(call: &Call) -> String {
    call.request()
        .and_then(|r| r.headers.get(HeaderName::From))
        .unwrap_or("?")
        .to_owned()
}

/// What to do with each call: the part of [`ListenOptions`] a call task needs, `Copy` so
/// every task gets its own.
#[derive(Debug, Clone, Copy)]
struct Plan {
    reject: Option<u16>,
    answer_after: Option<Duration>,
    hangup_after: Option<Duration>,
}

impl From<&ListenOptions> for Plan {
    fn from(options: &ListenOptions) -> Self {
        Plan {
            reject: options.reject,
            answer_after: options.auto_answer.then_some(options.answer_after),
            hangup_after: options.hangup_after,
        }
    }
}

/// How one call went.
#[derive(Debug)]
struct Outcome {
    /// The call, as the log names it.
    id: String,
    /// A call we placed for a REFER, not an incoming one.
    transfer: bool,
    /// (transfer) The call was placed (accepting the REFER can fail).
    placed: bool,
    rejected: bool,
    /// Why the offer was refused with 488, when it was.
    not_acceptable: Option<NoCommonFormat>,
    answered: bool,
    hung_up: bool,
    /// Why answering failed, when it did (the caller usually gave up first).
    answer_error: Option<Error>,
    /// `None` when the agent stopped before the call reported its end.
    reason: Option<EndReason>,
}

impl Outcome {
    fn record(self, report: &mut ListenReport, say: &mut impl FnMut(std::fmt::Arguments<'_>)) {
        if let Some(e) = &self.answer_error {
            let what = if self.transfer {
                "cannot follow"
            } else {
                "cannot answer"
            };
            say(format_args!("{}: {what}: {e}", self.id));
        }
        if self.transfer {
            // Calls we placed for a REFER: counted as transfers, not as incoming calls.
            if self.placed {
                report.transfers += 1;
                report.transfers_answered += usize::from(self.answered);
                match &self.reason {
                    Some(reason) => say(format_args!("{}: transfer call ended ({reason})", self.id)),
                    None => say(format_args!(
                        "{}: transfer call still up when the agent stopped",
                        self.id
                    )),
                }
            }
            return;
        }
        if let Some(e) = &self.not_acceptable {
            say(format_args!("{}: refused with 488: {e}", self.id));
        }
        match &self.reason {
            Some(reason) => say(format_args!("{}: ended ({reason})", self.id)),
            None => say(format_args!("{}: still up when the agent stopped", self.id)),
        }
        report.rejected += usize::from(self.rejected);
        report.not_acceptable += usize::from(self.not_acceptable.is_some());
        report.answered += usize::from(self.answered);
        report.hung_up += usize::from(self.hung_up);
        report.ended += usize::from(self.reason.is_some());
        report.remote_bye += usize::from(self.reason == Some(EndReason::RemoteBye));
    }
}

/// Something a call task does at a set time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Answer with this session description.
    Answer(Bytes),
    Hangup,
}

/// Carries out `plan` on one incoming call and follows it to its end. The call's events
/// are watched throughout, so a caller who cancels while we ring is noticed at once.
async fn serve_call(
    mut call: Call,
    plan: Plan,
    ip: IpAddr,
    lines: Option<tokio::sync::mpsc::Sender<String>>,
) -> Outcome {
    let id = call.id();
    let tell = |what: String| {
        if let Some(lines) = &lines {
            let _ = lines.try_send(format!("{id}: {what}"));
        }
    };
    let mut outcome = Outcome {
        id: call.id().to_string(),
        transfer: false,
        placed: false,
        rejected: false,
        not_acceptable: None,
        answered: false,
        hung_up: false,
        answer_error: None,
        reason: None,
    };
    // Errors from ringing, rejecting and hanging up only mean the call already ended
    // (the caller cancelled): its Terminated event, below, says how.
    let mut next: Option<(Instant, Action)> = None;
    if let Some(code) = plan.reject {
        outcome.rejected = call.reject(code, None).await.is_ok();
    } else {
        match answer_body(call.remote_offer().map_or(&[][..], |b| &b[..]), ip, call.id()) {
            Ok(body) => {
                let _ = call.ringing().await;
                if let Some(delay) = plan.answer_after {
                    next = Some((Instant::now() + delay, Action::Answer(body)));
                }
            }
            // RFC 3264 §6: nothing offered that we can answer; RFC 3261 §21.4.26: 488.
            Err(e) => {
                if call.reject(488, None).await.is_ok() {
                    outcome.not_acceptable = Some(e);
                }
            }
        }
    }
    loop {
        let event = tokio::select! {
            event = call.next_event() => event,
            () = sleep_until(next.as_ref().map(|(at, _)| *at)) => {
                match next.take().map(|(_, action)| action) {
                    Some(Action::Answer(body)) => {
                        if let Err(e) = call.answer(body, None).await {
                            outcome.answer_error = Some(e);
                        }
                    }
                    Some(Action::Hangup) => outcome.hung_up = call.hangup().await.is_ok(),
                    None => {}
                }
                continue;
            }
        };
        match event {
            Some(CallEvent::Answered { .. }) => {
                tell("answered (ACK received)".to_owned());
                outcome.answered = true;
                if let Some(delay) = plan.hangup_after {
                    next = Some((Instant::now() + delay, Action::Hangup));
                }
            }
            Some(CallEvent::Terminated { reason, .. }) => {
                outcome.reason = Some(reason);
                return outcome;
            }
            Some(event) => {
                if let Some(words) = in_words(&event) {
                    tell(words);
                }
            }
            None => return outcome,
        }
    }
}

/// A call event as `sipua listen` prints it; `None` for those it does not.
fn in_words(event: &CallEvent) -> Option<String> {
    use sip_core::call::Side;
    let who = |by: &Side| match by {
        Side::Local => "we",
        Side::Remote => "the caller",
    };
    Some(match event {
        CallEvent::Hold { by } => format!("on hold ({} put it)", who(by)),
        CallEvent::Unhold { by } => format!("off hold ({} took it off)", who(by)),
        CallEvent::RemoteOffer { .. } => {
            "new offer from the caller (re-INVITE or UPDATE), answered".to_owned()
        }
        CallEvent::OfferAnswered { .. } => "our offer answered".to_owned(),
        CallEvent::Request { request, .. } => format!("{} received", request.method),
        CallEvent::Replacing { replaced } => format!("replaces {replaced}"),
        CallEvent::StateChanged { to, .. } => {
            return (*to == sip_core::call::CallState::Ringing).then(|| "ringing".to_owned());
        }
        _ => return None,
    })
}

/// Our session description: an answer to the caller's `offer` when we can read one (RFC
/// 3264 §6), else an offer of our own (an INVITE without a body makes our 2xx the offer,
/// RFC 3261 §13.2.1). Fails when the offer shares no media format with ours: the call is
/// then refused with 488.
fn answer_body(offer: &[u8], ip: IpAddr, call: CallId) -> Result<Bytes, NoCommonFormat> {
    // An unspecified bind address is no use in c=; a loopback stands in for it.
    let ip = if ip.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        ip
    };
    let ours = SessionDescription::simple_audio("sipua", call.as_u64(), ip, RTP_PORT, &FORMATS);
    if offer.is_empty() {
        return Ok(ours.to_bytes());
    }
    match SessionDescription::parse(offer) {
        Ok(offer) => Ok(ours.answer_for(&offer, false)?.to_bytes()),
        // An offer we cannot read: answer with ours and let the caller judge.
        Err(_) => Ok(ours.to_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_core::message::StatusCode;

    fn caller_options() -> ListenOptions {
        ListenOptions {
            auto_answer: true,
            max_calls: Some(1),
            duration: Some(Duration::from_secs(5)),
            ..ListenOptions::default()
        }
    }

    #[tokio::test]
    async fn bad_reject_status_is_refused() {
        let options = ListenOptions {
            reject: Some(200),
            ..ListenOptions::default()
        };
        assert!(matches!(
            Listener::bind(options).await,
            Err(Error::Call(CallError::BadStatus(200)))
        ));
    }

    #[tokio::test]
    async fn answers_one_call_and_stops() {
        let listener = Listener::bind(caller_options()).await.unwrap();
        let target = format!("sip:bob@{}", listener.local_addr());
        let server = tokio::spawn(listener.run(Vec::new(), std::future::pending()));
        let alice = UserAgent::builder().start().await.unwrap();
        let mut call = alice.call(&target, offer(), None).await.unwrap();
        let answer = loop {
            match call.next_event().await.unwrap() {
                CallEvent::Answered { body } => break body,
                CallEvent::Terminated { reason, .. } => panic!("ended: {reason:?}"),
                _ => {}
            }
        };
        // An answer to the offer: one audio stream, on our port, with only the offered
        // PCMU (RFC 3264 §6.1).
        let answer = String::from_utf8_lossy(&answer).into_owned();
        assert_eq!(answer.matches("m=audio 40000 ").count(), 1, "{answer}");
        assert!(answer.contains("m=audio 40000 RTP/AVP 0\r\n"), "{answer}");
        assert!(
            !answer.contains("PCMA") && !answer.contains("telephone-event"),
            "{answer}"
        );
        call.hangup().await.unwrap();
        assert_eq!(call.ended().await, Some(EndReason::LocalBye));
        let report = server.await.unwrap();
        assert_eq!((report.incoming, report.answered, report.ended), (1, 1, 1));
        assert_eq!(report.remote_bye, 1);
        alice.shutdown(Duration::from_millis(100)).await;
    }

    #[tokio::test]
    async fn rejects_and_hangs_up() {
        let options = ListenOptions {
            reject: Some(486),
            ..caller_options()
        };
        let listener = Listener::bind(options).await.unwrap();
        let target = format!("sip:bob@{}", listener.local_addr());
        let server = tokio::spawn(listener.run(std::io::sink(), std::future::pending()));
        let alice = UserAgent::builder().start().await.unwrap();
        let mut call = alice.call(&target, Bytes::new(), None).await.unwrap();
        assert!(matches!(call.ended().await, Some(EndReason::Rejected(s)) if s.as_u16() == 486));
        let report = server.await.unwrap();
        assert_eq!((report.incoming, report.rejected, report.ended), (1, 1, 1));

        let options = ListenOptions {
            hangup_after: Some(Duration::from_millis(20)),
            ..caller_options()
        };
        let listener = Listener::bind(options).await.unwrap();
        let target = format!("sip:bob@{}", listener.local_addr());
        let server = tokio::spawn(listener.run(std::io::sink(), std::future::pending()));
        let mut call = alice.call(&target, offer(), None).await.unwrap();
        assert_eq!(call.ended().await, Some(EndReason::RemoteBye));
        let report = server.await.unwrap();
        assert_eq!((report.answered, report.hung_up, report.ended), (1, 1, 1));
        alice.shutdown(Duration::from_millis(100)).await;
    }

    #[tokio::test]
    async fn an_offer_sharing_no_format_with_ours_is_refused_with_488() {
        let listener = Listener::bind(caller_options()).await.unwrap();
        let target = format!("sip:bob@{}", listener.local_addr());
        let server = tokio::spawn(listener.run(Vec::new(), std::future::pending()));
        let alice = UserAgent::builder().start().await.unwrap();
        // G.729 only: not among our formats.
        let g729 = Bytes::from_static(
            b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
              m=audio 40002 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n",
        );
        let mut call = alice.call(&target, g729, None).await.unwrap();
        assert!(matches!(call.ended().await, Some(EndReason::Rejected(s)) if s.as_u16() == 488));
        let report = server.await.unwrap();
        assert_eq!(
            (
                report.incoming,
                report.not_acceptable,
                report.rejected,
                report.answered
            ),
            (1, 1, 0, 0)
        );
        alice.shutdown(Duration::from_millis(100)).await;
    }

    #[tokio::test]
    async fn stop_signal_ends_ringing_calls() {
        // Neither answer nor reject: calls ring until the listener stops.
        let options = ListenOptions::default();
        let listener = Listener::bind(options).await.unwrap();
        let target = format!("sip:bob@{}", listener.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(listener.run(std::io::sink(), async {
            let _ = stopped.await;
        }));
        let alice = UserAgent::builder().start().await.unwrap();
        let mut call = alice.call(&target, Bytes::new(), None).await.unwrap();
        loop {
            if let CallEvent::Ringing { .. } = call.next_event().await.unwrap() {
                break;
            }
        }
        stop.send(()).unwrap();
        let report = server.await.unwrap();
        assert_eq!((report.incoming, report.answered, report.ended), (1, 0, 1));
        // The shutdown refused the ringing call.
        assert!(matches!(call.ended().await, Some(EndReason::Rejected(_))));
        alice.shutdown(Duration::from_millis(100)).await;
    }

    /// Calls `target` and waits until the call is answered.
    async fn answered_call(alice: &UserAgent, target: &str) -> Call {
        let mut call = alice.call(target, offer(), None).await.unwrap();
        loop {
            match call.next_event().await.unwrap() {
                CallEvent::Answered { .. } => return call,
                CallEvent::Terminated { reason, .. } => panic!("ended: {reason:?}"),
                _ => {}
            }
        }
    }

    #[tokio::test]
    async fn a_graceful_stop_refuses_new_requests_with_503_and_waits_for_the_calls_in_progress() {
        let options = ListenOptions {
            auto_answer: true,
            duration: Some(Duration::from_secs(10)),
            ..ListenOptions::default()
        };
        let listener = Listener::bind(options).await.unwrap();
        let target = format!("sip:bob@{}", listener.local_addr());
        let (drain, draining) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(listener.run_draining(
            std::io::sink(),
            async {
                let _ = draining.await;
            },
            std::future::pending(),
        ));
        let alice = UserAgent::builder().start().await.unwrap();
        let mut call = answered_call(&alice, &target).await;
        assert_eq!(alice.options(&target).await.unwrap(), StatusCode::OK);

        drain.send(()).unwrap();
        // The refusal is the agent's, so wait for it to take effect: OPTIONS, answered
        // as an INVITE would be (RFC 3261 §11.2), says when.
        let until = Instant::now() + Duration::from_secs(5);
        while alice.options(&target).await.unwrap() != StatusCode::SERVICE_UNAVAILABLE {
            assert!(
                Instant::now() < until,
                "OPTIONS still answered 200 while draining"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut refused = alice.call(&target, offer(), None).await.unwrap();
        assert_eq!(
            refused.ended().await,
            Some(EndReason::Rejected(StatusCode::SERVICE_UNAVAILABLE))
        );
        // The call in progress is not cut: the listener waits for it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !server.is_finished(),
            "the listener stopped with a call in progress"
        );
        call.hangup().await.unwrap();
        assert_eq!(call.ended().await, Some(EndReason::LocalBye));
        let report = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the listener stops once its last call has ended")
            .unwrap();
        assert_eq!(
            (
                report.incoming,
                report.answered,
                report.remote_bye,
                report.still_up
            ),
            (1, 1, 1, 0),
            "{report:?}"
        );
        alice.shutdown(Duration::from_millis(100)).await;
    }

    #[tokio::test]
    async fn a_graceful_stop_hangs_up_what_is_left_after_the_drain_timeout() {
        let options = ListenOptions {
            auto_answer: true,
            drain_timeout: Duration::from_millis(200),
            duration: Some(Duration::from_secs(10)),
            ..ListenOptions::default()
        };
        let listener = Listener::bind(options).await.unwrap();
        let target = format!("sip:bob@{}", listener.local_addr());
        let (drain, draining) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(listener.run_draining(
            std::io::sink(),
            async {
                let _ = draining.await;
            },
            std::future::pending(),
        ));
        let alice = UserAgent::builder().start().await.unwrap();
        let mut call = answered_call(&alice, &target).await;
        drain.send(()).unwrap();
        // The caller never hangs up: the listener does, once the drain times out.
        assert_eq!(call.ended().await, Some(EndReason::RemoteBye));
        let report = server.await.unwrap();
        assert_eq!((report.answered, report.still_up), (1, 1), "{report:?}");
        alice.shutdown(Duration::from_millis(100)).await;
    }

    fn offer() -> Bytes {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        SessionDescription::simple_audio("alice", 1, ip, 40_002, &[0]).to_bytes()
    }
}
