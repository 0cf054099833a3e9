//! `POST /api/v1/capture`: authenticate, read the body within limits, validate each
//! event, hand the valid ones to the sink and answer once they are durable.
//! A batch keeps its valid events and reports the invalid ones by index.

use crate::auth::authenticate;
use crate::error::{ApiError, ErrorBody, Rejection};
use crate::openapi::{CaptureBody, ErrorResponse};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use tally_core::{SinkError, Validator};
use tally_ingest::{decode_body, parse_native, ContentEncoding, DecodeError};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct CaptureReply {
    pub accepted: usize,
    pub rejected: Vec<Rejection>,
}

/// Stores events; answers once the accepted ones are durable.
#[utoipa::path(post, path = "/api/v1/capture", tag = "capture",
    request_body(content = CaptureBody, description = "One event, `{\"batch\": [...]}`, or an array of events; gzip allowed"),
    responses(
        (status = 200, description = "Valid events stored; invalid ones listed", body = CaptureReply),
        (status = 400, description = "Unreadable body, invalid single event, or no valid event", body = ErrorResponse),
        (status = 401, description = "Missing or invalid key", body = ErrorResponse),
        (status = 413, description = "Event over 1 MiB or body over 20 MiB", body = ErrorResponse),
        (status = 415, description = "Unsupported Content-Encoding", body = ErrorResponse),
        (status = 503, description = "Overloaded or store unavailable; see Retry-After", body = ErrorResponse),
    ),
    security(("ingest_key" = []), ("admin_key" = [])))]
pub async fn capture(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CaptureReply>, ApiError> {
    let grant = authenticate(&state, &headers).await?;
    let max = state.limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(DecodeError::BodyTooLarge { max }.into());
    }
    // Reserve memory for the body before reading it: a body of unknown length may
    // grow to the limit, and decompression may inflate it to the limit too.
    let reserve = declared.map_or(max, |n| (n * 2).min(max));
    let body_permit = state
        .body_budget
        .try_reserve(reserve)
        .ok_or(SinkError::Overloaded {
            retry_after_secs: 1,
        })?;
    let encoding = ContentEncoding::from_header(
        headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    )?;
    let raw = Limited::new(body, max)
        .collect()
        .await
        .map_err(|e| match e.downcast_ref::<LengthLimitError>() {
            Some(_) => DecodeError::BodyTooLarge { max },
            None => DecodeError::Unreadable(e.to_string()),
        })?
        .to_bytes();
    let plain = decode_body(&raw, encoding, max)?;
    let payload = parse_native(&plain)?;

    let validator = Validator {
        limits: &state.limits,
        clock: state.clock.as_ref(),
    };
    let mut events = Vec::with_capacity(payload.events.len());
    let mut rejected = Vec::new();
    for (index, raw) in payload.events.into_iter().enumerate() {
        match raw.and_then(|r| validator.validate(grant.project_id, r)) {
            Ok(event) => events.push(event),
            Err(err) if !payload.is_batch => return Err(ApiError::Event(err)),
            Err(err) => rejected.push(Rejection {
                index,
                error: ErrorBody::from(&err),
            }),
        }
    }
    if events.is_empty() {
        return Err(ApiError::AllRejected(rejected));
    }
    if !rejected.is_empty() {
        tracing::info!(
            project_id = grant.project_id,
            rejected = rejected.len(),
            "events rejected in batch"
        );
    }
    // The body is parsed and validated; from here the sink's own budget counts it.
    drop(plain);
    drop(raw);
    drop(body_permit);
    let receipt = state.sink.send(events).await?;
    Ok(Json(CaptureReply {
        accepted: receipt.accepted,
        rejected,
    }))
}
