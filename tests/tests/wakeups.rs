//! `poll_timeout` and `next_wakeup` speak for every timer of the Endpoint — transaction
//! timers and call timers come from one queue, and the reason given is the timer that is
//! really first.

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::IpAddr;
use std::time::Duration;

use sip_core::call::{CallEvent, CallState, CallTimer};
use sip_core::endpoint::{Event, TimerId};
use sip_core::message::Uri;
use sip_core::sdp::SessionDescription;
use sip_core::transaction::Timer;
use sip_tests::{defaults, pair};

/// Bob answers; Alice's ACK is lost, so Bob's 2xx retransmission (a call timer, T1 after
/// the answer) is due before anything else, and the wakeup says so.
#[test]
fn a_2xx_awaiting_its_ack_wakes_the_endpoint_for_its_retransmission() {
    let (mut net, alice, bob) = pair(11, defaults);
    net.set_handler(bob, |endpoint, event, now| {
        if let Event::Call {
            call,
            event: CallEvent::Incoming { .. },
        } = event
        {
            let sdp = SessionDescription::simple_audio(
                "bob",
                1,
                "192.0.2.2".parse::<IpAddr>().unwrap(),
                4000,
                &[0],
            );
            endpoint.answer(now, call, sdp.to_bytes(), None).unwrap();
        }
    });
    net.lose(alice, bob, "ACK", 1);
    let now = net.now();
    let offer =
        SessionDescription::simple_audio("alice", 1, "192.0.2.1".parse::<IpAddr>().unwrap(), 2000, &[0]);
    net.endpoint(alice)
        .invite(
            now,
            Uri::parse("sip:bob@192.0.2.2").unwrap(),
            offer.to_bytes(),
            None,
        )
        .unwrap();
    net.pump(alice);
    // Until Bob's answer is out (he is Answering: his 2xx waits for the ACK).
    let answered_at = loop {
        let answering = net.events(bob).iter().find_map(|(at, e)| match e {
            Event::Call {
                event:
                    CallEvent::StateChanged {
                        to: CallState::Answering,
                        ..
                    },
                ..
            } => Some(*at),
            _ => None,
        });
        if let Some(at) = answering {
            break at;
        }
        assert!(net.step(), "the network went idle before Bob answered");
    };
    let wakeup = net.endpoint(bob).next_wakeup().expect("Bob has timers");
    assert!(
        matches!(
            wakeup.timer,
            TimerId::Call {
                timer: CallTimer::Retransmit2xx,
                ..
            }
        ),
        "{wakeup:?}"
    );
    assert_eq!(wakeup.at, answered_at + Duration::from_millis(500));
    assert_eq!(net.endpoint(bob).poll_timeout(), Some(wakeup.at));
}

/// Alice's OPTIONS goes unanswered: Timer E is first (T1), and the wakeup names it.
#[test]
fn an_unanswered_request_wakes_the_endpoint_for_timer_e() {
    let (mut net, alice, _) = pair(12, defaults);
    let start = net.now();
    let request = sip_core::message::RequestBuilder::new(
        sip_core::message::Method::Options,
        Uri::parse("sip:nobody@192.0.2.9").unwrap(),
    )
    .via("SIP/2.0/UDP placeholder")
    .from("<sip:alice@192.0.2.1>;tag=a")
    .to("<sip:nobody@192.0.2.9>")
    .call_id("w1")
    .cseq(1)
    .build()
    .unwrap();
    let tx = net
        .endpoint(alice)
        .send_request(
            start,
            request,
            "192.0.2.9:5060".parse().unwrap(),
            sip_core::endpoint::Transport::Udp,
        )
        .unwrap();
    let wakeup = net.endpoint(alice).next_wakeup().unwrap();
    assert_eq!(
        wakeup.timer,
        TimerId::Transaction {
            transaction: tx,
            timer: Timer::E
        }
    );
    assert_eq!(wakeup.at, start + Duration::from_millis(500));
}
