//! [`PersonStore`] on the embedded database: persons, which distinct ids belong to
//! them, and which merged-away persons now count as which (tables of migration 4).
//!
//! Runs on the writer connection, so it never races an insert. Each save is one
//! transaction; saving the same changes again is harmless (links and rows are
//! upserts, a merge whose source is gone moves nothing). Person ids come from a
//! counter the writer keeps, started past every id in use at open — ids reach
//! events only after the save that records them committed, so an id handed out
//! but never saved (a crash in between) may be handed out again safely.

use crate::store::{internal, lock, DuckDb};
use chrono::{DateTime, Utc};
use duckdb::types::Value;
use duckdb::Connection;
use std::collections::HashSet;
use tally_core::{
    Person, PersonChanges, PersonId, PersonProperties, PersonSnapshot, PersonStore, ProjectId,
    StoreError,
};

/// Rows per multi-row statement: keeps parameter lists moderate while still
/// paying DuckDB's per-statement cost once per few hundred rows.
const CHUNK: usize = 500;

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

fn micros(t: DateTime<Utc>) -> Value {
    Value::BigInt(t.timestamp_micros())
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

impl PersonStore for DuckDb {
    fn load_persons(&self, keys: &[(ProjectId, String)]) -> Result<PersonSnapshot, StoreError> {
        let writer = lock(&self.inner.writer);
        let conn = &writer.conn;
        let mut snapshot = PersonSnapshot::default();
        for chunk in keys.chunks(CHUNK) {
            let sql = format!(
                "SELECT d.project_id, d.distinct_id, d.person_id FROM person_distinct_ids d \
                 JOIN (VALUES {}) AS k(project_id, distinct_id) \
                 ON d.project_id = k.project_id AND d.distinct_id = k.distinct_id",
                vec!["(?::BIGINT, ?::VARCHAR)"; chunk.len()].join(", ")
            );
            let params = chunk
                .iter()
                .flat_map(|(p, d)| [Value::BigInt(*p), Value::Text(d.clone())]);
            let mut stmt = conn.prepare(&sql).map_err(internal)?;
            let rows = stmt
                .query_map(duckdb::params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(internal)?;
            for row in rows {
                snapshot.distinct_ids.push(row.map_err(internal)?);
            }
        }
        let wanted: Vec<(ProjectId, PersonId)> = snapshot
            .distinct_ids
            .iter()
            .map(|(p, _, person)| (*p, *person))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for chunk in wanted.chunks(CHUNK) {
            let sql = format!(
                "SELECT p.project_id, p.id, p.is_identified, epoch_us(p.first_seen), \
                 epoch_us(p.last_seen), p.property_writes::VARCHAR FROM persons p \
                 JOIN (VALUES {}) AS k(project_id, id) \
                 ON p.project_id = k.project_id AND p.id = k.id",
                vec!["(?::BIGINT, ?::BIGINT)"; chunk.len()].join(", ")
            );
            let params = chunk
                .iter()
                .flat_map(|(p, id)| [Value::BigInt(*p), Value::BigInt(*id)]);
            let mut stmt = conn.prepare(&sql).map_err(internal)?;
            let rows = stmt
                .query_map(duckdb::params_from_iter(params), |r| {
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
        Ok(snapshot)
    }

    fn allocate_person_ids(&self, count: usize) -> Result<PersonId, StoreError> {
        let mut writer = lock(&self.inner.writer);
        let first = writer.next_person_id;
        writer.next_person_id += i64::try_from(count).unwrap_or(i64::MAX);
        Ok(first)
    }

    fn save_persons(&self, changes: &PersonChanges) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut writer = lock(&self.inner.writer);
        let tx = writer.conn.transaction().map_err(internal)?;
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
        for chunk in changes.links.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO person_distinct_ids VALUES {} ON CONFLICT (project_id, distinct_id) \
                 DO UPDATE SET person_id = excluded.person_id",
                vec!["(?, ?, ?)"; chunk.len()].join(", ")
            );
            let params = chunk.iter().flat_map(|(p, d, person)| {
                [
                    Value::BigInt(*p),
                    Value::Text(d.clone()),
                    Value::BigInt(*person),
                ]
            });
            tx.execute(&sql, duckdb::params_from_iter(params))
                .map_err(internal)?;
        }
        for chunk in changes.persons.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO persons VALUES {} ON CONFLICT (project_id, id) DO UPDATE SET \
                 is_identified = excluded.is_identified, first_seen = excluded.first_seen, \
                 last_seen = excluded.last_seen, properties = excluded.properties, \
                 property_writes = excluded.property_writes",
                vec![
                    "(?, ?, ?, make_timestamp(?), make_timestamp(?), ?::JSON, ?::JSON)";
                    chunk.len()
                ]
                .join(", ")
            );
            let mut params = Vec::with_capacity(chunk.len() * 7);
            for p in chunk {
                let writes = serde_json::to_string(&p.properties)
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                params.extend([
                    Value::BigInt(p.project_id),
                    Value::BigInt(p.id),
                    Value::Boolean(p.is_identified),
                    micros(p.first_seen),
                    micros(p.last_seen),
                    Value::Text(serde_json::Value::Object(p.properties.values()).to_string()),
                    Value::Text(writes),
                ]);
            }
            tx.execute(&sql, duckdb::params_from_iter(params))
                .map_err(internal)?;
        }
        tx.commit().map_err(internal)
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
