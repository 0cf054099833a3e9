//! [`CachedMetadata`]: remembers successful key checks for a short time, so the
//! capture path pays for argon2id once per key per TTL rather than per request.
//! Only successes are cached, keyed by the SHA-256 of the key (never the key
//! itself); a revoked key stops working within one TTL.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tally_core::{IssuedKey, KeyGrant, KeyKind, MetaError, MetadataStore, Project, ProjectId};

pub struct CachedMetadata {
    inner: Arc<dyn MetadataStore>,
    ttl: Duration,
    grants: RwLock<HashMap<[u8; 32], (KeyGrant, Instant)>>,
}

impl CachedMetadata {
    pub fn new(inner: Arc<dyn MetadataStore>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            grants: RwLock::new(HashMap::new()),
        }
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
        let now = Instant::now();
        if let Some((grant, at)) = self.grants.read().expect("cache lock").get(&digest) {
            if now.duration_since(*at) < self.ttl {
                return Ok(Some(*grant));
            }
        }
        let grant = self.inner.authenticate(presented).await?;
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

    async fn ping(&self) -> Result<(), MetaError> {
        self.inner.ping().await
    }
}
