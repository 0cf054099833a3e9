//! ClickHouse's SQL for the dashboard's dimensions (`tally_query::top` says
//! what they count): each dimension as a column or a constant property key.

use super::{push_events_with_person, push_property_of};
use crate::client::Sql;
use tally_query::sql::SqlParam;
use tally_query::top::{Dimension, DimensionFilters, TopQuery};

/// The SQL of a dimension's value on an event row; `None` for the entry and
/// exit pages, facts of sessions (not said on ClickHouse yet).
pub(crate) fn push_expression(s: &mut Sql, dimension: Dimension) -> Option<()> {
    let column = match dimension {
        Dimension::Page => "path",
        Dimension::Country => "country",
        Dimension::Browser => "browser",
        Dimension::Os => "os",
        Dimension::Device => "device",
        Dimension::Event => "event",
        Dimension::Referrer => return property(s, "$referring_domain"),
        Dimension::Channel => return property(s, "$channel_type"),
        Dimension::UtmSource => return property(s, "utm_source"),
        Dimension::UtmMedium => return property(s, "utm_medium"),
        Dimension::UtmCampaign => return property(s, "utm_campaign"),
        Dimension::EntryPage | Dimension::ExitPage => return None,
    };
    s.push(column);
    Some(())
}

fn property(s: &mut Sql, key: &str) -> Option<()> {
    push_property_of(s, "", SqlParam::Text(key.to_owned()));
    Some(())
}

/// Rows: value, visitors, pageviews, events — most visitors first, then most
/// events, then by value (NULL last). `None` for the entry and exit pages and
/// under a filter on them (facts of sessions, not said on ClickHouse yet).
pub(crate) fn top(q: &TopQuery) -> Option<Sql> {
    let mut s = Sql::default();
    // Nullable whatever the column, so every dimension's rows read alike.
    s.push("SELECT CAST(");
    push_expression(&mut s, q.dimension)?;
    s.push(
        " AS Nullable(String)) AS value, uniqExact(person) AS visitors, countIf(event = '$pageview') AS pageviews, \
         count() AS events FROM ",
    );
    push_events_with_person(&mut s, q.project_id);
    s.push(" WHERE project_id = ")
        .bind(SqlParam::Int(q.project_id))
        .push(" AND timestamp >= ")
        .bind(SqlParam::Time(q.range.from))
        .push(" AND timestamp < ")
        .bind(SqlParam::Time(q.range.to));
    if q.dimension == Dimension::Page {
        s.push(" AND event = '$pageview'");
    }
    if !q.include_bots {
        s.push(" AND is_bot = 0");
    }
    push_dimension_filters(&mut s, &q.filters)?;
    s.push(" GROUP BY value ORDER BY visitors DESC, events DESC, value ASC NULLS LAST LIMIT ")
        .bind(SqlParam::Int(q.limit as i64));
    Some(s)
}

/// ` AND …` for each dashboard filter; `None` when one reads sessions.
pub(crate) fn push_dimension_filters(s: &mut Sql, filters: &DimensionFilters) -> Option<()> {
    for (dimension, value) in &filters.0 {
        s.push(" AND ");
        match value {
            Some(v) => {
                push_expression(s, *dimension)?;
                s.push(" = ").bind(SqlParam::Text(v.clone()));
            }
            None => {
                s.push("isNull(");
                push_expression(s, *dimension)?;
                s.push(")");
            }
        }
    }
    Some(())
}
