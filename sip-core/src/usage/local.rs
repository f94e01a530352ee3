//! What we say about ourselves in the requests the usages start: our Contact for each
//! transport and the From of what we originate, formatted once per Endpoint.

use bytestring::ByteString;

use crate::config::EndpointConfig;
use crate::transport::Transport;

/// Our Contact per transport and our identity (the From URI).
#[derive(Debug, Clone)]
pub(crate) struct Local {
    contacts: Vec<(Transport, ByteString)>,
    identity: ByteString,
}

impl Local {
    /// From the configured address and identity (`sip:<address>` when none is set).
    pub(crate) fn new(config: &EndpointConfig) -> Self {
        let local = config.local.to_string();
        let contacts = [
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
            Transport::Ws,
            Transport::Wss,
        ]
        .into_iter()
        .map(|transport| {
            let contact = match transport {
                Transport::Udp => format!("<sip:{local}>"),
                other => format!("<sip:{local};transport={}>", other.as_str().to_ascii_lowercase()),
            };
            (transport, ByteString::from(contact))
        })
        .collect();
        let identity = config
            .calls
            .identity
            .clone()
            .unwrap_or_else(|| format!("sip:{local}"));
        Local {
            contacts,
            identity: ByteString::from(identity),
        }
    }

    /// Our Contact for requests over `transport`.
    pub(crate) fn contact(&self, transport: Transport) -> ByteString {
        self.contacts
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, contact)| contact.clone())
            .unwrap_or_default()
    }

    /// The URI we put in From.
    pub(crate) fn identity(&self) -> ByteString {
        self.identity.clone()
    }
}
