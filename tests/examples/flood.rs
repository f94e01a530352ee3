//! Flood harness: attacks a `sipua listen --auto-answer` over loopback while SIPp places
//! valid calls to it, and prints one markdown table row per attack — did the valid calls
//! go through, what came back to the flooder, what the flood cost sipua in memory and CPU.
//!
//! `bench/flood.sh` builds this and `sipua` in release, installs SIPp (`sip-tester`),
//! raises the descriptor limit and runs it; by hand:
//!
//! ```text
//! cargo build --release -p sip-tokio --example sipua
//! cargo build --release -p sip-tests --example flood
//! ulimit -n 20000   # tcp-idle holds 10,000 connections, on each side
//! ATTACKS="invite garbage" SETTLE_SECONDS=5 \
//!     target/release/examples/flood target/release/examples/sipua
//! ```
//!
//! Every attack gets a fresh sipua (so its VmHWM is that attack's peak) on 127.0.0.1 at
//! BASE_PORT + the attack's position. SIPp's built-in `uac` scenario calls it over UDP at
//! CALL_RATE calls a second (INVITE, 100, 180, 200, ACK, BYE, 200, no pause), starting
//! [`LEAD`] before the attack's window and stopping [`TAIL`] after it. The attacks:
//!
//! - `baseline`: no flood; the calls alone, for comparison.
//! - `invite`: SIPp-style INVITEs with an SDP offer, each with its own Call-ID, branch and
//!   From tag, never acknowledged, as fast as one thread sends them.
//! - `stray`: CANCELs, and BYEs with a To tag, that match no transaction or dialog.
//! - `garbage`: 512 random bytes; `X\nv:a\n\n`; a request line and 500 Via lines (about
//!   26 KB); an OPTIONS with a good Via and a broken CSeq.
//! - `tcp-idle`: sipua also listens on TCP; up to TCP_CONNECTIONS connections are opened
//!   (a quarter from 127.0.0.1, the rest spread over 127.0.0.2 to 127.0.0.200), a third
//!   silent, a third sending a 60 KB head that never ends, a third one byte a minute, and
//!   held to the end of the window. Every second of it a new client (from 127.0.1.x) sends
//!   OPTIONS over a new connection and must get a 200.
//!
//! The UDP floods come from 127.0.0.2 ([`FLOOD_SOURCE`]), another host than the caller's.
//! They send each kind of message from ports of its own ([`PORTS_PER_KIND`]) and read
//! those ports until the settle period ends, so every reply is counted and attributed to
//! the kind of request that drew it; within a kind every request has the same size. The
//! size bar is for refusals (final responses of 300 and up: what the stack sends on its own
//! to what it will not serve); the answers of a call it admitted are the application's.
//!
//! Measured on the sipua process, from `/proc/PID/{status,stat}`: VmRSS before SIPp
//! starts, VmRSS SETTLE_SECONDS after the flood ends, and then VmHWM (the peak, over the
//! attack and the settling: sipua is new, so this is the most this attack made it hold);
//! CPU time (utime + stime) over SIPp's run, and over the settle period. From
//! `/proc/net/udp`, the datagrams the kernel dropped at sipua's full socket.
//!
//! Settings, from the environment (defaults in brackets):
//!
//! - `ATTACKS` [`baseline invite stray garbage tcp-idle`]: which attacks, in order.
//! - `CALL_RATE` [200]: SIPp's calls per second.
//! - `FLOOD_SECONDS` [10]: the window of the UDP attacks (and of `baseline`).
//! - `FLOOD_RATE` [0]: flood messages per second; 0 is as fast as the flooder can.
//! - `FLOOD_MAX_MESSAGES` [2000000]: the most messages one UDP attack sends.
//! - `TCP_CONNECTIONS` [10000]: connections `tcp-idle` opens at most.
//! - `TCP_OPEN_SECONDS` [10]: how long `tcp-idle` may spend opening them.
//! - `TCP_HOLD_SECONDS` [20]: how long it holds them after that.
//! - `SETTLE_SECONDS` [60]: how long after the flood "RSS after" is read.
//! - `BASE_PORT` [25060]: sipua's port for the first attack.
//! - `FLOOD_WORK_DIR` [a new directory in the temp dir]: logs and SIPp's statistics.
//! - `FLOOD_PIDS_FILE` [none]: each `timeout` process started is appended here, so that a
//!   wrapper can stop them by PID if this program is killed.
//!
//! Exits 0 when every attack met the bar, 1 when one did not — a valid call failed, the
//! peak RSS reached [`PEAK_RSS_LIMIT`], RSS after settling stayed more than
//! [`RETAINED_RSS_LIMIT`] above RSS before, a refusal was larger than the request that
//! drew it, a new TCP client went unserved, or sipua died — and 2 when the harness could not run.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, Socket, Type};

/// SIPp calls alone this long before the attack starts.
const LEAD: Duration = Duration::from_secs(2);
/// SIPp goes on calling this long after the attack's window.
const TAIL: Duration = Duration::from_secs(2);
/// How long SIPp may take, past its last call, to finish the calls still in progress.
const SIPP_GRACE: Duration = Duration::from_secs(20);
/// Extra life `timeout` gives sipua past the planned end of its attack.
const SIPUA_SPARE: Duration = Duration::from_secs(30);
/// How long a stopped process gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The peak RSS an attack must stay under.
const PEAK_RSS_LIMIT: u64 = 300_000_000;
/// How far above RSS before RSS may stay after settling.
const RETAINED_RSS_LIMIT: u64 = 50_000_000;

/// Where the UDP floods come from: another host than SIPp's caller (127.0.0.1), as an
/// attacker is. The per-address shares (calls, stateless answers) are what keep one
/// host's flood from taking everyone's room, so the caller must not share its address.
const FLOOD_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Source ports per kind of UDP message.
const PORTS_PER_KIND: usize = 16;
/// The largest UDP payload, and the receive buffer.
const MAX_DATAGRAM: usize = 65_536;
/// Socket buffers of the flood's UDP ports (the kernel caps them at `rmem_max`/`wmem_max`).
const UDP_BUFFER: usize = 4 * 1024 * 1024;
/// How often the flooder reads its ports while sending (and while waiting, after).
const DRAIN_EVERY: Duration = Duration::from_millis(2);
/// Datagrams read from one port per pass, so a torrent of replies cannot stall the sender.
const DRAIN_BATCH: usize = 1024;

/// Random bytes per `garbage` datagram of that kind.
const RANDOM_DATAGRAM: usize = 512;
/// Via lines in the `garbage` request made of Vias.
const GARBAGE_VIAS: usize = 500;
/// SIPp's SDP offer in its `uac` INVITE, so flood INVITEs look like the valid ones.
const SDP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
                         c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n\
                         a=rtpmap:0 PCMU/8000\r\n";

/// Bytes of the never-ending head sent on a third of the idle TCP connections.
const PARTIAL_HEAD: usize = 60_000;
/// How often a slow TCP connection sends its next byte.
const SLOW_BYTE_EVERY: Duration = Duration::from_secs(60);
/// How often the held connections are serviced (writes continued, closes noticed).
const SERVICE_EVERY: Duration = Duration::from_millis(250);
/// How long an idle connection's connect may take: past one SYN retransmission (1 s),
/// for a SYN dropped while the listen queue was full.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle connections being opened at once.
const MAX_CONNECTING: usize = 64;
/// How long a new TCP client has for connect, OPTIONS and the whole response.
const PROBE_TIMEOUT: Duration = Duration::from_secs(4);
/// The most response bytes a new TCP client reads.
const PROBE_RESPONSE_LIMIT: usize = 16 * 1024;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("flood: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs every attack and prints the table; true when all met the bar.
fn run() -> Result<bool, String> {
    let config = Config::from_env()?;
    let ticks = clock_ticks()?;
    fs::create_dir_all(&config.work).map_err(|e| format!("{}: {e}", config.work.display()))?;
    warn_if_few_descriptors(&config);
    let mut rows = Vec::new();
    for (index, &attack) in config.attacks.iter().enumerate() {
        let port = u16::try_from(index)
            .ok()
            .and_then(|i| config.base_port.checked_add(i))
            .ok_or("BASE_PORT leaves no room for every attack")?;
        rows.push(run_attack(&config, attack, port)?);
    }
    print_table(&rows, ticks);
    Ok(rows.iter().all(|row| row.failures().is_empty()))
}

// --- Settings --------------------------------------------------------------------------

/// What to run, from the environment (see the module documentation).
struct Config {
    sipua: PathBuf,
    attacks: Vec<Attack>,
    call_rate: u64,
    flood: Duration,
    flood_rate: u64,
    flood_max_messages: u64,
    tcp_connections: usize,
    tcp_open: Duration,
    tcp_hold: Duration,
    settle: Duration,
    base_port: u16,
    work: PathBuf,
    pids_file: Option<PathBuf>,
}

impl Config {
    fn from_env() -> Result<Config, String> {
        let mut args = std::env::args_os().skip(1);
        let (Some(sipua), None) = (args.next(), args.next()) else {
            return Err("usage: flood PATH-TO-SIPUA (settings in the environment)".into());
        };
        let attacks = std::env::var("ATTACKS")
            .unwrap_or_else(|_| "baseline invite stray garbage tcp-idle".into())
            .split_whitespace()
            .map(Attack::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        if attacks.is_empty() {
            return Err("ATTACKS names no attack".into());
        }
        let work = match std::env::var_os("FLOOD_WORK_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::temp_dir().join(format!("flood-{}", std::process::id())),
        };
        // Absolute: the programs run in the work directory.
        let sipua = fs::canonicalize(&sipua).map_err(|e| format!("{}: {e}", sipua.to_string_lossy()))?;
        Ok(Config {
            sipua,
            attacks,
            call_rate: setting("CALL_RATE", 200)?,
            flood: Duration::from_secs(setting("FLOOD_SECONDS", 10)?),
            flood_rate: setting("FLOOD_RATE", 0)?,
            flood_max_messages: setting("FLOOD_MAX_MESSAGES", 2_000_000)?,
            tcp_connections: setting("TCP_CONNECTIONS", 10_000)?,
            tcp_open: Duration::from_secs(setting("TCP_OPEN_SECONDS", 10)?),
            tcp_hold: Duration::from_secs(setting("TCP_HOLD_SECONDS", 20)?),
            settle: Duration::from_secs(setting("SETTLE_SECONDS", 60)?),
            base_port: setting("BASE_PORT", 25_060)?,
            work,
            pids_file: std::env::var_os("FLOOD_PIDS_FILE").map(PathBuf::from),
        })
    }
}

/// The environment variable `name` parsed, or `default` when it is unset.
fn setting<T: FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("{name}={value:?} is not a valid value")),
        Err(_) => Ok(default),
    }
}

/// Says so when the descriptor limit (inherited by sipua too) is below what `tcp-idle`
/// needs; the attack then reports how far it got.
fn warn_if_few_descriptors(config: &Config) {
    if !config.attacks.contains(&Attack::TcpIdle) {
        return;
    }
    let limits = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: Option<usize> = limits.lines().find_map(|line| {
        line.strip_prefix("Max open files")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    if let Some(soft) = soft.filter(|&soft| soft < config.tcp_connections + 256) {
        eprintln!(
            "flood: warning: the descriptor limit is {soft}, below TCP_CONNECTIONS ({}) plus \
             room; raise it with `ulimit -n`",
            config.tcp_connections
        );
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Attack {
    Baseline,
    Invite,
    Stray,
    Garbage,
    TcpIdle,
}

impl FromStr for Attack {
    type Err = String;

    fn from_str(name: &str) -> Result<Attack, String> {
        Ok(match name {
            "baseline" => Attack::Baseline,
            "invite" => Attack::Invite,
            "stray" => Attack::Stray,
            "garbage" => Attack::Garbage,
            "tcp-idle" => Attack::TcpIdle,
            _ => {
                return Err(format!(
                    "unknown attack {name:?} (baseline, invite, stray, garbage, tcp-idle)"
                ));
            }
        })
    }
}

impl Attack {
    fn name(self) -> &'static str {
        match self {
            Attack::Baseline => "baseline",
            Attack::Invite => "invite",
            Attack::Stray => "stray",
            Attack::Garbage => "garbage",
            Attack::TcpIdle => "tcp-idle",
        }
    }

    /// The kinds of datagram a UDP attack sends.
    fn udp_kinds(self) -> Option<&'static [UdpKind]> {
        match self {
            Attack::Invite => Some(&[UdpKind::Invite]),
            Attack::Stray => Some(&[UdpKind::Cancel, UdpKind::Bye]),
            Attack::Garbage => Some(&[
                UdpKind::RandomBytes,
                UdpKind::Tiny,
                UdpKind::ManyVias,
                UdpKind::BrokenHeader,
            ]),
            Attack::Baseline | Attack::TcpIdle => None,
        }
    }

    /// How long the attack lasts.
    fn window(self, config: &Config) -> Duration {
        match self {
            Attack::TcpIdle => config.tcp_open + config.tcp_hold,
            _ => config.flood,
        }
    }
}

// --- One attack ------------------------------------------------------------------------

/// What one attack did and what it cost.
struct Row {
    attack: Attack,
    calls: u64,
    sipp: Option<SippStats>,
    flood: Flood,
    /// Datagrams the kernel dropped at sipua's full UDP socket.
    kernel_drops: Option<u64>,
    rss_before: Option<u64>,
    rss_peak: Option<u64>,
    rss_after: Option<u64>,
    /// sipua's CPU ticks over SIPp's run, and over the settle period.
    cpu: Option<u64>,
    cpu_settle: Option<u64>,
    /// Set when sipua exited before it was stopped.
    sipua_exit: Option<ExitStatus>,
}

/// What the flooder did, by attack type.
enum Flood {
    None,
    Udp(Vec<KindReport>),
    Tcp(TcpReport),
    Failed(String),
}

/// Starts sipua, SIPp and the attack; measures; stops them again.
fn run_attack(config: &Config, attack: Attack, port: u16) -> Result<Row, String> {
    let name = attack.name();
    let target = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let window = attack.window(config);
    let sipp_span = LEAD + window + TAIL;
    let sipp_limit = sipp_span + SIPP_GRACE;
    let sipua_life = sipp_limit + config.settle + SIPUA_SPARE;
    let tcp = attack == Attack::TcpIdle;
    let calls = config.call_rate * sipp_span.as_secs();
    eprintln!(
        "{name}: sipua on {target}{}, {calls} SIPp calls at {}/s, a {} s attack, {} s to settle",
        if tcp { " (UDP and TCP)" } else { "" },
        config.call_rate,
        window.as_secs(),
        config.settle.as_secs()
    );

    let bind = target.to_string();
    let duration = (sipua_life - STOP_GRACE).as_secs().to_string();
    let transport = if tcp { "tcp" } else { "udp" };
    let sipua_args = strings(&[
        "listen",
        "--bind",
        &bind,
        "--transport",
        transport,
        "--auto-answer",
        "--quiet",
        "--duration",
        &duration,
        // Stopped once measured: at once, not after draining (the flood's calls never end).
        "--drain-timeout",
        "0",
    ]);
    let mut sipua = Bounded::spawn(
        config,
        sipua_life,
        config.sipua.as_os_str(),
        &sipua_args,
        &config.work.join(format!("sipua-{name}.log")),
    )?;
    wait_listening(port, tcp, &mut sipua)?;
    thread::sleep(Duration::from_millis(500));
    let rss_before = status_bytes(sipua.pid, "VmRSS");

    let stats_file = config.work.join(format!("sipp-{name}.csv"));
    let stats_path = stats_file.to_string_lossy();
    let sipp_args = strings(&[
        "-sn",
        "uac",
        &bind,
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        // SIPp's default UDP buffers drop datagrams long before either side runs out of CPU.
        "-buff_size",
        &UDP_BUFFER.to_string(),
        "-r",
        &config.call_rate.to_string(),
        "-d",
        "0",
        "-m",
        &calls.to_string(),
        // Calls in flight at most: 3 s of them, SIPp's own rule for -l.
        "-l",
        &(config.call_rate * 3).max(1).to_string(),
        "-nostdin",
        "-timeout",
        &format!("{}s", sipp_limit.as_secs()),
        "-trace_stat",
        "-stf",
        &stats_path,
        "-fd",
        "1",
    ]);
    let mut sipp = Bounded::spawn(
        config,
        sipp_limit + STOP_GRACE,
        OsStr::new("sipp"),
        &sipp_args,
        &config.work.join(format!("sipp-{name}.log")),
    )?;
    let sipp_deadline = Instant::now() + sipp_limit + STOP_GRACE;
    let cpu_start = cpu_ticks(sipua.pid);
    thread::sleep(LEAD);

    let flood_start = Instant::now();
    let flood_end = flood_start + window;
    let settled = flood_end + config.settle;
    let stop = AtomicBool::new(false);
    let plan = UdpPlan {
        target,
        until: flood_end,
        rate: config.flood_rate,
        max_messages: config.flood_max_messages,
        // A bound on the reading after the flood, in case `stop` is never set.
        read_until: settled + sipp_limit,
    };
    let measured = thread::scope(|s| {
        let (plan, stop) = (&plan, &stop);
        let udp = attack
            .udp_kinds()
            .map(|kinds| s.spawn(move || udp_flood(kinds, plan, stop)));
        let tcp = tcp.then(|| tcp_idle(config, target, flood_end));
        sleep_until(flood_end);

        if sipp.wait_until(sipp_deadline).is_none() {
            eprintln!("{name}: SIPp did not finish in time; stopped");
        }
        let cpu_end = cpu_ticks(sipua.pid);
        let kernel_drops = udp_drops(port);
        eprintln!(
            "{name}: attack over; RSS after in {} s",
            settled.saturating_duration_since(Instant::now()).as_secs()
        );
        sleep_until(settled);
        let rss_after = status_bytes(sipua.pid, "VmRSS");
        // The most it ever held: during the attack, or while it settled.
        let rss_peak = status_bytes(sipua.pid, "VmHWM");
        let cpu_settle_end = cpu_ticks(sipua.pid);
        stop.store(true, Ordering::Relaxed);

        let flood = match (udp, tcp) {
            (Some(handle), _) => match handle.join() {
                Ok(Ok(kinds)) => Flood::Udp(kinds),
                Ok(Err(e)) => Flood::Failed(e),
                Err(_) => Flood::Failed("the flood thread panicked".into()),
            },
            (None, Some(report)) => Flood::Tcp(report),
            (None, None) => Flood::None,
        };
        Row {
            attack,
            calls,
            sipp: sipp_stats(&stats_file),
            flood,
            kernel_drops,
            rss_before,
            rss_peak,
            rss_after,
            cpu: cpu_start.zip(cpu_end).map(|(a, b)| b.saturating_sub(a)),
            cpu_settle: cpu_end.zip(cpu_settle_end).map(|(a, b)| b.saturating_sub(a)),
            sipua_exit: sipua.exited(),
        }
    });
    sipua.stop();
    if let Some(status) = measured.sipua_exit {
        eprintln!(
            "{name}: sipua exited early ({status}); see its log in {}",
            config.work.display()
        );
    }
    Ok(measured)
}

/// Owned copies of `args`, for [`Bounded::spawn`].
fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|&arg| arg.to_owned()).collect()
}

fn sleep_until(at: Instant) {
    thread::sleep(at.saturating_duration_since(Instant::now()));
}

// --- Processes -------------------------------------------------------------------------

/// A program started under `timeout(1)`, so that it ends on its own however this one
/// ends; stopped by PID when dropped.
struct Bounded {
    /// The `timeout` process.
    child: Child,
    /// The program's own PID (the child of `timeout`), whose `/proc` entries are read.
    pid: u32,
    /// Set once it has been waited for.
    status: Option<ExitStatus>,
}

impl Bounded {
    /// Starts `program` with `args` under `timeout` for at most `limit`, output to `log`,
    /// in the work directory (where SIPp writes whatever it likes).
    fn spawn(
        config: &Config,
        limit: Duration,
        program: &OsStr,
        args: &[String],
        log: &Path,
    ) -> Result<Bounded, String> {
        let output = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let errors = output
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new("timeout")
            .arg(format!("--kill-after={}", STOP_GRACE.as_secs()))
            .arg(limit.as_secs().to_string())
            .arg(program)
            .args(args)
            .current_dir(&config.work)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.to_string_lossy()))?;
        if let Some(file) = &config.pids_file {
            let recorded = OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .and_then(|mut f| writeln!(f, "{}", child.id()));
            if let Err(e) = recorded {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{}: {e}", file.display()));
            }
        }
        // `timeout` forks the program at once; its PID shows in /proc as timeout's child.
        let children = format!("/proc/{0}/task/{0}/children", child.id());
        let deadline = Instant::now() + Duration::from_secs(2);
        let pid = loop {
            let found = fs::read_to_string(&children)
                .ok()
                .and_then(|list| list.split_whitespace().next()?.parse().ok());
            if let Some(pid) = found {
                break pid;
            }
            if Instant::now() >= deadline || matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not start (or {children} is unreadable); see {}",
                    program.to_string_lossy(),
                    log.display()
                ));
            }
            thread::sleep(Duration::from_millis(10));
        };
        Ok(Bounded {
            child,
            pid,
            status: None,
        })
    }

    /// The exit status, once it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits until it exits or `deadline` passes (then stops it); its status if it exited.
    fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(100));
        }
        self.stop();
        None
    }

    /// SIGTERM to `timeout`, which passes it on to the program; SIGKILL to both after
    /// [`STOP_GRACE`].
    fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .status();
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
    }
}

impl Drop for Bounded {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits (up to 5 s) until sipua listens on 127.0.0.1:`port` over UDP, and over TCP too
/// when `tcp`, read from /proc/net so that no particular tool is needed.
fn wait_listening(port: u16, tcp: bool, sipua: &mut Bounded) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let udp_up = proc_net_line("udp", port).is_some();
        // For TCP only the LISTEN state (0A) counts.
        let tcp_up = !tcp
            || proc_net_line("tcp", port).is_some_and(|line| line.split_whitespace().nth(3) == Some("0A"));
        if udp_up && tcp_up {
            return Ok(());
        }
        if sipua.exited().is_some() || Instant::now() >= deadline {
            return Err(format!("sipua did not listen on port {port}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The line of /proc/net/`table` whose local address is 127.0.0.1:`port`.
fn proc_net_line(table: &str, port: u16) -> Option<String> {
    // Addresses there are hex, and 127.0.0.1 reads 0100007F on little-endian hosts.
    let local = format!("0100007F:{port:04X}");
    fs::read_to_string(format!("/proc/net/{table}"))
        .ok()?
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(local.as_str()))
        .map(str::to_owned)
}

/// Datagrams dropped at the UDP socket on 127.0.0.1:`port` (the last column).
fn udp_drops(port: u16) -> Option<u64> {
    proc_net_line("udp", port)?
        .split_whitespace()
        .next_back()?
        .parse()
        .ok()
}

/// A `/proc/PID/status` field given in kB (VmRSS, VmHWM), in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let kb: u64 = line
            .strip_prefix(field)?
            .strip_prefix(':')?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    })
}

/// CPU ticks (utime + stime, all threads) the process has used so far.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields are counted after the ")" ending the command name, which may hold spaces:
    // the first there is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second, the unit of /proc/PID/stat's CPU times.
fn clock_ticks() -> Result<u64, String> {
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .map_err(|e| format!("getconf CLK_TCK: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| "getconf CLK_TCK printed no number".into())
}

// --- SIPp ------------------------------------------------------------------------------

/// SIPp's final cumulative counts.
struct SippStats {
    created: u64,
    successful: u64,
    failed: u64,
    retransmissions: u64,
}

/// The last complete line of a SIPp `-trace_stat` file, with columns found by their
/// header names (positions differ between SIPp versions). None when missing or empty.
fn sipp_stats(path: &Path) -> Option<SippStats> {
    let text = fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines
        .map(|line| line.split(';').collect::<Vec<_>>())
        .rfind(|fields| fields.len() >= header.len())?;
    let column = |name: &str| -> Option<u64> {
        let index = header.iter().position(|h| *h == name)?;
        last.get(index)?.trim().parse().ok()
    };
    Some(SippStats {
        created: column("TotalCallCreated")?,
        successful: column("SuccessfulCall(C)")?,
        failed: column("FailedCall(C)")?,
        retransmissions: column("Retransmissions(C)")?,
    })
}

// --- UDP floods ------------------------------------------------------------------------

/// A kind of flood datagram.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UdpKind {
    Invite,
    Cancel,
    Bye,
    RandomBytes,
    Tiny,
    ManyVias,
    BrokenHeader,
}

impl UdpKind {
    fn name(self) -> &'static str {
        match self {
            UdpKind::Invite => "INVITE",
            UdpKind::Cancel => "CANCEL",
            UdpKind::Bye => "BYE",
            UdpKind::RandomBytes => "random bytes",
            UdpKind::Tiny => "X\\nv:a\\n\\n",
            UdpKind::ManyVias => "500 Vias",
            UdpKind::BrokenHeader => "broken CSeq",
        }
    }

    /// Datagram number `n` of this kind from `from` to `to`. Numbers and the run's `nonce`
    /// are written at a fixed width, so that all of a kind from one port have one size.
    fn datagram(self, n: u64, nonce: u64, from: SocketAddr, to: SocketAddr, rng: &mut Rng) -> Vec<u8> {
        let id = format!("{nonce:016x}{n:010}");
        let text = match self {
            UdpKind::Invite => format!(
                "INVITE sip:service@{to} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {from};branch=z9hG4bK-{id}\r\n\
                 From: sipp <sip:sipp@{from}>;tag={id}\r\n\
                 To: service <sip:service@{to}>\r\n\
                 Call-ID: {id}@127.0.0.1\r\n\
                 CSeq: 1 INVITE\r\n\
                 Contact: sip:sipp@{from}\r\n\
                 Max-Forwards: 70\r\n\
                 Subject: Performance Test\r\n\
                 Content-Type: application/sdp\r\n\
                 Content-Length: {}\r\n\r\n{SDP_OFFER}",
                SDP_OFFER.len()
            ),
            UdpKind::Cancel | UdpKind::Bye => {
                let (method, to_tag) = if self == UdpKind::Cancel {
                    ("CANCEL", String::new())
                } else {
                    ("BYE", format!(";tag=t{id}"))
                };
                format!(
                    "{method} sip:service@{to} SIP/2.0\r\n\
                     Via: SIP/2.0/UDP {from};branch=z9hG4bK-{id}\r\n\
                     From: sipp <sip:sipp@{from}>;tag={id}\r\n\
                     To: service <sip:service@{to}>{to_tag}\r\n\
                     Call-ID: {id}@127.0.0.1\r\n\
                     CSeq: 1 {method}\r\n\
                     Max-Forwards: 70\r\n\
                     Content-Length: 0\r\n\r\n"
                )
            }
            UdpKind::RandomBytes => {
                let mut bytes = vec![0; RANDOM_DATAGRAM];
                rng.fill(&mut bytes);
                return bytes;
            }
            UdpKind::Tiny => "X\nv:a\n\n".to_owned(),
            UdpKind::ManyVias => {
                let mut text = format!(
                    "OPTIONS sip:service@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-{id}\r\n"
                );
                for i in 1..GARBAGE_VIAS {
                    // Writing to a String cannot fail.
                    let _ = write!(text, "Via: SIP/2.0/UDP {from};branch=z9hG4bK{i:03}\r\n");
                }
                text.push_str("\r\n");
                text
            }
            UdpKind::BrokenHeader => format!(
                "OPTIONS sip:service@{to} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {from};branch=z9hG4bK-{id}\r\n\
                 From: sipp <sip:sipp@{from}>;tag={id}\r\n\
                 To: service <sip:service@{to}>\r\n\
                 Call-ID: {id}@127.0.0.1\r\n\
                 CSeq: one OPTIONS\r\n\
                 Max-Forwards: 70\r\n\
                 Content-Length: 0\r\n\r\n"
            ),
        };
        text.into_bytes()
    }
}

/// How a UDP flood runs.
struct UdpPlan {
    target: SocketAddr,
    /// Sending stops here (or after `max_messages`)...
    until: Instant,
    /// ...messages per second, 0 for as fast as possible...
    rate: u64,
    max_messages: u64,
    /// ...and reading, once told to stop or at this instant at the latest.
    read_until: Instant,
}

/// One source port of a UDP flood: the kind it sends and what came back to it.
struct Lane {
    kind: UdpKind,
    socket: UdpSocket,
    local: SocketAddr,
    report: KindReport,
}

/// Requests of one kind sent and the replies that came back to their ports.
struct KindReport {
    kind: UdpKind,
    sent: u64,
    sent_bytes: u64,
    smallest_request: Option<usize>,
    replies: u64,
    reply_bytes: u64,
    largest_reply: usize,
    /// The largest refusal (a final response of 300 or more): what the stack sends on its
    /// own to what it will not serve. Provisional and 2xx responses, and requests (a BYE
    /// after an unacknowledged 2xx), belong to a call it admitted and are the answering
    /// application's.
    largest_refusal: usize,
}

impl KindReport {
    fn new(kind: UdpKind) -> KindReport {
        KindReport {
            kind,
            sent: 0,
            sent_bytes: 0,
            smallest_request: None,
            replies: 0,
            reply_bytes: 0,
            largest_reply: 0,
            largest_refusal: 0,
        }
    }

    fn add(&mut self, other: &KindReport) {
        self.sent += other.sent;
        self.sent_bytes += other.sent_bytes;
        self.smallest_request = match (self.smallest_request, other.smallest_request) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.replies += other.replies;
        self.reply_bytes += other.reply_bytes;
        self.largest_reply = self.largest_reply.max(other.largest_reply);
        self.largest_refusal = self.largest_refusal.max(other.largest_refusal);
    }

    /// True when some refusal was larger than the smallest request of its kind (and so
    /// than the request that drew it, as requests of a kind are all one size).
    fn amplified(&self) -> bool {
        self.replies > 0
            && self
                .smallest_request
                .is_some_and(|request| self.largest_refusal > request)
    }
}

impl Lane {
    fn bind(kind: UdpKind) -> Result<Lane, String> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .and_then(|socket| {
                // Best effort: a kernel that caps the buffers keeps what it allows.
                let _ = socket.set_recv_buffer_size(UDP_BUFFER);
                let _ = socket.set_send_buffer_size(UDP_BUFFER);
                socket.bind(&SocketAddr::new(IpAddr::V4(FLOOD_SOURCE), 0).into())?;
                socket.set_nonblocking(true)?;
                Ok(UdpSocket::from(socket))
            })
            .map_err(|e| format!("cannot open a UDP port: {e}"))?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        Ok(Lane {
            kind,
            socket,
            local,
            report: KindReport::new(kind),
        })
    }

    /// Reads what waits on the port, at most [`DRAIN_BATCH`] datagrams.
    fn drain(&mut self, buf: &mut [u8]) {
        for _ in 0..DRAIN_BATCH {
            match self.socket.recv_from(buf) {
                Ok((len, _)) => {
                    self.report.replies += 1;
                    self.report.reply_bytes += len as u64;
                    self.report.largest_reply = self.report.largest_reply.max(len);
                    if is_refusal(buf.get(..len).unwrap_or_default()) {
                        self.report.largest_refusal = self.report.largest_refusal.max(len);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // An ICMP error from an earlier send (sipua gone): nothing to read here.
                Err(_) => return,
            }
        }
    }
}

/// True for a final response of 300 or more (`SIP/2.0 3xx`…`6xx`).
fn is_refusal(datagram: &[u8]) -> bool {
    datagram
        .strip_prefix(b"SIP/2.0 ")
        .is_some_and(|rest| matches!(rest.first(), Some(b'3'..=b'6')))
}

/// Sends `kinds` in turn, one per port per round, to `plan.target` until `plan.until` or
/// `plan.max_messages`, reading the ports between rounds; then reads them until `stop`.
/// Returns one report per kind.
fn udp_flood(kinds: &[UdpKind], plan: &UdpPlan, stop: &AtomicBool) -> Result<Vec<KindReport>, String> {
    let mut lanes = Vec::with_capacity(kinds.len() * PORTS_PER_KIND);
    for &kind in kinds {
        for _ in 0..PORTS_PER_KIND {
            lanes.push(Lane::bind(kind)?);
        }
    }
    let mut rng = Rng::seeded();
    let nonce = rng.next();
    let mut buf = vec![0; MAX_DATAGRAM];
    let started = Instant::now();
    let mut next_drain = started;
    let mut sent = 0u64;
    let mut number = 0u64;
    'flood: loop {
        let now = Instant::now();
        if now >= plan.until {
            break;
        }
        if plan.rate > 0 {
            // Behind schedule or on it: send a round; ahead: wait a little.
            let due = (now - started).as_secs_f64() * plan.rate as f64;
            if sent as f64 >= due {
                thread::sleep(Duration::from_millis(1));
                continue;
            }
        }
        for lane in &mut lanes {
            if sent >= plan.max_messages {
                break 'flood;
            }
            number += 1;
            let datagram = lane
                .kind
                .datagram(number, nonce, lane.local, plan.target, &mut rng);
            // A full socket buffer (or an ICMP error from an earlier send) loses this one;
            // only what the kernel took counts as sent.
            if let Ok(len) = lane.socket.send_to(&datagram, plan.target) {
                sent += 1;
                let report = &mut lane.report;
                report.sent += 1;
                report.sent_bytes += len as u64;
                report.smallest_request = Some(report.smallest_request.map_or(len, |s| s.min(len)));
            }
        }
        if now >= next_drain {
            for lane in &mut lanes {
                lane.drain(&mut buf);
            }
            next_drain = now + DRAIN_EVERY;
        }
    }
    // Replies go on arriving (retransmitted 200s, BYEs for the unacknowledged calls).
    while !stop.load(Ordering::Relaxed) && Instant::now() < plan.read_until {
        for lane in &mut lanes {
            lane.drain(&mut buf);
        }
        thread::sleep(DRAIN_EVERY);
    }
    for lane in &mut lanes {
        lane.drain(&mut buf);
    }
    Ok(kinds
        .iter()
        .map(|&kind| {
            let mut total = KindReport::new(kind);
            for lane in lanes.iter().filter(|lane| lane.kind == kind) {
                total.add(&lane.report);
            }
            total
        })
        .collect())
}

/// xorshift64*: random bytes for garbage and a nonce for unique ids; not cryptographic.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            for (byte, random) in chunk.iter_mut().zip(self.next().to_le_bytes()) {
                *byte = random;
            }
        }
    }
}

// --- TCP: idle connections -------------------------------------------------------------

/// What an idle connection does.
#[derive(Clone, Copy)]
enum IdleKind {
    /// Sends nothing.
    Silent,
    /// Sends [`PARTIAL_HEAD`] bytes of a head that never ends.
    PartialHead,
    /// Sends a valid head one byte every [`SLOW_BYTE_EVERY`].
    Slow,
}

/// A held connection.
struct Held {
    stream: TcpStream,
    kind: IdleKind,
    /// Bytes of its head written so far.
    written: usize,
    /// When a slow connection writes its next byte.
    next_byte: Instant,
}

/// What the `tcp-idle` attack did.
struct TcpReport {
    attempted: usize,
    connected: usize,
    connect_errors: usize,
    first_connect_error: Option<String>,
    /// Why opening stopped before the count or the time was up.
    stopped_opening: Option<String>,
    most_held: usize,
    held_at_end: usize,
    closed_by_sipua: usize,
    sent_bytes: u64,
    received_bytes: u64,
    probes: usize,
    served: usize,
    first_probe_failure: Option<String>,
}

/// The heads idle connections send.
struct Heads {
    partial: Vec<u8>,
    slow: Vec<u8>,
}

impl Held {
    /// Continues its writes and notices a close; false once the connection is gone.
    fn service(&mut self, now: Instant, heads: &Heads, buf: &mut [u8], report: &mut TcpReport) -> bool {
        let pending = match self.kind {
            IdleKind::Silent => None,
            IdleKind::PartialHead => heads.partial.get(self.written..),
            IdleKind::Slow if now >= self.next_byte => {
                self.next_byte = now + SLOW_BYTE_EVERY;
                heads.slow.get(self.written..=self.written)
            }
            IdleKind::Slow => None,
        };
        if let Some(bytes) = pending.filter(|bytes| !bytes.is_empty()) {
            match self.stream.write(bytes) {
                Ok(len) => {
                    self.written += len;
                    report.sent_bytes += len as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
        }
        // A few reads: whatever sipua sends, then the end of the stream if it closed.
        for _ in 0..4 {
            match self.stream.read(buf) {
                Ok(0) => return false,
                Ok(len) => report.received_bytes += len as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
        true
    }
}

/// Opens idle connections to `target` for up to `TCP_OPEN_SECONDS`, holds them until
/// `until`, and meanwhile has a new client send OPTIONS every second.
fn tcp_idle(config: &Config, target: SocketAddr, until: Instant) -> TcpReport {
    let heads = Heads {
        partial: partial_head(target),
        slow: options_request(target, SocketAddr::from(([127, 0, 0, 2], 5060)), "slow").into_bytes(),
    };
    let mut report = TcpReport {
        attempted: 0,
        connected: 0,
        connect_errors: 0,
        first_connect_error: None,
        stopped_opening: None,
        most_held: 0,
        held_at_end: 0,
        closed_by_sipua: 0,
        sent_bytes: 0,
        received_bytes: 0,
        probes: 0,
        served: 0,
        first_probe_failure: None,
    };
    let started = Instant::now();
    let open_until = (started + config.tcp_open).min(until);
    thread::scope(|s| {
        let prober = s.spawn(move || probe_every_second(target, until));
        let mut held: Vec<Held> = Vec::with_capacity(config.tcp_connections);
        let mut opening: Vec<Opening> = Vec::with_capacity(MAX_CONNECTING);
        let mut buf = vec![0; 4096];
        let mut next_service = started;
        loop {
            let now = Instant::now();
            let more = |report: &TcpReport| {
                report.attempted < config.tcp_connections && report.stopped_opening.is_none()
            };
            if now >= open_until || (!more(&report) && opening.is_empty()) {
                break;
            }
            while more(&report) && opening.len() < MAX_CONNECTING {
                let i = report.attempted;
                report.attempted += 1;
                match start_connect(idle_source(i), target) {
                    Ok(socket) => opening.push(Opening {
                        socket,
                        kind: idle_kind(i),
                        deadline: now + CONNECT_TIMEOUT,
                    }),
                    // Out of descriptors or ports on this side: no use trying on.
                    Err(Connect::Socket(e)) => {
                        report.stopped_opening = Some(format!("after {i} connections: {e}"));
                    }
                    Err(Connect::Failed(e)) => report.connect_failed(e),
                }
            }
            let waiting = opening.len();
            for conn in std::mem::take(&mut opening) {
                match conn.state() {
                    Ok(true) => {
                        report.connected += 1;
                        held.push(Held {
                            stream: TcpStream::from(conn.socket),
                            kind: conn.kind,
                            written: 0,
                            next_byte: now,
                        });
                    }
                    Ok(false) if now < conn.deadline => opening.push(conn),
                    Ok(false) => report.connect_failed(io::ErrorKind::TimedOut.into()),
                    Err(e) => report.connect_failed(e),
                }
            }
            report.most_held = report.most_held.max(held.len());
            if now >= next_service {
                service_all(&mut held, now, &heads, &mut buf, &mut report);
                next_service = now + SERVICE_EVERY;
            }
            if opening.len() == waiting && !opening.is_empty() {
                // Nothing connected this turn: the rest wait on sipua (or SYN retransmission).
                thread::sleep(Duration::from_millis(1));
            }
        }
        // Connects still under way when the opening time ends are given up (closed here).
        for _ in opening.drain(..) {
            report.connect_failed(io::ErrorKind::TimedOut.into());
        }
        while Instant::now() < until {
            service_all(&mut held, Instant::now(), &heads, &mut buf, &mut report);
            report.most_held = report.most_held.max(held.len());
            thread::sleep(SERVICE_EVERY.min(until.saturating_duration_since(Instant::now())));
        }
        report.held_at_end = held.len();
        match prober.join() {
            Ok(results) => {
                report.probes = results.len();
                report.served = results.iter().filter(|r| r.is_ok()).count();
                report.first_probe_failure = results.into_iter().find_map(Result::err);
            }
            Err(_) => report.first_probe_failure = Some("the probe thread panicked".into()),
        }
        // The held connections close here, as `held` is dropped.
    });
    report
}

/// Idle connection `i`'s source address: a quarter from 127.0.0.1, the rest spread over
/// 127.0.0.2 to 127.0.0.200, so that per-address limits do not decide how many get in.
fn idle_source(i: usize) -> Ipv4Addr {
    if i.is_multiple_of(4) {
        Ipv4Addr::LOCALHOST
    } else {
        Ipv4Addr::new(127, 0, 0, 2 + (i % 199) as u8)
    }
}

/// What idle connection `i` does: each kind a third of them, across both source groups.
fn idle_kind(i: usize) -> IdleKind {
    match i % 3 {
        0 => IdleKind::Silent,
        1 => IdleKind::PartialHead,
        _ => IdleKind::Slow,
    }
}

impl TcpReport {
    fn connect_failed(&mut self, e: io::Error) {
        self.connect_errors += 1;
        self.first_connect_error.get_or_insert_with(|| e.to_string());
    }
}

/// Services every held connection, dropping (closing) those that are gone.
fn service_all(held: &mut Vec<Held>, now: Instant, heads: &Heads, buf: &mut [u8], report: &mut TcpReport) {
    let before = held.len();
    held.retain_mut(|conn| conn.service(now, heads, buf, report));
    report.closed_by_sipua += before - held.len();
}

/// Why a connection could not be opened.
enum Connect {
    /// No socket on this side (descriptors, ports).
    Socket(io::Error),
    /// The connect itself failed or timed out.
    Failed(io::Error),
}

/// Linux's "operation now in progress", from a non-blocking connect (the harness reads
/// /proc, so Linux it is; `io::ErrorKind::InProgress` is not stable yet).
const EINPROGRESS: i32 = 115;

/// A non-blocking connect from `source` (any port) to `target`, under way.
fn start_connect(source: Ipv4Addr, target: SocketAddr) -> Result<Socket, Connect> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .and_then(|socket| {
            socket.set_nonblocking(true)?;
            socket.bind(&SocketAddr::new(IpAddr::V4(source), 0).into())?;
            Ok(socket)
        })
        .map_err(Connect::Socket)?;
    match socket.connect(&target.into()) {
        Ok(()) => Ok(socket),
        Err(e) if e.raw_os_error() == Some(EINPROGRESS) => Ok(socket),
        Err(e) => Err(Connect::Failed(e)),
    }
}

/// A connection being opened: sipua's listen queue may be full, and then the connect waits
/// for a SYN retransmission, so several are opened at once.
struct Opening {
    socket: Socket,
    kind: IdleKind,
    deadline: Instant,
}

impl Opening {
    /// True once connected, false while still connecting.
    fn state(&self) -> io::Result<bool> {
        if let Some(e) = self.socket.take_error()? {
            return Err(e);
        }
        match self.socket.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A blocking TCP connection from `source` (any port) to `target`, for a new client.
fn connect_from(source: Ipv4Addr, target: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SocketAddr::new(IpAddr::V4(source), 0).into())?;
    socket.connect_timeout(&target.into(), timeout)?;
    Ok(TcpStream::from(socket))
}

/// A head of [`PARTIAL_HEAD`] bytes with no end: a request line, a Via, and one long header.
fn partial_head(target: SocketAddr) -> Vec<u8> {
    let mut head = format!(
        "OPTIONS sip:service@{target} SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.2:5060;branch=z9hG4bK-partial\r\nX: "
    )
    .into_bytes();
    head.resize(PARTIAL_HEAD, b'a');
    head
}

/// A valid OPTIONS over TCP from `from` (the Via's sent-by).
fn options_request(target: SocketAddr, from: SocketAddr, id: &str) -> String {
    format!(
        "OPTIONS sip:service@{target};transport=tcp SIP/2.0\r\n\
         Via: SIP/2.0/TCP {from};branch=z9hG4bK-{id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{from}>;tag={id}\r\n\
         To: <sip:service@{target}>\r\n\
         Call-ID: {id}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Starts a new client each second (while it can finish before `until`); their results.
fn probe_every_second(target: SocketAddr, until: Instant) -> Vec<Result<(), String>> {
    let nonce = Rng::seeded().next();
    thread::scope(|s| {
        let started = Instant::now();
        let mut probes = Vec::new();
        for n in 1u32.. {
            let at = started + Duration::from_secs(u64::from(n));
            if at + PROBE_TIMEOUT > until {
                break;
            }
            sleep_until(at);
            probes.push(s.spawn(move || probe(n, nonce, target)));
        }
        probes
            .into_iter()
            .map(|probe| probe.join().unwrap_or_else(|_| Err("probe panicked".into())))
            .collect()
    })
}

/// New client `n`: from an address of its own (127.0.1.x), a new connection, one OPTIONS,
/// which must be answered 200 within [`PROBE_TIMEOUT`].
fn probe(n: u32, nonce: u64, target: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let source = Ipv4Addr::new(127, 0, 1, 1 + (n % 250) as u8);
    let mut stream = connect_from(source, target, PROBE_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    let local = stream.local_addr().map_err(|e| e.to_string())?;
    let request = options_request(target, local, &format!("probe{nonce:016x}{n:06}"));
    stream
        .set_write_timeout(Some(PROBE_TIMEOUT))
        .and_then(|()| stream.write_all(request.as_bytes()))
        .map_err(|e| format!("send: {e}"))?;
    let mut response = Vec::new();
    let mut buf = [0; 4096];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || response.len() >= PROBE_RESPONSE_LIMIT {
            return Err("no complete response".into());
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| format!("receive: {e}"))?;
        match stream.read(&mut buf) {
            Ok(0) => return Err("closed without a response".into()),
            Ok(len) => response.extend_from_slice(buf.get(..len).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
    let status_line = String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    if status_line.starts_with("SIP/2.0 200 ") {
        Ok(())
    } else {
        Err(format!("answered {status_line:?}"))
    }
}

// --- The table -------------------------------------------------------------------------

impl Row {
    /// The ways this attack missed the bar.
    fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        match &self.sipp {
            Some(sipp) if sipp.successful < self.calls => {
                failures.push(format!("{} calls failed", self.calls - sipp.successful));
            }
            Some(_) => {}
            None => failures.push("no SIPp statistics".into()),
        }
        match self.rss_peak {
            Some(peak) if peak >= PEAK_RSS_LIMIT => failures.push(format!("peak RSS {}", mb(peak))),
            Some(_) => {}
            None => failures.push("no peak RSS".into()),
        }
        match self.rss_before.zip(self.rss_after) {
            Some((before, after)) if after > before + RETAINED_RSS_LIMIT => {
                failures.push(format!("RSS after {}", mb(after)));
            }
            Some(_) => {}
            None => failures.push("no RSS".into()),
        }
        match &self.flood {
            Flood::Udp(kinds) => {
                for kind in kinds.iter().filter(|kind| kind.amplified()) {
                    failures.push(format!("{} drew a larger reply", kind.kind.name()));
                }
            }
            Flood::Tcp(tcp) if tcp.served < tcp.probes => {
                failures.push(format!("{} new TCP clients unserved", tcp.probes - tcp.served));
            }
            Flood::Failed(e) => failures.push(format!("flooder: {e}")),
            Flood::Tcp(_) | Flood::None => {}
        }
        if let Some(status) = self.sipua_exit {
            failures.push(format!("sipua exited ({status})"));
        }
        failures
    }

    /// What the flood's cost is divided by: the messages that reached sipua (sent, less
    /// what the kernel dropped at its socket), or the connections opened.
    fn flood_units(&self) -> Option<u64> {
        match &self.flood {
            Flood::Udp(kinds) => {
                let sent: u64 = kinds.iter().map(|k| k.sent).sum();
                Some(sent.saturating_sub(self.kernel_drops.unwrap_or(0)))
            }
            Flood::Tcp(tcp) => Some(tcp.connected as u64),
            Flood::None | Flood::Failed(_) => None,
        }
    }

    /// Successful calls, when the CPU per call means something: with no flood to share it.
    fn calls_alone(&self) -> Option<u64> {
        match self.flood {
            Flood::None => self.sipp.as_ref().map(|s| s.successful),
            _ => None,
        }
    }

    /// The table's cells, in [`HEADER`]'s order.
    fn cells(&self, ticks: u64) -> Vec<String> {
        let dash = || "-".to_owned();
        let cpu_s = |t: Option<u64>| t.map_or_else(dash, |t| format!("{:.2}", t as f64 / ticks as f64));
        let micros_per = |n: Option<u64>| match (self.cpu, n) {
            (Some(t), Some(n)) if n > 0 => format!("{:.1}", t as f64 * 1e6 / ticks as f64 / n as f64),
            _ => dash(),
        };
        let ok = self.sipp.as_ref().map(|s| s.successful);
        let (sent, replies, largest, clients) = match &self.flood {
            Flood::Udp(kinds) => {
                let sent: u64 = kinds.iter().map(|k| k.sent).sum();
                let sent_bytes: u64 = kinds.iter().map(|k| k.sent_bytes).sum();
                let replies: u64 = kinds.iter().map(|k| k.replies).sum();
                let reply_bytes: u64 = kinds.iter().map(|k| k.reply_bytes).sum();
                // The kind whose largest refusal is largest against its request.
                let worst = kinds
                    .iter()
                    .filter(|k| k.replies > 0)
                    .filter_map(|k| Some((k, k.smallest_request?)))
                    .max_by(|(a, ra), (b, rb)| {
                        (a.largest_refusal as f64 / *ra as f64)
                            .total_cmp(&(b.largest_refusal as f64 / *rb as f64))
                    });
                let largest = worst.map_or_else(
                    || "no reply".to_owned(),
                    |(k, request)| format!("{} / {request} ({})", k.largest_refusal, k.kind.name()),
                );
                (
                    format!("{}, {}", count(sent), mb(sent_bytes)),
                    format!("{}, {}", count(replies), mb(reply_bytes)),
                    largest,
                    dash(),
                )
            }
            Flood::Tcp(tcp) => (
                format!("{} conns, {}", count(tcp.connected as u64), mb(tcp.sent_bytes)),
                format!("{} B", count(tcp.received_bytes)),
                dash(),
                format!("{} of {}", tcp.served, tcp.probes),
            ),
            Flood::None | Flood::Failed(_) => (dash(), dash(), dash(), dash()),
        };
        let rss = |v: Option<u64>| v.map_or_else(dash, |v| format!("{:.0}", v as f64 / 1e6));
        let failures = self.failures();
        vec![
            self.attack.name().to_owned(),
            ok.map_or_else(dash, count),
            ok.map_or_else(dash, |ok| count(self.calls.saturating_sub(ok))),
            sent,
            match self.flood {
                Flood::Udp(_) => self.kernel_drops.map_or_else(dash, count),
                _ => dash(),
            },
            replies,
            largest,
            format!(
                "{} / {} / {}",
                rss(self.rss_before),
                rss(self.rss_peak),
                rss(self.rss_after)
            ),
            cpu_s(self.cpu),
            micros_per(self.flood_units()),
            micros_per(self.calls_alone()),
            cpu_s(self.cpu_settle),
            clients,
            if failures.is_empty() {
                "ok".to_owned()
            } else {
                format!("FAIL: {}", failures.join("; "))
            },
        ]
    }

    /// Lines under the table with what the row leaves out.
    fn notes(&self) -> Vec<String> {
        let name = self.attack.name();
        let mut notes = Vec::new();
        if let Some(s) = &self.sipp {
            notes.push(format!(
                "{name}: SIPp asked for {} calls, created {}, successful {}, failed {}, \
                 retransmissions {}",
                count(self.calls),
                count(s.created),
                count(s.successful),
                count(s.failed),
                count(s.retransmissions)
            ));
        }
        match &self.flood {
            Flood::Udp(kinds) => {
                for k in kinds {
                    notes.push(format!(
                        "{name}: {}: sent {} ({} B each at least, {}), replies {} ({}), \
                         largest reply {} B, largest refusal {} B",
                        k.kind.name(),
                        count(k.sent),
                        k.smallest_request.map_or_else(|| "-".into(), |r| count(r as u64)),
                        mb(k.sent_bytes),
                        count(k.replies),
                        mb(k.reply_bytes),
                        count(k.largest_reply as u64),
                        count(k.largest_refusal as u64)
                    ));
                }
            }
            Flood::Tcp(t) => {
                notes.push(format!(
                    "{name}: connections attempted {}, connected {}, connect errors {}{}, held \
                     at most {}, at the end {}, closed by sipua {}{}",
                    count(t.attempted as u64),
                    count(t.connected as u64),
                    count(t.connect_errors as u64),
                    t.first_connect_error
                        .as_ref()
                        .map_or_else(String::new, |e| format!(" (first: {e})")),
                    count(t.most_held as u64),
                    count(t.held_at_end as u64),
                    count(t.closed_by_sipua as u64),
                    t.stopped_opening
                        .as_ref()
                        .map_or_else(String::new, |e| format!("; opening stopped {e}")),
                ));
                if let Some(failure) = &t.first_probe_failure {
                    notes.push(format!("{name}: first unserved new client: {failure}"));
                }
            }
            Flood::None | Flood::Failed(_) => {}
        }
        notes
    }
}

const HEADER: [&str; 14] = [
    "attack",
    "calls ok",
    "calls failed",
    "flood sent",
    "kernel drops",
    "replies to flooder",
    "largest refusal / request B",
    "RSS MB before / peak / after",
    "CPU s",
    "CPU µs/flood msg or conn",
    "CPU µs/call (no flood)",
    "CPU s settling",
    "new TCP clients served",
    "result",
];

fn print_table(rows: &[Row], ticks: u64) {
    println!();
    println!("| {} |", HEADER.join(" | "));
    println!("|{}", "---|".repeat(HEADER.len()));
    for row in rows {
        println!("| {} |", row.cells(ticks).join(" | "));
    }
    println!();
    println!(
        "calls failed: asked for, less successful (failed, unfinished, never made). kernel drops: \
         datagrams dropped at sipua's full UDP socket. RSS: VmRSS before SIPp starts, VmHWM (the \
         most ever held, flood and settling), VmRSS the settle time after the flood. CPU s: sipua's over SIPp's run (calls \
         and flood); per flood message that reached sipua (sent less kernel drops) or \
         connection opened, and per successful call when there is no flood. CPU s settling: from SIPp's end to the RSS-after reading."
    );
    for row in rows {
        for note in row.notes() {
            println!("- {note}");
        }
    }
}

/// `n` with thousands separators.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Bytes in megabytes (10^6), one decimal.
fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
