//! What we say about ourselves in the requests the usages start: our Contact for each
//! transport and the From of what we originate, formatted once per Endpoint.

use bytestring::ByteString;

use crate::config::EndpointConfig;
use crate::transport::Transport;

/// Our Contact per transport and our identity (the From value, without a tag).
#[derive(Debug, Clone)]
pub(crate) struct Local {
    contacts: Vec<(Transport, ByteString)>,
    identity: ByteString,
    /// How we write our address per transport (`EndpointConfig::sent_by`).
    addresses: [(Transport, String); 5],
}

const TRANSPORTS: [Transport; 5] = [
    Transport::Udp,
    Transport::Tcp,
    Transport::Tls,
    Transport::Ws,
    Transport::Wss,
];

/// `<sip:user@address>` over UDP; over TLS a `sips:` URI (RFC 3261 §8.1.1.8: required
/// when the Request-URI is sips:, and over TLS it asks the peer to stay on TLS); over
/// TCP, WS and WSS a `transport` parameter (RFC 7118 §5 for WebSocket; `address` is the
/// WebSocket listener, or an `.invalid` host without one: `EndpointConfig::sent_by`).
fn contact_text(user: Option<&str>, address: &str, transport: Transport) -> String {
    let user = user.map(|user| format!("{user}@")).unwrap_or_default();
    match transport {
        Transport::Udp => format!("<sip:{user}{address}>"),
        Transport::Tls => format!("<sips:{user}{address}>"),
        other => format!(
            "<sip:{user}{address};transport={}>",
            other.as_str().to_ascii_lowercase()
        ),
    }
}

impl Local {
    /// From the advertised address and the configured identity (`<sip:address>` when none
    /// is set, or when it does not read as one: see [`CallConfig::identity`]).
    ///
    /// [`CallConfig::identity`]: crate::call::CallConfig::identity
    pub(crate) fn new(config: &EndpointConfig) -> Self {
        let advertised = config.advertised_addr();
        let address = advertised.to_string();
        let parsed = config
            .calls
            .identity
            .as_deref()
            .and_then(|text| crate::call::parse_identity(text).ok());
        // The Contact carries the identity's user part, so that requests reach us addressed
        // to the user (`sip:alice@192.0.2.1:5060`), as the registration's Contact does.
        let user = parsed
            .as_ref()
            .filter(|identity| identity.uri().is_sip())
            .and_then(|identity| identity.uri().user())
            .map(str::to_owned);
        let addresses = TRANSPORTS.map(|transport| (transport, config.sent_by(transport)));
        let contacts = addresses
            .iter()
            .map(|(transport, address)| {
                let contact = contact_text(user.as_deref(), address, *transport);
                (*transport, ByteString::from(contact))
            })
            .collect();
        let identity = match parsed {
            Some(identity) => identity.as_byte_string().clone(),
            None => ByteString::from(format!("<sip:{address}>")),
        };
        Local {
            contacts,
            identity,
            addresses,
        }
    }

    /// Our Contact over `transport` naming `user` (the registration's: its AOR's user
    /// part) rather than the identity's.
    pub(crate) fn contact_for_user(&self, user: Option<&str>, transport: Transport) -> String {
        let address = self
            .addresses
            .iter()
            .find(|(t, _)| *t == transport)
            .map_or("", |(_, address)| address.as_str());
        contact_text(user, address, transport)
    }

    /// The transport `contact` is our Contact for, if it is one of ours.
    pub(crate) fn transport_of(&self, contact: &str) -> Option<Transport> {
        self.contacts
            .iter()
            .find(|(_, ours)| &**ours == contact)
            .map(|(transport, _)| *transport)
    }

    /// Our Contact for requests over `transport`.
    pub(crate) fn contact(&self, transport: Transport) -> ByteString {
        self.contacts
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, contact)| contact.clone())
            .unwrap_or_default()
    }

    /// Our identity as a name-addr (`<sip:…>` or `"Name" <sip:…>`): the From of what we
    /// originate once `;tag=…` is appended, and our Referred-By.
    pub(crate) fn identity(&self) -> &ByteString {
        &self.identity
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::Local;
    use crate::config::EndpointConfig;
    use crate::transport::Transport;

    fn local(identity: Option<&str>, advertised: Option<&str>) -> Local {
        let mut config = EndpointConfig::new("0.0.0.0:5060".parse().unwrap(), 1);
        config.calls.identity = identity.map(str::to_owned);
        config.advertised = advertised.map(|a| a.parse().unwrap());
        Local::new(&config)
    }

    #[test]
    fn every_form_of_identity_becomes_one_name_addr() {
        for (given, written) in [
            ("sip:alice@example.com", "<sip:alice@example.com>"),
            ("<sip:alice@example.com>", "<sip:alice@example.com>"),
            (
                r#""Alice" <sip:alice@example.com>"#,
                r#""Alice" <sip:alice@example.com>"#,
            ),
            (
                "Alice <sip:alice@example.com>",
                r#""Alice" <sip:alice@example.com>"#,
            ),
            (
                r#""Alice \"A\"" <sip:alice@example.com>"#,
                r#""Alice \"A\"" <sip:alice@example.com>"#,
            ),
            // A URI on its own is read whole: its parameters stay in it.
            (
                "sip:alice@example.com;transport=tcp",
                "<sip:alice@example.com;transport=tcp>",
            ),
            // Header parameters (a tag) are not part of an identity.
            ("<sip:alice@example.com>;tag=x", "<sip:alice@example.com>"),
        ] {
            assert_eq!(&**local(Some(given), None).identity(), written, "{given}");
        }
    }

    #[test]
    fn the_contact_takes_the_identitys_user_part_and_the_advertised_address() {
        let alice = local(Some(r#""Alice" <sip:alice@example.com>"#), Some("192.0.2.7:5070"));
        assert_eq!(&*alice.contact(Transport::Udp), "<sip:alice@192.0.2.7:5070>");
        assert_eq!(
            &*alice.contact(Transport::Tcp),
            "<sip:alice@192.0.2.7:5070;transport=tcp>"
        );
        let anonymous = local(None, Some("192.0.2.7:5070"));
        assert_eq!(&*anonymous.contact(Transport::Udp), "<sip:192.0.2.7:5070>");
        assert_eq!(&**anonymous.identity(), "<sip:192.0.2.7:5070>");
        let bound = local(None, None);
        assert_eq!(&*bound.contact(Transport::Udp), "<sip:0.0.0.0:5060>");
        let tel = local(Some("tel:+15551234"), None);
        assert_eq!(&**tel.identity(), "<tel:+15551234>");
        assert_eq!(&*tel.contact(Transport::Udp), "<sip:0.0.0.0:5060>");
    }

    #[test]
    fn an_identity_that_does_not_parse_falls_back_to_the_default() {
        for bad in [
            r#""Alice <sip:alice@example.com>"#,
            "<sip:alice@example.com",
            "alice",
            "",
        ] {
            let local = local(Some(bad), Some("192.0.2.7:5070"));
            assert_eq!(&**local.identity(), "<sip:192.0.2.7:5070>", "{bad}");
            assert_eq!(&*local.contact(Transport::Udp), "<sip:192.0.2.7:5070>");
        }
    }
}
