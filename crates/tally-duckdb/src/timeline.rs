//! Reads person timelines (`tally_query::timeline`) for funnels and paths: the
//! rows of a range's rolled-up hours as Arrow batches (thinned as they come in),
//! the raw events of the rest row by row.

use crate::query::{read_coverage, run, Bound};
use crate::store::{internal, DuckDb};
use duckdb::arrow::array::{Array, BooleanArray, Int64Array, ListArray, UInt32Array};
use duckdb::arrow::record_batch::RecordBatch;
use std::collections::BTreeSet;
use tally_core::{ProjectId, StoreError};
use tally_query::timeline::{self, Item, Names, Step, Thin, Timelines};
use tally_query::TimeRange;

/// Calls `walk` with the timelines of `range`, thinned by what `thin` makes
/// from the names it needs numbered (`wanted`, looked up first), and the names
/// (those, plus every name met in raw events); `None` when the range has no
/// rolled-up hours worth reading (the caller runs its raw query).
///
/// Names, rows and raw events are read in one transaction, so the numbers a
/// thinning looks for are the ones the rows hold. Batches of rows are taken
/// in (thinned, copied) on a second thread while the next are read, and
/// dropped once taken in.
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
        let sql = timeline::rows_sql(project_id, &coverage.stretches, item);
        let mut stmt = c.prepare(&sql.text).map_err(internal)?;
        let stream = stmt
            .stream_arrow(duckdb::params_from_iter(sql.params.iter().map(Bound)))
            .map_err(internal)?;
        timelines = std::thread::scope(|scope| {
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
        })?;
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

/// The rows of one batch of `rows_sql`.
fn add_batch<T: Thin>(timelines: &mut Timelines<T>, batch: &RecordBatch) -> Result<(), StoreError> {
    let bad = |what: &str| StoreError::Internal(format!("a timeline column is not {what}"));
    let int = |i: usize| {
        batch
            .column(i)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| bad("BIGINT"))
    };
    let list = |i: usize| {
        let l = batch
            .column(i)
            .as_any()
            .downcast_ref::<ListArray>()
            .ok_or_else(|| bad("a list"))?;
        let values = l
            .values()
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| bad("a UINTEGER list"))?;
        Ok::<_, StoreError>((l.value_offsets(), &values.values()[..]))
    };
    let (person, key, hour) = (int(0)?, int(1)?, int(2)?);
    let merged = batch
        .column(3)
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| bad("BOOLEAN"))?;
    let (micros, item) = (list(4)?, list(5)?);
    // The two lists of a row have one length, so one set of offsets serves.
    if micros.0 != item.0 {
        return Err(bad("two lists of one length"));
    }
    let offsets = micros.0;
    for row in 0..batch.num_rows() {
        let bound = |i: usize| usize::try_from(offsets[i]).unwrap_or(0);
        let (begin, end) = (bound(row), bound(row + 1));
        let (Some(row_micros), Some(row_items)) =
            (micros.1.get(begin..end), item.1.get(begin..end))
        else {
            return Err(bad("a list within its batch"));
        };
        timelines.push_row(
            person.value(row),
            key.value(row),
            hour.value(row),
            merged.value(row),
            row_micros,
            row_items,
        );
    }
    Ok(())
}
