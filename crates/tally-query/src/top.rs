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
//! Dimensions are a closed list; each engine maps each one to a column or a fixed
//! property path written by Tally, so nothing of the request reaches SQL text.

use crate::error::QueryError;
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
    /// with their sessions' facts (in DuckDB: `sql::push_events_with_sessions`).
    pub fn needs_sessions(&self) -> bool {
        self.0
            .iter()
            .any(|(d, _)| matches!(d, Dimension::EntryPage | Dimension::ExitPage))
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
