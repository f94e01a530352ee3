//! `StreamDecoder` on arbitrary bytes. The first byte selects a chunk size (0: the whole
//! input at once, else 1..=255 bytes); the rest is the stream. The decoder must not panic,
//! framing errors must be sticky, every message it yields is exercised like in `parse`, and
//! the items (keep-alives aside) must be the same as when the stream arrives in one piece.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use sip_core::message::{FramingError, StreamDecoder, StreamItem};

/// Feeds `stream` in chunks of `size` bytes (all at once for 0), draining after each.
/// Keep-alives are dropped: a `CRLFCRLF` split across chunks is documented to read as two
/// pongs.
fn decode(stream: &[u8], size: usize) -> Vec<Result<StreamItem, FramingError>> {
    let mut decoder = StreamDecoder::new();
    let mut items = Vec::new();
    let chunks: Vec<&[u8]> = if size == 0 {
        vec![stream]
    } else {
        stream.chunks(size).collect()
    };
    for chunk in chunks {
        decoder.push(chunk);
        // Drain until `Ok(None)`, exactly as the decoder's documentation says.
                loop {
            match decoder.next_item() {
                Ok(Some(StreamItem::KeepAlivePing | StreamItem::KeepAlivePong)) => {}
                Ok(Some(item)) => items.push(Ok(item)),
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(decoder.next_item(), Err(e), "framing errors are sticky");
                    decoder.push(b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n");
                    assert_eq!(decoder.next_item(), Err(e), "framing errors are sticky");
                    items.push(Err(e));
                    return items;
                }
            }
        }
    }
    items
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let chunked = decode(stream, usize::from(selector));
    for item in &chunked {
        if let Ok(StreamItem::Message(message)) = item {
            common::exercise(message);
            common::assert_round_trip(message);
        }
    }
    if selector != 0 {
        assert_eq!(chunked, decode(stream, 0), "items depend on the chunking");
    }
});
