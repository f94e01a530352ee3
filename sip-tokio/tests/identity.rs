//! Who an agent says it is, over real loopback sockets: an identity with a display name and
//! a user part, a configured Max-Forwards, and an agent bound to every interface that
//! advertises the address it is reached at.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sip_core::message::{HeaderName, Message};
use sip_core::sdp::SessionDescription;
use sip_tokio::{Call, CallEvent, Direction, EndReason, Error, UserAgent};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

fn sdp(user: &str, ip: IpAddr) -> Bytes {
    SessionDescription::simple_audio(user, 1, ip, 4000, &[0, 8, 101]).to_bytes()
}

/// Every whole message an agent sent or received, parsed (UDP: one datagram, one message).
type Seen = Arc<Mutex<Vec<(Direction, Message)>>>;

fn recorded(builder: sip_tokio::Builder) -> (sip_tokio::Builder, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let builder = builder.t1(Duration::from_millis(100)).on_message(move |trace| {
        if let Ok(message) = Message::parse(Bytes::copy_from_slice(trace.payload)) {
            log.lock().unwrap().push((trace.direction, message));
        }
    });
    (builder, seen)
}

/// The requests among `seen` that went `direction`, as (method, message).
fn requests(seen: &Seen, direction: Direction) -> Vec<(String, Message)> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(d, _)| *d == direction)
        .filter_map(|(_, message)| match message {
            Message::Request(request) => Some((request.method.as_str().to_owned(), message.clone())),
            Message::Response(_) => None,
        })
        .collect()
}

fn header(message: &Message, name: HeaderName) -> String {
    message.headers().get(name).unwrap_or_default().to_owned()
}

async fn answered(call: &mut Call) {
    timeout(LIMIT, async {
        loop {
            match call.next_event().await.expect("call events ended early") {
                CallEvent::Answered { .. } => return,
                CallEvent::Terminated { reason, .. } => panic!("the call ended: {reason}"),
                _ => {}
            }
        }
    })
    .await
    .expect("timed out waiting for the answer");
}

#[tokio::test]
async fn a_call_from_an_identity_with_a_display_name_connects() {
    let (builder, alice_saw) = recorded(
        UserAgent::builder()
            .identity(r#""Alice" <sip:alice@127.0.0.1>"#)
            .max_forwards(42),
    );
    let alice = builder.start().await.unwrap();
    let bob = UserAgent::builder().start().await.unwrap();
    let mut incoming = bob.incoming().await.unwrap();
    let target = format!("sip:bob@{}", bob.local_addr());
    let mut out = alice
        .call(&target, sdp("alice", alice.local_addr().ip()), None)
        .await
        .unwrap();
    let inc = timeout(LIMIT, incoming.next()).await.unwrap().unwrap();
    let invite = inc.request().unwrap();
    let from = invite.headers.get(HeaderName::From).unwrap();
    assert!(
        from.starts_with(r#""Alice" <sip:alice@127.0.0.1>;tag="#),
        "From: {from}"
    );
    assert_eq!(
        invite.headers.get(HeaderName::Contact),
        Some(format!("<sip:alice@{}>", alice.local_addr()).as_str()),
        "the Contact carries the identity's user part"
    );
    assert_eq!(invite.headers.get(HeaderName::MaxForwards), Some("42"));
    inc.answer(sdp("bob", bob.local_addr().ip()), None).await.unwrap();
    answered(&mut out).await;
    // A request the dialog builds (a re-INVITE putting Bob on hold).
    out.hold().await.unwrap();
    timeout(LIMIT, async {
        while !matches!(out.next_event().await, Some(CallEvent::Hold { .. })) {}
    })
    .await
    .unwrap();
    // Bob's BYE goes to Alice's Contact, user part and all.
    inc.bye().await.unwrap();
    let mut inc = inc;
    assert_eq!(
        timeout(LIMIT, out.ended()).await.unwrap(),
        Some(EndReason::RemoteBye)
    );
    assert_eq!(
        timeout(LIMIT, inc.ended()).await.unwrap(),
        Some(EndReason::LocalBye)
    );
    // OPTIONS and MESSAGE carry the same From.
    assert!(alice.options(&target).await.unwrap().is_success());
    timeout(LIMIT, alice.shutdown(Duration::from_secs(2)))
        .await
        .unwrap();
    timeout(LIMIT, bob.shutdown(Duration::from_secs(2)))
        .await
        .unwrap();

    let sent = requests(&alice_saw, Direction::Sent);
    let methods: Vec<&str> = sent.iter().map(|(method, _)| method.as_str()).collect();
    assert_eq!(
        methods,
        ["INVITE", "ACK", "INVITE", "ACK", "OPTIONS"],
        "{methods:?}"
    );
    for (method, request) in &sent {
        assert_eq!(header(request, HeaderName::MaxForwards), "42", "{method}");
        assert!(
            header(request, HeaderName::From).starts_with(r#""Alice" <sip:alice@127.0.0.1>;tag="#),
            "{method}"
        );
    }
    // Nothing was refused: no 400 for a From Bob could not read, no retransmitted INVITE.
    let statuses: Vec<u16> = alice_saw
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, message)| match message {
            Message::Response(response) => Some(response.status.as_u16()),
            Message::Request(_) => None,
        })
        .collect();
    assert!(statuses.iter().all(|&status| status < 300), "{statuses:?}");
}

#[tokio::test]
async fn an_identity_that_does_not_parse_is_refused_at_start() {
    for bad in [r#""Alice <sip:alice@127.0.0.1>"#, "<sip:alice@127.0.0.1", "alice"] {
        let result = UserAgent::builder().identity(bad).start().await;
        assert!(matches!(result, Err(Error::BadIdentity(_))), "{bad}: {result:?}");
    }
}

#[tokio::test]
async fn an_agent_bound_to_every_interface_is_reached_at_its_advertised_address() {
    let (builder, bob_saw) = recorded(
        UserAgent::builder()
            .bind("0.0.0.0:0".parse().unwrap())
            .advertise("127.0.0.1:0".parse().unwrap()),
    );
    let bob = builder.start().await.unwrap();
    let port = bob.local_addr().port();
    assert!(bob.local_addr().ip().is_unspecified());
    assert_eq!(bob.advertised_addr(), ([127, 0, 0, 1], port).into());
    let (builder, alice_saw) = recorded(UserAgent::builder());
    let alice = builder.start().await.unwrap();

    // Alice calls Bob at his advertised address; his 200's Contact says where he is, so
    // her ACK and BYE reach him.
    let mut bobs_calls = bob.incoming().await.unwrap();
    let target = format!("sip:bob@{}", bob.advertised_addr());
    let mut out = alice
        .call(&target, sdp("alice", alice.local_addr().ip()), None)
        .await
        .unwrap();
    let mut inc = timeout(LIMIT, bobs_calls.next()).await.unwrap().unwrap();
    inc.answer(sdp("bob", bob.advertised_addr().ip()), None)
        .await
        .unwrap();
    answered(&mut out).await;
    out.bye().await.unwrap();
    assert_eq!(
        timeout(LIMIT, inc.ended()).await.unwrap(),
        Some(EndReason::RemoteBye)
    );
    assert_eq!(
        timeout(LIMIT, out.ended()).await.unwrap(),
        Some(EndReason::LocalBye)
    );

    // Bob calls Alice: his Via and Contact name 127.0.0.1, and her BYE reaches him.
    let mut alices_calls = alice.incoming().await.unwrap();
    let mut out = bob
        .call(
            &format!("sip:alice@{}", alice.local_addr()),
            sdp("bob", bob.advertised_addr().ip()),
            None,
        )
        .await
        .unwrap();
    let mut inc = timeout(LIMIT, alices_calls.next()).await.unwrap().unwrap();
    let invite = inc.request().unwrap();
    let via = invite.headers.get(HeaderName::Via).unwrap();
    assert!(
        via.starts_with(&format!("SIP/2.0/UDP 127.0.0.1:{port};")),
        "Via: {via}"
    );
    assert_eq!(
        invite.headers.get(HeaderName::Contact),
        Some(format!("<sip:127.0.0.1:{port}>").as_str())
    );
    assert_eq!(
        invite
            .headers
            .get(HeaderName::From)
            .map(|f| f.starts_with(&format!("<sip:127.0.0.1:{port}>;tag="))),
        Some(true),
        "the default identity names the advertised address"
    );
    inc.answer(sdp("alice", alice.local_addr().ip()), None)
        .await
        .unwrap();
    answered(&mut out).await;
    inc.bye().await.unwrap();
    assert_eq!(
        timeout(LIMIT, out.ended()).await.unwrap(),
        Some(EndReason::RemoteBye)
    );
    assert_eq!(
        timeout(LIMIT, inc.ended()).await.unwrap(),
        Some(EndReason::LocalBye)
    );
    timeout(LIMIT, alice.shutdown(Duration::from_secs(2)))
        .await
        .unwrap();
    timeout(LIMIT, bob.shutdown(Duration::from_secs(2)))
        .await
        .unwrap();

    // Nothing Bob sent names the address he is bound to.
    let bob_sent = bob_saw
        .lock()
        .unwrap()
        .iter()
        .filter(|(d, _)| *d == Direction::Sent)
        .count();
    assert!(bob_sent >= 6, "Bob sent {bob_sent} messages");
    for (direction, message) in bob_saw.lock().unwrap().iter() {
        if *direction == Direction::Sent {
            let text = String::from_utf8_lossy(&message.to_bytes()).into_owned();
            assert!(!text.contains("0.0.0.0"), "{text}");
        }
    }
    // Alice's requests in Bob's dialogs went to 127.0.0.1, where he is.
    assert_eq!(
        requests(&alice_saw, Direction::Sent)
            .iter()
            .map(|(method, _)| method.as_str())
            .collect::<Vec<_>>(),
        ["INVITE", "ACK", "BYE", "BYE"]
    );
}
