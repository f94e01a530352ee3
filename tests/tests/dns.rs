//! RFC 3263 server location in the simulator: calls and other requests to host names,
//! located through the network's DNS zone (NAPTR → SRV → A), and failover when a target
//! fails. Ladder snapshots in `snapshots/` show every question and answer.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sip_core::call::{CallEvent, CallState, EndReason};
use sip_core::dns::{DnsRecords, NaptrRecord, SrvRecord};
use sip_core::endpoint::{Event, Transport};
use sip_core::message::{HeaderName, StatusCode, Uri};
use sip_core::pager::MessageEvent;
use sip_core::registration::RegistrationEvent;
use sip_core::sim::harness::Pair;
use sip_tests::snapshot;

const CAROL: &str = "192.0.2.3:5060";

fn naptr(order: u16, services: &str, replacement: &str) -> NaptrRecord {
    NaptrRecord {
        order,
        preference: 10,
        flags: "s".into(),
        services: services.into(),
        replacement: replacement.into(),
    }
}

fn srv(priority: u16, weight: u16, port: u16, target: &str) -> SrvRecord {
    SrvRecord {
        priority,
        weight,
        port,
        target: target.into(),
    }
}

fn addresses(ips: &[&str]) -> DnsRecords {
    DnsRecords::Addresses(ips.iter().map(|ip| ip.parse().unwrap()).collect())
}

/// example.com offers UDP then TCP by NAPTR; UDP's SRV names `srv` records; bob.example.com
/// is Bob.
fn example_zone(pair: &mut Pair, udp: Vec<SrvRecord>) {
    let net = &mut pair.net;
    net.dns_records(
        "example.com",
        DnsRecords::Naptr(vec![
            naptr(10, "SIP+D2U", "_sip._udp.example.com"),
            naptr(20, "SIP+D2T", "_sip._tcp.example.com"),
        ]),
    );
    net.dns_records("_sip._udp.example.com", DnsRecords::Srv(udp));
    net.dns_records("bob.example.com", addresses(&["192.0.2.2"]));
    net.dns_records("carol.example.com", addresses(&["192.0.2.3"]));
    net.dns_records("dead.example.com", addresses(&["192.0.2.99"]));
}

/// Alice calls `target`, offering her audio.
fn call_to(pair: &mut Pair, target: &str) -> sip_core::endpoint::CallId {
    let from = pair.alice;
    let target = Uri::parse(target).unwrap();
    let offer = pair.audio_description(from).to_bytes();
    pair.net
        .on(from, |ep, now| ep.invite(now, target, offer, None))
        .unwrap()
}

fn dns_lines(pair: &Pair) -> usize {
    pair.net.ladder().lines().filter(|l| l.contains(" dns ")).count()
}

#[test]
fn a_call_to_a_name_is_located_by_naptr_srv_and_a() {
    let mut pair = Pair::new(301);
    example_zone(&mut pair, vec![srv(10, 0, 5060, "bob.example.com")]);
    pair.auto_answer(pair.bob);
    let call = call_to(&mut pair, "sip:bob@example.com");
    pair.run_until_state(pair.alice, call, CallState::Connected);
    // The name resolved once: a message to it now goes at once from the cache.
    let questions = dns_lines(&pair);
    // NAPTR; the SRV of both services it names (UDP first; TCP for failover); Bob's A:
    // a question and an answer each.
    assert_eq!(questions, 8, "{}", pair.net.ladder());
    let to = Uri::parse("sip:bob@example.com").unwrap();
    pair.net
        .on(pair.alice, |ep, now| {
            ep.send_message(now, to, "text/plain", Bytes::from_static(b"hi"))
        })
        .unwrap();
    pair.net.on(pair.alice, |ep, now| ep.hangup(now, call)).unwrap();
    pair.run_until_idle();
    assert_eq!(dns_lines(&pair), questions);
    assert_eq!(pair.end_reason(pair.alice, call), Some(EndReason::LocalBye));
    assert_eq!(pair.net.endpoint(pair.alice).stats().dns_queries, 4);
    snapshot!("dns_naptr_srv_a_call", &pair.net);
}

#[test]
fn a_dead_first_srv_target_fails_over_to_the_next_after_timer_b() {
    let mut pair = Pair::new(302);
    example_zone(
        &mut pair,
        vec![
            srv(10, 0, 5060, "dead.example.com"),
            srv(20, 0, 5060, "bob.example.com"),
        ],
    );
    pair.auto_answer(pair.bob);
    let call = call_to(&mut pair, "sip:bob@example.com");
    pair.run_until_state(pair.alice, call, CallState::Connected);
    // Nothing came back from the first target for 64·T1: the second took the call, in
    // the same call, with no failure reported on the way (RFC 3263 §4.3).
    let connected_at = pair.net.elapsed();
    assert!(connected_at >= Duration::from_secs(32), "{connected_at:?}");
    let states: Vec<CallState> = pair
        .call_events(pair.alice, call)
        .filter_map(|e| match e {
            CallEvent::StateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [CallState::Calling, CallState::Ringing, CallState::Connected]
    );
    assert_eq!(pair.net.endpoint(pair.alice).stats().failovers, 1);
    pair.net.on(pair.alice, |ep, now| ep.hangup(now, call)).unwrap();
    pair.run_until_idle();
    snapshot!("dns_dead_first_srv_target_fails_over", &pair.net);
}

#[test]
fn a_refused_connection_fails_over_at_once() {
    let mut pair = Pair::new(303);
    let net = &mut pair.net;
    net.dns_records(
        "example.com",
        DnsRecords::Naptr(vec![naptr(10, "SIP+D2T", "_sip._tcp.example.com")]),
    );
    net.dns_records(
        "_sip._tcp.example.com",
        DnsRecords::Srv(vec![
            srv(10, 0, 5060, "dead.example.com"),
            srv(20, 0, 5060, "bob.example.com"),
        ]),
    );
    net.dns_records("bob.example.com", addresses(&["192.0.2.2"]));
    net.dns_records("dead.example.com", addresses(&["192.0.2.99"]));
    pair.auto_answer(pair.bob);
    let call = call_to(&mut pair, "sip:bob@example.com");
    pair.run_until_state(pair.alice, call, CallState::Connected);
    assert!(
        pair.net.elapsed() < Duration::from_secs(1),
        "{:?}",
        pair.net.elapsed()
    );
    assert!(pair.net.ladder().contains("[TCP]"));
    // DNS chose TCP for a URI that named no transport: the Contact says TCP too.
    let contact = pair
        .net
        .events(pair.bob)
        .iter()
        .find_map(|(_, event)| match event {
            Event::Call {
                event: CallEvent::Incoming { request, .. },
                ..
            } => request.headers.get(HeaderName::Contact).map(str::to_owned),
            _ => None,
        })
        .unwrap();
    assert_eq!(contact, "<sip:192.0.2.1:5060;transport=tcp>");
}

#[test]
fn a_503_fails_over_to_the_next_target() {
    let mut pair = Pair::new(304);
    let carol_addr: SocketAddr = CAROL.parse().unwrap();
    let carol = pair.net.add_node("carol", carol_addr);
    // Carol is overloaded: every INVITE gets 503.
    pair.net.set_handler(carol, |ep, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            ep.reject(now, call, StatusCode::SERVICE_UNAVAILABLE, None)
                .unwrap();
        }
    });
    example_zone(
        &mut pair,
        vec![
            srv(10, 0, 5060, "carol.example.com"),
            srv(20, 0, 5060, "bob.example.com"),
        ],
    );
    pair.auto_answer(pair.bob);
    let call = call_to(&mut pair, "sip:bob@example.com");
    pair.run_until_state(pair.alice, call, CallState::Connected);
    assert!(pair.net.ladder().contains("carol  -> alice  SIP/2.0 503"));
    assert_eq!(pair.net.endpoint(pair.alice).stats().failovers, 1);
    pair.net.on(pair.alice, |ep, now| ep.hangup(now, call)).unwrap();
    pair.run_until_idle();
    snapshot!("dns_503_fails_over", &pair.net);
}

#[test]
fn a_failed_target_goes_last_for_the_next_request() {
    let mut pair = Pair::new(305);
    let carol_addr: SocketAddr = CAROL.parse().unwrap();
    // Carol's application takes MESSAGE itself, and is overloaded.
    let carol = pair.net.add_node_configured("carol", carol_addr, |config| {
        config.calls.app_methods.push(sip_core::message::Method::Message);
    });
    pair.net.set_handler(carol, |ep, event, now| {
        if let Event::Request { transaction, .. } = event {
            let busy = ep.response(transaction, StatusCode::SERVICE_UNAVAILABLE).unwrap();
            ep.respond(now, transaction, busy).unwrap();
        }
    });
    example_zone(
        &mut pair,
        vec![
            srv(10, 0, 5060, "carol.example.com"),
            srv(20, 0, 5060, "bob.example.com"),
        ],
    );
    let send = |pair: &mut Pair| {
        let to = Uri::parse("sip:bob@example.com").unwrap();
        pair.net
            .on(pair.alice, |ep, now| {
                ep.send_message(now, to, "text/plain", Bytes::from_static(b"hi"))
            })
            .unwrap()
    };
    let first = send(&mut pair);
    pair.run_until_idle();
    let second = send(&mut pair);
    pair.run_until_idle();
    let to_carol = pair.net.ladder().matches("alice  -> carol  MESSAGE").count();
    assert_eq!(
        to_carol,
        1,
        "the second message goes to Bob first:\n{}",
        pair.net.ladder()
    );
    for id in [first, second] {
        let delivered = pair.net.events(pair.alice).iter().any(|(_, e)| {
            matches!(e, Event::Message { message, event: MessageEvent::Delivered { .. } } if *message == id)
        });
        assert!(delivered, "{id}");
    }
}

#[test]
fn srv_weights_choose_by_the_seed_and_share_the_calls() {
    let first_target = |seed: u64| {
        let mut pair = Pair::new(seed);
        let carol_addr: SocketAddr = CAROL.parse().unwrap();
        let carol = pair.net.add_node("carol", carol_addr);
        pair.auto_answer(carol);
        pair.auto_answer(pair.bob);
        example_zone(
            &mut pair,
            vec![
                srv(10, 50, 5060, "carol.example.com"),
                srv(10, 50, 5060, "bob.example.com"),
            ],
        );
        let call = call_to(&mut pair, "sip:bob@example.com");
        pair.run_until_state(pair.alice, call, CallState::Connected);
        let ladder = pair.net.ladder().to_owned();
        (ladder.contains("alice  -> carol  INVITE"), ladder)
    };
    // One seed, one order, every run.
    assert_eq!(first_target(40), first_target(40));
    // Equal weights: over 40 seeds both targets are chosen first, neither always.
    let to_carol = (0..40).filter(|seed| first_target(1000 + seed).0).count();
    assert!((8..=32).contains(&to_carol), "{to_carol} of 40 went to carol");
}

#[test]
fn a_sips_call_never_goes_over_an_insecure_transport() {
    // Without TLS enabled, a sips: target is refused at once.
    let mut pair = Pair::new(306);
    example_zone(&mut pair, vec![srv(10, 0, 5060, "bob.example.com")]);
    let target = Uri::parse("sips:bob@example.com").unwrap();
    let offer = pair.audio_description(pair.alice).to_bytes();
    let refused = pair
        .net
        .on(pair.alice, |ep, now| ep.invite(now, target, offer, None));
    assert!(refused.is_err(), "{refused:?}");
    // With TLS: the zone offers only UDP and TCP, so the call tries TLS on the name's own
    // address (RFC 3263 §4.2) and fails there, with no message on UDP or TCP.
    let tls = |config: &mut sip_core::endpoint::EndpointConfig| {
        config.transports = vec![Transport::Udp, Transport::Tcp, Transport::Tls];
    };
    let mut pair = Pair::configured(307, tls, tls);
    example_zone(&mut pair, vec![srv(10, 0, 5060, "bob.example.com")]);
    pair.net.dns_records("example.com", addresses(&["192.0.2.2"]));
    let call = call_to(&mut pair, "sips:bob@example.com");
    pair.run_until_idle();
    assert_eq!(pair.end_reason(pair.alice, call), Some(EndReason::TransportError));
    // The INVITE was only ever written to the TLS connection that could not be opened.
    let invites: Vec<&str> = pair
        .net
        .ladder()
        .lines()
        .filter(|l| l.contains("INVITE"))
        .collect();
    assert_eq!(invites.len(), 1, "{}", pair.net.ladder());
    assert!(invites[0].ends_with("[no connection]"), "{}", invites[0]);
    snapshot!("dns_sips_call_never_downgrades", &pair.net);
}

#[test]
fn a_name_without_records_fails_the_call_with_a_transport_error() {
    let mut pair = Pair::new(308);
    let call = call_to(&mut pair, "sip:bob@nowhere.example");
    pair.run_until_idle();
    assert_eq!(pair.end_reason(pair.alice, call), Some(EndReason::TransportError));
    assert_eq!(pair.net.endpoint(pair.alice).stats().unlocated, 1);
    // NAPTR, SRV for UDP and TCP, then the name's own address: four questions.
    assert_eq!(pair.net.endpoint(pair.alice).stats().dns_queries, 4);
}

#[test]
fn a_call_cancelled_while_its_name_is_looked_up_ends_at_once() {
    let mut pair = Pair::new(309);
    pair.net.dns_latency = Duration::from_secs(2);
    example_zone(&mut pair, vec![srv(10, 0, 5060, "bob.example.com")]);
    pair.auto_answer(pair.bob);
    let call = call_to(&mut pair, "sip:bob@example.com");
    pair.net.run_for(Duration::from_millis(500));
    pair.net.on(pair.alice, |ep, now| ep.hangup(now, call)).unwrap();
    pair.run_until_idle();
    assert_eq!(pair.end_reason(pair.alice, call), Some(EndReason::Cancelled));
    assert!(!pair.net.ladder().contains("INVITE"), "{}", pair.net.ladder());
}

#[test]
fn a_registration_to_a_named_registrar_is_located() {
    let mut pair = Pair::configured(
        310,
        |_| {},
        |bob| bob.calls.app_methods.push(sip_core::message::Method::Register),
    );
    pair.net.dns_records(
        "example.com",
        DnsRecords::Naptr(vec![naptr(10, "SIP+D2T", "_sip._tcp.example.com")]),
    );
    pair.net.dns_records(
        "_sip._tcp.example.com",
        DnsRecords::Srv(vec![srv(10, 0, 5060, "bob.example.com")]),
    );
    pair.net.dns_records("bob.example.com", addresses(&["192.0.2.2"]));
    pair.net.set_handler(pair.bob, |ep, event, now| {
        if let Event::Request {
            transaction, request, ..
        } = event
        {
            let mut ok = ep.response(transaction, StatusCode::OK).unwrap();
            if let Some(contact) = request.headers.get(HeaderName::Contact) {
                ok.headers
                    .push(HeaderName::Contact, format!("{contact};expires=600"));
            }
            ep.respond(now, transaction, ok).unwrap();
        }
    });
    let registrar = Uri::parse("sip:example.com").unwrap();
    pair.net
        .on(pair.alice, |ep, now| {
            ep.register(now, registrar, Some("sip:alice@example.com"), 600)
        })
        .unwrap();
    pair.net.run_for(Duration::from_secs(1));
    let registered = pair.net.events(pair.alice).iter().any(|(_, e)| {
        matches!(
            e,
            Event::Registration {
                event: RegistrationEvent::Registered { .. },
                ..
            }
        )
    });
    assert!(registered, "{}", pair.net.ladder());
    // Over TCP, as NAPTR said.
    assert!(
        pair.net
            .ladder()
            .contains("REGISTER sip:example.com SIP/2.0  (1 REGISTER) b1  [TCP]")
    );
}

#[test]
fn a_bye_to_a_named_remote_target_is_located() {
    let mut pair = Pair::new(311);
    pair.net.dns_records("bob.example.com", addresses(&["192.0.2.2"]));
    let call = call_to(&mut pair, "sip:bob@192.0.2.2");
    pair.net.run_for(Duration::from_millis(50));
    // Bob's answer names a host in its Contact (his endpoint never does: the test writes
    // it, from the INVITE Bob was offered).
    let invite = pair
        .net
        .events(pair.bob)
        .iter()
        .find_map(|(_, event)| match event {
            Event::Call {
                event: CallEvent::Incoming { request, .. },
                ..
            } => Some(request.clone()),
            _ => None,
        })
        .unwrap();
    let answer = pair.audio_description(pair.bob).to_bytes();
    let mut ok = sip_core::message::response_to(&invite, StatusCode::OK, None, Some("b0b"));
    ok.headers.push(HeaderName::Contact, "<sip:bob@bob.example.com>");
    ok.headers.push(HeaderName::ContentType, "application/sdp");
    ok.headers
        .set(HeaderName::ContentLength, answer.len().to_string());
    ok.body = answer;
    pair.net.inject(pair.bob, pair.alice, ok.to_bytes());
    pair.run_until_state(pair.alice, call, CallState::Connected);
    assert_eq!(dns_lines(&pair), 0, "the ACK goes where the INVITE went");
    pair.net.on(pair.alice, |ep, now| ep.hangup(now, call)).unwrap();
    pair.run_until_idle();
    assert_eq!(pair.end_reason(pair.alice, call), Some(EndReason::LocalBye));
    let ladder = pair.net.ladder();
    assert!(
        ladder.contains("alice  -> dns    NAPTR bob.example.com"),
        "{ladder}"
    );
    assert!(
        ladder.contains("alice  -> bob    BYE sip:bob@bob.example.com SIP/2.0"),
        "{ladder}"
    );
    snapshot!("dns_bye_to_named_remote_target", &pair.net);
}

#[test]
fn a_tls_connection_located_by_srv_checks_the_uris_domain_not_the_srv_host() {
    use sip_core::dns::{DnsAnswer, DnsError, RecordType};
    use sip_core::endpoint::{Endpoint, EndpointConfig, FlowRequest};
    use sip_core::message::{Method, RequestBuilder};

    let mut config = EndpointConfig::new("192.0.2.1:5060".parse().unwrap(), 5);
    config.transports = vec![Transport::Udp, Transport::Tcp, Transport::Tls];
    let mut endpoint = Endpoint::new(config);
    let now = pair_clock();
    let target = Uri::parse("sips:example.com").unwrap();
    let options = RequestBuilder::new(Method::Options, target.clone())
        .via("SIP/2.0/TLS placeholder")
        .from("<sips:alice@example.org>;tag=1")
        .to("<sips:example.com>")
        .call_id("tls-sni")
        .cseq(1)
        .build()
        .unwrap();
    endpoint.send_request_to(now, options, &target).unwrap();
    let ttl = Duration::from_secs(60);
    let mut answers = 0;
    while let Some(query) = endpoint.poll_dns_query() {
        let answer = match (query.record_type, query.name.as_str()) {
            (RecordType::Srv, "_sips._tcp.example.com") => Ok(DnsAnswer {
                records: DnsRecords::Srv(vec![srv(0, 0, 5061, "sip1.example.com")]),
                ttl,
            }),
            (RecordType::A, "sip1.example.com") => Ok(DnsAnswer {
                records: addresses(&["192.0.2.5"]),
                ttl,
            }),
            _ => Err(DnsError::NotFound),
        };
        endpoint.handle_dns_response(now, query.id, answer);
        answers += 1;
    }
    assert_eq!(answers, 3, "NAPTR, the SIPS SRV, the SRV host's A");
    let Some(FlowRequest::Connect {
        transport,
        remote,
        server_name,
        ..
    }) = endpoint.poll_flow_request()
    else {
        panic!("no connection asked for");
    };
    assert_eq!(transport, Transport::Tls);
    assert_eq!(remote, "192.0.2.5:5061".parse::<SocketAddr>().unwrap());
    // RFC 5922 §4: the certificate must name the domain we meant to reach.
    assert_eq!(server_name.as_deref(), Some("example.com"));
}

/// A starting instant for tests that drive an Endpoint by hand.
fn pair_clock() -> std::time::Instant {
    Pair::new(1).net.now()
}

/// An Endpoint at 192.0.2.1 driven by hand, and an OPTIONS for `target` to send through it.
fn lone_endpoint(
    configure: impl FnOnce(&mut sip_core::endpoint::EndpointConfig),
) -> sip_core::endpoint::Endpoint {
    let mut config = sip_core::endpoint::EndpointConfig::new("192.0.2.1:5060".parse().unwrap(), 9);
    configure(&mut config);
    sip_core::endpoint::Endpoint::new(config)
}

fn options_to(target: &str, call_id: &str) -> (sip_core::message::Request, Uri) {
    use sip_core::message::{Method, RequestBuilder};
    let uri = Uri::parse(target).unwrap();
    let request = RequestBuilder::new(Method::Options, uri.clone())
        .via("SIP/2.0/UDP placeholder")
        .from("<sip:alice@192.0.2.1>;tag=1")
        .to(format!("<{target}>"))
        .call_id(call_id)
        .cseq(1)
        .build()
        .unwrap();
    (request, uri)
}

fn questions(endpoint: &mut sip_core::endpoint::Endpoint) -> Vec<sip_core::dns::DnsQuery> {
    std::iter::from_fn(|| endpoint.poll_dns_query()).collect()
}

#[test]
fn an_unanswered_question_ends_the_lookup_after_the_timeout() {
    use sip_core::dns::{DnsAnswer, RecordType};
    let mut endpoint = lone_endpoint(|_| {});
    let start = pair_clock();
    let (request, uri) = options_to("sip:example.com", "q-timeout");
    let tx = endpoint.send_request_to(start, request, &uri).unwrap();
    let first = questions(&mut endpoint);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].record_type, RecordType::Naptr);
    // Nothing answers. After DnsConfig::query_timeout (8 s) the request fails rather than
    // wait as long again for SRV and then A from a resolver that is not there.
    assert!(endpoint.poll_timeout().unwrap() <= start + Duration::from_secs(8));
    endpoint.handle_timeout(start + Duration::from_secs(8));
    assert!(endpoint.poll_dns_query().is_none());
    let failed = std::iter::from_fn(|| endpoint.poll_event())
        .any(|event| matches!(event, Event::TransportError { transaction } if transaction == tx));
    assert!(failed);
    assert_eq!(endpoint.stats().unlocated, 1);
    // A late answer to the NAPTR is ignored.
    let late = DnsAnswer {
        records: DnsRecords::Naptr(vec![naptr(1, "SIP+D2U", "_sip._udp.example.com")]),
        ttl: Duration::from_secs(60),
    };
    endpoint.handle_dns_response(start + Duration::from_secs(9), first[0].id, Ok(late));
    assert!(endpoint.poll_dns_query().is_none());
    assert!(endpoint.poll_transmit().is_none());
}

#[test]
fn a_failed_answer_lets_the_lookup_go_on_and_is_not_kept_long() {
    use sip_core::dns::DnsError;
    let mut endpoint = lone_endpoint(|_| {});
    let start = pair_clock();
    let (request, uri) = options_to("sip:example.com", "q-servfail");
    endpoint.send_request_to(start, request, &uri).unwrap();
    let naptr_question = questions(&mut endpoint).remove(0);
    // A SERVFAIL for the NAPTR: RFC 3263 goes on with SRV.
    endpoint.handle_dns_response(start, naptr_question.id, Err(DnsError::Failed));
    let srv: Vec<String> = questions(&mut endpoint).into_iter().map(|q| q.name).collect();
    assert_eq!(srv, ["_sip._udp.example.com", "_sip._tcp.example.com"]);
    // Six seconds later the failure is forgotten: a new request asks the NAPTR again.
    let later = start + Duration::from_secs(6);
    let (request, uri) = options_to("sip:example.com", "q-servfail-2");
    endpoint.send_request_to(later, request, &uri).unwrap();
    let asked: Vec<String> = questions(&mut endpoint).into_iter().map(|q| q.name).collect();
    assert!(asked.contains(&"example.com".to_owned()), "{asked:?}");
}

#[test]
fn answers_are_kept_for_their_ttl_and_then_asked_again() {
    use sip_core::dns::{DnsAnswer, DnsError, RecordType};
    let mut endpoint = lone_endpoint(|_| {});
    let start = pair_clock();
    let answer = |endpoint: &mut sip_core::endpoint::Endpoint, now| {
        let mut asked = Vec::new();
        while let Some(query) = endpoint.poll_dns_query() {
            asked.push(format!("{} {}", query.record_type, query.name));
            let reply = match query.record_type {
                RecordType::A => Ok(DnsAnswer {
                    records: addresses(&["192.0.2.2"]),
                    ttl: Duration::from_secs(10),
                }),
                _ => Err(DnsError::NotFound),
            };
            endpoint.handle_dns_response(now, query.id, reply);
        }
        asked
    };
    let (request, uri) = options_to("sip:bob.example.com", "ttl-1");
    endpoint.send_request_to(start, request, &uri).unwrap();
    assert_eq!(answer(&mut endpoint, start).len(), 4);
    assert!(endpoint.poll_transmit().is_some());
    // Within the TTL (and the 30 s "not found" memory): from the cache.
    let soon = start + Duration::from_secs(5);
    let (request, uri) = options_to("sip:bob.example.com", "ttl-2");
    endpoint.send_request_to(soon, request, &uri).unwrap();
    assert!(answer(&mut endpoint, soon).is_empty());
    // Past the A record's TTL of 10 s only it is asked again.
    let later = start + Duration::from_secs(11);
    let (request, uri) = options_to("sip:bob.example.com", "ttl-3");
    endpoint.send_request_to(later, request, &uri).unwrap();
    assert_eq!(answer(&mut endpoint, later), ["A bob.example.com"]);
}

#[test]
fn the_cache_and_the_waiting_lookups_have_limits() {
    let mut endpoint = lone_endpoint(|config| {
        config.dns.max_pending_lookups = 2;
    });
    let now = pair_clock();
    for (n, name) in ["a.example", "b.example"].into_iter().enumerate() {
        let (request, uri) = options_to(&format!("sip:{name}"), &format!("limit-{n}"));
        endpoint.send_request_to(now, request, &uri).unwrap();
    }
    let (request, uri) = options_to("sip:c.example", "limit-3");
    let refused = endpoint.send_request_to(now, request, &uri);
    assert!(
        matches!(refused, Err(sip_core::endpoint::SendError::Unreachable(_))),
        "{refused:?}"
    );
    assert_eq!(questions(&mut endpoint).len(), 2);
}

#[test]
fn a_response_to_a_named_sent_by_goes_to_the_source_address_without_dns() {
    // RFC 3261 §18.2.1: a sent-by that is a name gets `received`; §18.2.2 then sends the
    // response to that address (at the sent-by port), so no DNS is needed (RFC 3263 §5
    // applies only when that fails).
    let mut pair = Pair::new(312);
    let options = "OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\n\
        Via: SIP/2.0/UDP alice.example.com:5060;branch=z9hG4bKnamed1\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:alice@example.com>;tag=a1\r\n\
        To: <sip:bob@192.0.2.2>\r\n\
        Call-ID: named-sent-by\r\n\
        CSeq: 1 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";
    pair.net
        .inject(pair.alice, pair.bob, Bytes::from_static(options.as_bytes()));
    pair.run_until_idle();
    let ladder = pair.net.ladder();
    assert!(
        ladder.contains("bob    -> alice  SIP/2.0 200 OK  (1 OPTIONS)"),
        "{ladder}"
    );
    assert_eq!(dns_lines(&pair), 0);
    assert_eq!(pair.net.endpoint(pair.bob).stats().dns_queries, 0);
}

#[test]
fn a_redirect_to_a_named_contact_is_located() {
    let mut pair = Pair::new(313);
    let carol_addr: SocketAddr = CAROL.parse().unwrap();
    let carol = pair.net.add_node("carol", carol_addr);
    // Carol sends every call on to Bob, by name.
    pair.net.set_handler(carol, |ep, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            let bob = Uri::parse("sip:bob@bob.example.com").unwrap();
            ep.redirect(now, call, &[bob]).unwrap();
        }
    });
    pair.net.dns_records("bob.example.com", addresses(&["192.0.2.2"]));
    pair.auto_answer(pair.bob);
    let call = call_to(&mut pair, "sip:carol@192.0.2.3");
    pair.run_until_state(pair.alice, call, CallState::Connected);
    let ladder = pair.net.ladder();
    assert!(ladder.contains("carol  -> alice  SIP/2.0 302"), "{ladder}");
    assert!(ladder.contains("alice  -> dns    A bob.example.com"), "{ladder}");
    assert!(
        ladder.contains("alice  -> bob    INVITE sip:bob@bob.example.com SIP/2.0  (2 INVITE)"),
        "{ladder}"
    );
}
