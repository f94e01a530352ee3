//! Requests, responses and the `Message` that is either.

use bytes::Bytes;
use bytestring::ByteString;

use super::error::ParseError;
use super::headers::Headers;
use super::method::Method;
use super::name::HeaderName;
use super::parse::{Framing, ParseLimits, parse_message};
use super::status::{StatusCode, Version};
use super::uri::Uri;

/// A SIP request (RFC 3261 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method of the Request-Line.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The SIP-Version of the Request-Line.
    pub version: Version,
    /// The header section.
    pub headers: Headers,
    /// The body: exactly Content-Length octets, sharing the received buffer.
    pub body: Bytes,
}

/// A SIP response (RFC 3261 §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The SIP-Version of the Status-Line.
    pub version: Version,
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase as received (may be empty, RFC 4475 §3.1.1.13).
    pub reason: ByteString,
    /// The header section.
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

/// A SIP message: a request or a response.
///
/// ```
/// use sip_core::message::{HeaderName, Message, Method};
/// let bytes = "OPTIONS sip:bob@example.com SIP/2.0\r\n\
///     Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK776\r\n\
///     Max-Forwards: 70\r\nTo: <sip:bob@example.com>\r\n\
///     From: <sip:alice@example.com>;tag=1928\r\nCall-ID: a84b4c76e66710\r\n\
///     CSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n";
/// let message = Message::parse(bytes.into()).unwrap();
/// let request = message.as_request().unwrap();
/// assert_eq!(request.method, Method::Options);
/// assert_eq!(request.headers.get(HeaderName::CallId), Some("a84b4c76e66710"));
/// assert_eq!(message.to_bytes(), bytes.as_bytes());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// Parses one message received as a datagram (RFC 3261 §18.3): octets after
    /// Content-Length are ignored and a missing Content-Length means the body is the rest.
    /// Uses [`ParseLimits::default`].
    pub fn parse(bytes: Bytes) -> Result<Message, ParseError> {
        parse_message(bytes, Framing::Datagram, &ParseLimits::default())
    }

    /// [`Message::parse`] with explicit limits.
    pub fn parse_with_limits(bytes: Bytes, limits: &ParseLimits) -> Result<Message, ParseError> {
        parse_message(bytes, Framing::Datagram, limits)
    }

    /// Parses a frame that holds exactly one whole message, as a WebSocket message does
    /// (RFC 7118 §3.2): a Content-Length must count the rest of the frame to the octet
    /// (octets past it would be a second message, or garbage); without one the body is
    /// the rest.
    pub fn parse_frame_with_limits(bytes: Bytes, limits: &ParseLimits) -> Result<Message, ParseError> {
        parse_message(bytes, Framing::Stream, limits)
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    /// The SIP-Version of the start line.
    pub fn version(&self) -> Version {
        match self {
            Message::Request(r) => r.version,
            Message::Response(r) => r.version,
        }
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self, Message::Request(_))
    }

    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Message::Response(r) => Some(r),
            Message::Request(_) => None,
        }
    }

    /// The start line as text (`INVITE sip:bob@example.com SIP/2.0`).
    pub fn start_line(&self) -> String {
        match self {
            Message::Request(r) => r.start_line(),
            Message::Response(r) => r.start_line(),
        }
    }

    /// Serializes the message. Untouched headers are written byte for byte as received.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Message::Response(r)
    }
}

impl Request {
    /// The Request-Line without CRLF.
    pub fn start_line(&self) -> String {
        format!("{} {} {}", self.method, self.uri, self.version)
    }

    /// The size of [`Request::to_bytes`]' output (exact for SIP/2.0 and headers written
    /// as `Name: value`; an upper bound otherwise).
    pub fn encoded_len(&self) -> usize {
        self.method.as_str().len()
            + self.uri.as_str().len()
            + 11
            + self.headers.encoded_len()
            + 2
            + self.body.len()
    }

    /// Serializes the request.
    pub fn to_bytes(&self) -> Bytes {
        let method = self.method.as_str();
        let uri = self.uri.as_str();
        let mut out =
            Vec::with_capacity(method.len() + uri.len() + 16 + self.headers.encoded_len() + self.body.len());
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(uri.as_bytes());
        out.push(b' ');
        write_version(&mut out, self.version);
        out.extend_from_slice(b"\r\n");
        finish(&mut out, &self.headers, &self.body);
        Bytes::from(out)
    }

    /// Replaces the body and sets Content-Length (and Content-Type, when given).
    pub fn set_body(&mut self, body: Bytes, content_type: Option<&str>) {
        set_body(&mut self.headers, &mut self.body, body, content_type);
    }
}

impl Response {
    /// The Status-Line without CRLF.
    pub fn start_line(&self) -> String {
        format!("{} {} {}", self.version, self.status, self.reason)
    }

    /// The size of [`Response::to_bytes`], without serializing.
    pub fn encoded_len(&self) -> usize {
        // "SIP/2.0 " + three digits + " " + reason + CRLF, the headers, CRLF, the body.
        let version = if self.version == Version::SIP_2_0 {
            "SIP/2.0".len()
        } else {
            self.version.to_string().len()
        };
        version + 5 + self.reason.len() + 2 + self.headers.encoded_len() + 2 + self.body.len()
    }

    /// Serializes the response.
    pub fn to_bytes(&self) -> Bytes {
        let mut out =
            Vec::with_capacity(self.reason.len() + 16 + self.headers.encoded_len() + self.body.len());
        write_version(&mut out, self.version);
        out.push(b' ');
        let code = self.status.as_u16();
        // A StatusCode is always three digits (100..=699).
        out.extend_from_slice(&[
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
        ]);
        out.push(b' ');
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        finish(&mut out, &self.headers, &self.body);
        Bytes::from(out)
    }

    /// Replaces the body and sets Content-Length (and Content-Type, when given).
    pub fn set_body(&mut self, body: Bytes, content_type: Option<&str>) {
        set_body(&mut self.headers, &mut self.body, body, content_type);
    }
}

fn write_version(out: &mut Vec<u8>, version: Version) {
    if version == Version::SIP_2_0 {
        out.extend_from_slice(b"SIP/2.0");
    } else {
        out.extend_from_slice(version.to_string().as_bytes());
    }
}

fn finish(out: &mut Vec<u8>, headers: &Headers, body: &Bytes) {
    headers.write_to(out);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

fn set_body(headers: &mut Headers, slot: &mut Bytes, body: Bytes, content_type: Option<&str>) {
    headers.set(
        HeaderName::ContentLength,
        ByteString::from(body.len().to_string()),
    );
    if let Some(content_type) = content_type {
        headers.set(HeaderName::ContentType, ByteString::from(content_type));
    }
    *slot = body;
}
