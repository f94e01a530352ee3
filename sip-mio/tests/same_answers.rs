//! Both drivers give the same answers to the same requests: the core answers everything a
//! driver used to answer on its own (OPTIONS, 405 and 481 outside a dialog, 501 inside
//! one), so a sip-tokio agent and a sip-mio server differ in nothing a peer can see.
//! Each request goes over loopback UDP from a plain socket to both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use mio::{Poll, Token};
use sip_core::message::{HeaderName, Message};
use sip_mio::{Driver, Listen, ServeOptions, serve};

/// How long the servers live; every request is answered well within it.
const LIFETIME: Duration = Duration::from_secs(3);

/// A request of `method` from a plain client at `client` to `server`, with a To tag when
/// `to_tag` is given (then it names a dialog the server does not have).
fn request(method: &str, server: SocketAddr, client: SocketAddr, n: usize, to_tag: Option<&str>) -> String {
    let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:probe@{server} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {client};branch=z9hG4bKsame{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{client}>;tag=p{n}\r\n\
         To: <sip:probe@{server}>{tag}\r\n\
         Call-ID: same-{n}@{client}\r\n\
         CSeq: 1 {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Sends `text` to `server` and returns the final response's status and Allow header.
fn ask(socket: &UdpSocket, server: SocketAddr, text: &str) -> (u16, Option<String>) {
    socket.send_to(text.as_bytes(), server).unwrap();
    let mut buffer = [0u8; 65_535];
    loop {
        let (len, _) = socket.recv_from(&mut buffer).expect("an answer in time");
        let message = Message::parse(bytes::Bytes::copy_from_slice(&buffer[..len])).unwrap();
        let response = message.as_response().unwrap();
        if response.status.is_final() {
            let allow = response.headers.get(HeaderName::Allow).map(str::to_owned);
            return (response.status.as_u16(), allow);
        }
    }
}

/// What each probe gets from `server`.
fn probe(server: SocketAddr) -> Vec<(String, u16, Option<String>)> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let client = socket.local_addr().unwrap();
    let probes: [(&str, Option<&str>); 11] = [
        ("OPTIONS", None),
        ("SUBSCRIBE", None),
        ("REFER", None),
        ("NOTIFY", None),
        ("PUBLISH", None),
        ("REGISTER", None),
        ("MESSAGE", None),
        ("BYE", None),
        ("INFO", Some("gone")),
        ("NOTIFY", Some("gone")),
        ("FROBNICATE", None),
    ];
    probes
        .iter()
        .enumerate()
        .map(|(n, (method, to_tag))| {
            let (status, allow) = ask(&socket, server, &request(method, server, client, n, *to_tag));
            let name = match to_tag {
                Some(_) => format!("{method} in a dialog"),
                None => method.to_string(),
            };
            (name, status, allow)
        })
        .collect()
}

#[test]
fn sip_tokio_and_sip_mio_give_the_same_statuses_to_the_same_requests() {
    // sip-mio: the serve loop in a thread of its own.
    let mut driver = Driver::bind("127.0.0.1:0".parse().unwrap(), Listen::Udp).unwrap();
    let mio_addr = driver.local_addr();
    let mio_server = std::thread::spawn(move || {
        let mut poll = Poll::new().unwrap();
        driver.register(poll.registry(), Token(0)).unwrap();
        let options = ServeOptions {
            duration: Some(LIFETIME),
            ..ServeOptions::default()
        };
        serve(&mut driver, &mut poll, &options, |_| {}).unwrap();
    });
    // sip-tokio: a user agent on a runtime of its own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let agent = runtime
        .block_on(
            sip_tokio::UserAgent::builder()
                .bind("127.0.0.1:0".parse().unwrap())
                .tcp(false)
                .start(),
        )
        .unwrap();
    let tokio_addr = agent.local_addr();

    let from_mio = probe(mio_addr);
    let from_tokio = probe(tokio_addr);
    assert_eq!(from_mio, from_tokio);

    let statuses: Vec<(&str, u16)> = from_mio.iter().map(|(m, s, _)| (m.as_str(), *s)).collect();
    assert_eq!(
        statuses,
        [
            ("OPTIONS", 200),
            ("SUBSCRIBE", 405),
            ("REFER", 405),
            // NOTIFY belongs to a subscription of ours: naming none, it gets 481 (RFC 6665
            // §4.1.3), in a dialog or not.
            ("NOTIFY", 481),
            ("PUBLISH", 405),
            ("REGISTER", 405),
            // Taken only inside a call: outside one it names no dialog of ours.
            ("MESSAGE", 200),
            ("BYE", 481),
            ("INFO in a dialog", 481),
            ("NOTIFY in a dialog", 481),
            // Inside a dialog, a method nothing handles is 501 (RFC 3261 §12.2.2).
            ("FROBNICATE", 501),
        ]
    );
    // OPTIONS and 405 advertise what is really handled, and nothing else.
    let allow = from_mio[0].2.as_deref().unwrap();
    assert_eq!(
        allow,
        "INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, NOTIFY, PRACK, UPDATE, INFO"
    );
    assert_eq!(from_mio[1].2.as_deref(), Some(allow));

    runtime.block_on(agent.shutdown(Duration::from_millis(100)));
    mio_server.join().unwrap();
}
