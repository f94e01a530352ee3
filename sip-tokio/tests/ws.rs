//! SIP over WebSocket (RFC 7118) between agents on loopback, ws and wss (certificates made
//! here with rcgen), and a raw WebSocket client poking at our listener: the `sip`
//! subprotocol, one message per frame, the size limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sip_core::sdp::SessionDescription;
use sip_tokio::{Call, CallEvent, CallState, EndReason, UserAgent};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const LIMIT: Duration = Duration::from_secs(10);

fn sdp(user: &str, ip: IpAddr, port: u16) -> Bytes {
    SessionDescription::simple_audio(user, 1, ip, port, &[0, 8, 101]).to_bytes()
}

/// A self-signed certificate for 127.0.0.1 (an IP SAN) and its key, both PEM.
fn certificate() -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

async fn wait_for<T>(call: &mut Call, mut pick: impl FnMut(&CallEvent) -> Option<T>) -> T {
    timeout(LIMIT, async {
        loop {
            let event = call.next_event().await.expect("call events ended early");
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    })
    .await
    .expect("timed out waiting for a call event")
}

/// An agent with a WebSocket listener (`ws://`) on a free port.
async fn ws_agent() -> UserAgent {
    UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .ws(0)
        .start()
        .await
        .unwrap()
}

/// An agent with a secure WebSocket listener (`wss://`) on a free port, presenting
/// `identity` and trusting `roots`.
async fn wss_agent(identity: &(String, String), roots: &[&str]) -> UserAgent {
    let mut builder = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .wss(0)
        .tls_identity(&identity.0, &identity.1);
    for root in roots {
        builder = builder.tls_roots(root);
    }
    builder.start().await.unwrap()
}

/// Alice calls `target`, Bob answers, then one of them hangs up: every message of the
/// call (INVITE, 200, ACK, BYE and its 200) over one connection each side.
async fn call_and_hang_up(alice: UserAgent, bob: UserAgent, target: String, bob_hangs_up: bool) {
    let mut incoming = bob.incoming().await.unwrap();
    let ip = bob.local_addr().ip();
    let mut out = alice.call(&target, sdp("alice", ip, 4000), None).await.unwrap();

    let mut inc = timeout(LIMIT, incoming.next()).await.unwrap().unwrap();
    assert!(inc.is_incoming());
    inc.answer(sdp("bob", ip, 5000), None).await.unwrap();
    wait_for(&mut out, |e| {
        matches!(e, CallEvent::Answered { .. }).then_some(())
    })
    .await;
    wait_for(&mut inc, |e| {
        matches!(e, CallEvent::Answered { .. }).then_some(())
    })
    .await;
    assert_eq!(out.state().await.unwrap(), CallState::Connected);
    assert_eq!(alice.connections().await.unwrap(), 1);
    assert_eq!(bob.connections().await.unwrap(), 1);

    let (hanging_up, other) = if bob_hangs_up {
        (&mut inc, &mut out)
    } else {
        (&mut out, &mut inc)
    };
    hanging_up.bye().await.unwrap();
    assert_eq!(
        timeout(LIMIT, other.ended()).await.unwrap(),
        Some(EndReason::RemoteBye)
    );
    assert_eq!(
        timeout(LIMIT, hanging_up.ended()).await.unwrap(),
        Some(EndReason::LocalBye)
    );
    // The BYE went over the call's connection: no other was opened, either way.
    assert_eq!(alice.connections().await.unwrap(), 1);
    assert_eq!(bob.connections().await.unwrap(), 1);

    timeout(LIMIT, alice.shutdown(Duration::from_secs(1)))
        .await
        .unwrap();
    timeout(LIMIT, bob.shutdown(Duration::from_secs(1)))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_call_over_ws_is_answered_and_hung_up_on_the_same_connection() {
    let alice = ws_agent().await;
    let bob = ws_agent().await;
    let target = format!("sip:bob@{};transport=ws", bob.ws_addr().unwrap());
    call_and_hang_up(alice, bob, target, false).await;
}

#[tokio::test]
async fn a_call_over_wss_is_answered_and_the_callee_hangs_up_on_the_same_connection() {
    let alice_id = certificate();
    let bob_id = certificate();
    let alice = wss_agent(&alice_id, &[&bob_id.0]).await;
    let bob = wss_agent(&bob_id, &[&alice_id.0]).await;
    let target = format!("sip:bob@{};transport=wss", bob.wss_addr().unwrap());
    call_and_hang_up(alice, bob, target, true).await;
}

#[tokio::test]
async fn a_sips_uri_with_transport_ws_goes_over_wss() {
    let alice_id = certificate();
    let bob_id = certificate();
    let alice = wss_agent(&alice_id, &[&bob_id.0]).await;
    let bob = wss_agent(&bob_id, &[&alice_id.0]).await;
    let target = format!("sips:bob@{};transport=ws", bob.wss_addr().unwrap());
    call_and_hang_up(alice, bob, target, false).await;
}

#[tokio::test]
async fn a_wss_server_with_an_untrusted_certificate_fails_the_call() {
    let bob_id = certificate();
    let stranger = certificate();
    let alice = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .tls_roots(&stranger.0)
        .start()
        .await
        .unwrap();
    let bob = wss_agent(&bob_id, &[]).await;
    let mut incoming = bob.incoming().await.unwrap();
    let target = format!("sip:bob@{};transport=wss", bob.wss_addr().unwrap());
    let mut call = alice.call(&target, Bytes::new(), None).await.unwrap();
    let reason = wait_for(&mut call, |e| match e {
        CallEvent::Terminated { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, EndReason::TransportError);
    assert!(
        timeout(Duration::from_millis(200), incoming.next())
            .await
            .is_err()
    );
    assert_eq!(bob.connections().await.unwrap(), 0);
    alice.shutdown(Duration::from_millis(200)).await;
    bob.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_ws_connect_to_a_closed_port_fails_the_call() {
    let alice = ws_agent().await;
    // A port nobody listens on (bound a moment ago, then let go).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut call = alice
        .call(&format!("sip:bob@{closed};transport=ws"), Bytes::new(), None)
        .await
        .unwrap();
    let reason = wait_for(&mut call, |e| match e {
        CallEvent::Terminated { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reason, EndReason::TransportError);
    assert_eq!(alice.connections().await.unwrap(), 0);
    alice.shutdown(Duration::from_millis(200)).await;
}

/// A raw WebSocket handshake with our listener at `addr`, offering `protocol` when given.
async fn raw_client(
    addr: SocketAddr,
    protocol: Option<&str>,
) -> Result<
    (
        tokio_tungstenite::WebSocketStream<TcpStream>,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    let mut request = format!("ws://{addr}/").into_client_request().unwrap();
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    }
    let stream = TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(request, stream).await
}

/// An OPTIONS as a browser writes it over WebSocket (RFC 7118 §5: an `.invalid` host).
fn options(branch: &str) -> String {
    format!(
        "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=f1\r\nTo: <sip:bob@127.0.0.1>\r\n\
         Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The next text frame, skipping control frames.
async fn next_text(ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>) -> String {
    timeout(LIMIT, async {
        loop {
            match ws.next().await.expect("a frame").expect("no error") {
                Message::Text(text) => return text.to_string(),
                Message::Binary(_) => panic!("a SIP message in a binary frame"),
                _ => {}
            }
        }
    })
    .await
    .expect("an answer in time")
}

#[tokio::test]
async fn a_handshake_without_the_sip_subprotocol_is_refused() {
    let bob = ws_agent().await;
    let addr = bob.ws_addr().unwrap();
    for offered in [None, Some("chat")] {
        match raw_client(addr, offered).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 400, "{offered:?}");
            }
            Err(other) => panic!("{offered:?}: refused, but not with 400: {other}"),
            Ok(_) => panic!("{offered:?}: a handshake without sip was taken"),
        }
    }
    // Nothing reached the core.
    assert_eq!(bob.connections().await.unwrap(), 0);

    // Offering sip among others, the server picks sip (RFC 7118 §4), and a request in a
    // text frame is answered in one text frame.
    let (mut ws, response) = raw_client(addr, Some("chat, sip")).await.unwrap();
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "sip");
    ws.send(Message::text(options("h1"))).await.unwrap();
    let answer = next_text(&mut ws).await;
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    assert!(answer.contains("received=127.0.0.1"), "{answer}");
    assert_eq!(bob.connections().await.unwrap(), 1);
    bob.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn an_oversize_frame_closes_the_connection_and_the_listener_goes_on() {
    let bob = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .ws(0)
        .start()
        .await
        .unwrap();
    let addr = bob.ws_addr().unwrap();
    let (mut ws, _) = raw_client(addr, Some("sip")).await.unwrap();
    // Past the default max_message_size (65,535 bytes).
    let huge = options("o1").replace(
        "Max-Forwards: 70",
        &format!("X-Pad: {}\r\nMax-Forwards: 70", "x".repeat(100_000)),
    );
    ws.send(Message::text(huge)).await.unwrap();
    // The server fails the connection: a close frame or an error, then nothing.
    let ended = timeout(LIMIT, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(Message::Close(_))) => {}
                Some(Ok(Message::Text(text))) => panic!("answered an oversize frame: {text}"),
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection stayed open");
    timeout(LIMIT, async {
        while bob.connections().await.unwrap() != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the flow is gone from the core");

    // The listener takes the next client as before.
    let (mut ws, _) = raw_client(addr, Some("sip")).await.unwrap();
    ws.send(Message::text(options("o2"))).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("SIP/2.0 200 "));
    bob.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_frame_that_is_not_one_message_gets_400_and_the_connection_stays() {
    let bob = ws_agent().await;
    let (mut ws, _) = raw_client(bob.ws_addr().unwrap(), Some("sip")).await.unwrap();
    // Two messages in one frame (RFC 7118 §3.2 allows one): not a message.
    ws.send(Message::text(options("t1") + &options("t2")))
        .await
        .unwrap();
    let answer = next_text(&mut ws).await;
    assert!(answer.starts_with("SIP/2.0 400 "), "{answer}");
    // The same connection carries the next request, in a binary frame this time.
    ws.send(Message::binary(options("t3").into_bytes()))
        .await
        .unwrap();
    let answer = next_text(&mut ws).await;
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    assert!(answer.contains("z9hG4bKt3"), "{answer}");
    bob.shutdown(Duration::from_millis(200)).await;
}

// ---- the sipua binary: `sipua call` ↔ `sipua listen` over TLS, WS and WSS ----

#[path = "interop/common.rs"]
mod common;

mod sipua {
    //! The `sipua` example binary of this build (built first: `cargo test --test ...`
    //! builds no examples), run under `timeout` in a process group of its own on
    //! 127.0.0.1 and free ports, stopped by its PID. Ignored by default (building the
    //! binary takes a while); `.ci/run` runs them with the interop tests.

    use std::time::Duration;

    use super::common::{free_port, run_sipua, scratch, sipua};

    /// How long any one step may take.
    const STEP: Duration = Duration::from_secs(20);

    /// `sipua listen --auto-answer` with the listener of `transport`, and `sipua call`
    /// to it with `--transport`: the call is answered, hung up by the caller after a
    /// moment, and its messages went over `transport` (the caller's trace shows its
    /// Via).
    pub(super) fn call_between_sipua_binaries(transport: &str, via: &str) {
        let binary = sipua();
        let dir = scratch(&format!("{transport}-certificate"));
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());

        let udp_port = free_port();
        let port = free_port();
        let port_flag = format!("--{transport}-port");
        let listener = run_sipua(
            &binary,
            &format!("{transport}-listen"),
            &[
                "listen",
                "--bind",
                &format!("127.0.0.1:{udp_port}"),
                "--transport",
                &format!("udp,{transport}"),
                &port_flag,
                &port.to_string(),
                "--cert",
                cert,
                "--key",
                key,
                "--auto-answer",
                "--duration",
                "60",
            ],
        );
        assert!(
            listener.wait_output(&format!(", {transport} 127.0.0.1:{port}"), STEP),
            "sipua listen did not start:\n{}",
            listener.log()
        );

        let mut caller = run_sipua(
            &binary,
            &format!("{transport}-call"),
            &[
                "--trace",
                "call",
                &format!("sip:bob@127.0.0.1:{port}"),
                "--transport",
                transport,
                "--ca",
                cert,
                "--hangup-after",
                "300",
            ],
        );
        let exited = caller.wait_exit(STEP);
        let call_log = caller.log();
        caller.stop();
        let ended = listener.wait_output(": ended (", STEP);
        let listen_log = listener.log();
        listener.stop();
        let context = format!("---- sipua call ----\n{call_log}\n---- sipua listen ----\n{listen_log}");
        assert_eq!(exited, Some(true), "{context}");
        assert!(call_log.contains("successful: 1, failed: 0"), "{context}");
        assert!(call_log.contains(&format!("Via: SIP/2.0/{via} ")), "{context}");
        assert!(listen_log.contains(": incoming from "), "{context}");
        assert!(ended, "{context}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
#[ignore = "runs the sipua example binary (cargo builds it first); run by .ci/run"]
fn sipua_call_reaches_sipua_listen_over_tls() {
    sipua::call_between_sipua_binaries("tls", "TLS");
}

#[test]
#[ignore = "runs the sipua example binary (cargo builds it first); run by .ci/run"]
fn sipua_call_reaches_sipua_listen_over_ws() {
    sipua::call_between_sipua_binaries("ws", "WS");
}

#[test]
#[ignore = "runs the sipua example binary (cargo builds it first); run by .ci/run"]
fn sipua_call_reaches_sipua_listen_over_wss() {
    sipua::call_between_sipua_binaries("wss", "WSS");
}
