//! What the interop tests share: free ports, scratch directories, peers run under
//! `timeout` in a process group of their own and stopped by PID, baresip, Kamailio and
//! `sipua` launchers, SIPp runs and their totals, and a trace of our agents' messages.
//!
//! Included by each interop test file with `#[path = "interop/common.rs"] mod common;`.
//! Cargo builds every test file as its own crate, and no one of them uses all of this:
//! hence the `dead_code` allowance, for this module only.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::sdp::SessionDescription;
use sip_tokio::{Call, CallEvent, Direction, MessageTrace, Transport};
use tokio::time::timeout;

/// How long any one step may take.
pub const STEP: Duration = Duration::from_secs(15);

/// The password of every user (at Kamailio, at our registrar).
pub const PASSWORD: &str = "secret";

/// A port free for both UDP and TCP on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A fresh directory for one test's or peer's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sip-rs-interop-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `timeout SECONDS program`, in a process group of its own so that stopping it stops
/// the program too.
pub fn under_timeout(program: impl AsRef<std::ffi::OsStr>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new("timeout");
    command.args(["--kill-after=5", "120"]).arg(program);
    command.process_group(0);
    command
}

/// Sends `signal` to the process group led by `child` (`timeout` passes it on to the
/// program too).
pub fn signal_group(child: &Child, signal: &str) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args([signal, "--", &group])
        .stderr(Stdio::null())
        .status();
}

/// Sends `signal` to the program `timeout` runs for `child`, not to `timeout`: signalled
/// itself, `timeout` passes the signal on (a second one, for a program counting them) and,
/// with `--kill-after`, follows it with SIGKILL a few seconds later — no good for a program
/// that is to stop in its own time.
pub fn signal_program(child: &Child, signal: &str) {
    let pid = child.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let program = children
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("timeout (PID {pid}) runs no program"));
    let sent = Command::new("kill").args([signal, program]).status().unwrap();
    assert!(sent.success(), "kill {signal} {program} failed");
}

/// Waits up to `within` for `child` to exit; whether it exited successfully.
fn wait_exit(child: &mut Child, within: Duration) -> Option<bool> {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status.success());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Stops `child`'s whole process group (`timeout` and the program it runs): SIGTERM, and
/// SIGKILL for whatever is left a few seconds later.
fn stop_group(child: &mut Child) {
    signal_group(child, "-TERM");
    let _ = wait_exit(child, Duration::from_secs(5));
    // Usually gone by now: the group no longer exists, which is what we want.
    signal_group(child, "-KILL");
    let _ = child.wait();
}

/// A peer process (`timeout` around it), stopped by its PID.
pub struct Peer {
    pub child: Child,
    /// Its standard input, for peers that read commands there (linphonec, which quits at
    /// its end: it is kept open).
    pub stdin: Option<ChildStdin>,
    /// Where its output goes, in a scratch directory of its own.
    pub log: PathBuf,
}

impl Peer {
    pub fn new(child: Child, log: PathBuf) -> Peer {
        Peer {
            child,
            stdin: None,
            log,
        }
    }

    /// Writes `line` to its standard input, when it has one.
    pub fn command(&mut self, line: &str) {
        use std::io::Write;
        if let Some(stdin) = self.stdin.as_mut() {
            writeln!(stdin, "{line}").unwrap();
            stdin.flush().unwrap();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until its output contains `text`; false when it did not within `within`.
    pub fn wait_output(&self, text: &str, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if self.log().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Waits up to `within` for it to exit on its own; whether it exited successfully.
    pub fn wait_exit(&mut self, within: Duration) -> Option<bool> {
        wait_exit(&mut self.child, within)
    }

    /// SIGINT (Ctrl-C) to its process group, and waits for it to finish: whether it
    /// exited successfully in time, and its output.
    pub fn interrupt(mut self) -> (Option<bool>, String) {
        signal_group(&self.child, "-INT");
        let exited = self.wait_exit(Duration::from_secs(10));
        let log = self.log();
        self.stop();
        (exited, log)
    }

    /// Asks it to quit (`quit` on its standard input, when it has one), then stops its
    /// process group by PID. Its files go too (a failed test keeps them, for a look at the
    /// log).
    pub fn stop(mut self) {
        if self.stdin.is_some() {
            self.command("quit");
        }
        stop_group(&mut self.child);
        if let Some(dir) = self.log.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Peer {
    /// A test that fails midway still leaves no peer behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal_group(&self.child, "-KILL");
            let _ = self.child.wait();
        }
    }
}

// ---- the sipua binary ----

/// The `sipua` example binary of this build, built first (`cargo test --test ...` builds
/// no examples): `target/<profile>/examples/sipua`, found from this test's own path
/// (`target/<profile>/deps/<test>-<hash>`).
pub fn sipua() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev".to_owned(),
        other => other.to_owned(),
    };
    let built = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "sip-tokio",
            "--example",
            "sipua",
            "--profile",
        ])
        .arg(&profile)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    assert!(built.success(), "cargo build --example sipua failed");
    let binary = profile_dir.join("examples").join("sipua");
    assert!(binary.exists(), "no {}", binary.display());
    binary
}

/// Runs `sipua ARGS` under `timeout`, its output in `scratch(name)/out`.
pub fn run_sipua(binary: &Path, name: &str, args: &[&str]) -> Peer {
    run(name, binary, args, None)
}

/// Runs `program ARGS` under `timeout` (in `cwd` when given), its output in
/// `scratch(name)/out`.
pub fn run(name: &str, program: impl AsRef<std::ffi::OsStr>, args: &[&str], cwd: Option<&Path>) -> Peer {
    let log = scratch(name).join("out");
    let out = std::fs::File::create(&log).unwrap();
    let mut command = under_timeout(program);
    command.args(args);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("run under timeout");
    Peer::new(child, log)
}

/// baresip, headless (no audio device: `aubridge`), on `port`, with one account line and,
/// when `ctrl` is given, its `ctrl_tcp` control socket on that port (its commands are the
/// `menu` module's).
pub fn baresip(name: &str, port: u16, account: &str, ctrl: Option<u16>) -> Peer {
    let dir = scratch(name);
    let rtp = free_port();
    let mut config = format!(
        "poll_method epoll\n\
         sip_listen 127.0.0.1:{port}\n\
         audio_player aubridge,nowhere\n\
         audio_source aubridge,nowhere\n\
         audio_alert aubridge,nowhere\n\
         rtp_ports {rtp}-{}\n\
         net_interface 127.0.0.1\n\
         module_path /usr/lib/baresip/modules\n\
         module g711.so\n\
         module aubridge.so\n\
         module_tmp account.so\n\
         module_app menu.so\n",
        rtp + 20
    );
    if let Some(ctrl) = ctrl {
        config.push_str(&format!(
            "module_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\n"
        ));
    }
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(dir.join("accounts"), format!("{account}\n")).unwrap();
    let log = dir.join("baresip.log");
    let child = under_timeout("baresip")
        .arg("-f")
        .arg(&dir)
        .arg("-s")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("run baresip");
    Peer::new(child, log)
}

/// Runs `sipp ARGS` under `timeout 60` (a bound on top of the `-timeout` the caller
/// gives SIPp); whether it exited 0 (every call succeeded), and its output.
pub async fn sipp(args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let output = Command::new("timeout")
            .arg("60")
            .arg("sipp")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run sipp");
        let text =
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    })
    .await
    .unwrap()
}

/// What SIPp's final statistics screen says of its calls (the cumulative column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SippTotals {
    pub created: u64,
    pub successful: u64,
    pub failed: u64,
}

/// The totals on the last statistics screen in SIPp's `output`; `None` without one.
pub fn sipp_totals(output: &str) -> Option<SippTotals> {
    // Lines such as `  Successful call        |        0                  |      100  `:
    // the cumulative value is the line's last number.
    let last = |name: &str| -> Option<u64> {
        output
            .lines()
            .rfind(|line| line.trim_start().starts_with(name))?
            .split(|c: char| c == '|' || c.is_whitespace())
            .rfind(|word| !word.is_empty())?
            .parse()
            .ok()
    };
    Some(SippTotals {
        created: last("Total Calls created")?,
        successful: last("Successful call")?,
        failed: last("Failed call")?,
    })
}

/// Waits until something is bound to UDP `port` on 127.0.0.1 or every address (a peer
/// started in the background: SIPp as a server), looking in `/proc/net/udp` rather than
/// binding the port ourselves, which could take it from under the peer.
pub async fn wait_udp_bound(port: u16) {
    // Its local addresses, as /proc/net/udp writes them: the IPv4 address in hex, in
    // host (little-endian) byte order, and the port in hex.
    let local = [format!("0100007F:{port:04X}"), format!("00000000:{port:04X}")];
    let bound = || {
        std::fs::read_to_string("/proc/net/udp")
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_whitespace().nth(1))
            .any(|address| local.iter().any(|l| l == address))
    };
    let until = Instant::now() + STEP;
    while !bound() {
        assert!(Instant::now() < until, "nothing bound UDP port {port} in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An audio offer or answer (PCMU, PCMA) from `user` on 127.0.0.1.
pub fn sdp(user: &str) -> Bytes {
    SessionDescription::simple_audio(user, 1, "127.0.0.1".parse().unwrap(), 40_000, &[0, 8]).to_bytes()
}

/// The events of `call` until `want` says one is it; panics when it ends first.
pub async fn wait_for(call: &mut Call, what: &str, want: impl Fn(&CallEvent) -> bool) -> CallEvent {
    timeout(STEP, async {
        loop {
            match call.next_event().await {
                Some(event) if want(&event) => return event,
                Some(CallEvent::Terminated { reason, .. }) => panic!("the call ended: {reason}"),
                Some(_) => {}
                None => panic!("the agent stopped"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} in time"))
}

/// Every message one agent sent or received, for checks and failure messages.
#[derive(Clone, Default)]
pub struct Trace(Arc<Mutex<Vec<(Direction, Transport, String)>>>);

impl Trace {
    pub fn observer(&self) -> impl Fn(&MessageTrace<'_>) + Send + Sync + 'static {
        let seen = Arc::clone(&self.0);
        move |m| {
            let (arrow, way) = if m.direction == Direction::Sent {
                (">>", "to")
            } else {
                ("<<", "from")
            };
            let text = format!(
                "{arrow} {:?} {way} {}\n{}",
                m.transport,
                m.remote,
                String::from_utf8_lossy(m.payload)
            );
            seen.lock().unwrap().push((m.direction, m.transport, text));
        }
    }

    /// The start lines of the messages that went `direction` (over TCP, of each read).
    pub fn start_lines(&self, direction: Direction) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(d, _, _)| *d == direction)
            .filter_map(|(_, _, text)| text.lines().nth(1).map(str::to_owned))
            .collect()
    }

    /// The messages that went `direction` whose start line begins with `start`, whole.
    pub fn messages(&self, direction: Direction, start: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(d, _, text)| {
                *d == direction && text.lines().nth(1).is_some_and(|l| l.starts_with(start))
            })
            .map(|(_, _, text)| text.clone())
            .collect()
    }

    /// The transports every message went over, each once.
    pub fn transports(&self) -> Vec<Transport> {
        let mut transports: Vec<Transport> = self.0.lock().unwrap().iter().map(|(_, t, _)| *t).collect();
        transports.sort();
        transports.dedup();
        transports
    }

    pub fn dump(&self) -> String {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, text)| text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Whether `lines` has one starting with `prefix`.
pub fn has(lines: &[String], prefix: &str) -> bool {
    lines.iter().any(|line| line.starts_with(prefix))
}

// ---- Kamailio ----

/// Kamailio's configuration; `@PORT@` and `@PASSWORD@` are replaced by its port and the
/// password, `@TLS_LISTEN@` and `@TLS_MODULE@` by its TLS listener and module (or
/// nothing), `@WS_PORT@` and `@WSS_PORT@` by its WebSocket ports. Realm `127.0.0.1` for
/// every challenge; REGISTER is challenged with 401, an INVITE or MESSAGE from a local
/// user (From domain 127.0.0.1) with 407, and the authentication user must be the To
/// (REGISTER) or From user. Calls are record-routed; requests inside a dialog follow the
/// Route set.
///
/// WebSocket (RFC 7118) is in `#!ifdef WITH_WS` blocks, defined (`-A WITH_WS`, and
/// `-A WITH_WSS` for `wss` too) by [`Kamailio::start_ws`] and [`Kamailio::start_wss`]: the
/// `websocket` module over `xhttp`, its handshake taken on the WebSocket ports only, and
/// `nathelper` as the module's documentation has it for clients whose Contact cannot be
/// reached (no RFC 5626 outbound): a REGISTER over WS is saved with the address and port
/// it came from (`fix_nated_register`, the `received` of the binding), which `lookup`
/// makes the destination, so that a request to the user goes back on the connection the
/// registration came on (Kamailio cannot open a WebSocket connection: it only accepts
/// them); any other request or response from a WebSocket connection gets that connection
/// in an `;alias=` of its Contact (`add_contact_alias`), and a request inside a dialog
/// whose Request-URI has one is sent there (`handle_ruri_alias`).
const KAMAILIO_CONFIG: &str = r#"#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=2
tcp_children=2
listen=udp:127.0.0.1:@PORT@
listen=tcp:127.0.0.1:@PORT@
@TLS_LISTEN@
#!ifdef WITH_WS
listen=tcp:127.0.0.1:@WS_PORT@
#!ifdef WITH_WSS
listen=tls:127.0.0.1:@WSS_PORT@
#!endif
# An HTTP request (the WebSocket handshake) has no Content-Length.
tcp_accept_no_cl=yes
#!endif
auto_aliases=no
alias="127.0.0.1:@PORT@"
dns=no
rev_dns=no
use_dns_cache=off

loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
@TLS_MODULE@
#!ifdef WITH_WS
loadmodule "kex.so"
loadmodule "xhttp.so"
loadmodule "websocket.so"
loadmodule "nathelper.so"
#!endif

modparam("usrloc", "db_mode", 0)
modparam("rr", "enable_full_lr", 1)
modparam("rr", "append_fromtag", 1)
modparam("registrar", "max_expires", 3600)
# Short registrations are granted as asked (the refresh test asks for 2 s).
modparam("registrar", "min_expires", 1)
# Check the nonce count too: a pre-authorized request must count up.
modparam("auth", "nonce_count", 1)
#!ifdef WITH_WS
# Where a REGISTER over WebSocket came from, saved as its binding's `received`.
modparam("nathelper", "received_avp", "$avp(RECEIVED)")
modparam("registrar", "received_avp", "$avp(RECEIVED)")
#!endif

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (!sanity_check()) {
		xlog("L_WARN", "malformed $rm from $si:$sp\n");
		exit;
	}
	xlog("L_INFO", "request $rm $ru from $si:$sp ($pr) call-id $ci cseq $cs\n");
#!ifdef WITH_WS
	# From a WebSocket connection (nathelper's test 64): its Contact cannot be reached.
	if (nat_uac_test("64")) {
		force_rport();
		if (is_method("REGISTER")) {
			fix_nated_register();
		} else if (!add_contact_alias()) {
			xlog("L_WARN", "cannot alias the Contact <$ct> of $rm\n");
			sl_send_reply("400", "Bad Request");
			exit;
		}
	}
	if (!is_method("REGISTER")) {
		t_on_reply("WS_REPLY");
	}
#!endif

	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}
	# Retransmissions.
	if (!is_method("ACK")) {
		if (t_precheck_trans()) {
			t_check_trans();
			exit;
		}
		t_check_trans();
	}

	route(WITHINDLG);

	if (is_method("REGISTER")) {
		route(PASSWORD);
		if (!pv_www_authenticate("127.0.0.1", "$var(password)", "0")) {
			xlog("L_INFO", "REGISTER of $tu: credentials refused ($rc), challenging\n");
			www_challenge("127.0.0.1", "1");
			exit;
		}
		if ($au != $tU) {
			sl_send_reply("403", "Forbidden auth ID");
			exit;
		}
		if (!save("location")) {
			sl_reply_error();
		}
		exit;
	}

	if (is_method("INVITE|MESSAGE") && $fd == "127.0.0.1") {
		route(PASSWORD);
		if (!pv_proxy_authenticate("127.0.0.1", "$var(password)", "0")) {
			xlog("L_INFO", "$rm from $fu: credentials refused ($rc), challenging\n");
			proxy_challenge("127.0.0.1", "1");
			exit;
		}
		if ($au != $fU) {
			sl_send_reply("403", "Forbidden auth ID");
			exit;
		}
		consume_credentials();
	}

	remove_hf("Route");
	if (is_method("INVITE|SUBSCRIBE")) {
		record_route();
	}
	if ($rU == $null) {
		sl_send_reply("484", "Address Incomplete");
		exit;
	}
	if (!lookup("location")) {
		sl_send_reply("404", "Not Found");
		exit;
	}
	route(RELAY);
}

route[RELAY] {
	xlog("L_INFO", "relaying $rm to $ru via $du\n");
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}

# The plain-text password of the user in the credentials; none matches for unknown users.
route[PASSWORD] {
	if ($au == "alice" || $au == "bob") {
		$var(password) = "@PASSWORD@";
	} else {
		$var(password) = "-unknown-user-";
	}
}

route[WITHINDLG] {
	if (!has_totag()) return;
	if (loose_route()) {
#!ifdef WITH_WS
		# To a WebSocket client's Contact: the connection in its alias.
		if ($du == "" && !handle_ruri_alias()) {
			sl_send_reply("400", "Bad Request");
			exit;
		}
#!endif
		route(RELAY);
	}
	if (is_method("ACK")) {
		# An ACK to a relayed non-2xx final response; any other is absorbed.
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}
	sl_send_reply("404", "Not here");
	exit;
}

onreply_route {
	xlog("L_INFO", "reply $rs $rr to $rm from $si:$sp ($pr)\n");
}
#!ifdef WITH_WS

onreply_route[WS_REPLY] {
	# A response from a WebSocket connection: that connection in its Contact's alias.
	if (nat_uac_test("64")) {
		add_contact_alias();
	}
}

# The WebSocket handshake (an HTTP GET with Upgrade), on the WebSocket ports only.
event_route[xhttp:request] {
	set_reply_close();
	set_reply_no_connect();
	if ($Rp != @WS_PORT@
#!ifdef WITH_WSS
			&& $Rp != @WSS_PORT@
#!endif
	) {
		xlog("L_WARN", "HTTP request on port $Rp\n");
		xhttp_reply("403", "Forbidden", "", "");
		exit;
	}
	if ($hdr(Upgrade) =~ "websocket" && $hdr(Connection) =~ "Upgrade" && $rm =~ "GET") {
		if ($hdr(Host) == $null || !is_myself("sip:" + $hdr(Host))) {
			xlog("L_WARN", "WebSocket handshake for host $hdr(Host)\n");
			xhttp_reply("403", "Forbidden", "", "");
			exit;
		}
		xlog("L_INFO", "WebSocket handshake from $si:$sp on port $Rp ($pr)\n");
		if (ws_handle_handshake()) {
			exit;
		}
	}
	xhttp_reply("404", "Not Found", "", "");
}
#!endif
"#;

/// The configuration of Kamailio's `tls` module (its `tls.cfg`); `@DIR@` is replaced by
/// the scratch directory holding the files it names. As a server it presents
/// `kamailio.pem` (made by the test) and asks no client certificate.
const KAMAILIO_TLS_CONFIG: &str = "[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = @DIR@/kamailio.pem
private_key = @DIR@/kamailio.key
";

/// Added to [`KAMAILIO_TLS_CONFIG`] when Kamailio is to trust some agents: as a client
/// (relaying to an agent's `sips:` Contact) it verifies the agent's certificate against
/// `trusted.pem`, the certificates of the agents the test made. (An empty CA list stops
/// Kamailio from starting: without one, the module's default client domain stays.)
const KAMAILIO_TLS_CLIENT_CONFIG: &str = "
[client:default]
method = TLSv1.2+
verify_certificate = yes
require_certificate = yes
ca_list = @DIR@/trusted.pem
";

/// A self-signed certificate for 127.0.0.1 (an IP SAN: we reach every peer by its IP)
/// and its key, both PEM.
pub fn certificate() -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// Kamailio in the foreground (`-DD`), logging to a file, stopped by its PID: SIGTERM to
/// its process group (`timeout` passes it on; Kamailio's main process stops its
/// children), SIGKILL for whatever is left.
pub struct Kamailio {
    /// Its UDP and TCP port.
    pub port: u16,
    /// Its TLS port and the certificate it presents there (PEM), when it listens on TLS.
    tls: Option<(u16, String)>,
    /// Its WebSocket port (`ws`), when it listens on WebSocket.
    ws_port: Option<u16>,
    /// Its secure WebSocket port (`wss`, with the TLS certificate), when it listens there.
    wss_port: Option<u16>,
    child: Child,
    dir: PathBuf,
    log: PathBuf,
}

impl Kamailio {
    /// Writes the configuration into a scratch directory named `name`, starts Kamailio
    /// on UDP and TCP and waits until it listens.
    pub fn start(name: &str) -> Kamailio {
        Kamailio::launch(name, None, None)
    }

    /// As [`Kamailio::start`], and on TLS too, on a port of its own: with a certificate
    /// for 127.0.0.1 made here, trusting the agents' certificates `trusted` (PEM) when it
    /// connects to them (with none, for tests where it opens no TLS connection, it keeps
    /// the `tls` module's default client side, which verifies nothing).
    pub fn start_tls(name: &str, trusted: &[&str]) -> Kamailio {
        Kamailio::launch(name, Some(trusted), None)
    }

    /// As [`Kamailio::start`], and on WebSocket (`ws`, RFC 7118) too, on a port of its
    /// own: the `websocket` module, with `nathelper` for its clients (see
    /// [`KAMAILIO_CONFIG`]).
    pub fn start_ws(name: &str) -> Kamailio {
        Kamailio::launch(name, None, Some(false))
    }

    /// As [`Kamailio::start_ws`], and on secure WebSocket (`wss`) too, on a port of its
    /// own, with the certificate [`Kamailio::start_tls`] makes (and a TLS listener).
    pub fn start_wss(name: &str) -> Kamailio {
        Kamailio::launch(name, Some(&[]), Some(true))
    }

    /// Kamailio with a configuration of the caller's (which must listen on TCP too, on
    /// `@PORT@`, for [`Kamailio::start`]'s wait): `@PORT@` is replaced by a free port and
    /// `@DIR@` by its scratch directory, where `files` (name, contents) are written first.
    pub fn start_with(name: &str, config: &str, files: &[(&str, &str)]) -> Kamailio {
        let dir = scratch(name);
        let port = free_port();
        for (file, contents) in files {
            std::fs::write(dir.join(file), contents).unwrap();
        }
        let config = config
            .replace("@PORT@", &port.to_string())
            .replace("@DIR@", &dir.display().to_string());
        Kamailio::run(dir, port, None, (None, None), &config)
    }

    /// With `tls`, the agents' certificates it trusts; with `ws`, WebSocket, and `wss`
    /// too when it is `true`.
    fn launch(name: &str, tls: Option<&[&str]>, ws: Option<bool>) -> Kamailio {
        let dir = scratch(name);
        let port = free_port();
        let ws_port = ws.map(|_| free_port());
        let wss_port = (ws == Some(true)).then(free_port);
        let mut config = KAMAILIO_CONFIG
            .replace("@PORT@", &port.to_string())
            .replace("@PASSWORD@", PASSWORD)
            .replace("@WS_PORT@", &ws_port.unwrap_or_default().to_string())
            .replace("@WSS_PORT@", &wss_port.unwrap_or_default().to_string());
        let tls = tls.map(|trusted| {
            let tls_port = free_port();
            let (cert, key) = certificate();
            std::fs::write(dir.join("kamailio.pem"), &cert).unwrap();
            std::fs::write(dir.join("kamailio.key"), key).unwrap();
            let mut tls_config_text = KAMAILIO_TLS_CONFIG.to_owned();
            if !trusted.is_empty() {
                std::fs::write(dir.join("trusted.pem"), trusted.concat()).unwrap();
                tls_config_text.push_str(KAMAILIO_TLS_CLIENT_CONFIG);
            }
            let tls_config = dir.join("tls.cfg");
            std::fs::write(
                &tls_config,
                tls_config_text.replace("@DIR@", &dir.display().to_string()),
            )
            .unwrap();
            config = config
                .replace(
                    "@TLS_LISTEN@",
                    &format!("enable_tls=yes\nlisten=tls:127.0.0.1:{tls_port}"),
                )
                .replace(
                    "@TLS_MODULE@",
                    &format!(
                        "loadmodule \"tls.so\"\nmodparam(\"tls\", \"config\", \"{}\")",
                        tls_config.display()
                    ),
                );
            (tls_port, cert)
        });
        let config = config.replace("@TLS_LISTEN@", "").replace("@TLS_MODULE@", "");
        Kamailio::run(dir, port, tls, (ws_port, wss_port), &config)
    }

    /// Writes `config` into `dir`, starts Kamailio with it and waits until it listens.
    fn run(
        dir: PathBuf,
        port: u16,
        tls: Option<(u16, String)>,
        (ws_port, wss_port): (Option<u16>, Option<u16>),
        config: &str,
    ) -> Kamailio {
        let config_file = dir.join("kamailio.cfg");
        std::fs::write(&config_file, config).unwrap();
        let log = dir.join("kamailio.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut command = under_timeout("kamailio");
        command.args(["-DD", "-E", "-m", "32", "-M", "8"]);
        if ws_port.is_some() {
            command.args(["-A", "WITH_WS"]);
        }
        if wss_port.is_some() {
            command.args(["-A", "WITH_WSS"]);
        }
        let child = command
            .arg("-f")
            .arg(&config_file)
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .arg("-Y")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("run kamailio");
        let mut kamailio = Kamailio {
            port,
            tls,
            ws_port,
            wss_port,
            child,
            dir,
            log,
        };
        kamailio.wait_listening();
        kamailio
    }

    /// Its sockets (the TLS one too) are bound before it forks its workers: once the TCP
    /// port takes connections, UDP datagrams and TLS connections wait in its sockets too.
    /// (Not a connection to the TLS port: one that never starts a handshake leaves an
    /// error in its log.)
    fn wait_listening(&mut self) {
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kamailio exited ({status}):\n{}", self.log());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("kamailio does not listen on {}:\n{}", self.port, self.log());
    }

    /// Its TLS port; panics unless it was started with [`Kamailio::start_tls`].
    pub fn tls_port(&self) -> u16 {
        self.tls.as_ref().expect("kamailio on TLS").0
    }

    /// The certificate it presents on TLS (PEM), for our agents' `tls_roots`.
    pub fn certificate(&self) -> &str {
        &self.tls.as_ref().expect("kamailio on TLS").1
    }

    /// Its WebSocket port; panics unless it was started with [`Kamailio::start_ws`] or
    /// [`Kamailio::start_wss`].
    pub fn ws_port(&self) -> u16 {
        self.ws_port.expect("kamailio on WebSocket")
    }

    /// Its secure WebSocket port; panics unless it was started with
    /// [`Kamailio::start_wss`].
    pub fn wss_port(&self) -> u16 {
        self.wss_port.expect("kamailio on secure WebSocket")
    }

    /// Its URI over `transport`, as a registrar or next hop: `sips:` on its TLS port for
    /// TLS, `;transport=ws` and `;transport=wss` on its WebSocket ports.
    pub fn uri(&self, transport: Transport) -> String {
        match transport {
            Transport::Udp => format!("sip:127.0.0.1:{}", self.port),
            Transport::Tcp => format!("sip:127.0.0.1:{};transport=tcp", self.port),
            Transport::Tls => format!("sips:127.0.0.1:{}", self.tls_port()),
            Transport::Ws => format!("sip:127.0.0.1:{};transport=ws", self.ws_port()),
            Transport::Wss => format!("sip:127.0.0.1:{};transport=wss", self.wss_port()),
            other => panic!("kamailio does not listen on {other:?} here"),
        }
    }

    /// `user` at Kamailio's domain, reached through Kamailio over `transport`.
    pub fn user(&self, user: &str, transport: Transport) -> String {
        let uri = self.uri(transport);
        let (scheme, rest) = uri.split_once(':').unwrap();
        format!("{scheme}:{user}@{rest}")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its scratch directory (configuration, log, control socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops it; its files go too (a failed test keeps them, for a look at the log).
    pub fn stop(mut self) {
        stop_group(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Kamailio {
    /// A test that fails midway still leaves no Kamailio behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal_group(&self.child, "-KILL");
            let _ = self.child.wait();
        }
    }
}
