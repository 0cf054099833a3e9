//! DuckDB's SQL for stickiness and lifecycle: the rows
//! `tally_query::activity`'s answers are assembled from.

use super::scope::{push_condition, push_from};
use super::{local_time, Sql};
use tally_query::activity::ActivityQuery;
use tally_query::buckets::BucketPlan;
use tally_query::types::Interval;

/// The persons' intervals as stickiness counts them: `count(DISTINCT interval)`.
pub(crate) fn push_active_intervals(s: &mut Sql, plan: &BucketPlan) {
    s.push("count(DISTINCT date_trunc('")
        .push(plan.interval.sql_unit())
        .push("', ");
    local_time(s, plan);
    s.push(")) AS active");
}

/// Rows: number of intervals, persons who did the event in that many.
pub fn stickiness_sql(q: &ActivityQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT active, count(*) FROM (SELECT ev.person, ");
    push_active_intervals(&mut s, &q.plan);
    push_from(&mut s, &q.scope(Some(q.range.from), q.range.to));
    s.push(" AND ");
    push_condition(&mut s, &q.event);
    s.push(" GROUP BY ev.person) GROUP BY active");
    s
}

/// The statuses and the rows of [`lifecycle_sql`], from the CTEs `active`
/// (person, bucket: each interval of the widened range a person was active in,
/// bucket as a local timestamp) and `earlier` (the persons active before it).
pub(crate) fn push_statuses(s: &mut Sql, interval: Interval) {
    // `unit` is one of this crate's constants, never request text.
    let unit = interval.sql_unit();
    let next = format!("bucket + INTERVAL 1 {unit}");
    s.push(
        ", seq AS (SELECT person, bucket, lag(bucket) OVER w AS prev, lead(bucket) OVER w AS nxt \
         FROM active WINDOW w AS (PARTITION BY person ORDER BY bucket)), \
         statuses AS (SELECT bucket, CASE WHEN prev IS NULL \
         AND person NOT IN (SELECT person FROM earlier) THEN 'new' \
         WHEN prev + INTERVAL 1 ",
    )
    .push(unit)
    .push(
        " = bucket THEN 'returning' ELSE 'resurrecting' END AS status FROM seq \
         UNION ALL SELECT ",
    )
    .push(&next)
    .push(", 'dormant' FROM seq WHERE nxt IS NULL OR nxt <> ")
    .push(&next)
    .push(") SELECT epoch_us(bucket), status, count(*) FROM statuses GROUP BY ALL");
}

/// Rows: interval start (µs of naive local time), status (`new`, `returning`,
/// `resurrecting`, `dormant`), persons. May hold the interval before the range
/// and the one after it; [`lifecycle_answer`] drops those.
pub fn lifecycle_sql(q: &ActivityQuery) -> Sql {
    let (widened, plan) = &q.widened;
    let mut s = Sql::default();
    s.push("WITH active AS (SELECT DISTINCT ev.person, date_trunc('")
        .push(plan.interval.sql_unit())
        .push("', ");
    local_time(&mut s, plan);
    s.push(") AS bucket");
    push_from(&mut s, &q.scope(Some(widened.from), widened.to));
    s.push(" AND ");
    push_condition(&mut s, &q.event);
    s.push("), earlier AS (SELECT DISTINCT ev.person");
    push_from(&mut s, &q.scope(None, widened.from));
    s.push(" AND ");
    push_condition(&mut s, &q.event);
    s.push(")");
    push_statuses(&mut s, plan.interval);
    s
}
