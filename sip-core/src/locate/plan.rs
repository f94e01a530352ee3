//! RFC 3263 §4 as a walk over cached DNS answers: from a URI to the ordered list of
//! targets (transport, address, port) to try, or the questions still to ask.
//!
//! The walk is pure: it reads answers through a lookup function and never asks anything
//! itself. Run without a random source it only collects what is missing; run with one
//! once nothing is, it orders SRV records by priority and weight (RFC 2782).

use std::net::{IpAddr, SocketAddr};

use crate::dns::{DnsError, DnsRecords, NaptrRecord, RecordType, SrvRecord};
use crate::message::{Host, Scheme, Uri};
use crate::transport::Transport;

/// How many records of one answer a walk follows at most (NAPTR records, SRV records of
/// one name, addresses of one host): an answer, like any network input, may be huge, and
/// every SRV record followed is a question asked.
const RECORDS_FOLLOWED: usize = 16;

/// Where a request may go: one element of an RFC 3263 target list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Target {
    pub(crate) transport: Transport,
    pub(crate) remote: SocketAddr,
}

/// What RFC 3263 reads from a URI: its host, port, `transport` parameter and whether it
/// is `sips:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec {
    host: SpecHost,
    port: Option<u16>,
    transport: Option<Transport>,
    secure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SpecHost {
    Ip(IpAddr),
    /// Lower case, without a trailing dot.
    Name(String),
}

/// Why a URI cannot be located at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unlocatable {
    #[error("{0} has no host")]
    NoHost(String),
    #[error("{0}: a sips: URI needs TLS (RFC 3261 §26.2.2), not {1}")]
    Insecure(String, Transport),
    #[error("{0}: transport {1} is not enabled")]
    TransportDisabled(String, Transport),
    #[error("{0}: unknown transport {1}")]
    UnknownTransport(String, String),
    #[error("no DNS records lead to a usable target for {0}")]
    NoTargets(String),
}

impl Spec {
    /// What RFC 3263 needs of `uri`.
    pub(crate) fn of(uri: &Uri) -> Result<Spec, Unlocatable> {
        let secure = uri.scheme() == Scheme::Sips;
        let transport = match uri.transport_param() {
            None => None,
            Some(t) => Some(match t.to_ascii_lowercase().as_str() {
                "udp" => Transport::Udp,
                // RFC 3261 §26.2.2: sips with transport=tcp means TLS over TCP.
                "tcp" if secure => Transport::Tls,
                "tcp" => Transport::Tcp,
                "tls" => Transport::Tls,
                "ws" if secure => Transport::Wss,
                "ws" => Transport::Ws,
                "wss" => Transport::Wss,
                other => return Err(Unlocatable::UnknownTransport(uri.to_string(), other.to_owned())),
            }),
        };
        if let Some(t) = transport.filter(|t| secure && !is_secure(*t)) {
            return Err(Unlocatable::Insecure(uri.to_string(), t));
        }
        let host = match uri.host() {
            Some(Host::Ipv4(a)) => SpecHost::Ip(a.into()),
            Some(Host::Ipv6(a)) => SpecHost::Ip(a.into()),
            Some(Host::Domain(name)) => SpecHost::Name(name.trim_end_matches('.').to_ascii_lowercase()),
            None => return Err(Unlocatable::NoHost(uri.to_string())),
        };
        Ok(Spec {
            host,
            port: uri.port(),
            transport,
            secure,
        })
    }

    /// The transports this spec can use at all, when that is narrower than "any": its
    /// `transport` parameter, or for `sips:` the secure ones.
    pub(crate) fn check_enabled(&self, enabled: &[Transport]) -> Result<(), Unlocatable> {
        match self.transport {
            Some(t) if !enabled.contains(&t) => Err(Unlocatable::TransportDisabled(self.describe(), t)),
            None if self.secure && !enabled.iter().any(|t| is_secure(*t)) => {
                Err(Unlocatable::TransportDisabled(self.describe(), Transport::Tls))
            }
            _ => Ok(()),
        }
    }

    /// The one target of a spec whose host is an address (RFC 3263 §4.1–4.2 need no DNS
    /// then), if its transport is enabled; `None` for a name.
    pub(crate) fn literal_target(&self, enabled: &[Transport]) -> Option<Target> {
        let SpecHost::Ip(ip) = self.host else {
            return None;
        };
        let transport = self.transport.unwrap_or(if self.secure {
            Transport::Tls
        } else {
            Transport::Udp
        });
        enabled.contains(&transport).then(|| Target {
            transport,
            remote: SocketAddr::new(ip, self.port.unwrap_or(default_port(transport))),
        })
    }

    /// The host when it is a name (lower case, no trailing dot).
    pub(crate) fn host_name(&self) -> Option<&str> {
        match &self.host {
            SpecHost::Name(name) => Some(name),
            SpecHost::Ip(_) => None,
        }
    }

    /// True when no DNS is needed: the host is an IP address.
    pub(crate) fn is_literal(&self) -> bool {
        matches!(self.host, SpecHost::Ip(_))
    }

    /// How the spec reads in an error.
    pub(crate) fn describe(&self) -> String {
        let host = match &self.host {
            SpecHost::Ip(ip) => ip.to_string(),
            SpecHost::Name(name) => name.clone(),
        };
        let scheme = if self.secure { "sips" } else { "sip" };
        match self.port {
            Some(port) => format!("{scheme}:{host}:{port}"),
            None => format!("{scheme}:{host}"),
        }
    }
}

fn is_secure(transport: Transport) -> bool {
    matches!(transport, Transport::Tls | Transport::Wss)
}

/// The default port of a transport (RFC 3261 §19.1.2; RFC 7118 §7 for WebSocket).
fn default_port(transport: Transport) -> u16 {
    match transport {
        Transport::Tls => 5061,
        Transport::Ws => 80,
        Transport::Wss => 443,
        _ => 5060,
    }
}

/// The NAPTR service for a transport (RFC 3263 §4.1, RFC 7118 §7).
fn naptr_service(service: &str) -> Option<Transport> {
    match service.to_ascii_uppercase().as_str() {
        "SIP+D2U" => Some(Transport::Udp),
        "SIP+D2T" => Some(Transport::Tcp),
        "SIPS+D2T" => Some(Transport::Tls),
        "SIP+D2W" => Some(Transport::Ws),
        "SIPS+D2W" => Some(Transport::Wss),
        _ => None,
    }
}

/// The SRV name prefix RFC 3263 §4.1 queries without NAPTR, for the transports that have one.
fn srv_prefix(transport: Transport) -> Option<&'static str> {
    match transport {
        Transport::Udp => Some("_sip._udp."),
        Transport::Tcp => Some("_sip._tcp."),
        Transport::Tls => Some("_sips._tcp."),
        _ => None,
    }
}

/// What a walk found: the targets so far and the questions it could not answer.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    pub(crate) targets: Vec<Target>,
    pub(crate) missing: Vec<(RecordType, String)>,
}

/// Reads the cache: the answer to a question, if there is one (`None`: not asked yet,
/// or expired).
pub(crate) type Lookup<'a> = dyn Fn(RecordType, &str) -> Option<Result<&'a DnsRecords, DnsError>> + 'a;

/// The inputs of a walk besides the spec.
pub(crate) struct Context<'a> {
    /// The transports we can send over.
    pub(crate) enabled: &'a [Transport],
    /// A or AAAA: the family of our own address.
    pub(crate) address_type: RecordType,
    /// The cache.
    pub(crate) lookup: &'a Lookup<'a>,
}

/// Walks RFC 3263 §4.1–4.2 for `spec`. With `rng` (once nothing is missing) the targets
/// come out in the order to try them; without it, only `missing` is meaningful.
pub(crate) fn walk(spec: &Spec, cx: &Context<'_>, mut rng: Option<&mut dyn FnMut() -> u64>) -> Walk {
    let mut walk = Walk::default();
    let enabled = |t: Transport| cx.enabled.contains(&t);
    let name = match &spec.host {
        // §4.1: an IP address: the transport parameter, else UDP (TLS for sips); §4.2: the
        // port, else the transport's default.
        SpecHost::Ip(ip) => {
            let transport = spec.transport.unwrap_or(if spec.secure {
                Transport::Tls
            } else {
                Transport::Udp
            });
            if enabled(transport) {
                let port = spec.port.unwrap_or(default_port(transport));
                walk.targets.push(Target {
                    transport,
                    remote: SocketAddr::new(*ip, port),
                });
            }
            return walk;
        }
        SpecHost::Name(name) => name.as_str(),
    };
    // §4.1: a port without a transport parameter: UDP (TLS for sips), and §4.2: no SRV.
    if let Some(port) = spec.port {
        let transport = spec.transport.unwrap_or(if spec.secure {
            Transport::Tls
        } else {
            Transport::Udp
        });
        if enabled(transport) {
            addresses(cx, name, port, transport, &mut walk);
        }
        return walk;
    }
    // §4.1: a transport parameter without a port: SRV for that transport (§4.2).
    if let Some(transport) = spec.transport {
        if enabled(transport) {
            let mut srv_names = Vec::new();
            if let Some(prefix) = srv_prefix(transport) {
                srv_names.push((transport, format!("{prefix}{name}")));
            }
            if !srv_targets(cx, &srv_names, &mut walk, &mut rng) {
                addresses(cx, name, default_port(transport), transport, &mut walk);
            }
        }
        return walk;
    }
    // §4.1: neither: NAPTR, keeping the services we can use (only SIPS+ for sips).
    let srv_names = match (cx.lookup)(RecordType::Naptr, name) {
        None => {
            walk.missing.push((RecordType::Naptr, name.to_owned()));
            return walk;
        }
        Some(Ok(DnsRecords::Naptr(records))) => usable_naptr(records, spec.secure, cx.enabled),
        Some(_) => Vec::new(),
    };
    // No usable NAPTR: SRV for every transport we have, in our order of preference
    // (UDP, TCP, TLS; TLS only for sips).
    let srv_names = if srv_names.is_empty() {
        [Transport::Udp, Transport::Tcp, Transport::Tls]
            .into_iter()
            .filter(|t| enabled(*t) && (!spec.secure || is_secure(*t)))
            .filter_map(|t| Some((t, format!("{}{name}", srv_prefix(t)?))))
            .collect()
    } else {
        srv_names
    };
    if !srv_targets(cx, &srv_names, &mut walk, &mut rng) {
        // §4.2: no SRV records: the name's addresses, UDP (TLS for sips) on the default port.
        let transport = if spec.secure {
            Transport::Tls
        } else {
            Transport::Udp
        };
        if enabled(transport) {
            addresses(cx, name, default_port(transport), transport, &mut walk);
        }
    }
    walk
}

/// The NAPTR records RFC 3263 §4.1 follows, in order: flag `s`, a service for an enabled
/// transport (secure only for sips), sorted by order then preference.
fn usable_naptr(records: &[NaptrRecord], secure: bool, enabled: &[Transport]) -> Vec<(Transport, String)> {
    let mut usable: Vec<(u16, u16, Transport, String)> = records
        .iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s"))
        .filter_map(|r| {
            let transport = naptr_service(&r.services)?;
            let wanted = enabled.contains(&transport) && (!secure || is_secure(transport));
            let replacement = r.replacement.trim_end_matches('.').to_ascii_lowercase();
            (wanted && !replacement.is_empty()).then_some((r.order, r.preference, transport, replacement))
        })
        .collect();
    usable.sort_by_key(|(order, preference, _, _)| (*order, *preference));
    usable
        .into_iter()
        .take(RECORDS_FOLLOWED)
        .map(|(_, _, t, name)| (t, name))
        .collect()
}

/// The targets of SRV names, in order; false when none has records (every answer in, and
/// none found), so the caller falls back to addresses.
fn srv_targets(
    cx: &Context<'_>,
    names: &[(Transport, String)],
    walk: &mut Walk,
    rng: &mut Option<&mut dyn FnMut() -> u64>,
) -> bool {
    let mut found = false;
    let mut waiting = false;
    for (transport, name) in names {
        match (cx.lookup)(RecordType::Srv, name) {
            None => {
                walk.missing.push((RecordType::Srv, name.clone()));
                waiting = true;
            }
            Some(Ok(DnsRecords::Srv(records))) if !records.is_empty() => {
                found = true;
                let records = records.get(..RECORDS_FOLLOWED).unwrap_or(records);
                let records = match rng {
                    Some(draw) => order_srv(records, &mut **draw),
                    None => records.iter().collect(),
                };
                for record in records {
                    // RFC 2782: a target of "." says the service is not offered here.
                    let host = record.target.trim_end_matches('.');
                    if !host.is_empty() {
                        addresses(cx, host, record.port, *transport, walk);
                    }
                }
            }
            Some(_) => {}
        }
    }
    found || waiting
}

/// The addresses of `host` as targets on `port` over `transport` (an IP-literal SRV target
/// needs no question).
fn addresses(cx: &Context<'_>, host: &str, port: u16, transport: Transport, walk: &mut Walk) {
    if let Ok(ip) = host.parse::<IpAddr>() {
        walk.targets.push(Target {
            transport,
            remote: SocketAddr::new(ip, port),
        });
        return;
    }
    let host = host.to_ascii_lowercase();
    match (cx.lookup)(cx.address_type, &host) {
        None => walk.missing.push((cx.address_type, host)),
        Some(Ok(DnsRecords::Addresses(ips))) => {
            for ip in ips.iter().take(RECORDS_FOLLOWED) {
                let target = Target {
                    transport,
                    remote: SocketAddr::new(*ip, port),
                };
                if !walk.targets.contains(&target) {
                    walk.targets.push(target);
                }
            }
        }
        Some(_) => {}
    }
}

/// SRV records in the order RFC 2782 gives: by priority, and within one priority by a
/// weighted random draw (a record of weight 0 is chosen only after the others, unless all
/// are 0); `draw` is the Endpoint's seeded generator, so a seed gives one order.
fn order_srv<'r>(records: &'r [SrvRecord], draw: &mut dyn FnMut() -> u64) -> Vec<&'r SrvRecord> {
    let mut sorted: Vec<&SrvRecord> = records.iter().collect();
    // Within a priority, weight-0 records first (RFC 2782's arrangement), then as given.
    sorted.sort_by_key(|r| (r.priority, r.weight != 0));
    let mut ordered = Vec::with_capacity(sorted.len());
    let mut start = 0;
    while start < sorted.len() {
        let priority = sorted.get(start).map_or(0, |r| r.priority);
        let end = sorted
            .iter()
            .skip(start)
            .position(|r| r.priority != priority)
            .map_or(sorted.len(), |n| start + n);
        let mut group: Vec<&SrvRecord> = sorted.get(start..end).map(<[_]>::to_vec).unwrap_or_default();
        while !group.is_empty() {
            let total: u64 = group.iter().map(|r| u64::from(r.weight)).sum();
            let pick = if total == 0 {
                0
            } else {
                // A running sum over the group: the first record whose sum reaches the draw.
                let point = draw() % (total + 1);
                let mut sum = 0;
                group
                    .iter()
                    .position(|r| {
                        sum += u64::from(r.weight);
                        sum >= point
                    })
                    .unwrap_or(0)
            };
            ordered.push(group.remove(pick));
        }
        start = end;
    }
    ordered
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn naptr(order: u16, preference: u16, services: &str, replacement: &str) -> NaptrRecord {
        NaptrRecord {
            order,
            preference,
            flags: "s".into(),
            services: services.into(),
            replacement: replacement.into(),
        }
    }

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    type Zone = BTreeMap<(RecordType, String), Result<DnsRecords, DnsError>>;

    fn run(uri: &str, zone: &Zone, enabled: &[Transport], seed: u64) -> Walk {
        let spec = Spec::of(&Uri::parse(uri).unwrap()).unwrap();
        let lookup = |t: RecordType, name: &str| {
            zone.get(&(t, name.to_owned()))
                .map(|r| r.as_ref().map_err(|e| *e))
        };
        let cx = Context {
            enabled,
            address_type: RecordType::A,
            lookup: &lookup,
        };
        let mut state = seed;
        let mut draw = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        let first = walk(&spec, &cx, None);
        if first.missing.is_empty() {
            walk(&spec, &cx, Some(&mut draw))
        } else {
            first
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    const ALL: &[Transport] = &[Transport::Udp, Transport::Tcp, Transport::Tls];

    fn example_zone() -> Zone {
        let mut zone = Zone::new();
        zone.insert(
            (RecordType::Naptr, "example.com".into()),
            Ok(DnsRecords::Naptr(vec![
                naptr(10, 20, "SIP+D2U", "_sip._udp.example.com"),
                naptr(10, 10, "SIP+D2T", "_sip._tcp.example.com"),
                naptr(20, 10, "SIPS+D2T", "_sips._tcp.example.com"),
            ])),
        );
        zone.insert(
            (RecordType::Srv, "_sip._tcp.example.com".into()),
            Ok(DnsRecords::Srv(vec![
                srv(10, 0, 5070, "b.example.com"),
                srv(5, 0, 5060, "a.example.com"),
            ])),
        );
        zone.insert(
            (RecordType::Srv, "_sip._udp.example.com".into()),
            Ok(DnsRecords::Srv(vec![srv(1, 0, 5060, "a.example.com")])),
        );
        zone.insert(
            (RecordType::Srv, "_sips._tcp.example.com".into()),
            Err(DnsError::NotFound),
        );
        zone.insert(
            (RecordType::A, "a.example.com".into()),
            Ok(DnsRecords::Addresses(vec![ip("192.0.2.1")])),
        );
        zone.insert(
            (RecordType::A, "b.example.com".into()),
            Ok(DnsRecords::Addresses(vec![ip("192.0.2.2")])),
        );
        zone
    }

    fn targets(walk: &Walk) -> Vec<String> {
        walk.targets
            .iter()
            .map(|t| format!("{} {}", t.transport, t.remote))
            .collect()
    }

    #[test]
    fn naptr_order_then_preference_then_srv_priority() {
        let walk = run("sip:bob@example.com", &example_zone(), ALL, 1);
        assert!(walk.missing.is_empty());
        assert_eq!(
            targets(&walk),
            ["TCP 192.0.2.1:5060", "TCP 192.0.2.2:5070", "UDP 192.0.2.1:5060"]
        );
    }

    #[test]
    fn a_walk_asks_naptr_first_then_what_it_names() {
        let zone = Zone::new();
        let walk = run("sip:bob@Example.COM.", &zone, ALL, 1);
        assert_eq!(walk.missing, [(RecordType::Naptr, "example.com".to_owned())]);
        let mut zone = example_zone();
        zone.remove(&(RecordType::A, "b.example.com".into()));
        let walk = run("sip:bob@example.com", &zone, ALL, 1);
        assert_eq!(walk.missing, [(RecordType::A, "b.example.com".to_owned())]);
    }

    #[test]
    fn sips_follows_only_secure_services() {
        let mut zone = example_zone();
        zone.insert(
            (RecordType::Srv, "_sips._tcp.example.com".into()),
            Ok(DnsRecords::Srv(vec![srv(1, 0, 5061, "b.example.com")])),
        );
        let walk = run("sips:bob@example.com", &zone, ALL, 1);
        assert_eq!(targets(&walk), ["TLS 192.0.2.2:5061"]);
        // Without TLS enabled a sips URI has no target at all: never a downgrade.
        let walk = run(
            "sips:bob@example.com",
            &zone,
            &[Transport::Udp, Transport::Tcp],
            1,
        );
        assert!(walk.targets.is_empty() && walk.missing.is_empty());
    }

    #[test]
    fn without_naptr_srv_for_each_enabled_transport_then_a() {
        let mut zone = Zone::new();
        zone.insert((RecordType::Naptr, "example.net".into()), Err(DnsError::NotFound));
        zone.insert(
            (RecordType::Srv, "_sip._udp.example.net".into()),
            Err(DnsError::NotFound),
        );
        let walk = run("sip:bob@example.net", &zone, &[Transport::Udp, Transport::Tcp], 1);
        assert_eq!(
            walk.missing,
            [(RecordType::Srv, "_sip._tcp.example.net".to_owned())]
        );
        zone.insert(
            (RecordType::Srv, "_sip._tcp.example.net".into()),
            Err(DnsError::Failed),
        );
        let walk = run("sip:bob@example.net", &zone, &[Transport::Udp, Transport::Tcp], 1);
        assert_eq!(walk.missing, [(RecordType::A, "example.net".to_owned())]);
        zone.insert(
            (RecordType::A, "example.net".into()),
            Ok(DnsRecords::Addresses(vec![ip("198.51.100.9")])),
        );
        let walk = run("sip:bob@example.net", &zone, &[Transport::Udp, Transport::Tcp], 1);
        assert_eq!(targets(&walk), ["UDP 198.51.100.9:5060"]);
    }

    #[test]
    fn a_port_or_an_ip_skips_naptr_and_srv() {
        let zone = example_zone();
        let walk = run("sip:bob@a.example.com:5080;transport=tcp", &zone, ALL, 1);
        assert_eq!(targets(&walk), ["TCP 192.0.2.1:5080"]);
        let walk = run("sips:bob@192.0.2.7", &zone, ALL, 1);
        assert_eq!(targets(&walk), ["TLS 192.0.2.7:5061"]);
        let walk = run("sip:bob@192.0.2.7;transport=tcp", &zone, ALL, 1);
        assert_eq!(targets(&walk), ["TCP 192.0.2.7:5060"]);
    }

    #[test]
    fn a_transport_parameter_without_port_asks_that_srv() {
        let walk = run("sip:bob@example.com;transport=udp", &example_zone(), ALL, 1);
        assert_eq!(targets(&walk), ["UDP 192.0.2.1:5060"]);
    }

    #[test]
    fn a_sips_uri_with_transport_udp_is_refused() {
        let uri = Uri::parse("sips:bob@example.com;transport=udp").unwrap();
        assert!(matches!(
            Spec::of(&uri),
            Err(Unlocatable::Insecure(_, Transport::Udp))
        ));
    }

    #[test]
    fn srv_weights_share_the_first_place_by_weight_and_a_seed_gives_one_order() {
        let records = [
            srv(1, 90, 1, "heavy"),
            srv(1, 10, 2, "light"),
            srv(2, 50, 3, "backup"),
        ];
        let mut heavy_first = 0;
        for seed in 0..1000u64 {
            let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut draw = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let order: Vec<&str> = order_srv(&records, &mut draw)
                .iter()
                .map(|r| r.target.as_str())
                .collect();
            assert_eq!(order.last(), Some(&"backup"), "priority 2 always last");
            if order.first() == Some(&"heavy") {
                heavy_first += 1;
            }
        }
        // 90 of 100 by weight, give or take the draw.
        assert!((850..=950).contains(&heavy_first), "{heavy_first}");
        let zone = example_zone();
        assert_eq!(
            targets(&run("sip:bob@example.com", &zone, ALL, 7)),
            targets(&run("sip:bob@example.com", &zone, ALL, 7))
        );
    }

    #[test]
    fn a_huge_srv_answer_is_followed_only_so_far() {
        let mut zone = Zone::new();
        zone.insert((RecordType::Naptr, "example.org".into()), Err(DnsError::NotFound));
        let records = (0..1000)
            .map(|n| srv(1, 0, 5060, &format!("h{n}.example.org")))
            .collect();
        zone.insert(
            (RecordType::Srv, "_sip._udp.example.org".into()),
            Ok(DnsRecords::Srv(records)),
        );
        let walk = run("sip:example.org", &zone, &[Transport::Udp], 1);
        assert_eq!(walk.missing.len(), RECORDS_FOLLOWED);
    }

    #[test]
    fn a_srv_target_of_dot_offers_nothing() {
        let mut zone = Zone::new();
        zone.insert((RecordType::Naptr, "example.org".into()), Err(DnsError::NotFound));
        zone.insert(
            (RecordType::Srv, "_sip._udp.example.org".into()),
            Ok(DnsRecords::Srv(vec![srv(0, 0, 0, ".")])),
        );
        let walk = run("sip:example.org", &zone, &[Transport::Udp], 1);
        assert!(walk.targets.is_empty() && walk.missing.is_empty());
    }
}
