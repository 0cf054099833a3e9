//! ClickHouse's SQL for funnels: each event of the range (plus one window)
//! with its step bits, ordered by person and time — the rows
//! `tally_query::funnel::FunnelWalk` walks, as on DuckDB. In loose order only
//! events matching a step come back (DuckDB also drops first-step events that
//! cannot start a better attempt, with a window function ClickHouse 18.16
//! lacks; the walk's answer is the same either way).

use super::filters::{push_filter, push_property};
use super::persons::push_current_persons;
use super::scope::push_events;
use crate::client::Sql;
use tally_query::funnel::{FunnelQuery, StepOrder};
use tally_query::sql::SqlParam;

/// Rows: person, event time (µs), step bits (bit k: matches step k), breakdown
/// value.
pub(crate) fn funnel_sql(q: &FunnelQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT person, t_us, bits, bd FROM (SELECT ev.person AS person, ev.timestamp AS t_us, toInt64(");
    for (k, step) in q.steps.iter().enumerate() {
        if k > 0 {
            s.push(" + ");
        }
        s.push("if(ev.event = ")
            .bind(SqlParam::Text(step.event.clone()));
        if let Some(f) = &step.filters {
            s.push(" AND ");
            push_filter(&mut s, f);
        }
        s.push(", ").bind(SqlParam::Int(1i64 << k)).push(", 0)");
    }
    s.push(") AS bits, ");
    match &q.breakdown {
        Some(b) => push_property(&mut s, &b.property, b.source),
        None => {
            s.push("CAST(NULL AS Nullable(String))");
        }
    }
    s.push(" AS bd FROM ");
    push_events(
        &mut s,
        q.project_id,
        (Some(q.range.from), q.range.to + q.window),
        q.include_bots,
        q.reads_sessions(),
    );
    if q.reads_persons() {
        s.push(" ANY LEFT JOIN ");
        push_current_persons(&mut s, q.project_id);
        s.push(" ON pp.id = ev.person");
    }
    s.push(" WHERE ev.project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND ev.timestamp >= ")
        .bind(SqlParam::Time(q.range.from))
        .push(" AND ev.timestamp < ")
        .bind(SqlParam::Time(q.range.to + q.window));
    if !q.include_bots {
        s.push(" AND ev.is_bot = 0");
    }
    if let Some(f) = &q.filters {
        s.push(" AND ");
        push_filter(&mut s, f);
    }
    s.push(")");
    if q.order == StepOrder::Loose {
        s.push(" WHERE bits != 0");
    }
    // Events of one instant in step order, then by breakdown value, as DuckDB.
    s.push(" ORDER BY person, t_us, bits");
    if q.breakdown.is_some() {
        s.push(", bd");
    }
    s
}
