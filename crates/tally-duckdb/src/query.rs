//! [`QueryEngine`] for DuckDB: runs the SQL from `crate::sql` on a reader
//! connection and shapes the rows into answers.

use crate::sql::{self, rollup, timeline, Sql};
use crate::store::{internal, DuckDb};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use duckdb::types::{ToSqlOutput, Value};
use duckdb::ToSql;
use rollup::Coverage;
use serde_json::{Map, Value as Json};
use tally_core::StoreError;
use tally_query::activity::{ActivityQuery, LifecycleAnswer, StickinessAnswer};
use tally_query::funnel::{FunnelAnswer, FunnelQuery, FunnelWalk};
use tally_query::paths::{self, PathRow, PathsAnswer, PathsQuery};
use tally_query::persons::{PersonListItem, PersonsPage, PersonsQuery};
use tally_query::realtime::{self, RealtimeAnswer, RealtimeQuery};
use tally_query::retention::{self, CohortType, RetentionAnswer, RetentionQuery, RetentionRow};
use tally_query::sessions::{self, SessionEventsQuery, SessionTimeline};
use tally_query::sql::SqlParam;
use tally_query::top::{TopAnswer, TopQuery, TopRow};
use tally_query::trends::{self, TrendRow, TrendsAnswer, TrendsQuery};
use tally_query::*;
use uuid::Uuid;

pub(crate) struct Bound<'a>(pub(crate) &'a SqlParam);

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> duckdb::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            SqlParam::Int(i) => ToSqlOutput::Owned(Value::BigInt(*i)),
            SqlParam::Float(f) => ToSqlOutput::Owned(Value::Double(*f)),
            SqlParam::Text(s) => ToSqlOutput::Borrowed(duckdb::types::ValueRef::Text(s.as_bytes())),
            SqlParam::Time(t) => ToSqlOutput::Owned(Value::BigInt(t.timestamp_micros())),
        })
    }
}

pub(crate) fn run<T>(
    conn: &duckdb::Connection,
    sql: &Sql,
    mut map: impl FnMut(&duckdb::Row<'_>) -> duckdb::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(&sql.text).map_err(internal)?;
    let mut rows = stmt
        .query(duckdb::params_from_iter(sql.params.iter().map(Bound)))
        .map_err(internal)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(internal)? {
        out.push(map(row).map_err(internal)?);
    }
    Ok(out)
}

/// The starts of a project's dirty hours overlapping `range`, ascending.
fn read_dirty(
    db: &DuckDb,
    project_id: tally_core::ProjectId,
    range: TimeRange,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    let dirty = db.read(|c| {
        run(c, &rollup::dirty_hours_sql(project_id, range), |r| {
            r.get::<_, i64>(0)
        })
    })?;
    Ok(dirty
        .into_iter()
        .filter_map(DateTime::from_timestamp_micros)
        .collect())
}

/// Which whole hours of `range` a project's queries may read from rollups: those
/// not dirty.
pub(crate) fn read_coverage(
    db: &DuckDb,
    project_id: tally_core::ProjectId,
    range: TimeRange,
) -> Result<Coverage, StoreError> {
    if !db.reads_rollups() {
        return Ok(Coverage::raw(range));
    }
    Ok(Coverage::new(range, read_dirty(db, project_id, range)?))
}

/// The SQL of a trends series that reads rollups, when the series qualifies and
/// its range has rolled-up hours; `coverage` keeps the range's rolled-up hours
/// (read on first need) for the next series.
fn rollup_series_sql(
    db: &DuckDb,
    q: &TrendsQuery,
    series: &trends::SeriesRequest,
    range: TimeRange,
    plan: &BucketPlan,
    coverage: &mut Option<Coverage>,
) -> Result<Option<Sql>, StoreError> {
    if !rollup::series_reads_rollup(q, series, plan) {
        return Ok(None);
    }
    if coverage.is_none() {
        *coverage = Some(read_coverage(db, q.project_id, range)?);
    }
    Ok(coverage
        .as_ref()
        .filter(|c| c.is_useful())
        .map(|c| rollup::series_sql(q, series, plan, c)))
}

/// The SQL of a retention query: over rollups where it qualifies and its range
/// has rolled-up hours, else over events.
fn retention_sql(db: &DuckDb, q: &RetentionQuery) -> Result<Sql, StoreError> {
    if rollup::retention_reads_rollup(q) {
        let coverage = read_coverage(db, q.project_id, q.range)?;
        if coverage.is_useful() {
            let before = match q.cohort {
                CohortType::FirstTime => {
                    read_coverage(db, q.project_id, rollup::since_ever(q.range.from))?.or_raw()
                }
                // Not read: recurring cohorts do not look before the range.
                CohortType::Recurring => Coverage::raw(rollup::since_ever(q.range.from)),
            };
            return Ok(rollup::retention_sql(q, &coverage, &before));
        }
    }
    Ok(sql::retention::retention_sql(q))
}

/// The SQL of the overview: without filters, its event cards over rollups when
/// its two ranges have rolled-up hours, and (without bots) its session cards
/// over `rollup_sessions` when the hours its sessions span mostly are; the rest
/// over events.
fn overview_sql(db: &DuckDb, q: &OverviewQuery) -> Result<Sql, StoreError> {
    if !q.filters.is_empty() || !db.reads_rollups() {
        return Ok(sql::overview(q));
    }
    // One read of the dirty hours: the sessions' range holds both others.
    let widest = rollup::overview_sessions_range(q);
    let dirty = read_dirty(db, q.project_id, widest)?;
    let cover = |range| Coverage::new(range, dirty.iter().copied());
    let cards = cover(q.range.previous()).then(cover(q.range));
    let sessions = rollup::overview_sessions_read_rollup(q).then(|| cover(widest));
    Ok(rollup::overview_sql(
        q,
        Some(&cards).filter(|c| c.is_useful()),
        sessions.as_ref().filter(|c| c.is_useful()),
    ))
}

/// The SQL of the sessions list: without bots, its sessions with a
/// `$session_id` from `rollup_sessions` when the hours they span mostly are
/// rolled up; the rest from events.
fn sessions_sql(db: &DuckDb, q: &SessionsQuery) -> Result<Sql, StoreError> {
    if rollup::sessions_read_rollup(q) {
        let coverage = read_coverage(db, q.project_id, rollup::sessions_range(q))?;
        if coverage.is_useful() {
            return Ok(rollup::sessions_sql(q, &coverage));
        }
    }
    Ok(sql::sessions(q))
}

/// The SQL of a stickiness query: over rollups where it qualifies and its range
/// has rolled-up hours, else over events.
fn stickiness_sql(db: &DuckDb, q: &ActivityQuery) -> Result<Sql, StoreError> {
    if rollup::activity_reads_rollup(q) {
        let coverage = read_coverage(db, q.project_id, q.range)?;
        if coverage.is_useful() {
            return Ok(rollup::stickiness_sql(q, &coverage));
        }
    }
    Ok(sql::activity::stickiness_sql(q))
}

/// The SQL of a lifecycle query, as [`stickiness_sql`] chooses (over the
/// widened range, and everything before it for `new`).
fn lifecycle_sql(db: &DuckDb, q: &ActivityQuery) -> Result<Sql, StoreError> {
    if rollup::activity_reads_rollup(q) {
        let widened = q.widened.0;
        let coverage = read_coverage(db, q.project_id, widened)?;
        if coverage.is_useful() {
            let before =
                read_coverage(db, q.project_id, rollup::since_ever(widened.from))?.or_raw();
            return Ok(rollup::lifecycle_sql(q, &coverage, &before));
        }
    }
    Ok(sql::activity::lifecycle_sql(q))
}

/// An event row of `sql::EVENT_COLUMNS`.
pub(crate) fn event_record(r: &duckdb::Row<'_>) -> duckdb::Result<EventRecord> {
    let uuid: String = r.get(0)?;
    let props: Option<String> = r.get(9)?;
    Ok(EventRecord {
        uuid: Uuid::parse_str(&uuid).unwrap_or_default(),
        event: r.get(1)?,
        distinct_id: r.get(2)?,
        timestamp: time(r.get(3)?),
        received_at: time(r.get(4)?),
        url: r.get(5)?,
        path: r.get(6)?,
        referrer: r.get(7)?,
        session_id: r.get(8)?,
        browser: r.get(10)?,
        os: r.get(11)?,
        device: r.get(12)?,
        is_bot: r.get(13)?,
        properties: props
            .and_then(|p| serde_json::from_str::<Map<String, Json>>(&p).ok())
            .unwrap_or_default(),
    })
}

/// A person row: id, identified, first seen µs, last seen µs, properties JSON,
/// distinct ids JSON array.
fn person_record(r: &duckdb::Row<'_>) -> duckdb::Result<PersonRecord> {
    let id: i64 = r.get(0)?;
    let json = |i: usize| -> duckdb::Result<String> { r.get(i) };
    let bad = |i: usize, e: serde_json::Error| {
        duckdb::Error::FromSqlConversionFailure(i, duckdb::types::Type::Text, Box::new(e))
    };
    Ok(PersonRecord {
        id,
        distinct_ids: serde_json::from_str(&json(5)?).map_err(|e| bad(5, e))?,
        is_identified: r.get(1)?,
        first_seen: time(r.get(2)?),
        last_seen: time(r.get(3)?),
        properties: serde_json::from_str(&json(4)?).map_err(|e| bad(4, e))?,
    })
}

fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl QueryEngine for DuckDb {
    async fn events(&self, q: EventsQuery) -> Result<EventsPage, StoreError> {
        self.blocking(move |db| {
            let sql = sql::events_page(&q);
            let rows = db.read(|c| run(c, &sql, event_record))?;
            Ok(EventsPage::from_rows(rows, q.limit))
        })
        .await
    }

    async fn sessions(&self, q: SessionsQuery) -> Result<SessionsPage, StoreError> {
        self.blocking(move |db| {
            let sql = sessions_sql(&db, &q)?;
            let results = db.read(|c| {
                run(c, &sql, |r| {
                    let start = time(r.get(3)?);
                    let end = time(r.get(4)?);
                    Ok(SessionRecord {
                        id: r.get(0)?,
                        distinct_id: r.get(1)?,
                        // Keys for events without a person are negative.
                        person_id: Some(r.get::<_, i64>(2)?).filter(|&p| p > 0),
                        start,
                        end,
                        duration_secs: (end - start).num_microseconds().unwrap_or(0) as f64 / 1e6,
                        events: count(r.get(5)?),
                        pageviews: count(r.get(6)?),
                        entry_path: r.get(7)?,
                        exit_path: r.get(8)?,
                        bounce: r.get(9)?,
                        referrer: r.get(10)?,
                        channel: r.get(11)?,
                        utm_source: r.get(12)?,
                        utm_medium: r.get(13)?,
                        utm_campaign: r.get(14)?,
                        device: r.get(15)?,
                        browser: r.get(16)?,
                        country: r.get(17)?,
                    })
                })
            })?;
            Ok(SessionsPage {
                range: q.range,
                results,
            })
        })
        .await
    }

    async fn definitions(&self, q: DefinitionsQuery) -> Result<Definitions, StoreError> {
        self.blocking(move |db| {
            let sql = sql::definitions(&q);
            let results = db.read(|c| {
                run(c, &sql, |r| {
                    Ok(Definition {
                        name: r.get(0)?,
                        property_type: r.get(1)?,
                        first_seen: time(r.get(2)?),
                        last_seen: time(r.get(3)?),
                        count: count(r.get(4)?),
                    })
                })
            })?;
            Ok(Definitions {
                kind: q.kind,
                results,
            })
        })
        .await
    }

    async fn person(&self, q: PersonQuery) -> Result<Option<PersonRecord>, StoreError> {
        self.blocking(move |db| {
            let sql = sql::person(&q);
            let rows = db.read(|c| run(c, &sql, person_record))?;
            Ok(rows.into_iter().next())
        })
        .await
    }

    async fn retention(&self, q: RetentionQuery) -> Result<RetentionAnswer, StoreError> {
        self.blocking(move |db| {
            let sql = retention_sql(&db, &q)?;
            let rows = db.read(|c| {
                run(c, &sql, |r| {
                    Ok(RetentionRow {
                        cohort_local_us: r.get(0)?,
                        return_local_us: r.get(1)?,
                        persons: r.get(2)?,
                    })
                })
            })?;
            Ok(retention::assemble(&q, &rows))
        })
        .await
    }

    async fn paths(&self, q: PathsQuery) -> Result<PathsAnswer, StoreError> {
        self.blocking(move |db| {
            if timeline::paths_reads_timeline(&q) {
                let anchor = q.anchor.as_deref();
                let wanted: Vec<&str> = anchor.into_iter().collect();
                let item = timeline::paths_item(&q);
                let answer = crate::timeline::with_timelines(
                    &db,
                    q.project_id,
                    q.range,
                    item,
                    &wanted,
                    |names| timeline::PathsThin::new(&q, anchor.map(|a| names.id(a))),
                    |timelines, mut names| {
                        let anchor = anchor.map(|a| names.id(a));
                        (timeline::count_paths(&q, timelines, anchor), names)
                    },
                )?;
                if let Some((counts, names)) = answer {
                    let stored = db.read(|c| {
                        run(
                            c,
                            &timeline::id_names_sql(q.project_id, &counts.ids()),
                            |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)),
                        )
                    })?;
                    return Ok(timeline::paths_answer(
                        &q,
                        counts,
                        &names,
                        &stored.into_iter().collect(),
                    ));
                }
            }
            paths_raw(&db, &q)
        })
        .await
    }

    async fn stickiness(&self, q: ActivityQuery) -> Result<StickinessAnswer, StoreError> {
        self.blocking(move |db| {
            let sql = stickiness_sql(&db, &q)?;
            let rows = db.read(|c| run(c, &sql, |r| Ok((r.get(0)?, r.get(1)?))))?;
            Ok(activity::stickiness_answer(&q, &rows))
        })
        .await
    }

    async fn lifecycle(&self, q: ActivityQuery) -> Result<LifecycleAnswer, StoreError> {
        self.blocking(move |db| {
            let sql = lifecycle_sql(&db, &q)?;
            let rows = db.read(|c| run(c, &sql, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))?;
            Ok(activity::lifecycle_answer(&q, &rows))
        })
        .await
    }

    async fn persons(&self, q: PersonsQuery) -> Result<PersonsPage, StoreError> {
        self.blocking(move |db| {
            let sql = sql::persons::persons_sql(&q);
            let mut results = db.read(|c| {
                run(c, &sql, |r| {
                    Ok(PersonListItem {
                        person: person_record(r)?,
                        events: count(r.get(6)?),
                    })
                })
            })?;
            let next_offset = (results.len() > q.limit).then(|| {
                results.truncate(q.limit);
                q.offset + q.limit
            });
            Ok(PersonsPage {
                kind: "persons",
                results,
                next_offset,
            })
        })
        .await
    }

    async fn realtime(&self, q: RealtimeQuery) -> Result<RealtimeAnswer, StoreError> {
        self.blocking(move |db| {
            let totals = sql::realtime::totals_sql(&q);
            let per_minute = sql::realtime::per_minute_sql(&q);
            let (totals, per_minute) = db.read(|c| {
                let totals = run(c, &totals, |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]))?;
                let per_minute = run(c, &per_minute, |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok((totals, per_minute))
            })?;
            Ok(realtime::assemble(
                &q,
                totals.first().copied().unwrap_or_default(),
                &per_minute,
            ))
        })
        .await
    }

    async fn session_events(
        &self,
        q: SessionEventsQuery,
    ) -> Result<Option<SessionTimeline>, StoreError> {
        self.blocking(move |db| {
            let sdk = sql::sessions::sdk_session_sql(&q);
            let mut events = db.read(|c| run(c, &sdk, event_record))?;
            let mut truncated = events.len() > sessions::MAX_SESSION_EVENTS;
            if events.is_empty() {
                if let Some((distinct_id, start)) = sessions::parse_derived(&q.id) {
                    let sql = sql::sessions::derived_session_sql(&q, &distinct_id, start);
                    let rows = db.read(|c| run(c, &sql, event_record))?;
                    events = sessions::cut_derived(rows, start, q.inactivity);
                    truncated = events.len() > sessions::MAX_SESSION_EVENTS;
                }
            }
            if events.is_empty() {
                return Ok(None);
            }
            events.truncate(sessions::MAX_SESSION_EVENTS);
            Ok(Some(SessionTimeline {
                id: q.id,
                events,
                truncated,
            }))
        })
        .await
    }

    async fn funnel(&self, q: FunnelQuery) -> Result<FunnelAnswer, StoreError> {
        self.blocking(move |db| {
            let mut answer = match funnel_on_timelines(&db, &q)? {
                Some(answer) => answer,
                None => funnel_raw(&db, &q)?,
            };
            if let Some(list) = answer.persons.as_mut().filter(|l| !l.person_ids.is_empty()) {
                let sql = sql::persons_by_id(q.project_id, &list.person_ids);
                list.results = db.read(|c| run(c, &sql, person_record))?;
            }
            Ok(answer)
        })
        .await
    }

    async fn top(&self, q: TopQuery) -> Result<TopAnswer, StoreError> {
        self.blocking(move |db| {
            let sql = sql::top::top_sql(&q);
            let results = db.read(|c| {
                run(c, &sql, |r| {
                    Ok(TopRow {
                        value: r.get(0)?,
                        visitors: count(r.get(1)?),
                        pageviews: count(r.get(2)?),
                        events: count(r.get(3)?),
                        sessions: r.get::<_, Option<i64>>(4)?.map(count),
                    })
                })
            })?;
            Ok(TopAnswer {
                dimension: q.dimension,
                range: q.range,
                results,
            })
        })
        .await
    }

    async fn trends(&self, q: TrendsQuery) -> Result<TrendsAnswer, StoreError> {
        self.blocking(move |db| {
            let run_range = |range: TimeRange, plan: &BucketPlan| {
                let mut results = Vec::new();
                // Read once per range, when a series can use it.
                let mut coverage: Option<Coverage> = None;
                for (i, series) in q.series.iter().enumerate() {
                    let sql = rollup_series_sql(&db, &q, series, range, plan, &mut coverage)?
                        .unwrap_or_else(|| sql::trends::series_sql(&q, series, range, plan));
                    let rows = db.read(|c| {
                        run(c, &sql, |r| {
                            Ok(TrendRow {
                                bucket_local_us: r.get(0)?,
                                other: r.get(1)?,
                                breakdown: r.get(2)?,
                                value: r.get(3)?,
                            })
                        })
                    })?;
                    results.extend(trends::assemble(&q, i, plan, rows));
                }
                Ok::<_, StoreError>(results)
            };
            let results = run_range(q.range, &q.plan)?;
            let previous = match &q.previous {
                Some((range, plan)) => Some(run_range(*range, plan)?),
                None => None,
            };
            Ok(q.answer(results, previous))
        })
        .await
    }

    async fn count_events(&self, q: EventsQuery) -> Result<u64, StoreError> {
        self.blocking(move |db| {
            let sql = sql::events_count(&q);
            let rows = db.read(|c| run(c, &sql, |r| r.get::<_, i64>(0)))?;
            Ok(rows.first().copied().map_or(0, count))
        })
        .await
    }

    async fn timeseries(&self, q: TimeseriesQuery) -> Result<Timeseries, StoreError> {
        self.blocking(move |db| {
            // Without dashboard filters this is a one-series trend, which
            // rollups may answer (the same rows, counts as DOUBLE).
            let as_trend = q.filters.0.is_empty().then(|| q.as_trend());
            let rollup_sql = match &as_trend {
                Some(t) => rollup_series_sql(&db, t, &t.series[0], q.range, &q.plan, &mut None)?,
                None => None,
            };
            let rows = match rollup_sql {
                Some(sql) => db.read(|c| {
                    run(c, &sql, |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(3)? as i64))
                    })
                })?,
                None => db.read(|c| {
                    run(c, &sql::timeseries(&q), |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })
                })?,
            };
            Ok(q.answer(rows.into_iter().map(|(bucket, n)| (bucket, count(n)))))
        })
        .await
    }

    async fn top_events(&self, q: TopEventsQuery) -> Result<TopEvents, StoreError> {
        self.blocking(move |db| {
            let coverage = read_coverage(&db, q.project_id, q.range)?;
            let sql = if coverage.is_useful() {
                rollup::top_events_sql(&q, &coverage)
            } else {
                sql::top_events(&q)
            };
            let results = db.read(|c| {
                run(c, &sql, |r| {
                    Ok(TopEvent {
                        event: r.get(0)?,
                        count: count(r.get(1)?),
                        unique_users: count(r.get(2)?),
                    })
                })
            })?;
            Ok(TopEvents {
                range: q.range,
                results,
            })
        })
        .await
    }

    async fn overview(&self, q: OverviewQuery) -> Result<Overview, StoreError> {
        self.blocking(move |db| {
            let sql = overview_sql(&db, &q)?;
            let rows = db.read(|c| {
                run(c, &sql, |r| {
                    let stats = |at: usize| -> duckdb::Result<OverviewStats> {
                        let sessions = count(r.get(at + 3)?);
                        let with_pageviews = count(r.get(at + 4)?);
                        let bounced = count(r.get(at + 5)?);
                        let length: Option<f64> = r.get(at + 6)?;
                        Ok(OverviewStats {
                            events: count(r.get(at)?),
                            unique_users: count(r.get(at + 1)?),
                            pageviews: count(r.get(at + 2)?),
                            sessions,
                            bounce_rate: (with_pageviews > 0)
                                .then(|| bounced as f64 / with_pageviews as f64),
                            avg_session_secs: length.filter(|_| sessions > 0).map(|us| us / 1e6),
                        })
                    };
                    Ok((stats(0)?, stats(7)?))
                })
            })?;
            let (current, previous) = rows.into_iter().next().unwrap_or_default();
            Ok(Overview {
                range: q.range,
                previous_range: q.range.previous(),
                current,
                previous,
            })
        })
        .await
    }
}

/// A funnel that qualifies, over person timelines; `None` when it does not or
/// its range has no rolled-up hours.
fn funnel_on_timelines(db: &DuckDb, q: &FunnelQuery) -> Result<Option<FunnelAnswer>, StoreError> {
    if !timeline::funnel_reads_timeline(q) {
        return Ok(None);
    }
    let range = TimeRange {
        from: q.range.from,
        to: q.range.to + q.window,
    };
    let wanted: Vec<&str> = q.steps.iter().map(|s| s.event.as_str()).collect();
    crate::timeline::with_timelines(
        db,
        q.project_id,
        range,
        timeline::Item::Event,
        &wanted,
        |names| timeline::FunnelThin::new(q, timeline::StepBits::new(q, names)),
        |timelines, mut names| {
            let bits = timeline::StepBits::new(q, &mut names);
            timeline::walk_funnel(q, timelines, &bits)
        },
    )
}

/// A funnel over events: the rows of `funnel_sql`, streamed into the walk.
pub(crate) fn funnel_raw(db: &DuckDb, q: &FunnelQuery) -> Result<FunnelAnswer, StoreError> {
    let sql = sql::funnel::funnel_sql(q);
    let mut walk = FunnelWalk::new(q);
    db.read(|c| {
        let mut stmt = c.prepare(&sql.text).map_err(internal)?;
        let mut rows = stmt
            .query(duckdb::params_from_iter(sql.params.iter().map(Bound)))
            .map_err(internal)?;
        // Streamed: a long range can match millions of events.
        while let Some(row) = rows.next().map_err(internal)? {
            let person: i64 = row.get(0).map_err(internal)?;
            let at: i64 = row.get(1).map_err(internal)?;
            let bits: i64 = row.get(2).map_err(internal)?;
            let value: Option<String> = row.get(3).map_err(internal)?;
            walk.push(person, at, bits, value);
        }
        Ok(())
    })?;
    Ok(walk.finish(q))
}

/// Paths over events: `paths_sql`.
pub(crate) fn paths_raw(db: &DuckDb, q: &PathsQuery) -> Result<PathsAnswer, StoreError> {
    let sql = sql::paths::paths_sql(q);
    let rows = db.read(|c| {
        run(c, &sql, |r| {
            Ok(PathRow {
                step: r.get(0)?,
                item: r.get(1)?,
                next: r.get(2)?,
                persons: r.get(3)?,
            })
        })
    })?;
    Ok(paths::assemble(q, rows))
}
