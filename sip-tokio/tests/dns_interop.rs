//! RFC 3263 server location against a real nameserver: dnsmasq on loopback serves NAPTR,
//! SRV and A records, and calls to host names find our own listeners through them.
//!
//! | caller | located by | callee |
//! |---|---|---|
//! | `sipua call` | NAPTR `SIP+D2U` → SRV → A | `sipua listen` (UDP) |
//! | `sipua call` | NAPTR `SIP+D2T` → SRV → A | `sipua listen --transport tcp` |
//! | our agent (`Builder::dns_server`) | NAPTR `SIPS+D2T` → SRV → A, `sips:` | our agent on TLS (`Builder::tls`) |
//! | `sipua call` | SRV, priority 10 down → priority 20 | two `sipua listen` (failover) |
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

use common::{
    Peer, STEP, free_port, run_sipua, scratch, sdp, sipua, under_timeout, wait_for, wait_udp_bound,
};
use sip_tokio::{CallEvent, EndReason, Transport, UserAgent};
use tokio::time::timeout;

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

/// `sipua listen --auto-answer` on `port`, started once it says it listens.
async fn listener(binary: &Path, name: &str, port: u16, tcp: bool) -> Peer {
    let bind = format!("127.0.0.1:{port}");
    let mut args = vec!["listen", "--bind", &bind, "--auto-answer"];
    if tcp {
        args.extend(["--transport", "tcp"]);
    }
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

/// `sipua --trace call TARGET --dns-server DNS`, hanging up 200 ms after the answer:
/// whether it exited successfully, and its output (the SIP messages included).
async fn call(binary: &Path, name: &str, target: &str, dns: SocketAddr) -> (Option<bool>, String) {
    let dns = dns.to_string();
    let mut caller = run_sipua(
        binary,
        name,
        &[
            "--trace",
            "call",
            target,
            "--dns-server",
            &dns,
            "--hangup-after",
            "200",
        ],
    );
    let exited = tokio::task::block_in_place(|| caller.wait_exit(STEP));
    let log = caller.log();
    caller.stop();
    (exited, log)
}

/// Whether the trace in `log` has our INVITE going out over `transport` to `port`.
fn invite_sent(log: &str, transport: &str, port: u16) -> bool {
    log.split("\n\n").any(|block| {
        let mut lines = block.trim_start().lines();
        let head = lines.next().unwrap_or_default();
        head.contains(&format!("sent {transport} to 127.0.0.1:{port}"))
            && lines.next().is_some_and(|l| l.starts_with("INVITE "))
    })
}

/// `sipua call sip:bob@NAME`, NAME's NAPTR naming `service`, against `sipua listen`.
async fn sipua_call_located_by_naptr(service: &str, srv_prefix: &str, tcp: bool) {
    let binary = sipua();
    let port = free_port();
    let dns = Dnsmasq::start(
        &format!("dnsmasq-{srv_prefix}"),
        &[
            naptr("example.test", 10, service, &format!("{srv_prefix}.example.test")),
            srv(
                &format!("{srv_prefix}.example.test"),
                "bob.example.test",
                port,
                10,
            ),
            host("bob.example.test"),
        ],
    )
    .await;
    let bob = listener(&binary, &format!("listen-{srv_prefix}"), port, tcp).await;
    let (exited, log) = call(
        &binary,
        &format!("call-{srv_prefix}"),
        "sip:bob@example.test",
        dns.addr,
    )
    .await;
    let (_, bob_log) = bob.interrupt();
    let questions = dns.log();
    let context = format!(
        "---- sipua call ----\n{log}\n---- sipua listen ----\n{bob_log}\n---- dnsmasq ----\n{questions}"
    );
    assert_eq!(exited, Some(true), "{context}");
    assert!(log.contains("answered in"), "{context}");
    let transport = if tcp { "TCP" } else { "UDP" };
    assert!(
        invite_sent(&log, transport, port),
        "no INVITE over {transport}\n{context}"
    );
    for question in [
        "query[NAPTR] example.test",
        &format!("query[SRV] {srv_prefix}.example.test"),
        "query[A] bob.example.test",
    ] {
        assert!(
            questions.contains(question),
            "dnsmasq was not asked {question}\n{context}"
        );
    }
    dns.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dnsmasq (tests/interop/install-peers.sh); run by .ci/run"]
async fn sipua_calls_a_name_whose_naptr_says_udp_through_dnsmasq() {
    sipua_call_located_by_naptr("SIP+D2U", "_sip._udp", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dnsmasq (tests/interop/install-peers.sh); run by .ci/run"]
async fn sipua_calls_a_name_whose_naptr_says_tcp_through_dnsmasq() {
    sipua_call_located_by_naptr("SIP+D2T", "_sip._tcp", true).await;
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
    let down = listener(&binary, "listen-down", down_port, false).await;
    let up = listener(&binary, "listen-up", up_port, false).await;
    let (_, down_log) = down.interrupt();
    let started = Instant::now();
    let (exited, log) = call(&binary, "call-failover", "sip:bob@example.test", dns.addr).await;
    let elapsed = started.elapsed();
    let (_, up_log) = up.interrupt();
    let questions = dns.log();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dnsmasq (tests/interop/install-peers.sh); run by .ci/run"]
async fn a_sips_call_to_a_name_is_located_by_naptr_and_goes_over_tls_through_dnsmasq() {
    let alice_id = common::certificate();
    let bob_id = common::certificate();
    let bob = UserAgent::builder()
        .tls(0)
        .tls_identity(&bob_id.0, &bob_id.1)
        .tls_roots(&alice_id.0)
        .start()
        .await
        .unwrap();
    let tls_port = bob.tls_addr().unwrap().port();
    let dns = Dnsmasq::start(
        "dnsmasq-tls",
        &[
            // A UDP service too, which a sips: URI must not take (RFC 3263 §4.1).
            naptr("example.test", 10, "SIP+D2U", "_sip._udp.example.test"),
            naptr("example.test", 20, "SIPS+D2T", "_sips._tcp.example.test"),
            srv(
                "_sip._udp.example.test",
                "bob.example.test",
                bob.local_addr().port(),
                10,
            ),
            srv("_sips._tcp.example.test", "bob.example.test", tls_port, 10),
            host("bob.example.test"),
        ],
    )
    .await;
    let trace = common::Trace::default();
    let alice = UserAgent::builder()
        .tls(0)
        .tls_identity(&alice_id.0, &alice_id.1)
        .tls_roots(&bob_id.0)
        .dns_server(dns.addr)
        .on_message(trace.observer())
        .start()
        .await
        .unwrap();
    let mut incoming = bob.incoming().await.unwrap();
    let mut out = alice
        .call("sips:bob@example.test", sdp("alice"), None)
        .await
        .unwrap();
    let mut taken = timeout(STEP, incoming.next()).await.unwrap().unwrap();
    taken.answer(sdp("bob"), None).await.unwrap();
    wait_for(&mut out, "the answer", |e| {
        matches!(e, CallEvent::Answered { .. })
    })
    .await;
    out.bye().await.unwrap();
    assert_eq!(
        timeout(STEP, taken.ended()).await.unwrap(),
        Some(EndReason::RemoteBye)
    );
    let questions = dns.log();
    assert!(
        questions.contains("query[SRV] _sips._tcp.example.test"),
        "{questions}"
    );
    assert!(!questions.contains("query[SRV] _sip._udp"), "{questions}");
    assert!(
        trace.transports().iter().all(|t| *t == Transport::Tls),
        "{:?}\n{}",
        trace.transports(),
        trace.dump()
    );
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
    dns.stop();
}
