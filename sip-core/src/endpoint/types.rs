//! What the Endpoint says about its timers.

use std::time::Instant;

use crate::ids::TransactionId;
use crate::transaction::Timer;

/// When and why the Endpoint wants to be woken (see [`Endpoint::poll_timeout`](crate::Endpoint::poll_timeout)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wakeup {
    /// The deadline.
    pub at: Instant,
    /// The transaction whose timer it is.
    pub transaction: TransactionId,
    /// The timer.
    pub timer: Timer,
}
