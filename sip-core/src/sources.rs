//! How much of a table each peer address holds, so that no one address can fill it: a
//! flood from one host meets its share and leaves the rest for everyone else.

use std::collections::HashMap;
use std::net::IpAddr;

/// Entries held per peer IP address (lookup only, never iterated; keyed with the
/// Endpoint's seeded hasher, so a peer cannot aim for collisions).
#[derive(Debug)]
pub(crate) struct SourceCounts(HashMap<IpAddr, u32, foldhash::quality::FixedState>);

impl SourceCounts {
    pub(crate) fn new(hasher: foldhash::quality::FixedState) -> Self {
        SourceCounts(HashMap::with_hasher(hasher))
    }

    /// How many entries `source` holds.
    pub(crate) fn get(&self, source: IpAddr) -> usize {
        self.0.get(&source).map_or(0, |&n| n as usize)
    }

    /// `source` took one more.
    pub(crate) fn add(&mut self, source: IpAddr) {
        let count = self.0.entry(source).or_insert(0);
        *count = count.saturating_add(1);
    }

    /// `source` let one go; an address holding none is forgotten.
    pub(crate) fn remove(&mut self, source: IpAddr) {
        if let Some(count) = self.0.get_mut(&source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.0.remove(&source);
                crate::shared::shrink_when_sparse(&mut self.0);
            }
        }
    }
}
