//! One ordered structure of `(deadline, owner, timer)` for every timer of the Endpoint, so
//! `poll_timeout` is O(log n) and firing touches only what is due.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::transaction::Timer;

use super::{TransactionId, Wakeup};

/// Timers keyed by deadline, with a side index so re-arming or forgetting a transaction's
/// timer is O(log n) too. Ordered maps only: iteration order reaches output.
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    by_deadline: BTreeSet<(Instant, TransactionId, Timer)>,
    armed: BTreeMap<(TransactionId, Timer), Instant>,
}

impl TimerQueue {
    /// Arms (or re-arms) `timer` of `owner` at `at`.
    pub(crate) fn set(&mut self, owner: TransactionId, timer: Timer, at: Instant) {
        if let Some(previous) = self.armed.insert((owner, timer), at) {
            self.by_deadline.remove(&(previous, owner, timer));
        }
        self.by_deadline.insert((at, owner, timer));
    }

    /// Disarms one timer of `owner`.
    pub(crate) fn cancel(&mut self, owner: TransactionId, timer: Timer) {
        if let Some(at) = self.armed.remove(&(owner, timer)) {
            self.by_deadline.remove(&(at, owner, timer));
        }
    }

    /// Forgets every timer of `owner`.
    pub(crate) fn clear(&mut self, owner: TransactionId) {
        let keys: Vec<(TransactionId, Timer)> = self
            .armed
            .range((owner, Timer::A)..=(owner, Timer::M))
            .map(|(key, _)| *key)
            .collect();
        for key in keys {
            if let Some(at) = self.armed.remove(&key) {
                self.by_deadline.remove(&(at, key.0, key.1));
            }
        }
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(at, _, _)| *at)
    }

    /// The earliest deadline with its owner and timer.
    pub(crate) fn next_wakeup(&self) -> Option<Wakeup> {
        self.by_deadline.first().map(|&(at, transaction, timer)| Wakeup {
            at,
            transaction,
            timer,
        })
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(TransactionId, Timer)> {
        let &(at, owner, timer) = self.by_deadline.first()?;
        if at > now {
            return None;
        }
        self.by_deadline.remove(&(at, owner, timer));
        self.armed.remove(&(owner, timer));
        Some((owner, timer))
    }

    /// The number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.by_deadline.len()
    }
}
