//! Digest authentication of requests other than REGISTER (RFC 3261 §22): an INVITE
//! challenged by a proxy with 407, a MESSAGE challenged with 401. Bob is a plain
//! transaction layer whose application challenges with a `DigestVerifier`. Ladder
//! snapshots in `snapshots/`. (REGISTER's are in `registration.rs`.)

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use sip_core::auth::{DigestVerifier, Verdict, VerifierConfig};
use sip_core::call::{CallEvent, EndReason};
use sip_core::config::Credential;
use sip_core::endpoint::{EndpointConfig, Event};
use sip_core::message::{HeaderName, Method, StatusCode, Uri, response_to};
use sip_core::pager::MessageEvent;
use sip_core::sim::{Network, NodeId};
use sip_tests::{alice_sdp, bob_sdp, pair_configured, snapshot, transaction_layer};

fn alice_with(password: &'static str) -> impl FnOnce(&mut EndpointConfig) {
    move |config| config.credentials.push(Credential::any_realm("alice", password))
}

/// Bob challenges every INVITE and MESSAGE without good credentials (`challenge` says
/// 401 or 407), answers those with good ones (200, with SDP for an INVITE), and answers
/// BYE 200. Returns the verdicts, one per request with credentials.
fn challenging_bob(
    seed: u64,
    password: &'static str,
    challenge: StatusCode,
) -> (Network, NodeId, NodeId, Rc<RefCell<Vec<String>>>) {
    challenging_bob_with(seed, password, challenge, false)
}

/// [`challenging_bob`], challenging BYE too when `bye`.
fn challenging_bob_with(
    seed: u64,
    password: &'static str,
    challenge: StatusCode,
    bye: bool,
) -> (Network, NodeId, NodeId, Rc<RefCell<Vec<String>>>) {
    let (mut net, alice, bob) = pair_configured(seed, alice_with(password), transaction_layer);
    let verdicts = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&verdicts);
    let mut verifier: Option<DigestVerifier> = None;
    let mut seed = 11u64;
    net.set_handler(bob, move |endpoint, event, now| {
        let Event::Request {
            transaction, request, ..
        } = event
        else {
            return;
        };
        if request.method == Method::Bye && !bye {
            let ok = response_to(&request, StatusCode::OK, None, None);
            endpoint.respond(now, transaction, ok).unwrap();
            return;
        }
        let verifier = verifier.get_or_insert_with(|| {
            DigestVerifier::new(now, VerifierConfig::default(), &mut || {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                seed
            })
        });
        let proxy = challenge == StatusCode::PROXY_AUTHENTICATION_REQUIRED;
        let credentials = if proxy {
            request.headers.proxy_authorization().next()
        } else {
            request.headers.authorization().next()
        };
        let verdict = credentials.map(|credentials| {
            verifier.verify(
                now,
                &credentials.unwrap(),
                &request.method,
                &request.body,
                |user, _| (user == "alice").then_some("secret"),
            )
        });
        log.borrow_mut().push(format!("{} {verdict:?}", request.method));
        let response = if verdict == Some(Verdict::Ok) {
            let status = if request.method == Method::Refer {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            let mut ok = response_to(&request, status, None, Some("bob1"));
            if request.method == Method::Invite {
                ok.headers.push(HeaderName::Contact, "<sip:bob@192.0.2.2:5060>");
                ok.headers.push(HeaderName::ContentType, "application/sdp");
                ok.body = bob_sdp();
            }
            if request.method == Method::Subscribe {
                ok.headers.push(HeaderName::Contact, "<sip:bob@192.0.2.2:5060>");
                ok.headers.push(HeaderName::Expires, "600");
            }
            ok
        } else {
            let header = if proxy {
                HeaderName::ProxyAuthenticate
            } else {
                HeaderName::WwwAuthenticate
            };
            let offer = verifier.challenge(now, "example.com", false).unwrap();
            let mut challenged = response_to(&request, challenge, None, Some("bob1"));
            challenged.headers.push(header, offer.to_string());
            challenged
        };
        endpoint.respond(now, transaction, response).unwrap();
    });
    (net, alice, bob, verdicts)
}

fn bob_uri() -> Uri {
    Uri::parse("sip:bob@192.0.2.2:5060").unwrap()
}

#[test]
fn an_invite_challenged_with_407_is_sent_again_with_credentials() {
    let (mut net, alice, _bob, verdicts) =
        challenging_bob(121, "secret", StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    let call = net
        .on(alice, |ep, now| ep.invite(now, bob_uri(), alice_sdp(), None))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(*verdicts.borrow(), ["INVITE None", "INVITE Some(Ok)"]);
    assert!(net.events(alice).iter().any(|(_, event)| matches!(
        event,
        Event::Call { call: c, event: CallEvent::Answered { .. } } if *c == call
    )));
    net.on(alice, |ep, now| ep.bye(now, call)).unwrap();
    net.run_until_idle().unwrap();
    let ended = net.events(alice).iter().find_map(|(_, event)| match event {
        Event::Call {
            event: CallEvent::Terminated { reason, .. },
            ..
        } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(ended, Some(EndReason::LocalBye));
    snapshot!("auth_invite_407_then_200", &net);
}

#[test]
fn an_invite_with_a_wrong_password_is_rejected_once_not_looped() {
    let (mut net, alice, _bob, verdicts) =
        challenging_bob(122, "wrong", StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    net.on(alice, |ep, now| ep.invite(now, bob_uri(), alice_sdp(), None))
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(*verdicts.borrow(), ["INVITE None", "INVITE Some(Wrong)"]);
    let ended = net.events(alice).iter().find_map(|(_, event)| match event {
        Event::Call {
            event: CallEvent::Terminated { reason, .. },
            ..
        } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        ended,
        Some(EndReason::Rejected(StatusCode::PROXY_AUTHENTICATION_REQUIRED))
    );
}

#[test]
fn a_message_challenged_with_401_is_sent_again_with_credentials() {
    let (mut net, alice, _bob, verdicts) = challenging_bob(123, "secret", StatusCode::UNAUTHORIZED);
    let id = net
        .on(alice, |ep, now| {
            ep.send_message(now, bob_uri(), "text/plain", Bytes::from_static(b"hi"))
        })
        .unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(*verdicts.borrow(), ["MESSAGE None", "MESSAGE Some(Ok)"]);
    assert!(net.events(alice).iter().any(|(_, event)| matches!(
        event,
        Event::Message { message, event: MessageEvent::Delivered { .. } } if *message == id
    )));
    snapshot!("auth_message_401_then_200", &net);
}

/// A BYE challenged with 401 goes again with credentials and the dialog's next CSeq; the
/// call ends with its 200.
#[test]
fn a_bye_challenged_with_401_is_sent_again_with_credentials() {
    let (mut net, alice, _bob, verdicts) =
        challenging_bob_with(124, "secret", StatusCode::UNAUTHORIZED, true);
    let call = net
        .on(alice, |ep, now| ep.invite(now, bob_uri(), alice_sdp(), None))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    net.on(alice, |ep, now| ep.bye(now, call)).unwrap();
    net.run_until_idle().unwrap();
    assert_eq!(
        *verdicts.borrow(),
        ["INVITE None", "INVITE Some(Ok)", "BYE None", "BYE Some(Ok)"],
    );
    let ended = net.events(alice).iter().find_map(|(_, event)| match event {
        Event::Call {
            event: CallEvent::Terminated { reason, .. },
            ..
        } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(ended, Some(EndReason::LocalBye));
    snapshot!("auth_bye_401_then_200", &net);
}

/// A re-INVITE (hold) challenged with 401 goes again with credentials and the dialog's
/// next CSeq; the hold completes as if unchallenged.
#[test]
fn a_reinvite_challenged_with_401_is_sent_again_with_credentials() {
    let (mut net, alice, _bob, verdicts) = challenging_bob(125, "secret", StatusCode::UNAUTHORIZED);
    let call = net
        .on(alice, |ep, now| ep.invite(now, bob_uri(), alice_sdp(), None))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    net.on(alice, |ep, now| ep.hold(now, call)).unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        *verdicts.borrow(),
        ["INVITE None", "INVITE Some(Ok)", "INVITE None", "INVITE Some(Ok)"]
    );
    assert!(net.events(alice).iter().any(|(_, event)| matches!(
        event,
        Event::Call { call: c, event: CallEvent::Hold { .. } } if *c == call
    )));
    snapshot!("auth_reinvite_401_then_200", &net);
}

/// A REFER challenged with 401 goes again with credentials; its implicit subscription is
/// named by the REFER that was accepted (RFC 3515 §2.4.6: `id` is its CSeq).
#[test]
fn a_refer_challenged_with_401_is_sent_again_with_credentials() {
    let (mut net, alice, bob, verdicts) = challenging_bob(126, "secret", StatusCode::UNAUTHORIZED);
    let call = net
        .on(alice, |ep, now| ep.invite(now, bob_uri(), alice_sdp(), None))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let carol = Uri::parse("sip:carol@192.0.2.3").unwrap();
    let refer = net.on(alice, |ep, now| ep.refer(now, call, &carol)).unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        *verdicts.borrow(),
        ["INVITE None", "INVITE Some(Ok)", "REFER None", "REFER Some(Ok)"]
    );
    assert!(net.events(alice).iter().any(|(_, event)| matches!(
        event,
        Event::Subscription { subscription, event: sip_core::subscription::SubscriptionEvent::Accepted { .. } }
            if *subscription == refer
    )));
    // Bob's NOTIFY names the REFER that was accepted: `id=4`, not the challenged 3.
    let key = net.endpoint(alice).call_dialog(call).unwrap().key();
    let body = "SIP/2.0 100 Trying\r\n";
    let notify = format!(
        "NOTIFY sip:alice@192.0.2.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK-notify-4\r\n\
         From: <sip:bob@192.0.2.2>;tag={}\r\n\
         To: <sip:alice@192.0.2.1>;tag={}\r\n\
         Call-ID: {}\r\n\
         CSeq: 1 NOTIFY\r\n\
         Max-Forwards: 70\r\n\
         Contact: <sip:bob@192.0.2.2:5060>\r\n\
         Event: refer;id=4\r\n\
         Subscription-State: active;expires=60\r\n\
         Content-Type: message/sipfrag\r\n\
         Content-Length: {}\r\n\r\n{body}",
        key.remote_tag,
        key.local_tag,
        key.call_id,
        body.len()
    );
    net.inject(bob, alice, Bytes::from(notify));
    net.run_for(Duration::from_secs(1));
    assert!(net.events(alice).iter().any(|(_, event)| matches!(
        event,
        Event::Subscription { subscription, event: sip_core::subscription::SubscriptionEvent::Transfer { status } }
            if *subscription == refer && *status == StatusCode::TRYING
    )), "{}", net.ladder());
    snapshot!("auth_refer_401_then_202", &net);
}

/// Credentials are reused (RFC 3261 §22.3): after one challenged call, the next INVITE to
/// the same realm carries credentials for its nonce (the next nc) and passes at once.
#[test]
fn a_second_call_to_a_realm_is_pre_authorized() {
    let (mut net, alice, _bob, verdicts) =
        challenging_bob(127, "secret", StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    for _ in 0..2 {
        let call = net
            .on(alice, |ep, now| ep.invite(now, bob_uri(), alice_sdp(), None))
            .unwrap();
        net.run_for(Duration::from_secs(1));
        net.on(alice, |ep, now| ep.bye(now, call)).unwrap();
        net.run_for(Duration::from_secs(1));
    }
    assert_eq!(
        *verdicts.borrow(),
        ["INVITE None", "INVITE Some(Ok)", "INVITE Some(Ok)"]
    );
}

/// A SUBSCRIBE challenged with 401 goes again with credentials; the 2xx to the retry
/// makes the subscription.
#[test]
fn a_subscribe_challenged_with_401_is_sent_again_with_credentials() {
    let (mut net, alice, _bob, verdicts) = challenging_bob(128, "secret", StatusCode::UNAUTHORIZED);
    let id = net
        .on(alice, |ep, now| ep.subscribe(now, bob_uri(), "presence", 600))
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        *verdicts.borrow(),
        ["SUBSCRIBE None", "SUBSCRIBE Some(Ok)"],
        "{}",
        net.ladder()
    );
    assert!(net.events(alice).iter().any(|(_, event)| matches!(
        event,
        Event::Subscription { subscription, event: sip_core::subscription::SubscriptionEvent::Accepted { .. } }
            if *subscription == id
    )));
}
