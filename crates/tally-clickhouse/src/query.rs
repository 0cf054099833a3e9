//! [`QueryEngine`] for ClickHouse: runs the SQL of `crate::sql` and hands the
//! rows to `tally_query`'s assembly, as the DuckDB engine does. Kinds not yet
//! said in ClickHouse's SQL answer an error naming them.

use crate::sql;
use crate::store::ClickHouse;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::Deserialize;
use serde_json::{Map, Value};
use tally_core::StoreError;
use tally_query::activity::{ActivityQuery, LifecycleAnswer, StickinessAnswer};
use tally_query::funnel::{FunnelAnswer, FunnelQuery};
use tally_query::paths::{PathsAnswer, PathsQuery};
use tally_query::persons::{PersonsPage, PersonsQuery};
use tally_query::realtime::{RealtimeAnswer, RealtimeQuery};
use tally_query::retention::{RetentionAnswer, RetentionQuery};
use tally_query::sessions::{SessionEventsQuery, SessionTimeline};
use tally_query::top::{TopAnswer, TopQuery};
use tally_query::trends::{TrendsAnswer, TrendsQuery};
use tally_query::*;
use uuid::Uuid;

/// A row of [`sql::EVENT_COLUMNS`].
#[derive(Row, Deserialize)]
pub(crate) struct EventRow {
    uuid: String,
    event: String,
    distinct_id: String,
    timestamp: i64,
    received_at: i64,
    url: Option<String>,
    path: Option<String>,
    referrer: Option<String>,
    session_id: Option<String>,
    properties: String,
    browser: Option<String>,
    os: Option<String>,
    device: Option<String>,
    is_bot: u8,
}

impl EventRow {
    fn record(self) -> EventRecord {
        EventRecord {
            uuid: Uuid::parse_str(&self.uuid).unwrap_or_default(),
            event: self.event,
            distinct_id: self.distinct_id,
            timestamp: time(self.timestamp),
            received_at: time(self.received_at),
            url: self.url,
            path: self.path,
            referrer: self.referrer,
            session_id: self.session_id,
            browser: self.browser,
            os: self.os,
            device: self.device,
            is_bot: self.is_bot == 1,
            properties: serde_json::from_str::<Map<String, Value>>(&self.properties)
                .unwrap_or_default(),
        }
    }
}

fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// The answer of a kind the ClickHouse engine does not say yet.
fn not_yet<T>(kind: &str) -> Result<T, StoreError> {
    Err(StoreError::Internal(format!(
        "{kind} queries are not answered on ClickHouse yet"
    )))
}

#[async_trait]
impl QueryEngine for ClickHouse {
    async fn events(&self, q: EventsQuery) -> Result<EventsPage, StoreError> {
        let rows: Vec<EventRow> = self.db().fetch_all(&sql::events_page(&q)).await?;
        let mut results: Vec<EventRecord> = rows.into_iter().map(EventRow::record).collect();
        let next = if results.len() > q.limit {
            results.truncate(q.limit);
            results.last().map(|last| {
                Cursor {
                    timestamp: last.timestamp,
                    uuid: last.uuid,
                }
                .encode()
            })
        } else {
            None
        };
        Ok(EventsPage { results, next })
    }

    async fn count_events(&self, q: EventsQuery) -> Result<u64, StoreError> {
        let n: Vec<u64> = self.db().fetch_all(&sql::events_count(&q)).await?;
        Ok(n.first().copied().unwrap_or(0))
    }

    async fn timeseries(&self, q: TimeseriesQuery) -> Result<Timeseries, StoreError> {
        let Some(sql) = sql::timeseries(&q) else {
            return not_yet("timeseries filtered by entry or exit page");
        };
        let rows: Vec<(i64, u64)> = self.db().fetch_all(&sql).await?;
        Ok(q.answer(rows))
    }

    async fn top_events(&self, q: TopEventsQuery) -> Result<TopEvents, StoreError> {
        let rows: Vec<(String, u64, u64)> = self.db().fetch_all(&sql::top_events(&q)).await?;
        Ok(TopEvents {
            range: q.range,
            results: rows
                .into_iter()
                .map(|(event, count, unique_users)| TopEvent {
                    event,
                    count,
                    unique_users,
                })
                .collect(),
        })
    }
    async fn overview(&self, _q: OverviewQuery) -> Result<Overview, StoreError> {
        not_yet("overview")
    }
    async fn sessions(&self, _q: SessionsQuery) -> Result<SessionsPage, StoreError> {
        not_yet("sessions")
    }
    async fn definitions(&self, q: DefinitionsQuery) -> Result<Definitions, StoreError> {
        let rows: Vec<(String, String, i64, i64, u64)> =
            self.db().fetch_all(&sql::definitions(&q)).await?;
        Ok(Definitions {
            kind: q.kind,
            results: rows
                .into_iter()
                .map(|(name, property_type, first, last, count)| Definition {
                    name,
                    property_type: (!property_type.is_empty()).then_some(property_type),
                    first_seen: time(first),
                    last_seen: time(last),
                    count,
                })
                .collect(),
        })
    }
    async fn person(&self, _q: PersonQuery) -> Result<Option<PersonRecord>, StoreError> {
        not_yet("person")
    }
    async fn funnel(&self, _q: FunnelQuery) -> Result<FunnelAnswer, StoreError> {
        not_yet("funnel")
    }
    async fn top(&self, _q: TopQuery) -> Result<TopAnswer, StoreError> {
        not_yet("top")
    }
    async fn retention(&self, _q: RetentionQuery) -> Result<RetentionAnswer, StoreError> {
        not_yet("retention")
    }
    async fn paths(&self, _q: PathsQuery) -> Result<PathsAnswer, StoreError> {
        not_yet("paths")
    }
    async fn stickiness(&self, _q: ActivityQuery) -> Result<StickinessAnswer, StoreError> {
        not_yet("stickiness")
    }
    async fn lifecycle(&self, _q: ActivityQuery) -> Result<LifecycleAnswer, StoreError> {
        not_yet("lifecycle")
    }
    async fn persons(&self, _q: PersonsQuery) -> Result<PersonsPage, StoreError> {
        not_yet("persons")
    }
    async fn realtime(&self, _q: RealtimeQuery) -> Result<RealtimeAnswer, StoreError> {
        not_yet("realtime")
    }
    async fn session_events(
        &self,
        _q: SessionEventsQuery,
    ) -> Result<Option<SessionTimeline>, StoreError> {
        not_yet("session timeline")
    }
    async fn trends(&self, _q: TrendsQuery) -> Result<TrendsAnswer, StoreError> {
        not_yet("trends")
    }
}
