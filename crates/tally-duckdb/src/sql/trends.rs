//! DuckDB's SQL for one trends series over one range: rows
//! `tally_query::trends::assemble` shapes.

use super::filters::{pointer, push_filter, push_property};
use super::{
    bucket_start, push_events_with_sessions, push_sessionized, Sql, EVENTS_WITH_PERSON_SELECT,
};
use tally_query::buckets::BucketPlan;
use tally_query::sql::SqlParam;
use tally_query::trends::{SeriesRequest, TrendMath, TrendsQuery, DEFAULT_BREAKDOWN_LIMIT};
use tally_query::types::TimeRange;

/// Rows: local bucket start (µs of naive local time), is "other" (bool),
/// breakdown value (text or NULL; always NULL without a breakdown), value (DOUBLE
/// or NULL).
pub fn series_sql(
    q: &TrendsQuery,
    series: &SeriesRequest,
    range: TimeRange,
    plan: &BucketPlan,
) -> Sql {
    let mut s = Sql::default();
    s.push("WITH matched AS (SELECT ev.person, ev.properties, ");
    bucket_start(&mut s, plan);
    s.push(" AS bucket, ");
    match &q.breakdown {
        Some(b) => push_property(&mut s, &b.property, b.source),
        None => {
            s.push("NULL::VARCHAR");
        }
    }
    if q.reads_sessions(series) {
        s.push(" AS bd, ev.session_key AS bd_session FROM ");
        push_events_with_sessions(
            &mut s,
            q.project_id,
            Some(range.from),
            range.to,
            q.include_bots,
        );
        s.push(" ev");
    } else if series.math == TrendMath::UniqueSessions {
        s.push(" AS bd, ev.session_key AS bd_session FROM ");
        push_sessionized(
            &mut s,
            q.project_id,
            range,
            tally_query::types::DEFAULT_INACTIVITY,
            q.include_bots,
        );
        s.push(" ev");
    } else {
        s.push(" AS bd FROM ")
            .push(EVENTS_WITH_PERSON_SELECT)
            .push(" ev");
    }
    if q.reads_persons(series) {
        s.push(" LEFT JOIN persons pp ON pp.project_id = ev.project_id AND pp.id = ev.person");
    }
    s.push(" WHERE ev.project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND ev.timestamp >= ")
        .bind(SqlParam::Time(range.from))
        .push(" AND ev.timestamp < ")
        .bind(SqlParam::Time(range.to));
    if let Some(event) = &series.event {
        s.push(" AND ev.event = ")
            .bind(SqlParam::Text(event.clone()));
    }
    if !q.include_bots {
        s.push(" AND ev.is_bot IS NOT TRUE");
    }
    for f in [&q.filters, &series.filters].into_iter().flatten() {
        s.push(" AND ");
        push_filter(&mut s, f);
    }
    s.push(")");
    push_ranked_values(&mut s, q, series, false);
    s
}

/// After a `matched` CTE of (bucket, bd, person[, bd_session, properties][, n]):
/// the top breakdown values by events, everything else as "other", and the
/// series' math per bucket. `weighted`: each row stands for `n` events (rollup
/// rows), else for one.
pub(crate) fn push_ranked_values(
    s: &mut Sql,
    q: &TrendsQuery,
    series: &SeriesRequest,
    weighted: bool,
) {
    let events = if weighted { "sum(n)" } else { "count(*)" };
    let limit = q
        .breakdown
        .as_ref()
        .map(|b| b.limit.unwrap_or(DEFAULT_BREAKDOWN_LIMIT));
    match limit {
        Some(limit) => {
            // The top values by events over the whole range; ties by value.
            s.push(", top AS (SELECT bd FROM matched GROUP BY bd ORDER BY ")
                .push(events)
                .push(" DESC, bd NULLS LAST LIMIT ")
                .bind(SqlParam::Int(limit as i64))
                .push(
                    "), grouped AS (SELECT *, NOT EXISTS (SELECT 1 FROM top \
                     WHERE top.bd IS NOT DISTINCT FROM matched.bd) AS other FROM matched) \
                     SELECT bucket, other, CASE WHEN other THEN NULL ELSE bd END AS value_of, ",
                );
        }
        None => {
            // One group per bucket: the constant columns stay out of the
            // grouping key (measured ~15% faster on 2M rows than grouping them).
            s.push(" SELECT bucket, false AS other, NULL::VARCHAR AS bd, ");
            push_math(s, series, events);
            s.push(" FROM matched GROUP BY bucket");
            return;
        }
    }
    push_math(s, series, events);
    s.push(" FROM grouped GROUP BY ALL");
}

/// `events`: the SQL counting a group's events.
fn push_math(s: &mut Sql, series: &SeriesRequest, events: &str) {
    let number = |s: &mut Sql| {
        s.push("TRY_CAST(json_extract_string(properties, ")
            .bind(SqlParam::Text(pointer(
                series.math_property.as_deref().unwrap_or_default(),
            )))
            .push(") AS DOUBLE)");
    };
    let around = |s: &mut Sql, before: &str, after: &str| {
        s.push(before);
        number(s);
        s.push(after);
    };
    match series.math {
        TrendMath::Total => {
            s.push(events).push("::DOUBLE");
        }
        TrendMath::UniquePersons => {
            s.push("count(DISTINCT person)::DOUBLE");
        }
        TrendMath::UniqueSessions => {
            s.push("count(DISTINCT bd_session)::DOUBLE");
        }
        TrendMath::PerPersonAvg => {
            s.push(events).push("::DOUBLE / count(DISTINCT person)");
        }
        TrendMath::Sum => around(s, "sum(", ")"),
        TrendMath::Avg => around(s, "avg(", ")"),
        TrendMath::Min => around(s, "min(", ")"),
        TrendMath::Max => around(s, "max(", ")"),
        TrendMath::P50 => around(s, "quantile_cont(", ", 0.5)"),
        TrendMath::P90 => around(s, "quantile_cont(", ", 0.9)"),
        TrendMath::P99 => around(s, "quantile_cont(", ", 0.99)"),
    }
}
