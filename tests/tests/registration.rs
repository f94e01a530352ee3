//! Registration (RFC 3261 §10) in the simulator: Alice registers at Bob, a registrar the
//! test writes in a few lines (it takes REGISTER as the application and answers from a
//! script). Ladder snapshots in `snapshots/`.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use sip_core::endpoint::{EndpointConfig, Event};
use sip_core::message::{HeaderName, Method, StatusCode, Uri, response_to};
use sip_core::registration::{RegistrationEvent, RegistrationId};
use sip_core::sim::{Network, NodeId};
use sip_tests::{pair_configured, snapshot};

/// One answer of the scripted registrar: a status and extra headers. `{contact}` in a
/// header value stands for the Contact of the REGISTER.
type Answer = (StatusCode, Vec<(HeaderName, &'static str)>);

fn registrar_config(config: &mut EndpointConfig) {
    config.calls.app_methods.push(Method::Register);
}

/// Alice, and Bob as a registrar answering the n-th REGISTER with `script[n]` (the last
/// entry for every later one). Returns the REGISTERs Bob saw, as `(Expires, Contact)`.
fn registrar(seed: u64, script: Vec<Answer>) -> (Network, NodeId, NodeId, Rc<RefCell<Vec<String>>>) {
    let (mut net, alice, bob) = pair_configured(seed, |_| {}, registrar_config);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&seen);
    net.set_handler(bob, move |endpoint, event, now| {
        if let Event::Request {
            transaction, request, ..
        } = event
        {
            let n = log.borrow().len();
            let expires = request.headers.get(HeaderName::Expires).unwrap_or("-").to_owned();
            let contact = request.headers.get(HeaderName::Contact).unwrap_or("").to_owned();
            log.borrow_mut().push(format!("Expires: {expires}"));
            let (status, headers) = script[n.min(script.len() - 1)].clone();
            let mut response = response_to(&request, status, None, Some("reg1"));
            for (name, value) in headers {
                let value = value.replace("{contact}", &contact);
                response.headers.push(name, value);
            }
            endpoint.respond(now, transaction, response).unwrap();
        }
    });
    (net, alice, bob, seen)
}

fn register(net: &mut Network, alice: NodeId, expires: u32) -> RegistrationId {
    let registrar = Uri::parse("sip:192.0.2.2:5060").unwrap();
    net.on(alice, |ep, now| {
        ep.register(now, registrar, Some("sip:alice@example.com"), expires)
    })
    .unwrap()
}

fn events(net: &Network, node: NodeId) -> Vec<RegistrationEvent> {
    net.events(node)
        .iter()
        .filter_map(|(_, event)| match event {
            Event::Registration { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn ok_for(expires: &'static str) -> Answer {
    (StatusCode::OK, vec![(HeaderName::Contact, expires)])
}

#[test]
fn a_registration_is_accepted_and_refreshed_before_it_runs_out() {
    let (mut net, alice, _bob, seen) = registrar(91, vec![ok_for("{contact};expires=120")]);
    let id = register(&mut net, alice, 3600);
    net.run_for(Duration::from_secs(1));
    assert!(matches!(
        events(&net, alice).first(),
        Some(RegistrationEvent::Registered { expires: 120, bindings }) if bindings.len() == 1
    ));
    // The registrar granted 120 s: the refresh goes out 32 s before it runs out.
    net.run_for(Duration::from_secs(100));
    assert_eq!(seen.borrow().len(), 2);
    assert_eq!(
        events(&net, alice)
            .iter()
            .filter(|e| matches!(e, RegistrationEvent::Registered { .. }))
            .count(),
        2
    );
    assert_eq!(net.endpoint(alice).registrations(), vec![id]);
    snapshot!("registration_refreshed", &net);
}

#[test]
fn the_bindings_own_expires_wins_over_the_expires_header() {
    let (mut net, alice, _bob, _) = registrar(
        92,
        vec![(
            StatusCode::OK,
            vec![
                (HeaderName::Contact, "<sip:alice@192.0.2.77:5060>;expires=3000"),
                (HeaderName::Contact, "{contact};expires=600"),
                (HeaderName::Expires, "3600"),
            ],
        )],
    );
    register(&mut net, alice, 3600);
    net.run_for(Duration::from_secs(1));
    match events(&net, alice).first() {
        Some(RegistrationEvent::Registered { expires, bindings }) => {
            assert_eq!(*expires, 600);
            assert_eq!(bindings.len(), 2, "the other device's binding too");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn interval_too_brief_is_asked_again_with_min_expires() {
    let (mut net, alice, _bob, seen) = registrar(
        93,
        vec![
            (
                StatusCode::INTERVAL_TOO_BRIEF,
                vec![(HeaderName::MinExpires, "1800")],
            ),
            ok_for("{contact};expires=1800"),
        ],
    );
    register(&mut net, alice, 60);
    net.run_for(Duration::from_secs(1));
    assert_eq!(*seen.borrow(), ["Expires: 60", "Expires: 1800"]);
    assert!(matches!(
        events(&net, alice).as_slice(),
        [RegistrationEvent::Registered { expires: 1800, .. }]
    ));
    snapshot!("registration_423_min_expires", &net);
}

#[test]
fn unregister_sends_expires_0_and_reports_unregistered() {
    let (mut net, alice, _bob, seen) = registrar(94, vec![ok_for("{contact};expires=3600")]);
    let id = register(&mut net, alice, 3600);
    net.run_for(Duration::from_secs(1));
    net.on(alice, |ep, now| ep.unregister(now, id)).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(*seen.borrow(), ["Expires: 3600", "Expires: 0"]);
    assert_eq!(events(&net, alice).last(), Some(&RegistrationEvent::Unregistered));
    assert_eq!(net.endpoint(alice).registration_count(), 0);
    assert_eq!(net.endpoint(alice).poll_timeout(), None, "no timer left");
    snapshot!("registration_unregistered", &net);
}

#[test]
fn a_failed_registration_is_tried_again_after_a_backoff() {
    let (mut net, alice, _bob, seen) = registrar(
        95,
        vec![
            (StatusCode::SERVICE_UNAVAILABLE, vec![]),
            ok_for("{contact};expires=3600"),
        ],
    );
    register(&mut net, alice, 3600);
    net.run_for(Duration::from_secs(1));
    let retry_in = match events(&net, alice).first() {
        Some(RegistrationEvent::Failed {
            status: Some(status),
            retry_in: Some(wait),
        }) if *status == StatusCode::SERVICE_UNAVAILABLE => *wait,
        other => panic!("{other:?}"),
    };
    // RFC 5626 §4.5: the first wait is between 15 and 30 s.
    assert!((15..=30).contains(&retry_in.as_secs()), "{retry_in:?}");
    net.run_for(Duration::from_secs(31));
    assert_eq!(seen.borrow().len(), 2);
    assert!(matches!(
        events(&net, alice).last(),
        Some(RegistrationEvent::Registered { .. })
    ));
}

#[test]
fn a_registrar_that_never_answers_is_a_failure_then_a_retry() {
    let (mut net, alice, bob, _) = registrar(96, vec![ok_for("{contact};expires=3600")]);
    net.lose(alice, bob, "REGISTER", 11);
    register(&mut net, alice, 3600);
    net.run_for(Duration::from_secs(33));
    assert!(matches!(
        events(&net, alice).first(),
        Some(RegistrationEvent::Failed {
            status: None,
            retry_in: Some(_)
        })
    ));
    net.run_for(Duration::from_secs(60));
    assert!(matches!(
        events(&net, alice).last(),
        Some(RegistrationEvent::Registered { .. })
    ));
}

#[test]
fn unregistering_while_a_register_is_in_flight_waits_for_it() {
    let (mut net, alice, _bob, seen) = registrar(97, vec![ok_for("{contact};expires=3600")]);
    let id = register(&mut net, alice, 3600);
    net.on(alice, |ep, now| ep.unregister(now, id)).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(*seen.borrow(), ["Expires: 3600", "Expires: 0"]);
    assert_eq!(events(&net, alice), vec![RegistrationEvent::Unregistered]);
}

// ---- digest authentication (RFC 3261 §22) ----

/// Bob as a registrar that challenges (realm `example.com`, user alice, password
/// `secret`) with a [`DigestVerifier`] whose nonces last `nonce_lifetime`; Alice holds
/// `password`. Returns what Bob's verifier said of each REGISTER with credentials.
fn digest_registrar(
    seed: u64,
    password: &'static str,
    nonce_lifetime: Duration,
) -> (Network, NodeId, NodeId, Rc<RefCell<Vec<String>>>) {
    use sip_core::auth::{DigestVerifier, Verdict, VerifierConfig};
    let (mut net, alice, bob) = pair_configured(
        seed,
        |config| {
            config
                .credentials
                .push(sip_core::config::Credential::any_realm("alice", password))
        },
        registrar_config,
    );
    let verdicts = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&verdicts);
    let mut verifier: Option<DigestVerifier> = None;
    let mut seed = 7u64;
    net.set_handler(bob, move |endpoint, event, now| {
        let Event::Request {
            transaction, request, ..
        } = event
        else {
            return;
        };
        let config = VerifierConfig {
            nonce_lifetime,
            ..VerifierConfig::default()
        };
        let verifier = verifier.get_or_insert_with(|| {
            DigestVerifier::new(now, config, &mut || {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                seed
            })
        });
        let verdict = request.headers.authorization().next().map(|credentials| {
            let credentials = credentials.unwrap();
            verifier.verify(now, &credentials, &request.method, &request.body, |user, _| {
                (user == "alice").then_some("secret")
            })
        });
        log.borrow_mut().push(format!("{verdict:?}"));
        let response = match verdict {
            Some(Verdict::Ok) => {
                let mut ok = response_to(&request, StatusCode::OK, None, Some("reg1"));
                let contact = request.headers.get(HeaderName::Contact).unwrap().to_owned();
                ok.headers
                    .push(HeaderName::Contact, format!("{contact};expires=120"));
                ok
            }
            other => {
                let stale = other == Some(Verdict::Stale);
                let challenge = verifier.challenge(now, "example.com", stale).unwrap();
                let mut challenged = response_to(&request, StatusCode::UNAUTHORIZED, None, Some("reg1"));
                challenged
                    .headers
                    .push(HeaderName::WwwAuthenticate, challenge.to_string());
                challenged
            }
        };
        endpoint.respond(now, transaction, response).unwrap();
    });
    (net, alice, bob, verdicts)
}

#[test]
fn register_answers_a_401_with_digest_credentials() {
    let (mut net, alice, _bob, verdicts) = digest_registrar(111, "secret", Duration::from_secs(300));
    register(&mut net, alice, 3600);
    net.run_for(Duration::from_secs(1));
    assert_eq!(*verdicts.borrow(), ["None", "Some(Ok)"]);
    assert!(matches!(
        events(&net, alice).as_slice(),
        [RegistrationEvent::Registered { expires: 120, .. }]
    ));
    // The refresh carries credentials for the same nonce (the next nc): no new challenge.
    net.run_for(Duration::from_secs(100));
    assert_eq!(*verdicts.borrow(), ["None", "Some(Ok)", "Some(Ok)"]);
    snapshot!("registration_digest_401_then_200", &net);
}

#[test]
fn a_stale_nonce_is_answered_again_without_a_failure() {
    // Nonces last 60 s; the refresh comes at 88 s with an expired one.
    let (mut net, alice, _bob, verdicts) = digest_registrar(112, "secret", Duration::from_secs(60));
    register(&mut net, alice, 3600);
    net.run_for(Duration::from_secs(100));
    assert_eq!(
        *verdicts.borrow(),
        ["None", "Some(Ok)", "Some(Stale)", "Some(Ok)"]
    );
    assert!(
        events(&net, alice)
            .iter()
            .all(|e| matches!(e, RegistrationEvent::Registered { .. })),
        "{:?}",
        events(&net, alice)
    );
    snapshot!("registration_digest_stale_nonce", &net);
}

#[test]
fn a_wrong_password_ends_the_registration_without_a_loop() {
    let (mut net, alice, _bob, verdicts) = digest_registrar(113, "wrong", Duration::from_secs(300));
    register(&mut net, alice, 3600);
    net.run_until_idle().unwrap();
    assert_eq!(*verdicts.borrow(), ["None", "Some(Wrong)"]);
    assert_eq!(
        events(&net, alice),
        vec![
            RegistrationEvent::Failed {
                status: Some(StatusCode::UNAUTHORIZED),
                retry_in: None
            },
            RegistrationEvent::Unregistered
        ]
    );
    assert_eq!(net.endpoint(alice).registration_count(), 0);
}

/// Over TCP the registration keeps its connection alive (RFC 5626 §4.4.1): a CRLF
/// keep-alive on the flow every 96–120 s, so the connection the registrar reaches us by
/// does not go idle (the registrar's idle timeout here is 150 s).
#[test]
fn a_registration_over_tcp_keeps_its_connection_alive() {
    let (mut net, alice, bob) = pair_configured(
        98,
        |_| {},
        |config| {
            registrar_config(config);
            config.limits.flow_idle_timeout = Duration::from_secs(150);
        },
    );
    net.set_handler(bob, |endpoint, event, now| {
        if let Event::Request {
            transaction, request, ..
        } = event
        {
            let contact = request.headers.get(HeaderName::Contact).unwrap_or("").to_owned();
            let mut response = response_to(&request, StatusCode::OK, None, Some("reg1"));
            response
                .headers
                .push(HeaderName::Contact, format!("{contact};expires=3600"));
            endpoint.respond(now, transaction, response).unwrap();
        }
    });
    let registrar = Uri::parse("sip:192.0.2.2:5060;transport=tcp").unwrap();
    net.on(alice, |ep, now| {
        ep.register(now, registrar, Some("sip:alice@example.com"), 3600)
    })
    .unwrap();
    net.run_for(Duration::from_secs(600));
    // Without keep-alives the flow would be idle from the 200 until the refresh at
    // 3568 s, and the registrar would close it at 150 s.
    let timed_out = net.endpoint(bob).stats().flows_timed_out;
    assert_eq!(timed_out, 0, "{}", net.ladder());
    assert_eq!(net.endpoint(alice).stats().flows_timed_out, 0);
}

/// With an outbound proxy, REGISTER goes to it with a preloaded Route (RFC 3261 §8.1.2),
/// and the proxy takes it on to the registrar; so does a MESSAGE.
#[test]
fn register_and_message_go_through_the_outbound_proxy() {
    let (mut net, alice, bob) = pair_configured(
        99,
        |config| config.calls.outbound_proxy = Some("sip:192.0.2.3:5060".to_owned()),
        registrar_config,
    );
    net.add_relay("proxy", "192.0.2.3:5060".parse().unwrap());
    net.set_handler(bob, |endpoint, event, now| {
        if let Event::Request {
            transaction, request, ..
        } = event
        {
            let contact = request.headers.get(HeaderName::Contact).unwrap_or("").to_owned();
            let mut response = response_to(&request, StatusCode::OK, None, Some("reg1"));
            response
                .headers
                .push(HeaderName::Contact, format!("{contact};expires=600"));
            endpoint.respond(now, transaction, response).unwrap();
        }
    });
    register(&mut net, alice, 600);
    net.run_for(Duration::from_secs(1));
    let bob_uri = Uri::parse("sip:bob@192.0.2.2:5060").unwrap();
    net.on(alice, |ep, now| {
        ep.send_message(
            now,
            bob_uri,
            "text/plain",
            bytes::Bytes::from_static(b"via proxy"),
        )
    })
    .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(matches!(
        events(&net, alice).first(),
        Some(RegistrationEvent::Registered { .. })
    ));
    let ladder = net.ladder();
    for line in ladder
        .lines()
        .filter(|l| l.contains("REGISTER sip:") || l.contains("MESSAGE sip:"))
    {
        assert!(line.contains("proxy"), "{line}\n{ladder}");
    }
    snapshot!("registration_and_message_via_outbound_proxy", &net);
}
