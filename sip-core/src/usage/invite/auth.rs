//! A call's INVITE answered with a challenge (401/407, RFC 3261 §22.2) or a redirect (3xx,
//! §8.1.3.4): the transaction has ACKed it; the call sends its INVITE again — same Call-ID
//! and From tag, the next CSeq — with credentials, or to the new target, and goes on.

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
        let Ok(invite) = cx.retry_with_credentials(sent, response) else {
            return false;
        };
        // Early dialogs of the challenged attempt ended with it (its final response).
        for dialog in c.dialogs.take() {
            cx.dialogs.end_usage(dialog, Usage::Invite(c.id));
        }
        let (remote, transport) = (c.route.remote, c.route.transport);
        if !resend_invite(cx, now, c, invite, Toward::Route(remote, transport)) {
            return false;
        }
        cx.shared.stats.calls.invites += 1;
        true
    }
}

/// Redirects a call follows at most: a loop between redirect servers ends.
const MAX_REDIRECTS: u8 = 5;

impl InviteSessions {
    /// Follows a 3xx to `c`'s INVITE: a new INVITE to its first Contact we can reach.
    /// False when there is none, the call is ending, or it was redirected too often.
    pub(super) fn follow_redirect(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        response: &Response,
    ) -> bool {
        if !cx.shared.config.calls.follow_redirects
            || c.redirects >= MAX_REDIRECTS
            || !matches!(c.state, CallState::Calling | CallState::Ringing)
        {
            return false;
        }
        let Some(sent) = c.invite.as_deref() else {
            return false;
        };
        // The first Contact we can reach at all: through the outbound proxy if there is
        // one, else located by RFC 3263 (an address, or a name).
        let Some((target, next)) = response
            .headers
            .contacts()
            .filter_map(Result::ok)
            .map(|contact| contact.uri().clone())
            .find_map(|uri| Some((uri.clone(), cx.first_hop(&uri).ok()?.next)))
        else {
            return false;
        };
        let mut invite = sent.clone();
        invite.uri = target.clone();
        let seq = c.invite_seq().wrapping_add(1);
        invite.headers.set(HeaderName::CSeq, format!("{seq} INVITE"));
        for dialog in c.dialogs.take() {
            cx.dialogs.end_usage(dialog, Usage::Invite(c.id));
        }
        if !resend_invite(cx, now, c, invite, Toward::Locate(next)) {
            return false;
        }
        c.redirects += 1;
        cx.shared.stats.calls.invites += 1;
        self.call_event(
            cx,
            c.id,
            crate::call::CallEvent::Redirected {
                target: Box::new(target),
            },
        );
        true
    }
}

/// Where an INVITE sent again goes.
pub(super) enum Toward {
    /// Where the last one went (a retry after a challenge or a 422).
    Route(std::net::SocketAddr, crate::transport::Transport),
    /// A URI to locate (RFC 3263): a redirect's Contact, or the outbound proxy.
    Locate(crate::message::Uri),
}

/// Sends `invite` — call `c`'s INVITE once more, its CSeq already advanced — in a new
/// transaction `toward` where it goes, and makes it the call's INVITE. Our own Via goes;
/// the Endpoint puts a new one with a fresh branch. False when it cannot be sent.
pub(super) fn resend_invite(
    cx: &mut Seam,
    now: Instant,
    c: &mut Call,
    mut invite: crate::message::Request,
    toward: Toward,
) -> bool {
    invite.headers.remove_first_value(HeaderName::Via);
    let owner = Owner::Call(c.id, CallPart::Invite);
    let sent = match toward {
        Toward::Route(destination, transport) => cx.send_request(now, invite, destination, transport, owner),
        Toward::Locate(uri) => cx.send_request_to(now, invite, &uri, owner),
    };
    let Ok(tx) = sent else {
        return false;
    };
    let Some(sent) = cx.transactions.client_invite_request(tx) else {
        return false;
    };
    c.invite = Some(Box::new(sent.clone()));
    c.invite_tx = Some(tx);
    // A located INVITE may still wait for DNS: the call takes its route with its first
    // response (see `on_call_response`).
    if let Some(route) = cx.transactions.client_route(tx) {
        c.route = route;
    }
    true
}
