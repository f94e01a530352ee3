//! The registration commands of the [`Endpoint`] (RFC 3261 §10; the model is in
//! [`crate::registration`]). Each takes `now`, acts at once, and reports outcomes later as
//! [`Event::Registration`](crate::endpoint::Event::Registration).

use std::time::Instant;

use crate::message::Uri;
use crate::registration::{RegistrationError, RegistrationId};

use super::Endpoint;

impl Endpoint {
    /// Registers our Contact for the address-of-record `aor` (our identity, the From of
    /// our calls, when `None`; a SIP URI or a name-addr, read as
    /// [`parse_identity`](crate::call::parse_identity) reads it, its display name kept in To
    /// and From) at `registrar` for `expires` seconds, and keeps the binding
    /// until [`Endpoint::unregister`]: refreshed before it runs out, asked again after
    /// 423 with the Min-Expires given, tried again with a growing wait after a failure.
    /// `registrar` is the Request-URI (`sip:registrar.example.com`, with
    /// `;transport=tcp` for TCP), located by RFC 3263 like every request.
    ///
    /// ```
    /// use std::time::Instant;
    /// use sip_core::endpoint::{EndpointConfig, Event};
    /// use sip_core::message::Uri;
    /// use sip_core::Endpoint;
    ///
    /// let mut alice = Endpoint::new(EndpointConfig::new("192.0.2.1:5060".parse().unwrap(), 1));
    /// let registrar = Uri::parse("sip:192.0.2.9").unwrap();
    /// let now = Instant::now();
    /// let id = alice.register(now, registrar, Some("sip:alice@example.com"), 3600).unwrap();
    /// let register = alice.poll_transmit().unwrap();
    /// assert!(register.payload.starts_with(b"REGISTER sip:192.0.2.9 SIP/2.0"));
    /// # let _ = id;
    /// ```
    pub fn register(
        &mut self,
        now: Instant,
        registrar: Uri,
        aor: Option<&str>,
        expires: u32,
    ) -> Result<RegistrationId, RegistrationError> {
        let identity = self.invites.identity().clone();
        let aor = aor.unwrap_or(&identity);
        let result = self
            .registrations
            .register(&mut self.seam, now, registrar, aor, expires);
        self.dispatch(now);
        result
    }

    /// Lets registration `registration` go: `Expires: 0` for our binding (after the
    /// REGISTER in flight, if one is), then
    /// [`RegistrationEvent::Unregistered`](crate::registration::RegistrationEvent::Unregistered).
    pub fn unregister(
        &mut self,
        now: Instant,
        registration: RegistrationId,
    ) -> Result<(), RegistrationError> {
        let result = self.registrations.unregister(&mut self.seam, now, registration);
        self.dispatch(now);
        result
    }

    /// Our live registrations, oldest first (to unregister them all at shutdown).
    pub fn registrations(&self) -> Vec<RegistrationId> {
        self.registrations.ids()
    }

    /// How many registrations are live.
    pub fn registration_count(&self) -> usize {
        self.registrations.len()
    }
}
