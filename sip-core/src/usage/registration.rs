//! Registrations (RFC 3261 §10) as a usage: no dialog, one Call-ID per registration with a
//! CSeq that grows with each REGISTER (§10.2.4), refreshes, 423 retries, backoff after
//! failures and CRLF keep-alives on connections (RFC 5626). The model is in
//! [`crate::registration`].

use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;

use crate::event::Event;
use crate::ids::{FlowId, RegistrationId, TransactionId};
use crate::message::{HeaderName, HeaderWriter, Method, Request, Response, StatusCode, Uri, Version};
use crate::owner::Owner;
use crate::registration::{RegistrationError, RegistrationEvent, RegistrationTimer};
use crate::timer_queue::{Deadline, TimerId};
use crate::transaction::TransactionEvent;
use crate::transport::Route;

use super::Seam;

/// RFC 5626 §4.5: the first wait after a failure, and the longest.
const BACKOFF_BASE: Duration = Duration::from_secs(30);
const BACKOFF_MAX: Duration = Duration::from_secs(1800);
/// RFC 5626 §4.4.1: a CRLF keep-alive between 80 % and 100 % of this (120 s).
const KEEP_ALIVE: Duration = Duration::from_secs(120);

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A REGISTER is out (the first, a refresh or a retry).
    Registering,
    /// Bound; a refresh is armed.
    Registered,
    /// Failed; a retry is armed.
    Waiting,
    /// `Expires: 0` is out, or waits for the REGISTER in flight (§10.2: one at a time).
    Unregistering,
}

#[derive(Debug)]
struct Registration {
    id: RegistrationId,
    phase: Phase,
    /// The Request-URI: the registrar (§10.2: no user part).
    registrar: Uri,
    /// To and From: the address-of-record, a name-addr (`<sip:…>`, or with a display name).
    aor: ByteString,
    /// Our Contact, as sent and as looked for in the 200.
    contact: ByteString,
    call_id: ByteString,
    from_tag: ByteString,
    /// The CSeq of the last REGISTER.
    seq: u32,
    /// The interval we ask for, in seconds.
    expires: u32,
    /// The registrar (or outbound proxy) as RFC 3263 locates it.
    next: Uri,
    /// The REGISTER in flight.
    pending: Option<TransactionId>,
    /// Set while a REGISTER is in flight when `unregister` was asked: it goes out after.
    unregister_next: bool,
    /// Whether the registrar holds a binding of ours (a refresh or `Expires: 0` is owed).
    bound: bool,
    /// Failures in a row, for the backoff.
    failures: u32,
    /// The connection the registrar reaches us by, kept alive (RFC 5626 §4.4.1), and
    /// its route.
    flow: Option<(FlowId, Route)>,
    /// `<proxy;lr>` when an outbound proxy is configured (a preloaded Route).
    route: Option<ByteString>,
    /// The REGISTER in flight as we sent it (its credentials included), to send again
    /// with credentials after a 401 or 407 (RFC 3261 §22.2).
    sent: Option<Box<Request>>,
    armed: Vec<(RegistrationTimer, Deadline)>,
}

/// Every registration of the Endpoint.
#[derive(Debug)]
pub(crate) struct Registrations {
    /// By id: a few per Endpoint, kept in creation order (ids grow), so going through
    /// them (at shutdown) is deterministic without sorting a hash map's keys.
    regs: std::collections::BTreeMap<RegistrationId, Box<Registration>>,
}

impl Registrations {
    pub(crate) fn new() -> Self {
        Registrations {
            regs: std::collections::BTreeMap::new(),
        }
    }

    /// Live registrations.
    pub(crate) fn len(&self) -> usize {
        self.regs.len()
    }

    /// Every live registration, oldest first (ids grow with creation).
    pub(crate) fn ids(&self) -> Vec<RegistrationId> {
        self.regs.keys().copied().collect()
    }

    /// [`Endpoint::register`](crate::Endpoint::register), in the usage.
    pub(crate) fn register(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        registrar: Uri,
        aor: &str,
        expires: u32,
    ) -> Result<RegistrationId, RegistrationError> {
        // A URI or a name-addr (a display name kept), written as To and From take it.
        let aor_addr = crate::call::parse_identity(aor)
            .map_err(|e| RegistrationError::Invalid(format!("{aor}: {e}")))?;
        let aor_uri = aor_addr.uri();
        if !aor_uri.is_sip() || !registrar.is_sip() {
            return Err(RegistrationError::Invalid(format!(
                "{registrar} or {aor} is not a SIP URI"
            )));
        }
        let hop = cx
            .first_hop(&registrar)
            .map_err(RegistrationError::Unresolvable)?;
        let transport = hop.transport;
        // Our Contact carries the AOR's user part, so the registrar's routing to it reads
        // naturally and requests reach us addressed to the user.
        // (Over TLS a sips: Contact on our TLS port, RFC 3261 §8.1.1.8, §10.2.1; over WS
        // and WSS the WebSocket listener's, RFC 7118 §5.)
        let contact = cx.shared.local.contact_for_user(aor_uri.user(), transport);
        let id = RegistrationId(cx.shared.fresh_id());
        let reg = Box::new(Registration {
            id,
            phase: Phase::Registering,
            registrar,
            aor: aor_addr.as_byte_string().clone(),
            contact: ByteString::from(contact),
            call_id: ByteString::from(cx.shared.rng.token(20)),
            from_tag: ByteString::from(cx.shared.rng.token(10)),
            seq: 0,
            expires,
            next: hop.next,
            pending: None,
            unregister_next: false,
            bound: false,
            failures: 0,
            flow: None,
            sent: None,
            route: hop.route.map(ByteString::from),
            armed: Vec::new(),
        });
        self.regs.insert(id, reg);
        if let Err(error) = self.send(cx, now, id, expires) {
            self.regs.remove(&id);
            return Err(error);
        }
        Ok(id)
    }

    /// [`Endpoint::unregister`](crate::Endpoint::unregister): `Expires: 0` now, or once the
    /// REGISTER in flight is answered; a registration holding no binding just ends.
    pub(crate) fn unregister(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: RegistrationId,
    ) -> Result<(), RegistrationError> {
        let reg = self.regs.get_mut(&id).ok_or(RegistrationError::Unknown(id))?;
        if reg.phase == Phase::Unregistering {
            return Ok(());
        }
        disarm_all(cx, reg);
        if reg.pending.is_some() {
            reg.phase = Phase::Unregistering;
            reg.unregister_next = true;
            return Ok(());
        }
        if !reg.bound {
            self.finish(cx, id);
            return Ok(());
        }
        reg.phase = Phase::Unregistering;
        self.send(cx, now, id, 0)
    }

    /// Sends the next REGISTER of `id` asking for `expires` seconds.
    fn send(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: RegistrationId,
        expires: u32,
    ) -> Result<(), RegistrationError> {
        let reg = self.regs.get_mut(&id).ok_or(RegistrationError::Unknown(id))?;
        reg.seq = reg.seq.wrapping_add(1);
        let seq = reg.seq.to_string();
        let expires_text = expires.to_string();
        let mut headers = HeaderWriter::with_capacity(384, 9);
        headers.push(HeaderName::MaxForwards, &cx.shared.max_forwards);
        if let Some(route) = &reg.route {
            headers.push(HeaderName::Route, route);
        }
        headers.push_parts(HeaderName::From, &[&reg.aor, ";tag=", &reg.from_tag]);
        headers.push(HeaderName::To, &reg.aor);
        headers.push(HeaderName::CallId, &reg.call_id);
        headers.push_parts(HeaderName::CSeq, &[&seq, " REGISTER"]);
        headers.push(HeaderName::Contact, &reg.contact);
        headers.push(HeaderName::Expires, &expires_text);
        headers.push(HeaderName::Allow, &cx.shared.allow);
        headers.push(HeaderName::ContentLength, "0");
        let mut request = Request {
            method: Method::Register,
            uri: reg.registrar.clone(),
            version: Version::SIP_2_0,
            headers: headers.finish(),
            body: Bytes::new(),
        };
        cx.preauthorize(&mut request);
        self.transmit(cx, now, id, request)
    }

    /// Sends REGISTER `request` of `id` (kept, to answer a challenge to it).
    fn transmit(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: RegistrationId,
        request: Request,
    ) -> Result<(), RegistrationError> {
        let reg = self.regs.get_mut(&id).ok_or(RegistrationError::Unknown(id))?;
        reg.sent = Some(Box::new(request.clone()));
        let tx = cx.send_request_to(now, request, &reg.next, Owner::Registration(id))?;
        reg.pending = Some(tx);
        if reg.phase != Phase::Unregistering {
            reg.phase = Phase::Registering;
        }
        Ok(())
    }

    /// An event of a REGISTER transaction of `id`.
    pub(crate) fn on_transaction_event(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: RegistrationId,
        event: TransactionEvent,
    ) {
        match event {
            TransactionEvent::Response {
                transaction,
                response,
                ..
            } if response.status.is_final() && self.take_pending(id, transaction) => {
                self.on_final(cx, now, id, transaction, &response);
            }
            TransactionEvent::Timeout { transaction, .. }
            | TransactionEvent::TransportError { transaction, .. }
                if self.take_pending(id, transaction) =>
            {
                self.failed(cx, now, id, None);
            }
            _ => {}
        }
    }

    /// Whether `transaction` is `id`'s REGISTER in flight; it no longer is.
    fn take_pending(&mut self, id: RegistrationId, transaction: TransactionId) -> bool {
        match self.regs.get_mut(&id) {
            Some(reg) if reg.pending == Some(transaction) => {
                reg.pending = None;
                true
            }
            _ => false,
        }
    }

    fn on_final(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: RegistrationId,
        transaction: TransactionId,
        response: &Response,
    ) {
        let Some(reg) = self.regs.get_mut(&id) else {
            return;
        };
        let status = response.status;
        if status.is_success() {
            if reg.phase == Phase::Unregistering && !reg.unregister_next {
                // Our `Expires: 0` was confirmed.
                self.finish(cx, id);
                return;
            }
            reg.bound = true;
            reg.failures = 0;
            if reg.unregister_next {
                // Bound a moment ago and asked to let go meanwhile.
                reg.unregister_next = false;
                let _ = self.send(cx, now, id, 0);
                return;
            }
            let granted = granted_expires(response, &reg.contact).unwrap_or(reg.expires);
            let bindings = response
                .headers
                .contacts()
                .filter_map(Result::ok)
                .map(|contact| contact.uri().clone())
                .collect();
            reg.phase = Phase::Registered;
            // Over a connection (whichever target DNS gave, RFC 3263), keep it alive.
            reg.flow = cx
                .transactions
                .client_route(transaction)
                .filter(|r| r.transport.is_reliable())
                .and_then(|r| r.flow.map(|flow| (flow, r)));
            if reg.flow.is_some() && !is_armed(reg, RegistrationTimer::KeepAlive) {
                let at = now + keep_alive_interval(cx);
                arm(cx, reg, RegistrationTimer::KeepAlive, at);
            }
            if granted == 0 {
                // The registrar bound nothing for long: as good as unregistered.
                self.finish(cx, id);
                return;
            }
            let at = now + refresh_delay(granted);
            arm(cx, reg, RegistrationTimer::Refresh, at);
            emit(
                cx,
                id,
                RegistrationEvent::Registered {
                    expires: granted,
                    bindings,
                },
            );
            return;
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
            if let Some(sent) = reg.sent.take() {
                match cx.retry_with_credentials(&sent, response) {
                    Ok(retry) => {
                        reg.seq = retry
                            .headers
                            .cseq()
                            .and_then(Result::ok)
                            .map_or(reg.seq, |cseq| cseq.seq);
                        if self.transmit(cx, now, id, retry).is_ok() {
                            return;
                        }
                    }
                    Err(_) => {
                        // No credentials for the realm, or the registrar refuses ours:
                        // asking again cannot help (never a loop).
                        emit(
                            cx,
                            id,
                            RegistrationEvent::Failed {
                                status: Some(status),
                                retry_in: None,
                            },
                        );
                        self.finish(cx, id);
                        return;
                    }
                }
            }
        }
        let Some(reg) = self.regs.get_mut(&id) else {
            return;
        };
        if status == StatusCode::INTERVAL_TOO_BRIEF && reg.phase != Phase::Unregistering {
            // §10.2.8: ask again for at least Min-Expires — once per increase, never in a
            // loop.
            let min = response.headers.min_expires().and_then(Result::ok);
            if let Some(min) = min.filter(|min| *min > reg.expires) {
                reg.expires = min;
                if self.send(cx, now, id, min).is_ok() {
                    return;
                }
            }
        }
        self.failed(cx, now, id, Some(status));
    }

    /// A REGISTER failed: while unregistering, the registration is over; otherwise it is
    /// tried again after the backoff.
    fn failed(&mut self, cx: &mut Seam, now: Instant, id: RegistrationId, status: Option<StatusCode>) {
        let Some(reg) = self.regs.get_mut(&id) else {
            return;
        };
        if reg.phase == Phase::Unregistering {
            if reg.unregister_next && reg.bound {
                // The refresh failed, but a binding may still be there: let it go.
                reg.unregister_next = false;
                if self.send(cx, now, id, 0).is_ok() {
                    return;
                }
            }
            emit(
                cx,
                id,
                RegistrationEvent::Failed {
                    status,
                    retry_in: None,
                },
            );
            self.finish(cx, id);
            return;
        }
        reg.failures = reg.failures.saturating_add(1);
        let wait = backoff(cx, reg.failures);
        reg.phase = Phase::Waiting;
        disarm(cx, reg, RegistrationTimer::Refresh);
        arm(cx, reg, RegistrationTimer::Retry, now + wait);
        emit(
            cx,
            id,
            RegistrationEvent::Failed {
                status,
                retry_in: Some(wait),
            },
        );
    }

    /// A timer of `id` fired.
    pub(crate) fn fire_timer(
        &mut self,
        cx: &mut Seam,
        now: Instant,
        id: RegistrationId,
        timer: RegistrationTimer,
    ) {
        let Some(reg) = self.regs.get_mut(&id) else {
            return;
        };
        reg.armed.retain(|(t, _)| *t != timer);
        match timer {
            RegistrationTimer::Refresh | RegistrationTimer::Retry => {
                if reg.pending.is_none() {
                    let expires = reg.expires;
                    if self.send(cx, now, id, expires).is_err() {
                        self.failed(cx, now, id, None);
                    }
                }
            }
            RegistrationTimer::KeepAlive => {
                // Only while the connection lives: a new one is picked up by the next
                // REGISTER's answer.
                let Some((_, route)) = reg.flow.filter(|(f, _)| cx.shared.flows.contains(*f)) else {
                    reg.flow = None;
                    return;
                };
                cx.shared.transmit(route, Bytes::from_static(b"\r\n\r\n"));
                let at = now + keep_alive_interval(cx);
                if let Some(reg) = self.regs.get_mut(&id) {
                    arm(cx, reg, RegistrationTimer::KeepAlive, at);
                }
            }
        }
    }

    /// Ends `id`: its timers go, and the application hears it is unregistered.
    fn finish(&mut self, cx: &mut Seam, id: RegistrationId) {
        let Some(mut reg) = self.regs.remove(&id) else {
            return;
        };
        disarm_all(cx, &mut reg);
        emit(cx, id, RegistrationEvent::Unregistered);
    }
}

fn emit(cx: &mut Seam, registration: RegistrationId, event: RegistrationEvent) {
    cx.shared.emit(Event::Registration { registration, event });
}

fn arm(cx: &mut Seam, reg: &mut Registration, timer: RegistrationTimer, at: Instant) {
    disarm(cx, reg, timer);
    let deadline = cx.shared.timers.insert(
        at,
        TimerId::Registration {
            registration: reg.id,
            timer,
        },
    );
    reg.armed.push((timer, deadline));
}

fn disarm(cx: &mut Seam, reg: &mut Registration, timer: RegistrationTimer) {
    let id = reg.id;
    reg.armed.retain(|(t, at)| {
        if *t == timer {
            cx.shared.timers.remove(
                *at,
                TimerId::Registration {
                    registration: id,
                    timer,
                },
            );
            false
        } else {
            true
        }
    });
}

fn disarm_all(cx: &mut Seam, reg: &mut Registration) {
    for (timer, at) in reg.armed.drain(..) {
        cx.shared.timers.remove(
            at,
            TimerId::Registration {
                registration: reg.id,
                timer,
            },
        );
    }
}

fn is_armed(reg: &Registration, timer: RegistrationTimer) -> bool {
    reg.armed.iter().any(|(t, _)| *t == timer)
}

/// When to refresh a binding granted for `expires` seconds: early enough for a REGISTER
/// that needs every retransmission (Timer F, 32 s) to land before it runs out, and at most
/// half-way through a short one.
fn refresh_delay(expires: u32) -> Duration {
    Duration::from_secs(u64::from(expires.saturating_sub((expires / 2).min(32))))
}

/// RFC 5626 §4.5: after `failures` failures in a row, wait between half and all of
/// `min(BACKOFF_MAX, BACKOFF_BASE · 2^(failures−1))`.
fn backoff(cx: &mut Seam, failures: u32) -> Duration {
    let doubled = BACKOFF_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let ceiling = doubled.min(BACKOFF_MAX);
    ceiling.mul_f64(0.5 + cx.shared.rng.next_f64() / 2.0)
}

/// RFC 5626 §4.4.1: each keep-alive between 80 % and 100 % of the interval, so flows from
/// many clients do not fall into step.
fn keep_alive_interval(cx: &mut Seam) -> Duration {
    KEEP_ALIVE.mul_f64(0.8 + cx.shared.rng.next_f64() / 5.0)
}

/// The interval the registrar granted our binding (§10.2.4): the `expires` parameter of
/// the Contact in the 200 that is ours, else the 200's Expires.
fn granted_expires(response: &Response, ours: &str) -> Option<u32> {
    let ours = crate::message::NameAddr::parse(ours).ok()?;
    let own = response
        .headers
        .contacts()
        .filter_map(Result::ok)
        .find(|contact| contact.uri() == ours.uri())
        .and_then(|contact| {
            contact
                .params()
                .get("expires")
                .flatten()
                .and_then(|v| v.parse().ok())
        });
    own.or_else(|| response.headers.expires().and_then(Result::ok))
}
