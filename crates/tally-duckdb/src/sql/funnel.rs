//! DuckDB's SQL for funnels: the rows `tally_query::funnel::FunnelWalk` walks.

use super::filters::{push_filter, push_property};
use super::{push_events_with_sessions, Sql, EVENTS_WITH_PERSON_SELECT};
use tally_query::funnel::{FunnelQuery, StepOrder};
use tally_query::sql::SqlParam;

/// Rows: person, event time (µs), step bits (bit k: matches step k), breakdown
/// value (text or NULL; NULL without a breakdown), ordered by person then time. In loose order only events matching a step are returned, and
/// of a run of first-step-only events only the last (see the comment inside).
pub fn funnel_sql(q: &FunnelQuery) -> Sql {
    let reads_persons = q.reads_persons();
    // Events of one instant are walked in step order (the first step's before
    // the second's), so a step done at the same instant as the one before it
    // counts, as PostHog and ClickHouse's `windowFunnel` count it; the
    // breakdown value orders what is left, so the walk is the same every time.
    // (Not the event's uuid: a 16-byte sort key on every row cost ~30 % of the
    // query on 10M events.)
    let order = if q.breakdown.is_some() {
        "t_us, bits, bd"
    } else {
        "t_us, bits"
    };
    let mut s = Sql::default();
    // `marked`: every event of the range (plus a window) with its step bits.
    s.push("WITH marked AS (SELECT * FROM (SELECT ev.person, epoch_us(ev.timestamp) AS t_us, ");
    for (k, step) in q.steps.iter().enumerate() {
        if k > 0 {
            s.push(" | ");
        }
        s.push("(CASE WHEN ev.event = ")
            .bind(SqlParam::Text(step.event.clone()));
        if let Some(f) = &step.filters {
            s.push(" AND ");
            push_filter(&mut s, f);
        }
        s.push(" THEN ")
            .bind(SqlParam::Int(1i64 << k))
            .push(" ELSE 0 END)");
    }
    s.push(" AS bits, ");
    match &q.breakdown {
        Some(b) => push_property(&mut s, &b.property, b.source),
        None => {
            s.push("NULL::VARCHAR");
        }
    }
    let reads_sessions = q.reads_sessions();
    s.push(" AS bd FROM ");
    if reads_sessions {
        push_events_with_sessions(
            &mut s,
            q.project_id,
            Some(q.range.from),
            q.range.to + q.window,
            q.include_bots,
        );
    } else {
        s.push(EVENTS_WITH_PERSON_SELECT);
    }
    s.push(" ev");
    if reads_persons {
        s.push(" LEFT JOIN persons pp ON pp.project_id = ev.project_id AND pp.id = ev.person");
    }
    s.push(" WHERE ev.project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND ev.timestamp >= ")
        .bind(SqlParam::Time(q.range.from))
        .push(" AND ev.timestamp < ")
        .bind(SqlParam::Time(q.range.to + q.window));
    if !q.include_bots {
        s.push(" AND ev.is_bot IS NOT TRUE");
    }
    if let Some(f) = &q.filters {
        s.push(" AND ");
        push_filter(&mut s, f);
    }
    s.push(")");
    match q.order {
        StepOrder::Loose => {
            // A first-step-only event followed (next among the person's matching
            // events) by another first-step-only event inside the range can never
            // start a better attempt than that later one: nothing between them can
            // advance it, and the later start has more window left. Dropping those
            // keeps one start per run of first-step events (most pageviews).
            s.push(
                " WHERE bits <> 0) SELECT person, t_us, bits, bd FROM (SELECT *, \
                 lead(bits) OVER w AS next_bits, lead(t_us) OVER w AS next_t FROM marked \
                 WINDOW w AS (PARTITION BY person ORDER BY ",
            )
            .push(order)
            .push(")) WHERE NOT coalesce(bits = 1 AND next_bits = 1 AND next_t < ")
            .bind(SqlParam::Int(q.range.to.timestamp_micros()))
            .push(", false)");
        }
        StepOrder::Strict => {
            s.push(") SELECT person, t_us, bits, bd FROM marked");
        }
    }
    s.push(" ORDER BY person, ").push(order);
    s
}
