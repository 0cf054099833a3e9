//! The OpenAPI 3 document of the HTTP API, generated from the route annotations
//! and served at `GET /api/v1/openapi.json`.

use crate::error::{ErrorBody, Rejection};
use crate::routes::{account, capture, health, insights, live, projects, query, settings};
use axum::Json;
use serde::Serialize;
use tally_query::*;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};

/// The shape of every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

/// The error answers every read route can give.
#[derive(IntoResponses)]
#[allow(dead_code)] // only its OpenAPI description is used
pub enum ReadErrors {
    /// Invalid parameter
    #[response(status = 400)]
    BadRequest(ErrorResponse),
    /// Missing or invalid key
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
    /// Not allowed (an ingest key, or a role or key scope short of the route's)
    #[response(status = 403)]
    Forbidden(ErrorResponse),
    /// No such project, or the caller is not a member
    #[response(status = 404)]
    NotFound(ErrorResponse),
}

/// The `{project_id}` path parameter of every read route.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // only its OpenAPI description is used
pub struct ProjectPath {
    /// The project; the caller must be a member.
    project_id: i64,
}

/// One event as capture accepts it (documentation only; decoding is by hand so
/// each problem can be named).
#[derive(Serialize, ToSchema)]
pub struct CaptureBody {
    /// Event name, 1–200 characters.
    pub event: String,
    /// Who did it, 1–200 characters; a number is accepted and kept as text.
    pub distinct_id: String,
    /// Sending the same uuid again never counts the event twice. Generated when absent.
    pub uuid: Option<uuid::Uuid>,
    /// RFC 3339; server time when absent; at most 1 h in the future.
    pub timestamp: Option<chrono::DateTime<chrono::Utc>>,
    /// Free-form properties. `$ip` is dropped.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tally", description = "Self-hosted product analytics: capture and query API."),
    paths(
        health::health,
        health::ready,
        capture::capture,
        query::events,
        query::timeseries,
        query::top_events,
        query::overview,
        query::sessions,
        query::session,
        query::definitions,
        query::person,
        query::query,
        query::top,
        settings::get_settings,
        settings::patch_settings,
        account::setup_status, account::setup, account::login, account::logout,
        account::refresh, account::register, account::me, account::patch_me, account::change_password,
        account::list_keys, account::create_key, account::revoke_key,
        account::list_users, account::patch_user, account::delete_user,
        projects::list, projects::create, projects::get, projects::patch, projects::delete,
        projects::rotate_ingest_key, projects::members, projects::set_member,
        projects::remove_member,
        live::ticket, live::socket,
        projects::create_invite, projects::invites, projects::revoke_invite,
        account::accept_invite,
        insights::list_insights, insights::create_insight, insights::get_insight,
        insights::patch_insight, insights::delete_insight,
        insights::list_dashboards, insights::create_dashboard, insights::get_dashboard,
        insights::patch_dashboard, insights::delete_dashboard,
        insights::share_dashboard, insights::unshare_dashboard, insights::shared
    ),
    components(schemas(
        ErrorResponse, ErrorBody, Rejection, CaptureBody, capture::CaptureReply,
        EventsPage, EventRecord, Timeseries, TimeseriesPoint, Interval, Math, TimeRange,
        TopEvents, TopEvent, Overview, OverviewStats, SessionsPage, SessionRecord,
        Definitions, Definition, DefinitionKind, PersonRecord,
        settings::SettingsBody, settings::SettingsPatch,
        account::UserBody, account::SessionBody, account::Credentials, account::NewAccount,
        account::MyProject, account::MeBody, account::PasswordChange, account::ProfilePatch, account::SetupStatus,
        account::KeyBody, account::NewKeyBody, account::KeyRequest, account::UserPatch,
        projects::ProjectSummary, projects::NewProject, projects::CreatedProject,
        projects::ProjectBody, projects::ProjectPatch, projects::RotateRequest,
        projects::RotatedKey, projects::MemberBody, projects::MemberRequest,
        tally_core::Role, tally_core::KeyScope, live::LiveTicket,
        projects::InviteRequest, projects::InviteBody, projects::CreatedInvite,
        account::AcceptInvite,
        insights::InsightBody, insights::InsightRequest, insights::InsightPatch,
        insights::DashboardBody, insights::DashboardRequest, insights::DashboardPatch,
        insights::ShareLink, insights::SharedDashboard, insights::SharedTile,
        tally_query::funnel::FunnelRequest, tally_query::funnel::StepRequest,
        tally_query::funnel::StepOrder, tally_query::funnel::FunnelAnswer,
        tally_query::funnel::FunnelStep, tally_query::funnel::FunnelPersons, tally_query::funnel::FunnelBreakdown,
        tally_query::funnel::FunnelPersonsRequest, tally_query::funnel::FunnelPersonStatus,
        tally_query::top::TopAnswer, tally_query::top::TopRow, tally_query::top::Dimension,
        tally_query::trends::TrendsRequest, tally_query::trends::SeriesRequest,
        tally_query::trends::BreakdownRequest, tally_query::trends::TrendMath,
        tally_query::trends::TrendsAnswer, tally_query::trends::TrendSeries,
        tally_query::trends::TrendPoint, tally_query::trends::TrendsPrevious,
        tally_query::filters::FilterNode, tally_query::filters::FilterGroup,
        tally_query::filters::PropertyFilter, tally_query::filters::FilterOperator,
        tally_query::filters::GroupOp, tally_query::filters::PropertySource,
        tally_query::scope::EventMatch, SessionSort,
        tally_query::retention::RetentionRequest, tally_query::retention::CohortType,
        tally_query::retention::RetentionAnswer, tally_query::retention::RetentionCohort,
        tally_query::retention::RetentionValue,
        tally_query::paths::PathsRequest, tally_query::paths::PathType,
        tally_query::paths::PathsAnswer, tally_query::paths::PathNode, tally_query::paths::PathLink,
        tally_query::activity::ActivityRequest, tally_query::activity::StickinessAnswer,
        tally_query::activity::StickinessValue, tally_query::activity::LifecycleAnswer,
        tally_query::activity::LifecycleBucket,
        tally_query::persons::PersonsRequest, tally_query::persons::PersonOrder,
        tally_query::persons::PersonsPage, tally_query::persons::PersonListItem,
        tally_query::realtime::RealtimeAnswer, tally_query::realtime::MinuteCount,
        tally_query::sessions::SessionTimeline
    )),
    modifiers(&KeySchemes)
)]
pub struct ApiDoc;

struct KeySchemes;

impl Modify for KeySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ingest_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "A project's ingest key (tly_ing_…); `Authorization: Bearer` works too",
            ))),
        );
        components.add_security_scheme(
            "personal_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A user's personal API key (tly_adm_…; the first start's admin token is one); `X-API-Key` works too",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "tally_access",
                "The browser session from /api/v1/auth/login; writes also need X-CSRF-Token",
            ))),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
