//! What every layer of one Endpoint shares: its configuration, ids, seeded generator,
//! counters and timer queue, its connections, the queues of what it sends and reports, and
//! the RFC 3261 §18 rules for putting a request on the wire (our Via, connection reuse).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;

use crate::budget::StatelessBudget;
use crate::config::{EndpointConfig, Stats};
use crate::connections::Connections;
use crate::error::SendError;
use crate::event::Event;
use crate::ids::{FlowId, IdCounter, SubscriptionId};
use crate::message::{HeaderName, Request, StatusCode};
use crate::rng::Rng;
use crate::timer_queue::{TimerId, TimerQueue};
use crate::transport::{FlowRequest, Route, Transmit, Transport};

/// The state below the usages that every layer reads or writes. Each layer owns its own
/// tables; this is what they have in common.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: EndpointConfig,
    /// The address we name ourselves by (`config.advertised`, else `config.local`) as
    /// text, formatted once for every Via we write.
    pub(crate) local_text: String,
    /// As `local_text` with `config.tls_port`: the sent-by of our Via over TLS, where a
    /// server opens a new connection for its responses when ours is gone (RFC 3261
    /// §18.2.2).
    pub(crate) tls_local_text: String,
    /// As `local_text` with `config.ws_port` and `config.wss_port`: the sent-by of our
    /// Via over WS and WSS. RFC 7118 §5 lets a WebSocket client that cannot take
    /// connections (a browser, which does not even know its address) write a random
    /// `.invalid` host there; with a WebSocket listener we do take connections, so we say
    /// where: the truth costs a server nothing (RFC 7118 §5 has it answer over the same
    /// connection whatever the sent-by says) and leaves RFC 3261 §18.2.2's fallback
    /// pointing at a listener of ours. Without one we write the `.invalid` host too
    /// (`EndpointConfig::sent_by`): an address that takes no WebSocket would mislead.
    pub(crate) ws_local_text: String,
    pub(crate) wss_local_text: String,
    /// `config.max_forwards` as text, formatted once for every request we originate.
    pub(crate) max_forwards: ByteString,
    /// Our `Allow` value (RFC 3261 §20.5), from the policy's allowed methods, formatted once.
    pub(crate) allow: String,
    pub(crate) rng: Rng,
    /// The seeded hasher every layer's hash tables are keyed with.
    pub(crate) hasher: foldhash::quality::FixedState,
    pub(crate) ids: IdCounter,
    pub(crate) stats: Stats,
    /// Every timer: transactions' and usages'.
    pub(crate) timers: TimerQueue<TimerId>,
    pub(crate) flows: Connections,
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) flow_requests: VecDeque<FlowRequest>,
    /// Events for the application.
    pub(crate) events: VecDeque<Event>,
    /// Stateless answers left per source address.
    pub(crate) stateless_budget: StatelessBudget,
    /// Progress of calls placed for a REFER, for the REFER's subscription to report (RFC
    /// 3515 §2.4.5): the invite usage pushes, the Endpoint hands each to the subscription
    /// usage after every dispatch. At most a few per call.
    pub(crate) refer_progress: Vec<(SubscriptionId, StatusCode)>,
    /// REFERs of ours whose transfer settled, for the call they were sent in: the final
    /// status their NOTIFYs reported, or `None` when the subscription ended without one.
    pub(crate) refers_settled: Vec<(SubscriptionId, Option<StatusCode>)>,
    /// Answers 401/407 challenges to our requests with the configured credentials, and
    /// remembers each realm's nonce to pre-authorize later requests (RFC 3261 §22.3).
    pub(crate) digest: crate::auth::DigestClient,
    /// RFC 3263: DNS answers, questions out, requests waiting, failed targets.
    pub(crate) locator: crate::locate::Locator,
    /// Our Contact per transport: a request located over another transport than its URI
    /// named gets the Contact for the one it goes over.
    pub(crate) local: crate::local::Local,
}

/// A digest client holding `credentials`.
fn digest_client(credentials: &[crate::config::Credential]) -> crate::auth::DigestClient {
    let mut client = crate::auth::DigestClient::new();
    for credential in credentials {
        match &credential.realm {
            Some(realm) => client.add_credentials(realm, &credential.username, &credential.password),
            None => client.set_default_credentials(&credential.username, &credential.password),
        }
    }
    client
}

/// Gives a hash table's room back once it has fallen well below it: after a flood the
/// tables would otherwise keep their peak size for good. Shrinks to twice what is left when
/// fewer than a quarter of the slots are used (tables grow at 7/8, so this never
/// oscillates). Tables of up to 65,536 slots (a megabyte or two) are left alone: a busy
/// agent's tables swing by thousands with every burst, and rebuilding them each time would
/// cost more than the room is worth. Call it after removals: it is a comparison when there
/// is nothing to do.
pub(crate) fn shrink_when_sparse<K: Eq + std::hash::Hash, V, S: std::hash::BuildHasher>(
    table: &mut std::collections::HashMap<K, V, S>,
) {
    const SMALL: usize = 1 << 16;
    let capacity = table.capacity();
    if capacity > SMALL && table.len() < capacity / 4 {
        table.shrink_to((table.len() * 2).max(SMALL));
    }
}

/// The most messages, and the most events, an Endpoint keeps for its driver to take. A
/// driver polls after every input, and one input makes a handful of outputs (a timer
/// sweep after a long pause: at most one per transaction or call), so only a driver that
/// stopped polling ever reaches it. Connection requests need no limit of their own: each
/// flow has at most a connect and a close waiting, and flows are limited.
pub(crate) const OUTPUT_QUEUE_LIMIT: usize = 1 << 16;

/// [`shrink_when_sparse`] for a queue: one that a burst grew is given back once drained.
pub(crate) fn shrink_when_drained<T>(queue: &mut VecDeque<T>) {
    const SMALL: usize = 4096;
    if queue.is_empty() && queue.capacity() > SMALL {
        queue.shrink_to(SMALL);
    }
}

/// What the topmost Via of a request about to be sent is: [`Shared::prepare_request`]
/// replaces a placeholder (or our own Via from an earlier attempt) and otherwise adds ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopVia {
    /// Our own Via is already on top (dialog requests built with it).
    Ours,
    /// A placeholder, or our own Via from an earlier attempt: replaced.
    Placeholder,
    /// From the application: look.
    Unknown,
}

impl Shared {
    /// The shared state of a new Endpoint with `config`, its generator seeded from it.
    pub(crate) fn new(config: EndpointConfig) -> Self {
        let config_credentials = config.credentials.clone();
        let local = crate::local::Local::new(&config);
        let mut rng = Rng::new(config.seed);
        // Every hashed table is keyed from the seed (not the OS): deterministic for a seed,
        // unpredictable to peers when the driver seeds from the OS. The generator's first
        // draw.
        let hasher = foldhash::quality::FixedState::with_seed(rng.next_u64());
        Shared {
            flows: Connections::new(hasher.clone()),
            rng,
            stateless_budget: StatelessBudget::new(hasher.clone()),
            hasher,
            local_text: config.advertised_addr().to_string(),
            tls_local_text: config.transport_addr(Transport::Tls).to_string(),
            ws_local_text: config.sent_by(Transport::Ws),
            wss_local_text: config.sent_by(Transport::Wss),
            max_forwards: ByteString::from(config.max_forwards.to_string()),
            allow: config
                .policy
                .allowed_methods
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            config,
            ids: IdCounter::new(),
            stats: Stats::default(),
            timers: TimerQueue::default(),
            transmits: VecDeque::new(),
            flow_requests: VecDeque::new(),
            events: VecDeque::new(),
            refer_progress: Vec::new(),
            refers_settled: Vec::new(),
            digest: digest_client(&config_credentials),
            locator: crate::locate::Locator::default(),
            local,
        }
    }

    /// A fresh id (for a transaction, call, dialog or flow).
    pub(crate) fn fresh_id(&mut self) -> std::num::NonZeroU64 {
        self.ids.next()
    }

    /// A fresh RFC 3261 branch: the magic cookie and 20 random characters.
    pub(crate) fn new_branch(&mut self) -> ByteString {
        let mut branch = String::with_capacity(27);
        branch.push_str(crate::message::MAGIC_COOKIE);
        self.rng.push_token(&mut branch, 20);
        ByteString::from(branch)
    }

    /// Our Via for a request sent over `transport` in the transaction of `branch`, with
    /// `rport` (RFC 3581). Exactly the room it takes: a buffer without spare room becomes a
    /// shared buffer without another allocation.
    pub(crate) fn our_via(&self, branch: &str, transport: Transport) -> String {
        let transport_text = transport.as_str();
        let local_text = match transport {
            Transport::Tls => &self.tls_local_text,
            Transport::Ws => &self.ws_local_text,
            Transport::Wss => &self.wss_local_text,
            _ => &self.local_text,
        };
        let mut via = String::with_capacity(
            "SIP/2.0/ ;branch=;rport".len() + transport_text.len() + local_text.len() + branch.len(),
        );
        via.push_str("SIP/2.0/");
        via.push_str(transport_text);
        via.push(' ');
        via.push_str(local_text);
        via.push_str(";branch=");
        via.push_str(branch);
        via.push_str(";rport");
        via
    }

    /// Puts our Via (with `branch`) on top of a request we send and fills in what it lacks
    /// (Max-Forwards, User-Agent, Content-Length). `top` says what its topmost Via is.
    pub(crate) fn prepare_request(
        &self,
        request: &mut Request,
        branch: &str,
        transport: Transport,
        top: TopVia,
    ) {
        let replace = match top {
            TopVia::Ours => None,
            TopVia::Placeholder => Some(true),
            // Decided on the text (parsing our own Via on every send would cost more than
            // the rest of this): a top Via without the magic cookie is a placeholder, and
            // one with this very branch is ours from an earlier attempt (the UDP→TCP switch).
            TopVia::Unknown => Some(match request.headers.values(HeaderName::Via).next() {
                None => false,
                Some(top) => {
                    let finder =
                        |needle: &str| memchr::memmem::find(top.as_bytes(), needle.as_bytes()).is_some();
                    !finder(crate::message::MAGIC_COOKIE) || finder(branch)
                }
            }),
        };
        if let Some(replace) = replace {
            let via = ByteString::from(self.our_via(branch, transport));
            if replace {
                // In place: the index of the other headers stays as it is.
                request.headers.replace_first_value(HeaderName::Via, via);
            } else {
                request.headers.push_front(HeaderName::Via, via);
            }
        }
        if !request.headers.contains(HeaderName::MaxForwards) {
            request
                .headers
                .push(HeaderName::MaxForwards, self.max_forwards.clone());
        }
        if let Some(agent) = &self.config.user_agent {
            if !request.headers.contains(HeaderName::UserAgent) {
                request
                    .headers
                    .push(HeaderName::UserAgent, ByteString::from(agent.as_str()));
            }
        }
        if !request.headers.contains(HeaderName::ContentLength) {
            request.headers.push(
                HeaderName::ContentLength,
                ByteString::from(request.body.len().to_string()),
            );
        }
    }

    /// A connection to `remote` over `transport`: an open one to the same peer is reused,
    /// else the driver is asked to open one.
    /// When the table is full, the oldest accepted flow that never carried a message makes
    /// room (see [`Connections`]).
    pub(crate) fn connect(
        &mut self,
        now: Instant,
        transport: Transport,
        remote: SocketAddr,
    ) -> Result<FlowId, SendError> {
        self.connect_to(now, transport, remote, None)
    }

    /// [`Shared::connect`] for a server reached by name: a new TLS (or WSS) connection
    /// checks the peer's certificate against `server_name` (RFC 5922 §4) and names it
    /// in SNI.
    pub(crate) fn connect_to(
        &mut self,
        now: Instant,
        transport: Transport,
        remote: SocketAddr,
        server_name: Option<&str>,
    ) -> Result<FlowId, SendError> {
        // Reuse a connection to the same peer (RFC 3261 §18.1.1 allows it; RFC 5923 spirit).
        if let Some(id) = self.flows.find(transport, remote) {
            // It carries our messages now: not one to evict.
            self.flows.carries_messages(id);
            return Ok(id);
        }
        if self.flows.len() >= self.config.limits.max_flows {
            let evicted = self.flows.oldest_silent().ok_or(SendError::TooManyFlows)?;
            self.flows.remove(&mut self.timers, evicted);
            self.stats.flows_evicted += 1;
            self.flow_requests.push_back(FlowRequest::Close { flow: evicted });
        }
        let flow = FlowId(self.fresh_id());
        let limits = &self.config.limits;
        self.flows
            .insert(&mut self.timers, now, flow, transport, remote, false, limits);
        self.flow_requests.push_back(FlowRequest::Connect {
            flow,
            transport,
            remote,
            server_name: server_name.map(str::to_owned),
        });
        Ok(flow)
    }

    /// Queues `payload` for `route`. Past [`OUTPUT_QUEUE_LIMIT`] unsent messages (a driver
    /// that stopped polling) the oldest is dropped and counted: a loss on the wire, which
    /// retransmissions cover.
    pub(crate) fn transmit(&mut self, route: Route, payload: Bytes) {
        self.stats.sent += 1;
        if self.transmits.len() >= OUTPUT_QUEUE_LIMIT {
            self.transmits.pop_front();
            self.stats.outputs_dropped += 1;
        }
        self.transmits.push_back(Transmit {
            transport: route.transport,
            flow: route.flow,
            local: self.config.local,
            remote: route.remote,
            payload,
        });
    }

    /// Queues `event` for the application. Past [`OUTPUT_QUEUE_LIMIT`] unread events (a
    /// driver that stopped polling) the new one is dropped and counted.
    pub(crate) fn emit(&mut self, event: Event) {
        if self.events.len() >= OUTPUT_QUEUE_LIMIT {
            self.stats.outputs_dropped += 1;
            return;
        }
        self.events.push_back(event);
    }

    /// Our User-Agent/Server value, or our (advertised) address.
    pub(crate) fn agent(&self) -> String {
        self.config
            .user_agent
            .clone()
            .unwrap_or_else(|| self.local_text.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};

    use super::{shrink_when_drained, shrink_when_sparse};

    #[test]
    fn a_table_that_emptied_after_a_flood_gives_its_room_back() {
        let mut table: HashMap<u64, u64> = (0..1_000_000).map(|n| (n, n)).collect();
        let peak = table.capacity();
        table.retain(|&n, _| n < 10);
        shrink_when_sparse(&mut table);
        assert!(table.capacity() < peak / 10, "{} of {peak}", table.capacity());
        assert_eq!(table.len(), 10);
    }

    #[test]
    fn a_table_in_use_and_a_small_one_are_left_alone() {
        let mut busy: HashMap<u64, u64> = (0..100_000).map(|n| (n, n)).collect();
        let capacity = busy.capacity();
        shrink_when_sparse(&mut busy);
        assert_eq!(busy.capacity(), capacity);
        let mut small: HashMap<u64, u64> = (0..50_000).map(|n| (n, n)).collect();
        small.clear();
        let capacity = small.capacity();
        shrink_when_sparse(&mut small);
        assert_eq!(small.capacity(), capacity);
    }

    #[test]
    fn a_drained_queue_gives_its_room_back() {
        let mut queue: VecDeque<u64> = (0..100_000).collect();
        queue.clear();
        shrink_when_drained(&mut queue);
        assert!(queue.capacity() <= 4096);
    }
}
