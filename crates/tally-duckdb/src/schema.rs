//! Versioned schema migrations for the events database. Each migration runs once,
//! in its own transaction, and is recorded in `tally_migrations`.
//!
//! Layout: one flat, wide `events` table. Columns every query filters or groups on
//! are typed (project, time, event name, distinct id, url parts, enrichment fields);
//! all other properties stay in one JSON column. DuckDB has no clustered index:
//! rows stay in insertion order, which follows time closely, so the per-row-group
//! min/max of `timestamp` (zone maps) prune time-range scans. No ART index is
//! declared — uniqueness of `(project_id, uuid)` is enforced by the writer (see
//! `dedup`), because an ART index over every uuid is held in memory and slows bulk
//! appends.

use duckdb::Connection;

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "events table",
        sql: "CREATE TABLE events (
        project_id BIGINT NOT NULL,
        timestamp TIMESTAMP NOT NULL,
        event VARCHAR NOT NULL,
        distinct_id VARCHAR NOT NULL,
        uuid UUID NOT NULL,
        received_at TIMESTAMP NOT NULL,
        session_id VARCHAR,
        person_id BIGINT,
        url VARCHAR,
        path VARCHAR,
        referrer VARCHAR,
        browser VARCHAR,
        os VARCHAR,
        device VARCHAR,
        country VARCHAR,
        properties JSON
    );",
    },
    Migration {
        version: 2,
        name: "bot flag",
        // Added columns go last, after `properties`; the Arrow batch follows.
        sql: "ALTER TABLE events ADD COLUMN is_bot BOOLEAN DEFAULT false;",
    },
    Migration {
        version: 3,
        name: "event and property definitions",
        // Small (one row per event name or property key of a project), kept
        // current by the writer in the transaction that stores the events, so
        // a duplicate that is not stored is not counted either.
        sql: "CREATE TABLE definitions (
            project_id BIGINT NOT NULL,
            kind VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            property_type VARCHAR,
            first_seen TIMESTAMP NOT NULL,
            last_seen TIMESTAMP NOT NULL,
            count BIGINT NOT NULL,
            PRIMARY KEY (project_id, kind, name)
        );",
    },
    Migration {
        version: 4,
        name: "persons",
        // Kept by the processing stage through `PersonStore` (persons.rs).
        // `persons.properties` holds the current values (what queries read);
        // `property_writes` the per-key write history that decides conflicts.
        // `person_overrides` maps a person merged away to the survivor, so events
        // stored with the old id count for the survivor without rewriting them.
        sql: "CREATE TABLE persons (
            project_id BIGINT NOT NULL,
            id BIGINT NOT NULL,
            is_identified BOOLEAN NOT NULL,
            first_seen TIMESTAMP NOT NULL,
            last_seen TIMESTAMP NOT NULL,
            properties JSON NOT NULL,
            property_writes JSON NOT NULL,
            PRIMARY KEY (project_id, id)
        );
        CREATE TABLE person_distinct_ids (
            project_id BIGINT NOT NULL,
            distinct_id VARCHAR NOT NULL,
            person_id BIGINT NOT NULL,
            PRIMARY KEY (project_id, distinct_id)
        );
        CREATE TABLE person_overrides (
            project_id BIGINT NOT NULL,
            old_person_id BIGINT NOT NULL,
            person_id BIGINT NOT NULL,
            PRIMARY KEY (project_id, old_person_id)
        );",
    },
    Migration {
        version: 5,
        name: "hourly rollups",
        // See `rollup.rs`. `rollup_hourly` has no key: compaction replaces an
        // hour's rows as a whole. `rollup_hours` lists the hours whose rows are
        // exact; `rollup_state` remembers facts the rows depend on (the person
        // key's hash function).
        sql: "CREATE TABLE rollup_hourly (
            project_id BIGINT NOT NULL,
            hour TIMESTAMP NOT NULL,
            event VARCHAR NOT NULL,
            is_bot BOOLEAN NOT NULL,
            person BIGINT NOT NULL,
            browser VARCHAR,
            events BIGINT NOT NULL
        );
        CREATE TABLE rollup_hours (
            project_id BIGINT NOT NULL,
            hour TIMESTAMP NOT NULL,
            PRIMARY KEY (project_id, hour)
        );
        CREATE TABLE rollup_state (
            name VARCHAR PRIMARY KEY,
            value VARCHAR NOT NULL
        );",
    },
    Migration {
        version: 6,
        name: "rollups list dirty hours",
        // Instead of the hours whose rows are exact (`rollup_hours`), the hours
        // whose rows are not: an hour without events then counts as rolled up,
        // so a sparse project's range stays one stretch (see `rollup.rs`). No
        // key: the writer knows which hours are listed and never lists one twice
        // (DuckDB checks keys eagerly, which breaks delete-then-insert in one
        // transaction).
        sql: "CREATE TABLE rollup_dirty (
            project_id BIGINT NOT NULL,
            hour TIMESTAMP NOT NULL
        );
        INSERT INTO rollup_dirty
            SELECT DISTINCT project_id, date_trunc('hour', timestamp) FROM events
            EXCEPT SELECT project_id, hour FROM rollup_hours;
        DROP TABLE rollup_hours;",
    },
    Migration {
        version: 7,
        name: "session rollups",
        // One row per session with a `$session_id`: its facts over its non-bot
        // events, kept by compaction with the hourly rows (`rollup.rs`). Every
        // hour with events is listed dirty, so the first compaction after the
        // upgrade writes the rows of every session.
        sql: "CREATE TABLE rollup_sessions (
            project_id BIGINT NOT NULL,
            session_id VARCHAR NOT NULL,
            started TIMESTAMP NOT NULL,
            ended TIMESTAMP NOT NULL,
            pageviews BIGINT NOT NULL,
            other BIGINT NOT NULL
        );
        DELETE FROM rollup_dirty;
        INSERT INTO rollup_dirty
            SELECT DISTINCT project_id, date_trunc('hour', timestamp) FROM events;",
    },
    Migration {
        version: 8,
        name: "session rollups for the sessions list",
        // Every fact the sessions list shows (`crate::sql::SESSION_LIST_FACTS`,
        // in that order); rebuilt by the next compaction, as in version 7.
        sql: "DROP TABLE rollup_sessions;
        CREATE TABLE rollup_sessions (
            project_id BIGINT NOT NULL,
            session_id VARCHAR NOT NULL,
            distinct_id VARCHAR NOT NULL,
            person BIGINT NOT NULL,
            started TIMESTAMP NOT NULL,
            ended TIMESTAMP NOT NULL,
            n BIGINT NOT NULL,
            pageviews BIGINT NOT NULL,
            other BIGINT NOT NULL,
            entry_path VARCHAR,
            exit_path VARCHAR,
            referrer VARCHAR,
            channel VARCHAR,
            utm_source VARCHAR,
            utm_medium VARCHAR,
            utm_campaign VARCHAR,
            device VARCHAR,
            browser VARCHAR,
            country VARCHAR
        );
        DELETE FROM rollup_dirty;
        INSERT INTO rollup_dirty
            SELECT DISTINCT project_id, date_trunc('hour', timestamp) FROM events;",
    },
    Migration {
        version: 9,
        name: "person timelines",
        // One row per project, person key (before merges) and UTC hour with the
        // hour's non-bot events in order, as lists (`crate::sql::timeline`):
        // what funnels and paths walk instead of sorting events by person per
        // query. `rollup_names` numbers event names and page paths per project
        // so the lists hold small integers. Both are written by compaction;
        // every hour is listed dirty so the first one after the upgrade writes
        // every hour's rows.
        sql: "CREATE TABLE rollup_names (
            project_id BIGINT NOT NULL,
            id UINTEGER NOT NULL,
            name VARCHAR NOT NULL
        );
        CREATE TABLE rollup_timeline (
            project_id BIGINT NOT NULL,
            person BIGINT NOT NULL,
            hour TIMESTAMP NOT NULL,
            micros UINTEGER[] NOT NULL,
            event UINTEGER[] NOT NULL,
            page UINTEGER[] NOT NULL
        );
        DELETE FROM rollup_dirty;
        INSERT INTO rollup_dirty
            SELECT DISTINCT project_id, date_trunc('hour', timestamp) FROM events;",
    },
    Migration {
        version: 10,
        name: "timeline stamps",
        // A number per rolled-up hour, new each time compaction rewrites the
        // hour's timeline rows: what the in-memory copy of those rows is checked
        // against (`timeline_cache`). An hour without one has no rows. Hours
        // with rows get theirs here.
        sql: "CREATE SEQUENCE rollup_stamp_seq;
        CREATE TABLE rollup_stamps (
            project_id BIGINT NOT NULL,
            hour TIMESTAMP NOT NULL,
            stamp BIGINT NOT NULL
        );
        INSERT INTO rollup_stamps
            SELECT project_id, hour, nextval('rollup_stamp_seq')
            FROM (SELECT DISTINCT project_id, hour FROM rollup_timeline);",
    },
];

/// Applies every migration newer than the database's version.
pub fn migrate(conn: &mut Connection) -> duckdb::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS tally_migrations (
            version BIGINT PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL
        );",
    )?;
    let current: i64 = conn.query_row(
        "SELECT coalesce(max(version), 0) FROM tally_migrations",
        [],
        |r| r.get(0),
    )?;
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO tally_migrations VALUES (?, ?, now()::TIMESTAMP)",
            duckdb::params![m.version, m.name],
        )?;
        tx.commit()?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied events schema migration"
        );
    }
    Ok(())
}

/// The newest schema version this build knows.
#[cfg(test)]
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}
