//! Errors in a query request, each with a stable code; all map to HTTP 400.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("`interval` must be one of hour, day, week, month (or minute, in trends queries)")]
    InvalidInterval,
    #[error("`math` must be total or unique_users")]
    InvalidMath,
    #[error("`tz` is not a known IANA time zone: {0}")]
    InvalidTimeZone(String),
    #[error("`{field}` is not an RFC 3339 date-time")]
    InvalidDateTime { field: &'static str },
    #[error("`from` must be before `to`")]
    EmptyRange,
    #[error("the range has {buckets} buckets, over the limit of {max}; use a longer interval")]
    TooManyBuckets { buckets: usize, max: usize },
    #[error("`cursor` is not a cursor this server issued")]
    InvalidCursor,
    #[error("`limit` must be between 1 and {max}")]
    InvalidLimit { max: usize },
    #[error("`kind` must be event or property")]
    InvalidKind,
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    #[error("invalid query: {0}")]
    InvalidQuery(String),
}

impl QueryError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInterval => "invalid_interval",
            Self::InvalidMath => "invalid_math",
            Self::InvalidTimeZone(_) => "invalid_tz",
            Self::InvalidDateTime { .. } => "invalid_datetime",
            Self::EmptyRange => "invalid_range",
            Self::TooManyBuckets { .. } => "range_too_large",
            Self::InvalidCursor => "invalid_cursor",
            Self::InvalidLimit { .. } => "invalid_limit",
            Self::InvalidKind => "invalid_kind",
            Self::InvalidFilter(_) => "invalid_filter",
            Self::InvalidQuery(_) => "invalid_query",
        }
    }
}
