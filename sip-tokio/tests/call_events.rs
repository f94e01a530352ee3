//! A call's events queue up to a bound for its handle; a handle that is not read loses the
//! newer events (counted), never the call's end, and never holds up the driver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use sip_core::sdp::SessionDescription;
use sip_tokio::{Call, CallEvent, EndReason, Side, UserAgent};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

fn sdp(user: &str, ip: IpAddr, port: u16) -> Bytes {
    SessionDescription::simple_audio(user, 1, ip, port, &[0, 8, 101]).to_bytes()
}

async fn wait_for(call: &mut Call, mut pick: impl FnMut(&CallEvent) -> bool) {
    timeout(LIMIT, async {
        loop {
            let event = call.next_event().await.expect("call events ended early");
            if pick(&event) {
                return;
            }
        }
    })
    .await
    .expect("timed out waiting for a call event");
}

#[tokio::test]
async fn unread_call_events_are_dropped_past_the_queue_and_the_end_still_arrives() {
    const QUEUE: usize = 4;
    const ROUNDS: usize = 20;
    let start = |queue| {
        UserAgent::builder()
            .t1(Duration::from_millis(100))
            .call_event_queue(queue)
            .start()
    };
    let alice = start(64).await.unwrap();
    let bob = start(QUEUE).await.unwrap();
    let mut incoming = bob.incoming().await.unwrap();
    let ip = bob.local_addr().ip();
    let target = format!("sip:bob@{}", bob.local_addr());
    let mut out = alice.call(&target, sdp("alice", ip, 4000), None).await.unwrap();
    // Bob answers, then never reads his call's events until it is over.
    let mut inc = timeout(LIMIT, incoming.next()).await.unwrap().unwrap();
    inc.answer(sdp("bob", ip, 5000), None).await.unwrap();
    wait_for(&mut out, |e| matches!(e, CallEvent::Answered { .. })).await;

    // Each round is two re-INVITEs, each an event or more on Bob's side. Alice's side
    // completes them, so Bob's driver kept working while his queue was full.
    for _ in 0..ROUNDS {
        out.hold().await.unwrap();
        wait_for(&mut out, |e| matches!(e, CallEvent::Hold { by: Side::Local })).await;
        out.unhold().await.unwrap();
        wait_for(&mut out, |e| matches!(e, CallEvent::Unhold { by: Side::Local })).await;
    }
    out.bye().await.unwrap();
    assert_eq!(
        timeout(LIMIT, out.ended()).await.unwrap(),
        Some(EndReason::LocalBye)
    );
    assert_eq!(out.missed_events(), 0, "a handle that keeps up loses nothing");

    // Now Bob reads: what the queue held (no more than its bound), then the end.
    let mut delivered = 0;
    let reason = timeout(LIMIT, async {
        loop {
            match inc.next_event().await.expect("the end was dropped") {
                CallEvent::Terminated { reason, .. } => return reason,
                _ => delivered += 1,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(reason, EndReason::RemoteBye);
    assert_eq!(delivered, QUEUE, "the queue holds its bound, no more");
    let missed = inc.missed_events();
    assert!(missed >= 2 * ROUNDS as u64, "only {missed} events dropped");
    assert!(inc.next_event().await.is_none(), "nothing after the end");

    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}
