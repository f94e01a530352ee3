//! Header names: the ones the stack knows, with their compact forms (RFC 3261 §7.3.3,
//! §20), and any other token.
//!
//! The table is kept by hand: a new header needs a variant, its spellings in
//! `from_lowercase`, `as_str`, `compact` (if any), `is_list` (if a list) and the test list.

use std::fmt;

/// A header name. Known names are variants; any other token is [`HeaderName::Other`], whose
/// spelling lives in the header entry (see [`Headers`](super::Headers)).
///
/// Names compare case-insensitively and compact forms are the same header:
///
/// ```
/// use sip_core::message::HeaderName;
/// assert_eq!(HeaderName::parse("v"), HeaderName::Via);
/// assert_eq!(HeaderName::parse("cAlL-iD"), HeaderName::CallId);
/// assert_eq!(HeaderName::parse("X-Custom"), HeaderName::Other);
/// assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HeaderName {
    /// `Accept`.
    Accept,
    /// `Accept-Contact` (compact `a`).
    AcceptContact,
    /// `Accept-Encoding`.
    AcceptEncoding,
    /// `Accept-Language`.
    AcceptLanguage,
    /// `Alert-Info`.
    AlertInfo,
    /// `Allow`.
    Allow,
    /// `Allow-Events` (compact `u`).
    AllowEvents,
    /// `Authentication-Info`.
    AuthenticationInfo,
    /// `Authorization`.
    Authorization,
    /// `Call-ID` (compact `i`).
    CallId,
    /// `Call-Info`.
    CallInfo,
    /// `Contact` (compact `m`).
    Contact,
    /// `Content-Disposition`.
    ContentDisposition,
    /// `Content-Encoding` (compact `e`).
    ContentEncoding,
    /// `Content-Language`.
    ContentLanguage,
    /// `Content-Length` (compact `l`).
    ContentLength,
    /// `Content-Type` (compact `c`).
    ContentType,
    /// `CSeq`.
    CSeq,
    /// `Date`.
    Date,
    /// `Error-Info`.
    ErrorInfo,
    /// `Event` (compact `o`).
    Event,
    /// `Expires`.
    Expires,
    /// `From` (compact `f`).
    From,
    /// `In-Reply-To`.
    InReplyTo,
    /// `Max-Forwards`.
    MaxForwards,
    /// `MIME-Version`.
    MimeVersion,
    /// `Min-Expires`.
    MinExpires,
    /// `Min-SE`.
    MinSe,
    /// `Organization`.
    Organization,
    /// `Priority`.
    Priority,
    /// `Proxy-Authenticate`.
    ProxyAuthenticate,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `Proxy-Require`.
    ProxyRequire,
    /// `RAck`.
    RAck,
    /// `Reason`.
    Reason,
    /// `Record-Route`.
    RecordRoute,
    /// `Refer-Sub`.
    ReferSub,
    /// `Refer-To` (compact `r`).
    ReferTo,
    /// `Referred-By` (compact `b`).
    ReferredBy,
    /// `Reject-Contact` (compact `j`).
    RejectContact,
    /// `Replaces`.
    Replaces,
    /// `Reply-To`.
    ReplyTo,
    /// `Request-Disposition` (compact `d`).
    RequestDisposition,
    /// `Require`.
    Require,
    /// `Retry-After`.
    RetryAfter,
    /// `Route`.
    Route,
    /// `RSeq`.
    RSeq,
    /// `Server`.
    Server,
    /// `Session-Expires` (compact `x`).
    SessionExpires,
    /// `Subject` (compact `s`).
    Subject,
    /// `Subscription-State`.
    SubscriptionState,
    /// `Supported` (compact `k`).
    Supported,
    /// `Timestamp`.
    Timestamp,
    /// `To` (compact `t`).
    To,
    /// `Unsupported`.
    Unsupported,
    /// `User-Agent`.
    UserAgent,
    /// `Via` (compact `v`).
    Via,
    /// `Warning`.
    Warning,
    /// `WWW-Authenticate`.
    WwwAuthenticate,
    /// Any header this crate has no name for.
    Other,
}

impl HeaderName {
    /// Looks a name up, case-insensitively, accepting compact forms. Unknown names give
    /// [`HeaderName::Other`].
    pub fn parse(name: &str) -> HeaderName {
        Self::from_bytes(name.as_bytes())
    }

    /// Looks a name up from raw bytes without copying: candidates are picked by length,
    /// first and last letter, then compared case-insensitively.
    pub(crate) fn from_bytes(name: &[u8]) -> HeaderName {
        let (Some(&first), Some(&last)) = (name.first(), name.last()) else {
            return HeaderName::Other;
        };
        let candidates: &[([u64; 3], HeaderName)] = match (name.len(), first | 0x20, last | 0x20) {
            (1, b'a', b'a') => &[(
                [0x2020202020202061, 0x2020202020202020, 0x2020202020202020],
                HeaderName::AcceptContact,
            )],
            (1, b'b', b'b') => &[(
                [0x2020202020202062, 0x2020202020202020, 0x2020202020202020],
                HeaderName::ReferredBy,
            )],
            (1, b'c', b'c') => &[(
                [0x2020202020202063, 0x2020202020202020, 0x2020202020202020],
                HeaderName::ContentType,
            )],
            (1, b'd', b'd') => &[(
                [0x2020202020202064, 0x2020202020202020, 0x2020202020202020],
                HeaderName::RequestDisposition,
            )],
            (1, b'e', b'e') => &[(
                [0x2020202020202065, 0x2020202020202020, 0x2020202020202020],
                HeaderName::ContentEncoding,
            )],
            (1, b'f', b'f') => &[(
                [0x2020202020202066, 0x2020202020202020, 0x2020202020202020],
                HeaderName::From,
            )],
            (1, b'i', b'i') => &[(
                [0x2020202020202069, 0x2020202020202020, 0x2020202020202020],
                HeaderName::CallId,
            )],
            (1, b'j', b'j') => &[(
                [0x202020202020206a, 0x2020202020202020, 0x2020202020202020],
                HeaderName::RejectContact,
            )],
            (1, b'k', b'k') => &[(
                [0x202020202020206b, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Supported,
            )],
            (1, b'l', b'l') => &[(
                [0x202020202020206c, 0x2020202020202020, 0x2020202020202020],
                HeaderName::ContentLength,
            )],
            (1, b'm', b'm') => &[(
                [0x202020202020206d, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Contact,
            )],
            (1, b'o', b'o') => &[(
                [0x202020202020206f, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Event,
            )],
            (1, b'r', b'r') => &[(
                [0x2020202020202072, 0x2020202020202020, 0x2020202020202020],
                HeaderName::ReferTo,
            )],
            (1, b's', b's') => &[(
                [0x2020202020202073, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Subject,
            )],
            (1, b't', b't') => &[(
                [0x2020202020202074, 0x2020202020202020, 0x2020202020202020],
                HeaderName::To,
            )],
            (1, b'u', b'u') => &[(
                [0x2020202020202075, 0x2020202020202020, 0x2020202020202020],
                HeaderName::AllowEvents,
            )],
            (1, b'v', b'v') => &[(
                [0x2020202020202076, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Via,
            )],
            (1, b'x', b'x') => &[(
                [0x2020202020202078, 0x2020202020202020, 0x2020202020202020],
                HeaderName::SessionExpires,
            )],
            (2, b't', b'o') => &[(
                [0x2020202020206f74, 0x2020202020202020, 0x2020202020202020],
                HeaderName::To,
            )],
            (3, b'v', b'a') => &[(
                [0x2020202020616976, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Via,
            )],
            (4, b'c', b'q') => &[(
                [0x2020202071657363, 0x2020202020202020, 0x2020202020202020],
                HeaderName::CSeq,
            )],
            (4, b'd', b'e') => &[(
                [0x2020202065746164, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Date,
            )],
            (4, b'f', b'm') => &[(
                [0x202020206d6f7266, 0x2020202020202020, 0x2020202020202020],
                HeaderName::From,
            )],
            (4, b'r', b'k') => &[(
                [0x202020206b636172, 0x2020202020202020, 0x2020202020202020],
                HeaderName::RAck,
            )],
            (4, b'r', b'q') => &[(
                [0x2020202071657372, 0x2020202020202020, 0x2020202020202020],
                HeaderName::RSeq,
            )],
            (5, b'a', b'w') => &[(
                [0x202020776f6c6c61, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Allow,
            )],
            (5, b'e', b't') => &[(
                [0x202020746e657665, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Event,
            )],
            (5, b'r', b'e') => &[(
                [0x2020206574756f72, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Route,
            )],
            (6, b'a', b't') => &[(
                [0x2020747065636361, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Accept,
            )],
            (6, b'm', b'e') => &[(
                [0x202065732d6e696d, 0x2020202020202020, 0x2020202020202020],
                HeaderName::MinSe,
            )],
            (6, b'r', b'n') => &[(
                [0x20206e6f73616572, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Reason,
            )],
            (6, b's', b'r') => &[(
                [0x2020726576726573, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Server,
            )],
            (7, b'c', b'd') => &[(
                [0x2064692d6c6c6163, 0x2020202020202020, 0x2020202020202020],
                HeaderName::CallId,
            )],
            (7, b'c', b't') => &[(
                [0x20746361746e6f63, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Contact,
            )],
            (7, b'e', b's') => &[(
                [0x2073657269707865, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Expires,
            )],
            (7, b'r', b'e') => &[(
                [0x2065726975716572, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Require,
            )],
            (7, b's', b't') => &[(
                [0x207463656a627573, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Subject,
            )],
            (7, b'w', b'g') => &[(
                [0x20676e696e726177, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Warning,
            )],
            (8, b'p', b'y') => &[(
                [0x797469726f697270, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Priority,
            )],
            (8, b'r', b'o') => &[
                (
                    [0x6f742d7265666572, 0x2020202020202020, 0x2020202020202020],
                    HeaderName::ReferTo,
                ),
                (
                    [0x6f742d796c706572, 0x2020202020202020, 0x2020202020202020],
                    HeaderName::ReplyTo,
                ),
            ],
            (8, b'r', b's') => &[(
                [0x736563616c706572, 0x2020202020202020, 0x2020202020202020],
                HeaderName::Replaces,
            )],
            (9, b'c', b'o') => &[(
                [0x666e692d6c6c6163, 0x202020202020206f, 0x2020202020202020],
                HeaderName::CallInfo,
            )],
            (9, b'r', b'b') => &[(
                [0x75732d7265666572, 0x2020202020202062, 0x2020202020202020],
                HeaderName::ReferSub,
            )],
            (9, b's', b'd') => &[(
                [0x6574726f70707573, 0x2020202020202064, 0x2020202020202020],
                HeaderName::Supported,
            )],
            (9, b't', b'p') => &[(
                [0x6d617473656d6974, 0x2020202020202070, 0x2020202020202020],
                HeaderName::Timestamp,
            )],
            (10, b'a', b'o') => &[(
                [0x6e692d7472656c61, 0x2020202020206f66, 0x2020202020202020],
                HeaderName::AlertInfo,
            )],
            (10, b'e', b'o') => &[(
                [0x6e692d726f727265, 0x2020202020206f66, 0x2020202020202020],
                HeaderName::ErrorInfo,
            )],
            (10, b'u', b't') => &[(
                [0x6567612d72657375, 0x202020202020746e, 0x2020202020202020],
                HeaderName::UserAgent,
            )],
            (11, b'i', b'o') => &[(
                [0x796c7065722d6e69, 0x20202020206f742d, 0x2020202020202020],
                HeaderName::InReplyTo,
            )],
            (11, b'm', b's') => &[(
                [0x697078652d6e696d, 0x2020202020736572, 0x2020202020202020],
                HeaderName::MinExpires,
            )],
            (11, b'r', b'r') => &[(
                [0x66612d7972746572, 0x2020202020726574, 0x2020202020202020],
                HeaderName::RetryAfter,
            )],
            (11, b'r', b'y') => &[(
                [0x6465727265666572, 0x202020202079622d, 0x2020202020202020],
                HeaderName::ReferredBy,
            )],
            (11, b'u', b'd') => &[(
                [0x726f707075736e75, 0x2020202020646574, 0x2020202020202020],
                HeaderName::Unsupported,
            )],
            (12, b'a', b's') => &[(
                [0x76652d776f6c6c61, 0x2020202073746e65, 0x2020202020202020],
                HeaderName::AllowEvents,
            )],
            (12, b'c', b'e') => &[(
                [0x2d746e65746e6f63, 0x2020202065707974, 0x2020202020202020],
                HeaderName::ContentType,
            )],
            (12, b'm', b'n') => &[(
                [0x7265762d656d696d, 0x202020206e6f6973, 0x2020202020202020],
                HeaderName::MimeVersion,
            )],
            (12, b'm', b's') => &[(
                [0x77726f662d78616d, 0x2020202073647261, 0x2020202020202020],
                HeaderName::MaxForwards,
            )],
            (12, b'o', b'n') => &[(
                [0x617a696e6167726f, 0x202020206e6f6974, 0x2020202020202020],
                HeaderName::Organization,
            )],
            (12, b'r', b'e') => &[(
                [0x722d64726f636572, 0x202020206574756f, 0x2020202020202020],
                HeaderName::RecordRoute,
            )],
            (13, b'a', b'n') => &[(
                [0x7a69726f68747561, 0x2020206e6f697461, 0x2020202020202020],
                HeaderName::Authorization,
            )],
            (13, b'p', b'e') => &[(
                [0x65722d79786f7270, 0x2020206572697571, 0x2020202020202020],
                HeaderName::ProxyRequire,
            )],
            (14, b'a', b't') => &[(
                [0x632d747065636361, 0x2020746361746e6f, 0x2020202020202020],
                HeaderName::AcceptContact,
            )],
            (14, b'c', b'h') => &[(
                [0x2d746e65746e6f63, 0x20206874676e656c, 0x2020202020202020],
                HeaderName::ContentLength,
            )],
            (14, b'r', b't') => &[(
                [0x632d7463656a6572, 0x2020746361746e6f, 0x2020202020202020],
                HeaderName::RejectContact,
            )],
            (15, b'a', b'e') => &[(
                [0x6c2d747065636361, 0x2065676175676e61, 0x2020202020202020],
                HeaderName::AcceptLanguage,
            )],
            (15, b'a', b'g') => &[(
                [0x652d747065636361, 0x20676e69646f636e, 0x2020202020202020],
                HeaderName::AcceptEncoding,
            )],
            (15, b's', b's') => &[(
                [0x2d6e6f6973736573, 0x2073657269707865, 0x2020202020202020],
                HeaderName::SessionExpires,
            )],
            (16, b'c', b'e') => &[(
                [0x2d746e65746e6f63, 0x65676175676e616c, 0x2020202020202020],
                HeaderName::ContentLanguage,
            )],
            (16, b'c', b'g') => &[(
                [0x2d746e65746e6f63, 0x676e69646f636e65, 0x2020202020202020],
                HeaderName::ContentEncoding,
            )],
            (16, b'w', b'e') => &[(
                [0x687475612d777777, 0x6574616369746e65, 0x2020202020202020],
                HeaderName::WwwAuthenticate,
            )],
            (18, b'p', b'e') => &[(
                [0x75612d79786f7270, 0x616369746e656874, 0x2020202020206574],
                HeaderName::ProxyAuthenticate,
            )],
            (18, b's', b'e') => &[(
                [0x7069726373627573, 0x6174732d6e6f6974, 0x2020202020206574],
                HeaderName::SubscriptionState,
            )],
            (19, b'a', b'o') => &[(
                [0x69746e6568747561, 0x692d6e6f69746163, 0x20202020206f666e],
                HeaderName::AuthenticationInfo,
            )],
            (19, b'c', b'n') => &[(
                [0x2d746e65746e6f63, 0x7469736f70736964, 0x20202020206e6f69],
                HeaderName::ContentDisposition,
            )],
            (19, b'p', b'n') => &[(
                [0x75612d79786f7270, 0x74617a69726f6874, 0x20202020206e6f69],
                HeaderName::ProxyAuthorization,
            )],
            (19, b'r', b'n') => &[(
                [0x2d74736575716572, 0x7469736f70736964, 0x20202020206e6f69],
                HeaderName::RequestDisposition,
            )],
            _ => return HeaderName::Other,
        };
        // Spellings are lower-case letters, digits and '-', pre-folded to three words:
        // padded to 24 bytes with 0x20 ORed into every byte. ORing 0x20 lower-cases an
        // ASCII letter and maps no other token character onto a spelling's byte, so
        // folding the name the same way makes equality three word compares.
        let Some(folded) = fold_name(name) else {
            return HeaderName::Other;
        };
        candidates
            .iter()
            .find(|(spelling, _)| {
                spelling[0] == folded[0] && spelling[1] == folded[1] && spelling[2] == folded[2]
            })
            .map_or(HeaderName::Other, |&(_, header)| header)
    }

    /// The canonical spelling (`None` for [`HeaderName::Other`]).
    pub fn as_str(self) -> &'static str {
        match self {
            HeaderName::Accept => "Accept",
            HeaderName::AcceptContact => "Accept-Contact",
            HeaderName::AcceptEncoding => "Accept-Encoding",
            HeaderName::AcceptLanguage => "Accept-Language",
            HeaderName::AlertInfo => "Alert-Info",
            HeaderName::Allow => "Allow",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::AuthenticationInfo => "Authentication-Info",
            HeaderName::Authorization => "Authorization",
            HeaderName::CallId => "Call-ID",
            HeaderName::CallInfo => "Call-Info",
            HeaderName::Contact => "Contact",
            HeaderName::ContentDisposition => "Content-Disposition",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ContentLanguage => "Content-Language",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::CSeq => "CSeq",
            HeaderName::Date => "Date",
            HeaderName::ErrorInfo => "Error-Info",
            HeaderName::Event => "Event",
            HeaderName::Expires => "Expires",
            HeaderName::From => "From",
            HeaderName::InReplyTo => "In-Reply-To",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MimeVersion => "MIME-Version",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::MinSe => "Min-SE",
            HeaderName::Organization => "Organization",
            HeaderName::Priority => "Priority",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::RAck => "RAck",
            HeaderName::Reason => "Reason",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ReferSub => "Refer-Sub",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::RejectContact => "Reject-Contact",
            HeaderName::Replaces => "Replaces",
            HeaderName::ReplyTo => "Reply-To",
            HeaderName::RequestDisposition => "Request-Disposition",
            HeaderName::Require => "Require",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Route => "Route",
            HeaderName::RSeq => "RSeq",
            HeaderName::Server => "Server",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::Subject => "Subject",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::Supported => "Supported",
            HeaderName::Timestamp => "Timestamp",
            HeaderName::To => "To",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Via => "Via",
            HeaderName::Warning => "Warning",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::Other => "",
        }
    }

    /// The compact form (RFC 3261 §7.3.3), when the header has one.
    pub fn compact(self) -> Option<&'static str> {
        match self {
            HeaderName::AcceptContact => Some("a"),
            HeaderName::AllowEvents => Some("u"),
            HeaderName::CallId => Some("i"),
            HeaderName::Contact => Some("m"),
            HeaderName::ContentEncoding => Some("e"),
            HeaderName::ContentLength => Some("l"),
            HeaderName::ContentType => Some("c"),
            HeaderName::Event => Some("o"),
            HeaderName::From => Some("f"),
            HeaderName::ReferTo => Some("r"),
            HeaderName::ReferredBy => Some("b"),
            HeaderName::RejectContact => Some("j"),
            HeaderName::RequestDisposition => Some("d"),
            HeaderName::SessionExpires => Some("x"),
            HeaderName::Subject => Some("s"),
            HeaderName::Supported => Some("k"),
            HeaderName::To => Some("t"),
            HeaderName::Via => Some("v"),
            _ => None,
        }
    }

    /// True for headers whose grammar is a comma-separated list (`#element`), which may
    /// be split into several header lines or combined into one (RFC 3261 §7.3.1).
    /// Authorization-style headers, Date and the like contain commas but are not lists.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            HeaderName::Accept
                | HeaderName::AcceptContact
                | HeaderName::AcceptEncoding
                | HeaderName::AcceptLanguage
                | HeaderName::AlertInfo
                | HeaderName::Allow
                | HeaderName::AllowEvents
                | HeaderName::CallInfo
                | HeaderName::Contact
                | HeaderName::ContentEncoding
                | HeaderName::ContentLanguage
                | HeaderName::ErrorInfo
                | HeaderName::InReplyTo
                | HeaderName::ProxyRequire
                | HeaderName::Reason
                | HeaderName::RecordRoute
                | HeaderName::RejectContact
                | HeaderName::RequestDisposition
                | HeaderName::Require
                | HeaderName::Route
                | HeaderName::Supported
                | HeaderName::Unsupported
                | HeaderName::Via
                | HeaderName::Warning
        )
    }
}

/// `name` padded with zeros to 24 bytes, as three little-endian words with 0x20 ORed into
/// every byte; `None` when longer than any known name.
#[inline]
fn fold_name(name: &[u8]) -> Option<[u64; 3]> {
    const FOLD: u64 = 0x2020_2020_2020_2020;
    if name.len() > 24 {
        return None;
    }
    // Each word is assembled in a register (header names are short): writing bytes to a
    // stack buffer and reading it back as words would stall store forwarding.
    // Whole words and 4–7 byte tails are loaded directly (a tail as two overlapping
    // 4-byte loads: the bytes both cover are equal, so ORing them is exact).
    let word = |from: usize| {
        let part = name
            .get(from.min(name.len())..(from + 8).min(name.len()))
            .unwrap_or_default();
        let value = if let Some(all) = part.first_chunk::<8>() {
            u64::from_le_bytes(*all)
        } else if let (Some(low), Some(high)) = (part.first_chunk::<4>(), part.last_chunk::<4>()) {
            let shift = (part.len() - 4) * 8;
            u64::from(u32::from_le_bytes(*low)) | (u64::from(u32::from_le_bytes(*high)) << shift)
        } else {
            part.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        };
        value | FOLD
    };
    Some([word(0), word(8), word(16)])
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[HeaderName] = &[
        HeaderName::Accept,
        HeaderName::AcceptContact,
        HeaderName::AcceptEncoding,
        HeaderName::AcceptLanguage,
        HeaderName::AlertInfo,
        HeaderName::Allow,
        HeaderName::AllowEvents,
        HeaderName::AuthenticationInfo,
        HeaderName::Authorization,
        HeaderName::CallId,
        HeaderName::CallInfo,
        HeaderName::Contact,
        HeaderName::ContentDisposition,
        HeaderName::ContentEncoding,
        HeaderName::ContentLanguage,
        HeaderName::ContentLength,
        HeaderName::ContentType,
        HeaderName::CSeq,
        HeaderName::Date,
        HeaderName::ErrorInfo,
        HeaderName::Event,
        HeaderName::Expires,
        HeaderName::From,
        HeaderName::InReplyTo,
        HeaderName::MaxForwards,
        HeaderName::MimeVersion,
        HeaderName::MinExpires,
        HeaderName::MinSe,
        HeaderName::Organization,
        HeaderName::Priority,
        HeaderName::ProxyAuthenticate,
        HeaderName::ProxyAuthorization,
        HeaderName::ProxyRequire,
        HeaderName::RAck,
        HeaderName::Reason,
        HeaderName::RecordRoute,
        HeaderName::ReferSub,
        HeaderName::ReferTo,
        HeaderName::ReferredBy,
        HeaderName::RejectContact,
        HeaderName::Replaces,
        HeaderName::ReplyTo,
        HeaderName::RequestDisposition,
        HeaderName::Require,
        HeaderName::RetryAfter,
        HeaderName::Route,
        HeaderName::RSeq,
        HeaderName::Server,
        HeaderName::SessionExpires,
        HeaderName::Subject,
        HeaderName::SubscriptionState,
        HeaderName::Supported,
        HeaderName::Timestamp,
        HeaderName::To,
        HeaderName::Unsupported,
        HeaderName::UserAgent,
        HeaderName::Via,
        HeaderName::Warning,
        HeaderName::WwwAuthenticate,
    ];

    #[test]
    fn every_known_name_round_trips_in_any_case() {
        for &name in ALL {
            assert_eq!(HeaderName::parse(name.as_str()), name);
            assert_eq!(HeaderName::parse(&name.as_str().to_uppercase()), name);
            if let Some(c) = name.compact() {
                assert_eq!(HeaderName::parse(c), name);
                assert_eq!(HeaderName::parse(&c.to_uppercase()), name);
            }
        }
    }

    #[test]
    fn long_and_unknown_names_are_other() {
        assert_eq!(
            HeaderName::parse("X-A-Very-Long-Header-Name-Indeed"),
            HeaderName::Other
        );
        assert_eq!(HeaderName::parse("C%6Fntact"), HeaderName::Other);
    }
}
