//! [`DuckDb`]: the embedded [`EventStore`]. Each `insert_batch` is one transaction
//! on the single writer connection; DuckDB writes and syncs its WAL at commit, so
//! a batch is durable when the call returns. Duplicates of stored events are
//! skipped (see `dedup`).

use crate::columns;
use crate::config::DuckDbConfig;
use crate::dedup::{fingerprint, DedupIndex, FingerprintSet, Key};
use crate::rollup::Rollups;
use crate::schema;
use async_trait::async_trait;
use duckdb::Connection;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tally_core::{
    Event, EventBatch, EventStore, InsertOutcome, PreparedBatch, ProjectId, StoreError,
};
use uuid::Uuid;

/// The embedded store. Cheap to clone; clones share one database.
#[derive(Clone)]
pub struct DuckDb {
    pub(crate) inner: Arc<Inner>,
}

/// A [`DuckDb`] that does not keep the database open (for background tasks that
/// should end with the app).
#[derive(Clone)]
pub struct WeakDuckDb(Weak<Inner>);

impl WeakDuckDb {
    pub fn upgrade(&self) -> Option<DuckDb> {
        self.0.upgrade().map(|inner| DuckDb { inner })
    }
}

pub(crate) struct Inner {
    pub(crate) writer: Mutex<Writer>,
    /// Person resolution's connection (see `persons`). Lock order: `writer`
    /// first when both are held.
    pub(crate) persons: Mutex<PersonsWriter>,
    /// Held for a whole person resolution (read, decide, save), so resolvers
    /// sharing this store (several Kafka workers in one process) take turns.
    /// Taken before `persons`, never while holding it.
    pub(crate) resolution: Mutex<()>,
    /// Idle reader connections; a query takes one or clones a new one.
    readers: Mutex<Vec<Connection>>,
    template: Mutex<Connection>,
    /// Whether queries may read rollups (always, but for tests that need the
    /// raw SQL's answers as a reference).
    pub(crate) reads_rollups: std::sync::atomic::AtomicBool,
    /// Timeline rows kept in memory for funnels and paths.
    pub(crate) timeline_cache: crate::timeline_cache::TimelineCache,
}

/// The connection person resolution writes with, and its id counter.
pub(crate) struct PersonsWriter {
    pub(crate) conn: Connection,
    /// The next person id to hand out (see `persons`).
    pub(crate) next_person_id: i64,
}

/// While alive, no insert runs. See [`DuckDb::hold_writes`].
pub struct WriteHold<'a>(#[allow(dead_code)] MutexGuard<'a, Writer>);

pub(crate) struct Writer {
    pub(crate) conn: Connection,
    dedup: DedupIndex,
    rollups: Rollups,
    /// Tests: recompute every touched hour's rollup right after each insert.
    compact_on_insert: bool,
}

pub(crate) fn internal(e: duckdb::Error) -> StoreError {
    StoreError::Internal(e.to_string())
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a connection leaves DuckDB itself consistent (the
    // transaction rolls back), so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DuckDb {
    /// Opens (creating if needed) and migrates the database, then rebuilds the
    /// duplicate index from the stored events.
    pub fn open(config: &DuckDbConfig) -> Result<Self, StoreError> {
        let mut conn = Connection::open(&config.path).map_err(internal)?;
        // Everything DuckDB needs is compiled in; never fetch an extension.
        conn.execute_batch(
            "SET autoinstall_known_extensions = false; SET autoload_known_extensions = false;",
        )
        .map_err(internal)?;
        if let Some(limit) = &config.memory_limit {
            conn.execute_batch(&format!(
                "SET memory_limit = '{}'",
                sanitize_size("memory limit", limit)?
            ))
            .map_err(internal)?;
        }
        if let Some(threshold) = &config.checkpoint_threshold {
            conn.execute_batch(&format!(
                "SET checkpoint_threshold = '{}'",
                sanitize_size("checkpoint threshold", threshold)?
            ))
            .map_err(internal)?;
        }
        if let Some(threads) = config.threads {
            conn.execute_batch(&format!("SET threads = {threads}"))
                .map_err(internal)?;
        }
        schema::migrate(&mut conn).map_err(internal)?;
        let dedup = load_dedup_index(&conn).map_err(internal)?;
        let next_person_id = crate::persons::next_person_id(&conn).map_err(internal)?;
        let rollups = Rollups::load(&conn)?;
        let persons_conn = conn.try_clone().map_err(internal)?;
        crate::persons::create_staging(&persons_conn).map_err(internal)?;
        create_dedup_staging(&conn).map_err(internal)?;
        tracing::info!(path = %config.path.display(), stored_events = dedup.len(), hours_to_roll_up = rollups.dirty_hours(), "opened event store");
        let template = conn.try_clone().map_err(internal)?;
        Ok(Self {
            inner: Arc::new(Inner {
                writer: Mutex::new(Writer {
                    conn,
                    dedup,
                    rollups,
                    compact_on_insert: config.compact_rollups_on_insert,
                }),
                persons: Mutex::new(PersonsWriter {
                    conn: persons_conn,
                    next_person_id,
                }),
                resolution: Mutex::new(()),
                readers: Mutex::new(Vec::new()),
                template: Mutex::new(template),
                reads_rollups: std::sync::atomic::AtomicBool::new(true),
                timeline_cache: crate::timeline_cache::TimelineCache::new(
                    config.timeline_cache_bytes,
                ),
            }),
        })
    }

    /// Tests: queries answer from events only (`false`), as if nothing were
    /// rolled up, or as usual (`true`).
    #[cfg(test)]
    pub(crate) fn set_reads_rollups(&self, on: bool) {
        self.inner
            .reads_rollups
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether queries may read rollups (see [`Self::set_reads_rollups`]).
    pub(crate) fn reads_rollups(&self) -> bool {
        self.inner
            .reads_rollups
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn downgrade(&self) -> WeakDuckDb {
        WeakDuckDb(Arc::downgrade(&self.inner))
    }

    /// Runs `f` on a reader connection from the pool.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = match lock(&self.inner.readers).pop() {
            Some(c) => c,
            None => lock(&self.inner.template).try_clone().map_err(internal)?,
        };
        let out = f(&conn);
        lock(&self.inner.readers).push(conn);
        out
    }

    /// Like [`read`](Self::read), inside one transaction: every statement of
    /// `f` sees the same snapshot.
    pub(crate) fn read_snapshot<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.read(|c| {
            c.execute_batch("BEGIN TRANSACTION").map_err(internal)?;
            let out = f(c);
            // A read changes nothing: rolled back either way, so the pooled
            // connection goes back with no transaction open.
            let rolled_back = c.execute_batch("ROLLBACK").map_err(internal);
            let out = out?;
            rolled_back?;
            Ok(out)
        })
    }

    /// A project's stored events, oldest first (ties by uuid), `limit` at a
    /// time after `after` (the previous page's last event): for copying them
    /// into another store (`tally querybench --clickhouse`).
    pub fn events_in_order(
        &self,
        project_id: tally_core::ProjectId,
        after: Option<&Event>,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let sql =
            crate::sql::events_in_order(project_id, after.map(|e| (e.timestamp, e.uuid)), limit);
        self.read(|c| {
            crate::query::run(c, &sql, |r| {
                let record = crate::query::event_record(r)?;
                let properties: Option<String> = r.get(9)?;
                Ok(Event {
                    uuid: record.uuid,
                    project_id,
                    event: record.event,
                    distinct_id: record.distinct_id,
                    timestamp: record.timestamp,
                    received_at: record.received_at,
                    url: record.url,
                    path: record.path,
                    referrer: record.referrer,
                    session_id: record.session_id,
                    browser: record.browser,
                    os: record.os,
                    device: record.device,
                    is_bot: record.is_bot,
                    country: r.get(14)?,
                    person_id: r.get(15)?,
                    properties: properties
                        .and_then(|p| tally_core::Properties::from_json(&p).ok())
                        .unwrap_or_default(),
                })
            })
        })
    }

    /// Runs a read-only statement and returns its rows, every column read as a
    /// number (NULL as NaN). Only for SQL this program wrote itself, never text
    /// from a request: `tally querybench` times hand-written SQL with it beside
    /// the generated queries, on the same connections.
    pub fn read_numbers(&self, sql: &str) -> Result<Vec<Vec<f64>>, StoreError> {
        self.read(|c| {
            let mut statement = c.prepare(sql).map_err(internal)?;
            let mut rows = statement.query([]).map_err(internal)?;
            let columns = rows.as_ref().map_or(0, |s| s.column_count());
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(internal)? {
                let mut values = Vec::with_capacity(columns);
                for i in 0..columns {
                    use duckdb::types::Value;
                    values.push(match row.get::<_, Value>(i).map_err(internal)? {
                        Value::TinyInt(v) => f64::from(v),
                        Value::SmallInt(v) => f64::from(v),
                        Value::Int(v) => f64::from(v),
                        Value::BigInt(v) => v as f64,
                        Value::HugeInt(v) => v as f64,
                        Value::UBigInt(v) => v as f64,
                        Value::Float(v) => f64::from(v),
                        Value::Double(v) => v,
                        _ => f64::NAN,
                    });
                }
                out.push(values);
            }
            Ok(out)
        })
    }

    /// Runs blocking DuckDB work off the async runtime.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(DuckDb) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || f(db))
            .await
            .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
    }

    /// Stores a batch; see [`EventStore::insert_batch`].
    pub fn insert_blocking(&self, events: &[Event]) -> Result<InsertOutcome, StoreError> {
        self.insert_encoded(events, None)
    }

    /// Stores a batch, with `encoded` made by [`encode`] from all of `events`
    /// ahead of time when there is one. It is used when every event is new;
    /// when some were stored already, the rest are encoded here.
    fn insert_encoded(
        &self,
        events: &[Event],
        encoded: Option<Encoded>,
    ) -> Result<InsertOutcome, StoreError> {
        let started = std::time::Instant::now();
        let mut writer = lock(&self.inner.writer);
        let Writer {
            conn,
            dedup,
            rollups,
            compact_on_insert,
            ..
        } = &mut *writer;
        let fresh = select_fresh(conn, dedup, events)?;
        let encoded = match encoded {
            Some(encoded) if fresh.len() == events.len() && encoded.rows() == events.len() => {
                encoded
            }
            _ => encode(&fresh.iter().map(|&(i, _)| &events[i]).collect::<Vec<_>>())?,
        };
        let rows = encoded.rows();
        let Encoded {
            batches,
            definitions,
            hours,
        } = encoded;
        let prepared = started.elapsed();
        let tx = conn.transaction().map_err(internal)?;
        if rows > 0 {
            let mut app = tx.appender("events").map_err(internal)?;
            for batch in batches {
                app.append_record_batch(batch).map_err(internal)?;
            }
            app.flush().map_err(internal)?;
            drop(app);
            definitions.write(&tx)?;
            rollups.mark_dirty_in(&tx, &hours)?;
        }
        let appended = started.elapsed();
        tx.commit().map_err(internal)?;
        rollups.mark_dirty(hours);
        for &(_, fp) in &fresh {
            dedup.insert_fingerprint(fp);
        }
        if *compact_on_insert {
            while rollups.compact_pass(conn, None)? > 0 {}
        }
        tracing::debug!(
            events = events.len(),
            inserted = fresh.len(),
            prepare_us = prepared.as_micros() as u64,
            append_us = (appended - prepared).as_micros() as u64,
            commit_us = (started.elapsed() - appended).as_micros() as u64,
            "insert committed"
        );
        Ok(InsertOutcome {
            inserted: fresh.len(),
            duplicates: events.len() - fresh.len(),
        })
    }

    /// See [`EventStore::delete_project`]. Runs on the writer's connection, so
    /// no insert interleaves with it. The duplicate index keeps the deleted
    /// keys' fingerprints until the next start: harmless, a fingerprint hit is
    /// only ever checked against the table.
    pub fn delete_project_blocking(&self, project_id: ProjectId) -> Result<u64, StoreError> {
        let mut writer = lock(&self.inner.writer);
        // No person save of this project may commit between its delete and ours.
        let _persons = lock(&self.inner.persons);
        let tx = writer.conn.transaction().map_err(internal)?;
        let deleted = tx
            .execute("DELETE FROM events WHERE project_id = ?", [project_id])
            .map_err(internal)?;
        for table in [
            "definitions",
            "persons",
            "person_distinct_ids",
            "person_overrides",
            "rollup_hourly",
            "rollup_dirty",
            "rollup_sessions",
            "rollup_timeline",
            "rollup_stamps",
            "rollup_names",
        ] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE project_id = ?"),
                [project_id],
            )
            .map_err(internal)?;
        }
        tx.commit().map_err(internal)?;
        writer.rollups.forget(project_id);
        Ok(deleted as u64)
    }

    /// Recomputes the rollups of the hours that got events since they were last
    /// rolled up and that ended by `sealed_before` (every such hour when `None`),
    /// a bounded number of hours per transaction so inserts go on in between.
    /// Returns how many hours it recomputed. Queries are exact either way (they
    /// read raw events for hours not rolled up); this makes them cheaper.
    pub fn compact_rollups(
        &self,
        sealed_before: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let mut writer = lock(&self.inner.writer);
            let Writer { conn, rollups, .. } = &mut *writer;
            match rollups.compact_pass(conn, sealed_before)? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    /// Blocks inserts until the returned guard is dropped (for a consistent copy of
    /// the files, or to stall the writer in tests); reads go on.
    pub fn hold_writes(&self) -> WriteHold<'_> {
        WriteHold(lock(&self.inner.writer))
    }

    /// How many distinct events are stored, from the duplicate index.
    /// Puts a key's fingerprint in the duplicate index as if it were stored:
    /// what a fingerprint collision with a stored key looks like.
    #[cfg(test)]
    pub(crate) fn collide_fingerprint(&self, key: &Key) {
        lock(&self.inner.writer).dedup.insert(key);
    }

    pub fn stored_events(&self) -> usize {
        lock(&self.inner.writer).dedup.len()
    }

    /// Folds the WAL into the database file.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        lock(&self.inner.writer)
            .conn
            .execute_batch("CHECKPOINT")
            .map_err(internal)
    }
}

/// DuckDB's `SET` takes no bound parameters, so the operator-supplied size is
/// checked against a strict alphabet (digits, letters, '.', ' ') before it is
/// written into the statement.
fn sanitize_size<'a>(what: &str, limit: &'a str) -> Result<&'a str, StoreError> {
    let ok = !limit.is_empty()
        && limit
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == ' ');
    if ok {
        Ok(limit)
    } else {
        Err(StoreError::Internal(format!("invalid {what} `{limit}`")))
    }
}

fn load_dedup_index(conn: &Connection) -> duckdb::Result<DedupIndex> {
    let count: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
    let mut index = DedupIndex::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut stmt = conn.prepare("SELECT project_id, uuid::VARCHAR FROM events")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let project: i64 = row.get(0)?;
        let uuid: String = row.get(1)?;
        if let Ok(uuid) = Uuid::parse_str(&uuid) {
            index.insert(&(project, uuid));
        }
    }
    Ok(index)
}

/// The events to store, by index, with their keys' fingerprints: not stored
/// before and not repeated earlier in this batch.
fn select_fresh(
    conn: &mut Connection,
    dedup: &DedupIndex,
    events: &[Event],
) -> Result<Vec<(usize, u64)>, StoreError> {
    let mut fresh = Vec::with_capacity(events.len());
    let mut batch_fingerprints =
        FingerprintSet::with_capacity_and_hasher(events.len(), Default::default());
    let mut suspects = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let fp = fingerprint(&(e.project_id, e.uuid));
        if dedup.may_contain_fingerprint(fp) || !batch_fingerprints.insert(fp) {
            suspects.push(i);
        } else {
            fresh.push((i, fp));
        }
    }
    if suspects.is_empty() {
        return Ok(fresh);
    }
    let stored = stored_among(conn, events, &suspects)?;
    let mut taken: HashSet<Key> = fresh
        .iter()
        .map(|&(i, _)| (events[i].project_id, events[i].uuid))
        .collect();
    for i in suspects {
        let key = (events[i].project_id, events[i].uuid);
        if !stored.contains(&i) && taken.insert(key) {
            fresh.push((i, fingerprint(&key)));
        }
    }
    Ok(fresh)
}

/// An appender into the emptied temporary `table` (one of the writer connection's
/// staging tables): how batches of keys reach a set-based statement, rather than
/// as `VALUES` lists of bound parameters.
pub(crate) fn staging<'a>(
    conn: &'a Connection,
    table: &str,
) -> Result<duckdb::Appender<'a>, StoreError> {
    conn.execute_batch(&format!("DELETE FROM temp.{table}"))
        .map_err(internal)?;
    conn.appender_to_catalog_and_db(table, "temp", "main")
        .map_err(internal)
}

/// Creates the writer connection's table for [`stored_among`] (temporary: per
/// connection, gone with it).
fn create_dedup_staging(conn: &Connection) -> duckdb::Result<()> {
    conn.execute_batch("CREATE TEMP TABLE dedup_keys (i BIGINT, project_id BIGINT, uuid VARCHAR)")
}

/// Which of `suspects` (indices into `events`) are already in the table (exact
/// look-up). Their keys are staged in a temporary table and joined with `events`
/// in one query, so the table is scanned once per insert however many keys are
/// suspect. (Literal key lists of 500 scanned it once per 500: a restart after a
/// crash replayed 173k already-stored spool events on 726k stored in 14.7 s, and
/// that grew with the table; `bench/crash-replay.sh`.)
fn stored_among(
    conn: &mut Connection,
    events: &[Event],
    suspects: &[usize],
) -> Result<HashSet<usize>, StoreError> {
    // Only the staging table changes; rolled back when dropped.
    let tx = conn.transaction().map_err(internal)?;
    {
        let mut app = staging(&tx, "dedup_keys")?;
        let mut text = Uuid::encode_buffer();
        for &i in suspects {
            let e = &events[i];
            let uuid: &str = e.uuid.hyphenated().encode_lower(&mut text);
            app.append_row(duckdb::params![i as i64, e.project_id, uuid])
                .map_err(internal)?;
        }
        app.flush().map_err(internal)?;
    }
    let mut stmt = tx
        .prepare(
            "SELECT k.i FROM temp.dedup_keys k \
             JOIN events e ON e.project_id = k.project_id AND e.uuid = k.uuid::UUID",
        )
        .map_err(internal)?;
    let found = stmt
        .query_map([], |row| row.get::<_, i64>(0))
        .map_err(internal)?
        .map(|i| i.map(|i| i as usize).map_err(internal))
        .collect();
    found
}

/// Rows encoded for an insert, ahead of it or in it: Arrow batches in row
/// order, their definitions and the hours they touch.
pub(crate) struct Encoded {
    batches: Vec<duckdb::arrow::record_batch::RecordBatch>,
    definitions: crate::definitions::DefinitionRows,
    hours: std::collections::BTreeSet<crate::rollup::HourKey>,
}

impl Encoded {
    fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// `self` followed by `next` (the rows after `self`'s).
    fn then(mut self, next: Encoded) -> Encoded {
        self.batches.extend(next.batches);
        self.definitions = self.definitions.then(next.definitions);
        self.hours.extend(next.hours);
        self
    }
}

/// Encodes `rows` for the `events` table; needs no connection.
pub(crate) fn encode(rows: &[&Event]) -> Result<Encoded, StoreError> {
    let mut definitions = crate::definitions::Definitions::default();
    let batch = columns::record_batch(rows, &mut definitions)?;
    Ok(Encoded {
        batches: vec![batch],
        definitions: definitions.into_rows(),
        hours: Rollups::hours_of(rows),
    })
}

/// [`encode`], a large batch split over the cores.
fn encode_in_parallel(rows: &[&Event]) -> Result<Encoded, StoreError> {
    let mut parts = tally_core::parallel::map_chunks(rows, encode).into_iter();
    let first = parts.next().unwrap_or_else(|| encode(rows))?;
    parts.try_fold(first, |done, next| Ok(done.then(next?)))
}

#[async_trait]
impl EventStore for DuckDb {
    async fn insert_batch(&self, events: EventBatch) -> Result<InsertOutcome, StoreError> {
        self.blocking(move |db| db.insert_blocking(&events)).await
    }

    /// Encodes the batch (Arrow columns, definitions, hours) without the writer:
    /// a third to half of an insert's time, which the spool's drain overlaps with
    /// the insert before.
    fn prepare(&self, events: &[Event]) -> Option<PreparedBatch> {
        let rows: Vec<&Event> = events.iter().collect();
        // An encoding failure is met again, and reported, by the insert.
        encode_in_parallel(&rows)
            .ok()
            .map(|encoded| Box::new(encoded) as PreparedBatch)
    }

    async fn insert_prepared(
        &self,
        events: EventBatch,
        prepared: Option<PreparedBatch>,
    ) -> Result<InsertOutcome, StoreError> {
        let encoded = prepared
            .and_then(|p| p.downcast::<Encoded>().ok())
            .map(|encoded| *encoded);
        self.blocking(move |db| db.insert_encoded(&events, encoded))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|db| {
            db.read(|c| {
                c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                    .map(|_| ())
                    .map_err(|e| StoreError::Unavailable(e.to_string()))
            })
        })
        .await
    }

    async fn delete_project(&self, project_id: ProjectId) -> Result<u64, StoreError> {
        self.blocking(move |db| db.delete_project_blocking(project_id))
            .await
    }
}
