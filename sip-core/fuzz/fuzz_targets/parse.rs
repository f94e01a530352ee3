//! `Message::parse` on arbitrary bytes: it must not panic, and whatever parses is read
//! through every typed view, validated, answered, and must serialize to bytes that parse
//! back equal.

#![no_main]

mod common;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sip_core::message::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::parse(Bytes::copy_from_slice(data)) {
        common::exercise(&message);
        common::assert_round_trip(&message);
    }
});
