//! Usages of dialogs and transactions (RFC 5057): invite sessions today. Each usage is a type
//! with its own state that acts on the layers below only through the [`Seam`]: its methods
//! start, answer and cancel transactions, and its shared state gives a usage the timer
//! queue, the dialog table, the output queues and the counters.

pub(crate) mod invite;
pub(crate) mod pager;
pub(crate) mod registration;
pub(crate) mod subscription;

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;

use crate::dialog::DialogTable;
use crate::error::SendError;
use crate::ids::{DialogId, TransactionId};
use crate::message::{HeaderName, Request, Response, StatusCode};
use crate::owner::Owner;
use crate::shared::Shared;
use crate::transaction::TransactionLayer;
use crate::transport::{Route, Transport};

/// The layers below the usages, as the usages see them: what every layer shares, the
/// transaction layer and the dialog table.
#[derive(Debug)]
pub(crate) struct Seam {
    pub(crate) shared: Shared,
    pub(crate) transactions: TransactionLayer,
    /// Every dialog and its usages.
    pub(crate) dialogs: DialogTable,
}

/// Where a request outside any dialog goes first: the outbound proxy when one is
/// configured (with the Route that preloads it, RFC 3261 §8.1.2), else the target itself.
pub(crate) struct FirstHop {
    /// `<proxy;lr>`, for a Route header, when there is a proxy.
    pub(crate) route: Option<String>,
    /// The URI RFC 3263 locates: the proxy's, else the target.
    pub(crate) next: crate::message::Uri,
    /// The transport the URI itself names (`;transport=`, TLS for `sips:`, else UDP): what
    /// our Contact is written for. DNS may pick another one for a name (RFC 3263 §4.1).
    pub(crate) transport: Transport,
}

/// Where an in-dialog request goes ([`Seam::dialog_route`]).
#[derive(Debug, Clone)]
pub(crate) struct DialogHop {
    /// The route: final unless `locate` is set, and then what the request's Via and
    /// Contact are written for until DNS says more.
    pub(crate) route: Route,
    /// The next hop's URI when its host is a name: RFC 3263 locates it.
    pub(crate) locate: Option<crate::message::Uri>,
}

impl Seam {
    /// The first hop of a request to `target` outside any dialog; `Err` with why it cannot
    /// be reached (no host, a `sips:` URI over an insecure transport, a transport that is
    /// not enabled, or an outbound proxy that is no URI).
    pub(crate) fn first_hop(&self, target: &crate::message::Uri) -> Result<FirstHop, String> {
        let proxy = match &self.shared.config.calls.outbound_proxy {
            Some(text) => Some(crate::message::Uri::parse(text).map_err(|_| format!("{text} is no URI"))?),
            None => None,
        };
        let next = proxy.clone().unwrap_or_else(|| target.clone());
        crate::locate::Spec::of(&next)
            .and_then(|spec| spec.check_enabled(&self.shared.config.transports))
            .map_err(|e| e.to_string())?;
        let transport = crate::transport::uri_transport(&next);
        Ok(FirstHop {
            route: proxy.map(|p| format!("<{p};lr>")),
            next,
            transport,
        })
    }

    /// Sends `request` to `next`, located by RFC 3263 (at once for an address), in a new
    /// client transaction owned by `owner`; when a target fails the next one is tried.
    pub(crate) fn send_request_to(
        &mut self,
        now: Instant,
        request: Request,
        next: &crate::message::Uri,
        owner: Owner,
    ) -> Result<TransactionId, SendError> {
        self.transactions
            .send_request_to(&mut self.shared, now, request, next, owner)
    }

    /// What to send after `sent` got `response`, a 401 or 407 (RFC 3261 §22.2): `sent`
    /// with the next CSeq and credentials answering its challenges. Fails when we have no
    /// credentials for its realms or they were refused — a challenge to an answer we gave
    /// already (never a loop).
    pub(crate) fn retry_with_credentials(
        &mut self,
        sent: &Request,
        response: &Response,
    ) -> Result<Request, crate::auth::DigestError> {
        let Shared { digest, rng, .. } = &mut self.shared;
        let authorizations = digest.authorize(sent, response, &mut || rng.next_u64())?;
        let mut retry = sent.clone();
        let seq = sent
            .headers
            .cseq()
            .and_then(Result::ok)
            .map_or(1, |cseq| cseq.seq.wrapping_add(1));
        retry
            .headers
            .set(HeaderName::CSeq, format!("{seq} {}", sent.method.as_str()));
        crate::auth::replace_authorizations(&mut retry.headers, &authorizations);
        Ok(retry)
    }

    /// Sends client transaction `tx`'s request again with credentials for `response` (a
    /// 401 or 407), in a new transaction of `owner` over the same way; in dialog `dialog`,
    /// whose CSeq it advances. The new transaction, or `None` when there is nothing to
    /// answer with.
    pub(crate) fn retry_challenged(
        &mut self,
        now: Instant,
        tx: TransactionId,
        response: &Response,
        dialog: Option<DialogId>,
        owner: Owner,
    ) -> Option<TransactionId> {
        let sent = match self.transactions.client_invite_request(tx) {
            Some(invite) => invite.clone(),
            None => self.transactions.client_non_invite_request(tx)?,
        };
        let route = self.transactions.client_route(tx)?;
        let mut retry = self.retry_with_credentials(&sent, response).ok()?;
        // Our own Via goes; the transaction layer puts a new one with a fresh branch.
        retry.headers.remove_first_value(HeaderName::Via);
        let seq = retry.headers.cseq().and_then(Result::ok).map(|cseq| cseq.seq);
        if let (Some(dialog), Some(seq)) = (dialog.and_then(|d| self.dialogs.get_mut(d)), seq) {
            dialog.note_local_seq(seq);
        }
        self.send_request(now, retry, route.remote, route.transport, owner)
            .ok()
    }

    /// Reports the dialog state changes recorded so far and keeps them in each dialog's
    /// history (with `CallConfig::dialog_events`): a call's as its event, another's as
    /// `Event::Dialog`.
    pub(crate) fn report_dialog_changes(&mut self, now: Instant) {
        for (dialog, call, from, to) in self.dialogs.take_changes() {
            let transition = crate::dialog::DialogTransition { from, to, at: now };
            self.dialogs.note_history(dialog, transition);
            let event = match call {
                Some(call) => crate::event::Event::Call {
                    call,
                    event: crate::call::CallEvent::DialogState { dialog, from, to },
                },
                None => crate::event::Event::Dialog { dialog, from, to },
            };
            self.shared.emit(event);
        }
    }

    /// Adds credentials for the realms that challenged us before (RFC 3261 §22.3: a UAC
    /// may send them with later requests to the same realm), so they pass without another
    /// round trip.
    pub(crate) fn preauthorize(&mut self, request: &mut Request) {
        let authorizations = self.shared.digest.preauthorize(request);
        if !authorizations.is_empty() {
            crate::auth::replace_authorizations(&mut request.headers, &authorizations);
        }
    }

    /// Sends `request` in a new client transaction owned by `owner`.
    pub(crate) fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        destination: SocketAddr,
        transport: Transport,
        owner: Owner,
    ) -> Result<TransactionId, SendError> {
        self.transactions
            .send_request(&mut self.shared, now, request, destination, transport, owner)
    }

    /// Starts a client transaction for a request already carrying our Via with `branch`.
    pub(crate) fn start_client(
        &mut self,
        now: Instant,
        request: Request,
        branch: ByteString,
        route: Route,
        owner: Owner,
    ) -> TransactionId {
        self.transactions
            .start_client(&mut self.shared, now, request, branch, route, owner)
    }

    /// Cancels INVITE client transaction `invite` (§9.1); the CANCEL's transaction is
    /// `owner`'s.
    pub(crate) fn cancel_transaction(
        &mut self,
        now: Instant,
        invite: TransactionId,
        owner: Owner,
    ) -> Result<TransactionId, SendError> {
        self.transactions.cancel(&mut self.shared, now, invite, owner)
    }

    /// A response to server transaction `transaction`'s request (§8.2.6).
    pub(crate) fn response(
        &self,
        transaction: TransactionId,
        status: StatusCode,
    ) -> Result<Response, SendError> {
        self.transactions.response(&self.shared, transaction, status)
    }

    /// [`Seam::response`] with `extra` headers and `body` written at once.
    pub(crate) fn response_with<'a>(
        &'a self,
        transaction: TransactionId,
        status: StatusCode,
        extra: impl IntoIterator<Item = (HeaderName, &'a str)>,
        body: Bytes,
    ) -> Result<Response, SendError> {
        self.transactions
            .response_with(&self.shared, transaction, status, extra, body)
    }

    /// Answers server transaction `transaction` with `status` and our Allow (405, 501).
    pub(crate) fn respond_with_allow(
        &mut self,
        now: Instant,
        transaction: TransactionId,
        status: StatusCode,
    ) {
        let allow = [(HeaderName::Allow, self.shared.allow.as_str())];
        if let Ok(response) = self.response_with(transaction, status, allow, Bytes::new()) {
            let _ = self.respond(now, transaction, response);
        }
    }

    /// Answers server transaction `transaction` with `status` and forgets it at once (a
    /// request naming nothing of ours: see [`TransactionLayer::answer_and_forget`]).
    pub(crate) fn answer_and_forget(&mut self, now: Instant, transaction: TransactionId, status: StatusCode) {
        self.transactions
            .answer_and_forget(&mut self.shared, now, transaction, status);
    }

    /// Where a request in dialog `dialog` goes for a usage whose first request went by
    /// `base`: over `base`'s connection while it is open (connection reuse), else to the
    /// next hop of the dialog's route set or remote target — located by RFC 3263 when it
    /// is a host name ([`DialogHop::locate`]) — else back to `base`'s address.
    pub(crate) fn dialog_route(
        &mut self,
        now: Instant,
        base: Route,
        dialog: Option<DialogId>,
    ) -> Result<DialogHop, SendError> {
        let transport = base.transport;
        if let Some(flow) = base
            .flow
            .filter(|f| transport.is_reliable() && self.shared.flows.contains(*f))
        {
            let route = Route {
                flow: Some(flow),
                ..base
            };
            return Ok(DialogHop { route, locate: None });
        }
        let dialog = dialog.and_then(|id| self.dialogs.get(id));
        let remote = dialog.and_then(crate::dialog::Dialog::next_hop_addr);
        // Only a next hop that is no address is looked at again (the common case is not).
        let next_hop = dialog.filter(|_| remote.is_none()).map(|d| d.next_hop().clone());
        let (transport, remote, locate) = match (next_hop, remote) {
            (_, Some(remote)) => (transport, remote, None),
            // A name (RFC 3263): the transaction locates it. Meanwhile the first target
            // the cache knows, else `base`, is what the Via and Contact are written for
            // (and where an ACK, which has no transaction to wait in, goes).
            (Some(uri), None) if matches!(uri.host(), Some(crate::message::Host::Domain(_))) => {
                let spec = crate::locate::Spec::of(&uri);
                let Shared {
                    locator, config, rng, ..
                } = &mut self.shared;
                let cached = spec
                    .ok()
                    .and_then(|spec| locator.resolve(config, now, &spec, &mut || rng.next_u64()).ok());
                match cached {
                    Some(crate::locate::Resolution::Ready(plan)) => match plan.targets.front() {
                        Some(first) => (first.transport, first.remote, Some(uri)),
                        None => (transport, base.remote, Some(uri)),
                    },
                    _ => (transport, base.remote, Some(uri)),
                }
            }
            _ => (transport, base.remote, None),
        };
        let flow = match transport {
            Transport::Udp => None,
            _ => Some(self.shared.connect(now, transport, remote)?),
        };
        let route = Route {
            transport,
            flow,
            remote,
        };
        Ok(DialogHop { route, locate })
    }

    /// Starts a client transaction for an in-dialog request already carrying our Via
    /// with `branch`, to `hop`: its route, or the name it locates first.
    pub(crate) fn start_in_dialog(
        &mut self,
        now: Instant,
        request: Request,
        branch: ByteString,
        hop: DialogHop,
        owner: Owner,
    ) -> TransactionId {
        match hop.locate {
            Some(uri) => self.transactions.start_client_to(
                &mut self.shared,
                now,
                (request, branch),
                &uri,
                hop.route,
                owner,
            ),
            None => self.start_client(now, request, branch, hop.route, owner),
        }
    }

    /// Sends `response` in server transaction `transaction`.
    pub(crate) fn respond(
        &mut self,
        now: Instant,
        transaction: TransactionId,
        response: Response,
    ) -> Result<(), SendError> {
        self.transactions
            .respond(&mut self.shared, now, transaction, response)
    }
}
