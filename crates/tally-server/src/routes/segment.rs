//! Segment-compatible capture (`/v1/{track,identify,page,screen,group,alias,batch,import}`
//! and the short forms `/v1/{t,i,p,s,g,a,b}`), so Segment and RudderStack SDKs
//! send to Tally by changing their host, with a Tally ingest key as write key.
//!
//! The write key comes from the body (`writeKey`), else HTTP Basic (`key:`), else
//! `X-API-Key` / `Authorization: Bearer`. Answers 200 `{"success": true, "accepted",
//! "rejected"}`; errors as native capture, plus 401 `mixed_tokens`.

use crate::auth::{ingest_project, ingest_project_from_headers};
use crate::client_ip::ClientAddr;
use crate::error::ApiError;
use crate::routes::capture::{accept, read_body};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};
use tally_ingest::{decode_body, parse_segment, route_type};

const BATCH_ROUTES: &[&str] = &["batch", "b", "import"];

pub async fn capture(
    State(state): State<AppState>,
    Path(route): Path<String>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let implied = route_type(&route);
    if implied.is_none() && !BATCH_ROUTES.contains(&route.as_str()) {
        return Err(ApiError::NotFound);
    }
    let body = read_body(&state, &headers, client, body).await?;
    let max = state.limits.max_body_bytes;
    let plain = decode_body(&body.raw, body.encoding, max)?;
    let payload = parse_segment(&plain, implied, state.clock.now())?;
    drop(plain);
    if payload.mixed_keys {
        return Err(ApiError::MixedTokens);
    }
    let key = payload.write_key.or_else(|| basic_auth_user(&headers));
    let project_id = match key {
        Some(key) => ingest_project(&state, key.trim()).await?,
        None => ingest_project_from_headers(&state, &headers).await?,
    };
    let reply = accept(&state, project_id, payload.is_batch, payload.events, body).await?;
    Ok(Json(json!({
        "success": true,
        "accepted": reply.accepted,
        "rejected": reply.rejected,
    })))
}

/// The user of `Authorization: Basic base64(user:password)`: Segment SDKs send the
/// write key as the user with an empty password.
fn basic_auth_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
    (!user.is_empty()).then(|| user.to_owned())
}
