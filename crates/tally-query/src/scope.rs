//! What the analytics kinds share: the "which events" part of a request
//! ([`EventMatch`]: an event name and filters, both optional) and the events a
//! query reads ([`Scope`]), which engines turn into their SQL.

use crate::error::QueryError;
use crate::filters::FilterNode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tally_core::ProjectId;
use utoipa::ToSchema;

/// Events a kind counts: `event` (absent: any event) with `filters`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventMatch {
    pub event: Option<String>,
    pub filters: Option<FilterNode>,
}

impl EventMatch {
    pub fn validate(&self, what: &str) -> Result<(), QueryError> {
        if self.event.as_deref() == Some("") {
            return Err(QueryError::InvalidQuery(format!(
                "`{what}.event` is empty; leave it out to match any event"
            )));
        }
        match &self.filters {
            Some(f) => f.validate(),
            None => Ok(()),
        }
    }

    pub fn reads_persons(&self) -> bool {
        self.filters.as_ref().is_some_and(FilterNode::reads_persons)
    }

    pub fn reads_sessions(&self) -> bool {
        self.filters
            .as_ref()
            .is_some_and(FilterNode::reads_sessions)
    }
}

/// The events one query reads: one project's events in a range, bots out
/// unless asked, shared filters applied.
pub struct Scope<'a> {
    pub project_id: ProjectId,
    /// Inclusive; `None`: since the first event.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: DateTime<Utc>,
    pub include_bots: bool,
    /// Filters every event of the query must pass.
    pub filters: Option<&'a FilterNode>,
    /// Join persons (as `pp`) because some condition reads person properties.
    pub join_persons: bool,
    /// Read the events with their sessions' facts because some condition reads
    /// session properties.
    pub join_sessions: bool,
}
