//! The transaction layer (RFC 3261 §17): the tables of live client and server
//! transactions, their matching keys, and the carrying out of what their machines ask for.
//!
//! Every transaction records its [`Owner`]. What happens to a transaction is queued as a
//! [`TransactionEvent`] naming that owner; the Endpoint routes it (to the application, or
//! to the usage that owns the transaction). Usages act on transactions only through the
//! methods here: start a client transaction, respond, cancel, ask where a transaction's
//! messages go.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;

use crate::error::SendError;
use crate::ids::{FlowId, TransactionId};
use crate::locate::{Plan, Resolution, Spec, Target};
use crate::message::validate::{Rejection, validate_request_core, validate_response_core};
use crate::message::{
    HeaderName, Message, Method, Request, Response, StatusCode, Uri, response_to_with, tag_of,
};
use crate::owner::Owner;
use crate::shared::{Shared, TopVia, shrink_when_sparse};
use crate::timer_queue::{Armed, TimerId};
use crate::transport::{Route, Transport};

use super::entries::{ClientEntry, ClientMachine, Locating, MergeKey, ServerEntry, ServerMachine};
use super::events::{NewRequest, RequestFields, TransactionEvent, public_event};
use super::received::mark_received;
use super::{
    Action, ClientInvite, ClientInviteState, ClientKey, ClientNonInvite, ServerInvite, ServerInviteState,
    ServerKey, ServerNonInvite, Timer, same_transaction_request,
};

/// Every live transaction, with the keys that match messages to them.
#[derive(Debug)]
pub(crate) struct TransactionLayer {
    // Hash maps: every message and timer looks its transaction up, several times, and
    // a B-tree walk costs more than the rest of a timer action. Never iterated where the
    // order could reach output (`fail_flow` sorts). Entries are boxed: the tables move
    // their values when they grow, and a server entry (with its request) is most of a
    // kilobyte.
    clients: TransactionMap<ClientEntry>,
    servers: TransactionMap<ServerEntry>,
    // Lookup only, never iterated: hash maps cannot leak their order into output. Keyed
    // from the configured seed, not the OS (std's RandomState would draw randomness here).
    client_keys: KeyMap<ClientKey>,
    server_keys: KeyMap<ServerKey>,
    merge_keys: KeyMap<MergeKey>,
    /// Client transactions whose request waits for DNS answers (RFC 3263) before it is
    /// first sent: few and short-lived, so ordered.
    locating: BTreeMap<TransactionId, Box<Locating>>,
    /// What happened to transactions a usage owns (and new requests, ACKs and stray 2xx,
    /// which a usage may take), in order, for the Endpoint to hand on. Events of the
    /// application's own transactions go straight to the public queue.
    events: VecDeque<TransactionEvent>,
    scratch: Vec<Action>,
}

/// A lookup table from a matching key to its transaction, hashed with foldhash keyed from
/// the Endpoint's seed: deterministic for a seed, unpredictable to peers when the driver
/// seeds from the OS.
type KeyMap<K> = HashMap<K, TransactionId, foldhash::quality::FixedState>;

/// Transactions by id: our own counter values, so the fast hasher suffices.
type TransactionMap<E> = HashMap<TransactionId, Box<E>, foldhash::fast::FixedState>;

/// Which table a transaction is in.
#[derive(Debug, Clone, Copy)]
enum Side {
    Client(TransactionId),
    Server(TransactionId),
}

impl TransactionLayer {
    /// An empty layer whose key tables hash with `hasher` (seeded by the Endpoint).
    pub(crate) fn new(hasher: foldhash::quality::FixedState) -> Self {
        TransactionLayer {
            clients: HashMap::with_hasher(foldhash::fast::FixedState::default()),
            servers: HashMap::with_hasher(foldhash::fast::FixedState::default()),
            client_keys: HashMap::with_hasher(hasher.clone()),
            server_keys: HashMap::with_hasher(hasher.clone()),
            merge_keys: HashMap::with_hasher(hasher),
            locating: BTreeMap::new(),
            events: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    // ---- getters ----

    /// Live transactions, client and server.
    pub(crate) fn count(&self) -> usize {
        self.clients.len() + self.servers.len() + self.locating.len()
    }

    /// Transactions still at work (see `Endpoint::pending_transaction_count`). It walks
    /// every transaction and only counts, so the maps' order cannot reach output.
    #[allow(clippy::disallowed_methods)] // a count: the order goes nowhere
    pub(crate) fn pending_count(&self) -> usize {
        let clients = self.clients.values().filter(|e| e.machine.is_pending()).count();
        let servers = self.servers.values().filter(|e| e.machine.is_pending()).count();
        clients + servers
    }

    /// Where server transaction `tx`'s responses go.
    pub(crate) fn server_route(&self, tx: TransactionId) -> Option<Route> {
        self.servers.get(&tx).map(|e| e.route)
    }

    /// The To tag of server transaction `tx`'s responses.
    pub(crate) fn to_tag(&self, tx: TransactionId) -> Option<&str> {
        self.servers.get(&tx).map(|e| e.to_tag.as_str())
    }

    /// Where client transaction `tx`'s requests go.
    pub(crate) fn client_route(&self, tx: TransactionId) -> Option<Route> {
        self.clients.get(&tx).map(|e| e.route)
    }

    /// The request of non-INVITE client transaction `tx`, as sent, parsed again from its
    /// bytes (the machine keeps only those; this is for the rare retry after a
    /// challenge).
    pub(crate) fn client_non_invite_request(&self, tx: TransactionId) -> Option<Request> {
        match &self.clients.get(&tx)?.machine {
            ClientMachine::NonInvite(machine) => match Message::parse(machine.request_bytes().clone()) {
                Ok(Message::Request(request)) => Some(request),
                _ => None,
            },
            ClientMachine::Invite(_) => None,
        }
    }

    /// The request of INVITE client transaction `tx`, as sent (our Via on top).
    pub(crate) fn client_invite_request(&self, tx: TransactionId) -> Option<&Request> {
        if let Some(locating) = self.locating.get(&tx) {
            return (locating.request.method == Method::Invite).then_some(&locating.request);
        }
        match &self.clients.get(&tx)?.machine {
            ClientMachine::Invite(machine) => Some(machine.request()),
            ClientMachine::NonInvite(_) => None,
        }
    }

    /// True while INVITE client transaction `tx` is Proceeding: a provisional arrived, so a
    /// CANCEL may be sent (§9.1).
    pub(crate) fn client_invite_proceeding(&self, tx: TransactionId) -> bool {
        matches!(
            self.clients.get(&tx).map(|e| &e.machine),
            Some(ClientMachine::Invite(m)) if m.state() == ClientInviteState::Proceeding
        )
    }

    /// The bytes INVITE server transaction `tx` last sent (serialized once, shared with a
    /// usage that retransmits them itself). Empty when there is none.
    pub(crate) fn last_response(&self, tx: TransactionId) -> Bytes {
        match self.servers.get(&tx).map(|e| &e.machine) {
            Some(ServerMachine::Invite(machine)) => machine.last_response().cloned().unwrap_or_default(),
            _ => Bytes::new(),
        }
    }

    /// Hands transaction `tx` to `owner`: its later events go there.
    pub(crate) fn set_owner(&mut self, tx: TransactionId, owner: Owner) {
        if let Some(entry) = self.clients.get_mut(&tx) {
            entry.owner = owner;
        } else if let Some(locating) = self.locating.get_mut(&tx) {
            locating.owner = owner;
        } else if let Some(entry) = self.servers.get_mut(&tx) {
            entry.owner = owner;
        }
    }

    /// The next event for the usages, in the order they happened.
    pub(crate) fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    /// Routes what happened: to the application when the transaction is its own (and for
    /// everything when no usage runs), else to the usages' queue. Done as it happens, so
    /// events keep their order and cross no extra queue.
    fn emit(&mut self, shared: &mut Shared, event: TransactionEvent) {
        let for_usages = shared.config.calls.enabled
            && match &event {
                TransactionEvent::Request(_)
                | TransactionEvent::Ack { .. }
                | TransactionEvent::StrayInviteSuccess { .. } => true,
                TransactionEvent::Response { owner, .. }
                | TransactionEvent::Cancelled { owner, .. }
                | TransactionEvent::Timeout { owner, .. }
                | TransactionEvent::TransportError { owner, .. }
                | TransactionEvent::Terminated { owner, .. } => *owner != Owner::App,
            };
        if for_usages {
            self.events.push_back(event);
        } else {
            shared.emit(public_event(event));
        }
    }

    // ---- inputs ----

    /// A request arrived over `route`: validated (§8.2), matched to its server transaction
    /// (a retransmission is answered by it), or given a new one. `new_calls` says whether
    /// an INVITE outside a dialog from this source may start a call: when not, it gets a
    /// stateless 503 with Retry-After before any state is made for it.
    pub(crate) fn on_request(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        mut request: Request,
        route: Route,
        new_calls: NewCalls,
    ) {
        // Every request but an ACK is validated (§8.2) once, up front; the top Via that
        // validation parsed also serves matching and the received/rport rewrite, so the
        // common path parses each core header once. ACKs are only matched (§17.2.3).
        let mut validation =
            (request.method != Method::Ack).then(|| validate_request_core(&request, &shared.config.policy));
        let top_via = match &mut validation {
            Some(Ok(core)) => core.top_via.take(),
            _ => request.headers.top_via().and_then(Result::ok),
        };
        // The key comes from the Via as sent (received/rport do not change branch or sent-by).
        let key = match &top_via {
            Some(via) => ServerKey::with_top_via(&request, via),
            None => ServerKey::from_request(&request),
        };
        let reply_to = match &top_via {
            Some(via) => mark_received(&mut request, via, route.remote),
            None => route.remote,
        };
        let route = Route {
            remote: if route.flow.is_some() {
                route.remote
            } else {
                reply_to
            },
            ..route
        };
        let Ok(key) = key else {
            shared.stats.invalid += 1;
            stateless_reject(
                shared,
                now,
                &request,
                &Rejection::for_status(StatusCode::BAD_REQUEST, "bad Via"),
                route,
            );
            return;
        };
        let Some(validation) = validation else {
            self.on_ack(shared, now, request, key, route.remote);
            return;
        };
        if let Some(&id) = self.server_keys.get(&key) {
            // A retransmission: the transaction answers it (RFC 3261 §17.2.1, §17.2.2).
            let mut out = std::mem::take(&mut self.scratch);
            if let Some(entry) = self.servers.get_mut(&id) {
                entry.machine.on_retransmission(&mut out);
            }
            if out.is_empty() {
                shared.stats.dropped += 1;
            }
            shared.stats.retransmitted += out.len() as u64;
            self.apply(shared, Side::Server(id), &mut out);
            self.scratch = out;
            return;
        }
        if self.count() >= shared.config.limits.max_transactions {
            let mut rejection =
                Rejection::for_status(StatusCode::SERVICE_UNAVAILABLE, "too many transactions");
            rejection
                .headers
                .push((HeaderName::RetryAfter, shared.config.retry_after.to_string()));
            stateless_reject(shared, now, &request, &rejection, route);
            return;
        }
        let core = match validation {
            Ok(core) => core,
            Err(rejection) => {
                refuse(shared, now, &request, &rejection, route);
                return;
            }
        };
        if new_calls == NewCalls::Refused && request.method == Method::Invite && core.to_tag.is_none() {
            let mut rejection = Rejection::for_status(StatusCode::SERVICE_UNAVAILABLE, "too many calls");
            rejection
                .headers
                .push((HeaderName::RetryAfter, shared.config.retry_after.to_string()));
            stateless_reject(shared, now, &request, &rejection, route);
            return;
        }
        if request.method == Method::Cancel {
            self.on_cancel(shared, now, request, key, route);
            return;
        }
        // RFC 3261 §8.2.2.2: only requests outside a dialog (no To tag) can be merged.
        let merge_key = match (&core.to_tag, &core.from_tag) {
            (None, Some(from_tag)) => Some(MergeKey {
                from_tag: from_tag.clone(),
                call_id: core.call_id.clone(),
                cseq: core.cseq.seq,
                method: core.cseq.method.clone(),
            }),
            _ => None,
        };
        if let Some(merge) = &merge_key {
            if self.merge_keys.contains_key(merge) {
                let rejection = Rejection::for_status(StatusCode::LOOP_DETECTED, "merged request");
                refuse(shared, now, &request, &rejection, route);
                return;
            }
        }
        // The request's own To tag (in a dialog), else a fresh one for our responses.
        let to_tag = match &core.to_tag {
            Some(tag) => tag.to_string(),
            None => shared.rng.token(10),
        };
        let id = self.new_server(shared, request.clone(), key, merge_key, route, to_tag);
        let is_invite = request.method == Method::Invite;
        self.emit(
            shared,
            TransactionEvent::Request(NewRequest {
                transaction: id,
                request,
                source: route.remote,
                transport: route.transport,
                fields: RequestFields {
                    call_id: core.call_id,
                    from_tag: core.from_tag,
                    to_tag: core.to_tag,
                    cseq: core.cseq,
                },
            }),
        );
        if is_invite && shared.config.send_trying {
            if let Ok(trying) = self.response(shared, id, StatusCode::TRYING) {
                let _ = self.respond(shared, now, id, trying);
            }
        }
    }

    /// A response arrived: matched to its client transaction (§17.1.3).
    pub(crate) fn on_response(&mut self, shared: &mut Shared, now: Instant, response: Response) {
        // RFC 3261 §8.1.3.3 / §18.1.2: exactly one Via, and well-formed basics.
        let Ok((via, cseq)) = validate_response_core(&response) else {
            shared.stats.dropped += 1;
            return;
        };
        let Some(branch) = via.branch() else {
            shared.stats.dropped += 1;
            return;
        };
        let key = ClientKey {
            branch: response.headers.share(branch),
            method: cseq.method,
        };
        let Some(&id) = self.client_keys.get(&key) else {
            if key.method == Method::Invite && response.status.is_success() {
                self.emit(shared, TransactionEvent::StrayInviteSuccess { response });
            } else {
                shared.stats.dropped += 1;
            }
            return;
        };
        let mut out = std::mem::take(&mut self.scratch);
        let mut unanswered = false;
        if let Some(entry) = self.clients.get_mut(&id) {
            unanswered = !entry.heard && entry.plan.is_some();
            entry.heard |= response.status != StatusCode::TRYING;
            entry.machine.on_response(response, now, &mut out);
        }
        if out.is_empty() {
            shared.stats.dropped += 1;
        }
        self.settle_client(shared, now, id, unanswered, &mut out);
        self.scratch = out;
    }

    /// Bytes that did not parse as a message arrived over `route`: a stateless 400 naming
    /// `problem` when they carry a usable top Via and the answer is no larger than they
    /// are; else they are dropped and counted (RFC 3261 §8.2, DESIGN "Bad input").
    pub(crate) fn on_unparsable(
        shared: &mut Shared,
        now: Instant,
        payload: &[u8],
        problem: &str,
        route: Route,
    ) {
        match crate::message::salvage::bad_request(payload, problem, &shared.agent()) {
            Ok(response) if shared.stateless_budget.allow(now, route.remote.ip()) => {
                shared.stats.rejected += 1;
                shared.transmit(route, response);
            }
            // No usable Via, an answer larger than the request, or this source has had
            // its share of stateless answers.
            _ => shared.stats.dropped += 1,
        }
    }

    /// Timer `timer` of transaction `id` fired (the queue already let go of it).
    pub(crate) fn on_timer(&mut self, shared: &mut Shared, now: Instant, id: TransactionId, timer: Timer) {
        let mut out = std::mem::take(&mut self.scratch);
        let mut unanswered = false;
        let side = if let Some(entry) = self.clients.get_mut(&id) {
            entry.armed.fired(timer);
            unanswered = !entry.heard && entry.plan.is_some();
            entry.machine.on_timer(timer, now, &mut out);
            Side::Client(id)
        } else if let Some(entry) = self.servers.get_mut(&id) {
            entry.armed.fired(timer);
            entry.machine.on_timer(timer, now, &mut out);
            Side::Server(id)
        } else {
            self.scratch = out;
            return;
        };
        // Whatever a timer sends is a retransmission (A, E, G).
        let retransmissions = out.iter().filter(|a| matches!(a, Action::Transmit(_))).count();
        shared.stats.retransmitted += retransmissions as u64;
        match side {
            Side::Client(id) => self.settle_client(shared, now, id, unanswered, &mut out),
            Side::Server(_) => self.apply(shared, side, &mut out),
        }
        self.scratch = out;
    }

    /// Every transaction using `flow`, which failed, gets a transport error (§18.4). Flow
    /// failures are rare, so a scan of the transactions is fine here.
    pub(crate) fn on_flow_failed(&mut self, shared: &mut Shared, now: Instant, flow: FlowId) {
        // Client transactions first, each kind oldest first: the maps' order is arbitrary.
        let clients = ids_on_flow(&self.clients, |e| e.route, flow);
        let servers = ids_on_flow(&self.servers, |e| e.route, flow);
        let sides = clients
            .into_iter()
            .map(Side::Client)
            .chain(servers.into_iter().map(Side::Server));
        for side in sides {
            let mut out = Vec::new();
            match side {
                Side::Client(id) => {
                    let mut unanswered = false;
                    if let Some(entry) = self.clients.get_mut(&id) {
                        unanswered = !entry.heard && entry.plan.is_some();
                        entry.machine.on_transport_error(&mut out);
                    }
                    self.settle_client(shared, now, id, unanswered, &mut out);
                }
                Side::Server(id) => {
                    if let Some(entry) = self.servers.get_mut(&id) {
                        entry.machine.on_transport_error(&mut out);
                    }
                    self.apply(shared, side, &mut out);
                }
            }
        }
    }

    /// A datagram we sent to `remote` over UDP was refused (the platform reported an ICMP
    /// port unreachable): every client transaction to `remote` over UDP that has heard
    /// nothing back yet gets a transport error (RFC 3261 §17.1.1.2, §17.1.2.2), instead of
    /// retransmitting until Timer B or F. One that heard from the peer is left alone: the
    /// peer was there, and the error may be older than its answer.
    pub(crate) fn on_unreachable(&mut self, shared: &mut Shared, now: Instant, remote: SocketAddr) {
        #[allow(clippy::disallowed_methods)] // collected, then sorted: the map's order goes nowhere
        let mut ids: Vec<TransactionId> = self
            .clients
            .iter()
            .filter(|(_, entry)| {
                entry.route.flow.is_none()
                    && entry.route.transport == Transport::Udp
                    && entry.route.remote == remote
                    && entry.machine.is_unanswered()
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            let mut out = Vec::new();
            if let Some(entry) = self.clients.get_mut(&id) {
                entry.machine.on_transport_error(&mut out);
            }
            self.settle_client(shared, now, id, true, &mut out);
        }
    }

    // ---- commands ----

    /// Sends `request` to `destination` in a new client transaction owned by `owner` (see
    /// `Endpoint::send_request` for what is added to it).
    pub(crate) fn send_request(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        mut request: Request,
        destination: SocketAddr,
        transport: Transport,
        owner: Owner,
    ) -> Result<TransactionId, SendError> {
        if matches!(request.method, Method::Ack) {
            return Err(SendError::InvalidRequest(
                "an ACK is not a transaction: use send_stateless".into(),
            ));
        }
        if self.count() >= shared.config.limits.max_transactions {
            return Err(SendError::TooManyTransactions);
        }
        let branch = shared.new_branch();
        let mut transport = transport;
        shared.prepare_request(&mut request, &branch, transport, TopVia::Unknown);
        if transport == Transport::Udp && request.encoded_len() + 200 > shared.config.mtu {
            transport = Transport::Tcp;
            shared.prepare_request(&mut request, &branch, transport, TopVia::Placeholder);
        }
        let flow = match transport {
            Transport::Udp => None,
            _ => Some(shared.connect(now, transport, destination)?),
        };
        let route = Route {
            transport,
            flow,
            remote: destination,
        };
        Ok(self.start_client(shared, now, request, branch, route, owner))
    }

    /// Sends `request` to `target`, located by RFC 3263: at once when its host is an
    /// address or the answers are cached, else once the driver has answered the questions
    /// asked (the transaction exists from now on; a lookup that finds no target ends it
    /// with a transport error). When the first target fails — a transport error, Timer B
    /// or F, or a 503 before anything else came back — the request goes to the next, in a
    /// new transaction under the same id, unseen by the owner (RFC 3263 §4.3).
    pub(crate) fn send_request_to(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        request: Request,
        target: &Uri,
        owner: Owner,
    ) -> Result<TransactionId, SendError> {
        let spec = Spec::of(target).map_err(|e| SendError::Unreachable(e.to_string()))?;
        if request.method == Method::Ack {
            return Err(SendError::InvalidRequest(
                "an ACK is not a transaction: use send_stateless".into(),
            ));
        }
        if spec.is_literal() {
            // An address: exactly as `send_request`, no DNS and no plan to keep.
            spec.check_enabled(&shared.config.transports)
                .map_err(|e| SendError::Unreachable(e.to_string()))?;
            let target = spec
                .literal_target(&shared.config.transports)
                .ok_or_else(|| SendError::Unreachable(spec.describe()))?;
            return self.send_request(shared, now, request, target.remote, target.transport, owner);
        }
        if self.count() >= shared.config.limits.max_transactions {
            return Err(SendError::TooManyTransactions);
        }
        let id = TransactionId(shared.fresh_id());
        self.locate_and_start(shared, now, id, request, None, spec, owner)?;
        Ok(id)
    }

    /// Starts a client transaction for an in-dialog request (already carrying our Via
    /// with its branch) to the next hop `uri`, a name, located as in
    /// [`TransactionLayer::send_request_to`]. When it cannot be located at all, `fallback`
    /// takes it, as before DNS.
    pub(crate) fn start_client_to(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        (request, branch): (Request, ByteString),
        uri: &Uri,
        fallback: Route,
        owner: Owner,
    ) -> TransactionId {
        let Ok(spec) = Spec::of(uri) else {
            return self.start_client(shared, now, request, branch, fallback, owner);
        };
        let id = TransactionId(shared.fresh_id());
        let located = self.locate_and_start(
            shared,
            now,
            id,
            request.clone(),
            Some(branch.clone()),
            spec,
            owner,
        );
        if located.is_err() {
            self.start_client_as(shared, now, id, request, branch, fallback, owner, None);
        }
        id
    }

    /// Client transaction `id` for `request` to `spec`: started at once when the cache
    /// (or the URI) gives the targets, else kept waiting for the DNS questions asked.
    #[allow(clippy::too_many_arguments)]
    fn locate_and_start(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        id: TransactionId,
        request: Request,
        branch: Option<ByteString>,
        spec: Spec,
        owner: Owner,
    ) -> Result<(), SendError> {
        let unreachable = |e: crate::locate::Unlocatable| SendError::Unreachable(e.to_string());
        let Shared {
            locator, config, rng, ..
        } = shared;
        match locator
            .resolve(config, now, &spec, &mut || rng.next_u64())
            .map_err(unreachable)?
        {
            Resolution::Ready(plan) => {
                self.start_planned(shared, now, id, request, branch, TopVia::Unknown, plan, owner)
            }
            Resolution::Missing(missing) => {
                let Shared {
                    locator,
                    config,
                    timers,
                    ids,
                    ..
                } = shared;
                locator
                    .wait(config, timers, ids, now, id, spec, missing)
                    .map_err(unreachable)?;
                let locating = Locating {
                    request,
                    owner,
                    branch,
                };
                self.locating.insert(id, Box::new(locating));
                Ok(())
            }
        }
    }

    /// The answers transaction `tx`'s request waited for are in: it goes to the first of
    /// `targets`, or, with none, ends with a transport error (RFC 3263 §4.3: every target
    /// failed).
    pub(crate) fn on_located(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        tx: TransactionId,
        plan: Result<Plan, crate::locate::Unlocatable>,
    ) {
        let Some(locating) = self.locating.remove(&tx) else {
            return;
        };
        let Locating {
            request,
            owner,
            branch,
        } = *locating;
        let started = match plan {
            Ok(plan) => self
                .start_planned(shared, now, tx, request, branch, TopVia::Unknown, plan, owner)
                .is_ok(),
            Err(_) => false,
        };
        if !started {
            shared.stats.unlocated += 1;
            self.fail_unsent(shared, tx, owner);
        }
    }

    /// Gives up INVITE client transaction `tx` while it still waits for DNS (a CANCEL
    /// before anything was sent, RFC 3261 §9.1): it ends as if answered 487, at once.
    /// False when it is not waiting.
    pub(crate) fn abandon_locating(&mut self, shared: &mut Shared, tx: TransactionId) -> bool {
        let Some(locating) = self.locating.remove(&tx) else {
            return false;
        };
        shared.locator.abandon(tx);
        let response =
            crate::message::response_to(&locating.request, StatusCode::REQUEST_TERMINATED, None, None);
        self.emit(
            shared,
            TransactionEvent::Response {
                transaction: tx,
                owner: locating.owner,
                response,
            },
        );
        self.emit(
            shared,
            TransactionEvent::Terminated {
                transaction: tx,
                owner: locating.owner,
            },
        );
        true
    }

    /// Sends `request` to the first target of `plan`, in a new client transaction `id`
    /// keeping the rest for failover.
    #[allow(clippy::too_many_arguments)]
    fn start_planned(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        id: TransactionId,
        mut request: Request,
        branch: Option<ByteString>,
        top: TopVia,
        mut plan: Plan,
        owner: Owner,
    ) -> Result<(), SendError> {
        let target = plan
            .targets
            .pop_front()
            .ok_or_else(|| SendError::Unreachable("no target left".into()))?;
        // A target whose connection cannot even be asked for (the connection limit) is
        // skipped for the next, as a failed one would be.
        if target.transport != Transport::Udp && !plan.targets.is_empty() {
            let name = plan.server_name.as_deref();
            if shared
                .connect_to(now, target.transport, target.remote, name)
                .is_err()
            {
                return self.start_planned(shared, now, id, request, branch, top, plan, owner);
            }
        }
        let branch = branch.unwrap_or_else(|| shared.new_branch());
        let mut transport = target.transport;
        shared.prepare_request(&mut request, &branch, transport, top);
        // DNS may have chosen another transport than the URI named (RFC 3263 §4.1): our
        // Contact then names the one used (RFC 3261 §8.1.1.8), as our Via does.
        let contact = request.headers.get(HeaderName::Contact);
        let written_for = contact.and_then(|contact| shared.local.transport_of(contact));
        if written_for.is_some_and(|written| written != transport) {
            let ours = shared.local.contact(transport);
            request.headers.set(HeaderName::Contact, ours);
        }
        if transport == Transport::Udp && request.encoded_len() + 200 > shared.config.mtu {
            transport = Transport::Tcp;
            shared.prepare_request(&mut request, &branch, transport, TopVia::Placeholder);
        }
        let flow = match transport {
            Transport::Udp => None,
            _ => Some(shared.connect_to(now, transport, target.remote, plan.server_name.as_deref())?),
        };
        let route = Route {
            transport,
            flow,
            remote: target.remote,
        };
        self.start_client_as(
            shared,
            now,
            id,
            request,
            branch,
            route,
            owner,
            Some(Box::new(plan)),
        );
        Ok(())
    }

    /// Carries out what client transaction `id`'s machine asked for — unless it failed
    /// before anything but 100 Trying came back (`unanswered`: the caller knows, and
    /// only says so for a request located by DNS) and DNS gave other targets: then it
    /// fails over (RFC 3263 §4.3).
    fn settle_client(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        id: TransactionId,
        unanswered: bool,
        out: &mut Vec<Action>,
    ) {
        if !unanswered {
            self.apply(shared, Side::Client(id), out);
            return;
        }
        let failed = out.iter().any(|action| match action {
            Action::Timeout(_) | Action::TransportError => true,
            Action::Response(response) => response.status == StatusCode::SERVICE_UNAVAILABLE,
            _ => false,
        });
        let plan = self
            .clients
            .get(&id)
            .and_then(|e| e.plan.as_deref().map(|p| (e.route, !p.targets.is_empty())));
        match plan {
            Some((route, more)) if failed => {
                let target = Target {
                    transport: route.transport,
                    remote: route.remote,
                };
                shared.locator.note_failed(&shared.config, now, target);
                if more {
                    self.fail_over(shared, now, id, out);
                    return;
                }
            }
            _ => {}
        }
        self.apply(shared, Side::Client(id), out);
    }

    /// Client transaction `id` failed at its target: its request goes to the next target
    /// in a new transaction under the same id. What the failed one sends still goes (the
    /// ACK of a 503, §17.1.1.3); what it reports does not, so the owner sees one request.
    /// A 503 retransmitted later matches nothing and is dropped.
    fn fail_over(&mut self, shared: &mut Shared, now: Instant, id: TransactionId, out: &mut Vec<Action>) {
        let Some(mut entry) = self.clients.remove(&id) else {
            out.clear();
            return;
        };
        for action in out.drain(..) {
            if let Action::Transmit(payload) = action {
                shared.transmit(entry.route, payload);
            }
        }
        entry.armed.clear(&mut shared.timers, transaction_timer(id));
        self.client_keys.remove(&entry.key);
        let ClientEntry {
            machine, plan, owner, ..
        } = *entry;
        let request = match machine {
            ClientMachine::Invite(machine) => Some(machine.request().clone()),
            ClientMachine::NonInvite(machine) => match Message::parse(machine.request_bytes().clone()) {
                Ok(Message::Request(request)) => Some(request),
                _ => None,
            },
        };
        let plan = plan.map(|p| *p).unwrap_or_default();
        shared.stats.failovers += 1;
        let started = request.is_some_and(|request| {
            // Our Via from the failed attempt is replaced: a new branch, maybe a new transport.
            self.start_planned(shared, now, id, request, None, TopVia::Placeholder, plan, owner)
                .is_ok()
        });
        if !started {
            self.fail_unsent(shared, id, owner);
        }
    }

    /// Transaction `id` ends before (or between) attempts: a transport error, then its end.
    fn fail_unsent(&mut self, shared: &mut Shared, id: TransactionId, owner: Owner) {
        self.emit(
            shared,
            TransactionEvent::TransportError {
                transaction: id,
                owner,
            },
        );
        self.emit(
            shared,
            TransactionEvent::Terminated {
                transaction: id,
                owner,
            },
        );
    }

    /// Cancels pending INVITE client transaction `invite` (RFC 3261 §9.1) with a CANCEL in
    /// a client transaction of its own, owned by `owner`. Only once a provisional arrived.
    pub(crate) fn cancel(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        invite: TransactionId,
        owner: Owner,
    ) -> Result<TransactionId, SendError> {
        let entry = self
            .clients
            .get(&invite)
            .ok_or(SendError::UnknownTransaction(invite))?;
        let ClientMachine::Invite(machine) = &entry.machine else {
            return Err(SendError::InvalidState(invite));
        };
        if machine.state() != ClientInviteState::Proceeding {
            return Err(SendError::InvalidState(invite));
        }
        let route = entry.route;
        // The CANCEL's top Via is the INVITE's, branch included (§9.1).
        let branch = entry.key.branch.clone();
        let original = machine.request();
        let to = original.headers.get(HeaderName::To).unwrap_or_default();
        let cancel = same_transaction_request(original, Method::Cancel, to);
        Ok(self.start_client(shared, now, cancel, branch, route, owner))
    }

    /// Starts a client transaction for `request`, whose top Via carries `branch` (the key is
    /// built from what we wrote rather than by parsing our own Via back).
    pub(crate) fn start_client(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        request: Request,
        branch: ByteString,
        route: Route,
        owner: Owner,
    ) -> TransactionId {
        let id = TransactionId(shared.fresh_id());
        self.start_client_as(shared, now, id, request, branch, route, owner, None);
        id
    }

    /// [`TransactionLayer::start_client`] under id `id`, with the targets left to fail over
    /// to when the request was located by DNS.
    #[allow(clippy::too_many_arguments)]
    fn start_client_as(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        id: TransactionId,
        request: Request,
        branch: ByteString,
        route: Route,
        owner: Owner,
        plan: Option<Box<Plan>>,
    ) {
        let key = ClientKey {
            branch,
            method: request.method.clone(),
        };
        let mut out = std::mem::take(&mut self.scratch);
        let reliable = route.transport.is_reliable();
        let timers = shared.config.timers;
        let machine = if request.method == Method::Invite {
            ClientMachine::Invite(Box::new(ClientInvite::start(
                request, reliable, timers, now, &mut out,
            )))
        } else {
            ClientMachine::NonInvite(ClientNonInvite::start(&request, reliable, timers, now, &mut out))
        };
        self.client_keys.insert(key.clone(), id);
        self.clients.insert(
            id,
            Box::new(ClientEntry {
                key,
                machine,
                route,
                armed: Armed::default(),
                owner,
                plan,
                heard: false,
            }),
        );
        self.apply(shared, Side::Client(id), &mut out);
        self.scratch = out;
    }

    /// A response to server transaction `transaction`'s request: Via, From, To, Call-ID and
    /// CSeq copied (RFC 3261 §8.2.6) with this transaction's To tag.
    pub(crate) fn response(
        &self,
        shared: &Shared,
        transaction: TransactionId,
        status: StatusCode,
    ) -> Result<Response, SendError> {
        self.response_with(shared, transaction, status, [], Bytes::new())
    }

    /// [`TransactionLayer::response`] with `extra` headers and `body` written at once.
    pub(crate) fn response_with<'a>(
        &'a self,
        shared: &'a Shared,
        transaction: TransactionId,
        status: StatusCode,
        extra: impl IntoIterator<Item = (HeaderName, &'a str)>,
        body: Bytes,
    ) -> Result<Response, SendError> {
        let entry = self
            .servers
            .get(&transaction)
            .ok_or(SendError::UnknownTransaction(transaction))?;
        let request = entry
            .request
            .as_ref()
            .ok_or(SendError::InvalidState(transaction))?;
        let tag = (status.as_u16() != 100).then_some(entry.to_tag.as_str());
        let server = shared
            .config
            .user_agent
            .as_deref()
            .map(|agent| (HeaderName::Server, agent));
        Ok(response_to_with(
            request,
            status,
            None,
            tag,
            server.into_iter().chain(extra),
            body,
        ))
    }

    /// Sends `response` in server transaction `transaction`.
    pub(crate) fn respond(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        transaction: TransactionId,
        response: Response,
    ) -> Result<(), SendError> {
        let entry = self
            .servers
            .get_mut(&transaction)
            .ok_or(SendError::UnknownTransaction(transaction))?;
        let mut out = std::mem::take(&mut self.scratch);
        let accepted = entry.machine.respond(&response, now, &mut out);
        if accepted && response.status.is_final() {
            // A final response ends the window in which a merged request is detected.
            if let Some(merge_key) = entry.merge_key.take() {
                self.merge_keys.remove(&merge_key);
            }
            // No response is built after the final one: give the request (and the datagram
            // it shares) back now rather than when the transaction ends.
            entry.request = None;
            entry.to_tag = String::new();
        }
        self.apply(shared, Side::Server(transaction), &mut out);
        self.scratch = out;
        if accepted {
            Ok(())
        } else {
            Err(SendError::InvalidState(transaction))
        }
    }

    /// Answers server transaction `transaction` with a bare `status` and forgets it at once,
    /// for a request that names nothing of ours (481: a stray CANCEL, BYE or in-dialog
    /// request). Keeping the transaction for Timer J or H would only absorb retransmissions,
    /// which get the same answer from a fresh transaction anyway — and a flood of strays
    /// would hold memory for 32 s each. Being stateless in effect, these answers draw on the
    /// destination's stateless budget and stop when it is spent.
    pub(crate) fn answer_and_forget(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        transaction: TransactionId,
        status: StatusCode,
    ) {
        let Some((owner, route)) = self.servers.get(&transaction).map(|e| (e.owner, e.route)) else {
            return;
        };
        // Stateless in effect, so limited like every stateless answer (per destination).
        if shared.stateless_budget.allow(now, route.remote.ip()) {
            if let Ok(response) = self.response(shared, transaction, status) {
                self.reject_statelessly(shared, now, transaction, response);
            }
        } else {
            shared.stats.dropped += 1;
        }
        self.forget(shared, Side::Server(transaction), owner);
    }

    /// Sends `response`, a 481 to a request that names nothing of ours, in server
    /// transaction `transaction` — cut to the request's size ([`fit_to_request`]); one that
    /// cannot be cut that far is not sent. The caller forgets the transaction.
    fn reject_statelessly(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        transaction: TransactionId,
        mut response: Response,
    ) {
        let Some(entry) = self.servers.get(&transaction) else {
            return;
        };
        let request_len = entry.request.as_ref().map_or(0, Request::encoded_len);
        if fit_to_request(&mut response, request_len) {
            let _ = self.respond(shared, now, transaction, response);
        } else {
            shared.stats.dropped += 1;
        }
    }

    // ---- internals ----

    /// The To tag for our responses to a request that was not validated (or failed to be):
    /// its own, when it carries one, else a fresh one.
    fn response_to_tag(shared: &mut Shared, request: &Request) -> String {
        request
            .headers
            .to_addr()
            .and_then(Result::ok)
            .and_then(|to| to.tag().map(str::to_owned))
            .unwrap_or_else(|| shared.rng.token(10))
    }

    fn new_server(
        &mut self,
        shared: &mut Shared,
        request: Request,
        key: ServerKey,
        merge_key: Option<MergeKey>,
        route: Route,
        to_tag: String,
    ) -> TransactionId {
        let id = TransactionId(shared.fresh_id());
        let reliable = route.transport.is_reliable();
        let timers = shared.config.timers;
        let machine = if request.method == Method::Invite {
            ServerMachine::Invite(ServerInvite::new(reliable, timers))
        } else {
            ServerMachine::NonInvite(ServerNonInvite::new(reliable, timers))
        };
        self.server_keys.insert(key.clone(), id);
        if let Some(merge) = &merge_key {
            self.merge_keys.insert(merge.clone(), id);
        }
        self.servers.insert(
            id,
            Box::new(ServerEntry {
                armed: Armed::default(),
                key,
                merge_key,
                machine,
                route,
                request: Some(request),
                to_tag,
                owner: Owner::App,
            }),
        );
        id
    }

    fn on_cancel(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        cancel: Request,
        key: ServerKey,
        route: Route,
    ) {
        let target = ServerKey::cancelled_invite(&cancel)
            .ok()
            .and_then(|invite_key| self.server_keys.get(&invite_key).copied());
        let to_tag = Self::response_to_tag(shared, &cancel);
        let cancel_id = self.new_server(shared, cancel, key, None, route, to_tag);
        let Some(invite_id) = target else {
            // RFC 3261 §9.2: no matching transaction → 481.
            self.answer_and_forget(
                shared,
                now,
                cancel_id,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
            );
            return;
        };
        if let Ok(ok) = self.response(shared, cancel_id, StatusCode::OK) {
            let _ = self.respond(shared, now, cancel_id, ok);
        }
        let pending = matches!(
            self.servers.get(&invite_id).map(|e| &e.machine),
            Some(ServerMachine::Invite(m)) if m.state() == ServerInviteState::Proceeding
        );
        if pending {
            if let Ok(terminated) = self.response(shared, invite_id, StatusCode::REQUEST_TERMINATED) {
                let _ = self.respond(shared, now, invite_id, terminated);
            }
            let owner = self.servers.get(&invite_id).map_or(Owner::App, |e| e.owner);
            self.emit(
                shared,
                TransactionEvent::Cancelled {
                    transaction: invite_id,
                    owner,
                },
            );
        }
    }

    fn on_ack(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        ack: Request,
        key: ServerKey,
        source: SocketAddr,
    ) {
        let Some(&id) = self.server_keys.get(&key) else {
            self.emit(shared, TransactionEvent::Ack { request: ack, source });
            return;
        };
        let mut out = std::mem::take(&mut self.scratch);
        if let Some(ServerEntry {
            machine: ServerMachine::Invite(machine),
            key,
            ..
        }) = self.servers.get_mut(&id).map(|entry| &mut **entry)
        {
            // RFC 2543 ACKs match on the To tag of the final response we sent (§17.2.3).
            // The machine keeps a non-2xx's; a 2xx's is read back from what was sent (only
            // for these rare peers, so the usual 2xx costs no To parse).
            let tag_matches = !matches!(key, ServerKey::Legacy { .. }) || {
                let ack_tag = ack.headers.get(HeaderName::To).and_then(tag_of);
                match machine.final_to_tag() {
                    Some(sent) => ack_tag == Some(sent),
                    None => machine
                        .last_response()
                        .and_then(|sent| Message::parse(sent.clone()).ok())
                        .is_some_and(|sent| sent.headers().get(HeaderName::To).and_then(tag_of) == ack_tag),
                }
            };
            if tag_matches {
                machine.on_ack(ack, now, &mut out);
            }
        }
        self.apply(shared, Side::Server(id), &mut out);
        self.scratch = out;
    }

    /// Carries out a transaction's actions.
    fn apply(&mut self, shared: &mut Shared, side: Side, out: &mut Vec<Action>) {
        let (id, found) = match side {
            Side::Client(id) => (id, self.clients.get(&id).map(|e| (e.route, e.owner))),
            Side::Server(id) => (id, self.servers.get(&id).map(|e| (e.route, e.owner))),
        };
        let route = found.map(|(route, _)| route);
        let owner = found.map_or(Owner::App, |(_, owner)| owner);
        for action in out.drain(..) {
            match action {
                Action::Transmit(payload) => {
                    if let Some(route) = route {
                        shared.transmit(route, payload);
                    }
                }
                Action::SetTimer(timer, at) => {
                    if let Some(armed) = armed_of(&mut self.clients, &mut self.servers, side) {
                        armed.set(&mut shared.timers, transaction_timer(id), timer, at);
                    }
                }
                Action::CancelTimer(timer) => {
                    if let Some(armed) = armed_of(&mut self.clients, &mut self.servers, side) {
                        armed.cancel(&mut shared.timers, transaction_timer(id), timer);
                    }
                }
                Action::Response(response) => self.emit(
                    shared,
                    TransactionEvent::Response {
                        transaction: id,
                        owner,
                        response,
                    },
                ),
                Action::Ack(request) => self.emit(
                    shared,
                    TransactionEvent::Ack {
                        request,
                        source: route.map_or(shared.config.local, |r| r.remote),
                    },
                ),
                Action::Timeout(timer) => self.emit(
                    shared,
                    TransactionEvent::Timeout {
                        transaction: id,
                        owner,
                        timer,
                    },
                ),
                Action::TransportError => self.emit(
                    shared,
                    TransactionEvent::TransportError {
                        transaction: id,
                        owner,
                    },
                ),
                Action::Terminated => self.forget(shared, side, owner),
            }
        }
    }

    fn forget(&mut self, shared: &mut Shared, side: Side, owner: Owner) {
        let id = match side {
            Side::Client(id) => {
                if let Some(mut entry) = self.clients.remove(&id) {
                    entry.armed.clear(&mut shared.timers, transaction_timer(id));
                    self.client_keys.remove(&entry.key);
                }
                shrink_when_sparse(&mut self.clients);
                shrink_when_sparse(&mut self.client_keys);
                id
            }
            Side::Server(id) => {
                if let Some(mut entry) = self.servers.remove(&id) {
                    entry.armed.clear(&mut shared.timers, transaction_timer(id));
                    if self.server_keys.get(&entry.key) == Some(&id) {
                        self.server_keys.remove(&entry.key);
                    }
                    if let Some(merge) = entry.merge_key {
                        self.merge_keys.remove(&merge);
                    }
                }
                shrink_when_sparse(&mut self.servers);
                shrink_when_sparse(&mut self.server_keys);
                shrink_when_sparse(&mut self.merge_keys);
                id
            }
        };
        self.emit(
            shared,
            TransactionEvent::Terminated {
                transaction: id,
                owner,
            },
        );
    }
}

/// Whether a new INVITE (outside a dialog) from a request's source may start a call: the
/// call limit and the source's share of it are the usages' to know, so the Endpoint asks
/// them before handing the request down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NewCalls {
    Admitted,
    Refused,
}

/// How a stateless answer is kept within the request's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// Cut to the request's size, or not sent ([`fit_to_request`]).
    Strict,
    /// Only what is optional is dropped: the answer must carry what makes it larger than
    /// a terse request (Allow in a 405, §21.4.6; Unsupported in a 420).
    Trim,
}

/// Answers a request statelessly (no transaction keeps it): over the transaction limit, or
/// when its Via is unusable. Never an ACK, only while the destination has stateless answers
/// left in its budget, and never larger than the request ([`fit_to_request`]).
fn stateless_reject(
    shared: &mut Shared,
    now: Instant,
    request: &Request,
    rejection: &Rejection,
    route: Route,
) {
    answer_statelessly(shared, now, request, rejection, route, Fit::Strict);
}

/// Answers a request that failed validation (or was merged, §8.2.2.2) without keeping
/// anything: a retransmission is validated again and gets the same answer, and a flood of
/// malformed requests holds no memory (RFC 3261 §8.2.7 allows a UAS to answer statelessly).
/// Rate-limited per destination like every stateless answer, and trimmed of what is
/// optional to keep within the request's size ([`Fit::Trim`]).
fn refuse(shared: &mut Shared, now: Instant, request: &Request, rejection: &Rejection, route: Route) {
    answer_statelessly(shared, now, request, rejection, route, Fit::Trim);
}

/// The one way a stateless answer goes out: counted, never to an ACK, within the
/// destination's budget, with a To tag that is the same for every copy of the request.
fn answer_statelessly(
    shared: &mut Shared,
    now: Instant,
    request: &Request,
    rejection: &Rejection,
    route: Route,
    fit: Fit,
) {
    shared.stats.rejected += 1;
    if request.method == Method::Ack || !shared.stateless_budget.allow(now, route.remote.ip()) {
        return;
    }
    let tag = stateless_tag(shared, request);
    let mut response = rejection.to_response(request, &shared.agent(), Some(&tag));
    match fit {
        Fit::Strict if !fit_to_request(&mut response, request.encoded_len()) => {
            shared.stats.dropped += 1;
            return;
        }
        Fit::Strict => {}
        Fit::Trim => trim_optional(&mut response, request.encoded_len()),
    }
    shared.transmit(route, response.to_bytes());
}

/// The To tag of a stateless answer to a request that has none: the same for every copy
/// of one request (RFC 3261 §8.2.7: a stateless UAS makes its tags so that retransmissions
/// get the same one), from its branch, Call-ID and From keyed with the Endpoint's seeded
/// hasher, so a peer cannot predict it.
fn stateless_tag(shared: &Shared, request: &Request) -> String {
    use std::hash::BuildHasher;
    let via = request.headers.top_via().and_then(Result::ok);
    let hash = shared.hasher.hash_one((
        via.as_ref().and_then(|via| via.branch()),
        request.headers.get(HeaderName::CallId),
        request.headers.get(HeaderName::From),
    ));
    format!("{:010x}", hash & 0xff_ffff_ffff)
}

/// A refusal that keeps no state behind it — a stateless 503 or 400, a 481 to a request
/// naming nothing of ours — is what a flood with a forged source draws, so it must not
/// amplify: it is cut to the request's size by dropping what is optional (our Server
/// header, the Warning, then the reason phrase, which may be empty: RFC 3261 §25.1, RFC
/// 4475 §3.1.1.13). False means it still does not fit, and the caller does not send it
/// (the peer's retransmissions then time out, as if it were lost).
pub(crate) fn fit_to_request(response: &mut Response, request_len: usize) -> bool {
    trim_optional(response, request_len);
    if response.encoded_len() > request_len {
        response.reason = ByteString::new();
    }
    response.encoded_len() <= request_len
}

/// Drops our Server header, then the Warning, while `response` is larger than the request
/// it answers.
fn trim_optional(response: &mut Response, request_len: usize) {
    for optional in [HeaderName::Server, HeaderName::Warning] {
        if response.encoded_len() <= request_len {
            return;
        }
        response.headers.remove(optional);
    }
}

/// The transactions of `map` whose messages go over `flow`, oldest first.
#[allow(clippy::disallowed_methods)] // collected, then sorted: the map's order goes nowhere
fn ids_on_flow<E>(map: &TransactionMap<E>, route: impl Fn(&E) -> Route, flow: FlowId) -> Vec<TransactionId> {
    let mut ids: Vec<TransactionId> = map
        .iter()
        .filter(|(_, entry)| route(entry).flow == Some(flow))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    ids
}

/// The queue key of transaction `id`'s timers.
fn transaction_timer(id: TransactionId) -> impl Fn(Timer) -> TimerId {
    move |timer| TimerId::Transaction {
        transaction: id,
        timer,
    }
}

/// The armed timers of a transaction (a free function so the maps and the timer queue can
/// be borrowed at once).
fn armed_of<'a>(
    clients: &'a mut TransactionMap<ClientEntry>,
    servers: &'a mut TransactionMap<ServerEntry>,
    side: Side,
) -> Option<&'a mut Armed<Timer>> {
    match side {
        Side::Client(id) => clients.get_mut(&id).map(|e| &mut e.armed),
        Side::Server(id) => servers.get_mut(&id).map(|e| &mut e.armed),
    }
}
