//! What the analytics kinds' SQL shares: the relation a [`Scope`] reads (each
//! event with the person it counts as through merges, that person's properties
//! joined when a filter reads them) and an [`EventMatch`]'s condition.
//!
//! The SQL names the events `ev` and the persons `pp`, as [`super::filters`]
//! expects.

use super::filters::push_filter;
use super::{push_events_with_sessions, Sql, EVENTS_WITH_PERSON_SELECT};
use tally_query::filters::FilterNode;
use tally_query::scope::{EventMatch, Scope};
use tally_query::sql::SqlParam;

/// A boolean SQL condition on `ev` (and `pp`) for `m`.
pub(crate) fn push_condition(s: &mut Sql, m: &EventMatch) {
    s.push("(");
    match &m.event {
        Some(e) => {
            s.push("ev.event = ").bind(SqlParam::Text(e.clone()));
        }
        None => {
            s.push("TRUE");
        }
    }
    if let Some(f) = &m.filters {
        s.push(" AND ");
        push_filter(s, f);
    }
    s.push(")");
}

/// `FROM … ev [LEFT JOIN persons pp] WHERE …` for `scope`.
pub(crate) fn push_from(s: &mut Sql, scope: &Scope<'_>) {
    s.push(" FROM ");
    if scope.join_sessions || scope.filters.is_some_and(FilterNode::reads_sessions) {
        push_events_with_sessions(
            s,
            scope.project_id,
            scope.from,
            scope.to,
            scope.include_bots,
        );
    } else {
        s.push(EVENTS_WITH_PERSON_SELECT);
    }
    s.push(" ev");
    if scope.join_persons || scope.filters.is_some_and(FilterNode::reads_persons) {
        s.push(" LEFT JOIN persons pp ON pp.project_id = ev.project_id AND pp.id = ev.person");
    }
    s.push(" WHERE ev.project_id = ")
        .bind(SqlParam::Int(scope.project_id));
    if let Some(from) = scope.from {
        s.push(" AND ev.timestamp >= ").bind(SqlParam::Time(from));
    }
    s.push(" AND ev.timestamp < ")
        .bind(SqlParam::Time(scope.to));
    if !scope.include_bots {
        s.push(" AND ev.is_bot IS NOT TRUE");
    }
    if let Some(f) = scope.filters {
        s.push(" AND ");
        push_filter(s, f);
    }
}
