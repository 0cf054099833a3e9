//! DuckDB's SQL for every query `tally_query` defines, with every value bound
//! as a parameter: only identifiers and keywords this module chooses (never
//! request text) are written into the SQL. `tally_query` says what each query
//! means; the modules here say it in DuckDB's dialect, and `crate::query` runs
//! them and hands the rows to `tally_query`'s assembly.

pub(crate) mod activity;
pub(crate) mod filters;
pub(crate) mod funnel;
pub(crate) mod paths;
pub(crate) mod persons;
pub(crate) mod realtime;
pub(crate) mod retention;
pub(crate) mod rollup;
pub(crate) mod scope;
pub(crate) mod sessions;
pub(crate) mod timeline;
pub(crate) mod top;
pub(crate) mod trends;

use tally_query::buckets::BucketPlan;
use tally_query::sql::{Dialect, SqlParam};
use tally_query::types::{
    DefinitionsQuery, EventsQuery, Math, OverviewQuery, PersonQuery, SessionSort, SessionsQuery,
    TimeseriesQuery, TopEventsQuery, SESSION_LOOKBACK,
};
use top::push_dimension_filters;

/// DuckDB binds instants as microseconds rebuilt by `make_timestamp`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DuckDbDialect;

impl Dialect for DuckDbDialect {
    const TIME_PLACEHOLDER: &'static str = "make_timestamp(?)";
}

/// SQL in DuckDB's dialect.
pub(crate) type Sql = tally_query::sql::Sql<DuckDbDialect>;
/// The events with `person`, the person each one counts as now: the person
/// stamped at ingest, followed through any later merge (`person_overrides`).
/// Events stored without a person count by their distinct id; those keys are
/// negative, so they never collide with person ids (which are positive).
macro_rules! events_with_person {
    () => {
        concat!(
            "(SELECT e.*, coalesce(po.person_id, ",
            stored_person_key!(),
            ") AS person FROM events e \
             LEFT JOIN person_overrides po ON po.project_id = e.project_id \
             AND po.old_person_id = e.person_id)"
        )
    };
}
/// The person an event row (`e`, or the alias given) was stored for, before
/// merges: its person id, or a key from its distinct id when it has none. The
/// rollups store this key, so it is written once, here.
macro_rules! stored_person_key {
    () => {
        stored_person_key!(e)
    };
    ($row:ident) => {
        concat!(
            "coalesce(",
            stringify!($row),
            ".person_id, -1 - (hash(",
            stringify!($row),
            ".distinct_id) >> 2)::BIGINT)"
        )
    };
}
pub(crate) const STORED_PERSON_KEY: &str = stored_person_key!();
/// [`STORED_PERSON_KEY`] of a row of [`EVENTS_WITH_PERSON_SELECT`] named `ev`.
pub(crate) const STORED_PERSON_KEY_EV: &str = stored_person_key!(ev);
/// The same relation without an alias, for queries that name it themselves.
pub(crate) const EVENTS_WITH_PERSON_SELECT: &str = events_with_person!();
const EVENTS_WITH_PERSON: &str = concat!(events_with_person!(), " AS events");

/// The columns of an event row, as [`events_page`] documents them.
pub(crate) const EVENT_COLUMNS: &str =
    "SELECT uuid::VARCHAR, event, distinct_id, epoch_us(timestamp), epoch_us(received_at), \
     url, path, referrer, session_id, properties::VARCHAR, browser, os, device, \
     coalesce(is_bot, false)";

/// Columns of an event page row, in order: uuid text, event, distinct_id,
/// timestamp µs, received_at µs, url, path, referrer, session_id, properties JSON
/// text, browser, os, device, is_bot.
pub fn events_page(q: &EventsQuery) -> Sql {
    let mut s = Sql::default();
    s.push(EVENT_COLUMNS)
        .push(" FROM events WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id));
    event_filters(&mut s, q);
    if let Some(c) = q.cursor {
        s.push(" AND (timestamp < ")
            .bind(SqlParam::Time(c.timestamp))
            .push(" OR (timestamp = ")
            .bind(SqlParam::Time(c.timestamp))
            .push(" AND uuid < ")
            .bind(SqlParam::Text(c.uuid.to_string()))
            .push("::UUID))");
    }
    // One extra row tells whether there is a next page.
    s.push(" ORDER BY timestamp DESC, uuid DESC LIMIT ")
        .bind(SqlParam::Int(q.limit as i64 + 1));
    if q.offset > 0 {
        s.push(" OFFSET ")
            .bind(SqlParam::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)));
    }
    s
}

/// Whole stored events of a project, oldest first (ties by uuid), `limit` of
/// them after the event `after` (time µs, uuid): uuid, event, distinct id,
/// timestamp µs, received_at µs, url, path, referrer, session id, properties
/// JSON, browser, os, device, is_bot, country, person id.
pub fn events_in_order(
    project_id: i64,
    after: Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)>,
    limit: usize,
) -> Sql {
    let mut s = Sql::default();
    s.push(EVENT_COLUMNS)
        .push(", country, person_id FROM events WHERE project_id = ")
        .bind(SqlParam::Int(project_id));
    if let Some((at, uuid)) = after {
        s.push(" AND (timestamp > ")
            .bind(SqlParam::Time(at))
            .push(" OR (timestamp = ")
            .bind(SqlParam::Time(at))
            .push(" AND uuid > ")
            .bind(SqlParam::Text(uuid.to_string()))
            .push("::UUID))");
    }
    s.push(" ORDER BY timestamp, uuid LIMIT ")
        .bind(SqlParam::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    s
}

/// One row, one column: how many events match the query's filters (its limit,
/// offset and cursor are ignored).
pub fn events_count(q: &EventsQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT count(*) FROM events WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id));
    event_filters(&mut s, q);
    s
}

pub(crate) fn event_filters(s: &mut Sql, q: &EventsQuery) {
    if let Some(event) = &q.event {
        s.push(" AND event = ").bind(SqlParam::Text(event.clone()));
    }
    if let Some(d) = &q.distinct_id {
        s.push(" AND distinct_id = ")
            .bind(SqlParam::Text(d.clone()));
    }
    if let Some(d) = &q.person {
        // The person's stored id and the ids merged into it; events stored
        // without a person are matched by the distinct id itself.
        s.push(" AND (distinct_id = ")
            .bind(SqlParam::Text(d.clone()))
            .push(" OR person_id = ");
        person_of(s, q.project_id, d);
        s.push(" OR person_id IN (SELECT o.old_person_id FROM person_overrides o WHERE o.project_id = ")
            .bind(SqlParam::Int(q.project_id))
            .push(" AND o.person_id = ");
        person_of(s, q.project_id, d);
        s.push("))");
    }
    if let Some(after) = q.after {
        s.push(" AND timestamp >= ").bind(SqlParam::Time(after));
    }
    if let Some(before) = q.before {
        s.push(" AND timestamp < ").bind(SqlParam::Time(before));
    }
}

/// A scalar subquery: the person a distinct id counts as now (NULL if none).
fn person_of(s: &mut Sql, project_id: i64, distinct_id: &str) {
    s.push(
        "(SELECT coalesce(po.person_id, d.person_id) FROM person_distinct_ids d \
         LEFT JOIN person_overrides po ON po.project_id = d.project_id \
         AND po.old_person_id = d.person_id WHERE d.project_id = ",
    )
    .bind(SqlParam::Int(project_id))
    .push(" AND d.distinct_id = ")
    .bind(SqlParam::Text(distinct_id.to_owned()))
    .push(")");
}

/// Rows: (local bucket start as µs of the naive local time, value).
pub fn timeseries(q: &TimeseriesQuery) -> Sql {
    let plan = &q.plan;
    let mut s = Sql::default();
    s.push("SELECT ");
    bucket_start(&mut s, plan);
    s.push(" AS bucket, ").push(match q.math {
        Math::Total => "count(*)",
        Math::UniqueUsers => "count(DISTINCT person)",
    });
    if q.filters.needs_sessions() {
        s.push(" FROM ");
        push_events_with_sessions(
            &mut s,
            q.project_id,
            Some(q.range.from),
            q.range.to,
            q.include_bots,
        );
        s.push(" ev");
    } else if q.math == Math::UniqueUsers {
        s.push(" FROM ").push(EVENTS_WITH_PERSON_SELECT).push(" ev");
    } else {
        s.push(" FROM events ev");
    }
    s.push(" WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND timestamp >= ")
        .bind(SqlParam::Time(q.range.from))
        .push(" AND timestamp < ")
        .bind(SqlParam::Time(q.range.to));
    if let Some(event) = &q.event {
        s.push(" AND event = ").bind(SqlParam::Text(event.clone()));
    }
    bots(&mut s, q.include_bots);
    push_dimension_filters(&mut s, &q.filters);
    s.push(" GROUP BY bucket");
    s
}

/// `epoch_us(date_trunc(interval, local time))`: the start of the bucket holding
/// `timestamp`, as µs of the naive local time ([`BucketPlan::index_of`] reads it).
pub(crate) fn bucket_start(s: &mut Sql, plan: &BucketPlan) {
    s.push("epoch_us(date_trunc('")
        .push(plan.interval.sql_unit())
        .push("', ");
    local_time(s, plan);
    s.push("))");
}

/// `timestamp` shifted to local time with the offset in force at that instant.
pub(crate) fn local_time(s: &mut Sql, plan: &BucketPlan) {
    match plan.segments.as_slice() {
        [only] if only.offset_secs == 0 => {
            s.push("timestamp");
        }
        [only] => {
            s.push("timestamp + to_seconds(")
                .bind(SqlParam::Int(only.offset_secs))
                .push(")");
        }
        [first, rest @ ..] => {
            s.push("timestamp + to_seconds(CASE");
            let mut offset = first.offset_secs;
            for seg in rest {
                s.push(" WHEN timestamp < ")
                    .bind(SqlParam::Time(seg.starts_at))
                    .push(" THEN ")
                    .bind(SqlParam::Int(offset));
                offset = seg.offset_secs;
            }
            s.push(" ELSE ").bind(SqlParam::Int(offset)).push(" END)");
        }
        [] => unreachable!("a plan always has one segment"),
    }
}

/// Rows: (event, count, unique users), most frequent first.
pub fn top_events(q: &TopEventsQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT event, count(*) AS n, count(DISTINCT person) FROM ")
        .push(EVENTS_WITH_PERSON)
        .push(" WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND timestamp >= ")
        .bind(SqlParam::Time(q.range.from))
        .push(" AND timestamp < ")
        .bind(SqlParam::Time(q.range.to));
    bots(&mut s, q.include_bots);
    s.push(" GROUP BY event ORDER BY n DESC, event LIMIT ")
        .bind(SqlParam::Int(q.limit as i64));
    s
}

/// `rows` (which have `person`, `session_id`, `timestamp`) with `starts` and
/// `key_column`: an event's session within one query. With an SDK session id
/// the key is that id (`starts` 0); without one, the events of a person are cut
/// where the gap to the previous such event exceeds `inactivity` (`starts` 1 on
/// the first event of each cut) and the key is the person and the number of
/// cuts up to the event. Only events without an id go through the window (and
/// its sort by person and time): on 10M seeded events, all with an id, the
/// overview went from 11.0 s to 1.5 s (BENCHMARKS.md).
fn push_session_keyed(
    s: &mut Sql,
    rows: &dyn Fn(&mut Sql),
    inactivity: chrono::Duration,
    key_column: &str,
) {
    s.push("(SELECT *, 0 AS starts, 's' || session_id AS ")
        .push(key_column)
        .push(" FROM ");
    rows(s);
    s.push(
        " WHERE session_id IS NOT NULL UNION ALL SELECT *, 'p' || person || '#' || \
         sum(starts) OVER (PARTITION BY person ORDER BY timestamp ROWS UNBOUNDED PRECEDING) AS ",
    )
    .push(key_column)
    .push(
        " FROM (SELECT *, CASE WHEN lag(timestamp) OVER w IS NULL THEN 1 \
             WHEN epoch_us(timestamp) - epoch_us(lag(timestamp) OVER w) > ",
    )
    .bind(SqlParam::Int(
        inactivity.num_microseconds().unwrap_or(i64::MAX),
    ))
    .push(" THEN 1 ELSE 0 END AS starts FROM ");
    rows(s);
    s.push(" WHERE session_id IS NULL WINDOW w AS (PARTITION BY person ORDER BY timestamp)))");
}

/// The events with `person` (as [`EVENTS_WITH_PERSON_SELECT`]) and `session_key`
/// (see [`push_session_keyed`]), of a project from [`SESSION_LOOKBACK`] before `from`
/// until `to`: sessions under way at `from` keep their start. The caller limits
/// the rows to its own range.
pub(crate) fn push_sessionized(
    s: &mut Sql,
    project_id: i64,
    range: tally_query::types::TimeRange,
    inactivity: chrono::Duration,
    include_bots: bool,
) {
    push_sessionized_between(
        s,
        project_id,
        Some(range.from),
        range.to,
        inactivity,
        include_bots,
    );
}

/// [`push_sessionized`] from `from` (`None`: the first event) to `to`.
fn push_sessionized_between(
    s: &mut Sql,
    project_id: i64,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: chrono::DateTime<chrono::Utc>,
    inactivity: chrono::Duration,
    include_bots: bool,
) {
    let rows = |s: &mut Sql| {
        s.push("(SELECT * FROM ")
            .push(EVENTS_WITH_PERSON_SELECT)
            .push(" sx WHERE sx.project_id = ")
            .bind(SqlParam::Int(project_id));
        if let Some(from) = from {
            s.push(" AND sx.timestamp >= ")
                .bind(SqlParam::Time(from - SESSION_LOOKBACK));
        }
        s.push(" AND sx.timestamp < ").bind(SqlParam::Time(to));
        bots(s, include_bots);
        s.push(")");
    };
    push_session_keyed(s, &rows, inactivity, "session_key");
}

/// The events of a project from `from` (less [`SESSION_LOOKBACK`]) to `to`, each
/// with its `session_key` and its session's facts — `s_start`, `s_duration` (whole
/// seconds), `s_pageviews`, `s_entry_pathname` and `s_exit_pathname` (the first
/// and last pageview's path) — for filters on session properties. The caller limits the rows to its range.
pub(crate) fn push_events_with_sessions(
    s: &mut Sql,
    project_id: i64,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: chrono::DateTime<chrono::Utc>,
    include_bots: bool,
) {
    s.push(
        "(SELECT *, min(timestamp) OVER sk AS s_start, \
         (epoch_us(max(timestamp) OVER sk) - epoch_us(min(timestamp) OVER sk)) // 1000000 \
         AS s_duration, count(*) FILTER (WHERE event = '$pageview') OVER sk AS s_pageviews, \
         min_by(path, timestamp) FILTER (WHERE event = '$pageview') OVER sk AS s_entry_pathname, \
         max_by(path, timestamp) FILTER (WHERE event = '$pageview') OVER sk AS s_exit_pathname FROM ",
    );
    push_sessionized_between(
        s,
        project_id,
        from,
        to,
        tally_query::types::DEFAULT_INACTIVITY,
        include_bots,
    );
    s.push(" sess WINDOW sk AS (PARTITION BY session_key))");
}

/// Rows, newest session first: id, distinct_id, person, start µs, end µs, events,
/// pageviews, entry path, exit path, bounce, referrer, channel, utm_source,
/// utm_medium, utm_campaign, device, browser, country.
///
/// Events without a `$session_id` are cut into sessions per person where the
/// gap to the previous such event exceeds the inactivity limit (window functions
/// over the range plus [`SESSION_LOOKBACK`]); events with one are grouped by it.
pub fn sessions(q: &SessionsQuery) -> Sql {
    sessions_with(q, None)
}

/// The columns of an event the sessions list reads (`person` is added by the
/// caller), over events aliased `e`.
pub(crate) const SESSION_EVENT_COLUMNS: &str =
    "e.distinct_id, e.session_id, e.timestamp, e.event, \
     e.path, e.referrer, e.device, e.browser, e.country, \
     json_extract_string(e.properties, '$.\"$channel_type\"') AS channel, \
     json_extract_string(e.properties, '$.utm_source') AS utm_source, \
     json_extract_string(e.properties, '$.utm_medium') AS utm_medium, \
     json_extract_string(e.properties, '$.utm_campaign') AS utm_campaign";

/// A session's pageviews and other events (not pageviews or pageleaves: a
/// bounce has one pageview and none of these), written once for every kind of
/// session facts.
macro_rules! session_counts {
    () => {
        "count(*) FILTER (WHERE event = '$pageview') AS pageviews, \
         count(*) FILTER (WHERE event NOT IN ('$pageview', '$pageleave')) AS other"
    };
}

/// A session's facts in the sessions list, over rows of
/// [`SESSION_EVENT_COLUMNS`] and `person`; the column order of
/// `rollup_sessions` after its key.
pub(crate) const SESSION_LIST_FACTS: &str = concat!(
    "arg_min(distinct_id, timestamp) AS distinct_id, \
     arg_min(person, timestamp) AS person, min(timestamp) AS started, max(timestamp) AS ended, \
     count(*) AS n, ",
    session_counts!(),
    ", arg_min(path, timestamp) FILTER (WHERE event = '$pageview') AS entry_path, \
     arg_max(path, timestamp) FILTER (WHERE event = '$pageview') AS exit_path, \
     arg_min(referrer, timestamp) AS referrer, arg_min(channel, timestamp) AS channel, \
     arg_min(utm_source, timestamp) AS utm_source, arg_min(utm_medium, timestamp) AS utm_medium, \
     arg_min(utm_campaign, timestamp) AS utm_campaign, arg_min(device, timestamp) AS device, \
     arg_min(browser, timestamp) AS browser, arg_min(country, timestamp) AS country"
);

/// [`sessions`], with the sessions that have a `$session_id` read through
/// `with_id` when given: it pushes CTEs ending with `id_facts AS (…)`, rows of
/// `grp`, `session_id` and [`SESSION_LIST_FACTS`] for every such session the
/// grouping below would find; the events are then cut for the others only.
pub(crate) fn sessions_with(q: &SessionsQuery, with_id: Option<&dyn Fn(&mut Sql)>) -> Sql {
    let mut s = Sql::default();
    s.push("WITH ");
    if let Some(with_id) = with_id {
        with_id(&mut s);
        s.push(", ");
    }
    s.push("scoped AS (SELECT ")
        .push(SESSION_EVENT_COLUMNS)
        .push(", e.person FROM ")
        .push(EVENTS_WITH_PERSON_SELECT)
        .push(" e WHERE e.project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND e.timestamp >= ")
        .bind(SqlParam::Time(q.range.from - SESSION_LOOKBACK))
        .push(" AND e.timestamp < ")
        .bind(SqlParam::Time(q.range.to));
    if with_id.is_some() {
        s.push(" AND e.session_id IS NULL");
    }
    if !q.include_bots {
        s.push(" AND e.is_bot IS NOT TRUE");
    }
    s.push("), keyed AS ");
    push_session_keyed(
        &mut s,
        &|s: &mut Sql| {
            s.push("scoped");
        },
        q.inactivity,
        "grp",
    );
    s.push(", facts AS (SELECT grp, any_value(session_id) AS session_id, ")
        .push(SESSION_LIST_FACTS)
        .push(" FROM keyed GROUP BY grp");
    if with_id.is_some() {
        s.push(" UNION ALL SELECT * FROM id_facts");
    }
    s.push(
        ") SELECT coalesce(session_id, distinct_id || '@' || epoch_us(started)::VARCHAR), distinct_id, person, \
         epoch_us(started), epoch_us(ended), n, pageviews, entry_path, exit_path, \
         pageviews = 1 AND other = 0, referrer, channel, utm_source, utm_medium, utm_campaign, \
         device, browser, country FROM facts WHERE started >= ",
    )
    .bind(SqlParam::Time(q.range.from))
    .push(" ORDER BY ")
    .push(match q.sort {
        SessionSort::Start => "started",
        SessionSort::Duration => "ended - started",
        SessionSort::Events => "n",
        SessionSort::Pageviews => "pageviews",
    })
    .push(if q.descending { " DESC" } else { " ASC" })
    .push(", started DESC, grp DESC LIMIT ")
    .bind(SqlParam::Int(q.limit as i64))
    .push(" OFFSET ")
    .bind(SqlParam::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)));
    s
}

/// Rows, most used first: name, property type, first seen µs, last seen µs, count.
pub fn definitions(q: &DefinitionsQuery) -> Sql {
    let mut s = Sql::default();
    s.push(
        "SELECT name, property_type, epoch_us(first_seen), epoch_us(last_seen), count \
         FROM definitions WHERE project_id = ",
    )
    .bind(SqlParam::Int(q.project_id))
    .push(" AND kind = ")
    .bind(SqlParam::Text(q.kind.as_str().into()));
    if let Some(search) = &q.search {
        s.push(" AND contains(lower(name), lower(")
            .bind(SqlParam::Text(search.clone()))
            .push("))");
    }
    s.push(" ORDER BY count DESC, name LIMIT ")
        .bind(SqlParam::Int(q.limit as i64));
    s
}

/// One row or none: person id, identified, first seen µs, last seen µs,
/// properties (JSON text), its distinct ids (JSON array text, sorted).
pub fn person(q: &PersonQuery) -> Sql {
    let mut s = Sql::default();
    s.push(
        "SELECT p.id, p.is_identified, epoch_us(p.first_seen), epoch_us(p.last_seen), \
         p.properties::VARCHAR, (SELECT to_json(list(o.distinct_id ORDER BY o.distinct_id))::VARCHAR \
         FROM person_distinct_ids o WHERE o.project_id = p.project_id AND o.person_id = p.id) \
         FROM person_distinct_ids d JOIN persons p ON p.project_id = d.project_id \
         AND p.id = d.person_id WHERE d.project_id = ",
    )
    .bind(SqlParam::Int(q.project_id))
    .push(" AND d.distinct_id = ")
    .bind(SqlParam::Text(q.distinct_id.clone()));
    s
}

/// Rows as [`person`]'s, of the persons with these ids, by ascending id.
pub fn persons_by_id(project_id: i64, ids: &[i64]) -> Sql {
    let mut s = Sql::default();
    s.push(
        "SELECT p.id, p.is_identified, epoch_us(p.first_seen), epoch_us(p.last_seen), \
         p.properties::VARCHAR, (SELECT to_json(list(o.distinct_id ORDER BY o.distinct_id))::VARCHAR \
         FROM person_distinct_ids o WHERE o.project_id = p.project_id AND o.person_id = p.id) \
         FROM persons p WHERE p.project_id = ",
    )
    .bind(SqlParam::Int(project_id))
    .push(" AND p.id IN ")
    .bind_list(ids.iter().map(|&id| SqlParam::Int(id)))
    .push(" ORDER BY p.id");
    s
}

/// Analytics answers leave bots out unless asked to count them.
fn bots(s: &mut Sql, include: bool) {
    if !include {
        s.push(" AND is_bot IS NOT TRUE");
    }
}

/// One row, the current range then the previous one (each: events, unique
/// persons, pageviews, sessions, sessions with a pageview, bounced sessions,
/// mean session length in µs) — both ranges in a single scan. Sessions are cut
/// as `/sessions` cuts them and belong to the range they start in; a bounce is
/// a session of exactly one pageview and nothing else.
pub fn overview(q: &OverviewQuery) -> Sql {
    overview_with(q, None, None)
}

/// [`overview`], with the event cards (events, persons, pageviews) read from
/// `cards` when `src` is given: it pushes CTEs ending with `cards AS (…)`, rows
/// of (timestamp, event, person through merges, n = events the row stands for)
/// of exactly the previous and current ranges, each row inside one of them.
/// Likewise the session cards from `sessions` when given: CTEs ending with
/// `sessions AS (…)`, rows of (started, length µs, pageviews, other events) of
/// every session the raw grouping below would find, for an overview without
/// filters.
pub(crate) fn overview_with(
    q: &OverviewQuery,
    src: Option<&dyn Fn(&mut Sql)>,
    sessions: Option<&dyn Fn(&mut Sql)>,
) -> Sql {
    let prev = q.range.previous();
    let (from, before) = (SqlParam::Time(q.range.from), SqlParam::Time(prev.from));
    let mut s = Sql::default();
    s.push("WITH ");
    if let Some(src) = src {
        src(&mut s);
        s.push(", ");
    }
    if let Some(sessions) = sessions {
        sessions(&mut s);
        if src.is_none() {
            s.push(", ev AS ");
            push_sessionized(
                &mut s,
                q.project_id,
                tally_query::types::TimeRange {
                    from: prev.from,
                    to: q.range.to,
                },
                tally_query::types::DEFAULT_INACTIVITY,
                q.include_bots,
            );
        }
    } else {
        push_raw_sessions(&mut s, q);
    }
    s.push(" SELECT * FROM ");
    for (i, current) in [true, false].into_iter().enumerate() {
        if i > 0 {
            s.push(", ");
        }
        // `cur` / `prev`: which range a row (or session start) falls in.
        let in_range = |s: &mut Sql, column: &str| {
            s.push("(").push(column);
            if current {
                s.push(" >= ").bind(from.clone());
            } else {
                s.push(" >= ")
                    .bind(before.clone())
                    .push(" AND ")
                    .push(column)
                    .push(" < ")
                    .bind(from.clone());
            }
            s.push(")");
        };
        // The event cards: over `cards` (rows standing for `n` events) when
        // given, else over the events themselves. Each range's rows picked by
        // WHERE, not FILTER: a distinct count under FILTER aggregated every
        // row of both ranges (85 against 35 ms on 10M events, BENCHMARKS.md).
        let (rows, events) = match src {
            Some(_) => ("cards", "sum(n)"),
            None => ("ev", "count(*)"),
        };
        s.push("(SELECT coalesce(")
            .push(events)
            .push(", 0)::BIGINT, count(DISTINCT person), coalesce(")
            .push(events)
            .push(" FILTER (WHERE event = '$pageview'), 0)::BIGINT FROM ")
            .push(rows)
            .push(" WHERE ");
        in_range(&mut s, "timestamp");
        push_dimension_filters(&mut s, &q.filters);
        s.push(") e").push(if current { "c" } else { "p" });
        s.push(", (SELECT count(*), count(*) FILTER (WHERE pageviews > 0), \
                count(*) FILTER (WHERE pageviews = 1 AND other = 0), avg(length) FROM sessions WHERE ");
        in_range(&mut s, "started");
        s.push(") s").push(if current { "c" } else { "p" });
    }
    s
}

/// The facts of a session, over rows with `timestamp` and `event` (the
/// columns of `sessions` in [`overview_with`] after `started`).
pub(crate) const SESSION_FACTS: &str = concat!(
    "epoch_us(max(timestamp)) - epoch_us(min(timestamp)) AS length, ",
    session_counts!()
);

/// `ev AS (…), sessions AS (…)`: the overview's events cut into sessions, and
/// their facts, all from the events.
fn push_raw_sessions(s: &mut Sql, q: &OverviewQuery) {
    let prev = q.range.previous();
    s.push("ev AS ");
    let range = tally_query::types::TimeRange {
        from: prev.from,
        to: q.range.to,
    };
    if q.filters.needs_sessions() {
        push_events_with_sessions(s, q.project_id, Some(range.from), range.to, q.include_bots);
    } else {
        push_sessionized(
            s,
            q.project_id,
            range,
            tally_query::types::DEFAULT_INACTIVITY,
            q.include_bots,
        );
    }
    s.push(", sessions AS (SELECT min(timestamp) AS started, ")
        .push(SESSION_FACTS)
        .push(" FROM ev WHERE TRUE");
    push_dimension_filters(s, &q.filters);
    s.push(" GROUP BY session_key)");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use chrono_tz::Tz;
    use tally_query::types::{Interval, TimeRange};

    fn placeholders(s: &Sql) -> usize {
        s.text.matches('?').count()
    }

    #[test]
    fn request_text_never_reaches_the_sql() {
        let evil = "x'; DROP TABLE events; --".to_owned();
        let q = EventsQuery {
            event: Some(evil.clone()),
            distinct_id: Some(evil.clone()),
            ..EventsQuery::all(1, 10)
        };
        let s = events_page(&q);
        assert!(!s.text.contains("DROP"));
        assert_eq!(placeholders(&s), s.params.len());
        assert!(s.params.contains(&SqlParam::Text(evil)));
    }

    #[test]
    fn every_query_filters_on_its_project() {
        let range = TimeRange {
            from: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            to: DateTime::from_timestamp(1_700_086_400, 0).unwrap(),
        };
        let ts = TimeseriesQuery::new(
            42,
            None,
            Interval::Hour,
            range,
            Tz::Europe__Berlin,
            Math::UniqueUsers,
        )
        .unwrap();
        let all = [
            timeseries(&ts),
            top_events(&TopEventsQuery {
                project_id: 42,
                range,
                limit: 5,
                include_bots: false,
            }),
            overview(&OverviewQuery {
                project_id: 42,
                range,
                include_bots: true,
                filters: Default::default(),
            }),
        ];
        for s in all {
            assert!(s.text.contains("project_id = ?"), "{}", s.text);
            assert!(s.params.contains(&SqlParam::Int(42)));
            assert_eq!(placeholders(&s), s.params.len(), "{}", s.text);
        }
    }
}
