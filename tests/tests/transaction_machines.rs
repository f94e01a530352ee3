//! The four RFC 3261 §17 transaction machines, driven by hand in virtual time: whole
//! retransmission schedules run in microseconds and are checked instant by instant.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::message::{Message, Method, Request, RequestBuilder, Response, StatusCode, Uri, response_to};
use sip_core::transaction::{
    Action, ClientInvite, ClientInviteState, ClientKey, ClientNonInvite, ServerInvite, ServerInviteState,
    ServerKey, ServerNonInvite, ServerNonInviteState, Timer, TimerConfig,
};

fn request(method: Method, branch: &str) -> Request {
    RequestBuilder::new(method, Uri::parse("sip:bob@biloxi.example.com").unwrap())
        .via(format!("SIP/2.0/UDP pc33.atlanta.example.com;branch={branch}"))
        .via("SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy")
        .from("Alice <sip:alice@atlanta.example.com>;tag=1928301774")
        .to("Bob <sip:bob@biloxi.example.com>")
        .call_id("a84b4c76e66710")
        .cseq(314159)
        .header("Route", "<sip:proxy.example.com;lr>")
        .build()
        .unwrap()
}

fn response(request: &Request, code: u16, to_tag: Option<&str>) -> Response {
    response_to(request, StatusCode::new(code).unwrap(), None, to_tag)
}

/// Pending timers of one machine, fired in deadline order.
#[derive(Default)]
struct Clock {
    timers: BTreeMap<Timer, Instant>,
}

impl Clock {
    /// Applies `SetTimer`s; returns everything else.
    fn absorb(&mut self, actions: Vec<Action>) -> Vec<Action> {
        actions
            .into_iter()
            .filter(|a| match a {
                Action::SetTimer(timer, at) => {
                    self.timers.insert(*timer, *at);
                    false
                }
                Action::CancelTimer(timer) => {
                    self.timers.remove(timer);
                    false
                }
                _ => true,
            })
            .collect()
    }

    /// The next timer to fire, removed from the pending set.
    fn next(&mut self) -> Option<(Timer, Instant)> {
        let (&timer, &at) = self.timers.iter().min_by_key(|(timer, at)| (**at, **timer))?;
        self.timers.remove(&timer);
        Some((timer, at))
    }
}

fn ms(start: Instant, at: Instant) -> u128 {
    at.duration_since(start).as_millis()
}

/// Runs `on_timer` for every pending timer until the machine terminates; returns the
/// (ms, action) timeline.
fn run_to_end(
    clock: &mut Clock,
    start: Instant,
    mut on_timer: impl FnMut(Timer, Instant, &mut Vec<Action>),
) -> Vec<(u128, String)> {
    let mut timeline = Vec::new();
    while let Some((timer, at)) = clock.next() {
        let mut out = Vec::new();
        on_timer(timer, at, &mut out);
        let done = out.contains(&Action::Terminated);
        for action in clock.absorb(out) {
            timeline.push((ms(start, at), describe(&action)));
        }
        if done {
            break;
        }
    }
    timeline
}

fn describe(action: &Action) -> String {
    match action {
        Action::Transmit(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            format!("send {}", text.lines().next().unwrap_or(""))
        }
        Action::Response(r) => format!("user <- {}", r.start_line()),
        Action::Ack(r) => format!("user <- {}", r.start_line()),
        Action::Timeout(t) => format!("timeout {t}"),
        other => format!("{other:?}"),
    }
}

fn sends(timeline: &[(u128, String)]) -> Vec<u128> {
    timeline
        .iter()
        .filter(|(_, a)| a.starts_with("send"))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn non_invite_client_over_udp_doubles_e_to_t2_and_times_out_on_f_at_64_t1() {
    let start = Instant::now();
    let mut clock = Clock::default();
    let mut out = Vec::new();
    let mut tx = ClientNonInvite::start(
        &request(Method::Options, "z9hG4bK1"),
        false,
        TimerConfig::default(),
        start,
        &mut out,
    );
    assert_eq!(clock.absorb(out).len(), 1, "one transmission at start");
    let timeline = run_to_end(&mut clock, start, |t, now, out| tx.on_timer(t, now, out));
    // RFC 3261 §17.1.2.2: 500 ms, then doubling to T2 (4 s), until F at 64*T1 = 32 s.
    assert_eq!(
        sends(&timeline),
        [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(timeline.last().unwrap(), &(32000, "Terminated".to_owned()));
    assert!(timeline.contains(&(32000, "timeout Timer F".to_owned())));
}

#[test]
fn non_invite_client_in_proceeding_retransmits_every_t2() {
    let start = Instant::now();
    let req = request(Method::Options, "z9hG4bK2");
    let mut clock = Clock::default();
    let mut out = Vec::new();
    let mut tx = ClientNonInvite::start(&req, false, TimerConfig::default(), start, &mut out);
    clock.absorb(out);
    // Let E fire once (500 ms), then a 100 Trying arrives at 600 ms.
    let (timer, at) = clock.next().unwrap();
    let mut out = Vec::new();
    tx.on_timer(timer, at, &mut out);
    clock.absorb(out);
    let mut out = Vec::new();
    tx.on_response(
        response(&req, 100, None),
        start + Duration::from_millis(600),
        &mut out,
    );
    assert_eq!(clock.absorb(out).len(), 1, "the 100 goes to the user");
    assert_eq!(
        tx.state(),
        sip_core::transaction::ClientNonInviteState::Proceeding
    );
    let timeline = run_to_end(&mut clock, start, |t, now, out| tx.on_timer(t, now, out));
    // E was armed for 1500 before the 100; from then on E is T2.
    assert_eq!(sends(&timeline)[..4], [1500, 5500, 9500, 13500]);
}

#[test]
fn non_invite_client_completes_on_final_and_waits_k() {
    let start = Instant::now();
    let req = request(Method::Options, "z9hG4bK3");
    for (reliable, k) in [(false, 5000), (true, 0)] {
        let mut clock = Clock::default();
        let mut out = Vec::new();
        let mut tx = ClientNonInvite::start(&req, reliable, TimerConfig::default(), start, &mut out);
        clock.absorb(out);
        if reliable {
            assert!(!clock.timers.contains_key(&Timer::E), "no Timer E over TCP");
        }
        let mut out = Vec::new();
        tx.on_response(response(&req, 200, Some("t")), start, &mut out);
        let actions = clock.absorb(out);
        assert!(matches!(actions[..], [Action::Response(_)]));
        // A retransmitted 200 is absorbed.
        let mut out = Vec::new();
        tx.on_response(response(&req, 200, Some("t")), start, &mut out);
        assert!(out.is_empty());
        let timeline = run_to_end(&mut clock, start, |t, now, out| tx.on_timer(t, now, out));
        assert_eq!(timeline, [(k, "Terminated".to_owned())]);
    }
}

#[test]
fn invite_client_over_udp_doubles_a_and_times_out_on_b_at_32_s() {
    let start = Instant::now();
    let mut clock = Clock::default();
    let mut out = Vec::new();
    let mut tx = ClientInvite::start(
        request(Method::Invite, "z9hG4bK4"),
        false,
        TimerConfig::default(),
        start,
        &mut out,
    );
    clock.absorb(out);
    let timeline = run_to_end(&mut clock, start, |t, now, out| tx.on_timer(t, now, out));
    // RFC 3261 §17.1.1.2: A doubles without a cap: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    assert_eq!(sends(&timeline), [500, 1500, 3500, 7500, 15500, 31500]);
    assert!(timeline.contains(&(32000, "timeout Timer B".to_owned())));
}

#[test]
fn invite_client_acks_a_non_2xx_itself_and_re_acks_its_retransmissions() {
    let start = Instant::now();
    let invite = request(Method::Invite, "z9hG4bK5");
    let mut out = Vec::new();
    let mut tx = ClientInvite::start(invite.clone(), false, TimerConfig::default(), start, &mut out);
    let mut out = Vec::new();
    let busy = response(&invite, 486, Some("bobtag"));
    tx.on_response(busy.clone(), start, &mut out);
    assert_eq!(tx.state(), ClientInviteState::Completed);
    let ack = Message::parse(out_ack(&out)).unwrap();
    let ack = ack.as_request().unwrap();
    // RFC 3261 §17.1.1.3
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, invite.uri);
    assert_eq!(ack.headers.vias().count(), 1, "only the top Via");
    assert_eq!(ack.headers.top_via().unwrap().unwrap().branch(), Some("z9hG4bK5"));
    assert_eq!(ack.headers.to_addr().unwrap().unwrap().tag(), Some("bobtag"));
    assert_eq!(ack.headers.cseq().unwrap().unwrap().seq, 314159);
    assert_eq!(ack.headers.cseq().unwrap().unwrap().method, Method::Ack);
    assert_eq!(ack.headers.routes().count(), 1);
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Response(r) if r.status.as_u16() == 486))
    );
    let mut again = Vec::new();
    tx.on_response(busy, start + Duration::from_millis(700), &mut again);
    assert!(matches!(&again[..], [Action::Transmit(b)] if *b == out_ack(&out)));
}

fn out_ack(out: &[Action]) -> Bytes {
    out.iter()
        .find_map(|a| match a {
            Action::Transmit(bytes) => Some(bytes.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no transmission in {out:?}"))
}

#[test]
fn invite_client_passes_every_2xx_to_its_user_until_timer_m() {
    let start = Instant::now();
    let invite = request(Method::Invite, "z9hG4bK6");
    let mut clock = Clock::default();
    let mut out = Vec::new();
    let mut tx = ClientInvite::start(invite.clone(), false, TimerConfig::default(), start, &mut out);
    clock.absorb(out);
    for (at, code, tag) in [
        (100, 180, "fork1"),
        (200, 200, "fork1"),
        (300, 200, "fork2"),
        (400, 200, "fork1"),
    ] {
        let mut out = Vec::new();
        tx.on_response(
            response(&invite, code, Some(tag)),
            start + Duration::from_millis(at),
            &mut out,
        );
        let actions = clock.absorb(out);
        assert!(
            matches!(&actions[..], [Action::Response(r)] if r.status.as_u16() == code),
            "{actions:?}"
        );
    }
    assert_eq!(tx.state(), ClientInviteState::Accepted);
    let timeline = run_to_end(&mut clock, start, |t, now, out| tx.on_timer(t, now, out));
    assert_eq!(
        timeline,
        [(32200, "Terminated".to_owned())],
        "Timer M = 64*T1 after the first 2xx"
    );
}

#[test]
fn invite_client_timer_b_is_ignored_once_proceeding() {
    let start = Instant::now();
    let invite = request(Method::Invite, "z9hG4bK7");
    let mut out = Vec::new();
    let mut tx = ClientInvite::start(invite.clone(), false, TimerConfig::default(), start, &mut out);
    let mut out = Vec::new();
    tx.on_response(response(&invite, 180, Some("b")), start, &mut out);
    assert!(
        out.contains(&Action::CancelTimer(Timer::B)),
        "B is disarmed once Proceeding"
    );
    let mut out = Vec::new();
    tx.on_timer(Timer::B, start + Duration::from_secs(32), &mut out);
    assert!(out.is_empty(), "a stale Timer B changes nothing");
    assert_eq!(tx.state(), ClientInviteState::Proceeding);
}

#[test]
fn invite_server_resends_its_final_response_on_g_until_the_ack() {
    let start = Instant::now();
    let invite = request(Method::Invite, "z9hG4bK8");
    let mut clock = Clock::default();
    let mut tx = ServerInvite::new(false, TimerConfig::default());
    let mut out = Vec::new();
    assert!(tx.respond(&response(&invite, 486, Some("srv")), start, &mut out));
    clock.absorb(out);
    assert_eq!(tx.state(), ServerInviteState::Completed);
    // G fires at 0.5, 1.5, 3.5, 7.5 s (doubling to T2); the ACK arrives at 9 s.
    let mut sent = Vec::new();
    while let Some((timer, at)) = clock.next() {
        if ms(start, at) > 9000 {
            clock.timers.insert(timer, at);
            break;
        }
        let mut out = Vec::new();
        tx.on_timer(timer, at, &mut out);
        for action in clock.absorb(out) {
            if let Action::Transmit(_) = action {
                sent.push(ms(start, at));
            }
        }
    }
    assert_eq!(sent, [500, 1500, 3500, 7500]);
    let mut out = Vec::new();
    tx.on_ack(
        request(Method::Ack, "z9hG4bK8"),
        start + Duration::from_secs(9),
        &mut out,
    );
    clock.absorb(out);
    assert_eq!(tx.state(), ServerInviteState::Confirmed);
    let timeline = run_to_end(&mut clock, start, |t, now, out| tx.on_timer(t, now, out));
    // Stale G and H are ignored; I = T4 after the ACK.
    assert_eq!(timeline, [(14000, "Terminated".to_owned())]);
}

#[test]
fn invite_server_gives_up_on_h_when_no_ack_comes() {
    let start = Instant::now();
    let invite = request(Method::Invite, "z9hG4bK9");
    let mut clock = Clock::default();
    let mut tx = ServerInvite::new(false, TimerConfig::default());
    let mut out = Vec::new();
    tx.respond(&response(&invite, 603, Some("srv")), start, &mut out);
    clock.absorb(out);
    let timeline = run_to_end(&mut clock, start, |t, now, out| tx.on_timer(t, now, out));
    assert_eq!(
        sends(&timeline),
        [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert!(timeline.ends_with(&[
        (32000, "timeout Timer H".to_owned()),
        (32000, "Terminated".to_owned())
    ]));
}

#[test]
fn invite_server_accepted_absorbs_retransmissions_and_passes_acks_up() {
    let start = Instant::now();
    let invite = request(Method::Invite, "z9hG4bKa");
    let mut tx = ServerInvite::new(false, TimerConfig::default());
    let mut out = Vec::new();
    tx.respond(&response(&invite, 100, None), start, &mut out);
    let mut out = Vec::new();
    tx.on_retransmission(&mut out);
    assert!(matches!(&out[..], [Action::Transmit(b)] if b.starts_with(b"SIP/2.0 100")));
    let mut out = Vec::new();
    tx.respond(&response(&invite, 200, Some("srv")), start, &mut out);
    assert_eq!(tx.state(), ServerInviteState::Accepted);
    let mut out = Vec::new();
    tx.on_retransmission(&mut out);
    assert!(
        out.is_empty(),
        "RFC 6026: INVITE retransmissions are absorbed in Accepted"
    );
    let mut out = Vec::new();
    tx.on_ack(request(Method::Ack, "z9hG4bKack"), start, &mut out);
    assert!(matches!(&out[..], [Action::Ack(_)]));
    let mut out = Vec::new();
    assert!(
        tx.respond(&response(&invite, 200, Some("srv")), start, &mut out),
        "the user may resend its 2xx"
    );
    let mut out = Vec::new();
    assert!(!tx.respond(&response(&invite, 486, Some("srv")), start, &mut out));
}

#[test]
fn non_invite_server_answers_retransmissions_with_the_last_response_and_lingers_j() {
    let start = Instant::now();
    let req = request(Method::Bye, "z9hG4bKb");
    for (reliable, j) in [(false, 32000), (true, 0)] {
        let mut clock = Clock::default();
        let mut tx = ServerNonInvite::new(reliable, TimerConfig::default());
        let mut out = Vec::new();
        tx.on_retransmission(&mut out);
        assert!(out.is_empty(), "nothing to resend in Trying");
        tx.respond(&response(&req, 200, Some("s")), start, &mut out);
        clock.absorb(out);
        assert_eq!(tx.state(), ServerNonInviteState::Completed);
        let mut out = Vec::new();
        tx.on_retransmission(&mut out);
        assert!(matches!(&out[..], [Action::Transmit(b)] if b.starts_with(b"SIP/2.0 200")));
        let timeline = run_to_end(&mut clock, start, |t, now, out| tx.on_timer(t, now, out));
        assert_eq!(timeline, [(j, "Terminated".to_owned())]);
    }
}

#[test]
fn server_keys_fold_ack_into_invite_and_find_the_invite_a_cancel_targets() {
    let invite = request(Method::Invite, "z9hG4bKc");
    let ack = request(Method::Ack, "z9hG4bKc");
    let cancel = request(Method::Cancel, "z9hG4bKc");
    let invite_key = ServerKey::from_request(&invite).unwrap();
    assert_eq!(ServerKey::from_request(&ack).unwrap(), invite_key);
    assert_ne!(
        ServerKey::from_request(&cancel).unwrap(),
        invite_key,
        "CANCEL is its own transaction"
    );
    assert_eq!(ServerKey::cancelled_invite(&cancel).unwrap(), invite_key);
    assert_ne!(
        ServerKey::from_request(&request(Method::Invite, "z9hG4bKd")).unwrap(),
        invite_key
    );
}

#[test]
fn rfc2543_requests_without_the_cookie_match_on_dialog_fields() {
    let invite = request(Method::Invite, "oldbranch");
    let retransmission = request(Method::Invite, "oldbranch");
    let key = ServerKey::from_request(&invite).unwrap();
    assert!(matches!(key, ServerKey::Legacy { .. }));
    assert_eq!(ServerKey::from_request(&retransmission).unwrap(), key);
    let other_cseq = RequestBuilder::new(Method::Invite, invite.uri.clone())
        .via("SIP/2.0/UDP pc33.atlanta.example.com;branch=oldbranch")
        .via("SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy")
        .from("Alice <sip:alice@atlanta.example.com>;tag=1928301774")
        .to("Bob <sip:bob@biloxi.example.com>")
        .call_id("a84b4c76e66710")
        .cseq(314160)
        .build()
        .unwrap();
    assert_ne!(ServerKey::from_request(&other_cseq).unwrap(), key);
}

#[test]
fn client_key_matches_responses_by_branch_and_cseq_method() {
    let options = request(Method::Options, "z9hG4bKe");
    let key = ClientKey::from_request(&options).unwrap();
    assert_eq!(
        ClientKey::from_response(&response(&options, 200, Some("x"))).unwrap(),
        key
    );
    let invite = request(Method::Invite, "z9hG4bKe");
    assert_ne!(
        ClientKey::from_response(&response(&invite, 200, Some("x"))).unwrap(),
        key
    );
}
