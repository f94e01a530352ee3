//! The headers of the SIP event framework (RFC 6665): Event, Allow-Events and
//! Subscription-State.

use std::fmt;

use bytestring::ByteString;

use crate::message::error::{ParseError, ParseErrorKind};
use crate::message::grammar::{is_token, is_token_char, parse_u32, quoted_string_len, trim_lws};
use crate::message::params::Params;
use crate::message::span::Span;
use crate::message::uri::parse_host_prefix;

fn value_error(header: &str) -> ParseError {
    ParseError::new(ParseErrorKind::HeaderValue).in_header(header)
}

/// An event type: an event package, optionally followed by templates
/// (RFC 6665 §8.4: `event-type = event-package *( "." event-template )`, each part a
/// `token-nodot`). Event types compare byte by byte (RFC 6665 §8.2.1), so `==` is the
/// comparison the RFC asks for.
///
/// ```
/// use sip_core::message::EventType;
/// let t = EventType::parse("presence.winfo").unwrap();
/// assert_eq!(t.package(), "presence");
/// assert_eq!(t.templates().collect::<Vec<_>>(), ["winfo"]);
/// assert_ne!(t, EventType::parse("Presence.winfo").unwrap());
/// assert!(EventType::parse("presence.").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventType<'a> {
    text: &'a str,
}

impl<'a> EventType<'a> {
    /// Parses an event type, ignoring white space around it.
    pub fn parse(s: &'a str) -> Result<EventType<'a>, ParseError> {
        let text = trim_lws(s);
        if is_dotted_tokens(text) {
            Ok(EventType { text })
        } else {
            Err(value_error("Event"))
        }
    }

    /// The event type as written (`presence.winfo`).
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The event package: the part before the first `.` (`presence`).
    pub fn package(&self) -> &'a str {
        self.text.split('.').next().unwrap_or("")
    }

    /// The event templates after the package, in order (`winfo`).
    pub fn templates(self) -> impl Iterator<Item = &'a str> + 'a {
        self.text.split('.').skip(1)
    }
}

impl fmt::Display for EventType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

/// `Event: refer;id=93809824` (RFC 6665 §8.2.1, grammar in §8.4): an event type, an
/// optional `id` and other parameters.
///
/// `==` compares the text; whether two Event values name the same subscription is
/// [`Event::matches`].
///
/// ```
/// use sip_core::message::Event;
/// let e = Event::parse("presence.winfo ; id=1 ; x=y").unwrap();
/// assert_eq!(e.package(), "presence");
/// assert_eq!(e.templates().collect::<Vec<_>>(), ["winfo"]);
/// assert_eq!(e.id(), Some("1"));
/// assert_eq!(e.params().get("x"), Some(Some("y")));
/// assert!(e.matches(&Event::parse("presence.winfo;id=1").unwrap()));
/// assert!(!e.matches(&Event::parse("presence.winfo").unwrap()));
/// ```
#[derive(Clone)]
pub struct Event {
    /// The value without surrounding white space.
    text: ByteString,
    event_type: Span,
    id: Option<Span>,
    params: Span,
}

impl Event {
    /// Parses an Event value, copying it.
    pub fn parse(s: &str) -> Result<Event, ParseError> {
        Event::parse_shared(ByteString::from(s))
    }

    /// Parses an Event value held in a shared buffer.
    pub fn parse_shared(text: ByteString) -> Result<Event, ParseError> {
        let text = text.slice_ref(trim_lws(&text));
        let end = memchr::memchr(b';', text.as_bytes()).unwrap_or(text.len());
        let event_type = EventType::parse(text.get(..end).unwrap_or(""))?.as_str();
        let params = text.get(end..).unwrap_or("");
        if !is_generic_params(Params::new(params)) {
            return Err(value_error("Event"));
        }
        // RFC 6665 §8.4: event-param = generic-param / ( "id" EQUAL token ). Two ids would
        // leave the subscription ambiguous.
        let id = match single_param(Params::new(params), "id").map_err(|()| value_error("Event"))? {
            None => None,
            Some(Some(id)) if is_token(id) => Some(Span::of(&text, id)),
            Some(_) => return Err(value_error("Event")),
        };
        Ok(Event {
            event_type: Span::of(&text, event_type),
            id,
            params: Span::of(&text, params),
            text,
        })
    }

    /// The event type (`presence.winfo`).
    pub fn event_type(&self) -> EventType<'_> {
        EventType {
            text: self.event_type.get(&self.text),
        }
    }

    /// The event package (`presence`).
    pub fn package(&self) -> &str {
        self.event_type().package()
    }

    /// The event templates after the package (`winfo`).
    pub fn templates(&self) -> impl Iterator<Item = &str> + '_ {
        self.event_type().templates()
    }

    /// The `id` parameter, which tells apart several subscriptions to the same package in
    /// one dialog (RFC 6665 §8.2.1).
    pub fn id(&self) -> Option<&str> {
        self.id.map(|id| id.get(&self.text))
    }

    /// Every parameter, `id` included.
    pub fn params(&self) -> Params<'_> {
        Params::new(self.params.get(&self.text))
    }

    /// True when both values name the same subscription (RFC 6665 §8.2.1): the event types
    /// are equal byte by byte, and so are the `id` parameters, a value with an `id` never
    /// matching one without. Other parameters are not compared.
    ///
    /// ```
    /// use sip_core::message::Event;
    /// let e = |s| Event::parse(s).unwrap();
    /// assert!(e("foo; id=1234").matches(&e("foo; param=abcd; id=1234")));
    /// assert!(!e("foo; id=1234").matches(&e("foo")));
    /// assert!(!e("foo; id=1234").matches(&e("Foo; id=1234")));
    /// ```
    pub fn matches(&self, other: &Event) -> bool {
        self.event_type() == other.event_type() && self.id() == other.id()
    }

    /// The value as written, without surrounding white space.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Event {}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event({:?})", &*self.text)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The state of a subscription in a Subscription-State value (RFC 6665 §8.4
/// `substate-value`). The known values compare case-insensitively (RFC 3261 §7.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Substate<'a> {
    /// `active`: the subscription has been accepted.
    Active,
    /// `pending`: the subscription has been received but not yet authorized.
    Pending,
    /// `terminated`: the subscription is over.
    Terminated,
    /// An extension state, as written (a token). RFC 6665 §4.1.3 asks a subscriber to
    /// ignore a state it does not know.
    Other(&'a str),
}

impl<'a> Substate<'a> {
    fn classify(s: &'a str) -> Substate<'a> {
        [Substate::Active, Substate::Pending, Substate::Terminated]
            .into_iter()
            .find(|known| known.as_str().eq_ignore_ascii_case(s))
            .unwrap_or(Substate::Other(s))
    }

    /// The state as it is sent: lower case for the known states.
    pub fn as_str(&self) -> &'a str {
        match self {
            Substate::Active => "active",
            Substate::Pending => "pending",
            Substate::Terminated => "terminated",
            Substate::Other(s) => s,
        }
    }
}

impl fmt::Display for Substate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a subscription ended or is in its state: the `reason` parameter of
/// Subscription-State (RFC 6665 §8.4 `event-reason-value`; meanings in §4.1.3). The known
/// values compare case-insensitively (RFC 3261 §7.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventReason<'a> {
    /// `deactivated`: the subscriber may retry at once.
    Deactivated,
    /// `probation`: the subscriber may retry later (after `retry-after`, if given).
    Probation,
    /// `rejected`: the subscription was refused.
    Rejected,
    /// `timeout`: the subscription was not refreshed in time.
    Timeout,
    /// `giveup`: the notifier could not get authorization in time.
    Giveup,
    /// `noresource`: the resource no longer exists.
    NoResource,
    /// `invariant`: the resource's state will not change.
    Invariant,
    /// An extension reason, as written; it must be a token.
    Other(&'a str),
}

impl<'a> EventReason<'a> {
    const KNOWN: [EventReason<'static>; 7] = [
        EventReason::Deactivated,
        EventReason::Probation,
        EventReason::Rejected,
        EventReason::Timeout,
        EventReason::Giveup,
        EventReason::NoResource,
        EventReason::Invariant,
    ];

    fn classify(s: &'a str) -> EventReason<'a> {
        EventReason::KNOWN
            .into_iter()
            .find(|known| known.as_str().eq_ignore_ascii_case(s))
            .unwrap_or(EventReason::Other(s))
    }

    /// The reason as it is sent: lower case for the known reasons.
    pub fn as_str(&self) -> &'a str {
        match self {
            EventReason::Deactivated => "deactivated",
            EventReason::Probation => "probation",
            EventReason::Rejected => "rejected",
            EventReason::Timeout => "timeout",
            EventReason::Giveup => "giveup",
            EventReason::NoResource => "noresource",
            EventReason::Invariant => "invariant",
            EventReason::Other(s) => s,
        }
    }
}

impl fmt::Display for EventReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Subscription-State: active;expires=3600` (RFC 6665 §8.2.3, grammar in §8.4): the
/// state of a subscription, with the `reason`, `expires` and `retry-after` parameters
/// (the last two `delta-seconds`) and any others.
///
/// `==` compares the text.
///
/// ```
/// use sip_core::message::{EventReason, Substate, SubscriptionState};
/// let s = SubscriptionState::parse("terminated;reason=probation;retry-after=30").unwrap();
/// assert_eq!(s.state(), Substate::Terminated);
/// assert_eq!(s.reason(), Some(EventReason::Probation));
/// assert_eq!(s.retry_after(), Some(30));
/// assert_eq!(s.expires(), None);
///
/// assert_eq!(SubscriptionState::active(600).to_string(), "active;expires=600");
/// let ended = SubscriptionState::terminated(Some(EventReason::Timeout), None).unwrap();
/// assert_eq!(ended.to_string(), "terminated;reason=timeout");
/// assert!(SubscriptionState::parse("active;expires=soon").is_err());
/// ```
#[derive(Clone)]
pub struct SubscriptionState {
    /// The value without surrounding white space.
    text: ByteString,
    state: Span,
    reason: Option<Span>,
    expires: Option<u32>,
    retry_after: Option<u32>,
    params: Span,
}

impl SubscriptionState {
    /// Parses a Subscription-State value, copying it.
    pub fn parse(s: &str) -> Result<SubscriptionState, ParseError> {
        SubscriptionState::parse_shared(ByteString::from(s))
    }

    /// Parses a Subscription-State value held in a shared buffer. The state must be a
    /// token, `reason` a token, `expires` and `retry-after` decimal numbers that fit in 32
    /// bits; none of the three may appear twice.
    pub fn parse_shared(text: ByteString) -> Result<SubscriptionState, ParseError> {
        const NAME: &str = "Subscription-State";
        let text = text.slice_ref(trim_lws(&text));
        let end = memchr::memchr(b';', text.as_bytes()).unwrap_or(text.len());
        let state = trim_lws(text.get(..end).unwrap_or(""));
        let params_text = text.get(end..).unwrap_or("");
        let params = Params::new(params_text);
        if !is_token(state) || !is_generic_params(params) {
            return Err(value_error(NAME));
        }
        let once = |name| single_param(params, name).map_err(|()| value_error(NAME));
        let reason = match once("reason")? {
            None => None,
            Some(Some(reason)) if is_token(reason) => Some(Span::of(&text, reason)),
            Some(_) => return Err(value_error(NAME)),
        };
        let delta_seconds = |value: Option<Option<&str>>| match value {
            None => Ok(None),
            Some(v) => v.and_then(parse_u32).map(Some).ok_or_else(|| value_error(NAME)),
        };
        Ok(SubscriptionState {
            expires: delta_seconds(once("expires")?)?,
            retry_after: delta_seconds(once("retry-after")?)?,
            state: Span::of(&text, state),
            reason,
            params: Span::of(&text, params_text),
            text,
        })
    }

    /// Reads what can be read of a Subscription-State value [`parse`](Self::parse)
    /// refuses: the state, when it is a token, and each of `reason`, `expires` and
    /// `retry-after` that is well formed; the rest is dropped. For a subscriber, which
    /// must act on a NOTIFY's state even when a parameter is mangled (linphone 5.1 writes
    /// `terminated;reason=reason=noresource`). `None` without a readable state.
    ///
    /// ```
    /// use sip_core::message::{Substate, SubscriptionState};
    /// let s = SubscriptionState::parse_lenient("terminated;reason=reason=noresource").unwrap();
    /// assert_eq!(s.state(), Substate::Terminated);
    /// assert_eq!(s.reason(), None);
    /// assert!(SubscriptionState::parse_lenient("@;expires=1").is_none());
    /// ```
    pub fn parse_lenient(s: &str) -> Option<SubscriptionState> {
        if let Ok(state) = SubscriptionState::parse(s) {
            return Some(state);
        }
        let s = trim_lws(s);
        let end = memchr::memchr(b';', s.as_bytes()).unwrap_or(s.len());
        let state = trim_lws(s.get(..end)?);
        if !is_token(state) {
            return None;
        }
        let params = Params::new(s.get(end..).unwrap_or(""));
        let value = |name| params.get(name).flatten();
        let reason = value("reason").filter(|r| is_token(r)).map(EventReason::classify);
        let number = |name| value(name).and_then(parse_u32);
        Some(SubscriptionState::build(
            Substate::classify(state),
            reason,
            number("expires"),
            number("retry-after"),
        ))
    }

    /// `active;expires=<expires>`: the subscription is accepted and lasts `expires` more
    /// seconds (RFC 6665 §4.2.2).
    pub fn active(expires: u32) -> SubscriptionState {
        SubscriptionState::build(Substate::Active, None, Some(expires), None)
    }

    /// `pending;expires=<expires>`: the subscription awaits authorization (RFC 6665 §4.2.2).
    pub fn pending(expires: u32) -> SubscriptionState {
        SubscriptionState::build(Substate::Pending, None, Some(expires), None)
    }

    /// `terminated[;reason=…][;retry-after=…]` (RFC 6665 §4.1.3). Fails only for an
    /// [`EventReason::Other`] that is not a token.
    pub fn terminated(
        reason: Option<EventReason<'_>>,
        retry_after: Option<u32>,
    ) -> Result<SubscriptionState, ParseError> {
        if reason.is_some_and(|r| !is_token(r.as_str())) {
            return Err(value_error("Subscription-State"));
        }
        Ok(SubscriptionState::build(
            Substate::Terminated,
            reason,
            None,
            retry_after,
        ))
    }

    /// The value `state[;reason=…][;expires=…][;retry-after=…]`; `state` and `reason` are
    /// tokens.
    fn build(
        state: Substate<'_>,
        reason: Option<EventReason<'_>>,
        expires: Option<u32>,
        retry_after: Option<u32>,
    ) -> SubscriptionState {
        let mut text = String::with_capacity(48);
        text.push_str(state.as_str());
        let state_span = Span::new(0, text.len());
        let reason_span = reason.map(|reason| {
            text.push_str(";reason=");
            let start = text.len();
            text.push_str(reason.as_str());
            Span::new(start, text.len())
        });
        if let Some(expires) = expires {
            text.push_str(";expires=");
            text.push_str(&expires.to_string());
        }
        if let Some(retry_after) = retry_after {
            text.push_str(";retry-after=");
            text.push_str(&retry_after.to_string());
        }
        SubscriptionState {
            params: Span::new(state_span.end as usize, text.len()),
            state: state_span,
            reason: reason_span,
            expires,
            retry_after,
            text: ByteString::from(text),
        }
    }

    /// The subscription state.
    pub fn state(&self) -> Substate<'_> {
        Substate::classify(self.state.get(&self.text))
    }

    /// The `reason` parameter.
    pub fn reason(&self) -> Option<EventReason<'_>> {
        self.reason.map(|r| EventReason::classify(r.get(&self.text)))
    }

    /// The `expires` parameter: how many more seconds the subscription lasts.
    pub fn expires(&self) -> Option<u32> {
        self.expires
    }

    /// The `retry-after` parameter: seconds to wait before subscribing again.
    pub fn retry_after(&self) -> Option<u32> {
        self.retry_after
    }

    /// Every parameter, the three above included.
    pub fn params(&self) -> Params<'_> {
        Params::new(self.params.get(&self.text))
    }

    /// The value as written, without surrounding white space.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for SubscriptionState {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SubscriptionState {}

impl fmt::Debug for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubscriptionState({:?})", &*self.text)
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `token-nodot *( "." token-nodot )`: RFC 6665's `event-type`, and the `dot-atom` of
/// RFC 3892 (its `atom` is the same character set).
pub(crate) fn is_dotted_tokens(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|part| !part.is_empty() && part.bytes().all(is_token_char))
}

/// True when `params` are RFC 3261 §25.1 `generic-param`s: token names, and values that
/// are tokens, IPv6 references or quoted strings (`gen-value = token / host /
/// quoted-string`; a host name or IPv4 address is a token). Stricter than
/// [`Params::is_well_formed`], which lets an unquoted value hold `=` or `/`: a value
/// written back parameter by parameter then reads the same.
pub(crate) fn is_generic_params(params: Params<'_>) -> bool {
    let gen_value = |v: &str| {
        is_token(v)
            || v.starts_with('"') && quoted_string_len(v) == Some(v.len())
            || v.starts_with('[') && parse_host_prefix(v).is_some_and(|(_, _, len)| len == v.len())
    };
    params.is_well_formed()
        && params
            .iter()
            .all(|(name, value)| is_token(name) && value.is_none_or(gen_value))
}

/// The parameter `name`, which may appear at most once, as [`Params::get`] gives it
/// (`Ok(None)` when absent, `Ok(Some(None))` for a flag); `Err(())` when repeated.
pub(crate) fn single_param<'a>(params: Params<'a>, name: &str) -> Result<Option<Option<&'a str>>, ()> {
    let mut found = params.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    let first = found.next();
    if found.next().is_some() {
        return Err(());
    }
    Ok(first.map(|(_, value)| value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{HeaderName, Headers, Message};

    fn request(headers: &str) -> Message {
        let text = format!(
            "NOTIFY sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\nCall-ID: c\r\n\
             CSeq: 1 NOTIFY\r\nMax-Forwards: 70\r\n{headers}Content-Length: 0\r\n\r\n"
        );
        Message::parse(text.into_bytes().into()).unwrap()
    }

    #[test]
    fn refer_event_with_id() {
        // RFC 3515 §2.4.6: the NOTIFY carries the REFER's CSeq number as the id.
        let e = Event::parse("refer;id=93809824").unwrap();
        assert_eq!(e.package(), "refer");
        assert_eq!(e.templates().count(), 0);
        assert_eq!(e.id(), Some("93809824"));
        assert_eq!(e.to_string(), "refer;id=93809824");
    }

    #[test]
    fn templates_follow_the_package() {
        let e = Event::parse("foo.bar;id=1").unwrap();
        assert_eq!(e.package(), "foo");
        assert_eq!(e.templates().collect::<Vec<_>>(), ["bar"]);
        assert_eq!(e.id(), Some("1"));
        let t = EventType::parse("a.b.c").unwrap();
        assert_eq!(t.templates().collect::<Vec<_>>(), ["b", "c"]);
    }

    #[test]
    fn event_types_and_ids_match_byte_by_byte() {
        // RFC 6665 §8.2.1: "Event: foo; id=1234" matches "Event: foo; param=abcd; id=1234"
        // but not "Event: foo" or "Event: Foo; id=1234".
        let e = |s| Event::parse(s).unwrap();
        assert!(e("foo; id=1234").matches(&e("foo; param=abcd; id=1234")));
        assert!(!e("foo; id=1234").matches(&e("foo")));
        assert!(!e("foo").matches(&e("foo; id=1234")));
        assert!(!e("foo; id=1234").matches(&e("Foo; id=1234")));
        assert!(!e("foo; id=abc").matches(&e("foo; id=ABC")));
        assert!(e("foo").matches(&e("foo;x=1")));
        // The parameter name is case-insensitive (RFC 3261 §7.3.1).
        assert!(e("foo;ID=7").matches(&e("foo;id=7")));
    }

    #[test]
    fn malformed_events_are_rejected() {
        for bad in [
            "",
            " ",
            ";id=1",
            "foo.",
            ".foo",
            "foo..bar",
            "foo bar",
            "foo;id",
            "foo;id=",
            "foo;id=\"1\"",
            "foo;id=1;id=2",
            "foo;;",
            "foo;x=a b",
            "fo\"o",
            "foo,bar",
            "foo;x=a=b",
            "foo;x=a/b",
            "foo;x\t=y=;z",
            "foo;a\"b",
        ] {
            assert!(Event::parse(bad).is_err(), "{bad:?}");
        }
        let e = Event::parse("foo;x=\"a=b\";h=[2001:db8::1];y").unwrap();
        assert_eq!(e.params().get("h"), Some(Some("[2001:db8::1]")));
    }

    #[test]
    fn subscription_state_examples() {
        let s = SubscriptionState::parse("terminated;reason=timeout").unwrap();
        assert_eq!(s.state(), Substate::Terminated);
        assert_eq!(s.reason(), Some(EventReason::Timeout));
        assert_eq!((s.expires(), s.retry_after()), (None, None));

        let s = SubscriptionState::parse("active;expires=3600").unwrap();
        assert_eq!(s.state(), Substate::Active);
        assert_eq!(s.expires(), Some(3600));

        let s = SubscriptionState::parse(" Pending ; EXPIRES = 60 ; foo=\"a;b\" ").unwrap();
        assert_eq!(s.state(), Substate::Pending);
        assert_eq!(s.expires(), Some(60));
        assert_eq!(s.params().get_unquoted("foo").as_deref(), Some("a;b"));
        assert_eq!(s.as_str(), "Pending ; EXPIRES = 60 ; foo=\"a;b\"");

        let s = SubscriptionState::parse("waiting;reason=NoResource;retry-after=0").unwrap();
        assert_eq!(s.state(), Substate::Other("waiting"));
        assert_eq!(s.reason(), Some(EventReason::NoResource));
        assert_eq!(s.retry_after(), Some(0));

        let s = SubscriptionState::parse("terminated;reason=moved").unwrap();
        assert_eq!(s.reason(), Some(EventReason::Other("moved")));
    }

    #[test]
    fn malformed_subscription_states_are_rejected() {
        for bad in [
            "",
            ";expires=1",
            "active;expires",
            "active;expires=",
            "active;expires=-1",
            "active;expires=1.5",
            "active;expires=4294967296",
            "active;expires=1;expires=2",
            "terminated;retry-after=soon",
            "terminated;reason",
            "terminated;reason=\"timeout\"",
            "terminated;reason=a;reason=b",
            "act ive",
            "active;;",
        ] {
            assert!(SubscriptionState::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn built_subscription_states_read_back() {
        let active = SubscriptionState::active(600);
        assert_eq!(active.as_str(), "active;expires=600");
        assert_eq!(SubscriptionState::parse(active.as_str()).unwrap(), active);
        assert_eq!(active.expires(), Some(600));

        let pending = SubscriptionState::pending(0);
        assert_eq!(pending.to_string(), "pending;expires=0");
        assert_eq!(pending.state(), Substate::Pending);

        let ended = SubscriptionState::terminated(Some(EventReason::Probation), Some(30)).unwrap();
        assert_eq!(ended.as_str(), "terminated;reason=probation;retry-after=30");
        assert_eq!(ended.reason(), Some(EventReason::Probation));
        assert_eq!(ended.retry_after(), Some(30));
        assert_eq!(SubscriptionState::parse(ended.as_str()).unwrap(), ended);

        let bare = SubscriptionState::terminated(None, None).unwrap();
        assert_eq!(bare.as_str(), "terminated");
        assert_eq!(bare.params().iter().count(), 0);

        let other = SubscriptionState::terminated(Some(EventReason::Other("moved")), None).unwrap();
        assert_eq!(other.reason(), Some(EventReason::Other("moved")));
        assert!(SubscriptionState::terminated(Some(EventReason::Other("not a token")), None).is_err());
        assert!(SubscriptionState::terminated(Some(EventReason::Other("")), None).is_err());
    }

    #[test]
    fn getters_read_compact_forms_in_a_message() {
        let m = request("o: refer;id=93809824\r\nu: refer, presence.winfo\r\nAllow-Events: dialog\r\n");
        let h = m.headers();
        let event = h.event().unwrap().unwrap();
        assert_eq!(event.package(), "refer");
        assert_eq!(event.id(), Some("93809824"));
        let allowed: Vec<_> = h.allow_events().map(|t| t.unwrap().as_str()).collect();
        assert_eq!(allowed, ["refer", "presence.winfo", "dialog"]);

        let m = request("Event: dialog\r\nSubscription-State: active;expires=3600\r\n");
        let state = m.headers().subscription_state().unwrap().unwrap();
        assert_eq!((state.state(), state.expires()), (Substate::Active, Some(3600)));
    }

    #[test]
    fn event_getters_report_duplicates_and_bad_lists() {
        let mut h = Headers::new();
        h.push(HeaderName::Event, "refer");
        h.push(HeaderName::Event, "refer;id=2");
        assert_eq!(
            h.event().unwrap().unwrap_err().kind(),
            ParseErrorKind::DuplicateHeader
        );
        h.push(HeaderName::SubscriptionState, "active;expires=1");
        h.push(HeaderName::SubscriptionState, "terminated");
        assert_eq!(
            h.subscription_state().unwrap().unwrap_err().kind(),
            ParseErrorKind::DuplicateHeader
        );
        h.push(HeaderName::AllowEvents, "refer,,presence, bad type");
        let events: Vec<_> = h.allow_events().map(|t| t.map(|t| t.as_str())).collect();
        assert_eq!(events.len(), 4);
        assert_eq!(events.first(), Some(&Ok("refer")));
        assert!(events.get(1).unwrap().is_err());
        assert_eq!(events.get(2), Some(&Ok("presence")));
        let error = events.get(3).unwrap().as_ref().unwrap_err();
        assert_eq!(error.header(), Some("Allow-Events"));
        assert!(Headers::new().event().is_none());
        assert_eq!(Headers::new().allow_events().count(), 0);
    }
}
