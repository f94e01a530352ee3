//! What a UAS answers to a request that parsed but that it must not process
//! (RFC 3261 §8.2, RFC 4475 §3.1.2 and §3.3), and which responses a UAC must discard
//! (RFC 3261 §8.1.3.3).
//!
//! Validation is separate from parsing: the parser accepts anything that is a well-framed
//! SIP message; [`validate_request`] then decides, in the order RFC 3261 §8.2 gives, whether
//! the request gets 400, 505, 405/501, 416, 420, 415 or 406.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

use super::builder::response_to;
use super::error::{ParseError, ParseErrorKind};
use super::method::Method;
use super::model::{Message, Request, Response};
use super::name::HeaderName;
use super::status::{StatusCode, Version};
use super::typed::values::is_valid_sip_date;
use super::uri::Scheme;

/// What a UAS is willing to process; drives [`validate_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UasPolicy {
    /// Methods answered with anything but 405/501 (listed in `Allow`). With the call layer
    /// on, the Endpoint derives them from what it really handles (see
    /// [`CallConfig`](crate::call::CallConfig)); this list applies to a plain transaction
    /// layer.
    pub allowed_methods: Vec<Method>,
    /// Option tags the UAS supports; any other tag in `Require` gets 420.
    pub supported_extensions: Vec<String>,
    /// Body types the UAS understands, as `type/subtype`; any other gets 415.
    pub accepted_content_types: Vec<String>,
    /// Body types the UAS answers an INVITE with; an `Accept` that allows none gets 406.
    pub answer_content_types: Vec<String>,
    /// URI schemes accepted in the Request-URI; any other gets 416.
    pub request_uri_schemes: Vec<Scheme>,
}

impl Default for UasPolicy {
    /// Every standard method; the extensions this stack implements (100rel, RFC 3262, and
    /// timer, RFC 4028); SDP, sipfrag, DTMF relay, plain text and multipart bodies; sip,
    /// sips and tel.
    fn default() -> Self {
        UasPolicy {
            allowed_methods: Method::STANDARD.to_vec(),
            supported_extensions: ["100rel", "timer"].map(String::from).to_vec(),
            accepted_content_types: [
                "application/sdp",
                "application/dtmf-relay",
                "application/dtmf",
                "message/sipfrag",
                "text/plain",
                "multipart/mixed",
                "multipart/alternative",
                "multipart/signed",
            ]
            .map(String::from)
            .to_vec(),
            answer_content_types: vec!["application/sdp".into()],
            request_uri_schemes: vec![Scheme::Sip, Scheme::Sips, Scheme::Tel],
        }
    }
}

/// Why a request is refused: the status to answer with, the text for a `Warning: 399`, and
/// the headers the status requires (Allow for 405/501, Unsupported for 420, Accept for 415).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The status code to answer with.
    pub status: StatusCode,
    /// A human-readable reason, used as the Warning text.
    pub reason: String,
    /// Headers the response must carry.
    pub headers: Vec<(HeaderName, String)>,
}

impl Rejection {
    /// A rejection with `status` and a reason for the Warning, and no extra headers.
    pub fn for_status(status: StatusCode, reason: impl Into<String>) -> Self {
        Rejection::new(status, reason)
    }

    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Rejection {
            status,
            reason: reason.into(),
            headers: Vec::new(),
        }
    }

    fn bad_request(error: &ParseError) -> Self {
        Rejection::new(StatusCode::BAD_REQUEST, error.to_string())
    }

    /// The response to send: the status, the required headers and
    /// `Warning: 399 <agent> "<reason>"` (RFC 3261 §20.43). Never answer an ACK.
    pub fn to_response(&self, request: &Request, agent: &str, to_tag: Option<&str>) -> Response {
        let mut response = response_to(request, self.status, None, to_tag);
        for (name, value) in &self.headers {
            response.headers.push(*name, ByteString::from(value.as_str()));
        }
        let text = self.reason.replace(['"', '\\'], "'");
        response.headers.push(
            HeaderName::Warning,
            ByteString::from(format!("399 {agent} \"{text}\"")),
        );
        response
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

/// Checks a parsed request as a UAS would before processing it. `Ok(())` means process it.
///
/// ```
/// use sip_core::message::{Message, StatusCode};
/// use sip_core::message::validate::{validate_request, UasPolicy};
/// let request = Message::parse(
///     "OPTIONS sip:user@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
///      To: <sip:user@example.com>\r\nFrom: <sip:c@example.net>;tag=1\r\nCall-ID: x\r\n\
///      CSeq: 8 INVITE\r\nContent-Length: 0\r\n\r\n".into(),
/// ).unwrap();
/// let rejection = validate_request(request.as_request().unwrap(), &UasPolicy::default()).unwrap_err();
/// assert_eq!(rejection.status, StatusCode::BAD_REQUEST);
/// assert_eq!(rejection.reason, "CSeq method INVITE does not match OPTIONS");
/// ```
pub fn validate_request(request: &Request, policy: &UasPolicy) -> Result<(), Rejection> {
    validate_request_core(request, policy).map(drop)
}

/// The dialog-identifying fields of a request that passed validation, parsed once so the
/// transaction layer need not parse them again.
#[derive(Debug, Clone)]
pub(crate) struct CoreFields {
    pub(crate) from_tag: Option<ByteString>,
    pub(crate) to_tag: Option<ByteString>,
    pub(crate) call_id: ByteString,
    pub(crate) cseq: super::CSeq,
    /// The top Via, for the caller to take (transaction matching and the received/rport
    /// rewrite need it too).
    pub(crate) top_via: Option<super::Via>,
}

/// [`validate_request`], returning the fields it parsed.
pub(crate) fn validate_request_core(request: &Request, policy: &UasPolicy) -> Result<CoreFields, Rejection> {
    // RFC 3261 §8.2 / §7.1: only SIP/2.0 is spoken.
    if request.version != Version::SIP_2_0 {
        return Err(Rejection::new(
            StatusCode::VERSION_NOT_SUPPORTED,
            format!("{} is not supported", request.version),
        ));
    }
    let core = check_headers(request)?;
    let cseq = &core.cseq;
    check_method(request, policy)?;
    if cseq.method != request.method {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            format!("CSeq method {} does not match {}", cseq.method, request.method),
        ));
    }
    check_request_uri(request, policy)?;
    check_require(request, policy)?;
    check_body(request, policy)?;
    Ok(core)
}

/// Syntax of the headers every request needs (RFC 3261 §8.1.1) and of those whose
/// malformation RFC 4475 says to answer with 400. Returns the CSeq.
fn check_headers(request: &Request) -> Result<CoreFields, Rejection> {
    let headers = &request.headers;
    let missing = |name: &str| Rejection::new(StatusCode::BAD_REQUEST, format!("missing {name}"));
    let bad = |e: ParseError| Rejection::bad_request(&e);
    let to = headers.to_addr().ok_or_else(|| missing("To"))?.map_err(bad)?;
    let from = headers.from_addr().ok_or_else(|| missing("From"))?.map_err(bad)?;
    let call_id = headers
        .call_id()
        .ok_or_else(|| missing("Call-ID"))?
        .map_err(bad)?;
    let tag_of = |address: &super::NameAddr| address.tag().map(|tag| address.as_byte_string().slice_ref(tag));
    let (to_tag, from_tag, call_id) = (tag_of(&to), tag_of(&from), headers.share(call_id));
    let cseq = headers.cseq().ok_or_else(|| missing("CSeq"))?.map_err(bad)?;
    let mut vias = headers.vias();
    let top_via = vias.next().ok_or_else(|| missing("Via"))?.map_err(bad)?;
    for via in vias {
        via.map_err(bad)?;
    }
    // RFC 4475 §3.1.2.4: Max-Forwards over 255 is an overlarge scalar. A missing one is
    // tolerated for RFC 2543 peers (RFC 4475 §3.4.1).
    if let Some(hops) = headers.max_forwards() {
        hops.map_err(bad)?;
    }
    if !headers.contact_is_wildcard() {
        for contact in headers.contacts() {
            contact.map_err(bad)?;
        }
    }
    for route in headers.routes().chain(headers.record_routes()) {
        route.map_err(bad)?;
    }
    if let Some(content_type) = headers.content_type() {
        content_type.map_err(bad)?;
    }
    for name in [
        HeaderName::Require,
        HeaderName::ProxyRequire,
        HeaderName::Supported,
    ] {
        for tag in headers.option_tags(name) {
            tag.map_err(bad)?;
        }
    }
    // RFC 4475 §3.1.2.12: only GMT dates are legal.
    if let Some(date) = headers.get(HeaderName::Date) {
        if !is_valid_sip_date(date) {
            return Err(Rejection::new(StatusCode::BAD_REQUEST, "invalid Date"));
        }
    }
    Ok(CoreFields {
        from_tag,
        to_tag,
        call_id,
        cseq,
        top_via: Some(top_via),
    })
}

/// RFC 3261 §8.2.1: 501 for a method the UAS does not know, 405 (with Allow) for one it
/// knows but does not allow — inside a dialog too: a REFER we chose not to take is refused
/// as not allowed, never as not implemented.
fn check_method(request: &Request, policy: &UasPolicy) -> Result<(), Rejection> {
    if policy.allowed_methods.contains(&request.method) {
        return Ok(());
    }
    let status = if request.method.is_standard() {
        StatusCode::METHOD_NOT_ALLOWED
    } else {
        StatusCode::NOT_IMPLEMENTED
    };
    let allow = policy
        .allowed_methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut rejection = Rejection::new(status, format!("method {} is not supported", request.method));
    rejection.headers.push((HeaderName::Allow, allow));
    Err(rejection)
}

/// RFC 3261 §8.2.2.1: 416 for a scheme the UAS does not handle; headers are not allowed in
/// a Request-URI (§19.1.1 Table 1; RFC 4475 §3.1.2.11). A registrar needs a SIP AOR in To
/// (RFC 4475 §3.3.4).
fn check_request_uri(request: &Request, policy: &UasPolicy) -> Result<(), Rejection> {
    let uri = &request.uri;
    if !policy.request_uri_schemes.contains(&uri.scheme()) {
        return Err(Rejection::new(
            StatusCode::UNSUPPORTED_URI_SCHEME,
            format!("unsupported URI scheme {}", uri.scheme_str()),
        ));
    }
    if uri.headers().is_some() {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "Request-URI must not contain headers",
        ));
    }
    if request.method == Method::Register {
        let to_is_sip = matches!(request.headers.to_addr(), Some(Ok(to)) if to.uri().is_sip());
        if !to_is_sip {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "To must be a SIP or SIPS URI in REGISTER",
            ));
        }
    }
    Ok(())
}

/// RFC 3261 §8.2.2.3: 420 listing every unsupported option tag in Unsupported.
fn check_require(request: &Request, policy: &UasPolicy) -> Result<(), Rejection> {
    // CANCEL and ACK do not carry Require processing (§8.2.2.3).
    if matches!(request.method, Method::Ack | Method::Cancel) {
        return Ok(());
    }
    let unsupported: Vec<&str> = request
        .headers
        .values(HeaderName::Require)
        .filter(|tag| {
            !policy
                .supported_extensions
                .iter()
                .any(|s| s.eq_ignore_ascii_case(tag))
        })
        .collect();
    if unsupported.is_empty() {
        return Ok(());
    }
    let list = unsupported.join(", ");
    let mut rejection = Rejection::new(StatusCode::BAD_EXTENSION, format!("unsupported extension {list}"));
    rejection.headers.push((HeaderName::Unsupported, list));
    Err(rejection)
}

/// RFC 3261 §8.2.3: 415 (with Accept) for a body type the UAS does not understand; and
/// RFC 4475 §3.3.15: 406 when Accept allows nothing the UAS could answer an INVITE with.
/// A NOTIFY's body is its event package's state document (RFC 6665 §4.1.3), which goes to
/// the subscriber's application as it is: its type is the package's business, not ours.
fn check_body(request: &Request, policy: &UasPolicy) -> Result<(), Rejection> {
    let headers = &request.headers;
    if !request.body.is_empty() && request.method != Method::Notify {
        match headers.content_type() {
            None => {
                return Err(Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "body without Content-Type",
                ));
            }
            Some(Ok(media)) => {
                let known = policy.accepted_content_types.iter().any(|t| {
                    let (kind, subtype) = t.split_once('/').unwrap_or((t, ""));
                    media.is(kind, subtype)
                });
                if !known {
                    let mut rejection = Rejection::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        format!("unsupported body type {}/{}", media.kind(), media.subtype()),
                    );
                    rejection
                        .headers
                        .push((HeaderName::Accept, policy.accepted_content_types.join(", ")));
                    return Err(rejection);
                }
            }
            Some(Err(e)) => return Err(Rejection::bad_request(&e)),
        }
    }
    if request.method == Method::Invite && headers.contains(HeaderName::Accept) {
        let mut ranges = headers.accept().filter_map(Result::ok);
        let acceptable = ranges.any(|range| {
            policy.answer_content_types.iter().any(|t| {
                let (kind, subtype) = t.split_once('/').unwrap_or((t, ""));
                range.matches(kind, subtype)
            })
        });
        if !acceptable {
            return Err(Rejection::new(
                StatusCode::NOT_ACCEPTABLE,
                format!("Accept does not allow {}", policy.answer_content_types.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Why a UAC discards a response (RFC 3261 §8.1.3.3, RFC 4475 §3.1.2.5, §3.3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropReason(pub String);

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a response as the UAC that sent the request would: exactly one Via (a response
/// with more was meant for a proxy), and well-formed From, To, Call-ID and CSeq.
pub fn validate_response(response: &Response) -> Result<(), DropReason> {
    validate_response_core(response).map(drop)
}

/// [`validate_response`], returning the top Via and the CSeq it parsed (what the client
/// transaction layer matches on).
pub(crate) fn validate_response_core(response: &Response) -> Result<(super::Via, super::CSeq), DropReason> {
    let headers = &response.headers;
    let drop = |reason: String| Err(DropReason(reason));
    if response.version != Version::SIP_2_0 {
        return drop(format!("{} is not supported", response.version));
    }
    let mut vias = headers.vias();
    let top = match (vias.next(), vias.next()) {
        (None, _) => return drop("missing Via".into()),
        (Some(Err(e)), _) => return drop(e.to_string()),
        (Some(Ok(_)), Some(_)) => return drop("more than one Via".into()),
        (Some(Ok(via)), None) => via,
    };
    for (name, result) in [
        ("From", headers.from_addr().map(|r| r.map(drop_value))),
        ("To", headers.to_addr().map(|r| r.map(drop_value))),
        ("Call-ID", headers.call_id().map(|r| r.map(drop_value))),
    ] {
        match result {
            None => return drop(format!("missing {name}")),
            Some(Err(e)) => return drop(e.to_string()),
            Some(Ok(())) => {}
        }
    }
    match headers.cseq() {
        None => drop("missing CSeq".into()),
        Some(Err(e)) => drop(e.to_string()),
        Some(Ok(cseq)) => Ok((top, cseq)),
    }
}

fn drop_value<T>(_: T) {}

/// What an endpoint does with one received datagram: see [`check_datagram`].
// The message is moved out once; boxing it would cost an allocation per datagram.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A request to process or a response to hand to its transaction.
    Accept(Message),
    /// A request to refuse with this status (statelessly, when it did not parse).
    Reject(Rejection),
    /// Bytes to discard: a bad response, or something that is no SIP message at all.
    Drop(DropReason),
}

/// Parses one datagram and decides, as a UAS/UAC endpoint would, whether to accept it,
/// reject it (a request: 400 naming the parse error, or the status [`validate_request`]
/// gives) or drop it (a response that fails to parse or fails [`validate_response`]).
///
/// ```
/// use sip_core::message::validate::{check_datagram, UasPolicy, Verdict};
/// let verdict = check_datagram("SIP/7.0 200 OK\r\n\r\n".into(), &UasPolicy::default());
/// assert!(matches!(verdict, Verdict::Drop(_)));
/// let verdict = check_datagram("INVITE sip:a@b SIP/7.0\r\n\r\n".into(), &UasPolicy::default());
/// assert!(matches!(verdict, Verdict::Reject(r) if r.status.as_u16() == 505));
/// ```
pub fn check_datagram(bytes: Bytes, policy: &UasPolicy) -> Verdict {
    let looks_like_response = {
        let start = bytes.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(0);
        bytes
            .get(start..start + 4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    };
    match Message::parse(bytes.clone()) {
        Ok(Message::Request(request)) => match validate_request(&request, policy) {
            Ok(()) => Verdict::Accept(Message::Request(request)),
            Err(rejection) => Verdict::Reject(rejection),
        },
        Ok(Message::Response(response)) => match validate_response(&response) {
            Ok(()) => Verdict::Accept(Message::Response(response)),
            Err(reason) => Verdict::Drop(reason),
        },
        Err(error) if looks_like_response => Verdict::Drop(DropReason(error.to_string())),
        Err(error) if error.kind() == ParseErrorKind::Empty => Verdict::Drop(DropReason(error.to_string())),
        // What the Endpoint does: a 400 only to a usable top Via, and never larger than
        // the request; otherwise a drop.
        Err(error) => match super::salvage::bad_request(&bytes, &error.to_string(), "sipcheck") {
            Ok(_) => Verdict::Reject(Rejection::bad_request(&error)),
            Err(reason) => Verdict::Drop(reason),
        },
    }
}
