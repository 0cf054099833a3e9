//! ClickHouse's SQL for the dashboard's dimensions (`tally_query::top` says
//! what they count): each dimension as a column or a constant property key.

use super::push_property_of;
use crate::client::Sql;
use tally_query::sql::SqlParam;
use tally_query::top::{Dimension, DimensionFilters};

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
