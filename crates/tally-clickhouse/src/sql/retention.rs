//! ClickHouse's SQL for retention: the cohort rows `tally_query::retention::assemble`
//! shapes, as DuckDB's. Without CTEs the per-person periods (`marked`) are a
//! subquery read twice.

use super::bucket_start;
use super::scope::{push_condition, push_from};
use crate::client::Sql;
use tally_query::retention::{CohortType, RetentionQuery};

/// Rows: cohort period start (µs of naive local time), return period start
/// (same; NULL on the row of the cohort's size), persons. `None` where a
/// session property is read.
pub(crate) fn retention_sql(q: &RetentionQuery) -> Sql {
    // One row per person and period: did they do the start event, the return
    // event in it.
    let mut marked = Sql::default();
    marked.push(
        "(SELECT person, bucket, max(is_start) AS is_start, max(is_return) AS is_return \
         FROM (SELECT ev.person AS person, ",
    );
    bucket_start(&mut marked, &q.plan);
    marked.push(" AS bucket, ");
    push_condition(&mut marked, &q.start_event);
    marked.push(" AS is_start, ");
    push_condition(&mut marked, &q.return_event);
    marked.push(" AS is_return");
    push_from(&mut marked, &q.scope(Some(q.range.from), q.range.to));
    marked.push(") GROUP BY person, bucket)");

    let mut s = Sql::default();
    s.push("SELECT c.cohort, if(m.bucket > c.cohort, m.bucket, NULL) AS returned, count() FROM (");
    match q.cohort {
        CohortType::FirstTime => {
            // Persons who did the start event before the range had their first
            // time there: they are in none of these cohorts.
            s.push("SELECT person AS member, min(bucket) AS cohort FROM ");
            append(&mut s, &marked);
            s.push(" WHERE is_start = 1 AND person NOT IN (SELECT DISTINCT ev.person");
            push_from(&mut s, &q.scope(None, q.range.from));
            s.push(" AND ");
            push_condition(&mut s, &q.start_event);
            s.push(") GROUP BY person");
        }
        CohortType::Recurring => {
            s.push("SELECT DISTINCT person AS member, bucket AS cohort FROM ");
            append(&mut s, &marked);
            s.push(" WHERE is_start = 1");
        }
    }
    // Each member has one `marked` row in the cohort's period (the size) and
    // at most one per later period (a return when `is_return`).
    s.push(") AS c ALL INNER JOIN ");
    append(&mut s, &marked);
    s.push(
        " AS m ON m.person = c.member WHERE m.bucket = c.cohort \
         OR (m.bucket > c.cohort AND m.is_return = 1) GROUP BY c.cohort, returned",
    );
    s
}

/// Appends another statement's text and values.
pub(crate) fn append(s: &mut Sql, part: &Sql) {
    s.text.push_str(&part.text);
    s.params.extend(part.params.iter().cloned());
}
