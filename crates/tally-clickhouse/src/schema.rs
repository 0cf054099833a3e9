//! Versioned schema migrations for the ClickHouse store, applied at start-up
//! (and by `tally migrate`). Each migration is a list of statements that are
//! harmless to run again (`IF NOT EXISTS`), recorded in `tally_migrations` once
//! all of them ran: a start-up interrupted half-way, or two nodes migrating at
//! once, run some statements twice and nothing else.
//!
//! Only SQL that ClickHouse 18.16 and current releases both accept (see
//! `shared/notes/clickhouse-compat.md`): instants as Int64 microseconds (no
//! DateTime64), properties as JSON text plus parallel key/value arrays (no Map,
//! no JSON type), no TTL or codecs, the extended MergeTree syntax.
//!
//! `events`: one wide table like DuckDB's.
//! - `PARTITION BY toYYYYMM(day)`: a month per partition — few enough parts for
//!   a long history, and a retention window or a project's deletion touches
//!   whole months at most.
//! - `ORDER BY (project_id, day, event, cityHash64(distinct_id), uuid)`: every
//!   query names one project and a time range, most name an event; the distinct
//!   id's hash keeps a person's events of a day together (funnels, sessions) and
//!   makes the sorting key of a re-sent event (same uuid, so same day, event and
//!   distinct id) narrow enough for the insert-time duplicate check to read a
//!   granule or two. The uuid last makes the key unique per event.
//! - `ReplacingMergeTree`: rows with the same key (a re-sent event that slipped
//!   past the check: two writers storing it at once) collapse at merge time. The
//!   check at insert keeps them out to begin with (`store.rs`).
//! - `uuid` as text: its order is the uuid text's, as on DuckDB (the events page
//!   breaks timestamp ties by uuid). `prop_keys` / `prop_values` / `prop_types`:
//!   every top-level property, its value as text (what DuckDB's
//!   `json_extract_string` gives) and its type as definitions name it (`''` for
//!   JSON null, which reads as absent), for filters, breakdowns and definitions
//!   without JSON functions.
//!
//! Persons (`persons`, `person_distinct_ids`, `person_overrides`) are
//! `ReplacingMergeTree(version)`: every change inserts a row with a higher
//! version, and readers take each key's latest row (`argMax(…, version)`),
//! which is right before and after merges; a person merged away gets a row
//! with `is_deleted = 1`.
//!
//! A sharded cluster (`ClickHouseConfig::cluster`): every shard keeps its
//! events in `events_local` (the same table), and the URL's server — one of
//! the shards — has `events`, a `Distributed` table over them that every
//! query and insert uses unchanged, plus the persons. Events are sharded by
//! the person stamped at ingest (its distinct id's hash without one), so a
//! person's events sit on one shard until a merge joins two persons. ClickHouse
//! 18.16 cannot insert into a `Distributed` table whose tables compute a
//! `MATERIALIZED` column, so `day` is `DEFAULT` there (computed the same way,
//! at the `Distributed` table, then sent along).

use crate::client::{plain, Db};
use crate::config::valid_identifier;
use tally_core::StoreError;

/// Where a server's events live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout<'a> {
    /// One server: `events` is the table itself.
    Single,
    /// A shard of the cluster `cluster`: its `events_local`, and on the URL's
    /// server (`entry`) the `Distributed` table and the persons.
    Shard {
        cluster: &'a str,
        database: &'a str,
        entry: bool,
    },
}

impl Layout<'_> {
    /// The table that holds the events on this server, for deletions.
    pub(crate) fn local_events(self) -> &'static str {
        match self {
            Layout::Single => "events",
            Layout::Shard { .. } => "events_local",
        }
    }

    /// Whether the persons live on this server.
    pub(crate) fn keeps_persons(self) -> bool {
        matches!(self, Layout::Single | Layout::Shard { entry: true, .. })
    }
}

struct Migration {
    version: u32,
    name: &'static str,
    statements: fn(Layout<'_>) -> Vec<String>,
}

/// A `Date` (UTC) from Int64 microseconds since the epoch.
pub(crate) const DAY_OF_TIMESTAMP: &str = "toDate(toDateTime(intDiv(timestamp, 1000000), 'UTC'))";

/// The columns of `events` before `day`.
const EVENT_COLUMNS: &str = "project_id Int64,
                timestamp Int64,
                event String,
                distinct_id String,
                uuid String,
                received_at Int64,
                session_id Nullable(String),
                person_id Nullable(Int64),
                url Nullable(String),
                path Nullable(String),
                referrer Nullable(String),
                browser Nullable(String),
                os Nullable(String),
                device Nullable(String),
                country Nullable(String),
                properties String,
                prop_keys Array(String),
                prop_values Array(String),
                prop_types Array(String),
                is_bot UInt8";

/// Which shard an event goes to: its person's, or its distinct id's without one.
const SHARD_OF_EVENT: &str =
    "if(isNull(person_id), cityHash64(distinct_id), cityHash64(assumeNotNull(person_id)))";

fn events_table(name: &str, day: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (
                {EVENT_COLUMNS},
                day Date {day} toDate(toDateTime(intDiv(timestamp, 1000000), 'UTC'))
            ) ENGINE = ReplacingMergeTree
            PARTITION BY toYYYYMM(day)
            ORDER BY (project_id, day, event, cityHash64(distinct_id), uuid)"
    )
}

const PERSON_TABLES: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS persons (
                project_id Int64,
                id Int64,
                is_identified UInt8,
                first_seen Int64,
                last_seen Int64,
                properties String,
                prop_keys Array(String),
                prop_values Array(String),
                prop_types Array(String),
                property_writes String,
                is_deleted UInt8,
                version UInt64
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY (project_id, id)",
    "CREATE TABLE IF NOT EXISTS person_distinct_ids (
                project_id Int64,
                distinct_id String,
                person_id Int64,
                version UInt64
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY (project_id, distinct_id)",
    "CREATE TABLE IF NOT EXISTS person_overrides (
                project_id Int64,
                old_person_id Int64,
                person_id Int64,
                version UInt64
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY (project_id, old_person_id)",
];

fn events_and_persons(layout: Layout<'_>) -> Vec<String> {
    let mut statements = match layout {
        Layout::Single => vec![events_table("events", "MATERIALIZED")],
        Layout::Shard {
            cluster,
            database,
            entry,
        } => {
            let mut s = vec![events_table("events_local", "DEFAULT")];
            if entry {
                // Both names were checked to be identifiers (`config.rs`).
                s.push(format!(
                    "CREATE TABLE IF NOT EXISTS events AS events_local \
                     ENGINE = Distributed({cluster}, {database}, events_local, {SHARD_OF_EVENT})"
                ));
            }
            s
        }
    };
    if layout.keeps_persons() {
        statements.extend(PERSON_TABLES.iter().map(|s| (*s).to_owned()));
    }
    statements
}

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "events and persons",
    statements: events_and_persons,
}];

/// Refuses a database whose `events` was made for the other layout: a
/// single server's table where the URL names a cluster, or a cluster's
/// `Distributed` table where it names none.
async fn check_layout(db: &Db, database: &str, layout: Layout<'_>) -> Result<(), StoreError> {
    if !layout.keeps_persons() {
        return Ok(());
    }
    let mut engine = plain("SELECT engine FROM system.tables WHERE database = ");
    engine
        .bind(tally_query::sql::SqlParam::Text(database.to_owned()))
        .push(" AND name = 'events'");
    let engine: Vec<String> = db.fetch_all(&engine).await?;
    let Some(engine) = engine.first() else {
        return Ok(());
    };
    match (layout, engine.as_str()) {
        (Layout::Single, "Distributed") => Err(StoreError::Internal(format!(
            "the ClickHouse database `{database}` is sharded over a cluster: name the cluster \
             in the store URL (cluster=…&shards=…)"
        ))),
        (Layout::Shard { .. }, e) if e != "Distributed" => Err(StoreError::Internal(format!(
            "the ClickHouse database `{database}` keeps its events on one server; a sharded \
             store needs a database of its own"
        ))),
        _ => Ok(()),
    }
}

/// The newest schema version this build knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Creates the database when missing and applies every migration not yet
/// recorded; returns the versions applied now. A database migrated by a newer
/// build is refused rather than written with an older layout.
pub(crate) async fn migrate(
    db: &Db,
    database: &str,
    layout: Layout<'_>,
) -> Result<Vec<u32>, StoreError> {
    if !valid_identifier(database) {
        return Err(StoreError::Internal(format!(
            "`{database}` is not a valid database name"
        )));
    }
    db.execute_on_server(&plain(&format!("CREATE DATABASE IF NOT EXISTS {database}")))
        .await?;
    db.execute(&plain(
        "CREATE TABLE IF NOT EXISTS tally_migrations (
            version UInt32,
            name String,
            applied_at DateTime
        ) ENGINE = ReplacingMergeTree ORDER BY version",
    ))
    .await?;
    let applied: Vec<u32> = db
        .fetch_all(&plain("SELECT DISTINCT version FROM tally_migrations"))
        .await?;
    if let Some(newer) = applied.iter().find(|v| **v > latest_version()) {
        return Err(StoreError::Internal(format!(
            "the ClickHouse database is at schema version {newer}, newer than this build's {}: \
             run the newer Tally",
            latest_version()
        )));
    }
    check_layout(db, database, layout).await?;
    let mut done = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        for statement in (m.statements)(layout) {
            db.execute(&plain(&statement)).await?;
        }
        let mut record = plain("INSERT INTO tally_migrations (version, name, applied_at) VALUES (");
        record
            .bind(tally_query::sql::SqlParam::Int(i64::from(m.version)))
            .push(", ")
            .bind(tally_query::sql::SqlParam::Text(m.name.to_owned()))
            .push(", now())");
        db.execute(&record).await?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "ClickHouse migration applied"
        );
        done.push(m.version);
    }
    Ok(done)
}
