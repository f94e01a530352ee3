//! A call's event queue: bounded, filled by the driver without ever waiting, read by the
//! call's handle. The policy for a full queue is documented on [`Call`](crate::Call).

use sip_core::call::CallEvent;
use tokio::sync::mpsc;

/// Events a call's handle may leave unread before newer ones are dropped (besides the slot
/// always kept for [`CallEvent::Terminated`]). A whole ordinary call — state changes,
/// ringing, answer, a few holds, the end — is 10 to 20 events, so a handle that reads
/// even now and then never loses one; a handle that never reads costs at most this many
/// events' memory however long the call lasts.
pub(crate) const DEFAULT_CALL_EVENT_QUEUE: usize = 64;

/// One event as queued: the event, and how many of the call's events were dropped just
/// before it because the queue was full.
#[derive(Debug)]
pub(crate) struct Delivery {
    event: CallEvent,
    dropped_before: u64,
}

/// What became of an event handed to [`CallEventSender::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Queued for the handle.
    Queued,
    /// The queue was full: dropped and counted. `first` for the first drop of the call,
    /// which is worth a log line (later ones are not).
    Dropped { first: bool },
    /// The handle is gone; nobody reads the call's events any more.
    NoListener,
}

/// The driver's end of a call's event queue.
#[derive(Debug)]
pub(crate) struct CallEventSender {
    /// Boxed: tokio's channel allocates its slots 32 at a time when it is made, and 32
    /// events (350 bytes each) would cost every call 11 KB before its first event.
    tx: mpsc::Sender<Box<Delivery>>,
    /// Dropped since the last event queued; reported with the next one.
    pending_drops: u64,
    /// Whether any event of this call was ever dropped.
    overflowed: bool,
}

/// The handle's end of a call's event queue.
#[derive(Debug)]
pub(crate) struct CallEventReceiver {
    rx: mpsc::Receiver<Box<Delivery>>,
    /// Events dropped before the ones returned so far.
    missed: u64,
}

/// A new queue holding up to `capacity` events besides the one slot kept for the end.
pub(crate) fn call_event_queue(capacity: usize) -> (CallEventSender, CallEventReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1).saturating_add(1));
    let sender = CallEventSender {
        tx,
        pending_drops: 0,
        overflowed: false,
    };
    (sender, CallEventReceiver { rx, missed: 0 })
}

impl CallEventSender {
    /// Queues an event of a live call without waiting, or drops and counts it when only
    /// the slot kept for the call's end is left.
    pub(crate) fn send(&mut self, event: CallEvent) -> Sent {
        if self.tx.is_closed() {
            return Sent::NoListener;
        }
        // The driver is the only sender, so the free capacity can only grow between this
        // check and the send: the last slot stays free for `finish`.
        if self.tx.capacity() <= 1 {
            return self.drop_one();
        }
        let delivery = Box::new(Delivery {
            event,
            dropped_before: self.pending_drops,
        });
        match self.tx.try_send(delivery) {
            Ok(()) => {
                self.pending_drops = 0;
                Sent::Queued
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Sent::NoListener,
            // Cannot happen (checked above), but were it to, it is a drop like any other.
            Err(mpsc::error::TrySendError::Full(_)) => self.drop_one(),
        }
    }

    /// Queues the call's last event ([`CallEvent::Terminated`]) in the slot kept for it,
    /// so it is never lost to a full queue. Dropping the sender afterwards ends the
    /// handle's stream once it has read everything.
    pub(crate) fn finish(self, event: CallEvent) {
        let delivery = Box::new(Delivery {
            event,
            dropped_before: self.pending_drops,
        });
        // Fails only when the handle is gone: nobody to tell.
        let _ = self.tx.try_send(delivery);
    }

    fn drop_one(&mut self) -> Sent {
        self.pending_drops += 1;
        let first = !self.overflowed;
        self.overflowed = true;
        Sent::Dropped { first }
    }
}

impl CallEventReceiver {
    /// The next event; `None` after the last one (or when the driver stopped).
    pub(crate) async fn recv(&mut self) -> Option<CallEvent> {
        let Delivery {
            event,
            dropped_before,
        } = *self.rx.recv().await?;
        self.missed += dropped_before;
        Some(event)
    }

    /// Events dropped before the ones returned so far.
    pub(crate) fn missed(&self) -> u64 {
        self.missed
    }

    /// Events waiting to be read.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.rx.len()
    }
}

#[cfg(test)]
mod tests {
    use sip_core::call::{EndReason, Side};

    use super::*;

    fn hold() -> CallEvent {
        CallEvent::Hold { by: Side::Remote }
    }

    fn terminated() -> CallEvent {
        CallEvent::Terminated {
            reason: EndReason::RemoteBye,
            history: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_new_events_but_keeps_a_slot_for_the_end() {
        let (mut tx, mut rx) = call_event_queue(3);
        for _ in 0..3 {
            assert_eq!(tx.send(hold()), Sent::Queued);
        }
        assert_eq!(tx.send(hold()), Sent::Dropped { first: true });
        for _ in 0..99 {
            assert_eq!(tx.send(hold()), Sent::Dropped { first: false });
        }
        assert_eq!(rx.queued(), 3, "the queue holds its capacity, no more");
        tx.finish(terminated());
        assert_eq!(rx.queued(), 4, "the end always fits");

        for _ in 0..3 {
            assert!(matches!(rx.recv().await, Some(CallEvent::Hold { .. })));
            assert_eq!(rx.missed(), 0, "nothing was dropped before these");
        }
        assert!(matches!(rx.recv().await, Some(CallEvent::Terminated { .. })));
        assert_eq!(
            rx.missed(),
            100,
            "the drops are reported with the next event queued"
        );
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn drops_are_reported_where_they_happened() {
        let (mut tx, mut rx) = call_event_queue(1);
        assert_eq!(tx.send(hold()), Sent::Queued);
        assert_eq!(tx.send(hold()), Sent::Dropped { first: true });
        assert!(rx.recv().await.is_some());
        assert_eq!(rx.missed(), 0);
        // Read one: room again. The next event carries the one dropped before it.
        assert_eq!(tx.send(CallEvent::Unhold { by: Side::Remote }), Sent::Queued);
        assert!(matches!(rx.recv().await, Some(CallEvent::Unhold { .. })));
        assert_eq!(rx.missed(), 1);
    }

    #[tokio::test]
    async fn a_dropped_handle_is_not_an_overflow() {
        let (mut tx, rx) = call_event_queue(1);
        drop(rx);
        assert_eq!(tx.send(hold()), Sent::NoListener);
        assert_eq!(tx.send(hold()), Sent::NoListener);
        tx.finish(terminated());
    }
}
