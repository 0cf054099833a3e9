//! Who is calling, and what they may do.
//!
//! - An **ingest key** (`X-API-Key` / `Authorization: Bearer` / an SDK's token)
//!   only writes events to its project: [`ingest_project`].
//! - A **personal API key** (bearer) acts as its user, read-only or read/write.
//! - A **browser session** (the `tally_access` cookie) acts as its user; its
//!   writes must carry the session's CSRF token in `X-CSRF-Token`.
//!
//! Project routes take [`ProjectRead`], [`ProjectAdmin`] or [`ProjectOwner`],
//! which check membership and role before the handler runs, so a handler cannot
//! forget to. A project the caller is not a member of answers 404, the same as
//! one that does not exist; a member without the role answers 403.

use crate::cookies;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use tally_core::{KeyGrant, KeyScope, ProjectId, Role, SessionId, User};

pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.trim());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Checks a key through the cache of recent successes.
pub async fn check_key(state: &AppState, key: &str) -> Result<Option<KeyGrant>, ApiError> {
    let now = state.clock.now();
    Ok(state
        .key_cache
        .authenticate(key, || state.meta.authenticate(key, now))
        .await?)
}

/// The project an ingest key writes to.
pub async fn ingest_project(state: &AppState, key: &str) -> Result<ProjectId, ApiError> {
    if key.is_empty() {
        return Err(ApiError::MissingKey);
    }
    match check_key(state, key).await? {
        Some(KeyGrant::Ingest { project_id }) => Ok(project_id),
        Some(KeyGrant::Personal { .. }) => Err(ApiError::Forbidden(
            "capture events with a personal key; send the project's ingest key",
        )),
        None => Err(ApiError::InvalidKey),
    }
}

/// The project of the ingest key in the request's headers.
pub async fn ingest_project_from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<ProjectId, ApiError> {
    ingest_project(state, presented_key(headers).ok_or(ApiError::MissingKey)?).await
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session(SessionId),
    Key(KeyScope),
}

/// A logged-in user (session cookie) or a personal API key's user.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub via: Via,
}

impl Caller {
    /// Sessions may write; keys only with the write scope.
    pub fn may_write(&self) -> bool {
        self.via != Via::Key(KeyScope::Read)
    }

    pub fn session_id(&self) -> Option<SessionId> {
        match self.via {
            Via::Session(id) => Some(id),
            Via::Key(_) => None,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let now = state.clock.now();
        if let Some(key) = presented_key(&parts.headers).filter(|k| !k.is_empty()) {
            let grant = check_key(state, key).await?.ok_or(ApiError::InvalidKey)?;
            let KeyGrant::Personal { user_id, scope, .. } = grant else {
                return Err(ApiError::Forbidden(
                    "read or manage with an ingest key; use a personal API key",
                ));
            };
            let user = active_user(state, user_id).await?;
            return Ok(Self {
                user,
                via: Via::Key(scope),
            });
        }
        let token =
            cookies::value(&parts.headers, cookies::ACCESS).ok_or(ApiError::Unauthenticated)?;
        let session = state
            .meta
            .session(token, now)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) {
                return Err(ApiError::CsrfFailed);
            }
        }
        let user = active_user(state, session.user_id).await?;
        Ok(Self {
            user,
            via: Via::Session(session.session_id),
        })
    }
}

async fn active_user(state: &AppState, user_id: tally_core::UserId) -> Result<User, ApiError> {
    match state.meta.user(user_id).await? {
        Some(user) if user.is_active => Ok(user),
        _ => Err(ApiError::Unauthenticated),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A caller with at least some role in the project of the path.
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    pub project_id: ProjectId,
    pub role: Role,
    pub user_id: tally_core::UserId,
}

async fn project_access(
    parts: &mut Parts,
    state: &AppState,
    least: Role,
    writes: bool,
) -> Result<ProjectAccess, ApiError> {
    // Read as a map so that routes with more path parameters work too.
    let Path(path) =
        Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
    let project_id: ProjectId = path
        .get("project_id")
        .and_then(|id| id.parse().ok())
        .ok_or(ApiError::NotFound)?;
    let caller = Caller::from_request_parts(parts, state).await?;
    let role = state
        .meta
        .role_of(project_id, caller.user.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if role < least {
        return Err(ApiError::Forbidden(match least {
            Role::Owner => "do this: it needs the owner role",
            _ => "do this: it needs the admin role",
        }));
    }
    if writes && !caller.may_write() {
        return Err(ApiError::Forbidden("change anything with a read-only key"));
    }
    Ok(ProjectAccess {
        project_id,
        role,
        user_id: caller.user.id,
    })
}

/// Any member: reads the project's data.
pub struct ProjectRead(pub ProjectId);

impl FromRequestParts<AppState> for ProjectRead {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(
            project_access(parts, state, Role::Viewer, false)
                .await?
                .project_id,
        ))
    }
}

/// An admin or owner, allowed to write: settings, keys, members.
pub struct ProjectAdmin(pub ProjectAccess);

impl FromRequestParts<AppState> for ProjectAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(project_access(parts, state, Role::Admin, true).await?))
    }
}

/// An owner, allowed to write: deleting the project, managing owners.
pub struct ProjectOwner(pub ProjectAccess);

impl FromRequestParts<AppState> for ProjectOwner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(project_access(parts, state, Role::Owner, true).await?))
    }
}

/// A superuser (with a session or a write-scoped key, for changes).
pub struct Superuser(pub Caller);

impl FromRequestParts<AppState> for Superuser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if !caller.user.is_superuser {
            return Err(ApiError::Forbidden("manage users: it needs a superuser"));
        }
        if parts.method != Method::GET && !caller.may_write() {
            return Err(ApiError::Forbidden("change anything with a read-only key"));
        }
        Ok(Self(caller))
    }
}
