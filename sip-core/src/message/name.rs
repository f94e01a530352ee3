//! Header names: the ones the stack knows, with their compact forms (RFC 3261 §7.3.3,
//! §20), and any other token.
//!
//! The table is kept by hand: a new header needs a variant, its spellings in `as_str` and
//! `compact` (if any), an entry in `KNOWN` and in `is_list` (if a list). The lookup tables
//! are built from those at compile time; should a new spelling share a hash slot with
//! another, the build fails and `name_slot` needs a new multiplier.

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

    /// Looks a name up from raw bytes without copying: the name is folded into three words
    /// (see [`fold_name`]), which pick one candidate by a hash; the candidate's spelling is
    /// then compared whole.
    pub(crate) fn from_bytes(name: &[u8]) -> HeaderName {
        let (Some(words), Some(&last)) = (fold_name(name), name.last()) else {
            return HeaderName::Other;
        };
        match candidate(name.len(), words[0], last) {
            Some(spelling) if spelling.folded == words => spelling.name,
            _ => HeaderName::Other,
        }
    }

    /// [`HeaderName::from_bytes`] for the name at `head[start..start + len]`, which the
    /// parser has checked to be a token. The words are loaded whole from the head and the
    /// bytes after the name masked off: the line's colon and value follow the name, so the
    /// 24 bytes are there on every line but the last few of a message, which take the
    /// byte-wise path. Most names fit in the first word, which alone picks the candidate.
    #[inline]
    pub(crate) fn from_head(head: &[u8], start: usize, len: usize) -> HeaderName {
        let chunk = head.get(start..).and_then(<[u8]>::first_chunk::<24>);
        let (Some(chunk), Some(&last), 1..=24) = (chunk, chunk.and_then(|c| c.get(len.wrapping_sub(1))), len)
        else {
            return HeaderName::from_bytes(head.get(start..start + len).unwrap_or_default());
        };
        // Word `index` of the name, folded: the bytes past the name are masked off (a shift
        // by 64, when none of the word is the name's, leaves nothing).
        let word = |index: usize| {
            let bytes = chunk
                .get(index * 8..index * 8 + 8)
                .and_then(|w| w.first_chunk::<8>())
                .copied()
                .unwrap_or_default();
            let kept = len.saturating_sub(index * 8).min(8) as u32;
            let mask = u64::MAX.checked_shr(64 - 8 * kept).unwrap_or(0);
            (u64::from_le_bytes(bytes) & mask) | FOLD
        };
        match candidate(len, word(0), last) {
            Some(spelling)
                if spelling.folded[0] == word(0)
                    && (len <= 8 || spelling.folded[1] == word(1))
                    && (len <= 16 || spelling.folded[2] == word(2)) =>
            {
                spelling.name
            }
            _ => HeaderName::Other,
        }
    }

    /// The known header name at the start of the line `head[start..end]`, read a word at a
    /// time: the name, its length, and where the colon after it is (from `start`). `None`
    /// for anything else (an unknown or malformed name, no colon in the first 24 bytes, the
    /// last few bytes of a head), which the parser reads byte by byte; for a line read here,
    /// that gives the same.
    ///
    /// The name is what precedes the first colon, less trailing white space; it is known
    /// when it equals a spelling but for ASCII case, which makes it a token.
    #[inline]
    pub(crate) fn read_known(head: &[u8], start: usize, end: usize) -> Option<(HeaderName, usize, usize)> {
        let chunk = head.get(start..)?.first_chunk::<24>()?;
        let raw = |index: usize| {
            let bytes = chunk
                .get(index * 8..index * 8 + 8)
                .and_then(|w| w.first_chunk::<8>())
                .copied()
                .unwrap_or_default();
            u64::from_le_bytes(bytes)
        };
        let words = [raw(0), raw(1), raw(2)];
        let colon = first_byte(words[0], b':')
            .or_else(|| first_byte(words[1], b':').map(|i| i + 8))
            .or_else(|| first_byte(words[2], b':').map(|i| i + 16))?;
        if start + colon >= end {
            return None;
        }
        let mut len = colon;
        while let Some(b' ' | b'\t') = chunk.get(len.wrapping_sub(1)) {
            len -= 1;
        }
        let &last = chunk.get(len.wrapping_sub(1))?;
        // The name's bytes of the first word, folded, the rest masked off.
        let first_word = words[0] & (u64::MAX >> (64 - 8 * len.min(8))) | FOLD;
        let spelling = candidate(len, first_word, last)?;
        // Equal but for ASCII case: only a letter's case bit may differ; past the spelling's
        // end nothing is compared.
        let ([w0, w1, w2], [f0, f1, f2], [e0, e1, e2]) = (words, spelling.folded, spelling.exact);
        let equal = (w0 ^ f0) & e0 | (w1 ^ f1) & e1 | (w2 ^ f2) & e2 == 0;
        equal.then_some((spelling.name, len, colon))
    }

    /// The canonical spelling (`None` for [`HeaderName::Other`]).
    pub const fn as_str(self) -> &'static str {
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
    pub const fn compact(self) -> Option<&'static str> {
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

/// Every known name (all but [`HeaderName::Other`]).
pub(crate) const KNOWN: [HeaderName; 59] = [
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

/// 0x01 in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of every zero byte of `word`, exactly up to the lowest zero byte: above a
/// zero byte a borrow may mark a byte 0x01 too.
#[inline]
const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & (ONES << 7)
}

/// The index of the first `byte` in the little-endian `word`.
#[inline]
fn first_byte(word: u64, byte: u8) -> Option<usize> {
    let found = zero_bytes(word ^ (ONES * u64::from(byte)));
    (found != 0).then_some(found.trailing_zeros() as usize / 8)
}

/// 0x20 in every byte: ORed into a word of a name, it lower-cases the ASCII letters and
/// maps no other token character onto a letter, digit or '-' (the bytes of spellings).
const FOLD: u64 = 0x2020_2020_2020_2020;

/// A spelling (canonical or compact) of a known name.
#[derive(Clone, Copy)]
struct Spelling {
    /// Folded like [`fold_name`].
    folded: [u64; 3],
    /// The bits of `folded` a name must match to equal the spelling but for ASCII case:
    /// all but a letter's case bit (0x20), none past the spelling's end.
    exact: [u64; 3],
    len: u8,
    name: HeaderName,
}

/// How many spellings there are: every name's canonical form and its compact form if any.
// Evaluated at compile time: an index out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const SPELLING_COUNT: usize = {
    let mut count = 0;
    let mut i = 0;
    while i < KNOWN.len() {
        count += if KNOWN[i].compact().is_some() { 2 } else { 1 };
        i += 1;
    }
    count
};

/// Picks a spelling's slot from its first folded word, its length and its last byte: a
/// multiplicative hash whose constant was searched for to give every spelling its own slot
/// of 256 (checked when the tables are built, at compile time).
#[inline]
const fn name_slot(len: usize, first_word: u64, last: u8) -> usize {
    const MULTIPLIER: u64 = 0x4fc2_1cf2_8a3d_c181;
    let mixed = first_word ^ (((last | 0x20) as u64) << 8) ^ len as u64;
    (mixed.wrapping_mul(MULTIPLIER) >> 56) as usize
}

/// `spelling` folded into words at compile time, as [`fold_name`] folds a name.
// Evaluated at compile time: an index out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const fn fold_spelling(spelling: &str) -> [u64; 3] {
    let bytes = spelling.as_bytes();
    assert!(bytes.len() <= 24);
    // Spellings are tokens: FOLD lower-cases their letters and changes no other byte.
    let mut b = 0;
    while b < bytes.len() {
        assert!(bytes[b].is_ascii_alphabetic() || bytes[b] == b'-');
        b += 1;
    }
    let mut words = [FOLD; 3];
    let mut i = 0;
    while i < bytes.len() {
        words[i / 8] |= (bytes[i] as u64) << (8 * (i % 8));
        i += 1;
    }
    words
}

/// [`Spelling::exact`] of `spelling`, at compile time.
// Evaluated at compile time: an index out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const fn exact_bits(spelling: &str) -> [u64; 3] {
    let bytes = spelling.as_bytes();
    let mut words = [0; 3];
    let mut i = 0;
    while i < bytes.len() {
        let bits: u64 = if bytes[i].is_ascii_alphabetic() {
            0xdf
        } else {
            0xff
        };
        words[i / 8] |= bits << (8 * (i % 8));
        i += 1;
    }
    words
}

/// Every spelling, and for each hash slot the index of the spelling in it (or
/// [`NO_SPELLING`]). Built at compile time; two spellings in one slot fail the build.
// Evaluated at compile time: an index out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
static SPELLINGS: ([Spelling; SPELLING_COUNT], [u8; 256]) = {
    let none = Spelling {
        folded: [0; 3],
        exact: [0; 3],
        len: 0,
        name: HeaderName::Other,
    };
    let mut spellings = [none; SPELLING_COUNT];
    let mut slots = [NO_SPELLING; 256];
    let mut count = 0;
    let mut i = 0;
    // KNOWN holds every name but Other, in declaration order.
    assert!(KNOWN.len() == HeaderName::Other as usize);
    while i < KNOWN.len() {
        let name = KNOWN[i];
        assert!(name as usize == i);
        let mut forms = [Some(name.as_str()), name.compact()];
        let mut f = 0;
        while f < forms.len() {
            if let Some(spelling) = forms[f].take() {
                let folded = fold_spelling(spelling);
                let last = spelling.as_bytes()[spelling.len() - 1];
                let slot = name_slot(spelling.len(), folded[0], last);
                assert!(
                    slots[slot] == NO_SPELLING,
                    "two header spellings share a hash slot"
                );
                slots[slot] = count as u8;
                spellings[count] = Spelling {
                    folded,
                    exact: exact_bits(spelling),
                    len: spelling.len() as u8,
                    name,
                };
                count += 1;
            }
            f += 1;
        }
        i += 1;
    }
    (spellings, slots)
};

/// A hash slot without a spelling.
const NO_SPELLING: u8 = u8::MAX;

/// The one spelling that may be a name of `len` bytes whose first folded word (see
/// [`fold_name`]) is `first_word` and whose last byte is `last`; its length is checked
/// here, the rest is the caller's to compare.
#[inline]
fn candidate(len: usize, first_word: u64, last: u8) -> Option<&'static Spelling> {
    let (spellings, slots) = &SPELLINGS;
    let slot = slots
        .get(name_slot(len, first_word, last))
        .copied()
        .unwrap_or(NO_SPELLING);
    spellings
        .get(usize::from(slot))
        .filter(|spelling| usize::from(spelling.len) == len)
}

/// `name` padded with zeros to 24 bytes, as three little-endian words with 0x20 ORed into
/// every byte; `None` when longer than any known name.
#[inline]
fn fold_name(name: &[u8]) -> Option<[u64; 3]> {
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

    #[test]
    fn every_known_name_round_trips_in_any_case() {
        for name in KNOWN {
            assert_eq!(HeaderName::parse(name.as_str()), name);
            assert_eq!(HeaderName::parse(&name.as_str().to_uppercase()), name);
            if let Some(c) = name.compact() {
                assert_eq!(HeaderName::parse(c), name);
                assert_eq!(HeaderName::parse(&c.to_uppercase()), name);
            }
        }
    }

    #[test]
    fn names_read_from_a_head_match_the_byte_wise_lookup() {
        let mut names: Vec<String> = KNOWN
            .iter()
            .flat_map(|n| [Some(n.as_str()), n.compact()])
            .flatten()
            .map(str::to_owned)
            .collect();
        names.extend(
            [
                "X-Custom",
                "Viaa",
                "Vi",
                "Contact-",
                "Content-Lengthy",
                "Accept-Contacts",
                "tO",
                "x",
                "a-name-of-exactly-24-byt",
                "Proxy-Authenticatiox",
                "Call-IE",
            ]
            .map(str::to_owned),
        );
        for name in names {
            for spelled in [name.clone(), name.to_uppercase()] {
                let expected = HeaderName::from_bytes(spelled.as_bytes());
                let line = format!("{spelled}: a value running on past the name\r\n");
                assert_eq!(
                    HeaderName::from_head(line.as_bytes(), 0, spelled.len()),
                    expected,
                    "{spelled}"
                );
                let shifted = format!("X: 1\r\n{line}");
                assert_eq!(
                    HeaderName::from_head(shifted.as_bytes(), 6, spelled.len()),
                    expected
                );
                // At the end of the head, the byte-wise path.
                assert_eq!(
                    HeaderName::from_head(spelled.as_bytes(), 0, spelled.len()),
                    expected
                );
            }
        }
    }

    #[test]
    fn a_spelling_matches_only_at_its_own_length() {
        for name in ["Via\0", "via ", "To\0\0", "Contact\0"] {
            assert_eq!(HeaderName::parse(name), HeaderName::Other, "{name:?}");
        }
        let padded = b"Via\0\0\0: x\r\n and more bytes after it";
        assert_eq!(HeaderName::from_head(padded, 0, 4), HeaderName::Other);
        assert_eq!(HeaderName::from_head(padded, 0, 3), HeaderName::Via);
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
