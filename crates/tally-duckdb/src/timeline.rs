//! Reads person timelines (`crate::sql::timeline`) for funnels and paths: the
//! rows of a range's rolled-up hours from their in-memory copies
//! (`timeline_cache`; hours without one read whole and kept first) or, with no
//! cache, as Arrow batches thinned as they come in; the raw events of the rest
//! row by row.

use crate::query::{read_coverage, run, Bound};
use crate::sql::timeline::{self, Item, Names, Step, Thin, TimelineRow, Timelines};
use crate::store::{internal, DuckDb};
use crate::timeline_cache::{HourRows, TimelineCache};
use chrono::DateTime;
use duckdb::arrow::array::{Array, BooleanArray, Int64Array, ListArray, UInt32Array};
use duckdb::arrow::record_batch::RecordBatch;
use foldhash::fast::RandomState as FoldHash;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tally_core::{ProjectId, StoreError};
use tally_query::TimeRange;

/// Calls `walk` with the timelines of `range`, thinned by what `thin` makes
/// from the names it needs numbered (`wanted`, looked up first), and the names
/// (those, plus every name met in raw events); `None` when the range has no
/// rolled-up hours worth reading (the caller runs its raw query).
///
/// Names, stamps, rows and raw events are read in one transaction, so the
/// numbers a thinning looks for are the ones the rows hold, and the copies
/// used are the rows of this snapshot. Each walk thread thins its persons'
/// rows from the copies itself.
pub(crate) fn with_timelines<T: Thin + Send, R>(
    db: &DuckDb,
    project_id: ProjectId,
    range: TimeRange,
    item: Item,
    wanted: &[&str],
    thin: impl FnOnce(&mut Names) -> T,
    walk: impl FnOnce(Timelines<T>, Names) -> R,
) -> Result<Option<R>, StoreError> {
    let coverage = read_coverage(db, project_id, range)?;
    if !coverage.is_useful() {
        return Ok(None);
    }
    let mut names = Names::default();
    // Where a walk's time goes, at debug level (`TALLY_LOG=info,tally_duckdb=debug`):
    // what BENCHMARKS.md splits the funnel's time by.
    let started = std::time::Instant::now();
    let ms = |since: std::time::Instant| since.elapsed().as_secs_f64() * 1e3;
    let timelines = db.read_snapshot(|c| {
        learn_names(c, project_id, wanted, &mut names)?;
        let mut timelines = Timelines::new(timeline::walk_threads(), thin(&mut names));
        let cache = &db.inner.timeline_cache;
        if cache.enabled() {
            take_in_kept(
                c,
                cache,
                project_id,
                &coverage.stretches,
                item,
                &mut timelines,
            )?;
        } else {
            timelines = take_in_streamed(c, project_id, &coverage.stretches, item, timelines)?;
        }
        tracing::debug!(
            ms = ms(started),
            kept_events = timelines.kept_events(),
            "timeline rows read and taken in"
        );
        let raw = run(
            c,
            &timeline::raw_sql(project_id, &coverage.uncovered()),
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            },
        )?;
        let mut met: BTreeSet<&str> = BTreeSet::new();
        for (_, _, _, event, page) in &raw {
            met.insert(event);
            if let Some(p) = page {
                met.insert(p);
            }
        }
        learn_names(
            c,
            project_id,
            &met.into_iter().collect::<Vec<_>>(),
            &mut names,
        )?;
        let raw_events = raw.len();
        for (person, key, t_us, event, page) in raw {
            let step = Step {
                t_us,
                item: match item {
                    Item::Event => names.id(&event),
                    Item::Page => page.map_or(0, |p| names.id(&p)),
                },
            };
            timelines.push_event(person, key, step);
        }
        tracing::debug!(ms = ms(started), raw_events, "raw events taken in");
        Ok(timelines)
    })?;
    let walking = std::time::Instant::now();
    let out = walk(timelines, names);
    tracing::debug!(ms = ms(walking), "timelines walked");
    Ok(Some(out))
}

/// Takes in the rows of `stretches` from the in-memory copies, reading (and
/// keeping) those of hours with no copy at their stamp first.
fn take_in_kept<T: Thin + Send>(
    c: &duckdb::Connection,
    cache: &TimelineCache,
    project_id: ProjectId,
    stretches: &[TimeRange],
    item: Item,
    timelines: &mut Timelines<T>,
) -> Result<(), StoreError> {
    let stamps = run(c, &timeline::stamps_sql(project_id, stretches), |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })?;
    let (mut hours, misses) = cache.lookup(project_id, &stamps);
    let read_hours = misses.len();
    if !misses.is_empty() {
        for rows in read_whole_hours(c, project_id, &misses)? {
            cache.keep(project_id, &rows);
            hours.push(rows);
        }
    }
    let overrides: HashMap<i64, i64, FoldHash> =
        run(c, &timeline::overrides_sql(project_id), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?
        .into_iter()
        .collect();
    let merged_into: HashSet<i64, FoldHash> = overrides.values().copied().collect();
    timelines.take_in_parallel(|push| {
        for hour in &hours {
            for (key, micros, items) in hour.rows(item) {
                // Most projects have no merges: no lookups then.
                let (person, merged) = if overrides.is_empty() {
                    (key, false)
                } else if let Some(&person) = overrides.get(&key) {
                    (person, true)
                } else {
                    (key, merged_into.contains(&key))
                };
                push(TimelineRow {
                    person,
                    key,
                    hour_us: hour.hour_us,
                    merged,
                    micros,
                    items,
                });
            }
        }
    });
    tracing::debug!(
        hours = hours.len(),
        read_hours,
        kept_bytes = cache.held().1,
        "timeline rows taken in from memory"
    );
    Ok(())
}

/// The rows of `hours` (hour start µs, stamp), each hour's as one copy (an
/// hour with no rows as an empty one).
fn read_whole_hours(
    c: &duckdb::Connection,
    project_id: ProjectId,
    hours: &[(i64, i64)],
) -> Result<Vec<Arc<HourRows>>, StoreError> {
    let mut by_hour: HashMap<i64, HourRows> = hours
        .iter()
        .map(|&(hour_us, stamp)| (hour_us, HourRows::new(stamp, hour_us)))
        .collect();
    let mut stretches: Vec<TimeRange> = Vec::new();
    for &(hour_us, _) in hours {
        let from = DateTime::from_timestamp_micros(hour_us).unwrap_or_default();
        let to = from + chrono::Duration::hours(1);
        match stretches.last_mut() {
            Some(last) if last.to == from => last.to = to,
            _ => stretches.push(TimeRange { from, to }),
        }
    }
    let sql = timeline::whole_rows_sql(project_id, &stretches);
    let mut stmt = c.prepare(&sql.text).map_err(internal)?;
    let batches = stmt
        .stream_arrow(duckdb::params_from_iter(sql.params.iter().map(Bound)))
        .map_err(internal)?;
    for batch in batches {
        let batch = batch.map_err(internal)?;
        let (key, hour) = (int_column(&batch, 0)?, int_column(&batch, 1)?);
        let lists = [
            list_column(&batch, 2)?,
            list_column(&batch, 3)?,
            list_column(&batch, 4)?,
        ];
        let offsets = lists[0].0;
        if lists.iter().any(|l| l.0 != offsets) {
            return Err(not_a("three lists of one length"));
        }
        for row in 0..batch.num_rows() {
            let bound = |i: usize| usize::try_from(offsets[i]).unwrap_or(0);
            let span = bound(row)..bound(row + 1);
            let (Some(micros), Some(events), Some(pages)) = (
                lists[0].1.get(span.clone()),
                lists[1].1.get(span.clone()),
                lists[2].1.get(span),
            ) else {
                return Err(not_a("a list within its batch"));
            };
            let Some(rows) = by_hour.get_mut(&hour.value(row)) else {
                return Err(not_a("a row of the hours asked for"));
            };
            rows.push(key.value(row), micros, events, pages);
        }
    }
    let mut read: Vec<Arc<HourRows>> = by_hour
        .into_values()
        .map(|mut rows| {
            rows.shrink();
            Arc::new(rows)
        })
        .collect();
    read.sort_by_key(|r| r.hour_us);
    Ok(read)
}

/// Takes in the rows of `stretches` as DuckDB streams them (only the list the
/// query walks), on a second thread while the next batches are read.
fn take_in_streamed<T: Thin + Send>(
    c: &duckdb::Connection,
    project_id: ProjectId,
    stretches: &[TimeRange],
    item: Item,
    mut timelines: Timelines<T>,
) -> Result<Timelines<T>, StoreError> {
    let sql = timeline::rows_sql(project_id, stretches, item);
    let mut stmt = c.prepare(&sql.text).map_err(internal)?;
    let stream = stmt
        .stream_arrow(duckdb::params_from_iter(sql.params.iter().map(Bound)))
        .map_err(internal)?;
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<RecordBatch>(4);
        let taker = scope.spawn(move || {
            for batch in receive {
                add_batch(&mut timelines, &batch)?;
            }
            Ok::<_, StoreError>(timelines)
        });
        for batch in stream {
            let batch = batch.map_err(internal)?;
            // A closed channel: the taker failed; its error is returned.
            if send.send(batch).is_err() {
                break;
            }
        }
        drop(send);
        taker
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Learns the stored numbers of those of `wanted` the project has numbered.
fn learn_names(
    c: &duckdb::Connection,
    project_id: ProjectId,
    wanted: &[&str],
    names: &mut Names,
) -> Result<(), StoreError> {
    if wanted.is_empty() {
        return Ok(());
    }
    for (name, id) in run(c, &timeline::name_ids_sql(project_id, wanted), |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
    })? {
        names.learn(name, id);
    }
    Ok(())
}

fn not_a(what: &str) -> StoreError {
    StoreError::Internal(format!("a timeline column is not {what}"))
}

fn int_column(batch: &RecordBatch, i: usize) -> Result<&Int64Array, StoreError> {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| not_a("BIGINT"))
}

/// A `UINTEGER[]` column: its offsets and its values.
fn list_column(batch: &RecordBatch, i: usize) -> Result<(&[i32], &[u32]), StoreError> {
    let l = batch
        .column(i)
        .as_any()
        .downcast_ref::<ListArray>()
        .ok_or_else(|| not_a("a list"))?;
    let values = l
        .values()
        .as_any()
        .downcast_ref::<UInt32Array>()
        .ok_or_else(|| not_a("a UINTEGER list"))?;
    Ok((l.value_offsets(), &values.values()[..]))
}

/// The rows of one batch of `rows_sql`.
fn add_batch<T: Thin>(timelines: &mut Timelines<T>, batch: &RecordBatch) -> Result<(), StoreError> {
    let (person, key, hour) = (
        int_column(batch, 0)?,
        int_column(batch, 1)?,
        int_column(batch, 2)?,
    );
    let merged = batch
        .column(3)
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| not_a("BOOLEAN"))?;
    let (micros, item) = (list_column(batch, 4)?, list_column(batch, 5)?);
    // The two lists of a row have one length, so one set of offsets serves.
    if micros.0 != item.0 {
        return Err(not_a("two lists of one length"));
    }
    let offsets = micros.0;
    for row in 0..batch.num_rows() {
        let bound = |i: usize| usize::try_from(offsets[i]).unwrap_or(0);
        let (begin, end) = (bound(row), bound(row + 1));
        let (Some(row_micros), Some(row_items)) =
            (micros.1.get(begin..end), item.1.get(begin..end))
        else {
            return Err(not_a("a list within its batch"));
        };
        timelines.push_row(TimelineRow {
            person: person.value(row),
            key: key.value(row),
            hour_us: hour.value(row),
            merged: merged.value(row),
            micros: row_micros,
            items: row_items,
        });
    }
    Ok(())
}
