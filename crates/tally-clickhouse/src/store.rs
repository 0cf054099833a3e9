//! [`EventStore`] on ClickHouse.
//!
//! Inserting is idempotent on `(project_id, uuid)` before any merge ran: a
//! batch goes into a temporary table of the writer's HTTP session (RowBinary,
//! no size limit), and one `INSERT … SELECT` copies into `events` only the rows
//! whose sorting key is not there yet. A re-sent event has the same uuid and so
//! the same day, event and distinct id: its key lookup reads the granule or two
//! the key points at (`schema.rs`). A batch interrupted half-way (some parts
//! written) is finished by its retry, which skips what landed. Two writers
//! storing the same event at the very same moment (a Kafka rebalance with a
//! stalled worker) could both pass the check; `ReplacingMergeTree` collapses
//! those rows at the next merge.
//!
//! On a sharded cluster the same statements go through the `Distributed`
//! table (`schema.rs`), with `insert_distributed_sync` so an insert is answered
//! once every shard stored its rows, and the stored-key lookup as a `GLOBAL IN`
//! (the batch's temporary table exists only in the writer's session on the
//! URL's server). A deletion runs on every shard's own table.

use crate::client::{plain, Db, Sql};
use crate::config::ClickHouseConfig;
use crate::schema::{self, Layout, DAY_OF_TIMESTAMP};
use async_trait::async_trait;
use clickhouse::Row;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use tally_core::properties::type_of;
use tally_core::{Event, EventBatch, EventStore, InsertOutcome, ProjectId, StoreError};
use tally_query::sql::SqlParam;

/// The ClickHouse event store and query engine. Cheap to clone.
#[derive(Clone)]
pub struct ClickHouse {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    /// Every server holding events, with the table that holds them there:
    /// the URL's alone, or each shard of the cluster.
    servers: Vec<(Db, &'static str)>,
    pub(crate) config: ClickHouseConfig,
    /// The writer's session (its temporary table); one batch at a time.
    writer: tokio::sync::Mutex<Db>,
    pub(crate) persons: crate::persons::PersonsState,
}

/// The columns a batch is written with, in `events`' order (`day` is computed).
const EVENT_COLUMNS: &str = "project_id, timestamp, event, distinct_id, uuid, received_at, \
     session_id, person_id, url, path, referrer, browser, os, device, country, properties, \
     prop_keys, prop_values, prop_types, is_bot";

/// One stored event, as RowBinary writes it.
#[derive(Row, Serialize)]
struct EventRow {
    project_id: i64,
    timestamp: i64,
    event: String,
    distinct_id: String,
    uuid: String,
    received_at: i64,
    session_id: Option<String>,
    person_id: Option<i64>,
    url: Option<String>,
    path: Option<String>,
    referrer: Option<String>,
    browser: Option<String>,
    os: Option<String>,
    device: Option<String>,
    country: Option<String>,
    properties: String,
    prop_keys: Vec<String>,
    prop_values: Vec<String>,
    prop_types: Vec<String>,
    is_bot: u8,
}

/// A JSON value as the text a property filter compares (what DuckDB's
/// `json_extract_string` gives): a string's characters, any other value's JSON
/// text; `None` for JSON null, which counts as absent.
pub(crate) fn value_text(json: &str) -> Option<String> {
    if json == "null" {
        return None;
    }
    Some(match tally_core::properties::string_of(json) {
        Some(s) => s.into_owned(),
        None => json.to_owned(),
    })
}

impl EventRow {
    fn of(e: &Event) -> Self {
        let n = e.properties.len();
        let (mut prop_keys, mut prop_values, mut prop_types) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (key, json) in e.properties.iter() {
            prop_keys.push(key.into_owned());
            prop_values.push(value_text(json).unwrap_or_default());
            prop_types.push(type_of(json).unwrap_or_default().to_owned());
        }
        Self {
            project_id: e.project_id,
            timestamp: e.timestamp.timestamp_micros(),
            event: e.event.clone(),
            distinct_id: e.distinct_id.clone(),
            uuid: e.uuid.to_string(),
            received_at: e.received_at.timestamp_micros(),
            session_id: e.session_id.clone(),
            person_id: e.person_id,
            url: e.url.clone(),
            path: e.path.clone(),
            referrer: e.referrer.clone(),
            browser: e.browser.clone(),
            os: e.os.clone(),
            device: e.device.clone(),
            country: e.country.clone(),
            properties: e.properties.json().to_owned(),
            prop_keys,
            prop_values,
            prop_types,
            is_bot: u8::from(e.is_bot),
        }
    }
}

impl ClickHouse {
    /// Connects, applies the migrations this build has, and reads what the
    /// persons need to go on (the next person id).
    pub async fn open(config: &ClickHouseConfig) -> Result<Self, StoreError> {
        Self::migrate(config).await?;
        let db = Db::new(config);
        let mut writer = db.in_session(&format!("tally-writer-{}", uuid::Uuid::new_v4()));
        if config.cluster.is_some() {
            writer = writer.with_setting("insert_distributed_sync", "1");
        }
        let persons = crate::persons::PersonsState::open(&db, config).await?;
        let servers = servers(config)
            .into_iter()
            .map(|(server, layout)| (Db::new(&server), layout.local_events()))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                servers,
                config: config.clone(),
                writer: tokio::sync::Mutex::new(writer),
                persons,
            }),
        })
    }

    /// Applies the migrations without opening a store (`tally migrate`);
    /// returns the versions applied now.
    pub async fn migrate(config: &ClickHouseConfig) -> Result<Vec<u32>, StoreError> {
        let mut applied = Vec::new();
        for (server, layout) in servers(config) {
            let done = schema::migrate(&Db::new(&server), &config.database, layout).await?;
            if layout.keeps_persons() {
                applied = done;
            }
        }
        Ok(applied)
    }

    pub fn config(&self) -> &ClickHouseConfig {
        &self.inner.config
    }

    /// Runs a read-only statement and returns its rows, every column read as
    /// a number (NaN where it is not one). Only for SQL this program wrote
    /// itself, never text from a request: `tally querybench` times
    /// hand-written SQL with it beside the generated queries.
    pub async fn read_numbers(&self, sql: &str) -> Result<Vec<Vec<f64>>, StoreError> {
        self.db().fetch_numbers(&plain(sql)).await
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Waits until no mutation (`ALTER … DELETE`) of this database is running
    /// on `db`'s server: ClickHouse applies them in the background, and a
    /// deletion is answered only once it is done.
    async fn await_mutations(&self, db: &Db) -> Result<(), StoreError> {
        let mut pending = Sql::default();
        pending
            .push("SELECT count() FROM system.mutations WHERE database = ")
            .bind(SqlParam::Text(self.inner.config.database.clone()))
            .push(" AND is_done = 0");
        for _ in 0..6000 {
            let n: Vec<u64> = db.fetch_all(&pending).await?;
            if n.first().copied().unwrap_or(0) == 0 {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Err(StoreError::Internal(
            "ClickHouse did not finish deleting within 60 s".into(),
        ))
    }
}

/// Each server of the store with its layout: the URL's alone, or every shard
/// of the cluster (the URL's own being the entry).
fn servers(config: &ClickHouseConfig) -> Vec<(ClickHouseConfig, Layout<'_>)> {
    match &config.cluster {
        None => vec![(config.clone(), Layout::Single)],
        Some(cluster) => cluster
            .shards
            .iter()
            .map(|shard| {
                let layout = Layout::Shard {
                    cluster: &cluster.name,
                    database: &config.database,
                    entry: *shard == config.http_url,
                };
                (config.for_server(shard), layout)
            })
            .collect(),
    }
}

/// The columns of `events`' sorting key for a row of a table with `events`'
/// columns (`day` computed when the table has none).
fn key(day: &str) -> String {
    format!("project_id, {day}, event, cityHash64(distinct_id), uuid")
}

#[async_trait]
impl EventStore for ClickHouse {
    async fn insert_batch(&self, events: EventBatch) -> Result<InsertOutcome, StoreError> {
        let mut seen = HashSet::with_capacity(events.len());
        let rows: Vec<EventRow> = events
            .iter()
            .filter(|e| seen.insert((e.project_id, e.uuid)))
            .map(EventRow::of)
            .collect();
        if rows.is_empty() {
            return Ok(InsertOutcome::default());
        }
        let writer = self.inner.writer.lock().await;
        writer
            .execute(&plain("DROP TEMPORARY TABLE IF EXISTS incoming"))
            .await?;
        writer
            .execute(&plain(
                "CREATE TEMPORARY TABLE incoming (
                    project_id Int64, timestamp Int64, event String, distinct_id String,
                    uuid String, received_at Int64, session_id Nullable(String),
                    person_id Nullable(Int64), url Nullable(String), path Nullable(String),
                    referrer Nullable(String), browser Nullable(String), os Nullable(String),
                    device Nullable(String), country Nullable(String), properties String,
                    prop_keys Array(String), prop_values Array(String),
                    prop_types Array(String), is_bot UInt8)",
            ))
            .await?;
        writer.insert_rows("incoming", &rows).await?;
        // `GLOBAL` only on a cluster (the batch's table must travel to the
        // shards): on one 18.16 server `GLOBAL IN` skips the primary index and
        // reads the whole table (5M rows for a 3-key set, measured), which made
        // every batch's check slower as the table grew (lag 3 s at 5,000
        // events/s, BENCHMARKS session 25).
        let membership = match self.inner.config.cluster {
            Some(_) => "GLOBAL IN",
            None => "IN",
        };
        let stored_keys = format!(
            "(SELECT {events_key} FROM events WHERE ({events_key}) {membership} (SELECT {incoming_key} FROM incoming))",
            events_key = key("day"),
            incoming_key = key(DAY_OF_TIMESTAMP),
        );
        let stored: Vec<u64> = writer
            .fetch_all(&plain(&format!("SELECT count() FROM {stored_keys}")))
            .await?;
        let already = usize::try_from(stored.first().copied().unwrap_or(0)).unwrap_or(usize::MAX);
        if already < rows.len() {
            writer
                .execute(&plain(&format!(
                    "INSERT INTO events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM incoming \
                     WHERE ({incoming_key}) NOT IN {stored_keys}",
                    incoming_key = key(DAY_OF_TIMESTAMP),
                )))
                .await?;
        }
        writer
            .execute(&plain("DROP TEMPORARY TABLE IF EXISTS incoming"))
            .await?;
        let inserted = rows.len().saturating_sub(already);
        Ok(InsertOutcome {
            inserted,
            // The batch's own repeats and the events stored before.
            duplicates: events.len() - inserted,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let one: Vec<u8> = self.db().fetch_all(&plain("SELECT 1")).await?;
        match one.as_slice() {
            [1] => Ok(()),
            _ => Err(StoreError::Internal(
                "ClickHouse answered SELECT 1 oddly".into(),
            )),
        }
    }

    async fn delete_project(&self, project_id: ProjectId) -> Result<u64, StoreError> {
        let _persons = self.inner.persons.saving().await;
        let mut count = Sql::default();
        count
            .push("SELECT count() FROM events WHERE project_id = ")
            .bind(SqlParam::Int(project_id));
        let events: Vec<u64> = self.db().fetch_all(&count).await?;
        let delete = |table: &str| {
            let mut delete = Sql::default();
            delete
                .push("ALTER TABLE ")
                .push(table)
                .push(" DELETE WHERE project_id = ")
                .bind(SqlParam::Int(project_id));
            delete
        };
        for (db, events) in &self.inner.servers {
            db.execute(&delete(events)).await?;
        }
        for table in ["persons", "person_distinct_ids", "person_overrides"] {
            self.db().execute(&delete(table)).await?;
        }
        for (db, _) in &self.inner.servers {
            self.await_mutations(db).await?;
        }
        Ok(events.first().copied().unwrap_or(0))
    }
}
