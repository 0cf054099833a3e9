//! Capture decoders: bytes from the wire → [`tally_core::RawEvent`]s, with the body
//! size limit enforced on the decompressed size. Each wire format is one module;
//! all of them hand the same `RawEvent` to validation.

pub mod body;
#[doc(hidden)]
pub mod fuzzing;
mod json;
pub mod native;
pub mod posthog;
pub mod segment;
mod skew;
pub mod tlytics;

pub use body::{decode_body, ContentEncoding};
pub use native::{parse_native, NativePayload};
pub use posthog::{parse_posthog, PosthogPayload, RequestParts, TokenSource};
pub use segment::{parse_segment, route_type, SegmentPayload};
pub use tlytics::{is_tlytics_batch, parse_tlytics, TlyticsPayload};

use thiserror::Error;

/// Why a whole request body could not be read. Per-event problems are
/// [`tally_core::EventError`]s instead, so one bad event never sinks a batch.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("request body is over the {max} byte limit")]
    BodyTooLarge { max: usize },
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the request body could not be read: {0}")]
    Unreadable(String),
    #[error("request body is empty")]
    EmptyBody,
    #[error("`batch` must be a non-empty array of events")]
    EmptyBatch,
    #[error("`batch` must be an array")]
    BatchNotArray,
    #[error("request body must be a JSON object or array")]
    NotAnObject,
    #[error("could not decompress the request body: {0}")]
    BadCompression(String),
    #[error("unsupported content encoding `{0}`")]
    UnsupportedEncoding(String),
}

impl DecodeError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::InvalidJson(_) => "invalid_json",
            Self::Unreadable(_) => "unreadable_body",
            Self::EmptyBody => "empty_body",
            Self::EmptyBatch => "empty_batch",
            Self::BatchNotArray => "invalid_batch",
            Self::NotAnObject => "invalid_body",
            Self::BadCompression(_) => "invalid_compression",
            Self::UnsupportedEncoding(_) => "unsupported_encoding",
        }
    }
}
