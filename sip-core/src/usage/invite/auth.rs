//! A call's INVITE challenged with 401 or 407 (RFC 3261 §22.2): the transaction has ACKed
//! the challenge; the call sends its INVITE again — same Call-ID and From tag, the next
//! CSeq, credentials answering the challenge — and goes on as if nothing happened.

use std::time::Instant;

use crate::dialog::Usage;
use crate::message::{HeaderName, Response};
use crate::owner::{CallPart, Owner};

use super::{Call, InviteSessions};
use crate::call::CallState;
use crate::usage::Seam;

impl InviteSessions {
    /// Sends `c`'s INVITE again with credentials for `response`'s challenges. False when
    /// there is nothing to answer with (no credentials for the realm, credentials refused,
    /// the call is ending): the challenge then ends the call as any rejection does.
    pub(super) fn retry_with_credentials(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        response: &Response,
    ) -> bool {
        if !matches!(c.state, CallState::Calling | CallState::Ringing) {
            return false;
        }
        let Some(sent) = c.invite.as_deref() else {
            return false;
        };
        let Ok(mut invite) = cx.retry_with_credentials(sent, response) else {
            return false;
        };
        // Our own Via goes; the Endpoint puts a new one with a fresh branch.
        invite.headers.remove_first_value(HeaderName::Via);
        // Early dialogs of the challenged attempt ended with it (its final response).
        for dialog in c.dialogs.take() {
            cx.dialogs.end_usage(dialog, Usage::Invite(c.id));
        }
        let route = c.route;
        let owner = Owner::Call(c.id, CallPart::Invite);
        let Ok(tx) = cx.send_request(now, invite, route.remote, route.transport, owner) else {
            return false;
        };
        let Some(sent) = cx.transactions.client_invite_request(tx) else {
            return false;
        };
        c.invite = Some(Box::new(sent.clone()));
        c.invite_tx = Some(tx);
        cx.shared.stats.calls.invites += 1;
        true
    }
}
