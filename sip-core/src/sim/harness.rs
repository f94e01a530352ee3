//! Two user agents, Alice and Bob, on a seeded [`Network`], and helpers that make a call
//! test read like the call it tests.
//!
//! A [`Pair`] puts Alice at `192.0.2.1:5060` and Bob at `192.0.2.2:5060` (RFC 5737
//! documentation addresses), 10 ms apart, with endpoints seeded from the network's seed:
//! the same seed replays the same run, datagram for datagram. Options shape the links
//! ([`Pair::with_loss`], [`Pair::with_link`]) and the agents' configuration
//! ([`Pair::configured`]); [`Pair::auto_answer`] makes a side pick up on its own. The
//! `run_until_*` helpers jump the virtual clock until a call reaches a state or reports an
//! event, a response comes, or everything is quiet; each is bounded, and when what it waits for does not
//! come it panics with what it waited for, where things stand and the end of the ladder,
//! instead of hanging. Commands go through [`Network::on`], which sends what they queued.
//!
//! A call over links losing a fifth of the datagrams both ways, put on hold and back, an
//! INFO in the dialog, a hang-up, and nothing left behind:
//!
//! ```
//! use sip_core::call::{CallEvent, CallState, EndReason};
//! use sip_core::message::{Method, StatusCode};
//! use sip_core::sim::harness::Pair;
//!
//! let mut pair = Pair::new(6).with_loss(0.2);
//! let (alice, bob) = (pair.alice, pair.bob);
//! pair.auto_answer(bob);
//! let call = pair.call(alice, bob);
//! let (bob_call, _) = pair.run_until_event(bob, |e| matches!(e, CallEvent::Answered { .. }));
//! pair.net.on(alice, |ep, now| ep.hold(now, call)).unwrap();
//! pair.run_until_state(bob, bob_call, CallState::Hold);
//! pair.run_until_idle(); // Bob takes no new offer before Alice's ACK is in (RFC 3261 §14.2)
//! pair.net.on(alice, |ep, now| ep.unhold(now, call)).unwrap();
//! pair.run_until_state(alice, call, CallState::Connected);
//! let info = pair.net.on(alice, |ep, now| {
//!     ep.request_in_dialog(now, call, Method::Info, "Signal=5\r\n".into(), Some("text/plain"))
//! });
//! let answer = pair.run_until_response(alice, info.unwrap());
//! assert_eq!(answer.status, StatusCode::OK);
//! pair.net.on(alice, |ep, now| ep.bye(now, call)).unwrap();
//! pair.run_until_idle();
//! assert_eq!(pair.end_reason(alice, call), Some(EndReason::LocalBye));
//! assert_eq!(pair.end_reason(bob, bob_call), Some(EndReason::RemoteBye));
//! pair.assert_quiescent();
//! assert!(pair.retransmissions() > 0, "losses made good");
//! ```
//!
//! The harness reads what happened from [`Network::events`]: leave
//! [`Network::record_events`] on.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use crate::call::{CallEvent, CallId, CallState, EndReason};
use crate::endpoint::{Endpoint, EndpointConfig, Event, TransactionId};
use crate::message::{Response, StatusCode, Uri};
use crate::sdp::SessionDescription;
use crate::sim::{LinkConfig, Network, Node, NodeId};

/// Alice's address: 192.0.2.1:5060.
pub const ALICE_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 5060));

/// Bob's address: 192.0.2.2:5060.
pub const BOB_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 5060));

/// How long a `run_until_*` waits by default: two minutes of virtual time. With the
/// default timers nothing is retransmitted for longer than 64·T1 (32 s), so this covers
/// the longest chain one step of a call can set off: a 2xx resent for 64·T1 because no
/// ACK came, then the BYE that ends the call and its Timer F, then the last timers of the
/// transactions that linger.
pub const DEFAULT_WAIT_LIMIT: Duration = Duration::from_secs(120);

/// How many ladder lines a failure message shows.
const LADDER_TAIL: usize = 30;

/// Alice and Bob on a seeded [`Network`] (see the [module](self) documentation).
///
/// The fields are public: the network is there for everything the pair has no helper for
/// (scripted losses, more nodes, the ladder, the events), and the node ids name the two
/// sides in every helper and in [`Network::on`].
pub struct Pair {
    /// The network both agents live on.
    pub net: Network,
    /// Alice, at [`ALICE_ADDR`], named `alice` in the ladder.
    pub alice: NodeId,
    /// Bob, at [`BOB_ADDR`], named `bob` in the ladder.
    pub bob: NodeId,
    /// How much virtual time a `run_until_*` helper lets pass before it gives up and
    /// panics ([`DEFAULT_WAIT_LIMIT`] unless changed).
    pub wait_limit: Duration,
}

/// Why a wait ended without what it waited for.
enum Stall {
    /// Nothing in flight and no timer armed: nothing more can happen.
    Quiet,
    /// The next thing to happen is past the wait limit.
    WaitLimit,
    /// [`Network::max_steps`] steps went by (something loops at one instant).
    Steps,
}

impl Pair {
    /// Alice and Bob with the default configuration, links of 10 ms without loss, and
    /// every random choice drawn from `seed`.
    pub fn new(seed: u64) -> Pair {
        Pair::configured(seed, |_| {}, |_| {})
    }

    /// Alice and Bob, each configuration adjusted by its own function first (timers, call
    /// options, limits…). Seeded like [`Pair::new`]: the endpoints' seeds are drawn before
    /// the functions run, so the same seed gives the same Call-IDs, tags and branches
    /// whatever they change. Configure both alike by passing the same function twice.
    pub fn configured(
        seed: u64,
        configure_alice: impl FnOnce(&mut EndpointConfig),
        configure_bob: impl FnOnce(&mut EndpointConfig),
    ) -> Pair {
        let mut net = Network::new(seed);
        let alice = net.add_node_configured("alice", ALICE_ADDR, configure_alice);
        let bob = net.add_node_configured("bob", BOB_ADDR, configure_bob);
        Pair {
            net,
            alice,
            bob,
            wait_limit: DEFAULT_WAIT_LIMIT,
        }
    }

    /// The same pair with both links losing each datagram with probability `loss` (drawn
    /// from the seed), otherwise [`LinkConfig::default`].
    pub fn with_loss(self, loss: f64) -> Pair {
        self.with_link(LinkConfig {
            loss,
            ..LinkConfig::default()
        })
    }

    /// The same pair with `link` both ways between Alice and Bob.
    pub fn with_link(mut self, link: LinkConfig) -> Pair {
        self.net.set_links(self.alice, self.bob, link);
        self
    }

    // ---- the agents' behaviour ----

    /// From now on `node` picks up by itself, like a phone answering at the first ring:
    /// every incoming call gets 180 Ringing and then 200 OK with an answer made from
    /// [`Pair::audio_description`] (RFC 3264 §6; when the INVITE has no offer, the 200
    /// carries that description as the offer; an offer that does not parse, or shares no
    /// media format with it, gets 488), and every request inside a call that the call layer
    /// hands over (INFO, MESSAGE, OPTIONS…) gets 200. Replaces the node's handler
    /// ([`Network::set_handler`]).
    ///
    /// The handler panics if the endpoint refuses one of these answers, which would be a
    /// bug: each is given the moment the request is reported.
    pub fn auto_answer(&mut self, node: NodeId) {
        let name = self.net.name(node).to_owned();
        let description = self.audio_description(node);
        self.net.set_handler(node, move |endpoint, event, now| {
            let Event::Call { call, event } = event else {
                return;
            };
            match event {
                CallEvent::Incoming { request, .. } => {
                    let answer = if request.body.is_empty() {
                        Some(description.to_bytes())
                    } else {
                        SessionDescription::parse(&request.body)
                            .ok()
                            .and_then(|offer| description.answer_for(&offer, false).ok())
                            .map(|answer| answer.to_bytes())
                    };
                    let answered = match answer {
                        Some(answer) => endpoint
                            .ringing(now, call)
                            .and_then(|()| endpoint.answer(now, call, answer, None)),
                        None => endpoint.reject(now, call, StatusCode::NOT_ACCEPTABLE_HERE, None),
                    };
                    if let Err(error) = answered {
                        panic!("{name} could not answer {call}: {error}");
                    }
                }
                CallEvent::Request { transaction, request } => {
                    let answered = endpoint
                        .response(transaction, StatusCode::OK)
                        .and_then(|ok| endpoint.respond(now, transaction, ok));
                    if let Err(error) = answered {
                        panic!(
                            "{name} could not answer the {} in {call}: {error}",
                            request.method
                        );
                    }
                }
                _ => {}
            }
        });
    }

    /// `from` calls `to` now: an INVITE to [`Pair::uri`] of `to` with
    /// [`Pair::audio_description`] of `from` as the offer. Returns `from`'s call.
    ///
    /// # Panics
    ///
    /// When `from`'s endpoint refuses to start the call (its call limit, say); use
    /// [`Network::on`] with [`Endpoint::invite`] to test such refusals.
    #[track_caller]
    pub fn call(&mut self, from: NodeId, to: NodeId) -> CallId {
        let target = self.uri(to);
        let offer = self.audio_description(from).to_bytes();
        let started = self
            .net
            .on(from, |endpoint, now| endpoint.invite(now, target, offer, None));
        match started {
            Ok(call) => call,
            Err(error) => panic!(
                "{} could not call {}: {error}",
                self.net.name(from),
                self.net.name(to)
            ),
        }
    }

    // ---- running ----

    /// Runs until `node`'s `call` is in `state` (at once if it already is). `Ended` is
    /// reached when the call is over and forgotten.
    ///
    /// # Panics
    ///
    /// When the call ends before reaching `state`, when `node` never had this call, or
    /// when `state` is not reached within [`Pair::wait_limit`] of virtual time.
    #[track_caller]
    pub fn run_until_state(&mut self, node: NodeId, call: CallId, state: CallState) {
        let reached = self.wait_for(|pair| {
            let current = pair.state(node, call);
            let ended = pair.end_reason(node, call).is_some();
            if current == Some(state) || (state == CallState::Ended && ended) {
                Some(Ok(()))
            } else if ended || (current.is_none() && !pair.calls(node).contains(&call)) {
                Some(Err(()))
            } else {
                None
            }
        });
        let waiting = format!("{}'s {call} to be {state}", self.net.name(node));
        match reached {
            Ok(Ok(())) => {}
            Ok(Err(())) => match self.end_reason(node, call) {
                Some(reason) => self.fail(&waiting, &format!("it ended first ({reason:?})")),
                None => self.fail(&waiting, "there is no such call"),
            },
            Err(stall) => {
                let current = self
                    .state(node, call)
                    .map_or("gone".to_owned(), |s| s.to_string());
                self.fail(
                    &waiting,
                    &format!("{} (it is {current})", stall.describe(self.wait_limit)),
                );
            }
        }
    }

    /// Runs until `node` reports a call event that `wanted` accepts, and returns that event
    /// with its call. Only events reported from now on count, so waiting for a second
    /// `Hold` is not answered by the first.
    ///
    /// # Panics
    ///
    /// When no such event comes within [`Pair::wait_limit`] of virtual time.
    #[track_caller]
    pub fn run_until_event(
        &mut self,
        node: NodeId,
        mut wanted: impl FnMut(&CallEvent) -> bool,
    ) -> (CallId, CallEvent) {
        let mut seen = self.net.events(node).len();
        let found = self.wait_for(|pair| {
            let events = pair.net.events(node);
            let found = events
                .get(seen..)
                .unwrap_or_default()
                .iter()
                .find_map(|(_, e)| match e {
                    Event::Call { call, event } if wanted(event) => Some((*call, event.clone())),
                    _ => None,
                });
            seen = events.len();
            found
        });
        match found {
            Ok(found) => found,
            Err(stall) => {
                let waiting = format!("{} to report a matching call event", self.net.name(node));
                self.fail(&waiting, &stall.describe(self.wait_limit))
            }
        }
    }

    /// Runs until `node` gets the final response to its request `transaction` (one sent
    /// in a call with [`Endpoint::request_in_dialog`], or on its own with
    /// [`Endpoint::send_request`]), and returns it. A response that came already counts.
    ///
    /// # Panics
    ///
    /// When the transaction ends without one (Timer F, a transport error) or no final
    /// response comes within [`Pair::wait_limit`] of virtual time.
    #[track_caller]
    pub fn run_until_response(&mut self, node: NodeId, transaction: TransactionId) -> Response {
        let found = self.wait_for(|pair| {
            pair.net.events(node).iter().find_map(|(_, e)| match e {
                Event::Response {
                    transaction: t,
                    response,
                }
                | Event::Call {
                    event:
                        CallEvent::Response {
                            transaction: t,
                            response,
                        },
                    ..
                } if *t == transaction && response.status.is_final() => Some(Ok(response.clone())),
                Event::Timeout {
                    transaction: t,
                    timer,
                } if *t == transaction => Some(Err(format!("{timer} fired"))),
                Event::TransportError { transaction: t } if *t == transaction => {
                    Some(Err("the transport failed".to_owned()))
                }
                _ => None,
            })
        });
        let waiting = format!("{}'s final response to {transaction}", self.net.name(node));
        match found {
            Ok(Ok(response)) => response,
            Ok(Err(why)) => self.fail(&waiting, &format!("the transaction ended without one: {why}")),
            Err(stall) => self.fail(&waiting, &stall.describe(self.wait_limit)),
        }
    }

    /// Runs until `done` says so, checking before each step; `what` names the wait in
    /// the failure message.
    ///
    /// # Panics
    ///
    /// When `done` is still false after [`Pair::wait_limit`] of virtual time, or when
    /// nothing more can happen.
    #[track_caller]
    pub fn run_until(&mut self, what: &str, mut done: impl FnMut(&Pair) -> bool) {
        if let Err(stall) = self.wait_for(|pair| done(pair).then_some(())) {
            self.fail(what, &stall.describe(self.wait_limit));
        }
    }

    /// Runs until nothing is in flight and no timer is armed on any endpoint: every
    /// retransmission done, every lingering transaction's timers run out (up to 64·T1).
    /// Live calls stay up as long as they have no timers.
    ///
    /// # Panics
    ///
    /// When the network is still busy after [`Pair::wait_limit`] of virtual time (a
    /// session timer, say, refreshes a call for ever), naming what is still there.
    #[track_caller]
    pub fn run_until_idle(&mut self) {
        if let Err(stall) = self.wait_for(|pair| pair.net.next_event_at().is_none().then_some(())) {
            let why = format!(
                "{}; left: {}",
                stall.describe(self.wait_limit),
                self.leftovers().join("; ")
            );
            self.fail("the network to go idle", &why);
        }
    }

    // ---- what happened ----

    /// The state of `node`'s `call`, or `None` once it is over (or if it never was).
    pub fn state(&self, node: NodeId, call: CallId) -> Option<CallState> {
        self.endpoint(node).and_then(|e| e.call_state(call))
    }

    /// Every call `node` has seen, in the order it first reported each.
    pub fn calls(&self, node: NodeId) -> Vec<CallId> {
        let mut calls = Vec::new();
        for (_, event) in self.net.events(node) {
            if let Event::Call { call, .. } = event
                && !calls.contains(call)
            {
                calls.push(*call);
            }
        }
        calls
    }

    /// `node`'s current call: the latest one it has seen that is not over. On Bob's side,
    /// this is how to learn the id of the call Alice made.
    pub fn current_call(&self, node: NodeId) -> Option<CallId> {
        self.calls(node)
            .into_iter()
            .rev()
            .find(|&call| self.state(node, call).is_some())
    }

    /// The events `node` reported for `call`, oldest first.
    pub fn call_events(&self, node: NodeId, call: CallId) -> impl Iterator<Item = &CallEvent> {
        self.net.events(node).iter().filter_map(move |(_, e)| match e {
            Event::Call { call: c, event } if *c == call => Some(event),
            _ => None,
        })
    }

    /// Why `node`'s `call` ended, once it has.
    pub fn end_reason(&self, node: NodeId, call: CallId) -> Option<EndReason> {
        self.call_events(node, call).find_map(|e| match e {
            CallEvent::Terminated { reason, .. } => Some(reason.clone()),
            _ => None,
        })
    }

    /// Retransmissions Alice and Bob sent between them ([`Stats::retransmitted`]): more
    /// than zero shows that losses happened and were made good.
    ///
    /// [`Stats::retransmitted`]: crate::endpoint::Stats::retransmitted
    pub fn retransmissions(&self) -> u64 {
        [self.alice, self.bob]
            .into_iter()
            .filter_map(|node| self.endpoint(node))
            .map(|e| e.stats().retransmitted)
            .sum()
    }

    /// Asserts that everything is over: no endpoint of the network has a live call, a
    /// dialog, a transaction or an armed timer, and nothing is in flight. Run
    /// [`Pair::run_until_idle`] first, or the last transactions' timers are still armed.
    ///
    /// # Panics
    ///
    /// Listing whatever is left, side by side.
    #[track_caller]
    pub fn assert_quiescent(&self) {
        let left = self.leftovers();
        if !left.is_empty() {
            self.fail("quiescence", &left.join("; "));
        }
    }

    // ---- addresses and descriptions ----

    /// The SIP URI of `node`: `sip:` its name `@` its address (`sip:bob@192.0.2.2:5060`).
    ///
    /// # Panics
    ///
    /// When the node's name cannot be the user part of a URI (the pair's own are `alice`
    /// and `bob`).
    #[track_caller]
    pub fn uri(&self, node: NodeId) -> Uri {
        let text = format!("sip:{}@{}", self.net.name(node), self.net.addr(node));
        match Uri::parse(&text) {
            Ok(uri) => uri,
            Err(error) => panic!("{text} is not a SIP URI: {error}"),
        }
    }

    /// An audio session description for `node`, as [`SessionDescription::simple_audio`]
    /// makes it: the node's name as the origin's user, its IP address, RTP port 49170,
    /// PCMU, PCMA and telephone-event. [`Pair::call`] offers it; [`Pair::auto_answer`]
    /// answers with it.
    pub fn audio_description(&self, node: NodeId) -> SessionDescription {
        SessionDescription::simple_audio(
            self.net.name(node),
            1000,
            self.net.addr(node).ip(),
            49170,
            &[0, 8, 101],
        )
    }

    // ---- helpers ----

    /// What is not over, one entry per endpoint that has something (live calls, dialogs,
    /// transactions, a timer) and one for datagrams in flight; empty when all is quiet.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for node in &self.net.nodes {
            let Some(endpoint) = node.endpoint() else {
                continue;
            };
            let mut here = Vec::new();
            let counts = [
                (endpoint.call_count(), "live call"),
                (endpoint.dialog_count(), "dialog"),
                (endpoint.transaction_count(), "transaction"),
            ];
            for (count, what) in counts {
                if count > 0 {
                    here.push(counted(count, what));
                }
            }
            if let Some(at) = endpoint.poll_timeout() {
                let due = at.saturating_duration_since(self.net.now());
                here.push(format!("a timer due in {due:?}"));
            }
            if !here.is_empty() {
                left.push(format!("{} has {}", node.name, here.join(", ")));
            }
        }
        let in_flight = self.net.in_flight();
        if in_flight > 0 {
            left.push(format!("{} on the wire", counted(in_flight, "datagram")));
        }
        left
    }

    fn endpoint(&self, node: NodeId) -> Option<&Endpoint> {
        self.net.nodes.get(node.0).and_then(Node::endpoint)
    }

    /// Steps the network until `ready` gives a value (checked before every step), within
    /// the wait limit of virtual time and the network's step bound.
    fn wait_for<T>(&mut self, mut ready: impl FnMut(&Pair) -> Option<T>) -> Result<T, Stall> {
        let deadline = self.net.now() + self.wait_limit;
        for _ in 0..self.net.max_steps {
            if let Some(value) = ready(self) {
                return Ok(value);
            }
            match self.net.next_event_at() {
                None => return Err(Stall::Quiet),
                Some(at) if at > deadline => {
                    // Nothing happens before the deadline: let the clock show it.
                    self.net.run_until(deadline);
                    return Err(Stall::WaitLimit);
                }
                Some(_) => {
                    self.net.step();
                }
            }
        }
        ready(self).ok_or(Stall::Steps)
    }

    /// Fails the test: what it waited for, why it is not coming, when, and the ladder's
    /// last lines.
    #[track_caller]
    fn fail(&self, waiting_for: &str, why: &str) -> ! {
        let ladder: Vec<&str> = self.net.ladder().lines().collect();
        let mut message = format!(
            "waited for {waiting_for}, but {why} (virtual time {:?})",
            self.net.elapsed()
        );
        let skipped = ladder.len().saturating_sub(LADDER_TAIL);
        let _ = write!(message, "\nthe ladder's last {} lines:", ladder.len() - skipped);
        for line in ladder.iter().skip(skipped) {
            let _ = write!(message, "\n{line}");
        }
        panic!("{message}");
    }
}

/// `count` and `thing`, in the plural unless there is one.
fn counted(count: usize, thing: &str) -> String {
    if count == 1 {
        format!("1 {thing}")
    } else {
        format!("{count} {thing}s")
    }
}

impl Stall {
    fn describe(&self, limit: Duration) -> String {
        match self {
            Stall::Quiet => "nothing more can happen: nothing in flight, no timer armed".to_owned(),
            Stall::WaitLimit => format!("it did not come within {limit:?} of virtual time"),
            Stall::Steps => "the step bound was reached (something loops at one instant)".to_owned(),
        }
    }
}
