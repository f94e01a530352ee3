//! The headers of call transfer: Replaces (RFC 3891), Refer-To (RFC 3515), Referred-By
//! (RFC 3892) and Refer-Sub (RFC 4488).

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

use bytestring::ByteString;

use crate::message::error::{ParseError, ParseErrorKind};
use crate::message::grammar::{is_token, percent_decode, push_hvalue_escaped, trim_lws};
use crate::message::params::Params;
use crate::message::span::Span;
use crate::message::uri::{Uri, parse_host_prefix};

use super::access::is_call_id;
use super::event::{is_dotted_tokens, is_generic_params, single_param};
use super::name_addr::NameAddr;

fn value_error(header: &str) -> ParseError {
    ParseError::new(ParseErrorKind::HeaderValue).in_header(header)
}

/// `Replaces: 12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994` (RFC 3891 §6.1): the
/// dialog a new INVITE replaces, named by its Call-ID and both tags, and whether only an
/// early dialog may be replaced.
///
/// Both tags are required, once each (RFC 3891 §6.1: "exactly one to-tag and exactly one
/// from-tag"). Displaying gives the canonical form — Call-ID, `to-tag`, `from-tag`,
/// `early-only`, then the other parameters as written — and `==` compares those parts:
/// the Call-ID and tags byte by byte, other parameter names ignoring case.
///
/// ```
/// use sip_core::message::Replaces;
/// let r = Replaces::parse("98732@sip.example.com ;from-tag=r33th4x0r ;to-tag=ff87ff").unwrap();
/// assert_eq!(r.call_id(), "98732@sip.example.com");
/// assert_eq!((r.to_tag(), r.from_tag()), ("ff87ff", "r33th4x0r"));
/// assert!(!r.early_only());
/// assert_eq!(r.to_string(), "98732@sip.example.com;to-tag=ff87ff;from-tag=r33th4x0r");
///
/// let built = Replaces::new("12adf2f34456gs5", "12345", "54321", true).unwrap();
/// assert_eq!(built.to_string(), "12adf2f34456gs5;to-tag=12345;from-tag=54321;early-only");
/// assert!(Replaces::parse("12adf2f34456gs5;to-tag=12345").is_err());
/// ```
#[derive(Clone)]
pub struct Replaces {
    /// The value without surrounding white space.
    text: ByteString,
    call_id: Span,
    to_tag: Span,
    from_tag: Span,
    early_only: bool,
    params: Span,
}

impl Replaces {
    /// A Replaces value from its parts. Fails when `call_id` is no Call-ID
    /// (`word ["@" word]`) or a tag is no token.
    pub fn new(
        call_id: &str,
        to_tag: &str,
        from_tag: &str,
        early_only: bool,
    ) -> Result<Replaces, ParseError> {
        if !is_call_id(call_id) || !is_token(to_tag) || !is_token(from_tag) {
            return Err(value_error("Replaces"));
        }
        let mut text = String::with_capacity(call_id.len() + to_tag.len() + from_tag.len() + 32);
        text.push_str(call_id);
        let call_id = Span::new(0, text.len());
        text.push_str(";to-tag=");
        let to_start = text.len();
        text.push_str(to_tag);
        let to_tag = Span::new(to_start, text.len());
        text.push_str(";from-tag=");
        let from_start = text.len();
        text.push_str(from_tag);
        let from_tag = Span::new(from_start, text.len());
        if early_only {
            text.push_str(";early-only");
        }
        Ok(Replaces {
            params: Span::new(call_id.end as usize, text.len()),
            call_id,
            to_tag,
            from_tag,
            early_only,
            text: ByteString::from(text),
        })
    }

    /// Parses a Replaces value, copying it.
    pub fn parse(s: &str) -> Result<Replaces, ParseError> {
        Replaces::parse_shared(ByteString::from(s))
    }

    /// Parses a Replaces value held in a shared buffer.
    pub fn parse_shared(text: ByteString) -> Result<Replaces, ParseError> {
        let err = || value_error("Replaces");
        let text = text.slice_ref(trim_lws(&text));
        // A Call-ID holds no ';' (it is no word character).
        let end = memchr::memchr(b';', text.as_bytes()).unwrap_or(text.len());
        let call_id = trim_lws(text.get(..end).unwrap_or(""));
        let params_text = text.get(end..).unwrap_or("");
        let params = Params::new(params_text);
        // Generic parameters, strictly: Display writes them back one by one.
        if !is_call_id(call_id) || !is_generic_params(params) {
            return Err(err());
        }
        let tag = |name| match single_param(params, name) {
            Ok(Some(Some(tag))) if is_token(tag) => Ok(Span::of(&text, tag)),
            _ => Err(err()),
        };
        let (to_tag, from_tag) = (tag("to-tag")?, tag("from-tag")?);
        // `early-flag = "early-only"`: a flag. With a value it would be a generic-param of
        // the same name, which no one could tell from the flag; it is refused.
        let mut early_only = false;
        for (name, value) in params.iter() {
            if name.eq_ignore_ascii_case("early-only") {
                if value.is_some() {
                    return Err(err());
                }
                early_only = true;
            }
        }
        Ok(Replaces {
            call_id: Span::of(&text, call_id),
            to_tag,
            from_tag,
            early_only,
            params: Span::of(&text, params_text),
            text,
        })
    }

    /// The Call-ID of the dialog to replace.
    pub fn call_id(&self) -> &str {
        self.call_id.get(&self.text)
    }

    /// The `to-tag`: the tag the recipient of the INVITE gave the dialog, its local tag
    /// (RFC 3891 §3). RFC 3891 §6.1 lets a tag of `0` match an empty tag of an RFC 2543
    /// dialog.
    pub fn to_tag(&self) -> &str {
        self.to_tag.get(&self.text)
    }

    /// The `from-tag`: the remote tag of the dialog, as its recipient sees it
    /// (RFC 3891 §3).
    pub fn from_tag(&self) -> &str {
        self.from_tag.get(&self.text)
    }

    /// True when only an early dialog may be replaced (`early-only`, RFC 3891 §3: a
    /// confirmed one answers 486 Busy Here).
    pub fn early_only(&self) -> bool {
        self.early_only
    }

    /// Every parameter as written, the tags and `early-only` included.
    pub fn params(&self) -> Params<'_> {
        Params::new(self.params.get(&self.text))
    }

    /// The parameters other than `to-tag`, `from-tag` and `early-only`.
    fn other_params(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        self.params().iter().filter(|(name, _)| {
            !["to-tag", "from-tag", "early-only"]
                .iter()
                .any(|known| name.eq_ignore_ascii_case(known))
        })
    }

    /// The value as written, without surrounding white space (`to_string` gives the
    /// canonical form).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Replaces {
    fn eq(&self, other: &Self) -> bool {
        self.call_id() == other.call_id()
            && self.to_tag() == other.to_tag()
            && self.from_tag() == other.from_tag()
            && self.early_only == other.early_only
            && same_params(self.other_params(), other.other_params())
    }
}

impl Eq for Replaces {}

/// True when both lists hold the same parameters in the same order, names compared
/// ignoring case (RFC 3261 §7.3.1).
fn same_params<'a, 'b>(
    mut a: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    mut b: impl Iterator<Item = (&'b str, Option<&'b str>)>,
) -> bool {
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some((n1, v1)), Some((n2, v2))) if n1.eq_ignore_ascii_case(n2) && v1 == v2 => {}
            _ => return false,
        }
    }
}

impl Hash for Replaces {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The parts that name the dialog; equal values agree on them.
        self.call_id().hash(state);
        self.to_tag().hash(state);
        self.from_tag().hash(state);
        self.early_only.hash(state);
    }
}

impl fmt::Debug for Replaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Replaces({:?})", &*self.text)
    }
}

impl fmt::Display for Replaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};to-tag={};from-tag={}",
            self.call_id(),
            self.to_tag(),
            self.from_tag()
        )?;
        if self.early_only {
            f.write_str(";early-only")?;
        }
        for (name, value) in self.other_params() {
            write!(f, ";{name}")?;
            if let Some(value) = value {
                write!(f, "={value}")?;
            }
        }
        Ok(())
    }
}

/// `Refer-To: <sip:bob@b.example?Replaces=…>` (RFC 3515 §2.1): the target of a REFER, a
/// name-addr or addr-spec with parameters.
///
/// Headers in the target URI are for the request the REFER triggers (RFC 3515 §2.1,
/// RFC 3261 §19.1.5); [`ReferTo::embedded_replaces`] and [`ReferTo::embedded_headers`]
/// read them unescaped. `==` compares the text.
///
/// ```
/// use sip_core::message::{ReferTo, Replaces, Uri};
/// let refer_to = ReferTo::parse(
///     "<sip:dave@denver.example.org?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994>",
/// )
/// .unwrap();
/// let replaces = refer_to.embedded_replaces().unwrap().unwrap();
/// assert_eq!(replaces.call_id(), "12345@192.168.118.3");
/// assert_eq!((replaces.to_tag(), replaces.from_tag()), ("12345", "5FFE-3994"));
///
/// let target = Uri::parse("sip:dave@denver.example.org").unwrap();
/// let built = ReferTo::with_replaces(&target, &replaces).unwrap();
/// assert_eq!(built, refer_to);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ReferTo {
    address: NameAddr,
}

impl ReferTo {
    /// Parses a Refer-To value, copying it.
    pub fn parse(s: &str) -> Result<ReferTo, ParseError> {
        ReferTo::parse_shared(ByteString::from(s))
    }

    /// Parses a Refer-To value held in a shared buffer.
    pub fn parse_shared(text: ByteString) -> Result<ReferTo, ParseError> {
        NameAddr::parse_shared(text)
            .map(|address| ReferTo { address })
            .map_err(|e| e.in_header("Refer-To"))
    }

    /// A Refer-To naming `target`, in `<>`.
    pub fn new(target: &Uri) -> ReferTo {
        ReferTo {
            address: NameAddr::new(None, target.clone()),
        }
    }

    /// A Refer-To naming `target` with `replaces` embedded as a URI header, for an attended
    /// transfer (RFC 3891 §7): `<target?Replaces=…>`, the value escaped as an RFC 3261
    /// §25.1 `hvalue` and the URI in `<>` so the `?` and `;` inside it are unambiguous. A
    /// Replaces header already in `target` is dropped; other headers are kept. Fails when
    /// `target` is not a SIP or SIPS URI, which have no headers.
    pub fn with_replaces(target: &Uri, replaces: &Replaces) -> Result<ReferTo, ParseError> {
        if !target.is_sip() {
            return Err(ParseError::new(ParseErrorKind::Uri).in_header("Refer-To"));
        }
        let uri = target.as_str();
        let base = match target.headers() {
            // The headers end the URI, after a '?'.
            Some(headers) => uri
                .len()
                .checked_sub(headers.len() + 1)
                .and_then(|end| uri.get(..end))
                .unwrap_or(uri),
            None => uri,
        };
        let mut text = String::with_capacity(uri.len() + 96);
        text.push('<');
        text.push_str(base);
        let mut separator = '?';
        for (name, value) in target.header_fields() {
            if name.is_empty() || percent_decode(name).eq_ignore_ascii_case(b"Replaces") {
                continue;
            }
            text.push(separator);
            text.push_str(name);
            if let Some(value) = value {
                text.push('=');
                text.push_str(value);
            }
            separator = '&';
        }
        text.push(separator);
        text.push_str("Replaces=");
        push_hvalue_escaped(&mut text, &replaces.to_string());
        text.push('>');
        ReferTo::parse_shared(ByteString::from(text))
    }

    /// The address (display name, URI, parameters).
    pub fn address(&self) -> &NameAddr {
        &self.address
    }

    /// The target URI.
    pub fn uri(&self) -> &Uri {
        self.address.uri()
    }

    /// The header parameters (after the URI).
    pub fn params(&self) -> Params<'_> {
        self.address.params()
    }

    /// The Replaces header embedded in the target URI (RFC 3891 §7), unescaped and parsed;
    /// `None` when there is none. Two of them are an error (`DuplicateHeader`), as they
    /// would be in the INVITE (RFC 3891 §3).
    pub fn embedded_replaces(&self) -> Option<Result<Replaces, ParseError>> {
        let mut found = self
            .uri()
            .header_fields()
            .filter(|(name, _)| percent_decode(name).eq_ignore_ascii_case(b"Replaces"));
        let (_, value) = found.next()?;
        if found.next().is_some() {
            return Some(Err(
                ParseError::new(ParseErrorKind::DuplicateHeader).in_header("Replaces")
            ));
        }
        Some(
            value
                .ok_or_else(|| value_error("Replaces"))
                .and_then(|value| decode_hvalue(value).map_err(|e| e.in_header("Replaces")))
                .and_then(|value| Replaces::parse(&value).map_err(|e| e.in_header("Replaces"))),
        )
    }

    /// The other headers embedded in the target URI — all but Replaces, which
    /// [`ReferTo::embedded_replaces`] reads — in order, as `(name, value)` with escapes
    /// decoded. A field that is not `token=value` once decoded (or does not decode to
    /// UTF-8) is an error.
    ///
    /// ```
    /// use sip_core::message::ReferTo;
    /// let r = ReferTo::parse("<sip:bob@b.example?Subject=Hi%20there&Replaces=x&Priority=urgent>").unwrap();
    /// let headers: Vec<_> = r.embedded_headers().map(Result::unwrap).collect();
    /// assert_eq!(headers, [("Subject".into(), "Hi there".into()), ("Priority".into(), "urgent".into())]);
    /// ```
    pub fn embedded_headers(
        &self,
    ) -> impl Iterator<Item = Result<(Cow<'_, str>, Cow<'_, str>), ParseError>> + '_ {
        self.uri().header_fields().filter_map(|(name, value)| {
            let header = decode_hvalue(name)
                .and_then(|name| {
                    if is_token(&name) {
                        Ok(name)
                    } else {
                        Err(value_error("Refer-To"))
                    }
                })
                .and_then(|name| {
                    let value = value.ok_or_else(|| value_error("Refer-To"))?;
                    Ok((name, decode_hvalue(value)?))
                });
            match header {
                Ok((name, _)) if name.eq_ignore_ascii_case("Replaces") => None,
                other => Some(other),
            }
        })
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        self.address.as_str()
    }
}

/// `%HH` decoded once, as UTF-8 (a header name or value is text).
fn decode_hvalue(s: &str) -> Result<Cow<'_, str>, ParseError> {
    match percent_decode(s) {
        // Nothing was escaped: the text itself.
        Cow::Borrowed(_) => Ok(Cow::Borrowed(s)),
        Cow::Owned(bytes) => String::from_utf8(bytes)
            .map(Cow::Owned)
            .map_err(|_| value_error("Refer-To")),
    }
}

impl fmt::Debug for ReferTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReferTo({:?})", self.as_str())
    }
}

impl fmt::Display for ReferTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Referred-By: <sip:referrer@referrer.example>;cid="20398823.2UWQFN309shb3@referrer.example"`
/// (RFC 3892 §3): who sent a REFER, a name-addr or addr-spec with parameters, among them
/// the optional `cid` naming the body part that holds the Referred-By token.
///
/// `==` compares the text.
///
/// ```
/// use sip_core::message::ReferredBy;
/// let r = ReferredBy::parse(
///     r#"<sip:referrer@referrer.example>;cid="20398823.2UWQFN309shb3@referrer.example""#,
/// )
/// .unwrap();
/// assert_eq!(r.uri().as_str(), "sip:referrer@referrer.example");
/// assert_eq!(r.cid(), Some("20398823.2UWQFN309shb3@referrer.example"));
/// assert!(ReferredBy::parse("<sip:referrer@referrer.example>;cid=unquoted@x").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ReferredBy {
    address: NameAddr,
}

impl ReferredBy {
    /// Parses a Referred-By value, copying it.
    pub fn parse(s: &str) -> Result<ReferredBy, ParseError> {
        ReferredBy::parse_shared(ByteString::from(s))
    }

    /// Parses a Referred-By value held in a shared buffer. A `cid` must appear at most
    /// once, as RFC 3892 §3 writes it: `LDQUOT dot-atom "@" (dot-atom / host) RDQUOT`.
    pub fn parse_shared(text: ByteString) -> Result<ReferredBy, ParseError> {
        let address = NameAddr::parse_shared(text).map_err(|e| e.in_header("Referred-By"))?;
        match single_param(address.params(), "cid") {
            Ok(None) => {}
            Ok(Some(Some(cid))) if msg_id_of(cid).is_some() => {}
            _ => return Err(value_error("Referred-By")),
        }
        Ok(ReferredBy { address })
    }

    /// The address (display name, URI, parameters).
    pub fn address(&self) -> &NameAddr {
        &self.address
    }

    /// The referrer's URI.
    pub fn uri(&self) -> &Uri {
        self.address.uri()
    }

    /// The header parameters (after the URI).
    pub fn params(&self) -> Params<'_> {
        self.address.params()
    }

    /// The `cid` parameter without its quotes: the Content-ID of the body part holding the
    /// Referred-By security token (RFC 3892 §3).
    pub fn cid(&self) -> Option<&str> {
        self.params().get("cid").flatten().and_then(msg_id_of)
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        self.address.as_str()
    }
}

impl fmt::Debug for ReferredBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReferredBy({:?})", self.as_str())
    }
}

impl fmt::Display for ReferredBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The inside of `sip-clean-msg-id = LDQUOT dot-atom "@" (dot-atom / host) RDQUOT`
/// (RFC 3892 §3), when `quoted` is one.
fn msg_id_of(quoted: &str) -> Option<&str> {
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let (local, domain) = inner.split_once('@')?;
    let host = || parse_host_prefix(domain).is_some_and(|(_, _, len)| len == domain.len());
    (is_dotted_tokens(local) && (is_dotted_tokens(domain) || host())).then_some(inner)
}

/// A Refer-Sub value (RFC 4488 §7.1): `refer-sub-value *(SEMI exten)`, the value `true` or
/// `false` in any case (RFC 3261 §7.3.1), the extensions generic parameters.
pub(crate) fn parse_refer_sub(value: &str) -> Result<bool, ParseError> {
    let value = trim_lws(value);
    let end = memchr::memchr(b';', value.as_bytes()).unwrap_or(value.len());
    let flag = trim_lws(value.get(..end).unwrap_or(""));
    if !is_generic_params(Params::new(value.get(end..).unwrap_or(""))) {
        return Err(value_error("Refer-Sub"));
    }
    if flag.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if flag.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(value_error("Refer-Sub"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{HeaderName, Headers, Message};

    /// The Refer-To of RFC 3891 §7's attended transfer (RFC 3515 §2.1 shows it too).
    const ATTENDED: &str = "<sip:dave@denver.example.org?Replaces=12345%40192.168.118.3%3B\
                            to-tag%3D12345%3Bfrom-tag%3D5FFE-3994>";

    fn request(method: &str, headers: &str) -> Message {
        let text = format!(
            "{method} sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\n\
             CSeq: 1 {method}\r\nMax-Forwards: 70\r\n{headers}Content-Length: 0\r\n\r\n"
        );
        Message::parse(text.into_bytes().into()).unwrap()
    }

    #[test]
    fn replaces_examples_of_rfc3891() {
        // RFC 3891 §6.1
        let r = Replaces::parse("98732@sip.example.com\r\n ;from-tag=r33th4x0r\r\n ;to-tag=ff87ff").unwrap();
        assert_eq!(r.call_id(), "98732@sip.example.com");
        assert_eq!(r.to_tag(), "ff87ff");
        assert_eq!(r.from_tag(), "r33th4x0r");
        assert!(!r.early_only());
        let r = Replaces::parse("12adf2f34456gs5;to-tag=12345;from-tag=54321;early-only").unwrap();
        assert_eq!(r.call_id(), "12adf2f34456gs5");
        assert!(r.early_only());
        // RFC 3891 §7 (the INVITE of the attended transfer)
        let r = Replaces::parse("12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994").unwrap();
        assert_eq!(
            r.to_string(),
            "12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994"
        );
    }

    #[test]
    fn replaces_needs_exactly_one_of_each_tag() {
        for bad in [
            "",
            "abc",
            "abc;to-tag=1",
            "abc;from-tag=1",
            "abc;to-tag=1;from-tag=2;to-tag=3",
            "abc;to-tag=1;from-tag=2;from-tag=2",
            "abc;to-tag;from-tag=2",
            "abc;to-tag=;from-tag=2",
            "abc;to-tag=\"1\";from-tag=2",
            "abc;to-tag=1;from-tag=2;early-only=yes",
            "abc;to-tag=1;from-tag=2;;",
            ";to-tag=1;from-tag=2",
            "a b;to-tag=1;from-tag=2",
            "a@;to-tag=1;from-tag=2",
            "a@b@c;to-tag=1;from-tag=2",
            // Not a gen-value; displayed as `;x=R%=;y` it would not even be well formed.
            "a;to-tag=1;from-tag=2;x\t=R%=;y",
        ] {
            assert!(Replaces::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn replaces_equality_is_by_parts_and_display_is_canonical() {
        let a = Replaces::parse(" x@y ; FROM-TAG = 2 ; early-only ; To-Tag=1 ; p=\"q r\" ").unwrap();
        assert_eq!(a.to_string(), "x@y;to-tag=1;from-tag=2;early-only;p=\"q r\"");
        assert_eq!(Replaces::parse(&a.to_string()).unwrap(), a);
        assert_eq!(
            a,
            Replaces::parse("x@y;to-tag=1;from-tag=2;early-only;P=\"q r\"").unwrap()
        );
        assert_ne!(a, Replaces::parse("x@y;to-tag=1;from-tag=2;early-only").unwrap());
        assert_ne!(
            a,
            Replaces::parse("x@Y;to-tag=1;from-tag=2;early-only;p=\"q r\"").unwrap()
        );
        let built = Replaces::new("x@y", "1", "2", false).unwrap();
        assert_eq!(built.as_str(), "x@y;to-tag=1;from-tag=2");
        assert_eq!(built.params().get("to-tag"), Some(Some("1")));
        assert_eq!(Replaces::parse(built.as_str()).unwrap(), built);
        assert!(Replaces::new("x y", "1", "2", false).is_err());
        assert!(Replaces::new("x", "1;a", "2", false).is_err());
        assert!(Replaces::new("x", "1", "", false).is_err());
    }

    #[test]
    fn refer_to_examples_of_rfc3515() {
        // RFC 3515 §2.1
        let plain = ReferTo::parse("sip:alice@atlanta.example.com").unwrap();
        assert_eq!(plain.uri().as_str(), "sip:alice@atlanta.example.com");
        assert!(plain.embedded_replaces().is_none());
        assert_eq!(plain.embedded_headers().count(), 0);

        let subscribe = ReferTo::parse("<sip:carol@cleveland.example.org;method=SUBSCRIBE>").unwrap();
        assert_eq!(subscribe.uri().params().get("method"), Some(Some("SUBSCRIBE")));

        let web = ReferTo::parse("http://www.ietf.org").unwrap();
        assert_eq!(web.uri().scheme_str(), "http");
        assert!(web.embedded_replaces().is_none());

        let attended = ReferTo::parse(ATTENDED).unwrap();
        let replaces = attended.embedded_replaces().unwrap().unwrap();
        assert_eq!(replaces.call_id(), "12345@192.168.118.3");
        assert_eq!(replaces.to_tag(), "12345");
        assert_eq!(replaces.from_tag(), "5FFE-3994");
        assert_eq!(attended.embedded_headers().count(), 0);

        // The second field of this example has its '=' escaped: a name without a value.
        let contact = ReferTo::parse(
            "<sip:bob@biloxi.example.net?Accept-Contact=sip:bobsdesk.biloxi.example.net\
             &Call-ID%3D55432%40alicepc.atlanta.example.com>",
        )
        .unwrap();
        let headers: Vec<_> = contact.embedded_headers().collect();
        assert_eq!(
            headers.first(),
            Some(&Ok((
                "Accept-Contact".into(),
                "sip:bobsdesk.biloxi.example.net".into()
            )))
        );
        assert!(headers.get(1).unwrap().is_err());
        assert_eq!(headers.len(), 2);
    }

    #[test]
    fn refer_to_with_replaces_escapes_the_value() {
        let target = Uri::parse("sip:dave@denver.example.org").unwrap();
        let replaces = Replaces::parse("12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994").unwrap();
        let built = ReferTo::with_replaces(&target, &replaces).unwrap();
        assert_eq!(built.as_str(), ATTENDED);
        assert_eq!(built.embedded_replaces(), Some(Ok(replaces.clone())));

        // Characters of a Call-ID that an hvalue cannot hold as they are, and a '>' that
        // would end the URI, are escaped too.
        let odd = Replaces::new("a<b>\"c%d@[h]", "t", "f", true).unwrap();
        let built = ReferTo::with_replaces(&target, &odd).unwrap();
        assert_eq!(
            built.uri().headers(),
            Some("Replaces=a%3Cb%3E%22c%25d%40[h]%3Bto-tag%3Dt%3Bfrom-tag%3Df%3Bearly-only")
        );
        assert_eq!(built.embedded_replaces(), Some(Ok(odd)));

        // Other headers and URI parameters stay; an old Replaces goes.
        let target = Uri::parse("sips:d@h;transport=tcp?Subject=x&replaces=old&Priority=urgent").unwrap();
        let built = ReferTo::with_replaces(&target, &replaces).unwrap();
        assert_eq!(
            built.uri().as_str(),
            "sips:d@h;transport=tcp?Subject=x&Priority=urgent&Replaces=12345%40192.168.118.3\
             %3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994"
        );
        assert_eq!(built.embedded_replaces(), Some(Ok(replaces.clone())));
        assert_eq!(built.embedded_headers().count(), 2);

        // Empty fields are dropped.
        let target = Uri::parse("sip:d@h?&x=1&").unwrap();
        let built = ReferTo::with_replaces(&target, &replaces).unwrap();
        assert!(built.uri().as_str().starts_with("sip:d@h?x=1&Replaces=12345%40"));

        let tel = Uri::parse("tel:+1-201-555-0123").unwrap();
        assert!(ReferTo::with_replaces(&tel, &replaces).is_err());
        assert_eq!(ReferTo::new(&tel).as_str(), "<tel:+1-201-555-0123>");
    }

    #[test]
    fn embedded_replaces_errors() {
        let twice = ReferTo::parse(&format!(
            "{}&Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2>",
            ATTENDED.trim_end_matches('>')
        ))
        .unwrap();
        assert_eq!(
            twice.embedded_replaces().unwrap().unwrap_err().kind(),
            ParseErrorKind::DuplicateHeader
        );
        for bad in [
            "<sip:a@h?Replaces>",
            "<sip:a@h?Replaces=abc>",
            "<sip:a@h?Replaces=abc%3Bto-tag%3D1>",
            "<sip:a@h?Replaces=%FF%3Bto-tag%3D1%3Bfrom-tag%3D2>",
            "<sip:a@h?replaces=abc;to-tag=1>",
        ] {
            let refer_to = ReferTo::parse(bad).unwrap();
            let error = refer_to.embedded_replaces().unwrap().unwrap_err();
            assert_eq!(error.header(), Some("Replaces"), "{bad}");
        }
        // The name may be escaped or in any case.
        let escaped = ReferTo::parse("<sip:a@h?%52eplaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>").unwrap();
        assert_eq!(escaped.embedded_replaces().unwrap().unwrap().call_id(), "abc");
        let bad_names = ReferTo::parse("<sip:a@h?A%20B=1&=2&C=%FF&D=%C3%A9>").unwrap();
        let headers: Vec<_> = bad_names.embedded_headers().collect();
        assert!(headers.iter().take(3).all(Result::is_err));
        assert_eq!(headers.get(3), Some(&Ok(("D".into(), "é".into()))));
    }

    #[test]
    fn referred_by_with_and_without_cid() {
        // RFC 3892 §3
        let r = ReferredBy::parse(
            "<sip:referrer@referrer.example>\r\n ;cid=\"20398823.2UWQFN309shb3@referrer.example\"",
        )
        .unwrap();
        assert_eq!(r.cid(), Some("20398823.2UWQFN309shb3@referrer.example"));
        let r = ReferredBy::parse("sip:referrer@referrer.example;x=1").unwrap();
        assert_eq!(r.cid(), None);
        assert_eq!(r.params().get("x"), Some(Some("1")));
        assert_eq!(
            ReferredBy::parse("<sip:r@h>;cid=\"a.b@[2001:db8::1]\"")
                .unwrap()
                .cid(),
            Some("a.b@[2001:db8::1]")
        );
        for bad in [
            "",
            "<sip:r@h",
            "<sip:r@h>;cid",
            "<sip:r@h>;cid=a@b",
            "<sip:r@h>;cid=\"ab\"",
            "<sip:r@h>;cid=\"a..b@c\"",
            "<sip:r@h>;cid=\"a@b@c\"",
            "<sip:r@h>;cid=\"a b@c\"",
            "<sip:r@h>;cid=\"a@b\";cid=\"a@b\"",
        ] {
            assert!(ReferredBy::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refer_sub_is_true_or_false() {
        // RFC 4488 §7.1
        assert_eq!(parse_refer_sub("false"), Ok(false));
        assert_eq!(parse_refer_sub(" TRUE ;x=1"), Ok(true));
        for bad in ["maybe", "", "true;;", "yes", "true false", ";true"] {
            assert!(parse_refer_sub(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn getters_read_compact_forms_in_a_message() {
        let m = request(
            "REFER",
            &format!("r: {ATTENDED}\r\nb: <sip:referrer@referrer.example>\r\nRefer-Sub: false\r\n"),
        );
        let h = m.headers();
        let refer_to = h.refer_to().unwrap().unwrap();
        assert_eq!(refer_to.uri().user(), Some("dave"));
        assert_eq!(
            refer_to.embedded_replaces().unwrap().unwrap().call_id(),
            "12345@192.168.118.3"
        );
        assert_eq!(h.referred_by().unwrap().unwrap().uri().user(), Some("referrer"));
        assert_eq!(h.refer_sub(), Some(Ok(false)));

        let m = request(
            "INVITE",
            "Replaces: 12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994\r\n",
        );
        let replaces = m.headers().replaces().unwrap().unwrap();
        assert_eq!(replaces.from_tag(), "5FFE-3994");
    }

    #[test]
    fn getters_report_duplicates_and_malformed_values() {
        // RFC 3891 §3 and RFC 3515 §2.4.1: two of these headers get a 400.
        let mut h = Headers::new();
        h.push(HeaderName::Replaces, "a;to-tag=1;from-tag=2");
        h.push(HeaderName::Replaces, "b;to-tag=1;from-tag=2");
        h.push(HeaderName::ReferTo, "<sip:a@h>");
        h.push(HeaderName::ReferTo, "<sip:b@h>");
        h.push(HeaderName::ReferredBy, "<sip:a@h>");
        h.push(HeaderName::ReferredBy, "<sip:b@h>");
        h.push(HeaderName::ReferSub, "true");
        h.push(HeaderName::ReferSub, "true");
        let kinds = [
            h.replaces().unwrap().unwrap_err(),
            h.refer_to().unwrap().unwrap_err(),
            h.referred_by().unwrap().unwrap_err(),
            h.refer_sub().unwrap().unwrap_err(),
        ]
        .map(|e| e.kind());
        assert_eq!(kinds, [ParseErrorKind::DuplicateHeader; 4]);

        let mut h = Headers::new();
        h.push(HeaderName::Replaces, "a;to-tag=1");
        h.push(HeaderName::ReferTo, "<sip:a@h");
        h.push(HeaderName::ReferSub, "maybe");
        let replaces = h.replaces().unwrap().unwrap_err();
        assert_eq!(replaces.header(), Some("Replaces"));
        assert_eq!(h.refer_to().unwrap().unwrap_err().header(), Some("Refer-To"));
        assert_eq!(h.refer_sub().unwrap().unwrap_err().header(), Some("Refer-Sub"));
        assert!(h.referred_by().is_none());
    }
}
