//! One session's timeline: its events in time order.
//!
//! A session id is what the sessions list gives: the SDK's `$session_id`, or
//! `distinct_id@start` (µs) for a session derived from inactivity. The SDK id is
//! looked up first (SDK ids may contain `@` too). A derived session is rebuilt the
//! way the list cuts it: the events without a session id of the person behind that
//! distinct id, from the start, until a gap longer than the inactivity limit.

use crate::types::EventRecord;
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
