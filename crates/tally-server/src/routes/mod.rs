//! Route table and shared middleware.

pub mod account;
pub(crate) mod capture;
pub(crate) mod dashboard;
pub(crate) mod docs;
pub(crate) mod health;
pub(crate) mod insights;
pub(crate) mod live;
pub(crate) mod posthog;
pub(crate) mod projects;
pub(crate) mod query;
pub(crate) mod sdk_js;
pub(crate) mod segment;
pub(crate) mod settings;
pub(crate) mod tlytics;

use crate::error::ApiError;
use crate::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Json;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The routes of the node's roles (`state.node`): `/health` and `/ready`
/// always, capture routes on capture nodes, everything else on API nodes.
pub fn router(state: AppState) -> Router {
    let node = state.node.clone();
    let mut router = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready));
    if node.capture {
        router = router.merge(sdk_routes());
    }
    router = match node.api {
        true => router.merge(api_routes(&state)).fallback(dashboard::serve),
        // Whatever this node does not serve gets the JSON `not_found` body.
        false => router.fallback(|| async { ApiError::NotFound }),
    };
    let router = router
        // Capture enforces its own size limits on the decompressed body.
        .layer(DefaultBodyLimit::disable())
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http());
    security_headers(router, state.edge.hsts).with_state(state)
}

/// The query API, accounts, projects, insights, live stream and API docs.
fn api_routes(state: &AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/view", get(tlytics::view))
        .route(
            "/api/v1/setup",
            get(account::setup_status).post(account::setup),
        )
        .route("/api/v1/auth/login", post(account::login))
        .route("/api/v1/auth/logout", post(account::logout))
        .route("/api/v1/auth/refresh", post(account::refresh))
        .route("/api/v1/auth/register", post(account::register))
        .route("/api/v1/auth/me", get(account::me).patch(account::patch_me))
        .route("/api/v1/auth/password", post(account::change_password))
        .route(
            "/api/v1/auth/keys",
            get(account::list_keys).post(account::create_key),
        )
        .route("/api/v1/auth/keys/{key_id}", delete(account::revoke_key))
        .route("/api/v1/users", get(account::list_users))
        .route(
            "/api/v1/users/{user_id}",
            axum::routing::patch(account::patch_user).delete(account::delete_user),
        )
        .route(
            "/api/v1/projects",
            get(projects::list).post(projects::create),
        )
        .route(
            "/api/v1/projects/{project_id}",
            get(projects::get)
                .patch(projects::patch)
                .delete(projects::delete),
        )
        .route(
            "/api/v1/projects/{project_id}/ingest-key/rotate",
            post(projects::rotate_ingest_key),
        )
        .route(
            "/api/v1/projects/{project_id}/members",
            get(projects::members).put(projects::set_member),
        )
        .route(
            "/api/v1/projects/{project_id}/members/{user_id}",
            delete(projects::remove_member),
        )
        .route(
            "/api/v1/projects/{project_id}/live/ticket",
            post(live::ticket),
        )
        .route("/api/v1/projects/{project_id}/live", get(live::socket))
        .route(
            "/api/v1/projects/{project_id}/invites",
            get(projects::invites).post(projects::create_invite),
        )
        .route(
            "/api/v1/projects/{project_id}/invites/{invite_id}",
            delete(projects::revoke_invite),
        )
        .route("/api/v1/auth/invites/accept", post(account::accept_invite))
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
        .route(
            "/api/v1/projects/{project_id}/sessions",
            get(query::sessions),
        )
        .route(
            "/api/v1/projects/{project_id}/sessions/{session_id}",
            get(query::session),
        )
        .route(
            "/api/v1/projects/{project_id}/definitions",
            get(query::definitions),
        )
        .route(
            "/api/v1/projects/{project_id}/persons/{distinct_id}",
            get(query::person),
        )
        .route("/api/v1/projects/{project_id}/query", post(query::query))
        .route(
            "/api/v1/projects/{project_id}/top/{dimension}",
            get(query::top),
        )
        .route(
            "/api/v1/projects/{project_id}/insights",
            get(insights::list_insights).post(insights::create_insight),
        )
        .route(
            "/api/v1/projects/{project_id}/insights/{insight_id}",
            get(insights::get_insight)
                .patch(insights::patch_insight)
                .delete(insights::delete_insight),
        )
        .route(
            "/api/v1/projects/{project_id}/dashboards",
            get(insights::list_dashboards).post(insights::create_dashboard),
        )
        .route(
            "/api/v1/projects/{project_id}/dashboards/{dashboard_id}",
            get(insights::get_dashboard)
                .patch(insights::patch_dashboard)
                .delete(insights::delete_dashboard),
        )
        .route(
            "/api/v1/projects/{project_id}/dashboards/{dashboard_id}/share",
            post(insights::share_dashboard).delete(insights::unshare_dashboard),
        )
        .route("/api/v1/shared/{token}", get(insights::shared))
        .route(
            "/api/v1/projects/{project_id}/settings",
            get(settings::get_settings).patch(settings::patch_settings),
        )
        .route("/api/v1/openapi.json", get(crate::openapi::document))
        .route("/api/v1/docs", get(docs::page))
        .route("/api/v1/docs/docs.js", get(docs::script))
        .route("/api/v1/docs/docs.css", get(docs::style));
    // Other origins may call the API only when the operator lists them.
    match api_cors(&state.edge.api_cors_origins) {
        Some(cors) => api.layer(cors),
        None => api,
    }
}

/// Headers every answer carries: no MIME sniffing, no framing, a strict
/// referrer policy, a CSP that lets a JSON answer load nothing (pages that need
/// more set their own), and HSTS when the operator says TLS is in front.
fn security_headers(router: Router<AppState>, hsts: bool) -> Router<AppState> {
    let header = |name: &'static str, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    };
    let router = router
        .layer(header("x-content-type-options", "nosniff"))
        .layer(header("x-frame-options", "DENY"))
        .layer(header("referrer-policy", "strict-origin-when-cross-origin"))
        .layer(header(
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ));
    if hsts {
        router.layer(header(
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        router
    }
}

/// CORS for the API: the listed origins, with credentials (the dashboard on
/// another origin sends its session cookies), the methods and headers the API
/// uses. `None` when no origin is listed: browsers then allow same-origin only.
fn api_cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("x-csrf-token"),
                HeaderName::from_static("x-api-key"),
            ]),
    )
}

/// Routes that browsers call from other origins (SDKs embedded in web pages):
/// capture, PostHog's capture/flags/config, Segment's and Tlytics' capture. CORS answers preflights and mirrors
/// the caller's origin; none of these routes reads cookies.
fn sdk_routes() -> Router<AppState> {
    let mut r = Router::new()
        .route("/api/v1/capture", post(capture::capture))
        .route("/sdk.js", get(sdk_js::script))
        .route("/sdk.mjs", get(sdk_js::module));
    for path in posthog::CAPTURE_PATHS {
        let handler = get(posthog::capture).post(posthog::capture);
        r = r
            .route(path, handler.clone())
            .route(&format!("{path}/"), handler);
    }
    for path in posthog::FLAG_PATHS {
        let handler = get(posthog::flags).post(posthog::flags);
        r = r
            .route(path, handler.clone())
            .route(&format!("{path}/"), handler);
    }
    r.route("/array/{token}/{file}", get(posthog::remote_config))
        .route("/v1/{route}", post(segment::capture))
        .route("/events", post(tlytics::events))
        .layer(CorsLayer::very_permissive())
}

/// A JSON request body, or the `invalid_json` error naming what is wrong with it.
pub(crate) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(t)| t)
        .map_err(|e| tally_ingest::DecodeError::InvalidJson(e.body_text()).into())
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
