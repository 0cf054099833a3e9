//! `POST /api/v1/projects/{project_id}/live/ticket` and
//! `GET /api/v1/projects/{project_id}/live?ticket=…` (WebSocket): see
//! [`crate::live`] for why tickets.

use crate::auth::{Caller, ProjectRead};
use crate::error::ApiError;
use crate::openapi::{ErrorResponse, ProjectPath};
use crate::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tally_core::{EventBatch, ProjectId};
use tokio::sync::broadcast;
use utoipa::{IntoParams, ToSchema};

/// A ticket for one WebSocket connection to the project's live stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveTicket {
    pub ticket: String,
    /// 30 seconds from now; single use.
    pub expires_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/api/v1/projects/{project_id}/live/ticket", tag = "live",
    params(ProjectPath),
    responses((status = 200, body = LiveTicket), crate::openapi::ReadErrors),
    security(("personal_key" = []), ("session" = [])))]
pub async fn ticket(
    State(state): State<AppState>,
    ProjectRead(project_id): ProjectRead,
    caller: Caller,
) -> Json<LiveTicket> {
    let (ticket, expires_at) =
        state
            .live
            .issue_ticket(project_id, caller.user.id, state.clock.now());
    Json(LiveTicket { ticket, expires_at })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LiveQuery {
    /// From `POST …/live/ticket`.
    pub ticket: Option<String>,
}

/// Upgrades to a WebSocket that sends `{"type": "event", "event": {...}}` for each
/// event of the project as it is stored, and `{"type": "lagged", "missed_batches":
/// n}` when this viewer fell behind.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/live", tag = "live",
    params(ProjectPath, LiveQuery),
    responses(
        (status = 101, description = "WebSocket: the project's events as they are stored"),
        (status = 401, description = "Unknown, spent, expired or another project's ticket", body = ErrorResponse),
        (status = 426, description = "Not a WebSocket request", body = ErrorResponse),
    ))]
pub async fn socket(
    State(state): State<AppState>,
    Path(project_id): Path<ProjectId>,
    Query(query): Query<LiveQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let user_id = query
        .ticket
        .and_then(|t| state.live.redeem(&t, project_id, state.clock.now()))
        .ok_or(ApiError::InvalidTicket)?;
    // Still a member, and still active, at the moment of connecting.
    let active = state.meta.user(user_id).await?.is_some_and(|u| u.is_active);
    if !active || state.meta.role_of(project_id, user_id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let upgrade = upgrade.map_err(|_| ApiError::WebSocketRequired)?;
    let feed = state.live.subscribe();
    Ok(upgrade.on_upgrade(move |socket| stream(socket, feed, project_id)))
}

async fn stream(
    mut socket: WebSocket,
    mut feed: broadcast::Receiver<EventBatch>,
    project_id: ProjectId,
) {
    loop {
        tokio::select! {
            batch = feed.recv() => {
                let messages: Vec<String> = match batch {
                    Ok(batch) => batch
                        .iter()
                        .filter(|e| e.project_id == project_id)
                        .map(|e| json!({"type": "event", "event": e}).to_string())
                        .collect(),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        vec![json!({"type": "lagged", "missed_batches": missed}).to_string()]
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                for text in messages {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                // Pings are answered by axum; anything else a viewer sends is ignored.
                Some(Ok(_)) => {}
            },
        }
    }
}
