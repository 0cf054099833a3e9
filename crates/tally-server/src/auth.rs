//! Key authentication. A key comes in `X-API-Key` or `Authorization: Bearer`. An
//! ingest key may only write; an admin key may write and read. A key only ever
//! reaches its own project: asking for another project's data answers 404, the
//! same as for a project that does not exist.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use tally_core::{KeyGrant, KeyKind, ProjectId};

pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.trim());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<KeyGrant, ApiError> {
    let key = presented_key(headers)
        .filter(|k| !k.is_empty())
        .ok_or(ApiError::MissingKey)?;
    state
        .meta
        .authenticate(key)
        .await?
        .ok_or(ApiError::InvalidKey)
}

/// Extracts the `{project_id}` of the path and checks that the request's key may
/// read it. A handler taking `ReadAccess` cannot forget either step.
pub struct ReadAccess(pub ProjectId);

impl FromRequestParts<AppState> for ReadAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Read as a map so that routes with more path parameters work too.
        let Path(path) =
            Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound)?;
        let project_id: ProjectId = path
            .get("project_id")
            .and_then(|id| id.parse().ok())
            .ok_or(ApiError::NotFound)?;
        let grant = authenticate(state, &parts.headers).await?;
        if grant.kind != KeyKind::Admin {
            return Err(ApiError::Forbidden("read data; use an admin key"));
        }
        if grant.project_id != project_id {
            return Err(ApiError::NotFound);
        }
        Ok(Self(project_id))
    }
}
