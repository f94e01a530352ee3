//! Answers to SDP offers (RFC 3264 §6): properties of `SessionDescription::answer_for` over
//! generated offers, and what the call layer does with an offer that shares nothing with
//! us — 488 to a re-INVITE or UPDATE (RFC 3261 §14.2, RFC 3311 §5.2), a rejecting answer in
//! the ACK then BYE for an offer in a 2xx (RFC 3261 §13.2.2.4).

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use bytes::Bytes;
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use sip_core::call::{CallEvent, CallState, EndReason};
use sip_core::endpoint::Event;
use sip_core::message::{StatusCode, Uri};
use sip_core::sdp::{Direction, Media, SessionDescription};
use sip_core::sim::harness::Pair;

// ------------------------------------------------------------------------------------------
// Generated offers
// ------------------------------------------------------------------------------------------

/// Encodings an offer may give its dynamic payload types, as `a=rtpmap` writes them
/// (telephone-event/8000, the common one, more often).
const DYNAMIC: [&str; 10] = [
    "telephone-event/8000",
    "telephone-event/8000",
    "telephone-event/8000",
    "telephone-event/48000",
    "opus/48000/2",
    "OPUS/48000/2",
    "speex/16000",
    "G722/8000",
    "H264/90000",
    "iLBC/8000",
];
/// Static payload types an offer may list (with or without an `a=rtpmap`), PCMU and PCMA
/// more often.
const STATIC: [(u8, &str); 8] = [
    (0, "PCMU/8000"),
    (0, "PCMU/8000"),
    (8, "PCMA/8000"),
    (3, "GSM/8000"),
    (8, "PCMA/8000"),
    (9, "G722/8000"),
    (13, "CN/8000"),
    (18, "G729/8000"),
];
const DIRECTIONS: [&str; 4] = ["sendrecv", "sendonly", "recvonly", "inactive"];

/// An offer as text, in the shapes real offers take: up to four streams of audio, video or
/// T.38, some disabled, static and dynamic payload types in any order, telephone-event
/// with or without an events list, directions at either level, the RFC 2543 hold address.
#[derive(Debug, Clone)]
struct Offer(String);

impl Arbitrary for Offer {
    fn arbitrary(g: &mut Gen) -> Self {
        let pick = |g: &mut Gen, n: usize| usize::arbitrary(g) % n;
        let address = if pick(g, 8) == 0 {
            "0.0.0.0"
        } else {
            "198.51.100.7"
        };
        let mut text =
            format!("v=0\r\no=bob 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n");
        if pick(g, 6) == 0 {
            let _ = write!(text, "a={}\r\n", DIRECTIONS[pick(g, 4)]);
        }
        for _ in 0..pick(g, 5) {
            let port = if pick(g, 6) == 0 { 0 } else { 5004 };
            let (kind, protocol) = [
                ("audio", "RTP/AVP"),
                ("audio", "RTP/AVP"),
                ("audio", "RTP/AVP"),
                ("audio", "RTP/SAVP"),
                ("video", "RTP/AVP"),
                ("image", "udptl"),
            ][pick(g, 6)];
            if protocol == "udptl" {
                let _ = write!(text, "m=image {port} udptl t38\r\n");
                continue;
            }
            let mut formats: Vec<String> = Vec::new();
            let mut lines = String::new();
            for _ in 0..pick(g, 6) {
                if bool::arbitrary(g) {
                    let (pt, encoding) = STATIC[pick(g, STATIC.len())];
                    if formats.contains(&pt.to_string()) {
                        continue;
                    }
                    formats.push(pt.to_string());
                    if bool::arbitrary(g) {
                        let _ = write!(lines, "a=rtpmap:{pt} {encoding}\r\n");
                    }
                } else {
                    let pt = 96 + pick(g, 32);
                    if formats.contains(&pt.to_string()) {
                        continue;
                    }
                    formats.push(pt.to_string());
                    // Now and then a dynamic type without its rtpmap: it means nothing.
                    if pick(g, 8) == 0 {
                        continue;
                    }
                    let encoding = DYNAMIC[pick(g, DYNAMIC.len())];
                    let _ = write!(lines, "a=rtpmap:{pt} {encoding}\r\n");
                    if encoding.starts_with("telephone-event") && bool::arbitrary(g) {
                        let low = pick(g, 20);
                        let high = low + pick(g, 20);
                        let extra = if bool::arbitrary(g) { ",66" } else { "" };
                        let _ = write!(lines, "a=fmtp:{pt} {low}-{high}{extra}\r\n");
                    }
                }
            }
            let _ = write!(text, "m={kind} {port} {protocol}");
            for format in &formats {
                let _ = write!(text, " {format}");
            }
            text.push_str("\r\n");
            text.push_str(&lines);
            if pick(g, 3) > 0 {
                let _ = write!(text, "a={}\r\n", DIRECTIONS[pick(g, 4)]);
            }
        }
        Offer(text)
    }
}

/// Our description: `simple_audio` with some of PCMU, PCMA, G722 and telephone-event.
#[derive(Debug, Clone)]
struct Ours(Vec<u8>);

impl Arbitrary for Ours {
    fn arbitrary(g: &mut Gen) -> Self {
        let formats = [0, 8, 9, 101]
            .into_iter()
            .filter(|_| bool::arbitrary(g))
            .collect();
        Ours(formats)
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        Box::new(self.0.shrink().map(Ours))
    }
}

impl Ours {
    fn description(&self) -> SessionDescription {
        SessionDescription::simple_audio("alice", 1, "192.0.2.10".parse::<IpAddr>().unwrap(), 4000, &self.0)
    }
}

/// The events of telephone-event `format` in `media` (0-15 without a list, RFC 4733).
fn events(media: &Media, format: &str) -> BTreeSet<u8> {
    let list = media
        .attributes()
        .find_map(|(name, value)| {
            let (pt, list) = value?.split_once(' ')?;
            (name == "fmtp" && pt == format).then_some(list)
        })
        .unwrap_or("0-15");
    let mut set = BTreeSet::new();
    for element in list.split(',') {
        let (low, high) = element.split_once('-').unwrap_or((element, element));
        set.extend(low.parse::<u8>().unwrap()..=high.parse::<u8>().unwrap());
    }
    set
}

/// Whether `format` is telephone-event in `media`.
fn is_telephone_event(media: &Media, format: &str) -> bool {
    media.attributes().any(|(name, value)| {
        name == "rtpmap"
            && value
                .and_then(|v| v.split_once(' '))
                .is_some_and(|(pt, encoding)| {
                    pt == format && encoding.to_ascii_lowercase().starts_with("telephone-event/")
                })
    })
}

/// Checks every property of one answer; `Err` says which failed.
fn check(offer: &SessionDescription, ours: &SessionDescription, hold: bool) -> Result<(), String> {
    let answer = match ours.answer_for(offer, hold) {
        Ok(answer) => answer,
        Err(refused) => {
            // Refused only when there was something to accept, and then nothing is.
            let rejecting = refused.rejecting_answer();
            if !offer.media().iter().any(|m| !m.is_rejected()) {
                return Err("refused an offer without active streams".into());
            }
            if !rejecting.media().iter().all(Media::is_rejected) {
                return Err("the rejecting answer accepts a stream".into());
            }
            rejecting.clone()
        }
    };
    // RFC 3264 §6: as many m= lines as the offer, in the same order.
    if answer.media().len() != offer.media().len() {
        return Err(format!(
            "{} answer streams for {}",
            answer.media().len(),
            offer.media().len()
        ));
    }
    for (i, (offered, answered)) in offer.media().iter().zip(answer.media()).enumerate() {
        if (offered.kind.as_str(), offered.protocol.as_str())
            != (answered.kind.as_str(), answered.protocol.as_str())
        {
            return Err(format!("stream {i} answered as another media type or transport"));
        }
        // §6.1: only offered formats, in the offer's order.
        let mut rest = offered.formats.iter();
        if !answered.formats.iter().all(|f| rest.any(|o| o == f)) {
            return Err(format!(
                "stream {i}: {:?} is not an ordered part of the offered {:?}",
                answered.formats, offered.formats
            ));
        }
        // Format attributes only for the formats answered.
        for (name, value) in answered.attributes() {
            let format = value.and_then(|v| v.split(' ').next()).unwrap_or("");
            let about_a_format = matches!(name, "rtpmap" | "fmtp") || (name == "rtcp-fb" && format != "*");
            if about_a_format && !answered.formats.iter().any(|f| f == format) {
                return Err(format!("stream {i}: a={name} for unanswered format {format}"));
            }
        }
        if answered.is_rejected() {
            if answered.formats.is_empty() != offered.formats.is_empty() {
                return Err(format!("stream {i}: a rejected line without a format"));
            }
            continue;
        }
        if offered.is_rejected() {
            return Err(format!("stream {i}: accepted a stream the offer disabled"));
        }
        // §6.1: sendonly ↔ recvonly, inactive → inactive, sendrecv → what we want.
        let theirs = offer.effective_direction(i).unwrap();
        let wanted = if hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let direction = answer.media_direction(i).unwrap();
        if direction != Direction::answer(theirs, wanted) {
            return Err(format!("stream {i}: {theirs} answered {direction} (hold {hold})"));
        }
        // RFC 4733: telephone-event answers at most the events offered.
        for format in &answered.formats {
            if is_telephone_event(answered, format) {
                let answered_events = events(answered, format);
                if answered_events.is_empty() || !answered_events.is_subset(&events(offered, format)) {
                    return Err(format!("stream {i}: events {answered_events:?} not offered"));
                }
            }
        }
    }
    Ok(())
}

fn quickcheck() -> QuickCheck {
    QuickCheck::new().tests(2000)
}

#[test]
fn answers_list_only_offered_formats_in_as_many_lines_with_directions_per_rfc3264() {
    fn property(offer: Offer, ours: Ours, hold: bool) -> TestResult {
        let Ok(parsed) = SessionDescription::parse(offer.0.as_bytes()) else {
            return TestResult::error(format!("generated an unparsable offer:\n{}", offer.0));
        };
        match check(&parsed, &ours.description(), hold) {
            Ok(()) => TestResult::passed(),
            Err(why) => TestResult::error(format!("{why}\noffer:\n{}ours: {:?}", offer.0, ours.0)),
        }
    }
    quickcheck().quickcheck(property as fn(Offer, Ours, bool) -> TestResult);
}

#[test]
fn an_answer_is_refused_exactly_when_no_active_stream_is_accepted() {
    fn property(offer: Offer, ours: Ours) -> bool {
        let parsed = SessionDescription::parse(offer.0.as_bytes()).unwrap();
        let active = parsed.media().iter().any(|m| !m.is_rejected());
        match ours.description().answer_for(&parsed, false) {
            Ok(answer) => !active || answer.media().iter().any(|m| !m.is_rejected()),
            Err(_) => active,
        }
    }
    quickcheck().quickcheck(property as fn(Offer, Ours) -> bool);
}

#[test]
fn answers_survive_a_round_trip_and_answer_themselves() {
    // Our answer, taken as an offer by the peer's same template, is accepted as it is: it
    // lists formats both sides know (the call layer re-answers from its last description).
    fn property(offer: Offer, ours: Ours) -> bool {
        let parsed = SessionDescription::parse(offer.0.as_bytes()).unwrap();
        let Ok(answer) = ours.description().answer_for(&parsed, false) else {
            return true;
        };
        let again = SessionDescription::parse(&answer.to_bytes()).unwrap();
        again == answer && answer.answer_for(&again, false).is_ok()
    }
    quickcheck().quickcheck(property as fn(Offer, Ours) -> bool);
}

// ------------------------------------------------------------------------------------------
// The call layer
// ------------------------------------------------------------------------------------------

/// An audio description offering only G.729 (payload type 18), which nobody here supports.
fn g729_only(user: &str, ip: &str, port: u16) -> Bytes {
    Bytes::from(format!(
        "v=0\r\no={user} 7 7 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\na=sendrecv\r\n"
    ))
}

/// The call events `node` saw, in order.
fn events_of(pair: &Pair, node: sip_core::sim::NodeId) -> Vec<CallEvent> {
    pair.net
        .events(node)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Call { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_invite_sharing_no_format_with_the_auto_answerer_gets_488() {
    let mut pair = Pair::new(31);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let target = pair.uri(bob);
    let call = pair
        .net
        .on(alice, |e, now| {
            e.invite(now, target, g729_only("alice", "192.0.2.1", 49170), None)
        })
        .unwrap();
    pair.run_until_idle();
    assert!(
        events_of(&pair, alice).iter().any(
            |e| matches!(e, CallEvent::Rejected { status, .. } if *status == StatusCode::NOT_ACCEPTABLE_HERE)
        ),
        "{}",
        pair.net.ladder()
    );
    assert!(matches!(pair.end_reason(alice, call), Some(EndReason::Rejected(s)) if s.as_u16() == 488));
    pair.assert_quiescent();
}

#[test]
fn a_reinvite_sharing_no_format_gets_488_and_the_call_stays_as_it_was() {
    let mut pair = Pair::new(32);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
    pair.run_until_idle();
    let bob_call = pair.current_call(bob).unwrap();
    let offer = g729_only("alice", "192.0.2.1", 49172);
    pair.net
        .on(alice, |e, now| e.reinvite(now, call, offer.clone()))
        .unwrap();
    pair.run_until_idle();
    assert!(
        pair.net.ladder().contains("488 Not Acceptable Here  (2 INVITE)"),
        "{}",
        pair.net.ladder()
    );
    assert!(events_of(&pair, alice).iter().any(
        |e| matches!(e, CallEvent::OfferRejected { status } if *status == StatusCode::NOT_ACCEPTABLE_HERE)
    ));
    // Bob's application is told, and nothing else changed (no hold, no new description).
    let bob_events: Vec<_> = pair.call_events(bob, bob_call).cloned().collect();
    assert!(bob_events.contains(&CallEvent::RemoteOfferRejected { body: offer }));
    assert!(
        !bob_events
            .iter()
            .any(|e| matches!(e, CallEvent::RemoteOffer { .. } | CallEvent::Hold { .. }))
    );
    assert_eq!(pair.state(bob, bob_call), Some(CallState::Connected));
    assert_eq!(pair.state(alice, call), Some(CallState::Connected));
    // Alice's description is again the one before her refused offer (RFC 3261 §14.1): Bob's
    // hold is answered from it, and her own hold offers it.
    pair.net.on(bob, |e, now| e.hold(now, bob_call)).unwrap();
    pair.run_until_state(alice, call, CallState::Hold);
    pair.run_until_idle();
    pair.net.on(alice, |e, now| e.hold(now, call)).unwrap();
    pair.run_until_idle();
    let ladder = pair.net.ladder();
    assert_eq!(ladder.matches("488 Not Acceptable Here").count(), 1, "{ladder}");
    assert!(ladder.contains("alice  -> bob    SIP/2.0 200 OK"), "{ladder}");
    assert!(
        ladder.contains("bob    -> alice  SIP/2.0 200 OK  (3 INVITE)"),
        "{ladder}"
    );
    assert!(events_of(&pair, alice).iter().any(|e| matches!(
        e,
        CallEvent::Hold {
            by: sip_core::call::Side::Local
        }
    )));
    pair.net.on(alice, |e, now| e.bye(now, call)).unwrap();
    pair.run_until_idle();
    assert_eq!(pair.end_reason(bob, bob_call), Some(EndReason::RemoteBye));
    pair.assert_quiescent();
}

#[test]
fn an_update_sharing_no_format_gets_488() {
    let mut pair = Pair::new(33);
    let (alice, bob) = (pair.alice, pair.bob);
    pair.auto_answer(bob);
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
    pair.run_until_idle();
    let bob_call = pair.current_call(bob).unwrap();
    let offer = g729_only("alice", "192.0.2.1", 49172);
    pair.net
        .on(alice, |e, now| e.update(now, call, offer.clone()))
        .unwrap();
    pair.run_until_idle();
    assert!(
        pair.net.ladder().contains("488 Not Acceptable Here  (2 UPDATE)"),
        "{}",
        pair.net.ladder()
    );
    assert!(
        pair.call_events(bob, bob_call)
            .any(|e| *e == CallEvent::RemoteOfferRejected { body: offer.clone() })
    );
    assert_eq!(pair.state(bob, bob_call), Some(CallState::Connected));
    pair.net.on(alice, |e, now| e.bye(now, call)).unwrap();
    pair.run_until_idle();
    pair.assert_quiescent();
}

#[test]
fn an_offer_in_a_2xx_sharing_no_format_is_answered_rejected_in_the_ack_then_byed() {
    let mut pair = Pair::new(34);
    let (alice, bob) = (pair.alice, pair.bob);
    // Bob answers an INVITE without an offer with his own G.729-only offer.
    pair.net.set_handler(bob, |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            let offer = g729_only("bob", "192.0.2.2", 3456);
            endpoint.answer(now, call, offer, None).unwrap();
        }
    });
    let template = pair.audio_description(alice).to_bytes();
    let target: Uri = pair.uri(bob);
    let call = pair
        .net
        .on(alice, |e, now| e.invite_without_offer(now, target, template))
        .unwrap();
    pair.run_until_idle();
    // §13.2.2.4: a valid answer in the ACK — the stream rejected — then BYE.
    let answer = events_of(&pair, bob)
        .into_iter()
        .find_map(|e| match e {
            CallEvent::Answered { body } => Some(body),
            _ => None,
        })
        .expect("Bob saw the ACK");
    let answer = SessionDescription::parse(&answer).unwrap();
    assert_eq!(answer.media().len(), 1);
    assert!(answer.media()[0].is_rejected());
    assert_eq!(answer.media()[0].formats, ["18"]);
    assert_eq!(pair.end_reason(alice, call), Some(EndReason::MediaFailure));
    let bob_call = pair.calls(bob)[0];
    assert_eq!(pair.end_reason(bob, bob_call), Some(EndReason::RemoteBye));
    pair.assert_quiescent();
}

#[test]
fn an_offer_in_the_2xx_to_a_reinvite_without_one_sharing_no_format_ends_the_call() {
    let mut pair = Pair::new(35);
    let (alice, bob) = (pair.alice, pair.bob);
    // Bob's description is G.729 alone (his answer to Alice's offer does not match it; the
    // call layer takes it as it is): his 2xx to an offerless re-INVITE offers it again.
    pair.net.set_handler(bob, |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            let description = g729_only("bob", "192.0.2.2", 3456);
            endpoint.answer(now, call, description, None).unwrap();
        }
    });
    let call = pair.call(alice, bob);
    pair.run_until_state(alice, call, CallState::Connected);
    pair.run_until_idle();
    pair.net
        .on(alice, |e, now| e.reinvite(now, call, Bytes::new()))
        .unwrap();
    pair.run_until_idle();
    // The ACK answers with every stream rejected, then Alice ends the call (§13.2.2.4).
    let ladder = pair.net.ladder();
    let ack = ladder.lines().find(|l| l.contains("(2 ACK)")).expect("the ACK");
    assert!(ack.contains(" sdp:"), "{ladder}");
    assert!(ladder.contains("BYE"), "{ladder}");
    assert_eq!(pair.end_reason(alice, call), Some(EndReason::MediaFailure));
    let bob_call = pair.calls(bob)[0];
    assert_eq!(pair.end_reason(bob, bob_call), Some(EndReason::RemoteBye));
    pair.assert_quiescent();
}
