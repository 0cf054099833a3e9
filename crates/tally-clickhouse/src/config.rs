//! Where the ClickHouse store is: `clickhouse://[user[:password]@]host:8123/database`
//! with optional `?user=…&password=…` (parameters win over the userinfo part).
//! The port is ClickHouse's HTTP interface (8123 unless changed); the database
//! is created by the first migration when missing, `default` when the path is
//! empty.
//!
//! A sharded cluster adds `cluster=NAME&shards=host1:8123,host2:8123`: the
//! cluster's name in the servers' `remote_servers` configuration, and the HTTP
//! address of each of its shards (one server per shard), the URL's own server
//! among them. Events are spread over the shards; the URL's server holds the
//! persons and is the one queries go through (`schema.rs`).

use std::fmt;
use thiserror::Error;
use url::Url;

/// Settings of the ClickHouse store. The password never appears in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// `http://host:port` of the HTTP interface.
    pub http_url: String,
    pub database: String,
    pub user: String,
    pub password: Option<String>,
    /// Test instrumentation: append every statement sent, with its data and
    /// answers, to this file as JSON lines (`scripts/clickhouse/replay.py`
    /// replays them on another ClickHouse version). Never set by a URL.
    pub record_to: Option<std::path::PathBuf>,
    /// The cluster the events are sharded over; `None`: one server.
    pub cluster: Option<Cluster>,
}

/// A sharded ClickHouse cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Its name in the servers' `remote_servers` configuration.
    pub name: String,
    /// `http://host:port` of each shard's server, the store URL's among them.
    pub shards: Vec<String>,
}

impl fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("http_url", &self.http_url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("record_to", &self.record_to)
            .field("cluster", &self.cluster)
            .finish()
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("not a URL: {0}")]
    NotAUrl(String),
    #[error("a ClickHouse store URL starts with clickhouse:// (got {0}://)")]
    WrongScheme(String),
    #[error("the ClickHouse URL names no host")]
    NoHost,
    #[error(
        "`{0}` is not a valid database name (letters, digits and _, not starting with a digit)"
    )]
    BadDatabase(String),
    #[error(
        "unknown parameter `{0}` in the ClickHouse URL (user, password, cluster and shards are known)"
    )]
    UnknownParameter(String),
    #[error("a cluster needs both `cluster` (its name) and `shards` (host:port of each shard)")]
    IncompleteCluster,
    #[error(
        "`{0}` is not a valid cluster name (letters, digits and _, not starting with a digit)"
    )]
    BadCluster(String),
    #[error("`{0}` is not a shard address (host:port of its HTTP interface)")]
    BadShard(String),
    #[error("the URL's server {0} is not one of the shards: it must be, as it holds the persons")]
    EntryNotAShard(String),
}

/// The port of ClickHouse's HTTP interface when the URL names none.
pub const DEFAULT_HTTP_PORT: u16 = 8123;

impl ClickHouseConfig {
    /// Reads `clickhouse://…` (see the module documentation).
    pub fn from_url(text: &str) -> Result<Self, ConfigError> {
        let url = Url::parse(text).map_err(|e| ConfigError::NotAUrl(e.to_string()))?;
        if url.scheme() != "clickhouse" {
            return Err(ConfigError::WrongScheme(url.scheme().to_owned()));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(ConfigError::NoHost)?;
        let port = url.port().unwrap_or(DEFAULT_HTTP_PORT);
        let database = match url.path().trim_matches('/') {
            "" => "default".to_owned(),
            name => name.to_owned(),
        };
        if !valid_identifier(&database) {
            return Err(ConfigError::BadDatabase(database));
        }
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let mut user = match url.username() {
            "" => "default".to_owned(),
            u => decode(u),
        };
        let mut password = url.password().map(decode);
        let (mut cluster, mut shards) = (None, None);
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "user" => user = value.into_owned(),
                "password" => password = Some(value.into_owned()),
                "cluster" => cluster = Some(value.into_owned()),
                "shards" => shards = Some(value.into_owned()),
                other => return Err(ConfigError::UnknownParameter(other.to_owned())),
            }
        }
        let http_url = format!("http://{host}:{port}");
        let cluster = match (cluster, shards) {
            (None, None) => None,
            (Some(name), Some(shards)) => Some(Cluster::new(name, &shards, &http_url)?),
            _ => return Err(ConfigError::IncompleteCluster),
        };
        Ok(Self {
            http_url,
            database,
            user,
            password,
            record_to: None,
            cluster,
        })
    }

    /// The same settings for another server (a shard of the cluster).
    pub fn for_server(&self, http_url: &str) -> Self {
        Self {
            http_url: http_url.to_owned(),
            ..self.clone()
        }
    }
}

impl Cluster {
    fn new(name: String, shards: &str, entry: &str) -> Result<Self, ConfigError> {
        if !valid_identifier(&name) {
            return Err(ConfigError::BadCluster(name));
        }
        let shards = shards
            .split(',')
            .map(|s| {
                let s = s.trim();
                let url = Url::parse(&format!("http://{s}"))
                    .map_err(|_| ConfigError::BadShard(s.to_owned()))?;
                match (url.host_str(), url.path()) {
                    (Some(host), "/") if !host.is_empty() => Ok(format!(
                        "http://{host}:{}",
                        url.port().unwrap_or(DEFAULT_HTTP_PORT)
                    )),
                    _ => Err(ConfigError::BadShard(s.to_owned())),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !shards.iter().any(|s| s == entry) {
            return Err(ConfigError::EntryNotAShard(entry.to_owned()));
        }
        Ok(Self { name, shards })
    }
}

/// Whether `name` may be written into SQL as a database or table name: only
/// names made of `[A-Za-z0-9_]`, not starting with a digit, are accepted, so
/// nothing from a URL or a setting is ever spliced into SQL raw.
pub fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_database_and_credentials() {
        let c = ClickHouseConfig::from_url(
            "clickhouse://ch1.internal:8124/analytics?user=tally&password=s%26cret",
        )
        .unwrap();
        assert_eq!(c.http_url, "http://ch1.internal:8124");
        assert_eq!(c.database, "analytics");
        assert_eq!(c.user, "tally");
        assert_eq!(c.password.as_deref(), Some("s&cret"));
        assert!(!format!("{c:?}").contains("s&cret"));

        let c = ClickHouseConfig::from_url("clickhouse://bob:pw@127.0.0.1").unwrap();
        assert_eq!(
            (
                c.http_url.as_str(),
                c.database.as_str(),
                c.user.as_str(),
                c.password.as_deref()
            ),
            ("http://127.0.0.1:8123", "default", "bob", Some("pw"))
        );
        assert_eq!(c.cluster, None);

        let c = ClickHouseConfig::from_url(
            "clickhouse://ch1:8124/db?cluster=tally&shards=ch1:8124, ch2",
        )
        .unwrap();
        assert_eq!(
            c.cluster,
            Some(Cluster {
                name: "tally".into(),
                shards: vec!["http://ch1:8124".into(), "http://ch2:8123".into()]
            })
        );
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        assert!(matches!(
            ClickHouseConfig::from_url("http://h:8123/db"),
            Err(ConfigError::WrongScheme(_))
        ));
        assert_eq!(
            ClickHouseConfig::from_url("clickhouse://h/db;DROP"),
            Err(ConfigError::BadDatabase("db;DROP".into()))
        );
        assert_eq!(
            ClickHouseConfig::from_url("clickhouse://h/db?compress=1"),
            Err(ConfigError::UnknownParameter("compress".into()))
        );
        assert_eq!(
            ClickHouseConfig::from_url("clickhouse://h/db?cluster=c"),
            Err(ConfigError::IncompleteCluster)
        );
        assert_eq!(
            ClickHouseConfig::from_url("clickhouse://h/db?cluster=c;x&shards=h:8123"),
            Err(ConfigError::BadCluster("c;x".into()))
        );
        assert_eq!(
            ClickHouseConfig::from_url("clickhouse://h/db?cluster=c&shards=h:8123,g/x"),
            Err(ConfigError::BadShard("g/x".into()))
        );
        assert_eq!(
            ClickHouseConfig::from_url("clickhouse://h/db?cluster=c&shards=g:8123"),
            Err(ConfigError::EntryNotAShard("http://h:8123".into()))
        );
        assert!(!valid_identifier("1abc"));
        assert!(!valid_identifier("a b"));
        assert!(valid_identifier("tally_events_2"));
    }
}
