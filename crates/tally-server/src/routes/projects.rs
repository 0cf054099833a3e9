//! `/api/v1/projects` and `/api/v1/projects/{project_id}`: the projects I belong
//! to, creating one (its ingest key is shown in that answer only), settings,
//! ingest-key rotation, deletion, and members with roles.
//!
//! Roles: a viewer reads; an admin also renames, changes settings, rotates the
//! ingest key and manages non-owner members; an owner also deletes the project
//! and grants or removes the owner role. A project keeps at least one owner.

use crate::auth::{Caller, ProjectAccess, ProjectAdmin, ProjectOwner, ProjectRead};
use crate::error::ApiError;
use crate::openapi::{ErrorResponse, ProjectPath};
use crate::routes::account::UserBody;
use crate::routes::json_body;
use crate::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tally_core::{Invite, InviteId, ProjectId, ProjectSwitches, Role, UserId};
use utoipa::ToSchema;

/// A project with my role in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectSummary {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/projects", tag = "projects",
    responses((status = 200, body = Vec<ProjectSummary>), (status = 401, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ProjectSummary>>, ApiError> {
    let projects = state.meta.projects_of_user(caller.user.id).await?;
    Ok(Json(
        projects
            .into_iter()
            .map(|(p, role)| ProjectSummary {
                id: p.id,
                name: p.name,
                role,
                created_at: p.created_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub name: String,
}

/// A new project; `api_key` (its ingest key) is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedProject {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub api_key: String,
}

fn check_project_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::BadParameter(
            "a project name has 1 to 200 characters".into(),
        ));
    }
    Ok(name.to_owned())
}

#[utoipa::path(post, path = "/api/v1/projects", tag = "projects",
    request_body = NewProject,
    responses((status = 201, body = CreatedProject), (status = 401, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<NewProject>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedProject>), ApiError> {
    let request = json_body(body)?;
    if !caller.may_write() {
        return Err(ApiError::Forbidden("create projects with a read-only key"));
    }
    let name = check_project_name(&request.name)?;
    let project = state
        .meta
        .create_project(&name, Some(caller.user.id))
        .await?;
    let key = state.meta.create_ingest_key(project.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedProject {
            id: project.id,
            name: project.name,
            role: Role::Owner,
            created_at: project.created_at,
            api_key: key.plaintext,
        }),
    ))
}

/// A project's details and settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectBody {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub role: Role,
    /// IANA time zone; answers default to it.
    pub timezone: String,
    /// Origins browsers may capture from; empty: any.
    pub allowed_origins: Vec<String>,
    /// Days of events kept; null: forever.
    pub retention_days: Option<u32>,
    pub drop_bots: bool,
    pub use_ip: bool,
}

async fn project_body(
    state: &AppState,
    project_id: ProjectId,
    role: Role,
) -> Result<ProjectBody, ApiError> {
    let project = state
        .meta
        .get_project(project_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let options = state.meta.project_options(project_id).await?;
    let switches = state.settings.pipeline_settings(project_id);
    Ok(ProjectBody {
        id: project.id,
        name: project.name,
        created_at: project.created_at,
        role,
        timezone: options.timezone,
        allowed_origins: options.allowed_origins,
        retention_days: options.retention_days,
        drop_bots: switches.drop_bots,
        use_ip: switches.use_ip,
    })
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(ProjectPath),
    responses((status = 200, body = ProjectBody), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn get(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    caller: Caller,
) -> Result<Json<ProjectBody>, ApiError> {
    let role = state
        .meta
        .role_of(project_id, caller.user.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(project_body(&state, project_id, role).await?))
}

/// Fields to change; absent ones stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    /// Days of events to keep, 1–36500; 0 keeps them forever.
    pub retention_days: Option<u32>,
    pub drop_bots: Option<bool>,
    pub use_ip: Option<bool>,
}

/// `https://shop.example` or `http://localhost:3000`: a scheme, a host, maybe a
/// port, nothing else — what browsers send in `Origin`.
fn check_origin(origin: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::BadParameter(format!(
            "`{origin}` is not an origin like https://shop.example"
        ))
    };
    let (scheme, rest) = origin.split_once("://").ok_or_else(bad)?;
    let host_ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !matches!(scheme, "http" | "https") || !host_ok {
        return Err(bad());
    }
    Ok(origin.to_ascii_lowercase())
}

#[utoipa::path(patch, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(ProjectPath),
    request_body = ProjectPatch,
    responses((status = 200, body = ProjectBody), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn patch(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    body: Result<Json<ProjectPatch>, JsonRejection>,
) -> Result<Json<ProjectBody>, ApiError> {
    let patch = json_body(body)?;
    let id = access.project_id;
    // Check everything before changing anything.
    let name = patch.name.as_deref().map(check_project_name).transpose()?;
    let mut options = state.meta.project_options(id).await?;
    if let Some(tz) = patch.timezone {
        if tz.parse::<chrono_tz::Tz>().is_err() {
            return Err(ApiError::BadParameter(format!(
                "`{tz}` is not an IANA time zone"
            )));
        }
        options.timezone = tz;
    }
    if let Some(origins) = patch.allowed_origins {
        options.allowed_origins = origins
            .iter()
            .map(|o| check_origin(o))
            .collect::<Result<_, _>>()?;
    }
    if let Some(days) = patch.retention_days {
        if days > 36_500 {
            return Err(ApiError::BadParameter(
                "retention_days is at most 36500".into(),
            ));
        }
        options.retention_days = (days > 0).then_some(days);
    }
    if let Some(name) = name {
        state.meta.rename_project(id, &name).await?;
    }
    state.settings.set_options(id, &options).await?;
    if patch.drop_bots.is_some() || patch.use_ip.is_some() {
        let mut switches = state.settings.pipeline_settings(id);
        switches.drop_bots = patch.drop_bots.unwrap_or(switches.drop_bots);
        switches.use_ip = patch.use_ip.unwrap_or(switches.use_ip);
        state.settings.set(id, switches).await?;
    }
    Ok(Json(project_body(&state, id, access.role).await?))
}

#[utoipa::path(delete, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(ProjectPath),
    responses((status = 204, description = "Deleted with its keys, memberships, events and persons"), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    ProjectOwner(access): ProjectOwner,
) -> Result<StatusCode, ApiError> {
    // Keys first, so nothing new is accepted; then what was already acknowledged
    // is let into the store; then the project's data goes.
    state.meta.delete_project(access.project_id).await?;
    state.key_cache.forget_all();
    state.sink.settle(PROJECT_DELETE_SETTLE).await;
    let events = state.store.delete_project(access.project_id).await?;
    tracing::info!(
        project_id = access.project_id,
        events,
        "deleted a project and its data"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// How long a project deletion waits for its acknowledged events to be stored
/// before deleting them.
const PROJECT_DELETE_SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the current key keeps working; the server's default (24 h)
    /// when absent, 0 to stop it now.
    pub grace_seconds: Option<u32>,
}

/// The new ingest key, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKey {
    pub api_key: String,
    /// When the keys it replaces stop working.
    pub previous_keys_expire_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/api/v1/projects/{project_id}/ingest-key/rotate", tag = "projects",
    params(ProjectPath),
    request_body = RotateRequest,
    responses((status = 200, body = RotatedKey), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn rotate_ingest_key(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    body: Option<Json<RotateRequest>>,
) -> Result<Json<RotatedKey>, ApiError> {
    let request = body.map(|Json(r)| r).unwrap_or_default();
    let grace = request
        .grace_seconds
        .map_or(state.accounts.ingest_key_grace, |s| {
            chrono::Duration::seconds(i64::from(s))
        });
    let now = state.clock.now();
    let key = state
        .meta
        .rotate_ingest_key(access.project_id, grace, now)
        .await?;
    state.key_cache.forget_all();
    Ok(Json(RotatedKey {
        api_key: key.plaintext,
        previous_keys_expire_at: now + grace,
    }))
}

/// A member and their role.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    pub user: UserBody,
    pub role: Role,
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}/members", tag = "projects",
    params(ProjectPath),
    responses((status = 200, body = Vec<MemberBody>), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn members(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
) -> Result<Json<Vec<MemberBody>>, ApiError> {
    let members = state.meta.members(project_id).await?;
    Ok(Json(
        members
            .into_iter()
            .map(|m| MemberBody {
                user: m.user.into(),
                role: m.role,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    /// An existing user's email.
    pub email: String,
    pub role: Role,
}

/// Owners alone grant, change or remove the owner role; a project keeps one.
async fn check_role_change(
    state: &AppState,
    access: &ProjectAccess,
    user_id: UserId,
    new_role: Option<Role>,
) -> Result<(), ApiError> {
    let current = state.meta.role_of(access.project_id, user_id).await?;
    let touches_owner = current == Some(Role::Owner) || new_role == Some(Role::Owner);
    if touches_owner && access.role != Role::Owner {
        return Err(ApiError::Forbidden(
            "grant or take the owner role: it needs an owner",
        ));
    }
    if current == Some(Role::Owner) && new_role != Some(Role::Owner) {
        let owners = state
            .meta
            .members(access.project_id)
            .await?
            .iter()
            .filter(|m| m.role == Role::Owner)
            .count();
        if owners <= 1 {
            return Err(ApiError::BadParameter(
                "a project keeps at least one owner: make someone else owner first".into(),
            ));
        }
    }
    Ok(())
}

#[utoipa::path(put, path = "/api/v1/projects/{project_id}/members", tag = "projects",
    params(ProjectPath),
    request_body = MemberRequest,
    responses((status = 200, body = MemberBody), (status = 403, body = ErrorResponse), (status = 404, description = "No such project, or no user with this email", body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn set_member(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    body: Result<Json<MemberRequest>, JsonRejection>,
) -> Result<Json<MemberBody>, ApiError> {
    let request = json_body(body)?;
    let user = state
        .meta
        .user_by_email(request.email.trim())
        .await?
        .ok_or(ApiError::NotFound)?;
    check_role_change(&state, &access, user.id, Some(request.role)).await?;
    state
        .meta
        .set_member(access.project_id, user.id, request.role)
        .await?;
    Ok(Json(MemberBody {
        user: user.into(),
        role: request.role,
    }))
}

#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/members/{user_id}", tag = "projects",
    params(ProjectPath, ("user_id" = i64, Path)),
    responses((status = 204, description = "Removed"), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn remove_member(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    Path((_, user_id)): Path<(ProjectId, UserId)>,
) -> Result<StatusCode, ApiError> {
    check_role_change(&state, &access, user_id, None).await?;
    state.meta.remove_member(access.project_id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How long an invitation waits to be accepted.
const INVITE_LIFETIME: chrono::Duration = chrono::Duration::days(7);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub email: String,
    pub role: Role,
}

/// A pending invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteBody {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<Invite> for InviteBody {
    fn from(i: Invite) -> Self {
        Self {
            id: i.id,
            email: i.email,
            role: i.role,
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

/// A new invitation; `token` is shown this once. Tally sends no mail: pass the
/// token on (the dashboard builds a link with it).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvite {
    #[serde(flatten)]
    pub invite: InviteBody,
    pub token: String,
}

#[utoipa::path(post, path = "/api/v1/projects/{project_id}/invites", tag = "projects",
    params(ProjectPath),
    request_body = InviteRequest,
    responses((status = 201, body = CreatedInvite), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn create_invite(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    body: Result<Json<InviteRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedInvite>), ApiError> {
    let request = json_body(body)?;
    let email = crate::routes::account::check_email(&request.email)?;
    if request.role == Role::Owner && access.role != Role::Owner {
        return Err(ApiError::Forbidden("invite an owner: it needs an owner"));
    }
    let now = state.clock.now();
    let (invite, token) = state
        .meta
        .create_invite(
            access.project_id,
            &email,
            request.role,
            access.user_id,
            now + INVITE_LIFETIME,
            now,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvite {
            invite: invite.into(),
            token,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}/invites", tag = "projects",
    params(ProjectPath),
    responses((status = 200, body = Vec<InviteBody>), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn invites(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
) -> Result<Json<Vec<InviteBody>>, ApiError> {
    let pending = state
        .meta
        .pending_invites(project_id, state.clock.now())
        .await?;
    Ok(Json(pending.into_iter().map(InviteBody::from).collect()))
}

#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/invites/{invite_id}", tag = "projects",
    params(ProjectPath, ("invite_id" = i64, Path)),
    responses((status = 204, description = "Revoked"), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn revoke_invite(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    Path((_, invite_id)): Path<(ProjectId, InviteId)>,
) -> Result<StatusCode, ApiError> {
    state
        .meta
        .revoke_invite(access.project_id, invite_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
