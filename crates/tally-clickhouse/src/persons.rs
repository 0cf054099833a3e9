//! [`PersonStore`] on ClickHouse: persons, which distinct ids belong to them,
//! and which merged-away persons now count as which (`schema.rs`).
//!
//! Every change is an insert of rows with a higher `version`; readers take each
//! key's latest row. A merge does not rewrite the merged person's distinct ids
//! (that would mean finding them among all of the project's): it records the
//! override `from → into`, re-points the overrides that pointed at `from`, and
//! marks `from` deleted; a distinct id's person is its linked person followed
//! through the overrides, on load and in every query, as events stored with
//! `from` are. Saving the same changes again inserts equal rows with newer
//! versions: harmless.
//!
//! The `PersonStore` methods are blocking (the processing stage calls them on
//! the blocking pool, tests from async code): their requests run on a small
//! runtime of the store's own, the caller waits on a channel.
//!
//! Person ids come from a counter kept in this process, started past every id
//! in use at open, as on DuckDB: right for one writer process (the embedded
//! spool, one worker). Several worker processes writing persons into one
//! ClickHouse need ids and the resolution lock shared through PostgreSQL — not
//! built yet (issue 29's remaining point).

use crate::client::{Db, Sql};
use crate::store::{value_text, ClickHouse};
use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use tally_core::properties::type_of;
use tally_core::{
    Person, PersonChanges, PersonId, PersonProperties, PersonSnapshot, PersonStore, ProjectId,
    ResolutionGuard, StoreError,
};
use tally_query::sql::SqlParam;

pub(crate) struct PersonsState {
    /// Runs the blocking methods' requests; shut down in the background on drop
    /// (the store may be dropped inside async code).
    runtime: Option<tokio::runtime::Runtime>,
    /// A client of its own (its own connection pool): a pooled connection is
    /// driven by the runtime that opened it, and the caller of a blocking
    /// method may be that runtime's only thread, waiting. In an HTTP session of
    /// its own, for the lookups' temporary tables (one resolution at a time
    /// holds the resolution lock, so the session is never used twice at once).
    db: Db,
    /// Held by a resolution from load to save.
    resolution: Mutex<()>,
    /// Held while persons are saved or a project's persons deleted.
    saving: tokio::sync::Mutex<()>,
    counters: Mutex<Counters>,
}

struct Counters {
    next_person_id: i64,
    last_version: u64,
}

impl Drop for PersonsState {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

impl PersonsState {
    pub(crate) async fn open(
        db: &Db,
        config: &crate::ClickHouseConfig,
    ) -> Result<Self, StoreError> {
        let next: Vec<i64> = db
            .fetch_all(&crate::client::plain(
                // `greatest` takes two arguments on ClickHouse 18.16.
                "SELECT greatest(greatest(
                    (SELECT max(id) FROM persons),
                    (SELECT max(old_person_id) FROM person_overrides)),
                    (SELECT max(ifNull(person_id, 0)) FROM events)) + 1",
            ))
            .await?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tally-ch-persons")
            .enable_all()
            .build()
            .map_err(internal)?;
        Ok(Self {
            runtime: Some(runtime),
            db: Db::new(config).in_session(&format!("tally-persons-{}", uuid::Uuid::new_v4())),
            resolution: Mutex::new(()),
            saving: tokio::sync::Mutex::new(()),
            counters: Mutex::new(Counters {
                next_person_id: next.first().copied().unwrap_or(1).max(1),
                last_version: 0,
            }),
        })
    }

    pub(crate) async fn saving(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.saving.lock().await
    }

    /// Runs `work` on the store's runtime and waits for it.
    fn block_on<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .spawn(async move {
                let _ = tx.send(work.await);
            });
        rx.recv()
            .map_err(|_| StoreError::Internal("the persons runtime stopped".into()))?
    }

    /// `n` versions, each higher than any handed out before in this process
    /// (and than the clock's microseconds, so a restarted process goes on
    /// above its predecessor's).
    fn versions(&self, n: usize) -> u64 {
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let now = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0);
        let first = now.max(c.last_version + 1);
        c.last_version = first + n as u64;
        first
    }
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// `((?, ?), …)` of (project, id) pairs.
fn bind_id_pairs(s: &mut Sql, pairs: impl Iterator<Item = (ProjectId, i64)>) {
    s.push("(");
    for (i, (p, id)) in pairs.enumerate() {
        if i > 0 {
            s.push(", ");
        }
        s.push("(")
            .bind(SqlParam::Int(p))
            .push(", ")
            .bind(SqlParam::Int(id))
            .push(")");
    }
    s.push(")");
}

/// A distinct id to look up, as the session's `person_keys` table holds it.
#[derive(Row, Serialize)]
struct KeyRow {
    project_id: i64,
    distinct_id: String,
}

/// A person id to look up, as the session's `person_ids` table holds it.
#[derive(Row, Serialize)]
struct IdRow {
    project_id: i64,
    id: i64,
}

/// Fills the persons session's temporary table `table` (made anew) with `rows`:
/// the lookups below read it with `IN (SELECT …)`, so a batch of any size is
/// one small query (as literals, 40,000 ids took ClickHouse 25 s to parse, past
/// its default limits).
async fn stage<T>(db: &Db, table: &str, columns: &str, rows: &[T]) -> Result<(), StoreError>
where
    T: clickhouse::RowOwned + clickhouse::RowWrite + Serialize,
{
    db.execute(&crate::client::plain(&format!(
        "DROP TEMPORARY TABLE IF EXISTS {table}"
    )))
    .await?;
    db.execute(&crate::client::plain(&format!(
        "CREATE TEMPORARY TABLE {table} ({columns})"
    )))
    .await?;
    db.insert_rows(table, rows).await
}

async fn stage_ids(db: &Db, ids: impl Iterator<Item = (ProjectId, i64)>) -> Result<(), StoreError> {
    let rows: Vec<IdRow> = ids
        .map(|(project_id, id)| IdRow { project_id, id })
        .collect();
    stage(db, "person_ids", "project_id Int64, id Int64", &rows).await
}

async fn load(db: Db, keys: Vec<(ProjectId, String)>) -> Result<PersonSnapshot, StoreError> {
    let mut snapshot = PersonSnapshot::default();
    let rows: Vec<KeyRow> = keys
        .into_iter()
        .map(|(project_id, distinct_id)| KeyRow {
            project_id,
            distinct_id,
        })
        .collect();
    stage(
        &db,
        "person_keys",
        "project_id Int64, distinct_id String",
        &rows,
    )
    .await?;
    let linked: Vec<(i64, String, i64)> = db
        .fetch_all(&crate::client::plain(
            "SELECT project_id, distinct_id, argMax(person_id, version) FROM person_distinct_ids \
             WHERE (project_id, distinct_id) IN (SELECT project_id, distinct_id FROM person_keys) \
             GROUP BY project_id, distinct_id",
        ))
        .await?;
    if linked.is_empty() {
        return Ok(snapshot);
    }
    stage_ids(&db, linked.iter().map(|(p, _, id)| (*p, *id))).await?;
    let overrides: HashMap<(ProjectId, i64), i64> = db
        .fetch_all::<(i64, i64, i64)>(&crate::client::plain(
            "SELECT project_id, old_person_id, argMax(person_id, version) FROM person_overrides \
             WHERE (project_id, old_person_id) IN (SELECT project_id, id FROM person_ids) \
             GROUP BY project_id, old_person_id",
        ))
        .await?
        .into_iter()
        .map(|(p, old, now)| ((p, old), now))
        .collect();
    for (p, d, id) in linked {
        let now = overrides.get(&(p, id)).copied().unwrap_or(id);
        snapshot.distinct_ids.push((p, d, now));
    }
    let mut persons: Vec<(ProjectId, i64)> = snapshot
        .distinct_ids
        .iter()
        .map(|(p, _, id)| (*p, *id))
        .collect();
    persons.sort_unstable();
    persons.dedup();
    stage_ids(&db, persons.into_iter()).await?;
    let rows: Vec<(i64, i64, u8, i64, i64, String, u8)> = db
        .fetch_all(&crate::client::plain(
            "SELECT project_id, id, argMax(is_identified, version), argMax(first_seen, version), \
             argMax(last_seen, version), argMax(property_writes, version), \
             argMax(is_deleted, version) AS deleted FROM persons \
             WHERE (project_id, id) IN (SELECT project_id, id FROM person_ids) \
             GROUP BY project_id, id HAVING deleted = 0",
        ))
        .await?;
    for (project_id, id, identified, first, last, writes, _) in rows {
        let properties: PersonProperties = serde_json::from_str(&writes)
            .map_err(|e| StoreError::Internal(format!("person {id}: {e}")))?;
        snapshot.persons.push(Person {
            project_id,
            id,
            is_identified: identified == 1,
            first_seen: from_micros(first),
            last_seen: from_micros(last),
            properties,
        });
    }
    Ok(snapshot)
}

async fn save(db: Db, changes: PersonChanges, first_version: u64) -> Result<(), StoreError> {
    let mut version = first_version;
    let mut next_version = || {
        version += 1;
        version
    };
    if !changes.merges.is_empty() {
        // The overrides that point at a person merged away now point past it.
        let mut s = Sql::default();
        s.push(
            "SELECT project_id, old_person_id, now FROM (SELECT project_id, old_person_id, \
             argMax(person_id, version) AS now FROM person_overrides WHERE project_id IN ",
        )
        .bind_list(changes.merges.iter().map(|m| SqlParam::Int(m.0)))
        .push(" GROUP BY project_id, old_person_id) WHERE (project_id, now) IN ");
        bind_id_pairs(&mut s, changes.merges.iter().map(|m| (m.0, m.1)));
        let pointing: Vec<(i64, i64, i64)> = db.fetch_all(&s).await?;
        let mut overrides: HashMap<(ProjectId, i64), i64> = pointing
            .into_iter()
            .map(|(p, old, now)| ((p, old), now))
            .collect();
        for &(project, from, into) in &changes.merges {
            for (&(p, _), now) in overrides.iter_mut() {
                if p == project && *now == from {
                    *now = into;
                }
            }
            overrides.insert((project, from), into);
        }
        let mut s = Sql::default();
        s.push(
            "INSERT INTO person_overrides (project_id, old_person_id, person_id, version) VALUES ",
        );
        for (i, ((p, old), now)) in overrides.iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            s.push("(")
                .bind(SqlParam::Int(*p))
                .push(", ")
                .bind(SqlParam::Int(*old))
                .push(", ")
                .bind(SqlParam::Int(*now))
                .push(", ")
                .bind(SqlParam::Int(next_version() as i64))
                .push(")");
        }
        db.execute(&s).await?;
        let mut s = Sql::default();
        s.push(
            "INSERT INTO persons (project_id, id, is_identified, first_seen, last_seen, \
             properties, prop_keys, prop_values, prop_types, property_writes, is_deleted, \
             version) VALUES ",
        );
        for (i, &(project, from, _)) in changes.merges.iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            s.push("(")
                .bind(SqlParam::Int(project))
                .push(", ")
                .bind(SqlParam::Int(from))
                .push(", 0, 0, 0, '{}', [], [], [], '{}', 1, ")
                .bind(SqlParam::Int(next_version() as i64))
                .push(")");
        }
        db.execute(&s).await?;
    }
    if !changes.links.is_empty() {
        let mut s = Sql::default();
        s.push(
            "INSERT INTO person_distinct_ids (project_id, distinct_id, person_id, version) VALUES ",
        );
        for (i, (project, distinct_id, person)) in changes.links.iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            s.push("(")
                .bind(SqlParam::Int(*project))
                .push(", ")
                .bind(SqlParam::Text(distinct_id.clone()))
                .push(", ")
                .bind(SqlParam::Int(*person))
                .push(", ")
                .bind(SqlParam::Int(next_version() as i64))
                .push(")");
        }
        db.execute(&s).await?;
    }
    if !changes.persons.is_empty() {
        let mut s = Sql::default();
        s.push(
            "INSERT INTO persons (project_id, id, is_identified, first_seen, last_seen, \
             properties, prop_keys, prop_values, prop_types, property_writes, is_deleted, \
             version) VALUES ",
        );
        for (i, p) in changes.persons.iter().enumerate() {
            let values = p.properties.values();
            let writes = serde_json::to_string(&p.properties).map_err(internal)?;
            // (key, value as text, type) of every property that is not null.
            let texts: Vec<(String, String, String)> = values
                .iter()
                .filter_map(|(k, v)| {
                    let json = v.to_string();
                    let text = value_text(&json)?;
                    Some((k.clone(), text, type_of(&json)?.to_owned()))
                })
                .collect();
            if i > 0 {
                s.push(", ");
            }
            s.push("(")
                .bind(SqlParam::Int(p.project_id))
                .push(", ")
                .bind(SqlParam::Int(p.id))
                .push(", ")
                .bind(SqlParam::Int(i64::from(p.is_identified)))
                .push(", ")
                .bind(SqlParam::Int(p.first_seen.timestamp_micros()))
                .push(", ")
                .bind(SqlParam::Int(p.last_seen.timestamp_micros()))
                .push(", ")
                .bind(SqlParam::Text(
                    serde_json::Value::Object(values.clone()).to_string(),
                ))
                .push(", ");
            push_text_array(&mut s, texts.iter().map(|(k, _, _)| k));
            s.push(", ");
            push_text_array(&mut s, texts.iter().map(|(_, v, _)| v));
            s.push(", ");
            push_text_array(&mut s, texts.iter().map(|(_, _, t)| t));
            s.push(", ")
                .bind(SqlParam::Text(writes))
                .push(", 0, ")
                .bind(SqlParam::Int(next_version() as i64))
                .push(")");
        }
        db.execute(&s).await?;
    }
    Ok(())
}

/// `[?, ?, …]` of texts (an empty array for none).
fn push_text_array<'a>(s: &mut Sql, texts: impl Iterator<Item = &'a String>) {
    s.push("[");
    for (i, t) in texts.enumerate() {
        if i > 0 {
            s.push(", ");
        }
        s.bind(SqlParam::Text(t.clone()));
    }
    s.push("]");
}

impl PersonStore for ClickHouse {
    fn resolution_guard(&self) -> Result<Box<dyn ResolutionGuard + '_>, StoreError> {
        Ok(Box::new(
            self.inner
                .persons
                .resolution
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        ))
    }

    fn load_persons(&self, keys: &[(ProjectId, String)]) -> Result<PersonSnapshot, StoreError> {
        if keys.is_empty() {
            return Ok(PersonSnapshot::default());
        }
        let db = self.inner.persons.db.clone();
        self.inner.persons.block_on(load(db, keys.to_vec()))
    }

    fn allocate_person_ids(&self, count: usize) -> Result<PersonId, StoreError> {
        let mut c = self
            .inner
            .persons
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let first = c.next_person_id;
        c.next_person_id += i64::try_from(count).unwrap_or(i64::MAX);
        Ok(first)
    }

    fn save_persons(&self, changes: &PersonChanges) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let rows = changes.merges.len() * 2 + changes.links.len() + changes.persons.len();
        let first_version = self.inner.persons.versions(rows + 1);
        let db = self.inner.persons.db.clone();
        let changes = changes.clone();
        let inner = self.inner.clone();
        self.inner.persons.block_on(async move {
            let _saving = inner.persons.saving().await;
            save(db, changes, first_version).await
        })
    }
}
