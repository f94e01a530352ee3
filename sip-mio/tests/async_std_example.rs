//! Runs the `async_std_call` example's call against [`sip_mio::serve`]: the same core driven
//! by two runtimes (mio in one thread, async-std in the other) over loopback UDP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use mio::{Poll, Token};
use sip_core::call::EndReason;
use sip_core::endpoint::EndpointConfig;
use sip_mio::{Driver, Listen, ServeOptions, serve};

// The example's `main` is unused here; its `place_call` is what is tested.
#[allow(dead_code)]
#[path = "../examples/async_std_call.rs"]
mod example;

#[test]
fn async_std_caller_against_mio_answerer() {
    let loopback = "127.0.0.1:0".parse().unwrap();
    let mut server = Driver::bind_with(loopback, Listen::Udp, |l| EndpointConfig::new(l, 7)).unwrap();
    let target = server.local_addr().to_string();
    let thread = std::thread::spawn(move || {
        let mut poll = Poll::new().unwrap();
        server.register(poll.registry(), Token(0)).unwrap();
        let options = ServeOptions {
            max_calls: Some(1),
            duration: Some(Duration::from_secs(5)),
            ..ServeOptions::default()
        };
        serve(&mut server, &mut poll, &options, |_| {}).unwrap()
    });
    let hold = Duration::from_millis(100);
    let outcome =
        async_std::task::block_on(example::place_call(&target, hold, Duration::from_secs(5))).unwrap();
    assert_eq!(
        outcome,
        example::Outcome {
            answered: true,
            reason: EndReason::LocalBye
        }
    );
    let report = thread.join().unwrap();
    assert_eq!((report.answered, report.ended, report.hung_up), (1, 1, 0));
}
