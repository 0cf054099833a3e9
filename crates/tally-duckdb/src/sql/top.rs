//! DuckDB's SQL for the dashboard's tables (`tally_query::top` says what they
//! count): each dimension as a column or a constant JSON path.

use super::{Sql, EVENTS_WITH_PERSON_SELECT};
use tally_query::sql::SqlParam;
use tally_query::top::{Dimension, DimensionFilters, TopQuery};

/// The SQL of the value: a column, or a constant path into the properties.
fn expression(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Page => "ev.path",
        Dimension::EntryPage => {
            "arg_min(ev.path, ev.timestamp) FILTER (WHERE ev.event = '$pageview')"
        }
        Dimension::ExitPage => {
            "arg_max(ev.path, ev.timestamp) FILTER (WHERE ev.event = '$pageview')"
        }
        Dimension::Referrer => "json_extract_string(ev.properties, '$.\"$referring_domain\"')",
        Dimension::Channel => "json_extract_string(ev.properties, '$.\"$channel_type\"')",
        Dimension::UtmSource => "json_extract_string(ev.properties, '$.utm_source')",
        Dimension::UtmMedium => "json_extract_string(ev.properties, '$.utm_medium')",
        Dimension::UtmCampaign => "json_extract_string(ev.properties, '$.utm_campaign')",
        Dimension::Country => "ev.country",
        Dimension::Browser => "ev.browser",
        Dimension::Os => "ev.os",
        Dimension::Device => "ev.device",
        Dimension::Event => "ev.event",
    }
}

/// The SQL of the value a filter compares: an entry or exit page is a fact
/// of the event's session (a column of `sql::push_events_with_sessions`),
/// every other dimension the value of the event itself.
fn filter_expression(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::EntryPage => "ev.s_entry_pathname",
        Dimension::ExitPage => "ev.s_exit_pathname",
        _ => expression(dimension),
    }
}

/// ` AND …` for each dimension, over the events relation aliased `ev`
/// (read with session facts when [`Self::needs_sessions`]).
pub(crate) fn push_dimension_filters(s: &mut Sql, filters: &DimensionFilters) {
    for (dimension, value) in &filters.0 {
        s.push(" AND ").push(filter_expression(*dimension));
        match value {
            Some(v) => s.push(" = ").bind(SqlParam::Text(v.clone())),
            None => s.push(" IS NULL"),
        };
    }
}

/// Rows: value, visitors, pageviews, events, sessions (entry and exit pages;
/// else NULL) — most visitors first, then most events (sessions), then by value.
pub fn top_sql(q: &TopQuery) -> Sql {
    if matches!(q.dimension, Dimension::EntryPage | Dimension::ExitPage) {
        return session_pages_sql(q);
    }
    let mut s = Sql::default();
    s.push("SELECT ").push(expression(q.dimension)).push(
        " AS value, count(DISTINCT ev.person), \
             count(*) FILTER (WHERE ev.event = '$pageview'), count(*), NULL::BIGINT FROM ",
    );
    if q.filters.needs_sessions() {
        push_with_session_facts(&mut s, q);
    } else {
        s.push(EVENTS_WITH_PERSON_SELECT);
    }
    s.push(" ev WHERE ev.project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND ev.timestamp >= ")
        .bind(SqlParam::Time(q.range.from))
        .push(" AND ev.timestamp < ")
        .bind(SqlParam::Time(q.range.to));
    if q.dimension == Dimension::Page {
        s.push(" AND ev.event = '$pageview'");
    }
    if !q.include_bots {
        s.push(" AND ev.is_bot IS NOT TRUE");
    }
    push_dimension_filters(&mut s, &q.filters);
    s.push(" GROUP BY value ORDER BY 2 DESC, 4 DESC, value NULLS LAST LIMIT ")
        .bind(SqlParam::Int(q.limit as i64));
    s
}

/// The query's events with their sessions' facts (`s_entry_pathname`, …), for
/// filters on, and tables of, whole sessions.
fn push_with_session_facts(s: &mut Sql, q: &TopQuery) {
    super::push_events_with_sessions(
        s,
        q.project_id,
        Some(q.range.from),
        q.range.to,
        q.include_bots,
    );
}

/// Entry or exit pages: one row per session (its first or last pageview's path,
/// person, pageviews, events), then grouped by that path.
///
/// Under a dashboard filter the sessions are those with a matching event, and
/// their entry and exit pages are the sessions' own (from all their events),
/// not the first and last matching pageview: "where did the visits that saw
/// /pricing come in" is the question. Their counts are of the matching events.
fn session_pages_sql(q: &TopQuery) -> Sql {
    let mut s = Sql::default();
    let filtered = !q.filters.0.is_empty();
    s.push("WITH ev AS ");
    if filtered {
        push_with_session_facts(&mut s, q);
    } else {
        super::push_sessionized(
            &mut s,
            q.project_id,
            q.range,
            tally_query::types::DEFAULT_INACTIVITY,
            q.include_bots,
        );
    }
    s.push(", sessions AS (SELECT ");
    if filtered {
        s.push("any_value(")
            .push(filter_expression(q.dimension))
            .push(
                ") AS value, any_value(ev.s_start) AS started, \
                 any_value(ev.s_pageviews) AS session_pageviews, ",
            );
    } else {
        s.push(expression(q.dimension)).push(
            " AS value, min(ev.timestamp) AS started, \
             count(*) FILTER (WHERE ev.event = '$pageview') AS session_pageviews, ",
        );
    }
    s.push(
        "any_value(ev.person) AS person, count(*) FILTER (WHERE ev.event = '$pageview') \
         AS pageviews, count(*) AS events FROM ev WHERE TRUE",
    );
    push_dimension_filters(&mut s, &q.filters);
    s.push(
        " GROUP BY ev.session_key) \
             SELECT value, count(DISTINCT person), sum(pageviews), sum(events), count(*) \
             FROM sessions WHERE session_pageviews > 0 AND started >= ",
    )
    .bind(SqlParam::Time(q.range.from))
    .push(" GROUP BY value ORDER BY 2 DESC, 5 DESC, value NULLS LAST LIMIT ")
    .bind(SqlParam::Int(q.limit as i64));
    s
}
