//! Instants and ranges written as RFC 3339 text, for unit tests.

use crate::types::TimeRange;
use chrono::{DateTime, Utc};

pub(crate) fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(crate) fn range(a: &str, b: &str) -> TimeRange {
    TimeRange {
        from: utc(a),
        to: utc(b),
    }
}
