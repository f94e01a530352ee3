//! Registration interop over loopback: baresip registering at our registrar
//! (`sip_tokio::registrar`, what `sipua registrar` runs), baresip registered at Kamailio
//! calling our agent registered there too, and the `sipua` example binary as registrar and
//! as client over TCP.
//!
//! | peer | role | against |
//! |---|---|---|
//! | baresip | registering client (digest, UDP) | our registrar, offering MD5 alone (baresip 1.0 knows no other) |
//! | baresip + Kamailio | caller registered at Kamailio, INVITE challenged with 407 | our agent registered at Kamailio, answering |
//! | `sipua register` | registering client (digest, TCP) | `sipua registrar` |
//!
//! Ignored by default; `.ci/run` installs the peers (`tests/interop/install-peers.sh`) and
//! runs them. Each peer runs under `timeout`, in a process group of its own, on 127.0.0.1
//! and a free port, and is stopped by its PID (the launchers, shared with the other
//! interop tests, are in `interop/common.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "interop/common.rs"]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Kamailio, PASSWORD, STEP, Trace, baresip, free_port, run_sipua, sipua, wait_for};
use sip_core::sdp::SessionDescription;
use sip_tokio::registrar::{Registrar, RegistrarOptions, RegistrarReport};
use sip_tokio::{CallEvent, EndReason, Transport, UserAgent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// baresip's `ctrl_tcp` socket: commands and events as netstring-framed JSON.
struct Ctrl {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
    /// Every frame received so far.
    seen: Vec<String>,
}

impl Ctrl {
    /// Connects, retrying while baresip starts.
    async fn connect(port: u16) -> Ctrl {
        for _ in 0..100 {
            if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                return Ctrl {
                    stream,
                    buf: Vec::new(),
                    seen: Vec::new(),
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("baresip's ctrl_tcp does not listen on {port}");
    }

    /// Sends `command` with `params` (no quotes or backslashes in either).
    async fn send(&mut self, command: &str, params: &str) {
        let json = format!(r#"{{"command":"{command}","params":"{params}","token":"t"}}"#);
        let frame = format!("{}:{json},", json.len());
        self.stream.write_all(frame.as_bytes()).await.unwrap();
    }

    /// The next whole frame, or `None` when the socket closes.
    async fn frame(&mut self) -> Option<String> {
        loop {
            if let Some(colon) = self.buf.iter().position(|&b| b == b':') {
                let len: usize = String::from_utf8_lossy(&self.buf[..colon])
                    .trim()
                    .parse()
                    .unwrap();
                if self.buf.len() > colon + len + 1 {
                    let frame = String::from_utf8_lossy(&self.buf[colon + 1..colon + 1 + len]).into_owned();
                    self.buf.drain(..colon + len + 2);
                    return Some(frame);
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Waits for an event of type `kind` (`CALL_ESTABLISHED`, `REGISTER_OK`, ...); whether
    /// it came in time.
    async fn event(&mut self, kind: &str) -> bool {
        let want = format!(r#""type":"{kind}""#);
        timeout(STEP, async {
            while let Some(frame) = self.frame().await {
                let found = frame.replace(' ', "").contains(&want);
                self.seen.push(frame);
                if found {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false)
    }
}

/// What our registrar prints, shared with the test.
#[derive(Clone, Default)]
struct Printed(Arc<Mutex<Vec<u8>>>);

impl Write for Printed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Printed {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Polls `check` every 100 ms for up to `within`; whether it came true.
async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check()
}

/// baresip registers as bob at our registrar with digest: challenged with 401, then
/// accepted with its credentials; the binding is there while it stays registered.
///
/// baresip 1.0 (libre 1.1) knows MD5 only, and refuses a whole 401 when any challenge in
/// it is not MD5 ("Register: Function not implemented"): the registrar offers MD5 alone
/// here (`RegistrarOptions::algorithms`; `sipua registrar --digest md5`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs baresip; run by .ci/run"]
async fn baresip_registers_at_sipua_registrar() {
    let registrar = Registrar::bind(RegistrarOptions {
        users: vec![("bob".into(), PASSWORD.into())],
        realm: "sip-rs".into(),
        // baresip 1.0 (libre 1.1) refuses a 401 offering anything but MD5.
        algorithms: vec![sip_core::auth::DigestAlgorithm::Md5],
        ..Default::default()
    })
    .await
    .unwrap();
    let at = registrar.local_addr();
    let printed = Printed::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(registrar.run(printed.clone(), async {
        let _ = stopped.await;
    }));

    let peer = baresip(
        "baresip-reg",
        free_port(),
        &format!(
            "<sip:bob@127.0.0.1:{}>;auth_pass={PASSWORD};regint=60;audio_codecs=PCMU",
            at.port()
        ),
        None,
    );
    let bound = eventually(STEP, || {
        printed
            .text()
            .contains("REGISTER sip:bob@127.0.0.1: 200, 1 binding(s)")
    })
    .await;
    // Stopped while baresip is still registered: the binding is left.
    let _ = stop.send(());
    let report: RegistrarReport = served.await.unwrap();
    let context = format!(
        "{report:?}\n---- registrar ----\n{}\n---- baresip ----\n{}",
        printed.text(),
        peer.log()
    );
    assert!(bound, "baresip was not bound in time\n{context}");
    assert!(report.challenged >= 1, "{context}");
    assert!(report.accepted >= 1, "{context}");
    assert_eq!(report.refused, 0, "{context}");
    assert_eq!(report.bindings, 1, "{context}");
    assert!(peer.log().contains("200 OK () [1 binding]"), "{context}");
    peer.stop();
}

// ---- Kamailio ----

/// Our bob registers at Kamailio (digest, 401) and answers; baresip registers there as
/// alice and dials bob through Kamailio, which challenges its INVITE with 407 and, with
/// its credentials, relays it to us; bob answers, then hangs up (the BYE through Kamailio,
/// which record-routed the call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs baresip and kamailio; run by .ci/run"]
async fn baresip_registered_at_kamailio_calls_us_there() {
    let kamailio = Kamailio::start("kamailio-baresip");
    let trace = Trace::default();
    let bob = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .identity("sip:bob@127.0.0.1")
        .credentials("bob", PASSWORD)
        .on_message(trace.observer())
        .start()
        .await
        .unwrap();
    let mut incoming = bob.incoming().await.unwrap();
    let mut registration = bob
        .register(&kamailio.uri(Transport::Udp), Some("sip:bob@127.0.0.1"), 300)
        .await
        .unwrap();
    let registered = timeout(STEP, registration.registered()).await.expect("in time");
    assert!(
        registered.is_ok(),
        "{registered:?}\n{}\n---- kamailio ----\n{}",
        trace.dump(),
        kamailio.log()
    );

    // Where baresip's RTP lands (our SDP's port): a socket nobody reads, so that its RTP
    // draws no ICMP port-unreachable.
    let media = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sdp = SessionDescription::simple_audio(
        "bob",
        1,
        "127.0.0.1".parse().unwrap(),
        media.local_addr().unwrap().port(),
        &[0, 8],
    )
    .to_bytes();

    let ctrl_port = free_port();
    let peer = baresip(
        "baresip-alice",
        free_port(),
        &format!(
            "<sip:alice@127.0.0.1:{}>;auth_pass={PASSWORD};regint=60;audio_codecs=PCMU",
            kamailio.port
        ),
        Some(ctrl_port),
    );
    let mut ctrl = Ctrl::connect(ctrl_port).await;
    let context = |ctrl: &Ctrl| {
        format!(
            "---- baresip ctrl ----\n{}\n---- baresip ----\n{}\n---- bob ----\n{}\n---- kamailio ----\n{}",
            ctrl.seen.join("\n"),
            peer.log(),
            trace.dump(),
            kamailio.log()
        )
    };
    // Its REGISTER_OK event may come before the control connection does: its log says.
    let alice_registered = eventually(STEP, || peer.log().contains("200 OK (kamailio")).await;
    assert!(alice_registered, "baresip did not register\n{}", context(&ctrl));

    ctrl.send("dial", &kamailio.user("bob", Transport::Udp)).await;
    let Ok(Some(mut call)) = timeout(STEP, incoming.next()).await else {
        panic!("bob got no call\n{}", context(&ctrl));
    };
    call.answer(sdp, None).await.unwrap();
    wait_for(&mut call, "ACK", |e| matches!(e, CallEvent::Answered { .. })).await;
    let established = ctrl.event("CALL_ESTABLISHED").await;
    assert!(established, "baresip's call not established\n{}", context(&ctrl));

    tokio::time::sleep(Duration::from_millis(500)).await;
    call.hangup().await.unwrap();
    let ended = timeout(STEP, call.ended()).await.expect("bob's call ends");
    assert_eq!(ended, Some(EndReason::LocalBye), "{}", context(&ctrl));
    let closed = ctrl.event("CALL_CLOSED").await;
    assert!(closed, "baresip's call not closed\n{}", context(&ctrl));

    // Kamailio challenged baresip's INVITE, and the BYE went through it.
    let log = peer.log();
    assert!(log.contains("SIP/2.0 407 "), "{}", context(&ctrl));
    assert!(log.contains("Proxy-Authorization: Digest"), "{}", context(&ctrl));
    assert!(kamailio.log().contains("request BYE "), "{}", context(&ctrl));
    assert!(log.contains("\nBYE sip:alice-"), "{}", context(&ctrl));
    // The INVITE bob got came through Kamailio, record-routed.
    let dump = trace.dump();
    assert!(dump.contains("Record-Route: "), "{}", context(&ctrl));

    let unregistered = timeout(STEP, registration.unregister()).await.expect("in time");
    assert!(unregistered.is_ok(), "{unregistered:?}\n{}", context(&ctrl));
    drop(ctrl);
    peer.stop();
    bob.shutdown(Duration::from_secs(1)).await;
    kamailio.stop();
}

// ---- the sipua binary ----

/// `sipua register --transport tcp` registers bob at `sipua registrar --transport tcp`
/// (challenged, then accepted), stays registered for a moment and unregisters; the
/// registrar, stopped with Ctrl-C, counts both and no binding left.
#[test]
#[ignore = "runs the sipua example binary (cargo builds it first); run by .ci/run"]
fn our_client_registers_at_sipua_registrar_over_tcp_with_the_sipua_binary() {
    let binary = sipua();
    let port = free_port();
    let registrar = run_sipua(
        &binary,
        "sipua-registrar",
        &[
            "registrar",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--transport",
            "tcp",
            "--user",
            &format!("bob:{PASSWORD}"),
        ],
    );
    let until = Instant::now() + STEP;
    while !registrar.log().contains("registrar on ") {
        assert!(
            Instant::now() < until,
            "the registrar did not start:\n{}",
            registrar.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let registrar_uri = format!("sip:127.0.0.1:{port}");
    let mut client = run_sipua(
        &binary,
        "sipua-register",
        &[
            "register",
            &registrar_uri,
            "--transport",
            "tcp",
            "--aor",
            "sip:bob@127.0.0.1",
            "--expires",
            "600",
            "--user",
            "bob",
            "--password",
            PASSWORD,
            "--duration",
            "1",
        ],
    );
    let exited = client.wait_exit(STEP);
    let client_log = client.log();
    client.stop();
    let (registrar_exited, registrar_log) = registrar.interrupt();
    let context =
        format!("---- sipua register ----\n{client_log}\n---- sipua registrar ----\n{registrar_log}");
    assert_eq!(exited, Some(true), "{context}");
    assert_eq!(
        registrar_exited,
        Some(true),
        "the registrar did not stop on Ctrl-C\n{context}"
    );
    assert!(
        client_log.contains(&format!(
            "registered sip:bob@127.0.0.1 at {registrar_uri};transport=tcp for 600 s"
        )),
        "{context}"
    );
    assert!(client_log.contains("unregistered"), "{context}");
    assert!(registrar_log.contains("([Udp, Tcp])"), "{context}");
    assert!(
        registrar_log.contains("REGISTER sip:bob@127.0.0.1: challenged"),
        "{context}"
    );
    assert!(
        registrar_log.contains("REGISTER sip:bob@127.0.0.1: 200, 1 binding(s)"),
        "{context}"
    );
    assert!(
        registrar_log.contains("REGISTER sip:bob@127.0.0.1: 200, 0 binding(s)"),
        "{context}"
    );
    assert!(registrar_log.contains("refused 0, "), "{context}");
    assert!(registrar_log.contains("bindings left 0"), "{context}");
    assert!(registrar_log.contains("accepted 2, "), "{context}");
}
