//! ClickHouse's SQL for one trends series over one range: rows
//! `tally_query::trends::assemble` shapes (bucket, is other, breakdown value,
//! value), as DuckDB's. Without CTEs on ClickHouse 18.16 the matched events
//! are a subquery, read twice under a breakdown (once to rank its values).

use super::filters::{push_filter, push_property};
use super::persons::push_current_persons;
use super::retention::append;
use super::scope::push_events;
use super::sessions::{push_sessionized, Window};
use super::{bucket_start, push_events_with_person, push_property_of};
use crate::client::Sql;
use tally_query::buckets::BucketPlan;
use tally_query::sql::SqlParam;
use tally_query::trends::{SeriesRequest, TrendMath, TrendsQuery, DEFAULT_BREAKDOWN_LIMIT};
use tally_query::types::{TimeRange, DEFAULT_INACTIVITY};

/// Rows: local bucket start (µs of naive local time), is "other", breakdown
/// value (NULL without a breakdown), value.
pub(crate) fn series_sql(
    q: &TrendsQuery,
    series: &SeriesRequest,
    range: TimeRange,
    plan: &BucketPlan,
) -> Sql {
    let mut matched = Sql::default();
    matched.push("(SELECT ev.person AS person, ");
    bucket_start(&mut matched, plan);
    matched.push(" AS bucket, ");
    match &q.breakdown {
        Some(b) => push_property(&mut matched, &b.property, b.source),
        None => {
            matched.push("CAST(NULL AS Nullable(String))");
        }
    };
    matched.push(" AS bd, toFloat64OrNull(");
    push_property_of(
        &mut matched,
        "ev.",
        SqlParam::Text(series.math_property.clone().unwrap_or_default()),
    );
    matched.push(") AS num");
    let reads_sessions = q.reads_sessions(series);
    if reads_sessions || series.math == TrendMath::UniqueSessions {
        matched.push(", ev.session_key AS session");
    }
    matched.push(" FROM ");
    if reads_sessions {
        push_events(
            &mut matched,
            q.project_id,
            (Some(range.from), range.to),
            q.include_bots,
            true,
        );
    } else if series.math == TrendMath::UniqueSessions {
        push_sessionized(
            &mut matched,
            Window {
                project_id: q.project_id,
                from: Some(range.from),
                to: range.to,
                include_bots: q.include_bots,
            },
            DEFAULT_INACTIVITY,
        );
        matched.push(" AS ev");
    } else {
        push_events_with_person(&mut matched, q.project_id, Some(range.from), range.to);
    }
    if q.reads_persons(series) {
        matched.push(" ANY LEFT JOIN ");
        push_current_persons(&mut matched, q.project_id);
        matched.push(" ON pp.id = ev.person");
    }
    matched
        .push(" WHERE ev.project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND ev.timestamp >= ")
        .bind(SqlParam::Time(range.from))
        .push(" AND ev.timestamp < ")
        .bind(SqlParam::Time(range.to));
    if let Some(event) = &series.event {
        matched
            .push(" AND ev.event = ")
            .bind(SqlParam::Text(event.clone()));
    }
    if !q.include_bots {
        matched.push(" AND ev.is_bot = 0");
    }
    for f in [&q.filters, &series.filters].into_iter().flatten() {
        matched.push(" AND ");
        push_filter(&mut matched, f);
    }
    matched.push(")");

    let mut s = Sql::default();
    match q
        .breakdown
        .as_ref()
        .map(|b| b.limit.unwrap_or(DEFAULT_BREAKDOWN_LIMIT))
    {
        None => {
            s.push(
                "SELECT bucket, toUInt8(0) AS other, CAST(NULL AS Nullable(String)) AS value_of, ",
            );
            push_math(&mut s, series);
            s.push(" FROM ");
            append(&mut s, &matched);
            s.push(" GROUP BY bucket");
        }
        Some(limit) => {
            // The top values by events over the whole range, ties by value;
            // NULL is a value of its own (a pair keeps it comparable in IN).
            s.push("SELECT bucket, other, if(other = 1, NULL, bd) AS value_of, ");
            push_math(&mut s, series);
            s.push(" FROM (SELECT *, toUInt8((isNull(bd), ifNull(bd, '')) NOT IN (SELECT isNull(bd), ifNull(bd, '') FROM ");
            append(&mut s, &matched);
            s.push(" GROUP BY bd ORDER BY count() DESC, bd ASC NULLS LAST LIMIT ")
                .bind(SqlParam::Int(limit as i64))
                .push(")) AS other FROM ");
            append(&mut s, &matched);
            s.push(") GROUP BY bucket, other, value_of");
        }
    }
    s
}

/// The series' math over a group's rows, as Nullable(Float64).
fn push_math(s: &mut Sql, series: &SeriesRequest) {
    let quantile = |p: &str| {
        // Linear interpolation between the two nearest values, as DuckDB's
        // `quantile_cont` (ClickHouse's `quantileExact` does not interpolate):
        // position (n - 1) * p in the sorted values, from index `lo` (1-based
        // `lo + 1`) toward the next one.
        const SORTED: &str = "arraySort(groupArray(num))";
        let n = format!("length({SORTED})");
        let pos = format!("(({n} - 1) * {p})");
        let lo = format!("floor({pos})");
        let at = |index: &str| format!("{SORTED}[toUInt64({index}) + 1]");
        format!(
            "if({n} = 0, NULL, {low} + ({high} - {low}) * ({pos} - {lo}))",
            low = at(&lo),
            high = at(&format!("least({lo} + 1, toFloat64({n} - 1))")),
        )
    };
    let math = match series.math {
        TrendMath::Total => "count()".to_owned(),
        TrendMath::UniquePersons => "uniqExact(person)".to_owned(),
        TrendMath::UniqueSessions => "uniqExact(session)".to_owned(),
        TrendMath::PerPersonAvg => "count() / uniqExact(person)".to_owned(),
        TrendMath::Sum => "sum(num)".to_owned(),
        TrendMath::Avg => "avg(num)".to_owned(),
        TrendMath::Min => "min(num)".to_owned(),
        TrendMath::Max => "max(num)".to_owned(),
        TrendMath::P50 => quantile("0.5"),
        TrendMath::P90 => quantile("0.9"),
        TrendMath::P99 => quantile("0.99"),
    };
    s.push("CAST(")
        .push(&math)
        .push(" AS Nullable(Float64)) AS value");
}
