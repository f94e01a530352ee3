//! The application API over real sockets: statistics, a call's history, and what a
//! graceful shutdown does to new calls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_tokio::{CallEvent, CallState, EndReason, StatusCode, UserAgent};
use tokio::time::timeout;

async fn agent() -> UserAgent {
    UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn stats_count_calls_dialogs_and_messages() {
    let (alice, bob) = (agent().await, agent().await);
    let mut incoming = bob.incoming().await.unwrap();
    let mut call = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), Bytes::new(), None)
        .await
        .unwrap();
    let answered = incoming.next().await.unwrap();
    answered.answer(Bytes::new(), None).await.unwrap();
    timeout(Duration::from_secs(5), async {
        while let Some(event) = call.next_event().await {
            if matches!(event, CallEvent::Answered { .. }) {
                break;
            }
        }
    })
    .await
    .unwrap();
    let during = alice.stats().await.unwrap();
    assert_eq!((during.calls, during.dialogs), (1, 1));
    assert_eq!(during.counters.calls.invites, 1);
    call.hangup().await.unwrap();
    assert_eq!(call.ended().await, Some(EndReason::LocalBye));
    let after = alice.stats().await.unwrap();
    assert_eq!(after.calls, 0);
    assert_eq!(after.counters.calls.byes, 1);
    assert_eq!(after.counters.calls.successful, 1);
    assert!(after.counters.sent >= 3, "{after:?}");
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_calls_history_is_there_while_it_lives() {
    let (alice, bob) = (agent().await, agent().await);
    let mut incoming = bob.incoming().await.unwrap();
    let call = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), Bytes::new(), None)
        .await
        .unwrap();
    let ringing = incoming.next().await.unwrap();
    ringing.ringing().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let states: Vec<CallState> = call.history().await.unwrap().iter().map(|t| t.to).collect();
    assert_eq!(states, [CallState::Calling, CallState::Ringing]);
    call.hangup().await.unwrap();
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

/// During a graceful shutdown, new INVITEs get 503 and never reach the application.
/// (Bob's shutdown waits for his OPTIONS to a silent peer, which keeps the grace open.)
#[tokio::test]
async fn during_a_graceful_shutdown_new_calls_get_503() {
    let (alice, bob) = (agent().await, agent().await);
    let mut incoming = bob.incoming().await.unwrap();
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let unanswered = {
        let bob = bob.clone();
        let target = format!("sip:nobody@{}", silent.local_addr().unwrap());
        tokio::spawn(async move { bob.options(&target).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stopping = {
        let bob = bob.clone();
        tokio::spawn(async move { bob.shutdown(Duration::from_secs(2)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut call = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), Bytes::new(), None)
        .await
        .unwrap();
    assert_eq!(
        timeout(Duration::from_secs(5), call.ended()).await.unwrap(),
        Some(EndReason::Rejected(StatusCode::SERVICE_UNAVAILABLE))
    );
    assert!(
        timeout(Duration::from_millis(200), incoming.next())
            .await
            .map_or(true, |next| next.is_none()),
        "the call was not delivered"
    );
    stopping.await.unwrap();
    unanswered.abort();
    alice.shutdown(Duration::from_secs(1)).await;
}

/// DTMF over INFO (`application/dtmf-relay`, and `application/dtmf`) inside a call is
/// accepted by default and reaches the other side's handle; the sender hears 200.
#[tokio::test]
async fn dtmf_info_in_a_call_is_accepted() {
    use sip_core::message::Method;
    let (alice, bob) = (agent().await, agent().await);
    let mut incoming = bob.incoming().await.unwrap();
    let mut call = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), Bytes::new(), None)
        .await
        .unwrap();
    let mut bobs = incoming.next().await.unwrap();
    bobs.answer(Bytes::new(), None).await.unwrap();
    timeout(Duration::from_secs(5), async {
        while let Some(event) = call.next_event().await {
            if matches!(event, CallEvent::Answered { .. }) {
                break;
            }
        }
    })
    .await
    .unwrap();
    for (content_type, body) in [
        ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
        ("application/dtmf", "5"),
    ] {
        let status = call
            .send_request(Method::Info, Some(content_type), Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(status.status, StatusCode::OK, "{content_type}");
        let got = timeout(Duration::from_secs(5), async {
            loop {
                if let Some(CallEvent::Request { request, .. }) = bobs.next_event().await {
                    return request;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(got.body, Bytes::from(body));
    }
    call.hangup().await.unwrap();
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

/// Extra headers travel on the INVITE, the 200 and a rejection; one the stack writes
/// itself is refused.
#[tokio::test]
async fn extra_headers_on_the_invite_the_answer_and_a_rejection() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = std::sync::Arc::clone(&seen);
    let alice = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .on_message(move |m| {
            if m.direction == sip_tokio::Direction::Received {
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(m.payload).into_owned());
            }
        })
        .start()
        .await
        .unwrap();
    let bob = agent().await;
    let mut incoming = bob.incoming().await.unwrap();
    let target = format!("sip:bob@{}", bob.local_addr());
    let mut call = alice
        .call_with_headers(
            &target,
            Bytes::new(),
            None,
            &[("X-Account", "42"), ("Subject", "hello")],
        )
        .await
        .unwrap();
    let bobs = incoming.next().await.unwrap();
    let invite = bobs.request().unwrap();
    assert_eq!(invite.headers.get("X-Account"), Some("42"));
    assert_eq!(invite.headers.get("Subject"), Some("hello"));
    bobs.answer_with_headers(Bytes::new(), None, &[("X-Answered-By", "bob")])
        .await
        .unwrap();
    timeout(Duration::from_secs(5), async {
        loop {
            if let Some(CallEvent::Answered { .. }) = call.next_event().await {
                return;
            }
        }
    })
    .await
    .unwrap();
    let answered = seen
        .lock()
        .unwrap()
        .iter()
        .any(|m| m.starts_with("SIP/2.0 200") && m.contains("X-Answered-By: bob\r\n"));
    assert!(answered, "the 200 carried the header");
    call.hangup().await.unwrap();

    let mut second = alice.call(&target, Bytes::new(), None).await.unwrap();
    let refused = incoming.next().await.unwrap();
    refused
        .reject_with_headers(486, None, &[("Retry-After", "60")])
        .await
        .unwrap();
    let rejected = timeout(Duration::from_secs(5), async {
        loop {
            if let Some(CallEvent::Rejected { status, .. }) = second.next_event().await {
                return status;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(rejected, StatusCode::BUSY_HERE);
    let retry_after = seen
        .lock()
        .unwrap()
        .iter()
        .any(|m| m.starts_with("SIP/2.0 486") && m.contains("Retry-After: 60\r\n"));
    assert!(retry_after, "the 486 carried Retry-After");
    assert!(
        alice
            .call_with_headers(&target, Bytes::new(), None, &[("Via", "SIP/2.0/UDP evil")])
            .await
            .is_err()
    );
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

/// A body type the agent was not told to accept gets 415; once accepted, it passes.
#[tokio::test]
async fn accepted_body_types_are_configurable() {
    use sip_core::message::Method;
    let alice = agent().await;
    let strict = agent().await;
    let open = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .accept_content_type("application/vnd.example+json")
        .start()
        .await
        .unwrap();
    for (bob, expected) in [
        (&strict, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (&open, StatusCode::OK),
    ] {
        let mut incoming = bob.incoming().await.unwrap();
        let mut call = alice
            .call(&format!("sip:bob@{}", bob.local_addr()), Bytes::new(), None)
            .await
            .unwrap();
        let bobs = incoming.next().await.unwrap();
        bobs.answer(Bytes::new(), None).await.unwrap();
        timeout(Duration::from_secs(5), async {
            while let Some(event) = call.next_event().await {
                if matches!(event, CallEvent::Answered { .. }) {
                    break;
                }
            }
        })
        .await
        .unwrap();
        let status = call
            .send_request(
                Method::Info,
                Some("application/vnd.example+json"),
                Bytes::from_static(b"{}"),
            )
            .await
            .unwrap();
        assert_eq!(status.status, expected);
        call.hangup().await.unwrap();
    }
    for ua in [alice, strict, open] {
        ua.shutdown(Duration::from_secs(1)).await;
    }
}

/// A raw request built by the application goes out of any dialog and its final response
/// comes back whole.
#[tokio::test]
async fn a_raw_request_gets_its_response() {
    use sip_core::message::{Method, RequestBuilder, Uri};
    let (alice, bob) = (agent().await, agent().await);
    let target = format!("sip:bob@{}", bob.local_addr());
    let request = RequestBuilder::new(Method::Options, Uri::parse(&target).unwrap())
        .via("SIP/2.0/UDP placeholder")
        .from(format!("<sip:alice@{}>;tag=raw1", alice.local_addr()))
        .to(format!("<{target}>"))
        .call_id("raw-request-1")
        .cseq(7)
        .header("X-Probe", "yes")
        .build()
        .unwrap();
    let response = timeout(Duration::from_secs(5), alice.send_request(request, &target))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert!(
        response
            .headers
            .get("Allow")
            .is_some_and(|allow| allow.contains("INVITE"))
    );
    assert_eq!(response.headers.get("Call-ID"), Some("raw-request-1"));
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

/// Both session descriptions can be read at any time: the offer and the answer once
/// connected, and our hold offer after a hold.
#[tokio::test]
async fn session_descriptions_at_any_time() {
    use sip_core::sdp::SessionDescription;
    let ip = "127.0.0.1".parse().unwrap();
    let offer = SessionDescription::simple_audio("alice", 1, ip, 40_000, &[0]).to_bytes();
    let answer = SessionDescription::simple_audio("bob", 2, ip, 42_000, &[0]).to_bytes();
    let (alice, bob) = (agent().await, agent().await);
    let mut incoming = bob.incoming().await.unwrap();
    let mut call = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), offer.clone(), None)
        .await
        .unwrap();
    let bobs = incoming.next().await.unwrap();
    bobs.answer(answer.clone(), None).await.unwrap();
    timeout(Duration::from_secs(5), async {
        while let Some(event) = call.next_event().await {
            if matches!(event, CallEvent::Answered { .. }) {
                break;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        call.descriptions().await.unwrap(),
        (Some(offer.clone()), Some(answer.clone()))
    );
    assert_eq!(bobs.descriptions().await.unwrap(), (Some(answer), Some(offer)));
    call.hold().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ours, _) = call.descriptions().await.unwrap();
    assert!(String::from_utf8_lossy(&ours.unwrap()).contains("a=sendonly"));
    call.hangup().await.unwrap();
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

/// With an outbound proxy, a MESSAGE for Bob goes to the proxy with a preloaded Route
/// naming it (loose routing); the proxy here is a socket that answers for Bob.
#[tokio::test]
async fn requests_outside_a_dialog_go_through_the_outbound_proxy() {
    use sip_core::message::{HeaderName, Message, response_to};
    let proxy = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let proxy_at = proxy.local_addr().unwrap();
    let alice = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .outbound_proxy(&format!("sip:{proxy_at}"))
        .start()
        .await
        .unwrap();
    let seen = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        let (len, from) = proxy.recv_from(&mut buf).await.unwrap();
        let Ok(Message::Request(request)) = Message::parse(Bytes::copy_from_slice(&buf[..len])) else {
            panic!("not a request");
        };
        let route = request.headers.get(HeaderName::Route).map(str::to_owned);
        let ok = response_to(&request, StatusCode::OK, None, Some("p1"));
        proxy.send_to(&ok.to_bytes(), from).await.unwrap();
        (request.uri.to_string(), route)
    });
    let status = timeout(
        Duration::from_secs(5),
        alice.message("sip:bob@127.0.0.1:9", "text/plain", Bytes::from_static(b"hi")),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    let (uri, route) = seen.await.unwrap();
    assert_eq!(uri, "sip:bob@127.0.0.1:9", "the Request-URI stays the target");
    assert_eq!(route, Some(format!("<sip:{proxy_at};lr>")));
    alice.shutdown(Duration::from_secs(1)).await;
}

/// With `dialog_events`, a call's handle hears its dialog's states: early (the 180),
/// confirmed (the 200), terminated (the BYE).
#[tokio::test]
async fn a_calls_handle_hears_its_dialog_states() {
    use sip_core::dialog::DialogState::{Confirmed, Early, Terminated};
    let alice = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .dialog_events(true)
        .start()
        .await
        .unwrap();
    let bob = agent().await;
    let mut incoming = bob.incoming().await.unwrap();
    let mut call = alice
        .call(&format!("sip:bob@{}", bob.local_addr()), Bytes::new(), None)
        .await
        .unwrap();
    let bobs = incoming.next().await.unwrap();
    bobs.ringing().await.unwrap();
    bobs.answer(Bytes::new(), None).await.unwrap();
    let mut states = Vec::new();
    timeout(Duration::from_secs(5), async {
        while let Some(event) = call.next_event().await {
            match event {
                CallEvent::DialogState { from, to, .. } => states.push((from, to)),
                CallEvent::Answered { .. } => break,
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    call.hangup().await.unwrap();
    timeout(Duration::from_secs(5), async {
        while let Some(event) = call.next_event().await {
            if let CallEvent::DialogState { from, to, .. } = event {
                states.push((from, to));
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        states,
        [
            (None, Early),
            (Some(Early), Confirmed),
            (Some(Confirmed), Terminated)
        ]
    );
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}
