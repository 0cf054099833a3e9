//! Time buckets in a named time zone, DST included.
//!
//! DuckDB is built without ICU here (the crates.io build cannot bundle it), so the
//! database only sees UTC. A [`BucketPlan`] precomputes, in Rust with chrono-tz, the
//! UTC offset in force over each stretch of the range ([`OffsetSegment`]s: one per
//! DST change, so usually one or two); the SQL adds the right offset per row and
//! truncates in local time. The plan also lists every bucket start so gaps are
//! filled with zeros, and renders bucket starts as RFC 3339 with their own offset.

use crate::error::QueryError;
use crate::types::{Interval, TimeRange};
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// The most buckets one time series may have.
pub const MAX_BUCKETS: usize = 10_000;

/// From `starts_at` on (until the next segment), local time = UTC + `offset_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetSegment {
    pub starts_at: DateTime<Utc>,
    pub offset_secs: i64,
}

#[derive(Debug, Clone)]
pub struct BucketPlan {
    pub interval: Interval,
    pub tz: Tz,
    /// Local bucket starts, ascending.
    pub starts: Vec<NaiveDateTime>,
    /// Offsets over the range, ascending; the first starts at the range's start.
    pub segments: Vec<OffsetSegment>,
}

impl BucketPlan {
    pub fn new(range: TimeRange, interval: Interval, tz: Tz) -> Result<Self, QueryError> {
        let first = truncate(local(tz, range.from), interval);
        let last = truncate(local(tz, range.to - Duration::microseconds(1)), interval);
        let mut starts = Vec::new();
        let mut b = first;
        while b <= last {
            if starts.len() == MAX_BUCKETS {
                let estimate = estimate_buckets(first, last, interval);
                return Err(QueryError::TooManyBuckets {
                    buckets: estimate,
                    max: MAX_BUCKETS,
                });
            }
            // A local hour skipped by a spring-forward change holds no events.
            if tz.from_local_datetime(&b).earliest().is_some() {
                starts.push(b);
            }
            b = step(b, interval);
        }
        Ok(Self {
            interval,
            tz,
            starts,
            segments: offset_segments(tz, range),
        })
    }

    /// The bucket a local timestamp (already truncated or not) falls in.
    pub fn index_of(&self, local_time: NaiveDateTime) -> usize {
        self.starts
            .partition_point(|s| *s <= local_time)
            .saturating_sub(1)
    }

    /// The bucket that starts exactly at this local time, if any.
    pub fn index_of_start(&self, local_start: NaiveDateTime) -> Option<usize> {
        self.starts.binary_search(&local_start).ok()
    }

    /// A bucket start as RFC 3339 with the zone's offset at that moment.
    pub fn label(&self, index: usize) -> String {
        let naive = self.starts[index];
        match self.tz.from_local_datetime(&naive).earliest() {
            Some(t) => t.to_rfc3339(),
            None => naive.and_utc().to_rfc3339(),
        }
    }
}

/// The `n` whole periods of `interval` in `tz` that end with the one holding
/// the instant just before `to`: from the local start of the first to the local
/// start of the period after the last, as a UTC range. Retention, stickiness and
/// lifecycle count whole periods, never a partial first one.
pub fn whole_periods(
    to: DateTime<Utc>,
    interval: Interval,
    tz: Tz,
    n: usize,
) -> Result<TimeRange, QueryError> {
    let last = truncate(local(tz, to - Duration::microseconds(1)), interval);
    let back = u32::try_from(n.saturating_sub(1)).unwrap_or(u32::MAX);
    let first = match interval {
        Interval::Minute => last.checked_sub_signed(Duration::minutes(back.into())),
        Interval::Hour => last.checked_sub_signed(Duration::hours(back.into())),
        Interval::Day => last.checked_sub_signed(Duration::days(back.into())),
        Interval::Week => last.checked_sub_signed(Duration::weeks(back.into())),
        Interval::Month => last.checked_sub_months(chrono::Months::new(back)),
    }
    .ok_or(QueryError::EmptyRange)?;
    Ok(TimeRange {
        from: utc_of_local(tz, first),
        to: utc_of_local(tz, step(last, interval)),
    })
}

/// The instant a local time names; a local time skipped by a DST change maps to
/// the moment the clocks jumped (the first instant after the gap).
pub(crate) fn utc_of_local(tz: Tz, t: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = t;
    for _ in 0..180 {
        if let Some(at) = tz.from_local_datetime(&probe).earliest() {
            return at.with_timezone(&Utc);
        }
        probe += Duration::minutes(1);
    }
    t.and_utc()
}

fn local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

fn offset_at(tz: Tz, t: DateTime<Utc>) -> i64 {
    i64::from(
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

/// Scans the range in 6-hour steps (zones never change offset twice within 6 h)
/// and pins each change to the second by bisection.
fn offset_segments(tz: Tz, range: TimeRange) -> Vec<OffsetSegment> {
    let mut segments = vec![OffsetSegment {
        starts_at: range.from,
        offset_secs: offset_at(tz, range.from),
    }];
    let step = Duration::hours(6);
    let mut prev = range.from;
    while prev < range.to {
        let next = (prev + step).min(range.to);
        let current = segments.last().expect("one segment").offset_secs;
        if offset_at(tz, next) != current {
            let (mut lo, mut hi) = (prev, next);
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if offset_at(tz, mid) == current {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let hi = hi.with_nanosecond(0).unwrap_or(hi);
            segments.push(OffsetSegment {
                starts_at: hi,
                offset_secs: offset_at(tz, hi),
            });
        }
        prev = next;
    }
    segments
}

fn truncate(t: NaiveDateTime, interval: Interval) -> NaiveDateTime {
    let day = t.date();
    let midnight = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight");
    match interval {
        Interval::Minute => day.and_hms_opt(t.hour(), t.minute(), 0).expect("minute"),
        Interval::Hour => day.and_hms_opt(t.hour(), 0, 0).expect("hour"),
        Interval::Day => midnight(day),
        Interval::Week => {
            midnight(day - Duration::days(i64::from(day.weekday().num_days_from_monday())))
        }
        Interval::Month => midnight(day.with_day(1).expect("first of month")),
    }
}

fn step(t: NaiveDateTime, interval: Interval) -> NaiveDateTime {
    match interval {
        Interval::Minute => t + Duration::minutes(1),
        Interval::Hour => t + Duration::hours(1),
        Interval::Day => t + Duration::days(1),
        Interval::Week => t + Duration::weeks(1),
        Interval::Month => t
            .checked_add_months(chrono::Months::new(1))
            .expect("date in range"),
    }
}

fn estimate_buckets(first: NaiveDateTime, last: NaiveDateTime, interval: Interval) -> usize {
    let span = last - first;
    let n = match interval {
        Interval::Minute => span.num_minutes(),
        Interval::Hour => span.num_hours(),
        Interval::Day => span.num_days(),
        Interval::Week => span.num_weeks(),
        Interval::Month => span.num_days() / 28,
    };
    usize::try_from(n + 1).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{range, utc};

    #[test]
    fn whole_periods_end_with_the_period_holding_to() {
        // 2026-11-04 is a Wednesday; three weeks in Berlin (UTC+1 in November)
        // are the Mondays 19 Oct (still summer time, UTC+2) .. 2 Nov, to 9 Nov.
        let r = whole_periods(
            utc("2026-11-04T12:00:00Z"),
            Interval::Week,
            Tz::Europe__Berlin,
            3,
        )
        .unwrap();
        assert_eq!(r.from, utc("2026-10-18T22:00:00Z"));
        assert_eq!(r.to, utc("2026-11-08T23:00:00Z"));
        // `to` exactly on a period start belongs to the period before.
        let r = whole_periods(utc("2026-03-01T00:00:00Z"), Interval::Month, Tz::UTC, 2).unwrap();
        assert_eq!(r.from, utc("2026-01-01T00:00:00Z"));
        assert_eq!(r.to, utc("2026-03-01T00:00:00Z"));
    }

    #[test]
    fn utc_days_are_plain() {
        let p = BucketPlan::new(
            range("2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z"),
            Interval::Day,
            Tz::UTC,
        )
        .unwrap();
        let labels: Vec<_> = (0..p.starts.len()).map(|i| p.label(i)).collect();
        assert_eq!(
            labels,
            [
                "2026-11-01T00:00:00+00:00",
                "2026-11-02T00:00:00+00:00",
                "2026-11-03T00:00:00+00:00"
            ]
        );
        assert_eq!(p.segments.len(), 1);
    }

    #[test]
    fn a_dst_change_splits_the_offsets_and_labels_follow_it() {
        // Europe/Berlin leaves summer time at 2026-10-25 01:00 UTC.
        let p = BucketPlan::new(
            range("2026-10-23T22:00:00Z", "2026-10-26T23:00:00Z"),
            Interval::Day,
            chrono_tz::Europe::Berlin,
        )
        .unwrap();
        assert_eq!(p.segments.len(), 2);
        assert_eq!(p.segments[0].offset_secs, 7200);
        assert_eq!(
            p.segments[1],
            OffsetSegment {
                starts_at: utc("2026-10-25T01:00:00Z"),
                offset_secs: 3600
            }
        );
        let labels: Vec<_> = (0..p.starts.len()).map(|i| p.label(i)).collect();
        assert_eq!(
            labels,
            [
                "2026-10-24T00:00:00+02:00",
                "2026-10-25T00:00:00+02:00",
                "2026-10-26T00:00:00+01:00",
            ]
        );
    }

    #[test]
    fn spring_forward_skips_the_missing_hour() {
        // America/New_York: 2026-03-08 02:00 local does not exist.
        let p = BucketPlan::new(
            range("2026-03-08T06:00:00Z", "2026-03-08T09:00:00Z"),
            Interval::Hour,
            chrono_tz::America::New_York,
        )
        .unwrap();
        let labels: Vec<_> = (0..p.starts.len()).map(|i| p.label(i)).collect();
        assert_eq!(
            labels,
            [
                "2026-03-08T01:00:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-08T04:00:00-04:00"
            ]
        );
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let w = BucketPlan::new(
            range("2026-11-05T00:00:00Z", "2026-11-12T00:00:00Z"),
            Interval::Week,
            Tz::UTC,
        )
        .unwrap();
        assert_eq!(w.label(0), "2026-11-02T00:00:00+00:00");
        assert_eq!(w.starts.len(), 2);
        let m = BucketPlan::new(
            range("2026-01-31T00:00:00Z", "2026-03-02T00:00:00Z"),
            Interval::Month,
            Tz::UTC,
        )
        .unwrap();
        assert_eq!(m.starts.len(), 3);
        assert_eq!(m.label(1), "2026-02-01T00:00:00+00:00");
    }

    #[test]
    fn index_of_finds_the_enclosing_bucket() {
        let p = BucketPlan::new(
            range("2026-11-01T00:00:00Z", "2026-11-04T00:00:00Z"),
            Interval::Day,
            Tz::UTC,
        )
        .unwrap();
        let t = utc("2026-11-02T13:00:00Z").naive_utc();
        assert_eq!(p.index_of(t), 1);
    }

    #[test]
    fn too_many_buckets_is_refused() {
        let err = BucketPlan::new(
            range("2020-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            Interval::Hour,
            Tz::UTC,
        )
        .unwrap_err();
        assert_eq!(err.code(), "range_too_large");
    }
}
