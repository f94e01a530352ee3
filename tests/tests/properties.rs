//! Property tests (quickcheck) for the message layer of `sip-core`. Each test's name states
//! its property:
//!
//! * generated valid requests and responses (builders, or hand-written text with compact
//!   names, odd case, folding, bare LFs…) survive serialize → parse unchanged, serializing is
//!   deterministic, typed views read back what was generated, and edits (new top Via, new
//!   body, removed header) survive too;
//! * the stream decoder finds the same messages however the byte stream is cut, and for any
//!   input its items do not depend on the chunking;
//! * the parser, every typed header view, validation and the stream decoder never panic on
//!   arbitrary bytes, SIP-shaped noise or mutated RFC 4475 / RFC 5118 torture messages;
//! * whatever parses serializes to bytes that parse back equal, and a response built from
//!   any parsed request parses back equal;
//! * `validate_request` gives generated requests the verdict their content calls for;
//! * what `RequestBuilder` accepts parses back and reads back;
//! * the subscription and transfer headers (Event, Allow-Events, Subscription-State,
//!   Replaces, Refer-To, Referred-By, Refer-Sub) read back what was generated, display to
//!   text that parses back equal, a Replaces survives being escaped into a Refer-To URI and
//!   read out again, and their parsers never panic on arbitrary text.
//!
//! Bugs these found are pinned at the end as minimal, ignored tests.
//!
//! Case counts default to the numbers below; `QUICKCHECK_TESTS` overrides all of them.

// Test code: a panic is a test failure with a message, and the generators index small
// constant tables with in-range indices.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt::Write as _;
use std::net::Ipv6Addr;
use std::sync::OnceLock;

use bytes::Bytes;
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use sip_core::message::validate::{UasPolicy, validate_request, validate_response};
use sip_core::message::{
    Event, EventReason, EventType, HeaderName, Headers, Message, Method, NameAddr, ReferTo, ReferredBy,
    Replaces, RequestBuilder, StatusCode, StreamDecoder, StreamItem, SubscriptionState, Substate, Uri,
    Version, Via, percent_decode, response_to,
};

// ------------------------------------------------------------------------------------------
// Running
// ------------------------------------------------------------------------------------------

/// A QuickCheck runner doing `cases` cases (or `QUICKCHECK_TESTS`), generator size 100.
fn qc(cases: u64) -> QuickCheck {
    let cases = std::env::var("QUICKCHECK_TESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    QuickCheck::new()
        .rng(Gen::new(100))
        .tests(cases)
        .max_tests(cases * 10)
}

/// Bytes as an escaped string, for failure messages.
fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

// ------------------------------------------------------------------------------------------
// Generator helpers
// ------------------------------------------------------------------------------------------

fn below(g: &mut Gen, n: usize) -> usize {
    if n == 0 { 0 } else { usize::arbitrary(g) % n }
}

/// A number in `lo..=hi`.
fn between(g: &mut Gen, lo: usize, hi: usize) -> usize {
    lo + below(g, hi - lo + 1)
}

fn one_in(g: &mut Gen, n: usize) -> bool {
    below(g, n) == 0
}

fn pick<T: Clone>(g: &mut Gen, items: &[T]) -> T {
    g.choose(items).unwrap().clone()
}

fn string_of(g: &mut Gen, alphabet: &[u8], min: usize, max: usize) -> String {
    let len = between(g, min, max);
    (0..len).map(|_| char::from(pick(g, alphabet))).collect()
}

const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const DIGITS: &[u8] = b"0123456789";
/// RFC 3261 `token` characters.
const TOKEN: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~";
/// `token` characters that may appear in a URI as they are (`%` starts an escape there).
const URI_TOKEN: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!*_+`'~";
/// RFC 3261 `word` characters minus `@` (Call-ID halves).
const WORD: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~()<>:\\\"/[]?{}";
/// Unreserved and user-unreserved characters that are safe in a SIP URI user part.
const USER: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()&=+$";

fn token(g: &mut Gen, max: usize) -> String {
    string_of(g, TOKEN, 1, max)
}

/// Free text for header values and reason phrases: printable ASCII, inner spaces and tabs,
/// and some non-ASCII UTF-8; never leading or trailing white space (values are trimmed).
fn text(g: &mut Gen, max: usize) -> String {
    const EXTRA: [&str; 8] = ["é", "ü", "日本", "€", "😀", " ", " ", "\t"];
    let len = between(g, 0, max);
    let mut out = String::new();
    for _ in 0..len {
        if one_in(g, 6) {
            out.push_str(pick(g, &EXTRA));
        } else {
            out.push(char::from(between(g, 0x21, 0x7e) as u8));
        }
    }
    out.trim_matches([' ', '\t']).to_owned()
}

fn domain(g: &mut Gen) -> String {
    let labels = between(g, 0, 2);
    let mut out = String::new();
    for _ in 0..labels {
        let mut label = string_of(g, ALNUM, 1, 6);
        if one_in(g, 4) {
            label.push('-');
            label.push_str(&string_of(g, ALNUM, 1, 4));
        }
        out.push_str(&label);
        out.push('.');
    }
    // The top label starts with a letter, so the host never reads as an IPv4 address.
    out.push_str(&string_of(g, ALPHA, 1, 1));
    out.push_str(&string_of(g, ALNUM, 0, 5));
    out
}

fn ipv4(g: &mut Gen) -> String {
    let o: [u8; 4] = [
        u8::arbitrary(g),
        u8::arbitrary(g),
        u8::arbitrary(g),
        u8::arbitrary(g),
    ];
    format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])
}

fn ipv6(g: &mut Gen) -> String {
    let mut segments = [0u16; 8];
    for s in &mut segments {
        *s = u16::arbitrary(g);
    }
    // Zero a run so that `::` compression shows up.
    if one_in(g, 2) {
        let start = below(g, 8);
        let len = between(g, 1, 8 - start);
        for s in &mut segments[start..start + len] {
            *s = 0;
        }
    }
    let addr = Ipv6Addr::from(segments);
    if one_in(g, 8) {
        // An IPv4-mapped address, written with the dotted tail.
        return format!("[::ffff:{}]", ipv4(g));
    }
    format!("[{addr}]")
}

fn host(g: &mut Gen) -> String {
    match below(g, 4) {
        0 => ipv4(g),
        1 => ipv6(g),
        _ => domain(g),
    }
}

fn uri_user(g: &mut Gen) -> String {
    let mut user = string_of(g, USER, 1, 8);
    if one_in(g, 4) {
        let _ = write!(user, "%{:02X}", u8::arbitrary(g));
    }
    user
}

fn uri_params(g: &mut Gen) -> String {
    let mut out = String::new();
    for _ in 0..between(g, 0, 3) {
        match below(g, 7) {
            0 => {
                let t = pick(g, &["udp", "tcp", "tls", "sctp", "ws", "wss", "UDP", "TCP"]);
                let _ = write!(out, ";transport={t}");
            }
            1 => out.push_str(";lr"),
            2 => out.push_str(";user=phone"),
            3 => {
                let _ = write!(out, ";maddr={}", ipv4(g));
            }
            4 => {
                let _ = write!(out, ";ttl={}", u8::arbitrary(g));
            }
            5 => {
                let _ = write!(out, ";{}", string_of(g, URI_TOKEN, 1, 6));
            }
            _ => {
                let name = string_of(g, URI_TOKEN, 1, 6);
                let _ = write!(out, ";{name}={}", string_of(g, URI_TOKEN, 1, 8));
            }
        }
    }
    out
}

/// A `sip:` or `sips:` URI; `?headers` only when `headers` (they need the `<>` form).
fn sip_uri(g: &mut Gen, headers: bool) -> String {
    let scheme = pick(g, &["sip", "sip", "sips", "SIP"]);
    let mut out = format!("{scheme}:");
    if !one_in(g, 4) {
        out.push_str(&uri_user(g));
        if one_in(g, 8) {
            out.push(':');
            out.push_str(&string_of(g, USER, 1, 6));
        }
        out.push('@');
    }
    out.push_str(&host(g));
    if one_in(g, 3) {
        let _ = write!(out, ":{}", u16::arbitrary(g));
    }
    out.push_str(&uri_params(g));
    if headers && one_in(g, 5) {
        let _ = write!(out, "?subject={}&priority=urgent", string_of(g, ALNUM, 1, 6));
    }
    out
}

fn tel_uri(g: &mut Gen) -> String {
    let mut number = String::from(if one_in(g, 2) { "+" } else { "" });
    for i in 0..between(g, 1, 4) {
        if i > 0 {
            number.push(pick(g, &['-', '.']));
        }
        number.push_str(&string_of(g, DIGITS, 1, 4));
    }
    let params = match below(g, 3) {
        0 => format!(";phone-context={}", domain(g)),
        1 => format!(";ext={}", string_of(g, DIGITS, 1, 4)),
        _ => String::new(),
    };
    format!("tel:{number}{params}")
}

fn any_uri(g: &mut Gen, headers: bool) -> String {
    if one_in(g, 6) {
        tel_uri(g)
    } else {
        sip_uri(g, headers)
    }
}

/// A display name: unquoted tokens, or a quoted string with escapes and UTF-8.
fn display_name(g: &mut Gen) -> Option<String> {
    match below(g, 3) {
        0 => None,
        1 => {
            let words: Vec<String> = (0..between(g, 1, 3)).map(|_| token(g, 6)).collect();
            Some(words.join(" "))
        }
        _ => {
            let mut quoted = String::from("\"");
            for _ in 0..between(g, 0, 12) {
                match below(g, 8) {
                    0 => quoted.push_str("\\\""),
                    1 => quoted.push_str("\\\\"),
                    // quoted-pair may escape any character but CR and LF.
                    2 => {
                        quoted.push('\\');
                        quoted.push(char::from(between(g, 0x21, 0x7e) as u8));
                    }
                    3 => quoted.push_str(pick(g, &["é", "日本", " ", "\t", "😀"])),
                    _ => {
                        let c = char::from(between(g, 0x20, 0x7e) as u8);
                        if c == '"' || c == '\\' {
                            quoted.push('\\');
                        }
                        quoted.push(c);
                    }
                }
            }
            quoted.push('"');
            Some(quoted)
        }
    }
}

/// A name-addr (`Name <uri>;params`) or, sometimes, an addr-spec (`sip:host;params`).
fn name_addr(g: &mut Gen, params: &str) -> String {
    if one_in(g, 5) {
        // addr-spec: everything after the first `;` is a header parameter, so keep the URI
        // free of `;`, `?` and `,`.
        let uri = if one_in(g, 2) {
            format!("sip:{}@{}", string_of(g, ALNUM, 1, 8), host(g))
        } else {
            format!("sip:{}", host(g))
        };
        return format!("{uri}{params}");
    }
    let uri = any_uri(g, true);
    match display_name(g) {
        Some(name) => {
            let gap = if one_in(g, 4) { "" } else { " " };
            format!("{name}{gap}<{uri}>{params}")
        }
        None => format!("<{uri}>{params}"),
    }
}

fn via(g: &mut Gen) -> String {
    let transport = pick(g, &["UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "udp"]);
    let mut out = format!("SIP/2.0/{transport} {}", host(g));
    if one_in(g, 2) {
        let _ = write!(out, ":{}", u16::arbitrary(g));
    }
    let _ = write!(out, ";branch=z9hG4bK{}", token(g, 12));
    if one_in(g, 3) {
        out.push_str(";rport");
    }
    if one_in(g, 4) {
        let _ = write!(out, ";received={}", ipv4(g));
    }
    out
}

fn call_id(g: &mut Gen) -> String {
    let id = string_of(g, WORD, 1, 16);
    if one_in(g, 2) {
        format!("{id}@{}", string_of(g, WORD, 1, 10))
    } else {
        id
    }
}

fn method(g: &mut Gen) -> String {
    if one_in(g, 4) {
        token(g, 10)
    } else {
        pick(g, &Method::STANDARD).as_str().to_owned()
    }
}

/// Extra headers: `X-` extension headers with arbitrary text, and a few known headers with
/// valid values. None of them is one the spec checks read (Via, CSeq, Content-Length…).
fn extra_headers(g: &mut Gen) -> Vec<(String, String)> {
    (0..between(g, 0, 4))
        .map(|_| match below(g, 11) {
            0 => ("Subject".into(), text(g, 20)),
            1 => ("User-Agent".into(), text(g, 20)),
            2 => {
                let tags: Vec<String> = (0..between(g, 1, 3)).map(|_| token(g, 8)).collect();
                ("Supported".into(), tags.join(", "))
            }
            3 => ("Expires".into(), u32::arbitrary(g).to_string()),
            4 => (
                "Event".into(),
                format!("{};id={}", event_type(g), string_of(g, DIGITS, 1, 6)),
            ),
            5 => ("Record-Route".into(), format!("<{};lr>", sip_uri(g, false))),
            6 => ("Date".into(), "Sat, 13 Nov 2010 23:29:00 GMT".into()),
            7 => ("Allow".into(), "INVITE, ACK, CANCEL, BYE, OPTIONS".into()),
            8 => transfer_header(g),
            _ => (format!("X-{}", token(g, 10)), text(g, 30)),
        })
        .collect()
}

fn body(g: &mut Gen) -> Option<(Vec<u8>, String)> {
    if one_in(g, 2) {
        return None;
    }
    let bytes = if one_in(g, 2) {
        Vec::<u8>::arbitrary(g)
    } else {
        format!(
            "v=0\r\no=- {} 1 IN IP4 {}\r\ns={}\r\n",
            u32::arbitrary(g),
            ipv4(g),
            text(g, 10)
        )
        .into_bytes()
    };
    let content_type = pick(
        g,
        &[
            "application/sdp",
            "text/plain;charset=utf-8",
            "application/octet-stream",
            "message/sipfrag",
        ],
    );
    Some((bytes, content_type.to_owned()))
}

// ------------------------------------------------------------------------------------------
// Generated messages
// ------------------------------------------------------------------------------------------

/// Everything a generated request holds, as text.
#[derive(Debug, Clone)]
struct RequestSpec {
    method: String,
    uri: String,
    version: Version,
    vias: Vec<String>,
    max_forwards: u8,
    from: String,
    to: String,
    call_id: String,
    cseq: u32,
    contact: Option<String>,
    extra: Vec<(String, String)>,
    body: Option<(Vec<u8>, String)>,
}

impl RequestSpec {
    fn generate(g: &mut Gen) -> Self {
        let from_tag = format!(";tag={}", token(g, 10));
        let to_params = if one_in(g, 3) {
            format!(";tag={}", token(g, 10))
        } else {
            String::new()
        };
        let contact_params = match below(g, 3) {
            0 => format!(";expires={}", u32::arbitrary(g)),
            1 => ";q=0.7".to_owned(),
            _ => String::new(),
        };
        let uri_headers = one_in(g, 8);
        RequestSpec {
            method: method(g),
            uri: any_uri(g, uri_headers),
            version: if one_in(g, 10) {
                Version {
                    major: between(g, 0, 9999) as u16,
                    minor: between(g, 0, 9999) as u16,
                }
            } else {
                Version::SIP_2_0
            },
            vias: (0..between(g, 1, 3)).map(|_| via(g)).collect(),
            max_forwards: u8::arbitrary(g),
            from: name_addr(g, &from_tag),
            to: name_addr(g, &to_params),
            call_id: call_id(g),
            cseq: u32::arbitrary(g),
            contact: one_in(g, 2).then(|| name_addr(g, &contact_params)),
            extra: extra_headers(g),
            body: body(g),
        }
    }
}

#[derive(Debug, Clone)]
struct ResponseSpec {
    request: RequestSpec,
    status: u16,
    /// `None`: the canonical reason phrase.
    reason: Option<String>,
    to_tag: Option<String>,
    extra: Vec<(String, String)>,
    body: Option<(Vec<u8>, String)>,
}

impl ResponseSpec {
    fn generate(g: &mut Gen) -> Self {
        ResponseSpec {
            request: RequestSpec::generate(g),
            status: between(g, 100, 699) as u16,
            reason: (!one_in(g, 4)).then(|| text(g, 24)),
            to_tag: one_in(g, 2).then(|| token(g, 10)),
            extra: extra_headers(g),
            body: body(g),
        }
    }
}

/// How a generated message becomes a `Message`: through the builders, or as hand-written
/// text (parsed) with the spellings RFC 3261 allows.
#[derive(Debug, Clone)]
enum Style {
    Built,
    Text(TextStyle),
}

#[derive(Debug, Clone)]
struct TextStyle {
    /// Compact header names (`v`, `f`, `t`, `i`, `m`, `l`, `c`).
    compact: bool,
    /// Random letter case in header names.
    random_case: bool,
    /// White space before and after the colon.
    colon_spacing: bool,
    /// Fold values that hold a space onto continuation lines.
    fold: bool,
    /// All Vias on one line, comma separated.
    join_vias: bool,
    /// Bare LF line ends in the head.
    lf_only: bool,
}

impl Arbitrary for Style {
    fn arbitrary(g: &mut Gen) -> Self {
        if one_in(g, 2) {
            Style::Built
        } else {
            Style::Text(TextStyle {
                compact: one_in(g, 2),
                random_case: one_in(g, 3),
                colon_spacing: one_in(g, 3),
                fold: one_in(g, 3),
                join_vias: one_in(g, 3),
                lf_only: one_in(g, 6),
            })
        }
    }
}

impl TextStyle {
    fn line(&self, g: &mut Gen, out: &mut String, name: &str, value: &str) {
        let eol = if self.lf_only { "\n" } else { "\r\n" };
        let compact = match name {
            "Via" => "v",
            "From" => "f",
            "To" => "t",
            "Call-ID" => "i",
            "Contact" => "m",
            "Content-Length" => "l",
            "Content-Type" => "c",
            "Subject" => "s",
            "Supported" => "k",
            "Event" => "o",
            "Allow-Events" => "u",
            "Refer-To" => "r",
            "Referred-By" => "b",
            _ => name,
        };
        let mut spelled = if self.compact && one_in(g, 2) {
            compact.to_owned()
        } else {
            name.to_owned()
        };
        if self.random_case {
            spelled = spelled
                .chars()
                .map(|c| {
                    if one_in(g, 2) {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
        }
        out.push_str(&spelled);
        if self.colon_spacing {
            out.push_str(pick(g, &[" ", "\t", "  "]));
        }
        out.push(':');
        out.push_str(if self.colon_spacing {
            pick(g, &["", " ", "   ", "\t"])
        } else {
            " "
        });
        if self.fold && value.contains(' ') && one_in(g, 2) {
            // Moving a space onto a continuation line keeps the unfolded value.
            let mut folded = String::new();
            for (i, part) in value.split(' ').enumerate() {
                if i > 0 {
                    folded.push_str(if one_in(g, 2) { eol } else { "" });
                    folded.push(' ');
                }
                folded.push_str(part);
            }
            out.push_str(&folded);
        } else {
            out.push_str(value);
        }
        out.push_str(eol);
    }

    fn request(&self, g: &mut Gen, spec: &RequestSpec) -> Vec<u8> {
        let eol = if self.lf_only { "\n" } else { "\r\n" };
        let mut out = format!("{} {} {}{eol}", spec.method, spec.uri, spec.version);
        if self.join_vias {
            self.line(g, &mut out, "Via", &spec.vias.join(", "));
        } else {
            for v in &spec.vias {
                self.line(g, &mut out, "Via", v);
            }
        }
        self.line(g, &mut out, "Max-Forwards", &spec.max_forwards.to_string());
        self.line(g, &mut out, "To", &spec.to);
        self.line(g, &mut out, "From", &spec.from);
        self.line(g, &mut out, "Call-ID", &spec.call_id);
        self.line(g, &mut out, "CSeq", &format!("{} {}", spec.cseq, spec.method));
        if let Some(contact) = &spec.contact {
            self.line(g, &mut out, "Contact", contact);
        }
        for (name, value) in &spec.extra {
            self.line(g, &mut out, name, value);
        }
        self.finish(g, out, spec.body.as_ref())
    }

    fn response(&self, g: &mut Gen, spec: &ResponseSpec) -> Vec<u8> {
        let eol = if self.lf_only { "\n" } else { "\r\n" };
        let status = StatusCode::new(spec.status).unwrap();
        let reason = spec
            .reason
            .clone()
            .unwrap_or_else(|| status.canonical_reason().to_owned());
        let mut out = format!("SIP/2.0 {status} {reason}{eol}");
        let request = &spec.request;
        if self.join_vias {
            self.line(g, &mut out, "Via", &request.vias.join(", "));
        } else {
            for v in &request.vias {
                self.line(g, &mut out, "Via", v);
            }
        }
        self.line(g, &mut out, "From", &request.from);
        let to = match &spec.to_tag {
            Some(tag) if !request.to.contains(";tag=") => format!("{};tag={tag}", request.to),
            _ => request.to.clone(),
        };
        self.line(g, &mut out, "To", &to);
        self.line(g, &mut out, "Call-ID", &request.call_id);
        self.line(
            g,
            &mut out,
            "CSeq",
            &format!("{} {}", request.cseq, request.method),
        );
        for (name, value) in &spec.extra {
            self.line(g, &mut out, name, value);
        }
        self.finish(g, out, spec.body.as_ref())
    }

    fn finish(&self, g: &mut Gen, mut out: String, body: Option<&(Vec<u8>, String)>) -> Vec<u8> {
        let eol = if self.lf_only { "\n" } else { "\r\n" };
        let body_bytes: &[u8] = body.map_or(&[], |(b, _)| b);
        if let Some((_, content_type)) = body {
            self.line(g, &mut out, "Content-Type", content_type);
        }
        self.line(g, &mut out, "Content-Length", &body_bytes.len().to_string());
        out.push_str(eol);
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body_bytes);
        bytes
    }
}

fn build_request(spec: &RequestSpec) -> sip_core::message::Request {
    let method = Method::parse(&spec.method).unwrap();
    let mut builder = RequestBuilder::new(method, Uri::parse(&spec.uri).unwrap())
        .max_forwards(spec.max_forwards)
        .from(spec.from.as_str())
        .to(spec.to.as_str())
        .call_id(spec.call_id.as_str())
        .cseq(spec.cseq);
    for v in &spec.vias {
        builder = builder.via(v.as_str());
    }
    if let Some(contact) = &spec.contact {
        builder = builder.contact(contact.as_str());
    }
    for (name, value) in &spec.extra {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some((bytes, content_type)) = &spec.body {
        builder = builder.body(bytes.clone(), content_type.as_str());
    }
    let mut request = builder
        .build()
        .unwrap_or_else(|e| panic!("builder refused {spec:?}: {e}"));
    request.version = spec.version;
    request
}

fn build_response(spec: &ResponseSpec) -> sip_core::message::Response {
    let request = build_request(&spec.request);
    let status = StatusCode::new(spec.status).unwrap();
    let mut response = response_to(&request, status, spec.reason.as_deref(), spec.to_tag.as_deref());
    for (name, value) in &spec.extra {
        response.headers.push_named(name, value.as_str());
    }
    if let Some((bytes, content_type)) = &spec.body {
        response.set_body(Bytes::from(bytes.clone()), Some(content_type));
    }
    response
}

/// A generated valid request: the message, and for the text style the text it came from.
#[derive(Debug, Clone)]
struct ArbRequest {
    spec: RequestSpec,
    style: Style,
    message: Message,
    text: Option<Bytes>,
}

impl Arbitrary for ArbRequest {
    fn arbitrary(g: &mut Gen) -> Self {
        let spec = RequestSpec::generate(g);
        let style = Style::arbitrary(g);
        let (message, text) = match &style {
            Style::Built => (Message::Request(build_request(&spec)), None),
            Style::Text(t) => {
                let text = Bytes::from(t.request(g, &spec));
                let message = Message::parse(text.clone())
                    .unwrap_or_else(|e| panic!("generated request does not parse: {e}\n{}", show(&text)));
                (message, Some(text))
            }
        };
        ArbRequest {
            spec,
            style,
            message,
            text,
        }
    }
}

#[derive(Debug, Clone)]
struct ArbResponse {
    spec: ResponseSpec,
    style: Style,
    message: Message,
    text: Option<Bytes>,
}

impl Arbitrary for ArbResponse {
    fn arbitrary(g: &mut Gen) -> Self {
        let spec = ResponseSpec::generate(g);
        let style = Style::arbitrary(g);
        let (message, text) = match &style {
            Style::Built => (Message::Response(build_response(&spec)), None),
            Style::Text(t) => {
                let text = Bytes::from(t.response(g, &spec));
                let message = Message::parse(text.clone())
                    .unwrap_or_else(|e| panic!("generated response does not parse: {e}\n{}", show(&text)));
                (message, Some(text))
            }
        };
        ArbResponse {
            spec,
            style,
            message,
            text,
        }
    }
}

// ------------------------------------------------------------------------------------------
// Round-trip checks
// ------------------------------------------------------------------------------------------

/// `parse(serialize(m)) == m`, serializing twice gives the same bytes, and the parsed copy
/// serializes to the same bytes again.
fn check_round_trip(message: &Message) -> Result<(), String> {
    let bytes = message.to_bytes();
    let again = message.to_bytes();
    if bytes != again {
        return Err(format!(
            "to_bytes is not deterministic:\n{}\n{}",
            show(&bytes),
            show(&again)
        ));
    }
    let parsed = Message::parse(bytes.clone())
        .map_err(|e| format!("serialization does not parse: {e}\n{}", show(&bytes)))?;
    if parsed != *message {
        return Err(format!(
            "parse(serialize(m)) != m\nserialized: {}\nm:      {message:?}\nparsed: {parsed:?}",
            show(&bytes)
        ));
    }
    let reserialized = parsed.to_bytes();
    if reserialized != bytes {
        return Err(format!(
            "re-serialization differs:\n{}\n{}",
            show(&bytes),
            show(&reserialized)
        ));
    }
    Ok(())
}

/// The same message with every header rebuilt from its (unfolded) name and value, so it is
/// written by the serializer rather than copied from the received text.
fn with_rebuilt_headers(message: &Message) -> Message {
    let mut headers = Headers::new();
    for h in message.headers().iter() {
        headers.push_named(h.name_str, h.value);
    }
    let mut rebuilt = message.clone();
    *rebuilt.headers_mut() = headers;
    rebuilt
}

/// The typed views of `message` read back what the spec put in.
fn check_request_fields(message: &Message, spec: &RequestSpec) -> Result<(), String> {
    let request = message.as_request().ok_or("not a request")?;
    let h = &request.headers;
    let expect = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{what} differs: {message:?}"))
        }
    };
    expect(request.method.as_str() == spec.method, "method")?;
    expect(request.uri.as_str() == spec.uri, "Request-URI")?;
    expect(request.version == spec.version, "version")?;
    let vias: Vec<Via> = h.vias().collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    expect(vias.len() == spec.vias.len(), "Via count")?;
    for (via, text) in vias.iter().zip(&spec.vias) {
        expect(via.as_str() == text, "Via")?;
        expect(via.has_magic_cookie(), "Via branch")?;
    }
    expect(h.max_forwards() == Some(Ok(spec.max_forwards)), "Max-Forwards")?;
    let from = h.from_addr().ok_or("no From")?.map_err(|e| e.to_string())?;
    expect(from.tag().is_some(), "From tag")?;
    h.to_addr().ok_or("no To")?.map_err(|e| e.to_string())?;
    expect(h.call_id() == Some(Ok(spec.call_id.as_str())), "Call-ID")?;
    let cseq = h.cseq().ok_or("no CSeq")?.map_err(|e| e.to_string())?;
    expect(cseq.seq == spec.cseq && cseq.method == request.method, "CSeq")?;
    expect(
        h.contacts().count() == usize::from(spec.contact.is_some()),
        "Contact count",
    )?;
    for contact in h.contacts() {
        contact.map_err(|e| e.to_string())?;
    }
    let body = spec.body.as_ref().map_or(&[][..], |(b, _)| b);
    expect(request.body == body, "body")?;
    expect(
        h.content_length() == Some(Ok(body.len() as u32)),
        "Content-Length",
    )?;
    if let Some((_, content_type)) = &spec.body {
        let media = h
            .content_type()
            .ok_or("no Content-Type")?
            .map_err(|e| e.to_string())?;
        expect(
            content_type.starts_with(&format!("{}/{}", media.kind(), media.subtype())),
            "Content-Type",
        )?;
    }
    for (name, value) in &spec.extra {
        expect(h.get_all(name.as_str()).any(|v| v == value), name)?;
    }
    check_transfer_headers(h, &spec.extra)?;
    Ok(())
}

fn check_response_fields(message: &Message, spec: &ResponseSpec) -> Result<(), String> {
    let response = message.as_response().ok_or("not a response")?;
    let h = &response.headers;
    let expect = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{what} differs: {message:?}"))
        }
    };
    expect(response.status.as_u16() == spec.status, "status")?;
    let reason = spec
        .reason
        .clone()
        .unwrap_or_else(|| response.status.canonical_reason().to_owned());
    expect(*response.reason == *reason, "reason phrase")?;
    let vias: Vec<String> = h
        .vias()
        .map(|v| v.map(|v| v.as_str().to_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    expect(vias == spec.request.vias, "Vias")?;
    h.from_addr().ok_or("no From")?.map_err(|e| e.to_string())?;
    let to = h.to_addr().ok_or("no To")?.map_err(|e| e.to_string())?;
    if let Some(tag) = &spec.to_tag {
        expect(to.tag().is_some(), "To tag")?;
        if !spec.request.to.contains(";tag=") {
            expect(to.tag() == Some(tag.as_str()), "To tag value")?;
        }
    }
    expect(h.call_id() == Some(Ok(spec.request.call_id.as_str())), "Call-ID")?;
    let cseq = h.cseq().ok_or("no CSeq")?.map_err(|e| e.to_string())?;
    expect(
        cseq.seq == spec.request.cseq && cseq.method.as_str() == spec.request.method,
        "CSeq",
    )?;
    let body = spec.body.as_ref().map_or(&[][..], |(b, _)| b);
    expect(response.body == body, "body")?;
    expect(
        h.content_length() == Some(Ok(body.len() as u32)),
        "Content-Length",
    )?;
    for (name, value) in &spec.extra {
        expect(h.get_all(name.as_str()).any(|v| v == value), name)?;
    }
    check_transfer_headers(h, &spec.extra)?;
    // A UAC accepts a generated response with one Via, and drops one with more (RFC 3261
    // §8.1.3.3).
    let verdict = validate_response(response);
    expect(
        verdict.is_ok() == (spec.request.vias.len() == 1),
        &format!("validation ({verdict:?})"),
    )?;
    Ok(())
}

/// `text` with every line end of the head (not the folds inside a header) made CRLF, as
/// the serializer writes it.
fn crlf_line_ends(text: &[u8]) -> Vec<u8> {
    // The head ends with the first empty line (`\n\n` or `\n\r\n`).
    let head_len = (1..text.len())
        .find_map(|i| match (text[i - 1], text[i], text.get(i + 1)) {
            (b'\n', b'\n', _) => Some(i + 1),
            (b'\n', b'\r', Some(b'\n')) => Some(i + 2),
            _ => None,
        })
        .unwrap_or(text.len());
    let mut out = Vec::with_capacity(text.len() + 64);
    for (i, &b) in text[..head_len].iter().enumerate() {
        let folds = matches!(text.get(i + 1), Some(b' ' | b'\t')) && i + 2 < head_len;
        if b == b'\n' && !folds && (i == 0 || text[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out.extend_from_slice(&text[head_len..]);
    out
}

fn round_trip_all(message: &Message, text: Option<&Bytes>) -> Result<(), String> {
    check_round_trip(message)?;
    if let Some(text) = text {
        // Parsed from text: the serialization keeps each header line as written (line
        // breaks become CRLF), …
        let bytes = message.to_bytes();
        let crlf_text = crlf_line_ends(text);
        if bytes != crlf_text {
            return Err(format!(
                "parsed text is not written back verbatim:\n{}\n{}",
                show(text),
                show(&bytes)
            ));
        }
        // … and the same headers written by the serializer parse back equal too.
        let rebuilt = with_rebuilt_headers(message);
        if rebuilt != *message {
            return Err(format!("rebuilt headers differ: {rebuilt:?}"));
        }
        check_round_trip(&rebuilt)?;
    }
    check_edits(message)
}

/// Edits a stack makes — a proxy's new top Via, a new body, a removed header — keep the
/// message serializable to bytes that parse back equal, with the edit in place.
fn check_edits(message: &Message) -> Result<(), String> {
    let mut edited = message.clone();
    let top = "SIP/2.0/TCP proxy.example.com:5061;branch=z9hG4bKproxy1";
    edited.headers_mut().push_front(HeaderName::Via, top);
    edited.headers_mut().remove("Subject");
    let body = Bytes::from_static(b"new\r\n\r\nbody\n");
    match &mut edited {
        Message::Request(r) => r.set_body(body.clone(), Some("text/plain")),
        Message::Response(r) => r.set_body(body.clone(), Some("text/plain")),
    }
    check_round_trip(&edited)?;
    let parsed = Message::parse(edited.to_bytes()).map_err(|e| e.to_string())?;
    let h = parsed.headers();
    let ok = h
        .top_via()
        .and_then(Result::ok)
        .is_some_and(|v| v.as_str() == top)
        && h.vias().count() == message.headers().vias().count() + 1
        && *parsed.body() == body
        && h.content_length() == Some(Ok(body.len() as u32))
        && h.content_type()
            .and_then(Result::ok)
            .is_some_and(|t| t.is("text", "plain"))
        && !h.contains("Subject");
    if ok {
        Ok(())
    } else {
        Err(format!("edit lost: {}", show(&edited.to_bytes())))
    }
}

fn prop_request_round_trip(r: ArbRequest) -> TestResult {
    let result = round_trip_all(&r.message, r.text.as_ref())
        .and_then(|()| check_request_fields(&r.message, &r.spec))
        .and_then(|()| check_request_fields(&Message::parse(r.message.to_bytes()).unwrap(), &r.spec));
    match result {
        Ok(()) => TestResult::passed(),
        Err(e) => TestResult::error(format!("{:?}: {e}", r.style)),
    }
}

fn prop_response_round_trip(r: ArbResponse) -> TestResult {
    let result = round_trip_all(&r.message, r.text.as_ref())
        .and_then(|()| check_response_fields(&r.message, &r.spec))
        .and_then(|()| check_response_fields(&Message::parse(r.message.to_bytes()).unwrap(), &r.spec));
    match result {
        Ok(()) => TestResult::passed(),
        Err(e) => TestResult::error(format!("{:?}: {e}", r.style)),
    }
}

#[test]
fn parse_of_serialize_is_identity_for_requests() {
    qc(4000).quickcheck(prop_request_round_trip as fn(ArbRequest) -> TestResult);
}

#[test]
fn parse_of_serialize_is_identity_for_responses() {
    qc(4000).quickcheck(prop_response_round_trip as fn(ArbResponse) -> TestResult);
}

// ------------------------------------------------------------------------------------------
// Stream framing
// ------------------------------------------------------------------------------------------

/// Cut points for a byte stream: chunk lengths, used in a cycle.
#[derive(Debug, Clone)]
struct Chunking(Vec<usize>);

impl Arbitrary for Chunking {
    fn arbitrary(g: &mut Gen) -> Self {
        Chunking(match below(g, 5) {
            0 => vec![1],
            1 => (0..between(g, 1, 8)).map(|_| between(g, 1, 3)).collect(),
            2 => vec![usize::MAX],
            _ => (0..between(g, 1, 16)).map(|_| between(g, 1, 200)).collect(),
        })
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        if self.0 == [1] {
            Box::new(std::iter::empty())
        } else {
            Box::new(std::iter::once(Chunking(vec![1])))
        }
    }
}

impl Chunking {
    fn split<'a>(&self, bytes: &'a [u8]) -> Vec<&'a [u8]> {
        let mut chunks = Vec::new();
        let mut rest = bytes;
        for &len in self.0.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(len.min(rest.len()));
            chunks.push(chunk);
            rest = tail;
        }
        chunks
    }
}

/// Feeds `chunks` to a decoder, draining after each; the items, and the framing error that
/// stopped it, if any. Checks that a framing error is sticky.
fn decode(chunks: &[&[u8]]) -> (Vec<StreamItem>, Option<sip_core::message::FramingError>) {
    let mut decoder = StreamDecoder::new();
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_item() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(decoder.next_item(), Err(e), "framing errors are sticky");
                    return (items, Some(e));
                }
            }
        }
    }
    (items, None)
}

#[derive(Debug, Clone)]
enum ArbMessage {
    Request(ArbRequest),
    Response(ArbResponse),
}

impl Arbitrary for ArbMessage {
    fn arbitrary(g: &mut Gen) -> Self {
        if one_in(g, 2) {
            ArbMessage::Request(ArbRequest::arbitrary(g))
        } else {
            ArbMessage::Response(ArbResponse::arbitrary(g))
        }
    }
}

impl ArbMessage {
    /// The bytes sent on the stream: the text when the message was written by hand.
    fn wire(&self) -> Bytes {
        match self {
            ArbMessage::Request(r) => r.text.clone().unwrap_or_else(|| r.message.to_bytes()),
            ArbMessage::Response(r) => r.text.clone().unwrap_or_else(|| r.message.to_bytes()),
        }
    }
}

/// A stream: messages, each preceded by 0–2 `CRLFCRLF` keep-alive pings.
#[derive(Debug, Clone)]
struct ArbStream(Vec<(usize, ArbMessage)>, usize);

impl Arbitrary for ArbStream {
    fn arbitrary(g: &mut Gen) -> Self {
        let count = between(g, 1, 5);
        ArbStream(
            (0..count)
                .map(|_| {
                    (
                        if one_in(g, 3) { between(g, 1, 2) } else { 0 },
                        ArbMessage::arbitrary(g),
                    )
                })
                .collect(),
            if one_in(g, 4) { 1 } else { 0 },
        )
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let mut smaller = Vec::new();
        for i in 0..self.0.len() {
            if self.0.len() > 1 {
                let mut fewer = self.0.clone();
                fewer.remove(i);
                smaller.push(ArbStream(fewer, self.1));
            }
            if self.0[i].0 > 0 {
                let mut no_ping = self.0.clone();
                no_ping[i].0 = 0;
                smaller.push(ArbStream(no_ping, self.1));
            }
        }
        Box::new(smaller.into_iter())
    }
}

fn prop_stream_chunking(stream: ArbStream, chunking: Chunking) -> TestResult {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for (pings, message) in &stream.0 {
        for _ in 0..*pings {
            wire.extend_from_slice(b"\r\n\r\n");
        }
        let bytes = message.wire();
        expected.push(Message::parse(bytes.clone()).unwrap());
        wire.extend_from_slice(&bytes);
    }
    for _ in 0..stream.1 {
        wire.extend_from_slice(b"\r\n\r\n");
    }
    let (items, error) = decode(&chunking.split(&wire));
    if let Some(e) = error {
        return TestResult::error(format!("framing error {e:?} on {}", show(&wire)));
    }
    let mut messages = Vec::new();
    for item in items {
        match item {
            StreamItem::Message(m) => messages.push(m),
            StreamItem::KeepAlivePing | StreamItem::KeepAlivePong => {}
            StreamItem::Invalid(e) => {
                return TestResult::error(format!("invalid item {e} on {}", show(&wire)));
            }
        }
    }
    if messages != expected {
        return TestResult::error(format!(
            "decoded {} messages, expected {}: {messages:?}\nwire: {}",
            messages.len(),
            expected.len(),
            show(&wire)
        ));
    }
    TestResult::passed()
}

#[test]
fn stream_decoder_is_chunking_invariant() {
    qc(1500).quickcheck(prop_stream_chunking as fn(ArbStream, Chunking) -> TestResult);
}

// ------------------------------------------------------------------------------------------
// Robustness: arbitrary and mutated input
// ------------------------------------------------------------------------------------------

/// Uses every typed view, validation, and serialization of a parsed message. Panics are the
/// failure being looked for; results are read so nothing is optimised away.
fn exercise(message: &Message) -> usize {
    let h = message.headers();
    let mut n = 0usize;
    let mut touch = |s: &str| n = n.wrapping_add(s.len());
    for header in h.iter() {
        touch(header.name_str);
        touch(header.value);
        touch(header.name.as_str());
        touch(header.raw_line.unwrap_or(""));
        touch(h.get(header.name_str).unwrap_or(""));
        for v in h.values(header.name_str) {
            touch(v);
        }
        touch(&h.share(header.value));
    }
    for via in h.vias().flatten() {
        touch(via.protocol());
        touch(via.version());
        touch(via.transport());
        touch(&via.host().to_string());
        touch(via.host_str());
        touch(&format!(
            "{:?}{:?}{:?}",
            via.port(),
            via.rport(),
            via.has_magic_cookie()
        ));
        touch(via.branch().unwrap_or(""));
        touch(via.received().unwrap_or(""));
        touch(via.maddr().unwrap_or(""));
        for (name, value) in via.params().iter() {
            touch(name);
            touch(value.unwrap_or(""));
        }
    }
    let _ = h.top_via();
    let mut addresses: Vec<NameAddr> = Vec::new();
    addresses.extend(h.from_addr().and_then(Result::ok));
    addresses.extend(h.to_addr().and_then(Result::ok));
    addresses.extend(h.contacts().flatten());
    addresses.extend(h.routes().flatten());
    addresses.extend(h.record_routes().flatten());
    addresses.extend(h.refer_to().and_then(Result::ok).map(|r| r.address().clone()));
    addresses.extend(h.referred_by().and_then(Result::ok).map(|r| r.address().clone()));
    for address in &addresses {
        touch(&address.display_name().unwrap_or_default());
        touch(address.tag().unwrap_or(""));
        touch(address.as_str());
        touch(&format!("{}", address.is_bracketed()));
        for (name, value) in address.params().iter() {
            touch(name);
            touch(value.unwrap_or(""));
        }
        touch(address.params().get_unquoted("tag").as_deref().unwrap_or(""));
        exercise_uri(address.uri(), &mut touch);
        let tagged = address.with_tag("t0");
        assert!(
            NameAddr::parse(tagged.as_str()).is_ok(),
            "with_tag made an unparsable address: {:?} -> {:?}",
            address.as_str(),
            tagged.as_str()
        );
    }
    if let Some(request) = message.as_request() {
        exercise_uri(&request.uri, &mut touch);
    }
    touch(&format!("{:?}", h.call_id()));
    touch(&format!("{:?}", h.cseq()));
    touch(&format!("{:?}", h.max_forwards()));
    touch(&format!("{:?}", h.content_length()));
    if let Some(Ok(media)) = h.content_type() {
        touch(media.kind());
        touch(media.subtype());
        touch(&format!(
            "{}{}",
            media.is("application", "sdp"),
            media.matches("text", "plain")
        ));
        for (name, value) in media.params().iter() {
            touch(name);
            touch(value.unwrap_or(""));
        }
    }
    for media in h.accept().flatten() {
        touch(media.kind());
        touch(media.subtype());
    }
    touch(&format!("{}", h.contact_is_wildcard()));
    touch(&format!("{:?}{:?}", h.expires(), h.min_expires()));
    for name in [
        HeaderName::Require,
        HeaderName::Supported,
        HeaderName::ProxyRequire,
        HeaderName::Unsupported,
    ] {
        for tag in h.option_tags(name) {
            touch(tag.unwrap_or(""));
        }
    }
    touch(&format!("{}", h.supports("100rel")));
    exercise_transfer_headers(h, &mut touch);
    for value in [h.session_expires(), h.min_se()].into_iter().flatten().flatten() {
        touch(value.value());
        touch(value.as_str());
        touch(&format!("{:?}", value.param_u32("expires")));
        for (name, v) in value.params().iter() {
            touch(name);
            touch(v.unwrap_or(""));
        }
    }
    touch(&format!("{:?}{:?}{:?}", h.rseq(), h.rack(), h.retry_after()));
    for name in [
        HeaderName::Authorization,
        HeaderName::ProxyAuthorization,
        HeaderName::WwwAuthenticate,
        HeaderName::ProxyAuthenticate,
    ] {
        for value in h.auth_values(name).flatten() {
            touch(value.scheme());
            for (name, v) in value.params_iter() {
                touch(name);
                touch(v.unwrap_or(""));
            }
            touch(value.param("realm").as_deref().unwrap_or(""));
            touch(value.param("nonce").as_deref().unwrap_or(""));
        }
    }
    match message {
        Message::Request(request) => {
            let _ = validate_request(request, &UasPolicy::default());
        }
        Message::Response(response) => {
            let _ = validate_response(response);
        }
    }
    touch(&message.start_line());
    n.wrapping_add(message.to_bytes().len())
}

fn exercise_uri(uri: &Uri, touch: &mut impl FnMut(&str)) {
    touch(uri.as_str());
    touch(uri.scheme_str());
    touch(&format!("{:?}{:?}{:?}", uri.scheme(), uri.is_sip(), uri.port()));
    touch(uri.user().unwrap_or(""));
    touch(&format!("{:?}", uri.user_decoded()));
    touch(uri.password().unwrap_or(""));
    touch(&uri.host().map(|h| h.to_string()).unwrap_or_default());
    touch(uri.host_str().unwrap_or(""));
    touch(uri.headers().unwrap_or(""));
    touch(uri.transport_param().unwrap_or(""));
    touch(&format!("{}", uri.is_loose_route()));
    for (name, value) in uri.params().iter() {
        touch(name);
        touch(value.unwrap_or(""));
    }
}

/// Parses `bytes` as a datagram and, when it parses, uses everything on it; then feeds the
/// same bytes to a stream decoder in `chunking`'s chunks, using every message it yields.
fn hammer(bytes: &[u8], chunking: &Chunking) -> usize {
    let mut n = 0;
    if let Ok(message) = Message::parse(Bytes::copy_from_slice(bytes)) {
        n += exercise(&message);
    }
    let (items, _) = decode(&chunking.split(bytes));
    for item in &items {
        if let StreamItem::Message(message) = item {
            n += exercise(message);
        }
    }
    n
}

fn prop_arbitrary_bytes(bytes: Vec<u8>, chunking: Chunking) -> bool {
    hammer(&bytes, &chunking);
    true
}

#[test]
fn parser_never_panics_on_arbitrary_bytes() {
    qc(10000).quickcheck(prop_arbitrary_bytes as fn(Vec<u8>, Chunking) -> bool);
}

/// Known header names, compact forms and spellings the typed views read.
const HEADER_NAMES: &[&str] = &[
    "Via",
    "v",
    "From",
    "f",
    "To",
    "t",
    "Call-ID",
    "i",
    "CSeq",
    "Max-Forwards",
    "Content-Length",
    "l",
    "Content-Type",
    "c",
    "Contact",
    "m",
    "Route",
    "Record-Route",
    "Expires",
    "Min-Expires",
    "Require",
    "Supported",
    "k",
    "Proxy-Require",
    "Unsupported",
    "Event",
    "o",
    "Subscription-State",
    "Session-Expires",
    "x",
    "Min-SE",
    "Replaces",
    "Refer-To",
    "r",
    "Referred-By",
    "b",
    "Refer-Sub",
    "Allow-Events",
    "u",
    "RSeq",
    "RAck",
    "Retry-After",
    "Authorization",
    "Proxy-Authorization",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Accept",
    "Date",
    "Timestamp",
    "X-Other",
];

/// Fragments SIP header values are made of, including the awkward ones.
const VALUE_PIECES: &[&str] = &[
    "SIP/2.0/UDP ",
    "SIP / 2.0 / TCP",
    "sip:",
    "sips:",
    "tel:",
    "user",
    "@",
    "host.example.com",
    "192.0.2.1",
    "[2001:db8::1]",
    "[2001:db8:::192.0.2.1]",
    "[::1",
    ":",
    "5060",
    "65536",
    ";",
    ";branch=z9hG4bK",
    ";tag=",
    ";lr",
    ";rport",
    ";received=",
    "=",
    ",",
    " ",
    "\t",
    "\r\n ",
    "\"",
    "\\",
    "\"a \\\" b\"",
    "<",
    ">",
    "?",
    "&",
    "%",
    "%4",
    "%41",
    "%00",
    "*",
    "INVITE",
    "ACK",
    "1",
    "4294967295",
    "4294967296",
    "0",
    "-1",
    "application/sdp",
    "/",
    "Digest",
    "realm=",
    "nonce=\"x,y\"",
    "active",
    ";expires=",
    "terminated",
    ";reason=",
    ";retry-after=",
    ";id=",
    ".",
    ";to-tag=",
    ";from-tag=",
    ";early-only",
    "?Replaces=",
    "%3B",
    "%3D",
    "%40",
    ";cid=",
    "true",
    "FALSE",
    "(",
    ")",
    "é",
    "\u{0}",
    "\u{7f}",
    "日",
];

/// A message made of a plausible start line and headers with known names and values glued
/// from SIP fragments: aimed at the typed views rather than at the framing.
#[derive(Debug, Clone)]
struct SipNoise(Vec<u8>);

impl Arbitrary for SipNoise {
    fn arbitrary(g: &mut Gen) -> Self {
        let mut out = if one_in(g, 2) {
            format!("{} {} SIP/2.0\r\n", method(g), any_uri(g, true))
        } else {
            format!("SIP/2.0 {} {}\r\n", between(g, 100, 699), text(g, 10))
        };
        for _ in 0..between(g, 0, 12) {
            out.push_str(pick(g, HEADER_NAMES));
            out.push_str(": ");
            for _ in 0..between(g, 0, 10) {
                out.push_str(pick(g, VALUE_PIECES));
            }
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        if one_in(g, 3) {
            out.push_str(&text(g, 20));
        }
        SipNoise(out.into_bytes())
    }
}

fn prop_sip_noise(noise: SipNoise, chunking: Chunking) -> bool {
    hammer(&noise.0, &chunking);
    true
}

#[test]
fn parser_never_panics_on_sip_shaped_noise() {
    qc(5000).quickcheck(prop_sip_noise as fn(SipNoise, Chunking) -> bool);
}

/// Every torture message from ../shared/testdata, plus the benchmark messages.
fn torture_messages() -> &'static [(String, Vec<u8>)] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/");
        const SKIP: [&str; 4] = ["INDEX.tsv", "README.md", "SHA256SUMS", "rfc4475.txt"];
        let mut files = Vec::new();
        for dir in ["rfc4475", "rfc5118", "bench"] {
            let path = format!("{ROOT}{dir}");
            let entries = std::fs::read_dir(&path)
                .unwrap_or_else(|e| panic!("{path}: {e} (is ../shared beside the repo?)"));
            for entry in entries {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                if SKIP.contains(&name.as_str()) || !entry.file_type().unwrap().is_file() {
                    continue;
                }
                files.push((format!("{dir}/{name}"), std::fs::read(entry.path()).unwrap()));
            }
        }
        files.sort();
        assert!(
            files.len() > 60,
            "expected the torture messages, found {}",
            files.len()
        );
        files
    })
}

/// Bytes inserted by mutations: line breaks, separators, quotes, escapes, NUL, invalid
/// UTF-8 and the like.
const INSERTS: &[&[u8]] = &[
    b"\r",
    b"\n",
    b"\r\n",
    b"\r\n ",
    b"\r\n\r\n",
    b";",
    b",",
    b"\"",
    b"<",
    b">",
    b"%",
    b"%0",
    b"\0",
    b"\\",
    b"@",
    b":",
    b"=",
    b"[",
    b"]",
    b" ",
    b"\t",
    b"\xff",
    b"\xc3",
    b"\xc3\xa9",
    b";tag=",
    b"sip:",
    b"0",
    b"99999999999",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Set { at: usize, byte: u8 },
    Insert { at: usize, what: usize },
    InsertRandom { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    DuplicateRange { at: usize, len: usize },
    DuplicateLine { line: usize },
    DeleteLine { line: usize },
    SwapLines { a: usize, b: usize },
    Truncate { at: usize },
}

impl Arbitrary for Mutation {
    fn arbitrary(g: &mut Gen) -> Self {
        let at = usize::arbitrary(g);
        match below(g, 12) {
            0 | 1 => Mutation::Flip {
                at,
                mask: 1 << below(g, 8),
            },
            2 => Mutation::Set {
                at,
                byte: u8::arbitrary(g),
            },
            3..=5 => Mutation::Insert {
                at,
                what: below(g, INSERTS.len()),
            },
            6 => Mutation::InsertRandom {
                at,
                bytes: (0..between(g, 1, 8)).map(|_| u8::arbitrary(g)).collect(),
            },
            7 => Mutation::Delete {
                at,
                len: between(g, 1, 16),
            },
            8 => Mutation::DuplicateRange {
                at,
                len: between(g, 1, 64),
            },
            9 => Mutation::DuplicateLine { line: at },
            10 => Mutation::DeleteLine { line: at },
            _ => {
                if one_in(g, 2) {
                    Mutation::SwapLines {
                        a: at,
                        b: usize::arbitrary(g),
                    }
                } else {
                    Mutation::Truncate { at }
                }
            }
        }
    }
}

/// The byte ranges of the lines of `bytes`, each with its line break.
fn lines(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < bytes.len() {
        out.push((start, bytes.len()));
    }
    out
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        let pos = |at: usize| if len == 0 { 0 } else { at % (len + 1) };
        match self {
            Mutation::Flip { at, mask } => {
                if len > 0 {
                    bytes[at % len] ^= mask;
                }
            }
            Mutation::Set { at, byte } => {
                if len > 0 {
                    bytes[at % len] = *byte;
                }
            }
            Mutation::Insert { at, what } => {
                let at = pos(*at);
                bytes.splice(at..at, INSERTS[*what].iter().copied());
            }
            Mutation::InsertRandom { at, bytes: new } => {
                let at = pos(*at);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Delete { at, len: n } => {
                let at = pos(*at);
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::DuplicateRange { at, len: n } => {
                let at = pos(*at);
                let copy = bytes[at..(at + n).min(len)].to_vec();
                bytes.splice(at..at, copy);
            }
            Mutation::DuplicateLine { line } => {
                let lines = lines(bytes);
                if !lines.is_empty() {
                    let (s, e) = lines[line % lines.len()];
                    let copy = bytes[s..e].to_vec();
                    bytes.splice(e..e, copy);
                }
            }
            Mutation::DeleteLine { line } => {
                let lines = lines(bytes);
                if !lines.is_empty() {
                    let (s, e) = lines[line % lines.len()];
                    bytes.drain(s..e);
                }
            }
            Mutation::SwapLines { a, b } => {
                let lines = lines(bytes);
                if lines.len() > 1 {
                    let (mut x, mut y) = (lines[a % lines.len()], lines[b % lines.len()]);
                    if x.0 > y.0 {
                        std::mem::swap(&mut x, &mut y);
                    }
                    if x != y {
                        let mut out = bytes[..x.0].to_vec();
                        out.extend_from_slice(&bytes[y.0..y.1]);
                        out.extend_from_slice(&bytes[x.1..y.0]);
                        out.extend_from_slice(&bytes[x.0..x.1]);
                        out.extend_from_slice(&bytes[y.1..]);
                        *bytes = out;
                    }
                }
            }
            Mutation::Truncate { at } => {
                let at = pos(*at);
                bytes.truncate(at);
            }
        }
    }
}

/// A torture message (by index) with a few mutations applied.
#[derive(Debug, Clone)]
struct Mutated {
    file: usize,
    mutations: Vec<Mutation>,
}

impl Arbitrary for Mutated {
    fn arbitrary(g: &mut Gen) -> Self {
        Mutated {
            file: below(g, torture_messages().len()),
            mutations: {
                let most = if one_in(g, 4) { 8 } else { 3 };
                (0..between(g, 0, most)).map(|_| Mutation::arbitrary(g)).collect()
            },
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let file = self.file;
        let mutations = self.mutations.clone();
        Box::new((0..mutations.len()).map(move |i| {
            let mut fewer = mutations.clone();
            fewer.remove(i);
            Mutated {
                file,
                mutations: fewer,
            }
        }))
    }
}

impl Mutated {
    fn bytes(&self) -> Vec<u8> {
        let mut bytes = torture_messages()[self.file].1.clone();
        for m in &self.mutations {
            m.apply(&mut bytes);
        }
        bytes
    }
}

fn prop_mutated(input: Mutated, chunking: Chunking) -> bool {
    hammer(&input.bytes(), &chunking);
    true
}

#[test]
fn parser_never_panics_on_mutated_torture_messages() {
    qc(5000).quickcheck(prop_mutated as fn(Mutated, Chunking) -> bool);
}

/// Whatever parses — however odd — serializes to bytes that parse back to an equal message.
fn prop_any_parsed_round_trips(input: Mutated) -> TestResult {
    let bytes = input.bytes();
    let Ok(message) = Message::parse(Bytes::from(bytes.clone())) else {
        return TestResult::discard();
    };
    match check_round_trip(&message) {
        Ok(()) => TestResult::passed(),
        Err(e) => TestResult::error(format!("input {}: {e}", show(&bytes))),
    }
}

#[test]
fn any_parsed_message_serializes_to_an_equal_message() {
    qc(4000).quickcheck(prop_any_parsed_round_trips as fn(Mutated) -> TestResult);
}

/// `response_to` on any parsed request, with a To tag, gives a response that parses back
/// equal (it copies request headers, so odd request values must not break the response).
fn prop_response_to_parsed_request(input: Mutated, code: u16) -> TestResult {
    let bytes = input.bytes();
    let Ok(Message::Request(request)) = Message::parse(Bytes::from(bytes.clone())) else {
        return TestResult::discard();
    };
    let status = StatusCode::new(100 + code % 600).unwrap();
    let mut results = vec![response_to(&request, status, None, Some("totag1"))];
    if let Err(rejection) = validate_request(&request, &UasPolicy::default()) {
        results.push(rejection.to_response(&request, "sip-tests", Some("totag2")));
    }
    for response in results {
        if let Err(e) = check_round_trip(&Message::Response(response)) {
            return TestResult::error(format!("request {}: {e}", show(&bytes)));
        }
    }
    TestResult::passed()
}

#[test]
fn response_to_any_parsed_request_round_trips() {
    qc(3000).quickcheck(prop_response_to_parsed_request as fn(Mutated, u16) -> TestResult);
}

/// The stream decoder's items do not depend on how the stream is cut, for any input (here
/// mutated torture messages, several in a row): the same messages, invalid messages and
/// framing error, in the same order. Keep-alives are left out: a `CRLFCRLF` split across
/// chunks is documented to read as two pongs.
fn prop_stream_items_chunking_invariant(inputs: Vec<Mutated>, chunking: Chunking) -> TestResult {
    let bytes: Vec<u8> = inputs.iter().take(4).flat_map(Mutated::bytes).collect();
    let decode_all = |chunks: &[&[u8]]| {
        let mut decoder = StreamDecoder::new();
        let mut items = Vec::new();
        for chunk in chunks {
            decoder.push(chunk);
            // Drain until `Ok(None)`, exactly as the decoder's documentation says.
            loop {
                match decoder.next_item() {
                    Ok(Some(StreamItem::KeepAlivePing | StreamItem::KeepAlivePong)) => {}
                    Ok(Some(item)) => items.push(Ok(item)),
                    Ok(None) => break,
                    Err(e) => {
                        items.push(Err(e));
                        return items;
                    }
                }
            }
        }
        items
    };
    let whole = decode_all(&[&bytes]);
    let chunked = decode_all(&chunking.split(&bytes));
    if whole != chunked {
        return TestResult::error(format!(
            "{chunking:?} on {}\nwhole:   {whole:?}\nchunked: {chunked:?}",
            show(&bytes)
        ));
    }
    TestResult::passed()
}

#[test]
fn stream_decoder_items_are_chunking_invariant_for_any_input() {
    qc(2500).quickcheck(prop_stream_items_chunking_invariant as fn(Vec<Mutated>, Chunking) -> TestResult);
}

/// `validate_request` gives a generated, well-formed request the verdict its spec calls for:
/// 505 for another SIP version, 501 for an extension method, 400 for a Request-URI with
/// headers or a REGISTER whose To is not a SIP URI, 415 for a body type the default policy
/// does not accept (but in a NOTIFY), and acceptance otherwise.
fn prop_validation_of_generated_requests(r: ArbRequest) -> TestResult {
    let spec = &r.spec;
    let request = r.message.as_request().unwrap();
    let method = Method::parse(&spec.method).unwrap();
    let to_is_sip = NameAddr::parse(&spec.to).unwrap().uri().is_sip();
    let expected = if spec.version != Version::SIP_2_0 {
        Some(505)
    } else if !method.is_standard() {
        Some(501)
    } else if spec.uri.contains('?') || (method == Method::Register && !to_is_sip) {
        Some(400)
    } else if method != Method::Notify
        && spec
            .body
            .as_ref()
            .is_some_and(|(bytes, ct)| !bytes.is_empty() && ct == "application/octet-stream")
    {
        // A NOTIFY's body is its event package's, for the application (RFC 6665 §4.1.3).
        Some(415)
    } else {
        None
    };
    let got = validate_request(request, &UasPolicy::default()).map_err(|r| (r.status.as_u16(), r.reason));
    match (expected, &got) {
        (None, Ok(())) => TestResult::passed(),
        (Some(status), Err((got, _))) if status == *got => TestResult::passed(),
        _ => TestResult::error(format!(
            "expected {expected:?}, got {got:?} for {}",
            show(&r.message.to_bytes())
        )),
    }
}

#[test]
fn generated_requests_get_the_uas_verdict_their_content_calls_for() {
    qc(3000).quickcheck(prop_validation_of_generated_requests as fn(ArbRequest) -> TestResult);
}

/// Text pieces that may be spliced into a builder argument: separators, quotes, brackets,
/// escapes, UTF-8 (no line breaks, see `request_builder_refuses_values_with_line_breaks`).
const SPLICES: &[&str] = &[
    ";",
    ",",
    "\"",
    "\\",
    "<",
    ">",
    "%",
    "%4",
    "%41",
    "@",
    ":",
    "=",
    "?",
    "&",
    " ",
    "\t",
    "[",
    "]",
    "é",
    "*",
    ";tag=x",
    ";lr",
    ",sip:x@y",
    ", <sip:z@w>",
    "sip:",
    "\u{0}",
];

/// A request spec with some builder arguments garbled.
#[derive(Debug, Clone)]
struct GarbledSpec(RequestSpec);

impl Arbitrary for GarbledSpec {
    fn arbitrary(g: &mut Gen) -> Self {
        let mut spec = RequestSpec::generate(g);
        spec.version = Version::SIP_2_0;
        // `list`: the header is a comma-separated list when read (Via, Contact); a top-level
        // comma in one builder argument is a known bug (see
        // `request_builder_refuses_a_via_or_contact_that_reads_as_two_values`), kept out here.
        let garble = |g: &mut Gen, s: &mut String, list: bool| {
            for _ in 0..between(g, 1, 3) {
                let boundaries: Vec<usize> = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect();
                let at = pick(g, &boundaries);
                let splice = pick(g, SPLICES);
                if !(list && splice.contains(',')) {
                    s.insert_str(at, splice);
                }
            }
            // Leading and trailing white space is not kept by a round trip (known: see
            // `request_builder_refuses_values_that_do_not_read_back`); keep it out.
            *s = s.trim_matches([' ', '\t']).to_owned();
        };
        for field in [&mut spec.from, &mut spec.to, &mut spec.call_id] {
            if one_in(g, 3) {
                garble(g, field, false);
            }
        }
        for v in &mut spec.vias {
            if one_in(g, 3) {
                garble(g, v, true);
            }
        }
        if let Some(contact) = &mut spec.contact
            && one_in(g, 2)
        {
            garble(g, contact, true);
        }
        GarbledSpec(spec)
    }
}

/// "Values are checked by parsing them, so a built request always parses back"
/// (`RequestBuilder`): whatever the builder accepts serializes to bytes that parse back to an
/// equal request, whose typed views read every header the builder checked.
fn prop_builder_output_parses_back(spec: GarbledSpec) -> TestResult {
    let spec = spec.0;
    let mut builder = RequestBuilder::new(
        Method::parse(&spec.method).unwrap(),
        Uri::parse(&spec.uri).unwrap(),
    )
    .from(spec.from.as_str())
    .to(spec.to.as_str())
    .call_id(spec.call_id.as_str())
    .cseq(spec.cseq);
    for v in &spec.vias {
        builder = builder.via(v.as_str());
    }
    if let Some(contact) = &spec.contact {
        builder = builder.contact(contact.as_str());
    }
    let Ok(request) = builder.build() else {
        return TestResult::discard();
    };
    let message = Message::Request(request);
    if let Err(e) = check_round_trip(&message) {
        return TestResult::error(e);
    }
    let h = message.headers();
    let mut problems = Vec::new();
    if let Some(e) = h.vias().find_map(Result::err) {
        problems.push(format!("Via: {e}"));
    }
    if let Some(Err(e)) = h.from_addr() {
        problems.push(format!("From: {e}"));
    }
    if let Some(Err(e)) = h.to_addr() {
        problems.push(format!("To: {e}"));
    }
    if let Some(Err(e)) = h.call_id() {
        problems.push(format!("Call-ID: {e}"));
    }
    if let Some(e) = h.contacts().find_map(Result::err) {
        problems.push(format!("Contact: {e}"));
    }
    if problems.is_empty() {
        TestResult::passed()
    } else {
        TestResult::error(format!("{problems:?} in {}", show(&message.to_bytes())))
    }
}

#[test]
fn request_builder_output_parses_back_and_reads_back() {
    qc(4000).quickcheck(prop_builder_output_parses_back as fn(GarbledSpec) -> TestResult);
}

// ------------------------------------------------------------------------------------------
// Subscription and transfer headers (RFC 6665, RFC 3515, RFC 3891, RFC 3892, RFC 4488)
// ------------------------------------------------------------------------------------------

/// `token` characters but the dot: RFC 6665's `token-nodot`, RFC 3892's `atom`.
const TOKEN_NODOT: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!%*_+`'~";

/// An RFC 6665 `event-type`: a package and up to two templates.
fn event_type(g: &mut Gen) -> String {
    let mut out = string_of(g, TOKEN_NODOT, 1, 8);
    for _ in 0..between(g, 0, 2) {
        out.push('.');
        out.push_str(&string_of(g, TOKEN_NODOT, 1, 6));
    }
    out
}

/// Linear white space as it may stand around `;` and `=` once a value is unfolded.
fn lws(g: &mut Gen) -> &'static str {
    pick(g, &["", "", "", " ", "\t", "  "])
}

/// `s` with each ASCII letter in a random case.
fn random_case(g: &mut Gen, s: &str) -> String {
    s.chars()
        .map(|c| {
            if one_in(g, 2) {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// A quoted-string parameter value, with escapes; angle brackets only when `angles`.
fn quoted_value(g: &mut Gen, angles: bool) -> String {
    let mut out = String::from("\"");
    for _ in 0..between(g, 0, 8) {
        let c = match below(g, 6) {
            0 => '"',
            1 => pick(g, &[';', ',', '=', ' ', 'é', '<', '>', '?', '&', '%']),
            _ => char::from(between(g, 0x21, 0x7e) as u8),
        };
        if !angles && (c == '<' || c == '>') {
            continue;
        }
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A parameter: a name and a token, a quoted string or no value.
type Param = (String, Option<String>);

/// Generic parameters named none of `reserved` (ignoring case). Quoted values hold angle
/// brackets only when `angles` (the addr-spec form of an address cannot have them, see
/// `NameAddr::parse`).
fn generic_params(g: &mut Gen, reserved: &[&str], angles: bool) -> Vec<Param> {
    (0..between(g, 0, 3))
        .filter_map(|_| {
            let name = token(g, 8);
            if reserved.iter().any(|r| r.eq_ignore_ascii_case(&name)) {
                return None;
            }
            let value = match below(g, 3) {
                0 => None,
                1 => Some(token(g, 8)),
                _ => Some(quoted_value(g, angles)),
            };
            Some((name, value))
        })
        .collect()
}

/// Appends `params` as `;name=value`, with white space around the separators.
fn push_params(g: &mut Gen, out: &mut String, params: &[Param]) {
    for (name, value) in params {
        let _ = write!(out, "{};{}{name}", lws(g), lws(g));
        if let Some(value) = value {
            let _ = write!(out, "{}={}{value}", lws(g), lws(g));
        }
    }
}

/// The parameters as [`sip_core::message::Params`] gives them.
fn params_of(params: sip_core::message::Params<'_>) -> Vec<Param> {
    params
        .iter()
        .map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
        .collect()
}

/// Inserts `param` at a random place of `params`.
fn insert_anywhere(g: &mut Gen, params: &mut Vec<Param>, param: Param) {
    let at = below(g, params.len() + 1);
    params.insert(at, param);
}

/// One of the headers below, valid, as a generated message's extra header (compact forms
/// and folding come from the text style).
fn transfer_header(g: &mut Gen) -> (String, String) {
    let (name, value) = match below(g, 7) {
        0 => ("Event", EventSpec::arbitrary(g).text),
        1 => {
            let types: Vec<String> = (0..between(g, 1, 3)).map(|_| event_type(g)).collect();
            ("Allow-Events", types.join(", "))
        }
        2 => ("Subscription-State", SubscriptionStateSpec::arbitrary(g).text),
        3 => ("Replaces", ReplacesSpec::arbitrary(g).text),
        4 => ("Refer-To", AddressSpec::arbitrary(g).text),
        5 => ("Referred-By", AddressSpec::arbitrary(g).text),
        _ => {
            let flag = pick(g, &["true", "false"]);
            ("Refer-Sub", random_case(g, flag))
        }
    };
    (name.to_owned(), value.trim_matches([' ', '\t']).to_owned())
}

/// The typed getters read every subscription or transfer header `extra` put in once (and
/// every Allow-Events element).
fn check_transfer_headers(h: &Headers, extra: &[(String, String)]) -> Result<(), String> {
    let once = |name: &str| extra.iter().filter(|(n, _)| n == name).count() == 1;
    let ok = |name: &str, result: Option<Result<(), sip_core::message::ParseError>>| match result {
        Some(Ok(())) => Ok(()),
        other => Err(format!("{name} reads as {other:?}: {h:?}")),
    };
    if once("Event") {
        ok("Event", h.event().map(|r| r.map(drop)))?;
    }
    if once("Subscription-State") {
        ok("Subscription-State", h.subscription_state().map(|r| r.map(drop)))?;
    }
    if once("Replaces") {
        ok("Replaces", h.replaces().map(|r| r.map(drop)))?;
    }
    if once("Refer-To") {
        ok("Refer-To", h.refer_to().map(|r| r.map(drop)))?;
    }
    if once("Referred-By") {
        ok("Referred-By", h.referred_by().map(|r| r.map(drop)))?;
    }
    if once("Refer-Sub") {
        ok("Refer-Sub", h.refer_sub().map(|r| r.map(drop)))?;
    }
    let listed: usize = extra
        .iter()
        .filter(|(n, _)| n == "Allow-Events")
        .map(|(_, v)| v.split(',').count())
        .sum();
    let read: Vec<_> = h.allow_events().collect();
    if read.len() != listed || read.iter().any(Result::is_err) {
        return Err(format!("Allow-Events reads as {read:?}"));
    }
    Ok(())
}

/// A valid Event value and what it holds.
#[derive(Debug, Clone)]
struct EventSpec {
    event_type: String,
    id: Option<String>,
    /// Every parameter, `id` included, in order.
    params: Vec<Param>,
    text: String,
}

impl Arbitrary for EventSpec {
    fn arbitrary(g: &mut Gen) -> Self {
        let event_type = event_type(g);
        let id = one_in(g, 2).then(|| token(g, 10));
        let mut params = generic_params(g, &["id"], true);
        if let Some(id) = &id {
            let name = random_case(g, "id");
            insert_anywhere(g, &mut params, (name, Some(id.clone())));
        }
        let mut text = format!("{}{event_type}", lws(g));
        push_params(g, &mut text, &params);
        text.push_str(lws(g));
        EventSpec {
            event_type,
            id,
            params,
            text,
        }
    }
}

fn prop_event_reads_back_and_round_trips(spec: EventSpec) -> TestResult {
    let event = match Event::parse(&spec.text) {
        Ok(event) => event,
        Err(e) => return TestResult::error(format!("{:?}: {e}", spec.text)),
    };
    let mut parts = spec.event_type.split('.');
    let read_back = event.event_type().as_str() == spec.event_type
        && Some(event.package()) == parts.next()
        && event.templates().eq(parts)
        && event.id() == spec.id.as_deref()
        && params_of(event.params()) == spec.params;
    if !read_back {
        return TestResult::error(format!("{:?} reads as {event:?}", spec.text));
    }
    let again = Event::parse(&event.to_string());
    if again.as_ref() != Ok(&event) || !again.as_ref().is_ok_and(|a| a.matches(&event)) {
        return TestResult::error(format!("{event:?} displays to {again:?}"));
    }
    // RFC 6665 §8.2.1: other parameters do not matter, the case of the type does.
    let bare = match &spec.id {
        Some(id) => format!("{};id={id}", spec.event_type),
        None => spec.event_type.clone(),
    };
    let bare = Event::parse(&bare).unwrap();
    let upper = Event::parse(
        &bare
            .as_str()
            .replace(&spec.event_type, &spec.event_type.to_uppercase()),
    )
    .unwrap();
    let case_sensitive = upper.event_type() == bare.event_type() || !event.matches(&upper);
    if !event.matches(&bare) || !case_sensitive {
        return TestResult::error(format!("{event:?} against {bare:?} and {upper:?}"));
    }
    TestResult::passed()
}

#[test]
fn event_values_read_back_and_display_to_what_parses_back() {
    qc(3000).quickcheck(prop_event_reads_back_and_round_trips as fn(EventSpec) -> TestResult);
}

/// Allow-Events elements spread over lines and commas, each a generated event type.
#[derive(Debug, Clone)]
struct AllowEventsSpec {
    types: Vec<String>,
    lines: Vec<String>,
}

impl Arbitrary for AllowEventsSpec {
    fn arbitrary(g: &mut Gen) -> Self {
        let types: Vec<String> = (0..between(g, 1, 5)).map(|_| event_type(g)).collect();
        let mut lines = vec![String::new()];
        for (i, t) in types.iter().enumerate() {
            let line = lines.last_mut().unwrap();
            if i > 0 && one_in(g, 3) {
                lines.push(t.clone());
            } else {
                if !line.is_empty() {
                    let _ = write!(line, "{},{}", lws(g), lws(g));
                }
                line.push_str(t);
            }
        }
        AllowEventsSpec { types, lines }
    }
}

fn prop_allow_events_read_back(spec: AllowEventsSpec) -> bool {
    let mut h = Headers::new();
    for line in &spec.lines {
        h.push(HeaderName::AllowEvents, line.as_str());
    }
    let read: Result<Vec<EventType>, _> = h.allow_events().collect();
    read.is_ok_and(|read| {
        read.iter()
            .map(EventType::as_str)
            .eq(spec.types.iter().map(String::as_str))
    })
}

#[test]
fn allow_events_lists_read_back_in_order() {
    qc(2000).quickcheck(prop_allow_events_read_back as fn(AllowEventsSpec) -> bool);
}

/// A valid Subscription-State value and what it holds.
#[derive(Debug, Clone)]
struct SubscriptionStateSpec {
    state: String,
    reason: Option<String>,
    expires: Option<u32>,
    retry_after: Option<u32>,
    /// Every parameter, in order.
    params: Vec<Param>,
    text: String,
}

/// A decimal number, sometimes with leading zeros (RFC 4475 §3.1.1.1 allows them).
fn delta_seconds(g: &mut Gen, n: u32) -> String {
    let zeros = if one_in(g, 5) { between(g, 1, 3) } else { 0 };
    format!("{}{n}", "0".repeat(zeros))
}

impl Arbitrary for SubscriptionStateSpec {
    fn arbitrary(g: &mut Gen) -> Self {
        let state = match below(g, 4) {
            0 => token(g, 10),
            _ => {
                let known = pick(g, &["active", "pending", "terminated"]);
                random_case(g, known)
            }
        };
        let reason = one_in(g, 2).then(|| {
            if one_in(g, 4) {
                token(g, 10)
            } else {
                let known = pick(
                    g,
                    &[
                        "deactivated",
                        "probation",
                        "rejected",
                        "timeout",
                        "giveup",
                        "noresource",
                        "invariant",
                    ],
                );
                random_case(g, known)
            }
        });
        let expires = one_in(g, 2).then(|| u32::arbitrary(g));
        let retry_after = one_in(g, 3).then(|| u32::arbitrary(g));
        let mut params = generic_params(g, &["reason", "expires", "retry-after"], true);
        if let Some(reason) = &reason {
            let name = random_case(g, "reason");
            insert_anywhere(g, &mut params, (name, Some(reason.clone())));
        }
        if let Some(expires) = expires {
            let param = (random_case(g, "expires"), Some(delta_seconds(g, expires)));
            insert_anywhere(g, &mut params, param);
        }
        if let Some(retry_after) = retry_after {
            let param = (random_case(g, "retry-after"), Some(delta_seconds(g, retry_after)));
            insert_anywhere(g, &mut params, param);
        }
        let mut text = format!("{}{state}", lws(g));
        push_params(g, &mut text, &params);
        text.push_str(lws(g));
        SubscriptionStateSpec {
            state,
            reason,
            expires,
            retry_after,
            params,
            text,
        }
    }
}

/// The reason `text` names, as a value to build with.
fn event_reason(text: &str) -> EventReason<'_> {
    match text.to_ascii_lowercase().as_str() {
        "deactivated" => EventReason::Deactivated,
        "probation" => EventReason::Probation,
        "rejected" => EventReason::Rejected,
        "timeout" => EventReason::Timeout,
        "giveup" => EventReason::Giveup,
        "noresource" => EventReason::NoResource,
        "invariant" => EventReason::Invariant,
        _ => EventReason::Other(text),
    }
}

fn prop_subscription_state_reads_back_and_round_trips(spec: SubscriptionStateSpec) -> TestResult {
    let state = match SubscriptionState::parse(&spec.text) {
        Ok(state) => state,
        Err(e) => return TestResult::error(format!("{:?}: {e}", spec.text)),
    };
    let read_back = state.state().as_str().eq_ignore_ascii_case(&spec.state)
        && state.reason().map(|r| r.as_str().to_ascii_lowercase())
            == spec.reason.as_ref().map(|r| r.to_ascii_lowercase())
        && state.reason() == spec.reason.as_deref().map(event_reason)
        && state.expires() == spec.expires
        && state.retry_after() == spec.retry_after
        && params_of(state.params()) == spec.params;
    if !read_back {
        return TestResult::error(format!("{:?} reads as {state:?}", spec.text));
    }
    let again = SubscriptionState::parse(&state.to_string());
    if again.as_ref() != Ok(&state) {
        return TestResult::error(format!("{state:?} displays to {again:?}"));
    }
    // What the constructors build parses back equal and reads back.
    let built = match state.state() {
        Substate::Active => SubscriptionState::active(spec.expires.unwrap_or(0)),
        Substate::Pending => SubscriptionState::pending(spec.expires.unwrap_or(0)),
        _ => {
            SubscriptionState::terminated(spec.reason.as_deref().map(event_reason), spec.retry_after).unwrap()
        }
    };
    let reparsed = SubscriptionState::parse(&built.to_string());
    let built_reads_back = match built.state() {
        Substate::Terminated => {
            built.reason() == state.reason()
                && built.retry_after() == spec.retry_after
                && built.expires().is_none()
        }
        _ => built.expires() == Some(spec.expires.unwrap_or(0)) && built.reason().is_none(),
    };
    if reparsed.as_ref() != Ok(&built) || !built_reads_back {
        return TestResult::error(format!("built {built:?}, parsed back {reparsed:?}"));
    }
    TestResult::passed()
}

#[test]
fn subscription_states_read_back_and_display_to_what_parses_back() {
    qc(3000).quickcheck(
        prop_subscription_state_reads_back_and_round_trips as fn(SubscriptionStateSpec) -> TestResult,
    );
}

/// A valid Replaces value, what it holds, and a SIP URI to embed it in.
#[derive(Debug, Clone)]
struct ReplacesSpec {
    call_id: String,
    to_tag: String,
    from_tag: String,
    early_only: bool,
    /// The parameters other than the tags and `early-only`, in order.
    others: Vec<Param>,
    text: String,
    target: String,
}

impl Arbitrary for ReplacesSpec {
    fn arbitrary(g: &mut Gen) -> Self {
        let call_id = call_id(g);
        let (to_tag, from_tag) = (token(g, 10), token(g, 10));
        let early_only = one_in(g, 3);
        let others = generic_params(g, &["to-tag", "from-tag", "early-only"], true);
        let mut params = others.clone();
        let to = (random_case(g, "to-tag"), Some(to_tag.clone()));
        insert_anywhere(g, &mut params, to);
        let from = (random_case(g, "from-tag"), Some(from_tag.clone()));
        insert_anywhere(g, &mut params, from);
        if early_only {
            let flag = (random_case(g, "early-only"), None);
            insert_anywhere(g, &mut params, flag);
        }
        let mut text = format!("{}{call_id}", lws(g));
        push_params(g, &mut text, &params);
        text.push_str(lws(g));
        ReplacesSpec {
            call_id,
            to_tag,
            from_tag,
            early_only,
            others,
            text,
            target: sip_uri(g, true),
        }
    }
}

fn prop_replaces_reads_back_and_round_trips(spec: ReplacesSpec) -> TestResult {
    let replaces = match Replaces::parse(&spec.text) {
        Ok(replaces) => replaces,
        Err(e) => return TestResult::error(format!("{:?}: {e}", spec.text)),
    };
    let others: Vec<Param> = params_of(replaces.params())
        .into_iter()
        .filter(|(n, _)| {
            !["to-tag", "from-tag", "early-only"]
                .iter()
                .any(|k| n.eq_ignore_ascii_case(k))
        })
        .collect();
    let read_back = replaces.call_id() == spec.call_id
        && replaces.to_tag() == spec.to_tag
        && replaces.from_tag() == spec.from_tag
        && replaces.early_only() == spec.early_only
        && others == spec.others;
    if !read_back {
        return TestResult::error(format!("{:?} reads as {replaces:?}", spec.text));
    }
    // Displayed in the canonical form, which parses back equal.
    let mut canonical = format!(
        "{};to-tag={};from-tag={}",
        spec.call_id, spec.to_tag, spec.from_tag
    );
    if spec.early_only {
        canonical.push_str(";early-only");
    }
    for (name, value) in &spec.others {
        let _ = write!(canonical, ";{name}");
        if let Some(value) = value {
            let _ = write!(canonical, "={value}");
        }
    }
    let again = Replaces::parse(&replaces.to_string());
    if replaces.to_string() != canonical || again.as_ref() != Ok(&replaces) {
        return TestResult::error(format!("{replaces:?} displays to {again:?}"));
    }
    if spec.others.is_empty() {
        let built = Replaces::new(&spec.call_id, &spec.to_tag, &spec.from_tag, spec.early_only);
        if built.as_ref() != Ok(&replaces) || built.as_ref().map(|b| b.as_str()) != Ok(canonical.as_str()) {
            return TestResult::error(format!("built {built:?}, parsed {replaces:?}"));
        }
    }
    // Escaped into a Refer-To URI (RFC 3891 §7) and read back out, also through a header.
    let target = Uri::parse(&spec.target).unwrap();
    let refer_to = match ReferTo::with_replaces(&target, &replaces) {
        Ok(refer_to) => refer_to,
        Err(e) => return TestResult::error(format!("{target:?} with {replaces:?}: {e}")),
    };
    let mut h = Headers::new();
    h.push(HeaderName::ReferTo, refer_to.to_string());
    let from_header = h.refer_to().and_then(Result::ok);
    let target_headers = target.header_fields().count();
    let survived = refer_to.embedded_replaces() == Some(Ok(replaces.clone()))
        && from_header.as_ref() == Some(&refer_to)
        && from_header.and_then(|r| r.embedded_replaces()) == Some(Ok(replaces.clone()))
        && refer_to.embedded_headers().filter(Result::is_ok).count() == target_headers
        && refer_to.uri().params() == target.params()
        && refer_to.uri().host_str() == target.host_str();
    if !survived {
        return TestResult::error(format!("{replaces:?} embedded in {target:?} as {refer_to:?}"));
    }
    TestResult::passed()
}

#[test]
fn replaces_values_read_back_and_survive_embedding_in_refer_to() {
    qc(3000).quickcheck(prop_replaces_reads_back_and_round_trips as fn(ReplacesSpec) -> TestResult);
}

/// A valid Refer-To or Referred-By value: a name-addr or addr-spec with parameters, among
/// them sometimes a Referred-By `cid`.
#[derive(Debug, Clone)]
struct AddressSpec {
    params: Vec<Param>,
    cid: Option<String>,
    text: String,
}

impl Arbitrary for AddressSpec {
    fn arbitrary(g: &mut Gen) -> Self {
        let mut params = generic_params(g, &["cid"], false);
        let cid = one_in(g, 3).then(|| {
            let local = event_type(g);
            let domain = if one_in(g, 2) { event_type(g) } else { host(g) };
            format!("{local}@{domain}")
        });
        if let Some(cid) = &cid {
            let name = random_case(g, "cid");
            insert_anywhere(g, &mut params, (name, Some(format!("\"{cid}\""))));
        }
        let mut written = String::new();
        push_params(g, &mut written, &params);
        let text = name_addr(g, &written);
        AddressSpec { params, cid, text }
    }
}

fn prop_refer_addresses_read_back_and_round_trip(spec: AddressSpec) -> TestResult {
    let address = NameAddr::parse(&spec.text).unwrap();
    let refer_to = ReferTo::parse(&spec.text);
    let referred_by = ReferredBy::parse(&spec.text);
    let (Ok(refer_to), Ok(referred_by)) = (refer_to, referred_by) else {
        return TestResult::error(format!("{:?} does not parse", spec.text));
    };
    let read_back = refer_to.address() == &address
        && referred_by.address() == &address
        && refer_to.uri() == address.uri()
        && params_of(refer_to.params()) == spec.params
        && params_of(referred_by.params()) == spec.params
        && referred_by.cid() == spec.cid.as_deref();
    if !read_back {
        return TestResult::error(format!("{:?} reads as {refer_to:?}, {referred_by:?}", spec.text));
    }
    let again = (
        ReferTo::parse(&refer_to.to_string()),
        ReferredBy::parse(&referred_by.to_string()),
    );
    if again.0.as_ref() != Ok(&refer_to) || again.1.as_ref() != Ok(&referred_by) {
        return TestResult::error(format!("{:?} displays to {again:?}", spec.text));
    }
    TestResult::passed()
}

#[test]
fn refer_to_and_referred_by_read_back_and_display_to_what_parses_back() {
    qc(3000).quickcheck(prop_refer_addresses_read_back_and_round_trip as fn(AddressSpec) -> TestResult);
}

/// Reads everything the subscription and transfer getters offer; panics only on a broken
/// invariant: whatever parses displays to text that parses back equal, and a Replaces read
/// out of a Refer-To survives being embedded again.
fn exercise_transfer_headers(h: &Headers, touch: &mut impl FnMut(&str)) {
    if let Some(Ok(event)) = h.event() {
        touch(event.package());
        event.templates().for_each(&mut *touch);
        touch(event.id().unwrap_or(""));
        assert!(event.matches(&event));
        assert_eq!(Event::parse(&event.to_string()).as_ref(), Ok(&event));
    }
    for event_type in h.allow_events().flatten() {
        touch(event_type.package());
        event_type.templates().for_each(&mut *touch);
    }
    if let Some(Ok(state)) = h.subscription_state() {
        touch(state.state().as_str());
        touch(state.reason().map_or("", |r| r.as_str()));
        touch(&format!("{:?}{:?}", state.expires(), state.retry_after()));
        assert_eq!(SubscriptionState::parse(&state.to_string()).as_ref(), Ok(&state));
    }
    if let Some(Ok(replaces)) = h.replaces() {
        exercise_replaces(&replaces, touch);
    }
    if let Some(Ok(refer_to)) = h.refer_to() {
        exercise_refer_to(&refer_to, touch);
    }
    if let Some(Ok(referred_by)) = h.referred_by() {
        touch(referred_by.cid().unwrap_or(""));
        exercise_uri(referred_by.uri(), touch);
        assert_eq!(ReferredBy::parse(referred_by.as_str()).as_ref(), Ok(&referred_by));
    }
    touch(&format!("{:?}", h.refer_sub()));
}

fn exercise_replaces(replaces: &Replaces, touch: &mut impl FnMut(&str)) {
    touch(replaces.call_id());
    touch(replaces.to_tag());
    touch(replaces.from_tag());
    touch(&format!("{}", replaces.early_only()));
    assert_eq!(Replaces::parse(&replaces.to_string()).as_ref(), Ok(replaces));
    let target = Uri::parse("sip:transfer-target@example.com").unwrap();
    let embedded = ReferTo::with_replaces(&target, replaces).unwrap();
    assert_eq!(embedded.embedded_replaces(), Some(Ok(replaces.clone())));
}

fn exercise_refer_to(refer_to: &ReferTo, touch: &mut impl FnMut(&str)) {
    exercise_uri(refer_to.uri(), touch);
    for header in refer_to.embedded_headers().flatten() {
        touch(&header.0);
        touch(&header.1);
    }
    assert_eq!(ReferTo::parse(refer_to.as_str()).as_ref(), Ok(refer_to));
    if let Some(Ok(replaces)) = refer_to.embedded_replaces() {
        exercise_replaces(&replaces, touch);
        // Embedding it again in the same target keeps the target's other headers (all but
        // empty fields) as they are.
        let again = ReferTo::with_replaces(refer_to.uri(), &replaces).unwrap();
        assert_eq!(again.embedded_replaces(), Some(Ok(replaces)));
        let others = |r: &ReferTo| -> Vec<(String, Option<String>)> {
            r.uri()
                .header_fields()
                .filter(|(n, _)| !n.is_empty() && !percent_decode(n).eq_ignore_ascii_case(b"Replaces"))
                .map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
                .collect()
        };
        assert_eq!(others(&again), others(refer_to));
    }
}

/// Every parser of these headers, and every getter, fed `text` as it is; whatever parses is
/// used as [`exercise_transfer_headers`] does.
fn hammer_transfer_parsers(text: &str) -> usize {
    let mut n = 0usize;
    let mut touch = |s: &str| n = n.wrapping_add(s.len());
    if let Ok(event_type) = EventType::parse(text) {
        touch(event_type.package());
        event_type.templates().for_each(&mut touch);
    }
    let _ = Event::parse(text);
    let _ = SubscriptionState::parse(text);
    if let Ok(replaces) = Replaces::parse(text) {
        exercise_replaces(&replaces, &mut touch);
    }
    if let Ok(refer_to) = ReferTo::parse(text) {
        exercise_refer_to(&refer_to, &mut touch);
    }
    if let Ok(referred_by) = ReferredBy::parse(text) {
        touch(referred_by.cid().unwrap_or(""));
    }
    let names = [
        HeaderName::Event,
        HeaderName::AllowEvents,
        HeaderName::SubscriptionState,
        HeaderName::Replaces,
        HeaderName::ReferTo,
        HeaderName::ReferredBy,
        HeaderName::ReferSub,
    ];
    let mut once = Headers::new();
    let mut twice = Headers::new();
    for name in names {
        once.push(name, text);
        twice.push(name, text);
        twice.push(name, text);
    }
    exercise_transfer_headers(&once, &mut touch);
    exercise_transfer_headers(&twice, &mut touch);
    n
}

fn prop_transfer_parsers_never_panic_on_arbitrary_text(text: String) -> bool {
    hammer_transfer_parsers(&text);
    true
}

#[test]
fn transfer_header_parsers_never_panic_on_arbitrary_text() {
    qc(5000).quickcheck(prop_transfer_parsers_never_panic_on_arbitrary_text as fn(String) -> bool);
}

/// Header values glued from SIP fragments, aimed at these parsers.
#[derive(Debug, Clone)]
struct TransferNoise(String);

impl Arbitrary for TransferNoise {
    fn arbitrary(g: &mut Gen) -> Self {
        let mut out = String::new();
        if one_in(g, 3) {
            out.push_str(&transfer_header(g).1);
        }
        for _ in 0..between(g, 0, 12) {
            match below(g, 4) {
                0 => out.push_str(&event_type(g)),
                1 => out.push_str(&token(g, 6)),
                _ => out.push_str(pick(g, VALUE_PIECES)),
            }
        }
        TransferNoise(out)
    }
}

fn prop_transfer_parsers_never_panic_on_noise(noise: TransferNoise) -> bool {
    hammer_transfer_parsers(&noise.0);
    true
}

#[test]
fn transfer_header_parsers_never_panic_on_sip_shaped_noise() {
    qc(5000).quickcheck(prop_transfer_parsers_never_panic_on_noise as fn(TransferNoise) -> bool);
}

// ------------------------------------------------------------------------------------------
// Known bugs found by the properties above, as minimal cases (ignored until fixed)
// ------------------------------------------------------------------------------------------

#[test]

fn stream_decoder_delivers_a_message_after_a_bare_lf() {
    let mut decoder = StreamDecoder::new();
    decoder.push(b"\nOPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n");
    // The documented loop "call next_item until Ok(None)" stops here, message left behind.
    assert!(matches!(decoder.next_item(), Ok(Some(StreamItem::Message(_)))));
}

fn minimal_builder() -> RequestBuilder {
    RequestBuilder::new(Method::Options, Uri::parse("sip:a@b").unwrap())
        .from("<sip:a@b>;tag=1")
        .to("<sip:b@c>")
        .call_id("x")
        .cseq(1)
}

#[test]

fn request_builder_refuses_values_that_do_not_read_back() {
    let via = "SIP/2.0/UDP h;branch=z9hG4bK1";
    let cases = [
        // A CRLF inside a quoted display name splits the header line: no longer parses.
        minimal_builder().via(via).from("\"A\r\nB\" <sip:a@b>;tag=1"),
        // A trailing CRLF ends the head early: the rest of the headers become the body.
        minimal_builder().via(via).to("<sip:b@c>\r\n"),
        minimal_builder().via("SIP/2.0/UDP h;branch=z9hG4bK1\r\n"),
        minimal_builder().via(via).contact("<sip:c@d>\r\n"),
        // Outer white space is trimmed on reading, so the value differs after a round trip.
        minimal_builder().via(via).to(" <sip:b@c>"),
    ];
    for builder in cases {
        if let Ok(request) = builder.build() {
            let message = Message::Request(request);
            let bytes = message.to_bytes();
            let parsed = Message::parse(bytes.clone());
            assert_eq!(parsed.as_ref().ok(), Some(&message), "{}", show(&bytes));
        }
    }
}

#[test]

fn request_builder_refuses_a_via_or_contact_that_reads_as_two_values() {
    let built = minimal_builder()
        .via("SIP/2.0/UDP h;branch=z9hG4bK1;x=a,b")
        .build();
    if let Ok(request) = built {
        assert!(request.headers.vias().all(|v| v.is_ok()), "{:?}", request.headers);
    }
    let built = minimal_builder()
        .via("SIP/2.0/UDP h;branch=z9hG4bK1")
        .contact("sip:c@d;x=1,2")
        .build();
    if let Ok(request) = built {
        assert!(
            request.headers.contacts().all(|c| c.is_ok()),
            "{:?}",
            request.headers
        );
    }
}
