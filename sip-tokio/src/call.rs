//! Call handles: commands to one call, and its own stream of events.

use std::net::SocketAddr;

use bytes::Bytes;
use sip_core::call::{CallEvent, CallState};
use sip_core::endpoint::{CallId, Transport};
use sip_core::message::{Method, Replaces, Request, Response, StatusCode};
use tokio::sync::mpsc;

use crate::call_events::CallEventReceiver;
use crate::driver::{CallOp, Command, TransferTo};
use crate::{Error, Transfer, UserAgent};

/// What an incoming call came with.
#[derive(Debug, Clone)]
pub(crate) struct Invitation {
    pub(crate) request: Request,
    pub(crate) source: SocketAddr,
    pub(crate) transport: Transport,
}

/// One call (INVITE session), outgoing or incoming. Commands go to the driver; events
/// arrive in order through [`Call::next_event`]. Dropping the handle does not end the
/// call: use [`Call::hangup`].
///
/// # A handle that is not read
///
/// Each call queues at most
/// [`Builder::call_event_queue`](crate::Builder::call_event_queue) events for its handle
/// (64 unless set), and the driver never waits for the application: one slow reader must
/// not hold up every other call. When the queue is full, newer events are dropped and
/// counted, and the call goes on — nothing is lost on the SIP side, since requests inside
/// the call are answered before their event is queued. So memory stays bounded however
/// long a handle goes unread.
///
/// The call's last event, [`CallEvent::Terminated`], is never dropped: a slot is kept for
/// it, so [`next_event`](Call::next_event) and [`ended`](Call::ended) always learn how the
/// call ended. A gap is reported where it happened: once `next_event` has returned an
/// event, [`missed_events`](Call::missed_events) counts every event dropped before that
/// one. A handle that reads its events as they come never sees a gap.
#[derive(Debug)]
pub struct Call {
    id: CallId,
    agent: UserAgent,
    events: CallEventReceiver,
    invitation: Option<Box<Invitation>>,
}

/// An outgoing call (the same handle type as an incoming one).
pub type OutgoingCall = Call;
/// An incoming call (the same handle type as an outgoing one).
pub type IncomingCall = Call;

impl Call {
    pub(crate) fn new(
        id: CallId,
        agent: UserAgent,
        events: CallEventReceiver,
        invitation: Option<Box<Invitation>>,
    ) -> Self {
        Call {
            id,
            agent,
            events,
            invitation,
        }
    }

    /// The call's id in its Endpoint.
    pub fn id(&self) -> CallId {
        self.id
    }

    /// True for a call that came in.
    pub fn is_incoming(&self) -> bool {
        self.invitation.is_some()
    }

    /// The INVITE of an incoming call.
    pub fn request(&self) -> Option<&Request> {
        self.invitation.as_ref().map(|i| &i.request)
    }

    /// Who sent the INVITE of an incoming call, and over what.
    pub fn source(&self) -> Option<(SocketAddr, Transport)> {
        self.invitation.as_ref().map(|i| (i.source, i.transport))
    }

    /// The caller's offer in the INVITE of an incoming call (empty for a delayed offer).
    pub fn remote_offer(&self) -> Option<&Bytes> {
        self.invitation.as_ref().map(|i| &i.request.body)
    }

    /// The next event; `None` once the call is over (after
    /// [`CallEvent::Terminated`]) or the driver stopped. Events dropped because this
    /// handle's queue was full are skipped and counted in
    /// [`missed_events`](Call::missed_events).
    pub async fn next_event(&mut self) -> Option<CallEvent> {
        self.events.recv().await
    }

    /// How many of this call's events were dropped, because this handle's queue was full,
    /// before the last event [`next_event`](Call::next_event) returned (see [`Call`] for
    /// the policy). Zero for a handle that keeps up.
    pub fn missed_events(&self) -> u64 {
        self.events.missed()
    }

    /// Where the call stands; [`CallState::Ended`] once the Endpoint forgot it.
    pub async fn state(&self) -> Result<CallState, Error> {
        let call = self.id;
        let state = self.agent.request(|reply| Command::State { call, reply }).await?;
        Ok(state.unwrap_or(CallState::Ended))
    }

    /// Sends `method` (INFO, MESSAGE, any method but those the call layer owns) inside the
    /// call's dialog with `body` of `content_type`, and returns its final response
    /// ([`Error::Timeout`] when none came).
    ///
    /// ```no_run
    /// # async fn dtmf(call: &sip_tokio::Call) -> Result<(), sip_tokio::Error> {
    /// use bytes::Bytes;
    /// use sip_core::message::Method;
    /// let response = call
    ///     .send_request(Method::Info, Some("application/dtmf-relay"), Bytes::from_static(b"Signal=5\r\nDuration=160\r\n"))
    ///     .await?;
    /// assert!(response.status.is_success());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_request(
        &self,
        method: Method,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Response, Error> {
        let call = self.id;
        let content_type = content_type.map(str::to_owned);
        self.agent
            .request(|reply| Command::InDialog {
                call,
                method,
                body,
                content_type,
                reply,
            })
            .await?
    }

    /// The session descriptions now: ours (the offer or answer we sent last, hold
    /// included) and the peer's (the last it sent), each `None` until there is one or once
    /// the call is over. With [`Call::history`], what a softphone shows of a call:
    ///
    /// ```no_run
    /// # async fn show(call: &sip_tokio::Call) -> Result<(), sip_tokio::Error> {
    /// let (ours, theirs) = call.descriptions().await?;
    /// for step in call.history().await? {
    ///     println!("{} -> {} ({})", step.from, step.to, step.cause);
    /// }
    /// # let _ = (ours, theirs);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn descriptions(&self) -> Result<(Option<Bytes>, Option<Bytes>), Error> {
        let call = self.id;
        self.agent
            .request(|reply| Command::Descriptions { call, reply })
            .await
    }

    /// The call's state history so far: every transition with its cause and time (empty
    /// once the Endpoint forgot the call; its last event, `Terminated`, carries it all).
    pub async fn history(&self) -> Result<Vec<sip_core::call::Transition>, Error> {
        let call = self.id;
        let history = self
            .agent
            .request(|reply| Command::History { call, reply })
            .await?;
        Ok(history.unwrap_or_default())
    }

    async fn op(&self, op: CallOp) -> Result<(), Error> {
        let call = self.id;
        self.agent
            .request(|reply| Command::Call { call, op, reply })
            .await?
    }

    /// Sends 180 Ringing (incoming calls).
    pub async fn ringing(&self) -> Result<(), Error> {
        self.op(CallOp::Ringing).await
    }

    /// Answers with 200 OK carrying `body` (incoming calls).
    pub async fn answer(&self, body: Bytes, content_type: Option<&str>) -> Result<(), Error> {
        self.answer_with_headers(body, content_type, &[]).await
    }

    /// [`Call::answer`] with extra headers in the 200 (the rules of
    /// [`UserAgent::call_with_headers`]).
    pub async fn answer_with_headers(
        &self,
        body: Bytes,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<(), Error> {
        let headers = crate::user_agent::owned(headers);
        self.op(CallOp::Answer(body, content_type.map(str::to_owned), headers))
            .await
    }

    /// Rejects with a 300–699 status (incoming calls).
    pub async fn reject(&self, status: u16, reason: Option<&str>) -> Result<(), Error> {
        self.reject_with_headers(status, reason, &[]).await
    }

    /// [`Call::reject`] with extra headers in the response (`("Retry-After", "60")`, …).
    pub async fn reject_with_headers(
        &self,
        status: u16,
        reason: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<(), Error> {
        let status =
            StatusCode::new(status).ok_or(Error::Call(sip_core::call::CallError::BadStatus(status)))?;
        let headers = crate::user_agent::owned(headers);
        self.op(CallOp::Reject(status, reason.map(str::to_owned), headers))
            .await
    }

    /// Redirects an incoming call to `targets` (302 Moved Temporarily with their
    /// Contacts, RFC 3261 §21.3.3): a redirect server's or registrar's answer.
    pub async fn redirect(&self, targets: &[&str]) -> Result<(), Error> {
        let targets = targets
            .iter()
            .map(|t| sip_core::message::Uri::parse(t).map_err(|e| Error::BadTarget(format!("{t}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        self.op(CallOp::Redirect(targets)).await
    }

    /// Cancels an outgoing call that is not answered yet.
    pub async fn cancel(&self) -> Result<(), Error> {
        self.op(CallOp::Cancel).await
    }

    /// Ends an established call with BYE.
    pub async fn bye(&self) -> Result<(), Error> {
        self.op(CallOp::Bye).await
    }

    /// Ends the call whatever its state (CANCEL, 603 or BYE).
    pub async fn hangup(&self) -> Result<(), Error> {
        self.op(CallOp::Hangup).await
    }

    /// Puts the call on hold (a `sendonly` re-INVITE).
    pub async fn hold(&self) -> Result<(), Error> {
        self.op(CallOp::Hold).await
    }

    /// Takes the call off hold.
    pub async fn unhold(&self) -> Result<(), Error> {
        self.op(CallOp::Unhold).await
    }

    /// Sends a re-INVITE with a new offer.
    pub async fn reinvite(&self, body: Bytes) -> Result<(), Error> {
        self.op(CallOp::Reinvite(body)).await
    }

    /// Sends an UPDATE with a new offer (RFC 3311).
    pub async fn update(&self, body: Bytes) -> Result<(), Error> {
        self.op(CallOp::Update(body)).await
    }

    /// Transfers the peer to `target` (a blind transfer: REFER, RFC 3515). The call is
    /// [`CallState::Referring`] until the result, which the returned [`Transfer`]
    /// reports; after a success the call is hung up (with
    /// [`EndReason::Transferred`](sip_core::call::EndReason::Transferred), also when the
    /// peer's BYE crosses ours) unless the agent was built with
    /// [`Builder::end_call_after_transfer(false)`](crate::Builder::end_call_after_transfer).
    pub async fn refer(&self, target: &str) -> Result<Transfer, Error> {
        let target = crate::user_agent::parse_target(target)?;
        self.transfer(TransferTo::Blind(target)).await
    }

    /// Attended transfer (RFC 5589 §7): asks this call's peer to call the peer of `other`
    /// (our other connected call, of this same agent) in our place; its new call replaces
    /// `other` there (Replaces, RFC 3891). Once it succeeds `other` is ended by its peer,
    /// and this call by us (unless
    /// [`Builder::end_call_after_transfer(false)`](crate::Builder::end_call_after_transfer)).
    pub async fn attended_transfer(&self, other: &Call) -> Result<Transfer, Error> {
        // Call ids are per agent: another agent's call would name an unrelated one here.
        if !self.agent.same_agent(&other.agent) {
            return Err(Error::Subscription(
                sip_core::subscription::SubscriptionError::Invalid(
                    "the other call belongs to another user agent".to_owned(),
                ),
            ));
        }
        self.transfer(TransferTo::Attended(other.id)).await
    }

    /// Transfers the peer to `target`, replacing the dialog `replaces` names there
    /// (`Replaces::new(call_id, to_tag, from_tag, early_only)`, the tags as the target sees
    /// them). [`Call::attended_transfer`] does this for a call of ours.
    pub async fn refer_with_replaces(&self, target: &str, replaces: Replaces) -> Result<Transfer, Error> {
        let target = crate::user_agent::parse_target(target)?;
        self.transfer(TransferTo::Replacing(target, Box::new(replaces)))
            .await
    }

    async fn transfer(&self, to: TransferTo) -> Result<Transfer, Error> {
        let call = self.id;
        self.agent
            .request(|reply| Command::Transfer { call, to, reply })
            .await?
    }

    /// Waits for the call's end and returns why it ended (`None` if the driver stopped
    /// first). Other events are skipped.
    pub async fn ended(&mut self) -> Option<sip_core::call::EndReason> {
        while let Some(event) = self.next_event().await {
            if let CallEvent::Terminated { reason, .. } = event {
                return Some(reason);
            }
        }
        None
    }
}

/// New incoming calls, in arrival order (from [`UserAgent::incoming`]).
#[derive(Debug)]
pub struct IncomingCalls {
    receiver: mpsc::Receiver<crate::driver::NewCall>,
    agent: UserAgent,
}

impl IncomingCalls {
    pub(crate) fn new(receiver: mpsc::Receiver<crate::driver::NewCall>, agent: UserAgent) -> Self {
        IncomingCalls { receiver, agent }
    }

    /// The next incoming call; `None` when the driver stopped or another
    /// [`UserAgent::incoming`] took over.
    pub async fn next(&mut self) -> Option<Call> {
        let new = self.receiver.recv().await?;
        Some(Call::new(
            new.id,
            self.agent.clone(),
            new.events,
            Some(new.invitation),
        ))
    }
}
