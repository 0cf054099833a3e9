//! Hourly rollups of the events table, and what they answer: trends series, top
//! events, the overview's event cards, retention, stickiness and lifecycle; and
//! session rows (`rollup_sessions`, kept by the same compaction), which answer
//! the overview's session cards and the sessions list ([`sessions_sql`]).
//!
//! A rollup row counts one project's events of one UTC hour per event name, bot
//! flag, person key before merges ([`crate::sql::STORED_PERSON_KEY`]) and `$browser`
//! (read from the properties exactly as a breakdown reads it). An hour's rows are
//! exact — the aggregate of that hour's stored events, none for an hour without
//! events — unless the hour is listed in `rollup_dirty`: a store lists an hour in
//! the same transaction that stores a new event in it, and takes it off when it
//! has recomputed the hour's rows from the events (compaction).
//!
//! A series that qualifies ([`series_reads_rollup`]) reads the rollup rows of the
//! whole hours in its range that are not dirty and raw events for the rest (the
//! range's ragged ends, hours not compacted yet), and counts persons through merges as the raw
//! SQL does. Its answer is therefore the raw answer; the DuckDB store's tests
//! check exactly that, with the whole conformance suite run on compacted rollups.

use super::activity::{push_active_intervals, push_statuses};
use super::filters::pointer;
use super::retention::push_triangle;
use super::scope::push_condition;
use super::trends::push_ranked_values;
use super::{
    bucket_start, local_time, push_sessionized, Sql, EVENTS_WITH_PERSON_SELECT,
    SESSION_EVENT_COLUMNS, SESSION_FACTS, SESSION_LIST_FACTS, STORED_PERSON_KEY,
};
use chrono::{DateTime, Duration, Utc};
use tally_core::ProjectId;
use tally_query::activity::ActivityQuery;
use tally_query::buckets::BucketPlan;
use tally_query::filters::PropertySource;
use tally_query::retention::{CohortType, RetentionQuery};
use tally_query::scope::EventMatch;
use tally_query::sql::SqlParam;
use tally_query::trends::{SeriesRequest, TrendMath, TrendsQuery};
use tally_query::types::{
    Interval, OverviewQuery, SessionsQuery, TimeRange, TopEventsQuery, DEFAULT_INACTIVITY,
    SESSION_LOOKBACK,
};

/// The one event property rollup rows keep, for breakdowns.
pub const ROLLUP_PROPERTY: &str = "$browser";

/// More separate stretches of rolled-up hours than this in one range (a range
/// broken by many dirty hours, as after a backfill) and a series reads raw events
/// instead: each stretch is a condition in both halves of the query.
pub const MAX_STRETCHES: usize = 32;

/// The start of the UTC hour holding `t`.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp().div_euclid(3600) * 3600;
    DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

/// The first whole-hour start at or after `t`.
fn hour_from(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = hour_of(t);
    if floor == t {
        t
    } else {
        floor + Duration::hours(1)
    }
}

/// Whether a series can be answered from rollups: it counts events or persons
/// (not sessions, not a property's numbers), has no filters, breaks down by
/// nothing or by `$browser`, and its buckets start on whole UTC hours (hour, day,
/// week or month in a zone whose offsets are whole hours and change on the hour).
pub fn series_reads_rollup(q: &TrendsQuery, series: &SeriesRequest, plan: &BucketPlan) -> bool {
    let math = matches!(
        series.math,
        TrendMath::Total | TrendMath::UniquePersons | TrendMath::PerPersonAvg
    );
    let breakdown = q
        .breakdown
        .as_ref()
        .is_none_or(|b| b.source == PropertySource::Event && b.property == ROLLUP_PROPERTY);
    math && breakdown && on_whole_hours(plan) && q.filters.is_none() && series.filters.is_none()
}

/// Whether every bucket of `plan` starts on a whole UTC hour: hour, day, week or
/// month in a zone whose offsets are whole hours and change on the hour. Each
/// rolled-up hour then lies in one bucket.
fn on_whole_hours(plan: &BucketPlan) -> bool {
    plan.interval != Interval::Minute
        && plan.segments.iter().all(|s| s.offset_secs % 3600 == 0)
        && plan
            .segments
            .iter()
            .skip(1)
            .all(|s| s.starts_at == hour_of(s.starts_at))
}

/// Whether a retention query can be answered from rollups: no filters (shared
/// or on its start and return events) and periods on whole UTC hours.
pub fn retention_reads_rollup(q: &RetentionQuery) -> bool {
    q.filters.is_none()
        && q.start_event.filters.is_none()
        && q.return_event.filters.is_none()
        && on_whole_hours(&q.plan)
}

/// Whether stickiness or lifecycle can be answered from rollups: no filters
/// (shared or on the event) and intervals on whole UTC hours.
pub fn activity_reads_rollup(q: &ActivityQuery) -> bool {
    q.filters.is_none()
        && q.event.filters.is_none()
        && on_whole_hours(&q.plan)
        && on_whole_hours(&q.widened.1)
}

/// A range from before any stored event (chrono's earliest instant, which
/// DuckDB's timestamps also hold) to `to`: what "ever before `to`" reads.
pub fn since_ever(to: DateTime<Utc>) -> TimeRange {
    TimeRange {
        from: DateTime::<Utc>::MIN_UTC,
        to,
    }
}

/// Rows: the start (µs) of each dirty hour of a project overlapping `range`,
/// ascending.
pub fn dirty_hours_sql(project_id: ProjectId, range: TimeRange) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT epoch_us(hour) FROM rollup_dirty WHERE project_id = ")
        .bind(SqlParam::Int(project_id))
        .push(" AND hour >= ")
        .bind(SqlParam::Time(hour_of(range.from)))
        .push(" AND hour < ")
        .bind(SqlParam::Time(range.to))
        .push(" ORDER BY hour");
    s
}

/// The part of one range read from rollups: stretches of its whole hours that
/// are not dirty.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    pub range: TimeRange,
    /// Ascending, disjoint, not touching, each inside `range`.
    pub stretches: Vec<TimeRange>,
    /// The parts of `range` in dirty hours (all of it for [`Coverage::raw`]),
    /// ascending, disjoint, not touching.
    pub dirty: Vec<TimeRange>,
}

impl Coverage {
    /// From the starts of the dirty hours overlapping `range`, ascending (what
    /// [`dirty_hours_sql`] reads).
    pub fn new(range: TimeRange, dirty_starts: impl IntoIterator<Item = DateTime<Utc>>) -> Self {
        let end = hour_of(range.to);
        let mut stretches = Vec::new();
        let mut dirty = Vec::new();
        let mut at = hour_from(range.from);
        for start in dirty_starts {
            let part = TimeRange {
                from: start.max(range.from),
                to: (start + Duration::hours(1)).min(range.to),
            };
            if part.from < part.to {
                push_joined(&mut dirty, part);
            }
            if start >= end {
                continue;
            }
            if start > at {
                stretches.push(TimeRange {
                    from: at,
                    to: start,
                });
            }
            at = at.max(start + Duration::hours(1));
        }
        if at < end {
            stretches.push(TimeRange { from: at, to: end });
        }
        Self {
            range,
            stretches,
            dirty,
        }
    }

    /// None of `range` from rollups: all of it from events.
    pub fn raw(range: TimeRange) -> Self {
        Self {
            range,
            stretches: Vec::new(),
            dirty: vec![range],
        }
    }

    /// Whether reading rollups for this range is worth it (and bounded).
    pub fn is_useful(&self) -> bool {
        !self.stretches.is_empty() && self.stretches.len() <= MAX_STRETCHES
    }

    /// This coverage if it [`is_useful`](Self::is_useful), else none: the whole
    /// range read from events.
    pub fn or_raw(self) -> Self {
        if self.is_useful() {
            self
        } else {
            Self::raw(self.range)
        }
    }

    /// The coverage of `self`'s range and the one right after it (`next`):
    /// every rolled-up hour inside one of the two, so an hour across the seam is
    /// read from events and each rollup row lies in one range.
    pub fn then(self, next: Coverage) -> Coverage {
        debug_assert_eq!(self.range.to, next.range.from);
        let (mut stretches, mut dirty) = (self.stretches, self.dirty);
        for c in next.stretches {
            push_joined(&mut stretches, c);
        }
        for d in next.dirty {
            push_joined(&mut dirty, d);
        }
        Coverage {
            range: TimeRange {
                from: self.range.from,
                to: next.range.to,
            },
            stretches,
            dirty,
        }
    }

    /// The parts of the range not covered, ascending.
    pub fn uncovered(&self) -> Vec<TimeRange> {
        let mut out = Vec::new();
        let mut at = self.range.from;
        for c in &self.stretches {
            if c.from > at {
                out.push(TimeRange {
                    from: at,
                    to: c.from,
                });
            }
            at = c.to;
        }
        if at < self.range.to {
            out.push(TimeRange {
                from: at,
                to: self.range.to,
            });
        }
        out
    }
}

/// Appends `r` to ascending ranges, joined with the last one if they touch.
fn push_joined(ranges: &mut Vec<TimeRange>, r: TimeRange) {
    match ranges.last_mut() {
        Some(last) if last.to >= r.from => last.to = last.to.max(r.to),
        _ => ranges.push(r),
    }
}

/// `(column >= a AND column < b) OR …` over the stretches; `false` for none.
pub(crate) fn push_within(s: &mut Sql, column: &str, stretches: &[TimeRange]) {
    if stretches.is_empty() {
        s.push("false");
        return;
    }
    s.push("(");
    for (i, r) in stretches.iter().enumerate() {
        if i > 0 {
            s.push(" OR ");
        }
        s.push("(")
            .push(column)
            .push(" >= ")
            .bind(SqlParam::Time(r.from))
            .push(" AND ")
            .push(column)
            .push(" < ")
            .bind(SqlParam::Time(r.to))
            .push(")");
    }
    s.push(")");
}

/// The rollup rows of a project's events in `hours` (whole hours), in the column
/// order of `rollup_hourly`, grouped by event then hour (so a scan for one event
/// name skips other names' row groups).
pub fn rollup_rows_sql(project_id: ProjectId, hours: &[TimeRange]) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT e.project_id, date_trunc('hour', e.timestamp) AS hour, e.event, coalesce(e.is_bot, false), ")
        .push(STORED_PERSON_KEY)
        .push(", json_extract_string(e.properties, ")
        .bind(SqlParam::Text(pointer(ROLLUP_PROPERTY)))
        .push("), count(*) FROM events e WHERE e.project_id = ")
        .bind(SqlParam::Int(project_id))
        .push(" AND ");
    push_within(&mut s, "e.timestamp", hours);
    s.push(" GROUP BY ALL ORDER BY e.event, hour");
    s
}

/// What a CTE of [`push_source`] reads.
struct Source<'a> {
    project_id: ProjectId,
    /// Events of these names; `None`: of any name.
    events: Option<Vec<&'a str>>,
    include_bots: bool,
    /// Read `$browser` into `bd` (else `bd` is NULL).
    breakdown: bool,
    /// `person` is the person through merges, as raw queries count (else the
    /// key before merges, for rows whose persons are not counted).
    persons: bool,
}

/// `name AS (…)`: rows of (timestamp, event, person, bd, n = how many events
/// the row stands for) — rollup rows for the rolled-up hours of the range, one
/// per event for the rest.
fn push_source(s: &mut Sql, name: &str, src: &Source<'_>, coverage: &Coverage) {
    s.push(name).push(" AS ");
    push_source_rows(s, src, coverage);
}

/// The `(…)` of [`push_source`].
fn push_source_rows(s: &mut Sql, src: &Source<'_>, coverage: &Coverage) {
    s.push("(");
    if src.persons {
        s.push("SELECT u.timestamp, u.event, coalesce(po.person_id, u.person) AS person, u.bd, u.n FROM (");
    }
    s.push("SELECT r.hour AS timestamp, r.event, r.person, ")
        .push(if src.breakdown {
            "r.browser"
        } else {
            "NULL::VARCHAR"
        })
        .push(" AS bd, r.events AS n FROM rollup_hourly r WHERE r.project_id = ")
        .bind(SqlParam::Int(src.project_id))
        .push(" AND ");
    push_within(s, "r.hour", &coverage.stretches);
    push_names(s, "r.event", src.events.as_deref());
    if !src.include_bots {
        s.push(" AND NOT r.is_bot");
    }
    let uncovered = coverage.uncovered();
    // A range of whole rolled-up hours reads no events at all.
    if !uncovered.is_empty() {
        s.push(" UNION ALL SELECT e.timestamp, e.event, ")
            .push(STORED_PERSON_KEY)
            .push(", ");
        if src.breakdown {
            s.push("json_extract_string(e.properties, ")
                .bind(SqlParam::Text(pointer(ROLLUP_PROPERTY)))
                .push(")");
        } else {
            s.push("NULL::VARCHAR");
        }
        s.push(", 1 FROM events e WHERE e.project_id = ")
            .bind(SqlParam::Int(src.project_id))
            .push(" AND ");
        push_within(s, "e.timestamp", &uncovered);
        push_names(s, "e.event", src.events.as_deref());
        if !src.include_bots {
            s.push(" AND e.is_bot IS NOT TRUE");
        }
    }
    if src.persons {
        s.push(") u LEFT JOIN person_overrides po ON po.project_id = ")
            .bind(SqlParam::Int(src.project_id))
            .push(" AND po.old_person_id = u.person");
    }
    s.push(")");
}

/// ` AND column IN (…)` for some names; nothing for any name.
fn push_names(s: &mut Sql, column: &str, names: Option<&[&str]>) {
    let Some(names) = names else { return };
    s.push(" AND ")
        .push(column)
        .push(" IN ")
        .bind_list(names.iter().map(|n| SqlParam::Text((*n).to_owned())));
}

/// The rows of [`super::trends::series_sql`] for a series that
/// [`series_reads_rollup`], read from rollups where `coverage` allows and from
/// events elsewhere.
pub fn series_sql(
    q: &TrendsQuery,
    series: &SeriesRequest,
    plan: &BucketPlan,
    coverage: &Coverage,
) -> Sql {
    let persons = series.math != TrendMath::Total;
    let mut s = Sql::default();
    let source = Source {
        project_id: q.project_id,
        events: series.event.as_deref().map(|e| vec![e]),
        include_bots: q.include_bots,
        breakdown: q.breakdown.is_some(),
        persons,
    };
    s.push("WITH ");
    push_source(&mut s, "src", &source, coverage);
    s.push(", matched AS (SELECT ");
    if persons {
        s.push("person, ");
    }
    s.push("n, bd, ");
    bucket_start(&mut s, plan);
    s.push(" AS bucket FROM src)");
    push_ranked_values(&mut s, q, series, true);
    s
}

/// The rows of [`super::top_events`] (event, events, unique persons), read
/// from rollups where `coverage` allows and from events elsewhere.
pub fn top_events_sql(q: &TopEventsQuery, coverage: &Coverage) -> Sql {
    let mut s = Sql::default();
    let source = Source {
        project_id: q.project_id,
        events: None,
        include_bots: q.include_bots,
        breakdown: false,
        persons: true,
    };
    s.push("WITH ");
    push_source(&mut s, "src", &source, coverage);
    s.push(" SELECT event, sum(n)::BIGINT AS n, count(DISTINCT person) FROM src GROUP BY event ORDER BY n DESC, event LIMIT ")
        .bind(SqlParam::Int(q.limit as i64));
    s
}

/// The rows of [`super::retention::retention_sql`] for a query that
/// [`retention_reads_rollup`], read from rollups where the coverages allow and
/// from events elsewhere: `coverage` is of the query's range, `before` of
/// everything before it ([`since_ever`]; read for first-time cohorts only, whose
/// persons must not have started earlier).
pub fn retention_sql(q: &RetentionQuery, coverage: &Coverage, before: &Coverage) -> Sql {
    // Only the names the query asks about; any name if one matches any event.
    fn names<'a>(matches: &[&'a EventMatch]) -> Option<Vec<&'a str>> {
        matches.iter().map(|m| m.event.as_deref()).collect()
    }
    let mut s = Sql::default();
    let source = Source {
        project_id: q.project_id,
        events: names(&[&q.start_event, &q.return_event]),
        include_bots: q.include_bots,
        breakdown: false,
        persons: true,
    };
    s.push("WITH ");
    push_source(&mut s, "src", &source, coverage);
    // As the raw `marked`: one row per person and period. The rows are named
    // `ev`, as event conditions expect.
    s.push(", marked AS (SELECT person, bucket, bool_or(is_start) AS is_start, bool_or(is_return) AS is_return FROM (SELECT ev.person, ");
    bucket_start(&mut s, &q.plan);
    s.push(" AS bucket, ");
    push_condition(&mut s, &q.start_event);
    s.push(" AS is_start, ");
    push_condition(&mut s, &q.return_event);
    s.push(" AS is_return FROM src ev) GROUP BY person, bucket)");
    if q.cohort == CohortType::FirstTime {
        let started = Source {
            events: names(&[&q.start_event]),
            ..source
        };
        s.push(", ");
        push_source(&mut s, "src_before", &started, before);
        s.push(", earlier AS (SELECT DISTINCT person FROM src_before)");
    }
    push_triangle(&mut s, q.cohort);
    s
}

/// The overview ([`super::overview`]) with its event cards read from
/// rollups where `cards` (the coverage of the previous and current ranges,
/// built with [`Coverage::then`]) allows, and its session cards from
/// `rollup_sessions` with `sessions` (the coverage of
/// [`overview_sessions_range`]); each from events when not given. For an
/// overview without filters (and, for sessions, without bots).
pub fn overview_sql(
    q: &OverviewQuery,
    cards: Option<&Coverage>,
    sessions: Option<&Coverage>,
) -> Sql {
    let source = Source {
        project_id: q.project_id,
        events: None,
        include_bots: q.include_bots,
        breakdown: false,
        persons: true,
    };
    // Both ranges' cards read `cards`; DuckDB would materialize it (2.4M rows
    // for 30 + 30 days on 10M events) where each reader wants only its own
    // range, which inlining pushes into the scans (BENCHMARKS.md, session 16).
    let cards = cards.map(|coverage| {
        move |s: &mut Sql| {
            s.push("cards AS NOT MATERIALIZED ");
            push_source_rows(s, &source, coverage);
        }
    });
    let sessions =
        sessions.map(|coverage| move |s: &mut Sql| push_overview_sessions(s, q, coverage));
    super::overview_with(
        q,
        cards.as_ref().map(|f| f as &dyn Fn(&mut Sql)),
        sessions.as_ref().map(|f| f as &dyn Fn(&mut Sql)),
    )
}

/// Whether the overview's session cards can read `rollup_sessions`: no
/// dashboard filters, bots left out (the rows count non-bot events only).
pub fn overview_sessions_read_rollup(q: &OverviewQuery) -> bool {
    q.filters.is_empty() && !q.include_bots
}

/// The events the overview's raw session grouping reads: its two ranges and
/// the lookback before them (sessions under way keep their start).
pub fn overview_sessions_range(q: &OverviewQuery) -> TimeRange {
    TimeRange {
        from: q.range.previous().from - SESSION_LOOKBACK,
        to: q.range.to,
    }
}

/// `…, sessions AS (…)` for [`super::overview_with`]: the facts of the
/// sessions the raw grouping finds in `coverage.range`, the sessions with a
/// `$session_id` from `rollup_sessions` and the rest from the events.
///
/// A row of `rollup_sessions` holds a session's facts over all its stored
/// non-bot events, exact unless one of them lies in a dirty hour. So a row
/// is taken as the raw grouping would compute it unless the session has an
/// event in a dirty hour inside the range (`touched`; the range's ragged ends
/// do not matter: rows are per session, not per hour), or its row reaches past
/// either end of the range (the raw grouping
/// sees only the events inside it). Those sessions (`redo`) are grouped from
/// their events, read from the earliest instant one of them can have there
/// (`redo_from`: the earliest start of their rows and of their events in
/// `touched`, a bound DuckDB prunes the scan with). So the row of a redone
/// session starts at or after `redo_from`, or before the range (not read), and
/// only rows from `redo_from` on are checked against `redo`. Sessions without
/// an id are cut from the events as always.
fn push_overview_sessions(s: &mut Sql, q: &OverviewQuery, coverage: &Coverage) {
    let range = coverage.range;
    push_redo(s, q.project_id, coverage, q.range.previous().from);
    // The sessions grouped from events (redone, and those without an id) are
    // grouped once (`grouped`); `sessions` is inlined into both ranges'
    // readers, as `cards` is, so each reads only its own range of the rows.
    s.push(", grouped AS MATERIALIZED (");
    for (i, part) in [Redone::Near, Redone::Far].into_iter().enumerate() {
        if i > 0 {
            s.push(" UNION ALL ");
        }
        s.push("SELECT min(timestamp) AS started, ")
            .push(SESSION_FACTS)
            .push(" FROM events e WHERE e.project_id = ")
            .bind(SqlParam::Int(q.project_id));
        push_redone(s, part, range.to);
        s.push(" GROUP BY e.session_id");
    }
    s.push(" UNION ALL SELECT min(timestamp) AS started, ")
        .push(SESSION_FACTS)
        .push(" FROM ");
    push_sessionized(
        s,
        q.project_id,
        TimeRange {
            from: q.range.previous().from,
            to: q.range.to,
        },
        DEFAULT_INACTIVITY,
        false,
    );
    s.push(" sx WHERE session_id IS NULL GROUP BY session_key), sessions AS NOT MATERIALIZED (");
    push_kept(
        s,
        "k.started, epoch_us(k.ended) - epoch_us(k.started) AS length, k.pageviews, k.other",
        None,
        range,
    );
    s.push(" UNION ALL SELECT * FROM grouped)");
}

/// The CTEs of the sessions [`push_overview_sessions`] describes, for the
/// events of `coverage.range`, of an answer counting the sessions that start
/// from `answer_from` on: `touched`, `kept`, `redo` (all sessions grouped from
/// events), split into `near` (touched, or reaching past the range's end: read
/// from `redo_from`) and `far` (rows begun before the range: the raw grouping
/// starts them at their first event in it, which matters only if that is not
/// before `answer_from`, so only those without an event before it are read,
/// `far_late`, from `far_from`).
fn push_redo(s: &mut Sql, project_id: ProjectId, coverage: &Coverage, answer_from: DateTime<Utc>) {
    let range = coverage.range;
    let project = SqlParam::Int(project_id);
    let (from, to, answer) = (
        SqlParam::Time(range.from),
        SqlParam::Time(range.to),
        SqlParam::Time(answer_from),
    );
    s.push("touched AS (SELECT e.session_id, min(e.timestamp) AS first FROM events e WHERE e.project_id = ")
        .bind(project.clone())
        .push(" AND ");
    // Dirty hours only: a row is exact whatever the range's ends cut.
    push_within(s, "e.timestamp", &coverage.dirty);
    s.push(" AND e.is_bot IS NOT TRUE AND e.session_id IS NOT NULL GROUP BY e.session_id), ")
        // Not materialized: read once per use with only the columns it needs
        // (materialized, it copied every session id: 83 against 24 ms).
        .push("kept AS NOT MATERIALIZED (SELECT * FROM rollup_sessions WHERE project_id = ")
        .bind(project.clone())
        .push(" AND started < ")
        .bind(to.clone())
        .push(" AND ended >= ")
        .bind(from.clone())
        .push("), far AS (SELECT session_id FROM kept WHERE started < ")
        .bind(from.clone())
        .push(" AND session_id NOT IN (SELECT session_id FROM touched)), near AS (SELECT session_id FROM touched UNION SELECT session_id FROM kept WHERE ended >= ")
        .bind(to.clone())
        .push(" AND started >= ")
        .bind(from.clone())
        .push("), redo AS (SELECT session_id FROM near UNION ALL SELECT session_id FROM far), redo_from AS (SELECT greatest(")
        .bind(from.clone())
        .push(", coalesce(least((SELECT min(started) FROM kept WHERE session_id IN (SELECT session_id FROM near)), (SELECT min(first) FROM touched)), ")
        .bind(to.clone())
        .push(")) AS t), far_late AS (SELECT session_id FROM far WHERE session_id NOT IN (SELECT e.session_id FROM events e WHERE e.project_id = ")
        .bind(project)
        // From the range's start if there are far sessions, else nothing read.
        .push(" AND e.timestamp >= (SELECT CASE WHEN count(*) > 0 THEN ")
        .bind(from)
        .push(" ELSE ")
        .bind(answer.clone())
        .push(" END FROM far) AND e.timestamp < ")
        .bind(answer.clone())
        .push(" AND e.is_bot IS NOT TRUE AND e.session_id IN (SELECT session_id FROM far))), far_from AS (SELECT CASE WHEN count(*) > 0 THEN ")
        .bind(answer)
        .push(" ELSE ")
        .bind(to)
        .push(" END AS t FROM far_late)");
}

/// Which redone sessions a part of the events read reads (see [`push_redo`]).
#[derive(Clone, Copy)]
enum Redone {
    Near,
    Far,
}

/// ` AND …` over events `e`: the non-bot events before `to` of the `part`
/// sessions, from where they can start.
fn push_redone(s: &mut Sql, part: Redone, to: DateTime<Utc>) {
    let (bound, ids) = match part {
        Redone::Near => ("redo_from", "near"),
        Redone::Far => ("far_from", "far_late"),
    };
    s.push(" AND e.timestamp >= (SELECT t FROM ")
        .push(bound)
        .push(") AND e.timestamp < ")
        .bind(SqlParam::Time(to))
        .push(" AND e.is_bot IS NOT TRUE AND e.session_id IN (SELECT session_id FROM ")
        .push(ids)
        .push(")");
}

/// `SELECT columns FROM kept k … UNION ALL …`: the rows of the sessions not
/// redone, starting inside `range`; `merges` (a project) also joins
/// `person_overrides po` on the row's person. Rows starting before
/// `redo_from` are of sessions not redone, so only the later ones are checked
/// against `redo` (a session id each).
fn push_kept(s: &mut Sql, columns: &str, merges: Option<ProjectId>, range: TimeRange) {
    for later in [false, true] {
        if later {
            s.push(" UNION ALL ");
        }
        s.push("SELECT ").push(columns).push(" FROM kept k");
        if let Some(project) = merges {
            s.push(" LEFT JOIN person_overrides po ON po.project_id = ")
                .bind(SqlParam::Int(project))
                .push(" AND po.old_person_id = k.person");
        }
        if later {
            s.push(" WHERE k.started >= (SELECT t FROM redo_from) AND k.session_id NOT IN (SELECT session_id FROM redo)");
        } else {
            s.push(" WHERE k.started >= ")
                .bind(SqlParam::Time(range.from))
                .push(" AND k.started < (SELECT t FROM redo_from)");
        }
    }
}

/// Whether the sessions list can read `rollup_sessions` for its sessions with
/// a `$session_id`: bots left out (the rows count non-bot events only).
pub fn sessions_read_rollup(q: &SessionsQuery) -> bool {
    !q.include_bots
}

/// The events the sessions list groups: its range and the lookback before it.
pub fn sessions_range(q: &SessionsQuery) -> TimeRange {
    TimeRange {
        from: q.range.from - SESSION_LOOKBACK,
        to: q.range.to,
    }
}

/// [`super::sessions`] with the sessions that have a `$session_id` read
/// from `rollup_sessions` where `coverage` (of [`sessions_range`]) allows, as
/// the overview's session cards are ([`push_overview_sessions`]).
pub fn sessions_sql(q: &SessionsQuery, coverage: &Coverage) -> Sql {
    let id_facts = |s: &mut Sql| {
        let range = coverage.range;
        push_redo(s, q.project_id, coverage, q.range.from);
        s.push(", id_facts AS (");
        push_kept(
            s,
            "'s' || k.session_id AS grp, k.session_id, k.distinct_id, \
             coalesce(po.person_id, k.person) AS person, k.started, k.ended, k.n, k.pageviews, \
             k.other, k.entry_path, k.exit_path, k.referrer, k.channel, k.utm_source, \
             k.utm_medium, k.utm_campaign, k.device, k.browser, k.country",
            Some(q.project_id),
            range,
        );
        for part in [Redone::Near, Redone::Far] {
            s.push(" UNION ALL SELECT 's' || session_id, any_value(session_id), ")
                .push(SESSION_LIST_FACTS)
                .push(" FROM (SELECT ")
                .push(SESSION_EVENT_COLUMNS)
                .push(", e.person FROM ")
                .push(EVENTS_WITH_PERSON_SELECT)
                .push(" e WHERE e.project_id = ")
                .bind(SqlParam::Int(q.project_id));
            push_redone(s, part, range.to);
            s.push(") GROUP BY session_id");
        }
        s.push(")");
    };
    super::sessions_with(q, Some(&id_facts))
}

/// One row: the earliest instant (µs) an event of a project's sessions with
/// an event in `hours` can have that a rewrite of their rows must read — the
/// earliest start of their current rows and of their events in `hours`; NULL
/// for no such session. Read before [`delete_session_rows_sql`].
///
/// Every non-bot event of such a session in a rolled-up hour is in its row (the
/// row was rewritten when that hour was rolled up, or later), so it is not
/// earlier than the row's start; an event earlier than this bound lies in a
/// dirty hour, and until that hour is rolled up (rewriting the row again)
/// readers regroup the session from its events anyway.
pub fn session_rows_from_sql(project_id: ProjectId, hours: &[TimeRange]) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT epoch_us(least((SELECT min(e.timestamp) FROM events e WHERE e.project_id = ")
        .bind(SqlParam::Int(project_id))
        .push(" AND e.session_id IS NOT NULL AND ");
    push_within(&mut s, "e.timestamp", hours);
    s.push("), (SELECT min(started) FROM rollup_sessions WHERE project_id = ")
        .bind(SqlParam::Int(project_id))
        .push(" AND session_id IN ");
    push_sessions_in(&mut s, project_id, hours);
    s.push(")))");
    s
}

/// The facts of a project's sessions (by `$session_id`) with an event in
/// `hours`, each over its stored non-bot events from `from_us` (what
/// [`session_rows_from_sql`] read) on, in the column order of
/// `rollup_sessions` (none for a session of bot events only).
pub fn session_rows_sql(project_id: ProjectId, hours: &[TimeRange], from_us: i64) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT project_id, session_id, ")
        .push(SESSION_LIST_FACTS)
        .push(" FROM (SELECT e.project_id, ")
        .push(SESSION_EVENT_COLUMNS)
        .push(", ")
        .push(STORED_PERSON_KEY)
        .push(" AS person FROM events e WHERE e.project_id = ")
        .bind(SqlParam::Int(project_id))
        // A bound the scan is pruned with: the rewrite reads the recent part of
        // the table, not all of it.
        .push(" AND e.timestamp >= make_timestamp(")
        .bind(SqlParam::Int(from_us))
        .push(") AND e.is_bot IS NOT TRUE AND e.session_id IN ");
    push_sessions_in(&mut s, project_id, hours);
    s.push(") GROUP BY project_id, session_id");
    s
}

/// Deletes the `rollup_sessions` rows of a project's sessions with an event in
/// `hours`, before [`session_rows_sql`] writes them again.
pub fn delete_session_rows_sql(project_id: ProjectId, hours: &[TimeRange]) -> Sql {
    let mut s = Sql::default();
    s.push("DELETE FROM rollup_sessions WHERE project_id = ")
        .bind(SqlParam::Int(project_id))
        .push(" AND session_id IN ");
    push_sessions_in(&mut s, project_id, hours);
    s
}

/// `(SELECT session_id …)`: the session ids of a project's events in `hours`.
fn push_sessions_in(s: &mut Sql, project_id: ProjectId, hours: &[TimeRange]) {
    s.push("(SELECT session_id FROM events e WHERE e.project_id = ")
        .bind(SqlParam::Int(project_id))
        .push(" AND e.session_id IS NOT NULL AND ");
    push_within(s, "e.timestamp", hours);
    s.push(")");
}

/// The rows of [`super::activity::stickiness_sql`] for a query that
/// [`activity_reads_rollup`], read from rollups where `coverage` (of the
/// query's range) allows and from events elsewhere.
pub fn stickiness_sql(q: &ActivityQuery, coverage: &Coverage) -> Sql {
    let mut s = Sql::default();
    s.push("WITH ");
    push_source(&mut s, "src", &activity_source(q), coverage);
    s.push(" SELECT active, count(*) FROM (SELECT ev.person, ");
    push_active_intervals(&mut s, &q.plan);
    s.push(" FROM src ev GROUP BY 1) GROUP BY active");
    s
}

/// The rows of [`super::activity::lifecycle_sql`] for a query that
/// [`activity_reads_rollup`], read from rollups where the coverages allow and
/// from events elsewhere: `coverage` is of the widened range, `before` of
/// everything before it ([`since_ever`]: who was active earlier).
pub fn lifecycle_sql(q: &ActivityQuery, coverage: &Coverage, before: &Coverage) -> Sql {
    let plan = &q.widened.1;
    let source = activity_source(q);
    let mut s = Sql::default();
    s.push("WITH ");
    push_source(&mut s, "src", &source, coverage);
    s.push(", active AS (SELECT DISTINCT ev.person, date_trunc('")
        .push(plan.interval.sql_unit())
        .push("', ");
    local_time(&mut s, plan);
    s.push(") AS bucket FROM src ev), ");
    push_source(&mut s, "src_before", &source, before);
    s.push(", earlier AS (SELECT DISTINCT person FROM src_before)");
    push_statuses(&mut s, plan.interval);
    s
}

/// The rows an activity query reads: its event's name (or any), bots as asked.
fn activity_source(q: &ActivityQuery) -> Source<'_> {
    Source {
        project_id: q.project_id,
        events: q.event.event.as_deref().map(|e| vec![e]),
        include_bots: q.include_bots,
        breakdown: false,
        persons: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_query::testing::{range as r, utc as t};

    #[test]
    fn coverage_is_the_whole_hours_inside_the_range_that_are_not_dirty() {
        let range = r("2026-01-01T00:30:00Z", "2026-01-01T06:10:00Z");
        let dirty = [
            "2026-01-01T00:00:00Z", // partly before the range: read raw anyway
            "2026-01-01T02:00:00Z",
            "2026-01-01T05:00:00Z",
            "2026-01-01T06:00:00Z", // partly after the range: read raw anyway
        ]
        .map(t);
        let c = Coverage::new(range, dirty);
        assert_eq!(
            c.stretches,
            vec![
                r("2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"),
                r("2026-01-01T03:00:00Z", "2026-01-01T05:00:00Z"),
            ]
        );
        assert_eq!(
            c.uncovered(),
            vec![
                r("2026-01-01T00:30:00Z", "2026-01-01T01:00:00Z"),
                r("2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z"),
                r("2026-01-01T05:00:00Z", "2026-01-01T06:10:00Z"),
            ]
        );
        // The dirty hours, cut to the range and joined where they touch.
        assert_eq!(
            c.dirty,
            vec![
                r("2026-01-01T00:30:00Z", "2026-01-01T01:00:00Z"),
                r("2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z"),
                r("2026-01-01T05:00:00Z", "2026-01-01T06:10:00Z"),
            ]
        );
        assert!(c.is_useful());
        // Dirty hours wholly outside the range change nothing (one read of a
        // wider range's dirty hours serves several ranges).
        let wider = ["2025-12-31T20:00:00Z"]
            .map(t)
            .into_iter()
            .chain(dirty)
            .chain(["2026-01-01T09:00:00Z"].map(t));
        assert_eq!(Coverage::new(range, wider), c);
        // Hours without events are not dirty: nothing dirty, one stretch.
        let clean = Coverage::new(range, []);
        assert_eq!(
            clean.stretches,
            vec![r("2026-01-01T01:00:00Z", "2026-01-01T06:00:00Z")]
        );
        // Dirty hours next to each other leave no empty stretch between them.
        let adjacent = Coverage::new(
            range,
            ["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"].map(t),
        );
        assert_eq!(
            adjacent.stretches,
            vec![r("2026-01-01T03:00:00Z", "2026-01-01T06:00:00Z")]
        );
        // A range holding no whole hour reads events only.
        let short = Coverage::new(r("2026-01-01T00:10:00Z", "2026-01-01T00:50:00Z"), []);
        assert!(!short.is_useful());
        assert_eq!(
            short.uncovered(),
            vec![r("2026-01-01T00:10:00Z", "2026-01-01T00:50:00Z")]
        );
        assert!(clean.dirty.is_empty());
        let raw = Coverage::raw(range);
        assert!(!raw.is_useful());
        assert_eq!(raw.uncovered(), vec![range]);
        assert_eq!(raw.dirty, vec![range]);
    }

    #[test]
    fn coverage_of_two_ranges_leaves_the_hour_across_the_seam_raw() {
        let seam = "2026-01-01T02:30:00Z";
        let dirty = ["2026-01-01T00:00:00Z", "2026-01-01T04:00:00Z"].map(t);
        let first = Coverage::new(r("2026-01-01T00:00:00Z", seam), dirty);
        let second = Coverage::new(r(seam, "2026-01-01T05:00:00Z"), dirty);
        let both = first.then(second);
        assert_eq!(
            both.range,
            r("2026-01-01T00:00:00Z", "2026-01-01T05:00:00Z")
        );
        assert_eq!(
            both.stretches,
            vec![
                r("2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"),
                r("2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z"),
            ]
        );
        assert_eq!(
            both.dirty,
            vec![
                r("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
                r("2026-01-01T04:00:00Z", "2026-01-01T05:00:00Z"),
            ]
        );
        // On an hour boundary, stretches meeting at the seam become one.
        let seam = "2026-01-01T02:00:00Z";
        let joined = Coverage::new(r("2026-01-01T00:00:00Z", seam), dirty)
            .then(Coverage::new(r(seam, "2026-01-01T05:00:00Z"), dirty));
        assert_eq!(
            joined.stretches,
            vec![r("2026-01-01T01:00:00Z", "2026-01-01T04:00:00Z")]
        );
    }

    #[test]
    fn hour_of_floors_to_the_utc_hour() {
        assert_eq!(
            hour_of(t("2026-03-29T01:59:59.9Z")),
            t("2026-03-29T01:00:00Z")
        );
        assert_eq!(
            hour_of(t("1969-12-31T23:30:00Z")),
            t("1969-12-31T23:00:00Z")
        );
    }
}
