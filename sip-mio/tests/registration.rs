//! Registration with digest authentication and an instant message from a plain mio loop:
//! the core's commands are reachable through `Driver::endpoint_mut`, the configuration
//! (credentials) through `Driver::bind_with`. The registrar is `sipua registrar`'s logic
//! (`sip_tokio::registrar`) on a tokio runtime in the test thread.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use sip_core::config::Credential;
use sip_core::endpoint::{EndpointConfig, Event};
use sip_core::message::Uri;
use sip_core::registration::RegistrationEvent;
use sip_mio::{Driver, Listen};
use sip_tokio::registrar::{Registrar, RegistrarOptions};

/// Runs the mio loop until `done` says so about an event, or 5 s pass.
fn until(driver: &mut Driver, poll: &mut Poll, mut done: impl FnMut(&Event) -> bool) -> bool {
    let mut events = Events::with_capacity(64);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        driver
            .run_once(poll, &mut events, Some(Duration::from_millis(20)))
            .unwrap();
        while let Some(event) = driver.next_event() {
            if done(&event) {
                return true;
            }
        }
    }
    false
}

#[test]
fn a_mio_driver_registers_with_digest_and_unregisters() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let registrar = runtime
        .block_on(Registrar::bind(RegistrarOptions {
            users: vec![("alice".to_owned(), "secret".to_owned())],
            ..RegistrarOptions::default()
        }))
        .unwrap();
    let at = registrar.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = std::thread::spawn(move || {
        runtime.block_on(registrar.run(std::io::sink(), async {
            let _ = stopped.await;
        }))
    });

    let mut driver = Driver::bind_with("127.0.0.1:0".parse().unwrap(), Listen::Udp, |local| {
        let mut config = EndpointConfig::new(local, 7);
        config.credentials.push(Credential::any_realm("alice", "secret"));
        config
    })
    .unwrap();
    let mut poll = Poll::new().unwrap();
    driver.register(poll.registry(), Token(0)).unwrap();
    let now = Instant::now();
    let registrar_uri = Uri::parse(&format!("sip:{at}")).unwrap();
    let id = driver
        .endpoint_mut()
        .register(now, registrar_uri, Some("sip:alice@127.0.0.1"), 600)
        .unwrap();
    driver.flush(now);
    assert!(until(&mut driver, &mut poll, |event| matches!(
        event,
        Event::Registration {
            event: RegistrationEvent::Registered { expires: 600, .. },
            ..
        }
    )));
    let now = Instant::now();
    driver.endpoint_mut().unregister(now, id).unwrap();
    driver.flush(now);
    assert!(until(&mut driver, &mut poll, |event| matches!(
        event,
        Event::Registration {
            event: RegistrationEvent::Unregistered,
            ..
        }
    )));
    let _ = stop.send(());
    let report = served.join().unwrap();
    assert_eq!(
        (report.challenged, report.accepted, report.bindings),
        (1, 2, 0),
        "{report:?}"
    );
}
