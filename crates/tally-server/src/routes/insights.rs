//! Saved insights, custom dashboards and their read-only share links:
//! `/api/v1/projects/{project_id}/insights…`, `…/dashboards…` and
//! `/api/v1/shared/{token}`.
//!
//! Members read them; admins and owners save, change and share them (a viewer
//! stays read-only, as everywhere else). An insight is stored only after its
//! query resolves, so a saved insight never fails for its shape — only for what
//! the data does later. A share link answers the dashboard's insights, run on the
//! server, and nothing else: the token cannot ask its own questions, list other
//! dashboards or act as an API key.

use crate::auth::{ProjectAdmin, ProjectRead};
use crate::error::{ApiError, ErrorBody};
use crate::openapi::{ErrorResponse, ProjectPath};
use crate::routes::json_body;
use crate::routes::query::{prepare_query, run_query};
use crate::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tally_core::{Dashboard, DashboardId, Insight, InsightDraft, InsightId, ProjectId};
use utoipa::ToSchema;

/// The longest name of an insight or dashboard, in characters.
const MAX_NAME: usize = 200;
/// The largest saved query, in bytes of JSON: a big funnel with filters is a
/// few KiB; more is a mistake or an attempt to use the store as a disk.
const MAX_QUERY_BYTES: usize = 32 * 1024;
/// The most tiles on one dashboard (each runs a query when it opens).
const MAX_TILES: usize = 50;

/// A saved insight.
#[derive(Debug, Serialize, ToSchema)]
pub struct InsightBody {
    pub id: InsightId,
    pub name: String,
    /// The `/query` body it runs: `kind` plus that kind's fields.
    #[schema(value_type = Object)]
    pub query: serde_json::Value,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Insight> for InsightBody {
    fn from(i: Insight) -> Self {
        Self {
            id: i.id,
            name: i.name,
            query: i.query,
            created_by: i.created_by,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// An insight to save: a name and a `/query` body. Ranges are best relative
/// (`"date_from": "-30d"`), so that the insight shows the latest data whenever
/// it is opened.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsightRequest {
    pub name: String,
    #[schema(value_type = Object)]
    pub query: serde_json::Value,
}

/// Changes to an insight; what is left out stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsightPatch {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub query: Option<serde_json::Value>,
}

/// A dashboard: its insights in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardBody {
    pub id: DashboardId,
    pub name: String,
    pub tiles: Vec<InsightId>,
    /// When its share link was made; absent when it has none.
    pub shared_at: Option<DateTime<Utc>>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<Dashboard> for DashboardBody {
    fn from(d: Dashboard) -> Self {
        Self {
            id: d.id,
            name: d.name,
            tiles: d.tiles,
            shared_at: d.shared_at,
            created_by: d.created_by,
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DashboardRequest {
    pub name: String,
}

/// Changes to a dashboard: a new name and/or its tiles (insight ids, in order,
/// each at most once) — the list replaces the old one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DashboardPatch {
    pub name: Option<String>,
    pub tiles: Option<Vec<InsightId>>,
}

/// A new share link; `token` is shown this once. Anyone with `path` sees the
/// dashboard read-only, until the link is revoked or replaced.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareLink {
    pub token: String,
    /// The dashboard page that shows it: `/shared/{token}`.
    pub path: String,
}

/// A shared dashboard as its link shows it: each insight with its answer (or
/// the error its query met), computed now.
#[derive(Debug, Serialize, ToSchema)]
pub struct SharedDashboard {
    pub name: String,
    pub project_name: String,
    /// The project's time zone, which the answers are bucketed in.
    pub timezone: String,
    pub tiles: Vec<SharedTile>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SharedTile {
    pub id: InsightId,
    pub name: String,
    #[schema(value_type = Object)]
    pub query: serde_json::Value,
    /// What `/query` answers for `query`; absent when `error` is set.
    #[schema(value_type = Option<Object>)]
    pub answer: Option<serde_json::Value>,
    pub error: Option<ErrorBody>,
}

fn checked_name(name: &str, what: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::BadParameter(format!(
            "`name` of a {what} must be 1 to {MAX_NAME} characters"
        )));
    }
    // Control characters have no place in a title (and PostgreSQL refuses NUL).
    if name.chars().any(char::is_control) {
        return Err(ApiError::BadParameter(format!(
            "`name` of a {what} must not contain control characters"
        )));
    }
    Ok(name.to_owned())
}

/// Checks a query the way `/query` would, without running it.
async fn checked_query(
    state: &AppState,
    project_id: ProjectId,
    query: serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    if !query.is_object() {
        return Err(ApiError::BadParameter(
            "`query` must be a /query body: an object with `kind`".into(),
        ));
    }
    if query.to_string().len() > MAX_QUERY_BYTES {
        return Err(ApiError::BadParameter(format!(
            "`query` is over {MAX_QUERY_BYTES} bytes"
        )));
    }
    prepare_query(state, project_id, query.clone()).await?;
    Ok(query)
}

/// The project's saved insights, newest first.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/insights", tag = "insights",
    params(ProjectPath),
    responses((status = 200, body = Vec<InsightBody>), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn list_insights(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
) -> Result<Json<Vec<InsightBody>>, ApiError> {
    let insights = state.meta.insights(project_id).await?;
    Ok(Json(insights.into_iter().map(InsightBody::from).collect()))
}

/// Saves an insight; its query must be one `/query` accepts (else 400 with that
/// query error).
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/insights", tag = "insights",
    params(ProjectPath),
    request_body = InsightRequest,
    responses((status = 201, body = InsightBody), (status = 400, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn create_insight(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    body: Result<Json<InsightRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<InsightBody>), ApiError> {
    let request = json_body(body)?;
    let draft = InsightDraft {
        name: checked_name(&request.name, "insight")?,
        query: checked_query(&state, access.project_id, request.query).await?,
    };
    let insight = state
        .meta
        .create_insight(
            access.project_id,
            draft,
            Some(access.user_id),
            state.clock.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(insight.into())))
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}/insights/{insight_id}", tag = "insights",
    params(ProjectPath, ("insight_id" = i64, Path)),
    responses((status = 200, body = InsightBody), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn get_insight(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    Path((_, insight_id)): Path<(ProjectId, InsightId)>,
) -> Result<Json<InsightBody>, ApiError> {
    let insight = state
        .meta
        .insight(project_id, insight_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(insight.into()))
}

#[utoipa::path(patch, path = "/api/v1/projects/{project_id}/insights/{insight_id}", tag = "insights",
    params(ProjectPath, ("insight_id" = i64, Path)),
    request_body = InsightPatch,
    responses((status = 200, body = InsightBody), (status = 400, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn patch_insight(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    Path((_, insight_id)): Path<(ProjectId, InsightId)>,
    body: Result<Json<InsightPatch>, JsonRejection>,
) -> Result<Json<InsightBody>, ApiError> {
    let patch = json_body(body)?;
    let current = state
        .meta
        .insight(access.project_id, insight_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let draft = InsightDraft {
        name: match patch.name {
            Some(name) => checked_name(&name, "insight")?,
            None => current.name,
        },
        query: match patch.query {
            Some(query) => checked_query(&state, access.project_id, query).await?,
            None => current.query,
        },
    };
    let insight = state
        .meta
        .update_insight(access.project_id, insight_id, draft, state.clock.now())
        .await?;
    Ok(Json(insight.into()))
}

/// Deletes the insight and takes it off every dashboard.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/insights/{insight_id}", tag = "insights",
    params(ProjectPath, ("insight_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn delete_insight(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    Path((_, insight_id)): Path<(ProjectId, InsightId)>,
) -> Result<StatusCode, ApiError> {
    state
        .meta
        .delete_insight(access.project_id, insight_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The project's dashboards, by name.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/dashboards", tag = "insights",
    params(ProjectPath),
    responses((status = 200, body = Vec<DashboardBody>), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn list_dashboards(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
) -> Result<Json<Vec<DashboardBody>>, ApiError> {
    let dashboards = state.meta.dashboards(project_id).await?;
    Ok(Json(
        dashboards.into_iter().map(DashboardBody::from).collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/projects/{project_id}/dashboards", tag = "insights",
    params(ProjectPath),
    request_body = DashboardRequest,
    responses((status = 201, body = DashboardBody), (status = 400, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn create_dashboard(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    body: Result<Json<DashboardRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<DashboardBody>), ApiError> {
    let request = json_body(body)?;
    let name = checked_name(&request.name, "dashboard")?;
    let dashboard = state
        .meta
        .create_dashboard(
            access.project_id,
            &name,
            Some(access.user_id),
            state.clock.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(dashboard.into())))
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}/dashboards/{dashboard_id}", tag = "insights",
    params(ProjectPath, ("dashboard_id" = i64, Path)),
    responses((status = 200, body = DashboardBody), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn get_dashboard(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    Path((_, dashboard_id)): Path<(ProjectId, DashboardId)>,
) -> Result<Json<DashboardBody>, ApiError> {
    let dashboard = state
        .meta
        .dashboard(project_id, dashboard_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(dashboard.into()))
}

/// Renames the dashboard and/or replaces its tiles. A tile that is not an
/// insight of this project, or appears twice, is 400 `invalid_request`.
#[utoipa::path(patch, path = "/api/v1/projects/{project_id}/dashboards/{dashboard_id}", tag = "insights",
    params(ProjectPath, ("dashboard_id" = i64, Path)),
    request_body = DashboardPatch,
    responses((status = 200, body = DashboardBody), (status = 400, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn patch_dashboard(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    Path((_, dashboard_id)): Path<(ProjectId, DashboardId)>,
    body: Result<Json<DashboardPatch>, JsonRejection>,
) -> Result<Json<DashboardBody>, ApiError> {
    let patch = json_body(body)?;
    let name = patch
        .name
        .map(|n| checked_name(&n, "dashboard"))
        .transpose()?;
    if patch.tiles.as_ref().is_some_and(|t| t.len() > MAX_TILES) {
        return Err(ApiError::BadParameter(format!(
            "a dashboard holds at most {MAX_TILES} insights"
        )));
    }
    let dashboard = state
        .meta
        .update_dashboard(
            access.project_id,
            dashboard_id,
            name.as_deref(),
            patch.tiles.as_deref(),
        )
        .await?;
    Ok(Json(dashboard.into()))
}

/// Deletes the dashboard (its insights stay) and ends its share link.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/dashboards/{dashboard_id}", tag = "insights",
    params(ProjectPath, ("dashboard_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn delete_dashboard(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    Path((_, dashboard_id)): Path<(ProjectId, DashboardId)>,
) -> Result<StatusCode, ApiError> {
    state
        .meta
        .delete_dashboard(access.project_id, dashboard_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a read-only share link for the dashboard, replacing any earlier one.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/dashboards/{dashboard_id}/share", tag = "insights",
    params(ProjectPath, ("dashboard_id" = i64, Path)),
    responses((status = 201, body = ShareLink), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn share_dashboard(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    Path((_, dashboard_id)): Path<(ProjectId, DashboardId)>,
) -> Result<(StatusCode, Json<ShareLink>), ApiError> {
    let token = state
        .meta
        .share_dashboard(access.project_id, dashboard_id, state.clock.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ShareLink {
            path: format!("/shared/{token}"),
            token,
        }),
    ))
}

/// Ends the dashboard's share link.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/dashboards/{dashboard_id}/share", tag = "insights",
    params(ProjectPath, ("dashboard_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn unshare_dashboard(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    Path((_, dashboard_id)): Path<(ProjectId, DashboardId)>,
) -> Result<StatusCode, ApiError> {
    state
        .meta
        .unshare_dashboard(access.project_id, dashboard_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A shared dashboard with its insights' answers; needs no login, only the
/// link's token. An unknown, replaced or revoked token is 404.
#[utoipa::path(get, path = "/api/v1/shared/{token}", tag = "insights",
    params(("token" = String, Path, description = "The share link's token")),
    responses((status = 200, body = SharedDashboard), (status = 404, body = ErrorResponse)))]
pub async fn shared(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let dashboard = state
        .meta
        .shared_dashboard(&token)
        .await?
        .ok_or(ApiError::NotFound)?;
    let project_id = dashboard.project_id;
    let project = state
        .meta
        .get_project(project_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let timezone = state.meta.project_options(project_id).await?.timezone;
    let mut tiles = Vec::with_capacity(dashboard.tiles.len());
    for insight_id in dashboard.tiles {
        let Some(insight) = state.meta.insight(project_id, insight_id).await? else {
            continue; // deleted since the tiles were read
        };
        let (answer, error) = match run_query(&state, project_id, insight.query.clone()).await {
            Ok(answer) => (Some(serde_json::to_value(answer).map_err(internal)?), None),
            Err(e) if e.is_client_error() => (None, Some(e.body())),
            Err(e) => return Err(e),
        };
        tiles.push(SharedTile {
            id: insight.id,
            name: insight.name,
            query: insight.query,
            answer,
            error,
        });
    }
    let mut response = Json(SharedDashboard {
        name: dashboard.name,
        project_name: project.name,
        timezone,
        tiles,
    })
    .into_response();
    // A link's answers are for whoever holds it, not for shared caches.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

fn internal(e: serde_json::Error) -> ApiError {
    ApiError::Meta(tally_core::MetaError::Internal(e.to_string()))
}
