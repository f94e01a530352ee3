//! Errors for bytes that cannot be a SIP message.

use std::fmt;

/// Why a message (or one header value inside it) could not be parsed.
///
/// A `ParseError` says *what* went wrong ([`ParseErrorKind`]), *where* (the byte offset
/// from the start of the message, when known) and *in which header*, so that a UAS can
/// answer `400 Bad Request` with a `Warning: 399` that names the problem.
///
/// ```
/// use sip_core::message::{Message, ParseErrorKind};
/// let err = Message::parse("OPTIONS sip:a@b SIP/2.0\r\nCSeq 1 OPTIONS\r\n\r\n".into()).unwrap_err();
/// assert_eq!(err.kind(), ParseErrorKind::MissingColon);
/// assert_eq!(err.offset(), Some(25));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    kind: ParseErrorKind,
    offset: Option<usize>,
    header: Option<Box<str>>,
}

/// The kinds of [`ParseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// No bytes, or only line breaks.
    Empty,
    /// The start line is neither a Request-Line nor a Status-Line.
    StartLine,
    /// The method is not a token.
    Method,
    /// The SIP-Version is not `SIP/<digits>.<digits>`.
    Version,
    /// The status code is not three digits in 100..=699.
    StatusCode,
    /// The reason phrase holds control characters.
    ReasonPhrase,
    /// A URI does not follow the RFC 3261 §25.1 grammar.
    Uri,
    /// A header line has no colon.
    MissingColon,
    /// A header name is not a token.
    HeaderName,
    /// A header value does not follow its grammar.
    HeaderValue,
    /// A header that must appear once appears with several values.
    DuplicateHeader,
    /// The message head is not UTF-8 (RFC 3261 §7.3.1: TEXT-UTF8).
    Utf8,
    /// The header section never ends (no empty line).
    Unterminated,
    /// Content-Length is not a non-negative decimal number that fits in 32 bits.
    ContentLength,
    /// Several Content-Length headers disagree (RFC 4475 §3.3.9).
    ConflictingContentLength,
    /// Content-Length is larger than the bytes that follow the head.
    Truncated,
    /// The message is larger than the configured maximum.
    TooLarge,
    /// There are more headers than the configured maximum.
    TooManyHeaders,
}

impl ParseErrorKind {
    /// A short English description, suitable for a Warning header.
    pub fn description(self) -> &'static str {
        match self {
            Self::Empty => "empty message",
            Self::StartLine => "malformed start line",
            Self::Method => "malformed method",
            Self::Version => "malformed SIP-Version",
            Self::StatusCode => "invalid status code",
            Self::ReasonPhrase => "invalid reason phrase",
            Self::Uri => "malformed URI",
            Self::MissingColon => "header line without colon",
            Self::HeaderName => "malformed header name",
            Self::HeaderValue => "malformed header value",
            Self::DuplicateHeader => "header must appear once",
            Self::Utf8 => "message head is not UTF-8",
            Self::Unterminated => "header section not terminated",
            Self::ContentLength => "invalid Content-Length",
            Self::ConflictingContentLength => "conflicting Content-Length values",
            Self::Truncated => "body shorter than Content-Length",
            Self::TooLarge => "message too large",
            Self::TooManyHeaders => "too many headers",
        }
    }
}

impl ParseError {
    /// A new error of `kind` with no position.
    pub fn new(kind: ParseErrorKind) -> Self {
        Self {
            kind,
            offset: None,
            header: None,
        }
    }

    /// A new error of `kind` at byte `offset` of the message.
    pub fn at(kind: ParseErrorKind, offset: usize) -> Self {
        Self {
            kind,
            offset: Some(offset),
            header: None,
        }
    }

    /// Names the header in which the error was found.
    pub fn in_header(mut self, name: &str) -> Self {
        self.header = Some(name.into());
        self
    }

    /// Sets the offset if none is known yet.
    pub(crate) fn or_at(mut self, offset: usize) -> Self {
        self.offset.get_or_insert(offset);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// Byte offset from the start of the message, when known.
    pub fn offset(&self) -> Option<usize> {
        self.offset
    }

    /// The header in which the problem was found, as it was spelled in the message.
    pub fn header(&self) -> Option<&str> {
        self.header.as_deref()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.description())?;
        if let Some(header) = &self.header {
            write!(f, " in {header}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " at byte {offset}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}
