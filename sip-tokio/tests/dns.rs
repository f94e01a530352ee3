//! RFC 3263 server location through the driver's resolver: calls and OPTIONS to host
//! names, answered by a small nameserver of the test's own on 127.0.0.1 (UDP, records
//! from a table, messages encoded and decoded with hickory-proto), which the agents are
//! pointed at with `Builder::dns_server`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, NAPTR, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sip_core::sdp::SessionDescription;
use sip_tokio::{Call, CallEvent, Direction, EndReason, Error, StatusCode, UserAgent};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

/// The records a [`Nameserver`] serves, by (lower-case name without the trailing dot,
/// type). A name in no key at all gets NXDOMAIN; a known name without records of the type
/// asked gets an empty NOERROR (NODATA).
#[derive(Default)]
struct Zone(BTreeMap<(String, RecordType), Vec<RData>>);

impl Zone {
    fn naptr(mut self, name: &str, order: u16, services: &str, replacement: &str) -> Self {
        let naptr = NAPTR::new(
            order,
            10,
            b"s".to_vec().into_boxed_slice(),
            services.as_bytes().to_vec().into_boxed_slice(),
            Vec::new().into_boxed_slice(),
            fqdn(replacement),
        );
        self.add(name, RecordType::NAPTR, RData::NAPTR(naptr));
        self
    }

    fn srv(mut self, name: &str, priority: u16, port: u16, target: &str) -> Self {
        let srv = SRV::new(priority, 0, port, fqdn(target));
        self.add(name, RecordType::SRV, RData::SRV(srv));
        self
    }

    fn a(mut self, name: &str, ip: Ipv4Addr) -> Self {
        self.add(name, RecordType::A, RData::A(A(ip)));
        self
    }

    fn add(&mut self, name: &str, record_type: RecordType, data: RData) {
        self.0
            .entry((name.to_owned(), record_type))
            .or_default()
            .push(data);
    }

    fn knows(&self, name: &str) -> bool {
        self.0.keys().any(|(known, _)| known == name)
    }
}

fn fqdn(name: &str) -> Name {
    Name::from_ascii(format!("{name}.")).unwrap()
}

/// The questions a nameserver was asked, in order, as `TYPE name`.
type Asked = Arc<Mutex<Vec<String>>>;

/// How a [`Nameserver`] answers.
enum Answers {
    /// From a zone.
    Zone(Zone),
    /// SERVFAIL to every question.
    ServFail,
    /// Never: a nameserver that takes questions and hangs.
    Never,
}

/// A nameserver on 127.0.0.1 (UDP) that notes the questions it is asked.
struct Nameserver {
    addr: SocketAddr,
    asked: Asked,
    task: JoinHandle<()>,
}

impl Nameserver {
    async fn start(zone: Zone) -> Nameserver {
        Self::run(Answers::Zone(zone)).await
    }

    async fn run(answers: Answers) -> Nameserver {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let asked = Asked::default();
        let log = asked.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let Ok(request) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let Some(query) = request.queries().first().cloned() else {
                    continue;
                };
                let name = query.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
                log.lock().unwrap().push(format!("{} {name}", query.query_type()));
                let mut response = Message::new();
                response
                    .set_id(request.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(request.op_code())
                    .set_recursion_desired(request.recursion_desired())
                    .set_recursion_available(true)
                    .set_authoritative(true)
                    .add_query(query.clone());
                let zone = match &answers {
                    Answers::Zone(zone) => zone,
                    Answers::ServFail => {
                        response.set_response_code(ResponseCode::ServFail);
                        let _ = socket.send_to(&response.to_vec().unwrap(), from).await;
                        continue;
                    }
                    Answers::Never => continue,
                };
                match zone.0.get(&(name.clone(), query.query_type())) {
                    Some(records) => {
                        for data in records {
                            response.add_answer(Record::from_rdata(query.name().clone(), 60, data.clone()));
                        }
                    }
                    None if zone.knows(&name) => {}
                    None => {
                        response.set_response_code(ResponseCode::NXDomain);
                    }
                }
                let _ = socket.send_to(&response.to_vec().unwrap(), from).await;
            }
        });
        Nameserver { addr, asked, task }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for Nameserver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Outgoing INVITEs an agent sent, by destination.
type Invites = Arc<Mutex<Vec<SocketAddr>>>;

/// An agent on 127.0.0.1 asking `dns` its DNS questions; the INVITEs it sends are noted
/// in `invites`.
async fn agent(dns: SocketAddr, invites: Option<Invites>) -> UserAgent {
    let mut builder = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .t1(Duration::from_millis(100))
        .dns_server(dns);
    if let Some(invites) = invites {
        builder = builder.on_message(move |m| {
            if m.direction == Direction::Sent && m.payload.starts_with(b"INVITE ") {
                invites.lock().unwrap().push(m.remote);
            }
        });
    }
    builder.start().await.unwrap()
}

fn sdp(user: &str) -> Bytes {
    SessionDescription::simple_audio(user, 1, [127, 0, 0, 1].into(), 4000, &[0]).to_bytes()
}

/// Waits for the call's answer; panics on its end or after [`LIMIT`].
async fn answered(call: &mut Call) {
    timeout(LIMIT, async {
        loop {
            match call.next_event().await {
                Some(CallEvent::Answered { .. }) => return,
                Some(CallEvent::Terminated { reason, .. }) => panic!("the call ended: {reason:?}"),
                Some(_) => {}
                None => panic!("the call's events ended"),
            }
        }
    })
    .await
    .expect("no answer in time");
}

/// Bob takes the next call and answers it; Alice's call is answered, then hung up.
async fn answer_and_hang_up(
    bob: &UserAgent,
    incoming: &mut sip_tokio::IncomingCalls,
    call: &mut Call,
) -> String {
    let mut taken = timeout(LIMIT, incoming.next()).await.unwrap().unwrap();
    let request_uri = taken.request().unwrap().uri.to_string();
    taken.answer(sdp("bob"), None).await.unwrap();
    answered(call).await;
    call.bye().await.unwrap();
    assert_eq!(
        timeout(LIMIT, taken.ended()).await.unwrap(),
        Some(EndReason::RemoteBye)
    );
    let _ = bob;
    request_uri
}

/// A port on 127.0.0.1 with nothing listening on UDP: a datagram sent there is refused
/// (ICMP port unreachable).
fn dead_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_call_to_a_name_is_located_by_naptr_then_srv_then_a() {
    let bob = UserAgent::builder().start().await.unwrap();
    let mut incoming = bob.incoming().await.unwrap();
    let zone = Zone::default()
        .naptr("example.test", 10, "SIP+D2U", "_sip._udp.example.test")
        .srv(
            "_sip._udp.example.test",
            10,
            bob.local_addr().port(),
            "bob-host.example.test",
        )
        .a("bob-host.example.test", Ipv4Addr::LOCALHOST);
    let dns = Nameserver::start(zone).await;
    let invites = Invites::default();
    let alice = agent(dns.addr, Some(invites.clone())).await;

    let mut call = alice
        .call("sip:bob@example.test", sdp("alice"), None)
        .await
        .unwrap();
    let request_uri = answer_and_hang_up(&bob, &mut incoming, &mut call).await;

    // The Request-URI stays the name; the INVITE went where the records led.
    assert_eq!(request_uri, "sip:bob@example.test");
    assert_eq!(invites.lock().unwrap().first(), Some(&bob.local_addr()));
    assert_eq!(
        dns.asked(),
        [
            "NAPTR example.test",
            "SRV _sip._udp.example.test",
            "A bob-host.example.test"
        ]
    );
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_call_to_a_name_fails_over_to_the_second_srv_target() {
    let bob = UserAgent::builder().start().await.unwrap();
    let mut incoming = bob.incoming().await.unwrap();
    let dead = dead_port();
    // No NAPTR for the name: SRV for each transport (RFC 3263 §4.1); the better one
    // (priority 10) is a port nobody listens on.
    let zone = Zone::default()
        .a("example.test", Ipv4Addr::LOCALHOST)
        .srv("_sip._udp.example.test", 10, dead, "down.example.test")
        .srv(
            "_sip._udp.example.test",
            20,
            bob.local_addr().port(),
            "up.example.test",
        )
        .a("down.example.test", Ipv4Addr::LOCALHOST)
        .a("up.example.test", Ipv4Addr::LOCALHOST);
    let dns = Nameserver::start(zone).await;
    let invites = Invites::default();
    let alice = agent(dns.addr, Some(invites.clone())).await;

    let started = Instant::now();
    let mut call = alice
        .call("sip:bob@example.test", sdp("alice"), None)
        .await
        .unwrap();
    answer_and_hang_up(&bob, &mut incoming, &mut call).await;

    let sent = invites.lock().unwrap().clone();
    let dead_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, dead));
    assert_eq!(
        sent.first(),
        Some(&dead_addr),
        "the first INVITE goes to priority 10"
    );
    assert!(sent.contains(&bob.local_addr()), "then to priority 20: {sent:?}");
    // The refusal (ICMP) moved it on, not Timer B (64·T1 = 6.4 s here).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let asked = dns.asked();
    assert_eq!(asked.first().map(String::as_str), Some("NAPTR example.test"));
    assert!(
        asked.contains(&"SRV _sip._udp.example.test".to_owned()),
        "{asked:?}"
    );
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_call_to_a_name_without_records_ends_with_a_transport_error() {
    let dns = Nameserver::start(Zone::default()).await;
    let alice = agent(dns.addr, None).await;
    let started = Instant::now();
    let mut call = alice
        .call("sip:bob@nowhere.example.test", sdp("alice"), None)
        .await
        .unwrap();
    let reason = timeout(LIMIT, call.ended()).await.expect("the call hangs");
    assert_eq!(reason, Some(EndReason::TransportError));
    // Every answer was NXDOMAIN, so no lookup waited for its timeout (8 s).
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // NAPTR, then SRV for UDP and TCP, then the name's own address (RFC 3263 §4.1-4.2).
    let asked = dns.asked();
    assert_eq!(
        asked.first().map(String::as_str),
        Some("NAPTR nowhere.example.test")
    );
    assert_eq!(asked.last().map(String::as_str), Some("A nowhere.example.test"));
    assert!(
        asked.contains(&"SRV _sip._udp.nowhere.example.test".to_owned()),
        "{asked:?}"
    );
    assert!(
        asked.contains(&"SRV _sip._tcp.nowhere.example.test".to_owned()),
        "{asked:?}"
    );
    alice.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_name_whose_nameserver_fails_every_question_fails_the_request() {
    // SERVFAIL is no "no such records", but RFC 3263 moves on all the same (NAPTR, SRV,
    // then the address); with nothing found anywhere the request has no target.
    let dns = Nameserver::run(Answers::ServFail).await;
    let alice = agent(dns.addr, None).await;
    let result = timeout(LIMIT, alice.options("sip:example.test")).await.unwrap();
    assert!(matches!(result, Err(Error::Transport)), "{result:?}");
    let asked = dns.asked();
    assert_eq!(asked.first().map(String::as_str), Some("NAPTR example.test"));
    assert_eq!(asked.last().map(String::as_str), Some("A example.test"));
    alice.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn options_to_a_name_with_a_port_asks_only_for_its_address() {
    let bob = UserAgent::builder().start().await.unwrap();
    let dns = Nameserver::start(Zone::default().a("bob.example.test", Ipv4Addr::LOCALHOST)).await;
    let alice = agent(dns.addr, None).await;
    let target = format!("sip:bob.example.test:{}", bob.local_addr().port());
    let status = timeout(LIMIT, alice.options(&target)).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK);
    // A port in the URI: no NAPTR, no SRV (RFC 3263 §4.1, §4.2).
    assert_eq!(dns.asked(), ["A bob.example.test"]);
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn localhost_is_the_loopback_address_without_asking_the_nameserver() {
    let bob = UserAgent::builder().start().await.unwrap();
    let dns = Nameserver::start(Zone::default()).await;
    let alice = agent(dns.addr, None).await;
    let target = format!("sip:bob@localhost:{}", bob.local_addr().port());
    let status = timeout(LIMIT, alice.options(&target)).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dns.asked(), Vec::<String>::new());
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn lookups_past_the_bound_are_answered_failed_at_once() {
    // A nameserver that takes questions and never answers: every lookup runs until the
    // core's timeout, so the driver's bound on lookups running at once is reached.
    let dns = Nameserver::run(Answers::Never).await;
    let alice = agent(dns.addr, None).await;
    const REQUESTS: usize = 70;
    const BOUND: usize = 64;
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..REQUESTS {
        let alice = alice.clone();
        requests.spawn(async move { alice.options(&format!("sip:host{n}.example.test")).await });
    }
    // Those past the bound fail at once (all their lookups answered failed); the others
    // are still waiting for their nameserver.
    let mut failed_early = 0;
    while failed_early < REQUESTS - BOUND {
        let result = timeout(Duration::from_secs(4), requests.join_next())
            .await
            .expect("the requests past the bound did not fail at once")
            .unwrap()
            .unwrap();
        assert!(matches!(result, Err(Error::Transport)), "{result:?}");
        failed_early += 1;
    }
    // Wait until the nameserver has every question that went out: as many as the bound.
    let until = Instant::now() + LIMIT;
    while dns.asked().len() < BOUND {
        assert!(Instant::now() < until, "{} questions", dns.asked().len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = dns.asked();
    let mut names: Vec<&String> = asked.iter().collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), BOUND, "{asked:?}");
    assert!(names.iter().all(|q| q.starts_with("NAPTR host")), "{asked:?}");
    alice.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn localhost_is_the_loopback_address_with_the_system_configuration_too() {
    // No `dns_server`: the system's configuration (/etc/resolv.conf), read as the agent
    // starts. `localhost` is answered without any nameserver (RFC 6761 §6.3): NAPTR and
    // SRV find nothing, A is 127.0.0.1, so nothing leaves this machine.
    let bob = UserAgent::builder().start().await.unwrap();
    let alice = UserAgent::builder().start().await.unwrap();
    let target = format!("sip:localhost:{}", bob.local_addr().port());
    let status = timeout(LIMIT, alice.options(&target)).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK);
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
}
