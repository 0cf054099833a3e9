//! Errors shared across layers. Each carries a stable machine-readable `code`; the
//! mapping to HTTP statuses lives in one place, in tally-server.

use thiserror::Error;

/// Why one event was rejected. Rejections are per event: the rest of a batch is kept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventError {
    #[error("`{field}` is required")]
    MissingField { field: &'static str },
    #[error("`{field}` must not be empty")]
    EmptyField { field: &'static str },
    #[error("`{field}` must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("`{field}` is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("`uuid` is not a valid UUID: {0}")]
    InvalidUuid(String),
    #[error("`timestamp` is not an RFC 3339 date-time: {0}")]
    InvalidTimestamp(String),
    #[error("`timestamp` is more than {max_skew_secs} s in the future")]
    TimestampInFuture { max_skew_secs: i64 },
    #[error("`timestamp` is before 2000-01-01, which usually means seconds were sent as milliseconds or the reverse")]
    TimestampTooOld,
    #[error("event is {size} bytes, over the {max} byte limit")]
    EventTooLarge { size: usize, max: usize },
    #[error("event must be a JSON object")]
    NotAnObject,
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    #[error("event cannot be read as JSON: {0}")]
    InvalidJson(String),
}

impl EventError {
    /// Stable error code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingField { .. } => "missing_field",
            Self::EmptyField { .. } => "empty_field",
            Self::WrongType { .. } => "invalid_type",
            Self::TooLong { .. } => "field_too_long",
            Self::InvalidUuid(_) => "invalid_uuid",
            Self::InvalidTimestamp(_) => "invalid_timestamp",
            Self::TimestampInFuture { .. } => "timestamp_in_future",
            Self::TimestampTooOld => "timestamp_too_old",
            Self::EventTooLarge { .. } => "event_too_large",
            Self::NotAnObject => "invalid_event",
            Self::UnknownType(_) => "unknown_type",
            Self::InvalidJson(_) => "invalid_json",
        }
    }
}

/// Errors from an [`crate::EventStore`] or a query engine.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Internal(String),
}

/// Errors from an [`crate::EventSink`].
#[derive(Debug, Error)]
pub enum SinkError {
    /// The writer is behind; the caller should retry later. Nothing was accepted.
    #[error("the event writer is behind; retry after {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    /// The events were not made durable. Nothing was accepted.
    #[error("events could not be stored: {0}")]
    Store(#[from] StoreError),
    #[error("the event writer has stopped")]
    Closed,
}

/// Errors from a [`crate::MetadataStore`].
#[derive(Debug, Error)]
pub enum MetaError {
    #[error("not found")]
    NotFound,
    /// A unique value (an email, say) is taken, or a one-time step is done.
    #[error("{0}")]
    Conflict(String),
    /// A request the store refuses as it stands (a dashboard tile that is not
    /// an insight of the project, say).
    #[error("{0}")]
    Invalid(String),
    /// The store cannot be reached right now (its server is down, or no
    /// connection came free in time): worth retrying.
    #[error("metadata store unavailable: {0}")]
    Unavailable(String),
    #[error("metadata store error: {0}")]
    Internal(String),
}
