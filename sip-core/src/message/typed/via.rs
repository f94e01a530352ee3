//! The Via header (RFC 3261 §20.42, §18.2.1; RFC 3581 `rport`).

use std::fmt;

use bytestring::ByteString;
use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take_while1;
use nom::character::complete::{char, space0};
use nom::sequence::delimited;

use crate::message::error::{ParseError, ParseErrorKind};
use crate::message::grammar::{is_lws, is_token_char, trim_lws, trim_lws_start};
use crate::message::headers::Headers;
use crate::message::params::{Params, ParamsCheck};
use crate::message::span::Span;
use crate::message::uri::{Host, HostKind, parse_host_prefix, parse_port, read_host, read_port};

/// The RFC 3261 §8.1.1.7 branch prefix that marks an RFC 3261 transaction id.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value: `SIP/2.0/UDP host:port;branch=…;received=…;rport`.
///
/// ```
/// use sip_core::message::{Host, Via};
/// let via = Via::parse("SIP / 2.0 / UDP 192.0.2.1:5060 ; branch=z9hG4bK74b ; rport").unwrap();
/// assert_eq!(via.transport(), "UDP");
/// assert_eq!(via.host(), Host::Ipv4("192.0.2.1".parse().unwrap()));
/// assert_eq!(via.port(), Some(5060));
/// assert_eq!(via.branch(), Some("z9hG4bK74b"));
/// assert!(via.has_magic_cookie());
/// assert_eq!(via.rport(), Some(None));
/// ```
#[derive(Clone)]
pub struct Via {
    text: ByteString,
    protocol: Span,
    version: Span,
    transport: Span,
    host: Span,
    host_kind: HostKind,
    port: Option<u16>,
    params: Span,
}

impl Via {
    /// Parses one Via value (no commas), copying it.
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        Via::parse_shared(ByteString::from(s))
    }

    /// Parses one Via value held in a shared buffer.
    pub fn parse_shared(text: ByteString) -> Result<Via, ParseError> {
        match PlainVia::parse(&text) {
            Some(plain) => Ok(Via::from_plain(text, plain)),
            None => Via::parse_general(text),
        }
    }

    /// A whole Via header line, when it holds one value in the plain form and no list
    /// separator: the Via that splitting the line on commas and parsing its one element
    /// gives, without searching the line for separators. `None` leaves the line to that
    /// general path.
    pub(crate) fn parse_single_line(headers: &Headers, line: &str) -> Option<Via> {
        let plain = PlainVia::parse(line).filter(|plain| plain.single)?;
        Some(Via::from_plain(headers.share(line), plain))
    }

    fn from_plain(text: ByteString, plain: PlainVia) -> Via {
        Via {
            protocol: Span::new(0, 3),
            version: Span::new(4, 7),
            transport: Span::new(8, plain.transport_end),
            host: plain.host,
            host_kind: plain.host_kind,
            port: plain.port,
            params: plain.params,
            text,
        }
    }

    /// Every form of Via the grammar allows, with the errors reported for the rest.
    fn parse_general(text: ByteString) -> Result<Via, ParseError> {
        let err = || ParseError::new(ParseErrorKind::HeaderValue).in_header("Via");
        let s: &str = trim_lws(&text);
        // Nearly every Via starts "SIP/2.0/"; read that directly and keep nom for the
        // LWS-laden forms RFC 4475 §3.1.1.1 shows.
        let fast = s
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("SIP/2.0/"))
            .and_then(|_| {
                let after = s.get(8..)?;
                let len = after
                    .bytes()
                    .position(|b| !is_token_char(b))
                    .unwrap_or(after.len());
                if len == 0 {
                    return None;
                }
                Some((after.get(len..)?, (s.get(..3)?, s.get(4..7)?, after.get(..len)?)))
            });
        let (rest, (protocol, version, transport)) = match fast {
            Some(parsed) => parsed,
            None => sent_protocol(s).map_err(|_| err())?,
        };
        // sent-protocol LWS sent-by: at least one white space before the host.
        let after_ws = trim_lws_start(rest);
        if after_ws.len() == rest.len() {
            return Err(err());
        }
        let (host, host_kind, host_end) = parse_host_prefix(after_ws).ok_or_else(err)?;
        let mut tail = after_ws.get(host_end..).unwrap_or("");
        let mut port = None;
        if let Some(p) = trim_lws_start(tail).strip_prefix(':') {
            let p = trim_lws_start(p);
            let end = p.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(p.len());
            port = Some(parse_port(p.get(..end).unwrap_or("")).ok_or_else(err)?);
            tail = p.get(end..).unwrap_or("");
        }
        let params_text = trim_lws(tail);
        if !params_text.is_empty() && !params_text.starts_with(';') {
            return Err(err());
        }
        if !Params::new(params_text).is_well_formed() {
            return Err(err());
        }
        Ok(Via {
            protocol: Span::of(&text, protocol),
            version: Span::of(&text, version),
            transport: Span::of(&text, transport),
            host: Span::of(&text, host),
            host_kind,
            port,
            params: Span::of(&text, params_text),
            text,
        })
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The protocol name (`SIP`).
    pub fn protocol(&self) -> &str {
        self.protocol.get(&self.text)
    }

    /// The protocol version (`2.0`).
    pub fn version(&self) -> &str {
        self.version.get(&self.text)
    }

    /// The transport as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, … or any token).
    pub fn transport(&self) -> &str {
        self.transport.get(&self.text)
    }

    /// The sent-by host.
    pub fn host(&self) -> Host<'_> {
        self.host_kind.with_text(self.host.get(&self.text))
    }

    /// The sent-by host as written (IPv6 in brackets).
    pub fn host_str(&self) -> &str {
        self.host.get(&self.text)
    }

    /// The sent-by port, when written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The via-params.
    pub fn params(&self) -> Params<'_> {
        Params::new(self.params.get(&self.text))
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params().get("branch").flatten()
    }

    /// True when the branch starts with the RFC 3261 magic cookie `z9hG4bK` and has something
    /// after it (RFC 4475 §3.2.1: a bare cookie is no transaction id).
    pub fn has_magic_cookie(&self) -> bool {
        self.branch().is_some_and(is_rfc3261_branch)
    }

    /// The `received` parameter (RFC 3261 §18.2.1). Brackets around an IPv6 address are
    /// tolerated (RFC 5118 §4.5).
    pub fn received(&self) -> Option<&str> {
        self.params().get("received").flatten()
    }

    /// The `rport` parameter (RFC 3581): `Some(None)` when present without a value,
    /// `Some(Some(port))` when filled in. A malformed value reads as absent.
    pub fn rport(&self) -> Option<Option<u16>> {
        match self.params().get("rport")? {
            None => Some(None),
            Some(v) => parse_port(v).map(Some),
        }
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.params().get("maddr").flatten()
    }
}

impl PartialEq for Via {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Via {}

impl fmt::Debug for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Via({:?})", &*self.text)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The form nearly every Via is written in: `SIP/2.0/TRANSPORT host[:port][;params]` with a
/// single SP and no other white space. Read straight from the bytes, in one pass over each
/// part; anything else (LWS around `/`, `:` or `;`, RFC 4475 §3.1.1.1) or anything invalid
/// is left to the general parser in [`Via::parse_shared`], which gives the same result for
/// every value this accepts.
struct PlainVia {
    transport_end: usize,
    host: Span,
    host_kind: HostKind,
    port: Option<u16>,
    params: Span,
    /// The text holds no list separator (see [`ParamsCheck::Single`]): nothing before the
    /// parameters can hold one.
    single: bool,
}

impl PlainVia {
    fn parse(text: &str) -> Option<PlainVia> {
        let bytes = text.as_bytes();
        // "SIP/2.0/" in any case as one word compare: ORing 0x20 into the three letters
        // lower-cases them and maps no other byte onto them; the rest must match exactly.
        let prefix = u64::from_le_bytes(*bytes.first_chunk::<8>()?);
        if prefix | 0x20_2020 != u64::from_le_bytes(*b"sip/2.0/") {
            return None;
        }
        let transport_len = bytes.get(8..)?.iter().position(|&b| !is_token_char(b))?;
        let transport_end = 8 + transport_len;
        if transport_len == 0 || bytes.get(transport_end) != Some(&b' ') {
            return None;
        }
        let host_start = transport_end + 1;
        let (host_kind, host_len) = read_host(text.get(host_start..)?)?;
        let mut at = host_start + host_len;
        let mut port = None;
        if bytes.get(at) == Some(&b':') {
            let (number, digits) = read_port(bytes.get(at + 1..)?)?;
            port = Some(number);
            at += 1 + digits;
        }
        let params = bytes.get(at..)?;
        let plain_end = params.last().is_none_or(|&b| !is_lws(b));
        let params_ok = params.is_empty() || params.first() == Some(&b';') && plain_end;
        let check = Params::new(text.get(at..)?).check();
        if !params_ok || check == ParamsCheck::Malformed {
            return None;
        }
        Some(PlainVia {
            transport_end,
            host: Span::new(host_start, host_start + host_len),
            host_kind,
            port,
            params: Span::new(at, bytes.len()),
            single: check == ParamsCheck::Single,
        })
    }
}

fn token(s: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii() && is_token_char(c as u8))(s)
}

/// `SWS "/" SWS` (after unfolding, SWS is plain white space).
fn slash(s: &str) -> IResult<&str, char> {
    delimited(space0, char('/'), space0).parse(s)
}

/// `sent-protocol = protocol-name SLASH protocol-version SLASH transport`.
fn sent_protocol(s: &str) -> IResult<&str, (&str, &str, &str)> {
    let (s, (protocol, _, version, _, transport)) = (token, slash, token, slash, token).parse(s)?;
    Ok((s, (protocol, version, transport)))
}

/// True when `branch` starts with the RFC 3261 magic cookie `z9hG4bK` and has something
/// after it (RFC 3261 §8.1.1.7; RFC 4475 §3.2.1: a bare cookie is no transaction id).
pub(crate) fn is_rfc3261_branch(branch: &str) -> bool {
    branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_inside_sent_protocol_is_accepted() {
        // RFC 4475 §3.1.1.1 (wsinv), after unfolding.
        let via = Via::parse("SIP  /   2.0  /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(via.transport(), "UDP");
        assert_eq!(via.host_str(), "192.0.2.2");
        assert_eq!(via.branch(), Some("390skdjuw"));
        assert!(!via.has_magic_cookie());
        let via =
            Via::parse("SIP  / 2.0  / TCP     spindle.example.com   ;   branch  =   z9hG4bK9ikj8").unwrap();
        assert_eq!(via.branch(), Some("z9hG4bK9ikj8"));
    }

    #[test]
    fn bracketed_received_is_tolerated() {
        // RFC 5118 §4.5
        let via = Via::parse("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111")
            .unwrap();
        assert_eq!(via.received(), Some("[2001:db8::9:255]"));
        assert_eq!(via.host(), Host::Ipv6("2001:db8::9:1".parse().unwrap()));
    }

    #[test]
    fn bare_magic_cookie_is_not_a_transaction_id() {
        // RFC 4475 §3.2.1 (badbranch)
        let via = Via::parse("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK").unwrap();
        assert!(!via.has_magic_cookie());
    }

    #[test]
    fn plain_form_reads_as_the_general_parser_does() {
        for text in [
            "SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport",
            "SIP/2.0/TCP 192.0.2.50;received=192.0.2.51;branch=z9hG4bKnashds8",
            "sip/2.0/tls [2001:db8::9:1]:5061;branch=z9hG4bKas3-111",
            "SIP/2.0/WSS h",
            "SIP/2.0/UDP h;x=\"a; b\"",
        ] {
            assert!(PlainVia::parse(text).is_some(), "{text}");
            let fast = Via::parse(text).unwrap();
            let general = Via::parse_general(ByteString::from(text)).unwrap();
            assert_eq!(
                (
                    fast.protocol(),
                    fast.version(),
                    fast.transport(),
                    fast.host(),
                    fast.port()
                ),
                (
                    general.protocol(),
                    general.version(),
                    general.transport(),
                    general.host(),
                    general.port()
                ),
            );
            assert_eq!(fast.params().as_str(), general.params().as_str());
        }
        for other in [
            "SIP/2.0/UDP  h",
            "SIP/2.0/UDP h ;lr",
            "SIP/2.0/UDP h: 5060",
            "SIP/2.0/UDP h;;",
        ] {
            assert!(PlainVia::parse(other).is_none(), "{other}");
        }
        // A comma or '<' outside quotes may be a list separator, or hide one.
        for (text, single) in [
            ("SIP/2.0/UDP h;branch=z9hG4bK1;rport", true),
            ("SIP/2.0/UDP h;x=\"a,<b\"", true),
            ("SIP/2.0/UDP h;branch=x,y", false),
            ("SIP/2.0/UDP h;x=<y>", false),
        ] {
            assert_eq!(PlainVia::parse(text).map(|p| p.single), Some(single), "{text}");
        }
    }

    #[test]
    fn malformed_vias_are_rejected() {
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;",
            "SIP/2.0/UDP",
            "SIP/2.0 192.0.2.1",
            "SIP/2.0/UDP192.0.2.1",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host junk",
            ";",
            "",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad:?}");
        }
    }
}
