//! Accounts: users, their roles in projects, personal API keys and browser
//! sessions — the values a [`crate::MetadataStore`] keeps and the server checks.
//!
//! Secrets (passwords, keys, session tokens) never appear here in a form that
//! could be stored: a store receives password hashes, and issues keys and tokens
//! whose plaintext it returns once while keeping only hashes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type UserId = i64;
pub type SessionId = i64;
pub type PersonalKeyId = i64;
pub type InviteId = i64;

/// A person who logs in. The first user of a data dir may exist before anyone
/// claims it (no email, no password): it owns what the first start created, and
/// the bootstrap admin token is its personal key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    /// Lower-cased; `None` only for the unclaimed first user.
    pub email: Option<String>,
    pub name: String,
    pub is_superuser: bool,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

/// A user to create. The password arrives hashed (argon2id, PHC string).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Option<String>,
    pub name: String,
    pub password_hash: Option<String>,
    pub is_superuser: bool,
}

/// What a login needs to see of a user.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub user: User,
    pub password_hash: Option<String>,
    /// Failed attempts since the last success or lockout.
    pub failed_logins: i64,
    pub locked_until: Option<DateTime<Utc>>,
}

/// A user's role in a project. Ordered: each role can do what the ones below it can.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the project's data.
    Viewer,
    /// Also changes settings, keys and members.
    Admin,
    /// Also renames and deletes the project and manages owners.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

/// A member of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user: User,
    pub role: Role,
}

/// What a personal API key may do, within the projects its user belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    Read,
    /// Read and write (settings, members, keys, projects), as far as the role allows.
    Write,
}

impl KeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }
}

/// A personal API key as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonalKey {
    pub id: PersonalKeyId,
    pub name: String,
    pub scope: KeyScope,
    pub created_at: DateTime<Utc>,
    /// When it last authenticated a request, to within the key cache's lifetime.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// An invitation to join a project, pending until accepted, revoked or expired.
/// Its token (shown once, to be passed on by whoever invited) lets the invited
/// email register even where sign-up is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invite {
    pub id: InviteId,
    pub project_id: crate::event::ProjectId,
    /// Lower-cased; only an account with this email can accept.
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A browser session just opened or rotated: plaintext tokens, shown once.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
    /// Sent back in `X-CSRF-Token` on cookie-authenticated writes.
    pub csrf_token: String,
}

/// A valid access token's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGrant {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub csrf_token: String,
}

/// How long session tokens live.
#[derive(Debug, Clone, Copy)]
pub struct SessionLifetimes {
    pub access: chrono::Duration,
    pub refresh: chrono::Duration,
}

impl Default for SessionLifetimes {
    fn default() -> Self {
        Self {
            access: chrono::Duration::minutes(15),
            refresh: chrono::Duration::days(30),
        }
    }
}

/// What presenting a refresh token did.
#[derive(Debug, Clone)]
pub enum RefreshOutcome {
    /// The token was current: it is now spent and these replace it.
    Rotated(IssuedSession),
    /// The token had already been spent: someone replayed it, so the whole
    /// session is revoked (the thief's copy and the owner's alike).
    ReuseDetected { session_id: SessionId },
    /// Unknown, expired or revoked.
    Invalid,
}

/// Project settings beyond the pipeline switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectOptions {
    /// IANA name; answers default to it.
    pub timezone: String,
    /// Origins (`https://shop.example`) browsers may capture from; empty: any.
    pub allowed_origins: Vec<String>,
    /// Days of events to keep; `None`: forever.
    pub retention_days: Option<u32>,
}

impl Default for ProjectOptions {
    fn default() -> Self {
        Self {
            timezone: "UTC".to_owned(),
            allowed_origins: Vec::new(),
            retention_days: None,
        }
    }
}
