//! The entries of the transaction tables: a transaction's machine (client or server,
//! INVITE or not), its key, where its messages go, its armed timers and its owner.

use std::time::Instant;

use bytestring::ByteString;

use crate::locate::Plan;
use crate::message::{Method, Request, Response};
use crate::owner::Owner;
use crate::timer_queue::Armed;
use crate::transport::Route;

use super::{
    Action, ClientInvite, ClientInviteState, ClientKey, ClientNonInvite, ClientNonInviteState, ServerInvite,
    ServerInviteState, ServerKey, ServerNonInvite, ServerNonInviteState, Timer,
};

#[derive(Debug)]
pub(super) struct ClientEntry {
    pub(super) key: ClientKey,
    pub(super) machine: ClientMachine,
    pub(super) route: Route,
    pub(super) armed: Armed<Timer>,
    pub(super) owner: Owner,
    /// For a request located by DNS (RFC 3263): the targets not tried yet, in order (empty
    /// when this is the last). `None` for a request sent to an address.
    // Boxed: 8 bytes in every entry, as most transactions have no plan.
    pub(super) plan: Option<Box<Plan>>,
    /// A response other than 100 Trying arrived: the target took the request in hand, so a
    /// failure now is not the target's to fail over from (RFC 3263 §4.3 retries a target
    /// that failed; 100 is only the next hop's receipt, §17.1.1.2).
    pub(super) heard: bool,
}

/// A client transaction whose request waits for DNS answers before it is first sent.
#[derive(Debug)]
pub(super) struct Locating {
    pub(super) request: Request,
    pub(super) owner: Owner,
    /// The branch already in the request's top Via (a dialog request written with ours),
    /// else a fresh one is drawn when it is sent.
    pub(super) branch: Option<ByteString>,
}

/// The INVITE machine keeps its request (for the ACK and CANCEL), so it is boxed: map
/// entries are sized by their largest variant, and most transactions are non-INVITE.
#[derive(Debug)]
pub(super) enum ClientMachine {
    Invite(Box<ClientInvite>),
    NonInvite(ClientNonInvite),
}

#[derive(Debug)]
pub(super) struct ServerEntry {
    pub(super) armed: Armed<Timer>,
    pub(super) key: ServerKey,
    pub(super) merge_key: Option<MergeKey>,
    pub(super) machine: ServerMachine,
    pub(super) route: Route,
    /// The request, for building responses — until the final response is out: from then
    /// on the transaction only absorbs retransmissions (the machine keeps the bytes it
    /// resends), and keeping the request would keep its whole datagram for 32 s.
    pub(super) request: Option<Request>,
    pub(super) to_tag: String,
    pub(super) owner: Owner,
}

#[derive(Debug)]
pub(super) enum ServerMachine {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

/// RFC 3261 §8.2.2.2: a request without To tag whose From tag, Call-ID and CSeq match a
/// pending one that arrived by another path is a merged request (482).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct MergeKey {
    pub(super) from_tag: ByteString,
    pub(super) call_id: ByteString,
    pub(super) cseq: u32,
    pub(super) method: Method,
}

impl ClientMachine {
    pub(super) fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        match self {
            ClientMachine::Invite(m) => m.on_timer(timer, now, out),
            ClientMachine::NonInvite(m) => m.on_timer(timer, now, out),
        }
    }

    pub(super) fn on_response(&mut self, response: Response, now: Instant, out: &mut Vec<Action>) {
        match self {
            ClientMachine::Invite(m) => m.on_response(response, now, out),
            ClientMachine::NonInvite(m) => m.on_response(response, now, out),
        }
    }

    pub(super) fn on_transport_error(&mut self, out: &mut Vec<Action>) {
        match self {
            ClientMachine::Invite(m) => m.on_transport_error(out),
            ClientMachine::NonInvite(m) => m.on_transport_error(out),
        }
    }

    /// Nothing heard back yet (no provisional either).
    pub(super) fn is_unanswered(&self) -> bool {
        match self {
            ClientMachine::Invite(m) => m.state() == ClientInviteState::Calling,
            ClientMachine::NonInvite(m) => m.state() == ClientNonInviteState::Trying,
        }
    }

    /// Still waiting for a final response.
    pub(super) fn is_pending(&self) -> bool {
        match self {
            ClientMachine::Invite(m) => {
                matches!(
                    m.state(),
                    ClientInviteState::Calling | ClientInviteState::Proceeding
                )
            }
            ClientMachine::NonInvite(m) => {
                matches!(
                    m.state(),
                    ClientNonInviteState::Trying | ClientNonInviteState::Proceeding
                )
            }
        }
    }
}

impl ServerMachine {
    pub(super) fn on_timer(&mut self, timer: Timer, now: Instant, out: &mut Vec<Action>) {
        match self {
            ServerMachine::Invite(m) => m.on_timer(timer, now, out),
            ServerMachine::NonInvite(m) => m.on_timer(timer, now, out),
        }
    }

    pub(super) fn on_retransmission(&mut self, out: &mut Vec<Action>) {
        match self {
            ServerMachine::Invite(m) => m.on_retransmission(out),
            ServerMachine::NonInvite(m) => m.on_retransmission(out),
        }
    }

    pub(super) fn respond(&mut self, response: &Response, now: Instant, out: &mut Vec<Action>) -> bool {
        match self {
            ServerMachine::Invite(m) => m.respond(response, now, out),
            ServerMachine::NonInvite(m) => m.respond(response, now, out),
        }
    }

    pub(super) fn on_transport_error(&mut self, out: &mut Vec<Action>) {
        match self {
            ServerMachine::Invite(m) => m.on_transport_error(out),
            ServerMachine::NonInvite(m) => m.on_transport_error(out),
        }
    }

    /// Has not sent its final response yet.
    pub(super) fn is_pending(&self) -> bool {
        match self {
            ServerMachine::Invite(m) => m.state() == ServerInviteState::Proceeding,
            ServerMachine::NonInvite(m) => {
                matches!(
                    m.state(),
                    ServerNonInviteState::Trying | ServerNonInviteState::Proceeding
                )
            }
        }
    }
}
