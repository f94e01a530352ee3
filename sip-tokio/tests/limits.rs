//! The core's limits, set from the driver: past `max_calls` a new INVITE gets 503 with
//! Retry-After before any call is made for it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_tokio::{CallEvent, EndpointLimits, UserAgent};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_call_past_the_configured_call_limit_is_refused_with_503() {
    let mut limits = EndpointLimits::default();
    limits.max_calls = 1;
    let bob = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .limits(limits)
        .start()
        .await
        .unwrap();
    let alice = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let mut incoming = bob.incoming().await.unwrap();
    let target = format!("sip:bob@{}", bob.local_addr());
    // The first call rings and stays up: Bob is at his limit.
    let _first = alice.call(&target, Bytes::new(), None).await.unwrap();
    let ringing = timeout(LIMIT, incoming.next()).await.unwrap().unwrap();
    ringing.ringing().await.unwrap();
    let mut second = alice.call(&target, Bytes::new(), None).await.unwrap();
    let status = timeout(LIMIT, async {
        loop {
            match second.next_event().await.expect("events until the end") {
                CallEvent::Rejected { status, .. } => return status,
                _ => continue,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(status.as_u16(), 503);
    alice.shutdown(Duration::from_millis(200)).await;
    bob.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_new_tcp_client_is_served_while_silent_connections_fill_the_table() {
    let mut limits = EndpointLimits::default();
    limits.max_flows = 8;
    let bob = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .tcp(true)
        .limits(limits)
        .start()
        .await
        .unwrap();
    // Eight connections that never say anything fill Bob's table.
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(tokio::net::TcpStream::connect(bob.local_addr()).await.unwrap());
    }
    let deadline = tokio::time::Instant::now() + LIMIT;
    while bob.connections().await.unwrap() < 8 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Bob never saw the eight connections"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A real client still gets through: the oldest silent connection makes room.
    let alice = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .tcp(true)
        .start()
        .await
        .unwrap();
    let target = format!("sip:bob@{};transport=tcp", bob.local_addr());
    let status = timeout(LIMIT, alice.options(&target)).await.unwrap().unwrap();
    assert_eq!(status.as_u16(), 200);
    assert_eq!(
        bob.connections().await.unwrap(),
        8,
        "still at the limit, not past it"
    );
    alice.shutdown(Duration::from_millis(200)).await;
    bob.shutdown(Duration::from_millis(200)).await;
}
