//! Assembling a node: the embedded deployment (DuckDB events, SQLite metadata,
//! the spooled sink: capture is durable in `DATA_DIR/spool` before it is
//! acknowledged), or a scale-out node of the roles configured (Kafka producer on
//! capture nodes, Kafka consumer into DuckDB on worker nodes, PostgreSQL
//! metadata shared by all), the router — and the first-start bootstrap.

use crate::config::Config;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally_clickhouse::ClickHouse;
use tally_core::EventSink;
use tally_core::{Clock, KeyScope, Limits, MetadataStore, NewUser, ProjectId};
use tally_duckdb::{DuckDb, DuckDbConfig};
use tally_kafka::{Batching, KafkaSink, KafkaWorker};
use tally_meta::{KeyCache, PostgresMeta, SettingsCache, SqliteMeta};
use tally_pipeline::enrich::geo::GeoIp;
use tally_pipeline::{
    ProcessConfig, Processor, QueueBudget, SpoolConfig, SpooledSink, DEFAULT_STORE_BATCH,
};
use tally_server::client_ip::IpHasher;
use tally_server::live::{LiveFeed, Publish, PublishingStore};
use tally_server::rate_limit::AuthRateLimit;
use tally_server::rate_limit::CaptureRateLimit;
use tally_server::{AccountSettings, AppState, BodyBudget, EdgeSettings, NoEventStore, NodeRoles};
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
    let events = open_events(config).await?;
    Ok(Stores { events, meta })
}

/// The event store a node opens: DuckDB in the data dir (the embedded
/// default), or ClickHouse (`store`), which every worker and API node shares.
#[derive(Clone)]
pub enum EventBackend {
    DuckDb(DuckDb),
    ClickHouse(ClickHouse),
}

impl EventBackend {
    fn store(&self) -> Arc<dyn tally_core::EventStore> {
        match self {
            Self::DuckDb(db) => Arc::new(db.clone()),
            Self::ClickHouse(db) => Arc::new(db.clone()),
        }
    }

    fn query(&self) -> Arc<dyn tally_query::QueryEngine> {
        match self {
            Self::DuckDb(db) => Arc::new(db.clone()),
            Self::ClickHouse(db) => Arc::new(db.clone()),
        }
    }

    fn persons(&self) -> Arc<dyn tally_core::PersonStore> {
        match self {
            Self::DuckDb(db) => Arc::new(db.clone()),
            Self::ClickHouse(db) => Arc::new(db.clone()),
        }
    }

    fn duckdb(&self) -> Option<&DuckDb> {
        match self {
            Self::DuckDb(db) => Some(db),
            Self::ClickHouse(_) => None,
        }
    }
}

/// The node's event store: ClickHouse when `store` is set (migrated at
/// start-up), else DuckDB in the data dir (which must exist).
async fn open_backend(config: &Config) -> anyhow::Result<EventBackend> {
    match config.clickhouse_config()? {
        Some(ch) => {
            tracing::info!(url = %ch.http_url, database = %ch.database, "event store: ClickHouse");
            Ok(EventBackend::ClickHouse(
                ClickHouse::open(&ch)
                    .await
                    .context("opening the ClickHouse event store (store)")?,
            ))
        }
        None => Ok(EventBackend::DuckDb(open_events(config).await?)),
    }
}

/// `tally migrate`: applies the migrations of the event store and the metadata
/// store; says what it did.
pub async fn migrate(config: &Config) -> anyhow::Result<String> {
    let events = match config.clickhouse_config()? {
        Some(ch) => {
            let applied = ClickHouse::migrate(&ch)
                .await
                .context("migrating the ClickHouse event store (store)")?;
            format!(
                "ClickHouse {} database {}: schema version {}{}",
                ch.http_url,
                ch.database,
                tally_clickhouse::latest_version(),
                match applied.as_slice() {
                    [] => " (nothing to apply)".to_owned(),
                    versions => format!(" (applied {versions:?})"),
                }
            )
        }
        None => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
            open_events(config).await?;
            format!("DuckDB in {}: migrated", config.data_dir.display())
        }
    };
    if config.metadata_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    }
    open_metadata(config).await?;
    let meta = match config.metadata_url {
        Some(_) => "PostgreSQL metadata: migrated",
        None => "SQLite metadata: migrated",
    };
    Ok(format!("{events}\n{meta}"))
}

/// The DuckDB event store in the data dir (which must exist).
async fn open_events(config: &Config) -> anyhow::Result<DuckDb> {
    let mut duck = DuckDbConfig::in_dir(&config.data_dir);
    duck.memory_limit = config.duckdb_memory_limit.clone();
    duck.checkpoint_threshold = Some(config.duckdb_checkpoint_threshold.clone());
    duck.threads = config.duckdb_threads;
    duck.timeline_cache_bytes = config.timeline_cache_mb << 20;
    tokio::task::spawn_blocking(move || DuckDb::open(&duck))
        .await?
        .context("opening event store")
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

/// The IP hash secret of this node. With shared metadata (PostgreSQL) every
/// node of the deployment must hash alike, so the secret lives there: the first
/// node to ask stores its own (the data dir's file where the node has a data
/// dir, so an existing deployment keeps its hashes) and every node uses it.
/// Without, the data dir's file. A capture-only node writes nothing locally.
async fn node_ip_hash_secret(
    config: &Config,
    meta: &dyn MetadataStore,
) -> anyhow::Result<[u8; 32]> {
    let local = if config.role.opens_event_store() {
        ip_hash_secret(&config.data_dir)?
    } else {
        let mut random = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        random
    };
    if config.metadata_url.is_none() {
        return Ok(local);
    }
    let shared = meta
        .shared_secret("ip-hash", &local)
        .await
        .context("reading the shared IP hash secret")?;
    shared
        .try_into()
        .map_err(|_| anyhow::anyhow!("the shared IP hash secret is not 32 bytes"))
}

/// A built app, ready to serve on its listener.
pub struct App {
    pub router: axum::Router,
    pub listener: TcpListener,
    pub port: u16,
    pub bootstrap: Option<Bootstrap>,
    pub data_dir: PathBuf,
    /// The DuckDB event store, on nodes that open one (not `--role capture`,
    /// not with ClickHouse as the store).
    pub events: Option<DuckDb>,
    /// The embedded spool (no queue configured).
    pub spool: Option<Arc<SpooledSink>>,
    /// The Kafka producer of a capture node.
    pub kafka_sink: Option<Arc<KafkaSink>>,
    /// The Kafka consumer of a worker node.
    pub worker: Option<KafkaWorker>,
    /// What feeds the live stream of a scale-out API node (the live topic).
    pub live_subscriber: Option<tally_kafka::LiveSubscriber>,
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

/// Binds the listener, opens what the node's roles need (metadata always; the
/// event store on worker and API nodes), bootstraps on API nodes, starts the
/// spool or the Kafka producer and consumer, and builds the router.
pub async fn build(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    let roles = config.role;
    let kafka = config.kafka_config()?;
    let listener = TcpListener::bind((config.bind, config.port))
        .await
        .with_context(|| format!("binding {}:{}", config.bind, config.port))?;
    let port = listener.local_addr()?.port();
    if roles.opens_event_store() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    }
    let meta = open_metadata(config).await?;
    let events = match roles.opens_event_store() {
        true => Some(open_backend(config).await?),
        false => None,
    };
    let bootstrap = match roles.api {
        true => bootstrap(meta.as_ref(), &config.data_dir).await?,
        false => None,
    };
    if let Some(id) = config.tlytics_project {
        if meta.get_project(id).await?.is_none() {
            anyhow::bail!("tlytics_project {id} is not a project of this Tally");
        }
        tracing::info!(project_id = id, "Tlytics routes write to this project");
    }
    let settings = Arc::new(
        SettingsCache::load(meta.clone())
            .await
            .context("loading project settings")?,
    );
    spawn_settings_refresh(Arc::downgrade(&settings));
    if let Some(duck) = events.as_ref().and_then(EventBackend::duckdb) {
        spawn_rollup_compaction(duck.downgrade(), clock.clone());
    }
    let live = Arc::new(LiveFeed::default());
    // A worker writing persons into ClickHouse may be one of several: its
    // resolutions take turns through PostgreSQL, and person ids come from
    // there (`SharedPersons`). One DuckDB file has one worker by nature.
    let shared_persons: Option<Arc<dyn tally_core::PersonStore>> =
        match (&kafka, &events, &config.metadata_url) {
            (Some(_), Some(EventBackend::ClickHouse(ch)), Some(url)) if roles.worker => {
                Some(Arc::new(
                    tally_meta::SharedPersons::connect(url, Arc::new(ch.clone()))
                        .await
                        .context("sharing person resolution through PostgreSQL")?,
                ))
            }
            _ => None,
        };
    // Stored batches reach the live feed: this node's (embedded), or the live
    // topic every scale-out API node reads (`tally_kafka::live`).
    let publish: Publish = match &kafka {
        Some(kafka) if roles.worker => {
            let topic = Arc::new(
                tally_kafka::LivePublisher::new(kafka).context("creating the live producer")?,
            );
            Arc::new(move |batch: tally_core::EventBatch| topic.publish(&batch))
        }
        _ => {
            let live = live.clone();
            Arc::new(move |batch| live.publish(batch))
        }
    };
    // Persons live in the same database (resolved in turns with other workers
    // when shared).
    let processing = |events: &EventBackend| {
        let store: Arc<dyn tally_core::EventStore> =
            Arc::new(PublishingStore::to(events.store(), publish.clone()));
        let processor = Arc::new(
            Processor::new(ProcessConfig {
                sensitive_params: config.sensitive_url_params.clone(),
            })
            .with_persons(shared_persons.clone().unwrap_or_else(|| events.persons()))
            .with_switches(settings.clone()),
        );
        (store, processor)
    };
    let mut node = NodeRoles {
        capture: roles.capture,
        api: roles.api,
        event_store: events.is_some(),
        checks: Vec::new(),
    };
    let (mut spool, mut kafka_sink, mut worker, mut live_subscriber) = (None, None, None, None);
    let sink: Arc<dyn EventSink> = match (&kafka, &events) {
        (None, Some(events)) => {
            // Before serving: whatever an earlier run acknowledged but did not
            // store yet is stored now, so the first query already sees it.
            let (store, processor) = processing(events);
            let (sink, _recovery) = SpooledSink::start(
                store,
                SpoolConfig {
                    max_queued_bytes: config.max_queued_mb * 1024 * 1024,
                    store_linger: Duration::from_millis(config.store_linger_ms),
                    admission_wait: Duration::from_millis(config.queue_wait_ms),
                    processor: Some(processor),
                    ..SpoolConfig::in_dir(config.data_dir.join(SPOOL_DIR))
                },
            )
            .await
            .context("recovering the capture spool")?;
            let sink = Arc::new(sink);
            spool = Some(sink.clone());
            sink
        }
        (None, None) => unreachable!("Config::validate: without a queue the role is all"),
        (Some(kafka), _) => {
            tracing::info!(?kafka, role = %roles, "scale-out node");
            if roles.capture || roles.worker {
                match tally_kafka::ensure_topic(kafka, TOPIC_CHECK_WAIT).await {
                    Ok(true) => {
                        tracing::info!(topic = %kafka.settings.topic, "created the kafka topic")
                    }
                    Ok(false) => {}
                    Err(err) => tracing::warn!(%err, "could not check the kafka topic; going on"),
                }
            }
            if roles.worker || roles.api {
                match tally_kafka::ensure_live_topic(kafka, TOPIC_CHECK_WAIT).await {
                    Ok(_) => {}
                    Err(err) => tracing::warn!(%err, "could not check the live topic; going on"),
                }
            }
            if roles.api {
                let live = live.clone();
                live_subscriber = Some(
                    tally_kafka::LiveSubscriber::start(kafka, move |events| {
                        live.publish(Arc::new(events))
                    })
                    .context("reading the live topic")?,
                );
            }
            if let (true, Some(events)) = (roles.worker, &events) {
                let (store, processor) = processing(events);
                let started = KafkaWorker::start(
                    kafka,
                    store,
                    Some(processor),
                    Batching {
                        max_batch: DEFAULT_STORE_BATCH,
                        linger: Duration::from_millis(config.store_linger_ms),
                    },
                )
                .context("starting the kafka worker")?;
                node.checks
                    .push(("queue_worker", Arc::new(started.readiness())));
                worker = Some(started);
            }
            if roles.capture {
                let budget = QueueBudget::new(
                    config.max_queued_mb * 1024 * 1024,
                    Duration::from_millis(config.queue_wait_ms),
                    1,
                );
                let sink =
                    Arc::new(KafkaSink::new(kafka, budget).context("creating the kafka producer")?);
                kafka_sink = Some(sink.clone());
                sink
            } else {
                Arc::new(NoEventStore)
            }
        }
    };
    let (store, query): (
        Arc<dyn tally_core::EventStore>,
        Arc<dyn tally_query::QueryEngine>,
    ) = match &events {
        Some(events) => (events.store(), events.query()),
        None => (Arc::new(NoEventStore), Arc::new(NoEventStore)),
    };
    let state = AppState {
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
        sink,
        store,
        query,
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
        ip_hasher: Arc::new(IpHasher::new(
            node_ip_hash_secret(config, meta.as_ref()).await?,
        )),
        geoip: load_geoip(config)?,
        settings: settings.clone(),
        tlytics_project: config.tlytics_project,
        port,
        started: Instant::now(),
        node: Arc::new(node),
        meta,
    };
    Ok(App {
        router: tally_server::router(state),
        listener,
        port,
        bootstrap,
        data_dir: config.data_dir.clone(),
        events: events.as_ref().and_then(EventBackend::duckdb).cloned(),
        spool,
        kafka_sink,
        worker,
        live_subscriber,
    })
}

/// How long start-up waits for the broker to say whether the topic exists.
const TOPIC_CHECK_WAIT: Duration = Duration::from_secs(5);

/// How long shutdown waits for the Kafka producer to deliver what it holds
/// (every request it holds is still waiting for its answer: this is short).
const SHUTDOWN_FLUSH_WAIT: Duration = Duration::from_secs(5);

impl App {
    /// Serves until `shutdown` resolves, then finishes in-flight requests (whose
    /// events are in the spool or acknowledged by Kafka before they are
    /// answered), lets the spool drain into the store or the worker store its
    /// batch in hand, and checkpoints the store.
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
        if let Some(spool) = &self.spool {
            spool.settle(SHUTDOWN_DRAIN_WAIT).await;
        }
        if let Some(sink) = self.kafka_sink {
            tokio::task::spawn_blocking(move || sink.flush(SHUTDOWN_FLUSH_WAIT)).await?;
        }
        if let Some(worker) = self.worker {
            // Stores and commits the batch in hand, then leaves the group.
            worker.stop().await;
        }
        if let Some(events) = self.events {
            tokio::task::spawn_blocking(move || events.checkpoint()).await??;
        }
        Ok(())
    }
}
