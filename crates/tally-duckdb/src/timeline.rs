//! Reads person timelines (`tally_query::timeline`) for funnels and paths: the
//! rows of a range's rolled-up hours as Arrow batches (their lists borrowed, not
//! copied per element), the raw events of the rest row by row.

use crate::query::{read_coverage, run, Bound};
use crate::store::{internal, DuckDb};
use duckdb::arrow::array::{Array, Int64Array, ListArray, UInt32Array};
use duckdb::arrow::record_batch::RecordBatch;
use std::collections::BTreeSet;
use tally_core::{ProjectId, StoreError};
use tally_query::timeline::{self, Item, Names, Step, Timelines};
use tally_query::TimeRange;

/// Calls `walk` with the timelines of `range` and the names they need
/// (`wanted`, plus every name met in raw events) numbered; `None` when the
/// range has no rolled-up hours worth reading (the caller runs its raw query).
pub(crate) fn with_timelines<T>(
    db: &DuckDb,
    project_id: ProjectId,
    range: TimeRange,
    item: Item,
    wanted: &[&str],
    walk: impl FnOnce(Timelines<'_>, Names) -> T,
) -> Result<Option<T>, StoreError> {
    let coverage = read_coverage(db, project_id, range)?;
    if !coverage.is_useful() {
        return Ok(None);
    }
    let mut names = Names::default();
    // Where a walk's time goes, at debug level (`RUST_LOG=tally_duckdb=debug`):
    // what BENCHMARKS.md splits the funnel's time by.
    let started = std::time::Instant::now();
    let ms = |since: std::time::Instant| since.elapsed().as_secs_f64() * 1e3;
    let (batches, raw) = db.read(|c| {
        let sql = timeline::rows_sql(project_id, &coverage.stretches, item);
        let mut stmt = c.prepare(&sql.text).map_err(internal)?;
        let batches: Vec<RecordBatch> = stmt
            .stream_arrow(duckdb::params_from_iter(sql.params.iter().map(Bound)))
            .map_err(internal)?
            .collect::<Result<_, _>>()
            .map_err(internal)?;
        tracing::debug!(ms = ms(started), "timeline rows read");
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
        // After the rows: every number they hold was given before they were
        // read, so it is found.
        let mut lookup: BTreeSet<&str> = wanted.iter().copied().collect();
        for (_, _, _, event, page) in &raw {
            lookup.insert(event);
            if let Some(p) = page {
                lookup.insert(p);
            }
        }
        let lookup: Vec<&str> = lookup.into_iter().collect();
        for (name, id) in run(c, &timeline::name_ids_sql(project_id, &lookup), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
        })? {
            names.learn(name, id);
        }
        Ok((batches, raw))
    })?;
    let mut timelines = Timelines::default();
    for batch in &batches {
        add_batch(&mut timelines, batch)?;
    }
    let timelines_raw = raw.len();
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
    tracing::debug!(
        ms = ms(started),
        raw_events = timelines_raw,
        "timelines taken in"
    );
    let walking = std::time::Instant::now();
    let out = walk(timelines, names);
    tracing::debug!(ms = ms(walking), "timelines walked");
    Ok(Some(out))
}

/// The rows of one batch of `rows_sql`.
fn add_batch<'a>(timelines: &mut Timelines<'a>, batch: &'a RecordBatch) -> Result<(), StoreError> {
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
    let (micros, item) = (list(3)?, list(4)?);
    // The two lists of a row have one length, so one set of offsets serves.
    if micros.0 != item.0 {
        return Err(bad("two lists of one length"));
    }
    let source = timelines.add_source(micros.1, item.1);
    let offsets = micros.0;
    for row in 0..batch.num_rows() {
        let bound = |i: usize| usize::try_from(offsets[i]).unwrap_or(0);
        timelines.push_row(
            source,
            person.value(row),
            key.value(row),
            hour.value(row),
            bound(row),
            bound(row + 1),
        );
    }
    Ok(())
}
