//! ClickHouse's SQL for the overview cards (`tally_query::types::Overview`
//! says what they count), as DuckDB's: events, persons and pageviews of the
//! range and of the one before it; sessions cut as `/sessions` cuts them,
//! each in the range it starts in, a bounce being a session of exactly one
//! pageview and nothing else. Two statements (no CTEs on 18.16): the event
//! cards, then the session cards.

use super::sessions::{push_sessionized, push_with_facts, Window};
use super::top::push_dimension_filters;
use super::{bots, push_events_with_person};
use crate::client::Sql;
use tally_query::sql::SqlParam;
use tally_query::types::{OverviewQuery, DEFAULT_INACTIVITY};

/// The events of both ranges (from the start of the previous one) as `ev`,
/// with their sessions' keys (and facts, when a dashboard filter reads them).
fn push_source(s: &mut Sql, q: &OverviewQuery, sessions: bool) {
    let window = Window {
        project_id: q.project_id,
        from: Some(q.range.previous().from),
        to: q.range.to,
        include_bots: q.include_bots,
    };
    if q.filters.needs_sessions() {
        push_with_facts(s, window);
        s.push(" AS ev");
    } else if sessions {
        push_sessionized(s, window, DEFAULT_INACTIVITY);
        s.push(" AS ev");
    } else {
        push_events_with_person(s, q.project_id, window.from, window.to);
    }
}

/// One row: events, unique persons and pageviews of the range, then the same
/// of the previous range.
pub(crate) fn event_cards(q: &OverviewQuery) -> Sql {
    let (from, before) = (q.range.from, q.range.previous().from);
    let mut s = Sql::default();
    s.push(
        "SELECT countIf(cur), uniqExactIf(person, cur), countIf(cur AND event = '$pageview'), \
         countIf(NOT cur), uniqExactIf(person, NOT cur), countIf(NOT cur AND event = '$pageview') \
         FROM (SELECT person, event, timestamp >= ",
    )
    .bind(SqlParam::Time(from))
    .push(" AS cur FROM ");
    push_source(&mut s, q, false);
    s.push(" WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND timestamp >= ")
        .bind(SqlParam::Time(before))
        .push(" AND timestamp < ")
        .bind(SqlParam::Time(q.range.to));
    bots(&mut s, q.include_bots);
    push_dimension_filters(&mut s, &q.filters);
    s.push(")");
    s
}

/// One row: sessions, sessions with a pageview, bounced sessions and mean
/// length (µs; NaN without sessions) of the range, then the same of the
/// previous range. Under a dashboard filter a session counts the events that
/// pass it (as on DuckDB).
pub(crate) fn session_cards(q: &OverviewQuery) -> Sql {
    let (from, before) = (q.range.from, q.range.previous().from);
    let mut s = Sql::default();
    let cards = |s: &mut Sql, range: &str| {
        s.push("countIf(")
            .push(range)
            .push("), countIf(")
            .push(range)
            .push(" AND pageviews > 0), countIf(")
            .push(range)
            .push(" AND pageviews = 1 AND other = 0), toFloat64(avgIf(length, ")
            .push(range)
            .push("))");
    };
    s.push("SELECT ");
    cards(&mut s, "cur");
    s.push(", ");
    cards(&mut s, "prev");
    s.push(" FROM (SELECT started >= ")
        .bind(SqlParam::Time(from))
        .push(" AS cur, started >= ")
        .bind(SqlParam::Time(before))
        .push(" AND started < ")
        .bind(SqlParam::Time(from))
        .push(
            " AS prev, length, pageviews, other FROM (SELECT min(timestamp) AS started, \
             max(timestamp) - min(timestamp) AS length, countIf(event = '$pageview') AS pageviews, \
             countIf(event NOT IN ('$pageview', '$pageleave')) AS other FROM ",
        );
    push_source(&mut s, q, true);
    s.push(" WHERE 1");
    push_dimension_filters(&mut s, &q.filters);
    s.push(" GROUP BY session_key))");
    s
}
