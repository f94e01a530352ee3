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
    let bob = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .limits(EndpointLimits {
            max_calls: 1,
            ..EndpointLimits::default()
        })
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
