//! One session's timeline: its events in time order.
//!
//! A session id is what the sessions list gives: the SDK's `$session_id`, or
//! `distinct_id@start` (µs) for a session derived from inactivity. The SDK id is
//! looked up first (SDK ids may contain `@` too). A derived session is rebuilt the
//! way the list cuts it: the events without a session id of the person behind that
//! distinct id, from the start, until a gap longer than the inactivity limit.

use crate::sql::{event_filters, Sql, SqlParam, EVENT_COLUMNS};
use crate::types::{EventRecord, EventsQuery, SESSION_LOOKBACK};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tally_core::ProjectId;
use utoipa::ToSchema;

/// The most events a timeline shows.
pub const MAX_SESSION_EVENTS: usize = 1000;

#[derive(Debug, Clone)]
pub struct SessionEventsQuery {
    pub project_id: ProjectId,
    pub id: String,
    pub inactivity: Duration,
}

/// The distinct id and start of a derived session id.
pub fn parse_derived(id: &str) -> Option<(String, DateTime<Utc>)> {
    let (distinct_id, micros) = id.rsplit_once('@')?;
    let start = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    (!distinct_id.is_empty()).then(|| (distinct_id.to_owned(), start))
}

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

/// The derived session in `events` (oldest first, from one inactivity limit
/// before `start`): empty unless the first event is at `start` (an earlier one
/// that close would make `start` the middle of a session); it ends before the
/// first gap longer than `inactivity`.
pub fn cut_derived(
    events: Vec<EventRecord>,
    start: DateTime<Utc>,
    inactivity: Duration,
) -> Vec<EventRecord> {
    if events.first().is_none_or(|e| e.timestamp != start) {
        return Vec::new();
    }
    let mut last = start;
    events
        .into_iter()
        .take_while(|e| {
            let within = e.timestamp - last <= inactivity;
            last = e.timestamp;
            within
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SessionTimeline {
    pub id: String,
    /// Oldest first, at most 1000.
    pub events: Vec<EventRecord>,
    /// The session has more events than shown.
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_split_at_the_last_at_sign() {
        let (d, start) = parse_derived("a@b.io@1700000000000000").unwrap();
        assert_eq!(d, "a@b.io");
        assert_eq!(start.timestamp(), 1_700_000_000);
        assert!(parse_derived("sdk-session").is_none());
        assert!(parse_derived("@1700000000000000").is_none());
        assert!(parse_derived("x@notanumber").is_none());
    }
}
