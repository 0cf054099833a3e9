//! Exactly-once storage of `(project_id, uuid)`, without an index in DuckDB.
//!
//! The writer keeps a set of 64-bit fingerprints of every stored key (8 bytes
//! each plus hash-table overhead), rebuilt from the table at start-up. A
//! fingerprint miss proves an event is new. A hit is only "maybe": the writer
//! then asks the table for the exact keys, so a fingerprint collision can never
//! drop a genuine event. Hits are rare (real re-sends), so the exact look-up costs
//! nothing on the normal path.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use uuid::Uuid;

pub type Key = (i64, Uuid);

pub fn fingerprint(key: &Key) -> u64 {
    // DefaultHasher::new() is SipHash with fixed keys: the same key always gives the
    // same fingerprint within a build, which is all the set needs (it is rebuilt at
    // every start).
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

#[derive(Debug, Default)]
pub struct DedupIndex {
    seen: HashSet<u64>,
}

impl DedupIndex {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            seen: HashSet::with_capacity(n),
        }
    }

    pub fn may_contain(&self, key: &Key) -> bool {
        self.seen.contains(&fingerprint(key))
    }

    pub fn insert(&mut self, key: &Key) {
        self.seen.insert(fingerprint(key));
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }
}
