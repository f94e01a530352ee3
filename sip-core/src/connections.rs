//! The connections (flows) an Endpoint frames messages on, and the rules that keep a flood
//! of them from locking anyone out:
//!
//! - **Admission**: at most `max_flows` in all and `max_flows_per_source` accepted from one
//!   IP address. When the table is full, a new connection evicts the oldest accepted one
//!   that has not yet carried a whole message — such a flow cannot hold a dialog or a
//!   transaction, so nothing is lost — and is refused only when there is none.
//! - **Liveness**: a flow that completes no message for `flow_idle_timeout` is closed, and
//!   bytes of a message that is never finished do not count as activity; once the first
//!   byte of a message has arrived, the rest must follow within `flow_message_timeout`
//!   (the "slowloris" defence). Each flow has one timer in the Endpoint's queue, re-armed
//!   lazily: activity only records the time, and the timer, when it fires early, moves
//!   itself to the real deadline.
//!
//! - **Memory**: the bytes of unfinished messages, over all flows, stay under
//!   `max_buffered_bytes`; past it the flows whose unfinished message started first are
//!   closed (a peer sending a whole message sends it within milliseconds, so the oldest
//!   partial messages are the ones trickled in to hold memory).
//!
//! Closing is the Endpoint's to do (it fails the flow's transactions, RFC 3261 §18.4, and
//! asks the driver to close the socket); this table only says which flow and why.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Instant;

use crate::config::EndpointLimits;
use crate::ids::FlowId;
use crate::message::{ParseLimits, StreamDecoder};
use crate::sources::SourceCounts;
use crate::timer_queue::{Deadline, TimerId, TimerQueue};
use crate::transport::Transport;

/// A connection: its transport, its peer, the framing of what arrives on it and when it
/// last made progress.
#[derive(Debug)]
pub(crate) struct Flow {
    pub(crate) transport: Transport,
    pub(crate) remote: SocketAddr,
    pub(crate) decoder: StreamDecoder,
    /// Accepted from a peer (counted against its address), not opened by us.
    accepted: bool,
    /// When it opened, or last completed a message or a keep-alive.
    last_active: Instant,
    /// When the first byte of the message being framed now arrived.
    partial_since: Option<Instant>,
    /// The decoder's buffered bytes as last counted into [`Connections::buffered`].
    buffered: usize,
    /// The flow's one timer, as armed in the queue.
    armed: Deadline,
}

/// What became of a connection the driver accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Taken.
    Accepted,
    /// Taken in place of `evicted`, the oldest flow that had carried no message yet.
    AcceptedEvicting(FlowId),
    /// Refused: its address holds its share of flows already.
    RefusedPerSource,
    /// Refused: the table is full of flows that carried messages.
    RefusedFull,
}

/// What a flow finished framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completed {
    /// A SIP message.
    Message,
    /// A CRLF keep-alive ping or pong (RFC 5626 §4.4.1).
    KeepAlive,
    /// Bytes framed as a message that did not parse.
    Invalid,
}

/// Why a flow's timer says to close it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Nothing completed for the idle timeout.
    Idle,
    /// A message started and was not finished in time.
    UnfinishedMessage,
}

/// Every connection, by id (a `BTreeMap`: lookups by peer walk it in id order, so the
/// choice among several is stable).
#[derive(Debug)]
pub(crate) struct Connections {
    flows: BTreeMap<FlowId, Flow>,
    /// Accepted flows per peer address.
    per_source: SourceCounts,
    /// Accepted flows that have not completed a message yet; ids grow, so the first is the
    /// oldest.
    silent: BTreeSet<FlowId>,
    /// Flows holding part of a message, by when its first byte came (oldest first).
    partial: BTreeSet<(Instant, FlowId)>,
    /// Bytes buffered by every flow's decoder together.
    buffered: usize,
}

impl Connections {
    pub(crate) fn new(hasher: foldhash::quality::FixedState) -> Self {
        Connections {
            flows: BTreeMap::new(),
            per_source: SourceCounts::new(hasher),
            silent: BTreeSet::new(),
            partial: BTreeSet::new(),
            buffered: 0,
        }
    }

    /// Open and connecting flows.
    pub(crate) fn len(&self) -> usize {
        self.flows.len()
    }

    pub(crate) fn contains(&self, flow: FlowId) -> bool {
        self.flows.contains_key(&flow)
    }

    pub(crate) fn get_mut(&mut self, flow: FlowId) -> Option<&mut Flow> {
        self.flows.get_mut(&flow)
    }

    /// An open flow to `remote` over `transport`, for reuse (RFC 3261 §18.1.1).
    pub(crate) fn find(&self, transport: Transport, remote: SocketAddr) -> Option<FlowId> {
        self.flows
            .iter()
            .find(|(_, f)| f.transport == transport && f.remote == remote)
            .map(|(&id, _)| id)
    }

    /// Decides whether to take a connection the driver accepted from `remote`. On
    /// [`Admission::AcceptedEvicting`] the evicted flow is still in the table: the caller
    /// closes it with [`Connections::remove`] after failing what used it.
    pub(crate) fn admit(&self, remote: SocketAddr, limits: &EndpointLimits) -> Admission {
        if self.per_source.get(remote.ip()) >= limits.max_flows_per_source {
            return Admission::RefusedPerSource;
        }
        if self.flows.len() < limits.max_flows {
            return Admission::Accepted;
        }
        match self.silent.first() {
            Some(&oldest) => Admission::AcceptedEvicting(oldest),
            None => Admission::RefusedFull,
        }
    }

    /// The oldest accepted flow that has not carried a whole message: the one to evict
    /// when the table is full.
    pub(crate) fn oldest_silent(&self) -> Option<FlowId> {
        self.silent.first().copied()
    }

    /// Adds `flow` (after [`Connections::admit`], or a check of room for one we open) and
    /// arms its timer.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert(
        &mut self,
        timers: &mut TimerQueue<TimerId>,
        now: Instant,
        flow: FlowId,
        transport: Transport,
        remote: SocketAddr,
        accepted: bool,
        limits: &EndpointLimits,
    ) {
        let armed = timers.insert(now + limits.flow_idle_timeout, TimerId::Flow { flow });
        let decoder = StreamDecoder::with_limits(ParseLimits {
            max_message_size: limits.max_message_size,
            ..ParseLimits::default()
        });
        let state = Flow {
            transport,
            remote,
            decoder,
            accepted,
            last_active: now,
            partial_since: None,
            buffered: 0,
            armed,
        };
        if accepted {
            self.per_source.add(remote.ip());
            self.silent.insert(flow);
        }
        if let Some(old) = self.flows.insert(flow, state) {
            // A driver reusing an id: forget the old flow's bookkeeping.
            self.forget(timers, flow, old);
        }
    }

    /// Drops `flow` and disarms its timer. False when it was not there.
    pub(crate) fn remove(&mut self, timers: &mut TimerQueue<TimerId>, flow: FlowId) -> bool {
        match self.flows.remove(&flow) {
            Some(state) => {
                self.forget(timers, flow, state);
                true
            }
            None => false,
        }
    }

    fn forget(&mut self, timers: &mut TimerQueue<TimerId>, flow: FlowId, state: Flow) {
        timers.remove(state.armed, TimerId::Flow { flow });
        self.buffered -= state.buffered;
        if let Some(since) = state.partial_since {
            self.partial.remove(&(since, flow));
        }
        if state.accepted {
            self.per_source.remove(state.remote.ip());
            self.silent.remove(&flow);
        }
    }

    /// We send our own messages over `flow` (a reused accepted flow): it may hold a
    /// transaction from now on, so it is no longer one to evict.
    pub(crate) fn carries_messages(&mut self, flow: FlowId) {
        self.silent.remove(&flow);
    }

    /// `flow` framed `item` at `now`: the next message starts from nothing; a message or
    /// a keep-alive is activity, and a message makes an accepted flow one that may hold a
    /// dialog (no longer evictable). Bytes that framed but did not parse are neither.
    pub(crate) fn completed(&mut self, flow: FlowId, now: Instant, item: Completed) {
        let Some(state) = self.flows.get_mut(&flow) else {
            return;
        };
        if let Some(since) = state.partial_since.take() {
            self.partial.remove(&(since, flow));
        }
        match item {
            Completed::Message => {
                state.last_active = now;
                if state.accepted {
                    self.silent.remove(&flow);
                }
            }
            Completed::KeepAlive => state.last_active = now,
            Completed::Invalid => {}
        }
    }

    /// After framing what arrived on `flow` at `now`: if part of a message waits, its
    /// deadline runs from now (or from when its first byte came), and the timer is moved
    /// earlier when that deadline comes before it. Returns the flows to close because
    /// unfinished messages hold more than `max_buffered_bytes` (oldest first; possibly
    /// `flow` itself).
    pub(crate) fn framed(
        &mut self,
        timers: &mut TimerQueue<TimerId>,
        flow: FlowId,
        now: Instant,
        limits: &EndpointLimits,
    ) -> Vec<FlowId> {
        let Some(state) = self.flows.get_mut(&flow) else {
            return Vec::new();
        };
        let buffered = state.decoder.buffered();
        self.buffered = self.buffered - state.buffered + buffered;
        state.buffered = buffered;
        if buffered == 0 {
            if let Some(since) = state.partial_since.take() {
                self.partial.remove(&(since, flow));
            }
        } else if state.partial_since.is_none() {
            state.partial_since = Some(now);
            self.partial.insert((now, flow));
            let due = now + limits.flow_message_timeout;
            if timers.instant_of(state.armed).is_none_or(|armed| due < armed) {
                timers.remove(state.armed, TimerId::Flow { flow });
                state.armed = timers.insert(due, TimerId::Flow { flow });
            }
        }
        self.over_budget(limits)
    }

    /// The flows whose unfinished messages started first, as many as it takes to bring the
    /// bytes buffered under `max_buffered_bytes`.
    fn over_budget(&self, limits: &EndpointLimits) -> Vec<FlowId> {
        let mut excess = self.buffered.saturating_sub(limits.max_buffered_bytes);
        let mut shed = Vec::new();
        for &(_, flow) in &self.partial {
            if excess == 0 {
                break;
            }
            let held = self.flows.get(&flow).map_or(0, |f| f.buffered);
            excess = excess.saturating_sub(held);
            shed.push(flow);
        }
        shed
    }

    /// `flow`'s timer fired at `now`: why to close it, or None when activity since it was
    /// armed moved its deadline (the timer is re-armed there).
    pub(crate) fn on_timer(
        &mut self,
        timers: &mut TimerQueue<TimerId>,
        flow: FlowId,
        now: Instant,
        limits: &EndpointLimits,
    ) -> Option<Expiry> {
        let state = self.flows.get_mut(&flow)?;
        let idle_at = state.last_active + limits.flow_idle_timeout;
        let unfinished_at = state
            .partial_since
            .map(|since| since + limits.flow_message_timeout);
        if unfinished_at.is_some_and(|at| at <= now) {
            return Some(Expiry::UnfinishedMessage);
        }
        if idle_at <= now {
            return Some(Expiry::Idle);
        }
        let due = unfinished_at.map_or(idle_at, |at| at.min(idle_at));
        state.armed = timers.insert(due, TimerId::Flow { flow });
        None
    }
}
