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
use crate::sql::{bucket_start, Sql};
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
    fn scope(&self, from: Option<DateTime<Utc>>, to: DateTime<Utc>) -> Scope<'_> {
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

/// Rows: cohort period start (µs of naive local time), return period start (same,
/// NULL on the row of the cohort's size), persons.
pub fn retention_sql(q: &RetentionQuery) -> Sql {
    let mut s = Sql::default();
    // `marked`: one row per person and period (what they did in it), read by
    // both the cohorts and the returns — a few rows per person instead of
    // every event, however DuckDB plans the two reads of it.
    s.push("WITH marked AS (SELECT person, bucket, bool_or(is_start) AS is_start, bool_or(is_return) AS is_return FROM (SELECT ev.person, ");
    bucket_start(&mut s, &q.plan);
    s.push(" AS bucket, ");
    q.start_event.push_condition(&mut s);
    s.push(" AS is_start, ");
    q.return_event.push_condition(&mut s);
    s.push(" AS is_return");
    q.scope(Some(q.range.from), q.range.to).push_from(&mut s);
    s.push(") GROUP BY person, bucket)");
    if q.cohort == CohortType::FirstTime {
        s.push(", earlier AS (SELECT DISTINCT ev.person");
        q.scope(None, q.range.from).push_from(&mut s);
        s.push(" AND ");
        q.start_event.push_condition(&mut s);
        s.push(")");
    }
    push_triangle(&mut s, q.cohort);
    s
}

/// The cohorts, returns and the rows of [`retention_sql`], from the CTEs
/// `marked` (person, bucket, is_start, is_return: one row per person and
/// period) and, for first-time cohorts, `earlier` (the persons who did the
/// start event before the range).
pub(crate) fn push_triangle(s: &mut Sql, cohort: CohortType) {
    match cohort {
        CohortType::FirstTime => {
            // Persons who did the start event before the range have their first
            // time there: they are in none of these cohorts.
            s.push(
                ", cohorts AS (SELECT person, min(bucket) AS cohort FROM marked WHERE is_start \
                 AND person NOT IN (SELECT person FROM earlier) GROUP BY person)",
            );
        }
        CohortType::Recurring => {
            s.push(", cohorts AS (SELECT DISTINCT person, bucket AS cohort FROM marked WHERE is_start)");
        }
    }
    // One join gives both the sizes and the returns: each cohort member has
    // exactly one `marked` row in the cohort's period (NULL return: the size)
    // and at most one per later period (a return when `is_return`). Faster than
    // sizes and returns apart (~165 against ~200 ms on 10M seeded events).
    s.push(
        " SELECT c.cohort, CASE WHEN m.bucket > c.cohort THEN m.bucket END, count(*) \
         FROM cohorts c JOIN marked m ON m.person = c.person \
         WHERE m.bucket = c.cohort OR (m.bucket > c.cohort AND m.is_return) GROUP BY ALL",
    );
}

/// One row of [`retention_sql`].
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::SqlParam;

    #[test]
    fn hostile_names_and_values_are_bound() {
        let evil = "x'); DROP TABLE events; --";
        let request: RetentionRequest = serde_json::from_value(serde_json::json!({
            "start_event": {"event": evil, "filters": {"key": evil, "operator": "eq", "value": evil}},
            "return_event": {"event": evil},
            "date_to": "2026-11-10T00:00:00Z",
        }))
        .unwrap();
        let q = request.resolve(1, Utc::now()).unwrap();
        let sql = retention_sql(&q);
        assert!(!sql.text.contains("DROP"), "{}", sql.text);
        assert_eq!(sql.text.matches('?').count(), sql.params.len());
        assert!(sql.params.contains(&SqlParam::Text(evil.into())));
    }
}
