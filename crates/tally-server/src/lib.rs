//! The axum application: capture and query routes, key authentication, health,
//! and the single mapping from errors to HTTP responses (`error.rs`). It holds
//! every backend as a trait object in [`AppState`], so backends change without
//! touching a route.

mod absent;
mod auth;
pub mod client_ip;
mod cookies;
mod error;
pub mod live;
mod openapi;
pub mod rate_limit;
mod routes;

pub use absent::NoEventStore;
pub use error::ApiError;
pub use openapi::ApiDoc;
pub use routes::account::MIN_PASSWORD;

use axum::Router;
use std::sync::Arc;
use std::time::Instant;
use tally_core::{
    Clock, EventSink, EventStore, Limits, MetadataStore, ProjectId, SessionLifetimes,
};
use tally_query::QueryEngine;

/// Everything a request handler may use.
#[derive(Clone)]
pub struct AppState {
    pub meta: Arc<dyn MetadataStore>,
    /// Recent successful key checks (argon2id is slow on purpose).
    pub key_cache: Arc<tally_meta::KeyCache>,
    /// Sign-up, cookies, session lifetimes, lockout, key rotation.
    pub accounts: Arc<AccountSettings>,
    /// Requests per minute per address on the auth routes.
    pub auth_limit: Arc<rate_limit::AuthRateLimit>,
    /// CORS for the API and HSTS.
    pub edge: Arc<EdgeSettings>,
    /// Stored events for the live stream, and its tickets.
    pub live: Arc<live::LiveFeed>,
    pub sink: Arc<dyn EventSink>,
    pub store: Arc<dyn EventStore>,
    pub query: Arc<dyn QueryEngine>,
    pub clock: Arc<dyn Clock>,
    pub limits: Arc<Limits>,
    /// Bytes of request bodies being read or decoded at once, across all capture
    /// requests. With the sink's queue budget this bounds capture's memory.
    pub body_budget: Arc<BodyBudget>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// Turns client addresses into the daily hashes that are kept of them.
    pub ip_hasher: Arc<client_ip::IpHasher>,
    /// Each project's pipeline switches (use IP, drop bots).
    pub settings: Arc<tally_meta::SettingsCache>,
    /// Locates client addresses before they are hashed; `None`: no GeoIP.
    pub geoip: Option<Arc<tally_pipeline::enrich::geo::GeoIp>>,
    /// Events per second each project may capture.
    pub capture_limit: Arc<rate_limit::CaptureRateLimit>,
    /// The project Tlytics clients (which send no key) write to and read from;
    /// `None` turns the Tlytics routes off.
    pub tlytics_project: Option<ProjectId>,
    /// The port the server listens on, reported by `/health`.
    pub port: u16,
    pub started: Instant,
    /// What this node serves (`tally serve --role`) and what `/ready` checks.
    pub node: Arc<NodeRoles>,
}

/// A readiness check beyond the stores (a Kafka worker's lag, say): `Err` says
/// why the node is not ready.
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Which routes a node serves and what its `/ready` checks. The embedded
/// deployment serves everything ([`NodeRoles::all`]).
#[derive(Clone)]
pub struct NodeRoles {
    /// The capture routes (native, PostHog, Segment, Tlytics) and `/sdk.js`.
    pub capture: bool,
    /// The query API, dashboard, accounts and the live stream.
    pub api: bool,
    /// An event store is open on this node: `/ready` pings it.
    pub event_store: bool,
    /// Further checks, each named in `/ready`'s answer.
    pub checks: Vec<(&'static str, ReadyCheck)>,
}

impl NodeRoles {
    pub fn all() -> Self {
        Self {
            capture: true,
            api: true,
            event_store: true,
            checks: Vec::new(),
        }
    }
}

/// What the server tells browsers about other origins and TLS.
#[derive(Debug, Clone, Default)]
pub struct EdgeSettings {
    /// Origins (e.g. a dashboard served elsewhere) whose pages may call the API
    /// with credentials; empty: same-origin only. Capture routes are open to any
    /// origin regardless (each project limits its own with `allowed_origins`).
    pub api_cors_origins: Vec<String>,
    /// Send `Strict-Transport-Security`: only when TLS terminates in front of
    /// Tally (a browser would otherwise refuse plain HTTP to this host for a year).
    pub hsts: bool,
}

/// How accounts behave on this server.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// Anyone may register (`POST /api/v1/auth/register`); off: only
    /// superusers and `tally admin create-user` make accounts.
    pub allow_signup: bool,
    /// Session cookies carry `Secure` (sent over HTTPS only; browsers also send
    /// them to http://localhost). Turn off only for plain HTTP on other hosts.
    pub cookie_secure: bool,
    pub sessions: SessionLifetimes,
    /// Failed logins in a row that lock an account, and for how long.
    pub max_failed_logins: i64,
    pub lockout: chrono::Duration,
    /// How long a rotated-out ingest key keeps working, unless the rotation asks
    /// for another grace.
    pub ingest_key_grace: chrono::Duration,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            allow_signup: true,
            cookie_secure: true,
            sessions: SessionLifetimes::default(),
            max_failed_logins: 5,
            lockout: chrono::Duration::minutes(15),
            ingest_key_grace: chrono::Duration::hours(24),
        }
    }
}

/// How long a read waits for acknowledged events to become queryable. Under a
/// normal load the spool's drain stores events within milliseconds, so a client
/// reads its own writes; when the drain is far behind, answers come after this
/// wait with what is stored, rather than not at all.
pub const READ_AFTER_WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl AppState {
    /// The query engine, once events acknowledged before this call are stored
    /// (or [`READ_AFTER_WRITE_WAIT`] has passed).
    pub async fn query_after_writes(&self) -> &dyn QueryEngine {
        self.sink.settle(READ_AFTER_WRITE_WAIT).await;
        self.query.as_ref()
    }
}

/// A byte budget for capture bodies in flight; see [`AppState::body_budget`].
pub struct BodyBudget {
    permits: Arc<tokio::sync::Semaphore>,
    unit: usize,
    total_units: usize,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        let unit = 64 * 1024;
        let total_units = (bytes / unit).max(1);
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(total_units)),
            unit,
            total_units,
        }
    }

    /// Reserves room for a body of `bytes`, or `None` when the budget is spent.
    pub fn try_reserve(&self, bytes: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let units = (bytes / self.unit + 1).min(self.total_units);
        Arc::clone(&self.permits)
            .try_acquire_many_owned(u32::try_from(units).unwrap_or(u32::MAX))
            .ok()
    }
}

/// Builds the router with every route and middleware.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}
