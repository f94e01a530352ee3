//! The mio example (`mio_call`) and the async-std example (`async_std_call`) each complete a
//! call against `sipua listen`'s logic ([`sip_tokio::listen`]), over loopback UDP: the
//! listener runs on a tokio runtime in the test thread, the caller in a thread of its own
//! with its own loop. Each test is bounded by the listener's `duration` and the caller's
//! own give-up time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Duration;

use sip_core::call::EndReason;
use sip_mio::CallOptions;
use sip_tokio::listen::{ListenOptions, ListenReport, Listener};

// Each example's `main` is unused here; what is tested is the code it runs.
#[allow(dead_code)]
#[path = "../examples/mio_call.rs"]
mod mio_call;

#[allow(dead_code)]
#[path = "../examples/async_std_call.rs"]
mod async_std_call;

/// The longest any test may take, end to end.
const DEADLINE: Duration = Duration::from_secs(5);
/// How long callers keep the call up before hanging up.
const HOLD: Duration = Duration::from_millis(100);

/// Runs `sipua listen --auto-answer` for one call (or until [`DEADLINE`]), with `caller`
/// calling it from another thread, and returns the caller's result, the listener's report
/// and what it printed.
fn against_sipua_listen<T: Send + 'static>(
    caller: impl FnOnce(SocketAddr) -> T + Send + 'static,
) -> (T, ListenReport, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (result, report, printed) = runtime.block_on(async {
        let options = ListenOptions {
            auto_answer: true,
            max_calls: Some(1),
            duration: Some(DEADLINE),
            ..ListenOptions::default()
        };
        let listener = Listener::bind(options).await.unwrap();
        let target = listener.local_addr();
        let caller = std::thread::spawn(move || caller(target));
        let mut printed = Vec::new();
        let report = listener.run(&mut printed, std::future::pending()).await;
        // The listener is done, so blocking this thread on the caller stalls nothing.
        (caller.join().unwrap(), report, printed)
    });
    (result, report, String::from_utf8(printed).unwrap())
}

/// Both sides saw the same call: answered, then ended by the caller's BYE.
fn check_listener(report: &ListenReport, printed: &str) {
    assert_eq!(
        (report.incoming, report.answered, report.ended, report.remote_bye),
        (1, 1, 1, 1),
        "{report:?}\n{printed}"
    );
    assert_eq!((report.rejected, report.hung_up), (0, 0));
    assert!(printed.starts_with("listening on 127.0.0.1:"), "{printed}");
    assert!(printed.contains(": incoming from "), "{printed}");
    assert!(printed.contains(": ended (the peer hung up)"), "{printed}");
}

#[test]
fn mio_call_example_against_sipua_listen() {
    let (outcome, report, printed) = against_sipua_listen(|target| {
        let args = mio_call::Args {
            target: target.to_string(),
            bind: "127.0.0.1:0".parse().unwrap(),
            options: CallOptions {
                hold: HOLD,
                give_up: DEADLINE,
                ..CallOptions::default()
            },
        };
        mio_call::run(&args).unwrap()
    });
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(outcome.reason, Some(EndReason::LocalBye));
    assert!(outcome.setup.is_some_and(|setup| setup < DEADLINE));
    check_listener(&report, &printed);
}

#[test]
fn async_std_call_example_against_sipua_listen() {
    let (outcome, report, printed) = against_sipua_listen(|target| {
        async_std::task::block_on(async_std_call::place_call(&target.to_string(), HOLD, DEADLINE)).unwrap()
    });
    assert_eq!(
        outcome,
        async_std_call::Outcome {
            answered: true,
            reason: EndReason::LocalBye
        }
    );
    check_listener(&report, &printed);
}
