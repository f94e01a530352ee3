//! One ordered structure of `(deadline, owner, timer)` for every timer of the Endpoint, so
//! `poll_timeout` is O(log n) and firing touches only what is due.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::transaction::Timer;

use super::{TransactionId, Wakeup};

/// Every armed timer, ordered by deadline. Ordered set only: iteration order reaches output.
/// Each transaction remembers its own armed timers in an [`Armed`], which is how a timer is
/// found again to be re-armed or cancelled without a second index.
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    by_deadline: BTreeSet<(Instant, TransactionId, Timer)>,
}

/// The timers one transaction has armed. No machine arms more than two at once (A+B, E+F,
/// G+H); a third would replace the earliest, which keeps memory bounded if a machine ever did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Armed([Option<(Timer, Instant)>; 2]);

impl TimerQueue {
    /// Arms (or re-arms) `timer` of `owner` at `at`.
    pub(crate) fn set(&mut self, owner: TransactionId, armed: &mut Armed, timer: Timer, at: Instant) {
        self.cancel(owner, armed, timer);
        let slot = match armed.0.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                let earliest = usize::from(armed.0[1].map(|(_, b)| b) < armed.0[0].map(|(_, a)| a));
                if let Some((old, old_at)) = armed.0.get(earliest).copied().flatten() {
                    self.by_deadline.remove(&(old_at, owner, old));
                }
                earliest
            }
        };
        if let Some(entry) = armed.0.get_mut(slot) {
            *entry = Some((timer, at));
        }
        self.by_deadline.insert((at, owner, timer));
    }

    /// Disarms one timer of `owner`.
    pub(crate) fn cancel(&mut self, owner: TransactionId, armed: &mut Armed, timer: Timer) {
        for entry in &mut armed.0 {
            if let Some((t, at)) = *entry {
                if t == timer {
                    self.by_deadline.remove(&(at, owner, t));
                    *entry = None;
                }
            }
        }
    }

    /// Forgets every timer of `owner`.
    pub(crate) fn clear(&mut self, owner: TransactionId, armed: &mut Armed) {
        for entry in &mut armed.0 {
            if let Some((timer, at)) = entry.take() {
                self.by_deadline.remove(&(at, owner, timer));
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

    /// Removes and returns the earliest timer if it is due at `now`; the caller forgets it
    /// in the owner's [`Armed`] with [`Armed::fired`].
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(TransactionId, Timer)> {
        let &(at, owner, timer) = self.by_deadline.first()?;
        if at > now {
            return None;
        }
        self.by_deadline.remove(&(at, owner, timer));
        Some((owner, timer))
    }

    /// The number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.by_deadline.len()
    }
}

impl Armed {
    /// `timer` fired (it was already taken out of the queue).
    pub(crate) fn fired(&mut self, timer: Timer) {
        for entry in &mut self.0 {
            if entry.is_some_and(|(t, _)| t == timer) {
                *entry = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn re_arming_replaces_and_cancelling_removes() {
        let (mut queue, mut armed, t0) = (TimerQueue::default(), Armed::default(), Instant::now());
        let tx = TransactionId(1);
        queue.set(tx, &mut armed, Timer::E, t0 + Duration::from_millis(500));
        queue.set(tx, &mut armed, Timer::F, t0 + Duration::from_secs(32));
        queue.set(tx, &mut armed, Timer::E, t0 + Duration::from_millis(1500));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.next_deadline(), Some(t0 + Duration::from_millis(1500)));
        queue.cancel(tx, &mut armed, Timer::E);
        assert_eq!(queue.next_deadline(), Some(t0 + Duration::from_secs(32)));
        queue.clear(tx, &mut armed);
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn a_third_timer_replaces_the_earliest_so_memory_stays_bounded() {
        let (mut queue, mut armed, t0) = (TimerQueue::default(), Armed::default(), Instant::now());
        let tx = TransactionId(7);
        queue.set(tx, &mut armed, Timer::G, t0 + Duration::from_secs(1));
        queue.set(tx, &mut armed, Timer::H, t0 + Duration::from_secs(32));
        queue.set(tx, &mut armed, Timer::I, t0 + Duration::from_secs(5));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.pop_due(t0 + Duration::from_secs(10)), Some((tx, Timer::I)));
    }
}
