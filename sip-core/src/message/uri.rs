//! URIs: `sip:`/`sips:` (RFC 3261 §19.1, §25.1), `tel:` (RFC 3966) and any other absolute
//! URI, which is kept opaque (RFC 3261 §19.1 allows any scheme in most places).

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytestring::ByteString;

use super::error::{ParseError, ParseErrorKind};
use super::grammar::{escapes_are_valid, find_byte, percent_decode, position_of};
use super::params::Params;
use super::span::Span;

/// A parsed URI. It shares the buffer it was parsed from, so taking one out of a message is
/// a reference-count increment, not a copy.
///
/// Equality (`==`) is textual. The components are kept as written, escapes included;
/// [`Uri::user_decoded`] decodes `%HH` once.
///
/// ```
/// use sip_core::message::{Host, Scheme, Uri};
/// let uri = Uri::parse("sip:alice@[2001:db8::10]:5070;transport=tcp?subject=hi").unwrap();
/// assert_eq!(uri.scheme(), Scheme::Sip);
/// assert_eq!(uri.user(), Some("alice"));
/// assert_eq!(uri.host(), Some(Host::Ipv6("2001:db8::10".parse().unwrap())));
/// assert_eq!(uri.port(), Some(5070));
/// assert_eq!(uri.params().get("transport"), Some(Some("tcp")));
/// assert_eq!(uri.headers(), Some("subject=hi"));
///
/// let tel = Uri::parse("tel:+1-201-555-0123").unwrap();
/// assert_eq!(tel.scheme(), Scheme::Tel);
/// assert_eq!(tel.user(), Some("+1-201-555-0123"));
/// ```
#[derive(Clone)]
pub struct Uri {
    /// The buffer holding the URI, possibly inside a larger value (a name-addr shares its
    /// buffer with its URI): the URI is `buffer[start..end]`; every span is absolute.
    buffer: ByteString,
    start: u32,
    end: u32,
    scheme: Scheme,
    scheme_end: u32,
    parts: Option<SipParts>,
}

/// URI schemes the stack knows; every other scheme is [`Scheme::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other absolute URI; the text is kept opaque.
    Other,
}

/// The host of a SIP URI or Via.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A host name, as written.
    Domain(&'a str),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 reference (written in brackets).
    Ipv6(Ipv6Addr),
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// How a host was written, resolved once at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum HostKind {
    Domain,
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
}

impl HostKind {
    pub(crate) fn with_text(self, text: &str) -> Host<'_> {
        match self {
            HostKind::Domain => Host::Domain(text),
            HostKind::Ipv4(a) => Host::Ipv4(a),
            HostKind::Ipv6(a) => Host::Ipv6(a),
        }
    }
}

/// Components of a `sip:`/`sips:` URI (and the number and parameters of a `tel:` URI), as
/// spans of the URI text.
#[derive(Debug, Clone, Copy)]
struct SipParts {
    user: Option<Span>,
    password: Option<Span>,
    host: Span,
    host_kind: HostKind,
    port: Option<u16>,
    params: Span,
    headers: Option<Span>,
}

impl Uri {
    /// Parses a URI from text, copying it.
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        Uri::parse_shared(ByteString::from(s))
    }

    /// Parses a URI that is already in a shared buffer, without copying.
    pub fn parse_shared(text: ByteString) -> Result<Uri, ParseError> {
        let end = text.len();
        Uri::parse_within(text, 0, end)
    }

    /// Parses the URI at `buffer[start..end]`, keeping `buffer` (one reference count for a
    /// whole name-addr and its URI). `start..end` must lie on char boundaries.
    pub(crate) fn parse_within(buffer: ByteString, start: usize, end: usize) -> Result<Uri, ParseError> {
        let err = || ParseError::new(ParseErrorKind::Uri);
        let whole = buffer.get(..end).ok_or_else(err)?;
        let bytes = whole.as_bytes().get(start..).ok_or_else(err)?;
        let has_prefix = |prefix: &[u8]| {
            bytes
                .get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        };
        // "sip:" in any case as one word compare: ORing 0x20 into the three letters
        // lower-cases them and maps no other byte onto them; the colon must match exactly.
        let sip_word = bytes
            .first_chunk::<4>()
            .map(|word| u32::from_le_bytes(*word) | 0x0020_2020);
        let (scheme, colon) = if sip_word == Some(u32::from_le_bytes(*b"sip:")) {
            (Scheme::Sip, 3)
        } else if has_prefix(b"sips:") {
            (Scheme::Sips, 4)
        } else if has_prefix(b"tel:") {
            (Scheme::Tel, 3)
        } else {
            // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3261 §25.1)
            let colon = memchr::memchr(b':', bytes).ok_or_else(err)?;
            let scheme_text = bytes.get(..colon).unwrap_or_default();
            let valid = scheme_text.first().is_some_and(u8::is_ascii_alphabetic)
                && scheme_text
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            if !valid {
                return Err(err());
            }
            (Scheme::Other, colon)
        };
        let rest = bytes.get(colon + 1..).unwrap_or_default();
        let parts = match scheme {
            Scheme::Sip | Scheme::Sips => Some(parse_sip_parts(whole, start + colon + 1).ok_or_else(err)?),
            Scheme::Tel => Some(parse_tel_parts(whole, start + colon + 1).ok_or_else(err)?),
            Scheme::Other => {
                if rest.is_empty() || rest.iter().any(|&b| is_forbidden_in_uri(b)) {
                    return Err(err());
                }
                None
            }
        };
        Ok(Uri {
            scheme,
            scheme_end: (start + colon) as u32,
            parts,
            start: start as u32,
            end: end as u32,
            buffer,
        })
    }

    /// The whole buffer the URI sits in (for a name-addr, the whole value).
    pub(crate) fn buffer(&self) -> &ByteString {
        &self.buffer
    }

    /// The whole URI as written.
    pub fn as_str(&self) -> &str {
        self.buffer
            .get(self.start as usize..self.end as usize)
            .unwrap_or("")
    }

    /// The URI text as a shared buffer (no copy).
    pub fn to_byte_string(&self) -> ByteString {
        self.buffer.slice_ref(self.as_str())
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The scheme as written (e.g. `soap.beep`).
    pub fn scheme_str(&self) -> &str {
        self.buffer
            .get(self.start as usize..self.scheme_end as usize)
            .unwrap_or("")
    }

    /// True for `sip:` and `sips:`.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The user part as written (escapes kept); for `tel:` the telephone number.
    pub fn user(&self) -> Option<&str> {
        self.parts?.user.map(|s| s.get(&self.buffer))
    }

    /// The user part with `%HH` escapes decoded once. The result may hold any octet,
    /// including NUL (RFC 4475 §3.1.1.4).
    pub fn user_decoded(&self) -> Option<Cow<'_, [u8]>> {
        self.user().map(percent_decode)
    }

    /// The password, if the user part has one.
    pub fn password(&self) -> Option<&str> {
        self.parts?.password.map(|s| s.get(&self.buffer))
    }

    /// The host of a SIP URI.
    pub fn host(&self) -> Option<Host<'_>> {
        let parts = self.parts.filter(|_| self.is_sip())?;
        Some(parts.host_kind.with_text(parts.host.get(&self.buffer)))
    }

    /// The host as written (with brackets for IPv6), for SIP URIs.
    pub fn host_str(&self) -> Option<&str> {
        self.parts
            .filter(|_| self.is_sip())
            .map(|p| p.host.get(&self.buffer))
    }

    /// The port, when one is written.
    pub fn port(&self) -> Option<u16> {
        self.parts?.port
    }

    /// URI parameters (`;transport=tcp;lr`), for SIP and tel URIs.
    pub fn params(&self) -> Params<'_> {
        Params::new(self.parts.map_or("", |p| p.params.get(&self.buffer)))
    }

    /// The `?` headers part (without the `?`), as written.
    pub fn headers(&self) -> Option<&str> {
        self.parts?.headers.map(|s| s.get(&self.buffer))
    }

    /// The fields of the `?` headers part, in order, as written (escapes kept): each
    /// `hname=hvalue` (RFC 3261 §19.1.1, §25.1: `headers = "?" header *( "&" header )`) as
    /// `(hname, Some(hvalue))`, and a field without `=` as `(field, None)`. Nothing is
    /// skipped, so an empty field reads as `("", None)`. Decode names and values with
    /// [`percent_decode`](crate::message::percent_decode).
    ///
    /// ```
    /// use sip_core::message::Uri;
    /// let uri = Uri::parse("sip:bob@b.example?subject=project%20x&priority=urgent").unwrap();
    /// let fields: Vec<_> = uri.header_fields().collect();
    /// assert_eq!(fields, [("subject", Some("project%20x")), ("priority", Some("urgent"))]);
    /// assert_eq!(Uri::parse("sip:bob@b.example").unwrap().header_fields().count(), 0);
    /// ```
    pub fn header_fields(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        self.headers()
            .into_iter()
            .flat_map(|headers| headers.split('&'))
            .map(|field| match field.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (field, None),
            })
    }

    /// The `transport` parameter, lower-cased comparison left to the caller.
    pub fn transport_param(&self) -> Option<&str> {
        self.params().get("transport").flatten()
    }

    /// True when the URI carries the `lr` parameter (loose routing, RFC 3261 §16.12).
    pub fn is_loose_route(&self) -> bool {
        self.params().contains("lr")
    }
}

impl PartialEq for Uri {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Uri {}

impl std::hash::Hash for Uri {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uri({:?})", self.as_str())
    }
}

impl std::str::FromStr for Uri {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uri::parse(s)
    }
}

/// Host-name bytes (alphanumerics, '-', '.', and '_' which real deployments use): 1 for
/// digits and '.', which may make an IPv4 address, 2 for the others, 0 for the rest.
// Indexing a 256-entry table by a u8 (and constant bytes) cannot go out of bounds.
#[allow(clippy::indexing_slicing)]
static HOST_BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_digit() || c == b'.' {
            table[b] = 1;
        } else if c.is_ascii_alphabetic() || c == b'-' || c == b'_' {
            table[b] = 2;
        }
        b += 1;
    }
    table
};

#[inline]
#[allow(clippy::indexing_slicing)] // a u8 indexes a 256-entry table
fn host_byte_class(b: u8) -> u8 {
    HOST_BYTE_CLASS[b as usize]
}

/// No control characters, white space, angle brackets or quotes anywhere in a URI
/// (RFC 4475 §3.1.2.7, §3.1.2.8, §3.1.2.14).
#[inline]
const fn is_forbidden_in_uri(b: u8) -> bool {
    b <= b' ' || matches!(b, 0x7f | b'<' | b'>' | b'"')
}

/// Bytes of a URI's user part or parameters that need a closer look: 1 for forbidden ones
/// ([`is_forbidden_in_uri`]), 2 for '%' (an escape to check) and '?' (headers follow).
// Indexing a 256-entry table by a u8 (and constant bytes) cannot go out of bounds.
#[allow(clippy::indexing_slicing)]
static URI_BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        if is_forbidden_in_uri(b as u8) {
            table[b] = 1;
        }
        b += 1;
    }
    table[b'%' as usize] = 2;
    table[b'?' as usize] = 2;
    table
};

#[inline]
#[allow(clippy::indexing_slicing)] // a u8 indexes a 256-entry table
fn uri_byte_class(b: u8) -> u8 {
    URI_BYTE_CLASS[b as usize]
}

/// True when `text` (part of a URI) holds no forbidden byte and only valid `%HH` escapes.
fn is_clean_uri_text(text: &[u8]) -> bool {
    !text.iter().any(|&b| is_forbidden_in_uri(b)) && escapes_are_valid(text)
}

/// Parses `[userinfo@]hostport[;params][?headers]` starting at `start` of `text`.
///
/// Typical URIs (`sip:alice@atlanta.example.com;transport=tcp`) are read in one pass over
/// the bytes: the user part is nearly always made of host-name characters, so one scan
/// finds both the end of a host and an '@'; host-name characters, a bracketed IPv6 address
/// and port digits cannot hold a forbidden byte or an escape, so only the rest of the user
/// part and the parameters are checked for those.
fn parse_sip_parts(text: &str, start: usize) -> Option<SipParts> {
    let bytes = text.as_bytes();
    let rest = bytes.get(start..)?;
    // The user part may contain '?', ';' and ':' (RFC 3261 `user-unreserved`,
    // RFC 4475 §3.1.1.2 and §3.1.1.9); none of what follows the host may contain '@'.
    // The leading run of host-name characters holds no '@', so the search goes on from
    // its end, and stops right there for the usual `user@host`.
    let lead = scan_host_bytes(rest);
    let at_sign = match rest.get(lead) {
        Some(b'@') => Some(lead),
        Some(_) => find_byte(b'@', rest.get(lead..)?).map(|i| lead + i),
        None => None,
    };
    let (user, password, hostport_at) = match at_sign {
        Some(at) => {
            let userinfo = rest.get(..at)?;
            // Host-name characters hold no ':' either.
            let user_end = if lead == at {
                at
            } else {
                userinfo.iter().position(|&b| b == b':').unwrap_or(at)
            };
            let checked = userinfo.get(lead..).unwrap_or_default();
            if user_end == 0 || !checked.is_empty() && !is_clean_uri_text(checked) {
                return None;
            }
            let password = (user_end < at).then(|| Span::new(start + user_end + 1, start + at));
            (Some(Span::new(start, start + user_end)), password, at + 1)
        }
        None => (None, None, 0),
    };
    let hostport_start = start + hostport_at;
    let hostport = bytes.get(hostport_start..)?;
    let (host_len, host_kind) = if hostport.first() == Some(&b'[') {
        let (_, kind, len) = parse_host_prefix(text.get(hostport_start..)?)?;
        (len, kind)
    } else {
        // Without a user part the leading run was the host.
        let len = if at_sign.is_none() {
            lead
        } else {
            scan_host_bytes(hostport)
        };
        (len, host_kind_of(hostport.get(..len)?)?)
    };
    let host = Span::new(hostport_start, hostport_start + host_len);
    let mut at = hostport_start + host_len;
    let mut port = None;
    if bytes.get(at) == Some(&b':') {
        let (number, digits) = read_port(bytes.get(at + 1..)?)?;
        port = Some(number);
        at += 1 + digits;
    }
    let tail = bytes.get(at..)?;
    // One scan stops at the first '?', '%' or forbidden byte; usually there is none.
    let stop = position_of(tail, |b| uri_byte_class(b) != 0);
    let params_len = if stop == tail.len() {
        stop
    } else if is_clean_uri_text(tail) {
        tail.iter().position(|&b| b == b'?').unwrap_or(tail.len())
    } else {
        return None;
    };
    if params_len > 0 && tail.first() != Some(&b';') {
        return None;
    }
    let headers = (params_len < tail.len()).then(|| Span::new(at + params_len + 1, text.len()));
    Some(SipParts {
        user,
        password,
        host,
        host_kind,
        port,
        params: Span::new(at, at + params_len),
        headers,
    })
}

/// Parses `number[;params]` of a tel URI (RFC 3966), keeping the number in `user`.
fn parse_tel_parts(text: &str, start: usize) -> Option<SipParts> {
    let rest = text.get(start..)?;
    if rest.bytes().any(is_forbidden_in_uri) {
        return None;
    }
    let end = rest.find(';').unwrap_or(rest.len());
    let number = rest.get(..end)?;
    let valid_char =
        |b: u8| b.is_ascii_hexdigit() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#');
    if number.is_empty() || !number.bytes().all(valid_char) {
        return None;
    }
    Some(SipParts {
        user: Some(Span::of(text, number)),
        password: None,
        host: Span::default(),
        host_kind: HostKind::Domain,
        port: None,
        params: Span::of(text, rest.get(end..)?),
        headers: None,
    })
}

/// Parses a `port` (1*DIGIT, at most 65535).
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 {
        return None;
    }
    let value = s.bytes().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })?;
    u16::try_from(value).ok()
}

/// Reads the `port` at the start of `bytes` (what follows a ':'), in one pass: the port
/// and how many digits it took. Like [`parse_port`], 1 to 5 digits, at most 65535.
#[inline]
pub(crate) fn read_port(bytes: &[u8]) -> Option<(u16, usize)> {
    let mut value = 0u32;
    let mut digits = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            break;
        }
        if digits == 5 {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
        digits += 1;
    }
    if digits == 0 {
        return None;
    }
    Some((u16::try_from(value).ok()?, digits))
}

/// Parses dotted-quad IPv4 (`192.0.2.1`); only digits and dots reach here. Leading zeros
/// are accepted as decimal, as most SIP stacks do.
fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let (mut index, mut value, mut digits) = (0usize, 0u16, 0u8);
    for &b in s {
        if b == b'.' {
            if digits == 0 {
                return None;
            }
            *octets.get_mut(index)? = u8::try_from(value).ok()?;
            (index, value, digits) = (index + 1, 0, 0);
        } else {
            digits += 1;
            if digits > 3 || !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u16::from(b - b'0');
        }
    }
    if index != 3 || digits == 0 {
        return None;
    }
    *octets.get_mut(3)? = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// Parses the host at the start of `s`: an IPv6 reference in brackets, an IPv4 address or a
/// host name. Returns the host text (brackets included), its kind, and where it ends.
pub(crate) fn parse_host_prefix(s: &str) -> Option<(&str, HostKind, usize)> {
    if s.starts_with('[') {
        let close = s.find(']')?;
        let inner = s.get(1..close)?;
        let addr = parse_ipv6(inner)?;
        return Some((s.get(..=close)?, HostKind::Ipv6(addr), close + 1));
    }
    let end = scan_host_bytes(s.as_bytes());
    let host = s.get(..end)?;
    Some((host, host_kind_of(host.as_bytes())?, end))
}

/// Reads the host at the start of `s` like [`parse_host_prefix`], giving its kind and where
/// it ends; a host name or IPv4 address is read from the bytes without further slicing.
#[inline]
pub(crate) fn read_host(s: &str) -> Option<(HostKind, usize)> {
    let bytes = s.as_bytes();
    if bytes.first() == Some(&b'[') {
        let (_, kind, len) = parse_host_prefix(s)?;
        return Some((kind, len));
    }
    let end = scan_host_bytes(bytes);
    Some((host_kind_of(bytes.get(..end)?)?, end))
}

/// The length of the run of host-name bytes at the start of `bytes`.
#[inline]
fn scan_host_bytes(bytes: &[u8]) -> usize {
    position_of(bytes, |b| host_byte_class(b) == 0)
}

/// The kind of a host run found by [`scan_host_bytes`]: one of digits and dots only must be
/// an IPv4 address; anything else is a host name. Empty is no host.
#[inline]
fn host_kind_of(host: &[u8]) -> Option<HostKind> {
    // A name starting with a letter needs no second look (the usual case); one starting
    // with a digit or dot is an address when it parses as one, and otherwise a host name
    // unless it is digits and dots only.
    if host_byte_class(*host.first()?) != 1 {
        return Some(HostKind::Domain);
    }
    match parse_ipv4(host) {
        Some(address) => Some(HostKind::Ipv4(address)),
        None if host.iter().all(|&b| host_byte_class(b) == 1) => None,
        None => Some(HostKind::Domain),
    }
}

/// Parses an IPv6 address, tolerating the extra colon RFC 3261's ABNF allows before an
/// embedded IPv4 address (`2001:db8:::192.0.2.1`, RFC 5118 §4.10).
fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    s.parse().ok().or_else(|| {
        let fixed = s.replacen(":::", "::", 1);
        (fixed.len() != s.len()).then(|| fixed.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_part_may_hold_semicolons_and_escaped_at() {
        // RFC 4475 §3.1.1.9 (semiuri)
        let uri = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(uri.user(), Some("user;par=u%40example.net"));
        assert_eq!(uri.host(), Some(Host::Domain("example.com")));
        assert!(uri.params().is_empty());
    }

    #[test]
    fn wide_range_of_characters_in_user_and_password() {
        // RFC 4475 §3.1.1.2 (intmeth)
        let uri = Uri::parse(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        )
        .unwrap();
        assert_eq!(
            uri.user(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(uri.password(), Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
        assert_eq!(uri.host_str(), Some("example.com"));
    }

    #[test]
    fn escaped_nul_is_not_a_terminator() {
        // RFC 4475 §3.1.1.4 (escnull)
        let a = Uri::parse("sip:%00@host5.example.com").unwrap();
        let b = Uri::parse("sip:%00%00@host5.example.com").unwrap();
        assert_eq!(a.user_decoded().unwrap().as_ref(), b"\0");
        assert_eq!(b.user_decoded().unwrap().as_ref(), b"\0\0");
        assert_ne!(a, b);
    }

    #[test]
    fn ipv6_port_ambiguity_follows_rfc5118() {
        let ambiguous = Uri::parse("sip:[2001:db8::10:5070]").unwrap();
        assert_eq!(ambiguous.port(), None);
        assert_eq!(
            ambiguous.host(),
            Some(Host::Ipv6("2001:db8::10:5070".parse().unwrap()))
        );
        let explicit = Uri::parse("sip:[2001:db8::10]:5070").unwrap();
        assert_eq!(explicit.port(), Some(5070));
        let three_colons = Uri::parse("sip:user@[2001:db8:::192.0.2.1]").unwrap();
        assert_eq!(
            three_colons.host(),
            Some(Host::Ipv6("2001:db8::192.0.2.1".parse().unwrap()))
        );
    }

    #[test]
    fn ipv4_hosts_and_ports_parse_strictly() {
        assert_eq!(parse_ipv4(b"192.0.2.1"), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(parse_ipv4(b"010.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        for bad in ["1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3", "1.2.3.4."] {
            assert_eq!(parse_ipv4(bad.as_bytes()), None, "{bad}");
        }
        assert!(Uri::parse("sip:1.2.3").is_err());
        assert_eq!(parse_port("65535"), Some(65535));
        assert_eq!(parse_port("65536"), None);
        assert_eq!(parse_port("5o60"), None);
        assert_eq!(read_port(b"5060;lr"), Some((5060, 4)));
        assert_eq!(read_port(b"065535"), None);
        assert_eq!(read_port(b"65536"), None);
        assert_eq!(read_port(b";lr"), None);
    }

    #[test]
    fn ipv6_without_brackets_is_rejected() {
        // RFC 5118 §4.2
        assert!(Uri::parse("sip:2001:db8::10").is_err());
    }

    #[test]
    fn other_schemes_are_opaque() {
        let uri = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(uri.scheme(), Scheme::Other);
        assert_eq!(uri.scheme_str(), "soap.beep");
        assert_eq!(uri.host(), None);
    }

    #[test]
    fn header_fields_split_on_ampersands_and_the_first_equals() {
        // RFC 3515 §2.1: the second field's '=' is escaped, so it is a name without a value.
        let uri = Uri::parse(
            "sip:bob@biloxi.example.net?Accept-Contact=sip:bobsdesk.biloxi.example.net\
             &Call-ID%3D55432%40alicepc.atlanta.example.com",
        )
        .unwrap();
        let fields: Vec<_> = uri.header_fields().collect();
        assert_eq!(
            fields,
            [
                ("Accept-Contact", Some("sip:bobsdesk.biloxi.example.net")),
                ("Call-ID%3D55432%40alicepc.atlanta.example.com", None),
            ]
        );
        let uri = Uri::parse("sip:a@h;lr?x=1=2&&y=&").unwrap();
        let fields: Vec<_> = uri.header_fields().collect();
        assert_eq!(
            fields,
            [("x", Some("1=2")), ("", None), ("y", Some("")), ("", None)]
        );
        assert_eq!(uri.params().get("lr"), Some(None));
        // Only SIP and SIPS URIs have headers.
        assert_eq!(
            Uri::parse("tel:+1-201-555-0123").unwrap().header_fields().count(),
            0
        );
        assert_eq!(Uri::parse("http://h/?a=b").unwrap().header_fields().count(), 0);
        assert_eq!(
            Uri::parse("sip:a@h?")
                .unwrap()
                .header_fields()
                .collect::<Vec<_>>(),
            [("", None)]
        );
    }

    #[test]
    fn bad_uris_are_rejected() {
        for bad in [
            "sip:",
            "sip:@host",
            "sip:user@",
            "sip:user@host:port",
            "sip:user@host:70000",
            "sip:user@exa mple.com",
            "<sip:user@example.com>",
            "sip:user@host;p=%G1",
            "1sip:host",
            "tel:",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }
}
