//! A project's pipeline settings: read them, change some of them. The processing
//! stage and capture use a change from the next batch / request on.

use crate::auth::{ProjectAdmin, ProjectRead};
use crate::error::ApiError;
use crate::openapi::{ProjectPath, ReadErrors};
use crate::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use tally_core::{PipelineSettings, ProjectSwitches};
use tally_ingest::DecodeError;
use utoipa::ToSchema;

/// The settings of the processing pipeline.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct SettingsBody {
    /// Bots are dropped instead of stored flagged (and left out of answers).
    pub drop_bots: bool,
    /// Client addresses are used for GeoIP and the daily address hash.
    pub use_ip: bool,
}

impl From<PipelineSettings> for SettingsBody {
    fn from(s: PipelineSettings) -> Self {
        Self {
            drop_bots: s.drop_bots,
            use_ip: s.use_ip,
        }
    }
}

/// Fields to change; absent ones stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub drop_bots: Option<bool>,
    pub use_ip: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/projects/{project_id}/settings", tag = "projects",
    params(ProjectPath),
    responses((status = 200, body = SettingsBody), ReadErrors),
    security(("personal_key" = []), ("session" = [])))]
pub async fn get_settings(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
) -> Json<SettingsBody> {
    Json(state.settings.pipeline_settings(project_id).into())
}

#[utoipa::path(patch, path = "/api/v1/projects/{project_id}/settings", tag = "projects",
    params(ProjectPath),
    request_body = SettingsPatch,
    responses((status = 200, body = SettingsBody), ReadErrors),
    security(("personal_key" = []), ("session" = [])))]
pub async fn patch_settings(
    State(state): State<AppState>,
    ProjectAdmin(access): ProjectAdmin,
    patch: Result<Json<SettingsPatch>, JsonRejection>,
) -> Result<Json<SettingsBody>, ApiError> {
    let Json(patch) = patch.map_err(|e| DecodeError::InvalidJson(e.body_text()))?;
    let project_id = access.project_id;
    let mut settings = state.settings.pipeline_settings(project_id);
    settings.drop_bots = patch.drop_bots.unwrap_or(settings.drop_bots);
    settings.use_ip = patch.use_ip.unwrap_or(settings.use_ip);
    state.settings.set(project_id, settings).await?;
    Ok(Json(settings.into()))
}
