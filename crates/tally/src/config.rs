//! One typed configuration, layered: defaults → TOML file → `TALLY_*` environment
//! → command-line flags, then validated. The loader takes the environment as an
//! argument so tests can inject it.

use crate::roles::Roles;
use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use tally_clickhouse::ClickHouseConfig;
use tally_core::OutOfRange;
use tally_kafka::{KafkaConfig, KafkaSettings};
use tally_pipeline::ProcessConfig;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the event database, metadata and `bootstrap.json` live.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// Events waiting for a durable commit may hold at most this many MiB.
    pub max_queued_mb: usize,
    /// How long a capture request waits for room when that budget is spent before
    /// it is answered 503 (ms). 0: answer 503 at once.
    pub queue_wait_ms: u64,
    /// How long the spool's drain gathers events for one store insert after the
    /// first of them (ms); events are durable before, this only moves when they
    /// become queryable. 0: never wait.
    pub store_linger_ms: u64,
    /// Capture request bodies being read at once may hold at most this many MiB.
    pub max_body_memory_mb: usize,
    /// DuckDB memory limit such as "4GB"; unset keeps DuckDB's default.
    pub duckdb_memory_limit: Option<String>,
    /// WAL size at which DuckDB checkpoints, such as "256MB".
    pub duckdb_checkpoint_threshold: String,
    /// DuckDB's worker threads (queries and inserts); unset keeps DuckDB's default
    /// (one per core).
    pub duckdb_threads: Option<usize>,
    /// MiB of person timeline rows kept in memory between funnel and paths
    /// queries (about 12 bytes per event); 0 keeps none (each query reads them).
    pub timeline_cache_mb: usize,
    /// Events per second each project may capture (bursts of 10 s' worth); 0 is
    /// unlimited.
    pub capture_rate_limit: u32,
    /// How far ahead of the server clock an event's timestamp may be, in seconds.
    pub max_future_skew_secs: u64,
    /// Events older than this many days are out of range; unset: any age since 2000.
    pub max_event_age_days: Option<u32>,
    /// What happens to out-of-range timestamps: `reject` (default) or `clamp` (stored
    /// at the receive time, the client's time kept in `$original_timestamp`).
    pub out_of_range_timestamps: OutOfRange,
    /// Proxies (CIDR ranges) whose `X-Forwarded-For` names the client; none by
    /// default, so the connection's address is the client's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Query parameters removed from stored page URLs (case-insensitive);
    /// defaults to credentials and one-time codes (`token`, `password`, `code`, …).
    pub sensitive_url_params: Vec<String>,
    /// The project that Tlytics clients (which send no key) write to and read
    /// from; unset turns the Tlytics routes off.
    pub tlytics_project: Option<i64>,
    /// A MaxMind-format database (e.g. GeoLite2-City) used instead of the embedded
    /// country database; adds region and city.
    pub geoip_db: Option<PathBuf>,
    /// Anyone may register an account; false: only superusers and
    /// `tally admin create-user` make them.
    pub allow_signup: bool,
    /// Session cookies are `Secure` (HTTPS only; browsers make an exception for
    /// http://localhost). Set false only to serve plain HTTP to other hosts.
    pub cookie_secure: bool,
    /// Requests per minute each address may make to login, register, setup and
    /// refresh; 0 is unlimited.
    pub auth_rate_limit: u32,
    /// `postgres://user:pass@host:port/db`: keep metadata (users, projects, keys)
    /// in PostgreSQL, shared by several Tally nodes; unset: SQLite in the data dir.
    pub metadata_url: Option<String>,
    /// Origins whose pages may call the API with credentials (a dashboard served
    /// from elsewhere); empty: same-origin only.
    pub api_cors_origins: Vec<String>,
    /// Send HSTS: set when TLS terminates in front of Tally.
    pub hsts: bool,
    /// How long a rotated-out ingest key keeps working, in seconds, when the
    /// rotation does not say (default one day).
    pub ingest_key_grace_secs: u32,
    /// What this process does: `all` (default, the embedded deployment) or a
    /// combination of `capture`, `worker` and `api` (scale-out, needs `queue`).
    pub role: Roles,
    /// `kafka://host:9092[,host2:9092]/topic?…`: capture nodes produce to this
    /// topic and workers consume it; unset: the embedded spool.
    pub queue: Option<String>,
    /// Kafka settings beside the queue URL (`[kafka]` table, `TALLY_KAFKA_*`).
    pub kafka: KafkaSettings,
    /// `clickhouse://host:8123/database?user=…&password=…`: events and persons
    /// in ClickHouse, shared by every worker and API node; unset: DuckDB in the
    /// data dir.
    pub store: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("tally-data"),
            bind: IpAddr::from([0, 0, 0, 0]),
            port: 8000,
            max_queued_mb: 256,
            // Below the 1 s `Retry-After` a shed client would wait anyway: under
            // overload, clients sent away all at once left the server idle once
            // the drain had caught up (BENCHMARKS.md, session 18).
            queue_wait_ms: 1000,
            // Under single-event requests the drain stored batches of ~1,000
            // events; 100 ms gathers ~3,000 and leaves capture 15-25 % more
            // requests per second (BENCHMARKS.md, session 16).
            store_linger_ms: 100,
            max_body_memory_mb: 512,
            duckdb_memory_limit: None,
            duckdb_checkpoint_threshold: tally_duckdb::DEFAULT_CHECKPOINT_THRESHOLD.to_owned(),
            duckdb_threads: None,
            timeline_cache_mb: tally_duckdb::DEFAULT_TIMELINE_CACHE_BYTES >> 20,
            capture_rate_limit: 0,
            max_future_skew_secs: 3600,
            max_event_age_days: None,
            out_of_range_timestamps: OutOfRange::Reject,
            sensitive_url_params: ProcessConfig::default().sensitive_params,
            trusted_proxies: Vec::new(),
            tlytics_project: None,
            geoip_db: None,
            allow_signup: true,
            cookie_secure: true,
            auth_rate_limit: 30,
            metadata_url: None,
            api_cors_origins: Vec::new(),
            hsts: false,
            ingest_key_grace_secs: 86_400,
            role: Roles::ALL,
            queue: None,
            store: None,
            kafka: KafkaSettings::default(),
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub bind: Option<IpAddr>,
    pub port: Option<u16>,
    pub tlytics_project: Option<i64>,
    pub geoip_db: Option<PathBuf>,
    pub role: Option<Roles>,
    pub queue: Option<String>,
    pub store: Option<String>,
}

fn parse_bool(name: &str, v: &str) -> anyhow::Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => bail!("{name}={v} must be true or false"),
    }
}

impl Config {
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        flags: &Overrides,
    ) -> anyhow::Result<Self> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("TALLY_CONFIG").map(PathBuf::from));
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => Config::default(),
        };
        let var = |name: &str| env.get(name).filter(|v| !v.is_empty());
        if let Some(v) = var("TALLY_DATA_DIR") {
            config.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("TALLY_BIND") {
            config.bind = v
                .parse()
                .with_context(|| format!("TALLY_BIND={v} is not an IP address"))?;
        }
        if let Some(v) = var("TALLY_PORT") {
            config.port = v
                .parse()
                .with_context(|| format!("TALLY_PORT={v} is not a port"))?;
        }
        if let Some(v) = var("TALLY_MAX_QUEUED_MB") {
            config.max_queued_mb = v
                .parse()
                .with_context(|| format!("TALLY_MAX_QUEUED_MB={v} is not a number"))?;
        }
        if let Some(v) = var("TALLY_QUEUE_WAIT_MS") {
            config.queue_wait_ms = v
                .parse()
                .with_context(|| format!("TALLY_QUEUE_WAIT_MS={v} is not a number of ms"))?;
        }
        if let Some(v) = var("TALLY_STORE_LINGER_MS") {
            config.store_linger_ms = v
                .parse()
                .with_context(|| format!("TALLY_STORE_LINGER_MS={v} is not a number of ms"))?;
        }
        if let Some(v) = var("TALLY_MAX_BODY_MEMORY_MB") {
            config.max_body_memory_mb = v
                .parse()
                .with_context(|| format!("TALLY_MAX_BODY_MEMORY_MB={v} is not a number"))?;
        }
        if let Some(v) = var("TALLY_DUCKDB_MEMORY_LIMIT") {
            config.duckdb_memory_limit = Some(v.clone());
        }
        if let Some(v) = var("TALLY_DUCKDB_CHECKPOINT_THRESHOLD") {
            config.duckdb_checkpoint_threshold = v.clone();
        }
        if let Some(v) = var("TALLY_DUCKDB_THREADS") {
            config.duckdb_threads =
                Some(v.parse().ok().filter(|n| *n > 0).with_context(|| {
                    format!("TALLY_DUCKDB_THREADS={v} is not a number above 0")
                })?);
        }
        if let Some(v) = var("TALLY_TIMELINE_CACHE_MB") {
            config.timeline_cache_mb = v
                .parse()
                .with_context(|| format!("TALLY_TIMELINE_CACHE_MB={v} is not a number"))?;
        }
        if let Some(v) = var("TALLY_CAPTURE_RATE_LIMIT") {
            config.capture_rate_limit = v.parse().with_context(|| {
                format!("TALLY_CAPTURE_RATE_LIMIT={v} is not a number of events per second")
            })?;
        }
        if let Some(v) = var("TALLY_MAX_FUTURE_SKEW_SECS") {
            config.max_future_skew_secs = v
                .parse()
                .with_context(|| format!("TALLY_MAX_FUTURE_SKEW_SECS={v} is not a number"))?;
        }
        if let Some(v) = var("TALLY_MAX_EVENT_AGE_DAYS") {
            config.max_event_age_days = Some(
                v.parse()
                    .with_context(|| format!("TALLY_MAX_EVENT_AGE_DAYS={v} is not a number"))?,
            );
        }
        if let Some(v) = var("TALLY_OUT_OF_RANGE_TIMESTAMPS") {
            config.out_of_range_timestamps = match v.as_str() {
                "reject" => OutOfRange::Reject,
                "clamp" => OutOfRange::Clamp,
                _ => bail!("TALLY_OUT_OF_RANGE_TIMESTAMPS={v} must be `reject` or `clamp`"),
            };
        }
        if let Some(v) = var("TALLY_TRUSTED_PROXIES") {
            config.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse::<ipnet::IpNet>()
                        .or_else(|_| p.parse::<IpAddr>().map(ipnet::IpNet::from))
                        .with_context(|| {
                            format!("TALLY_TRUSTED_PROXIES: `{p}` is not an address or CIDR range")
                        })
                })
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(v) = var("TALLY_SENSITIVE_URL_PARAMS") {
            config.sensitive_url_params = v
                .split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect();
        }
        if let Some(v) = var("TALLY_TLYTICS_PROJECT") {
            config.tlytics_project = Some(
                v.parse()
                    .with_context(|| format!("TALLY_TLYTICS_PROJECT={v} is not a project id"))?,
            );
        }
        if let Some(v) = var("TALLY_GEOIP_DB") {
            config.geoip_db = Some(PathBuf::from(v));
        }
        if let Some(v) = var("TALLY_ALLOW_SIGNUP") {
            config.allow_signup = parse_bool("TALLY_ALLOW_SIGNUP", v)?;
        }
        if let Some(v) = var("TALLY_COOKIE_SECURE") {
            config.cookie_secure = parse_bool("TALLY_COOKIE_SECURE", v)?;
        }
        if let Some(v) = var("TALLY_API_CORS_ORIGINS") {
            config.api_cors_origins = v
                .split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect();
        }
        if let Some(v) = var("TALLY_INGEST_KEY_GRACE_SECS") {
            config.ingest_key_grace_secs = v.parse().with_context(|| {
                format!("TALLY_INGEST_KEY_GRACE_SECS={v} is not a number of seconds")
            })?;
        }
        if let Some(v) = var("TALLY_HSTS") {
            config.hsts = parse_bool("TALLY_HSTS", v)?;
        }
        if let Some(v) = var("TALLY_METADATA_URL") {
            config.metadata_url = Some(v.clone());
        }
        if let Some(v) = var("TALLY_AUTH_RATE_LIMIT") {
            config.auth_rate_limit = v.parse().with_context(|| {
                format!("TALLY_AUTH_RATE_LIMIT={v} is not a number of requests per minute")
            })?;
        }
        if let Some(v) = var("TALLY_ROLE") {
            config.role =
                Roles::parse(v).map_err(|why| anyhow::anyhow!("TALLY_ROLE={v}: {why}"))?;
        }
        if let Some(v) = var("TALLY_QUEUE") {
            config.queue = Some(v.clone());
        }
        if let Some(v) = var("TALLY_STORE") {
            config.store = Some(v.clone());
        }
        config
            .kafka
            .apply_env(|name| var(name).cloned())
            .context("TALLY_KAFKA_*")?;
        if let Some(v) = &flags.data_dir {
            config.data_dir = v.clone();
        }
        if let Some(v) = flags.bind {
            config.bind = v;
        }
        if let Some(v) = flags.port {
            config.port = v;
        }
        if let Some(v) = flags.tlytics_project {
            config.tlytics_project = Some(v);
        }
        if let Some(v) = &flags.geoip_db {
            config.geoip_db = Some(v.clone());
        }
        if let Some(v) = flags.role {
            config.role = v;
        }
        if let Some(v) = &flags.queue {
            config.queue = Some(v.clone());
        }
        if let Some(v) = &flags.store {
            config.store = Some(v.clone());
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.max_queued_mb == 0 || self.max_body_memory_mb == 0 {
            bail!("max_queued_mb and max_body_memory_mb must be at least 1");
        }
        // Beyond these, time arithmetic on timestamps could overflow.
        if self.max_future_skew_secs > 10 * 366 * 86_400 {
            bail!("max_future_skew_secs must be at most ten years");
        }
        if self.max_event_age_days.is_some_and(|d| d > 100 * 366) {
            bail!("max_event_age_days must be at most a hundred years");
        }
        if self.data_dir.as_os_str().is_empty() {
            bail!("data_dir must not be empty");
        }
        if self.queue.is_none() && !self.role.is_all() {
            bail!(
                "role {} needs a queue between capture and workers \
                 (--queue / TALLY_QUEUE kafka://host:9092/topic); without one, only `all`",
                self.role
            );
        }
        if !self.role.is_all() && self.metadata_url.is_none() {
            bail!(
                "a scale-out node (role {}) shares its metadata with the others \
                 through PostgreSQL: set metadata_url (TALLY_METADATA_URL)",
                self.role
            );
        }
        if self.queue.is_some() && self.role.api && !self.role.worker && self.store.is_none() {
            // The DuckDB file is one process's: an API node reads what its own
            // worker stored. API nodes apart from workers share ClickHouse.
            bail!(
                "role {} serves the API without a worker: with the DuckDB event store, the \
                 node that serves the API must also run the worker (--role worker,api), or \
                 set store (TALLY_STORE clickhouse://host:8123/db) for a shared store",
                self.role
            );
        }
        self.kafka_config()?;
        self.clickhouse_config()?;
        Ok(())
    }

    /// The parsed ClickHouse store, when one is configured.
    pub fn clickhouse_config(&self) -> anyhow::Result<Option<ClickHouseConfig>> {
        self.store
            .as_deref()
            .map(ClickHouseConfig::from_url)
            .transpose()
            .context("store (TALLY_STORE)")
    }

    /// The parsed queue, when one is configured.
    pub fn kafka_config(&self) -> anyhow::Result<Option<KafkaConfig>> {
        self.queue
            .as_deref()
            .map(|url| KafkaConfig::from_url(url, &self.kafka))
            .transpose()
            .context("queue (TALLY_QUEUE)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = Config::load(None, &env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.port, 8000);
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tally.toml");
        std::fs::write(
            &file,
            "port = 9000\ndata_dir = \"/from/file\"\nmax_queued_mb = 64\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &env(&[]), &Overrides::default()).unwrap();
        assert_eq!((c.port, c.max_queued_mb), (9000, 64));
        let e = env(&[
            ("TALLY_PORT", "9100"),
            ("TALLY_DATA_DIR", "/from/env"),
            ("TALLY_TLYTICS_PROJECT", "3"),
            ("TALLY_SENSITIVE_URL_PARAMS", "sig, otp"),
        ]);
        let c = Config::load(Some(&file), &e, &Overrides::default()).unwrap();
        assert_eq!(
            (c.port, c.data_dir.as_path(), c.tlytics_project),
            (9100, Path::new("/from/env"), Some(3))
        );
        assert_eq!(c.sensitive_url_params, ["sig", "otp"]);
        let proxies = env(&[("TALLY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")]);
        let p = Config::load(None, &proxies, &Overrides::default()).unwrap();
        let nets: Vec<String> = p.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.0.2.1/32"]);
        // One variable set, nothing else.
        let with = |name: &str, value: &str| {
            Config::load(None, &env(&[(name, value)]), &Overrides::default())
        };
        assert!(with("TALLY_TRUSTED_PROXIES", "nope").is_err());
        assert_eq!(
            with("TALLY_TIMELINE_CACHE_MB", "0")
                .unwrap()
                .timeline_cache_mb,
            0
        );
        assert!(with("TALLY_TIMELINE_CACHE_MB", "lots").is_err());
        assert_eq!(
            with("TALLY_STORE_LINGER_MS", "0").unwrap().store_linger_ms,
            0
        );
        assert!(with("TALLY_STORE_LINGER_MS", "-5").is_err());
        assert_eq!(
            with("TALLY_QUEUE_WAIT_MS", "250").unwrap().queue_wait_ms,
            250
        );
        assert!(with("TALLY_QUEUE_WAIT_MS", "soon").is_err());
        assert_eq!(
            with("TALLY_DUCKDB_CHECKPOINT_THRESHOLD", "1GB")
                .unwrap()
                .duckdb_checkpoint_threshold,
            "1GB"
        );
        assert_eq!(
            with("TALLY_DUCKDB_THREADS", "1").unwrap().duckdb_threads,
            Some(1)
        );
        assert!(with("TALLY_DUCKDB_THREADS", "0").is_err());
        assert!(with("TALLY_DUCKDB_THREADS", "all").is_err());
        let flags = Overrides {
            port: Some(9200),
            ..Default::default()
        };
        let c = Config::load(Some(&file), &e, &flags).unwrap();
        assert_eq!(
            (c.port, c.data_dir.as_path(), c.max_queued_mb),
            (9200, Path::new("/from/env"), 64)
        );
    }

    #[test]
    fn timestamp_policy_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tally.toml");
        let e = env(&[
            ("TALLY_OUT_OF_RANGE_TIMESTAMPS", "clamp"),
            ("TALLY_MAX_EVENT_AGE_DAYS", "30"),
        ]);
        let c = Config::load(None, &e, &Overrides::default()).unwrap();
        assert_eq!(c.out_of_range_timestamps, OutOfRange::Clamp);
        assert_eq!(c.max_event_age_days, Some(30));
        std::fs::write(
            &file,
            "out_of_range_timestamps = \"clamp\"\nmax_future_skew_secs = 60\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &env(&[]), &Overrides::default()).unwrap();
        assert_eq!(
            (c.out_of_range_timestamps, c.max_future_skew_secs),
            (OutOfRange::Clamp, 60)
        );
        let err = Config::load(
            None,
            &env(&[("TALLY_OUT_OF_RANGE_TIMESTAMPS", "maybe")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("reject"), "{err}");
    }

    #[test]
    fn roles_and_queue_from_file_env_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tally.toml");
        std::fs::write(
            &file,
            "role = \"capture\"\nqueue = \"kafka://k1:9092/from-file\"\n\
             metadata_url = \"postgres://m\"\n[kafka]\ngroup_id = \"g\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.role, Roles::parse("capture").unwrap());
        let kafka = c.kafka_config().unwrap().unwrap();
        assert_eq!(kafka.settings.topic, "from-file");
        assert_eq!(kafka.settings.group_id, "g");
        let e = env(&[
            ("TALLY_ROLE", "worker,api"),
            ("TALLY_KAFKA_GROUP_ID", "from-env"),
        ]);
        let c = Config::load(Some(&file), &e, &Overrides::default()).unwrap();
        assert_eq!(c.role.to_string(), "worker,api");
        assert_eq!(
            c.kafka_config().unwrap().unwrap().settings.group_id,
            "from-env"
        );
        let flags = Overrides {
            role: Some(Roles::ALL),
            queue: Some("kafka://flag:1/t".into()),
            ..Default::default()
        };
        let c = Config::load(Some(&file), &e, &flags).unwrap();
        assert!(c.role.is_all());
        assert_eq!(c.kafka_config().unwrap().unwrap().brokers, ["flag:1"]);
        // A scale-out role without a queue, or without shared metadata, is refused.
        let no_queue = env(&[
            ("TALLY_ROLE", "capture"),
            ("TALLY_METADATA_URL", "postgres://m"),
        ]);
        let err = Config::load(None, &no_queue, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("queue"), "{err}");
        let no_meta = env(&[("TALLY_ROLE", "capture"), ("TALLY_QUEUE", "kafka://k:1/t")]);
        let err = Config::load(None, &no_meta, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("metadata_url"), "{err}");
        let bad_url = env(&[
            ("TALLY_QUEUE", "kafka://nope"),
            ("TALLY_METADATA_URL", "postgres://m"),
        ]);
        assert!(Config::load(None, &bad_url, &Overrides::default()).is_err());
        assert!(Config::load(
            None,
            &env(&[("TALLY_ROLE", "storage")]),
            &Overrides::default()
        )
        .is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::load(
            None,
            &env(&[("TALLY_PORT", "eighty")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("TALLY_PORT=eighty"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tally.toml");
        std::fs::write(&file, "prot = 1\n").unwrap();
        let err = Config::load(Some(&file), &env(&[]), &Overrides::default()).unwrap_err();
        assert!(format!("{err:#}").contains("prot"), "{err:#}");
    }

    #[test]
    fn account_and_edge_settings_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tally.toml");
        std::fs::write(
            &file,
            "allow_signup = false\nmetadata_url = \"postgres://file\"\nhsts = true\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            &env(&[
                ("TALLY_COOKIE_SECURE", "false"),
                ("TALLY_AUTH_RATE_LIMIT", "5"),
                (
                    "TALLY_API_CORS_ORIGINS",
                    "https://a.example, https://b.example",
                ),
                ("TALLY_METADATA_URL", "postgres://env"),
                ("TALLY_INGEST_KEY_GRACE_SECS", "60"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert!(!c.allow_signup && !c.cookie_secure && c.hsts);
        assert_eq!(c.auth_rate_limit, 5);
        assert_eq!(
            c.api_cors_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(c.metadata_url.as_deref(), Some("postgres://env"));
        assert_eq!(c.ingest_key_grace_secs, 60);
        let err = Config::load(
            None,
            &env(&[("TALLY_ALLOW_SIGNUP", "maybe")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("TALLY_ALLOW_SIGNUP=maybe"),
            "{err}"
        );
    }
}
