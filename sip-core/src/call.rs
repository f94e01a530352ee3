//! The application-facing call model: one call per INVITE session, its states and their
//! history, the events it reports and the errors its commands return.
//!
//! Calls live in the [`Endpoint`](crate::Endpoint): commands (`invite`, `answer`, `reject`,
//! `ringing`, `cancel`, `bye`, `hold`, `unhold`, `reinvite`, `update`, …) take `now` and a
//! [`CallId`]; outcomes arrive as [`Event::Call`](crate::endpoint::Event::Call) from
//! `poll_event`. The protocol underneath is RFC 3261 §12–15 with RFC 3262 (reliable
//! provisionals), RFC 3264/6337 (offer/answer) and RFC 3311 (UPDATE).

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;

use crate::ids::TransactionId;
use crate::message::{Method, NameAddr, ParseError, Request, Response, StatusCode, Uri};
use crate::transport::Transport;

pub use crate::ids::CallId;

/// Where a call stands (the product brief's states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CallState {
    /// Created, nothing sent or received yet.
    Idle,
    /// Our INVITE is out; no ringing yet.
    Calling,
    /// Alerting: a 180/183 arrived (outgoing), or an INVITE arrived and waits for an answer
    /// (incoming).
    Ringing,
    /// Incoming: our 2xx is out and waits for the ACK (RFC 3261 §13.3.1.4).
    Answering,
    /// The session is up.
    Connected,
    /// The session is up and one side holds it (RFC 3264 §8.4).
    Hold,
    /// The session is up and a transfer we asked for (our REFER in it, RFC 3515) has not
    /// settled yet; back to [`CallState::Connected`] (or [`CallState::Hold`]) when it
    /// fails, ended after it succeeds unless
    /// [`SubscriptionConfig::end_call_after_transfer`](crate::subscription::SubscriptionConfig::end_call_after_transfer)
    /// is off.
    Referring,
    /// Incoming, and its INVITE replaces another call (Replaces, RFC 3891): it waits for
    /// an answer, as [`CallState::Ringing`] does; once answered the replaced call ends.
    Replacing,
    /// A BYE or CANCEL is out (or waits for the ACK it must follow).
    Ending,
    /// Over.
    Ended,
}

impl fmt::Display for CallState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The timers of a call (an invite session), as [`Wakeup`](crate::endpoint::Wakeup) reports
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CallTimer {
    /// Resend our 2xx (RFC 3261 §13.3.1.4: T1 doubling to T2).
    Retransmit2xx,
    /// No ACK within 64·T1: end the session with BYE.
    AckTimeout,
    /// Resend our reliable provisional (RFC 3262 §3).
    RetransmitProvisional,
    /// No PRACK within 64·T1: reject the INVITE with a 5xx.
    PrackTimeout,
    /// Retry a re-INVITE or UPDATE that met glare (RFC 3261 §14.1).
    GlareRetry,
    /// Refresh the session (RFC 4028 §10: at half the interval).
    SessionRefresh,
    /// No refresh came: end the session (RFC 4028 §10).
    SessionExpiry,
}

/// Which side did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// This endpoint.
    Local,
    /// The peer.
    Remote,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// We sent BYE (or hung up an answered call).
    LocalBye,
    /// The peer sent BYE.
    RemoteBye,
    /// We cancelled before an answer (RFC 3261 §9.1).
    Cancelled,
    /// The peer cancelled before we answered (§9.2).
    RemoteCancelled,
    /// The INVITE got a final error response (ours to them, or theirs to us).
    Rejected(StatusCode),
    /// No final response (Timer B) or no response to our BYE.
    Timeout,
    /// We answered and no ACK came within 64·T1 (§13.3.1.4): we sent BYE.
    NoAck,
    /// A reliable provisional was never PRACKed within 64·T1 (RFC 3262 §3).
    NoPrack,
    /// The transport failed (§8.1.3.1).
    TransportError,
    /// A re-INVITE or UPDATE got 481 or 408: the dialog is gone (§14.1).
    DialogGone,
    /// The peer's offer could not be answered, or its answer was unusable.
    MediaFailure,
    /// The session timer ran out without a refresh (RFC 4028 §10): we sent BYE.
    SessionExpired,
    /// Another call took its place (an INVITE with Replaces, RFC 3891): we ended it. The
    /// new call said which it replaces ([`CallEvent::Replacing`]).
    Replaced,
    /// A transfer we asked for (REFER, RFC 3515) succeeded and we hung up, as
    /// [`SubscriptionConfig::end_call_after_transfer`](crate::subscription::SubscriptionConfig::end_call_after_transfer)
    /// asks.
    Transferred,
}

impl fmt::Display for EndReason {
    /// A short human phrase (`the peer hung up`, `rejected: 486 Busy Here`), for logs and
    /// command-line tools.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::LocalBye => f.write_str("we hung up"),
            EndReason::RemoteBye => f.write_str("the peer hung up"),
            EndReason::Cancelled => f.write_str("we cancelled"),
            EndReason::RemoteCancelled => f.write_str("the caller cancelled"),
            EndReason::Rejected(status) => {
                write!(f, "rejected: {} {}", status.as_u16(), status.canonical_reason())
            }
            EndReason::Timeout => f.write_str("no response (timeout)"),
            EndReason::NoAck => f.write_str("no ACK for our answer"),
            EndReason::NoPrack => f.write_str("no PRACK for our reliable provisional"),
            EndReason::TransportError => f.write_str("transport error"),
            EndReason::DialogGone => f.write_str("the peer no longer knows the call"),
            EndReason::MediaFailure => f.write_str("no usable session description"),
            EndReason::SessionExpired => f.write_str("the session timer ran out"),
            EndReason::Replaced => f.write_str("replaced by another call"),
            EndReason::Transferred => f.write_str("transferred"),
        }
    }
}

/// One entry of a call's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Before.
    pub from: CallState,
    /// After.
    pub to: CallState,
    /// What caused it, e.g. `"180 Ringing"`, `"answer"`, `"BYE received"`.
    pub cause: &'static str,
    /// When.
    pub at: Instant,
}

/// What a call reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// A new incoming call (an INVITE outside any dialog). Answer it with
    /// [`Endpoint::answer`](crate::Endpoint::answer), ring with
    /// [`ringing`](crate::Endpoint::ringing), or [`reject`](crate::Endpoint::reject) it.
    Incoming {
        /// The INVITE.
        request: Request,
        /// Who sent it.
        source: SocketAddr,
        /// How it came.
        transport: Transport,
    },
    /// Our INVITE was redirected (a 3xx, RFC 3261 §8.1.3.4): the call now tries `target`
    /// (see [`CallConfig::follow_redirects`]).
    Redirected {
        /// Where the INVITE goes now.
        target: Box<Uri>,
    },
    /// A dialog of this call changed state (with
    /// [`CallConfig::dialog_events`]): created (`from` is `None`, the "Init" state) as
    /// early or confirmed, confirmed, or terminated. A call that forks has several early
    /// dialogs; the one its answer confirms survives.
    DialogState {
        /// The dialog.
        dialog: crate::ids::DialogId,
        /// Before (`None`: just created).
        from: Option<crate::dialog::DialogState>,
        /// After.
        to: crate::dialog::DialogState,
    },
    /// This incoming call replaces call `replaced` (its INVITE carried Replaces, RFC
    /// 3891 §3): once this one is answered, `replaced` is ended with
    /// [`EndReason::Replaced`]. Reported right after [`CallEvent::Incoming`].
    Replacing {
        /// The call it replaces.
        replaced: CallId,
    },
    /// The state changed.
    StateChanged {
        /// Before.
        from: CallState,
        /// After.
        to: CallState,
    },
    /// A 180 (or other alerting provisional) arrived.
    Ringing {
        /// The status (180, 181, 182, 183).
        status: StatusCode,
    },
    /// A provisional carried a session description: early media.
    EarlyMedia {
        /// The body.
        body: Bytes,
    },
    /// The call was answered (outgoing: the 2xx arrived and was ACKed; incoming: the ACK
    /// arrived).
    Answered {
        /// The peer's session description (its answer, or its offer in a delayed-offer 2xx).
        body: Bytes,
    },
    /// The INVITE was rejected with a final error response.
    Rejected {
        /// The status.
        status: StatusCode,
        /// The reason phrase.
        reason: ByteString,
    },
    /// One side put the session on hold (RFC 3264 §8.4).
    Hold {
        /// Who.
        by: Side,
    },
    /// One side took the session off hold.
    Unhold {
        /// Who.
        by: Side,
    },
    /// The peer sent a new offer (re-INVITE or UPDATE) other than hold/unhold; it was
    /// answered with our current session description.
    RemoteOffer {
        /// The offer.
        body: Bytes,
    },
    /// The peer sent a new offer (re-INVITE or UPDATE) that shares no media format with
    /// our current session description (RFC 3264 §6): it was refused with 488 Not
    /// Acceptable Here and the session stays as it was (RFC 3261 §14.2, RFC 3311 §5.2).
    RemoteOfferRejected {
        /// The offer.
        body: Bytes,
    },
    /// Our re-INVITE or UPDATE was answered.
    OfferAnswered {
        /// The answer.
        body: Bytes,
    },
    /// Our re-INVITE or UPDATE was refused (the session stays as it was, RFC 3261 §14.1).
    OfferRejected {
        /// The status.
        status: StatusCode,
    },
    /// Our re-INVITE or UPDATE crossed one from the peer (491); it is retried after the
    /// §14.1 randomised wait.
    GlareRetry {
        /// When the retry goes out.
        at: Instant,
    },
    /// A request inside the dialog of a method in
    /// [`CallConfig::in_dialog_methods`] (INFO and MESSAGE by default): answer it with
    /// [`Endpoint::respond`](crate::Endpoint::respond) — unless
    /// [`CallConfig::auto_accept_in_dialog`] is on, when the call layer already answered 200.
    Request {
        /// Its server transaction.
        transaction: TransactionId,
        /// The request.
        request: Request,
    },
    /// A response to a request sent with
    /// [`Endpoint::request_in_dialog`](crate::Endpoint::request_in_dialog).
    Response {
        /// The client transaction.
        transaction: TransactionId,
        /// The response.
        response: Response,
    },
    /// The call is over and forgotten by the Endpoint; its history is handed over.
    Terminated {
        /// Why.
        reason: EndReason,
        /// Every state transition, oldest first.
        history: Vec<Transition>,
    },
}

/// Misuse of a call command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No live call has this id.
    #[error("no such call {0}")]
    UnknownCall(CallId),
    /// The call's state does not allow this command.
    #[error("call {call} cannot do this while {state}")]
    InvalidState {
        /// The call.
        call: CallId,
        /// Its state.
        state: CallState,
    },
    /// An offer is outstanding, or another INVITE transaction is in progress (RFC 3261
    /// §14.1, RFC 3311 §5.1): wait for it to finish.
    #[error("an offer or re-INVITE is already in progress")]
    OfferPending,
    /// The target (or the outbound proxy) cannot be located at all (RFC 3263): no host,
    /// a `sips:` URI with an insecure transport, or a transport that is not enabled. A
    /// name whose DNS leads nowhere fails later, as a transport error.
    #[error("cannot reach {0}")]
    Unresolvable(String),
    /// The call limit ([`EndpointLimits::max_calls`](crate::endpoint::EndpointLimits)) is
    /// reached.
    #[error("too many calls")]
    TooManyCalls,
    /// The status code does not fit the command (e.g. `reject` with a 2xx).
    #[error("status {0} does not fit this command")]
    BadStatus(u16),
    /// The transaction layer refused.
    #[error(transparent)]
    Send(#[from] crate::error::SendError),
    /// The request could not be built.
    #[error("cannot build the request: {0}")]
    Build(String),
}

/// How the call layer behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConfig {
    /// Handle INVITE sessions: incoming INVITEs become calls, requests inside dialogs go to
    /// their call, requests naming an unknown dialog get 481, OPTIONS is answered with our
    /// capabilities, and methods nothing handles get 405 (501 inside a dialog) with an
    /// Allow of what is handled (RFC 3261 §8.2.1, §11.2, §12.2.2). Off, the Endpoint is a
    /// plain transaction layer and hands every request the
    /// [`UasPolicy`](crate::message::validate::UasPolicy) allows to the user.
    pub enabled: bool,
    /// Who we are: the From of the requests we originate (calls, subscriptions, messages,
    /// OPTIONS from the drivers), our Referred-By, and the address-of-record we register by
    /// default. A SIP URI (`sip:alice@example.com`, taken whole, URI parameters
    /// included) or a name-addr (`<sip:alice@example.com>`, `"Alice"
    /// <sip:alice@example.com>`), read by [`parse_identity`]; its user part also goes in
    /// our Contact (`<sip:alice@192.0.2.1:5060>`).
    ///
    /// `None`: `sip:` + the [advertised address](crate::endpoint::EndpointConfig::advertised_addr),
    /// with no user part. A value that [`parse_identity`] refuses is treated as `None` too,
    /// so what goes on the wire always parses; check it with [`parse_identity`] first to
    /// report it (the tokio driver's `Builder::start` refuses it).
    pub identity: Option<String>,
    /// Send provisionals reliably (RFC 3262) when the INVITE says it supports 100rel (it is
    /// always done when the INVITE requires it), and offer `Supported: 100rel` on ours.
    pub reliable_provisionals: bool,
    /// A proxy every out-of-dialog INVITE goes through, as a pre-loaded loose Route
    /// (RFC 3261 §8.1.2), located by RFC 3263 like any target.
    pub outbound_proxy: Option<String>,
    /// Ask for a session timer of this many seconds on calls we make, and offer one on
    /// calls we answer when the caller supports it (RFC 4028). `None`: only honour the
    /// peer's request.
    pub session_expires: Option<u32>,
    /// The smallest session interval we accept (RFC 4028 §5: at least 90 s); a shorter
    /// request gets 422.
    pub min_se: u32,
    /// Requests inside a call that the call layer does not handle itself but takes for the
    /// application: reported as [`CallEvent::Request`] (default: INFO, RFC 6086, and
    /// MESSAGE, RFC 3428). Any other method inside a call gets 501 with our Allow; outside
    /// a call these get 481 (they name no dialog of ours).
    pub in_dialog_methods: Vec<Method>,
    /// Answer the [`in_dialog_methods`](CallConfig::in_dialog_methods) with 200 before
    /// reporting them, for applications that only listen (a DTMF handler, a chat log) and
    /// have no way to answer. Off, the application answers each with
    /// [`Endpoint::respond`](crate::Endpoint::respond).
    pub auto_accept_in_dialog: bool,
    /// Requests outside any dialog that the application answers itself, reported as
    /// [`Event::Request`](crate::event::Event::Request) (default: none). OPTIONS among them
    /// stops the Endpoint answering OPTIONS itself.
    pub app_methods: Vec<Method>,
    /// Follow a 3xx to our INVITE (RFC 3261 §8.1.3.4): call its first Contact instead, in
    /// the same call (reported as [`CallEvent::Redirected`]), up to 5 times a call. On by
    /// default; off, a 3xx rejects the call.
    pub follow_redirects: bool,
    /// Report every change of a dialog's state (created early or confirmed, confirmed,
    /// terminated): a call's as [`CallEvent::DialogState`], another's (a subscription's)
    /// as [`Event::Dialog`](crate::endpoint::Event::Dialog), each kept in the dialog's
    /// history ([`Endpoint::dialog_history`](crate::Endpoint::dialog_history)). Off by
    /// default: a call then costs no extra events.
    pub dialog_events: bool,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            enabled: true,
            identity: None,
            reliable_provisionals: false,
            outbound_proxy: None,
            session_expires: None,
            min_se: 90,
            in_dialog_methods: vec![Method::Info, Method::Message],
            auto_accept_in_dialog: false,
            app_methods: Vec::new(),
            follow_redirects: true,
            dialog_events: false,
        }
    }
}

/// Reads an identity as [`CallConfig::identity`] takes it, and gives it back as it goes
/// in From: a name-addr with exactly one `<>`, the display name (if any) quoted, and no
/// header parameters (a tag is added per request).
///
/// Text without `<` or a leading `"` is one URI, read whole, so its `;parameters` stay in
/// it; anything else is a name-addr (RFC 3261 §25.1), whose parameters after the `>` are
/// dropped.
///
/// ```
/// use sip_core::call::parse_identity;
///
/// let alice = parse_identity("Alice <sip:alice@example.com>").unwrap();
/// assert_eq!(alice.as_str(), r#""Alice" <sip:alice@example.com>"#);
/// assert_eq!(alice.uri().user(), Some("alice"));
/// assert_eq!(parse_identity("sip:alice@example.com").unwrap().as_str(), "<sip:alice@example.com>");
/// assert!(parse_identity(r#""Alice" <sip:alice@example.com"#).is_err());
/// ```
pub fn parse_identity(text: &str) -> Result<NameAddr, ParseError> {
    let text = text.trim();
    let (display, uri) = if text.contains('<') || text.starts_with('"') {
        let address = NameAddr::parse(text)?;
        let display = address
            .display_name()
            // A display name cannot hold a line break (RFC 3261 §25.1 qdtext).
            .map(|name| name.replace(['\r', '\n'], " "))
            .filter(|name| !name.trim().is_empty());
        (display, address.uri().clone())
    } else {
        (None, Uri::parse(text)?)
    };
    let mut written =
        String::with_capacity(uri.as_str().len() + 4 + display.as_ref().map_or(0, |d| d.len() + 4));
    if let Some(name) = &display {
        crate::message::grammar::push_quoted(&mut written, name);
        written.push(' ');
    }
    written.push('<');
    written.push_str(uri.as_str());
    written.push('>');
    NameAddr::parse(&written)
}

/// Call counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// INVITE requests sent or received (initial and re-INVITEs).
    pub invites: u64,
    /// BYE requests sent or received.
    pub byes: u64,
    /// Calls that reached Connected.
    pub successful: u64,
    /// Calls that ended without ever connecting (rejected, cancelled, timed out).
    pub failed: u64,
    /// Incoming calls that replaced another (an INVITE with Replaces, RFC 3891).
    pub replaces: u64,
}
