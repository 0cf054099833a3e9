//! ClickHouse's SQL for stickiness and lifecycle (`tally_query::activity`):
//! in how many intervals of the range each person did the event, and how each
//! person's activity moved from one interval to the next.

use super::bucket_start;
use super::scope::{push_condition, push_from};
use crate::client::Sql;
use tally_query::activity::ActivityQuery;
use tally_query::types::Interval;

/// Rows: number of intervals, persons who did the event in that many. `None`
/// where a session property is read.
pub(crate) fn stickiness_sql(q: &ActivityQuery) -> Sql {
    let mut s = Sql::default();
    s.push("SELECT active, count() FROM (SELECT ev.person AS person, uniqExact(");
    bucket_start(&mut s, &q.plan);
    s.push(") AS active");
    push_from(&mut s, &q.scope(Some(q.range.from), q.range.to));
    s.push(" AND ");
    push_condition(&mut s, &q.event);
    s.push(" GROUP BY person) GROUP BY active");
    s
}

/// The start of the interval after the one starting at `bucket` (an SQL
/// expression of local µs): a fixed step, or the next month's first day.
fn next_bucket(bucket: &str, interval: Interval) -> String {
    const DAY: i64 = 86_400_000_000;
    match interval {
        Interval::Minute => format!("({bucket} + 60000000)"),
        Interval::Hour => format!("({bucket} + 3600000000)"),
        Interval::Day => format!("({bucket} + {DAY})"),
        Interval::Week => format!("({bucket} + {})", 7 * DAY),
        Interval::Month => format!(
            "(dateDiff('day', toDate('1970-01-01'), addMonths(toDate(toDateTime(\
             intDiv({bucket}, 1000000), 'UTC')), 1)) * {DAY})"
        ),
    }
}

/// Rows: interval start (µs of naive local time), status (`new`, `returning`,
/// `resurrecting`, `dormant`), persons — as DuckDB's, which walks each
/// person's intervals with `lag`/`lead`; here each person's intervals are a
/// sorted array (no window functions on ClickHouse 18.16). May hold the
/// interval before the range and the one after it; `lifecycle_answer` drops
/// those. `None` where a session property is read.
pub(crate) fn lifecycle_sql(q: &ActivityQuery) -> Sql {
    let (widened, plan) = &q.widened;
    let interval = plan.interval;
    let mut s = Sql::default();
    // Each person's statuses as an array (their sorted intervals beside
    // whether they were active before), then one row per status. The first
    // interval's status is written outside the lambdas: ClickHouse 18.16 does
    // not see a column that only a lambda reads.
    s.push(
        "SELECT tupleElement(t, 1) AS bucket, tupleElement(t, 2) AS status, count() FROM \
         (SELECT arrayConcat([(bs[1], if(in_earlier = 1, 'resurrecting', 'new'))], \
         arrayMap(i -> (bs[i], if(",
    )
    .push(&next_bucket("bs[i - 1]", interval))
    .push(
        " = bs[i], 'returning', 'resurrecting')), arrayFilter(i -> i > 1, arrayEnumerate(bs))), \
         arrayMap(i -> (",
    )
    .push(&next_bucket("bs[i]", interval))
    .push(", 'dormant'), arrayFilter(i -> i = length(bs) OR bs[i + 1] != ")
    .push(&next_bucket("bs[i]", interval))
    .push(
        ", arrayEnumerate(bs)))) AS statuses FROM (SELECT person, bs, \
         person IN (SELECT DISTINCT ev.person",
    );
    push_from(&mut s, &q.scope(None, widened.from));
    s.push(" AND ");
    push_condition(&mut s, &q.event);
    s.push(") AS in_earlier FROM (SELECT ev.person AS person, arraySort(groupUniqArray(");
    bucket_start(&mut s, plan);
    s.push(")) AS bs");
    push_from(&mut s, &q.scope(Some(widened.from), widened.to));
    s.push(" AND ");
    push_condition(&mut s, &q.event);
    s.push(" GROUP BY person))) ARRAY JOIN statuses AS t GROUP BY bucket, status");
    s
}
