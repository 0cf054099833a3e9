//! Helpers for the tests of this crate and of the engine crates (through the
//! `conformance` feature): instants and ranges written as RFC 3339 text, and a
//! plain funnel.

use crate::funnel::{FunnelQuery, StepOrder, StepRequest};
use crate::types::TimeRange;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn range(a: &str, b: &str) -> TimeRange {
    TimeRange {
        from: utc(a),
        to: utc(b),
    }
}

/// A funnel of `steps` over the first 1,000 s of 1970, no persons list
/// (tests adjust the fields they need).
pub fn funnel_query(steps: &[&str], order: StepOrder, window_secs: i64) -> FunnelQuery {
    FunnelQuery {
        project_id: 1,
        steps: steps
            .iter()
            .map(|e| StepRequest {
                event: (*e).into(),
                filters: None,
                name: None,
            })
            .collect(),
        range: TimeRange {
            from: DateTime::from_timestamp(0, 0).unwrap(),
            to: DateTime::from_timestamp(1_000, 0).unwrap(),
        },
        tz: Tz::UTC,
        window: Duration::seconds(window_secs),
        order,
        filters: None,
        include_bots: false,
        persons: None,
        breakdown: None,
    }
}
