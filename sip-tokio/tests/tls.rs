//! Calls over TLS between two user agents on loopback, with certificates made here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use sip_core::sdp::SessionDescription;
use sip_tokio::{Call, CallEvent, CallState, EndReason, UserAgent};
use tokio::time::timeout;

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

/// An agent with a TLS listener on a free port, presenting `identity`, trusting `roots`.
async fn agent(identity: &(String, String), roots: &[&str]) -> UserAgent {
    let mut builder = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .t1(Duration::from_millis(100))
        .tls(0)
        .tls_identity(&identity.0, &identity.1);
    for root in roots {
        builder = builder.tls_roots(root);
    }
    builder.start().await.unwrap()
}

/// Alice calls Bob at `target_of(bob)` (his TLS listener), Bob answers, one of them hangs
/// up.
async fn call_and_hang_up(target_of: impl Fn(&UserAgent) -> String, bob_hangs_up: bool) {
    let alice_id = certificate();
    let bob_id = certificate();
    let alice = agent(&alice_id, &[&bob_id.0]).await;
    let bob = agent(&bob_id, &[&alice_id.0]).await;
    let mut incoming = bob.incoming().await.unwrap();
    let ip = bob.local_addr().ip();
    let target = target_of(&bob);
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
    // INVITE, its answer and the ACK shared one connection.
    assert_eq!(alice.connections().await.unwrap(), 1);
    assert_eq!(bob.connections().await.unwrap(), 1);

    if bob_hangs_up {
        inc.bye().await.unwrap();
        assert_eq!(
            timeout(LIMIT, out.ended()).await.unwrap(),
            Some(EndReason::RemoteBye)
        );
        assert_eq!(
            timeout(LIMIT, inc.ended()).await.unwrap(),
            Some(EndReason::LocalBye)
        );
    } else {
        out.bye().await.unwrap();
        assert_eq!(
            timeout(LIMIT, inc.ended()).await.unwrap(),
            Some(EndReason::RemoteBye)
        );
        assert_eq!(
            timeout(LIMIT, out.ended()).await.unwrap(),
            Some(EndReason::LocalBye)
        );
        // Alice's BYE went to Bob's Contact, his listener: the same connection.
        assert_eq!(alice.connections().await.unwrap(), 1);
    }

    timeout(LIMIT, alice.shutdown(Duration::from_secs(1)))
        .await
        .unwrap();
    timeout(LIMIT, bob.shutdown(Duration::from_secs(1)))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_call_to_a_sips_uri_goes_over_tls() {
    call_and_hang_up(|bob| format!("sips:bob@{}", bob.tls_addr().unwrap()), false).await;
}

#[tokio::test]
async fn a_call_with_transport_tls_goes_over_tls() {
    call_and_hang_up(
        |bob| format!("sip:bob@{};transport=tls", bob.tls_addr().unwrap()),
        false,
    )
    .await;
}

#[tokio::test]
async fn the_callee_hangs_up_over_tls_to_the_callers_contact() {
    call_and_hang_up(|bob| format!("sips:bob@{}", bob.tls_addr().unwrap()), true).await;
}

#[tokio::test]
async fn identity_and_roots_from_pem_files() {
    let bob_id = certificate();
    let dir = std::env::temp_dir().join(format!("sip-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("bob.pem"), dir.join("bob.key"));
    std::fs::write(&cert, &bob_id.0).unwrap();
    std::fs::write(&key, &bob_id.1).unwrap();
    let bob = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .tls(0)
        .tls_identity_files(&cert, &key)
        .start()
        .await
        .unwrap();
    let alice = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .tls_roots(std::fs::read(&cert).unwrap())
        .start()
        .await
        .unwrap();
    let mut incoming = bob.incoming().await.unwrap();
    let target = format!("sips:bob@{}", bob.tls_addr().unwrap());
    let _out = alice.call(&target, Bytes::new(), None).await.unwrap();
    let inc = timeout(LIMIT, incoming.next()).await.unwrap().unwrap();
    assert!(inc.is_incoming());
    alice.shutdown(Duration::from_millis(200)).await;
    bob.shutdown(Duration::from_millis(200)).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_untrusted_server_certificate_fails_the_call() {
    let alice_id = certificate();
    let bob_id = certificate();
    let stranger = certificate();
    // Alice trusts someone else's certificate, not Bob's.
    let alice = agent(&alice_id, &[&stranger.0]).await;
    let bob = agent(&bob_id, &[&alice_id.0]).await;
    let mut incoming = bob.incoming().await.unwrap();
    let target = format!("sips:bob@{}", bob.tls_addr().unwrap());
    let mut call = alice.call(&target, Bytes::new(), None).await.unwrap();
    let reason = timeout(LIMIT, async {
        loop {
            if let CallEvent::Terminated { reason, .. } =
                call.next_event().await.expect("events until the end")
            {
                return reason;
            }
        }
    })
    .await
    .expect("the call ends");
    assert_eq!(reason, EndReason::TransportError);
    // The handshake failed: nothing reached Bob.
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
async fn insecure_for_tests_takes_any_certificate() {
    let bob_id = certificate();
    let alice = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .tls_insecure_for_tests()
        .start()
        .await
        .unwrap();
    let bob = agent(&bob_id, &[]).await;
    let mut incoming = bob.incoming().await.unwrap();
    let target = format!("sip:bob@{};transport=tls", bob.tls_addr().unwrap());
    let _out = alice.call(&target, Bytes::new(), None).await.unwrap();
    let inc = timeout(LIMIT, incoming.next()).await.unwrap().unwrap();
    assert!(inc.is_incoming());
    alice.shutdown(Duration::from_millis(200)).await;
    bob.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_tls_listener_without_an_identity_is_refused() {
    let result = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .tls(0)
        .start()
        .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn the_invite_names_our_tls_listener_in_via_and_contact() {
    use std::sync::{Arc, Mutex};

    let alice_id = certificate();
    let bob_id = certificate();
    let sent: Arc<Mutex<Vec<(sip_core::endpoint::Transport, String)>>> = Arc::default();
    let seen = sent.clone();
    let alice = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .tls(0)
        .tls_identity(&alice_id.0, &alice_id.1)
        .tls_roots(&bob_id.0)
        .on_message(move |trace| {
            if trace.direction == sip_tokio::Direction::Sent {
                let text = String::from_utf8_lossy(trace.payload).into_owned();
                seen.lock().unwrap().push((trace.transport, text));
            }
        })
        .start()
        .await
        .unwrap();
    let bob = agent(&bob_id, &[&alice_id.0]).await;
    let mut incoming = bob.incoming().await.unwrap();
    let target = format!("sips:bob@{}", bob.tls_addr().unwrap());
    let _out = alice.call(&target, Bytes::new(), None).await.unwrap();
    let _inc = timeout(LIMIT, incoming.next()).await.unwrap().unwrap();

    let tls = alice.tls_addr().unwrap();
    assert_ne!(tls.port(), alice.local_addr().port());
    let sent = sent.lock().unwrap().clone();
    let (transport, invite) = sent
        .iter()
        .find(|(_, text)| text.starts_with("INVITE "))
        .expect("an INVITE was sent");
    assert_eq!(*transport, sip_core::endpoint::Transport::Tls);
    assert!(invite.contains(&format!("Via: SIP/2.0/TLS {tls};")), "{invite}");
    assert!(invite.contains(&format!("Contact: <sips:{tls}>")), "{invite}");
    alice.shutdown(Duration::from_millis(200)).await;
    bob.shutdown(Duration::from_millis(200)).await;
}

#[test]
fn the_transport_of_a_target() {
    use sip_core::dialog::uri_socket_addr;
    use sip_core::endpoint::Transport;
    use sip_core::message::Uri;
    use sip_core::transport::uri_transport;

    let transport = |text: &str| uri_transport(&Uri::parse(text).unwrap());
    assert_eq!(transport("sip:bob@127.0.0.1"), Transport::Udp);
    assert_eq!(transport("sip:bob@127.0.0.1;transport=tcp"), Transport::Tcp);
    assert_eq!(transport("sip:bob@127.0.0.1;transport=TLS"), Transport::Tls);
    assert_eq!(transport("sips:bob@127.0.0.1"), Transport::Tls);
    // sips: is never sent over an insecure transport.
    assert_eq!(transport("sips:bob@127.0.0.1;transport=tcp"), Transport::Tls);
    assert_eq!(transport("sips:bob@127.0.0.1;transport=udp"), Transport::Tls);
    assert_eq!(
        uri_socket_addr(&Uri::parse("sips:bob@127.0.0.1").unwrap()),
        Some("127.0.0.1:5061".parse().unwrap())
    );
}
