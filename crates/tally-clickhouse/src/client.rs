//! The one place Tally talks to ClickHouse: a `clickhouse::Client` set up for
//! every server version Tally supports (no LZ4, no row-type validation, the
//! database and credentials as URL parameters — ClickHouse 18.16 ignores the
//! header forms), statements built with [`Sql`] and their values bound through
//! the client, which escapes them, and errors mapped to [`StoreError`].

use crate::config::ClickHouseConfig;
use clickhouse::{Client, RowOwned, RowRead, RowWrite};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tally_core::StoreError;
use tally_query::sql::{Dialect, SqlParam};

/// Instants are stored as Int64 microseconds since the epoch (ClickHouse 18.16
/// has no DateTime64), so a bound instant is just its microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickHouseDialect;

impl Dialect for ClickHouseDialect {
    const TIME_PLACEHOLDER: &'static str = "?";
}

/// SQL in ClickHouse's dialect (valid on 18.16 and current releases).
pub type Sql = tally_query::sql::Sql<ClickHouseDialect>;

/// A client bound to one database.
#[derive(Clone)]
pub(crate) struct Db {
    client: Client,
    /// The same server without a database, for creating it.
    server: Client,
    database: String,
    session: Option<String>,
    recorder: Option<Arc<Recorder>>,
}

/// Writes every statement sent (with its bound values, the rows of inserts and
/// the answers of queries) as JSON lines, for replaying them on another
/// ClickHouse version (`scripts/clickhouse/replay.py`). Test instrumentation:
/// on only when [`ClickHouseConfig::record_to`] names a file.
pub(crate) struct Recorder {
    file: Mutex<std::fs::File>,
}

impl Recorder {
    fn open(path: &Path) -> Result<Self, StoreError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| StoreError::Internal(format!("{}: {e}", path.display())))?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    fn write(&self, entry: serde_json::Value) {
        let mut line = entry.to_string();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line: appends from several stores stay whole lines.
        let _ = file.write_all(line.as_bytes());
    }
}

impl Db {
    pub(crate) fn new(config: &ClickHouseConfig) -> Self {
        let mut server = Client::default()
            .with_url(&config.http_url)
            .with_validation(false)
            .with_option("user", &config.user);
        if let Some(password) = &config.password {
            server = server.with_option("password", password);
        }
        let client = server.clone().with_option("database", &config.database);
        let recorder = config
            .record_to
            .as_deref()
            .map(Recorder::open)
            .transpose()
            .unwrap_or_else(|e| panic!("the statement record cannot be opened: {e}"))
            .map(Arc::new);
        Self {
            client,
            server,
            database: config.database.clone(),
            session: None,
            recorder,
        }
    }

    fn record(&self, database: Option<&str>, fields: serde_json::Value) {
        if let Some(r) = &self.recorder {
            let mut entry = serde_json::json!({"db": database, "session": self.session});
            if let (Some(e), serde_json::Value::Object(f)) = (entry.as_object_mut(), fields) {
                e.extend(f);
            }
            r.write(entry);
        }
    }

    /// A client of its own HTTP session (`session_id`): temporary tables live
    /// as long as it does. One statement at a time per session.
    pub(crate) fn in_session(&self, session_id: &str) -> Self {
        Self {
            client: self.client.clone().with_option("session_id", session_id),
            session: Some(session_id.to_owned()),
            ..self.clone()
        }
    }

    /// The same client with a ClickHouse setting on every request.
    pub(crate) fn with_setting(&self, name: &str, value: &str) -> Self {
        Self {
            client: self.client.clone().with_option(name, value),
            ..self.clone()
        }
    }

    fn bound(client: &Client, sql: &Sql) -> clickhouse::query::Query {
        let mut q = client.query(&sql.text);
        for p in &sql.params {
            q = match p {
                SqlParam::Int(i) => q.bind(*i),
                SqlParam::Float(f) => q.bind(*f),
                SqlParam::Text(s) => q.bind(s.as_str()),
                SqlParam::Time(t) => q.bind(t.timestamp_micros()),
            };
        }
        q
    }

    /// Runs a statement that returns no rows.
    pub(crate) async fn execute(&self, sql: &Sql) -> Result<(), StoreError> {
        let q = Self::bound(&self.client, sql);
        let text = q.sql_display().to_string();
        q.execute().await.map_err(error)?;
        self.record(Some(&self.database), serde_json::json!({ "sql": text }));
        Ok(())
    }

    /// Runs a statement against the server, outside the database (DDL of the
    /// database itself).
    pub(crate) async fn execute_on_server(&self, sql: &Sql) -> Result<(), StoreError> {
        let q = Self::bound(&self.server, sql);
        let text = q.sql_display().to_string();
        q.execute().await.map_err(error)?;
        self.record(None, serde_json::json!({ "sql": text }));
        Ok(())
    }

    /// Runs a query and reads every row.
    pub(crate) async fn fetch_all<T>(&self, sql: &Sql) -> Result<Vec<T>, StoreError>
    where
        T: RowOwned + RowRead,
    {
        let rows = Self::bound(&self.client, sql)
            .fetch_all::<T>()
            .await
            .map_err(error)?;
        if self.recorder.is_some() {
            // The same query again, its answer as JSON, for the replay to
            // compare with (the store is not written between the two).
            let q = Self::bound(&self.client, sql);
            let text = q.sql_display().to_string();
            let answer = q
                .fetch_bytes("JSONCompact")
                .map_err(error)?
                .collect()
                .await
                .map_err(error)?;
            let answer: serde_json::Value =
                serde_json::from_slice(&answer).map_err(|e| StoreError::Internal(e.to_string()))?;
            self.record(
                Some(&self.database),
                serde_json::json!({ "sql": text, "rows": answer["data"] }),
            );
        }
        Ok(rows)
    }

    /// Runs a query and reads every column of every row as a number (NaN
    /// where it is not one).
    pub(crate) async fn fetch_numbers(&self, sql: &Sql) -> Result<Vec<Vec<f64>>, StoreError> {
        let text = Self::bound(&self.client, sql)
            .fetch_bytes("TabSeparated")
            .map_err(error)?
            .collect()
            .await
            .map_err(error)?;
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .map(|line| {
                line.split('\t')
                    .map(|v| v.parse().unwrap_or(f64::NAN))
                    .collect()
            })
            .collect())
    }

    /// Writes `rows` into `table` (RowBinary).
    pub(crate) async fn insert_rows<T>(&self, table: &str, rows: &[T]) -> Result<(), StoreError>
    where
        T: RowOwned + RowWrite + Serialize,
    {
        let mut insert = self.client.insert::<T>(table).await.map_err(error)?;
        for row in rows {
            insert.write(row).await.map_err(error)?;
        }
        insert.end().await.map_err(error)?;
        if self.recorder.is_some() {
            let data: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or_default())
                .collect();
            self.record(
                Some(&self.database),
                serde_json::json!({
                    "sql": format!("INSERT INTO {table} FORMAT JSONEachRow"),
                    "data": data,
                }),
            );
        }
        Ok(())
    }
}

/// Text that is one statement without bound values.
pub(crate) fn plain(text: &str) -> Sql {
    let mut s = Sql::default();
    s.push(text);
    s
}

/// Connection trouble is `Unavailable` (worth retrying); anything else is a
/// bug or a broken server, `Internal`.
pub(crate) fn error(e: clickhouse::error::Error) -> StoreError {
    use clickhouse::error::Error;
    match e {
        Error::Network(_) | Error::TimedOut => StoreError::Unavailable(format!("ClickHouse: {e}")),
        other => StoreError::Internal(format!("ClickHouse: {other}")),
    }
}
