//! Instant messages outside a dialog (MESSAGE, RFC 3428 "pager mode"): each is a single
//! request and its answer. Send one with
//! [`Endpoint::send_message`](crate::Endpoint::send_message); its outcome comes out as
//! [`Event::Message`](crate::endpoint::Event::Message). An incoming MESSAGE is answered 200
//! by the Endpoint and reported as
//! [`Event::MessageReceived`](crate::endpoint::Event::MessageReceived) — unless the
//! application takes MESSAGE itself (`CallConfig::app_methods`), and then it answers each
//! [`Event::Request`](crate::endpoint::Event::Request) as it likes. Inside a call, MESSAGE
//! is a request of the call ([`CallEvent::Request`](crate::call::CallEvent::Request)).

use crate::message::StatusCode;

pub use crate::ids::MessageId;

/// How instant messages are taken (in [`EndpointConfig`](crate::endpoint::EndpointConfig)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PagerConfig {
    /// Take MESSAGE outside a dialog: 200, then
    /// [`Event::MessageReceived`](crate::endpoint::Event::MessageReceived). On by default;
    /// off, MESSAGE is a request of calls only (`CallConfig::in_dialog_methods`), and one
    /// outside a dialog names none of ours: 481 (unless the application takes MESSAGE).
    pub accept: bool,
}

impl Default for PagerConfig {
    fn default() -> Self {
        PagerConfig { accept: true }
    }
}

/// What became of a MESSAGE we sent, in [`Event::Message`](crate::endpoint::Event::Message).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageEvent {
    /// A 2xx: the recipient (or its server) took it (202: accepted for later delivery).
    Delivered {
        /// The 2xx.
        status: StatusCode,
    },
    /// It was refused (`status`) or got no answer (`None`: no response, or the transport
    /// failed).
    Failed {
        /// The final status, when there was one.
        status: Option<StatusCode>,
    },
}

/// A MESSAGE could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PagerError {
    /// The target (or the outbound proxy) cannot be located at all (RFC 3263): no host,
    /// a `sips:` URI with an insecure transport, or a transport that is not enabled. A
    /// name whose DNS leads nowhere fails later, as a transport error.
    #[error("cannot reach {0}")]
    Unresolvable(String),
    /// The content type is not `type/subtype`.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Sending failed (a transaction or connection limit).
    #[error(transparent)]
    Send(#[from] crate::error::SendError),
}
