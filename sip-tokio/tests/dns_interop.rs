//! RFC 3263 server location against a real nameserver: dnsmasq on loopback serves NAPTR,
//! SRV and A records, and calls to host names find our own listeners through them.
//!
//! | caller | located by | callee |
//! |---|---|---|
//! | `sipua call sip:` | NAPTR `SIP+D2U` → SRV `_sip._udp` → A | `sipua listen` (UDP) |
//! | `sipua call sip:` | NAPTR `SIP+D2T` → SRV `_sip._tcp` → A | `sipua listen --transport tcp` |
//! | `sipua call sips: --ca` | NAPTR `SIPS+D2T` (not the `SIP+D2U` ordered first) → SRV `_sips._tcp` → A | `sipua listen --transport udp,tls`, a certificate for the name called |
//! | `sipua call sip:` | NAPTR `SIP+D2W` → SRV `_sip._ws` (RFC 7118 §7) → A | `sipua listen --transport udp,ws` |
//! | `sipua call sips: --ca` | as for TLS; refused: the certificate is for 127.0.0.1, not the name (RFC 5922 §4) | `sipua listen --transport udp,tls` |
//! | `sipua call sip:` | SRV, priority 10 down → priority 20 | two `sipua listen` (failover) |
//!
//! The caller has no `--transport`: the records choose it, and its trace shows every
//! message of the call over that transport.
//!
//! Ignored by default; `.ci/run` installs dnsmasq (`tests/interop/install-peers.sh`,
//! Debian's `dnsmasq-base`: the program alone, no service taking port 53) and runs them.
//! dnsmasq runs in the foreground under `timeout`, in a process group of its own, on
//! 127.0.0.1 and a free port, with no upstream servers, no /etc/hosts and no
//! configuration file, and is stopped by its PID.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "interop/common.rs"]
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Peer, STEP, free_port, run_sipua, scratch, sipua, under_timeout, wait_udp_bound};

/// dnsmasq as an authoritative nameserver for `test.` on 127.0.0.1 (names it has no
/// record for get NXDOMAIN), logging every question.
struct Dnsmasq {
    peer: Peer,
    addr: SocketAddr,
}

impl Dnsmasq {
    /// Starts it with `records` (`--naptr-record=…`, `--srv-host=…`, `--host-record=…`) and
    /// waits until it listens.
    async fn start(name: &str, records: &[String]) -> Dnsmasq {
        let port = free_port();
        let log = scratch(name).join("dnsmasq.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = under_timeout("dnsmasq")
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--local=/test/",
                "--log-queries",
                "--log-facility=-",
            ])
            .arg(format!("--port={port}"))
            .args(records)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("run dnsmasq (install-peers.sh installs it)");
        let peer = Peer::new(child, log);
        wait_udp_bound(port).await;
        Dnsmasq {
            peer,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn log(&self) -> String {
        self.peer.log()
    }

    /// Its log once it has every one of `questions` (`query[SRV] NAME`), or after
    /// [`STEP`]: dnsmasq writes its log lines a little after answering.
    async fn asked(&self, questions: &[&str]) -> String {
        let until = Instant::now() + STEP;
        loop {
            let log = self.log();
            if Instant::now() > until || questions.iter().all(|q| log.contains(q)) {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn stop(self) {
        self.peer.stop();
    }
}

fn naptr(name: &str, order: u16, service: &str, replacement: &str) -> String {
    format!("--naptr-record={name},{order},10,S,{service},,{replacement}")
}

fn srv(service: &str, target: &str, port: u16, priority: u16) -> String {
    format!("--srv-host={service},{target},{port},{priority},0")
}

fn host(name: &str) -> String {
    format!("--host-record={name},127.0.0.1")
}

/// `sipua listen --auto-answer` on UDP `port` with `extra` arguments (`--transport`,
/// its ports, a certificate), started once it says it listens.
async fn listener(binary: &Path, name: &str, port: u16, extra: &[&str]) -> Peer {
    let bind = format!("127.0.0.1:{port}");
    let mut args = vec!["listen", "--bind", &bind, "--auto-answer"];
    args.extend_from_slice(extra);
    let peer = run_sipua(binary, name, &args);
    let until = Instant::now() + STEP;
    while !peer.log().contains("listening on ") {
        assert!(
            Instant::now() < until,
            "sipua listen did not start:\n{}",
            peer.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    peer
}

/// `sipua --trace call TARGET --dns-server DNS EXTRA`, hanging up 200 ms after the
/// answer: whether it exited successfully, and its output (the SIP messages included).
async fn call(
    binary: &Path,
    name: &str,
    target: &str,
    dns: SocketAddr,
    extra: &[&str],
) -> (Option<bool>, String) {
    let dns = dns.to_string();
    let mut args = vec![
        "--trace",
        "call",
        target,
        "--dns-server",
        &dns,
        "--hangup-after",
        "200",
    ];
    args.extend_from_slice(extra);
    let mut caller = run_sipua(binary, name, &args);
    let exited = tokio::task::block_in_place(|| caller.wait_exit(STEP));
    let log = caller.log();
    caller.stop();
    (exited, log)
}

/// The messages of the trace in `log`: each one's first line (`0.012 s sent TLS to …`) and
/// start line. (The caller's own lines, on stdout, can come between them.)
fn trace_blocks(log: &str) -> Vec<(&str, &str)> {
    let lines: Vec<&str> = log.lines().collect();
    lines
        .windows(2)
        .filter(|pair| {
            pair[0].split_once(" s ").is_some_and(|(time, rest)| {
                time.parse::<f64>().is_ok() && (rest.starts_with("sent ") || rest.starts_with("received "))
            })
        })
        .map(|pair| (pair[0], pair[1]))
        .collect()
}

/// Whether the trace in `log` has our INVITE going out over `transport` to `port`.
fn invite_sent(log: &str, transport: &str, port: u16) -> bool {
    trace_blocks(log).iter().any(|(head, start)| {
        head.contains(&format!("sent {transport} to 127.0.0.1:{port}")) && start.starts_with("INVITE ")
    })
}

/// Whether every message in the trace in `log` (there are some) went over `transport`.
fn all_over(log: &str, transport: &str) -> bool {
    let blocks = trace_blocks(log);
    !blocks.is_empty()
        && blocks.iter().all(|(head, _)| {
            head.contains(&format!("sent {transport} to "))
                || head.contains(&format!("received {transport} from "))
        })
}

/// A call located through dnsmasq: `sipua call TARGET` (no `--transport`), example.test's
/// NAPTR naming `service` with the replacement `SRV_PREFIX.example.test`, whose SRV record
/// gives bob.example.test and `port`, where `sipua listen` (UDP on `bind`, with `listen`
/// arguments) answers.
struct Located<'a> {
    target: &'a str,
    service: &'a str,
    srv_prefix: &'a str,
    /// The transport the INVITE must go over, as the trace names it.
    transport: &'a str,
    bind: u16,
    port: u16,
    listen: &'a [&'a str],
    call: &'a [&'a str],
    /// More records: services the call must not take.
    records: Vec<String>,
}

/// Makes the call of `case` and checks it was answered, with the INVITE over its transport
/// to its port and dnsmasq asked NAPTR, SRV and A; the caller's output and dnsmasq's log,
/// for more checks.
async fn sipua_call_located_by_naptr(case: Located<'_>) -> (String, String) {
    let binary = sipua();
    let Located {
        target,
        service,
        srv_prefix,
        transport,
        bind,
        port,
        listen,
        call: call_args,
        mut records,
    } = case;
    let srv_name = format!("{srv_prefix}.example.test");
    records.extend([
        naptr("example.test", 10, service, &srv_name),
        srv(&srv_name, "bob.example.test", port, 10),
        host("bob.example.test"),
    ]);
    let dns = Dnsmasq::start(&format!("dnsmasq-{srv_prefix}"), &records).await;
    let bob = listener(&binary, &format!("listen-{srv_prefix}"), bind, listen).await;
    let (exited, log) = call(
        &binary,
        &format!("call-{srv_prefix}"),
        target,
        dns.addr,
        call_args,
    )
    .await;
    let (_, bob_log) = bob.interrupt();
    let srv_question = format!("query[SRV] {srv_name}");
    let expected = [
        "query[NAPTR] example.test",
        &srv_question,
        "query[A] bob.example.test",
    ];
    let questions = dns.asked(&expected).await;
    let context = format!(
        "---- sipua call ----\n{log}\n---- sipua listen ----\n{bob_log}\n---- dnsmasq ----\n{questions}"
    );
    assert_eq!(exited, Some(true), "{context}");
    assert!(log.contains("answered in"), "{context}");
    assert!(
        invite_sent(&log, transport, port),
        "no INVITE over {transport} to {port}\n{context}"
    );
    for question in expected {
        assert!(
            questions.contains(question),
            "dnsmasq was not asked {question}\n{context}"
        );
    }
    dns.stop();
    (log, questions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dnsmasq (tests/interop/install-peers.sh); run by .ci/run"]
async fn sipua_calls_a_name_whose_naptr_says_udp_through_dnsmasq() {
    let port = free_port();
    sipua_call_located_by_naptr(Located {
        target: "sip:bob@example.test",
        service: "SIP+D2U",
        srv_prefix: "_sip._udp",
        transport: "UDP",
        bind: port,
        port,
        listen: &[],
        call: &[],
        records: Vec::new(),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dnsmasq (tests/interop/install-peers.sh); run by .ci/run"]
async fn sipua_calls_a_name_whose_naptr_says_tcp_through_dnsmasq() {
    let port = free_port();
    sipua_call_located_by_naptr(Located {
        target: "sip:bob@example.test",
        service: "SIP+D2T",
        srv_prefix: "_sip._tcp",
        transport: "TCP",
        bind: port,
        port,
        listen: &["--transport", "tcp"],
        call: &[],
        records: Vec::new(),
    })
    .await;
}

/// A certificate and its key for `names` (DNS names or IP addresses), self-signed, in
/// PEM files in a scratch directory named `name`: (certificate, key).
fn certificate_files(name: &str, names: &[&str]) -> (String, String) {
    let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let dir = scratch(name);
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let path = |p: std::path::PathBuf| p.to_str().unwrap().to_owned();
    (path(cert), path(key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dnsmasq (tests/interop/install-peers.sh); run by .ci/run"]
async fn sipua_calls_a_sips_name_whose_naptr_says_tls_through_dnsmasq() {
    let (bind, tls_port) = (free_port(), free_port());
    // The name called (RFC 5922 §4: the core checks the certificate against the URI's
    // domain, not the SRV target's) and the address.
    let (cert, key) = certificate_files("tls-files", &["example.test", "127.0.0.1"]);
    let tls_port_arg = tls_port.to_string();
    let (log, questions) = sipua_call_located_by_naptr(Located {
        target: "sips:bob@example.test",
        service: "SIPS+D2T",
        srv_prefix: "_sips._tcp",
        transport: "TLS",
        bind,
        port: tls_port,
        listen: &[
            "--transport",
            "udp,tls",
            "--tls-port",
            &tls_port_arg,
            "--cert",
            &cert,
            "--key",
            &key,
        ],
        call: &["--ca", &cert],
        // A UDP service too, ordered first, which a sips: URI must not take (RFC 3263
        // §4.1).
        records: vec![
            naptr("example.test", 5, "SIP+D2U", "_sip._udp.example.test"),
            srv("_sip._udp.example.test", "bob.example.test", bind, 10),
        ],
    })
    .await;
    assert!(!questions.contains("query[SRV] _sip._udp"), "{questions}");
    assert!(all_over(&log, "TLS"), "not all over TLS\n{log}");
    let _ = std::fs::remove_dir_all(Path::new(&cert).parent().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dnsmasq (tests/interop/install-peers.sh); run by .ci/run"]
async fn sipua_calls_a_name_whose_naptr_says_ws_through_dnsmasq() {
    let (bind, ws_port) = (free_port(), free_port());
    let ws_port_arg = ws_port.to_string();
    let (log, _) = sipua_call_located_by_naptr(Located {
        target: "sip:bob@example.test",
        service: "SIP+D2W",
        // RFC 7118 §7's SRV name for SIP over WebSocket.
        srv_prefix: "_sip._ws",
        transport: "WS",
        bind,
        port: ws_port,
        listen: &["--transport", "udp,ws", "--ws-port", &ws_port_arg],
        call: &[],
        records: Vec::new(),
    })
    .await;
    assert!(all_over(&log, "WS"), "not all over WS\n{log}");
}

/// A TLS server whose certificate is for its address only, not for the name called: the
/// call fails (RFC 5922 §4), and no INVITE reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dnsmasq (tests/interop/install-peers.sh); run by .ci/run"]
async fn a_sips_call_refuses_a_certificate_without_the_name_called() {
    let binary = sipua();
    let (bind, tls_port) = (free_port(), free_port());
    let (cert, key) = certificate_files("tls-files-ip-only", &["127.0.0.1"]);
    let dns = Dnsmasq::start(
        "dnsmasq-tls-ip-only",
        &[
            naptr("example.test", 10, "SIPS+D2T", "_sips._tcp.example.test"),
            srv("_sips._tcp.example.test", "bob.example.test", tls_port, 10),
            host("bob.example.test"),
        ],
    )
    .await;
    let tls_port_arg = tls_port.to_string();
    let bob = listener(
        &binary,
        "listen-tls-ip-only",
        bind,
        &[
            "--transport",
            "udp,tls",
            "--tls-port",
            &tls_port_arg,
            "--cert",
            &cert,
            "--key",
            &key,
        ],
    )
    .await;
    let (exited, log) = call(
        &binary,
        "call-tls-ip-only",
        "sips:bob@example.test",
        dns.addr,
        &["--ca", &cert],
    )
    .await;
    let (_, bob_log) = bob.interrupt();
    let questions = dns.asked(&["query[A] bob.example.test"]).await;
    let context = format!(
        "---- sipua call ----\n{log}\n---- sipua listen ----\n{bob_log}\n---- dnsmasq ----\n{questions}"
    );
    assert_eq!(exited, Some(false), "{context}");
    // Located (the A record asked), then the TLS connection failed and no call came in.
    // (The caller's trace still has the INVITE as sent: it is traced when handed to the
    // connection being opened.)
    assert!(questions.contains("query[A] bob.example.test"), "{context}");
    assert!(log.contains("(transport error)"), "{context}");
    // `sipua listen`'s closing summary counts the calls that came in: none.
    assert!(bob_log.contains("summary: incoming 0,"), "{context}");
    dns.stop();
    let _ = std::fs::remove_dir_all(Path::new(&cert).parent().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dnsmasq (tests/interop/install-peers.sh); run by .ci/run"]
async fn a_call_to_a_name_fails_over_to_the_second_srv_target_through_dnsmasq() {
    let binary = sipua();
    let (down_port, up_port) = (free_port(), free_port());
    // No NAPTR: SRV for UDP (RFC 3263 §4.1); the better target is stopped before the call.
    let dns = Dnsmasq::start(
        "dnsmasq-failover",
        &[
            srv("_sip._udp.example.test", "down.example.test", down_port, 10),
            srv("_sip._udp.example.test", "up.example.test", up_port, 20),
            host("down.example.test"),
            host("up.example.test"),
        ],
    )
    .await;
    let down = listener(&binary, "listen-down", down_port, &[]).await;
    let up = listener(&binary, "listen-up", up_port, &[]).await;
    let (_, down_log) = down.interrupt();
    let started = Instant::now();
    let (exited, log) = call(&binary, "call-failover", "sip:bob@example.test", dns.addr, &[]).await;
    let elapsed = started.elapsed();
    let (_, up_log) = up.interrupt();
    let questions = dns.asked(&["query[SRV] _sip._udp.example.test"]).await;
    let context = format!(
        "---- sipua call ----\n{log}\n---- listener up ----\n{up_log}\n---- listener down (stopped first) ----\n{down_log}\n---- dnsmasq ----\n{questions}"
    );
    assert_eq!(exited, Some(true), "{context}");
    assert!(
        invite_sent(&log, "UDP", down_port),
        "priority 10 first\n{context}"
    );
    assert!(invite_sent(&log, "UDP", up_port), "then priority 20\n{context}");
    assert!(up_log.contains("answered"), "{context}");
    // The refusal (ICMP port unreachable) moved it on, not Timer B (32 s).
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}\n{context}");
    assert!(
        questions.contains("query[SRV] _sip._udp.example.test"),
        "{context}"
    );
    dns.stop();
}
