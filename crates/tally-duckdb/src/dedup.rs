//! Exactly-once storage of `(project_id, uuid)`, without an index in DuckDB.
//!
//! The writer keeps a set of 64-bit fingerprints of every stored key (8 bytes
//! each plus hash-table overhead), rebuilt from the table at start-up. A
//! fingerprint miss proves an event is new. A hit is only "maybe": the writer
//! then asks the table for the exact keys, so a fingerprint collision can never
//! drop a genuine event. Hits are rare (real re-sends), so the exact look-up costs
//! nothing on the normal path.

use foldhash::fast::FixedState;
use std::collections::HashSet;
use std::hash::BuildHasher;
use uuid::Uuid;

pub type Key = (i64, Uuid);

/// The fingerprints' own hash: they are hashes already, spread over all 64 bits.
pub type FingerprintSet = HashSet<u64, foldhash::fast::RandomState>;

pub fn fingerprint(key: &Key) -> u64 {
    // A fixed seed: the same key always gives the same fingerprint within a
    // build, which is all the set needs (it is rebuilt at every start).
    // foldhash, not SipHash: this runs for every stored event and every
    // event at start-up, and a collision only costs an exact look-up.
    FixedState::with_seed(0x7461_6c6c_7964_6475).hash_one(key)
}

#[derive(Debug, Default)]
pub struct DedupIndex {
    seen: FingerprintSet,
}

impl DedupIndex {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            seen: FingerprintSet::with_capacity_and_hasher(n, Default::default()),
        }
    }

    /// Whether a key with this fingerprint may be stored (`false`: it is not).
    pub fn may_contain_fingerprint(&self, fingerprint: u64) -> bool {
        self.seen.contains(&fingerprint)
    }

    pub fn insert(&mut self, key: &Key) {
        self.insert_fingerprint(fingerprint(key));
    }

    /// [`insert`](Self::insert) of a key whose fingerprint is known.
    pub fn insert_fingerprint(&mut self, fingerprint: u64) {
        self.seen.insert(fingerprint);
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }
}
