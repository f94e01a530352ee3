//! One ordered structure of `(deadline, key)` for every timer of an Endpoint — transaction
//! timers and usage timers alike — so `poll_timeout` is O(log n), says why it wants to be
//! woken, and firing touches only what is due.
//!
//! The queue does not know what its keys mean: a key is the owner of a timer and which timer
//! it is (the Endpoint's keys name a transaction or a call). Owners remember their own armed
//! timers and deadlines ([`Armed`], or a list of their own), which is how a timer is found
//! again to be re-armed or cancelled without a second index.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::call::CallTimer;
use crate::ids::{CallId, DnsQueryId, FlowId, RegistrationId, SubscriptionId, TransactionId};
use crate::registration::RegistrationTimer;
use crate::subscription::SubscriptionTimer;
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
    /// A timer of a subscription.
    Subscription {
        /// The subscription.
        subscription: SubscriptionId,
        /// The timer.
        timer: SubscriptionTimer,
    },
    /// A timer of a registration.
    Registration {
        /// The registration.
        registration: RegistrationId,
        /// The timer.
        timer: RegistrationTimer,
    },
    /// A connection's liveness timer: the idle timeout, or the deadline to finish a
    /// message once its first byte arrived.
    Flow {
        /// The connection.
        flow: FlowId,
    },
    /// A DNS question's deadline (RFC 3263 server location): unanswered by then, it failed.
    Dns {
        /// The question.
        query: DnsQueryId,
    },
}

/// A deadline as the queue keeps it: signed nanoseconds from the queue's origin. Owners
/// keep this, not the `Instant` (8 bytes, not 16: every live transaction keeps two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Deadline(i64);

/// Every armed timer, ordered by deadline, then by key. An ordered set only: its order
/// reaches output (which timer fires first).
///
/// Deadlines are kept as signed nanoseconds from the first deadline ever set (`origin`):
/// comparing two `i64`s is much cheaper than comparing two `Instant`s, and the set compares on
/// every insert and removal.
#[derive(Debug)]
pub(crate) struct TimerQueue<K> {
    origin: Option<Instant>,
    by_deadline: BTreeSet<(i64, K)>,
}

impl<K> Default for TimerQueue<K> {
    fn default() -> Self {
        TimerQueue {
            origin: None,
            by_deadline: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Copy> TimerQueue<K> {
    /// `at` as a deadline key: signed nanoseconds from the origin (the first deadline ever
    /// set; later ones may come before it).
    fn key(&mut self, at: Instant) -> i64 {
        let origin = *self.origin.get_or_insert(at);
        offset(origin, at)
    }

    /// A deadline key back as the instant it stands for.
    fn instant(&self, key: i64) -> Option<Instant> {
        let origin = self.origin?;
        let magnitude = Duration::from_nanos(key.unsigned_abs());
        if key >= 0 {
            origin.checked_add(magnitude)
        } else {
            origin.checked_sub(magnitude)
        }
    }

    /// Arms `key` at `at`; the owner keeps the returned deadline to disarm it again.
    pub(crate) fn insert(&mut self, at: Instant, key: K) -> Deadline {
        let deadline = self.key(at);
        self.by_deadline.insert((deadline, key));
        Deadline(deadline)
    }

    /// Disarms `key`, armed for `deadline`.
    pub(crate) fn remove(&mut self, deadline: Deadline, key: K) {
        self.by_deadline.remove(&(deadline.0, key));
    }

    /// The instant `deadline` stands for.
    pub(crate) fn instant_of(&self, deadline: Deadline) -> Option<Instant> {
        self.instant(deadline.0)
    }

    /// The earliest deadline and its key.
    pub(crate) fn first(&self) -> Option<(Instant, K)> {
        let &(deadline, key) = self.by_deadline.first()?;
        Some((self.instant(deadline)?, key))
    }

    /// Removes and returns the earliest timer if it is due at `now`; its owner forgets it.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &(deadline, key) = self.by_deadline.first()?;
        if self.instant(deadline)? > now {
            return None;
        }
        self.by_deadline.remove(&(deadline, key));
        Some(key)
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

/// The timers one owner has armed, at most two at once (no transaction machine arms more:
/// A+B, E+F, G+H); a third replaces the earliest, which keeps memory bounded if an owner
/// ever did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Armed<T>([Option<(T, Deadline)>; 2]);

impl<T> Default for Armed<T> {
    fn default() -> Self {
        Armed([None, None])
    }
}

impl<T: Copy + Eq> Armed<T> {
    /// Arms (or re-arms) `timer` at `at` in `queue`, under the key `key(timer)`.
    pub(crate) fn set<K: Ord + Copy>(
        &mut self,
        queue: &mut TimerQueue<K>,
        key: impl Fn(T) -> K,
        timer: T,
        at: Instant,
    ) {
        self.cancel(queue, &key, timer);
        let slot = match self.0.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                let earliest = usize::from(self.0[1].map(|(_, b)| b) < self.0[0].map(|(_, a)| a));
                if let Some((old, old_at)) = self.0.get(earliest).copied().flatten() {
                    queue.remove(old_at, key(old));
                }
                earliest
            }
        };
        let deadline = queue.insert(at, key(timer));
        if let Some(entry) = self.0.get_mut(slot) {
            *entry = Some((timer, deadline));
        }
    }

    /// Disarms `timer`.
    pub(crate) fn cancel<K: Ord + Copy>(
        &mut self,
        queue: &mut TimerQueue<K>,
        key: impl Fn(T) -> K,
        timer: T,
    ) {
        for entry in &mut self.0 {
            if let Some((armed, at)) = *entry {
                if armed == timer {
                    queue.remove(at, key(armed));
                    *entry = None;
                }
            }
        }
    }

    /// Disarms every timer.
    pub(crate) fn clear<K: Ord + Copy>(&mut self, queue: &mut TimerQueue<K>, key: impl Fn(T) -> K) {
        for entry in &mut self.0 {
            if let Some((timer, at)) = entry.take() {
                queue.remove(at, key(timer));
            }
        }
    }

    /// `timer` fired (the queue already let go of it).
    pub(crate) fn fired(&mut self, timer: T) {
        for entry in &mut self.0 {
            if entry.is_some_and(|(t, _)| t == timer) {
                *entry = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Key = (u64, Timer);

    fn of(owner: u64) -> impl Fn(Timer) -> Key {
        move |timer| (owner, timer)
    }

    #[test]
    fn re_arming_replaces_and_cancelling_removes() {
        let (mut queue, mut armed, t0) = (TimerQueue::<Key>::default(), Armed::default(), Instant::now());
        armed.set(&mut queue, of(1), Timer::E, t0 + Duration::from_millis(500));
        armed.set(&mut queue, of(1), Timer::F, t0 + Duration::from_secs(32));
        armed.set(&mut queue, of(1), Timer::E, t0 + Duration::from_millis(1500));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.first().map(|f| f.0), Some(t0 + Duration::from_millis(1500)));
        armed.cancel(&mut queue, of(1), Timer::E);
        assert_eq!(queue.first().map(|f| f.0), Some(t0 + Duration::from_secs(32)));
        armed.clear(&mut queue, of(1));
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn a_deadline_before_the_first_one_still_fires_first() {
        let (mut queue, t0) = (
            TimerQueue::<Key>::default(),
            Instant::now() + Duration::from_secs(100),
        );
        let (mut late, mut early) = (Armed::default(), Armed::default());
        late.set(&mut queue, of(1), Timer::B, t0 + Duration::from_secs(32));
        early.set(&mut queue, of(2), Timer::A, t0 + Duration::from_millis(500));
        assert_eq!(queue.first().map(|f| f.0), Some(t0 + Duration::from_millis(500)));
        assert_eq!(queue.pop_due(t0), None);
        assert_eq!(queue.pop_due(t0 + Duration::from_secs(1)), Some((2, Timer::A)));
        late.cancel(&mut queue, of(1), Timer::B);
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn a_third_timer_replaces_the_earliest_so_memory_stays_bounded() {
        let (mut queue, mut armed, t0) = (TimerQueue::<Key>::default(), Armed::default(), Instant::now());
        armed.set(&mut queue, of(7), Timer::G, t0 + Duration::from_secs(1));
        armed.set(&mut queue, of(7), Timer::H, t0 + Duration::from_secs(32));
        armed.set(&mut queue, of(7), Timer::I, t0 + Duration::from_secs(5));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.pop_due(t0 + Duration::from_secs(10)), Some((7, Timer::I)));
    }

    #[test]
    fn equal_deadlines_fire_in_key_order() {
        let (mut queue, t0) = (TimerQueue::<Key>::default(), Instant::now());
        queue.insert(t0, (9, Timer::A));
        queue.insert(t0, (3, Timer::K));
        assert_eq!(queue.pop_due(t0), Some((3, Timer::K)));
        assert_eq!(queue.pop_due(t0), Some((9, Timer::A)));
    }
}
