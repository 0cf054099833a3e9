//! Keeps the hourly rollups (`crate::sql::rollup`) exact.
//!
//! Every hour of a project is either *dirty* — it has events not rolled up, and
//! is listed in `rollup_dirty` — or rolled up: its rows in `rollup_hourly` are the
//! aggregate of its events (none for an hour without events). Storing an event in
//! an hour lists the hour as dirty in the transaction that stores the event, so a
//! reader never takes an hour's rollup rows as exact once they are not.
//! Compaction recomputes dirty hours from the events and takes them off the list,
//! a bounded number of hours per transaction (inserts wait for it, then go on).
//! The writer keeps the same list in memory, so it knows which hours to add.
//!
//! The same pass rewrites the `rollup_sessions` row of every session (by
//! `$session_id`) with an event in the hours it recomputes, from that session's
//! events since the earliest one its row can need
//! (`crate::sql::rollup::session_rows_from_sql`): so a session's row is exact
//! unless one of its events lies in a dirty hour, which readers check.
//!
//! It also rewrites the hours' person timelines (`rollup_timeline`, numbering
//! new names in `rollup_names` first: `crate::sql::timeline`).
//!
//! The rows hold a person key made with DuckDB's `hash`; if a new DuckDB build
//! hashed differently, rollup keys would no longer match the raw events' keys, so
//! a fingerprint of the hash is kept and every rollup is rebuilt when it changes.

use crate::query::Bound;
use crate::sql::rollup::{
    delete_session_rows_sql, hour_of, rollup_rows_sql, session_rows_from_sql, session_rows_sql,
};
use crate::sql::timeline;
use crate::sql::Sql;
use crate::store::internal;
use chrono::{DateTime, Duration, Utc};
use duckdb::Connection;
use std::collections::BTreeSet;
use tally_core::{Event, ProjectId, StoreError};
use tally_query::TimeRange;

/// A project's hour, by the hour's start in seconds since the epoch.
pub(crate) type HourKey = (ProjectId, i64);

/// Hours recomputed per transaction at most (two days of one project's hours):
/// inserts wait for a pass, so it is kept short — with person timelines a
/// catch-up pass costs ~1.4 s per 48 hours of 10M events a month (716 hours in
/// 20.8 s on the seeded data).
const HOURS_PER_PASS: usize = 48;

const HASH_PROBE: &str = "SELECT hash('tally rollup person key')::VARCHAR";

#[derive(Debug, Default)]
pub(crate) struct Rollups {
    /// The rows of `rollup_dirty`.
    dirty: BTreeSet<HourKey>,
}

fn execute(conn: &Connection, sql: &Sql) -> Result<usize, StoreError> {
    conn.prepare(&sql.text)
        .and_then(|mut st| st.execute(duckdb::params_from_iter(sql.params.iter().map(Bound))))
        .map_err(internal)
}

fn key_of(e: &Event) -> HourKey {
    (e.project_id, hour_of(e.timestamp).timestamp())
}

fn instant(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

impl Rollups {
    /// Reads the dirty hours; on a database whose person keys were made by
    /// another hash function, first lists every hour with events as dirty.
    pub(crate) fn load(conn: &Connection) -> Result<Self, StoreError> {
        let probe: String = conn
            .query_row(HASH_PROBE, [], |r| r.get(0))
            .map_err(internal)?;
        let stored: Option<String> = conn
            .query_row(
                "SELECT max(value) FROM rollup_state WHERE name = 'person_hash'",
                [],
                |r| r.get(0),
            )
            .map_err(internal)?;
        if stored.as_deref() != Some(probe.as_str()) {
            conn.execute_batch(
                "BEGIN; DELETE FROM rollup_hourly; DELETE FROM rollup_dirty; \
                 INSERT INTO rollup_dirty SELECT DISTINCT project_id, date_trunc('hour', timestamp) FROM events; \
                 DELETE FROM rollup_state WHERE name = 'person_hash'; COMMIT;",
            )
            .map_err(internal)?;
            conn.execute(
                "INSERT INTO rollup_state VALUES ('person_hash', ?)",
                [&probe],
            )
            .map_err(internal)?;
        }
        let mut st = conn
            .prepare("SELECT project_id, epoch_us(hour) // 1000000 FROM rollup_dirty")
            .map_err(internal)?;
        let dirty = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(internal)?
            .collect::<Result<_, _>>()
            .map_err(internal)?;
        Ok(Self { dirty })
    }

    /// The hours of a batch about to be stored.
    pub(crate) fn hours_of(rows: &[&Event]) -> BTreeSet<HourKey> {
        // Neighbouring events mostly share their hour: skip those before the
        // set (collecting them all first sorted every key of the batch).
        let mut hours = BTreeSet::new();
        let mut last = None;
        for e in rows {
            let key = key_of(e);
            if last != Some(key) {
                hours.insert(key);
                last = Some(key);
            }
        }
        hours
    }

    /// In the transaction storing events in `hours`: lists those not dirty yet.
    pub(crate) fn mark_dirty_in(
        &self,
        tx: &Connection,
        hours: &BTreeSet<HourKey>,
    ) -> Result<(), StoreError> {
        for &(project, hour) in hours.iter().filter(|k| !self.dirty.contains(k)) {
            tx.execute(
                "INSERT INTO rollup_dirty VALUES (?, make_timestamp(?))",
                duckdb::params![project, hour * 1_000_000],
            )
            .map_err(internal)?;
        }
        Ok(())
    }

    /// After that transaction committed.
    pub(crate) fn mark_dirty(&mut self, hours: BTreeSet<HourKey>) {
        self.dirty.extend(hours);
    }

    /// After a project's events were deleted.
    pub(crate) fn forget(&mut self, project: ProjectId) {
        self.dirty.retain(|k| k.0 != project);
    }

    pub(crate) fn dirty_hours(&self) -> usize {
        self.dirty.len()
    }

    /// Recomputes up to [`HOURS_PER_PASS`] dirty hours that ended by
    /// `sealed_before` (every dirty hour when `None`) in one transaction and
    /// takes them off the dirty list. Returns how many.
    pub(crate) fn compact_pass(
        &mut self,
        conn: &mut Connection,
        sealed_before: Option<DateTime<Utc>>,
    ) -> Result<usize, StoreError> {
        let due: Vec<HourKey> = self
            .dirty
            .iter()
            .filter(|(_, h)| sealed_before.is_none_or(|t| h + 3600 <= t.timestamp()))
            .take(HOURS_PER_PASS)
            .copied()
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let tx = conn.transaction().map_err(internal)?;
        // `due` is sorted by project, then hour: one statement set per project,
        // over stretches of consecutive hours.
        for project_hours in due.chunk_by(|a, b| a.0 == b.0) {
            let project = project_hours[0].0;
            let mut stretches: Vec<TimeRange> = Vec::new();
            for &(_, h) in project_hours {
                let (from, to) = (instant(h), instant(h) + Duration::hours(1));
                match stretches.last_mut() {
                    Some(last) if last.to == from => last.to = to,
                    _ => stretches.push(TimeRange { from, to }),
                }
            }
            for stretch in &stretches {
                for table in ["rollup_hourly", "rollup_timeline", "rollup_stamps"] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE project_id = ? AND hour >= make_timestamp(?) AND hour < make_timestamp(?)"),
                        duckdb::params![project, stretch.from.timestamp_micros(), stretch.to.timestamp_micros()],
                    )
                    .map_err(internal)?;
                }
            }
            let mut insert = rollup_rows_sql(project, &stretches);
            insert.text.insert_str(0, "INSERT INTO rollup_hourly ");
            execute(&tx, &insert)?;
            // Names first: the timeline rows hold their numbers.
            execute(&tx, &timeline::new_names_sql(project, &stretches))?;
            let mut timelines = timeline::timeline_rows_sql(project, &stretches);
            timelines.text.insert_str(0, "INSERT INTO rollup_timeline ");
            execute(&tx, &timelines)?;
            // A new stamp for every hour rewritten, with rows or not: the
            // copies of its old rows kept in memory are no longer its rows.
            for &(_, h) in project_hours {
                tx.execute(
                    "INSERT INTO rollup_stamps VALUES (?, make_timestamp(?), nextval('rollup_stamp_seq'))",
                    duckdb::params![project, h * 1_000_000],
                )
                .map_err(internal)?;
            }
            // Every session with an event in these hours, over its events from
            // the earliest one its row can need.
            let bound = session_rows_from_sql(project, &stretches);
            let from_us: Option<i64> = tx
                .prepare(&bound.text)
                .and_then(|mut st| {
                    st.query_row(
                        duckdb::params_from_iter(bound.params.iter().map(Bound)),
                        |r| r.get(0),
                    )
                })
                .map_err(internal)?;
            if let Some(from_us) = from_us {
                execute(&tx, &delete_session_rows_sql(project, &stretches))?;
                let mut sessions = session_rows_sql(project, &stretches, from_us);
                sessions.text.insert_str(0, "INSERT INTO rollup_sessions ");
                execute(&tx, &sessions)?;
            }
            // Every hour of a stretch is due, so the stretch is what is taken off.
            for stretch in &stretches {
                tx.execute(
                    "DELETE FROM rollup_dirty WHERE project_id = ? AND hour >= make_timestamp(?) AND hour < make_timestamp(?)",
                    duckdb::params![project, stretch.from.timestamp_micros(), stretch.to.timestamp_micros()],
                )
                .map_err(internal)?;
            }
        }
        tx.commit().map_err(internal)?;
        for k in &due {
            self.dirty.remove(k);
        }
        Ok(due.len())
    }
}
