//! `sipua demo` is a thin wrapper over `sip_tokio::demo::run`: run it and check the ladder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip_tokio::EndReason;

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn demo_prints_a_ladder_and_ends_cleanly() {
    let out = Shared::default();
    let summary = tokio::time::timeout(Duration::from_secs(20), sip_tokio::demo::run(out.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.caller_end, EndReason::LocalBye);
    assert_eq!(summary.callee_end, EndReason::RemoteBye);
    // INVITE, 100, 180, 200, ACK; twice (INVITE, 100, 200, ACK) for hold and unhold; BYE, 200.
    assert!(summary.messages >= 15, "{summary:?}");
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let sent = |start: &str| {
        lines
            .iter()
            .filter(|l| l.contains(" -> ") && l.contains(start))
            .count()
    };
    assert_eq!(sent("INVITE sip:"), 3, "{text}");
    assert_eq!(sent("SIP/2.0 180 Ringing"), 1, "{text}");
    assert_eq!(sent("BYE sip:"), 1, "{text}");
    assert_eq!(sent("ACK sip:"), 3, "{text}");
    // Every message sent was received by the other side.
    let received = lines.iter().filter(|l| l.contains(" <- ")).count();
    assert_eq!(received, summary.messages, "{text}");
    assert!(text.contains("# summary:"));
}
