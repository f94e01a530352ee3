//! A stateless, Record-Routing proxy for the simulator (RFC 3261 §16.11), used to prove that
//! dialogs follow route sets.
//!
//! The relay keeps no state at all: every datagram is either forwarded at once or dropped.
//! It speaks UDP only and routes to IP literals only (no DNS, no location service): the
//! simulator has no names to resolve, and a relay that guessed would hide routing bugs.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;

use crate::message::{HeaderName, Host, Message, Method, NameAddr, Request, Response, Scheme, Uri, Via};
use crate::transaction::mark_received;

/// How a relay behaves ([`Network::add_relay_with`](super::Network::add_relay_with)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// Whether the relay inserts itself in Record-Route of dialog-creating requests
    /// (RFC 3261 §16.6 step 4), so the dialog's later requests come through it too.
    pub record_route: bool,
    /// Whether the relay Record-Routes as an RFC 2543 strict router: `<sip:addr>` without
    /// `;lr`. Peers then put the relay's URI in the Request-URI and the remote target last
    /// in Route (RFC 3261 §12.2.1.1), which the relay undoes on receipt (§16.4).
    pub strict: bool,
}

impl Default for RelayConfig {
    /// Record-Routes as a loose router.
    fn default() -> Self {
        RelayConfig {
            record_route: true,
            strict: false,
        }
    }
}

/// Why a relay dropped a datagram. A stateless relay answers nothing (it would need state,
/// or at least a transaction, to do it well), so every failure is a silent drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a SIP message, or lacking what forwarding needs (a Via, a readable
    /// Max-Forwards, Route or To).
    Malformed,
    /// A request with Max-Forwards 0 (RFC 3261 §16.3 step 3; a stateful proxy would
    /// answer 483).
    TooManyHops,
    /// The next hop is not an IP literal, is no node of the network, or is the relay
    /// itself; or a response has no Via left to follow (§16.7 step 3).
    Unroutable,
    /// A response whose top Via is not the relay's (RFC 3261 §16.11: such a response was
    /// never forwarded by it).
    ForeignVia,
}

impl DropReason {
    /// A short label, as shown in the ladder.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::TooManyHops => "too many hops",
            DropReason::Unroutable => "unroutable",
            DropReason::ForeignVia => "foreign Via",
        }
    }
}

/// One datagram a relay dropped ([`Network::relay_drops`](super::Network::relay_drops)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayDrop {
    /// When it arrived (virtual time).
    pub at: Instant,
    /// Why it went no further.
    pub reason: DropReason,
    /// The datagram as received.
    pub payload: Bytes,
}

/// A relay node's state: its configuration and what it dropped.
#[derive(Debug)]
pub(super) struct Relay {
    pub(super) config: RelayConfig,
    pub(super) drops: Vec<RelayDrop>,
}

/// What a relay at `addr` does with `payload` from `source`: where to send what, or why not.
pub(super) fn forward(
    config: &RelayConfig,
    addr: SocketAddr,
    source: SocketAddr,
    payload: Bytes,
) -> Result<(SocketAddr, Bytes), DropReason> {
    let (destination, message) = match Message::parse(payload) {
        Ok(Message::Request(request)) => forward_request(config, addr, source, request)
            .map(|(to, request)| (to, Message::Request(request)))?,
        Ok(Message::Response(response)) => {
            forward_response(addr, response).map(|(to, response)| (to, Message::Response(response)))?
        }
        Err(_) => return Err(DropReason::Malformed),
    };
    // Never send to ourselves: a Route or Request-URI naming us that survived §16.4 would
    // loop until Max-Forwards ran out.
    if destination == addr {
        return Err(DropReason::Unroutable);
    }
    Ok((destination, message.to_bytes()))
}

/// RFC 3261 §16.3–§16.6, statelessly (§16.11).
fn forward_request(
    config: &RelayConfig,
    addr: SocketAddr,
    source: SocketAddr,
    mut request: Request,
) -> Result<(SocketAddr, Request), DropReason> {
    let via = match request.headers.top_via() {
        Some(Ok(via)) => via,
        // Without a Via there is no branch to derive ours from and no way back.
        _ => return Err(DropReason::Malformed),
    };
    // §16.3 step 3 (checked), §16.6 step 3 (applied): a missing Max-Forwards is added as 70.
    let max_forwards = match request.headers.max_forwards() {
        None => 70,
        Some(Ok(0)) => return Err(DropReason::TooManyHops),
        Some(Ok(n)) => n - 1,
        Some(Err(_)) => return Err(DropReason::Malformed),
    };
    let branch = derive_branch(addr, &request, &via);
    // §18.2.1 and RFC 3581 §4: the relay's transport notes where the request came from in
    // the Via it received, so the response can retrace the hop (§18.2.2) through a NAT.
    mark_received(&mut request, &via, source);
    request
        .headers
        .set(HeaderName::MaxForwards, max_forwards.to_string());

    // §16.4: route information preprocessing.
    let mut routes: Vec<String> = request
        .headers
        .values(HeaderName::Route)
        .map(str::to_owned)
        .collect();
    let mut routes_changed = false;
    if uri_addr(&request.uri) == Some(addr) {
        // We put this URI in a Record-Route and the previous hop is a strict router (or a
        // UA following a strict route set, §12.2.1.1): the real target is the last Route.
        let last = routes.pop().ok_or(DropReason::Unroutable)?;
        request.uri = route_uri(&last)?;
        routes_changed = true;
    }
    if let Some(first) = routes.first()
        && uri_addr(&route_uri(first)?) == Some(addr)
    {
        routes.remove(0);
        routes_changed = true;
    }

    // §16.6 step 4: Record-Route on dialog-creating requests, topmost.
    if config.record_route && creates_dialog(&request)? {
        let ours = if config.strict {
            format!("<sip:{addr}>")
        } else {
            format!("<sip:{addr};lr>")
        };
        let record_routes: Vec<&str> = std::iter::once(ours.as_str())
            .chain(request.headers.values(HeaderName::RecordRoute))
            .collect();
        let value = record_routes.join(", ");
        // `set` keeps the position of the first Record-Route line: one line, same order.
        request.headers.set(HeaderName::RecordRoute, value);
    }

    // §16.6 steps 6 and 7: the next hop is the top Route (loose), or — when that Route is a
    // strict router — the Request-URI after the strict rewrite, or else the Request-URI.
    let next_hop = match routes.first() {
        None => request.uri.clone(),
        Some(first) => {
            let uri = route_uri(first)?;
            if uri.is_loose_route() {
                uri
            } else {
                routes.remove(0);
                routes.push(format!("<{}>", request.uri));
                request.uri = uri;
                routes_changed = true;
                request.uri.clone()
            }
        }
    };
    if routes_changed {
        if routes.is_empty() {
            request.headers.remove(HeaderName::Route);
        } else {
            request.headers.set(HeaderName::Route, routes.join(", "));
        }
    }
    let destination = uri_addr(&next_hop).ok_or(DropReason::Unroutable)?;

    // §16.6 step 8: our Via on top, with the branch derived from the incoming one (§16.11).
    request.headers.push_front(
        HeaderName::Via,
        ByteString::from(format!("SIP/2.0/UDP {addr};branch={branch}")),
    );
    Ok((destination, request))
}

/// RFC 3261 §16.7 as a stateless proxy does it (§16.11): pop our Via, follow the next.
fn forward_response(addr: SocketAddr, mut response: Response) -> Result<(SocketAddr, Response), DropReason> {
    let top = match response.headers.top_via() {
        Some(Ok(via)) => via,
        _ => return Err(DropReason::Malformed),
    };
    if via_sent_by(&top) != Some(addr) {
        return Err(DropReason::ForeignVia);
    }
    response.headers.remove_first_value(HeaderName::Via);
    let next = match response.headers.top_via() {
        Some(Ok(via)) => via,
        // §16.7 step 3: no Via left means the response was for this element.
        None => return Err(DropReason::Unroutable),
        Some(Err(_)) => return Err(DropReason::Malformed),
    };
    let destination = response_destination(&next).ok_or(DropReason::Unroutable)?;
    Ok((destination, response))
}

/// Where a response goes by its (now topmost) Via: §18.2.2 with RFC 3581 §4 — the
/// `received` address or else the sent-by host; the `rport` port or else the sent-by port.
fn response_destination(via: &Via) -> Option<SocketAddr> {
    let ip = match via.received() {
        Some(received) => received
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok()?,
        None => host_ip(via.host())?,
    };
    let port = match via.rport() {
        Some(Some(port)) => port,
        _ => via.port().unwrap_or(5060),
    };
    Some(SocketAddr::new(ip, port))
}

/// A dialog-creating request (RFC 3261 §12.1, RFC 6665 §4.2, RFC 3515 §2.4.2): no To tag
/// yet, and a method that makes dialogs.
fn creates_dialog(request: &Request) -> Result<bool, DropReason> {
    if !matches!(
        request.method,
        Method::Invite | Method::Subscribe | Method::Refer | Method::Notify
    ) {
        return Ok(false);
    }
    match request.headers.to_addr() {
        Some(Ok(to)) => Ok(to.tag().is_none()),
        _ => Err(DropReason::Malformed),
    }
}

/// The URI of one Route value.
fn route_uri(value: &str) -> Result<Uri, DropReason> {
    NameAddr::parse(value)
        .map(|route| route.uri().clone())
        .map_err(|_| DropReason::Malformed)
}

/// The address a SIP URI names, when its host is an IP literal (default port 5060, or 5061
/// for `sips:`, RFC 3261 §19.1.2).
fn uri_addr(uri: &Uri) -> Option<SocketAddr> {
    let ip = host_ip(uri.host()?)?;
    let default = if uri.scheme() == Scheme::Sips { 5061 } else { 5060 };
    Some(SocketAddr::new(ip, uri.port().unwrap_or(default)))
}

/// A Via's sent-by, when its host is an IP literal.
fn via_sent_by(via: &Via) -> Option<SocketAddr> {
    Some(SocketAddr::new(host_ip(via.host())?, via.port().unwrap_or(5060)))
}

fn host_ip(host: Host<'_>) -> Option<IpAddr> {
    match host {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    }
}

/// The branch of our Via (RFC 3261 §16.11): a function of the incoming branch only, salted
/// with the relay's address, so a retransmission gets the branch its original got, and the
/// CANCEL and non-2xx ACK of an INVITE (which share its incoming branch) get the INVITE's —
/// which is how the next hop matches them to its transaction (§9.2, §17.2.3).
///
/// Without the magic cookie (RFC 2543 peers) there is no usable branch, so the hash covers
/// what §16.11 lists instead: To and From tags, Call-ID, Request-URI, top Via and CSeq number.
fn derive_branch(addr: SocketAddr, request: &Request, via: &Via) -> String {
    let mut hash = Fnv1a::new();
    hash.write(addr.to_string().as_bytes());
    hash.write(&[0]);
    match via.branch().filter(|_| via.has_magic_cookie()) {
        Some(branch) => hash.write(branch.as_bytes()),
        None => {
            let tag = |addr: Option<Result<NameAddr, _>>| {
                addr.and_then(Result::ok)
                    .and_then(|a| a.tag().map(str::to_owned))
                    .unwrap_or_default()
            };
            let headers = &request.headers;
            let seq = headers.cseq().and_then(Result::ok).map_or(0, |cseq| cseq.seq);
            for part in [
                tag(headers.to_addr()).as_bytes(),
                tag(headers.from_addr()).as_bytes(),
                headers.get(HeaderName::CallId).unwrap_or("").as_bytes(),
                request.uri.as_str().as_bytes(),
                via.as_str().as_bytes(),
                &seq.to_be_bytes(),
            ] {
                hash.write(part);
                hash.write(&[0]);
            }
        }
    }
    format!("z9hG4bK{:016x}", hash.finish())
}

/// 64-bit FNV-1a: tiny, stable across versions and platforms (unlike `DefaultHasher`), so
/// ladders with relay branches compare byte for byte.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: &str = "192.0.2.3:5060";
    const ALICE: &str = "192.0.2.1:5060";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn run(config: RelayConfig, text: &str) -> Result<(SocketAddr, Message), DropReason> {
        let payload = Bytes::from(text.replace('\n', "\r\n"));
        forward(&config, addr(RELAY), addr(ALICE), payload)
            .map(|(to, bytes)| (to, Message::parse(bytes).unwrap()))
    }

    fn invite(request_uri: &str, extra: &str) -> String {
        format!(
            "INVITE {request_uri} SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport\n\
             Max-Forwards: 5\nFrom: <sip:alice@192.0.2.1>;tag=a\nTo: <sip:bob@192.0.2.2>\n\
             Call-ID: c1\nCSeq: 1 INVITE\n{extra}Content-Length: 0\n\n"
        )
    }

    #[test]
    fn a_loose_route_naming_us_is_popped_and_the_next_one_followed() {
        let text = invite(
            "sip:bob@192.0.2.2",
            "Route: <sip:192.0.2.3;lr>, <sip:192.0.2.9:5070;lr>\n",
        );
        let (to, message) = run(RelayConfig::default(), &text).unwrap();
        assert_eq!(to, addr("192.0.2.9:5070"));
        let headers = message.headers();
        assert_eq!(headers.get("Route"), Some("<sip:192.0.2.9:5070;lr>"));
        assert_eq!(headers.get("Record-Route"), Some("<sip:192.0.2.3:5060;lr>"));
        assert_eq!(headers.get("Max-Forwards"), Some("4"));
        let vias: Vec<Via> = headers.vias().map(Result::unwrap).collect();
        assert_eq!(vias[0].host_str(), "192.0.2.3");
        assert_eq!(vias[1].rport(), Some(Some(5060)), "RFC 3581 rport filled in");
    }

    #[test]
    fn a_request_uri_naming_us_is_replaced_by_the_last_route() {
        let text = invite("sip:192.0.2.3", "Route: <sip:bob@192.0.2.2:5080>\n");
        let (to, message) = run(RelayConfig::default(), &text).unwrap();
        assert_eq!(to, addr("192.0.2.2:5080"));
        let request = message.as_request().unwrap();
        assert_eq!(request.uri.as_str(), "sip:bob@192.0.2.2:5080");
        assert!(!request.headers.contains("Route"));
    }

    #[test]
    fn a_strict_next_hop_gets_the_request_uri_moved_into_route() {
        let text = invite("sip:bob@192.0.2.2", "Route: <sip:192.0.2.7>\n");
        let (to, message) = run(RelayConfig::default(), &text).unwrap();
        assert_eq!(to, addr("192.0.2.7:5060"));
        let request = message.as_request().unwrap();
        assert_eq!(request.uri.as_str(), "sip:192.0.2.7");
        assert_eq!(request.headers.get("Route"), Some("<sip:bob@192.0.2.2>"));
    }

    #[test]
    fn strict_relays_record_route_without_lr_and_in_dialog_requests_are_not_record_routed() {
        let strict = RelayConfig {
            record_route: true,
            strict: true,
        };
        let (_, message) = run(strict, &invite("sip:bob@192.0.2.2", "")).unwrap();
        assert_eq!(
            message.headers().get("Record-Route"),
            Some("<sip:192.0.2.3:5060>")
        );
        let in_dialog = invite("sip:bob@192.0.2.2", "")
            .replace("To: <sip:bob@192.0.2.2>", "To: <sip:bob@192.0.2.2>;tag=b");
        let (_, message) = run(strict, &in_dialog).unwrap();
        assert!(!message.headers().contains("Record-Route"));
    }

    #[test]
    fn the_branch_depends_on_the_incoming_branch_only() {
        let branch = |text: &str| {
            let (_, message) = run(RelayConfig::default(), text).unwrap();
            message
                .headers()
                .top_via()
                .unwrap()
                .unwrap()
                .branch()
                .unwrap()
                .to_owned()
        };
        let invite_branch = branch(&invite("sip:bob@192.0.2.2", ""));
        let cancel = invite("sip:bob@192.0.2.2", "").replace("INVITE", "CANCEL");
        assert_eq!(branch(&cancel), invite_branch);
        let other = invite("sip:bob@192.0.2.2", "").replace("z9hG4bKabc", "z9hG4bKabd");
        assert_ne!(branch(&other), invite_branch);
        assert!(invite_branch.starts_with("z9hG4bK"));
    }

    #[test]
    fn requests_that_cannot_go_on_are_dropped() {
        let exhausted = invite("sip:bob@192.0.2.2", "").replace("Max-Forwards: 5", "Max-Forwards: 0");
        assert_eq!(
            run(RelayConfig::default(), &exhausted).unwrap_err(),
            DropReason::TooManyHops
        );
        let named = invite("sip:bob@example.com", "");
        assert_eq!(
            run(RelayConfig::default(), &named).unwrap_err(),
            DropReason::Unroutable
        );
        let to_us = invite("sip:192.0.2.3", "");
        assert_eq!(
            run(RelayConfig::default(), &to_us).unwrap_err(),
            DropReason::Unroutable
        );
        assert_eq!(
            run(RelayConfig::default(), "garbage").unwrap_err(),
            DropReason::Malformed
        );
        let bad_route = invite("sip:bob@192.0.2.2", "Route: <<<\n");
        assert_eq!(
            run(RelayConfig::default(), &bad_route).unwrap_err(),
            DropReason::Malformed
        );
    }

    #[test]
    fn a_missing_max_forwards_is_added_as_70() {
        let text = invite("sip:bob@192.0.2.2", "").replace("Max-Forwards: 5\n", "");
        let (_, message) = run(RelayConfig::default(), &text).unwrap();
        assert_eq!(message.headers().get("Max-Forwards"), Some("70"));
    }

    #[test]
    fn responses_pop_our_via_and_follow_received_and_rport() {
        let ok = "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.3:5060;branch=z9hG4bKx\n\
                  Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport=6000;received=192.0.2.1\n\
                  From: <sip:alice@192.0.2.1>;tag=a\nTo: <sip:bob@192.0.2.2>;tag=b\nCall-ID: c1\n\
                  CSeq: 1 INVITE\nContent-Length: 0\n\n";
        let (to, message) = run(RelayConfig::default(), ok).unwrap();
        assert_eq!(to, addr("192.0.2.1:6000"));
        assert_eq!(message.headers().count("Via"), 1);
        let foreign = ok.replace("192.0.2.3:5060;branch=z9hG4bKx", "192.0.2.8:5060;branch=z9hG4bKx");
        assert_eq!(
            run(RelayConfig::default(), &foreign).unwrap_err(),
            DropReason::ForeignVia
        );
        let last = "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.3:5060;branch=z9hG4bKx\n\
                    CSeq: 1 INVITE\nContent-Length: 0\n\n";
        assert_eq!(
            run(RelayConfig::default(), last).unwrap_err(),
            DropReason::Unroutable
        );
    }
}
