//! `/health` (the process answers) and `/ready` (its stores answer too).

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// The process answers.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "`{\"status\": \"healthy\", \"port\": 8000, ...}`")))]
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "healthy",
        "port": state.port,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
    }))
}

/// The process and its stores answer.
#[utoipa::path(get, path = "/ready", tag = "health", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "A store does not answer"),
))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.store.ping().await;
    let meta = state.meta.ping().await;
    let check = |r: Result<(), String>| match r {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": e}),
    };
    let ready = store.is_ok() && meta.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": {
            "event_store": check(store.map_err(|e| e.to_string())),
            "metadata": check(meta.map_err(|e| e.to_string())),
        }
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
