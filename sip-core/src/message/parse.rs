//! `Message::parse`: the start line and header section (RFC 3261 §7), zero-copy.
//!
//! The head is validated as UTF-8 once and kept as one shared buffer; the Request-URI,
//! reason phrase and every header point into it. Header values are not interpreted here
//! (typed views parse them on demand), except Content-Length, which framing needs.

use bytes::{Buf, Bytes};
use bytestring::ByteString;
use memchr::memchr;

use super::error::{ParseError, ParseErrorKind};
use super::grammar::{find_byte, is_lws, is_token_char, is_wsp, position_of};
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
///
/// One pass over the head finds every line with `memchr`, splits each header into name and
/// value spans and reads Content-Length; then the head is checked to be UTF-8 once, and
/// the start line is interpreted.
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
    let data = bytes.get(start..).unwrap_or_default();
    let mut headers = Headers::with_source(ByteString::new(), 24);
    let scan = scan_head(data, start, limits, &mut headers).map_err(|header_error| {
        // Report a broken start line before anything a header says (RFC 4475 test.dat).
        let first_line = data.split(|&b| b == b'\n').next().unwrap_or_default();
        match ByteString::try_from(Bytes::copy_from_slice(
            first_line.strip_suffix(b"\r").unwrap_or(first_line),
        )) {
            Ok(line) => match parse_start_line(&line, &line) {
                Err(start_line_error) => start_line_error.or_at(start),
                Ok(_) => header_error,
            },
            Err(_) => header_error,
        }
    })?;
    let head = ByteString::try_from(bytes.slice(start..start + scan.head_len)).map_err(|_| {
        let valid = data
            .get(..scan.head_len)
            .map_or(0, |h| match std::str::from_utf8(h) {
                Ok(_) => 0,
                Err(e) => e.valid_up_to(),
            });
        ParseError::at(ParseErrorKind::Utf8, start + valid)
    })?;
    let first_line = head.get(..scan.first_line_end).unwrap_or("");
    let start_line = parse_start_line(&head, first_line).map_err(|e| e.or_at(start))?;
    let body_start = start + scan.body_start;
    let available = bytes.len().saturating_sub(body_start);
    // The body is the received buffer itself, moved on past the head: no reference count
    // to take here and drop at the end, as a slice of it would cost.
    let mut body = bytes;
    body.advance(body_start.min(body.len()));
    // RFC 3261 §18.3: without Content-Length, a datagram's body is the rest of it; with it,
    // extra octets after the body are ignored.
    if let Some(length) = scan.content_length {
        let length = length as usize;
        if length > available || (framing == Framing::Stream && length != available) {
            return Err(ParseError::at(ParseErrorKind::Truncated, body_start).in_header("Content-Length"));
        }
        body.truncate(length);
    }
    // The headers take the head itself, not a clone: one reference count less to take and
    // drop per message.
    Ok(match start_line {
        StartLine::Request { method, uri, version } => {
            headers.finish_parsed(head, scan.folded);
            Message::Request(Request {
                method,
                uri,
                version,
                headers,
                body,
            })
        }
        StartLine::Response {
            version,
            status,
            reason,
        } => {
            let reason = head.slice_ref(reason.get(&head));
            headers.finish_parsed(head, scan.folded);
            Message::Response(Response {
                version,
                status,
                reason,
                headers,
                body,
            })
        }
    })
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

/// What one pass over the head found (offsets relative to the start line).
struct HeadScan {
    /// End of the start line, without its line break.
    first_line_end: usize,
    /// End of the head text (the last header's line break included).
    head_len: usize,
    /// Where the body starts (after the empty line).
    body_start: usize,
    content_length: Option<u32>,
    /// True when some header was folded over several lines.
    folded: bool,
}

/// `end` with a CR before it dropped: lines end in CRLF, bare LF is tolerated.
#[inline]
fn without_cr(data: &[u8], start: usize, end: usize) -> usize {
    if end > start && data.get(end - 1) == Some(&b'\r') {
        end - 1
    } else {
        end
    }
}

/// Scans the start line and every header line of `data`, recording each header's spans into
/// `headers`. A datagram without the empty line is taken as all head (RFC 4475's archive
/// has such files). `base` is the offset of `data` in the message, for error positions.
fn scan_head(
    data: &[u8],
    base: usize,
    limits: &ParseLimits,
    headers: &mut Headers,
) -> Result<HeadScan, ParseError> {
    // Every x86-64 CPU has SSE2: its line search skips the run-time CPU dispatch that
    // `memchr_iter` goes through for each of the 20–130 byte lines of a head.
    #[cfg(target_arch = "x86_64")]
    if let Some(finder) = memchr::arch::x86_64::sse2::memchr::One::new(b'\n') {
        return scan_lines(data, finder.iter(data), base, limits, headers);
    }
    scan_lines(data, memchr::memchr_iter(b'\n', data), base, limits, headers)
}

/// [`scan_head`] over the line ends `newlines` yields.
fn scan_lines(
    data: &[u8],
    mut newlines: impl Iterator<Item = usize>,
    base: usize,
    limits: &ParseLimits,
    headers: &mut Headers,
) -> Result<HeadScan, ParseError> {
    let len = data.len();
    let first_newline = newlines.next().unwrap_or(len);
    let first_line_end = without_cr(data, 0, first_newline);
    let mut at = first_newline + 1;
    let mut next_newline = newlines.next();
    let mut content_length = None;
    let mut folded_any = false;
    loop {
        if at >= len {
            return Ok(HeadScan {
                first_line_end,
                head_len: len,
                body_start: len,
                content_length,
                folded: folded_any,
            });
        }
        let line_start = at;
        let mut newline = next_newline.unwrap_or(len);
        let mut line_end = without_cr(data, line_start, newline);
        if line_end == line_start {
            return Ok(HeadScan {
                first_line_end,
                head_len: line_start,
                body_start: (newline + 1).min(len),
                content_length,
                folded: folded_any,
            });
        }
        next_newline = newlines.next();
        // RFC 3261 §7.3.1: a line starting with white space continues the header before it.
        let mut folded = false;
        while data.get(newline + 1).copied().is_some_and(is_wsp) {
            let continuation_end = next_newline.unwrap_or(len);
            line_end = without_cr(data, newline + 1, continuation_end);
            newline = continuation_end;
            next_newline = newlines.next();
            folded = true;
        }
        at = newline + 1;
        if headers.len() >= limits.max_headers {
            return Err(ParseError::at(ParseErrorKind::TooManyHeaders, base + line_start));
        }
        // header-name HCOLON: a token, optional white space, a colon. Known names are read a
        // word at a time; anything else, byte by byte.
        let (name, name_end, i) = match HeaderName::read_known(data, line_start, line_end) {
            Some((name, name_len, colon)) => (name, line_start + name_len, line_start + colon),
            None => read_name(data, base, line_start, line_end)?,
        };
        let raw_name = data.get(line_start..name_end).unwrap_or_default();
        let (value_start, value_end) = trim_lws_bytes(data, i + 1, line_end);
        if name == HeaderName::ContentLength {
            let value = data.get(value_start..value_end).unwrap_or_default();
            let length = parse_length(value, folded).ok_or_else(|| {
                let err = ParseError::at(ParseErrorKind::ContentLength, base + line_start);
                err.in_header(std::str::from_utf8(raw_name).unwrap_or("Content-Length"))
            })?;
            if content_length.is_some_and(|previous| previous != length) {
                return Err(
                    ParseError::at(ParseErrorKind::ConflictingContentLength, base + line_start)
                        .in_header(std::str::from_utf8(raw_name).unwrap_or("Content-Length")),
                );
            }
            content_length = Some(length);
        }
        folded_any |= folded;
        headers.push_parsed(
            name,
            Span::new(line_start, name_end),
            Span::new(value_start, value_end),
            Span::new(line_start, line_end),
        );
    }
}

/// Reads the header name at the start of the line `data[line_start..line_end]` byte by
/// byte: the name, where it ends, and where the colon after it is.
fn read_name(
    data: &[u8],
    base: usize,
    line_start: usize,
    line_end: usize,
) -> Result<(HeaderName, usize, usize), ParseError> {
    let line = data.get(line_start..line_end).unwrap_or_default();
    let name_len = position_of(line, |b| !is_token_char(b));
    let name_end = line_start + name_len;
    let colon = name_end
        + line
            .get(name_len..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&b| is_wsp(b))
            .count();
    if name_end == line_start || data.get(colon) != Some(&b':') {
        let kind = if line.contains(&b':') {
            ParseErrorKind::HeaderName
        } else {
            ParseErrorKind::MissingColon
        };
        let err = ParseError::at(kind, base + line_start);
        let name = data
            .get(line_start..name_end)
            .and_then(|n| std::str::from_utf8(n).ok());
        return Err(match name {
            Some(name) if !name.is_empty() && kind == ParseErrorKind::MissingColon => err.in_header(name),
            _ => err,
        });
    }
    Ok((HeaderName::from_head(data, line_start, name_len), name_end, colon))
}

/// Trims SP, HTAB, CR and LF from both ends of `data[start..end]`.
#[inline]
fn trim_lws_bytes(data: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && data.get(start).copied().is_some_and(is_lws) {
        start += 1;
    }
    while end > start && data.get(end - 1).copied().is_some_and(is_lws) {
        end -= 1;
    }
    (start, end)
}

/// Content-Length digits; a folded value may hold line breaks and white space inside.
fn parse_length(value: &[u8], folded: bool) -> Option<u32> {
    let digits: Vec<u8>;
    let value = if folded {
        digits = value.iter().copied().filter(|&b| !is_lws(b)).collect();
        &digits[..]
    } else {
        value
    };
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u32, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
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
    let bytes = line.as_bytes();
    let Some(first_space) = bytes.iter().position(|&b| b == b' ') else {
        return Err(err(ParseErrorKind::StartLine, line));
    };
    let after_method = bytes.get(first_space + 1..).unwrap_or_default();
    // The Request-URI is the longest part of the line: a SIMD search beats a byte loop.
    let Some(second_space) = find_byte(b' ', after_method) else {
        return Err(err(ParseErrorKind::StartLine, line));
    };
    let method_text = line.get(..first_space).unwrap_or("");
    let uri_text = line
        .get(first_space + 1..first_space + 1 + second_space)
        .unwrap_or("");
    let version_text = line.get(first_space + 2 + second_space..).unwrap_or("");
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
    fn known_names_read_by_words_as_byte_by_byte() {
        let lines: &[&[u8]] = &[
            b"Via: SIP/2.0/UDP a",
            b"v: SIP/2.0/UDP a",
            b"VIA  \t: x",
            b"Max-Forwards: 70",
            b"Content-Length: 0",
            b"content-LENGTH:0",
            b"Request-Disposition: proxy",
            b"Proxy-Authorization: Digest x",
            b"X-Custom: 1",
            b"Max\rForwards: 70",
            b"Via\0: x",
            b"Vi a: x",
            b"Via;x: y",
            b"Via",
            b"Via x: y",
            b": x",
            b"  : x",
            b"Call-ID\t:x",
            b"A-Header-Name-Too-Long-To-Be-Read-By-Words: x",
        ];
        let mut known = 0;
        for line in lines {
            let mut head = line.to_vec();
            head.extend_from_slice(b"\r\nNext: with a colon\r\n\r\n");
            let by_bytes = read_name(&head, 0, 0, line.len()).ok();
            if let Some(by_words) = HeaderName::read_known(&head, 0, line.len()) {
                known += 1;
                let (name, name_len, colon) = by_words;
                assert_eq!(Some((name, name_len, colon)), by_bytes, "{line:?}");
                assert_ne!(name, HeaderName::Other);
            }
        }
        assert_eq!(known, 9);
        // A colon past the end of the line is not the line's.
        assert_eq!(
            HeaderName::read_known(b"Via\r\nTo: x\r\n\r\n................", 0, 3),
            None
        );
    }

    #[test]
    fn mutated_names_read_by_words_as_byte_by_byte() {
        // Known spellings in random case with a byte or two replaced, inserted or dropped,
        // from an alphabet of the bytes that matter, then any white space and a colon.
        let spellings: Vec<&str> = crate::message::name::KNOWN
            .iter()
            .flat_map(|n| [Some(n.as_str()), n.compact()])
            .flatten()
            .collect();
        let alphabet = b"aAzZ-_.:;\t \r\n\0\x7f\xc3!";
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        let mut read_by_words = 0;
        for round in 0..20_000 {
            let spelling = spellings[round % spellings.len()];
            let mut name: Vec<u8> = spelling
                .bytes()
                .map(|b| if next(2) == 0 { b.to_ascii_uppercase() } else { b })
                .collect();
            for _ in 0..next(3) {
                let at = next(name.len() + 1);
                let byte = alphabet[next(alphabet.len())];
                match next(3) {
                    0 if at < name.len() => name[at] = byte,
                    1 if at < name.len() => {
                        name.remove(at);
                    }
                    _ => name.insert(at, byte),
                }
            }
            let mut line = name;
            line.extend_from_slice(&b"  \t"[..next(4)]);
            line.extend_from_slice(b": value");
            let line_end = line.len();
            line.extend_from_slice(b"\r\nNext: x\r\n\r\n");
            if let Some(by_words) = HeaderName::read_known(&line, 0, line_end) {
                assert_eq!(Ok(by_words), read_name(&line, 0, 0, line_end), "{line:?}");
                read_by_words += 1;
            }
        }
        assert!(read_by_words > 5_000, "{read_by_words}");
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
