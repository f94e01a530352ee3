//! `name-addr` / `addr-spec` values (RFC 3261 §20.10, §25.1): From, To, Contact, Route,
//! Record-Route, Reply-To, Refer-To, Referred-By.

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;

use crate::message::error::{ParseError, ParseErrorKind};
use crate::message::grammar::{
    find_byte, is_lws, is_token_char, needs_quotes, push_quoted, quoted_string_len, trim_lws, unquote,
};
use crate::message::headers::Headers;
use crate::message::params::{Params, ParamsCheck};
use crate::message::span::Span;
use crate::message::uri::Uri;

/// An address with optional display name and header parameters:
/// `"Alice" <sip:alice@example.com>;tag=1928` or `sip:alice@example.com;tag=1928`.
///
/// In the `addr-spec` form (no `<>`) everything after the first `;` is a header parameter,
/// not a URI parameter (RFC 3261 §20.10, RFC 4475 §3.3.12), and the URI may carry neither
/// `?` headers nor commas (RFC 4475 §3.1.2.13).
///
/// ```
/// use sip_core::message::{NameAddr, Uri};
/// let a = NameAddr::parse(r#""Alice \"A\"" <sip:alice@example.com;transport=tcp>;tag=1928"#).unwrap();
/// assert_eq!(a.display_name().as_deref(), Some(r#"Alice "A""#));
/// assert_eq!(a.uri().params().get("transport"), Some(Some("tcp")));
/// assert_eq!(a.tag(), Some("1928"));
///
/// let built = NameAddr::new(Some("Bob"), Uri::parse("sip:bob@example.com").unwrap()).with_tag("x1");
/// assert_eq!(built.to_string(), "Bob <sip:bob@example.com>;tag=x1");
/// ```
#[derive(Clone)]
pub struct NameAddr {
    /// The URI, whose buffer is this whole value: one reference count for both.
    uri: Uri,
    display: Option<Span>,
    params: Span,
    bracketed: bool,
}

impl NameAddr {
    /// Parses one value (no top-level commas), copying it.
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        NameAddr::parse_shared(ByteString::from(s))
    }

    /// Parses one value held in a shared buffer.
    pub fn parse_shared(text: ByteString) -> Result<NameAddr, ParseError> {
        match PlainNameAddr::parse(&text) {
            // The general parser fails the same way for a bad URI in this form.
            Some(plain) => {
                NameAddr::from_plain(text, plain).map_err(|_| ParseError::new(ParseErrorKind::HeaderValue))
            }
            None => NameAddr::parse_general(text),
        }
    }

    /// A whole header line (Contact, Route, …), when it holds one value in a plain form and
    /// no list separator: the address that splitting the line on commas and parsing its one
    /// element gives, without searching the line for separators. `None` leaves the line to
    /// that general path (which also reports any error).
    pub(crate) fn parse_single_line(headers: &Headers, line: &str) -> Option<NameAddr> {
        let plain = PlainNameAddr::parse(line).filter(|plain| plain.single)?;
        NameAddr::from_plain(headers.share(line), plain).ok()
    }

    fn from_plain(text: ByteString, plain: PlainNameAddr) -> Result<NameAddr, ParseError> {
        let (start, end) = (plain.uri.start as usize, plain.uri.end as usize);
        Ok(NameAddr {
            uri: Uri::parse_within(text, start, end)?,
            display: plain.display,
            params: plain.params,
            bracketed: true,
        })
    }

    /// Every form the grammar allows, with the errors reported for the rest.
    fn parse_general(text: ByteString) -> Result<NameAddr, ParseError> {
        let err = || ParseError::new(ParseErrorKind::HeaderValue);
        let s: &str = trim_lws(&text);
        let (display, rest) = if s.starts_with('"') {
            // RFC 4475 §3.1.2.6: an unterminated quoted string is an error.
            let len = quoted_string_len(s).ok_or_else(err)?;
            let (quoted, rest) = s.split_at(len);
            let rest = trim_lws(rest);
            if !rest.starts_with('<') {
                return Err(err());
            }
            (Some(quoted), rest)
        } else if s.starts_with('<') {
            // The usual Contact, Route and Record-Route form: no display name.
            (None, s)
        } else if let Some(lt) = memchr::memchr(b'<', s.as_bytes()) {
            let display = trim_lws(s.get(..lt).unwrap_or(""));
            // An unquoted display name is *(token LWS) (RFC 4475 §3.1.2.15). No LWS before
            // '<' is tolerated (RFC 4475 §3.1.1.6).
            if !display
                .bytes()
                .all(|b| is_token_char(b) || b == b' ' || b == b'\t')
            {
                return Err(err());
            }
            (Some(display).filter(|d| !d.is_empty()), s.get(lt..).unwrap_or(""))
        } else {
            (None, s)
        };
        let (uri_text, params, bracketed) = if let Some(inner) = rest.strip_prefix('<') {
            let gt = memchr::memchr(b'>', inner.as_bytes()).ok_or_else(err)?;
            (
                inner.get(..gt).unwrap_or(""),
                inner.get(gt + 1..).unwrap_or(""),
                true,
            )
        } else {
            let end = memchr::memchr(b';', rest.as_bytes()).unwrap_or(rest.len());
            let uri_text = trim_lws(rest.get(..end).unwrap_or(""));
            if memchr::memchr2(b'?', b',', uri_text.as_bytes()).is_some() {
                return Err(err());
            }
            (uri_text, rest.get(end..).unwrap_or(""), false)
        };
        let params = trim_lws(params);
        if !params.is_empty() && !params.starts_with(';') || !Params::new(params).is_well_formed() {
            return Err(err());
        }
        let uri_span = Span::of(&text, uri_text);
        let display = display.map(|d| Span::of(&text, d));
        let params = Span::of(&text, params);
        let uri =
            Uri::parse_within(text, uri_span.start as usize, uri_span.end as usize).map_err(|_| err())?;
        Ok(NameAddr {
            uri,
            display,
            params,
            bracketed,
        })
    }

    /// A name-addr from parts, written in `<>` form.
    pub fn new(display_name: Option<&str>, uri: Uri) -> NameAddr {
        let mut text = String::with_capacity(uri.as_str().len() + 32);
        if let Some(name) = display_name {
            // A display name cannot hold a line break (RFC 3261 §25.1 qdtext).
            let name = &name.replace(['\r', '\n'], " ");
            if needs_quotes(name) {
                push_quoted(&mut text, name);
            } else {
                text.push_str(name);
            }
            text.push(' ');
        }
        text.push('<');
        text.push_str(uri.as_str());
        text.push('>');
        // Built from a valid URI and a quoted or token display name: this always parses.
        NameAddr::parse(&text).unwrap_or_else(|_| NameAddr {
            uri: Uri::parse_shared(uri.to_byte_string()).unwrap_or(uri),
            display: None,
            params: Span::default(),
            bracketed: false,
        })
    }

    /// The same address with `;tag=tag` added (replacing any tag).
    pub fn with_tag(&self, tag: &str) -> NameAddr {
        self.with_param("tag", Some(tag))
    }

    /// The same address with a header parameter set (replacing one of the same name).
    pub fn with_param(&self, name: &str, value: Option<&str>) -> NameAddr {
        let mut text = String::with_capacity(self.text().len() + name.len() + 16);
        // Parameters go outside the URI, so the result is always in the <> form.
        if let Some(display) = self.display {
            text.push_str(display.get(self.text()));
            text.push(' ');
        }
        text.push('<');
        text.push_str(self.uri.as_str());
        text.push('>');
        for (n, v) in self
            .params()
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        {
            text.push(';');
            text.push_str(n);
            if let Some(v) = v {
                text.push('=');
                text.push_str(v);
            }
        }
        text.push(';');
        text.push_str(name);
        if let Some(v) = value {
            text.push('=');
            text.push_str(v);
        }
        NameAddr::parse(&text).unwrap_or_else(|_| self.clone())
    }

    fn text(&self) -> &ByteString {
        self.uri.buffer()
    }

    /// The value as written.
    pub fn as_str(&self) -> &str {
        self.text()
    }

    /// The value as a shared buffer.
    pub fn as_byte_string(&self) -> &ByteString {
        self.text()
    }

    /// The display name, unquoted.
    pub fn display_name(&self) -> Option<Cow<'_, str>> {
        self.display.map(|d| unquote(d.get(self.text())))
    }

    /// The URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The header parameters (after the URI).
    pub fn params(&self) -> Params<'_> {
        Params::new(self.params.get(self.text()))
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params().get("tag").flatten()
    }

    /// True when the URI was written in `<>`.
    pub fn is_bracketed(&self) -> bool {
        self.bracketed
    }
}

/// The forms nearly every From, To, Contact and Route is written in: `<uri>;params` or
/// `"Display Name" <uri>;params`, without white space around the parameters. Their parts
/// are found straight from the bytes; anything else (a token display name, the addr-spec
/// form, LWS, RFC 4475 §3.1.1.6) or anything invalid is left to
/// [`NameAddr::parse_shared`]'s general parser, which gives the same result for every value
/// this accepts.
struct PlainNameAddr {
    display: Option<Span>,
    uri: Span,
    params: Span,
    /// The text holds no list separator (see [`ParamsCheck::Single`]): a splitter skips the
    /// quoted display name and the `<uri>` just as this reads them.
    single: bool,
}

impl PlainNameAddr {
    fn parse(text: &str) -> Option<PlainNameAddr> {
        let bytes = text.as_bytes();
        let (display, lt) = match bytes.first()? {
            b'<' => (None, 0),
            b'"' => {
                let len = quoted_string_len(text)?;
                let spaces = bytes.get(len..)?.iter().take_while(|&&b| b == b' ').count();
                (Some(Span::new(0, len)), len + spaces)
            }
            _ => return None,
        };
        if bytes.get(lt) != Some(&b'<') {
            return None;
        }
        let gt = lt + 1 + find_byte(b'>', bytes.get(lt + 1..)?)?;
        let params = bytes.get(gt + 1..)?;
        let plain_params =
            params.is_empty() || params.first() == Some(&b';') && params.last().is_some_and(|&b| !is_lws(b));
        let check = Params::new(text.get(gt + 1..)?).check();
        if !plain_params || check == ParamsCheck::Malformed {
            return None;
        }
        Some(PlainNameAddr {
            display,
            uri: Span::new(lt + 1, gt),
            params: Span::new(gt + 1, bytes.len()),
            single: check == ParamsCheck::Single,
        })
    }
}

/// The `tag` parameter of a From or To value, found without parsing the URI: for lookups
/// in values already validated (dialog and transaction matching on every message).
///
/// ```
/// use sip_core::message::tag_of;
/// assert_eq!(tag_of(r#""A;tag=no" <sip:a@h;tag=no>;tag=yes"#), Some("yes"));
/// assert_eq!(tag_of("sip:a@h;tag=1928"), Some("1928"));
/// assert_eq!(tag_of("<sip:a@h>"), None);
/// ```
pub fn tag_of(value: &str) -> Option<&str> {
    let s = trim_lws(value);
    // Skip a quoted display name (it may hold '<', ';' or '>').
    let rest = if s.starts_with('"') {
        s.get(quoted_string_len(s)?..)?
    } else {
        s
    };
    let params = match memchr::memchr(b'<', rest.as_bytes()) {
        Some(lt) => {
            let inner = rest.get(lt + 1..)?;
            inner.get(memchr::memchr(b'>', inner.as_bytes())? + 1..)?
        }
        // addr-spec form: every `;param` is a header parameter (RFC 3261 §20.10).
        None => rest.get(memchr::memchr(b';', rest.as_bytes())?..)?,
    };
    let params = trim_lws(params);
    // The usual form, `;tag=token` first (and often alone), read directly; anything else
    // (LWS, other parameters first) goes through the general parameter reader.
    if let Some(rest) = params
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case(";tag="))
        .and_then(|_| params.get(5..))
    {
        let end = rest.bytes().position(|b| !is_token_char(b)).unwrap_or(rest.len());
        let next = rest.as_bytes().get(end);
        if end > 0 && (next.is_none() || next == Some(&b';')) {
            return rest.get(..end);
        }
    }
    Params::new(params).get("tag").flatten()
}

impl PartialEq for NameAddr {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Eq for NameAddr {}

impl fmt::Debug for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameAddr({:?})", &**self.text())
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_of_agrees_with_the_parsed_tag() {
        for value in [
            "<sip:a@h>;tag=1928",
            "<sip:a@h>;TAG=1928;x=y",
            "<sip:a@h>;x=y;tag=1928",
            "<sip:a@h> ; tag = 1928",
            "<sip:a@h;tag=inside>",
            "<sip:a@h>;tag=",
            "<sip:a@h>;tag=a b",
            "<sip:a@h>;tag=\"quoted\"",
            "sip:a@h;tag=abc",
            "\"x;tag=no\" <sip:a@h>;tag=yes",
        ] {
            let parsed = NameAddr::parse(value).ok();
            let expected = parsed.as_ref().and_then(|a| a.tag());
            if parsed.is_some() {
                assert_eq!(tag_of(value), expected, "{value}");
            }
        }
    }

    #[test]
    fn addr_spec_params_belong_to_the_header() {
        // RFC 4475 §3.3.12 (cparam01) and §3.3.13 (cparam02)
        let outside = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert!(outside.params().contains("unknownparam"));
        assert!(outside.uri().params().is_empty());
        let inside = NameAddr::parse("<sip:+19725552222@gw1.example.net;unknownparam>").unwrap();
        assert!(inside.uri().params().contains("unknownparam"));
        assert!(inside.params().is_empty());
    }

    #[test]
    fn display_name_without_space_before_bracket() {
        // RFC 4475 §3.1.1.6 (lwsdisp)
        let a = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name().as_deref(), Some("caller"));
        assert_eq!(a.tag(), Some("323"));
    }

    #[test]
    fn plain_forms_read_as_the_general_parser_does() {
        for text in [
            r#""Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774"#,
            r#""Bob" <sip:bob@biloxi.example.com>"#,
            r#""A \"q\"" <sip:a@h>"#,
            r#"<sip:alice@pc33.atlanta.example.com:5060;transport=udp>;+sip.instance="<urn:uuid:1>""#,
            "<sip:proxy1.atlanta.example.com;lr>",
            r#""x"<sip:x@h>;a;b=c"#,
        ] {
            let Some(plain) = PlainNameAddr::parse(text) else {
                panic!("{text}");
            };
            let general = NameAddr::parse_general(ByteString::from(text)).unwrap();
            assert_eq!(plain.display, general.display, "{text}");
            assert_eq!(plain.params, general.params, "{text}");
            assert_eq!(plain.uri.get(text), general.uri().as_str(), "{text}");
            assert!(general.is_bracketed());
        }
        for other in [
            "sip:a@h;tag=1",
            "Bob <sip:b@h>",
            "<sip:a@h> ;tag=1",
            "<sip:a@h>;tag=1 ",
            "<sip:a@h>;;",
        ] {
            assert!(PlainNameAddr::parse(other).is_none(), "{other}");
        }
        // Commas in the display name or the URI are no separators; after '>' they may be.
        for (text, single) in [
            (r#""A, B" <sip:a,b@h;p=1,2>;tag=1"#, true),
            (r#"<sip:a@h>;+sip.instance="<urn:uuid:1>""#, true),
            ("<sip:a@h>;q=1,<sip:b@h>", false),
            ("<sip:a@h>;x=<y>", false),
        ] {
            assert_eq!(
                PlainNameAddr::parse(text).map(|p| p.single),
                Some(single),
                "{text}"
            );
        }
    }

    #[test]
    fn invalid_forms_are_rejected() {
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,             // quotbal
            r#""Watson, Thomas" < sip:t.watson@example.org >"#,     // badaspec
            "Bell, Alexander <sip:a.g.bell@bell-tel.com>;tag=43",   // baddn
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E", // regbadct
            r#""Joe" <sip:joe@example.org>;;;;"#,                   // badinv01
            "<sip:joe@example.org",
            "",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn escaped_headers_are_kept_inside_brackets() {
        // RFC 4475 §3.3.14 (regescrt)
        let a = NameAddr::parse("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>").unwrap();
        assert_eq!(a.uri().headers(), Some("Route=%3Csip:sip.example.com%3E"));
    }

    #[test]
    fn with_tag_replaces_and_brackets() {
        let a = NameAddr::parse("sip:a@b;tag=1;x").unwrap().with_tag("2");
        assert_eq!(a.as_str(), "<sip:a@b>;x;tag=2");
        assert_eq!(a.tag(), Some("2"));
    }
}
