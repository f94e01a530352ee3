//! SIP messages (RFC 3261 §7, §20, §25): parsing, typed header views, building and
//! serializing, stream framing, and the checks a UAS makes before accepting a request.
//!
//! Parsing is zero-copy: [`Message::parse`] takes a [`bytes::Bytes`] and everything it
//! returns — the Request-URI, header values, the body — points into that buffer. Header
//! values are interpreted only when asked for ([`Headers::vias`], [`Headers::cseq`], …).
//!
//! ```
//! use sip_core::message::{HeaderName, Message, Method, RequestBuilder, Uri};
//!
//! // Build a request with the RFC 3261 §8.1.1 mandatory headers…
//! let request = RequestBuilder::new(Method::Options, Uri::parse("sip:bob@example.com").unwrap())
//!     .via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport")
//!     .from("<sip:alice@example.com>;tag=1928301774")
//!     .to("<sip:bob@example.com>")
//!     .call_id("a84b4c76e66710@192.0.2.1")
//!     .cseq(1)
//!     .build()
//!     .unwrap();
//! let bytes = request.to_bytes();
//!
//! // …and parse it back.
//! let parsed = Message::parse(bytes).unwrap();
//! let headers = parsed.headers();
//! assert_eq!(headers.cseq().unwrap().unwrap().seq, 1);
//! assert_eq!(headers.top_via().unwrap().unwrap().branch(), Some("z9hG4bK776asdhds"));
//! assert_eq!(headers.get(HeaderName::MaxForwards), Some("70"));
//! ```

pub(crate) mod builder;
mod error;
pub(crate) mod grammar;
mod headers;
mod method;
mod model;
mod name;
mod params;
mod parse;
pub(crate) mod salvage;
pub mod sipfrag;
mod span;
mod status;
mod stream;
pub(crate) mod typed;
mod uri;
pub mod validate;

pub(crate) use builder::response_to_with;
pub use builder::{RequestBuilder, response_to};
pub use error::{ParseError, ParseErrorKind};
pub use grammar::percent_decode;
pub(crate) use headers::HeaderWriter;
pub use headers::{HeaderKey, HeaderRef, Headers};
pub use method::Method;
pub use model::{Message, Request, Response};
pub use name::HeaderName;
pub use params::{Params, ParamsIter};
pub use parse::ParseLimits;
pub use status::{StatusCode, Version};
pub use stream::{FramingError, StreamDecoder, StreamItem};
pub use typed::auth::{
    AuthParseError, Challenge, ChallengeBuilder, Credentials, CredentialsBuilder, DigestAlgorithm, Qop,
};
pub use typed::event::{Event, EventReason, EventType, SubscriptionState, Substate};
pub use typed::name_addr::{NameAddr, tag_of};
pub use typed::refer::{ReferTo, ReferredBy, Replaces};
pub use typed::values::{AuthValue, CSeq, MediaType, RAck, ValueParams, is_valid_sip_date};
pub use typed::via::{MAGIC_COOKIE, Via};
pub use uri::{Host, Scheme, Uri};

/// Re-exported so users need not depend on `bytestring` to name shared text.
pub use bytestring::ByteString;
