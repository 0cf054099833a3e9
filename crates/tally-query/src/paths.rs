//! Paths: the most common next (or previous) steps of persons from a start page
//! or event, N levels deep, as nodes and weighted links for a Sankey diagram.
//!
//! - A path is a person's sequence of items in the range: page paths of
//!   `$pageview`s (`path_type: pages`, the default) or event names (`events`),
//!   ordered by time, with immediate repeats collapsed (a reload is not a step).
//! - With `start_point`, each person's path starts at their first occurrence of it
//!   and follows `steps` items after it; with `end_point`, it ends at their first
//!   occurrence and shows `steps` items before it; with neither, it starts at the
//!   person's first item in the range.
//! - Node `step` is the distance from the start (negative before an end point);
//!   links always point forward in time. Each person counts once per node and
//!   link. The `limit` heaviest links are kept, with the nodes they join.

use crate::error::QueryError;
use crate::filters::FilterNode;
use crate::scope::Scope;
use crate::types::{parse_tz, TimeRange};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use tally_core::ProjectId;
use utoipa::ToSchema;

pub const DEFAULT_STEPS: usize = 3;
pub const MAX_STEPS: usize = 10;
pub const DEFAULT_LINKS: usize = 50;
pub const MAX_LINKS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathType {
    /// Page paths of `$pageview` events.
    #[default]
    Pages,
    /// Event names.
    Events,
}

/// `{"kind": "paths", …}` of `POST /query`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PathsRequest {
    #[serde(default)]
    pub path_type: PathType,
    /// Follow paths from each person's first occurrence of this item.
    pub start_point: Option<String>,
    /// Or: the paths that led to each person's first occurrence of this item.
    pub end_point: Option<String>,
    /// Items after the start (or before the end); default 3, at most 10.
    pub steps: Option<usize>,
    /// The heaviest links kept; default 50, at most 500.
    pub limit: Option<usize>,
    /// RFC 3339, `YYYY-MM-DD` or relative (`-7d`); default: 7 days before `date_to`.
    pub date_from: Option<String>,
    pub date_to: Option<String>,
    /// The IANA zone bare dates in the range are days of (default the
    /// project's time zone, UTC without one).
    pub tz: Option<String>,
    pub filters: Option<FilterNode>,
    #[serde(default)]
    pub include_bots: bool,
}

#[derive(Debug, Clone)]
pub struct PathsQuery {
    pub project_id: ProjectId,
    pub path_type: PathType,
    /// The item paths start (or, `backward`, end) at.
    pub anchor: Option<String>,
    pub backward: bool,
    pub steps: usize,
    pub limit: usize,
    pub range: TimeRange,
    /// The zone the range was given in (answered back).
    pub tz: Tz,
    pub filters: Option<FilterNode>,
    pub include_bots: bool,
}

impl PathsQuery {
    /// The events this query walks.
    pub fn scope(&self) -> Scope<'_> {
        Scope {
            project_id: self.project_id,
            from: Some(self.range.from),
            to: self.range.to,
            include_bots: self.include_bots,
            filters: self.filters.as_ref(),
            join_persons: false,
            join_sessions: false,
        }
    }
}

impl PathsRequest {
    pub fn resolve(
        self,
        project_id: ProjectId,
        now: DateTime<Utc>,
    ) -> Result<PathsQuery, QueryError> {
        let (anchor, backward) = match (self.start_point, self.end_point) {
            (Some(_), Some(_)) => {
                return Err(QueryError::InvalidQuery(
                    "give `start_point` or `end_point`, not both".into(),
                ))
            }
            (Some(s), None) => (Some(s), false),
            (None, Some(e)) => (Some(e), true),
            (None, None) => (None, false),
        };
        if anchor.as_deref() == Some("") {
            return Err(QueryError::InvalidQuery(
                "a path point cannot be empty".into(),
            ));
        }
        let steps = self.steps.unwrap_or(DEFAULT_STEPS);
        if !(1..=MAX_STEPS).contains(&steps) {
            return Err(QueryError::InvalidQuery(format!(
                "`steps` must be 1 to {MAX_STEPS}"
            )));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LINKS);
        if !(1..=MAX_LINKS).contains(&limit) {
            return Err(QueryError::InvalidQuery(format!(
                "`limit` must be 1 to {MAX_LINKS}"
            )));
        }
        if let Some(f) = &self.filters {
            f.validate()?;
        }
        let tz = parse_tz(self.tz.as_deref())?;
        let range = TimeRange::resolve_fields(
            self.date_from.as_deref(),
            self.date_to.as_deref(),
            now,
            Duration::days(7),
            ["date_from", "date_to"],
            tz,
        )?;
        Ok(PathsQuery {
            project_id,
            path_type: self.path_type,
            anchor,
            backward,
            steps,
            limit,
            range,
            tz,
            filters: self.filters,
            include_bots: self.include_bots,
        })
    }
}

/// One row of an engine's paths SQL.
#[derive(Debug, Clone)]
pub struct PathRow {
    pub step: i64,
    pub item: String,
    pub next: Option<String>,
    pub persons: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PathNode {
    /// `"{step}:{name}"`, what links refer to.
    pub id: String,
    pub step: i64,
    pub name: String,
    pub persons: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PathLink {
    pub source: String,
    pub target: String,
    pub persons: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PathsAnswer {
    pub kind: &'static str,
    pub range: TimeRange,
    /// The zone the range's bare dates were read in.
    pub tz: String,
    pub path_type: PathType,
    /// Ordered by step, then heaviest first.
    pub nodes: Vec<PathNode>,
    /// Heaviest first.
    pub links: Vec<PathLink>,
}

fn node_id(step: i64, name: &str) -> String {
    format!("{step}:{name}")
}

/// Links as the SQL ordered them; nodes that a kept link joins, plus the anchor
/// (so a start point nobody went on from still shows).
/// Node rows as they are, and of the link rows the `limit` heaviest (most
/// persons, then by step, item and next), as an engine whose SQL returns
/// every link hands them to [`assemble`].
pub fn heaviest_links(rows: Vec<PathRow>, limit: usize) -> Vec<PathRow> {
    let (mut links, mut kept): (Vec<PathRow>, Vec<PathRow>) =
        rows.into_iter().partition(|r| r.next.is_some());
    links.sort_by(|a, b| {
        b.persons
            .cmp(&a.persons)
            .then(a.step.cmp(&b.step))
            .then_with(|| a.item.cmp(&b.item))
            .then_with(|| a.next.cmp(&b.next))
    });
    links.truncate(limit);
    kept.extend(links);
    kept
}

pub fn assemble(q: &PathsQuery, rows: Vec<PathRow>) -> PathsAnswer {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut links = Vec::new();
    let mut joined = HashSet::new();
    let mut nodes = BTreeMap::new();
    for row in rows {
        match row.next {
            Some(next) => {
                let source = node_id(row.step, &row.item);
                let target = node_id(row.step + 1, &next);
                joined.insert(source.clone());
                joined.insert(target.clone());
                links.push(PathLink {
                    source,
                    target,
                    persons: count(row.persons),
                });
            }
            None => {
                nodes.insert((row.step, row.item), count(row.persons));
            }
        }
    }
    let mut nodes: Vec<PathNode> = nodes
        .into_iter()
        .map(|((step, name), persons)| PathNode {
            id: node_id(step, &name),
            step,
            name,
            persons,
        })
        .filter(|n| (n.step == 0 && q.anchor.is_some()) || joined.contains(&n.id))
        .collect();
    nodes.sort_by(|a, b| {
        a.step
            .cmp(&b.step)
            .then(b.persons.cmp(&a.persons))
            .then(a.name.cmp(&b.name))
    });
    PathsAnswer {
        kind: "paths",
        range: q.range,
        tz: q.tz.name().to_owned(),
        path_type: q.path_type,
        nodes,
        links,
    }
}
