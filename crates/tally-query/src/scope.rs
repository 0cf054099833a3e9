//! What the analytics kinds share: the relation they read ([`Scope`]: one
//! project's events in a range, each with the person it counts as through merges,
//! that person's properties joined when a filter reads them, bots out unless
//! asked, shared filters applied) and the "which events" part of a request
//! ([`EventMatch`]: an event name and filters, both optional).
//!
//! The SQL names the events `ev` and the persons `pp`, as [`crate::filters`]
//! expects.

use crate::error::QueryError;
use crate::filters::FilterNode;
use crate::sql::{push_events_with_sessions, Sql, SqlParam, EVENTS_WITH_PERSON_SELECT};
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

    pub(crate) fn reads_sessions(&self) -> bool {
        self.filters
            .as_ref()
            .is_some_and(FilterNode::reads_sessions)
    }

    /// A boolean SQL condition on `ev` (and `pp`).
    pub(crate) fn push_condition(&self, s: &mut Sql) {
        s.push("(");
        match &self.event {
            Some(e) => {
                s.push("ev.event = ").bind(SqlParam::Text(e.clone()));
            }
            None => {
                s.push("TRUE");
            }
        }
        if let Some(f) = &self.filters {
            s.push(" AND ");
            f.push_sql(s);
        }
        s.push(")");
    }
}

/// The events one query reads.
pub(crate) struct Scope<'a> {
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

impl Scope<'_> {
    /// `FROM … ev [LEFT JOIN persons pp] WHERE …` for this scope.
    pub(crate) fn push_from(&self, s: &mut Sql) {
        s.push(" FROM ");
        if self.join_sessions || self.filters.is_some_and(FilterNode::reads_sessions) {
            push_events_with_sessions(s, self.project_id, self.from, self.to, self.include_bots);
        } else {
            s.push(EVENTS_WITH_PERSON_SELECT);
        }
        s.push(" ev");
        if self.join_persons || self.filters.is_some_and(FilterNode::reads_persons) {
            s.push(" LEFT JOIN persons pp ON pp.project_id = ev.project_id AND pp.id = ev.person");
        }
        s.push(" WHERE ev.project_id = ")
            .bind(SqlParam::Int(self.project_id));
        if let Some(from) = self.from {
            s.push(" AND ev.timestamp >= ").bind(SqlParam::Time(from));
        }
        s.push(" AND ev.timestamp < ").bind(SqlParam::Time(self.to));
        if !self.include_bots {
            s.push(" AND ev.is_bot IS NOT TRUE");
        }
        if let Some(f) = self.filters {
            s.push(" AND ");
            f.push_sql(s);
        }
    }
}
