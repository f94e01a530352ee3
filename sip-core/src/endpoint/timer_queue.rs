//! One ordered structure of `(deadline, owner, timer)` for every timer of the Endpoint, so
//! `poll_timeout` is O(log n) and firing touches only what is due.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::transaction::Timer;

use super::{TransactionId, Wakeup};

/// Every armed timer, ordered by deadline. Ordered set only: iteration order reaches output.
/// Each transaction remembers its own armed timers in an [`Armed`], which is how a timer is
/// found again to be re-armed or cancelled without a second index.
///
/// Deadlines are kept as signed nanoseconds from the first deadline ever set (`origin`):
/// comparing two `i64`s is much cheaper than comparing two `Instant`s, and the set is compared on
/// every insert and removal.
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    origin: Option<Instant>,
    by_deadline: BTreeSet<(i64, TransactionId, Timer)>,
}

/// The timers one transaction has armed. No machine arms more than two at once (A+B, E+F,
/// G+H); a third would replace the earliest, which keeps memory bounded if a machine ever did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Armed([Option<(Timer, Instant)>; 2]);

impl TimerQueue {
    /// `at` as a key: signed nanoseconds from the origin (the first deadline ever set;
    /// later ones may come before it).
    fn key(&mut self, at: Instant) -> i64 {
        let origin = *self.origin.get_or_insert(at);
        offset(origin, at)
    }

    /// The key of `at` without setting the origin (for removals of armed timers, which
    /// exist only once the origin does).
    fn existing_key(&self, at: Instant) -> i64 {
        self.origin.map_or(0, |origin| offset(origin, at))
    }

    /// A key back as the instant it stands for.
    fn instant(&self, key: i64) -> Option<Instant> {
        let origin = self.origin?;
        let magnitude = std::time::Duration::from_nanos(key.unsigned_abs());
        if key >= 0 {
            origin.checked_add(magnitude)
        } else {
            origin.checked_sub(magnitude)
        }
    }

    /// Arms (or re-arms) `timer` of `owner` at `at`.
    pub(crate) fn set(&mut self, owner: TransactionId, armed: &mut Armed, timer: Timer, at: Instant) {
        self.cancel(owner, armed, timer);
        let slot = match armed.0.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                let earliest = usize::from(armed.0[1].map(|(_, b)| b) < armed.0[0].map(|(_, a)| a));
                if let Some((old, old_at)) = armed.0.get(earliest).copied().flatten() {
                    let old_key = self.existing_key(old_at);
                    self.by_deadline.remove(&(old_key, owner, old));
                }
                earliest
            }
        };
        if let Some(entry) = armed.0.get_mut(slot) {
            *entry = Some((timer, at));
        }
        let key = self.key(at);
        self.by_deadline.insert((key, owner, timer));
    }

    /// Disarms one timer of `owner`.
    pub(crate) fn cancel(&mut self, owner: TransactionId, armed: &mut Armed, timer: Timer) {
        for entry in &mut armed.0 {
            if let Some((t, at)) = *entry {
                if t == timer {
                    let key = self.existing_key(at);
                    self.by_deadline.remove(&(key, owner, t));
                    *entry = None;
                }
            }
        }
    }

    /// Forgets every timer of `owner`.
    pub(crate) fn clear(&mut self, owner: TransactionId, armed: &mut Armed) {
        for entry in &mut armed.0 {
            if let Some((timer, at)) = entry.take() {
                let key = self.existing_key(at);
                self.by_deadline.remove(&(key, owner, timer));
            }
        }
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline
            .first()
            .and_then(|&(key, _, _)| self.instant(key))
    }

    /// The earliest deadline with its owner and timer.
    pub(crate) fn next_wakeup(&self) -> Option<Wakeup> {
        let &(key, transaction, timer) = self.by_deadline.first()?;
        Some(Wakeup {
            at: self.instant(key)?,
            transaction,
            timer,
        })
    }

    /// Removes and returns the earliest timer if it is due at `now`; the caller forgets it
    /// in the owner's [`Armed`] with [`Armed::fired`].
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(TransactionId, Timer)> {
        let &(key, owner, timer) = self.by_deadline.first()?;
        if self.instant(key)? > now {
            return None;
        }
        self.by_deadline.remove(&(key, owner, timer));
        Some((owner, timer))
    }

    /// The number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.by_deadline.len()
    }
}

/// Signed nanoseconds from `origin` to `at` (±292 years).
fn offset(origin: Instant, at: Instant) -> i64 {
    match at.checked_duration_since(origin) {
        Some(ahead) => i64::try_from(ahead.as_nanos()).unwrap_or(i64::MAX),
        None => i64::try_from(origin.duration_since(at).as_nanos()).map_or(i64::MIN, |n| -n),
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
    fn a_deadline_before_the_first_one_still_fires_first() {
        let (mut queue, t0) = (TimerQueue::default(), Instant::now() + Duration::from_secs(100));
        let (mut late, mut early) = (Armed::default(), Armed::default());
        queue.set(
            TransactionId(1),
            &mut late,
            Timer::B,
            t0 + Duration::from_secs(32),
        );
        queue.set(
            TransactionId(2),
            &mut early,
            Timer::A,
            t0 + Duration::from_millis(500),
        );
        assert_eq!(queue.next_deadline(), Some(t0 + Duration::from_millis(500)));
        assert_eq!(queue.pop_due(t0), None);
        assert_eq!(
            queue.pop_due(t0 + Duration::from_secs(1)),
            Some((TransactionId(2), Timer::A))
        );
        queue.cancel(TransactionId(1), &mut late, Timer::B);
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
