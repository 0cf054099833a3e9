//! [`PersonStore`] on the embedded database: persons, which distinct ids belong to
//! them, and which merged-away persons now count as which (tables of migration 4).
//!
//! Runs on a connection of its own (its own lock), not the event writer's: the
//! spool's drain resolves the persons of one batch while the batch before is
//! being inserted, and on the writer's connection it waited for that insert. The
//! person tables are written by this connection only (and by a project's
//! deletion, which holds both locks). Each save is one transaction; saving the
//! same changes again is harmless (links and rows are upserts, a merge whose
//! source is gone moves nothing). Person ids come from a counter kept with the
//! connection, started past every id in use at open — ids reach events only
//! after the save that records them committed, so an id handed out but never
//! saved (a crash in between) may be handed out again safely.

use crate::store::{internal, lock, staging, DuckDb};
use chrono::{DateTime, Utc};
use duckdb::Connection;
use tally_core::{
    Person, PersonChanges, PersonId, PersonProperties, PersonSnapshot, PersonStore, ProjectId,
    ResolutionGuard, StoreError,
};

/// One past the highest person id used anywhere.
pub(crate) fn next_person_id(conn: &Connection) -> duckdb::Result<i64> {
    conn.query_row(
        "SELECT greatest(
            (SELECT coalesce(max(id), 0) FROM persons),
            (SELECT coalesce(max(old_person_id), 0) FROM person_overrides),
            (SELECT coalesce(max(person_id), 0) FROM events)) + 1",
        [],
        |r| r.get(0),
    )
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Creates the persons connection's staging tables (temporary: per connection,
/// never written to disk). Batches reach DuckDB through an appender into these
/// and one set-based statement, rather than as `VALUES` lists of bound
/// parameters, which DuckDB plans slowly (~70 ms for 100 persons, measured).
pub(crate) fn create_staging(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch(
        "CREATE TEMP TABLE person_keys (project_id BIGINT, distinct_id VARCHAR);
         CREATE TEMP TABLE person_links (project_id BIGINT, distinct_id VARCHAR, person_id BIGINT);
         CREATE TEMP TABLE person_rows (project_id BIGINT, id BIGINT, is_identified BOOLEAN,
             first_us BIGINT, last_us BIGINT, properties VARCHAR, property_writes VARCHAR);",
    )
}

impl PersonStore for DuckDb {
    fn resolution_guard(&self) -> Result<Box<dyn ResolutionGuard + '_>, StoreError> {
        Ok(Box::new(lock(&self.inner.resolution)))
    }

    fn load_persons(&self, keys: &[(ProjectId, String)]) -> Result<PersonSnapshot, StoreError> {
        let started = std::time::Instant::now();
        let mut snapshot = PersonSnapshot::default();
        if keys.is_empty() {
            return Ok(snapshot);
        }
        let mut persons = lock(&self.inner.persons);
        // Only the staging table changes; rolled back when dropped.
        let tx = persons.conn.transaction().map_err(internal)?;
        {
            let mut app = staging(&tx, "person_keys")?;
            for (project, id) in keys {
                app.append_row(duckdb::params![project, id])
                    .map_err(internal)?;
            }
            app.flush().map_err(internal)?;
        }
        {
            let mut stmt = tx
                .prepare(
                    "SELECT d.project_id, d.distinct_id, d.person_id FROM person_distinct_ids d \
                     JOIN temp.person_keys k \
                     ON d.project_id = k.project_id AND d.distinct_id = k.distinct_id",
                )
                .map_err(internal)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(internal)?;
            for row in rows {
                snapshot.distinct_ids.push(row.map_err(internal)?);
            }
        }
        if !snapshot.distinct_ids.is_empty() {
            let mut stmt = tx
                .prepare(
                    "SELECT p.project_id, p.id, p.is_identified, epoch_us(p.first_seen), \
                     epoch_us(p.last_seen), p.property_writes::VARCHAR FROM persons p \
                     JOIN (SELECT DISTINCT d.project_id, d.person_id FROM person_distinct_ids d \
                     JOIN temp.person_keys k \
                     ON d.project_id = k.project_id AND d.distinct_id = k.distinct_id) w \
                     ON p.project_id = w.project_id AND p.id = w.person_id",
                )
                .map_err(internal)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })
                .map_err(internal)?;
            for row in rows {
                let (project_id, id, is_identified, first, last, writes) = row.map_err(internal)?;
                let properties: PersonProperties = serde_json::from_str(&writes)
                    .map_err(|e| StoreError::Internal(format!("person {id}: {e}")))?;
                snapshot.persons.push(Person {
                    project_id,
                    id,
                    is_identified,
                    first_seen: from_micros(first),
                    last_seen: from_micros(last),
                    properties,
                });
            }
        }
        drop(tx);
        tracing::debug!(
            keys = keys.len(),
            persons = snapshot.persons.len(),
            us = started.elapsed().as_micros() as u64,
            "persons loaded"
        );
        Ok(snapshot)
    }

    fn allocate_person_ids(&self, count: usize) -> Result<PersonId, StoreError> {
        let mut persons = lock(&self.inner.persons);
        let first = persons.next_person_id;
        persons.next_person_id += i64::try_from(count).unwrap_or(i64::MAX);
        Ok(first)
    }

    fn save_persons(&self, changes: &PersonChanges) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut persons = lock(&self.inner.persons);
        let tx = persons.conn.transaction().map_err(internal)?;
        for &(project, from, into) in &changes.merges {
            let params = duckdb::params![into, project, from];
            tx.execute(
                "UPDATE person_distinct_ids SET person_id = ? WHERE project_id = ? AND person_id = ?",
                params,
            )
            .map_err(internal)?;
            tx.execute(
                "UPDATE person_overrides SET person_id = ? WHERE project_id = ? AND person_id = ?",
                params,
            )
            .map_err(internal)?;
            tx.execute(
                "INSERT INTO person_overrides VALUES (?, ?, ?) ON CONFLICT (project_id, old_person_id) \
                 DO UPDATE SET person_id = excluded.person_id",
                duckdb::params![project, from, into],
            )
            .map_err(internal)?;
            tx.execute(
                "DELETE FROM persons WHERE project_id = ? AND id = ?",
                duckdb::params![project, from],
            )
            .map_err(internal)?;
        }
        if !changes.links.is_empty() {
            let mut app = staging(&tx, "person_links")?;
            for (project, id, person) in &changes.links {
                app.append_row(duckdb::params![project, id, person])
                    .map_err(internal)?;
            }
            app.flush().map_err(internal)?;
            drop(app);
            tx.execute_batch(
                "INSERT INTO person_distinct_ids SELECT project_id, distinct_id, person_id \
                 FROM temp.person_links ON CONFLICT (project_id, distinct_id) \
                 DO UPDATE SET person_id = excluded.person_id",
            )
            .map_err(internal)?;
        }
        if !changes.persons.is_empty() {
            let mut app = staging(&tx, "person_rows")?;
            for p in &changes.persons {
                let writes = serde_json::to_string(&p.properties)
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                let values = serde_json::Value::Object(p.properties.values()).to_string();
                app.append_row(duckdb::params![
                    p.project_id,
                    p.id,
                    p.is_identified,
                    p.first_seen.timestamp_micros(),
                    p.last_seen.timestamp_micros(),
                    values,
                    writes,
                ])
                .map_err(internal)?;
            }
            app.flush().map_err(internal)?;
            drop(app);
            tx.execute_batch(
                "INSERT INTO persons SELECT project_id, id, is_identified, make_timestamp(first_us), \
                 make_timestamp(last_us), properties::JSON, property_writes::JSON FROM temp.person_rows \
                 ON CONFLICT (project_id, id) DO UPDATE SET \
                 is_identified = excluded.is_identified, first_seen = excluded.first_seen, \
                 last_seen = excluded.last_seen, properties = excluded.properties, \
                 property_writes = excluded.property_writes",
            )
            .map_err(internal)?;
        }
        let written = started.elapsed();
        tx.commit().map_err(internal)?;
        tracing::debug!(
            merges = changes.merges.len(),
            links = changes.links.len(),
            persons = changes.persons.len(),
            write_us = written.as_micros() as u64,
            commit_us = (started.elapsed() - written).as_micros() as u64,
            "persons saved"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DuckDbConfig;
    use serde_json::json;
    use tally_core::{PropertyWrite, WriteKind};

    fn open(dir: &std::path::Path) -> DuckDb {
        DuckDb::open(&DuckDbConfig::in_dir(dir)).unwrap()
    }

    fn person(id: PersonId, plan: &str) -> Person {
        let mut properties = PersonProperties::default();
        properties.apply(
            "plan",
            PropertyWrite {
                value: Some(json!(plan)),
                at_ms: 1_000,
                kind: WriteKind::Set,
            },
        );
        Person {
            project_id: 1,
            id,
            is_identified: id == 1,
            first_seen: from_micros(1_000_000),
            last_seen: from_micros(2_000_000),
            properties,
        }
    }

    #[test]
    fn saved_persons_load_back_and_merges_move_ids_and_write_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
        let first = db.allocate_person_ids(3).unwrap();
        assert_eq!(first, 1);
        let links = vec![
            (1, "a".to_string(), 1),
            (1, "b".to_string(), 2),
            (1, "c".to_string(), 3),
        ];
        db.save_persons(&PersonChanges {
            merges: vec![],
            links: links.clone(),
            persons: vec![person(1, "pro"), person(2, "free"), person(3, "x")],
        })
        .unwrap();
        let keys: Vec<_> = ["a", "b", "zzz"]
            .iter()
            .map(|d| (1, d.to_string()))
            .collect();
        let snap = db.load_persons(&keys).unwrap();
        let mut ids = snap.distinct_ids.clone();
        ids.sort();
        assert_eq!(ids, links[..2].to_vec());
        assert_eq!(snap.persons.len(), 2);
        let one = snap.persons.iter().find(|p| p.id == 1).unwrap();
        assert_eq!(one, &person(1, "pro"));

        // 3 into 2, then 2 into 1: both chains end at 1, twice over (a replay).
        let merges = PersonChanges {
            merges: vec![(1, 3, 2), (1, 2, 1)],
            links: vec![],
            persons: vec![],
        };
        db.save_persons(&merges).unwrap();
        db.save_persons(&merges).unwrap();
        let keys: Vec<_> = ["a", "b", "c"].iter().map(|d| (1, d.to_string())).collect();
        let snap = db.load_persons(&keys).unwrap();
        assert!(snap.distinct_ids.iter().all(|(_, _, p)| *p == 1));
        assert_eq!(snap.persons.len(), 1);
        let overrides: Vec<(i64, i64)> = db
            .read(|c| {
                let mut stmt = c
                    .prepare("SELECT old_person_id, person_id FROM person_overrides ORDER BY 1")
                    .map_err(internal)?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(internal)?;
                rows.collect::<Result<_, _>>().map_err(internal)
            })
            .unwrap();
        assert_eq!(overrides, vec![(2, 1), (3, 1)]);
    }

    #[test]
    fn person_ids_are_not_handed_out_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = open(dir.path());
            let first = db.allocate_person_ids(5).unwrap();
            db.save_persons(&PersonChanges {
                merges: vec![(1, first + 4, first)],
                links: vec![(1, "a".into(), first)],
                persons: vec![person(first, "pro")],
            })
            .unwrap();
        }
        let db = open(dir.path());
        // 5 (merged away) is the highest id in use.
        assert_eq!(db.allocate_person_ids(1).unwrap(), 6);
    }
}
