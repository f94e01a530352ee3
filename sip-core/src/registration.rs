//! Registrations (RFC 3261 §10): binding our Contact to an address-of-record at a
//! registrar, kept fresh until we let it go. The model; the commands are
//! [`Endpoint::register`](crate::Endpoint::register) and
//! [`Endpoint::unregister`](crate::Endpoint::unregister), and outcomes come out of
//! [`Endpoint::poll_event`](crate::Endpoint::poll_event) as
//! [`Event::Registration`](crate::endpoint::Event::Registration).
//!
//! What a registration does by itself:
//! - refreshes its binding before the interval the registrar granted runs out (the
//!   binding's own `expires` in the 200's Contact, else its Expires header, §10.2.4);
//! - answers 423 Interval Too Brief by asking again for the Min-Expires given (§10.2.8);
//! - after a failure (an error response, no response, a transport error) reports it and
//!   tries again later, waiting longer after each failure in a row (RFC 5626 §4.5: 30 s
//!   doubling to 30 min, drawn between half and all of it from the Endpoint's seeded RNG);
//! - over a connection (TCP), keeps it alive with a CRLF every couple of minutes (RFC 5626
//!   §4.4.1), so a NAT or the registrar does not drop the flow the registrar reaches us by;
//! - [`unregister`](crate::Endpoint::unregister) sends `Expires: 0` and reports
//!   [`RegistrationEvent::Unregistered`] when the registrar confirms (or gives up).

use std::time::Duration;

use crate::message::{StatusCode, Uri};

pub use crate::ids::RegistrationId;

/// What a registration reports, in [`Event::Registration`](crate::endpoint::Event::Registration).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationEvent {
    /// The registrar accepted our binding (the first time, and at each refresh).
    Registered {
        /// How long our binding lasts, in seconds, as the registrar granted it.
        expires: u32,
        /// Every Contact bound to the address-of-record, ours included, as the 200 lists
        /// them (other devices of the same user too).
        bindings: Vec<Uri>,
    },
    /// A REGISTER failed: `status` is the registrar's final answer (`None`: no answer, or
    /// the transport failed). The registration tries again after `retry_in`; `None` when
    /// it does not (we were unregistering, or the failure means asking again cannot help:
    /// credentials the registrar refuses).
    Failed {
        /// The final status, when there was one.
        status: Option<StatusCode>,
        /// When the next attempt goes out.
        retry_in: Option<Duration>,
    },
    /// Over: our binding is gone (the registrar confirmed `Expires: 0`, or we gave up on
    /// it), and the registration's id is no longer valid.
    Unregistered,
}

/// The timers of a registration, as [`Wakeup`](crate::endpoint::Wakeup) reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RegistrationTimer {
    /// Refresh the binding before it runs out.
    Refresh,
    /// Try again after a failure.
    Retry,
    /// Send a CRLF keep-alive on the registration's connection (RFC 5626 §4.4.1).
    KeepAlive,
}

/// A registration command could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// No such registration (never, or no longer).
    #[error("no registration {0}")]
    Unknown(RegistrationId),
    /// The target (or the outbound proxy) cannot be located at all (RFC 3263): no host,
    /// a `sips:` URI with an insecure transport, or a transport that is not enabled. A
    /// name whose DNS leads nowhere fails later, as a transport error.
    #[error("cannot reach {0}")]
    Unresolvable(String),
    /// The address-of-record or registrar is not a SIP URI.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Sending failed (a transaction or connection limit).
    #[error(transparent)]
    Send(#[from] crate::error::SendError),
}
