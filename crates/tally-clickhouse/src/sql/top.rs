//! ClickHouse's SQL for the dashboard's dimensions (`tally_query::top` says
//! what they count): each dimension as a column or a constant property key;
//! the entry and exit pages as facts of sessions (`super::sessions`).

use super::sessions::{push_sessionized, push_with_facts, Window, ENTRY_PATH, EXIT_PATH};
use super::{bots, push_events_with_person, push_property_of};
use crate::client::Sql;
use tally_query::sql::SqlParam;
use tally_query::top::{Dimension, DimensionFilters, TopQuery};
use tally_query::types::DEFAULT_INACTIVITY;

/// The SQL of a dimension's value on an event row (an aggregate over a
/// session's rows for the entry and exit pages).
pub(crate) fn push_expression(s: &mut Sql, dimension: Dimension) {
    let column = match dimension {
        Dimension::Page => "path",
        Dimension::Country => "country",
        Dimension::Browser => "browser",
        Dimension::Os => "os",
        Dimension::Device => "device",
        Dimension::Event => "event",
        Dimension::EntryPage => ENTRY_PATH,
        Dimension::ExitPage => EXIT_PATH,
        Dimension::Referrer => return property(s, "$referring_domain"),
        Dimension::Channel => return property(s, "$channel_type"),
        Dimension::UtmSource => return property(s, "utm_source"),
        Dimension::UtmMedium => return property(s, "utm_medium"),
        Dimension::UtmCampaign => return property(s, "utm_campaign"),
    };
    s.push(column);
}

/// The value a filter compares: an entry or exit page is a fact of the
/// event's session (a column of [`push_with_facts`]), every other dimension
/// the value of the event itself.
fn push_filter_expression(s: &mut Sql, dimension: Dimension) {
    match dimension {
        Dimension::EntryPage => {
            s.push("s_entry_pathname");
        }
        Dimension::ExitPage => {
            s.push("s_exit_pathname");
        }
        _ => push_expression(s, dimension),
    }
}

fn property(s: &mut Sql, key: &str) {
    push_property_of(s, "", SqlParam::Text(key.to_owned()));
}

/// The query's events with their sessions' facts, for filters on whole
/// sessions.
fn push_with_session_facts(s: &mut Sql, q: &TopQuery) {
    push_with_facts(
        s,
        Window {
            project_id: q.project_id,
            from: Some(q.range.from),
            to: q.range.to,
            include_bots: q.include_bots,
        },
    );
    s.push(" AS ev");
}

/// Rows: value, visitors, pageviews, events, sessions (entry and exit pages;
/// else NULL) — most visitors first, then most events (sessions), then by
/// value (NULL last).
pub(crate) fn top(q: &TopQuery) -> Sql {
    if matches!(q.dimension, Dimension::EntryPage | Dimension::ExitPage) {
        return session_pages(q);
    }
    let mut s = Sql::default();
    // Nullable whatever the column, so every dimension's rows read alike.
    s.push("SELECT CAST(");
    push_expression(&mut s, q.dimension);
    s.push(
        " AS Nullable(String)) AS value, uniqExact(person) AS visitors, \
         countIf(event = '$pageview') AS pageviews, count() AS events, \
         CAST(NULL AS Nullable(UInt64)) AS sessions FROM ",
    );
    if q.filters.needs_sessions() {
        push_with_session_facts(&mut s, q);
    } else {
        push_events_with_person(&mut s, q.project_id, Some(q.range.from), q.range.to);
    }
    s.push(" WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND timestamp >= ")
        .bind(SqlParam::Time(q.range.from))
        .push(" AND timestamp < ")
        .bind(SqlParam::Time(q.range.to));
    if q.dimension == Dimension::Page {
        s.push(" AND event = '$pageview'");
    }
    bots(&mut s, q.include_bots);
    push_dimension_filters(&mut s, &q.filters);
    s.push(" GROUP BY value ORDER BY visitors DESC, events DESC, value ASC NULLS LAST LIMIT ")
        .bind(SqlParam::Int(q.limit as i64));
    s
}

/// Entry or exit pages: one row per session that starts in the range (its
/// first or last pageview's path, person, pageviews, events), then grouped by
/// that path. Under a dashboard filter the sessions are those with a matching
/// event, their pages the sessions' own and their counts those of the
/// matching events, as on DuckDB (`tally-duckdb`'s `top.rs` says why).
fn session_pages(q: &TopQuery) -> Sql {
    let filtered = !q.filters.0.is_empty();
    let mut s = Sql::default();
    s.push(
        "SELECT CAST(page AS Nullable(String)) AS value, uniqExact(session_person) AS visitors, \
         sum(session_pageviews_seen) AS pageviews, sum(session_events) AS events, \
         CAST(count() AS Nullable(UInt64)) AS sessions FROM (SELECT ",
    );
    if filtered {
        s.push("any(");
        push_filter_expression(&mut s, q.dimension);
        s.push(") AS page, any(s_start) AS started, any(s_pageviews) AS session_pageviews, ");
    } else {
        push_expression(&mut s, q.dimension);
        s.push(
            " AS page, min(timestamp) AS started, \
             countIf(event = '$pageview') AS session_pageviews, ",
        );
    }
    s.push(
        "any(person) AS session_person, countIf(event = '$pageview') AS session_pageviews_seen, \
         count() AS session_events FROM ",
    );
    if filtered {
        push_with_session_facts(&mut s, q);
    } else {
        push_sessionized(
            &mut s,
            Window {
                project_id: q.project_id,
                from: Some(q.range.from),
                to: q.range.to,
                include_bots: q.include_bots,
            },
            DEFAULT_INACTIVITY,
        );
        s.push(" AS ev");
    }
    s.push(" WHERE 1");
    push_dimension_filters(&mut s, &q.filters);
    s.push(" GROUP BY session_key) WHERE session_pageviews > 0 AND started >= ")
        .bind(SqlParam::Time(q.range.from))
        .push(" GROUP BY page ORDER BY visitors DESC, sessions DESC, value ASC NULLS LAST LIMIT ")
        .bind(SqlParam::Int(q.limit as i64));
    s
}

/// ` AND …` for each dashboard filter, over events read with their
/// sessions' facts when [`DimensionFilters::needs_sessions`].
pub(crate) fn push_dimension_filters(s: &mut Sql, filters: &DimensionFilters) {
    for (dimension, value) in &filters.0 {
        s.push(" AND ");
        match value {
            Some(v) => {
                push_filter_expression(s, *dimension);
                s.push(" = ").bind(SqlParam::Text(v.clone()));
            }
            None => {
                s.push("isNull(");
                push_filter_expression(s, *dimension);
                s.push(")");
            }
        }
    }
}
