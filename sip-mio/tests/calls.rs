//! Whole calls between two drivers over loopback, each with its own `mio::Poll`, stepped in
//! turn from one thread; every test is bounded by a wall-clock deadline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use sip_core::call::{CallEvent, CallId, CallState, EndReason};
use sip_core::endpoint::{EndpointConfig, Event};
use sip_core::message::Uri;
use sip_core::sdp::SessionDescription;
use sip_mio::{Driver, Listen, ServeOptions, serve};

const DEADLINE: Duration = Duration::from_secs(5);

/// A driver with its own poll, and every call event it reported.
struct Side {
    driver: Driver,
    poll: Poll,
    events: Events,
    seen: Vec<(CallId, CallEvent)>,
}

impl Side {
    fn new(listen: Listen, seed: u64) -> Side {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        // Constant seeds: the same tags and branches on every run.
        let mut driver =
            Driver::bind_with(loopback, listen, |local| EndpointConfig::new(local, seed)).unwrap();
        let poll = Poll::new().unwrap();
        // A token other than 0, to check the driver keeps to its own range.
        driver.register(poll.registry(), Token(100)).unwrap();
        Side {
            driver,
            poll,
            events: Events::with_capacity(64),
            seen: Vec::new(),
        }
    }

    /// One short poll turn; new call events go to `seen` and are returned.
    fn step(&mut self) -> Vec<(CallId, CallEvent)> {
        self.driver
            .run_once(&mut self.poll, &mut self.events, Some(Duration::from_millis(2)))
            .unwrap();
        let mut new = Vec::new();
        while let Some(event) = self.driver.next_event() {
            if let Event::Call { call, event } = event {
                self.seen.push((call, event.clone()));
                new.push((call, event));
            }
        }
        new
    }

    fn ended(&self, call: CallId) -> Option<EndReason> {
        self.seen.iter().find_map(|(c, e)| match e {
            CallEvent::Terminated { reason, .. } if *c == call => Some(reason.clone()),
            _ => None,
        })
    }

    fn states(&self, call: CallId) -> Vec<CallState> {
        self.seen
            .iter()
            .filter_map(|(c, e)| match e {
                CallEvent::StateChanged { to, .. } if *c == call => Some(*to),
                _ => None,
            })
            .collect()
    }
}

fn offer(side: &Side) -> bytes::Bytes {
    let ip = side.driver.local_addr().ip();
    SessionDescription::simple_audio("alice", 1, ip, 40_000, &[0, 8]).to_bytes()
}

/// Alice calls Bob, Bob rings and answers, `hangup` (true: Alice) says who hangs up after
/// the call is up; both sides must see it end.
fn full_call(listen: Listen, uri_suffix: &str, alice_hangs_up: bool) -> (Side, Side, CallId, CallId) {
    let mut alice = Side::new(listen, 1);
    let mut bob = Side::new(listen, 2);
    let target = Uri::parse(&format!("sip:bob@{}{uri_suffix}", bob.driver.local_addr())).unwrap();
    let now = Instant::now();
    let body = offer(&alice);
    let a_call = alice
        .driver
        .endpoint_mut()
        .invite(now, target, body, None)
        .unwrap();
    alice.driver.flush(now);

    let deadline = Instant::now() + DEADLINE;
    let mut b_call = None;
    let mut hung_up = false;
    loop {
        assert!(
            Instant::now() < deadline,
            "no full call in time: alice {:?} bob {:?}",
            alice.seen,
            bob.seen
        );
        for (call, event) in bob.step() {
            match event {
                CallEvent::Incoming { request, .. } => {
                    b_call = Some(call);
                    let now = Instant::now();
                    let ours = SessionDescription::simple_audio(
                        "bob",
                        2,
                        bob.driver.local_addr().ip(),
                        40_002,
                        &[0],
                    );
                    let offer = SessionDescription::parse(&request.body).unwrap();
                    let answer = ours.answer_for(&offer, false).unwrap().to_bytes();
                    bob.driver.endpoint_mut().ringing(now, call).unwrap();
                    bob.driver.endpoint_mut().answer(now, call, answer, None).unwrap();
                    bob.driver.flush(now);
                }
                CallEvent::Answered { .. } if !alice_hangs_up && !hung_up => {
                    hung_up = true;
                    let now = Instant::now();
                    bob.driver.endpoint_mut().bye(now, call).unwrap();
                    bob.driver.flush(now);
                }
                _ => {}
            }
        }
        for (call, event) in alice.step() {
            if let CallEvent::Answered { body } = event {
                assert!(!body.is_empty(), "the 200 carries Bob's answer");
                if alice_hangs_up && !hung_up {
                    hung_up = true;
                    let now = Instant::now();
                    alice.driver.endpoint_mut().bye(now, call).unwrap();
                    alice.driver.flush(now);
                }
            }
        }
        if let Some(b_call) = b_call {
            if alice.ended(a_call).is_some() && bob.ended(b_call).is_some() {
                return (alice, bob, a_call, b_call);
            }
        }
    }
}

#[test]
fn udp_call_caller_hangs_up() {
    let (alice, bob, a, b) = full_call(Listen::Udp, "", true);
    assert_eq!(alice.ended(a), Some(EndReason::LocalBye));
    assert_eq!(bob.ended(b), Some(EndReason::RemoteBye));
    assert!(
        alice
            .seen
            .iter()
            .any(|(_, e)| matches!(e, CallEvent::Ringing { .. }))
    );
    assert_eq!(
        alice.states(a),
        [
            CallState::Calling,
            CallState::Ringing,
            CallState::Connected,
            CallState::Ending,
            CallState::Ended
        ]
    );
    assert!(bob.states(b).contains(&CallState::Connected));
    assert!(alice.driver.stats().udp_sent >= 3, "INVITE, ACK, BYE");
    assert_eq!(alice.driver.connection_count(), 0);
}

#[test]
fn udp_call_callee_hangs_up() {
    let (alice, bob, a, b) = full_call(Listen::Udp, "", false);
    assert_eq!(alice.ended(a), Some(EndReason::RemoteBye));
    assert_eq!(bob.ended(b), Some(EndReason::LocalBye));
}

#[test]
fn tcp_call_caller_hangs_up() {
    let (alice, bob, a, b) = full_call(Listen::UdpAndTcp, ";transport=tcp", true);
    assert_eq!(alice.ended(a), Some(EndReason::LocalBye));
    assert_eq!(bob.ended(b), Some(EndReason::RemoteBye));
    // Everything went over the one connection Alice opened.
    assert_eq!(alice.driver.stats().connected, 1);
    assert_eq!(bob.driver.stats().accepted, 1);
    assert_eq!(alice.driver.stats().udp_sent, 0);
    assert_eq!(bob.driver.stats().udp_sent, 0);
}

#[test]
fn tcp_call_callee_hangs_up() {
    let (alice, bob, a, b) = full_call(Listen::UdpAndTcp, ";transport=tcp", false);
    assert_eq!(alice.ended(a), Some(EndReason::RemoteBye));
    assert_eq!(bob.ended(b), Some(EndReason::LocalBye));
    assert_eq!(
        bob.driver.stats().connected,
        0,
        "Bob's BYE reuses Alice's connection"
    );
}

#[test]
fn tcp_connect_refused_fails_the_call() {
    let mut alice = Side::new(Listen::Udp, 3);
    // A port that was just free: nobody listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let target = Uri::parse(&format!("sip:bob@{closed};transport=tcp")).unwrap();
    let now = Instant::now();
    let body = offer(&alice);
    let call = alice
        .driver
        .endpoint_mut()
        .invite(now, target, body, None)
        .unwrap();
    alice.driver.flush(now);
    let deadline = Instant::now() + DEADLINE;
    while alice.ended(call).is_none() {
        assert!(Instant::now() < deadline, "no failure in time: {:?}", alice.seen);
        alice.step();
    }
    assert_eq!(alice.ended(call), Some(EndReason::TransportError));
    assert_eq!(alice.driver.stats().flows_failed, 1);
    assert_eq!(alice.driver.connection_count(), 0);
}

#[test]
fn garbage_datagrams_do_not_disturb_the_driver() {
    let mut bob = Side::new(Listen::Udp, 4);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for junk in [
        &b""[..],
        b"\r\n\r\n",
        b"INVITE",
        &[0xff; 2000],
        b"SIP/2.0 200 OK\r\n\r\n",
    ] {
        sock.send_to(junk, bob.driver.local_addr()).unwrap();
    }
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        bob.step();
    }
    assert!(bob.driver.stats().udp_received >= 4);
    assert!(bob.seen.is_empty());
}

/// The `mio_answer` example's loop, run in a thread against a caller driven from this one.
#[test]
fn serve_answers_and_hangs_up() {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut server = Driver::bind_with(loopback, Listen::UdpAndTcp, |l| EndpointConfig::new(l, 5)).unwrap();
    let server_addr = server.local_addr();
    let thread = std::thread::spawn(move || {
        let mut poll = Poll::new().unwrap();
        server.register(poll.registry(), Token(0)).unwrap();
        let options = ServeOptions {
            answer_after: Some(Duration::from_millis(50)),
            hangup_after: Some(Duration::from_millis(100)),
            max_calls: Some(2),
            duration: Some(DEADLINE),
            ..ServeOptions::default()
        };
        serve(&mut server, &mut poll, &options, |_| {}).unwrap()
    });

    let mut alice = Side::new(Listen::UdpAndTcp, 6);
    let now = Instant::now();
    // One call over UDP, one over TCP. (Not a delayed offer: the core cannot yet give the
    // caller's answer for the ACK, so such a call ends with MediaFailure by design.)
    let udp = Uri::parse(&format!("sip:answer@{server_addr}")).unwrap();
    let tcp = Uri::parse(&format!("sip:answer@{server_addr};transport=tcp")).unwrap();
    let body = offer(&alice);
    let first = alice
        .driver
        .endpoint_mut()
        .invite(now, udp, body.clone(), None)
        .unwrap();
    let second = alice.driver.endpoint_mut().invite(now, tcp, body, None).unwrap();
    alice.driver.flush(now);
    let deadline = Instant::now() + DEADLINE;
    while alice.ended(first).is_none() || alice.ended(second).is_none() {
        assert!(
            Instant::now() < deadline,
            "calls not over in time: {:?}",
            alice.seen
        );
        alice.step();
    }
    assert_eq!(alice.ended(first), Some(EndReason::RemoteBye));
    assert_eq!(alice.ended(second), Some(EndReason::RemoteBye));
    let report = thread.join().unwrap();
    assert_eq!(
        (report.incoming, report.answered, report.ended, report.hung_up),
        (2, 2, 2, 2)
    );
}

/// A peer that does not read at first: the driver's per-connection backlog holds what the
/// socket will not take and flushes it on writable, in order, with nothing lost.
#[test]
fn tcp_backpressure_is_buffered_and_flushed() {
    use std::io::Read;
    const REQUESTS: usize = 48;
    const BODY: usize = 48 * 1024;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let (mut received, mut buf) = (Vec::new(), vec![0u8; 65_536]);
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(_) if count(&received, b"OPTIONS sip:") >= REQUESTS => break,
                Err(_) => {}
            }
        }
        received
    });

    let mut alice = Side::new(Listen::Udp, 8);
    let now = Instant::now();
    for seq in 0..REQUESTS {
        let request = sip_core::message::RequestBuilder::new(
            sip_core::message::Method::Options,
            Uri::parse(&format!("sip:peer@{peer};transport=tcp")).unwrap(),
        )
        .via("SIP/2.0/TCP placeholder")
        .from(format!("<sip:alice@{}>;tag=a{seq}", alice.driver.local_addr()))
        .to(format!("<sip:peer@{peer}>"))
        .call_id(format!("bp-{seq}"))
        .cseq(1)
        .body(vec![b'a'; BODY], "text/plain")
        .build()
        .unwrap();
        let transport = sip_core::endpoint::Transport::Tcp;
        alice
            .driver
            .endpoint_mut()
            .send_request(now, request, peer, transport)
            .unwrap();
    }
    alice.driver.flush(now);
    let deadline = Instant::now() + DEADLINE;
    while !reader.is_finished() {
        assert!(Instant::now() < deadline, "reader did not finish");
        alice.step();
    }
    let received = reader.join().unwrap();
    assert_eq!(count(&received, b"OPTIONS sip:"), REQUESTS);
    assert!(received.len() >= REQUESTS * BODY);
    // In order: call ids bp-0, bp-1, … appear one after another.
    let mut at = 0;
    for seq in 0..REQUESTS {
        let needle = format!("Call-ID: bp-{seq}\r\n");
        let found = find(&received[at..], needle.as_bytes()).expect("every request, in order");
        at += found + needle.len();
    }
    assert!(
        alice.driver.stats().tcp_backlogged > 0,
        "the socket never pushed back"
    );
    // The peer hanging up afterwards may be seen as a close, never as a failure.
    assert_eq!(alice.driver.stats().flows_failed, 0);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn a_call_to_a_name_fails_at_once_without_a_resolver() {
    let mut alice = Side::new(Listen::Udp, 4);
    let target = Uri::parse("sip:bob@bob.invalid").unwrap();
    let now = Instant::now();
    let body = offer(&alice);
    let call = alice
        .driver
        .endpoint_mut()
        .invite(now, target, body, None)
        .unwrap();
    alice.driver.flush(now);
    let deadline = Instant::now() + DEADLINE;
    while alice.ended(call).is_none() {
        assert!(Instant::now() < deadline, "no failure in time: {:?}", alice.seen);
        alice.step();
    }
    assert_eq!(alice.ended(call), Some(EndReason::TransportError));
}

#[test]
fn a_call_to_a_name_the_application_resolves_connects() {
    use sip_core::dns::{DnsAnswer, DnsError, DnsRecords, RecordType};
    let mut alice = Side::new(Listen::Udp, 5);
    let mut bob = Side::new(Listen::Udp, 6);
    alice.driver.answer_dns_yourself();
    let bob_addr = bob.driver.local_addr();
    // The port in the URI: RFC 3263 asks only for the name's addresses.
    let target = Uri::parse(&format!("sip:bob@bob.test:{}", bob_addr.port())).unwrap();
    let now = Instant::now();
    let body = offer(&alice);
    let call = alice
        .driver
        .endpoint_mut()
        .invite(now, target, body, None)
        .unwrap();
    alice.driver.flush(now);
    let query = alice
        .driver
        .next_dns_query()
        .expect("a question for the application");
    assert_eq!(
        (query.record_type, query.name.as_str()),
        (RecordType::A, "bob.test")
    );
    let answer: Result<DnsAnswer, DnsError> = Ok(DnsAnswer {
        records: DnsRecords::Addresses(vec![bob_addr.ip()]),
        ttl: Duration::from_secs(60),
    });
    alice.driver.handle_dns_response(Instant::now(), query.id, answer);
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < deadline, "no answer in time: {:?}", alice.seen);
        for (b_call, event) in bob.step() {
            if let CallEvent::Incoming { .. } = event {
                let now = Instant::now();
                bob.driver
                    .endpoint_mut()
                    .reject(now, b_call, sip_core::message::StatusCode::BUSY_HERE, None)
                    .unwrap();
                bob.driver.flush(now);
            }
        }
        alice.step();
        if alice.ended(call).is_some() {
            break;
        }
    }
    // Bob was reached by name: his 486 ends the call.
    assert_eq!(
        alice.ended(call),
        Some(EndReason::Rejected(sip_core::message::StatusCode::BUSY_HERE))
    );
}
