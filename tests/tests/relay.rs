//! Requests and responses through a simulated stateless, Record-Routing relay (RFC 3261
//! §16.11): both legs in the ladder, Route popped, Record-Route added, responses retracing the
//! Vias, and whatever the relay cannot forward dropped without a panic.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_core::endpoint::{Event, Transport};
use sip_core::message::{Method, Request, StatusCode, Uri};
use sip_core::sim::{DropReason, Network, NodeId, RelayConfig};
use sip_tests::{ack_for_2xx, answer_with, assert_quiescent, pair, snapshot, statuses, transaction_layer};

const RELAY: &str = "192.0.2.3:5060";

/// The Call-ID of every scenario's requests.
const CALL_ID: &str = "relay-3848276298@192.0.2.1";

/// Alice (192.0.2.1), Bob (192.0.2.2) and a relay (192.0.2.3) between them, 10 ms per hop.
fn triangle(seed: u64, config: RelayConfig) -> (Network, NodeId, NodeId, NodeId) {
    // Transaction-layer scenarios: the call layer is off, so INVITEs reach the handlers.
    let (mut net, alice, bob) = pair(seed, transaction_layer);
    let relay = net.add_relay_with("proxy", RELAY.parse().unwrap(), config);
    (net, alice, bob, relay)
}

fn request(method: Method, route: Option<&str>) -> Request {
    sip_tests::request(method, CALL_ID, 1, route)
}

/// The requests `node`'s user was handed.
fn requests(net: &Network, node: NodeId) -> Vec<Request> {
    net.events(node)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Request { request, .. } => Some(request.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn options_through_relay_reaches_bob_and_the_answer_comes_back() {
    let (mut net, alice, bob, relay) = triangle(21, RelayConfig::default());
    answer_with(&mut net, bob, StatusCode::OK);
    net.send_request(alice, request(Method::Options, None), relay, Transport::Udp)
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(statuses(&net, alice), [200]);
    let at_bob = requests(&net, bob);
    assert_eq!(at_bob.len(), 1);
    let vias: Vec<_> = at_bob[0].headers.vias().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 2, "the relay's Via on top of Alice's");
    assert_eq!(vias[0].host_str(), "192.0.2.3");
    assert_eq!(at_bob[0].headers.get("Max-Forwards"), Some("69"));
    assert!(
        !at_bob[0].headers.contains("Record-Route"),
        "OPTIONS creates no dialog"
    );
    assert!(net.relay_drops(relay).is_empty());
    assert_quiescent(&mut net, &[alice, bob]);
    snapshot!("options_through_relay", &net);
}

#[test]
fn an_invite_routed_to_the_relay_loses_that_route_and_gains_its_record_route() {
    let (mut net, alice, bob, relay) = triangle(22, RelayConfig::default());
    answer_with(&mut net, bob, StatusCode::OK);
    net.set_handler(alice, |endpoint, event, now| {
        if let Event::Response { response, .. } = event
            && response.status.is_success()
        {
            // The 2xx ACK is a new transaction sent by the UA core along the route set
            // (RFC 3261 §13.2.2.4, §12.2.1.1): through the relay again.
            let relay = RELAY.parse().unwrap();
            let route = format!("<sip:{RELAY};lr>");
            endpoint.send_stateless(now, ack_for_2xx(&response, Some(&route)), relay);
        }
    });
    let route = format!("<sip:{RELAY};lr>");
    net.send_request(
        alice,
        request(Method::Invite, Some(&route)),
        relay,
        Transport::Udp,
    )
    .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(statuses(&net, alice), [100, 200]);

    let invite = &requests(&net, bob)[0];
    assert_eq!(invite.method, Method::Invite);
    assert!(
        !invite.headers.contains("Route"),
        "the Route naming the relay is popped"
    );
    assert_eq!(
        invite.headers.get("Record-Route"),
        Some("<sip:192.0.2.3:5060;lr>")
    );
    assert_eq!(invite.uri.as_str(), "sip:bob@192.0.2.2");
    assert!(
        net.events(bob)
            .iter()
            .any(|(_, e)| matches!(e, Event::Ack { .. })),
        "the 2xx ACK reaches Bob through the relay"
    );
    assert_quiescent(&mut net, &[alice, bob]);
    snapshot!("invite_through_relay", &net);
}

#[test]
fn cancel_and_the_non_2xx_ack_through_the_relay_match_bobs_invite_transaction() {
    // The relay derives its branch from the incoming one only (§16.11), so the CANCEL and
    // the 487's ACK reach Bob with the branch his INVITE server transaction has.
    let (mut net, alice, bob, relay) = triangle(23, RelayConfig::default());
    answer_with(&mut net, bob, StatusCode::RINGING);
    let invite = net
        .send_request(alice, request(Method::Invite, None), relay, Transport::Udp)
        .unwrap();
    net.run_for(Duration::from_millis(500));
    net.on(alice, |e, now| e.cancel_transaction(now, invite)).unwrap();
    net.run_until_idle().unwrap();
    let mut got = statuses(&net, alice);
    got.sort_unstable();
    assert_eq!(got, [100, 180, 200, 487]);
    assert!(
        net.events(bob)
            .iter()
            .any(|(_, e)| matches!(e, Event::Cancelled { .. }))
    );
    assert_quiescent(&mut net, &[alice, bob]);
    snapshot!("invite_cancel_through_relay", &net);
}

#[test]
fn a_response_with_a_foreign_top_via_is_dropped() {
    let (mut net, alice, bob, relay) = triangle(24, RelayConfig::default());
    let stray = Bytes::from_static(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKstray\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKalice\r\nFrom: <sip:alice@192.0.2.1>;tag=a\r\n\
To: <sip:bob@192.0.2.2>;tag=b\r\nCall-ID: stray@192.0.2.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    net.inject(bob, relay, stray.clone());
    net.run_until_idle().unwrap();
    let drops = net.relay_drops(relay);
    assert_eq!(drops.len(), 1);
    assert_eq!(drops[0].reason, DropReason::ForeignVia);
    assert_eq!(drops[0].payload, stray);
    assert!(net.events(alice).is_empty(), "nothing reached Alice");
    assert_eq!(net.ladder().lines().count(), 2, "{}", net.ladder());
    assert!(net.ladder().ends_with("[foreign Via]\n"), "{}", net.ladder());
}

#[test]
fn garbage_and_unroutable_requests_are_dropped_and_recorded() {
    let (mut net, alice, _bob, relay) = triangle(25, RelayConfig::default());
    net.inject(
        alice,
        relay,
        Bytes::from_static(b"\x00\xffnot SIP at all\r\n\r\n"),
    );
    net.inject(alice, relay, Bytes::new());
    let nowhere = request(Method::Options, None)
        .to_bytes()
        .iter()
        .copied()
        .collect::<Vec<u8>>();
    let nowhere = String::from_utf8(nowhere)
        .unwrap()
        .replacen("sip:bob@192.0.2.2", "sip:carol@192.0.2.77", 1)
        .replace("placeholder", "192.0.2.1:5060;branch=z9hG4bKnowhere");
    net.inject(alice, relay, Bytes::from(nowhere));
    net.run_until_idle().unwrap();
    let reasons: Vec<DropReason> = net.relay_drops(relay).iter().map(|d| d.reason).collect();
    assert_eq!(
        reasons,
        [
            DropReason::Malformed,
            DropReason::Malformed,
            DropReason::Unroutable
        ]
    );
}

#[test]
fn a_strict_relay_turns_a_strict_route_back_into_the_remote_target() {
    // Behind a strict Record-Route (`<sip:relay>`, no `lr`), Alice's UA sends in-dialog
    // requests with the relay in the Request-URI and Bob's Contact last in Route (RFC 3261
    // §12.2.1.1); the relay restores the Request-URI from that last Route (§16.4).
    let strict = RelayConfig {
        record_route: true,
        strict: true,
    };
    let (mut net, alice, bob, relay) = triangle(26, strict);
    answer_with(&mut net, bob, StatusCode::OK);
    let mut bye = request(Method::Bye, Some("<sip:bob@192.0.2.2>"));
    bye.uri = Uri::parse(&format!("sip:{RELAY}")).unwrap();
    bye.headers.set(
        sip_core::message::HeaderName::To,
        "Bob <sip:bob@192.0.2.2>;tag=b0b",
    );
    net.send_request(alice, bye, relay, Transport::Udp).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(statuses(&net, alice), [200]);
    let at_bob = &requests(&net, bob)[0];
    assert_eq!(at_bob.uri.as_str(), "sip:bob@192.0.2.2");
    assert!(!at_bob.headers.contains("Route"));
    assert!(
        !at_bob.headers.contains("Record-Route"),
        "in-dialog: no Record-Route"
    );
}

#[test]
fn a_strict_relay_record_routes_without_lr() {
    let strict = RelayConfig {
        record_route: true,
        strict: true,
    };
    let (mut net, alice, bob, relay) = triangle(27, strict);
    answer_with(&mut net, bob, StatusCode::BUSY_HERE);
    net.send_request(alice, request(Method::Subscribe, None), relay, Transport::Udp)
        .unwrap();
    net.run_until_idle().unwrap();
    let at_bob = &requests(&net, bob)[0];
    assert_eq!(at_bob.headers.get("Record-Route"), Some("<sip:192.0.2.3:5060>"));
}

#[test]
#[should_panic(expected = "is a relay, which has no Endpoint")]
fn asking_a_relay_for_its_endpoint_panics_with_a_clear_message() {
    let (mut net, _alice, _bob, relay) = triangle(28, RelayConfig::default());
    let _ = net.endpoint(relay);
}
