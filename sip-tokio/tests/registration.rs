//! Registration and instant messages over real sockets: `UserAgent::register` against a
//! registrar written here in a few lines on a UDP socket (it answers each REGISTER from a
//! script), and `UserAgent::message` between two agents. The protocol is the core's,
//! checked in the simulator; here, that the handles carry it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_core::message::{HeaderName, Message, StatusCode, response_to};
use sip_tokio::{EndReason, Error, RegistrationEvent, UserAgent};
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// A registrar on a UDP socket: answers the n-th REGISTER with `script[n]` (the last for
/// every later one), echoing its Contact with `expires=<granted>`; sends the Expires values
/// it saw to `seen`.
async fn registrar(script: Vec<(u16, u32)>) -> (std::net::SocketAddr, tokio::sync::mpsc::Receiver<String>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        let mut n = 0;
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            let Ok(Message::Request(request)) = Message::parse(Bytes::copy_from_slice(&buf[..len])) else {
                continue;
            };
            let expires = request.headers.get(HeaderName::Expires).unwrap_or("-").to_owned();
            let _ = tx.send(expires).await;
            let (status, granted) = script[n.min(script.len() - 1)];
            n += 1;
            let mut response = response_to(&request, StatusCode::new(status).unwrap(), None, Some("r1"));
            if let Some(contact) = request.headers.get(HeaderName::Contact) {
                response
                    .headers
                    .push(HeaderName::Contact, format!("{contact};expires={granted}"));
            }
            if status == 423 {
                response.headers.push(HeaderName::MinExpires, granted.to_string());
            }
            let _ = socket.send_to(&response.to_bytes(), from).await;
        }
    });
    (addr, rx)
}

async fn agent() -> UserAgent {
    UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .identity("sip:alice@example.com")
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn register_refreshes_and_unregisters() {
    let (at, mut seen) = registrar(vec![(423, 120), (200, 120)]).await;
    let alice = agent().await;
    let mut registration = alice.register(&format!("sip:{at}"), None, 60).await.unwrap();
    let expires = timeout(Duration::from_secs(5), registration.registered())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(expires, 120, "asked again with Min-Expires after 423");
    assert_eq!(seen.recv().await.unwrap(), "60");
    assert_eq!(seen.recv().await.unwrap(), "120");
    timeout(Duration::from_secs(5), registration.unregister())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.recv().await.unwrap(), "0");
    alice.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_refused_registration_reports_the_status() {
    let (at, _seen) = registrar(vec![(403, 0)]).await;
    let alice = agent().await;
    let mut registration = alice.register(&format!("sip:{at}"), None, 60).await.unwrap();
    let result = timeout(Duration::from_secs(5), registration.registered())
        .await
        .unwrap();
    assert!(matches!(result, Err(Error::Rejected(status)) if status.as_u16() == 403));
    alice.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn shutdown_unregisters_first() {
    let (at, mut seen) = registrar(vec![(200, 3600)]).await;
    let alice = agent().await;
    let mut registration = alice.register(&format!("sip:{at}"), None, 3600).await.unwrap();
    timeout(Duration::from_secs(5), registration.registered())
        .await
        .unwrap()
        .unwrap();
    timeout(Duration::from_secs(5), alice.shutdown(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(seen.recv().await.unwrap(), "3600");
    assert_eq!(seen.recv().await.unwrap(), "0", "unregistered at shutdown");
    assert_eq!(
        registration.next_event().await,
        Some(RegistrationEvent::Unregistered)
    );
}

#[tokio::test]
async fn a_message_goes_from_one_agent_to_another() {
    let (alice, bob) = (agent().await, agent().await);
    let mut inbox = bob.incoming_messages().await.unwrap();
    let status = alice
        .message(
            &format!("sip:bob@{}", bob.local_addr()),
            "text/plain",
            Bytes::from_static(b"hello"),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let message = timeout(Duration::from_secs(5), inbox.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.body, Bytes::from_static(b"hello"));
    assert_eq!(message.content_type.as_deref(), Some("text/plain"));
    assert!(message.from.contains("alice@example.com"));
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

/// `sipua registrar` (the in-process `Registrar`): our client registers with digest
/// credentials over UDP and TCP, refreshes nothing in this short run, unregisters, and a
/// wrong password fails once with 401.
#[tokio::test]
async fn our_client_registers_at_our_registrar_over_udp_and_tcp() {
    use sip_tokio::registrar::{Registrar, RegistrarOptions};
    let registrar = Registrar::bind(RegistrarOptions {
        tcp: true,
        users: vec![("alice".to_owned(), "secret".to_owned())],
        ..RegistrarOptions::default()
    })
    .await
    .unwrap();
    let at = registrar.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(registrar.run(std::io::sink(), async {
        let _ = stopped.await;
    }));
    for (transport, password, ok) in [
        ("", "secret", true),
        (";transport=tcp", "secret", true),
        ("", "wrong", false),
    ] {
        let alice = UserAgent::builder()
            .bind("127.0.0.1:0".parse().unwrap())
            .tcp(!transport.is_empty())
            .identity("sip:alice@127.0.0.1")
            .credentials("alice", password)
            .start()
            .await
            .unwrap();
        let mut registration = alice
            .register(&format!("sip:{at}{transport}"), None, 600)
            .await
            .unwrap();
        let result = timeout(Duration::from_secs(5), registration.registered())
            .await
            .unwrap();
        if ok {
            assert_eq!(result.unwrap(), 600, "{transport}");
            timeout(Duration::from_secs(5), registration.unregister())
                .await
                .unwrap()
                .unwrap();
        } else {
            assert!(matches!(result, Err(Error::Rejected(status)) if status.as_u16() == 401));
            assert_eq!(
                registration.next_event().await,
                Some(RegistrationEvent::Unregistered)
            );
        }
        alice.shutdown(Duration::from_secs(1)).await;
    }
    let _ = stop.send(());
    let report = served.await.unwrap();
    assert_eq!(report.accepted, 4, "{report:?}");
    assert_eq!(report.bindings, 0, "{report:?}");
}

/// `sipua registrar` routes calls to registered users: Bob registers there, Alice calls
/// Bob's address-of-record at the registrar, gets 302 to Bob's binding, follows it, and
/// Bob answers; a call for a user nobody registered gets 404.
#[tokio::test]
async fn our_registrar_routes_a_call_to_the_registered_user() {
    use sip_tokio::registrar::{Registrar, RegistrarOptions};
    let registrar = Registrar::bind(RegistrarOptions {
        users: vec![("bob".to_owned(), "secret".to_owned())],
        ..RegistrarOptions::default()
    })
    .await
    .unwrap();
    let at = registrar.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(registrar.run(std::io::sink(), async {
        let _ = stopped.await;
    }));
    let bob = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .identity("sip:bob@127.0.0.1")
        .credentials("bob", "secret")
        .start()
        .await
        .unwrap();
    let mut incoming = bob.incoming().await.unwrap();
    let mut registration = bob.register(&format!("sip:{at}"), None, 600).await.unwrap();
    timeout(Duration::from_secs(5), registration.registered())
        .await
        .unwrap()
        .unwrap();
    tokio::spawn(async move {
        while let Some(call) = incoming.next().await {
            let _ = call.answer(Bytes::new(), None).await;
        }
    });
    let alice = agent().await;
    let mut call = alice
        .call(&format!("sip:bob@{at}"), Bytes::new(), None)
        .await
        .unwrap();
    let mut redirected = false;
    timeout(Duration::from_secs(5), async {
        loop {
            match call.next_event().await {
                Some(sip_tokio::CallEvent::Redirected { target }) => {
                    redirected = target.as_str().contains(&bob.local_addr().to_string());
                }
                Some(sip_tokio::CallEvent::Answered { .. }) => break,
                Some(sip_tokio::CallEvent::Terminated { reason, .. }) => panic!("{reason}"),
                Some(_) => {}
                None => panic!("the agent stopped"),
            }
        }
    })
    .await
    .unwrap();
    assert!(redirected, "redirected to Bob's binding");
    call.hangup().await.unwrap();
    let mut nobody = alice
        .call(&format!("sip:carol@{at}"), Bytes::new(), None)
        .await
        .unwrap();
    assert_eq!(
        timeout(Duration::from_secs(5), nobody.ended()).await.unwrap(),
        Some(EndReason::Rejected(StatusCode::NOT_FOUND))
    );
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
    let _ = stop.send(());
    let report = served.await.unwrap();
    assert_eq!((report.redirected, report.unroutable), (1, 1), "{report:?}");
}
