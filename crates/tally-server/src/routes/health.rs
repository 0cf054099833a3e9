//! `/health` (the process answers) and `/ready` (its stores answer too, and
//! whatever else the node's roles need: a Kafka worker that is not far behind).

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
    let mut results: Vec<(&str, Result<(), String>)> = Vec::new();
    if state.node.event_store {
        let store = state.store.ping().await.map_err(|e| e.to_string());
        results.push(("event_store", store));
    }
    let meta = state.meta.ping().await.map_err(|e| e.to_string());
    results.push(("metadata", meta));
    for (name, check) in &state.node.checks {
        results.push((name, check()));
    }
    let ready = results.iter().all(|(_, r)| r.is_ok());
    let checks: serde_json::Map<String, Value> = results
        .into_iter()
        .map(|(name, r)| {
            let answer = match r {
                Ok(()) => json!({"ok": true}),
                Err(e) => json!({"ok": false, "error": e}),
            };
            (name.to_owned(), answer)
        })
        .collect();
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": checks,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
