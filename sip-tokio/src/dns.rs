//! The driver's resolver: answers the DNS questions the core asks for RFC 3263 server
//! location ([`Endpoint::poll_dns_query`](sip_core::Endpoint::poll_dns_query)).
//!
//! The core decides what to ask (NAPTR → SRV → A/AAAA, RFC 3263 §4) and what the answers
//! mean; this module only asks a nameserver. Each question is looked up in a task of its
//! own with hickory-resolver, and the task hands its answer back over the channel the
//! sockets report on ([`NetEvent::Dns`](crate::transport::NetEvent::Dns)), so the Endpoint stays owned by the driver's loop
//! alone, which answers it with
//! [`Endpoint::handle_dns_response`](sip_core::Endpoint::handle_dns_response).
//!
//! - At most [`MAX_IN_FLIGHT`] lookups run at once; past it a question is answered
//!   [`DnsError::Failed`] at once (the core then takes RFC 3263's next step, and a request
//!   left without any target fails with a transport error).
//! - A lookup runs no longer than the core waits for it
//!   ([`DnsConfig::query_timeout`](sip_core::config::DnsConfig::query_timeout)): past that the
//!   core has counted it failed already, and the slot is freed.
//! - Nothing is cached here: the core keeps answers for their TTL, so hickory's own cache is
//!   off (it would hand out records with their original TTL, which the core would keep
//!   again for as long).
//! - Names are looked up as they are (absolute): no search domains. A SIP URI's host is a
//!   fully qualified domain name, and a search list would send a NAPTR question for
//!   `example.com` to `example.com.corp.example` too.
//! - Where the questions go: the nameservers of the system's configuration
//!   (`/etc/resolv.conf`; `/etc/hosts` is read too, for A and AAAA, as the C library does),
//!   or the one nameserver given to [`Builder::dns_server`](crate::Builder::dns_server)
//!   (over UDP, and TCP when an answer is truncated; the hosts file is not read).
//!   `localhost` is the loopback address either way (RFC 6761 §6.3). When the system's
//!   configuration cannot be read, every question is answered failed, and a warning says
//!   why.
//! - Without the crate's `dns` feature there is no resolver: every question is answered
//!   failed, so only targets whose host is an IP address are reached.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use sip_core::dns::{DnsError, DnsQuery};
use sip_core::endpoint::DnsQueryId;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::transport::NetSender;

/// Lookups running at once, at most; past it a question is answered failed at once.
pub(crate) const MAX_IN_FLIGHT: usize = 64;

/// The driver's lookups: the resolver, and the tasks running now (one entry per question
/// asked and not yet answered, at most [`MAX_IN_FLIGHT`]).
pub(crate) struct Lookups {
    resolver: Option<backend::Resolver>,
    /// Why there is no resolver, said once, at the first question that finds none.
    unavailable: Option<String>,
    in_flight: HashMap<DnsQueryId, JoinHandle<()>>,
    timeout: Duration,
}

impl Lookups {
    /// Lookups through `server`, or the system's nameservers when `None`, each given
    /// `timeout` at most.
    pub(crate) fn new(server: Option<SocketAddr>, timeout: Duration) -> Lookups {
        let (resolver, unavailable) = match backend::resolver(server) {
            Ok(resolver) => (Some(resolver), None),
            Err(why) => {
                warn!("DNS: {why}; requests to host names will fail");
                (None, Some(why))
            }
        };
        Lookups {
            resolver,
            unavailable,
            in_flight: HashMap::new(),
            timeout,
        }
    }

    /// Starts looking `query` up; its answer comes back as [`NetEvent::Dns`](crate::transport::NetEvent::Dns) on `net`.
    /// `Err` is the answer to give the core at once: no resolver, or too many lookups
    /// running.
    pub(crate) fn start(&mut self, query: DnsQuery, net: &NetSender) -> Result<(), DnsError> {
        let Some(resolver) = &self.resolver else {
            if let Some(why) = self.unavailable.take() {
                warn!(name = %query.name, "DNS: {why}: every lookup fails");
            }
            return Err(DnsError::Failed);
        };
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            debug!(
                name = %query.name,
                record_type = %query.record_type,
                "DNS: {MAX_IN_FLIGHT} lookups running already; answered failed"
            );
            return Err(DnsError::Failed);
        }
        let id = query.id;
        let task = backend::spawn(resolver, query, net.clone(), self.timeout);
        self.in_flight.insert(id, task);
        Ok(())
    }

    /// The answer to `id` came back: its slot is free. False when no lookup of ours had
    /// that id.
    pub(crate) fn finished(&mut self, id: DnsQueryId) -> bool {
        self.in_flight.remove(&id).is_some()
    }

    /// Stops every lookup still running (the driver is stopping).
    pub(crate) fn stop(&mut self) {
        for (_, task) in self.in_flight.drain() {
            task.abort();
        }
    }
}

#[cfg(feature = "dns")]
mod backend {
    //! hickory-resolver: the questions asked, and its answers in the core's terms.

    use std::net::{IpAddr, SocketAddr};
    use std::time::Duration;

    use tokio::task::JoinHandle;
    use tracing::debug;

    use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
    use hickory_resolver::lookup::Lookup;
    use hickory_resolver::name_server::TokioConnectionProvider;
    use hickory_resolver::proto::ProtoErrorKind;
    use hickory_resolver::proto::op::ResponseCode;
    use hickory_resolver::proto::rr::{Name, RData, RecordType as HickoryType};
    use hickory_resolver::{ResolveError, TokioResolver};
    use sip_core::dns::{DnsAnswer, DnsError, DnsQuery, DnsRecords, NaptrRecord, RecordType, SrvRecord};

    use crate::transport::{NetEvent, NetSender};

    pub(crate) type Resolver = TokioResolver;

    /// Looks `query` up in a task of its own, for `timeout` at most, and sends the answer
    /// to the driver over `net`.
    pub(crate) fn spawn(
        resolver: &Resolver,
        query: DnsQuery,
        net: NetSender,
        timeout: Duration,
    ) -> JoinHandle<()> {
        let resolver = resolver.clone();
        tokio::spawn(async move {
            let result = tokio::time::timeout(timeout, lookup(&resolver, &query))
                .await
                .unwrap_or(Err(DnsError::Failed));
            debug!(name = %query.name, record_type = %query.record_type, ?result, "DNS answer");
            // The driver has stopped when this fails: nobody waits for the answer.
            let _ = net.send(NetEvent::Dns { id: query.id, result }).await;
        })
    }

    /// A resolver asking `server`, else the system's nameservers; `Err` says why there is
    /// none.
    pub(crate) fn resolver(server: Option<SocketAddr>) -> Result<Resolver, String> {
        let provider = TokioConnectionProvider::default();
        let mut builder = match server {
            Some(server) => {
                // UDP, and TCP for a truncated answer; its negative answers are final.
                let servers = NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
                let config = ResolverConfig::from_parts(None, Vec::new(), servers);
                let mut builder = TokioResolver::builder_with_config(config, provider);
                builder.options_mut().use_hosts_file = ResolveHosts::Never;
                builder
            }
            None => TokioResolver::builder(provider)
                .map_err(|e| format!("cannot read the system's DNS configuration (/etc/resolv.conf): {e}"))?,
        };
        let options: &mut ResolverOpts = builder.options_mut();
        // The core caches (for the TTL each answer carries).
        options.cache_size = 0;
        Ok(builder.build())
    }

    /// Asks `query`, and puts the answer in the core's terms.
    async fn lookup(resolver: &Resolver, query: &DnsQuery) -> Result<DnsAnswer, DnsError> {
        let name = if query.name.ends_with('.') {
            query.name.clone()
        } else {
            format!("{}.", query.name)
        };
        // Not a domain name (a label over 63 bytes, …): no nameserver could answer it. With
        // its trailing dot it is absolute: hickory applies no search list to it.
        let name = Name::from_ascii(&name).map_err(|_| DnsError::NotFound)?;
        let wanted = hickory_type(query.record_type).ok_or(DnsError::Failed)?;
        match resolver.lookup(name, wanted).await {
            Ok(lookup) => answer(&lookup, query.record_type),
            Err(error) => Err(failure(&error)),
        }
    }

    /// The record type to ask hickory for; `None` for a type the core added after this
    /// driver was written.
    fn hickory_type(record_type: RecordType) -> Option<HickoryType> {
        match record_type {
            RecordType::Naptr => Some(HickoryType::NAPTR),
            RecordType::Srv => Some(HickoryType::SRV),
            RecordType::A => Some(HickoryType::A),
            RecordType::Aaaa => Some(HickoryType::AAAA),
            _ => None,
        }
    }

    /// A domain name as the core takes it: no trailing dot, and the root as `.` (an SRV
    /// target of `.` says the service is not offered, RFC 2782).
    fn domain(name: &Name) -> String {
        if name.is_root() {
            return ".".to_owned();
        }
        name.to_ascii().trim_end_matches('.').to_owned()
    }

    /// The records of the type asked for in `lookup` (it may hold the CNAMEs that led
    /// there too), and the smallest TTL among all its records: the answer is no longer
    /// valid once any link of the chain expires. No record of that type: NotFound.
    pub(crate) fn answer(lookup: &Lookup, asked: RecordType) -> Result<DnsAnswer, DnsError> {
        let ttl = lookup.records().iter().map(|r| r.ttl()).min().unwrap_or(0);
        let rdata = lookup.records().iter().map(|r| r.data());
        let records = match asked {
            RecordType::Naptr => DnsRecords::Naptr(
                rdata
                    .filter_map(|data| match data {
                        RData::NAPTR(naptr) => Some(NaptrRecord {
                            order: naptr.order(),
                            preference: naptr.preference(),
                            flags: String::from_utf8_lossy(naptr.flags()).into_owned(),
                            services: String::from_utf8_lossy(naptr.services()).into_owned(),
                            replacement: domain(naptr.replacement()),
                        }),
                        _ => None,
                    })
                    .collect(),
            ),
            RecordType::Srv => DnsRecords::Srv(
                rdata
                    .filter_map(|data| match data {
                        RData::SRV(srv) => Some(SrvRecord {
                            priority: srv.priority(),
                            weight: srv.weight(),
                            port: srv.port(),
                            target: domain(srv.target()),
                        }),
                        _ => None,
                    })
                    .collect(),
            ),
            RecordType::A => DnsRecords::Addresses(
                rdata
                    .filter_map(|data| match data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        _ => None,
                    })
                    .collect(),
            ),
            RecordType::Aaaa => DnsRecords::Addresses(
                rdata
                    .filter_map(|data| match data {
                        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => return Err(DnsError::Failed),
        };
        if records.is_empty() {
            return Err(DnsError::NotFound);
        }
        Ok(DnsAnswer {
            records,
            ttl: Duration::from_secs(u64::from(ttl)),
        })
    }

    /// NXDOMAIN, or an answer without records of the type asked (NODATA): NotFound, RFC
    /// 3263's cue to take its next step. Anything else (a timeout, SERVFAIL, REFUSED, no
    /// nameserver reachable): Failed.
    pub(crate) fn failure(error: &ResolveError) -> DnsError {
        match error.proto().map(|e| e.kind()) {
            Some(ProtoErrorKind::NoRecordsFound { response_code, .. })
                if matches!(*response_code, ResponseCode::NXDomain | ResponseCode::NoError) =>
            {
                DnsError::NotFound
            }
            _ => DnsError::Failed,
        }
    }
}

#[cfg(not(feature = "dns"))]
mod backend {
    //! Without the `dns` feature: no resolver.

    use std::net::SocketAddr;
    use std::time::Duration;

    use sip_core::dns::DnsQuery;
    use tokio::task::JoinHandle;

    use crate::transport::NetSender;

    /// No value of it exists.
    pub(crate) enum Resolver {}

    pub(crate) fn resolver(_server: Option<SocketAddr>) -> Result<Resolver, String> {
        Err("sip-tokio was built without its `dns` feature".to_owned())
    }

    pub(crate) fn spawn(
        resolver: &Resolver,
        _query: DnsQuery,
        _net: NetSender,
        _timeout: Duration,
    ) -> JoinHandle<()> {
        match *resolver {}
    }
}

#[cfg(all(test, feature = "dns"))]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;
    use std::time::Duration;

    use hickory_resolver::ResolveError;
    use hickory_resolver::lookup::Lookup;
    use hickory_resolver::proto::op::{Query, ResponseCode};
    use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, NAPTR, SRV};
    use hickory_resolver::proto::rr::{Name, RData, Record, RecordType as HickoryType};
    use hickory_resolver::proto::{ProtoError, ProtoErrorKind};
    use sip_core::dns::{DnsError, DnsRecords, NaptrRecord, RecordType, SrvRecord};

    use super::backend::{answer, failure};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn lookup(records: Vec<Record>) -> Lookup {
        let query = Query::query(name("example.test."), HickoryType::A);
        Lookup::new_with_max_ttl(query, Arc::from(records))
    }

    #[test]
    fn naptr_records_keep_their_fields_and_the_replacement_loses_its_dot() {
        let naptr = NAPTR::new(
            10,
            20,
            b"S".to_vec().into_boxed_slice(),
            b"SIP+D2T".to_vec().into_boxed_slice(),
            Vec::new().into_boxed_slice(),
            name("_sip._tcp.example.test."),
        );
        let lookup = lookup(vec![Record::from_rdata(
            name("example.test."),
            300,
            RData::NAPTR(naptr),
        )]);
        let answer = answer(&lookup, RecordType::Naptr).unwrap();
        assert_eq!(
            answer.records,
            DnsRecords::Naptr(vec![NaptrRecord {
                order: 10,
                preference: 20,
                flags: "S".into(),
                services: "SIP+D2T".into(),
                replacement: "_sip._tcp.example.test".into(),
            }])
        );
        assert_eq!(answer.ttl, Duration::from_secs(300));
    }

    #[test]
    fn srv_records_take_the_smallest_ttl_and_a_root_target_stays_a_dot() {
        let owner = name("_sip._udp.example.test.");
        let lookup = lookup(vec![
            Record::from_rdata(
                owner.clone(),
                600,
                RData::SRV(SRV::new(1, 5, 5060, name("a.example.test."))),
            ),
            Record::from_rdata(owner, 60, RData::SRV(SRV::new(2, 0, 0, Name::root()))),
        ]);
        let answer = answer(&lookup, RecordType::Srv).unwrap();
        assert_eq!(
            answer.records,
            DnsRecords::Srv(vec![
                SrvRecord {
                    priority: 1,
                    weight: 5,
                    port: 5060,
                    target: "a.example.test".into(),
                },
                SrvRecord {
                    priority: 2,
                    weight: 0,
                    port: 0,
                    target: ".".into(),
                },
            ])
        );
        assert_eq!(answer.ttl, Duration::from_secs(60));
    }

    #[test]
    fn addresses_come_through_a_cname_whose_ttl_bounds_the_answer() {
        let lookup = lookup(vec![
            Record::from_rdata(
                name("alias.example.test."),
                30,
                RData::CNAME(CNAME(name("host.example.test."))),
            ),
            Record::from_rdata(
                name("host.example.test."),
                3600,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            ),
            Record::from_rdata(
                name("host.example.test."),
                3600,
                RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
            ),
        ]);
        let v4 = answer(&lookup, RecordType::A).unwrap();
        assert_eq!(
            v4.records,
            DnsRecords::Addresses(vec![Ipv4Addr::new(192, 0, 2, 1).into()])
        );
        assert_eq!(v4.ttl, Duration::from_secs(30));
        let v6 = answer(&lookup, RecordType::Aaaa).unwrap();
        assert_eq!(
            v6.records,
            DnsRecords::Addresses(vec![Ipv6Addr::LOCALHOST.into()])
        );
    }

    #[test]
    fn an_answer_without_records_of_the_type_asked_is_not_found() {
        let lookup = lookup(vec![Record::from_rdata(
            name("host.example.test."),
            300,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
        )]);
        assert_eq!(answer(&lookup, RecordType::Srv), Err(DnsError::NotFound));
        assert_eq!(answer(&lookup, RecordType::Aaaa), Err(DnsError::NotFound));
    }

    fn no_records(code: ResponseCode) -> ResolveError {
        ResolveError::from(ProtoError::from(ProtoErrorKind::NoRecordsFound {
            query: Box::new(Query::query(name("example.test."), HickoryType::NAPTR)),
            soa: None,
            ns: None,
            negative_ttl: None,
            response_code: code,
            trusted: true,
            authorities: None,
        }))
    }

    #[test]
    fn nxdomain_and_nodata_are_not_found_and_a_servfail_or_timeout_failed() {
        assert_eq!(failure(&no_records(ResponseCode::NXDomain)), DnsError::NotFound);
        assert_eq!(failure(&no_records(ResponseCode::NoError)), DnsError::NotFound);
        assert_eq!(failure(&no_records(ResponseCode::ServFail)), DnsError::Failed);
        assert_eq!(failure(&no_records(ResponseCode::Refused)), DnsError::Failed);
        let timeout = ResolveError::from(ProtoError::from(ProtoErrorKind::Timeout));
        assert_eq!(failure(&timeout), DnsError::Failed);
    }
}
