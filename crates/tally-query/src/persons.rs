//! The persons list: a project's persons, most recently seen first, with their
//! ids, properties, first/last seen and event count; searched by text (any of
//! their distinct ids, or their properties) and filtered on person properties.

use crate::error::QueryError;
use crate::filters::FilterNode;
use crate::types::{page_limit, PersonRecord};
use serde::{Deserialize, Serialize};
use tally_core::ProjectId;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PersonOrder {
    #[default]
    LastSeen,
    FirstSeen,
}

/// `{"kind": "persons", …}` of `POST /query`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonsRequest {
    /// Text in any of a person's distinct ids or in their properties (names or
    /// values), case-insensitive.
    pub search: Option<String>,
    /// Person-property filters (every leaf `"type": "person"`).
    pub filters: Option<FilterNode>,
    /// Newest `last_seen` (default) or `first_seen` first.
    #[serde(default)]
    pub order_by: PersonOrder,
    /// Default 100, at most 1000.
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: usize,
}

#[derive(Debug, Clone)]
pub struct PersonsQuery {
    pub project_id: ProjectId,
    pub search: Option<String>,
    pub filters: Option<FilterNode>,
    pub order_by: PersonOrder,
    pub limit: usize,
    pub offset: usize,
}

impl PersonsRequest {
    pub fn resolve(self, project_id: ProjectId) -> Result<PersonsQuery, QueryError> {
        if let Some(f) = &self.filters {
            f.validate()?;
            if !f.reads_only_persons() {
                return Err(QueryError::InvalidFilter(
                    "persons are filtered on person properties: give each filter \"type\": \"person\""
                        .into(),
                ));
            }
        }
        Ok(PersonsQuery {
            project_id,
            search: self.search.filter(|s| !s.is_empty()),
            filters: self.filters,
            order_by: self.order_by,
            limit: page_limit(self.limit)?,
            offset: self.offset,
        })
    }
}

/// A person in the list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PersonListItem {
    #[serde(flatten)]
    pub person: PersonRecord,
    /// Stored events under any of the person's ids (bots included).
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PersonsPage {
    pub kind: &'static str,
    pub results: Vec<PersonListItem>,
    /// The `offset` of the next page; `null` on the last.
    pub next_offset: Option<usize>,
}
