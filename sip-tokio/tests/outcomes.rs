//! Call outcomes over real sockets, as the platform reports them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_tokio::{CallEvent, EndReason, UserAgent};
use tokio::time::timeout;

/// A call to a UDP port nobody listens on fails with a transport error as soon as the
/// kernel reports the ICMP port unreachable — not after Timer B's 32 s. (Linux reports it
/// through `IP_RECVERR`; elsewhere the call would time out.)
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_call_to_a_dead_udp_port_fails_fast_with_a_transport_error() {
    // A port that was just free: bound, then closed.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let alice = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let mut call = alice
        .call(&format!("sip:nobody@{dead}"), Bytes::new(), None)
        .await
        .unwrap();
    // Well under Timer B (32 s): the first INVITE's ICMP error is enough.
    let reason = timeout(Duration::from_secs(5), async {
        loop {
            if let CallEvent::Terminated { reason, .. } =
                call.next_event().await.expect("events until the end")
            {
                return reason;
            }
        }
    })
    .await
    .expect("the call ends within 5 s");
    assert_eq!(reason, EndReason::TransportError);
    alice.shutdown(Duration::from_millis(200)).await;
}
