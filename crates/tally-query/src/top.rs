//! The dashboard's tables: one dimension of the traffic (pages, entry and exit
//! pages, referrers, channels, campaigns, countries, browsers, OS, devices,
//! events) with visitors, pageviews and events per value over a range, most
//! visitors first.
//!
//! Entry and exit pages are per session (cut as `/sessions` cuts them, counted
//! in the range they start in): the path of a session's first or last pageview;
//! their rows also count the sessions, and their pageviews and events are those
//! of the sessions (under a dashboard filter: of the sessions with a matching
//! event, their own entry or exit page, the matching events counted).
//!
//! Dimensions are a closed list, each mapped to a column or a fixed property path
//! written by Tally, so nothing of the request reaches the SQL text.

use crate::error::QueryError;
use crate::sql::{Sql, SqlParam, EVENTS_WITH_PERSON_SELECT};
use crate::types::TimeRange;
use serde::Serialize;
use std::str::FromStr;
use tally_core::ProjectId;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Path of pageviews (only pageviews count).
    Page,
    /// Path of the first pageview of sessions that start in the range.
    EntryPage,
    /// Path of the last pageview of sessions that start in the range.
    ExitPage,
    /// Referring domain (`$referring_domain`).
    Referrer,
    /// `$channel_type`: direct, search, social, email, referral, paid.
    Channel,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    Country,
    Browser,
    Os,
    Device,
    Event,
}

impl FromStr for Dimension {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, QueryError> {
        Ok(match s {
            "page" => Self::Page,
            "entry_page" => Self::EntryPage,
            "exit_page" => Self::ExitPage,
            "referrer" => Self::Referrer,
            "channel" => Self::Channel,
            "utm_source" => Self::UtmSource,
            "utm_medium" => Self::UtmMedium,
            "utm_campaign" => Self::UtmCampaign,
            "country" => Self::Country,
            "browser" => Self::Browser,
            "os" => Self::Os,
            "device" => Self::Device,
            "event" => Self::Event,
            _ => {
                return Err(QueryError::InvalidQuery(
                    "dimension must be one of page, entry_page, exit_page, referrer, channel, utm_source, utm_medium, \
                     utm_campaign, country, browser, os, device, event"
                        .into(),
                ))
            }
        })
    }
}

impl Dimension {
    /// The SQL of the value: a column, or a constant path into the properties.
    fn expression(self) -> &'static str {
        match self {
            Self::Page => "ev.path",
            Self::EntryPage => {
                "arg_min(ev.path, ev.timestamp) FILTER (WHERE ev.event = '$pageview')"
            }
            Self::ExitPage => {
                "arg_max(ev.path, ev.timestamp) FILTER (WHERE ev.event = '$pageview')"
            }
            Self::Referrer => "json_extract_string(ev.properties, '$.\"$referring_domain\"')",
            Self::Channel => "json_extract_string(ev.properties, '$.\"$channel_type\"')",
            Self::UtmSource => "json_extract_string(ev.properties, '$.utm_source')",
            Self::UtmMedium => "json_extract_string(ev.properties, '$.utm_medium')",
            Self::UtmCampaign => "json_extract_string(ev.properties, '$.utm_campaign')",
            Self::Country => "ev.country",
            Self::Browser => "ev.browser",
            Self::Os => "ev.os",
            Self::Device => "ev.device",
            Self::Event => "ev.event",
        }
    }

    /// The SQL of the value a filter compares: an entry or exit page is a fact
    /// of the event's session (a column of `sql::push_events_with_sessions`),
    /// every other dimension the value of the event itself.
    fn filter_expression(self) -> &'static str {
        match self {
            Self::EntryPage => "ev.s_entry_pathname",
            Self::ExitPage => "ev.s_exit_pathname",
            _ => self.expression(),
        }
    }
}

/// The dashboard's filter (`filter` of `/overview`, `/timeseries`, `/top`):
/// only events whose dimension has the value shown in a table row —
/// `{"browser": "Chrome", "referrer": null}` (`null`: events without one). All
/// must hold. `entry_page` and `exit_page` keep the events of the sessions
/// entered or left there (sessions as `/sessions` cuts them), so a click on an
/// entry page shows what those visits did. Values are bound parameters;
/// dimensions come from the closed list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DimensionFilters(pub Vec<(Dimension, Option<String>)>);

impl DimensionFilters {
    /// At most this many dimensions at once.
    pub const MAX: usize = 10;

    /// Reads the JSON object of the `filter` parameter.
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let bad = |why: &str| QueryError::InvalidFilter(format!("filter: {why}"));
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|_| {
                bad("a JSON object of dimension → value, e.g. {\"browser\": \"Chrome\"}")
            })?;
        if map.len() > Self::MAX {
            return Err(bad("at most 10 dimensions"));
        }
        let mut filters = Vec::with_capacity(map.len());
        for (name, value) in map {
            let dimension = Dimension::from_str(&name).map_err(|_| {
                bad(
                    "dimensions are page, entry_page, exit_page, referrer, channel, utm_source, \
                     utm_medium, utm_campaign, country, browser, os, device, event",
                )
            })?;
            let value = match value {
                serde_json::Value::String(v) => Some(v),
                serde_json::Value::Null => None,
                _ => return Err(bad("values are strings or null")),
            };
            filters.push((dimension, value));
        }
        Ok(Self(filters))
    }

    /// Whether there are no filters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a filter is on a session fact: the events must then be read
    /// with their sessions' facts (`sql::push_events_with_sessions`).
    pub(crate) fn needs_sessions(&self) -> bool {
        self.0
            .iter()
            .any(|(d, _)| matches!(d, Dimension::EntryPage | Dimension::ExitPage))
    }

    /// ` AND …` for each dimension, over the events relation aliased `ev`
    /// (read with session facts when [`Self::needs_sessions`]).
    pub(crate) fn push_sql(&self, s: &mut Sql) {
        for (dimension, value) in &self.0 {
            s.push(" AND ").push(dimension.filter_expression());
            match value {
                Some(v) => s.push(" = ").bind(SqlParam::Text(v.clone())),
                None => s.push(" IS NULL"),
            };
        }
    }
}

/// `GET /top/{dimension}`.
#[derive(Debug, Clone)]
pub struct TopQuery {
    pub project_id: ProjectId,
    pub dimension: Dimension,
    pub range: TimeRange,
    pub limit: usize,
    pub include_bots: bool,
    pub filters: DimensionFilters,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TopRow {
    /// `null`: events without a value (direct traffic has no referrer).
    pub value: Option<String>,
    /// Distinct persons.
    pub visitors: u64,
    pub pageviews: u64,
    pub events: u64,
    /// Sessions entering or leaving there (`entry_page`, `exit_page` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopAnswer {
    pub dimension: Dimension,
    pub range: TimeRange,
    pub results: Vec<TopRow>,
}

/// Rows: value, visitors, pageviews, events, sessions (entry and exit pages;
/// else NULL) — most visitors first, then most events (sessions), then by value.
pub fn top_sql(q: &TopQuery) -> Sql {
    if matches!(q.dimension, Dimension::EntryPage | Dimension::ExitPage) {
        return session_pages_sql(q);
    }
    let mut s = Sql::default();
    s.push("SELECT ").push(q.dimension.expression()).push(
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
    q.filters.push_sql(&mut s);
    s.push(" GROUP BY value ORDER BY 2 DESC, 4 DESC, value NULLS LAST LIMIT ")
        .bind(SqlParam::Int(q.limit as i64));
    s
}

/// The query's events with their sessions' facts (`s_entry_pathname`, …), for
/// filters on, and tables of, whole sessions.
fn push_with_session_facts(s: &mut Sql, q: &TopQuery) {
    crate::sql::push_events_with_sessions(
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
        crate::sql::push_sessionized(
            &mut s,
            q.project_id,
            q.range,
            crate::types::DEFAULT_INACTIVITY,
            q.include_bots,
        );
    }
    s.push(", sessions AS (SELECT ");
    if filtered {
        s.push("any_value(")
            .push(q.dimension.filter_expression())
            .push(
                ") AS value, any_value(ev.s_start) AS started, \
                 any_value(ev.s_pageviews) AS session_pageviews, ",
            );
    } else {
        s.push(q.dimension.expression()).push(
            " AS value, min(ev.timestamp) AS started, \
             count(*) FILTER (WHERE ev.event = '$pageview') AS session_pageviews, ",
        );
    }
    s.push(
        "any_value(ev.person) AS person, count(*) FILTER (WHERE ev.event = '$pageview') \
         AS pageviews, count(*) AS events FROM ev WHERE TRUE",
    );
    q.filters.push_sql(&mut s);
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
