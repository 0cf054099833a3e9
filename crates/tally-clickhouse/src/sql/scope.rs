//! What the analytics kinds' SQL shares on ClickHouse: the relation a
//! [`Scope`] reads (each event with the person it counts as, that person's
//! current properties joined as `pp` when a filter reads them) and an
//! [`EventMatch`]'s condition. `None` where a session property is read (not
//! said on ClickHouse yet).

use super::filters::push_filter;
use super::persons::push_current_persons;
use super::push_events_with_person;
use crate::client::Sql;
use tally_query::filters::FilterNode;
use tally_query::scope::{EventMatch, Scope};
use tally_query::sql::SqlParam;

/// A boolean condition on `ev` (and `pp`) for `m`.
pub(crate) fn push_condition(s: &mut Sql, m: &EventMatch) -> Option<()> {
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
        push_filter(s, f)?;
    }
    s.push(")");
    Some(())
}

/// ` FROM … ev [ANY LEFT JOIN … pp] WHERE …` for `scope`.
pub(crate) fn push_from(s: &mut Sql, scope: &Scope<'_>) -> Option<()> {
    if scope.join_sessions || scope.filters.is_some_and(FilterNode::reads_sessions) {
        return None;
    }
    s.push(" FROM ");
    push_events_with_person(s, scope.project_id);
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
        push_filter(s, f)?;
    }
    Some(())
}
