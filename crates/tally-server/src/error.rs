//! The one place where errors become HTTP responses. Every error body has the
//! shape `{"error": {"code": "...", "message": "..."}}`, with extra fields only
//! where a client needs them (per-event rejections, `Retry-After`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use tally_core::{EventError, MetaError, SinkError, StoreError};
use tally_ingest::DecodeError;
use tally_query::QueryError;
use thiserror::Error;
use utoipa::ToSchema;

/// One rejected event of a batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rejection {
    pub index: usize,
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
}

impl From<&EventError> for ErrorBody {
    fn from(e: &EventError) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

#[derive(Debug, Error)]
pub enum ApiError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Event(EventError),
    #[error("no event in the batch was valid")]
    AllRejected(Vec<Rejection>),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("invalid query parameter: {0}")]
    BadParameter(String),
    #[error("an API key is required: send `X-API-Key` or `Authorization: Bearer`")]
    MissingKey,
    #[error("the API key is not valid")]
    InvalidKey,
    #[error("the events of this request name different project tokens")]
    MixedTokens,
    #[error(
        "the Tlytics routes are off: set `tlytics_project` in the config file, \
         TALLY_TLYTICS_PROJECT or --tlytics-project to the id of the project Tlytics clients write to"
    )]
    TlyticsNotConfigured,
    #[error("this project is over its capture rate limit; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("not allowed to {0}")]
    Forbidden(&'static str),
    #[error("log in, or send a personal API key in `Authorization: Bearer`")]
    Unauthenticated,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("too many failed logins: this account is locked; retry after {retry_after_secs} s")]
    AccountLocked { retry_after_secs: u64 },
    #[error("too many requests from this address; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("send the session's CSRF token (the `tally_csrf` cookie) in `X-CSRF-Token`")]
    CsrfFailed,
    #[error("this refresh token was already used: the session is revoked, log in again")]
    RefreshReused,
    #[error("this project does not take events from this page's origin; add it to the project's allowed_origins")]
    OriginNotAllowed,
    #[error("the live-stream ticket is unknown, spent, expired or for another project; get one from POST …/live/ticket")]
    InvalidTicket,
    #[error("invitation: {0}")]
    InvalidInvite(&'static str),
    #[error(
        "open this route as a WebSocket (GET with `Connection: Upgrade`, `Upgrade: websocket`)"
    )]
    WebSocketRequired,
    #[error("sign-up is turned off on this server; ask an administrator for an account")]
    SignupDisabled,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Meta(#[from] MetaError),
}

impl ApiError {
    /// A 4xx: the request's fault, not the server's.
    pub fn is_client_error(&self) -> bool {
        self.status_and_code().0.is_client_error()
    }

    /// The `{"code", "message"}` this error answers with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.status_and_code().1,
            message: self.to_string(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Decode(DecodeError::BodyTooLarge { .. }) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
            }
            Self::Decode(DecodeError::UnsupportedEncoding(_)) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding")
            }
            Self::Decode(e) => (StatusCode::BAD_REQUEST, e.code()),
            Self::Event(e @ EventError::EventTooLarge { .. }) => {
                (StatusCode::PAYLOAD_TOO_LARGE, e.code())
            }
            Self::Event(e) => (StatusCode::BAD_REQUEST, e.code()),
            Self::AllRejected(_) => (StatusCode::BAD_REQUEST, "all_events_rejected"),
            Self::Query(e) => (StatusCode::BAD_REQUEST, e.code()),
            Self::BadParameter(_) => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            Self::MissingKey => (StatusCode::UNAUTHORIZED, "missing_api_key"),
            Self::InvalidKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            Self::MixedTokens => (StatusCode::UNAUTHORIZED, "mixed_tokens"),
            Self::TlyticsNotConfigured => (StatusCode::UNAUTHORIZED, "tlytics_not_configured"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::AccountLocked { .. } => (StatusCode::TOO_MANY_REQUESTS, "account_locked"),
            Self::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Self::CsrfFailed => (StatusCode::FORBIDDEN, "csrf_failed"),
            Self::RefreshReused => (StatusCode::UNAUTHORIZED, "refresh_reused"),
            Self::SignupDisabled => (StatusCode::FORBIDDEN, "signup_disabled"),
            Self::OriginNotAllowed => (StatusCode::FORBIDDEN, "origin_not_allowed"),
            Self::InvalidTicket => (StatusCode::UNAUTHORIZED, "invalid_ticket"),
            Self::InvalidInvite(_) => (StatusCode::BAD_REQUEST, "invalid_invite"),
            Self::WebSocketRequired => (StatusCode::UPGRADE_REQUIRED, "websocket_required"),
            Self::Meta(MetaError::NotFound) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Meta(MetaError::Conflict(_)) => (StatusCode::CONFLICT, "conflict"),
            Self::Meta(MetaError::Invalid(_)) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::Sink(SinkError::Overloaded { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
            }
            Self::Sink(_)
            | Self::Store(StoreError::Unavailable(_))
            | Self::Meta(MetaError::Unavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Self::Store(_) | Self::Meta(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(code, err = %self, "request failed");
        }
        let mut body = json!({"error": {"code": code, "message": self.to_string()}});
        if let Self::AllRejected(rejected) = &self {
            body["accepted"] = json!(0);
            body["rejected"] = json!(rejected);
        }
        let mut response = (status, Json(body)).into_response();
        let retry_after = match &self {
            Self::Sink(SinkError::Overloaded { retry_after_secs }) => Some(*retry_after_secs),
            Self::RateLimited { retry_after_secs }
            | Self::AccountLocked { retry_after_secs }
            | Self::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            Self::Sink(_)
            | Self::Store(StoreError::Unavailable(_))
            | Self::Meta(MetaError::Unavailable(_)) => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
