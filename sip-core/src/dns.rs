//! What crosses between the core and a driver's resolver for RFC 3263 server location:
//! the questions the Endpoint asks ([`DnsQuery`]) and the answers the driver gives back
//! ([`DnsAnswer`], [`DnsError`]).
//!
//! The core decides what to ask and what the answers mean — NAPTR → SRV → A/AAAA, which
//! transports, the order of targets and failover (RFC 3263 §4) — and the driver only asks
//! its resolver: `sip-tokio` uses hickory-resolver, a test answers from a table.
//!
//! ```
//! use std::time::Duration;
//! use sip_core::dns::{DnsAnswer, DnsRecords, RecordType, SrvRecord};
//!
//! // What a driver hands back for `_sip._udp.example.com SRV`.
//! let answer = DnsAnswer {
//!     records: DnsRecords::Srv(vec![SrvRecord {
//!         priority: 10,
//!         weight: 60,
//!         port: 5060,
//!         target: "a.example.com".into(),
//!     }]),
//!     ttl: Duration::from_secs(300),
//! };
//! assert_eq!(answer.records.record_type(), RecordType::Srv);
//! ```

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::ids::DnsQueryId;

/// The record types RFC 3263 asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RecordType {
    /// NAPTR (RFC 3403): which transports a domain offers, and the SRV name of each.
    Naptr,
    /// SRV (RFC 2782): the hosts and ports of a service, with priorities and weights.
    Srv,
    /// A: IPv4 addresses.
    A,
    /// AAAA: IPv6 addresses.
    Aaaa,
}

impl RecordType {
    /// The record type's name, as DNS tools write it.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Naptr => "NAPTR",
            RecordType::Srv => "SRV",
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A question for the driver's resolver: the records of `record_type` for `name`. Answer it
/// with [`Endpoint::handle_dns_response`](crate::Endpoint::handle_dns_response) and its
/// `id`, once, whatever the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuery {
    /// Names the answer.
    pub id: DnsQueryId,
    /// The domain name, without a trailing dot (`_sip._udp.example.com`).
    pub name: String,
    /// What is asked.
    pub record_type: RecordType,
}

/// One NAPTR record (RFC 3403 §4.1), as far as RFC 3263 reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaptrRecord {
    /// Lower first.
    pub order: u16,
    /// Lower first, among records of one order.
    pub preference: u16,
    /// `s` for the SRV records RFC 3263 uses (others are skipped).
    pub flags: String,
    /// `SIP+D2U`, `SIP+D2T`, `SIPS+D2T`, `SIP+D2W`, `SIPS+D2W` (RFC 3263 §4.1, RFC 7118 §7).
    pub services: String,
    /// The SRV name to look up next, without a trailing dot.
    pub replacement: String,
}

/// One SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower first.
    pub priority: u16,
    /// Among records of one priority, the share of the choices this one gets.
    pub weight: u16,
    /// The port.
    pub port: u16,
    /// The host, without a trailing dot; `.` means the service is not offered.
    pub target: String,
}

/// The records of an answer, of the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsRecords {
    /// NAPTR records.
    Naptr(Vec<NaptrRecord>),
    /// SRV records.
    Srv(Vec<SrvRecord>),
    /// A or AAAA records: the addresses.
    Addresses(Vec<IpAddr>),
}

impl DnsRecords {
    /// The record type these records answer (A for addresses, whichever family they are).
    pub fn record_type(&self) -> RecordType {
        match self {
            DnsRecords::Naptr(_) => RecordType::Naptr,
            DnsRecords::Srv(_) => RecordType::Srv,
            DnsRecords::Addresses(_) => RecordType::A,
        }
    }

    /// True when no record came back.
    pub fn is_empty(&self) -> bool {
        match self {
            DnsRecords::Naptr(records) => records.is_empty(),
            DnsRecords::Srv(records) => records.is_empty(),
            DnsRecords::Addresses(addresses) => addresses.is_empty(),
        }
    }
}

/// A positive answer: the records and how long they may be kept (the smallest TTL among
/// them). The Endpoint keeps them no longer than
/// [`DnsConfig::max_ttl`](crate::config::DnsConfig::max_ttl).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    /// The records.
    pub records: DnsRecords,
    /// How long they are valid.
    pub ttl: Duration,
}

/// Why a question has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The name does not exist, or has no records of that type (NXDOMAIN, NODATA): RFC 3263
    /// moves on to its next step (SRV without NAPTR, A without SRV).
    #[error("no such records")]
    NotFound,
    /// The resolver failed (timeout, SERVFAIL, no nameserver reachable).
    #[error("the resolver failed")]
    Failed,
}
