//! `/api/v1/auth/*`, `/api/v1/setup` and `/api/v1/users`: first-run setup,
//! register, login, refresh, logout, `me`, password change, personal API keys,
//! and the superuser's user management.
//!
//! Login answers the same `invalid_credentials` for an unknown email and a wrong
//! password (and spends the same argon2id time on both), so it does not reveal
//! who has an account. Five failures in a row lock the account for 15 minutes
//! (configurable); a password change or a superuser's reset revokes the user's
//! other sessions.

use crate::auth::{Caller, Superuser, Via};
use crate::client_ip::ClientAddr;
use crate::cookies;
use crate::error::ApiError;
use crate::routes::json_body;
use crate::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tally_core::{
    IssuedSession, KeyScope, MetaError, NewUser, PersonalKey, RefreshOutcome, Role, User, UserId,
};
use utoipa::ToSchema;

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub id: i64,
    pub email: Option<String>,
    pub name: String,
    pub is_superuser: bool,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserBody {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            is_superuser: u.is_superuser,
            is_active: u.is_active,
            created_at: u.created_at,
        }
    }
}

/// A new browser session: its tokens are in the cookies; the CSRF token is
/// repeated here for the dashboard to echo in `X-CSRF-Token`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    pub user: UserBody,
    pub csrf_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// Register and first-run setup.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub name: String,
    /// An invitation token (register only): allowed even where sign-up is off,
    /// for the invited email; the new account joins the project.
    #[serde(default)]
    pub invite: Option<String>,
}

/// Passwords: 8 to 1024 characters (the cap bounds argon2id's work).
pub const MIN_PASSWORD: usize = 8;
pub const MAX_PASSWORD: usize = 1024;

pub fn check_password(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        return Err(ApiError::BadParameter(format!(
            "a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters"
        )));
    }
    Ok(())
}

pub fn check_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !valid {
        return Err(ApiError::BadParameter(format!(
            "`{email}` is not an email address"
        )));
    }
    Ok(email)
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.chars().count() > 200 {
        return Err(ApiError::BadParameter(
            "a name has at most 200 characters".into(),
        ));
    }
    Ok(name.to_owned())
}

fn limit(state: &AppState, client: &ClientAddr) -> Result<(), ApiError> {
    state
        .auth_limit
        .check(client.0)
        .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })
}

/// Answers `body` with the session's cookies set.
fn with_session(
    state: &AppState,
    user: User,
    issued: &IssuedSession,
    status: StatusCode,
) -> Response {
    let now = state.clock.now();
    let body = SessionBody {
        user: user.into(),
        csrf_token: issued.csrf_token.clone(),
        access_expires_at: issued.access_expires_at,
        refresh_expires_at: issued.refresh_expires_at,
    };
    let mut response = (status, Json(body)).into_response();
    for c in cookies::for_session(issued, now, state.accounts.cookie_secure) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

fn cleared(mut response: Response, secure: bool) -> Response {
    for c in cookies::cleared(secure) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

async fn open_session(
    state: &AppState,
    user: User,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let issued = state
        .meta
        .create_session(user.id, state.accounts.sessions, state.clock.now())
        .await?;
    Ok(with_session(state, user, &issued, status))
}

/// An argon2id hash of nothing in particular, so that a login for an unknown
/// email costs as much as one with a wrong password.
async fn decoy_hash() -> &'static str {
    static DECOY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DECOY
        .get_or_init(|| async {
            tally_meta::hash_password("tally decoy password".into())
                .await
                .unwrap_or_default()
        })
        .await
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, body = SessionBody, description = "Logged in; cookies set"),
        (status = 401, description = "Wrong email or password", body = crate::openapi::ErrorResponse),
        (status = 429, description = "Account locked or too many requests; see Retry-After", body = crate::openapi::ErrorResponse),
    ))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    body: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, ApiError> {
    limit(&state, &client)?;
    let creds = json_body(body)?;
    let now = state.clock.now();
    let record = state.meta.login_record(creds.email.trim()).await?;
    let Some(record) = record.filter(|r| r.password_hash.is_some()) else {
        tally_meta::verify_password(creds.password, decoy_hash().await.to_owned()).await;
        return Err(ApiError::InvalidCredentials);
    };
    if let Some(until) = record.locked_until.filter(|u| *u > now) {
        return Err(ApiError::AccountLocked {
            retry_after_secs: (until - now).num_seconds().max(1) as u64,
        });
    }
    let hash = record.password_hash.clone().unwrap_or_default();
    if !tally_meta::verify_password(creds.password, hash).await {
        let locked = state
            .meta
            .record_login_failure(
                record.user.id,
                state.accounts.max_failed_logins,
                state.accounts.lockout,
                now,
            )
            .await?;
        return Err(match locked {
            Some(until) => ApiError::AccountLocked {
                retry_after_secs: (until - now).num_seconds().max(1) as u64,
            },
            None => ApiError::InvalidCredentials,
        });
    }
    if !record.user.is_active {
        return Err(ApiError::InvalidCredentials);
    }
    state.meta.record_login_success(record.user.id).await?;
    open_session(&state, record.user, StatusCode::OK).await
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    responses(
        (status = 200, body = SessionBody, description = "New tokens in the cookies; the old refresh token is spent"),
        (status = 401, description = "No valid refresh token, or a spent one replayed (the session is then revoked)", body = crate::openapi::ErrorResponse),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    limit(&state, &client)?;
    let secure = state.accounts.cookie_secure;
    let Some(token) = cookies::value(&headers, cookies::REFRESH) else {
        return Err(ApiError::Unauthenticated);
    };
    let outcome = state
        .meta
        .refresh_session(token, state.accounts.sessions, state.clock.now())
        .await?;
    match outcome {
        RefreshOutcome::Rotated(issued) => {
            let user = state
                .meta
                .user(issued.user_id)
                .await?
                .ok_or(ApiError::Unauthenticated)?;
            Ok(with_session(&state, user, &issued, StatusCode::OK))
        }
        RefreshOutcome::ReuseDetected { session_id } => {
            tracing::warn!(
                session_id,
                "a spent refresh token was replayed; session revoked"
            );
            Ok(cleared(ApiError::RefreshReused.into_response(), secure))
        }
        RefreshOutcome::Invalid => Ok(cleared(ApiError::Unauthenticated.into_response(), secure)),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Session revoked, cookies cleared")))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    // Logging out needs no CSRF token: the worst a forged logout does is log out.
    if let Some(token) = cookies::value(&headers, cookies::ACCESS) {
        if let Some(session) = state.meta.session(token, now).await? {
            state.meta.revoke_session(session.session_id, now).await?;
        }
    }
    Ok(cleared(
        StatusCode::NO_CONTENT.into_response(),
        state.accounts.cookie_secure,
    ))
}

/// One of my projects.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyProject {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeBody {
    pub user: UserBody,
    /// `session` or `key`.
    pub authenticated_by: &'static str,
    pub projects: Vec<MyProject>,
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = MeBody), (status = 401, body = crate::openapi::ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<MeBody>, ApiError> {
    let projects = state
        .meta
        .projects_of_user(caller.user.id)
        .await?
        .into_iter()
        .map(|(p, role)| MyProject {
            id: p.id,
            name: p.name,
            role,
        })
        .collect();
    Ok(Json(MeBody {
        authenticated_by: match caller.via {
            Via::Session(_) => "session",
            Via::Key(_) => "key",
        },
        user: caller.user.into(),
        projects,
    }))
}

/// Changes to my own account (the password has its own route).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// Display name: up to 100 characters, no control characters; empty clears it.
    pub name: Option<String>,
}

/// The longest display name, in characters.
const MAX_USER_NAME: usize = 100;

#[utoipa::path(patch, path = "/api/v1/auth/me", tag = "auth",
    request_body = ProfilePatch,
    responses((status = 200, body = MeBody), (status = 400, body = crate::openapi::ErrorResponse),
        (status = 401, body = crate::openapi::ErrorResponse), (status = 403, body = crate::openapi::ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn patch_me(
    State(state): State<AppState>,
    mut caller: Caller,
    body: Result<Json<ProfilePatch>, JsonRejection>,
) -> Result<Json<MeBody>, ApiError> {
    let patch = json_body(body)?;
    if !caller.may_write() {
        return Err(ApiError::Forbidden("change a profile with a read-only key"));
    }
    if let Some(name) = patch.name {
        let name = name.trim();
        if name.chars().count() > MAX_USER_NAME || name.chars().any(char::is_control) {
            return Err(ApiError::BadParameter(format!(
                "`name` must be at most {MAX_USER_NAME} characters, without control characters"
            )));
        }
        state.meta.set_user_name(caller.user.id, name).await?;
        caller.user.name = name.to_owned();
    }
    me(State(state), caller).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth",
    request_body = PasswordChange,
    responses((status = 204, description = "Changed; every other session of the user is revoked"),
        (status = 401, body = crate::openapi::ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    client: ClientAddr,
    caller: Caller,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    limit(&state, &client)?;
    let change = json_body(body)?;
    if !caller.may_write() {
        return Err(ApiError::Forbidden(
            "change a password with a read-only key",
        ));
    }
    check_password(&change.new_password)?;
    let email = caller
        .user
        .email
        .clone()
        .ok_or(ApiError::InvalidCredentials)?;
    let record = state
        .meta
        .login_record(&email)
        .await?
        .ok_or(ApiError::InvalidCredentials)?;
    let hash = record.password_hash.unwrap_or_default();
    if !tally_meta::verify_password(change.current_password, hash).await {
        return Err(ApiError::InvalidCredentials);
    }
    let new_hash = tally_meta::hash_password(change.new_password).await?;
    state.meta.set_password(caller.user.id, &new_hash).await?;
    state
        .meta
        .revoke_user_sessions(caller.user.id, caller.session_id(), state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = NewAccount,
    responses((status = 201, body = SessionBody, description = "Account made and logged in"),
        (status = 403, description = "Sign-up is off", body = crate::openapi::ErrorResponse),
        (status = 409, description = "The email is taken", body = crate::openapi::ErrorResponse)))]
pub async fn register(
    State(state): State<AppState>,
    client: ClientAddr,
    body: Result<Json<NewAccount>, JsonRejection>,
) -> Result<Response, ApiError> {
    limit(&state, &client)?;
    let account = json_body(body)?;
    let now = state.clock.now();
    let invite = match account.invite.as_deref() {
        Some(token) => Some(
            state
                .meta
                .invite(token, now)
                .await?
                .ok_or(ApiError::InvalidInvite("unknown, used, revoked or expired"))?,
        ),
        None => None,
    };
    if invite.is_none() && !state.accounts.allow_signup {
        return Err(ApiError::SignupDisabled);
    }
    let email = check_email(&account.email)?;
    if invite.as_ref().is_some_and(|i| i.email != email) {
        return Err(ApiError::InvalidInvite("it is for another email address"));
    }
    check_password(&account.password)?;
    let name = check_name(&account.name)?;
    let hash = tally_meta::hash_password(account.password).await?;
    let user = state
        .meta
        .create_user(
            NewUser {
                email: Some(email),
                name,
                password_hash: Some(hash),
                is_superuser: false,
            },
            now,
        )
        .await?;
    if let Some(token) = account.invite.as_deref() {
        state.meta.accept_invite(token, user.id, now).await?;
    }
    open_session(&state, user, StatusCode::CREATED).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    pub token: String,
}

#[utoipa::path(post, path = "/api/v1/auth/invites/accept", tag = "auth",
    request_body = AcceptInvite,
    responses((status = 200, body = MyProject, description = "Joined the project"),
        (status = 400, description = "Unknown, used, revoked or expired, or for another email", body = crate::openapi::ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn accept_invite(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<AcceptInvite>, JsonRejection>,
) -> Result<Json<MyProject>, ApiError> {
    let request = json_body(body)?;
    if !caller.may_write() {
        return Err(ApiError::Forbidden(
            "accept an invitation with a read-only key",
        ));
    }
    let now = state.clock.now();
    let invite = state
        .meta
        .invite(&request.token, now)
        .await?
        .ok_or(ApiError::InvalidInvite("unknown, used, revoked or expired"))?;
    if caller.user.email.as_deref() != Some(invite.email.as_str()) {
        return Err(ApiError::InvalidInvite("it is for another email address"));
    }
    state
        .meta
        .accept_invite(&request.token, caller.user.id, now)
        .await
        .map_err(|e| match e {
            MetaError::NotFound => ApiError::InvalidInvite("unknown, used, revoked or expired"),
            other => other.into(),
        })?;
    let role = state
        .meta
        .role_of(invite.project_id, caller.user.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let project = state
        .meta
        .get_project(invite.project_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(MyProject {
        id: project.id,
        name: project.name,
        role,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupStatus {
    /// True until the first user has an email and password.
    pub needed: bool,
    pub allow_signup: bool,
}

#[utoipa::path(get, path = "/api/v1/setup", tag = "auth",
    responses((status = 200, body = SetupStatus)))]
pub async fn setup_status(State(state): State<AppState>) -> Result<Json<SetupStatus>, ApiError> {
    Ok(Json(SetupStatus {
        needed: !state.meta.setup_complete().await?,
        allow_signup: state.accounts.allow_signup,
    }))
}

#[utoipa::path(post, path = "/api/v1/setup", tag = "auth",
    request_body = NewAccount,
    responses((status = 201, body = SessionBody, description = "The first user (a superuser owning the default project) is set up and logged in"),
        (status = 409, description = "Setup is done; it locks itself", body = crate::openapi::ErrorResponse)))]
pub async fn setup(
    State(state): State<AppState>,
    client: ClientAddr,
    body: Result<Json<NewAccount>, JsonRejection>,
) -> Result<Response, ApiError> {
    limit(&state, &client)?;
    let account = json_body(body)?;
    let email = check_email(&account.email)?;
    check_password(&account.password)?;
    let name = check_name(&account.name)?;
    if state.meta.setup_complete().await? {
        return Err(MetaError::Conflict("setup is done: a user can already log in".into()).into());
    }
    let hash = tally_meta::hash_password(account.password).await?;
    let user = state
        .meta
        .claim_first_user(&email, &name, &hash, state.clock.now())
        .await?;
    open_session(&state, user, StatusCode::CREATED).await
}

/// A personal API key as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyBody {
    pub id: i64,
    pub name: String,
    pub scope: KeyScope,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<PersonalKey> for KeyBody {
    fn from(k: PersonalKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            scope: k.scope,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

/// A new key: `key` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewKeyBody {
    #[serde(flatten)]
    pub listed: KeyBody,
    pub key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    pub name: String,
    /// `read` (default) or `write`.
    #[serde(default = "read_scope")]
    pub scope: KeyScope,
}

fn read_scope() -> KeyScope {
    KeyScope::Read
}

#[utoipa::path(get, path = "/api/v1/auth/keys", tag = "auth",
    responses((status = 200, body = Vec<KeyBody>)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<KeyBody>>, ApiError> {
    let keys = state.meta.personal_keys(caller.user.id).await?;
    Ok(Json(keys.into_iter().map(KeyBody::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/auth/keys", tag = "auth",
    request_body = KeyRequest,
    responses((status = 201, body = NewKeyBody)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<KeyRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<NewKeyBody>), ApiError> {
    let request = json_body(body)?;
    if !caller.may_write() {
        return Err(ApiError::Forbidden("make keys with a read-only key"));
    }
    let name = check_name(&request.name)?;
    if name.is_empty() {
        return Err(ApiError::BadParameter("a key needs a name".into()));
    }
    let (listed, issued) = state
        .meta
        .create_personal_key(caller.user.id, &name, request.scope, state.clock.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewKeyBody {
            listed: listed.into(),
            key: issued.plaintext,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/auth/keys/{key_id}", tag = "auth",
    params(("key_id" = i64, Path, description = "One of my keys")),
    responses((status = 204, description = "Revoked"), (status = 404, body = crate::openapi::ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !caller.may_write() {
        return Err(ApiError::Forbidden("revoke keys with a read-only key"));
    }
    state
        .meta
        .revoke_personal_key(caller.user.id, key_id, state.clock.now())
        .await?;
    state.key_cache.forget_all();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<UserBody>), (status = 403, body = crate::openapi::ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    _su: Superuser,
) -> Result<Json<Vec<UserBody>>, ApiError> {
    let users = state.meta.users().await?;
    Ok(Json(users.into_iter().map(UserBody::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub is_active: Option<bool>,
    /// A new password; the user's sessions are revoked.
    pub password: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = i64, Path)),
    request_body = UserPatch,
    responses((status = 200, body = UserBody), (status = 403, body = crate::openapi::ErrorResponse), (status = 404, body = crate::openapi::ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn patch_user(
    State(state): State<AppState>,
    Superuser(caller): Superuser,
    Path(user_id): Path<UserId>,
    body: Result<Json<UserPatch>, JsonRejection>,
) -> Result<Json<UserBody>, ApiError> {
    let patch = json_body(body)?;
    let now = state.clock.now();
    if let Some(active) = patch.is_active {
        if !active && user_id == caller.user.id {
            return Err(ApiError::BadParameter(
                "a superuser cannot deactivate themselves".into(),
            ));
        }
        state.meta.set_user_active(user_id, active).await?;
        state.key_cache.forget_all();
    }
    if let Some(password) = patch.password {
        check_password(&password)?;
        let hash = tally_meta::hash_password(password).await?;
        state.meta.set_password(user_id, &hash).await?;
        state.meta.revoke_user_sessions(user_id, None, now).await?;
    }
    let user = state.meta.user(user_id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(user.into()))
}

#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = i64, Path)),
    responses((status = 204, description = "Deleted with their keys, sessions and memberships"), (status = 404, body = crate::openapi::ErrorResponse)),
    security(("personal_key" = []), ("session" = [])))]
pub async fn delete_user(
    State(state): State<AppState>,
    Superuser(caller): Superuser,
    Path(user_id): Path<UserId>,
) -> Result<StatusCode, ApiError> {
    if user_id == caller.user.id {
        return Err(ApiError::BadParameter(
            "a superuser cannot delete themselves".into(),
        ));
    }
    state.meta.delete_user(user_id).await?;
    state.key_cache.forget_all();
    Ok(StatusCode::NO_CONTENT)
}
