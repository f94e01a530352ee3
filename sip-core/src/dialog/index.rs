//! Dialog key → dialog id, for every request and response that names a dialog.
//!
//! A dialog id is three strings (Call-ID and two tags); keyed by them, an entry costs about a
//! hundred bytes, which at 100,000 calls is most of a call's share of memory. The index keys
//! by a 64-bit hash of the id instead, from the Endpoint's seeded hasher (peers cannot aim
//! collisions at it), so an entry is 16 bytes. The rare true collision goes to an exact map,
//! and the table confirms that the dialog found really has the key.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use foldhash::quality::FixedState;

use super::DialogKey;

use crate::ids::DialogId;

/// Lookup only: never iterated, so hash order cannot reach output.
#[derive(Debug)]
pub(crate) struct DialogIndex {
    hasher: FixedState,
    by_hash: HashMap<u64, DialogId, FixedState>,
    /// Keys whose hash another dialog already holds.
    collided: BTreeMap<DialogKey, DialogId>,
}

impl DialogIndex {
    /// An empty index hashing with `hasher`.
    pub(crate) fn new(hasher: FixedState) -> Self {
        DialogIndex {
            by_hash: HashMap::with_hasher(hasher.clone()),
            hasher,
            collided: BTreeMap::new(),
        }
    }

    fn hash(&self, key: &DialogKey) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The dialog that may have `key`; the caller checks it.
    pub(crate) fn get(&self, key: &DialogKey) -> Option<DialogId> {
        if !self.collided.is_empty() {
            if let Some(&dialog) = self.collided.get(key) {
                return Some(dialog);
            }
        }
        self.by_hash.get(&self.hash(key)).copied()
    }

    /// Notes that `key` names `dialog`.
    pub(crate) fn insert(&mut self, key: &DialogKey, dialog: DialogId) {
        let hash = self.hash(key);
        match self.by_hash.get(&hash) {
            None => {
                self.by_hash.insert(hash, dialog);
            }
            Some(&owner) if owner == dialog => {}
            Some(_) => {
                self.collided.insert(key.detached(), dialog);
            }
        }
    }

    /// Forgets `key` if `dialog` holds it.
    pub(crate) fn remove(&mut self, key: &DialogKey, dialog: DialogId) {
        if self.collided.get(key) == Some(&dialog) {
            self.collided.remove(key);
            return;
        }
        let hash = self.hash(key);
        if self.by_hash.get(&hash) == Some(&dialog) {
            self.by_hash.remove(&hash);
            crate::shared::shrink_when_sparse(&mut self.by_hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytestring::ByteString;

    use super::*;

    fn id(n: u64) -> DialogId {
        DialogId(std::num::NonZeroU64::new(n).unwrap())
    }

    fn key(n: u32) -> DialogKey {
        DialogKey {
            call_id: ByteString::from(format!("c{n}")),
            local_tag: ByteString::from("l"),
            remote_tag: ByteString::from("r"),
        }
    }

    #[test]
    fn keys_map_to_their_dialogs_and_removal_is_per_owner() {
        let mut index = DialogIndex::new(FixedState::with_seed(7));
        index.insert(&key(1), id(10));
        index.insert(&key(2), id(20));
        assert_eq!(index.get(&key(1)), Some(id(10)));
        index.remove(&key(1), id(20));
        assert_eq!(index.get(&key(1)), Some(id(10)), "only the owner removes");
        index.remove(&key(1), id(10));
        assert_eq!(index.get(&key(1)), None);
        assert_eq!(index.get(&key(2)), Some(id(20)));
    }

    #[test]
    fn a_hash_collision_falls_back_to_the_exact_map() {
        let mut index = DialogIndex::new(FixedState::with_seed(7));
        // Force a collision: put key(2)'s hash under another dialog first.
        let hash = index.hash(&key(2));
        index.by_hash.insert(hash, id(99));
        index.insert(&key(2), id(20));
        assert_eq!(index.get(&key(2)), Some(id(20)));
        index.remove(&key(2), id(20));
        assert_eq!(index.get(&key(2)), Some(id(99)));
    }
}
