//! Sessions on ClickHouse, cut as DuckDB cuts them (`tally_query::sessions`
//! says how): events with an SDK session id are grouped by it; the others are
//! cut per person (through merges) where the gap to the person's previous
//! such event exceeds the inactivity limit, over the range plus
//! [`SESSION_LOOKBACK`] so a session under way at its start keeps its start.
//!
//! ClickHouse 18.16 has no window functions, so the cut is said with arrays:
//! each person's sorted times, the times that start a session
//! (`arrayFilter`), and each time's session number (`arrayCumSum` of those
//! starts), joined back to the events on (person, time). Events of one person
//! at one instant are never cut apart, so that join key is enough. A session's
//! key is `s` + its SDK id, or `p` + person + `#` + its start (µs); DuckDB
//! numbers the cuts instead, which orders the same way wherever the sessions
//! list breaks ties by key (two sessions of one person never start at once).

use super::{push_events_with_person, push_property_of};
use crate::client::Sql;
use chrono::{DateTime, Duration, Utc};
use tally_core::ProjectId;
use tally_query::sessions::{SessionEventsQuery, MAX_SESSION_EVENTS};
use tally_query::sql::SqlParam;
use tally_query::types::{
    EventsQuery, SessionSort, SessionsQuery, DEFAULT_INACTIVITY, SESSION_LOOKBACK,
};

/// The path of a session's first pageview (aggregated over its rows), NULL
/// without one: 18.16's `argMinIf` answers '' when no row passes its
/// condition (26.x: NULL), hence the count first.
pub(crate) const ENTRY_PATH: &str = "if(countIf(event = '$pageview') = 0, NULL, \
     argMinIf(path, timestamp, event = '$pageview'))";

/// The path of a session's last pageview, as [`ENTRY_PATH`].
pub(crate) const EXIT_PATH: &str = "if(countIf(event = '$pageview') = 0, NULL, \
     argMaxIf(path, timestamp, event = '$pageview'))";

/// The events a sessionized relation cuts: one project's, from `from` (less
/// [`SESSION_LOOKBACK`]; `None`: the first event) to `to`, bots left out
/// unless asked. Callers keep only the rows of their own range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub project_id: ProjectId,
    pub from: Option<DateTime<Utc>>,
    pub to: DateTime<Utc>,
    pub include_bots: bool,
}

/// The columns of [`push_events_with_person`]'s rows, in its order.
const EVENT_COLUMNS: &str = "project_id, timestamp, event, distinct_id, uuid, session_id, \
     person_id, url, path, referrer, browser, os, device, country, properties, prop_keys, \
     prop_values, prop_types, is_bot, person";

/// The columns of a session's facts that filters read, as [`push_with_facts`]
/// names them.
const FACT_COLUMNS: &str = "s_start, s_duration, s_pageviews, s_entry_pathname, s_exit_pathname";

fn push_window(s: &mut Sql, w: Window) {
    s.push("(SELECT * FROM ");
    push_events_with_person(s, w.project_id, w.from.map(|f| f - SESSION_LOOKBACK), w.to);
    s.push(" WHERE ");
    if let Some(from) = w.from {
        s.push("timestamp >= ")
            .bind(SqlParam::Time(from - SESSION_LOOKBACK))
            .push(" AND ");
    }
    s.push("timestamp < ").bind(SqlParam::Time(w.to));
    if !w.include_bots {
        s.push(" AND is_bot = 0");
    }
    s.push(")");
}

/// The window's events (the columns of [`push_events_with_person`]) with
/// `session_key`: their session's key under `inactivity`. A subquery without
/// an alias.
pub(crate) fn push_sessionized(s: &mut Sql, w: Window, inactivity: Duration) {
    let limit = || SqlParam::Int(inactivity.num_microseconds().unwrap_or(i64::MAX));
    s.push("(SELECT ").push(EVENT_COLUMNS).push(
        ", if(isNull(session_id), concat('p', toString(person), '#', toString(cut_start)), \
         concat('s', assumeNotNull(session_id))) AS session_key FROM ",
    );
    push_window(s, w);
    // Per person: sorted times `ts`, the times that start a session, each
    // time's session number; one row per time with its session's start.
    s.push(
        " AS w ANY LEFT JOIN (SELECT person, t AS timestamp, starts[k] AS cut_start FROM \
         (SELECT person, ts, arrayCumSum(arrayMap((x, i) -> toUInt64(i = 1 OR x - ts[i - 1] > ",
    )
    .bind(limit())
    .push("), ts, arrayEnumerate(ts))) AS ks, arrayFilter((x, i) -> i = 1 OR x - ts[i - 1] > ")
    .bind(limit())
    .push(
        ", ts, arrayEnumerate(ts)) AS starts FROM (SELECT person, \
         arraySort(groupArray(timestamp)) AS ts FROM ",
    );
    push_window(s, w);
    s.push(
        " WHERE isNull(session_id) GROUP BY person)) ARRAY JOIN ts AS t, ks AS k) AS cuts \
         USING (person, timestamp))",
    );
}

/// [`push_sessionized`] under the default inactivity limit, each event with
/// its session's facts as session property filters read them: `s_start`,
/// `s_duration` (whole seconds), `s_pageviews`, `s_entry_pathname` and
/// `s_exit_pathname` (the first and last pageview's path). Facts count the
/// whole window: a session under way at its end counts what happened by then.
pub(crate) fn push_with_facts(s: &mut Sql, w: Window) {
    s.push("(SELECT ")
        .push(EVENT_COLUMNS)
        .push(", session_key, ")
        .push(FACT_COLUMNS)
        .push(" FROM ");
    push_sessionized(s, w, DEFAULT_INACTIVITY);
    s.push(
        " AS k ANY LEFT JOIN (SELECT session_key, min(timestamp) AS s_start, \
         intDiv(max(timestamp) - min(timestamp), 1000000) AS s_duration, \
         countIf(event = '$pageview') AS s_pageviews, ",
    )
    .push(ENTRY_PATH)
    .push(" AS s_entry_pathname, ")
    .push(EXIT_PATH)
    .push(" AS s_exit_pathname FROM ");
    push_sessionized(s, w, DEFAULT_INACTIVITY);
    s.push(" GROUP BY session_key) AS f USING session_key)");
}

/// A session property of the row `ev` as text, as filters compare it; the
/// name was checked against `SESSION_PROPERTIES`.
pub(crate) fn push_fact(s: &mut Sql, key: &str) {
    s.push(match key {
        "$session_duration" => "toNullable(toString(ev.s_duration))",
        "$entry_pathname" => "ev.s_entry_pathname",
        "$exit_pathname" => "ev.s_exit_pathname",
        "$session_pageviews" => "toNullable(toString(ev.s_pageviews))",
        _ => "CAST(NULL AS Nullable(String))",
    });
}

/// Rows of [`crate::query::SessionRow`], newest session first unless sorted
/// otherwise: the sessions that start in the range, one page of them.
pub(crate) fn sessions_list(q: &SessionsQuery) -> Sql {
    let text = |s: &mut Sql, column: &str| {
        s.push("CAST(argMin(")
            .push(column)
            .push(", timestamp) AS Nullable(String))");
    };
    let mut s = Sql::default();
    s.push(
        "SELECT if(isNull(sdk_id), concat(first_distinct_id, '@', toString(started)), \
         assumeNotNull(sdk_id)) AS id, first_distinct_id, first_person, started, ended, n, \
         pageviews, entry_path, exit_path, toUInt8(pageviews = 1 AND other = 0) AS bounce, \
         referrer_of, channel, utm_source, utm_medium, utm_campaign, device_of, browser_of, \
         country_of FROM (SELECT session_key, any(session_id) AS sdk_id, \
         argMin(distinct_id, timestamp) AS first_distinct_id, argMin(person, timestamp) AS first_person, \
         min(timestamp) AS started, max(timestamp) AS ended, count() AS n, \
         countIf(event = '$pageview') AS pageviews, \
         countIf(event NOT IN ('$pageview', '$pageleave')) AS other, CAST(",
    )
    .push(ENTRY_PATH)
    .push(" AS Nullable(String)) AS entry_path, CAST(")
    .push(EXIT_PATH)
    .push(" AS Nullable(String)) AS exit_path, ");
    text(&mut s, "referrer");
    s.push(" AS referrer_of, ");
    for (key, alias) in [
        ("$channel_type", "channel"),
        ("utm_source", "utm_source"),
        ("utm_medium", "utm_medium"),
        ("utm_campaign", "utm_campaign"),
    ] {
        s.push("argMin(");
        push_property_of(&mut s, "", SqlParam::Text(key.into()));
        s.push(", timestamp) AS ").push(alias).push(", ");
    }
    text(&mut s, "device");
    s.push(" AS device_of, ");
    text(&mut s, "browser");
    s.push(" AS browser_of, ");
    text(&mut s, "country");
    s.push(" AS country_of FROM ");
    let window = Window {
        project_id: q.project_id,
        from: Some(q.range.from),
        to: q.range.to,
        include_bots: q.include_bots,
    };
    push_sessionized(&mut s, window, q.inactivity);
    // The page's sessions are picked first from cheap facts (times and
    // counts), and only their events are grouped with the text columns:
    // grouping every session of a month with them took more than 4 GB on
    // 10M events (BENCHMARKS).
    s.push(
        " AS ev WHERE session_key IN (SELECT session_key FROM (SELECT session_key, \
         min(timestamp) AS started, max(timestamp) AS ended, count() AS n, \
         countIf(event = '$pageview') AS pageviews FROM ",
    );
    push_sessionized(&mut s, window, q.inactivity);
    s.push(" AS ev GROUP BY session_key) WHERE started >= ")
        .bind(SqlParam::Time(q.range.from));
    page_order(&mut s, q, true);
    s.push(") GROUP BY session_key)");
    page_order(&mut s, q, false);
    s
}

/// ` ORDER BY …` of a sessions page, over rows with `started`, `ended`, `n`,
/// `pageviews` and `session_key`; with ` LIMIT … OFFSET …` when `paged`.
fn page_order(s: &mut Sql, q: &SessionsQuery, paged: bool) {
    s.push(" ORDER BY ")
        .push(match q.sort {
            SessionSort::Start => "started",
            SessionSort::Duration => "ended - started",
            SessionSort::Events => "n",
            SessionSort::Pageviews => "pageviews",
        })
        .push(if q.descending { " DESC" } else { " ASC" })
        .push(", started DESC, session_key DESC");
    if paged {
        s.push(" LIMIT ")
            .bind(SqlParam::Int(q.limit as i64))
            .push(" OFFSET ")
            .bind(SqlParam::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)));
    }
}

fn ordered(s: &mut Sql) {
    // One row past the cap tells that the timeline was cut short.
    s.push(" ORDER BY timestamp, uuid LIMIT ")
        .bind(SqlParam::Int(MAX_SESSION_EVENTS as i64 + 1));
}

/// Event rows (as [`super::events_page`]) of an SDK session, oldest first.
pub(crate) fn sdk_session(q: &SessionEventsQuery) -> Sql {
    let mut s = Sql::default();
    s.push(super::EVENT_COLUMNS)
        .push(" FROM events WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND session_id = ")
        .bind(SqlParam::Text(q.id.clone()));
    ordered(&mut s);
    s
}

/// Event rows of the person behind `distinct_id` without a session id, from
/// one inactivity limit before `start` to [`SESSION_LOOKBACK`] after it,
/// oldest first: the derived session and what `cut_derived` needs to check it.
pub(crate) fn derived_session(
    q: &SessionEventsQuery,
    distinct_id: &str,
    start: DateTime<Utc>,
) -> Sql {
    let mut s = Sql::default();
    s.push(super::EVENT_COLUMNS)
        .push(" FROM events WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND isNull(session_id)");
    let scope = EventsQuery {
        person: Some(distinct_id.to_owned()),
        after: Some(start - q.inactivity),
        before: Some(start + SESSION_LOOKBACK),
        ..EventsQuery::all(q.project_id, MAX_SESSION_EVENTS)
    };
    super::event_filters(&mut s, &scope);
    ordered(&mut s);
    s
}
