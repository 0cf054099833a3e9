//! Tlytics-compatible routes: `POST /events`, `POST /batch` with `{"events": [...]}`
//! (PostHog's `/batch` hands such bodies here), and `GET /view`.
//!
//! Tlytics clients send no key. These routes write to, and `/view` reads from, the
//! one project the operator names in `tlytics_project` (config file,
//! `TALLY_TLYTICS_PROJECT` or `--tlytics-project`); until then they answer 401
//! `tlytics_not_configured` saying so. Naming a project opens its events to anyone
//! who can reach these routes, as Tlytics itself did: give Tlytics clients a
//! project of their own.

use crate::client_ip::ClientAddr;
use crate::error::ApiError;
use crate::routes::capture::{accept, read_body, ReadBody};
use crate::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::SecondsFormat;
use serde::Deserialize;
use serde_json::{json, Value};
use tally_core::ProjectId;
use tally_ingest::{decode_body, parse_tlytics, TlyticsPayload};
use tally_query::EventsQuery;

/// The most events one `/view` page may hold.
const MAX_PAGE_SIZE: u64 = 1000;
const DEFAULT_PAGE_SIZE: u64 = 50;

fn project(state: &AppState) -> Result<ProjectId, ApiError> {
    state.tlytics_project.ok_or(ApiError::TlyticsNotConfigured)
}

/// `POST /events`: an array of `{key, timestamp, data}` (or `{"events": [...]}`).
pub async fn events(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let project_id = project(&state)?;
    let body = read_body(&state, &headers, client, body).await?;
    let plain = decode_body(&body.raw, body.encoding, state.limits.max_body_bytes)?;
    let payload = parse_tlytics(&plain, state.clock.now())?;
    drop(plain);
    store(&state, project_id, payload, body).await
}

/// Stores a decoded Tlytics body; used by `/events` and by `/batch` once it has
/// recognised Tlytics' shape.
pub async fn store(
    state: &AppState,
    project_id: ProjectId,
    payload: TlyticsPayload,
    body: ReadBody,
) -> Result<Json<Value>, ApiError> {
    let reply = accept(state, project_id, payload.is_batch, payload.events, body).await?;
    Ok(Json(json!({
        "status": "ok",
        "accepted": reply.accepted,
        "rejected": reply.rejected,
    })))
}

#[derive(Debug, Deserialize)]
pub struct ViewParams {
    page: Option<u64>,
    page_size: Option<u64>,
}

/// `GET /view?page=&page_size=`: the project's events, newest first, numbered
/// pages from 1, with the total count.
pub async fn view(
    State(state): State<AppState>,
    query: Result<Query<ViewParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let project_id = project(&state)?;
    let Query(p) = query.map_err(|e| ApiError::BadParameter(e.body_text()))?;
    let page = p.page.unwrap_or(1);
    let page_size = p.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if page == 0 {
        return Err(ApiError::BadParameter("page starts at 1".into()));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(ApiError::BadParameter(format!(
            "page_size must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    let offset = (page - 1).saturating_mul(page_size);
    let q = EventsQuery {
        offset: usize::try_from(offset).unwrap_or(usize::MAX),
        ..EventsQuery::all(project_id, page_size as usize)
    };
    let engine = state.query_after_writes().await;
    let total = engine.count_events(q.clone()).await?;
    let results = if offset < total {
        engine.events(q).await?.results
    } else {
        Vec::new()
    };
    let events: Vec<Value> = results
        .into_iter()
        .map(|mut e| {
            // `data` as the client sent it: the address hash is Tally's, not theirs.
            e.properties.remove("$ip_hash");
            json!({
                "id": e.uuid,
                "key": e.event,
                "timestamp": e.timestamp.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                "data": e.properties,
                "distinct_id": e.distinct_id,
            })
        })
        .collect();
    Ok(Json(json!({
        "events": events,
        "total": total,
        "page": page,
        "page_size": page_size,
        "total_pages": total.div_ceil(page_size),
    })))
}
