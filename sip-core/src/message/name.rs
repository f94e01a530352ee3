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
        let candidates: &[(&[u8], HeaderName)] = match (name.len(), first | 0x20, last | 0x20) {
            (1, b'a', b'a') => &[(b"a", HeaderName::AcceptContact)],
            (1, b'b', b'b') => &[(b"b", HeaderName::ReferredBy)],
            (1, b'c', b'c') => &[(b"c", HeaderName::ContentType)],
            (1, b'd', b'd') => &[(b"d", HeaderName::RequestDisposition)],
            (1, b'e', b'e') => &[(b"e", HeaderName::ContentEncoding)],
            (1, b'f', b'f') => &[(b"f", HeaderName::From)],
            (1, b'i', b'i') => &[(b"i", HeaderName::CallId)],
            (1, b'j', b'j') => &[(b"j", HeaderName::RejectContact)],
            (1, b'k', b'k') => &[(b"k", HeaderName::Supported)],
            (1, b'l', b'l') => &[(b"l", HeaderName::ContentLength)],
            (1, b'm', b'm') => &[(b"m", HeaderName::Contact)],
            (1, b'o', b'o') => &[(b"o", HeaderName::Event)],
            (1, b'r', b'r') => &[(b"r", HeaderName::ReferTo)],
            (1, b's', b's') => &[(b"s", HeaderName::Subject)],
            (1, b't', b't') => &[(b"t", HeaderName::To)],
            (1, b'u', b'u') => &[(b"u", HeaderName::AllowEvents)],
            (1, b'v', b'v') => &[(b"v", HeaderName::Via)],
            (1, b'x', b'x') => &[(b"x", HeaderName::SessionExpires)],
            (2, b't', b'o') => &[(b"to", HeaderName::To)],
            (3, b'v', b'a') => &[(b"via", HeaderName::Via)],
            (4, b'c', b'q') => &[(b"cseq", HeaderName::CSeq)],
            (4, b'd', b'e') => &[(b"date", HeaderName::Date)],
            (4, b'f', b'm') => &[(b"from", HeaderName::From)],
            (4, b'r', b'k') => &[(b"rack", HeaderName::RAck)],
            (4, b'r', b'q') => &[(b"rseq", HeaderName::RSeq)],
            (5, b'a', b'w') => &[(b"allow", HeaderName::Allow)],
            (5, b'e', b't') => &[(b"event", HeaderName::Event)],
            (5, b'r', b'e') => &[(b"route", HeaderName::Route)],
            (6, b'a', b't') => &[(b"accept", HeaderName::Accept)],
            (6, b'm', b'e') => &[(b"min-se", HeaderName::MinSe)],
            (6, b'r', b'n') => &[(b"reason", HeaderName::Reason)],
            (6, b's', b'r') => &[(b"server", HeaderName::Server)],
            (7, b'c', b'd') => &[(b"call-id", HeaderName::CallId)],
            (7, b'c', b't') => &[(b"contact", HeaderName::Contact)],
            (7, b'e', b's') => &[(b"expires", HeaderName::Expires)],
            (7, b'r', b'e') => &[(b"require", HeaderName::Require)],
            (7, b's', b't') => &[(b"subject", HeaderName::Subject)],
            (7, b'w', b'g') => &[(b"warning", HeaderName::Warning)],
            (8, b'p', b'y') => &[(b"priority", HeaderName::Priority)],
            (8, b'r', b'o') => &[
                (b"refer-to", HeaderName::ReferTo),
                (b"reply-to", HeaderName::ReplyTo),
            ],
            (8, b'r', b's') => &[(b"replaces", HeaderName::Replaces)],
            (9, b'c', b'o') => &[(b"call-info", HeaderName::CallInfo)],
            (9, b'r', b'b') => &[(b"refer-sub", HeaderName::ReferSub)],
            (9, b's', b'd') => &[(b"supported", HeaderName::Supported)],
            (9, b't', b'p') => &[(b"timestamp", HeaderName::Timestamp)],
            (10, b'a', b'o') => &[(b"alert-info", HeaderName::AlertInfo)],
            (10, b'e', b'o') => &[(b"error-info", HeaderName::ErrorInfo)],
            (10, b'u', b't') => &[(b"user-agent", HeaderName::UserAgent)],
            (11, b'i', b'o') => &[(b"in-reply-to", HeaderName::InReplyTo)],
            (11, b'm', b's') => &[(b"min-expires", HeaderName::MinExpires)],
            (11, b'r', b'r') => &[(b"retry-after", HeaderName::RetryAfter)],
            (11, b'r', b'y') => &[(b"referred-by", HeaderName::ReferredBy)],
            (11, b'u', b'd') => &[(b"unsupported", HeaderName::Unsupported)],
            (12, b'a', b's') => &[(b"allow-events", HeaderName::AllowEvents)],
            (12, b'c', b'e') => &[(b"content-type", HeaderName::ContentType)],
            (12, b'm', b'n') => &[(b"mime-version", HeaderName::MimeVersion)],
            (12, b'm', b's') => &[(b"max-forwards", HeaderName::MaxForwards)],
            (12, b'o', b'n') => &[(b"organization", HeaderName::Organization)],
            (12, b'r', b'e') => &[(b"record-route", HeaderName::RecordRoute)],
            (13, b'a', b'n') => &[(b"authorization", HeaderName::Authorization)],
            (13, b'p', b'e') => &[(b"proxy-require", HeaderName::ProxyRequire)],
            (14, b'a', b't') => &[(b"accept-contact", HeaderName::AcceptContact)],
            (14, b'c', b'h') => &[(b"content-length", HeaderName::ContentLength)],
            (14, b'r', b't') => &[(b"reject-contact", HeaderName::RejectContact)],
            (15, b'a', b'e') => &[(b"accept-language", HeaderName::AcceptLanguage)],
            (15, b'a', b'g') => &[(b"accept-encoding", HeaderName::AcceptEncoding)],
            (15, b's', b's') => &[(b"session-expires", HeaderName::SessionExpires)],
            (16, b'c', b'e') => &[(b"content-language", HeaderName::ContentLanguage)],
            (16, b'c', b'g') => &[(b"content-encoding", HeaderName::ContentEncoding)],
            (16, b'w', b'e') => &[(b"www-authenticate", HeaderName::WwwAuthenticate)],
            (18, b'p', b'e') => &[(b"proxy-authenticate", HeaderName::ProxyAuthenticate)],
            (18, b's', b'e') => &[(b"subscription-state", HeaderName::SubscriptionState)],
            (19, b'a', b'o') => &[(b"authentication-info", HeaderName::AuthenticationInfo)],
            (19, b'c', b'n') => &[(b"content-disposition", HeaderName::ContentDisposition)],
            (19, b'p', b'n') => &[(b"proxy-authorization", HeaderName::ProxyAuthorization)],
            (19, b'r', b'n') => &[(b"request-disposition", HeaderName::RequestDisposition)],
            _ => return HeaderName::Other,
        };
        candidates
            .iter()
            .find(|(spelling, _)| {
                // Spellings are lower-case letters, digits and '-'; ORing 0x20 lower-cases
                // an ASCII letter and maps no other token character onto one of those.
                spelling.len() == name.len() && spelling.iter().zip(name).all(|(&s, &n)| s == n | 0x20)
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
