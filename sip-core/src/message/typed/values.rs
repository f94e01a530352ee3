//! Small typed header values: CSeq, RAck, Content-Type, and the `value;params` family
//! (Session-Expires, Min-SE, Content-Disposition, …), plus auth headers. Event,
//! Subscription-State and Replaces have their own types (`event.rs`, `refer.rs`).

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;

use crate::message::error::{ParseError, ParseErrorKind};
use crate::message::grammar::{find_top_level, is_token, parse_u32, split_top_level, trim_lws, unquote};
use crate::message::method::Method;
use crate::message::params::Params;
use crate::message::span::Span;

fn value_error(header: &str) -> ParseError {
    ParseError::new(ParseErrorKind::HeaderValue).in_header(header)
}

/// `CSeq: 4711 INVITE` (RFC 3261 §20.16). The number must fit in 32 bits
/// (RFC 4475 §3.1.2.4).
///
/// ```
/// use sip_core::message::{CSeq, Method};
/// let cseq = CSeq::parse("0009\r\n  INVITE").unwrap();
/// assert_eq!(cseq, CSeq { seq: 9, method: Method::Invite });
/// assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CSeq {
    /// The sequence number.
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses a CSeq value.
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        // Two words separated by white space (which may hold an unfolded line break). A third
        // word would leave white space inside `method`, which is then no token.
        let s = s.trim_ascii();
        let Some(gap) = s.bytes().position(|b| b.is_ascii_whitespace()) else {
            return Err(value_error("CSeq"));
        };
        let (seq, method) = s.split_at(gap);
        let method = method.trim_ascii_start();
        Ok(CSeq {
            seq: parse_u32(seq).ok_or_else(|| value_error("CSeq"))?,
            method: Method::parse(method).ok_or_else(|| value_error("CSeq"))?,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// `RAck: 776656 1 INVITE` (RFC 3262 §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RAck {
    /// The RSeq of the provisional response being acknowledged.
    pub rseq: u32,
    /// The CSeq number of the request it answered.
    pub cseq: u32,
    /// The CSeq method of the request it answered.
    pub method: Method,
}

impl RAck {
    /// Parses a RAck value.
    pub fn parse(s: &str) -> Result<RAck, ParseError> {
        let mut words = s.split_ascii_whitespace();
        let (Some(rseq), Some(cseq), Some(method), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(value_error("RAck"));
        };
        let number = |n| parse_u32(n).ok_or_else(|| value_error("RAck"));
        Ok(RAck {
            rseq: number(rseq)?,
            cseq: number(cseq)?,
            method: Method::parse(method).ok_or_else(|| value_error("RAck"))?,
        })
    }
}

impl fmt::Display for RAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.rseq, self.cseq, self.method)
    }
}

/// A value followed by parameters, the shape of many SIP headers:
/// `Event: refer;id=93809824`, `Subscription-State: active;expires=60`,
/// `Session-Expires: 1800;refresher=uac`, `Replaces: 12345@host;to-tag=a;from-tag=b`,
/// `Content-Type: application/sdp`, `Content-Disposition: session;handling=required`.
///
/// ```
/// use sip_core::message::ValueParams;
/// let state = ValueParams::parse("active ; expires=60").unwrap();
/// assert_eq!(state.value(), "active");
/// assert_eq!(state.params().get("expires"), Some(Some("60")));
/// assert_eq!(state.param_u32("expires"), Some(60));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ValueParams {
    text: ByteString,
    value: Span,
    params: Span,
}

impl ValueParams {
    /// Parses `value *(;param)`, copying the text.
    pub fn parse(s: &str) -> Result<ValueParams, ParseError> {
        ValueParams::parse_shared(ByteString::from(s))
    }

    /// Parses `value *(;param)` held in a shared buffer. The value may not be empty and the
    /// parameters must be well formed.
    pub fn parse_shared(text: ByteString) -> Result<ValueParams, ParseError> {
        let s = trim_lws(&text);
        let end = find_top_level(s, b';').unwrap_or(s.len());
        let value = trim_lws(s.get(..end).unwrap_or(""));
        let params = s.get(end..).unwrap_or("");
        if value.is_empty() || !Params::new(params).is_well_formed() {
            return Err(ParseError::new(ParseErrorKind::HeaderValue));
        }
        Ok(ValueParams {
            value: Span::of(&text, value),
            params: Span::of(&text, params),
            text,
        })
    }

    /// The text before the first `;`.
    pub fn value(&self) -> &str {
        self.value.get(&self.text)
    }

    /// The parameters.
    pub fn params(&self) -> Params<'_> {
        Params::new(self.params.get(&self.text))
    }

    /// A parameter read as a decimal number.
    pub fn param_u32(&self, name: &str) -> Option<u32> {
        self.params().get(name).flatten().and_then(parse_u32)
    }

    /// The whole value as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for ValueParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValueParams({:?})", &*self.text)
    }
}

impl fmt::Display for ValueParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A media type: `type/subtype;params` (Content-Type, Accept; RFC 3261 §20.15).
///
/// ```
/// use sip_core::message::MediaType;
/// let t = MediaType::parse("Application/SDP; charset=utf-8").unwrap();
/// assert!(t.is("application", "sdp"));
/// assert_eq!(t.params().get("charset"), Some(Some("utf-8")));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct MediaType {
    inner: ValueParams,
    slash: u32,
}

impl MediaType {
    /// Parses a media type.
    pub fn parse(s: &str) -> Result<MediaType, ParseError> {
        MediaType::parse_shared(ByteString::from(s))
    }

    /// Parses a media type held in a shared buffer.
    pub fn parse_shared(text: ByteString) -> Result<MediaType, ParseError> {
        let inner = ValueParams::parse_shared(text).map_err(|e| e.in_header("Content-Type"))?;
        let value = inner.value();
        let slash = value.find('/').ok_or_else(|| value_error("Content-Type"))?;
        let (kind, subtype) = (
            trim_lws(value.get(..slash).unwrap_or("")),
            trim_lws(value.get(slash + 1..).unwrap_or("")),
        );
        let wildcard_ok = |s: &str| s == "*" || is_token(s);
        if !wildcard_ok(kind) || !wildcard_ok(subtype) {
            return Err(value_error("Content-Type"));
        }
        Ok(MediaType {
            slash: slash as u32,
            inner,
        })
    }

    /// The type (`application`), as written.
    pub fn kind(&self) -> &str {
        trim_lws(self.inner.value().get(..self.slash as usize).unwrap_or(""))
    }

    /// The subtype (`sdp`), as written.
    pub fn subtype(&self) -> &str {
        trim_lws(self.inner.value().get(self.slash as usize + 1..).unwrap_or(""))
    }

    /// Case-insensitive comparison of type and subtype.
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind().eq_ignore_ascii_case(kind) && self.subtype().eq_ignore_ascii_case(subtype)
    }

    /// True when this media range (which may hold `*`) covers `kind/subtype`.
    pub fn matches(&self, kind: &str, subtype: &str) -> bool {
        (self.kind() == "*" || self.kind().eq_ignore_ascii_case(kind))
            && (self.subtype() == "*" || self.subtype().eq_ignore_ascii_case(subtype))
    }

    /// The parameters.
    pub fn params(&self) -> Params<'_> {
        self.inner.params()
    }
}

impl fmt::Debug for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaType({:?})", self.inner.as_str())
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.inner.as_str())
    }
}

/// Credentials or a challenge: `Digest realm="atlanta.com", nonce="84a4cc6f…", qop="auth"`
/// (RFC 3261 §20.7, §20.27, §20.44; RFC 7616). Parameters are comma separated.
///
/// ```
/// use sip_core::message::AuthValue;
/// let c = AuthValue::parse(r#"Digest realm="atlanta.com", nonce="84a4, cc6f", qop=auth"#).unwrap();
/// assert_eq!(c.scheme(), "Digest");
/// assert_eq!(c.param("nonce").as_deref(), Some("84a4, cc6f"));
/// assert_eq!(c.param("QOP").as_deref(), Some("auth"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AuthValue {
    text: ByteString,
    scheme: Span,
    params: Span,
}

impl AuthValue {
    /// Parses a challenge or credentials value.
    pub fn parse(s: &str) -> Result<AuthValue, ParseError> {
        AuthValue::parse_shared(ByteString::from(s))
    }

    /// Parses a challenge or credentials value held in a shared buffer.
    pub fn parse_shared(text: ByteString) -> Result<AuthValue, ParseError> {
        let s = trim_lws(&text);
        let end = s.find([' ', '\t']).unwrap_or(s.len());
        let scheme = s.get(..end).unwrap_or("");
        let params = trim_lws(s.get(end..).unwrap_or(""));
        if !is_token(scheme) {
            return Err(value_error("Authorization"));
        }
        let value = AuthValue {
            scheme: Span::of(&text, scheme),
            params: Span::of(&text, params),
            text: text.clone(),
        };
        if value
            .params_iter()
            .any(|(name, v)| !is_token(name) || v.is_none_or(str::is_empty))
        {
            return Err(value_error("Authorization"));
        }
        Ok(value)
    }

    /// The scheme (`Digest`).
    pub fn scheme(&self) -> &str {
        self.scheme.get(&self.text)
    }

    /// Every `name=value` parameter, values as written (quoted or not).
    pub fn params_iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        split_top_level(self.params.get(&self.text), b',')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (trim_lws(n), Some(trim_lws(v))),
                None => (p, None),
            })
    }

    /// A parameter's value with quotes removed; names compare case-insensitively.
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.params_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.map(unquote))
    }
}

impl fmt::Debug for AuthValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthValue({:?})", &*self.text)
    }
}

/// True when `s` is an RFC 1123 date in GMT as SIP requires
/// (`Sat, 13 Nov 2010 23:29:00 GMT`, RFC 3261 §20.17; RFC 4475 §3.1.2.12).
pub fn is_valid_sip_date(s: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Some((day, rest)) = s.split_once(", ") else {
        return false;
    };
    let parts: Vec<&str> = rest.split(' ').collect();
    let [date, month, year, time, zone] = parts.as_slice() else {
        return false;
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let time_ok = {
        let t: Vec<&str> = time.split(':').collect();
        t.len() == 3 && t.iter().all(|p| digits(p, 2))
    };
    DAYS.contains(&day)
        && digits(date, 2)
        && MONTHS.contains(month)
        && digits(year, 4)
        && time_ok
        && *zone == "GMT"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_must_be_gmt() {
        assert!(is_valid_sip_date("Sat, 13 Nov 2010 23:29:00 GMT"));
        // RFC 4475 §3.1.2.12 (baddate)
        assert!(!is_valid_sip_date("Fri, 01 Jan 2010 16:00:00 EST"));
    }

    #[test]
    fn rack_parses_three_fields() {
        let r = RAck::parse("776656 1 INVITE").unwrap();
        assert_eq!((r.rseq, r.cseq, r.method), (776656, 1, Method::Invite));
        assert!(RAck::parse("1 INVITE").is_err());
    }

    #[test]
    fn auth_params_reject_empty_values() {
        assert!(AuthValue::parse("Digest realm=").is_err());
        assert!(AuthValue::parse("NoOneKnowsThisScheme opaque-data=here").is_ok());
    }
}
