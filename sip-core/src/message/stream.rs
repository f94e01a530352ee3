//! Framing SIP messages out of a byte stream (TCP, TLS, WebSocket), RFC 3261 §18.3.

use bytes::{Buf, BytesMut};

use super::error::ParseError;
use super::grammar::parse_u32;
use super::model::Message;
use super::parse::{Framing, ParseLimits, find_stream_head_end, parse_message};

/// Splits a byte stream into messages.
///
/// Feed it chunks of any size with [`StreamDecoder::push`] (one byte at a time works) and
/// call [`StreamDecoder::next_item`] until it returns `Ok(None)`. Over a stream every message
/// must carry Content-Length (RFC 3261 §18.3); when it is missing, not a number, negative or
/// given twice with different values, or a message outgrows the size limit, the stream
/// cannot be re-synchronised: the decoder returns a [`FramingError`] (and keeps returning
/// it) so the caller can close the connection (RFC 4475 §3.1.2.3, §3.3.9).
///
/// CRLF sequences between messages are keep-alives (RFC 5626 §4.4.1): `CRLFCRLF` is a ping,
/// which the receiver answers with a single `CRLF`, the pong. A ping split across chunks may
/// be read as two pongs; a single CRLF is reported as soon as it arrives so a pong is never
/// held back waiting for more data.
///
/// ```
/// use sip_core::message::{StreamDecoder, StreamItem};
/// let mut decoder = StreamDecoder::new();
/// decoder.push(b"\r\n\r\nOPTIONS sip:a@example.com SIP/2.0\r\nContent-Length: 2\r\n\r\nhi");
/// assert!(matches!(decoder.next_item(), Ok(Some(StreamItem::KeepAlivePing))));
/// let Ok(Some(StreamItem::Message(message))) = decoder.next_item() else { panic!() };
/// assert_eq!(&message.body()[..], b"hi");
/// assert!(matches!(decoder.next_item(), Ok(None)));
/// ```
#[derive(Debug)]
pub struct StreamDecoder {
    buffer: BytesMut,
    limits: ParseLimits,
    state: State,
    failed: Option<FramingError>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Looking for the empty line that ends the head; `scanned` bytes hold none.
    Head { scanned: usize },
    /// The head is complete; waiting for the whole body.
    Body { total: usize },
}

/// What the decoder found in the stream.
// A message is moved out once per item; boxing it would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// A complete, parsed message.
    Message(Message),
    /// A complete message that does not parse. It has been skipped; the stream goes on.
    Invalid(ParseError),
    /// `CRLFCRLF`: the peer asks for a pong (RFC 5626 §4.4.1).
    KeepAlivePing,
    /// A single `CRLF`: the peer's answer to our ping.
    KeepAlivePong,
}

/// The stream can no longer be split into messages; close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// A message without Content-Length.
    #[error("message without Content-Length on a stream")]
    MissingContentLength,
    /// Content-Length is not a non-negative 32-bit decimal number.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Several Content-Length headers disagree.
    #[error("conflicting Content-Length values")]
    ConflictingContentLength,
    /// The message is larger than the maximum message size.
    #[error("message larger than the limit")]
    TooLarge,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        StreamDecoder::new()
    }
}

impl StreamDecoder {
    /// A decoder with [`ParseLimits::default`].
    pub fn new() -> Self {
        StreamDecoder::with_limits(ParseLimits::default())
    }

    /// A decoder with the given limits.
    pub fn with_limits(limits: ParseLimits) -> Self {
        StreamDecoder {
            buffer: BytesMut::new(),
            limits,
            state: State::Head { scanned: 0 },
            failed: None,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            self.buffer.extend_from_slice(chunk);
        }
    }

    /// Bytes received but not yet returned as an item.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next item, `Ok(None)` when more bytes are needed, or the framing error that ended
    /// the stream.
    pub fn next_item(&mut self) -> Result<Option<StreamItem>, FramingError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let result = self.step();
        if let Err(error) = result {
            self.failed = Some(error);
            self.buffer.clear();
        }
        result
    }

    fn step(&mut self) -> Result<Option<StreamItem>, FramingError> {
        match self.state {
            State::Head { scanned } => {
                if scanned == 0 {
                    if let Some(item) = self.take_keep_alive() {
                        return Ok(item);
                    }
                }
                // Re-scan the last 3 bytes: the empty line may straddle two chunks.
                let Some(head_len) = find_stream_head_end(&self.buffer, scanned.saturating_sub(3)) else {
                    if self.buffer.len() > self.limits.max_message_size {
                        return Err(FramingError::TooLarge);
                    }
                    self.state = State::Head {
                        scanned: self.buffer.len(),
                    };
                    return Ok(None);
                };
                let head = self.buffer.get(..head_len).unwrap_or_default();
                let body_len = scan_content_length(head)?.ok_or(FramingError::MissingContentLength)?;
                let total = head_len.saturating_add(body_len as usize);
                if total > self.limits.max_message_size {
                    return Err(FramingError::TooLarge);
                }
                self.state = State::Body { total };
                self.step()
            }
            State::Body { total } => {
                if self.buffer.len() < total {
                    return Ok(None);
                }
                let frame = self.buffer.split_to(total).freeze();
                self.state = State::Head { scanned: 0 };
                Ok(Some(match parse_message(frame, Framing::Stream, &self.limits) {
                    Ok(message) => StreamItem::Message(message),
                    Err(error) => StreamItem::Invalid(error),
                }))
            }
        }
    }

    /// Consumes line breaks before a message: `Some(Some(_))` for a keep-alive,
    /// `Some(None)` when only part of one has arrived, `None` when a message starts here.
    fn take_keep_alive(&mut self) -> Option<Option<StreamItem>> {
        let buffer = &self.buffer[..];
        if buffer.starts_with(b"\r\n\r\n") {
            self.buffer.advance(4);
            return Some(Some(StreamItem::KeepAlivePing));
        }
        if buffer == b"\r\n\r" || buffer == b"\r" {
            return Some(None);
        }
        if buffer.starts_with(b"\r\n") {
            self.buffer.advance(2);
            return Some(Some(StreamItem::KeepAlivePong));
        }
        // A bare LF before a start line is tolerated and skipped (RFC 3261 §7.5).
        let stray = buffer.iter().take_while(|&&b| b == b'\n').count();
        if stray > 0 {
            self.buffer.advance(stray);
            // What follows may be a keep-alive or a message already complete in the buffer.
            return self.take_keep_alive();
        }
        None
    }
}

/// Reads Content-Length from a complete head (start line included), folding and compact
/// form (`l`) included. `Ok(None)` when there is none.
fn scan_content_length(head: &[u8]) -> Result<Option<u32>, FramingError> {
    let mut length: Option<u32> = None;
    let mut lines = head.split(|&b| b == b'\n').skip(1).peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let name = name.trim_ascii_end();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let mut value = value.get(1..).unwrap_or_default().to_vec();
        while let Some(next) = lines.next_if(|l| l.first().is_some_and(|&b| b == b' ' || b == b'\t')) {
            value.extend_from_slice(next.strip_suffix(b"\r").unwrap_or(next));
        }
        let text = std::str::from_utf8(&value).map_err(|_| FramingError::InvalidContentLength)?;
        let parsed = parse_u32(text.trim_matches([' ', '\t'])).ok_or(FramingError::InvalidContentLength)?;
        if length.is_some_and(|previous| previous != parsed) {
            return Err(FramingError::ConflictingContentLength);
        }
        length = Some(parsed);
    }
    Ok(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] = b"MESSAGE sip:a@example.com SIP/2.0\r\nl: 5\r\n\r\nhello";

    fn drain(decoder: &mut StreamDecoder) -> Vec<StreamItem> {
        let mut items = Vec::new();
        while let Ok(Some(item)) = decoder.next_item() {
            items.push(item);
        }
        items
    }

    #[test]
    fn one_byte_at_a_time_yields_the_same_message() {
        let mut decoder = StreamDecoder::new();
        let mut items = Vec::new();
        for &b in MESSAGE.iter().chain(MESSAGE) {
            decoder.push(&[b]);
            items.extend(drain(&mut decoder));
        }
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[0], StreamItem::Message(m) if &m.body()[..] == b"hello"));
    }

    #[test]
    fn framing_errors_are_sticky() {
        for (input, expected) in [
            (
                &b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"[..],
                FramingError::MissingContentLength,
            ),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n",
                FramingError::InvalidContentLength,
            ),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: five\r\n\r\n",
                FramingError::InvalidContentLength,
            ),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nl: 13\r\nContent-Length: 5\r\n\r\n",
                FramingError::ConflictingContentLength,
            ),
        ] {
            let mut decoder = StreamDecoder::new();
            decoder.push(input);
            assert_eq!(decoder.next_item(), Err(expected));
            decoder.push(MESSAGE);
            assert_eq!(decoder.next_item(), Err(expected));
        }
    }

    #[test]
    fn oversized_messages_fail_before_buffering_them() {
        let mut decoder = StreamDecoder::with_limits(ParseLimits {
            max_message_size: 100,
            ..ParseLimits::default()
        });
        decoder.push(b"MESSAGE sip:a@b SIP/2.0\r\nl: 1000\r\n\r\n");
        assert_eq!(decoder.next_item(), Err(FramingError::TooLarge));
        let mut endless = StreamDecoder::with_limits(ParseLimits {
            max_message_size: 100,
            ..ParseLimits::default()
        });
        endless.push(&[b'a'; 101]);
        assert_eq!(endless.next_item(), Err(FramingError::TooLarge));
    }

    #[test]
    fn unparsable_message_is_skipped_and_stream_continues() {
        let mut decoder = StreamDecoder::new();
        decoder.push(b"garbage line\r\nl: 0\r\n\r\n");
        decoder.push(MESSAGE);
        let items = drain(&mut decoder);
        assert!(matches!(items[0], StreamItem::Invalid(_)));
        assert!(matches!(items[1], StreamItem::Message(_)));
    }

    #[test]
    fn message_after_a_bare_lf_is_delivered_at_once() {
        let mut decoder = StreamDecoder::new();
        decoder.push(b"\nOPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n");
        assert!(matches!(decoder.next_item(), Ok(Some(StreamItem::Message(_)))));
    }

    #[test]
    fn single_crlf_is_a_pong() {
        let mut decoder = StreamDecoder::new();
        decoder.push(b"\r\n");
        assert_eq!(decoder.next_item(), Ok(Some(StreamItem::KeepAlivePong)));
        assert_eq!(decoder.next_item(), Ok(None));
    }
}
