//! How many stateless answers one source address may draw from us: a token bucket per
//! address (RFC 3261 lets a UAS answer statelessly; a flood with a forged source must not
//! turn that into a stream aimed at someone else).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// Answers one source may get at once.
const BURST: u32 = 20;
/// Answers one source may get per second, once its burst is spent.
const PER_SECOND: u32 = 10;
/// Sources remembered at most. A new one past this clears the table: the memory stays
/// bounded, and forgetting only makes us briefly more lenient.
const MAX_SOURCES: usize = 4096;
/// Tokens are counted in thousandths, so refilling needs no floating point.
const ONE: u32 = 1000;

/// Token buckets by source address (lookup only: never iterated, so hash order cannot reach
/// output; hashed with the Endpoint's seeded hasher, so peers cannot aim collisions).
#[derive(Debug)]
pub(crate) struct StatelessBudget {
    sources: HashMap<IpAddr, Bucket, foldhash::quality::FixedState>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Thousandths of an answer.
    tokens: u32,
    at: Instant,
}

impl StatelessBudget {
    pub(crate) fn new(hasher: foldhash::quality::FixedState) -> Self {
        StatelessBudget {
            sources: HashMap::with_hasher(hasher),
        }
    }

    /// True when `source` may get one more stateless answer at `now` (and counts it).
    pub(crate) fn allow(&mut self, now: Instant, source: IpAddr) -> bool {
        if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&source) {
            self.sources.clear();
        }
        let bucket = self.sources.entry(source).or_insert(Bucket {
            tokens: BURST * ONE,
            at: now,
        });
        let elapsed_ms = now.saturating_duration_since(bucket.at).as_millis();
        let refill = u32::try_from(elapsed_ms.saturating_mul(u128::from(PER_SECOND))).unwrap_or(u32::MAX);
        bucket.tokens = bucket.tokens.saturating_add(refill).min(BURST * ONE);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= ONE {
            bucket.tokens -= ONE;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let mut budget = StatelessBudget::new(foldhash::quality::FixedState::with_seed(1));
        let (t0, a, b) = (
            Instant::now(),
            IpAddr::from([192, 0, 2, 1]),
            IpAddr::from([192, 0, 2, 2]),
        );
        assert_eq!((0..100).filter(|_| budget.allow(t0, a)).count(), BURST as usize);
        assert!(budget.allow(t0, b), "another source has its own budget");
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            (0..100).filter(|_| budget.allow(later, a)).count(),
            PER_SECOND as usize
        );
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut budget = StatelessBudget::new(foldhash::quality::FixedState::with_seed(1));
        let t0 = Instant::now();
        for n in 0..20_000u32 {
            budget.allow(t0, IpAddr::from(n.to_be_bytes()));
        }
        assert!(budget.sources.len() <= MAX_SOURCES);
    }
}
