//! Route table and shared middleware.

pub(crate) mod capture;
pub(crate) mod health;
pub(crate) mod query;

use crate::error::ApiError;
use crate::AppState;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/api/v1/capture", post(capture::capture))
        .route("/api/v1/projects/{project_id}/events", get(query::events))
        .route(
            "/api/v1/projects/{project_id}/timeseries",
            get(query::timeseries),
        )
        .route(
            "/api/v1/projects/{project_id}/top-events",
            get(query::top_events),
        )
        .route(
            "/api/v1/projects/{project_id}/overview",
            get(query::overview),
        )
        .route("/api/v1/openapi.json", get(crate::openapi::document))
        .fallback(not_found)
        // Capture enforces its own size limits on the decompressed body.
        .layer(DefaultBodyLimit::disable())
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    let body = serde_json::json!({"error": {"code": "internal", "message": "internal error"}});
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(body),
    )
        .into_response()
}
