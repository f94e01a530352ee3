//! `message/sipfrag` bodies (RFC 3420): a start line, optionally headers and a body, as
//! carried in the NOTIFYs of a REFER (RFC 3515 §2.4.5).

use bytes::Bytes;

use super::error::ParseError;
use super::model::Message;
use super::name::HeaderName;
use super::parse::{Framing, ParseLimits, parse_message};
use super::status::StatusCode;

/// The Content-Type of a sipfrag body, with the version parameter RFC 3515 uses.
pub const CONTENT_TYPE: &str = "message/sipfrag;version=2.0";

/// Parses a sipfrag body. The fragment may end right after the start line or the headers
/// (no empty line is needed) and needs no Content-Length.
///
/// ```
/// use sip_core::message::sipfrag;
/// let frag = sipfrag::parse("SIP/2.0 180 Ringing".into()).unwrap();
/// assert_eq!(frag.as_response().unwrap().status.as_u16(), 180);
/// ```
pub fn parse(body: Bytes) -> Result<Message, ParseError> {
    parse_message(body, Framing::Datagram, &ParseLimits::default())
}

/// A fragment holding only a Status-Line, as sent in REFER progress NOTIFYs
/// (`SIP/2.0 100 Trying`).
///
/// ```
/// use sip_core::message::{sipfrag, StatusCode};
/// assert_eq!(&sipfrag::status_line(StatusCode::OK, None)[..], b"SIP/2.0 200 OK\r\n");
/// ```
pub fn status_line(status: StatusCode, reason: Option<&str>) -> Bytes {
    Bytes::from(format!(
        "SIP/2.0 {} {}\r\n",
        status,
        reason.unwrap_or(status.canonical_reason())
    ))
}

/// A fragment of `message`: its start line and the listed headers (all of them when
/// `headers` is empty), without a body.
pub fn fragment_of(message: &Message, headers: &[HeaderName]) -> Bytes {
    let mut out = message.start_line();
    out.push_str("\r\n");
    for header in message.headers().iter() {
        if headers.is_empty() || headers.contains(&header.name) {
            out.push_str(header.name_str);
            out.push_str(": ");
            out.push_str(header.value);
            out.push_str("\r\n");
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_with_headers_round_trips() {
        let source = parse(Bytes::from_static(
            b"SIP/2.0 603 Declined\r\nCSeq: 1 INVITE\r\nWarning: 399 x \"no\"\r\n",
        ))
        .unwrap();
        let frag = fragment_of(&source, &[HeaderName::CSeq]);
        assert_eq!(&frag[..], b"SIP/2.0 603 Declined\r\nCSeq: 1 INVITE\r\n");
        let again = parse(frag).unwrap();
        assert_eq!(again.headers().cseq().unwrap().unwrap().seq, 1);
    }
}
