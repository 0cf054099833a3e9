//! [`CachedMetadata`]: remembers successful key checks for a short time, so the
//! capture path pays for argon2id once per key per TTL rather than per request.
//! Only successes are cached, keyed by the SHA-256 of the key (never the key
//! itself); a revoked key stops working within one TTL.
//!
//! Verifications that miss the cache run at most [`MAX_CONCURRENT_CHECKS`] at a
//! time, and a waiting request looks at the cache again once its turn comes. So a
//! burst of requests with a new key costs one argon2id run (19 MiB, ~50 ms), not
//! one per request — without this, 256 concurrent first requests held GBs.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tally_core::{
    IssuedKey, KeyGrant, KeyKind, MetaError, MetadataStore, PipelineSettings, Project, ProjectId,
};

/// Key checks that may run at once when the cache misses.
pub const MAX_CONCURRENT_CHECKS: usize = 2;

pub struct CachedMetadata {
    inner: Arc<dyn MetadataStore>,
    ttl: Duration,
    grants: RwLock<HashMap<[u8; 32], (KeyGrant, Instant)>>,
    checks: tokio::sync::Semaphore,
}

impl CachedMetadata {
    pub fn new(inner: Arc<dyn MetadataStore>, ttl: Duration) -> Self {
        Self {
            inner,
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
}

#[async_trait]
impl MetadataStore for CachedMetadata {
    async fn create_project(&self, name: &str) -> Result<Project, MetaError> {
        self.inner.create_project(name).await
    }

    async fn get_project(&self, id: ProjectId) -> Result<Option<Project>, MetaError> {
        self.inner.get_project(id).await
    }

    async fn list_projects(&self) -> Result<Vec<Project>, MetaError> {
        self.inner.list_projects().await
    }

    async fn create_key(
        &self,
        project_id: ProjectId,
        kind: KeyKind,
    ) -> Result<IssuedKey, MetaError> {
        self.inner.create_key(project_id, kind).await
    }

    async fn authenticate(&self, presented: &str) -> Result<Option<KeyGrant>, MetaError> {
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
        let grant = self.inner.authenticate(presented).await?;
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

    async fn all_pipeline_settings(&self) -> Result<Vec<(ProjectId, PipelineSettings)>, MetaError> {
        self.inner.all_pipeline_settings().await
    }

    async fn set_pipeline_settings(
        &self,
        project_id: ProjectId,
        settings: PipelineSettings,
    ) -> Result<(), MetaError> {
        self.inner.set_pipeline_settings(project_id, settings).await
    }

    async fn ping(&self) -> Result<(), MetaError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// In-memory metadata for this unit test: one valid key, slow checks, counted.
    struct SlowKeys {
        checks: AtomicUsize,
        running: AtomicUsize,
        most_running: AtomicUsize,
    }

    #[async_trait]
    impl MetadataStore for SlowKeys {
        async fn create_project(&self, _: &str) -> Result<Project, MetaError> {
            unimplemented!("not used")
        }
        async fn get_project(&self, _: ProjectId) -> Result<Option<Project>, MetaError> {
            Ok(None)
        }
        async fn list_projects(&self) -> Result<Vec<Project>, MetaError> {
            Ok(vec![])
        }
        async fn create_key(&self, _: ProjectId, _: KeyKind) -> Result<IssuedKey, MetaError> {
            unimplemented!("not used")
        }
        async fn authenticate(&self, presented: &str) -> Result<Option<KeyGrant>, MetaError> {
            self.checks.fetch_add(1, Ordering::SeqCst);
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_running.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok((presented == "good").then_some(KeyGrant {
                project_id: 1,
                kind: KeyKind::Ingest,
            }))
        }
        async fn all_pipeline_settings(
            &self,
        ) -> Result<Vec<(ProjectId, PipelineSettings)>, MetaError> {
            Ok(vec![])
        }
        async fn set_pipeline_settings(
            &self,
            _: ProjectId,
            _: PipelineSettings,
        ) -> Result<(), MetaError> {
            unimplemented!("not used")
        }
        async fn ping(&self) -> Result<(), MetaError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_burst_with_one_new_key_costs_one_check() {
        let inner = Arc::new(SlowKeys {
            checks: 0.into(),
            running: 0.into(),
            most_running: 0.into(),
        });
        let cache = Arc::new(CachedMetadata::new(inner.clone(), Duration::from_secs(60)));
        let burst: Vec<_> = (0..100)
            .map(|i| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    cache
                        .authenticate(if i % 10 == 0 { "bad" } else { "good" })
                        .await
                })
            })
            .collect();
        for (i, r) in burst.into_iter().enumerate() {
            let grant = r.await.unwrap().unwrap();
            assert_eq!(grant.is_some(), i % 10 != 0);
        }
        // One check for the good key; every bad attempt is checked (failures are not cached).
        assert_eq!(inner.checks.load(Ordering::SeqCst), 1 + 10);
        assert!(inner.most_running.load(Ordering::SeqCst) <= MAX_CONCURRENT_CHECKS);
    }
}
