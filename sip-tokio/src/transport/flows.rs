//! The driver's table of connections (flows): connecting or open, with their tasks. When
//! to close one (idle, a message left unfinished, eviction when full) is the core's call:
//! it asks with `FlowRequest::Close`.

use std::collections::HashMap;
use std::net::SocketAddr;

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
}

/// A connection: its peer and its tasks.
struct Flow {
    transport: Transport,
    remote: SocketAddr,
    state: FlowState,
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
    pub(crate) fn new() -> Flows {
        Flows {
            flows: HashMap::new(),
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
    ) {
        let state = FlowState::Connecting {
            queued: Vec::new(),
            task,
        };
        self.insert(flow, transport, remote, state);
    }

    /// A connection that is up (accepted).
    pub(crate) fn opened(
        &mut self,
        flow: FlowId,
        transport: Transport,
        remote: SocketAddr,
        opened: OpenedFlow,
    ) {
        let state = FlowState::Open {
            writer: opened.writer,
            reader: opened.reader,
        };
        self.insert(flow, transport, remote, state);
    }

    fn insert(&mut self, flow: FlowId, transport: Transport, remote: SocketAddr, state: FlowState) {
        self.flows.insert(
            flow,
            Flow {
                transport,
                remote,
                state,
            },
        );
    }

    /// A connecting flow is up: what waited goes to `writer`, and so will what follows.
    /// False when the flow was closed meanwhile (dropping `writer` ends its task).
    pub(crate) fn connected(&mut self, flow: FlowId, writer: FlowWriter) -> bool {
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
        self.insert(flow, entry.transport, entry.remote, state);
        true
    }

    /// Hands `payload` to `flow`'s writer, or queues it while connecting. False when the
    /// flow is gone or [`FLOW_QUEUE`] messages behind (connecting or not): the caller
    /// fails it, as a connection that far behind is as good as broken.
    pub(crate) fn send(&mut self, flow: FlowId, payload: Bytes) -> bool {
        let Some(entry) = self.flows.get_mut(&flow) else {
            return false;
        };
        match &mut entry.state {
            FlowState::Connecting { queued, .. } if queued.len() >= FLOW_QUEUE => false,
            FlowState::Connecting { queued, .. } => {
                queued.push(payload);
                true
            }
            FlowState::Open { writer, .. } => writer.send(payload).is_ok(),
        }
    }

    /// `flow`'s transport and peer, when it is known.
    pub(crate) fn peer(&self, flow: FlowId) -> Option<(Transport, SocketAddr)> {
        let entry = self.flows.get(&flow)?;
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
        let flow = flow_id();
        let remote: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let mut flows = Flows::new();
        let task = tokio::spawn(std::future::pending());
        flows.connecting(flow, Transport::Tcp, remote, task);
        for _ in 0..FLOW_QUEUE {
            assert!(flows.send(flow, Bytes::from_static(b"OPTIONS")));
        }
        assert!(
            !flows.send(flow, Bytes::from_static(b"OPTIONS")),
            "one past the bound is refused (and the driver fails the flow)"
        );

        // Every message that was let wait fits the writer once connected.
        let (writer, rx) = FlowWriter::channel();
        assert!(flows.connected(flow, writer));
        assert_eq!(rx.len(), FLOW_QUEUE);
        assert!(flows.close(flow));
    }
}
