//! The driver's table of connections (flows): connecting, open, and when each last
//! carried something.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::endpoint::{FlowId, Transport};
use tokio::task::JoinHandle;
use tracing::warn;

use super::{FLOW_QUEUE, FlowWriter, OpenedFlow};

/// Every connection the driver knows, by the core's flow id. The table holds at most the
/// core's `max_flows` (it refuses to open more, and asks to close accepted ones past it).
pub(crate) struct Flows {
    // Lookup only, never iterated to decide what to send.
    flows: HashMap<FlowId, Flow>,
    /// Connections quiet for this long are closed.
    idle_timeout: Duration,
    /// When to look for idle connections next (while any exist).
    next_idle_sweep: Option<Instant>,
}

/// A connection and when it last carried something.
struct Flow {
    transport: Transport,
    remote: SocketAddr,
    state: FlowState,
    last_used: Instant,
}

enum FlowState {
    /// Connecting; messages wait here. The task connects, then reads.
    Connecting {
        queued: Vec<Bytes>,
        task: JoinHandle<()>,
    },
    /// Up: messages go to the writer task; the reader task reads.
    Open {
        writer: FlowWriter,
        reader: JoinHandle<()>,
    },
}

impl Flow {
    fn abort(&self) {
        match &self.state {
            FlowState::Connecting { task, .. } => task.abort(),
            FlowState::Open { reader, .. } => reader.abort(),
        }
    }
}

impl Flows {
    pub(crate) fn new(idle_timeout: Duration) -> Flows {
        Flows {
            flows: HashMap::new(),
            idle_timeout,
            next_idle_sweep: None,
        }
    }

    /// How many connections are open or connecting.
    pub(crate) fn len(&self) -> usize {
        self.flows.len()
    }

    /// A connection being opened by `task`.
    pub(crate) fn connecting(
        &mut self,
        flow: FlowId,
        transport: Transport,
        remote: SocketAddr,
        task: JoinHandle<()>,
        now: Instant,
    ) {
        let state = FlowState::Connecting {
            queued: Vec::new(),
            task,
        };
        self.insert(flow, transport, remote, state, now);
    }

    /// A connection that is up (accepted).
    pub(crate) fn opened(
        &mut self,
        flow: FlowId,
        transport: Transport,
        remote: SocketAddr,
        opened: OpenedFlow,
        now: Instant,
    ) {
        let state = FlowState::Open {
            writer: opened.writer,
            reader: opened.reader,
        };
        self.insert(flow, transport, remote, state, now);
    }

    fn insert(
        &mut self,
        flow: FlowId,
        transport: Transport,
        remote: SocketAddr,
        state: FlowState,
        now: Instant,
    ) {
        self.flows.insert(
            flow,
            Flow {
                transport,
                remote,
                state,
                last_used: now,
            },
        );
    }

    /// A connecting flow is up: what waited goes to `writer`, and so will what follows.
    /// False when the flow was closed meanwhile (dropping `writer` ends its task).
    pub(crate) fn connected(&mut self, flow: FlowId, writer: FlowWriter, now: Instant) -> bool {
        let Some(entry) = self.flows.remove(&flow) else {
            return false;
        };
        let FlowState::Connecting { queued, task } = entry.state else {
            // Only a connecting flow reports Connected; leave anything else as it was.
            self.flows.insert(flow, entry);
            return false;
        };
        for payload in queued {
            // A fresh channel holds FLOW_QUEUE messages, as many as may wait while
            // connecting, so this fails only when the writer already died of a write
            // error; its Closed report follows and fails the flow.
            if writer.send(payload).is_err() {
                warn!(%flow, "connection's writer gone before its queued messages went out");
                break;
            }
        }
        // The connecting task goes on as the reader.
        let state = FlowState::Open { writer, reader: task };
        self.insert(flow, entry.transport, entry.remote, state, now);
        true
    }

    /// Hands `payload` to `flow`'s writer, or queues it while connecting. False when the
    /// flow is gone or [`FLOW_QUEUE`] messages behind (connecting or not): the caller
    /// fails it, as a connection that far behind is as good as broken.
    pub(crate) fn send(&mut self, flow: FlowId, payload: Bytes, now: Instant) -> bool {
        let Some(entry) = self.flows.get_mut(&flow) else {
            return false;
        };
        entry.last_used = now;
        match &mut entry.state {
            FlowState::Connecting { queued, .. } if queued.len() >= FLOW_QUEUE => false,
            FlowState::Connecting { queued, .. } => {
                queued.push(payload);
                true
            }
            FlowState::Open { writer, .. } => writer.send(payload).is_ok(),
        }
    }

    /// Notes that `flow` received something; its transport and peer, when it is known.
    pub(crate) fn received(&mut self, flow: FlowId, now: Instant) -> Option<(Transport, SocketAddr)> {
        let entry = self.flows.get_mut(&flow)?;
        entry.last_used = now;
        Some((entry.transport, entry.remote))
    }

    /// Forgets `flow` and stops its tasks (dropping the writer ends the writer task, which
    /// shuts the write side). False when it was not there.
    pub(crate) fn close(&mut self, flow: FlowId) -> bool {
        match self.flows.remove(&flow) {
            Some(entry) => {
                entry.abort();
                true
            }
            None => false,
        }
    }

    /// Closes every flow.
    pub(crate) fn close_all(&mut self) {
        for (_, entry) in self.flows.drain() {
            entry.abort();
        }
    }

    /// When the next look for idle connections is due (while any exist).
    pub(crate) fn next_idle_sweep(&self) -> Option<Instant> {
        self.next_idle_sweep
    }

    /// Closes the connections that carried nothing for the idle timeout and returns them,
    /// in id order so the core hears of them in a stable order. Looks a few times per
    /// timeout, not on every call.
    pub(crate) fn close_idle(&mut self, now: Instant) -> Vec<FlowId> {
        if self.flows.is_empty() {
            self.next_idle_sweep = None;
            return Vec::new();
        }
        let check_every = (self.idle_timeout / 4).max(Duration::from_secs(1));
        match self.next_idle_sweep {
            Some(at) if at > now => return Vec::new(),
            None => {
                self.next_idle_sweep = Some(now + check_every);
                return Vec::new();
            }
            Some(_) => {}
        }
        let mut idle: Vec<FlowId> = self
            .flows
            .iter()
            .filter(|(_, f)| now.saturating_duration_since(f.last_used) >= self.idle_timeout)
            .map(|(id, _)| *id)
            .collect();
        idle.sort();
        for flow in &idle {
            self.close(*flow);
        }
        self.next_idle_sweep = (!self.flows.is_empty()).then_some(now + check_every);
        idle
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use sip_core::endpoint::{Endpoint, EndpointConfig};

    use super::*;

    fn flow_id() -> FlowId {
        let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        Endpoint::new(EndpointConfig::new(local, 1)).new_flow_id()
    }

    #[tokio::test]
    async fn messages_queued_behind_a_pending_connect_are_bounded() {
        let now = Instant::now();
        let flow = flow_id();
        let remote: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let mut flows = Flows::new(Duration::from_secs(60));
        let task = tokio::spawn(std::future::pending());
        flows.connecting(flow, Transport::Tcp, remote, task, now);
        for _ in 0..FLOW_QUEUE {
            assert!(flows.send(flow, Bytes::from_static(b"OPTIONS"), now));
        }
        assert!(
            !flows.send(flow, Bytes::from_static(b"OPTIONS"), now),
            "one past the bound is refused (and the driver fails the flow)"
        );

        // Every message that was let wait fits the writer once connected.
        let (writer, rx) = FlowWriter::channel();
        assert!(flows.connected(flow, writer, now));
        assert_eq!(rx.len(), FLOW_QUEUE);
        assert!(flows.close(flow));
    }
}
