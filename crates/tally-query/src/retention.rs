//! Retention: of the persons who did a start event in a period (their cohort),
//! how many did a return event 1, 2, … periods later — the triangle table.
//!
//! - Periods are whole days, weeks (from Monday) or months in the request's zone:
//!   the `periods` periods ending with the one that holds `date_to`.
//! - `first_time` cohorts (the default) hold each person once, in the period of
//!   their first start event ever (persons who started before the range are in no
//!   cohort); `recurring` cohorts put a person in every period they did the start
//!   event, so one person can be in several cohorts.
//! - Period 0 is the cohort itself (its size); period k counts the cohort's
//!   persons with a return event in the k-th period after it. Later periods than
//!   the range holds are not in the answer (the triangle).

use crate::buckets::{whole_periods, BucketPlan};
use crate::error::QueryError;
use crate::filters::FilterNode;
use crate::scope::{EventMatch, Scope};
use crate::types::{parse_bound, parse_tz, Interval, TimeRange};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tally_core::ProjectId;
use utoipa::ToSchema;

pub const DEFAULT_PERIODS: usize = 8;
pub const MAX_PERIODS: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CohortType {
    /// A person's cohort is the period of their first start event ever.
    #[default]
    FirstTime,
    /// A person is in the cohort of every period with a start event.
    Recurring,
}

/// `{"kind": "retention", …}` of `POST /query`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionRequest {
    /// What puts a person in a cohort; absent: any event.
    #[serde(default)]
    pub start_event: EventMatch,
    /// What counts as coming back; absent: any event.
    #[serde(default)]
    pub return_event: EventMatch,
    /// `day` (default), `week` or `month`.
    pub period: Option<String>,
    /// Cohorts (and periods after the first); default 8, at most 60.
    pub periods: Option<usize>,
    /// The last period is the one holding this instant; default now.
    pub date_to: Option<String>,
    /// IANA zone of the periods; default UTC.
    pub tz: Option<String>,
    #[serde(default)]
    pub cohort: CohortType,
    pub filters: Option<FilterNode>,
    #[serde(default)]
    pub include_bots: bool,
}

#[derive(Debug, Clone)]
pub struct RetentionQuery {
    pub project_id: ProjectId,
    pub start_event: EventMatch,
    pub return_event: EventMatch,
    pub range: TimeRange,
    pub plan: BucketPlan,
    pub cohort: CohortType,
    pub filters: Option<FilterNode>,
    pub include_bots: bool,
}

impl RetentionRequest {
    pub fn resolve(
        self,
        project_id: ProjectId,
        now: DateTime<Utc>,
    ) -> Result<RetentionQuery, QueryError> {
        self.start_event.validate("start_event")?;
        self.return_event.validate("return_event")?;
        if let Some(f) = &self.filters {
            f.validate()?;
        }
        let period: Interval = self.period.as_deref().unwrap_or("day").parse()?;
        if !matches!(period, Interval::Day | Interval::Week | Interval::Month) {
            return Err(QueryError::InvalidQuery(
                "`period` must be day, week or month".into(),
            ));
        }
        let periods = self.periods.unwrap_or(DEFAULT_PERIODS);
        if !(1..=MAX_PERIODS).contains(&periods) {
            return Err(QueryError::InvalidQuery(format!(
                "`periods` must be 1 to {MAX_PERIODS}"
            )));
        }
        let tz = parse_tz(self.tz.as_deref())?;
        let to = match self.date_to.as_deref() {
            Some(t) => parse_bound(t, "date_to", now, tz)?,
            None => now,
        };
        let range = whole_periods(to, period, tz, periods)?;
        let plan = BucketPlan::new(range, period, tz)?;
        Ok(RetentionQuery {
            project_id,
            start_event: self.start_event,
            return_event: self.return_event,
            range,
            plan,
            cohort: self.cohort,
            filters: self.filters,
            include_bots: self.include_bots,
        })
    }
}

impl RetentionQuery {
    /// The events this query reads between `from` and `to`.
    pub fn scope(&self, from: Option<DateTime<Utc>>, to: DateTime<Utc>) -> Scope<'_> {
        Scope {
            project_id: self.project_id,
            from,
            to,
            include_bots: self.include_bots,
            filters: self.filters.as_ref(),
            join_persons: self.start_event.reads_persons() || self.return_event.reads_persons(),
            join_sessions: self.start_event.reads_sessions() || self.return_event.reads_sessions(),
        }
    }
}

/// One row of an engine's retention SQL.
#[derive(Debug, Clone, Copy)]
pub struct RetentionRow {
    pub cohort_local_us: i64,
    pub return_local_us: Option<i64>,
    pub persons: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RetentionValue {
    /// Periods after the cohort's (0: the cohort itself).
    pub period: usize,
    pub count: u64,
    /// Of the cohort, 0–100; `null` for an empty cohort.
    pub percentage: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RetentionCohort {
    /// The cohort period's start, RFC 3339 with the zone's offset.
    pub start: String,
    pub size: u64,
    /// Periods 0.. up to the end of the range.
    pub values: Vec<RetentionValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RetentionAnswer {
    pub kind: &'static str,
    pub range: TimeRange,
    pub period: Interval,
    pub tz: String,
    pub cohort: CohortType,
    pub cohorts: Vec<RetentionCohort>,
}

/// The triangle from the rows; every cohort and cell present, zeros included.
pub fn assemble(q: &RetentionQuery, rows: &[RetentionRow]) -> RetentionAnswer {
    let n = q.plan.starts.len();
    let mut counts: Vec<Vec<u64>> = (0..n).map(|i| vec![0; n - i]).collect();
    let index =
        |us: i64| DateTime::from_timestamp_micros(us).map(|t| q.plan.index_of(t.naive_utc()));
    for row in rows {
        let Some(c) = index(row.cohort_local_us) else {
            continue;
        };
        let offset = match row.return_local_us {
            None => Some(0),
            Some(r) => index(r).and_then(|r| r.checked_sub(c)),
        };
        if let Some(cell) = offset.and_then(|k| counts[c].get_mut(k)) {
            *cell += u64::try_from(row.persons).unwrap_or(0);
        }
    }
    let cohorts = counts
        .into_iter()
        .enumerate()
        .map(|(i, cells)| {
            let size = cells[0];
            RetentionCohort {
                start: q.plan.label(i),
                size,
                values: cells
                    .into_iter()
                    .enumerate()
                    .map(|(period, count)| RetentionValue {
                        period,
                        count,
                        percentage: (size > 0).then(|| count as f64 * 100.0 / size as f64),
                    })
                    .collect(),
            }
        })
        .collect();
    RetentionAnswer {
        kind: "retention",
        range: q.range,
        period: q.plan.interval,
        tz: q.plan.tz.name().to_owned(),
        cohort: q.cohort,
        cohorts,
    }
}
