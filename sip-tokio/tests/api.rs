//! The application API over real sockets: statistics, a call's history, and what a
//! graceful shutdown does to new calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_tokio::{CallEvent, CallState, EndReason, StatusCode, UserAgent};
use tokio::time::timeout;

async fn agent() -> UserAgent {
    UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn stats_count_calls_dialogs_and_messages() {
    let (alice, bob) = (agent().await, agent().await);
    let mut incoming = bob.incoming().await.unwrap();
    let mut call = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), Bytes::new(), None)
        .await
        .unwrap();
    let answered = incoming.next().await.unwrap();
    answered.answer(Bytes::new(), None).await.unwrap();
    timeout(Duration::from_secs(5), async {
        while let Some(event) = call.next_event().await {
            if matches!(event, CallEvent::Answered { .. }) {
                break;
            }
        }
    })
    .await
    .unwrap();
    let during = alice.stats().await.unwrap();
    assert_eq!((during.calls, during.dialogs), (1, 1));
    assert_eq!(during.counters.calls.invites, 1);
    call.hangup().await.unwrap();
    assert_eq!(call.ended().await, Some(EndReason::LocalBye));
    let after = alice.stats().await.unwrap();
    assert_eq!(after.calls, 0);
    assert_eq!(after.counters.calls.byes, 1);
    assert_eq!(after.counters.calls.successful, 1);
    assert!(after.counters.sent >= 3, "{after:?}");
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_calls_history_is_there_while_it_lives() {
    let (alice, bob) = (agent().await, agent().await);
    let mut incoming = bob.incoming().await.unwrap();
    let call = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), Bytes::new(), None)
        .await
        .unwrap();
    let ringing = incoming.next().await.unwrap();
    ringing.ringing().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let states: Vec<CallState> = call.history().await.unwrap().iter().map(|t| t.to).collect();
    assert_eq!(states, [CallState::Calling, CallState::Ringing]);
    call.hangup().await.unwrap();
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

/// During a graceful shutdown, new INVITEs get 503 and never reach the application.
/// (Bob's shutdown waits for his OPTIONS to a silent peer, which keeps the grace open.)
#[tokio::test]
async fn during_a_graceful_shutdown_new_calls_get_503() {
    let (alice, bob) = (agent().await, agent().await);
    let mut incoming = bob.incoming().await.unwrap();
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let unanswered = {
        let bob = bob.clone();
        let target = format!("sip:nobody@{}", silent.local_addr().unwrap());
        tokio::spawn(async move { bob.options(&target).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stopping = {
        let bob = bob.clone();
        tokio::spawn(async move { bob.shutdown(Duration::from_secs(2)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut call = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), Bytes::new(), None)
        .await
        .unwrap();
    assert_eq!(
        timeout(Duration::from_secs(5), call.ended()).await.unwrap(),
        Some(EndReason::Rejected(StatusCode::SERVICE_UNAVAILABLE))
    );
    assert!(
        timeout(Duration::from_millis(200), incoming.next())
            .await
            .map_or(true, |next| next.is_none()),
        "the call was not delivered"
    );
    stopping.await.unwrap();
    unanswered.abort();
    alice.shutdown(Duration::from_secs(1)).await;
}

/// DTMF over INFO (`application/dtmf-relay`, and `application/dtmf`) inside a call is
/// accepted by default and reaches the other side's handle; the sender hears 200.
#[tokio::test]
async fn dtmf_info_in_a_call_is_accepted() {
    use sip_core::message::Method;
    let (alice, bob) = (agent().await, agent().await);
    let mut incoming = bob.incoming().await.unwrap();
    let mut call = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), Bytes::new(), None)
        .await
        .unwrap();
    let mut bobs = incoming.next().await.unwrap();
    bobs.answer(Bytes::new(), None).await.unwrap();
    timeout(Duration::from_secs(5), async {
        while let Some(event) = call.next_event().await {
            if matches!(event, CallEvent::Answered { .. }) {
                break;
            }
        }
    })
    .await
    .unwrap();
    for (content_type, body) in [
        ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
        ("application/dtmf", "5"),
    ] {
        let status = call
            .send_request(Method::Info, Some(content_type), Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{content_type}");
        let got = timeout(Duration::from_secs(5), async {
            loop {
                if let Some(CallEvent::Request { request, .. }) = bobs.next_event().await {
                    return request;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(got.body, Bytes::from(body));
    }
    call.hangup().await.unwrap();
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}
