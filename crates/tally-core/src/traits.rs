//! The seams between layers. The HTTP layer holds these as `Arc<dyn Trait>`, so a
//! Kafka sink, a ClickHouse store or a PostgreSQL metadata store slot in without
//! touching it.

use crate::account::{
    Invite, InviteId, IssuedSession, KeyScope, LoginRecord, Member, NewUser, PersonalKey,
    PersonalKeyId, ProjectOptions, RefreshOutcome, Role, SessionGrant, SessionId, SessionLifetimes,
    User, UserId,
};
use crate::error::{MetaError, SinkError, StoreError};
use crate::event::{Event, EventBatch, ProjectId};
use crate::insight::{Dashboard, DashboardId, Insight, InsightDraft, InsightId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

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
    async fn insert_batch(&self, events: EventBatch) -> Result<InsertOutcome, StoreError>;
    /// The part of inserting `events` that needs no writer (encoding them in the
    /// store's own format, say), for a caller with a pipeline to run while the
    /// batch before is being inserted; hand the result to [`Self::insert_prepared`]
    /// with the same events. `None`: nothing to do ahead.
    fn prepare(&self, events: &[Event]) -> Option<PreparedBatch> {
        let _ = events;
        None
    }
    /// [`Self::insert_batch`], given what [`Self::prepare`] returned for these
    /// very events (`None` does all the work here).
    async fn insert_prepared(
        &self,
        events: EventBatch,
        prepared: Option<PreparedBatch>,
    ) -> Result<InsertOutcome, StoreError> {
        let _ = prepared;
        self.insert_batch(events).await
    }
    /// Answers `Ok` when the store can serve reads and writes.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Deletes every stored event, person and definition of the project (a
    /// deleted project's data); returns how many events went.
    async fn delete_project(&self, project_id: ProjectId) -> Result<u64, StoreError>;
}

/// A batch encoded by one store's [`EventStore::prepare`]; only that store reads it.
pub type PreparedBatch = Box<dyn std::any::Any + Send>;

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

/// The two kinds of key, told apart by their prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Public: ships in web pages and apps; can only write events, to one project.
    Ingest,
    /// Secret: a user's personal API key; acts as that user (read or read/write).
    Personal,
}

/// A freshly issued key; the plaintext is shown once and only its hash is stored.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub kind: KeyKind,
    pub plaintext: String,
}

/// What a presented key grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyGrant {
    /// Write events to this project.
    Ingest { project_id: ProjectId },
    /// Act as this user, within the scope.
    Personal {
        user_id: UserId,
        key_id: PersonalKeyId,
        scope: KeyScope,
    },
}

impl KeyGrant {
    /// The project an ingest key writes to; `None` for a personal key.
    pub fn ingest_project(&self) -> Option<ProjectId> {
        match self {
            Self::Ingest { project_id } => Some(*project_id),
            Self::Personal { .. } => None,
        }
    }
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

/// Projects, users, memberships and credentials. Every method is one atomic
/// change or one consistent read. Time-dependent methods take `now` so that
/// expiry and lockout follow the server's clock (and tests' fixed clocks).
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    // ---- projects ----
    /// Creates a project; with an owner, that user becomes its `owner` member.
    async fn create_project(&self, name: &str, owner: Option<UserId>)
        -> Result<Project, MetaError>;
    async fn get_project(&self, id: ProjectId) -> Result<Option<Project>, MetaError>;
    /// Every project, oldest first.
    async fn list_projects(&self) -> Result<Vec<Project>, MetaError>;
    /// The projects a user is a member of, oldest first, with the user's role.
    async fn projects_of_user(&self, user_id: UserId) -> Result<Vec<(Project, Role)>, MetaError>;
    async fn rename_project(&self, id: ProjectId, name: &str) -> Result<(), MetaError>;
    /// Deletes the project, its keys and memberships (its events are the event
    /// store's to delete).
    async fn delete_project(&self, id: ProjectId) -> Result<(), MetaError>;
    async fn project_options(&self, id: ProjectId) -> Result<ProjectOptions, MetaError>;
    async fn set_project_options(
        &self,
        id: ProjectId,
        options: &ProjectOptions,
    ) -> Result<(), MetaError>;

    // ---- members ----
    async fn role_of(
        &self,
        project_id: ProjectId,
        user_id: UserId,
    ) -> Result<Option<Role>, MetaError>;
    /// Adds the user or changes their role.
    async fn set_member(
        &self,
        project_id: ProjectId,
        user_id: UserId,
        role: Role,
    ) -> Result<(), MetaError>;
    /// `NotFound` when the user was not a member.
    async fn remove_member(&self, project_id: ProjectId, user_id: UserId) -> Result<(), MetaError>;
    async fn members(&self, project_id: ProjectId) -> Result<Vec<Member>, MetaError>;

    // ---- invitations ----
    /// Invites `email` into the project with `role` until `expires_at`; returns
    /// the invitation and its token (plaintext, shown once; stored as a digest).
    async fn create_invite(
        &self,
        project_id: ProjectId,
        email: &str,
        role: Role,
        invited_by: UserId,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(Invite, String), MetaError>;
    /// The project's invitations not yet accepted, revoked or expired.
    async fn pending_invites(
        &self,
        project_id: ProjectId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Invite>, MetaError>;
    /// `NotFound` unless the invitation is the project's and still pending.
    async fn revoke_invite(
        &self,
        project_id: ProjectId,
        invite_id: InviteId,
    ) -> Result<(), MetaError>;
    /// The pending invitation a token stands for.
    async fn invite(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Invite>, MetaError>;
    /// Spends a pending invitation: the user becomes a member with its role (or
    /// keeps a higher one). `NotFound` for an unknown, spent, revoked or expired
    /// token. Checking that the user's email is the invited one is the caller's.
    async fn accept_invite(
        &self,
        token: &str,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Invite, MetaError>;

    // ---- keys ----
    /// Issues a new random ingest key; stores only its argon2id hash.
    async fn create_ingest_key(&self, project_id: ProjectId) -> Result<IssuedKey, MetaError>;
    /// Issues a new ingest key; the project's current ones keep working until
    /// `now + grace`, then stop.
    async fn rotate_ingest_key(
        &self,
        project_id: ProjectId,
        grace: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<IssuedKey, MetaError>;
    async fn create_personal_key(
        &self,
        user_id: UserId,
        name: &str,
        scope: KeyScope,
        now: DateTime<Utc>,
    ) -> Result<(PersonalKey, IssuedKey), MetaError>;
    /// A user's keys that are not revoked, newest first.
    async fn personal_keys(&self, user_id: UserId) -> Result<Vec<PersonalKey>, MetaError>;
    /// `NotFound` unless the key is the user's and not yet revoked.
    async fn revoke_personal_key(
        &self,
        user_id: UserId,
        key_id: PersonalKeyId,
        now: DateTime<Utc>,
    ) -> Result<(), MetaError>;
    /// Checks a presented key; `None` when it is unknown, revoked, expired, wrong,
    /// or its user is deactivated. Records the use of a personal key.
    async fn authenticate(
        &self,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<KeyGrant>, MetaError>;

    // ---- users ----
    /// `Conflict` when the email is taken.
    async fn create_user(&self, user: NewUser, now: DateTime<Utc>) -> Result<User, MetaError>;
    /// Gives the first user, still unclaimed, an email and password, or creates
    /// a first superuser when there is none. `Conflict` once any user has a
    /// password: first-run setup locks itself.
    async fn claim_first_user(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<User, MetaError>;
    /// Whether some user can log in (first-run setup is done).
    async fn setup_complete(&self) -> Result<bool, MetaError>;
    async fn user(&self, id: UserId) -> Result<Option<User>, MetaError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, MetaError>;
    async fn users(&self) -> Result<Vec<User>, MetaError>;
    async fn login_record(&self, email: &str) -> Result<Option<LoginRecord>, MetaError>;
    /// Counts a failed login; at `max_failures` in a row the account locks until
    /// `now + lock_for` and the count starts again. Returns the lock's end when
    /// this failure locked the account.
    async fn record_login_failure(
        &self,
        user_id: UserId,
        max_failures: i64,
        lock_for: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, MetaError>;
    async fn record_login_success(&self, user_id: UserId) -> Result<(), MetaError>;
    async fn set_password(&self, user_id: UserId, password_hash: &str) -> Result<(), MetaError>;
    /// The user's display name; `NotFound` for an unknown user.
    async fn set_user_name(&self, user_id: UserId, name: &str) -> Result<(), MetaError>;
    /// A deactivated user can neither log in nor use a key or session.
    async fn set_user_active(&self, user_id: UserId, active: bool) -> Result<(), MetaError>;
    /// Deletes the user with their memberships, keys and sessions.
    async fn delete_user(&self, user_id: UserId) -> Result<(), MetaError>;

    // ---- browser sessions ----
    async fn create_session(
        &self,
        user_id: UserId,
        lifetimes: SessionLifetimes,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, MetaError>;
    /// The session of a valid access token (not expired, not revoked, user active).
    async fn session(
        &self,
        access_token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionGrant>, MetaError>;
    /// Spends a refresh token for new tokens; see [`RefreshOutcome`].
    async fn refresh_session(
        &self,
        refresh_token: &str,
        lifetimes: SessionLifetimes,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, MetaError>;
    async fn revoke_session(
        &self,
        session_id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<(), MetaError>;
    /// Revokes every session of the user but `keep`.
    async fn revoke_user_sessions(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<(), MetaError>;

    // ---- pipeline settings ----
    /// Every project's pipeline settings. `NotFound` never: projects without
    /// changes answer the defaults.
    async fn all_pipeline_settings(&self) -> Result<Vec<(ProjectId, PipelineSettings)>, MetaError>;
    /// Replaces a project's pipeline settings; `NotFound` for an unknown project.
    async fn set_pipeline_settings(
        &self,
        project_id: ProjectId,
        settings: PipelineSettings,
    ) -> Result<(), MetaError>;
    // ---- saved insights and dashboards (every call names the project: an id of
    // another project's insight or dashboard is `NotFound`) ----
    async fn create_insight(
        &self,
        project_id: ProjectId,
        draft: InsightDraft,
        created_by: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<Insight, MetaError>;
    /// The project's insights, newest first.
    async fn insights(&self, project_id: ProjectId) -> Result<Vec<Insight>, MetaError>;
    async fn insight(
        &self,
        project_id: ProjectId,
        id: InsightId,
    ) -> Result<Option<Insight>, MetaError>;
    async fn update_insight(
        &self,
        project_id: ProjectId,
        id: InsightId,
        draft: InsightDraft,
        now: DateTime<Utc>,
    ) -> Result<Insight, MetaError>;
    /// Deletes the insight and takes it off every dashboard.
    async fn delete_insight(&self, project_id: ProjectId, id: InsightId) -> Result<(), MetaError>;
    async fn create_dashboard(
        &self,
        project_id: ProjectId,
        name: &str,
        created_by: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<Dashboard, MetaError>;
    /// The project's dashboards, by name.
    async fn dashboards(&self, project_id: ProjectId) -> Result<Vec<Dashboard>, MetaError>;
    async fn dashboard(
        &self,
        project_id: ProjectId,
        id: DashboardId,
    ) -> Result<Option<Dashboard>, MetaError>;
    /// Renames the dashboard and/or replaces its tiles (in order). A tile that is
    /// not an insight of the project, or appears twice, is `Invalid`.
    async fn update_dashboard(
        &self,
        project_id: ProjectId,
        id: DashboardId,
        name: Option<&str>,
        tiles: Option<&[InsightId]>,
    ) -> Result<Dashboard, MetaError>;
    async fn delete_dashboard(
        &self,
        project_id: ProjectId,
        id: DashboardId,
    ) -> Result<(), MetaError>;
    /// Makes a new share link for the dashboard, replacing any earlier one (which
    /// stops working); returns the link's token, shown once.
    async fn share_dashboard(
        &self,
        project_id: ProjectId,
        id: DashboardId,
        now: DateTime<Utc>,
    ) -> Result<String, MetaError>;
    /// Ends the dashboard's share link, if any.
    async fn unshare_dashboard(
        &self,
        project_id: ProjectId,
        id: DashboardId,
    ) -> Result<(), MetaError>;
    /// The dashboard a share token opens, if the link is still valid.
    async fn shared_dashboard(&self, token: &str) -> Result<Option<Dashboard>, MetaError>;

    // ---- secrets every node of a deployment shares ----
    /// The secret stored under `name`; the first call stores `candidate`, and
    /// every later call (from any node) gets that first value back.
    async fn shared_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, MetaError>;

    async fn ping(&self) -> Result<(), MetaError>;
}
