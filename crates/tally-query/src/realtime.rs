//! Realtime: who is here now. Active persons in the last 5 and 30 minutes and
//! events in each of the last 30 minutes (the current one still filling), by
//! event time, bots left out.

use crate::scope::Scope;
use crate::types::TimeRange;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;
use tally_core::ProjectId;
use utoipa::ToSchema;

pub const MINUTES: i64 = 30;

#[derive(Debug, Clone)]
pub struct RealtimeQuery {
    pub project_id: ProjectId,
    pub now: DateTime<Utc>,
}

impl RealtimeQuery {
    /// The events this query reads.
    pub fn scope(&self) -> Scope<'static> {
        Scope {
            project_id: self.project_id,
            from: Some(self.now - Duration::minutes(MINUTES)),
            to: self.now,
            include_bots: false,
            filters: None,
            join_persons: false,
            join_sessions: false,
        }
    }

    /// The starts of the minutes shown, oldest first; the last holds `now`.
    pub fn minutes(&self) -> Vec<DateTime<Utc>> {
        let current = self
            .now
            .duration_trunc(Duration::minutes(1))
            .unwrap_or(self.now);
        (0..MINUTES)
            .rev()
            .map(|k| current - Duration::minutes(k))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MinuteCount {
    pub minute: DateTime<Utc>,
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RealtimeAnswer {
    pub kind: &'static str,
    pub now: DateTime<Utc>,
    /// The last 30 minutes.
    pub range: TimeRange,
    pub active_persons_5m: u64,
    pub active_persons_30m: u64,
    pub events_30m: u64,
    /// Oldest first, zero-filled; the last minute is the current one.
    pub per_minute: Vec<MinuteCount>,
}

/// The answer from the totals row and the per-minute rows.
pub fn assemble(q: &RealtimeQuery, totals: [i64; 3], per_minute: &[(i64, i64)]) -> RealtimeAnswer {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let per_minute = q
        .minutes()
        .into_iter()
        .map(|minute| MinuteCount {
            minute,
            events: per_minute
                .iter()
                .filter(|(m, _)| *m == minute.timestamp_micros())
                .map(|(_, n)| count(*n))
                .sum(),
        })
        .collect();
    RealtimeAnswer {
        kind: "realtime",
        now: q.now,
        range: TimeRange {
            from: q.now - Duration::minutes(MINUTES),
            to: q.now,
        },
        active_persons_5m: count(totals[0]),
        active_persons_30m: count(totals[1]),
        events_30m: count(totals[2]),
        per_minute,
    }
}
