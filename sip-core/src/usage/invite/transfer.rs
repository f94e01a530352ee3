//! Where calls meet transfers: the state of a call whose REFER is in progress (RFC 3515),
//! the progress of a call placed for someone's REFER, and the end of a call another has
//! replaced (RFC 3891). The REFER and its implicit subscription live in the subscription
//! usage; this is what they mean for the calls.

use std::time::Instant;

use crate::call::{CallState, EndReason};
use crate::ids::{CallId, SubscriptionId};
use crate::message::StatusCode;

use super::{Call, InviteSessions};
use crate::usage::Seam;

impl InviteSessions {
    /// We sent REFER `refer` in call `call`: the call is [`CallState::Referring`] until
    /// the transfer settles ([`InviteSessions::refer_settled`]).
    pub(crate) fn start_referring(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        call: CallId,
        refer: SubscriptionId,
    ) {
        let started = self.with_call(cx, now, call, |this, cx, c| {
            c.referring = c.referring.saturating_add(1);
            this.update_up_state(cx, now, c, "REFER sent");
        });
        if started.is_some() {
            self.referring.insert(refer, call);
        }
    }

    /// The transfer REFER `refer` asked for settled: `status` is the final status its
    /// NOTIFYs reported, or `None` when its subscription ended without one (expired,
    /// declined, `Refer-Sub: false`). The call leaves [`CallState::Referring`]; after a
    /// success it is hung up when `end_call` (the transferee talks to the target now, RFC
    /// 5589 §6), with [`EndReason::Transferred`]. Called once per settlement, and again
    /// harmlessly when the subscription ends after its final NOTIFY.
    pub(crate) fn refer_settled(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        refer: SubscriptionId,
        status: Option<StatusCode>,
        end_call: bool,
    ) {
        let Some(call) = self.referring.remove(&refer) else {
            return;
        };
        crate::shared::shrink_when_sparse(&mut self.referring);
        let succeeded = status.is_some_and(StatusCode::is_success);
        let cause = match status {
            Some(_) if succeeded => "transfer succeeded",
            Some(_) => "transfer failed",
            None => "transfer subscription ended",
        };
        let hang_up = end_call && succeeded;
        let settled = self.with_call(cx, now, call, |this, cx, c| {
            c.referring = c.referring.saturating_sub(1);
            if !hang_up {
                this.update_up_state(cx, now, c, cause);
            }
        });
        // Straight from Referring to Ending: the call was never plainly connected again.
        // Only a call still up ends as transferred: one already ending keeps its reason.
        let up = self.calls.get(&call).is_some_and(|c| c.is_up());
        if settled.is_some() && hang_up && up && self.hangup(cx, now, call).is_ok() {
            if let Some(c) = self.calls.get_mut(&call) {
                c.end_reason = Some(EndReason::Transferred);
            }
        }
    }

    /// RFC 3891 §3: the call that replaces `replaced` is up — `replaced` ends (BYE, or
    /// CANCEL while it was an early call of ours), with [`EndReason::Replaced`].
    pub(super) fn end_replaced(&mut self, cx: &mut Seam, now: Instant, replaced: CallId) {
        let ending = self
            .calls
            .get(&replaced)
            .is_none_or(|c| matches!(c.state, CallState::Ending | CallState::Ended));
        if !ending && self.hangup(cx, now, replaced).is_ok() {
            if let Some(c) = self.calls.get_mut(&replaced) {
                c.end_reason = Some(EndReason::Replaced);
            }
        }
    }

    /// A call placed for a REFER changed state: its referrer hears of it (RFC 3515
    /// §2.4.5) — ringing as 180, the answer as 200, an end before it as the failure.
    pub(super) fn report_to_referrer(&mut self, cx: &mut Seam, call: &Call, to: CallState) {
        let Some(&refer) = self.referred.get(&call.id) else {
            return;
        };
        let status = match to {
            CallState::Ringing => StatusCode::RINGING,
            CallState::Connected => StatusCode::OK,
            CallState::Ended => match call.end_reason {
                Some(EndReason::Rejected(status)) => status,
                Some(EndReason::Timeout) => StatusCode::REQUEST_TIMEOUT,
                Some(EndReason::Cancelled | EndReason::Replaced) => StatusCode::REQUEST_TERMINATED,
                Some(EndReason::TransportError) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::SERVER_INTERNAL_ERROR,
            },
            _ => return,
        };
        if status.is_final() {
            self.referred.remove(&call.id);
        }
        cx.shared.refer_progress.push((refer, status));
    }
}
