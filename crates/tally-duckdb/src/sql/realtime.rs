//! DuckDB's SQL for the realtime panel.

use super::scope::push_from;
use super::Sql;
use chrono::Duration;
use tally_query::realtime::RealtimeQuery;
use tally_query::sql::SqlParam;

/// One row: persons active in the last 5 minutes, in the last 30, events in the
/// last 30.
pub fn totals_sql(q: &RealtimeQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT count(DISTINCT ev.person) FILTER (WHERE ev.timestamp >= ")
        .bind(SqlParam::Time(q.now - Duration::minutes(5)))
        .push("), count(DISTINCT ev.person), count(*)");
    push_from(&mut s, &q.scope());
    s
}

/// Rows: minute start (µs, UTC), events.
pub fn per_minute_sql(q: &RealtimeQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT epoch_us(date_trunc('minute', ev.timestamp)) AS m, count(*)");
    push_from(&mut s, &q.scope());
    s.push(" GROUP BY m");
    s
}
