//! Call transfer handles (REFER, RFC 3515; Replaces, RFC 3891): [`Transfer`], the progress
//! of a transfer we asked for, and [`IncomingRefer`], a transfer a peer asks of us.
//!
//! The protocol — the REFER, its implicit subscription, the `message/sipfrag` NOTIFYs,
//! the Replaces matching — is all in `sip-core`; these handles only carry commands to the
//! driver and its reports back.

use bytes::Bytes;
use sip_core::endpoint::CallId;
use sip_core::message::{Replaces, Request, StatusCode, Uri};
use sip_core::subscription::SubscriptionId;
use tokio::sync::mpsc;

use crate::driver::{Command, ReferOp};
use crate::{Call, Error, UserAgent};

/// How a transfer we asked for is going, from the NOTIFYs the peer sends (RFC 3515 §2.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferEvent {
    /// The peer accepted the REFER (202).
    Accepted,
    /// Its new call's progress: `100 Trying`, `180 Ringing`, another provisional status.
    Progress(StatusCode),
    /// The target answered: the peer talks to the target now. The last event. Our call
    /// with the peer is hung up next, unless the agent was built with
    /// [`Builder::end_call_after_transfer(false)`](crate::Builder::end_call_after_transfer).
    Succeeded,
    /// The transfer failed: the REFER was refused or the new call failed, with that
    /// status; or the peer's reports stopped without a result (`None`: its subscription
    /// ended or timed out). The last event; our call with the peer stays up (unless the
    /// peer ends it).
    Failed(Option<StatusCode>),
}

impl TransferEvent {
    /// True for [`TransferEvent::Succeeded`] and [`TransferEvent::Failed`].
    pub fn is_final(&self) -> bool {
        matches!(self, TransferEvent::Succeeded | TransferEvent::Failed(_))
    }
}

impl std::fmt::Display for TransferEvent {
    /// `accepted`, `180 Ringing`, `succeeded`, `failed: 486 Busy Here`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransferEvent::Accepted => f.write_str("accepted"),
            TransferEvent::Progress(status) => {
                write!(f, "{} {}", status.as_u16(), status.canonical_reason())
            }
            TransferEvent::Succeeded => f.write_str("succeeded"),
            TransferEvent::Failed(Some(status)) => {
                write!(f, "failed: {} {}", status.as_u16(), status.canonical_reason())
            }
            TransferEvent::Failed(None) => f.write_str("failed without a result"),
        }
    }
}

/// Events one transfer may leave unread. A transfer reports a handful (accepted, trying,
/// ringing, the result); past this, provisional progress is dropped, and one slot is always
/// kept for the result.
pub(crate) const TRANSFER_EVENT_QUEUE: usize = 8;

/// A transfer we asked for: from [`Call::refer`] or [`Call::attended_transfer`]. Read its
/// progress with [`Transfer::next_event`], or wait for the result with
/// [`Transfer::outcome`]. Dropping it does not stop the transfer.
#[derive(Debug)]
pub struct Transfer {
    id: SubscriptionId,
    events: mpsc::Receiver<TransferEvent>,
}

impl Transfer {
    pub(crate) fn new(id: SubscriptionId, events: mpsc::Receiver<TransferEvent>) -> Self {
        Transfer { id, events }
    }

    /// The REFER's implicit subscription in the Endpoint.
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// The next event; `None` after the final one (or when the driver stopped).
    pub async fn next_event(&mut self) -> Option<TransferEvent> {
        self.events.recv().await
    }

    /// Waits for the result: `Ok` once the target answered, [`Error::TransferFailed`]
    /// otherwise (or [`Error::Closed`] if the driver stopped first).
    pub async fn outcome(&mut self) -> Result<(), Error> {
        while let Some(event) = self.next_event().await {
            match event {
                TransferEvent::Succeeded => return Ok(()),
                TransferEvent::Failed(status) => return Err(Error::TransferFailed(status)),
                TransferEvent::Accepted | TransferEvent::Progress(_) => {}
            }
        }
        Err(Error::Closed)
    }
}

/// A REFER from a peer (RFC 3515): it asks us to call [`target`](IncomingRefer::target),
/// usually to take the place of the call it came in ([`call`](IncomingRefer::call)). From
/// [`UserAgent::incoming_refers`].
///
/// Answer it one of two ways:
/// - [`accept_and_call`](IncomingRefer::accept_and_call): the Endpoint accepts (202,
///   `100 Trying`), calls the target — carrying Referred-By, and for an attended transfer
///   the Replaces the target embedded — and reports that call's progress to the referrer
///   by itself;
/// - [`accept`](IncomingRefer::accept), then the `notify_*` methods as the request it
///   asked for progresses (the last one, success or failure, ends it); or
///   [`reject`](IncomingRefer::reject).
///
/// A REFER left unanswered gets 408 after 64·T1; hanging up the call it came in is the
/// application's choice (the referrer usually does it).
#[derive(Debug)]
pub struct IncomingRefer {
    id: SubscriptionId,
    call: Option<CallId>,
    request: Box<Request>,
    target: Box<Uri>,
    referred_by: Option<String>,
    agent: UserAgent,
}

/// A REFER on its way to [`IncomingRefers`].
#[derive(Debug)]
pub(crate) struct NewRefer {
    pub(crate) id: SubscriptionId,
    pub(crate) call: Option<CallId>,
    pub(crate) request: Box<Request>,
    pub(crate) target: Box<Uri>,
    pub(crate) referred_by: Option<String>,
}

impl IncomingRefer {
    /// The REFER's implicit subscription in the Endpoint.
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// The call the REFER came in, when it came in one.
    pub fn call(&self) -> Option<CallId> {
        self.call
    }

    /// The REFER itself.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The Refer-To URI, as sent (embedded headers such as Replaces included).
    pub fn target(&self) -> &Uri {
        &self.target
    }

    /// The Referred-By URI, when the REFER had one (RFC 3892).
    pub fn referred_by(&self) -> Option<&str> {
        self.referred_by.as_deref()
    }

    /// The Replaces embedded in the Refer-To (an attended transfer, RFC 3891 §7): the
    /// call at the target the new call is to replace. `None` for a blind transfer (or an
    /// unreadable Replaces, which [`accept_and_call`](IncomingRefer::accept_and_call)
    /// refuses).
    pub fn replaces(&self) -> Option<Replaces> {
        self.request
            .headers
            .refer_to()
            .and_then(Result::ok)
            .and_then(|refer_to| refer_to.embedded_replaces())
            .and_then(Result::ok)
    }

    async fn op(&self, op: ReferOp) -> Result<(), Error> {
        let subscription = self.id;
        self.agent
            .request(|reply| Command::Refer {
                subscription,
                op,
                reply,
            })
            .await?
            .map(|_| ())
    }

    /// Accepts: 202, then a NOTIFY saying `100 Trying`. Report progress with the
    /// `notify_*` methods.
    pub async fn accept(&self) -> Result<(), Error> {
        self.op(ReferOp::Accept).await
    }

    /// Refuses with `status` (403 Forbidden, 603 Decline, …; 300–699).
    pub async fn reject(&self, status: u16) -> Result<(), Error> {
        let status = final_status(status)?;
        self.op(ReferOp::Reject(status)).await
    }

    /// Reports `100 Trying` again (after [`accept`](IncomingRefer::accept)).
    pub async fn notify_trying(&self) -> Result<(), Error> {
        self.op(ReferOp::Notify(StatusCode::TRYING)).await
    }

    /// Reports that the new request's target is ringing (`180 Ringing`).
    pub async fn notify_ringing(&self) -> Result<(), Error> {
        self.op(ReferOp::Notify(StatusCode::RINGING)).await
    }

    /// Reports success (`200 OK`); this ends the REFER's subscription.
    pub async fn notify_success(&self) -> Result<(), Error> {
        self.op(ReferOp::Notify(StatusCode::OK)).await
    }

    /// Reports failure with the new request's final status (486, 603, …); this ends the
    /// REFER's subscription.
    pub async fn notify_failure(&self, status: u16) -> Result<(), Error> {
        let status = final_status(status)?;
        self.op(ReferOp::Notify(status)).await
    }

    /// Accepts and carries the transfer out: calls the target offering `offer` (an SDP
    /// body), and reports that call's progress to the referrer by itself. Returns the new
    /// call.
    pub async fn accept_and_call(self, offer: Bytes) -> Result<Call, Error> {
        let subscription = self.id;
        let handle = self
            .agent
            .request(|reply| Command::Refer {
                subscription,
                op: ReferOp::AcceptAndCall(offer),
                reply,
            })
            .await??;
        let (id, events) = handle.ok_or(Error::Closed)?;
        Ok(Call::new(id, self.agent, events, None))
    }
}

/// REFERs from peers, in arrival order (from [`UserAgent::incoming_refers`]).
#[derive(Debug)]
pub struct IncomingRefers {
    receiver: mpsc::Receiver<NewRefer>,
    agent: UserAgent,
}

impl IncomingRefers {
    pub(crate) fn new(receiver: mpsc::Receiver<NewRefer>, agent: UserAgent) -> Self {
        IncomingRefers { receiver, agent }
    }

    /// The next REFER; `None` when the driver stopped or another
    /// [`UserAgent::incoming_refers`] took over.
    pub async fn next(&mut self) -> Option<IncomingRefer> {
        let new = self.receiver.recv().await?;
        Some(IncomingRefer {
            id: new.id,
            call: new.call,
            request: new.request,
            target: new.target,
            referred_by: new.referred_by,
            agent: self.agent.clone(),
        })
    }
}

/// A failure status (300–699), or the error saying it is not one.
fn final_status(status: u16) -> Result<StatusCode, Error> {
    StatusCode::new(status)
        .filter(|s| s.as_u16() >= 300)
        .ok_or_else(|| {
            Error::Subscription(sip_core::subscription::SubscriptionError::Invalid(format!(
                "{status} is no failure status (300-699)"
            )))
        })
}
