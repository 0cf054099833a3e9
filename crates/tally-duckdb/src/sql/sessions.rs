//! DuckDB's SQL for one session's events.

use super::{event_filters, Sql, EVENT_COLUMNS};
use chrono::{DateTime, Utc};
use tally_query::sessions::{SessionEventsQuery, MAX_SESSION_EVENTS};
use tally_query::sql::SqlParam;
use tally_query::types::{EventsQuery, SESSION_LOOKBACK};

fn ordered(s: &mut Sql) {
    // One row past the cap tells that the timeline was cut short.
    s.push(" ORDER BY timestamp, uuid LIMIT ")
        .bind(SqlParam::Int(MAX_SESSION_EVENTS as i64 + 1));
}

/// Event rows (as [`crate::sql::events_page`]) of an SDK session, oldest first.
pub fn sdk_session_sql(q: &SessionEventsQuery) -> Sql {
    let mut s = Sql::default();
    s.push(EVENT_COLUMNS)
        .push(" FROM events WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND session_id = ")
        .bind(SqlParam::Text(q.id.clone()));
    ordered(&mut s);
    s
}

/// Event rows of the person behind `distinct_id` without a session id, from one
/// inactivity limit before `start` to [`SESSION_LOOKBACK`] after it, oldest
/// first: the derived session and what [`cut_derived`] needs to check it.
pub fn derived_session_sql(q: &SessionEventsQuery, distinct_id: &str, start: DateTime<Utc>) -> Sql {
    let mut s = Sql::default();
    s.push(EVENT_COLUMNS)
        .push(" FROM events WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND session_id IS NULL");
    let scope = EventsQuery {
        person: Some(distinct_id.to_owned()),
        after: Some(start - q.inactivity),
        before: Some(start + SESSION_LOOKBACK),
        ..EventsQuery::all(q.project_id, MAX_SESSION_EVENTS)
    };
    event_filters(&mut s, &scope);
    ordered(&mut s);
    s
}
