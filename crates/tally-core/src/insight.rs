//! Saved insights and custom dashboards: the values a [`crate::MetadataStore`]
//! keeps so that a question asked once in the dashboard can be asked again, by
//! anyone in the project, and shown read-only to people outside it.
//!
//! An insight stores the question (the `/query` body: `kind` plus that kind's
//! fields), never an answer: opening it runs the query again, so a range such as
//! `"date_from": "-30d"` always means the last 30 days. A dashboard is an ordered
//! list of insights of the same project. A share link is a random token of which
//! the store keeps only the digest; it grants reading that dashboard's answers
//! and nothing else.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::account::UserId;
use crate::event::ProjectId;

pub type InsightId = i64;
pub type DashboardId = i64;

/// A question saved under a name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Insight {
    pub id: InsightId,
    pub project_id: ProjectId,
    pub name: String,
    /// The `/query` body: an object with `kind` and that kind's fields.
    pub query: serde_json::Value,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an insight is made of, to create or replace one.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightDraft {
    pub name: String,
    pub query: serde_json::Value,
}

/// A named, ordered arrangement of a project's insights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    pub id: DashboardId,
    pub project_id: ProjectId,
    pub name: String,
    /// The insights shown, in order (each at most once).
    pub tiles: Vec<InsightId>,
    /// When the current share link was made; `None` when there is none.
    pub shared_at: Option<DateTime<Utc>>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}
