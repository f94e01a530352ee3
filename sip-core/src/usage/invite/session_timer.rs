//! Session timers (RFC 4028): the interval and refresher are negotiated in the INVITE and
//! its 2xx; the refresher re-INVITEs at half the interval, and the other side ends the
//! session with BYE when no refresh comes in time.

use std::time::{Duration, Instant};

use bytestring::ByteString;

use super::*;

/// RFC 4028 §5: no session interval is below 90 s. A peer claiming less must not make us
/// refresh in a tight loop.
const MIN_INTERVAL: u32 = 90;

/// A negotiated session timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SessionTimer {
    /// The session interval, in seconds.
    interval: u32,
    /// True when we refresh; false when the peer does and we watch.
    we_refresh: bool,
}

/// What an incoming INVITE asked for (RFC 4028 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SessionRequest {
    /// Its Session-Expires, if any.
    interval: Option<u32>,
    /// Its `refresher` parameter: `Some(true)` for uac, `Some(false)` for uas.
    refresher_uac: Option<bool>,
    /// The caller listed `timer` in Supported.
    uac_supports: bool,
}

/// A Session-Expires value: the interval and its `refresher` (`true` for uac).
fn parse_session_expires(headers: &crate::message::Headers) -> Option<(u32, Option<bool>)> {
    let value = headers.session_expires()?.ok()?;
    let interval = value.value().trim().parse().ok()?;
    let refresher = value
        .params()
        .get("refresher")
        .flatten()
        .map(|r| r.eq_ignore_ascii_case("uac"));
    Some((interval, refresher))
}

impl InviteSessions {
    /// The Session-Expires our INVITEs ask for, if configured (RFC 4028 §7.1; never below
    /// our own Min-SE).
    pub(super) fn requested_session_interval(&self, cx: &Seam) -> Option<String> {
        cx.shared
            .config
            .calls
            .session_expires
            .map(|seconds| seconds.max(cx.shared.config.calls.min_se).to_string())
    }

    /// Checks an incoming INVITE's Session-Expires (RFC 4028 §8.1): below our Min-SE it is
    /// answered 422 and false is returned.
    pub(super) fn check_session_request(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        tx: TransactionId,
        request: &Request,
    ) -> Option<SessionRequest> {
        let asked = parse_session_expires(&request.headers);
        let min_se = cx.shared.config.calls.min_se;
        if let Some((interval, _)) = asked {
            if interval < min_se {
                if let Ok(mut response) = cx.response(tx, StatusCode::SESSION_INTERVAL_TOO_SMALL) {
                    response
                        .headers
                        .push(HeaderName::MinSe, ByteString::from(min_se.to_string()));
                    let _ = cx.respond(now, tx, response);
                }
                return None;
            }
        }
        Some(SessionRequest {
            interval: asked.map(|(i, _)| i),
            refresher_uac: asked.and_then(|(_, r)| r),
            uac_supports: request.headers.supports("timer"),
        })
    }

    /// UAC: a 422 names the peer's Min-SE; the INVITE goes again, with the next CSeq and
    /// that interval (RFC 4028 §7.4). False when the 422 cannot be acted on.
    pub(super) fn retry_with_min_se(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        c: &mut Call,
        response: &Response,
    ) -> bool {
        let Some(min_se) = response
            .headers
            .min_se()
            .and_then(Result::ok)
            .and_then(|v| v.value().trim().parse::<u32>().ok())
        else {
            return false;
        };
        let Some(mut invite) = c.invite.as_deref().cloned() else {
            return false;
        };
        let asked = parse_session_expires(&invite.headers).map(|(i, _)| i);
        if asked.is_some_and(|asked| asked >= min_se) {
            return false;
        }
        let seq = c.invite_seq().wrapping_add(1);
        invite
            .headers
            .set(HeaderName::CSeq, ByteString::from(format!("{seq} INVITE")));
        invite
            .headers
            .set(HeaderName::SessionExpires, ByteString::from(min_se.to_string()));
        invite
            .headers
            .set(HeaderName::MinSe, ByteString::from(min_se.to_string()));
        let (remote, transport) = (c.route.remote, c.route.transport);
        auth::resend_invite(cx, now, c, invite, auth::Toward::Route(remote, transport))
    }

    /// UAS: decides the session timer for our 2xx and adds its headers (RFC 4028 §9).
    pub(super) fn add_session_timer_to_2xx(&mut self, cx: &mut Seam, c: &mut Call, response: &mut Response) {
        let Some(request) = c.session_request.take() else {
            return;
        };
        // Honour the caller's interval; offer our own when it supports timers but asked
        // for none.
        let interval = match (request.interval, cx.shared.config.calls.session_expires) {
            (Some(asked), _) => asked,
            (None, Some(ours)) if request.uac_supports => ours.max(cx.shared.config.calls.min_se),
            _ => return,
        };
        // §9: the caller's choice stands; else the caller refreshes if it can.
        let refresher_uac = request.refresher_uac.unwrap_or(request.uac_supports);
        let refresher = if refresher_uac { "uac" } else { "uas" };
        response.headers.push(
            HeaderName::SessionExpires,
            ByteString::from(format!("{interval};refresher={refresher}")),
        );
        if request.uac_supports {
            response
                .headers
                .push(HeaderName::Require, ByteString::from_static("timer"));
        }
        c.session_timer = Some(SessionTimer {
            interval,
            we_refresh: !refresher_uac,
        });
    }

    /// UAC: the 2xx says whether a session timer runs and who refreshes (RFC 4028 §7.2).
    pub(super) fn take_session_timer_from_2xx(&mut self, c: &mut Call, response: &Response) {
        if let Some((interval, refresher_uac)) = parse_session_expires(&response.headers) {
            let dialog_uac = c.role == Role::Uac;
            // The parameter names the dialog's UAC or UAS; absent, the UAC refreshes.
            let uac_refreshes = refresher_uac.unwrap_or(true);
            c.session_timer = Some(SessionTimer {
                interval: interval.max(MIN_INTERVAL),
                we_refresh: uac_refreshes == dialog_uac,
            });
        }
    }

    /// The Session-Expires of a refresh or of its 2xx: the current interval and refresher.
    pub(super) fn session_expires_value(c: &Call) -> Option<ByteString> {
        let timer = c.session_timer?;
        let refresher_is_uac = timer.we_refresh == (c.role == Role::Uac);
        let refresher = if refresher_is_uac { "uac" } else { "uas" };
        Some(ByteString::from(format!(
            "{};refresher={refresher}",
            timer.interval
        )))
    }

    /// A re-INVITE or UPDATE from the peer refreshes the session and may change the
    /// interval or refresher (RFC 4028 §8.2): returns the Session-Expires for our 2xx.
    pub(super) fn session_timer_from_request(c: &mut Call, request: &Request) -> Option<ByteString> {
        if let Some((interval, refresher_uac)) = parse_session_expires(&request.headers) {
            let dialog_uac = c.role == Role::Uac;
            // Absent, the one sending the refresh keeps refreshing (the peer).
            let peer_is_uac = !dialog_uac;
            let uac_refreshes = refresher_uac.unwrap_or(peer_is_uac);
            c.session_timer = Some(SessionTimer {
                interval: interval.max(MIN_INTERVAL),
                we_refresh: uac_refreshes == dialog_uac,
            });
        }
        Self::session_expires_value(c)
    }

    /// (Re)starts the session timer after a successful INVITE, re-INVITE or UPDATE.
    pub(super) fn restart_session_timer(&mut self, cx: &mut Seam, now: Instant, c: &mut Call) {
        let Some(timer) = c.session_timer else {
            return;
        };
        let interval = Duration::from_secs(u64::from(timer.interval));
        if timer.we_refresh {
            self.disarm(cx, c, CallTimer::SessionExpiry);
            self.arm(cx, c, CallTimer::SessionRefresh, now + interval / 2);
        } else {
            self.disarm(cx, c, CallTimer::SessionRefresh);
            // §10: BYE at the interval minus a third of it or 32 s, whichever is less.
            let margin = (interval / 3).min(Duration::from_secs(32));
            self.arm(cx, c, CallTimer::SessionExpiry, now + interval - margin);
        }
    }

    pub(super) fn on_session_timer(&mut self, cx: &mut Seam, now: Instant, c: &mut Call, timer: CallTimer) {
        if !c.is_up() {
            return;
        }
        match timer {
            CallTimer::SessionRefresh => {
                let busy = !c.oa.is_stable()
                    || c.outgoing.is_some()
                    || c.incoming_reinvite
                    || c.awaiting_ack.is_some();
                if busy {
                    // Another offer is under way; try again shortly.
                    self.arm(cx, c, CallTimer::SessionRefresh, now + Duration::from_secs(1));
                } else {
                    let _ = self.modify(cx, now, c, Method::Invite, Intent::Refresh);
                }
            }
            _ => {
                let _ = self.send_bye(cx, now, c);
                c.end_reason = Some(EndReason::SessionExpired);
                self.set_state(cx, now, c, CallState::Ending, "session expired");
            }
        }
    }
}
