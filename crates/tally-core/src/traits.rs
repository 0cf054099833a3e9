//! The seams between layers. The HTTP layer holds these as `Arc<dyn Trait>`, so a
//! Kafka sink, a ClickHouse store or a PostgreSQL metadata store slot in without
//! touching it.

use crate::error::{MetaError, SinkError, StoreError};
use crate::event::{Event, ProjectId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

/// Where capture hands validated events. `send` returns only once the events are
/// durable: a caller may acknowledge them to the client as soon as it returns `Ok`.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    async fn send(&self, events: Vec<Event>) -> Result<SinkReceipt, SinkError>;

    /// Waits, at most `max_wait`, until every event acknowledged before the call
    /// can be read back from the event store. A sink that stores before it
    /// acknowledges has nothing to wait for.
    async fn settle(&self, max_wait: std::time::Duration) {
        let _ = max_wait;
    }
}

/// What a sink did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkReceipt {
    /// Events now durable. Re-sent events count as accepted: they are stored once.
    pub accepted: usize,
}

/// Durable event storage. Inserting is idempotent on `(project_id, uuid)`: an event
/// already stored is skipped, so a re-sent event is never counted twice.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Stores the batch atomically and durably; returns after the data is on disk.
    /// Shared, so that a caller can retry the same batch without copying it.
    async fn insert_batch(&self, events: Arc<[Event]>) -> Result<InsertOutcome, StoreError>;
    /// Answers `Ok` when the store can serve reads and writes.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// What an insert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    pub inserted: usize,
    pub duplicates: usize,
}

/// A project: the unit of tenancy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Public: ships in web pages and apps; can only write events.
    Ingest,
    /// Secret: reads the project's data through the query API.
    Admin,
}

/// A freshly issued key; the plaintext is shown once and only its hash is stored.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub project_id: ProjectId,
    pub kind: KeyKind,
    pub plaintext: String,
}

/// What a presented key grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyGrant {
    pub project_id: ProjectId,
    pub kind: KeyKind,
}

/// A project's switches for the processing pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PipelineSettings {
    /// Drop events from bots at processing instead of storing them flagged
    /// (`is_bot`) and leaving them out of answers. Off by default.
    pub drop_bots: bool,
    /// Use client addresses at all: GeoIP and the daily address hash. On by
    /// default; off, capture neither locates nor hashes addresses.
    pub use_ip: bool,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            drop_bots: false,
            use_ip: true,
        }
    }
}

/// The current pipeline settings of each project, readable without waiting
/// (capture and the processing stage ask for every request / batch).
pub trait ProjectSwitches: Send + Sync + 'static {
    /// A project without stored settings gets the defaults.
    fn pipeline_settings(&self, project_id: ProjectId) -> PipelineSettings;
}

/// Projects and credentials.
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    async fn create_project(&self, name: &str) -> Result<Project, MetaError>;
    async fn get_project(&self, id: ProjectId) -> Result<Option<Project>, MetaError>;
    async fn list_projects(&self) -> Result<Vec<Project>, MetaError>;
    /// Issues a new random key for the project; stores only its argon2id hash.
    async fn create_key(
        &self,
        project_id: ProjectId,
        kind: KeyKind,
    ) -> Result<IssuedKey, MetaError>;
    /// Checks a presented key; `None` when it is unknown, revoked or wrong.
    async fn authenticate(&self, presented: &str) -> Result<Option<KeyGrant>, MetaError>;
    /// Every project's pipeline settings. `NotFound` never: projects without
    /// changes answer the defaults.
    async fn all_pipeline_settings(&self) -> Result<Vec<(ProjectId, PipelineSettings)>, MetaError>;
    /// Replaces a project's pipeline settings; `NotFound` for an unknown project.
    async fn set_pipeline_settings(
        &self,
        project_id: ProjectId,
        settings: PipelineSettings,
    ) -> Result<(), MetaError>;
    async fn ping(&self) -> Result<(), MetaError>;
}
