//! What cannot be parsed costs a parse attempt and a counter: no answer goes to bytes with
//! no usable Via, and no stateless answer is larger than what it answers (a peer cannot use
//! us to amplify a flood at a forged source).

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use bytes::Bytes;
use sip_core::endpoint::{Endpoint, EndpointConfig};
use sip_core::message::Message;

const BOB: &str = "192.0.2.2:5060";

fn bob() -> Endpoint {
    Endpoint::new(EndpointConfig::new(BOB.parse().unwrap(), 51))
}

/// What `bob` sends back to `payload`.
fn replies(bob: &mut Endpoint, payload: Bytes) -> Vec<Bytes> {
    bob.handle_datagram(
        Instant::now(),
        BOB.parse().unwrap(),
        "198.51.100.9:5060".parse().unwrap(),
        payload,
    );
    std::iter::from_fn(|| bob.poll_transmit())
        .map(|t| t.payload)
        .collect()
}

#[test]
fn seven_bytes_of_garbage_get_no_reply_and_are_counted() {
    let mut bob = bob();
    assert!(replies(&mut bob, Bytes::from_static(b"X\nv:a\n\n")).is_empty());
    assert!(replies(&mut bob, Bytes::from_static(&[0, 1, 2, 3, 0xff, 0xfe])).is_empty());
    assert_eq!(bob.stats().invalid, 2);
    assert_eq!(bob.stats().dropped, 2);
}

#[test]
fn a_request_with_hundreds_of_vias_gets_a_reply_a_fraction_of_its_size() {
    let mut bob = bob();
    let vias = "Via: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKflood\r\n".repeat(500);
    let request = format!(
        "OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\n{vias}From: <sip:a@198.51.100.9>;tag=1\r\n\
         To: <sip:bob@192.0.2.2>\r\nCall-ID: flood\r\nCSeq: 1 OPTIONS\r\nContent-Length: many\r\n\r\n"
    );
    let answers = replies(&mut bob, Bytes::from(request.clone()));
    assert_eq!(answers.len(), 1);
    assert!(
        answers[0].len() < request.len() / 50,
        "{} bytes",
        answers[0].len()
    );
    let answer = Message::parse(answers[0].clone()).unwrap();
    assert_eq!(answer.as_response().unwrap().status.as_u16(), 400);
}

/// Every torture message that does not parse is answered, if at all, with no more bytes
/// than it has.
#[test]
fn no_stateless_reply_to_a_torture_message_is_larger_than_it() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/");
    let mut checked = 0;
    for dir in ["rfc4475", "rfc5118"] {
        for entry in std::fs::read_dir(format!("{root}{dir}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "tsv") {
                continue;
            }
            let payload = Bytes::from(std::fs::read(&path).unwrap());
            if Message::parse(payload.clone()).is_ok() {
                continue;
            }
            checked += 1;
            for reply in replies(&mut bob(), payload.clone()) {
                assert!(
                    reply.len() <= payload.len(),
                    "{}: {} bytes answered with {}",
                    path.display(),
                    payload.len(),
                    reply.len()
                );
            }
        }
    }
    assert!(checked >= 10, "only {checked} unparsable files");
}

/// A request naming nothing of ours gets its 481 and leaves nothing behind: a flood of
/// strays holds no memory for Timer J's 32 s (a retransmission just gets 481 again).
#[test]
fn a_stray_bye_or_cancel_is_answered_481_and_leaves_no_transaction() {
    let mut bob = bob();
    for (n, method) in ["BYE", "CANCEL", "INFO"].iter().enumerate() {
        let request = format!(
            "{method} sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKstray{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:a@198.51.100.9>;tag=a{n}\r\nTo: <sip:bob@192.0.2.2>;tag=gone\r\n\
             Call-ID: stray{n}\r\nCSeq: 2 {method}\r\nContent-Length: 0\r\n\r\n"
        );
        let answers = replies(&mut bob, Bytes::from(request));
        assert_eq!(answers.len(), 1, "{method}");
        let answer = Message::parse(answers[0].clone()).unwrap();
        assert_eq!(answer.as_response().unwrap().status.as_u16(), 481, "{method}");
        assert_eq!(bob.transaction_count(), 0, "{method} left a transaction");
        assert_eq!(bob.timer_count(), 0, "{method} left a timer");
    }
}

/// A flood of bad requests from one address draws a burst of stateless answers and then
/// nothing more for a while; another address is still answered.
#[test]
fn stateless_answers_to_one_source_are_rate_limited() {
    let mut bob = bob();
    let now = Instant::now();
    let bad = |n: usize| {
        Bytes::from(format!(
            "OPTIONS sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKr{n}\r\n\
             From: <sip:a@198.51.100.9>;tag=1\r\nTo: <sip:bob@192.0.2.2>\r\nCall-ID: r{n}\r\n\
             CSeq: 1 OPTIONS\r\nUser-Agent: a flood\r\nContent-Length: x\r\n\r\n"
        ))
    };
    let mut answered = 0;
    for n in 0..200 {
        let source = "198.51.100.9:5060".parse().unwrap();
        bob.handle_datagram(now, BOB.parse().unwrap(), source, bad(n));
        answered += std::iter::from_fn(|| bob.poll_transmit()).count();
    }
    assert_eq!(answered, 20, "a burst, then nothing");
    let other = "203.0.113.7:5060".parse().unwrap();
    bob.handle_datagram(now, BOB.parse().unwrap(), other, bad(999));
    assert_eq!(std::iter::from_fn(|| bob.poll_transmit()).count(), 1);
}

/// A minimal request: no Contact, User-Agent or Allow to make it larger than our answer.
fn minimal(method: &str, to_tag: &str, extra: &str) -> String {
    format!(
        "{method} sip:b@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bK{method}\r\n\
         From: <sip:a@198.51.100.9>;tag=1\r\nTo: <sip:b@192.0.2.2>{to_tag}\r\nCall-ID: s\r\n\
         CSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_481_to_a_stray_cancel_or_bye_is_never_larger_than_the_request() {
    let mut bob = bob();
    for (method, to_tag) in [("CANCEL", ""), ("BYE", ""), ("BYE", ";tag=gone")] {
        let request = minimal(method, to_tag, "");
        let answers = replies(&mut bob, Bytes::from(request.clone()));
        assert_eq!(answers.len(), 1, "{method} gets its 481");
        assert!(
            answers[0].len() <= request.len(),
            "{method}: {} > {}",
            answers[0].len(),
            request.len()
        );
        let answer = Message::parse(answers[0].clone()).unwrap();
        assert_eq!(answer.as_response().unwrap().status.as_u16(), 481);
    }
}

#[test]
fn a_validation_error_drops_its_warning_rather_than_outgrow_the_request() {
    let mut bob = bob();
    // Max-Forwards that is not a number: a 400 whose Warning would say so.
    let request = minimal("OPTIONS", "", "Max-Forwards: seventy\r\n");
    let answers = replies(&mut bob, Bytes::from(request.clone()));
    assert_eq!(answers.len(), 1);
    assert!(
        answers[0].len() <= request.len(),
        "{} > {}",
        answers[0].len(),
        request.len()
    );
    let answer = Message::parse(answers[0].clone()).unwrap();
    assert_eq!(answer.as_response().unwrap().status.as_u16(), 400);
}

#[test]
fn a_malformed_request_is_refused_without_a_transaction_and_the_same_tag_each_time() {
    let mut bob = bob();
    let request = minimal("OPTIONS", "", "Max-Forwards: seventy\r\n");
    let first = replies(&mut bob, Bytes::from(request.clone()));
    assert_eq!(bob.transaction_count(), 0, "nothing is kept for it");
    let again = replies(&mut bob, Bytes::from(request));
    let to_tag = |answer: &Bytes| {
        let message = Message::parse(answer.clone()).unwrap();
        message
            .as_response()
            .unwrap()
            .headers
            .get("To")
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        to_tag(&first[0]),
        to_tag(&again[0]),
        "RFC 3261 §8.2.7: the same tag"
    );
}

#[test]
fn answers_to_strays_from_one_source_are_rate_limited() {
    let mut bob = bob();
    let answered = (0..100)
        .map(|n| {
            let request = minimal("BYE", ";tag=gone", "").replace("Call-ID: s", &format!("Call-ID: s{n}"));
            replies(&mut bob, Bytes::from(request)).len()
        })
        .sum::<usize>();
    // A burst of 20, then 10 a second: in no time at all, 20.
    assert_eq!(answered, 20);
    assert_eq!(bob.transaction_count(), 0);
}
