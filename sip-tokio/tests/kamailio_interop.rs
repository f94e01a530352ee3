//! Interop with Kamailio (Debian's `kamailio`) as registrar and proxy, over loopback: our
//! agents register with digest authentication (401 over UDP, TCP, TLS, WS and WSS, a
//! wrong password, a refresh pre-authorized with the next nonce count), call each other
//! through it (the INVITE challenged with 407, the dialog record-routed through it, over
//! UDP, TCP, TLS and WS; a wrong password) and send MESSAGE through it (challenged with
//! 407 too).
//!
//! Over TLS (Kamailio's `tls` module, Debian's `kamailio-tls-modules`) the test makes
//! every certificate (rcgen, self-signed for 127.0.0.1) and writes Kamailio's `tls.cfg`:
//! our agents trust Kamailio's certificate through `tls_roots` (never the insecure test
//! mode, and one that trusts another certificate fails), and Kamailio, relaying a call to
//! our `sips:` Contact, verifies ours.
//!
//! Over WebSocket (RFC 7118; Kamailio's `websocket` module over `xhttp`, Debian's
//! `kamailio-websocket-modules`, with `nathelper` as its documentation has it) our agents
//! connect and listen for nothing, as browsers do: they register over `ws` and `wss`, and
//! a call between two of them connects through Kamailio only if it sends each request on
//! the connection the agent opened — the INVITE on the callee's registration connection,
//! the requests inside the dialog on the connection named by the alias Kamailio put in a
//! Contact (and from a UDP caller, Kamailio record-routing on both sides).
//!
//! Ignored by default; `.ci/run` installs Kamailio (`tests/interop/install-peers.sh`) and
//! runs them. Each test writes its own configuration (no database: usrloc in memory,
//! plain-text passwords checked with `pv_www_authenticate`/`pv_proxy_authenticate`), runs
//! Kamailio under `timeout` in a process group of its own on 127.0.0.1 and free ports,
//! and stops it by its PID (`interop/common.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "interop/common.rs"]
mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Kamailio, PASSWORD, STEP, Trace, has, sdp, wait_for};
use sip_tokio::{
    Builder, CallEvent, Direction, EndReason, Error, RegistrationEvent, StatusCode, Transport, UserAgent,
};
use tokio::time::timeout;

/// The builder of an agent for `user` at Kamailio's domain with `password`, on UDP.
fn builder(user: &str, password: &str, trace: &Trace) -> Builder {
    UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .identity(format!("sip:{user}@127.0.0.1"))
        .credentials(user, password)
        .on_message(trace.observer())
}

/// An agent for `user` at Kamailio's domain with `password`, UDP and, when `tcp`, TCP.
async fn agent(user: &str, password: &str, tcp: bool, trace: &Trace) -> UserAgent {
    builder(user, password, trace).tcp(tcp).start().await.unwrap()
}

/// An agent for `user` reaching `kamailio` over TLS, trusting Kamailio's certificate
/// (`tls_roots`: verified, not `tls_insecure_for_tests`) and, with an `identity`, listening
/// on TLS with it, for Kamailio to relay requests to its `sips:` Contact.
async fn tls_agent(
    user: &str,
    kamailio: &Kamailio,
    identity: Option<&(String, String)>,
    trace: &Trace,
) -> UserAgent {
    let mut builder = builder(user, PASSWORD, trace).tls_roots(kamailio.certificate());
    if let Some((cert, key)) = identity {
        builder = builder.tls(0).tls_identity(cert, key);
    }
    builder.start().await.unwrap()
}

/// Whether Kamailio's log says it took `method` over TLS (its `$pr` in our `request`
/// line).
fn kamailio_took_over_tls(kamailio: &Kamailio, method: &str) -> bool {
    !kamailio_took_from(kamailio, method, "tls").is_empty()
}

/// Where Kamailio took each `method` over `proto` from (`$si:$sp` of its `request` lines;
/// `$pr` is `udp`, `tcp`, `tls`, `ws` or `wss`).
fn kamailio_took_from(kamailio: &Kamailio, method: &str, proto: &str) -> Vec<String> {
    kamailio
        .log()
        .lines()
        .filter(|line| line.contains(&format!("request {method} ")))
        .filter_map(|line| line.split_once(&format!(" ({proto}) ")))
        .filter_map(|(before, _)| before.rsplit(" from ").next().map(str::to_owned))
        .collect()
}

/// Whether Kamailio relayed `method` to `user` with `source` (`IP:PORT`, where it took
/// a request over WebSocket from) as its destination: over that connection.
fn kamailio_relayed_on(kamailio: &Kamailio, method: &str, user: &str, source: &str) -> bool {
    let relaying = format!("relaying {method} to sip:{user}@");
    let via = format!(" via sip:{source};transport=ws");
    kamailio
        .log()
        .lines()
        .any(|line| line.contains(&relaying) && line.ends_with(&via))
}

/// How many WebSocket handshakes Kamailio accepted.
fn kamailio_handshakes(kamailio: &Kamailio) -> usize {
    kamailio.log().matches("WebSocket handshake from ").count()
}

/// Registers alice (password `secret`) at Kamailio over `transport`: challenged with 401,
/// registered with the credentials, then unregistered; over TCP, TLS, WS or WSS, every
/// message went that way, and over TLS, WS and WSS Kamailio says so too. Over WS and WSS
/// alice has no WebSocket listener: one connection of hers carries it all.
async fn register_with_digest(transport: Transport) {
    let name = format!("kamailio-reg-{}", transport.as_str().to_ascii_lowercase());
    let trace = Trace::default();
    let (kamailio, alice) = match transport {
        Transport::Tls => {
            let kamailio = Kamailio::start_tls(&name, &[]);
            let alice = tls_agent("alice", &kamailio, None, &trace).await;
            (kamailio, alice)
        }
        Transport::Ws => {
            let kamailio = Kamailio::start_ws(&name);
            let alice = agent("alice", PASSWORD, false, &trace).await;
            (kamailio, alice)
        }
        Transport::Wss => {
            let kamailio = Kamailio::start_wss(&name);
            let alice = tls_agent("alice", &kamailio, None, &trace).await;
            (kamailio, alice)
        }
        _ => {
            let kamailio = Kamailio::start(&name);
            let alice = agent("alice", PASSWORD, transport == Transport::Tcp, &trace).await;
            (kamailio, alice)
        }
    };
    let mut registration = alice
        .register(&kamailio.uri(transport), Some("sip:alice@127.0.0.1"), 300)
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
    if transport != Transport::Udp {
        assert_eq!(trace.transports(), [transport], "{}", context());
    }
    if transport == Transport::Tls {
        assert!(kamailio_took_over_tls(&kamailio, "REGISTER"), "{}", context());
    }
    if matches!(transport, Transport::Ws | Transport::Wss) {
        // Kamailio took the three REGISTERs (challenged, registered, unregistered) over
        // WebSocket, from one address: alice's one connection, after one handshake.
        let proto = transport.as_str().to_ascii_lowercase();
        let sources = kamailio_took_from(&kamailio, "REGISTER", &proto);
        assert_eq!(sources.len(), 3, "{sources:?}\n{}", context());
        assert!(
            sources.iter().all(|s| *s == sources[0]),
            "{sources:?}\n{}",
            context()
        );
        assert_eq!(kamailio_handshakes(&kamailio), 1, "{}", context());
        // Our Via says so, as the responses echo it back.
        let via = format!("Via: SIP/2.0/{} ", transport.as_str());
        for response in trace.messages(Direction::Received, "SIP/2.0 ") {
            assert!(
                response.lines().any(|l| l.starts_with(&via)),
                "{via}\n{}",
                context()
            );
        }
    }
    alice.shutdown(Duration::from_secs(1)).await;
    kamailio.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn register_with_digest_over_udp() {
    register_with_digest(Transport::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn register_with_digest_over_tcp() {
    register_with_digest(Transport::Tcp).await;
}

/// Kamailio on `sips:` with a certificate made here, which our agent trusts through
/// `tls_roots` alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio with kamailio-tls-modules; run by .ci/run"]
async fn register_with_digest_over_tls() {
    register_with_digest(Transport::Tls).await;
}

/// Kamailio's `websocket` module on a port of its own: alice reaches
/// `sip:127.0.0.1:PORT;transport=ws`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio with kamailio-websocket-modules; run by .ci/run"]
async fn register_with_digest_over_ws() {
    register_with_digest(Transport::Ws).await;
}

/// The same over `wss` (Kamailio's `tls` and `websocket` modules), Kamailio's certificate
/// trusted through `tls_roots`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio with kamailio-tls-modules and kamailio-websocket-modules; run by .ci/run"]
async fn register_with_digest_over_wss() {
    register_with_digest(Transport::Wss).await;
}

/// The other side of `register_with_digest_over_tls`: an agent that trusts some other
/// certificate, not Kamailio's, fails its handshake, so its REGISTER never reaches
/// Kamailio. The failure comes
/// from the transport, at once: well before Timer F (32 s) would end the REGISTER.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio with kamailio-tls-modules; run by .ci/run"]
async fn a_registration_over_tls_fails_when_kamailios_certificate_is_not_trusted() {
    let kamailio = Kamailio::start_tls("kamailio-reg-tls-untrusted", &[]);
    let trace = Trace::default();
    let stranger = common::certificate();
    let alice = builder("alice", PASSWORD, &trace)
        .tls_roots(&stranger.0)
        .start()
        .await
        .unwrap();
    let mut registration = alice
        .register(&kamailio.uri(Transport::Tls), Some("sip:alice@127.0.0.1"), 300)
        .await
        .unwrap();
    let context = || format!("{}\n---- kamailio ----\n{}", trace.dump(), kamailio.log());
    let outcome = timeout(STEP, registration.registered())
        .await
        .unwrap_or_else(|_| panic!("no outcome in time\n{}", context()));
    // No final status: `registered` calls that a timeout, though the transport failed.
    assert!(
        matches!(outcome, Err(Error::Timeout)),
        "{outcome:?}\n{}",
        context()
    );
    // Our trace shows the REGISTER as handed to the transport; no answer came, and
    // Kamailio never read a request.
    assert!(trace.start_lines(Direction::Received).is_empty(), "{}", context());
    assert!(!kamailio.log().contains("request REGISTER "), "{}", context());
    alice.shutdown(Duration::from_secs(1)).await;
    kamailio.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn a_wrong_password_fails_cleanly() {
    let kamailio = Kamailio::start("kamailio-wrong-password");
    let trace = Trace::default();
    let alice = agent("alice", "not-the-password", false, &trace).await;
    let mut registration = alice
        .register(&kamailio.uri(Transport::Udp), Some("sip:alice@127.0.0.1"), 300)
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
        .register(&kamailio.uri(Transport::Udp), Some("sip:alice@127.0.0.1"), 2)
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

/// Bob registers at Kamailio and answers; alice calls him through Kamailio, which
/// challenges her INVITE with 407; she answers it, bob answers the call, and she hangs up.
/// Both reach Kamailio over `transport`; over TLS, Kamailio relays to bob's `sips:`
/// Contact over TLS too (a connection of its own to bob's TLS listener, whose certificate
/// it verifies), and every message of either agent went over TLS.
async fn call_through_kamailio(transport: Transport) {
    let name = format!("kamailio-call-{}", transport.as_str().to_ascii_lowercase());
    let bobs_trace = Trace::default();
    let alices_trace = Trace::default();
    let (kamailio, bob, alice) = match transport {
        Transport::Tls => {
            let (bobs_id, alices_id) = (common::certificate(), common::certificate());
            let kamailio = Kamailio::start_tls(&name, &[&bobs_id.0, &alices_id.0]);
            let bob = tls_agent("bob", &kamailio, Some(&bobs_id), &bobs_trace).await;
            let alice = tls_agent("alice", &kamailio, Some(&alices_id), &alices_trace).await;
            (kamailio, bob, alice)
        }
        _ => {
            let tcp = transport == Transport::Tcp;
            let kamailio = Kamailio::start(&name);
            let bob = agent("bob", PASSWORD, tcp, &bobs_trace).await;
            let alice = agent("alice", PASSWORD, tcp, &alices_trace).await;
            (kamailio, bob, alice)
        }
    };
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
        .register(&kamailio.uri(transport), Some("sip:bob@127.0.0.1"), 300)
        .await
        .unwrap();
    let registered = timeout(STEP, registration.registered()).await.expect("in time");
    assert!(registered.is_ok(), "{registered:?}\n{}", context());

    let mut call = alice
        .call(&kamailio.user("bob", transport), sdp("alice"), None)
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

    if transport == Transport::Tls {
        // Kamailio took the INVITE and the BYE over TLS, and relayed them to bob over TLS:
        // its own Via, on top, names its TLS listener.
        for method in ["INVITE", "BYE"] {
            assert!(
                kamailio_took_over_tls(&kamailio, method),
                "{method}\n{}",
                context()
            );
            let relayed = bobs_trace.messages(Direction::Received, &format!("{method} "));
            let via = format!("Via: SIP/2.0/TLS 127.0.0.1:{};", kamailio.tls_port());
            assert!(
                relayed.iter().any(|m| m
                    .lines()
                    .find(|l| l.starts_with("Via:"))
                    .is_some_and(|l| l.starts_with(&via))),
                "{method}: {via}\n{}",
                context()
            );
        }
        assert_eq!(alices_trace.transports(), [Transport::Tls], "{}", context());
        assert_eq!(bobs_trace.transports(), [Transport::Tls], "{}", context());
    }

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
    call_through_kamailio(Transport::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio; run by .ci/run"]
async fn a_call_through_kamailio_over_tcp_is_challenged_and_connects() {
    call_through_kamailio(Transport::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio with kamailio-tls-modules; run by .ci/run"]
async fn a_call_through_kamailio_over_tls_is_challenged_and_connects() {
    call_through_kamailio(Transport::Tls).await;
}

/// Bob reaches Kamailio over WebSocket and alice over `alices` (WS or UDP), one
/// connection each over WS, and neither listens for WebSocket (as browsers: a WebSocket
/// client cannot be connected to). Bob registers; alice calls him through Kamailio
/// (challenged with 407); Kamailio finds bob's binding and sends the INVITE on the
/// connection his REGISTER came on, bob answers, and bob hangs up: his BYE reaches alice —
/// who never registered — over WS on her connection (the alias Kamailio put in her
/// Contact), over UDP at her Contact.
async fn call_through_kamailio_to_ws(alices: Transport) {
    let name = format!("kamailio-call-{}-ws", alices.as_str().to_ascii_lowercase());
    let alices_proto = alices.as_str().to_ascii_lowercase();
    let kamailio = Kamailio::start_ws(&name);
    let bobs_trace = Trace::default();
    let alices_trace = Trace::default();
    let bob = agent("bob", PASSWORD, false, &bobs_trace).await;
    let alice = agent("alice", PASSWORD, false, &alices_trace).await;
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
        .register(&kamailio.uri(Transport::Ws), Some("sip:bob@127.0.0.1"), 300)
        .await
        .unwrap();
    let registered = timeout(STEP, registration.registered()).await.expect("in time");
    assert!(registered.is_ok(), "{registered:?}\n{}", context());
    // Where bob's connection is, as Kamailio sees it.
    let bobs_connection = kamailio_took_from(&kamailio, "REGISTER", "ws")
        .pop()
        .unwrap_or_else(|| panic!("no REGISTER over ws\n{}", context()));

    let mut call = alice
        .call(&kamailio.user("bob", alices), sdp("alice"), None)
        .await
        .unwrap();
    let mut bobs_call = timeout(STEP, incoming.next())
        .await
        .unwrap_or_else(|_| panic!("bob got no call\n{}", context()))
        .expect("an incoming call");
    bobs_call.answer(sdp("bob"), None).await.unwrap();
    wait_for(&mut call, "answer", |e| matches!(e, CallEvent::Answered { .. })).await;
    wait_for(&mut bobs_call, "ACK", |e| matches!(e, CallEvent::Answered { .. })).await;
    assert!(
        has(&alices_trace.start_lines(Direction::Received), "SIP/2.0 407"),
        "{}",
        context()
    );
    // Kamailio relayed the INVITE to bob's binding's source (his connection), and the
    // ACK there too (the alias in bob's Contact).
    for method in ["INVITE", "ACK"] {
        assert!(
            kamailio_relayed_on(&kamailio, method, "bob", &bobs_connection),
            "{method} on {bobs_connection}\n{}",
            context()
        );
    }
    // Where alice's connection is: both her INVITEs (the challenged one and the one with
    // credentials) came from there, not from bob's.
    let invites = kamailio_took_from(&kamailio, "INVITE", &alices_proto);
    assert_eq!(invites.len(), 2, "{invites:?}\n{}", context());
    let alices_connection = invites[0].clone();
    assert!(
        invites[1] == alices_connection && alices_connection != bobs_connection,
        "{invites:?}\n{}",
        context()
    );

    bobs_call.hangup().await.unwrap();
    assert_eq!(
        timeout(STEP, bobs_call.ended()).await.expect("bob's call ends"),
        Some(EndReason::LocalBye),
        "{}",
        context()
    );
    assert_eq!(
        timeout(STEP, call.ended()).await.expect("alice's call ends"),
        Some(EndReason::RemoteBye),
        "{}",
        context()
    );

    // Bob's BYE came on his connection and went to alice on hers (the alias in her
    // Contact).
    assert_eq!(
        kamailio_took_from(&kamailio, "BYE", "ws"),
        std::slice::from_ref(&bobs_connection),
        "{}",
        context()
    );
    if alices == Transport::Udp {
        // Kamailio record-routed the call on both sides: its WebSocket address for bob,
        // its UDP one for alice.
        let invite = bobs_trace.messages(Direction::Received, "INVITE ");
        let record_route: String = invite
            .first()
            .map(|m| m.lines().filter(|l| l.starts_with("Record-Route:")).collect())
            .unwrap_or_default();
        for side in [
            format!("sip:127.0.0.1:{};transport=ws;", kamailio.ws_port()),
            format!("sip:127.0.0.1:{};", kamailio.port),
        ] {
            assert!(record_route.contains(&side), "{side}\n{}", context());
        }
    }
    if alices == Transport::Ws {
        assert!(
            kamailio_relayed_on(&kamailio, "BYE", "alice", &alices_connection),
            "BYE on {alices_connection}\n{}",
            context()
        );
    }
    // Every message of either went over its transport, on the one connection each opened
    // over WS (alice's ACK came from where her INVITEs did): a handshake for each.
    assert_eq!(alices_trace.transports(), [alices], "{}", context());
    assert_eq!(bobs_trace.transports(), [Transport::Ws], "{}", context());
    let acks = kamailio_took_from(&kamailio, "ACK", &alices_proto);
    assert!(
        !acks.is_empty() && acks.iter().all(|a| *a == alices_connection),
        "{acks:?}\n{}",
        context()
    );
    let handshakes = if alices == Transport::Ws { 2 } else { 1 };
    assert_eq!(kamailio_handshakes(&kamailio), handshakes, "{}", context());

    let unregistered = timeout(STEP, registration.unregister()).await.expect("in time");
    assert!(unregistered.is_ok(), "{unregistered:?}\n{}", context());
    for ua in [alice, bob] {
        ua.shutdown(Duration::from_secs(1)).await;
    }
    kamailio.stop();
}

/// Both on WebSocket, so that Kamailio must deliver requests inside the dialog to a
/// WebSocket client both ways: the ACK to bob, the BYE to alice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio with kamailio-websocket-modules; run by .ci/run"]
async fn a_call_through_kamailio_over_ws_connects() {
    call_through_kamailio_to_ws(Transport::Ws).await;
}

/// Alice on UDP: Kamailio bridges UDP and WebSocket, record-routing the call on both (two
/// Record-Route entries, one per side), and bob's BYE goes out over UDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio with kamailio-websocket-modules; run by .ci/run"]
async fn a_call_from_udp_through_kamailio_to_ws_connects() {
    call_through_kamailio_to_ws(Transport::Udp).await;
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
        .call(&kamailio.user("bob", Transport::Udp), sdp("alice"), None)
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
        .register(&kamailio.uri(Transport::Udp), Some("sip:bob@127.0.0.1"), 300)
        .await
        .unwrap();
    let registered = timeout(STEP, registration.registered()).await.expect("in time");
    assert!(registered.is_ok(), "{registered:?}\n{}", context());

    let status = timeout(
        STEP,
        alice.message(
            &kamailio.user("bob", Transport::Udp),
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
