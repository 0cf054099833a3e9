//! PostHog-compatible capture: the routes PostHog SDKs post to, plus the flag and
//! config routes they call at start-up, so an app switches to Tally by changing
//! its `api_host` and using a Tally ingest key as the project token.
//!
//! The token is read from the body (see `tally_ingest::posthog`); a request with
//! no token in its body may use `X-API-Key` / `Authorization: Bearer` instead.
//! Answers: 200 `{"status": 1, "accepted", "rejected"}`; 400 undecodable or missing
//! fields; 401 missing, unknown or mixed tokens; 413 too big; 503 retryable.
//! A `/batch` body shaped `{"events": [...]}` is Tlytics', handed to `tlytics`.

use crate::auth::{ingest_project, ingest_project_from_headers};
use crate::client_ip::ClientAddr;
use crate::error::ApiError;
use crate::routes::capture::{accept, read_body};
use crate::routes::tlytics;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Uri};
use axum::Json;
use serde_json::{json, Value};
use tally_ingest::{
    decode_body, is_tlytics_batch, parse_posthog, parse_tlytics, RequestParts, TokenSource,
};

/// The paths PostHog SDKs send events to; each also with a trailing slash.
pub const CAPTURE_PATHS: &[&str] = &["/e", "/i/v0/e", "/capture", "/batch", "/track", "/engage"];
/// The paths SDKs ask for feature flags.
pub const FLAG_PATHS: &[&str] = &["/decide", "/flags"];

pub async fn capture(
    State(state): State<AppState>,
    uri: Uri,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(&state, &headers, client, body).await?;
    let max = state.limits.max_body_bytes;
    let plain = decode_body(&body.raw, body.encoding, max)?;
    let parts = RequestParts {
        query: uri.query(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    };
    // Tlytics clients post `{"events": [...]}` to `/batch` too.
    if uri.path().starts_with("/batch") && is_tlytics_batch(&plain) {
        let project_id = state
            .tlytics_project
            .ok_or(ApiError::TlyticsNotConfigured)?;
        let payload = parse_tlytics(&plain, state.clock.now())?;
        drop(plain);
        return tlytics::store(&state, project_id, payload, body).await;
    }
    let payload = parse_posthog(parts, &plain, state.clock.now(), max)?;
    drop(plain);
    let project_id = match payload.token {
        TokenSource::One(token) => ingest_project(&state, token.trim()).await?,
        TokenSource::Mixed => return Err(ApiError::MixedTokens),
        TokenSource::None => ingest_project_from_headers(&state, &headers).await?,
    };
    let reply = accept(&state, project_id, payload.is_batch, payload.events, body).await?;
    Ok(Json(json!({
        "status": 1,
        "accepted": reply.accepted,
        "rejected": reply.rejected,
    })))
}

/// `/decide` and `/flags`: Tally has no feature flags, so every SDK is told there
/// are none, that nothing is recorded beyond events, and which compressions work.
pub async fn flags() -> Json<Value> {
    Json(json!({
        "config": {"enable_collect_everything": true},
        "featureFlags": {},
        "featureFlagPayloads": {},
        "flags": {},
        "errorsWhileComputingFlags": false,
        "quotaLimited": [],
        "sessionRecording": false,
        "surveys": false,
        "toolbarParams": {},
        "isAuthenticated": false,
        "supportedCompression": ["gzip", "gzip-js", "lz64"],
        "autocapture_opt_out": false,
        "capturePerformance": false,
        "heatmaps": false,
        "siteApps": [],
    }))
}

/// posthog-js fetches its remote config from `/array/{token}/config` (JSON) and
/// `/array/{token}/config.js` (a script) before it starts; both say "no extras".
pub async fn remote_config(Path(file): Path<(String, String)>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (token, name) = file;
    let config = json!({
        "token": token,
        "supportedCompression": ["gzip", "gzip-js", "lz64"],
        "hasFeatureFlags": false,
        "sessionRecording": false,
        "surveys": false,
        "heatmaps": false,
        "siteApps": [],
    });
    if name == "config.js" {
        let script = format!(
            "(function() {{ window._POSTHOG_REMOTE_CONFIG = window._POSTHOG_REMOTE_CONFIG || {{}}; \
             window._POSTHOG_REMOTE_CONFIG[{t}] = {{ config: {c}, siteApps: [] }}; }})();",
            t = Value::String(token),
            c = config
        );
        ([(header::CONTENT_TYPE, "application/javascript")], script).into_response()
    } else {
        Json(config).into_response()
    }
}
