//! DuckDB's SQL for retention: cohort rows `tally_query::retention::assemble`
//! shapes.

use super::scope::{push_condition, push_from};
use super::{bucket_start, Sql};
use tally_query::retention::{CohortType, RetentionQuery};

/// Rows: cohort period start (µs of naive local time), return period start (same,
/// NULL on the row of the cohort's size), persons.
pub fn retention_sql(q: &RetentionQuery) -> Sql {
    let mut s = Sql::default();
    // `marked`: one row per person and period (what they did in it), read by
    // both the cohorts and the returns — a few rows per person instead of
    // every event, however DuckDB plans the two reads of it.
    s.push("WITH marked AS (SELECT person, bucket, bool_or(is_start) AS is_start, bool_or(is_return) AS is_return FROM (SELECT ev.person, ");
    bucket_start(&mut s, &q.plan);
    s.push(" AS bucket, ");
    push_condition(&mut s, &q.start_event);
    s.push(" AS is_start, ");
    push_condition(&mut s, &q.return_event);
    s.push(" AS is_return");
    push_from(&mut s, &q.scope(Some(q.range.from), q.range.to));
    s.push(") GROUP BY person, bucket)");
    if q.cohort == CohortType::FirstTime {
        s.push(", earlier AS (SELECT DISTINCT ev.person");
        push_from(&mut s, &q.scope(None, q.range.from));
        s.push(" AND ");
        push_condition(&mut s, &q.start_event);
        s.push(")");
    }
    push_triangle(&mut s, q.cohort);
    s
}

/// The cohorts, returns and the rows of [`retention_sql`], from the CTEs
/// `marked` (person, bucket, is_start, is_return: one row per person and
/// period) and, for first-time cohorts, `earlier` (the persons who did the
/// start event before the range).
pub(crate) fn push_triangle(s: &mut Sql, cohort: CohortType) {
    match cohort {
        CohortType::FirstTime => {
            // Persons who did the start event before the range have their first
            // time there: they are in none of these cohorts.
            s.push(
                ", cohorts AS (SELECT person, min(bucket) AS cohort FROM marked WHERE is_start \
                 AND person NOT IN (SELECT person FROM earlier) GROUP BY person)",
            );
        }
        CohortType::Recurring => {
            s.push(", cohorts AS (SELECT DISTINCT person, bucket AS cohort FROM marked WHERE is_start)");
        }
    }
    // One join gives both the sizes and the returns: each cohort member has
    // exactly one `marked` row in the cohort's period (NULL return: the size)
    // and at most one per later period (a return when `is_return`). Faster than
    // sizes and returns apart (~165 against ~200 ms on 10M seeded events).
    s.push(
        " SELECT c.cohort, CASE WHEN m.bucket > c.cohort THEN m.bucket END, count(*) \
         FROM cohorts c JOIN marked m ON m.person = c.person \
         WHERE m.bucket = c.cohort OR (m.bucket > c.cohort AND m.is_return) GROUP BY ALL",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use tally_query::retention::RetentionRequest;
    use tally_query::sql::SqlParam;

    #[test]
    fn hostile_names_and_values_are_bound() {
        let evil = "x'); DROP TABLE events; --";
        let request: RetentionRequest = serde_json::from_value(serde_json::json!({
            "start_event": {"event": evil, "filters": {"key": evil, "operator": "eq", "value": evil}},
            "return_event": {"event": evil},
            "date_to": "2026-11-10T00:00:00Z",
        }))
        .unwrap();
        let q = request.resolve(1, Utc::now()).unwrap();
        let sql = retention_sql(&q);
        assert!(!sql.text.contains("DROP"), "{}", sql.text);
        assert_eq!(sql.text.matches('?').count(), sql.params.len());
        assert!(sql.params.contains(&SqlParam::Text(evil.into())));
    }
}
