//! Interop with Kamailio (Debian's `kamailio`) as registrar and proxy, over loopback: our
//! agents register with digest authentication (401 over UDP and TCP, a wrong password, a
//! refresh pre-authorized with the next nonce count), call each other through it (the
//! INVITE challenged with 407, the dialog record-routed through it; a wrong password) and
//! send MESSAGE through it (challenged with 407 too).
//!
//! Ignored by default; `.ci/run` installs Kamailio (`tests/interop/install-peers.sh`) and
//! runs them. Each test writes its own configuration (no database: usrloc in memory,
//! plain-text passwords checked with `pv_www_authenticate`/`pv_proxy_authenticate`), runs
//! Kamailio under `timeout` in a process group of its own on 127.0.0.1 and a free port,
//! and stops it by its PID.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sip_core::sdp::SessionDescription;
use sip_tokio::{
    Call, CallEvent, Direction, EndReason, Error, MessageTrace, RegistrationEvent, StatusCode, UserAgent,
};
use tokio::time::timeout;

/// How long any one step may take.
const STEP: Duration = Duration::from_secs(15);

/// The users Kamailio knows, all with this password.
const PASSWORD: &str = "secret";

/// Kamailio's configuration; `@PORT@` and `@PASSWORD@` are replaced by its port and the
/// password. Realm `127.0.0.1` for every challenge; REGISTER is challenged with 401, an
/// INVITE or MESSAGE from a local user (From domain 127.0.0.1) with 407, and the
/// authentication user must be the To (REGISTER) or From user. Calls are record-routed;
/// requests inside a dialog follow the Route set.
const CONFIG: &str = r#"#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=2
tcp_children=2
listen=udp:127.0.0.1:@PORT@
listen=tcp:127.0.0.1:@PORT@
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

modparam("usrloc", "db_mode", 0)
modparam("rr", "enable_full_lr", 1)
modparam("rr", "append_fromtag", 1)
modparam("registrar", "max_expires", 3600)
# Short registrations are granted as asked (the refresh test asks for 2 s).
modparam("registrar", "min_expires", 1)
# Check the nonce count too: a pre-authorized request must count up.
modparam("auth", "nonce_count", 1)

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
	xlog("L_INFO", "reply $rs $rr to $rm from $si:$sp\n");
}
"#;

/// A port free for both UDP and TCP on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sip-rs-interop-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `timeout SECONDS program`, in a process group of its own so that stopping it stops
/// the program too.
fn under_timeout(program: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new("timeout");
    command.args(["--kill-after=5", "120", program]);
    command.process_group(0);
    command
}

/// Kamailio in the foreground (`-DD`), logging to a file, stopped by its PID: SIGTERM to
/// its process group (`timeout` passes it on; Kamailio's main process stops its
/// children), SIGKILL for whatever is left.
struct Kamailio {
    port: u16,
    child: Child,
    dir: PathBuf,
    log: PathBuf,
}

impl Kamailio {
    /// Writes the configuration into a scratch directory named `name`, starts Kamailio
    /// and waits until it listens.
    fn start(name: &str) -> Kamailio {
        let dir = scratch(name);
        let port = free_port();
        let config = dir.join("kamailio.cfg");
        std::fs::write(
            &config,
            CONFIG
                .replace("@PORT@", &port.to_string())
                .replace("@PASSWORD@", PASSWORD),
        )
        .unwrap();
        let log = dir.join("kamailio.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = under_timeout("kamailio")
            .args(["-DD", "-E", "-m", "32", "-M", "8", "-f"])
            .arg(&config)
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
            child,
            dir,
            log,
        };
        kamailio.wait_listening();
        kamailio
    }

    /// Its sockets are bound before it forks its workers: once the TCP port takes
    /// connections, UDP datagrams wait in its socket too.
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

    /// Its URI, as a registrar or next hop.
    fn uri(&self, tcp: bool) -> String {
        let transport = if tcp { ";transport=tcp" } else { "" };
        format!("sip:127.0.0.1:{}{transport}", self.port)
    }

    /// `user` at Kamailio's domain, reached through Kamailio.
    fn user(&self, user: &str, tcp: bool) -> String {
        let transport = if tcp { ";transport=tcp" } else { "" };
        format!("sip:{user}@127.0.0.1:{}{transport}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it; its files go too (a failed test keeps them, for a look at the log).
    fn stop(mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Usually gone by now: the group no longer exists, which is what we want.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Kamailio {
    /// A test that fails midway still leaves no Kamailio behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = self.child.wait();
        }
    }
}

/// Every message one agent sent or received, for checks and failure messages.
#[derive(Clone, Default)]
struct Trace(Arc<Mutex<Vec<(Direction, String)>>>);

impl Trace {
    fn observer(&self) -> impl Fn(&MessageTrace<'_>) + Send + Sync + 'static {
        let seen = Arc::clone(&self.0);
        move |m| {
            let text = format!(
                "{} {:?} {} {}\n{}",
                if m.direction == Direction::Sent {
                    ">>"
                } else {
                    "<<"
                },
                m.transport,
                if m.direction == Direction::Sent {
                    "to"
                } else {
                    "from"
                },
                m.remote,
                String::from_utf8_lossy(m.payload)
            );
            seen.lock().unwrap().push((m.direction, text));
        }
    }

    /// The start lines of the messages that went `direction` (over TCP, of each read).
    fn start_lines(&self, direction: Direction) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(d, _)| *d == direction)
            .filter_map(|(_, text)| text.lines().nth(1).map(str::to_owned))
            .collect()
    }

    fn dump(&self) -> String {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, text)| text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// An agent for `user` at Kamailio's domain with `password`, UDP and, when `tcp`, TCP.
async fn agent(user: &str, password: &str, tcp: bool, trace: &Trace) -> UserAgent {
    UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .tcp(tcp)
        .identity(format!("sip:{user}@127.0.0.1"))
        .credentials(user, password)
        .on_message(trace.observer())
        .start()
        .await
        .unwrap()
}

fn sdp(user: &str) -> Bytes {
    SessionDescription::simple_audio(user, 1, "127.0.0.1".parse().unwrap(), 40_000, &[0, 8]).to_bytes()
}

/// Whether `lines` has one starting with `prefix`.
fn has(lines: &[String], prefix: &str) -> bool {
    lines.iter().any(|line| line.starts_with(prefix))
}

/// Registers alice (password `secret`) at Kamailio over UDP or TCP: challenged with 401,
/// registered with the credentials, then unregistered.
async fn register_with_digest(tcp: bool) {
    let kamailio = Kamailio::start(if tcp {
        "kamailio-reg-tcp"
    } else {
        "kamailio-reg-udp"
    });
    let trace = Trace::default();
    let alice = agent("alice", PASSWORD, tcp, &trace).await;
    let mut registration = alice
        .register(&kamailio.uri(tcp), Some("sip:alice@127.0.0.1"), 300)
        .await
        .unwrap();
    let granted = timeout(STEP, registration.registered()).await.expect("in time");
    let context = || format!("{}\n---- kamailio ----\n{}", trace.dump(), kamailio.log());
    assert!(
        matches!(granted, Ok(expires) if expires > 0 && expires <= 300),
        "{granted:?}\n{}",
        context()
    );
    let received = trace.start_lines(Direction::Received);
    assert!(has(&received, "SIP/2.0 401"), "{}", context());
    let unregistered = timeout(STEP, registration.unregister()).await.expect("in time");
    assert!(unregistered.is_ok(), "{unregistered:?}\n{}", context());
    let received = trace.start_lines(Direction::Received);
    assert_eq!(
        received.iter().filter(|l| l.starts_with("SIP/2.0 200")).count(),
        2,
        "{}",
        context()
    );
    if tcp {
        let dump = trace.dump();
        assert!(!dump.contains(">> Udp") && !dump.contains("<< Udp"), "{dump}");
    }
    alice.shutdown(Duration::from_secs(1)).await;
    kamailio.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn register_with_digest_over_udp() {
    register_with_digest(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn register_with_digest_over_tcp() {
    register_with_digest(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn a_wrong_password_fails_cleanly() {
    let kamailio = Kamailio::start("kamailio-wrong-password");
    let trace = Trace::default();
    let alice = agent("alice", "not-the-password", false, &trace).await;
    let mut registration = alice
        .register(&kamailio.uri(false), Some("sip:alice@127.0.0.1"), 300)
        .await
        .unwrap();
    let outcome = timeout(STEP, registration.registered()).await.expect("in time");
    let context = || format!("{}\n---- kamailio ----\n{}", trace.dump(), kamailio.log());
    assert!(
        matches!(outcome, Err(Error::Rejected(StatusCode::UNAUTHORIZED))),
        "{outcome:?}\n{}",
        context()
    );
    // The registration is over: no retry, never a loop.
    let next = timeout(STEP, registration.next_event()).await.expect("in time");
    assert_eq!(next, Some(RegistrationEvent::Unregistered), "{}", context());
    let sent = trace.start_lines(Direction::Sent);
    assert_eq!(
        sent.iter().filter(|l| l.starts_with("REGISTER ")).count(),
        2,
        "{}",
        context()
    );
    // Kamailio read our digest and found the password wrong (-2), not the credentials
    // malformed or missing.
    assert!(
        kamailio.log().contains("credentials refused (-2)"),
        "{}",
        context()
    );
    alice.shutdown(Duration::from_secs(1)).await;
    kamailio.stop();
}

/// A registration for 2 s is refreshed after 1 s with credentials made from the nonce it
/// already has (the next nonce count), which Kamailio accepts without a new challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn a_refresh_is_pre_authorized_with_the_next_nonce_count() {
    let kamailio = Kamailio::start("kamailio-refresh");
    let trace = Trace::default();
    let alice = agent("alice", PASSWORD, false, &trace).await;
    let mut registration = alice
        .register(&kamailio.uri(false), Some("sip:alice@127.0.0.1"), 2)
        .await
        .unwrap();
    let context = || format!("{}\n---- kamailio ----\n{}", trace.dump(), kamailio.log());
    let granted = timeout(STEP, registration.registered()).await.expect("in time");
    assert!(matches!(granted, Ok(2)), "{granted:?}\n{}", context());
    let refreshed = timeout(STEP, registration.registered()).await.expect("in time");
    assert!(matches!(refreshed, Ok(2)), "{refreshed:?}\n{}", context());
    let unregistered = timeout(STEP, registration.unregister()).await.expect("in time");
    assert!(unregistered.is_ok(), "{unregistered:?}\n{}", context());
    // One challenge only; the refresh and the unregistration counted on.
    let received = trace.start_lines(Direction::Received);
    assert_eq!(
        received.iter().filter(|l| l.starts_with("SIP/2.0 401")).count(),
        1,
        "{}",
        context()
    );
    let dump = trace.dump();
    for nc in ["nc=00000001", "nc=00000002", "nc=00000003"] {
        assert!(dump.contains(nc), "no {nc}:\n{}", context());
    }
    alice.shutdown(Duration::from_secs(1)).await;
    kamailio.stop();
}

/// The events of `call` until `want` says one is it; panics when it ends first.
async fn wait_for(call: &mut Call, what: &str, want: impl Fn(&CallEvent) -> bool) -> CallEvent {
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

/// Bob registers at Kamailio and answers; alice calls him through Kamailio, which
/// challenges her INVITE with 407; she answers it, bob answers the call, and she hangs up.
async fn call_through_kamailio(tcp: bool) {
    let kamailio = Kamailio::start(if tcp {
        "kamailio-call-tcp"
    } else {
        "kamailio-call-udp"
    });
    let bobs_trace = Trace::default();
    let bob = agent("bob", PASSWORD, tcp, &bobs_trace).await;
    let alices_trace = Trace::default();
    let alice = agent("alice", PASSWORD, tcp, &alices_trace).await;
    let context = || {
        format!(
            "---- alice ----\n{}\n---- bob ----\n{}\n---- kamailio ----\n{}",
            alices_trace.dump(),
            bobs_trace.dump(),
            kamailio.log()
        )
    };

    let mut incoming = bob.incoming().await.unwrap();
    let mut registration = bob
        .register(&kamailio.uri(tcp), Some("sip:bob@127.0.0.1"), 300)
        .await
        .unwrap();
    let registered = timeout(STEP, registration.registered()).await.expect("in time");
    assert!(registered.is_ok(), "{registered:?}\n{}", context());

    let mut call = alice
        .call(&kamailio.user("bob", tcp), sdp("alice"), None)
        .await
        .unwrap();
    let mut bobs_call = timeout(STEP, incoming.next())
        .await
        .unwrap_or_else(|_| panic!("bob got no call\n{}", context()))
        .expect("an incoming call");
    bobs_call.answer(sdp("bob"), None).await.unwrap();
    wait_for(&mut call, "answer", |e| matches!(e, CallEvent::Answered { .. })).await;
    wait_for(&mut bobs_call, "ACK", |e| matches!(e, CallEvent::Answered { .. })).await;

    let alice_received = alices_trace.start_lines(Direction::Received);
    assert!(has(&alice_received, "SIP/2.0 407"), "{}", context());
    let alice_sent = alices_trace.start_lines(Direction::Sent);
    assert_eq!(
        alice_sent.iter().filter(|l| l.starts_with("INVITE ")).count(),
        2,
        "{}",
        context()
    );

    call.hangup().await.unwrap();
    assert_eq!(
        timeout(STEP, call.ended()).await.expect("alice's call ends"),
        Some(EndReason::LocalBye),
        "{}",
        context()
    );
    assert_eq!(
        timeout(STEP, bobs_call.ended()).await.expect("bob's call ends"),
        Some(EndReason::RemoteBye),
        "{}",
        context()
    );
    // The BYE went through Kamailio (it record-routed the call).
    assert!(kamailio.log().contains("request BYE "), "{}", context());

    let unregistered = timeout(STEP, registration.unregister()).await.expect("in time");
    assert!(unregistered.is_ok(), "{unregistered:?}\n{}", context());
    for ua in [alice, bob] {
        ua.shutdown(Duration::from_secs(1)).await;
    }
    kamailio.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn a_call_through_kamailio_is_challenged_with_407_and_connects() {
    call_through_kamailio(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn a_call_through_kamailio_over_tcp_is_challenged_and_connects() {
    call_through_kamailio(true).await;
}

/// Alice's INVITE with a wrong password: challenged with 407, sent once more with her
/// credentials, refused again with 407, and the call ends rejected — no loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn a_call_with_a_wrong_password_ends_rejected_with_407_once() {
    let kamailio = Kamailio::start("kamailio-call-wrong-password");
    let trace = Trace::default();
    let alice = agent("alice", "not-the-password", false, &trace).await;
    let context = || format!("{}\n---- kamailio ----\n{}", trace.dump(), kamailio.log());
    let mut call = alice
        .call(&kamailio.user("bob", false), sdp("alice"), None)
        .await
        .unwrap();
    assert_eq!(
        timeout(STEP, call.ended()).await.expect("the call ends"),
        Some(EndReason::Rejected(StatusCode::PROXY_AUTHENTICATION_REQUIRED)),
        "{}",
        context()
    );
    let sent = trace.start_lines(Direction::Sent);
    assert_eq!(
        sent.iter().filter(|l| l.starts_with("INVITE ")).count(),
        2,
        "{}",
        context()
    );
    assert!(
        kamailio.log().contains("credentials refused (-2)"),
        "{}",
        context()
    );
    alice.shutdown(Duration::from_secs(1)).await;
    kamailio.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn a_message_through_kamailio_is_challenged_and_delivered() {
    let kamailio = Kamailio::start("kamailio-message");
    let bobs_trace = Trace::default();
    let bob = agent("bob", PASSWORD, false, &bobs_trace).await;
    let alices_trace = Trace::default();
    let alice = agent("alice", PASSWORD, false, &alices_trace).await;
    let context = || {
        format!(
            "---- alice ----\n{}\n---- bob ----\n{}\n---- kamailio ----\n{}",
            alices_trace.dump(),
            bobs_trace.dump(),
            kamailio.log()
        )
    };

    let mut messages = bob.incoming_messages().await.unwrap();
    let mut registration = bob
        .register(&kamailio.uri(false), Some("sip:bob@127.0.0.1"), 300)
        .await
        .unwrap();
    let registered = timeout(STEP, registration.registered()).await.expect("in time");
    assert!(registered.is_ok(), "{registered:?}\n{}", context());

    let status = timeout(
        STEP,
        alice.message(
            &kamailio.user("bob", false),
            "text/plain",
            Bytes::from_static(b"hello bob"),
        ),
    )
    .await
    .expect("in time");
    assert!(
        matches!(status, Ok(status) if status == StatusCode::OK),
        "{status:?}\n{}",
        context()
    );
    let message = timeout(STEP, messages.next())
        .await
        .expect("in time")
        .expect("a message");
    assert_eq!(message.body, Bytes::from_static(b"hello bob"));
    assert_eq!(message.content_type.as_deref(), Some("text/plain"));
    assert!(message.from.contains("sip:alice@127.0.0.1"), "{}", message.from);
    assert!(
        has(&alices_trace.start_lines(Direction::Received), "SIP/2.0 407"),
        "{}",
        context()
    );

    let unregistered = timeout(STEP, registration.unregister()).await.expect("in time");
    assert!(unregistered.is_ok(), "{unregistered:?}\n{}", context());
    for ua in [alice, bob] {
        ua.shutdown(Duration::from_secs(1)).await;
    }
    kamailio.stop();
}
