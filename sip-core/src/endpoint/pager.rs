//! The instant-message command of the [`Endpoint`] (MESSAGE outside a dialog, RFC 3428;
//! the model is in [`crate::pager`]).

use std::time::Instant;

use crate::message::Uri;

use super::Endpoint;

impl Endpoint {
    /// Sends an instant message to `to` outside any dialog (MESSAGE, RFC 3428): `body` of
    /// type `content_type` (`text/plain`, …). Its outcome comes as
    /// [`Event::Message`](crate::endpoint::Event::Message).
    ///
    /// ```
    /// use std::time::Instant;
    /// use bytes::Bytes;
    /// use sip_core::endpoint::EndpointConfig;
    /// use sip_core::message::Uri;
    /// use sip_core::Endpoint;
    ///
    /// let mut alice = Endpoint::new(EndpointConfig::new("192.0.2.1:5060".parse().unwrap(), 1));
    /// let bob = Uri::parse("sip:bob@192.0.2.2").unwrap();
    /// alice.send_message(Instant::now(), bob, "text/plain", Bytes::from_static(b"hi")).unwrap();
    /// assert!(alice.poll_transmit().unwrap().payload.starts_with(b"MESSAGE sip:bob@192.0.2.2 SIP/2.0"));
    /// ```
    pub fn send_message(
        &mut self,
        now: Instant,
        to: Uri,
        content_type: &str,
        body: bytes::Bytes,
    ) -> Result<crate::pager::MessageId, crate::pager::PagerError> {
        let result = self.pager.send(&mut self.seam, now, to, content_type, body);
        self.dispatch(now);
        result
    }
}
