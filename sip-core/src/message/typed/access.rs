//! Typed views of the headers a stack needs, parsed on demand from [`Headers`].
//!
//! Each getter returns `None` when the header is absent and `Some(Err(_))` when it is
//! malformed — or, for headers that must appear once, when it appears more than once
//! (RFC 4475 §3.3.8). Parsed values share the message buffer.

use crate::message::error::{ParseError, ParseErrorKind};
use crate::message::grammar::{
    TopLevelSplit, is_token, is_word_char, parse_u32, position_of, split_top_level,
};
use crate::message::headers::Headers;
use crate::message::name::HeaderName;

use super::auth::{AuthParseError, Challenge, Credentials};
use super::event::{Event, EventType, SubscriptionState};
use super::name_addr::NameAddr;
use super::refer::{ReferTo, ReferredBy, Replaces, parse_refer_sub};
use super::values::{AuthValue, CSeq, MediaType, RAck, ValueParams};
use super::via::Via;

impl Headers {
    /// The value of a header that must appear at most once.
    fn single(&self, name: HeaderName) -> Option<Result<&str, ParseError>> {
        let (first, repeated) = self.first_and_repeated(name)?;
        Some(if repeated {
            Err(ParseError::new(ParseErrorKind::DuplicateHeader).in_header(name.as_str()))
        } else {
            Ok(first)
        })
    }

    fn single_with<T>(
        &self,
        name: HeaderName,
        parse: impl FnOnce(&Self, &str) -> Result<T, ParseError>,
    ) -> Option<Result<T, ParseError>> {
        self.single(name)
            .map(|v| v.and_then(|v| parse(self, v).map_err(|e| e.in_header(name.as_str()))))
    }

    /// Every value of a list header, each parsed; an empty element is an error
    /// (RFC 4475 §3.1.2.1).
    fn list_with<'a, T: 'a>(
        &'a self,
        name: HeaderName,
        parse: fn(&Self, &str) -> Result<T, ParseError>,
    ) -> impl Iterator<Item = Result<T, ParseError>> + 'a {
        self.list_with_single(name, |_, _| None, parse)
    }

    /// [`Headers::list_with`] that first offers each whole line to `single`, which reads a
    /// line holding one value in a plain form (most lines) without splitting it, or returns
    /// `None` to have the line split and each element given to `parse`. For a line it reads,
    /// `single` must give what splitting and `parse` would.
    fn list_with_single<'a, T: 'a>(
        &'a self,
        name: HeaderName,
        single: impl Fn(&Self, &str) -> Option<T> + 'a,
        parse: impl Fn(&Self, &str) -> Result<T, ParseError> + 'a,
    ) -> impl Iterator<Item = Result<T, ParseError>> + 'a {
        ListValues {
            headers: self,
            name,
            lines: self.get_all_known(name),
            split: None,
            single,
            parse,
        }
    }

    /// Every Via value, topmost first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via, ParseError>> + '_ {
        self.list_with_single(HeaderName::Via, Via::parse_single_line, |h, v| {
            Via::parse_shared(h.share(v))
        })
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Option<Result<Via, ParseError>> {
        self.vias().next()
    }

    /// From (RFC 3261 §20.20).
    pub fn from_addr(&self) -> Option<Result<NameAddr, ParseError>> {
        self.single_with(HeaderName::From, |h, v| NameAddr::parse_shared(h.share(v)))
    }

    /// To (RFC 3261 §20.39).
    pub fn to_addr(&self) -> Option<Result<NameAddr, ParseError>> {
        self.single_with(HeaderName::To, |h, v| NameAddr::parse_shared(h.share(v)))
    }

    /// Call-ID (RFC 3261 §20.8): `word ["@" word]`.
    pub fn call_id(&self) -> Option<Result<&str, ParseError>> {
        self.single(HeaderName::CallId).map(|v| {
            v.and_then(|id| {
                if is_call_id(id) {
                    Ok(id)
                } else {
                    Err(ParseError::new(ParseErrorKind::HeaderValue).in_header("Call-ID"))
                }
            })
        })
    }

    /// CSeq (RFC 3261 §20.16).
    pub fn cseq(&self) -> Option<Result<CSeq, ParseError>> {
        self.single_with(HeaderName::CSeq, |_, v| CSeq::parse(v))
    }

    /// Max-Forwards (RFC 3261 §20.22), 0..=255.
    pub fn max_forwards(&self) -> Option<Result<u8, ParseError>> {
        self.single_with(HeaderName::MaxForwards, |_, v| {
            parse_u32(v)
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| ParseError::new(ParseErrorKind::HeaderValue))
        })
    }

    /// Content-Length (RFC 3261 §20.14). Several equal values count as one.
    pub fn content_length(&self) -> Option<Result<u32, ParseError>> {
        let mut lengths = self.get_all(HeaderName::ContentLength).map(parse_u32);
        let first = lengths.next()?;
        let all_equal = lengths.all(|l| l == first);
        Some(match first {
            Some(length) if all_equal => Ok(length),
            Some(_) => {
                Err(ParseError::new(ParseErrorKind::ConflictingContentLength).in_header("Content-Length"))
            }
            None => Err(ParseError::new(ParseErrorKind::ContentLength).in_header("Content-Length")),
        })
    }

    /// Content-Type (RFC 3261 §20.15).
    pub fn content_type(&self) -> Option<Result<MediaType, ParseError>> {
        self.single_with(HeaderName::ContentType, |h, v| {
            MediaType::parse_shared(h.share(v))
        })
    }

    /// Every Accept media range (RFC 3261 §20.1).
    pub fn accept(&self) -> impl Iterator<Item = Result<MediaType, ParseError>> + '_ {
        self.list_with(HeaderName::Accept, |h, v| MediaType::parse_shared(h.share(v)))
    }

    /// True when a Contact is `*` (RFC 3261 §10.2.2, REGISTER only).
    pub fn contact_is_wildcard(&self) -> bool {
        self.values(HeaderName::Contact).any(|v| v == "*")
    }

    /// Every Contact address.
    pub fn contacts(&self) -> impl Iterator<Item = Result<NameAddr, ParseError>> + '_ {
        self.name_addrs(HeaderName::Contact)
    }

    /// Every Route, in order (RFC 3261 §20.34).
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr, ParseError>> + '_ {
        self.name_addrs(HeaderName::Route)
    }

    /// Every Record-Route, in order (RFC 3261 §20.30).
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr, ParseError>> + '_ {
        self.name_addrs(HeaderName::RecordRoute)
    }

    /// Every address of a list header of name-addrs.
    fn name_addrs(&self, name: HeaderName) -> impl Iterator<Item = Result<NameAddr, ParseError>> + '_ {
        self.list_with_single(name, NameAddr::parse_single_line, |h, v| {
            NameAddr::parse_shared(h.share(v))
        })
    }

    /// Expires (RFC 3261 §20.19), in seconds.
    pub fn expires(&self) -> Option<Result<u32, ParseError>> {
        self.single_with(HeaderName::Expires, |_, v| parse_number(v))
    }

    /// Min-Expires (RFC 3261 §20.23).
    pub fn min_expires(&self) -> Option<Result<u32, ParseError>> {
        self.single_with(HeaderName::MinExpires, |_, v| parse_number(v))
    }

    /// The option tags of a list header such as Require, Supported, Proxy-Require or
    /// Unsupported; an element that is not a token is an error.
    pub fn option_tags(&self, name: HeaderName) -> impl Iterator<Item = Result<&str, ParseError>> + '_ {
        self.values(name).map(move |tag| {
            if is_token(tag) {
                Ok(tag)
            } else {
                Err(ParseError::new(ParseErrorKind::HeaderValue).in_header(name.as_str()))
            }
        })
    }

    /// True when Supported or Require lists `tag` (e.g. `100rel`), case-insensitively.
    pub fn supports(&self, tag: &str) -> bool {
        [HeaderName::Supported, HeaderName::Require]
            .into_iter()
            .any(|name| self.values(name).any(|t| t.eq_ignore_ascii_case(tag)))
    }

    /// Event (RFC 6665 §8.2.1), which names exactly one event type and appears once.
    pub fn event(&self) -> Option<Result<Event, ParseError>> {
        self.single_with(HeaderName::Event, |h, v| Event::parse_shared(h.share(v)))
    }

    /// Every event type of Allow-Events (RFC 6665 §8.2.2), a list header: the packages a
    /// UA accepts subscriptions to. An empty element is an error (RFC 4475 §3.1.2.1).
    pub fn allow_events(&self) -> impl Iterator<Item = Result<EventType<'_>, ParseError>> + '_ {
        self.get_all_known(HeaderName::AllowEvents)
            .flat_map(|line| split_top_level(line, b','))
            .map(|element| EventType::parse(element).map_err(|e| e.in_header("Allow-Events")))
    }

    /// Subscription-State (RFC 6665 §8.2.3).
    pub fn subscription_state(&self) -> Option<Result<SubscriptionState, ParseError>> {
        self.single_with(HeaderName::SubscriptionState, |h, v| {
            SubscriptionState::parse_shared(h.share(v))
        })
    }

    /// Session-Expires (RFC 4028 §4).
    pub fn session_expires(&self) -> Option<Result<ValueParams, ParseError>> {
        self.single_with(HeaderName::SessionExpires, |h, v| {
            ValueParams::parse_shared(h.share(v))
        })
    }

    /// Min-SE (RFC 4028 §5).
    pub fn min_se(&self) -> Option<Result<ValueParams, ParseError>> {
        self.single_with(HeaderName::MinSe, |h, v| ValueParams::parse_shared(h.share(v)))
    }

    /// Replaces (RFC 3891 §6.1). More than one is an error: RFC 3891 §3 answers such an
    /// INVITE with 400.
    pub fn replaces(&self) -> Option<Result<Replaces, ParseError>> {
        self.single_with(HeaderName::Replaces, |h, v| Replaces::parse_shared(h.share(v)))
    }

    /// Refer-To (RFC 3515 §2.1). More than one is an error: RFC 3515 §2.4.1 answers a
    /// REFER with none or several with 400.
    pub fn refer_to(&self) -> Option<Result<ReferTo, ParseError>> {
        self.single_with(HeaderName::ReferTo, |h, v| ReferTo::parse_shared(h.share(v)))
    }

    /// Referred-By (RFC 3892 §3).
    pub fn referred_by(&self) -> Option<Result<ReferredBy, ParseError>> {
        self.single_with(HeaderName::ReferredBy, |h, v| {
            ReferredBy::parse_shared(h.share(v))
        })
    }

    /// Refer-Sub (RFC 4488 §7.1): `false` asks that the REFER create no implicit
    /// subscription.
    pub fn refer_sub(&self) -> Option<Result<bool, ParseError>> {
        self.single_with(HeaderName::ReferSub, |_, v| parse_refer_sub(v))
    }

    /// RSeq (RFC 3262 §7.1).
    pub fn rseq(&self) -> Option<Result<u32, ParseError>> {
        self.single_with(HeaderName::RSeq, |_, v| parse_number(v))
    }

    /// RAck (RFC 3262 §7.2).
    pub fn rack(&self) -> Option<Result<RAck, ParseError>> {
        self.single_with(HeaderName::RAck, |_, v| RAck::parse(v))
    }

    /// Retry-After (RFC 3261 §20.33): the delay in seconds.
    pub fn retry_after(&self) -> Option<Result<u32, ParseError>> {
        self.single_with(HeaderName::RetryAfter, |_, v| {
            let seconds = v.split(['(', ';', ' ', '\t']).next().unwrap_or("");
            parse_number(seconds)
        })
    }

    /// Every value of an authentication header: Authorization, Proxy-Authorization,
    /// WWW-Authenticate or Proxy-Authenticate. Each header line holds one value.
    pub fn auth_values(&self, name: HeaderName) -> impl Iterator<Item = Result<AuthValue, ParseError>> + '_ {
        self.get_all(name)
            .map(move |v| AuthValue::parse_shared(self.share(v)).map_err(|e| e.in_header(name.as_str())))
    }
}

impl Headers {
    /// Every WWW-Authenticate challenge (RFC 3261 §20.44), in order. Each header line
    /// holds one challenge (RFC 3261 §7.3.1: these lines are never combined); a 401 may
    /// carry several, one per realm or algorithm (RFC 8760 §2.4).
    pub fn www_authenticate(&self) -> impl Iterator<Item = Result<Challenge, AuthParseError>> + '_ {
        self.challenges(HeaderName::WwwAuthenticate)
    }

    /// Every Proxy-Authenticate challenge (RFC 3261 §20.27), in order.
    pub fn proxy_authenticate(&self) -> impl Iterator<Item = Result<Challenge, AuthParseError>> + '_ {
        self.challenges(HeaderName::ProxyAuthenticate)
    }

    /// Every Authorization value (RFC 3261 §20.7), in order: one per realm.
    pub fn authorization(&self) -> impl Iterator<Item = Result<Credentials, AuthParseError>> + '_ {
        self.credentials(HeaderName::Authorization)
    }

    /// Every Proxy-Authorization value (RFC 3261 §20.28), in order: one per realm.
    pub fn proxy_authorization(&self) -> impl Iterator<Item = Result<Credentials, AuthParseError>> + '_ {
        self.credentials(HeaderName::ProxyAuthorization)
    }

    /// The challenges of WWW-Authenticate or Proxy-Authenticate.
    pub(crate) fn challenges(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<Challenge, AuthParseError>> + '_ {
        self.get_all_known(name)
            .map(|v| Challenge::parse_shared(self.share(v)))
    }

    /// The credentials of Authorization or Proxy-Authorization.
    pub(crate) fn credentials(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<Credentials, AuthParseError>> + '_ {
        self.get_all_known(name)
            .map(|v| Credentials::parse_shared(self.share(v)))
    }
}

/// The iterator behind [`Headers::list_with_single`].
struct ListValues<'a, I, S, P> {
    headers: &'a Headers,
    name: HeaderName,
    lines: I,
    /// The elements left of a line being split.
    split: Option<TopLevelSplit<'a>>,
    single: S,
    parse: P,
}

impl<'a, I, S, P, T> Iterator for ListValues<'a, I, S, P>
where
    I: Iterator<Item = &'a str>,
    S: Fn(&Headers, &str) -> Option<T>,
    P: Fn(&Headers, &str) -> Result<T, ParseError>,
{
    type Item = Result<T, ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(element) = self.split.as_mut().and_then(Iterator::next) {
                return Some(if element.is_empty() {
                    Err(ParseError::new(ParseErrorKind::HeaderValue).in_header(self.name.as_str()))
                } else {
                    (self.parse)(self.headers, element).map_err(|e| e.in_header(self.name.as_str()))
                });
            }
            let line = self.lines.next()?;
            if let Some(value) = (self.single)(self.headers, line) {
                self.split = None;
                return Some(Ok(value));
            }
            self.split = Some(split_top_level(line, b','));
        }
    }
}

/// `callid = word [ "@" word ]`: a run of word characters, then optionally '@' and another
/// non-empty run ('@' is no word character).
pub(crate) fn is_call_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    let first = position_of(bytes, |b| !is_word_char(b));
    match bytes.get(first) {
        _ if first == 0 => false,
        None => true,
        Some(b'@') => {
            let host = bytes.get(first + 1..).unwrap_or_default();
            !host.is_empty() && position_of(host, |b| !is_word_char(b)) == host.len()
        }
        Some(_) => false,
    }
}

fn parse_number(s: &str) -> Result<u32, ParseError> {
    parse_u32(s).ok_or_else(|| ParseError::new(ParseErrorKind::HeaderValue))
}

#[cfg(test)]
mod tests {
    use crate::message::{HeaderName, Headers};

    #[test]
    fn duplicate_single_headers_are_errors() {
        let mut h = Headers::new();
        h.push(HeaderName::CallId, "a@b");
        h.push(HeaderName::CallId, "c@d");
        assert_eq!(
            h.call_id().unwrap().unwrap_err().kind(),
            crate::message::ParseErrorKind::DuplicateHeader
        );
    }

    #[test]
    fn call_id_is_word_at_word() {
        for good in [
            "a84b4c76e66710@pc33.atlanta.example.com",
            "x",
            "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        ] {
            assert!(super::is_call_id(good), "{good}");
        }
        for bad in ["", "@", "a@", "@b", "a@@b", "a@b@c", "a b", "a@b c"] {
            assert!(!super::is_call_id(bad), "{bad}");
        }
    }

    /// The values of every line, as splitting each line and parsing its elements gives them.
    fn split_and_parsed<T>(
        h: &Headers,
        name: HeaderName,
        parse: impl Fn(&str) -> Result<T, crate::message::ParseError>,
    ) -> Vec<Result<T, crate::message::ParseErrorKind>> {
        h.get_all(name)
            .flat_map(|line| crate::message::grammar::split_top_level(line, b',').collect::<Vec<_>>())
            .map(|v| {
                if v.is_empty() {
                    Err(crate::message::ParseErrorKind::HeaderValue)
                } else {
                    parse(v).map_err(|e| e.kind())
                }
            })
            .collect()
    }

    #[test]
    fn whole_lines_read_as_their_split_elements() {
        let vias = [
            "SIP/2.0/UDP a.example.com:5060;branch=z9hG4bK1;rport",
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2",
            "SIP/2.0/UDP a;branch=x,y",
            "SIP/2.0/UDP a;branch=x,",
            "SIP/2.0/UDP a;x=\"q,uoted\";branch=z9hG4bK3",
            "SIP/2.0/UDP a;x=<b;c=\"x>,SIP/2.0/UDP c\"",
            "SIP/2.0/UDP a;x=<y,z>",
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK4",
            " SIP/2.0/UDP a ",
            "SIP/2.0/UDP a;;",
            "",
        ];
        for line in vias {
            let mut h = Headers::new();
            h.push(HeaderName::Via, line);
            let ours: Vec<_> = h
                .vias()
                .map(|v| v.map(|v| v.to_string()).map_err(|e| e.kind()))
                .collect();
            let split = split_and_parsed(&h, HeaderName::Via, |v| {
                crate::message::Via::parse(v).map(|v| v.to_string())
            });
            assert_eq!(ours, split, "{line:?}");
        }
        let contacts = [
            "<sip:alice@pc33.atlanta.example.com:5060;transport=udp>;+sip.instance=\"<urn:uuid:1>\"",
            "\"Alice, A\" <sip:a@h>;tag=1",
            "<sip:a,b@h;p=1,2>;q=1",
            "<sip:a@h>;q=1, <sip:b@h>",
            "<sip:a@h>;q=1,<sip:b@h>",
            "<sip:a@h>;x=<y,z>",
            "<sip:a@h>;x=\"<\",<sip:b@h>",
            "\"A\\\",\" <sip:a@h>",
            "<sip:a@h>,",
            "*",
            "sip:a@h;x,sip:b@h",
            "<sip:a@h > ",
        ];
        for line in contacts {
            let mut h = Headers::new();
            h.push(HeaderName::Contact, line);
            let ours: Vec<_> = h
                .contacts()
                .map(|v| v.map(|v| v.to_string()).map_err(|e| e.kind()))
                .collect();
            let split = split_and_parsed(&h, HeaderName::Contact, |v| {
                crate::message::NameAddr::parse(v).map(|v| v.to_string())
            });
            assert_eq!(ours, split, "{line:?}");
        }
    }

    #[test]
    fn random_lines_read_as_their_split_elements() {
        let via_parts = [
            "SIP/2.0/UDP h",
            "SIP/2.0/TCP 192.0.2.1:5060",
            ";branch=z9hG4bK1",
            ";rport",
            ";x=\"a,<b\"",
            ",",
            ", ",
            "<",
            ">",
            "=",
            ";",
            " ",
            "y",
        ];
        let contact_parts = [
            "<sip:a@h>",
            "\"A, <B>\" <sip:b@h;p=1,2>",
            ";q=1",
            ";+i=\"<urn:x>\"",
            ",",
            ", ",
            "<",
            ">",
            "=",
            ";",
            " ",
            "\"",
            "sip:c@h",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        for _ in 0..5_000 {
            let mut via = String::new();
            let mut contact = String::new();
            for _ in 0..1 + next(6) {
                via.push_str(via_parts[next(via_parts.len())]);
                contact.push_str(contact_parts[next(contact_parts.len())]);
            }
            let mut h = Headers::new();
            h.push(HeaderName::Via, via.as_str());
            h.push(HeaderName::Contact, contact.as_str());
            let vias: Vec<_> = h
                .vias()
                .map(|v| v.map(|v| v.to_string()).map_err(|e| e.kind()))
                .collect();
            let split = split_and_parsed(&h, HeaderName::Via, |v| {
                crate::message::Via::parse(v).map(|v| v.to_string())
            });
            assert_eq!(vias, split, "{via:?}");
            let contacts: Vec<_> = h
                .contacts()
                .map(|v| v.map(|v| v.to_string()).map_err(|e| e.kind()))
                .collect();
            let split = split_and_parsed(&h, HeaderName::Contact, |v| {
                crate::message::NameAddr::parse(v).map(|v| v.to_string())
            });
            assert_eq!(contacts, split, "{contact:?}");
        }
    }

    #[test]
    fn via_list_with_empty_elements_is_an_error() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.15;;,;,,");
        assert!(h.vias().any(|v| v.is_err()));
    }

    #[test]
    fn vias_split_across_lines_and_commas() {
        let mut h = Headers::new();
        h.push(
            HeaderName::Via,
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2",
        );
        h.push(HeaderName::Via, "SIP/2.0/UDP c");
        let hosts: Vec<String> = h.vias().map(|v| v.unwrap().host_str().to_owned()).collect();
        assert_eq!(hosts, ["a", "b", "c"]);
    }
}
