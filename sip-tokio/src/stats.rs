//! What [`UserAgent::stats`](crate::UserAgent::stats) reports.

use sip_core::endpoint::Stats;

/// The agent's counters and what is live now, at the moment of asking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentStats {
    /// The Endpoint's counters since it started: messages received and sent,
    /// retransmissions, parse errors (`invalid`), dropped messages, REFERs sent and
    /// received, transfers, and per call (`calls`) INVITE and BYE totals, successful and
    /// failed calls, replaces operations.
    pub counters: Stats,
    /// Dialogs live now.
    pub dialogs: usize,
    /// Calls live now.
    pub calls: usize,
    /// Transactions live now.
    pub transactions: usize,
    /// Subscriptions live now (REFERs' included).
    pub subscriptions: usize,
    /// Registrations live now.
    pub registrations: usize,
    /// Connections open now.
    pub connections: usize,
}
