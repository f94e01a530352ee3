//! `Message::parse`: the start line and header section (RFC 3261 §7), zero-copy.
//!
//! The head is validated as UTF-8 once and kept as one shared buffer; the Request-URI,
//! reason phrase and every header point into it. Header values are not interpreted here
//! (typed views parse them on demand), except Content-Length, which framing needs.

use bytes::Bytes;
use bytestring::ByteString;
use memchr::memchr;

use super::error::{ParseError, ParseErrorKind};
use super::grammar::{is_token, is_wsp, parse_u32};
use super::headers::Headers;
use super::method::Method;
use super::model::{Message, Request, Response};
use super::name::HeaderName;
use super::span::Span;
use super::status::{StatusCode, Version};
use super::uri::Uri;

/// Limits applied while parsing; exceeding one is a [`ParseError`], never unbounded memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest message accepted, head and body, in bytes.
    pub max_message_size: usize,
    /// Largest number of header lines accepted.
    pub max_headers: usize,
}

impl Default for ParseLimits {
    /// 64 KiB messages (the largest UDP datagram) and 256 header lines.
    fn default() -> Self {
        ParseLimits {
            max_message_size: 65_535,
            max_headers: 256,
        }
    }
}

/// How the message's end is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// One datagram: the body is Content-Length octets (extra octets ignored) or the rest.
    Datagram,
    /// Exactly one message cut out of a stream by the decoder: the body is the rest.
    Stream,
}

/// Parses one message from `bytes`.
pub(crate) fn parse_message(
    bytes: Bytes,
    framing: Framing,
    limits: &ParseLimits,
) -> Result<Message, ParseError> {
    if bytes.len() > limits.max_message_size {
        return Err(ParseError::new(ParseErrorKind::TooLarge));
    }
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    let start = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or_else(|| ParseError::new(ParseErrorKind::Empty))?;
    let (head_end, body_start) = find_head_end(&bytes, start);
    let head = ByteString::try_from(bytes.slice(start..head_end)).map_err(|_| {
        let valid = bytes
            .get(start..head_end)
            .map_or(0, |h| match std::str::from_utf8(h) {
                Ok(_) => 0,
                Err(e) => e.valid_up_to(),
            });
        ParseError::at(ParseErrorKind::Utf8, start + valid)
    })?;
    let parsed = parse_head(&head, start, limits)?;
    let available = bytes.len().saturating_sub(body_start);
    let body = match (parsed.content_length, framing) {
        (Some(length), _) => {
            let length = length as usize;
            if length > available || (framing == Framing::Stream && length != available) {
                return Err(ParseError::at(ParseErrorKind::Truncated, body_start).in_header("Content-Length"));
            }
            bytes.slice(body_start..body_start + length)
        }
        // RFC 3261 §18.3: without Content-Length, a datagram's body is the rest of it.
        (None, _) => bytes.slice(body_start.min(bytes.len())..),
    };
    Ok(parsed.into_message(head, body))
}

/// Finds where the head ends: returns (end of the head text, start of the body). The head
/// text keeps the last header's line break. Bare LF line ends are tolerated. A datagram
/// without the empty line is taken as all head (RFC 4475's archive has such files).
fn find_head_end(bytes: &[u8], start: usize) -> (usize, usize) {
    let mut line_start = start;
    while let Some(rel) = bytes.get(line_start..).and_then(|rest| memchr(b'\n', rest)) {
        let newline = line_start + rel;
        let line_len = newline - line_start;
        let is_empty = line_len == 0 || (line_len == 1 && bytes.get(line_start) == Some(&b'\r'));
        if is_empty && line_start > start {
            return (line_start, newline + 1);
        }
        line_start = newline + 1;
    }
    (bytes.len(), bytes.len())
}

/// Where the end of the head is in a stream buffer, if it has arrived: the index just past
/// the empty line. `from` is where a previous search stopped, so one-byte chunks cost O(n).
pub(crate) fn find_stream_head_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(rel) = bytes.get(at..).and_then(|rest| memchr(b'\n', rest)) {
        let newline = at + rel;
        // An empty line is "\n\n" or "\n\r\n".
        if newline >= 1 && bytes.get(newline - 1) == Some(&b'\n') {
            return Some(newline + 1);
        }
        if newline >= 2 && bytes.get(newline - 1) == Some(&b'\r') && bytes.get(newline - 2) == Some(&b'\n') {
            return Some(newline + 1);
        }
        at = newline + 1;
    }
    None
}

/// A parsed head, before the body is attached.
struct ParsedHead {
    start_line: StartLine,
    headers: Headers,
    content_length: Option<u32>,
}

enum StartLine {
    Request {
        method: Method,
        uri: Uri,
        version: Version,
    },
    Response {
        version: Version,
        status: StatusCode,
        reason: Span,
    },
}

impl ParsedHead {
    fn into_message(self, head: ByteString, body: Bytes) -> Message {
        match self.start_line {
            StartLine::Request { method, uri, version } => Message::Request(Request {
                method,
                uri,
                version,
                headers: self.headers,
                body,
            }),
            StartLine::Response {
                version,
                status,
                reason,
            } => Message::Response(Response {
                version,
                status,
                reason: head.slice_ref(reason.get(&head)),
                headers: self.headers,
                body,
            }),
        }
    }
}

/// Splits `text` into lines at `\n`, dropping a `\r` before it.
fn line_at(text: &str, at: usize) -> (&str, usize) {
    let rest = text.get(at..).unwrap_or("");
    let (line, next) = match memchr(b'\n', rest.as_bytes()) {
        Some(i) => (rest.get(..i).unwrap_or(""), at + i + 1),
        None => (rest, text.len()),
    };
    (line.strip_suffix('\r').unwrap_or(line), next)
}

fn parse_head(head: &ByteString, base: usize, limits: &ParseLimits) -> Result<ParsedHead, ParseError> {
    let text: &str = head;
    let (first, mut at) = line_at(text, 0);
    let start_line = parse_start_line(head, first).map_err(|e| e.or_at(base))?;
    let mut headers = Headers::with_source(head.clone(), 24);
    let mut content_length = None;
    while at < text.len() {
        let line_start = at;
        let (line, next) = line_at(text, at);
        at = next;
        if line.is_empty() {
            break;
        }
        if headers.len() >= limits.max_headers {
            return Err(ParseError::at(ParseErrorKind::TooManyHeaders, base + line_start));
        }
        // RFC 3261 §7.3.1: a line starting with white space continues the header before it.
        let mut line_end = line_start + line.len();
        let mut folded = false;
        while text.as_bytes().get(at).copied().is_some_and(is_wsp) {
            let (continuation, next) = line_at(text, at);
            line_end = at + continuation.len();
            at = next;
            folded = true;
        }
        let raw_line = Span::new(line_start, line_end);
        let whole = raw_line.get(text);
        let Some(colon) = memchr(b':', whole.as_bytes()) else {
            let err = ParseError::at(ParseErrorKind::MissingColon, base + line_start);
            return Err(match whole.split_whitespace().next() {
                Some(word) if is_token(word) => err.in_header(word),
                _ => err,
            });
        };
        let raw_name = whole.get(..colon).unwrap_or("").trim_end_matches([' ', '\t']);
        if !is_token(raw_name) {
            return Err(ParseError::at(ParseErrorKind::HeaderName, base + line_start));
        }
        let value_start = line_start + colon + 1;
        let value_text = text.get(value_start..line_end).unwrap_or("");
        let name = HeaderName::parse(raw_name);
        let (value, unfolded) = if folded {
            let unfolded: String = value_text.split(['\r', '\n']).collect();
            let trimmed = unfolded.trim_matches([' ', '\t']);
            (Span::default(), Some(ByteString::from(trimmed)))
        } else {
            (Span::of(text, value_text.trim_matches([' ', '\t'])), None)
        };
        if name == HeaderName::ContentLength {
            let value_str = unfolded.as_deref().unwrap_or_else(|| value.get(text));
            let length = parse_u32(value_str).ok_or_else(|| {
                ParseError::at(ParseErrorKind::ContentLength, base + line_start).in_header(raw_name)
            })?;
            if content_length.is_some_and(|previous| previous != length) {
                return Err(
                    ParseError::at(ParseErrorKind::ConflictingContentLength, base + line_start)
                        .in_header(raw_name),
                );
            }
            content_length = Some(length);
        }
        headers.push_parsed(name, Span::of(text, raw_name), value, unfolded, raw_line);
    }
    Ok(ParsedHead {
        start_line,
        headers,
        content_length,
    })
}

/// Parses a Request-Line or Status-Line. Elements are separated by exactly one SP
/// (RFC 3261 §7.1; RFC 4475 §3.1.2.9 and §3.1.2.10 reject extra or trailing SP).
fn parse_start_line(head: &ByteString, line: &str) -> Result<StartLine, ParseError> {
    let err = |kind, part: &str| ParseError::at(kind, Span::of(head, part).start as usize);
    if line.len() >= 4 && line.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/")) {
        let (version_text, rest) = line
            .split_once(' ')
            .ok_or_else(|| err(ParseErrorKind::StartLine, line))?;
        let version =
            Version::parse(version_text).ok_or_else(|| err(ParseErrorKind::Version, version_text))?;
        let (code_text, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code = (code_text.len() == 3 && code_text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| code_text.parse().ok())
            .flatten()
            .and_then(StatusCode::new)
            .ok_or_else(|| err(ParseErrorKind::StatusCode, code_text))?;
        if reason.bytes().any(|b| b < b' ' && b != b'\t' || b == 0x7f) {
            return Err(err(ParseErrorKind::ReasonPhrase, reason));
        }
        return Ok(StartLine::Response {
            version,
            status: code,
            reason: Span::of(head, reason),
        });
    }
    let mut parts = line.splitn(3, ' ');
    let (Some(method_text), Some(uri_text), Some(version_text)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(err(ParseErrorKind::StartLine, line));
    };
    let method =
        Method::parse_shared(head, method_text).ok_or_else(|| err(ParseErrorKind::Method, method_text))?;
    // More than two SPs: white space inside the Request-URI (RFC 4475 §3.1.2.8) when what
    // follows the last SP is a version, otherwise a malformed line (§3.1.2.10).
    if let Some((inner, last)) = version_text.rsplit_once(' ') {
        let kind = if Version::parse(last).is_some() && !inner.is_empty() {
            ParseErrorKind::Uri
        } else {
            ParseErrorKind::StartLine
        };
        return Err(err(kind, version_text));
    }
    let uri = Uri::parse_shared(head.slice_ref(uri_text)).map_err(|_| err(ParseErrorKind::Uri, uri_text))?;
    let version = Version::parse(version_text).ok_or_else(|| err(ParseErrorKind::Version, version_text))?;
    Ok(StartLine::Request { method, uri, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Message, ParseError> {
        Message::parse(Bytes::copy_from_slice(s.as_bytes()))
    }

    const OPTIONS: &str = "OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn datagram_octets_after_content_length_are_ignored() {
        let m = parse(OPTIONS).unwrap();
        assert_eq!(&m.body()[..], b"body");
    }

    #[test]
    fn missing_content_length_takes_the_rest_of_a_datagram() {
        let m = parse("OPTIONS sip:b@example.com SIP/2.0\r\nVia: x\r\n\r\nall of it").unwrap();
        assert_eq!(&m.body()[..], b"all of it");
    }

    #[test]
    fn content_length_beyond_the_datagram_is_truncated() {
        let e = parse("OPTIONS sip:b@e.com SIP/2.0\r\nl: 10\r\n\r\nshort").unwrap_err();
        assert_eq!(e.kind(), ParseErrorKind::Truncated);
    }

    #[test]
    fn folded_header_is_unfolded_and_kept_raw() {
        let m = parse("OPTIONS sip:b@e.com SIP/2.0\r\nSubject: one\r\n two\r\nl: 0\r\n\r\n").unwrap();
        let h = m.headers().iter().next().unwrap();
        assert_eq!(h.value, "one two");
        assert_eq!(h.raw_line, Some("Subject: one\r\n two"));
        assert_eq!(
            m.to_bytes(),
            "OPTIONS sip:b@e.com SIP/2.0\r\nSubject: one\r\n two\r\nl: 0\r\n\r\n".as_bytes()
        );
    }

    #[test]
    fn leading_crlfs_are_skipped() {
        assert!(parse("\r\n\r\nOPTIONS sip:b@e.com SIP/2.0\r\nl: 0\r\n\r\n").is_ok());
    }

    #[test]
    fn header_errors_name_the_header_and_offset() {
        let e = parse("OPTIONS sip:b@e.com SIP/2.0\r\nContent-Length: five\r\n\r\n").unwrap_err();
        assert_eq!(e.kind(), ParseErrorKind::ContentLength);
        assert_eq!(e.header(), Some("Content-Length"));
        assert_eq!(e.offset(), Some(29));
        assert_eq!(
            e.to_string(),
            "invalid Content-Length in Content-Length at byte 29"
        );
    }

    #[test]
    fn start_line_errors() {
        let kind = |s: &str| parse(s).unwrap_err().kind();
        assert_eq!(kind("INVITE  sip:a@b SIP/2.0\r\n\r\n"), ParseErrorKind::Uri);
        assert_eq!(kind("INVITE sip:a@b SIP/2.0 \r\n\r\n"), ParseErrorKind::StartLine);
        assert_eq!(kind("INVITE sip:a@b; lr SIP/2.0\r\n\r\n"), ParseErrorKind::Uri);
        assert_eq!(kind("INVITE sip:a@b\r\n\r\n"), ParseErrorKind::StartLine);
        assert_eq!(kind("SIP/2.0 4294967301 big\r\n\r\n"), ParseErrorKind::StatusCode);
        assert_eq!(kind("SIP/2.0 099 low\r\n\r\n"), ParseErrorKind::StatusCode);
        assert_eq!(kind("\r\n\r\n"), ParseErrorKind::Empty);
        assert_eq!(
            kind("I\u{1}NVITE sip:a@b SIP/2.0\r\n\r\n"),
            ParseErrorKind::Method
        );
    }

    #[test]
    fn non_utf8_head_is_rejected_with_offset() {
        let bytes = Bytes::from_static(b"OPTIONS sip:b@e.com SIP/2.0\r\nSubject: \xff\r\n\r\n");
        let e = Message::parse(bytes).unwrap_err();
        assert_eq!(e.kind(), ParseErrorKind::Utf8);
        assert_eq!(e.offset(), Some(38));
    }

    #[test]
    fn stream_head_end_is_found_incrementally() {
        let text = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n";
        assert_eq!(find_stream_head_end(text, 0), Some(text.len()));
        assert_eq!(find_stream_head_end(&text[..text.len() - 1], 0), None);
        assert_eq!(find_stream_head_end(b"A\n\nB", 0), Some(3));
    }
}
