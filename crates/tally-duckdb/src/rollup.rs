//! Keeps the hourly rollups (`tally_query::rollup`) exact.
//!
//! The writer holds which hours are covered (`clean`, the same set as the
//! `rollup_hours` table) and which have events not rolled up yet (`dirty`); the
//! two never overlap. Storing an event in a covered hour deletes that hour from
//! `rollup_hours` in the transaction that stores the event, so a reader never
//! takes an hour's rollup rows as exact once they are not. Compaction recomputes
//! dirty hours from the events and lists them again, a bounded number of hours
//! per transaction (inserts wait for it, then go on).
//!
//! The rows hold a person key made with DuckDB's `hash`; if a new DuckDB build
//! hashed differently, rollup keys would no longer match the raw events' keys, so
//! a fingerprint of the hash is kept and every rollup is rebuilt when it changes.

use crate::query::Bound;
use crate::store::internal;
use chrono::{DateTime, Duration, Utc};
use duckdb::Connection;
use std::collections::{BTreeSet, HashSet};
use tally_core::{Event, ProjectId, StoreError};
use tally_query::rollup::{hour_of, rollup_rows_sql};
use tally_query::sql::Sql;
use tally_query::TimeRange;

/// A project's hour, by the hour's start in seconds since the epoch.
pub(crate) type HourKey = (ProjectId, i64);

/// Hours recomputed per transaction at most (a week of one project's hours):
/// inserts wait for a pass, so it is kept short (~1 s for 2M events).
const HOURS_PER_PASS: usize = 168;

const HASH_PROBE: &str = "SELECT hash('tally rollup person key')::VARCHAR";

#[derive(Debug, Default)]
pub(crate) struct Rollups {
    clean: HashSet<HourKey>,
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
    /// Reads the covered hours and finds the hours with events not rolled up
    /// (all of them on a database from before rollups, or after the hash changed).
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
                "BEGIN; DELETE FROM rollup_hourly; DELETE FROM rollup_hours; \
                 DELETE FROM rollup_state WHERE name = 'person_hash'; COMMIT;",
            )
            .map_err(internal)?;
            conn.execute(
                "INSERT INTO rollup_state VALUES ('person_hash', ?)",
                [&probe],
            )
            .map_err(internal)?;
        }
        let keys = |sql: &str| -> Result<Vec<HourKey>, StoreError> {
            let mut st = conn.prepare(sql).map_err(internal)?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(internal)?;
            rows.collect::<Result<_, _>>().map_err(internal)
        };
        let clean: HashSet<HourKey> =
            keys("SELECT project_id, epoch_us(hour) // 1000000 FROM rollup_hours")?
                .into_iter()
                .collect();
        let dirty = keys(
            "SELECT DISTINCT project_id, epoch_us(date_trunc('hour', timestamp)) // 1000000 FROM events",
        )?
        .into_iter()
        .filter(|k| !clean.contains(k))
        .collect();
        Ok(Self { clean, dirty })
    }

    /// The hours of a batch about to be stored.
    pub(crate) fn hours_of(rows: &[&Event]) -> BTreeSet<HourKey> {
        rows.iter().map(|e| key_of(e)).collect()
    }

    /// In the transaction storing events in `hours`: the covered ones are no
    /// longer exact.
    pub(crate) fn uncover(
        &self,
        tx: &Connection,
        hours: &BTreeSet<HourKey>,
    ) -> Result<(), StoreError> {
        for &(project, hour) in hours.iter().filter(|k| self.clean.contains(k)) {
            tx.execute(
                "DELETE FROM rollup_hours WHERE project_id = ? AND hour = make_timestamp(?)",
                duckdb::params![project, hour * 1_000_000],
            )
            .map_err(internal)?;
        }
        Ok(())
    }

    /// After that transaction committed.
    pub(crate) fn mark_dirty(&mut self, hours: BTreeSet<HourKey>) {
        for k in hours {
            self.clean.remove(&k);
            self.dirty.insert(k);
        }
    }

    /// After a project's events were deleted.
    pub(crate) fn forget(&mut self, project: ProjectId) {
        self.clean.retain(|k| k.0 != project);
        self.dirty.retain(|k| k.0 != project);
    }

    pub(crate) fn dirty_hours(&self) -> usize {
        self.dirty.len()
    }

    /// Recomputes up to [`HOURS_PER_PASS`] dirty hours that ended by
    /// `sealed_before` (every dirty hour when `None`) in one transaction and
    /// lists them as covered. Returns how many.
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
                tx.execute(
                    "DELETE FROM rollup_hourly WHERE project_id = ? AND hour >= make_timestamp(?) AND hour < make_timestamp(?)",
                    duckdb::params![project, stretch.from.timestamp_micros(), stretch.to.timestamp_micros()],
                )
                .map_err(internal)?;
            }
            let mut insert = rollup_rows_sql(project, &stretches);
            insert.text.insert_str(0, "INSERT INTO rollup_hourly ");
            execute(&tx, &insert)?;
            for stretch in &stretches {
                tx.execute(
                    "INSERT INTO rollup_hours SELECT ?, range FROM range(make_timestamp(?), make_timestamp(?), INTERVAL 1 HOUR)",
                    duckdb::params![project, stretch.from.timestamp_micros(), stretch.to.timestamp_micros()],
                )
                .map_err(internal)?;
            }
        }
        tx.commit().map_err(internal)?;
        for k in &due {
            self.dirty.remove(k);
            self.clean.insert(*k);
        }
        Ok(due.len())
    }
}
