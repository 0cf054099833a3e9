//! ClickHouse's SQL for stickiness (`tally_query::activity`): in how many
//! intervals of the range each person did the event.

use super::bucket_start;
use super::scope::{push_condition, push_from};
use crate::client::Sql;
use tally_query::activity::ActivityQuery;

/// Rows: number of intervals, persons who did the event in that many. `None`
/// where a session property is read.
pub(crate) fn stickiness_sql(q: &ActivityQuery) -> Option<Sql> {
    let mut s = Sql::default();
    s.push("SELECT active, count() FROM (SELECT ev.person AS person, uniqExact(");
    bucket_start(&mut s, &q.plan);
    s.push(") AS active");
    push_from(&mut s, &q.scope(Some(q.range.from), q.range.to))?;
    s.push(" AND ");
    push_condition(&mut s, &q.event)?;
    s.push(" GROUP BY person) GROUP BY active");
    Some(s)
}
