//! `POST /api/v1/capture`: authenticate, read the body within limits, validate each
//! event, hand the valid ones to the sink and answer once they are durable.
//! A batch keeps its valid events and reports the invalid ones by index.

use crate::auth::{ingest_project, ingest_project_from_headers, presented_key};
use crate::client_ip::ClientAddr;
use crate::error::{ApiError, ErrorBody, Rejection};
use crate::openapi::{CaptureBody, ErrorResponse};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use tally_core::ProjectSwitches;
use tally_core::{EventError, ProjectId, RawEvent, SinkError, Validator};
use tally_ingest::{decode_body, parse_native, ContentEncoding, DecodeError};
use tally_pipeline::enrich::geo;
use tokio::sync::OwnedSemaphorePermit;
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
        (status = 429, description = "The project is over its capture rate limit; see Retry-After", body = ErrorResponse),
        (status = 503, description = "Overloaded or store unavailable; see Retry-After", body = ErrorResponse),
    ),
    security(("ingest_key" = [])))]
pub async fn capture(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CaptureReply>, ApiError> {
    let body = read_body(&state, &headers, client, body).await?;
    let plain = decode_body(&body.raw, body.encoding, state.limits.max_body_bytes)?;
    let payload = parse_native(&plain, state.clock.now())?;
    drop(plain);
    // The header's key, else the batch's `api_key` (browsers sending without
    // custom headers, so without a CORS preflight).
    let project_id = match (presented_key(&headers), payload.api_key.as_deref()) {
        (None, Some(key)) => ingest_project(&state, key.trim()).await?,
        _ => ingest_project_from_headers(&state, &headers).await?,
    };
    let reply = accept(&state, project_id, payload.is_batch, payload.events, body).await?;
    Ok(Json(reply))
}

/// A request body read within the limits, holding its share of the body budget.
pub struct ReadBody {
    pub raw: Bytes,
    pub encoding: ContentEncoding,
    /// Where the request came from; only its hash is kept.
    pub client: Option<IpAddr>,
    /// The page's origin, when a browser sent it.
    pub origin: Option<String>,
    _permit: OwnedSemaphorePermit,
}

/// Reads a capture body: refuses one over the size limit, and reserves memory for
/// it before reading a byte (503 when the budget is spent).
pub async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    ClientAddr(client): ClientAddr,
    body: Body,
) -> Result<ReadBody, ApiError> {
    let max = state.limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(DecodeError::BodyTooLarge { max }.into());
    }
    // A body of unknown length may grow to the limit, and decompression may
    // inflate it to the limit too.
    let reserve = declared.map_or(max, |n| (n * 2).min(max));
    let permit = state
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
    let origin = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(ReadBody {
        raw,
        encoding,
        client,
        origin,
        _permit: permit,
    })
}

/// The address an event is about: a server SDK's `$ip` for its end user, else
/// the request's client; none when the event says `$geoip_disable` (server SDKs
/// whose request address is their own server's).
fn event_ip(raw: &RawEvent, client: Option<IpAddr>) -> Option<IpAddr> {
    let props = raw.properties.as_ref();
    if props.is_some_and(|p| p.is_true("$geoip_disable")) {
        return None;
    }
    props
        .and_then(|p| p.get_str("$ip"))
        .and_then(|s| s.trim().parse().ok())
        .or(client)
}

/// Validates decoded events for `project_id`, hands the valid ones to the sink and
/// answers once they are durable. A single invalid event is the request's error; in
/// a batch, invalid events are listed and the valid ones kept.
pub async fn accept(
    state: &AppState,
    project_id: ProjectId,
    is_batch: bool,
    decoded: Vec<Result<RawEvent, EventError>>,
    body: ReadBody,
) -> Result<CaptureReply, ApiError> {
    // A project that lists its sites takes browser capture from those only, so
    // another site cannot spend its key (servers and apps send no Origin).
    if !state
        .settings
        .origin_allowed(project_id, body.origin.as_deref())
    {
        return Err(ApiError::OriginNotAllowed);
    }
    let validator = Validator {
        limits: &state.limits,
        clock: state.clock.as_ref(),
    };
    let mut events = Vec::with_capacity(decoded.len());
    let mut rejected = Vec::new();
    let today = state.clock.now().date_naive();
    // A project that switched IP use off gets neither a location nor a hash.
    let use_ip = state.settings.pipeline_settings(project_id).use_ip;
    // A request's events mostly share one address: hash and locate each once.
    let mut addresses: HashMap<IpAddr, (String, Option<geo::Location>)> = HashMap::new();
    for (index, raw) in decoded.into_iter().enumerate() {
        // Read before validation, which drops `$ip` so it is never stored.
        let ip = raw
            .as_ref()
            .ok()
            .filter(|_| use_ip)
            .and_then(|r| event_ip(r, body.client));
        match raw.and_then(|r| validator.validate(project_id, r)) {
            Ok(mut event) => {
                // Only Tally writes `$ip_hash`; a value a client sent is dropped.
                event.properties.remove("$ip_hash");
                if let Some(ip) = ip {
                    // Located, then hashed: the raw address goes no further.
                    let (hash, location) = addresses.entry(ip).or_insert_with(|| {
                        let location = state.geoip.as_ref().map(|g| g.lookup(ip));
                        (state.ip_hasher.hash(ip, today), location)
                    });
                    if let Some(location) = location {
                        geo::apply(location, &mut event.properties);
                    }
                    event.properties.insert_str("$ip_hash", hash);
                }
                events.push(event)
            }
            Err(err) if !is_batch => return Err(ApiError::Event(err)),
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
            project_id,
            rejected = rejected.len(),
            "events rejected in batch"
        );
    }
    state
        .capture_limit
        .check(project_id, events.len())
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    // The body's reservation is held until the sink has taken the events: a
    // request waiting for room in the sink's budget still counts against the
    // body budget, so waiting requests cannot pile up without bound.
    let receipt = state.sink.send(events).await?;
    drop(body);
    Ok(CaptureReply {
        accepted: receipt.accepted,
        rejected,
    })
}
