//! The call commands, as the application gives them to the [`Endpoint`]: each runs in the
//! invite-session usage, then what it caused in the transaction layer is handed on.

use std::time::Instant;

use bytes::Bytes;

use crate::call::{CallError, CallId, CallState, Transition};
use crate::dialog::Dialog;
use crate::ids::TransactionId;
use crate::message::{Method, StatusCode, Uri};

use super::Endpoint;

impl Endpoint {
    // ---- call commands ----

    /// Starts a call to `target` with `body` (an SDP offer) and returns its id. From is the
    /// configured identity with a fresh tag; To is the target; the INVITE goes to the
    /// outbound proxy if one is configured, else to the target, located by RFC 3263 (a host
    /// name waits for [`Endpoint::poll_dns_query`]'s answers, and a failed target hands over
    /// to the next). With an empty body the INVITE carries no offer and
    /// a 2xx that offers cannot be answered: see [`Endpoint::invite_without_offer`].
    pub fn invite(
        &mut self,
        now: Instant,
        target: Uri,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<CallId, CallError> {
        self.invite_with_headers(now, target, body, content_type, &[])
    }

    /// [`Endpoint::invite`] with extra headers in the INVITE (`("X-Account", "42")`,
    /// `("Subject", "hello")`). A name must be a token and not a header the stack writes
    /// itself (Via, From, To, Call-ID, CSeq, Contact, Max-Forwards, Content-Type,
    /// Content-Length); a value must fit on one line.
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
    /// alice
    ///     .invite_with_headers(Instant::now(), bob, Bytes::new(), None, &[("X-Account", "42")])
    ///     .unwrap();
    /// let invite = alice.poll_transmit().unwrap();
    /// assert!(String::from_utf8_lossy(&invite.payload).contains("X-Account: 42\r\n"));
    /// ```
    pub fn invite_with_headers(
        &mut self,
        now: Instant,
        target: Uri,
        body: Bytes,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<CallId, CallError> {
        let result = self
            .invites
            .invite(&mut self.seam, now, target, body, content_type, headers);
        self.dispatch(now);
        result
    }

    /// Starts a call to `target` that takes the place of the dialog `replaces` names at the
    /// target (an INVITE with Replaces and `Require: replaces`, RFC 3891: the second half of
    /// an attended transfer). The target ends the replaced call once it answers this one.
    pub fn invite_replacing(
        &mut self,
        now: Instant,
        target: Uri,
        offer: Bytes,
        replaces: &crate::message::Replaces,
    ) -> Result<CallId, CallError> {
        let result = self
            .invites
            .invite_replacing(&mut self.seam, now, target, offer, replaces);
        self.dispatch(now);
        result
    }

    /// Starts a call whose INVITE carries no offer (RFC 3261 §13.2.1, a "delayed offer"):
    /// the callee offers in its 2xx, and the ACK carries our answer, made from `template`
    /// (our session description: its media and addresses, with directions answered per
    /// RFC 3264 §6). `template` then stands as our description for hold and re-INVITEs.
    pub fn invite_without_offer(
        &mut self,
        now: Instant,
        target: Uri,
        template: Bytes,
    ) -> Result<CallId, CallError> {
        let result = self
            .invites
            .invite_without_offer(&mut self.seam, now, target, template);
        self.dispatch(now);
        result
    }

    /// Sends 180 Ringing on an incoming call (reliably when RFC 3262 applies).
    pub fn ringing(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        let result = self.invites.ringing(&mut self.seam, now, call);
        self.dispatch(now);
        result
    }

    /// Sends a provisional response (101–199) on an incoming call, with an optional body
    /// (183 with an SDP answer is early media). Reliable (RFC 3262: `Require: 100rel`,
    /// `RSeq`, retransmitted until PRACK) when the INVITE requires it, or supports it and
    /// [`CallConfig::reliable_provisionals`](crate::call::CallConfig) is on.
    pub fn provisional(
        &mut self,
        now: Instant,
        call: CallId,
        status: StatusCode,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<(), CallError> {
        let result = self
            .invites
            .provisional(&mut self.seam, now, call, status, body, content_type);
        self.dispatch(now);
        result
    }

    /// Answers an incoming call with 200 OK carrying `body` (our answer, or our offer when
    /// the INVITE had none). The 2xx is retransmitted until the ACK comes (§13.3.1.4).
    pub fn answer(
        &mut self,
        now: Instant,
        call: CallId,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<(), CallError> {
        self.answer_with_headers(now, call, body, content_type, &[])
    }

    /// [`Endpoint::answer`] with extra headers in the 200 (the rules of
    /// [`Endpoint::invite_with_headers`]).
    pub fn answer_with_headers(
        &mut self,
        now: Instant,
        call: CallId,
        body: Bytes,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<(), CallError> {
        let result = self
            .invites
            .answer(&mut self.seam, now, call, body, content_type, headers);
        self.dispatch(now);
        result
    }

    /// Rejects an incoming call with a 300–699 final response.
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallId,
        status: StatusCode,
        reason: Option<&str>,
    ) -> Result<(), CallError> {
        self.reject_with_headers(now, call, status, reason, &[])
    }

    /// [`Endpoint::reject`] with extra headers in the response (Retry-After with a 486,
    /// Warning, …; the rules of [`Endpoint::invite_with_headers`]).
    pub fn reject_with_headers(
        &mut self,
        now: Instant,
        call: CallId,
        status: StatusCode,
        reason: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<(), CallError> {
        let result = self
            .invites
            .reject(&mut self.seam, now, call, status, reason, headers);
        self.dispatch(now);
        result
    }

    /// Redirects incoming call `call` to `targets` (302 Moved Temporarily with a Contact
    /// for each, RFC 3261 §21.3.3): a registrar or redirect server's answer; the caller
    /// tries them (ours does, see [`CallConfig::follow_redirects`](crate::call::CallConfig::follow_redirects)).
    pub fn redirect(&mut self, now: Instant, call: CallId, targets: &[Uri]) -> Result<(), CallError> {
        let result = self.invites.redirect(&mut self.seam, now, call, targets);
        self.dispatch(now);
        result
    }

    /// Cancels an outgoing call that has no final response yet (§9.1). Before any
    /// provisional arrived the CANCEL waits for one, as the RFC requires.
    pub fn cancel(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        let result = self.invites.cancel(&mut self.seam, now, call);
        self.dispatch(now);
        result
    }

    /// Ends an established call with BYE (§15). Before our 2xx is ACKed the BYE waits for
    /// the ACK (or its timeout), as §15 requires.
    pub fn bye(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        let result = self.invites.bye(&mut self.seam, now, call);
        self.dispatch(now);
        result
    }

    /// Ends a call whatever its state: CANCEL while an outgoing call rings, 603 Decline
    /// for an unanswered incoming call, BYE once answered. Harmless when already ending.
    pub fn hangup(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        let result = self.invites.hangup(&mut self.seam, now, call);
        self.dispatch(now);
        result
    }

    /// Puts the call on hold: a re-INVITE whose offer is our session description with
    /// `sendonly` (or `inactive` when the peer already holds us), RFC 3264 §8.4.
    pub fn hold(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        let result = self.invites.hold(&mut self.seam, now, call);
        self.dispatch(now);
        result
    }

    /// Takes the call off hold: a re-INVITE restoring `sendrecv` (or `recvonly` while the
    /// peer still holds us).
    pub fn unhold(&mut self, now: Instant, call: CallId) -> Result<(), CallError> {
        let result = self.invites.unhold(&mut self.seam, now, call);
        self.dispatch(now);
        result
    }

    /// Sends a re-INVITE with a new offer (§14.1). Glare (491) is retried automatically.
    pub fn reinvite(&mut self, now: Instant, call: CallId, body: Bytes) -> Result<(), CallError> {
        let result = self.invites.reinvite(&mut self.seam, now, call, body);
        self.dispatch(now);
        result
    }

    /// Sends an UPDATE with a new offer (RFC 3311), in an early or confirmed dialog.
    pub fn update(&mut self, now: Instant, call: CallId, body: Bytes) -> Result<(), CallError> {
        let result = self.invites.update(&mut self.seam, now, call, body);
        self.dispatch(now);
        result
    }

    /// Sends any request inside the call's dialog (INFO, MESSAGE, OPTIONS, NOTIFY…); its
    /// response arrives as [`CallEvent::Response`](crate::call::CallEvent::Response).
    pub fn request_in_dialog(
        &mut self,
        now: Instant,
        call: CallId,
        method: Method,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<TransactionId, CallError> {
        let result = self
            .invites
            .request_in_dialog(&mut self.seam, now, call, method, body, content_type);
        self.dispatch(now);
        result
    }

    // ---- call getters ----

    /// The state of a live call.
    pub fn call_state(&self, call: CallId) -> Option<CallState> {
        self.invites.call_state(call)
    }

    /// The transitions of a live call so far (an ended call hands its history over in
    /// [`CallEvent::Terminated`](crate::call::CallEvent::Terminated)).
    pub fn call_history(&self, call: CallId) -> Option<&[Transition]> {
        self.invites.call_history(call)
    }

    /// The state changes of dialog `dialog` so far, with their times (recorded with
    /// [`CallConfig::dialog_events`](crate::call::CallConfig::dialog_events); empty
    /// without). `None` once the dialog is gone; its last change was reported as an event.
    pub fn dialog_history(&self, dialog: crate::ids::DialogId) -> Option<&[crate::dialog::DialogTransition]> {
        self.seam.dialogs.history(dialog)
    }

    /// Our current session description in live call `call`: the offer or answer we sent
    /// last (hold and re-INVITEs included); empty before we have one. The peer's arrives in
    /// the call's events (`Incoming`, `Answered`, `RemoteOffer`, …) and is not kept here.
    pub fn call_local_description(&self, call: CallId) -> Option<&Bytes> {
        self.invites.local_description(call)
    }

    /// The dialog of a live call (the confirmed one, else the newest early one).
    pub fn call_dialog(&self, call: CallId) -> Option<&Dialog> {
        self.invites.call_dialog(&self.seam.dialogs, call)
    }

    /// Live calls.
    pub fn call_count(&self) -> usize {
        self.invites.call_count()
    }

    /// Live dialogs, early ones included.
    pub fn dialog_count(&self) -> usize {
        self.seam.dialogs.len()
    }
}
