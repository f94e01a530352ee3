//! The driver runs on tokio's clock: under a paused clock (`start_paused`), a call's
//! 32-second timers pass in virtual time, and the core is handed those virtual instants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sip_tokio::{CallEvent, Direction, EndReason, UserAgent};
use tokio::time::Instant;

/// Timer B with the default T1 of 500 ms: 64·T1 (RFC 3261 §17.1.1.2).
const TIMER_B: Duration = Duration::from_secs(32);

/// A peer that never answers: a bound socket nobody reads until the test looks at what
/// arrived (the kernel keeps the few datagrams a call sends).
fn silent_peer() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// The datagrams that reached `peer`, waiting (in real time, briefly) for `expected` of
/// them; then whatever else is already there.
fn received(peer: &UdpSocket, expected: usize) -> Vec<String> {
    let mut buf = vec![0u8; 65_536];
    let mut got = Vec::new();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while got.len() < expected {
        let Ok(len) = peer.recv(&mut buf) else { break };
        got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
    }
    peer.set_nonblocking(true).unwrap();
    while let Ok(len) = peer.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
    }
    got
}

#[tokio::test(start_paused = true)]
async fn unanswered_invite_ends_by_timer_b_in_virtual_time() {
    let peer = silent_peer();
    let alice = UserAgent::builder().start().await.unwrap();
    let started = Instant::now();
    let target = format!("sip:bob@{}", peer.local_addr().unwrap());
    let mut call = alice.call(&target, Bytes::new(), None).await.unwrap();

    let (reason, history) = loop {
        let event = call.next_event().await;
        if let CallEvent::Terminated { reason, history } = event.expect("events ended early") {
            break (reason, history);
        }
    };
    let elapsed = started.elapsed();

    assert_eq!(reason, EndReason::Timeout);
    // Timer B fired after 32 s of tokio's (virtual) time, not earlier and not much later.
    assert!(
        elapsed >= TIMER_B && elapsed < TIMER_B + Duration::from_secs(1),
        "{elapsed:?}"
    );
    // The core was handed tokio's instants: the call ended at an instant the real clock
    // has not reached yet (this test takes far less than 32 real seconds). With std's
    // clock in the driver the end would lie in the real past.
    let ended_at = history.last().expect("a call has a history").at;
    assert!(ended_at > std::time::Instant::now(), "the core saw real time");
    // Timer A retransmitted the INVITE on virtual time too: sent at 0, then after 0.5, 1,
    // 2, 4, 8 and 16 s (§17.1.1.2: doubling, no T2 cap for INVITE); the next one would
    // be due after Timer B.
    let invites = received(&peer, 7);
    assert_eq!(invites.len(), 7, "{invites:#?}");
    assert!(
        invites.iter().all(|m| m.starts_with("INVITE sip:bob@")),
        "{invites:#?}"
    );

    alice.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn unanswered_options_times_out_by_timer_f_and_traces_virtual_instants() {
    let peer = silent_peer();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&sent);
    let alice = UserAgent::builder()
        .on_message(move |m| {
            if m.direction == Direction::Sent {
                seen.lock().unwrap().push(m.at);
            }
        })
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let result = alice
        .options(&format!("sip:{}", peer.local_addr().unwrap()))
        .await;
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(sip_tokio::Error::Timeout)), "{result:?}");
    // Timer F is 64·T1 as well (§17.1.2.2).
    assert!(
        elapsed >= TIMER_B && elapsed < TIMER_B + Duration::from_secs(1),
        "{elapsed:?}"
    );
    // Timer E: sent at 0, then after 0.5, 1, 2 and 4 s, then every T2 = 4 s until Timer
    // F: eleven sends over 31.5 s, each stamped with tokio's clock, which ran ahead of the
    // real one.
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 11, "{sent:?}");
    let span = sent[10].saturating_duration_since(sent[0]);
    // (tokio's timers tick in whole milliseconds, hence the small allowance)
    assert!(
        span >= Duration::from_millis(31_500) && span < Duration::from_millis(31_600),
        "{span:?}"
    );
    assert!(sent[10] > std::time::Instant::now(), "traces carry real time");
    alice.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_grace_runs_on_tokios_clock() {
    // Move tokio's clock well ahead of the real one first: a grace measured from std's
    // clock would then lie in the virtual past and end the shutdown at once.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let peer = silent_peer();
    let alice = UserAgent::builder().start().await.unwrap();
    let target = format!("sip:bob@{}", peer.local_addr().unwrap());
    let _call = alice.call(&target, Bytes::new(), None).await.unwrap();

    // The call cannot end in time: with no provisional response, a CANCEL must wait
    // (§9.1) and the INVITE runs until Timer B. So the shutdown takes its whole grace.
    let grace = Duration::from_secs(5);
    let started = Instant::now();
    alice.shutdown(grace).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= grace && elapsed < grace + Duration::from_secs(1),
        "{elapsed:?}"
    );
}
