//! Requests and answers of the query API.

use crate::buckets::BucketPlan;
use crate::cursor::Cursor;
use crate::error::QueryError;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Map, Value};
use std::str::FromStr;
use tally_core::ProjectId;
use utoipa::ToSchema;
use uuid::Uuid;

/// The most events one page returns.
pub const MAX_PAGE: usize = 1000;
/// The page size when none is asked for.
pub const DEFAULT_PAGE: usize = 100;

/// A half-open UTC range `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct TimeRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl TimeRange {
    /// Builds a range from optional bounds ([`parse_bound`], bare dates at
    /// midnight in `tz`): `to` defaults to `now`, `from` to `default_span`
    /// before `to`.
    pub fn resolve(
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
        default_span: Duration,
        tz: Tz,
    ) -> Result<Self, QueryError> {
        Self::resolve_fields(from, to, now, default_span, ["from", "to"], tz)
    }

    /// [`TimeRange::resolve`] for bounds a request names differently (errors
    /// name the request's fields).
    pub fn resolve_fields(
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
        default_span: Duration,
        [from_field, to_field]: [&'static str; 2],
        tz: Tz,
    ) -> Result<Self, QueryError> {
        let to = match to {
            Some(t) => parse_bound(t, to_field, now, tz)?,
            None => now,
        };
        let from = match from {
            Some(f) => parse_bound(f, from_field, now, tz)?,
            None => to - default_span,
        };
        if from >= to {
            return Err(QueryError::EmptyRange);
        }
        Ok(Self { from, to })
    }

    /// The range of the same length just before this one.
    pub fn previous(&self) -> Self {
        let span = self.to - self.from;
        Self {
            from: self.from - span,
            to: self.from,
        }
    }
}

/// Parses a range bound: an RFC 3339 date-time, a bare date (`2026-11-01`:
/// midnight in `tz`, the query's time zone, as a user picking days means),
/// `now`, or a time relative to now — `-24h`, `-7d`, `-4w`, `-3m` (calendar
/// months) — so that a saved insight keeps meaning "the last 30 days" whenever
/// it is opened.
pub fn parse_bound(
    text: &str,
    field: &'static str,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<DateTime<Utc>, QueryError> {
    if text == "now" {
        return Ok(now);
    }
    let Some(ago) = text.strip_prefix('-') else {
        return parse_local_datetime(text, field, tz);
    };
    let invalid = QueryError::InvalidDateTime { field };
    let (count, unit) = ago.split_at(ago.len().saturating_sub(1));
    let count: u32 = count
        .parse()
        .map_err(|_| QueryError::InvalidDateTime { field })?;
    // Ten years back is further than any store keeps; it also keeps the
    // arithmetic below far from overflowing.
    if count > 3660 {
        return Err(invalid);
    }
    let back = match unit {
        "h" => now - Duration::hours(count.into()),
        "d" => now - Duration::days(count.into()),
        "w" => now - Duration::weeks(count.into()),
        "m" => now
            .checked_sub_months(chrono::Months::new(count))
            .ok_or(QueryError::InvalidDateTime { field })?,
        _ => return Err(invalid),
    };
    Ok(back)
}

/// Parses an RFC 3339 date-time, or a bare date (`2026-11-01`, midnight UTC).
pub fn parse_datetime(text: &str, field: &'static str) -> Result<DateTime<Utc>, QueryError> {
    parse_local_datetime(text, field, Tz::UTC)
}

/// Parses an RFC 3339 date-time, or a bare date: the day's first instant in
/// `tz` (midnight, or the end of a gap when a clock change skips midnight).
pub fn parse_local_datetime(
    text: &str,
    field: &'static str,
    tz: Tz,
) -> Result<DateTime<Utc>, QueryError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let invalid = QueryError::InvalidDateTime { field };
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid)?;
    // Clock changes skip at most a few hours; the first local minute that
    // exists is the day's start.
    (0..24 * 60)
        .filter_map(|minute| {
            let local = day.and_hms_opt(0, 0, 0)? + Duration::minutes(minute);
            chrono::TimeZone::from_local_datetime(&tz, &local).earliest()
        })
        .next()
        .map(|t| t.with_timezone(&Utc))
        .ok_or(QueryError::InvalidDateTime { field })
}

/// Parses an IANA zone name; `None` means UTC.
pub fn parse_tz(name: Option<&str>) -> Result<Tz, QueryError> {
    match name {
        None | Some("") => Ok(Tz::UTC),
        Some(n) => Tz::from_str(n).map_err(|_| QueryError::InvalidTimeZone(n.to_owned())),
    }
}

/// Checks a page size.
pub fn page_limit(limit: Option<usize>) -> Result<usize, QueryError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(QueryError::InvalidLimit { max: MAX_PAGE }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl FromStr for Interval {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, QueryError> {
        match s {
            "minute" => Ok(Self::Minute),
            "hour" => Ok(Self::Hour),
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            _ => Err(QueryError::InvalidInterval),
        }
    }
}

impl Interval {
    /// The unit name DuckDB's and ClickHouse's `date_trunc` take.
    pub fn sql_unit(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Math {
    Total,
    UniqueUsers,
}

impl FromStr for Math {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, QueryError> {
        match s {
            "total" => Ok(Self::Total),
            "unique_users" => Ok(Self::UniqueUsers),
            _ => Err(QueryError::InvalidMath),
        }
    }
}

/// `GET /events`: newest first, keyset-paginated (`cursor`); `offset` skips rows
/// for page-numbered APIs such as Tlytics' `/view`.
#[derive(Debug, Clone)]
pub struct EventsQuery {
    pub project_id: ProjectId,
    pub limit: usize,
    pub cursor: Option<Cursor>,
    pub offset: usize,
    pub event: Option<String>,
    pub distinct_id: Option<String>,
    /// Only events of the person this distinct id belongs to, under any of its
    /// ids (through merges): one person's timeline.
    pub person: Option<String>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
}

impl EventsQuery {
    /// Every event of the project, `limit` at a time, no filter.
    pub fn all(project_id: ProjectId, limit: usize) -> Self {
        Self {
            project_id,
            limit,
            cursor: None,
            offset: 0,
            event: None,
            distinct_id: None,
            person: None,
            after: None,
            before: None,
        }
    }
}

/// One stored event as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EventRecord {
    pub uuid: Uuid,
    pub event: String,
    pub distinct_id: String,
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub url: Option<String>,
    pub path: Option<String>,
    pub referrer: Option<String>,
    pub session_id: Option<String>,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub device: Option<String>,
    pub is_bot: bool,
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventsPage {
    pub results: Vec<EventRecord>,
    pub next: Option<String>,
}

impl EventsPage {
    /// A page from an engine's rows (newest first, up to one past `limit`):
    /// the extra row only tells that there is a next page, whose cursor points
    /// after the page's last event.
    pub fn from_rows(mut results: Vec<EventRecord>, limit: usize) -> Self {
        let next = if results.len() > limit {
            results.truncate(limit);
            results.last().map(|last| {
                crate::Cursor {
                    timestamp: last.timestamp,
                    uuid: last.uuid,
                }
                .encode()
            })
        } else {
            None
        };
        Self { results, next }
    }
}

/// `GET /timeseries`. Built through [`TimeseriesQuery::new`], which checks the
/// range and plans its buckets, so an engine never sees an invalid one.
#[derive(Debug, Clone)]
pub struct TimeseriesQuery {
    pub project_id: ProjectId,
    pub event: Option<String>,
    pub range: TimeRange,
    pub math: Math,
    pub plan: BucketPlan,
    /// Count bot traffic too (left out by default).
    pub include_bots: bool,
    pub filters: crate::top::DimensionFilters,
}

impl TimeseriesQuery {
    /// The same question as a one-series trends query (without the dashboard
    /// filters, which trends do not have).
    pub fn as_trend(&self) -> crate::trends::TrendsQuery {
        use crate::trends::{SeriesRequest, TrendMath, TrendsQuery};
        TrendsQuery {
            project_id: self.project_id,
            series: vec![SeriesRequest {
                event: self.event.clone(),
                math: match self.math {
                    Math::Total => TrendMath::Total,
                    Math::UniqueUsers => TrendMath::UniquePersons,
                },
                math_property: None,
                filters: None,
                name: None,
            }],
            range: self.range,
            plan: self.plan.clone(),
            previous: None,
            filters: None,
            breakdown: None,
            cumulative: false,
            include_bots: self.include_bots,
        }
    }

    pub fn new(
        project_id: ProjectId,
        event: Option<String>,
        interval: Interval,
        range: TimeRange,
        tz: Tz,
        math: Math,
    ) -> Result<Self, QueryError> {
        Ok(Self {
            project_id,
            event,
            range,
            math,
            plan: BucketPlan::new(range, interval, tz)?,
            include_bots: false,
            filters: Default::default(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TimeseriesPoint {
    /// Bucket start in the query's time zone, RFC 3339 with offset.
    pub bucket: String,
    pub value: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Timeseries {
    pub event: Option<String>,
    pub interval: Interval,
    pub math: Math,
    pub tz: String,
    pub range: TimeRange,
    pub results: Vec<TimeseriesPoint>,
}

impl TimeseriesQuery {
    /// The answer from an engine's rows of (bucket start as µs of the naive
    /// local time, value), in any order: each lands in its bucket of the plan,
    /// buckets without a row are 0.
    pub fn answer(self, rows: impl IntoIterator<Item = (i64, u64)>) -> Timeseries {
        let mut values = vec![0u64; self.plan.starts.len()];
        for (bucket, n) in rows {
            let local = DateTime::from_timestamp_micros(bucket)
                .unwrap_or_default()
                .naive_utc();
            if let Some(v) = values.get_mut(self.plan.index_of(local)) {
                *v += n;
            }
        }
        let results = values
            .into_iter()
            .enumerate()
            .map(|(i, value)| TimeseriesPoint {
                bucket: self.plan.label(i),
                value,
            })
            .collect();
        Timeseries {
            event: self.event,
            interval: self.plan.interval,
            math: self.math,
            tz: self.plan.tz.name().to_owned(),
            range: self.range,
            results,
        }
    }
}

/// `GET /top-events`.
#[derive(Debug, Clone)]
pub struct TopEventsQuery {
    pub project_id: ProjectId,
    pub range: TimeRange,
    pub limit: usize,
    /// Count bot traffic too (left out by default).
    pub include_bots: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TopEvent {
    pub event: String,
    pub count: u64,
    pub unique_users: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopEvents {
    pub range: TimeRange,
    pub results: Vec<TopEvent>,
}

/// `GET /overview`.
#[derive(Debug, Clone)]
pub struct OverviewQuery {
    pub project_id: ProjectId,
    pub range: TimeRange,
    /// Count bot traffic too (left out by default).
    pub include_bots: bool,
    /// Only events matching these (sessions are still cut from all events).
    pub filters: crate::top::DimensionFilters,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, ToSchema)]
pub struct OverviewStats {
    pub events: u64,
    /// Distinct persons (visitors).
    pub unique_users: u64,
    pub pageviews: u64,
    /// Sessions that start in the range (cut as `/sessions` cuts them).
    pub sessions: u64,
    /// Of the sessions with a pageview, the share with exactly one pageview and
    /// no other event; `null` without such sessions.
    pub bounce_rate: Option<f64>,
    /// Mean time from a session's first to its last event; `null` without sessions.
    pub avg_session_secs: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Overview {
    pub range: TimeRange,
    pub previous_range: TimeRange,
    pub current: OverviewStats,
    pub previous: OverviewStats,
}

/// `GET /sessions`: sessions that start in `range`, newest first.
///
/// A session is either every event with one SDK-provided `$session_id`, or, for
/// events without one, a distinct id's run of events with no gap longer than
/// `inactivity`. Sessions do not end at midnight. A session that began up to
/// [`SESSION_LOOKBACK`] before the range is recognised as such (its later events
/// are not a new session).
#[derive(Debug, Clone)]
pub struct SessionsQuery {
    pub project_id: ProjectId,
    pub range: TimeRange,
    pub inactivity: Duration,
    pub limit: usize,
    pub offset: usize,
    pub include_bots: bool,
    pub sort: SessionSort,
    /// Largest (or newest) first; the default.
    pub descending: bool,
}

/// What a sessions list is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionSort {
    #[default]
    Start,
    Duration,
    Events,
    Pageviews,
}

impl FromStr for SessionSort {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, QueryError> {
        match s {
            "start" => Ok(Self::Start),
            "duration" => Ok(Self::Duration),
            "events" => Ok(Self::Events),
            "pageviews" => Ok(Self::Pageviews),
            _ => Err(QueryError::InvalidQuery(
                "`sort` must be start, duration, events or pageviews".into(),
            )),
        }
    }
}

/// How far before a query's range events are read to tell a continuing session
/// from a new one.
pub const SESSION_LOOKBACK: Duration = Duration::hours(24);

/// The inactivity that ends a derived session where a query does not choose one.
pub const DEFAULT_INACTIVITY: Duration = Duration::minutes(30);

/// The facts of one session.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SessionRecord {
    /// The SDK's `$session_id`, or `distinct_id@start` (µs) for a derived session.
    pub id: String,
    /// The distinct id of the session's first event.
    pub distinct_id: String,
    /// The person the session belongs to (through merges); absent for events
    /// stored before persons were resolved.
    pub person_id: Option<i64>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub duration_secs: f64,
    pub events: u64,
    pub pageviews: u64,
    /// Path of the first and last pageview.
    pub entry_path: Option<String>,
    pub exit_path: Option<String>,
    /// One pageview and no other interaction (`$pageleave` does not count).
    pub bounce: bool,
    /// Of the session's first event.
    pub referrer: Option<String>,
    pub channel: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub device: Option<String>,
    pub browser: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionsPage {
    pub range: TimeRange,
    pub results: Vec<SessionRecord>,
}

/// `GET /definitions`: the event names or property keys a project has sent.
#[derive(Debug, Clone)]
pub struct DefinitionsQuery {
    pub project_id: ProjectId,
    pub kind: DefinitionKind,
    /// Only names containing this text (case-insensitive).
    pub search: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DefinitionKind {
    Event,
    Property,
}

impl DefinitionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Property => "property",
        }
    }
}

impl std::str::FromStr for DefinitionKind {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, QueryError> {
        match s {
            "event" => Ok(Self::Event),
            "property" => Ok(Self::Property),
            _ => Err(QueryError::InvalidKind),
        }
    }
}

/// One event name or property key, most used first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Definition {
    pub name: String,
    /// For properties: `String`, `Numeric`, `Boolean`, `DateTime`, `Object`, `Array`.
    pub property_type: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Stored events with this name, or with this property.
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Definitions {
    pub kind: DefinitionKind,
    pub results: Vec<Definition>,
}

/// One person, looked up by any of its distinct ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonQuery {
    pub project_id: ProjectId,
    pub distinct_id: String,
}

/// A person: every distinct id that belongs to it and its current properties.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PersonRecord {
    pub id: i64,
    /// Sorted.
    pub distinct_ids: Vec<String>,
    /// An `$identify` named one of its ids as a logged-in user.
    pub is_identified: bool,
    /// Of its earliest and latest event, by event time.
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn bare_dates_are_the_first_instant_of_the_day_in_the_zone() {
        let now = DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
            .unwrap()
            .to_utc();
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let bound = |text, tz| parse_bound(text, "date_from", now, tz).unwrap();
        assert_eq!(bound("2026-11-01", berlin), utc("2026-10-31T23:00:00Z"));
        assert_eq!(bound("2026-07-01", berlin), utc("2026-06-30T22:00:00Z"));
        assert_eq!(bound("2026-11-01", Tz::UTC), utc("2026-11-01T00:00:00Z"));
        // São Paulo's clocks went from 00:00 to 01:00 on 2018-11-04: the day
        // began at 01:00 local (UTC-2).
        let sao_paulo: Tz = "America/Sao_Paulo".parse().unwrap();
        assert_eq!(bound("2018-11-04", sao_paulo), utc("2018-11-04T03:00:00Z"));
        // An offset given is kept; relative bounds do not depend on the zone.
        assert_eq!(
            bound("2026-11-01T00:00:00+05:00", berlin),
            utc("2026-10-31T19:00:00Z")
        );
        assert_eq!(bound("-1d", berlin), utc("2026-11-19T00:00:00Z"));
    }

    #[test]
    fn range_bounds_may_be_relative_to_now() {
        let now = Utc.with_ymd_and_hms(2026, 3, 31, 15, 30, 0).unwrap();
        let bound = |text| parse_bound(text, "date_from", now, Tz::UTC);
        assert_eq!(bound("now").unwrap(), now);
        assert_eq!(
            bound("-24h").unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 30, 15, 30, 0).unwrap()
        );
        assert_eq!(
            bound("-7d").unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 24, 15, 30, 0).unwrap()
        );
        assert_eq!(
            bound("-2w").unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 17, 15, 30, 0).unwrap()
        );
        // Calendar months: 31 March less one month is the last day of February.
        assert_eq!(
            bound("-1m").unwrap(),
            Utc.with_ymd_and_hms(2026, 2, 28, 15, 30, 0).unwrap()
        );
        assert_eq!(
            bound("2026-01-02").unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap()
        );
        for bad in [
            "-",
            "-d",
            "-7",
            "-7x",
            "-1.5d",
            "--7d",
            "-99999d",
            "-7dd",
            "yesterday",
        ] {
            assert!(
                matches!(
                    bound(bad),
                    Err(QueryError::InvalidDateTime { field: "date_from" })
                ),
                "{bad} should be refused"
            );
        }
        let range =
            TimeRange::resolve(Some("-7d"), Some("now"), now, Duration::days(1), Tz::UTC).unwrap();
        assert_eq!(range.to - range.from, Duration::days(7));
    }
}
