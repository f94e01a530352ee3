//! What the Endpoint says about its timers.

use std::time::Instant;

use crate::call::CallTimer;
use crate::ids::{CallId, TransactionId};
use crate::transaction::Timer;

/// When and why the Endpoint wants to be woken (see [`Endpoint::poll_timeout`](crate::Endpoint::poll_timeout)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wakeup {
    /// The deadline.
    pub at: Instant,
    /// The timer behind it.
    pub timer: TimerId,
}

/// One armed timer: whose it is and which. The Endpoint keeps every timer — transaction
/// and usage timers alike — in one queue ordered by deadline and then by this id, so at
/// equal deadlines transaction timers fire before call timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TimerId {
    /// A transaction timer (RFC 3261 §17, Table 4).
    Transaction {
        /// The transaction.
        transaction: TransactionId,
        /// The timer.
        timer: Timer,
    },
    /// A timer of a call (an invite session).
    Call {
        /// The call.
        call: CallId,
        /// The timer.
        timer: CallTimer,
    },
}
