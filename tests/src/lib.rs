//! End-to-end, conformance, property and comparison tests for the SIP stack (see `tests/`).
//!
//! This library holds what several test files share: Alice and Bob on a simulated network
//! ([`pair`]), ladder snapshots ([`snapshot!`]), session descriptions, a Bob who answers
//! calls ([`auto_answer`]) or transactions ([`answer_with`]), hand-made requests and the
//! checks that nothing is left behind. What one file alone uses stays in that file.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::IpAddr;

use bytes::Bytes;
use sip_core::call::{CallEvent, CallId};
use sip_core::endpoint::{EndpointConfig, Event};
use sip_core::message::{Method, Request, RequestBuilder, Response, StatusCode, Uri};
use sip_core::sdp::SessionDescription;
use sip_core::sim::harness::Pair;
use sip_core::sim::{Network, NodeId};

/// Asserts that the network's ladder matches the snapshot `name` in `snapshots/` (at the
/// workspace root), as `insta` keeps it: `snapshot!("call_basic_alice_hangs_up", &net)`.
///
/// A macro rather than a function so that the snapshot records the test file it comes
/// from, as it always has.
#[macro_export]
macro_rules! snapshot {
    ($name:expr, $net:expr) => {
        insta::with_settings!({
            snapshot_path => "../../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $net.ladder());
        })
    };
}

// ------------------------------------------------------------------------------------------
// Alice and Bob
// ------------------------------------------------------------------------------------------

/// Alice (192.0.2.1:5060) and Bob (192.0.2.2:5060) on a network seeded with `seed`, both
/// configured by `configure`: the simulator's [`Pair`], taken apart.
pub fn pair(seed: u64, configure: impl Fn(&mut EndpointConfig)) -> (Network, NodeId, NodeId) {
    pair_configured(seed, &configure, &configure)
}

/// Alice and Bob as [`pair`] makes them, each configured by its own function.
pub fn pair_configured(
    seed: u64,
    configure_alice: impl FnOnce(&mut EndpointConfig),
    configure_bob: impl FnOnce(&mut EndpointConfig),
) -> (Network, NodeId, NodeId) {
    let Pair { net, alice, bob, .. } = Pair::configured(seed, configure_alice, configure_bob);
    (net, alice, bob)
}

/// The default configuration, as it is.
pub fn defaults(_: &mut EndpointConfig) {}

/// The call layer off: a plain transaction layer, so INVITEs reach the handlers.
pub fn transaction_layer(config: &mut EndpointConfig) {
    config.calls.enabled = false;
}

// ------------------------------------------------------------------------------------------
// Calls
// ------------------------------------------------------------------------------------------

/// An audio session description for `user` at `ip` (PCMU, PCMA, telephone-event).
pub fn sdp(user: &str, ip: &str, port: u16) -> Bytes {
    SessionDescription::simple_audio(user, 1000, ip.parse::<IpAddr>().unwrap(), port, &[0, 8, 101]).to_bytes()
}

/// [`sdp`] with `o=` version `version`.
pub fn sdp_with_version(user: &str, ip: &str, port: u16, version: u64) -> Bytes {
    let mut sdp =
        SessionDescription::simple_audio(user, 1000, ip.parse::<IpAddr>().unwrap(), port, &[0, 8, 101]);
    sdp.origin_mut().version = version;
    sdp.to_bytes()
}

/// Alice's session description.
pub fn alice_sdp() -> Bytes {
    sdp("alice", "192.0.2.1", 49170)
}

/// Bob's session description.
pub fn bob_sdp() -> Bytes {
    sdp("bob", "192.0.2.2", 3456)
}

/// `node` rings and answers every incoming call at once, with [`bob_sdp`].
pub fn auto_answer(net: &mut Network, node: NodeId) {
    net.set_handler(node, |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            endpoint.ringing(now, call).unwrap();
            endpoint.answer(now, call, bob_sdp(), None).unwrap();
        }
    });
}

/// Alice calls `sip:bob@192.0.2.2` now, offering [`alice_sdp`].
pub fn call_to_bob(net: &mut Network, alice: NodeId) -> CallId {
    let target = Uri::parse("sip:bob@192.0.2.2").unwrap();
    net.on(alice, |e, now| e.invite(now, target, alice_sdp(), None))
        .unwrap()
}

// ------------------------------------------------------------------------------------------
// Transactions
// ------------------------------------------------------------------------------------------

/// A request from Alice to `sip:bob@192.0.2.2` (the Via's sent-by a placeholder the
/// Endpoint fills in), with `route` as its Route if given.
pub fn request(method: Method, call_id: &str, cseq: u32, route: Option<&str>) -> Request {
    let mut builder = RequestBuilder::new(method, Uri::parse("sip:bob@192.0.2.2").unwrap())
        .via("SIP/2.0/UDP placeholder")
        .from("Alice <sip:alice@192.0.2.1>;tag=a73kszlfl")
        .to("Bob <sip:bob@192.0.2.2>")
        .call_id(call_id)
        .cseq(cseq)
        .contact("<sip:alice@192.0.2.1>");
    if let Some(route) = route {
        builder = builder.header("Route", route);
    }
    builder.build().unwrap()
}

/// The ACK for a 2xx (RFC 3261 §13.2.2.4): a new branch, the 2xx's To tag, the INVITE's
/// CSeq, and `route` as its Route if given (the route set, §12.2.1.1).
pub fn ack_for_2xx(response: &Response, route: Option<&str>) -> Request {
    let cseq = response.headers.cseq().unwrap().unwrap().seq;
    let mut builder = RequestBuilder::new(Method::Ack, Uri::parse("sip:bob@192.0.2.2").unwrap())
        .via("SIP/2.0/UDP placeholder")
        .from(response.headers.get("From").unwrap())
        .to(response.headers.get("To").unwrap())
        .call_id(response.headers.get("Call-ID").unwrap())
        .cseq(cseq);
    if let Some(route) = route {
        builder = builder.header("Route", route);
    }
    builder.build().unwrap()
}

/// `node` answers every new request but ACK with `status`.
pub fn answer_with(net: &mut Network, node: NodeId, status: StatusCode) {
    net.set_handler(node, move |endpoint, event, now| {
        if let Event::Request {
            transaction, request, ..
        } = event
            && request.method != Method::Ack
        {
            let response = endpoint.response(transaction, status).unwrap();
            endpoint.respond(now, transaction, response).unwrap();
        }
    });
}

/// The status of every response `node`'s user was handed, in order.
pub fn statuses(net: &Network, node: NodeId) -> Vec<u16> {
    net.events(node)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Response { response, .. } => Some(response.status.as_u16()),
            _ => None,
        })
        .collect()
}

/// Nothing may be left behind once a transaction scenario is over: no transaction or
/// transaction timer on any of `nodes`.
pub fn assert_quiescent(net: &mut Network, nodes: &[NodeId]) {
    for &node in nodes {
        assert_eq!(net.endpoint(node).transaction_count(), 0, "transactions left");
        assert_eq!(net.endpoint(node).timer_count(), 0, "timers left");
    }
}
