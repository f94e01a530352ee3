//! Building requests (RFC 3261 §8.1.1) and responses from requests (RFC 3261 §8.2.6).

use bytes::Bytes;
use bytestring::ByteString;

use super::error::{ParseError, ParseErrorKind};
use super::grammar::{is_token, split_top_level, trim_lws};
use super::headers::HeaderWriter;
use super::method::Method;
use super::model::{Request, Response};
use super::name::HeaderName;
use super::status::{StatusCode, Version};
use super::typed::access::is_call_id;
use super::typed::name_addr::{NameAddr, tag_of};
use super::typed::via::Via;
use super::uri::Uri;

/// Why [`RequestBuilder::build`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A header RFC 3261 §8.1.1 requires was not given.
    #[error("missing mandatory header {0}")]
    Missing(&'static str),
    /// A header value holds a line break (which would inject a header or end the head).
    #[error("line break in {0}")]
    LineBreak(String),
    /// A header name given to [`RequestBuilder::header`] is not a token.
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    /// A given header value does not parse.
    #[error("invalid {header}: {source}")]
    Invalid {
        /// The header.
        header: &'static str,
        /// Why it does not parse.
        source: ParseError,
    },
}

/// Builds a request with the headers RFC 3261 §8.1.1 requires: Via, Max-Forwards (70
/// unless set), To, From, Call-ID, CSeq (with the request's method), and Content-Length.
///
/// Values are checked by parsing them, so a built request always parses back.
///
/// ```
/// use sip_core::message::{Method, RequestBuilder, Uri};
/// let invite = RequestBuilder::new(Method::Invite, Uri::parse("sip:bob@biloxi.example.com").unwrap())
///     .via("SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8")
///     .from("Alice <sip:alice@atlanta.example.com>;tag=1928301774")
///     .to("Bob <sip:bob@biloxi.example.com>")
///     .call_id("a84b4c76e66710")
///     .cseq(314159)
///     .contact("<sip:alice@pc33.atlanta.example.com>")
///     .body("v=0\r\n", "application/sdp")
///     .build()
///     .unwrap();
/// let text = String::from_utf8(invite.to_bytes().to_vec()).unwrap();
/// assert!(text.starts_with("INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: "));
/// assert!(text.contains("\r\nCSeq: 314159 INVITE\r\n"));
/// assert!(text.ends_with("Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n"));
/// ```
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    method: Method,
    uri: Uri,
    vias: Vec<ByteString>,
    max_forwards: u8,
    from: Option<ByteString>,
    to: Option<ByteString>,
    call_id: Option<ByteString>,
    cseq: Option<u32>,
    contact: Option<ByteString>,
    extra: Vec<(ByteString, ByteString)>,
    body: Bytes,
    content_type: Option<ByteString>,
}

impl RequestBuilder {
    /// A request with `method` to `uri`.
    pub fn new(method: Method, uri: Uri) -> Self {
        RequestBuilder {
            method,
            uri,
            vias: Vec::new(),
            max_forwards: 70,
            from: None,
            to: None,
            call_id: None,
            cseq: None,
            contact: None,
            extra: Vec::new(),
            body: Bytes::new(),
            content_type: None,
        }
    }

    /// Adds a Via value (the first one added is the topmost).
    pub fn via(mut self, via: impl Into<ByteString>) -> Self {
        self.vias.push(via.into());
        self
    }

    /// Sets Max-Forwards (default 70, RFC 3261 §8.1.1.6).
    pub fn max_forwards(mut self, hops: u8) -> Self {
        self.max_forwards = hops;
        self
    }

    /// Sets From (must carry a tag for a new request, RFC 3261 §8.1.1.3).
    pub fn from(mut self, from: impl Into<ByteString>) -> Self {
        self.from = Some(from.into());
        self
    }

    /// Sets To.
    pub fn to(mut self, to: impl Into<ByteString>) -> Self {
        self.to = Some(to.into());
        self
    }

    /// Sets Call-ID.
    pub fn call_id(mut self, call_id: impl Into<ByteString>) -> Self {
        self.call_id = Some(call_id.into());
        self
    }

    /// Sets the CSeq number; the method is the request's (RFC 3261 §8.1.1.5).
    pub fn cseq(mut self, seq: u32) -> Self {
        self.cseq = Some(seq);
        self
    }

    /// Sets Contact (required in requests that can create a dialog, RFC 3261 §8.1.1.8).
    pub fn contact(mut self, contact: impl Into<ByteString>) -> Self {
        self.contact = Some(contact.into());
        self
    }

    /// Adds any other header, after the mandatory ones, in the order given.
    pub fn header(mut self, name: impl Into<ByteString>, value: impl Into<ByteString>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, body: impl Into<Bytes>, content_type: impl Into<ByteString>) -> Self {
        self.body = body.into();
        self.content_type = Some(content_type.into());
        self
    }

    /// Checks every mandatory header and builds the request.
    pub fn build(self) -> Result<Request, BuildError> {
        let invalid = |header| move |source| BuildError::Invalid { header, source };
        if self.vias.is_empty() {
            return Err(BuildError::Missing("Via"));
        }
        let mut vias = Vec::with_capacity(self.vias.len());
        for via in &self.vias {
            let via = clean("Via", via)?;
            // Read back the way `Headers::vias` reads it: every comma-separated element.
            for element in split_top_level(&via, b',') {
                Via::parse_shared(via.slice_ref(element)).map_err(invalid("Via"))?;
            }
            vias.push(via);
        }
        let from = clean("From", &self.from.ok_or(BuildError::Missing("From"))?)?;
        NameAddr::parse_shared(from.clone()).map_err(invalid("From"))?;
        let to = clean("To", &self.to.ok_or(BuildError::Missing("To"))?)?;
        NameAddr::parse_shared(to.clone()).map_err(invalid("To"))?;
        let call_id = clean("Call-ID", &self.call_id.ok_or(BuildError::Missing("Call-ID"))?)?;
        if !is_call_id(&call_id) {
            return Err(BuildError::Invalid {
                header: "Call-ID",
                source: ParseError::new(ParseErrorKind::HeaderValue).in_header("Call-ID"),
            });
        }
        let seq = self.cseq.ok_or(BuildError::Missing("CSeq"))?;
        let contact = match self.contact {
            Some(contact) => {
                let contact = clean("Contact", &contact)?;
                // Read back the way `Headers::contacts` reads it.
                for element in split_top_level(&contact, b',') {
                    NameAddr::parse_shared(contact.slice_ref(element)).map_err(invalid("Contact"))?;
                }
                Some(contact)
            }
            None => None,
        };
        let mut extra = Vec::with_capacity(self.extra.len());
        for (name, value) in &self.extra {
            if !is_token(name) {
                return Err(BuildError::HeaderName(name.to_string()));
            }
            extra.push((name, clean_named(name, value)?));
        }
        let content_type = match &self.content_type {
            Some(content_type) => Some(clean("Content-Type", content_type)?),
            None => None,
        };
        // Every header goes into one buffer: one allocation for the whole section.
        let text_len = vias.iter().map(|v| v.len() + 7).sum::<usize>()
            + from.len()
            + to.len()
            + call_id.len()
            + contact.as_ref().map_or(0, |c| c.len() + 11)
            + extra.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>()
            + content_type.as_ref().map_or(0, |c| c.len() + 16)
            + 120;
        let mut headers = HeaderWriter::with_capacity(text_len, vias.len() + 8 + extra.len());
        for via in &vias {
            headers.push(HeaderName::Via, via);
        }
        let mut number = [0u8; 10];
        headers.push(
            HeaderName::MaxForwards,
            decimal(&mut number, u32::from(self.max_forwards)),
        );
        headers.push(HeaderName::To, &to);
        headers.push(HeaderName::From, &from);
        headers.push(HeaderName::CallId, &call_id);
        headers.push_parts(
            HeaderName::CSeq,
            &[decimal(&mut number, seq), " ", self.method.as_str()],
        );
        if let Some(contact) = &contact {
            headers.push(HeaderName::Contact, contact);
        }
        for (name, value) in &extra {
            headers.push_named(name, value);
        }
        if let Some(content_type) = &content_type {
            headers.push(HeaderName::ContentType, content_type);
        }
        let length = u32::try_from(self.body.len()).unwrap_or(u32::MAX);
        headers.push(HeaderName::ContentLength, decimal(&mut number, length));
        let headers = headers.finish();
        Ok(Request {
            method: self.method,
            uri: self.uri,
            version: Version::SIP_2_0,
            headers,
            body: self.body,
        })
    }
}

/// A header value as it will read back: without surrounding white space, and refused when
/// it holds a line break.
fn clean(header: &str, value: &ByteString) -> Result<ByteString, BuildError> {
    clean_named(header, value)
}

fn clean_named(header: &str, value: &ByteString) -> Result<ByteString, BuildError> {
    if memchr::memchr2(b'\r', b'\n', value.as_bytes()).is_some() {
        return Err(BuildError::LineBreak(header.to_owned()));
    }
    let trimmed = trim_lws(value);
    Ok(if trimmed.len() == value.len() {
        value.clone()
    } else {
        value.slice_ref(trimmed)
    })
}

/// Builds a response to `request` as RFC 3261 §8.2.6 says: Via (every value, in order),
/// From, Call-ID and CSeq copied; To copied, with `to_tag` added when To has no tag yet
/// (§8.2.6.2); Timestamp copied into a 100 (§8.2.6.1); Content-Length 0. `reason` defaults
/// to the code's canonical phrase.
///
/// ```
/// use sip_core::message::{Message, StatusCode, response_to};
/// let request = Message::parse(
///     "BYE sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnashds7\r\n\
///      To: <sip:bob@example.com>;tag=a6c85cf\r\nFrom: <sip:alice@example.com>;tag=1928\r\n\
///      Call-ID: a84b4c76e66710\r\nCSeq: 231 BYE\r\nContent-Length: 0\r\n\r\n".into(),
/// ).unwrap();
/// let ok = response_to(request.as_request().unwrap(), StatusCode::OK, None, Some("ignored"));
/// assert_eq!(ok.start_line(), "SIP/2.0 200 OK");
/// assert_eq!(ok.headers.to_addr().unwrap().unwrap().tag(), Some("a6c85cf"));
/// ```
pub fn response_to(
    request: &Request,
    status: StatusCode,
    reason: Option<&str>,
    to_tag: Option<&str>,
) -> Response {
    response_to_with(request, status, reason, to_tag, [], Bytes::new())
}

/// [`response_to`] plus `extra` headers (Content-Type among them when there is a body) and
/// `body`, all written at once: one allocation for the whole header section instead of one
/// per header set afterwards.
pub(crate) fn response_to_with<'a>(
    request: &Request,
    status: StatusCode,
    reason: Option<&str>,
    to_tag: Option<&str>,
    extra: impl IntoIterator<Item = (HeaderName, &'a str)>,
    body: Bytes,
) -> Response {
    let source = &request.headers;
    let mut headers = HeaderWriter::with_capacity(512, 12);
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        for value in source.get_all(name) {
            match (name, to_tag) {
                (HeaderName::To, Some(tag)) if needs_tag(value, tag) => {
                    headers.push_parts(name, &[value, ";tag=", tag]);
                }
                _ => headers.push(name, value),
            }
        }
    }
    if status.as_u16() == 100 {
        for timestamp in source.get_all(HeaderName::Timestamp) {
            headers.push(HeaderName::Timestamp, timestamp);
        }
    }
    for (name, value) in extra {
        headers.push(name, value);
    }
    let mut number = [0u8; 10];
    let length = u32::try_from(body.len()).unwrap_or(u32::MAX);
    headers.push(HeaderName::ContentLength, decimal(&mut number, length));
    Response {
        version: Version::SIP_2_0,
        status,
        reason: reason.map_or_else(
            || ByteString::from_static(status.canonical_reason()),
            ByteString::from,
        ),
        headers: headers.finish(),
        body,
    }
}

/// `n` in decimal, written into `buffer` (no `fmt` machinery and no allocation: this runs
/// for the CSeq and Content-Length of every message built).
pub(crate) fn decimal(buffer: &mut [u8; 10], n: u32) -> &str {
    let mut at = buffer.len();
    let mut rest = n;
    loop {
        at -= 1;
        if let Some(slot) = buffer.get_mut(at) {
            *slot = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 || at == 0 {
            break;
        }
    }
    std::str::from_utf8(buffer.get(at..).unwrap_or_default()).unwrap_or("0")
}

/// True when the To value parses, has no tag yet and `tag` is a token: then `;tag=` can
/// simply be appended (a tag parameter goes after everything, in the addr-spec form too,
/// where every `;param` is a header parameter).
fn needs_tag(value: &str, tag: &str) -> bool {
    // The request was validated before anyone answers it, so the tag is looked up without
    // parsing the URI again (one response per request makes this hot).
    is_token(tag) && tag_of(value).is_none()
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(out: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut len = 0;
    let mut rest = n;
    loop {
        if let Some(slot) = digits.get_mut(len) {
            *slot = b'0' + (rest % 10) as u8;
        }
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &d in digits.get(..len).unwrap_or_default().iter().rev() {
        out.push(char::from(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_mandatory_headers_are_reported() {
        let b = RequestBuilder::new(Method::Options, Uri::parse("sip:a@b").unwrap());
        assert_eq!(b.clone().build().unwrap_err(), BuildError::Missing("Via"));
        let b = b.via("SIP/2.0/UDP h;branch=z9hG4bK1");
        assert_eq!(b.clone().build().unwrap_err(), BuildError::Missing("From"));
        assert!(matches!(
            b.clone().from("not a uri").build().unwrap_err(),
            BuildError::Invalid { header: "From", .. }
        ));
        assert_eq!(
            b.from("<sip:a@b>;tag=1\r\nX-Injected: 1").build().unwrap_err(),
            BuildError::LineBreak("From".into())
        );
    }

    #[test]
    fn response_gets_to_tag_once() {
        let request = RequestBuilder::new(Method::Invite, Uri::parse("sip:b@h").unwrap())
            .via("SIP/2.0/UDP a;branch=z9hG4bK1")
            .via("SIP/2.0/UDP b;branch=z9hG4bK2")
            .from("<sip:a@h>;tag=x")
            .to("<sip:b@h>")
            .call_id("c1")
            .cseq(7)
            .build()
            .unwrap();
        assert_eq!(
            request.encoded_len(),
            request.to_bytes().len(),
            "the MTU check relies on it"
        );
        let ringing = response_to(&request, StatusCode::RINGING, None, Some("t1"));
        assert_eq!(ringing.headers.to_addr().unwrap().unwrap().tag(), Some("t1"));
        assert_eq!(ringing.headers.count(HeaderName::Via), 2);
        assert_eq!(ringing.headers.cseq().unwrap().unwrap().seq, 7);
        let trying = response_to(&request, StatusCode::TRYING, None, None);
        assert_eq!(trying.headers.to_addr().unwrap().unwrap().tag(), None);
    }
}
