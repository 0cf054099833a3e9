//! How persons keep doing an event over time: stickiness and lifecycle.
//!
//! - **Stickiness**: of the persons who did the event in the range, how many did
//!   it in exactly 1, 2, … of its intervals.
//! - **Lifecycle**: per interval, the persons who did the event there, split into
//!   `new` (never did it before), `returning` (did it the interval before),
//!   `resurrecting` (did it before, but not the interval before), and the
//!   `dormant` ones (did it the interval before, not in this one).
//!
//! Both count whole intervals in the request's zone: the range is widened to the
//! start of the interval holding `date_from`. Lifecycle also reads the interval
//! before the range (to tell returning from resurrecting in the first one) and
//! all earlier events (to tell new from resurrecting).

use crate::buckets::{utc_of_local, whole_periods, BucketPlan};
use crate::error::QueryError;
use crate::filters::FilterNode;
use crate::scope::{EventMatch, Scope};
use crate::types::{parse_tz, Interval, TimeRange};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tally_core::ProjectId;
use utoipa::ToSchema;

/// `{"kind": "stickiness" | "lifecycle", …}` of `POST /query`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityRequest {
    /// The event (and filters) counted; absent: any event.
    #[serde(default)]
    pub event: EventMatch,
    /// RFC 3339 or `YYYY-MM-DD`; default: 30 days before `date_to`.
    pub date_from: Option<String>,
    /// Default: now.
    pub date_to: Option<String>,
    /// `hour`, `day` (default), `week`, `month`.
    pub interval: Option<String>,
    pub tz: Option<String>,
    pub filters: Option<FilterNode>,
    #[serde(default)]
    pub include_bots: bool,
}

#[derive(Debug, Clone)]
pub struct ActivityQuery {
    pub project_id: ProjectId,
    pub event: EventMatch,
    /// Whole intervals: `from` is the start of the first.
    pub range: TimeRange,
    /// The buckets of the range.
    pub plan: BucketPlan,
    /// The buckets of the interval before the range and the range (lifecycle).
    pub widened: (TimeRange, BucketPlan),
    pub filters: Option<FilterNode>,
    pub include_bots: bool,
}

impl ActivityRequest {
    pub fn resolve(
        self,
        project_id: ProjectId,
        now: DateTime<Utc>,
    ) -> Result<ActivityQuery, QueryError> {
        self.event.validate("event")?;
        if let Some(f) = &self.filters {
            f.validate()?;
        }
        let interval: Interval = self.interval.as_deref().unwrap_or("day").parse()?;
        if interval == Interval::Minute {
            return Err(QueryError::InvalidQuery(
                "`interval` must be hour, day, week or month".into(),
            ));
        }
        let tz = parse_tz(self.tz.as_deref())?;
        let asked = TimeRange::resolve_fields(
            self.date_from.as_deref(),
            self.date_to.as_deref(),
            now,
            Duration::days(30),
            ["date_from", "date_to"],
            tz,
        )?;
        let first = BucketPlan::new(asked, interval, tz)?.starts[0];
        let range = TimeRange {
            from: utc_of_local(tz, first),
            to: asked.to,
        };
        let plan = BucketPlan::new(range, interval, tz)?;
        let before = whole_periods(range.from, interval, tz, 1)?;
        let widened_range = TimeRange {
            from: before.from,
            to: range.to,
        };
        let widened = (widened_range, BucketPlan::new(widened_range, interval, tz)?);
        Ok(ActivityQuery {
            project_id,
            event: self.event,
            range,
            plan,
            widened,
            filters: self.filters,
            include_bots: self.include_bots,
        })
    }
}

impl ActivityQuery {
    /// The events this query reads between `from` and `to`.
    pub fn scope(&self, from: Option<DateTime<Utc>>, to: DateTime<Utc>) -> Scope<'_> {
        Scope {
            project_id: self.project_id,
            from,
            to,
            include_bots: self.include_bots,
            filters: self.filters.as_ref(),
            join_persons: self.event.reads_persons(),
            join_sessions: self.event.reads_sessions(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StickinessValue {
    /// Intervals with the event.
    pub intervals: usize,
    pub persons: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StickinessAnswer {
    pub kind: &'static str,
    pub range: TimeRange,
    pub interval: Interval,
    pub tz: String,
    /// One entry for each 1..=intervals in the range, zeros included.
    pub results: Vec<StickinessValue>,
}

/// The answer from rows of (intervals, persons).
pub fn stickiness_answer(q: &ActivityQuery, rows: &[(i64, i64)]) -> StickinessAnswer {
    let n = q.plan.starts.len();
    let mut persons = vec![0u64; n];
    for &(active, count) in rows {
        if let Some(slot) = usize::try_from(active - 1)
            .ok()
            .and_then(|i| persons.get_mut(i))
        {
            *slot += u64::try_from(count).unwrap_or(0);
        }
    }
    StickinessAnswer {
        kind: "stickiness",
        range: q.range,
        interval: q.plan.interval,
        tz: q.plan.tz.name().to_owned(),
        results: persons
            .into_iter()
            .enumerate()
            .map(|(i, persons)| StickinessValue {
                intervals: i + 1,
                persons,
            })
            .collect(),
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, ToSchema)]
pub struct LifecycleBucket {
    /// The interval's start, RFC 3339 with the zone's offset.
    pub bucket: String,
    pub new: u64,
    pub returning: u64,
    pub resurrecting: u64,
    /// Active the interval before, not in this one (a positive count).
    pub dormant: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LifecycleAnswer {
    pub kind: &'static str,
    pub range: TimeRange,
    pub interval: Interval,
    pub tz: String,
    pub results: Vec<LifecycleBucket>,
}

/// The answer from rows of (interval start µs, status, persons).
pub fn lifecycle_answer(q: &ActivityQuery, rows: &[(i64, String, i64)]) -> LifecycleAnswer {
    let mut results: Vec<LifecycleBucket> = (0..q.plan.starts.len())
        .map(|i| LifecycleBucket {
            bucket: q.plan.label(i),
            ..LifecycleBucket::default()
        })
        .collect();
    for (us, status, count) in rows {
        let Some(start) = DateTime::from_timestamp_micros(*us).map(|t| t.naive_utc()) else {
            continue;
        };
        let Some(b) = q.plan.index_of_start(start).map(|i| &mut results[i]) else {
            continue;
        };
        let count = u64::try_from(*count).unwrap_or(0);
        match status.as_str() {
            "new" => b.new += count,
            "returning" => b.returning += count,
            "resurrecting" => b.resurrecting += count,
            _ => b.dormant += count,
        }
    }
    LifecycleAnswer {
        kind: "lifecycle",
        range: q.range,
        interval: q.plan.interval,
        tz: q.plan.tz.name().to_owned(),
        results,
    }
}
