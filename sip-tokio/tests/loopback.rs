//! Calls and OPTIONS between two user agents over real loopback sockets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use sip_core::sdp::SessionDescription;
use sip_tokio::{Call, CallEvent, CallState, EndReason, Side, StatusCode, UserAgent};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

fn sdp(user: &str, ip: IpAddr, port: u16) -> Bytes {
    SessionDescription::simple_audio(user, 1, ip, port, &[0, 8, 101]).to_bytes()
}

/// Waits for the first event `pick` accepts; other events are skipped.
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

async fn agent(bind: &str, tcp: bool) -> UserAgent {
    UserAgent::builder()
        .bind(bind.parse().unwrap())
        .tcp(tcp)
        .t1(Duration::from_millis(100))
        .start()
        .await
        .unwrap()
}

async fn full_call(bind: &str, tcp: bool) {
    let alice = agent(bind, tcp).await;
    let bob = agent(bind, tcp).await;
    let mut incoming = bob.incoming().await.unwrap();
    let ip = bob.local_addr().ip();
    let suffix = if tcp { ";transport=tcp" } else { "" };
    let target = format!("sip:bob@{}{suffix}", bob.local_addr());
    let mut out = alice.call(&target, sdp("alice", ip, 4000), None).await.unwrap();

    let mut inc = timeout(LIMIT, incoming.next()).await.unwrap().unwrap();
    assert!(inc.is_incoming());
    assert!(!inc.remote_offer().unwrap().is_empty());
    inc.ringing().await.unwrap();
    wait_for(&mut out, |e| matches!(e, CallEvent::Ringing { .. }).then_some(())).await;
    inc.answer(sdp("bob", ip, 5000), None).await.unwrap();
    let body = wait_for(&mut out, |e| match e {
        CallEvent::Answered { body } => Some(body.clone()),
        _ => None,
    })
    .await;
    assert!(body.starts_with(b"v=0"));
    wait_for(&mut inc, |e| {
        matches!(e, CallEvent::Answered { .. }).then_some(())
    })
    .await;
    assert_eq!(out.state().await.unwrap(), CallState::Connected);

    out.hold().await.unwrap();
    wait_for(&mut inc, |e| {
        matches!(e, CallEvent::Hold { by: Side::Remote }).then_some(())
    })
    .await;
    wait_for(&mut out, |e| {
        matches!(e, CallEvent::Hold { by: Side::Local }).then_some(())
    })
    .await;
    out.unhold().await.unwrap();
    wait_for(&mut inc, |e| {
        matches!(e, CallEvent::Unhold { by: Side::Remote }).then_some(())
    })
    .await;
    wait_for(&mut out, |e| {
        matches!(e, CallEvent::Unhold { by: Side::Local }).then_some(())
    })
    .await;

    out.bye().await.unwrap();
    let theirs = timeout(LIMIT, inc.ended()).await.unwrap();
    let ours = timeout(LIMIT, out.ended()).await.unwrap();
    assert_eq!(theirs, Some(EndReason::RemoteBye));
    assert_eq!(ours, Some(EndReason::LocalBye));
    assert_eq!(out.state().await.unwrap(), CallState::Ended);

    timeout(LIMIT, alice.shutdown(Duration::from_secs(2)))
        .await
        .unwrap();
    timeout(LIMIT, bob.shutdown(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(matches!(
        alice.options(&target).await,
        Err(sip_tokio::Error::Closed)
    ));
}

#[tokio::test]
async fn udp_call_ipv4() {
    full_call("127.0.0.1:0", false).await;
}

#[tokio::test]
async fn tcp_call_ipv4() {
    full_call("127.0.0.1:0", true).await;
}

#[tokio::test]
async fn udp_call_ipv6() {
    // Not every CI box has IPv6 loopback; skip quietly when it cannot be bound.
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        return;
    }
    full_call("[::1]:0", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_udp_and_tcp() {
    let alice = agent("127.0.0.1:0", true).await;
    let bob = agent("127.0.0.1:0", true).await;
    let udp = format!("sip:{}", bob.local_addr());
    let tcp = format!("sip:{};transport=tcp", bob.local_addr());
    assert_eq!(
        timeout(LIMIT, alice.options(&udp)).await.unwrap().unwrap(),
        StatusCode::OK
    );
    assert_eq!(
        timeout(LIMIT, alice.options(&tcp)).await.unwrap().unwrap(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn reject_and_cancel() {
    let alice = agent("127.0.0.1:0", false).await;
    let bob = agent("127.0.0.1:0", false).await;
    let mut incoming = bob.incoming().await.unwrap();
    let target = format!("sip:bob@{}", bob.local_addr());

    let mut out = alice.call(&target, Bytes::new(), None).await.unwrap();
    let inc = timeout(LIMIT, incoming.next()).await.unwrap().unwrap();
    inc.reject(486, None).await.unwrap();
    let reason = timeout(LIMIT, out.ended()).await.unwrap();
    assert_eq!(reason, Some(EndReason::Rejected(StatusCode::BUSY_HERE)));

    let mut out = alice.call(&target, Bytes::new(), None).await.unwrap();
    let mut inc = timeout(LIMIT, incoming.next()).await.unwrap().unwrap();
    inc.ringing().await.unwrap();
    wait_for(&mut out, |e| matches!(e, CallEvent::Ringing { .. }).then_some(())).await;
    out.cancel().await.unwrap();
    assert_eq!(
        timeout(LIMIT, out.ended()).await.unwrap(),
        Some(EndReason::Cancelled)
    );
    assert_eq!(
        timeout(LIMIT, inc.ended()).await.unwrap(),
        Some(EndReason::RemoteCancelled)
    );
}

#[tokio::test]
async fn errors_are_reported() {
    let alice = agent("127.0.0.1:0", false).await;
    // Not a URI (a host name is fine: it is located by DNS, see tests/dns.rs).
    assert!(matches!(
        alice.call("bob at example dot com", Bytes::new(), None).await,
        Err(sip_tokio::Error::BadTarget(_))
    ));
    // A port in use.
    let taken = alice.local_addr();
    let again = UserAgent::builder().bind(taken).start().await;
    assert!(matches!(again, Err(sip_tokio::Error::Io(_))));
    // Nobody at the other end: Timer F (64·T1 = 6.4 s with T1 = 100 ms).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = format!("sip:{}", silent.local_addr().unwrap());
    let result = timeout(LIMIT, alice.options(&target)).await.unwrap();
    assert!(matches!(result, Err(sip_tokio::Error::Timeout)), "{result:?}");
    // Nobody takes calls at Bob's: 480.
    let bob = agent("127.0.0.1:0", false).await;
    let mut out = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), Bytes::new(), None)
        .await
        .unwrap();
    let reason = timeout(LIMIT, out.ended()).await.unwrap();
    assert_eq!(
        reason,
        Some(EndReason::Rejected(StatusCode::TEMPORARILY_UNAVAILABLE))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_are_closed_and_reopened_when_needed() {
    let start = |idle| {
        UserAgent::builder()
            .bind("127.0.0.1:0".parse().unwrap())
            .tcp(true)
            .t1(Duration::from_millis(100))
            .idle_timeout(idle)
            .start()
    };
    let alice = start(Duration::from_secs(1)).await.unwrap();
    let bob = start(Duration::from_secs(60)).await.unwrap();
    let tcp = format!("sip:{};transport=tcp", bob.local_addr());
    assert_eq!(
        timeout(LIMIT, alice.options(&tcp)).await.unwrap().unwrap(),
        StatusCode::OK
    );
    assert_eq!(alice.connections().await.unwrap(), 1);
    assert_eq!(bob.connections().await.unwrap(), 1);
    // Alice's side goes quiet for more than its idle timeout: she closes, Bob sees it close.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        alice.connections().await.unwrap(),
        0,
        "the idle connection was closed"
    );
    assert_eq!(bob.connections().await.unwrap(), 0, "the peer saw the close");
    // The next request opens a new connection.
    assert_eq!(
        timeout(LIMIT, alice.options(&tcp)).await.unwrap().unwrap(),
        StatusCode::OK
    );
    assert_eq!(alice.connections().await.unwrap(), 1);
}

#[tokio::test]
async fn tcp_listener_closes_when_the_agent_shuts_down() {
    let bob = agent("127.0.0.1:0", true).await;
    let addr = bob.local_addr();
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    timeout(LIMIT, bob.shutdown(Duration::from_millis(100)))
        .await
        .unwrap();
    // The accept loop is stopped with the driver; the runtime drops it (and the listener)
    // on its next turn, so allow a few tries.
    let refused = async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(LIMIT, refused)
        .await
        .expect("the listener still accepts after shutdown");
}
