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

use crate::client::{plain, Db};
use crate::config::valid_identifier;
use tally_core::StoreError;

struct Migration {
    version: u32,
    name: &'static str,
    statements: &'static [&'static str],
}

/// A `Date` (UTC) from Int64 microseconds since the epoch.
pub(crate) const DAY_OF_TIMESTAMP: &str = "toDate(toDateTime(intDiv(timestamp, 1000000), 'UTC'))";

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "events and persons",
    statements: &[
        "CREATE TABLE IF NOT EXISTS events (
                project_id Int64,
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
                is_bot UInt8,
                day Date MATERIALIZED toDate(toDateTime(intDiv(timestamp, 1000000), 'UTC'))
            ) ENGINE = ReplacingMergeTree
            PARTITION BY toYYYYMM(day)
            ORDER BY (project_id, day, event, cityHash64(distinct_id), uuid)",
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
    ],
}];

/// The newest schema version this build knows.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Creates the database when missing and applies every migration not yet
/// recorded; returns the versions applied now. A database migrated by a newer
/// build is refused rather than written with an older layout.
pub(crate) async fn migrate(db: &Db, database: &str) -> Result<Vec<u32>, StoreError> {
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
    let mut done = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        for statement in m.statements {
            db.execute(&plain(statement)).await?;
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
