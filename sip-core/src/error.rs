//! Errors shared by several layers.

use crate::ids::TransactionId;

/// Caller misuse of a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No live transaction has this id (it terminated, or never existed here).
    #[error("no such transaction {0}")]
    UnknownTransaction(TransactionId),
    /// The transaction's state does not allow this (e.g. a second final response).
    #[error("transaction {0} does not accept this now")]
    InvalidState(TransactionId),
    /// The request lacks something the transaction layer needs.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The transaction limit is reached.
    #[error("too many transactions")]
    TooManyTransactions,
    /// The connection limit is reached.
    #[error("too many connections")]
    TooManyFlows,
    /// The target cannot be located (RFC 3263): no host, a transport that is not enabled,
    /// a `sips:` URI with an insecure transport, or no DNS records leading anywhere.
    #[error("cannot reach {0}")]
    Unreachable(String),
}
