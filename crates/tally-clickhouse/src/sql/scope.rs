//! What the analytics kinds' SQL shares on ClickHouse: the relation a
//! [`Scope`] reads (each event with the person it counts as, that person's
//! current properties joined as `pp` when a filter reads them) and an
//! [`EventMatch`]'s condition. Events come with their sessions' facts
//! (`super::sessions`) only when a condition reads them.

use super::filters::push_filter;
use super::persons::push_current_persons;
use super::push_events_with_person;
use super::sessions::{push_with_facts, Window};
use crate::client::Sql;
use chrono::{DateTime, Utc};
use tally_core::ProjectId;
use tally_query::filters::FilterNode;
use tally_query::scope::{EventMatch, Scope};
use tally_query::sql::SqlParam;

/// A boolean condition on `ev` (and `pp`) for `m`.
pub(crate) fn push_condition(s: &mut Sql, m: &EventMatch) {
    s.push("(");
    match &m.event {
        Some(e) => {
            s.push("ev.event = ").bind(SqlParam::Text(e.clone()));
        }
        None => {
            s.push("1");
        }
    }
    if let Some(f) = &m.filters {
        s.push(" AND ");
        push_filter(s, f);
    }
    s.push(")");
}

/// The events of a query from `from` to `to` as `ev`, each with the person
/// it counts as, and with its session's facts when `sessions` (cut over that
/// range plus the lookback).
pub(crate) fn push_events(
    s: &mut Sql,
    project_id: ProjectId,
    (from, to): (Option<DateTime<Utc>>, DateTime<Utc>),
    include_bots: bool,
    sessions: bool,
) {
    if sessions {
        push_with_facts(
            s,
            Window {
                project_id,
                from,
                to,
                include_bots,
            },
        );
        s.push(" AS ev");
    } else {
        push_events_with_person(s, project_id, from, to);
    }
}

/// ` FROM … ev [ANY LEFT JOIN … pp] WHERE …` for `scope`.
pub(crate) fn push_from(s: &mut Sql, scope: &Scope<'_>) {
    s.push(" FROM ");
    push_events(
        s,
        scope.project_id,
        (scope.from, scope.to),
        scope.include_bots,
        scope.join_sessions || scope.filters.is_some_and(FilterNode::reads_sessions),
    );
    if scope.join_persons || scope.filters.is_some_and(FilterNode::reads_persons) {
        s.push(" ANY LEFT JOIN ");
        push_current_persons(s, scope.project_id);
        s.push(" ON pp.id = ev.person");
    }
    s.push(" WHERE ev.project_id = ")
        .bind(SqlParam::Int(scope.project_id));
    if let Some(from) = scope.from {
        s.push(" AND ev.timestamp >= ").bind(SqlParam::Time(from));
    }
    s.push(" AND ev.timestamp < ")
        .bind(SqlParam::Time(scope.to));
    if !scope.include_bots {
        s.push(" AND ev.is_bot = 0");
    }
    if let Some(f) = scope.filters {
        s.push(" AND ");
        push_filter(s, f);
    }
}
