//! SIP methods (RFC 3261 §7.1 and the extensions that define new ones).

use std::fmt;

use bytestring::ByteString;

use super::grammar::is_token;

/// A request method: one of the standard methods, or any other token.
///
/// Methods are case-sensitive (RFC 3261 §7.1): `invite` is an extension method, not INVITE.
///
/// ```
/// use sip_core::message::Method;
/// assert_eq!(Method::parse("INVITE"), Some(Method::Invite));
/// assert_eq!(Method::parse("NEWMETHOD").unwrap().as_str(), "NEWMETHOD");
/// assert!(Method::parse("BAD METHOD").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// INVITE (RFC 3261).
    Invite,
    /// ACK (RFC 3261).
    Ack,
    /// BYE (RFC 3261).
    Bye,
    /// CANCEL (RFC 3261).
    Cancel,
    /// REGISTER (RFC 3261).
    Register,
    /// OPTIONS (RFC 3261).
    Options,
    /// MESSAGE (RFC 3428).
    Message,
    /// REFER (RFC 3515).
    Refer,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// PRACK (RFC 3262).
    Prack,
    /// UPDATE (RFC 3311).
    Update,
    /// INFO (RFC 6086).
    Info,
    /// PUBLISH (RFC 3903).
    Publish,
    /// Any other method token.
    Extension(ByteString),
}

impl Method {
    /// Every standard method, in a stable order (used for `Allow`).
    pub const STANDARD: [Method; 14] = [
        Method::Invite,
        Method::Ack,
        Method::Bye,
        Method::Cancel,
        Method::Register,
        Method::Options,
        Method::Message,
        Method::Refer,
        Method::Subscribe,
        Method::Notify,
        Method::Prack,
        Method::Update,
        Method::Info,
        Method::Publish,
    ];

    /// Parses a method token; `None` when `s` is not a token.
    pub fn parse(s: &str) -> Option<Method> {
        Self::from_known(s).or_else(|| is_token(s).then(|| Method::Extension(s.into())))
    }

    /// Parses a method that is a slice of `source`, sharing its buffer for extension methods.
    pub(crate) fn parse_shared(source: &ByteString, s: &str) -> Option<Method> {
        Self::from_known(s).or_else(|| is_token(s).then(|| Method::Extension(source.slice_ref(s))))
    }

    fn from_known(s: &str) -> Option<Method> {
        Some(match s.as_bytes() {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"REGISTER" => Method::Register,
            b"OPTIONS" => Method::Options,
            b"MESSAGE" => Method::Message,
            b"REFER" => Method::Refer,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PRACK" => Method::Prack,
            b"UPDATE" => Method::Update,
            b"INFO" => Method::Info,
            b"PUBLISH" => Method::Publish,
            _ => return None,
        })
    }

    /// The method as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Message => "MESSAGE",
            Method::Refer => "REFER",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Publish => "PUBLISH",
            Method::Extension(s) => s,
        }
    }

    /// True for the methods this crate knows (not an extension).
    pub fn is_standard(&self) -> bool {
        !matches!(self, Method::Extension(_))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_round_trip() {
        for m in Method::STANDARD {
            assert_eq!(Method::parse(m.as_str()), Some(m.clone()));
        }
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(Method::parse("invite"), Some(Method::Extension("invite".into())));
    }

    #[test]
    fn escaped_looking_method_is_an_extension() {
        // RFC 4475 §3.1.1.5: RE%47IST%45R is not REGISTER.
        assert_eq!(
            Method::parse("RE%47IST%45R"),
            Some(Method::Extension("RE%47IST%45R".into()))
        );
    }
}
