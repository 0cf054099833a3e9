//! ClickHouse's SQL for the realtime panel (`tally_query::realtime`).

use super::scope::push_from;
use crate::client::Sql;
use chrono::Duration;
use tally_query::realtime::RealtimeQuery;
use tally_query::sql::SqlParam;

/// One row: persons active in the last 5 minutes, in the last 30, events in
/// the last 30.
pub(crate) fn totals(q: &RealtimeQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT uniqExactIf(ev.person, ev.timestamp >= ")
        .bind(SqlParam::Time(q.now - Duration::minutes(5)))
        .push("), uniqExact(ev.person), count()");
    push_from(&mut s, &q.scope());
    s
}

/// Rows: minute start (µs, UTC), events.
pub(crate) fn per_minute(q: &RealtimeQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT intDiv(ev.timestamp, 60000000) * 60000000 AS m, count()");
    push_from(&mut s, &q.scope());
    s.push(" GROUP BY m");
    s
}
