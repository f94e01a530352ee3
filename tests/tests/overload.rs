//! Admission under load: past the call limit, or past one address's share of it, a new
//! INVITE gets a stateless 503 with Retry-After before any transaction or call is made for
//! it, while what was already accepted carries on. And the same for a graceful stop: an
//! Endpoint not accepting new work refuses new requests with 503 while its calls end.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use sip_core::call::CallEvent;
use sip_core::endpoint::{CallId, Endpoint, EndpointConfig, EndpointLimits, Event};
use sip_core::message::{HeaderName, Message, StatusCode};

const BOB: &str = "192.0.2.2:5060";

fn bob(configure: impl FnOnce(&mut EndpointLimits)) -> Endpoint {
    let mut config = EndpointConfig::new(BOB.parse().unwrap(), 7);
    configure(&mut config.limits);
    Endpoint::new(config)
}

fn caller(host: u8) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, host], 5060))
}

fn invite(from: SocketAddr, call_id: &str) -> Bytes {
    Bytes::from(format!(
        "INVITE sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@{ip}>;tag=a-{call_id}\r\nTo: <sip:bob@192.0.2.2>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{from}>\r\nContent-Length: 0\r\n\r\n",
        ip = from.ip()
    ))
}

/// Sends an INVITE from `from`; what Bob answered (status codes) and the call he started
/// for it, if any.
fn offer(
    bob: &mut Endpoint,
    now: Instant,
    from: SocketAddr,
    call_id: &str,
) -> (Vec<Message>, Option<CallId>) {
    bob.handle_datagram(now, BOB.parse().unwrap(), from, invite(from, call_id));
    let answers = std::iter::from_fn(|| bob.poll_transmit())
        .map(|t| Message::parse(t.payload).unwrap())
        .collect();
    let call = std::iter::from_fn(|| bob.poll_event()).find_map(|event| match event {
        Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } => Some(call),
        _ => None,
    });
    (answers, call)
}

fn statuses(answers: &[Message]) -> Vec<u16> {
    answers
        .iter()
        .map(|m| m.as_response().unwrap().status.as_u16())
        .collect()
}

#[test]
fn past_the_call_limit_a_new_invite_gets_a_stateless_503_with_retry_after() {
    let mut bob = bob(|limits| limits.max_calls = 2);
    let now = Instant::now();
    for (i, host) in [1, 2].into_iter().enumerate() {
        let (answers, call) = offer(&mut bob, now, caller(host), &format!("ok{i}"));
        assert_eq!(statuses(&answers), vec![100]);
        assert!(call.is_some());
    }
    let transactions = bob.transaction_count();
    let (answers, call) = offer(&mut bob, now, caller(3), "over");
    assert_eq!(statuses(&answers), vec![503]);
    let retry_after = answers[0].headers().get(HeaderName::RetryAfter).unwrap();
    assert_eq!(retry_after, bob.config().retry_after.to_string().as_str());
    assert_eq!(call, None, "no call is made for it");
    assert_eq!(bob.transaction_count(), transactions, "nor a transaction");
}

#[test]
fn one_address_cannot_take_more_than_its_share_of_calls() {
    let mut bob = bob(|limits| {
        limits.max_calls = 10;
        limits.max_calls_per_source = 2;
    });
    let now = Instant::now();
    let flooder = caller(66);
    let (first, _) = offer(&mut bob, now, flooder, "f1");
    let (second, _) = offer(&mut bob, now, flooder, "f2");
    let (third, none) = offer(&mut bob, now, flooder, "f3");
    assert_eq!(statuses(&[first, second].concat()), vec![100, 100]);
    assert_eq!((statuses(&third), none), (vec![503], None));
    // Everyone else still gets through.
    let (answers, call) = offer(&mut bob, now, caller(1), "valid");
    assert_eq!(statuses(&answers), vec![100]);
    assert!(call.is_some());
}

#[test]
fn a_retransmitted_invite_of_an_admitted_call_is_absorbed_not_refused() {
    let mut bob = bob(|limits| limits.max_calls = 1);
    let now = Instant::now();
    let (_, call) = offer(&mut bob, now, caller(1), "first");
    let call = call.unwrap();
    bob.ringing(now, call).unwrap();
    let _ = std::iter::from_fn(|| bob.poll_transmit()).count();
    // At the limit, the same INVITE again is a retransmission: its transaction answers
    // with the last provisional (RFC 3261 §17.2.1).
    let (answers, again) = offer(&mut bob, now, caller(1), "first");
    assert_eq!((statuses(&answers), again), (vec![180], None));
}

#[test]
fn a_call_that_ends_gives_its_address_its_share_back() {
    let mut bob = bob(|limits| limits.max_calls_per_source = 1);
    let now = Instant::now();
    let (_, call) = offer(&mut bob, now, caller(1), "one");
    let (refused, _) = offer(&mut bob, now, caller(1), "two");
    assert_eq!(statuses(&refused), vec![503]);
    bob.reject(now, call.unwrap(), StatusCode::BUSY_HERE, None)
        .unwrap();
    let rejected: Vec<Message> = std::iter::from_fn(|| bob.poll_transmit())
        .map(|t| Message::parse(t.payload).unwrap())
        .collect();
    assert_eq!(statuses(&rejected), vec![486]);
    let (answers, again) = offer(&mut bob, now, caller(1), "three");
    assert_eq!(statuses(&answers), vec![100]);
    assert!(again.is_some());
}

#[test]
fn a_driver_that_stops_polling_finds_the_output_queue_bounded() {
    let mut bob = bob(|_| {});
    let now = Instant::now();
    let requests = 70_000u32;
    for n in 0..requests {
        let options = format!(
            "OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=t{n}\r\nTo: <sip:bob@192.0.2.2>\r\n\
             Call-ID: {n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        bob.handle_datagram(now, BOB.parse().unwrap(), caller(1), Bytes::from(options));
    }
    let queued = std::iter::from_fn(|| bob.poll_transmit()).count();
    assert_eq!(queued, 1 << 16, "at most 65,536 messages wait");
    assert_eq!(bob.stats().outputs_dropped, u64::from(requests) - (1 << 16));
    assert_eq!(
        bob.stats().sent,
        u64::from(requests),
        "each was answered all the same"
    );
}

/// An out-of-dialog OPTIONS from `from`, numbered `n`.
fn options(from: SocketAddr, n: u32) -> Bytes {
    Bytes::from(format!(
        "OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKo{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=o{n}\r\nTo: <sip:bob@192.0.2.2>\r\n\
         Call-ID: options-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ))
}

/// What Bob sends back to `request` from `from`, parsed.
fn answers_to(bob: &mut Endpoint, now: Instant, from: SocketAddr, request: Bytes) -> Vec<Message> {
    bob.handle_datagram(now, BOB.parse().unwrap(), from, request);
    std::iter::from_fn(|| bob.poll_transmit())
        .map(|t| Message::parse(t.payload).unwrap())
        .collect()
}

#[test]
fn an_endpoint_not_accepting_refuses_new_requests_with_503_while_its_calls_end() {
    let mut bob = bob(|_| {});
    let now = Instant::now();
    let alice = caller(1);
    let (_, call) = offer(&mut bob, now, alice, "live");
    let call = call.unwrap();
    bob.ringing(now, call).unwrap();
    let _ = std::iter::from_fn(|| bob.poll_transmit()).count();

    // A graceful stop begins.
    bob.set_accepting(false);
    assert!(!bob.accepting());
    let (answers, refused) = offer(&mut bob, now, caller(2), "new");
    assert_eq!(statuses(&answers), vec![100, 503]);
    assert_eq!(refused, None, "the application never sees the call");
    let retry_after = bob.config().retry_after.to_string();
    assert_eq!(
        answers[1].headers().get(HeaderName::RetryAfter),
        Some(retry_after.as_str())
    );
    // OPTIONS gets what an INVITE would (RFC 3261 §11.2): a prober takes us out of its pool.
    let probe = answers_to(&mut bob, now, caller(3), options(caller(3), 1));
    assert_eq!(statuses(&probe), vec![503]);
    assert_eq!(
        probe[0].headers().get(HeaderName::RetryAfter),
        Some(retry_after.as_str())
    );

    // The call in progress goes on: answered, acknowledged, ended by the caller's BYE.
    bob.answer(now, call, Bytes::new(), None).unwrap();
    let ok = std::iter::from_fn(|| bob.poll_transmit())
        .map(|t| Message::parse(t.payload).unwrap())
        .find(|m| m.as_response().is_some_and(|r| r.status == StatusCode::OK))
        .expect("the 200 to the INVITE in progress");
    let to = ok.headers().get(HeaderName::To).unwrap().to_owned();
    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        Bytes::from(format!(
            "{method} sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP {alice};branch=z9hG4bK{branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@{ip}>;tag=a-live\r\nTo: {to}\r\n\
             Call-ID: live\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            ip = alice.ip()
        ))
    };
    let ack = answers_to(&mut bob, now, alice, in_dialog("ACK", 1, "ack"));
    assert!(ack.is_empty());
    let bye = answers_to(&mut bob, now, alice, in_dialog("BYE", 2, "bye"));
    assert_eq!(statuses(&bye), vec![200], "a request inside the call is served");
    assert_eq!(bob.call_count(), 0);

    // Taking work again: OPTIONS is answered 200 once more.
    bob.set_accepting(true);
    let probe = answers_to(&mut bob, now, caller(3), options(caller(3), 2));
    assert_eq!(statuses(&probe), vec![200]);
}
