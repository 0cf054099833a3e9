//! Assembling the embedded deployment: DuckDB events, SQLite metadata, the
//! spooled sink (capture is durable in `DATA_DIR/spool` before it is
//! acknowledged), the router — and the first-start bootstrap.

use crate::config::Config;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally_core::EventSink;
use tally_core::{Clock, KeyScope, Limits, MetadataStore, NewUser, ProjectId};
use tally_duckdb::{DuckDb, DuckDbConfig};
use tally_meta::{KeyCache, PostgresMeta, SettingsCache, SqliteMeta};
use tally_pipeline::enrich::geo::GeoIp;
use tally_pipeline::{ProcessConfig, Processor, SpoolConfig, SpooledSink};
use tally_server::client_ip::IpHasher;
use tally_server::live::{LiveFeed, PublishingStore};
use tally_server::rate_limit::AuthRateLimit;
use tally_server::rate_limit::CaptureRateLimit;
use tally_server::{AccountSettings, AppState, BodyBudget, EdgeSettings};
use tokio::net::TcpListener;

/// What the first start writes to `DATA_DIR/bootstrap.json` (mode 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bootstrap {
    pub project_id: ProjectId,
    pub api_key: String,
    pub admin_token: String,
}

pub const BOOTSTRAP_FILE: &str = "bootstrap.json";

/// The stores of one data dir.
pub struct Stores {
    pub events: DuckDb,
    pub meta: Arc<dyn MetadataStore>,
}

/// The metadata store: PostgreSQL when `metadata_url` is set, else SQLite in the
/// data dir (which must exist).
pub async fn open_metadata(config: &Config) -> anyhow::Result<Arc<dyn MetadataStore>> {
    Ok(match &config.metadata_url {
        Some(url) => Arc::new(
            PostgresMeta::connect(url)
                .await
                .context("connecting to the PostgreSQL metadata store (metadata_url)")?,
        ),
        None => Arc::new(
            SqliteMeta::open(&config.data_dir.join("meta.sqlite"))
                .await
                .context("opening metadata store")?,
        ),
    })
}

pub async fn open_stores(config: &Config) -> anyhow::Result<Stores> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let meta = open_metadata(config).await?;
    let mut duck = DuckDbConfig::in_dir(&config.data_dir);
    duck.memory_limit = config.duckdb_memory_limit.clone();
    duck.checkpoint_threshold = Some(config.duckdb_checkpoint_threshold.clone());
    duck.threads = config.duckdb_threads;
    duck.timeline_cache_bytes = config.timeline_cache_mb << 20;
    let events = tokio::task::spawn_blocking(move || DuckDb::open(&duck))
        .await?
        .context("opening event store")?;
    Ok(Stores { events, meta })
}

/// On a data dir with no project, creates the first user (a superuser nobody has
/// claimed yet: no email, no password), the `default` project it owns, the
/// project's ingest key and the user's personal key — the admin token — and
/// writes them to `bootstrap.json`. First-run setup (`POST /api/v1/setup` or
/// `tally admin create-user`) later gives that user an email and password; the
/// admin token stays their personal key. Returns what the file holds, when it
/// exists.
pub async fn bootstrap(
    meta: &dyn MetadataStore,
    data_dir: &Path,
) -> anyhow::Result<Option<Bootstrap>> {
    let path = data_dir.join(BOOTSTRAP_FILE);
    if meta.list_projects().await?.is_empty() {
        let now = chrono::Utc::now();
        let admin_user = meta
            .create_user(
                NewUser {
                    email: None,
                    name: "admin".into(),
                    password_hash: None,
                    is_superuser: true,
                },
                now,
            )
            .await?;
        let project = meta.create_project("default", Some(admin_user.id)).await?;
        let ingest = meta.create_ingest_key(project.id).await?;
        let (_, admin) = meta
            .create_personal_key(admin_user.id, "bootstrap admin token", KeyScope::Write, now)
            .await?;
        let b = Bootstrap {
            project_id: project.id,
            api_key: ingest.plaintext,
            admin_token: admin.plaintext,
        };
        write_private(&path, &serde_json::to_vec_pretty(&b)?)?;
        tracing::info!(path = %path.display(), project_id = project.id, "created the default project; its keys are in bootstrap.json");
        return Ok(Some(b));
    }
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).context("reading bootstrap.json")?,
        )),
        Err(_) => {
            tracing::warn!(path = %path.display(), "bootstrap.json is missing; the keys it held still work");
            Ok(None)
        }
    }
}

/// Writes a file readable by its owner only, atomically (temp file + rename).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The secret that client addresses are hashed with: 32 random bytes in
/// `DATA_DIR/ip-hash.key` (mode 0600), made on first start and kept, so a
/// visitor's hash stays stable within a day across restarts.
fn ip_hash_secret(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = data_dir.join("ip-hash.key");
    match std::fs::read(&path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            write_private(&path, &secret)?;
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A built app, ready to serve on its listener.
pub struct App {
    pub router: axum::Router,
    pub listener: TcpListener,
    pub port: u16,
    pub bootstrap: Option<Bootstrap>,
    pub data_dir: PathBuf,
    pub events: DuckDb,
    pub sink: Arc<SpooledSink>,
}

/// Where the capture spool lives inside the data dir.
pub const SPOOL_DIR: &str = "spool";

/// How long shutdown waits for the spool to drain into the store. Whatever is
/// left is stored at the next start.
const SHUTDOWN_DRAIN_WAIT: Duration = Duration::from_secs(30);

/// The operator's GeoIP database if configured (an unreadable one stops start-up:
/// the operator asked for it), else the embedded country database.
fn load_geoip(config: &Config) -> anyhow::Result<Option<Arc<GeoIp>>> {
    let geoip = match &config.geoip_db {
        Some(path) => Some(GeoIp::open(path).with_context(|| "loading --geoip-db")?),
        None => GeoIp::embedded().context("loading the embedded GeoIP database")?,
    };
    match &geoip {
        Some(g) => tracing::info!(source = g.source(), "GeoIP database loaded"),
        None => tracing::warn!(
            "no GeoIP database: this build embeds none (npm was unavailable when it was built) \
             and --geoip-db is not set; events get no country"
        ),
    }
    Ok(geoip.map(Arc::new))
}

/// How long a successful key check is remembered; also how long a key revoked
/// on another node may keep working here.
const KEY_CACHE_TTL: Duration = Duration::from_secs(60);

/// How often project settings are re-read, for changes made by another Tally
/// process on the same metadata store; this process's own changes apply at once.
const SETTINGS_REFRESH: Duration = Duration::from_secs(30);

fn spawn_settings_refresh(settings: std::sync::Weak<SettingsCache>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SETTINGS_REFRESH).await;
            // Ends once the app that owns the settings is gone.
            let Some(settings) = settings.upgrade() else {
                break;
            };
            if let Err(err) = settings.refresh().await {
                tracing::warn!(%err, "re-reading project settings failed; keeping the last ones");
            }
        }
    });
}

/// How often hours with new events are rolled up, and how long after an hour
/// ends it is first rolled up (events of the last minutes keep arriving; every
/// later one is handled too, it only costs another pass).
const ROLLUP_EVERY: Duration = Duration::from_secs(30);
const ROLLUP_AFTER_HOUR_ENDS: chrono::Duration = chrono::Duration::minutes(2);

/// Keeps the hourly rollups current (`DuckDb::compact_rollups`) while the app lives.
fn spawn_rollup_compaction(events: tally_duckdb::WeakDuckDb, clock: Arc<dyn Clock>) {
    tokio::spawn(async move {
        loop {
            let Some(db) = events.upgrade() else {
                break;
            };
            let sealed_before = clock.now() - ROLLUP_AFTER_HOUR_ENDS;
            let started = std::time::Instant::now();
            match tokio::task::spawn_blocking(move || db.compact_rollups(Some(sealed_before))).await
            {
                Ok(Ok(0)) => {}
                Ok(Ok(hours)) => {
                    tracing::info!(
                        hours,
                        ms = started.elapsed().as_millis() as u64,
                        "rolled up hours"
                    )
                }
                Ok(Err(err)) => {
                    tracing::warn!(%err, "rolling up hours failed; queries read raw events")
                }
                Err(err) => tracing::warn!(%err, "rollup task failed"),
            }
            tokio::time::sleep(ROLLUP_EVERY).await;
        }
    });
}

/// Binds the listener, opens the stores, bootstraps, and builds the router.
pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    let listener = TcpListener::bind((config.bind, config.port))
        .await
        .with_context(|| format!("binding {}:{}", config.bind, config.port))?;
    let port = listener.local_addr()?.port();
    let stores = open_stores(config).await?;
    let bootstrap = bootstrap(stores.meta.as_ref(), &config.data_dir).await?;
    if let Some(id) = config.tlytics_project {
        if stores.meta.get_project(id).await?.is_none() {
            anyhow::bail!("tlytics_project {id} is not a project of this Tally");
        }
        tracing::info!(project_id = id, "Tlytics routes write to this project");
    }
    let settings = Arc::new(
        SettingsCache::load(stores.meta.clone())
            .await
            .context("loading project settings")?,
    );
    spawn_settings_refresh(Arc::downgrade(&settings));
    spawn_rollup_compaction(stores.events.downgrade(), clock.clone());
    // Before serving: whatever an earlier run acknowledged but did not store yet
    // is stored now, so the first query already sees it.
    let live = Arc::new(LiveFeed::default());
    let (sink, _recovery) = SpooledSink::start(
        Arc::new(PublishingStore::new(
            Arc::new(stores.events.clone()),
            live.clone(),
        )),
        SpoolConfig {
            max_queued_bytes: config.max_queued_mb * 1024 * 1024,
            store_linger: std::time::Duration::from_millis(config.store_linger_ms),
            admission_wait: std::time::Duration::from_millis(config.queue_wait_ms),
            // The spool drains through the processing stage into DuckDB;
            // persons live in the same database.
            processor: Some(Arc::new(
                Processor::new(ProcessConfig {
                    sensitive_params: config.sensitive_url_params.clone(),
                })
                .with_persons(Arc::new(stores.events.clone()))
                .with_switches(settings.clone()),
            )),
            ..SpoolConfig::in_dir(config.data_dir.join(SPOOL_DIR))
        },
    )
    .await
    .context("recovering the capture spool")?;
    let sink = Arc::new(sink);
    let state = AppState {
        meta: stores.meta,
        key_cache: Arc::new(KeyCache::new(KEY_CACHE_TTL)),
        accounts: Arc::new(AccountSettings {
            allow_signup: config.allow_signup,
            cookie_secure: config.cookie_secure,
            ingest_key_grace: chrono::Duration::seconds(i64::from(config.ingest_key_grace_secs)),
            ..AccountSettings::default()
        }),
        auth_limit: Arc::new(AuthRateLimit::new(config.auth_rate_limit)),
        live,
        edge: Arc::new(EdgeSettings {
            api_cors_origins: config.api_cors_origins.clone(),
            hsts: config.hsts,
        }),
        sink: sink.clone(),
        store: Arc::new(stores.events.clone()),
        query: Arc::new(stores.events.clone()),
        clock,
        limits: Arc::new(Limits {
            // Both bounded by `Config::validate`.
            max_future_skew: chrono::Duration::seconds(
                i64::try_from(config.max_future_skew_secs).unwrap_or(0),
            ),
            max_event_age: config
                .max_event_age_days
                .map(|d| chrono::Duration::days(i64::from(d))),
            out_of_range: config.out_of_range_timestamps,
            ..Limits::default()
        }),
        body_budget: Arc::new(BodyBudget::new(config.max_body_memory_mb * 1024 * 1024)),
        capture_limit: Arc::new(CaptureRateLimit::new(config.capture_rate_limit)),
        trusted_proxies: config.trusted_proxies.clone().into(),
        ip_hasher: Arc::new(IpHasher::new(ip_hash_secret(&config.data_dir)?)),
        geoip: load_geoip(config)?,
        settings: settings.clone(),
        tlytics_project: config.tlytics_project,
        port,
        started: Instant::now(),
    };
    Ok(App {
        router: tally_server::router(state),
        listener,
        port,
        bootstrap,
        data_dir: config.data_dir.clone(),
        events: stores.events,
        sink,
    })
}

impl App {
    /// Serves until `shutdown` resolves, then finishes in-flight requests (whose
    /// events are in the spool before they are answered), lets the spool drain
    /// into the store, and checkpoints the store.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(port = self.port, data_dir = %self.data_dir.display(), "tally is serving");
        // Connection info gives capture the client's address (it keeps a hash).
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        self.sink.settle(SHUTDOWN_DRAIN_WAIT).await;
        let events = self.events.clone();
        tokio::task::spawn_blocking(move || events.checkpoint()).await??;
        Ok(())
    }
}
