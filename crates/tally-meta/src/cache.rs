//! [`KeyCache`]: remembers successful key checks for a short time, so the
//! capture path pays for argon2id once per key per TTL rather than per request.
//! Only successes are cached, keyed by the SHA-256 of the key (never the key
//! itself). Revoking a key, rotating ingest keys or deactivating a user calls
//! [`KeyCache::forget_all`] on this node; on other nodes a revoked key stops
//! working within one TTL.
//!
//! Verifications that miss the cache run at most [`MAX_CONCURRENT_CHECKS`] at a
//! time, and a waiting request looks at the cache again once its turn comes. So a
//! burst of requests with a new key costs one argon2id run (19 MiB, ~50 ms), not
//! one per request — without this, 256 concurrent first requests held GBs.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use tally_core::{KeyGrant, MetaError};

/// Key checks that may run at once when the cache misses.
pub const MAX_CONCURRENT_CHECKS: usize = 2;

pub struct KeyCache {
    ttl: Duration,
    grants: RwLock<HashMap<[u8; 32], (KeyGrant, Instant)>>,
    checks: tokio::sync::Semaphore,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            grants: RwLock::new(HashMap::new()),
            checks: tokio::sync::Semaphore::new(MAX_CONCURRENT_CHECKS),
        }
    }

    fn cached(&self, digest: &[u8; 32]) -> Option<KeyGrant> {
        let grants = self.grants.read().expect("cache lock");
        let (grant, at) = grants.get(digest)?;
        (at.elapsed() < self.ttl).then_some(*grant)
    }

    /// The grant of `presented`: from the cache, or from `check` (the metadata
    /// store's verification), whose success is then remembered.
    pub async fn authenticate<F, Fut>(
        &self,
        presented: &str,
        check: F,
    ) -> Result<Option<KeyGrant>, MetaError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<KeyGrant>, MetaError>>,
    {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if let Some(grant) = self.cached(&digest) {
            return Ok(Some(grant));
        }
        let _turn = self
            .checks
            .acquire()
            .await
            .map_err(|e| MetaError::Internal(e.to_string()))?;
        if let Some(grant) = self.cached(&digest) {
            return Ok(Some(grant));
        }
        let grant = check().await?;
        let now = Instant::now();
        let mut grants = self.grants.write().expect("cache lock");
        match grant {
            Some(g) => {
                grants.insert(digest, (g, now));
            }
            None => {
                grants.remove(&digest);
            }
        }
        Ok(grant)
    }

    /// Drops every remembered grant, after a change that may withdraw one.
    pub fn forget_all(&self) {
        self.grants.write().expect("cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts slow checks of one valid key.
    #[derive(Default)]
    struct SlowKeys {
        checks: AtomicUsize,
        running: AtomicUsize,
        most_running: AtomicUsize,
    }

    impl SlowKeys {
        async fn check(&self, presented: &str) -> Result<Option<KeyGrant>, MetaError> {
            self.checks.fetch_add(1, Ordering::SeqCst);
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_running.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok((presented == "good").then_some(KeyGrant::Ingest { project_id: 1 }))
        }
    }

    #[tokio::test]
    async fn a_burst_with_one_new_key_costs_at_most_one_check_per_slot() {
        let keys = Arc::new(SlowKeys::default());
        let cache = Arc::new(KeyCache::new(Duration::from_secs(60)));
        let burst: Vec<_> = (0..100)
            .map(|i| {
                let (cache, keys) = (cache.clone(), keys.clone());
                tokio::spawn(async move {
                    let key = if i % 10 == 0 { "bad" } else { "good" };
                    cache.authenticate(key, || keys.check(key)).await
                })
            })
            .collect();
        for (i, r) in burst.into_iter().enumerate() {
            let grant = r.await.unwrap().unwrap();
            assert_eq!(grant.is_some(), i % 10 != 0);
        }
        // Every bad attempt is checked (failures are not cached); the good key at
        // most once per check slot (two first requests may both miss the cache),
        // not once for each of its 90 requests.
        let checks = keys.checks.load(Ordering::SeqCst);
        assert!(
            (10 + 1..=10 + MAX_CONCURRENT_CHECKS).contains(&checks),
            "{checks}"
        );
        assert!(keys.most_running.load(Ordering::SeqCst) <= MAX_CONCURRENT_CHECKS);
    }

    #[tokio::test]
    async fn forgetting_makes_the_next_request_check_again() {
        let keys = SlowKeys::default();
        let cache = KeyCache::new(Duration::from_secs(60));
        for _ in 0..3 {
            cache
                .authenticate("good", || keys.check("good"))
                .await
                .unwrap();
        }
        assert_eq!(keys.checks.load(Ordering::SeqCst), 1);
        cache.forget_all();
        cache
            .authenticate("good", || keys.check("good"))
            .await
            .unwrap();
        assert_eq!(keys.checks.load(Ordering::SeqCst), 2);
    }
}
