//! Dialogs (RFC 3261 §12): their identity, route set, remote target and sequence numbers,
//! and the requests sent inside them.
//!
//! A [`Dialog`] is pure state: it is created from the request and response that establish
//! it, updated by target refreshes, checks the CSeq of what arrives, and builds what is sent
//! (any method, the ACK for a 2xx included). Sending is the [`Endpoint`](crate::Endpoint)'s
//! business; this module never touches a transaction.
//!
//! ```
//! use sip_core::dialog::{Dialog, DialogState};
//! use sip_core::message::{Message, Method};
//!
//! let invite = Message::parse(
//!     "INVITE sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
//!      From: <sip:alice@192.0.2.1>;tag=a1\r\nTo: <sip:bob@192.0.2.2>\r\nCall-ID: c1\r\n\
//!      CSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.1>\r\nContent-Length: 0\r\n\r\n".into(),
//! ).unwrap().as_request().unwrap().clone();
//! let ok = Message::parse(
//!     "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
//!      Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n\
//!      From: <sip:alice@192.0.2.1>;tag=a1\r\nTo: <sip:bob@192.0.2.2>;tag=b1\r\nCall-ID: c1\r\n\
//!      CSeq: 1 INVITE\r\nContact: <sip:bob@192.0.2.22>\r\nContent-Length: 0\r\n\r\n".into(),
//! ).unwrap().as_response().unwrap().clone();
//!
//! let mut dialog = Dialog::uac(&invite, &ok).unwrap();
//! assert_eq!(dialog.state(), DialogState::Confirmed);
//! let bye = dialog.request(Method::Bye);
//! // The UAC reverses Record-Route (§12.1.2) and, the first hop being loose, keeps the
//! // remote target as Request-URI (§12.2.1.1).
//! assert_eq!(bye.uri.as_str(), "sip:bob@192.0.2.22");
//! let routes: Vec<_> = bye.headers.values("Route").collect();
//! assert_eq!(routes, ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]);
//! assert_eq!(bye.headers.cseq().unwrap().unwrap().seq, 2);
//! ```

mod index;
mod offer_answer;
mod table;

pub use offer_answer::{OfferAnswer, OfferAnswerError};
pub(crate) use table::{DialogTable, Usage};

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use bytestring::ByteString;

use crate::message::builder::decimal;
use crate::message::{
    HeaderName, HeaderWriter, Host, Method, Request, Response, Scheme, Uri, Version, tag_of,
};

/// Where a dialog is in its life (RFC 3261 §12): created by a provisional response with a
/// To tag (early) or by a 2xx (confirmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialogState {
    /// Created by a 101–199 with a To tag; a 2xx confirms it, a failure ends it.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended (BYE, a failure of the early dialog, or a timeout).
    Terminated,
}

/// One change of a dialog's state (with [`CallConfig::dialog_events`](crate::call::CallConfig::dialog_events)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialogTransition {
    /// Before: `None` when the dialog was just created (the "Init" state).
    pub from: Option<DialogState>,
    /// After.
    pub to: DialogState,
    /// When.
    pub at: std::time::Instant,
}

/// Which side of the dialog we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request that created it.
    Uac,
    /// We received it.
    Uas,
}

/// The dialog identifier of RFC 3261 §12: Call-ID, local tag and remote tag, seen from our
/// side.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogKey {
    /// The Call-ID.
    pub call_id: ByteString,
    /// Our tag (From tag of what we send).
    pub local_tag: ByteString,
    /// The peer's tag.
    pub remote_tag: ByteString,
}

impl DialogKey {
    /// The key a request received inside a dialog names (§12.2.2): its To tag is ours, its
    /// From tag the peer's — empty when the From has none (an RFC 2543 peer, §12.1.1).
    /// `None` without Call-ID, From or a To tag.
    pub fn of_request(request: &Request) -> Option<DialogKey> {
        let headers = &request.headers;
        Some(DialogKey {
            call_id: headers.share(headers.get(HeaderName::CallId)?),
            local_tag: headers.share(tag_of(headers.get(HeaderName::To)?)?),
            remote_tag: tag_of(headers.get(HeaderName::From)?)
                .map_or_else(ByteString::new, |tag| headers.share(tag)),
        })
    }

    /// The key a response to a request we sent names: its From tag is ours, its To tag the
    /// peer's. `None` without Call-ID or tags.
    pub fn of_response(response: &Response) -> Option<DialogKey> {
        let headers = &response.headers;
        Some(DialogKey {
            call_id: headers.share(headers.get(HeaderName::CallId)?),
            local_tag: headers.share(tag_of(headers.get(HeaderName::From)?)?),
            remote_tag: headers.share(tag_of(headers.get(HeaderName::To)?)?),
        })
    }

    /// The same key in buffers of its own. Keys from [`DialogKey::of_request`] and
    /// [`DialogKey::of_response`] share the message's buffer (cheap for a lookup); a key
    /// that is kept is detached so it does not keep a whole message alive.
    pub fn detached(&self) -> DialogKey {
        DialogKey {
            call_id: ByteString::from(&*self.call_id),
            local_tag: ByteString::from(&*self.local_tag),
            remote_tag: ByteString::from(&*self.remote_tag),
        }
    }
}

impl fmt::Display for DialogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local={};remote={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}

/// Why a dialog could not be made from a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog needs is missing or malformed.
    #[error("cannot create a dialog: {0} missing or malformed")]
    Missing(&'static str),
    /// The response cannot create a dialog (100, or a failure).
    #[error("a {0} response does not create a dialog")]
    NotDialogCreating(u16),
}

/// What the CSeq check of a request received in a dialog says (RFC 3261 §12.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CSeqCheck {
    /// In order: process it.
    Accept,
    /// Lower than the last one: answer 500 (Server Internal Error).
    OutOfOrder,
}

const CALL_ID: usize = 0;
const LOCAL_TAG: usize = 1;
const REMOTE_TAG: usize = 2;
const LOCAL_PARTY: usize = 3;
const REMOTE_PARTY: usize = 4;

/// One dialog (RFC 3261 §12): what both ends agreed on and what requests inside it carry.
///
/// Text is copied out of the messages that create or refresh it, so a dialog does not keep
/// a whole INVITE alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Call-ID, local tag, remote tag, our party (our address-of-record with our tag, as
    /// our From (UAC) or To (UAS) carries it), the peer's, and the remote target, copied
    /// into one buffer: one allocation per dialog, and a hundred bytes less than a field
    /// each (this is most of what 100,000 calls cost).
    text: ByteString,
    spans: [(u32, u32); 5],
    role: Role,
    state: DialogState,
    /// A URI sharing `text`.
    remote_target: Uri,
    /// In the order Route headers are written (§12.1.1 UAS: as received; §12.1.2 UAC:
    /// reversed).
    route_set: Vec<Uri>,
    local_seq: u32,
    remote_seq: Option<u32>,
    secure: bool,
}

impl Dialog {
    /// The UAC side (RFC 3261 §12.1.2), from the request we sent and a 101–299 response
    /// with a To tag. A provisional makes it early, a 2xx confirmed.
    pub fn uac(request: &Request, response: &Response) -> Result<Dialog, DialogError> {
        let code = response.status.as_u16();
        if !(101..300).contains(&code) {
            return Err(DialogError::NotDialogCreating(code));
        }
        let key = DialogKey::of_response(response).ok_or(DialogError::Missing("Call-ID, From or To tag"))?;
        Dialog::uac_keyed(request, response, &key)
    }

    /// [`Dialog::uac`] with the response's key already read (the call layer reads it to
    /// find the dialog first).
    pub(crate) fn uac_keyed(
        request: &Request,
        response: &Response,
        key: &DialogKey,
    ) -> Result<Dialog, DialogError> {
        let code = response.status.as_u16();
        if !(101..300).contains(&code) {
            return Err(DialogError::NotDialogCreating(code));
        }
        let from = request
            .headers
            .get(HeaderName::From)
            .ok_or(DialogError::Missing("From"))?;
        let to = response
            .headers
            .get(HeaderName::To)
            .ok_or(DialogError::Missing("To"))?;
        let target = contact_text(&response.headers).ok_or(DialogError::Missing("Contact"))?;
        let (text, spans, target) = pack([&key.call_id, &key.local_tag, &key.remote_tag, from, to], target);
        let remote_target = Uri::parse_shared(target).map_err(|_| DialogError::Missing("Contact"))?;
        let mut route_set = record_route_uris(&response.headers)?;
        route_set.reverse();
        let local_seq = request
            .headers
            .cseq()
            .and_then(Result::ok)
            .ok_or(DialogError::Missing("CSeq"))?
            .seq;
        Ok(Dialog {
            text,
            spans,
            role: Role::Uac,
            state: if response.status.is_success() {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            // §12.1.2: secure when the request went over TLS with a sips Request-URI.
            secure: request.uri.scheme() == Scheme::Sips,
            remote_target,
            route_set,
            local_seq,
            remote_seq: None,
        })
    }

    /// The UAS side (RFC 3261 §12.1.1), from the request received and the tag we put in our
    /// To. `early` for a provisional, else confirmed. Our first CSeq is `local_seq`
    /// (§8.1.1.5: any value below 2³¹).
    pub fn uas(
        request: &Request,
        local_tag: &str,
        local_seq: u32,
        early: bool,
    ) -> Result<Dialog, DialogError> {
        let call_id = request
            .headers
            .call_id()
            .and_then(Result::ok)
            .ok_or(DialogError::Missing("Call-ID"))?;
        // The request was validated (its From parses): the value as written and its tag are
        // all the dialog keeps, so the From is not parsed again.
        let from = request
            .headers
            .get(HeaderName::From)
            .ok_or(DialogError::Missing("From"))?;
        // §12.1.1: an RFC 2543 peer sends no From tag; the remote tag is then empty.
        let remote_tag = tag_of(from).unwrap_or("");
        let to = request
            .headers
            .get(HeaderName::To)
            .ok_or(DialogError::Missing("To"))?;
        // RFC 2543 did not require a Contact in an INVITE; its peers expect requests at the
        // From address (RFC 4475 §3.4.1 keeps such an INVITE acceptable).
        let target = contact_text(&request.headers)
            .or_else(|| uri_text_of(from))
            .ok_or(DialogError::Missing("Contact"))?;
        let route_set = record_route_uris(&request.headers)?;
        let remote_seq = request
            .headers
            .cseq()
            .and_then(Result::ok)
            .ok_or(DialogError::Missing("CSeq"))?
            .seq;
        let mut local_party = String::with_capacity(to.len() + 5 + local_tag.len());
        local_party.push_str(to);
        if tag_of(to).is_none() {
            local_party.push_str(";tag=");
            local_party.push_str(local_tag);
        }
        let (text, spans, target) = pack([call_id, local_tag, remote_tag, &local_party, from], target);
        let remote_target = Uri::parse_shared(target).map_err(|_| DialogError::Missing("Contact"))?;
        Ok(Dialog {
            text,
            spans,
            role: Role::Uas,
            state: if early {
                DialogState::Early
            } else {
                DialogState::Confirmed
            },
            // §12.1.1: secure when the request arrived over TLS with a sips Request-URI.
            secure: request.uri.scheme() == Scheme::Sips,
            remote_target,
            route_set,
            local_seq,
            remote_seq: Some(remote_seq),
        })
    }

    /// The dialog identifier (sharing the dialog's buffer).
    pub fn key(&self) -> DialogKey {
        DialogKey {
            call_id: self.shared(CALL_ID),
            local_tag: self.shared(LOCAL_TAG),
            remote_tag: self.shared(REMOTE_TAG),
        }
    }

    /// True when this dialog has identifier `key`.
    pub fn has_key(&self, key: &DialogKey) -> bool {
        self.part(CALL_ID) == &*key.call_id
            && self.part(LOCAL_TAG) == &*key.local_tag
            && self.part(REMOTE_TAG) == &*key.remote_tag
    }

    fn part(&self, index: usize) -> &str {
        self.spans
            .get(index)
            .and_then(|&(start, end)| self.text.get(start as usize..end as usize))
            .unwrap_or_default()
    }

    fn shared(&self, index: usize) -> ByteString {
        self.text.slice_ref(self.part(index))
    }

    /// Which side we are.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Early, confirmed or terminated.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// Where requests in this dialog are addressed (the peer's Contact).
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The route set, in the order Route headers are written.
    pub fn route_set(&self) -> &[Uri] {
        &self.route_set
    }

    /// The CSeq number of the last request we sent.
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// Notes that we sent a request of CSeq `seq` in this dialog (a retry with
    /// credentials): our next request takes a higher number.
    pub(crate) fn note_local_seq(&mut self, seq: u32) {
        if seq > self.local_seq {
            self.local_seq = seq;
        }
    }

    /// The CSeq number of the last request the peer sent, if any.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// True when the dialog was set up over a `sips` URI (§12.1).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The 2xx confirmed an early dialog. On the UAC the 2xx's Record-Route replaces the
    /// route set (§13.2.2.4: the route set is fixed by the 2xx) and its Contact refreshes
    /// the target.
    pub fn confirm(&mut self, response: &Response) {
        if self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
            if self.role == Role::Uac {
                if let Ok(mut routes) = record_route_uris(&response.headers) {
                    routes.reverse();
                    self.route_set = routes;
                }
            }
        }
        self.refresh_target(&response.headers);
    }

    /// The UAS sent its 2xx: the early dialog is confirmed (§12.1.1).
    pub fn mark_confirmed(&mut self) {
        if self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
        }
    }

    /// Marks the dialog over.
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    /// A target refresh (re-INVITE, UPDATE, or their 2xx) replaces the remote target with
    /// the message's Contact, when it has one (§12.2.1.2, §12.2.2).
    pub fn refresh_target(&mut self, headers: &crate::message::Headers) {
        if let Some(target) = contact_uri(headers) {
            self.remote_target = target;
        }
    }

    /// Checks and records the CSeq of a request received in this dialog (§12.2.2): a lower
    /// number than the last one is out of order (answer 500). ACK and CANCEL carry the
    /// number of the request they belong to and are not checked.
    pub fn check_remote_cseq(&mut self, request: &Request) -> CSeqCheck {
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return CSeqCheck::Accept;
        }
        let Some(Ok(cseq)) = request.headers.cseq() else {
            return CSeqCheck::OutOfOrder;
        };
        self.check_remote_seq(&request.method, cseq.seq)
    }

    /// [`Dialog::check_remote_cseq`] for a request of `method` whose CSeq number (already
    /// parsed) is `seq`.
    pub fn check_remote_seq(&mut self, method: &Method, seq: u32) -> CSeqCheck {
        if matches!(method, Method::Ack | Method::Cancel) {
            return CSeqCheck::Accept;
        }
        match self.remote_seq {
            Some(last) if seq < last => CSeqCheck::OutOfOrder,
            // Equal is a retransmission the transaction layer absorbs, or a new request
            // with a reused number from a peer that restarted; accept it.
            _ => {
                self.remote_seq = Some(seq);
                CSeqCheck::Accept
            }
        }
    }

    /// The URI of the next hop: the first route, or the remote target when the route set is
    /// empty (§12.2.1.1, §8.1.2). This is what a transport resolves.
    pub fn next_hop(&self) -> &Uri {
        self.route_set.first().unwrap_or(&self.remote_target)
    }

    /// The next hop as a socket address when its host is an IP literal (port 5060, or
    /// 5061 for `sips`, when absent). Host names need the resolver (RFC 3263).
    pub fn next_hop_addr(&self) -> Option<SocketAddr> {
        uri_socket_addr(self.next_hop())
    }

    /// A new request of `method` in this dialog (§12.2.1.1), with the next local CSeq
    /// number. Via is left to the Endpoint; Contact is `contact` for target-refresh requests;
    /// Max-Forwards is 70 (the Endpoint's own dialog requests carry its
    /// [`max_forwards`](crate::endpoint::EndpointConfig::max_forwards)).
    pub fn request(&mut self, method: Method) -> Request {
        self.request_via(method, None, Bytes::new(), None, PLACEHOLDER_VIA, "70")
    }

    /// A new request with a body and, for target refreshes (INVITE, UPDATE), our Contact.
    pub fn request_with(
        &mut self,
        method: Method,
        contact: Option<&str>,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Request {
        self.request_via(method, contact, body, content_type, PLACEHOLDER_VIA, "70")
    }

    /// [`Dialog::request_with`] with its real topmost Via (the Endpoint's, with the branch
    /// of the transaction about to send it) written in place of the placeholder, and the
    /// Endpoint's Max-Forwards.
    pub(crate) fn request_via(
        &mut self,
        method: Method,
        contact: Option<&str>,
        body: Bytes,
        content_type: Option<&str>,
        via: &str,
        max_forwards: &str,
    ) -> Request {
        self.local_seq = self.local_seq.wrapping_add(1);
        let seq = self.local_seq;
        self.build(method, seq, contact, body, content_type, (via, max_forwards))
    }

    /// The ACK for a 2xx to the INVITE numbered `invite_seq` (§13.2.2.4): the dialog's
    /// route set and target, the INVITE's CSeq number, method ACK, and the answer if the
    /// 2xx carried an offer.
    pub fn ack(&self, invite_seq: u32, body: Bytes, content_type: Option<&str>) -> Request {
        self.ack_via(invite_seq, body, content_type, PLACEHOLDER_VIA, "70")
    }

    /// [`Dialog::ack`] with its real Via and the Endpoint's Max-Forwards (see
    /// [`Dialog::request_via`]).
    pub(crate) fn ack_via(
        &self,
        invite_seq: u32,
        body: Bytes,
        content_type: Option<&str>,
        via: &str,
        max_forwards: &str,
    ) -> Request {
        self.build(
            Method::Ack,
            invite_seq,
            None,
            body,
            content_type,
            (via, max_forwards),
        )
    }

    /// A request of `method` numbered `seq` (§12.2.1.1), with this Via and Max-Forwards.
    fn build(
        &self,
        method: Method,
        seq: u32,
        contact: Option<&str>,
        body: Bytes,
        content_type: Option<&str>,
        (via, max_forwards): (&str, &str),
    ) -> Request {
        let mut headers =
            HeaderWriter::with_capacity(320 + self.route_set.len() * 48, 10 + self.route_set.len());
        headers.push(HeaderName::Via, via);
        headers.push(HeaderName::MaxForwards, max_forwards);
        // §12.2.1.1: an empty route set or a loose first hop keeps the remote target as
        // Request-URI; a strict first hop becomes the Request-URI (parameters a
        // Request-URI may not carry stripped — headers) and the remote target the last Route.
        let strict = self
            .route_set
            .first()
            .is_some_and(|first| !first.is_loose_route());
        let uri = match self.route_set.first() {
            Some(first) if strict => without_uri_headers(first),
            _ => self.remote_target.clone(),
        };
        let routes = if strict {
            self.route_set.get(1..).unwrap_or_default()
        } else {
            &self.route_set[..]
        };
        for route in routes {
            headers.push_parts(HeaderName::Route, &["<", route.as_str(), ">"]);
        }
        if strict {
            headers.push_parts(HeaderName::Route, &["<", self.remote_target.as_str(), ">"]);
        }
        headers.push(HeaderName::From, self.part(LOCAL_PARTY));
        headers.push(HeaderName::To, self.part(REMOTE_PARTY));
        headers.push(HeaderName::CallId, self.part(CALL_ID));
        let mut number = [0u8; 10];
        headers.push_parts(
            HeaderName::CSeq,
            &[decimal(&mut number, seq), " ", method.as_str()],
        );
        if let Some(contact) = contact {
            headers.push(HeaderName::Contact, contact);
        }
        if let Some(content_type) = content_type.filter(|_| !body.is_empty()) {
            headers.push(HeaderName::ContentType, content_type);
        }
        let length = u32::try_from(body.len()).unwrap_or(u32::MAX);
        headers.push(HeaderName::ContentLength, decimal(&mut number, length));
        Request {
            method,
            uri,
            version: Version::SIP_2_0,
            headers: headers.finish(),
            body,
        }
    }
}

/// The Via of a request built for a caller that sends it itself: the Endpoint replaces it
/// with its own (RFC 3261 §8.1.1.7).
const PLACEHOLDER_VIA: &str = "SIP/2.0/UDP placeholder";

/// The URI of the first Contact, as text.
fn contact_text(headers: &crate::message::Headers) -> Option<&str> {
    let line = headers.get(HeaderName::Contact)?;
    uri_text_of(crate::message::grammar::split_top_level(line, b',').next()?)
}

/// The URI text of a name-addr or addr-spec value: what is inside `<>`, or everything
/// before the first `;` (RFC 3261 §20.10). Only located here: the caller parses the URI,
/// so a whole name-addr parse (which parses the URI too) would do that work twice.
fn uri_text_of(value: &str) -> Option<&str> {
    let value = crate::message::grammar::trim_lws(value);
    // A quoted display name may hold '<' or ';'.
    let rest = if value.starts_with('"') {
        value.get(crate::message::grammar::quoted_string_len(value)?..)?
    } else {
        value
    };
    match memchr::memchr(b'<', rest.as_bytes()) {
        Some(lt) => {
            let inner = rest.get(lt + 1..)?;
            inner.get(..memchr::memchr(b'>', inner.as_bytes())?)
        }
        None => {
            let end = memchr::memchr(b';', rest.as_bytes()).unwrap_or(rest.len());
            Some(crate::message::grammar::trim_lws(rest.get(..end)?))
        }
    }
}

/// The URI of the first Contact, copied out of the message.
fn contact_uri(headers: &crate::message::Headers) -> Option<Uri> {
    Uri::parse(contact_text(headers)?).ok()
}

/// Copies `parts` and then `last` into one buffer: the buffer, the spans of `parts`, and
/// `last` as a slice of it.
fn pack(parts: [&str; 5], last: &str) -> (ByteString, [(u32, u32); 5], ByteString) {
    let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + last.len());
    let mut spans = [(0, 0); 5];
    for (span, part) in spans.iter_mut().zip(parts) {
        let start = text.len() as u32;
        text.push_str(part);
        *span = (start, text.len() as u32);
    }
    let last_start = text.len();
    text.push_str(last);
    let buffer = ByteString::from(text);
    let last = buffer.slice_ref(buffer.get(last_start..).unwrap_or_default());
    (buffer, spans, last)
}

/// The Record-Route URIs in header order, copied.
fn record_route_uris(headers: &crate::message::Headers) -> Result<Vec<Uri>, DialogError> {
    headers
        .record_routes()
        .map(|value| {
            value
                .ok()
                .and_then(|v| Uri::parse(v.uri().as_str()).ok())
                .ok_or(DialogError::Missing("Record-Route"))
        })
        .collect()
}

/// A URI with its `?headers` part removed (a Request-URI built from a route, §12.2.1.1).
fn without_uri_headers(uri: &Uri) -> Uri {
    match uri.as_str().split_once('?') {
        Some((head, _)) => Uri::parse(head).unwrap_or_else(|_| uri.clone()),
        None => uri.clone(),
    }
}

/// The socket address a URI names when its host is an IP literal.
pub fn uri_socket_addr(uri: &Uri) -> Option<SocketAddr> {
    let default_port = if uri.scheme() == Scheme::Sips { 5061 } else { 5060 };
    let ip: IpAddr = match uri.host()? {
        Host::Ipv4(a) => a.into(),
        Host::Ipv6(a) => a.into(),
        Host::Domain(_) => return None,
    };
    Some(SocketAddr::new(ip, uri.port().unwrap_or(default_port)))
}

#[cfg(test)]
mod tests;
