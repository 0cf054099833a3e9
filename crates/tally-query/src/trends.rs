//! Trends: one or more series of an event over time, each with its own math and
//! filters, optionally broken down by a property (top N + "other"), compared with
//! the previous period, or accumulated.
//!
//! [`TrendsRequest`] is the JSON a client sends; [`TrendsRequest::resolve`] checks
//! it and fixes its ranges and buckets into a [`TrendsQuery`]. Each engine says
//! one series over one range in its SQL, giving [`TrendRow`]s, and shapes them
//! with [`assemble`], so zero-filling and cumulative sums are the same everywhere.

use crate::buckets::BucketPlan;
use crate::error::QueryError;
use crate::filters::{check_key, check_property, FilterNode, PropertySource};
use crate::types::{parse_tz, Interval, TimeRange};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tally_core::ProjectId;
use utoipa::ToSchema;

/// The most series one query may have.
pub const MAX_SERIES: usize = 20;
/// Breakdown values shown besides "other": default and most.
pub const DEFAULT_BREAKDOWN_LIMIT: usize = 10;
pub const MAX_BREAKDOWN_LIMIT: usize = 100;

/// What each bucket's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrendMath {
    /// Events.
    #[default]
    Total,
    /// Distinct persons (through merges).
    UniquePersons,
    /// Distinct sessions with a matching event: the SDK's `$session_id`, or the
    /// session cut from the person's events by 30 minutes of inactivity.
    UniqueSessions,
    /// Events per distinct person.
    PerPersonAvg,
    /// Of a numeric property (`math_property`); events without a number there are
    /// left out.
    Sum,
    Avg,
    Min,
    Max,
    P50,
    P90,
    P99,
}

impl TrendMath {
    fn needs_property(self) -> bool {
        !matches!(
            self,
            Self::Total | Self::UniquePersons | Self::UniqueSessions | Self::PerPersonAvg
        )
    }

    /// Whether an empty bucket is 0 (counts, sums) rather than no value (an
    /// average or percentile of nothing).
    fn zero_when_empty(self) -> bool {
        matches!(
            self,
            Self::Total
                | Self::UniquePersons
                | Self::UniqueSessions
                | Self::PerPersonAvg
                | Self::Sum
        )
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesRequest {
    /// The event; absent: every event.
    pub event: Option<String>,
    #[serde(default)]
    pub math: TrendMath,
    /// The numeric property of `sum`, `avg`, `min`, `max`, `p50`, `p90`, `p99`.
    pub math_property: Option<String>,
    /// Filters of this series only.
    pub filters: Option<FilterNode>,
    /// A label for the answer; defaults to the event name.
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakdownRequest {
    pub property: String,
    #[serde(default, rename = "type")]
    pub source: PropertySource,
    /// Values shown on their own (most frequent first); the rest are "other".
    pub limit: Option<usize>,
}

/// `{"kind": "trends", …}` of `POST /query`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrendsRequest {
    pub series: Vec<SeriesRequest>,
    /// RFC 3339 or `YYYY-MM-DD`; default: 7 days before `date_to`.
    pub date_from: Option<String>,
    /// Default: now.
    pub date_to: Option<String>,
    /// `minute`, `hour`, `day` (default), `week`, `month`.
    pub interval: Option<String>,
    /// IANA zone of the buckets; default UTC.
    pub tz: Option<String>,
    /// Filters every series shares.
    pub filters: Option<FilterNode>,
    pub breakdown: Option<BreakdownRequest>,
    /// Also answer the same series over the period just before.
    #[serde(default)]
    pub compare: bool,
    /// Each bucket holds the running total up to it (`total` and `sum` only).
    #[serde(default)]
    pub cumulative: bool,
    #[serde(default)]
    pub include_bots: bool,
}

/// A checked trends request.
#[derive(Debug, Clone)]
pub struct TrendsQuery {
    pub project_id: ProjectId,
    pub series: Vec<SeriesRequest>,
    pub range: TimeRange,
    pub plan: BucketPlan,
    /// With `compare`: the previous period and its buckets.
    pub previous: Option<(TimeRange, BucketPlan)>,
    pub filters: Option<FilterNode>,
    pub breakdown: Option<BreakdownRequest>,
    pub cumulative: bool,
    pub include_bots: bool,
}

impl TrendsRequest {
    pub fn resolve(
        self,
        project_id: ProjectId,
        now: DateTime<Utc>,
    ) -> Result<TrendsQuery, QueryError> {
        if self.series.is_empty() || self.series.len() > MAX_SERIES {
            return Err(QueryError::InvalidQuery(format!(
                "a trends query has 1 to {MAX_SERIES} series"
            )));
        }
        for s in &self.series {
            match (&s.math_property, s.math.needs_property()) {
                (None, true) => {
                    return Err(QueryError::InvalidQuery(format!(
                        "math `{}` needs `math_property`",
                        serde_json::to_value(s.math).unwrap_or_default()
                    )))
                }
                (Some(p), _) => check_key(p)?,
                (None, false) => {}
            }
            if self.cumulative && !matches!(s.math, TrendMath::Total | TrendMath::Sum) {
                return Err(QueryError::InvalidQuery(
                    "`cumulative` adds buckets up, which only means something for `total` and `sum`"
                        .into(),
                ));
            }
            if let Some(f) = &s.filters {
                f.validate()?;
            }
        }
        if let Some(f) = &self.filters {
            f.validate()?;
        }
        if let Some(b) = &self.breakdown {
            check_property(&b.property, b.source)?;
            if b.limit.is_some_and(|l| l == 0 || l > MAX_BREAKDOWN_LIMIT) {
                return Err(QueryError::InvalidQuery(format!(
                    "`breakdown.limit` must be 1 to {MAX_BREAKDOWN_LIMIT}"
                )));
            }
        }
        let interval: Interval = self.interval.as_deref().unwrap_or("day").parse()?;
        let tz = parse_tz(self.tz.as_deref())?;
        let range = TimeRange::resolve_fields(
            self.date_from.as_deref(),
            self.date_to.as_deref(),
            now,
            Duration::days(7),
            ["date_from", "date_to"],
            tz,
        )?;
        let plan = BucketPlan::new(range, interval, tz)?;
        let previous = if self.compare {
            let prev = range.previous();
            Some((prev, BucketPlan::new(prev, interval, tz)?))
        } else {
            None
        };
        Ok(TrendsQuery {
            project_id,
            series: self.series,
            range,
            plan,
            previous,
            filters: self.filters,
            breakdown: self.breakdown,
            cumulative: self.cumulative,
            include_bots: self.include_bots,
        })
    }
}

impl TrendsQuery {
    pub fn reads_sessions(&self, series: &SeriesRequest) -> bool {
        self.breakdown
            .as_ref()
            .is_some_and(|b| b.source == PropertySource::Session)
            || self
                .filters
                .as_ref()
                .is_some_and(FilterNode::reads_sessions)
            || series
                .filters
                .as_ref()
                .is_some_and(FilterNode::reads_sessions)
    }

    pub fn reads_persons(&self, series: &SeriesRequest) -> bool {
        self.breakdown
            .as_ref()
            .is_some_and(|b| b.source == PropertySource::Person)
            || self.filters.as_ref().is_some_and(FilterNode::reads_persons)
            || series
                .filters
                .as_ref()
                .is_some_and(FilterNode::reads_persons)
    }
}

impl TrendsQuery {
    /// The answer from the series of the range and, with `compare`, of the
    /// previous period (each as [`assemble`] gives them).
    pub fn answer(
        &self,
        results: Vec<TrendSeries>,
        previous: Option<Vec<TrendSeries>>,
    ) -> TrendsAnswer {
        TrendsAnswer {
            kind: "trends",
            range: self.range,
            interval: self.plan.interval,
            tz: self.plan.tz.name().to_owned(),
            results,
            previous: self
                .previous
                .as_ref()
                .zip(previous)
                .map(|((range, _), results)| TrendsPrevious {
                    range: *range,
                    results,
                }),
        }
    }
}

/// One row of an engine's SQL for one series over one range.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendRow {
    pub bucket_local_us: i64,
    pub other: bool,
    pub breakdown: Option<String>,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TrendPoint {
    /// The bucket's start, RFC 3339 with the zone's offset.
    pub bucket: String,
    /// `null` for an average or percentile of an empty bucket.
    pub value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TrendSeries {
    /// Index into the request's `series`.
    pub series: usize,
    pub name: String,
    pub math: TrendMath,
    /// With a breakdown: the property's value (`null` for events without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown_value: Option<Option<String>>,
    /// With a breakdown: this line holds every value outside the top N.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_other: bool,
    pub points: Vec<TrendPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TrendsAnswer {
    pub kind: &'static str,
    pub range: TimeRange,
    pub interval: Interval,
    pub tz: String,
    pub results: Vec<TrendSeries>,
    /// With `compare`: the period just before, same series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<TrendsPrevious>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TrendsPrevious {
    pub range: TimeRange,
    pub results: Vec<TrendSeries>,
}

/// Shapes one series' rows into lines: one per breakdown value (most events
/// first, as the SQL ranked them — here by their total), "other" last; every
/// bucket present.
pub fn assemble(
    q: &TrendsQuery,
    index: usize,
    plan: &BucketPlan,
    rows: Vec<TrendRow>,
) -> Vec<TrendSeries> {
    let series = &q.series[index];
    let empty = if series.math.zero_when_empty() {
        Some(0.0)
    } else {
        None
    };
    // (is other, breakdown value) → one value per bucket.
    type Line = ((bool, Option<String>), Vec<Option<f64>>);
    let mut lines: Vec<Line> = Vec::new();
    // A breakdown can have 101 lines × 10,000 buckets of rows: find lines by key.
    let mut line_of: HashMap<(bool, Option<String>), usize> = HashMap::new();
    for row in rows {
        let key = (row.other, row.breakdown);
        let at = match line_of.get(&key) {
            Some(&at) => at,
            None => {
                line_of.insert(key.clone(), lines.len());
                lines.push((key, vec![empty; plan.starts.len()]));
                lines.len() - 1
            }
        };
        let local = DateTime::from_timestamp_micros(row.bucket_local_us)
            .unwrap_or_default()
            .naive_utc();
        let slot = &mut lines[at].1[plan.index_of(local)];
        // Two UTC hours can share a local bucket (the repeated hour when clocks
        // go back); their values add (exact for counts and sums).
        if let Some(v) = row.value {
            *slot = Some(slot.map_or(v, |a| a + v));
        }
    }
    if lines.is_empty() && q.breakdown.is_none() {
        lines.push(((false, None), vec![empty; plan.starts.len()]));
    }
    let weight = |values: &[Option<f64>]| values.iter().flatten().sum::<f64>();
    lines.sort_by(|(a, va), (b, vb)| {
        a.0.cmp(&b.0)
            .then(weight(vb).total_cmp(&weight(va)))
            .then(a.1.cmp(&b.1))
    });
    let name = series
        .name
        .clone()
        .or_else(|| series.event.clone())
        .unwrap_or_else(|| "All events".into());
    lines
        .into_iter()
        .map(|((other, value), mut values)| {
            if q.cumulative {
                let mut running = 0.0;
                for v in values.iter_mut() {
                    running += v.unwrap_or(0.0);
                    *v = Some(running);
                }
            }
            TrendSeries {
                series: index,
                name: name.clone(),
                math: series.math,
                breakdown_value: q.breakdown.as_ref().map(|_| value),
                is_other: other,
                points: values
                    .into_iter()
                    .enumerate()
                    .map(|(i, value)| TrendPoint {
                        bucket: plan.label(i),
                        value,
                    })
                    .collect(),
            }
        })
        .collect()
}
