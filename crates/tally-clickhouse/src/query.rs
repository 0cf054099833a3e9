//! [`QueryEngine`] for ClickHouse: runs the SQL of `crate::sql` and hands the
//! rows to `tally_query`'s assembly, as the DuckDB engine does: every kind of
//! query, with the same answers.

use crate::sql;
use crate::store::ClickHouse;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use tally_core::StoreError;
use tally_query::activity::{self, ActivityQuery, LifecycleAnswer, StickinessAnswer};
use tally_query::funnel::{FunnelAnswer, FunnelQuery, FunnelWalk};
use tally_query::paths::{self, PathRow, PathsAnswer, PathsQuery};
use tally_query::persons::{PersonListItem, PersonsPage, PersonsQuery};
use tally_query::realtime::{self, RealtimeAnswer, RealtimeQuery};
use tally_query::retention::{self, RetentionAnswer, RetentionQuery, RetentionRow};
use tally_query::sessions::{self, SessionEventsQuery, SessionTimeline};
use tally_query::top::{TopAnswer, TopQuery, TopRow};
use tally_query::trends::{self, TrendRow, TrendsAnswer, TrendsQuery};
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

/// The overview's event cards (`sql::overview::event_cards`).
type EventCards = (u64, u64, u64, u64, u64, u64);

/// The overview's session cards (`sql::overview::session_cards`).
type SessionCards = (u64, u64, u64, f64, u64, u64, u64, f64);

/// A row of `sql::sessions::sessions_list`.
#[derive(Row, Deserialize)]
pub(crate) struct SessionRow {
    id: String,
    distinct_id: String,
    person: i64,
    start: i64,
    end: i64,
    events: u64,
    pageviews: u64,
    entry_path: Option<String>,
    exit_path: Option<String>,
    bounce: u8,
    referrer: Option<String>,
    channel: Option<String>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    device: Option<String>,
    browser: Option<String>,
    country: Option<String>,
}

impl SessionRow {
    fn record(self) -> SessionRecord {
        let (start, end) = (time(self.start), time(self.end));
        SessionRecord {
            id: self.id,
            distinct_id: self.distinct_id,
            // Keys of events stored without a person are negative.
            person_id: Some(self.person).filter(|&p| p > 0),
            start,
            end,
            duration_secs: (self.end - self.start) as f64 / 1e6,
            events: self.events,
            pageviews: self.pageviews,
            entry_path: self.entry_path,
            exit_path: self.exit_path,
            bounce: self.bounce == 1,
            referrer: self.referrer,
            channel: self.channel,
            utm_source: self.utm_source,
            utm_medium: self.utm_medium,
            utm_campaign: self.utm_campaign,
            device: self.device,
            browser: self.browser,
            country: self.country,
        }
    }
}

/// A row of `sql::persons`' person columns: id, identified, first and last
/// seen µs, properties JSON.
type PersonRow = (i64, u8, i64, i64, String);

impl ClickHouse {
    /// The persons of these rows with their distinct ids, in the rows' order.
    async fn person_records(
        &self,
        project_id: i64,
        rows: Vec<PersonRow>,
    ) -> Result<Vec<PersonRecord>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let owned: Vec<(i64, String)> = self
            .db()
            .fetch_all(&sql::persons::distinct_ids_of(project_id, &ids))
            .await?;
        let mut by_person: HashMap<i64, Vec<String>> = HashMap::new();
        for (owner, distinct_id) in owned {
            by_person.entry(owner).or_default().push(distinct_id);
        }
        Ok(rows
            .into_iter()
            .map(|(id, identified, first, last, properties)| {
                let mut distinct_ids = by_person.remove(&id).unwrap_or_default();
                distinct_ids.sort();
                PersonRecord {
                    id,
                    distinct_ids,
                    is_identified: identified == 1,
                    first_seen: time(first),
                    last_seen: time(last),
                    properties: serde_json::from_str(&properties).unwrap_or_default(),
                }
            })
            .collect())
    }
}

fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

#[async_trait]
impl QueryEngine for ClickHouse {
    async fn events(&self, q: EventsQuery) -> Result<EventsPage, StoreError> {
        let rows: Vec<EventRow> = self.db().fetch_all(&sql::events_page(&q)).await?;
        Ok(EventsPage::from_rows(
            rows.into_iter().map(EventRow::record).collect(),
            q.limit,
        ))
    }

    async fn count_events(&self, q: EventsQuery) -> Result<u64, StoreError> {
        let n: Vec<u64> = self.db().fetch_all(&sql::events_count(&q)).await?;
        Ok(n.first().copied().unwrap_or(0))
    }

    async fn timeseries(&self, q: TimeseriesQuery) -> Result<Timeseries, StoreError> {
        let rows: Vec<(i64, u64)> = self.db().fetch_all(&sql::timeseries(&q)).await?;
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
    async fn overview(&self, q: OverviewQuery) -> Result<Overview, StoreError> {
        let event_cards = sql::overview::event_cards(&q);
        let session_cards = sql::overview::session_cards(&q);
        let (events, sessions) = tokio::try_join!(
            self.db().fetch_all::<EventCards>(&event_cards),
            self.db().fetch_all::<SessionCards>(&session_cards),
        )?;
        let (e, s) = (
            events.into_iter().next().unwrap_or_default(),
            sessions.into_iter().next().unwrap_or_default(),
        );
        let stats =
            |(events, persons, pageviews): (u64, u64, u64),
             (sessions, with_pageviews, bounced, length): (u64, u64, u64, f64)| {
                OverviewStats {
                    events,
                    unique_users: persons,
                    pageviews,
                    sessions,
                    bounce_rate: (with_pageviews > 0)
                        .then(|| bounced as f64 / with_pageviews as f64),
                    avg_session_secs: (sessions > 0).then_some(length / 1e6),
                }
            };
        Ok(Overview {
            range: q.range,
            previous_range: q.range.previous(),
            current: stats((e.0, e.1, e.2), (s.0, s.1, s.2, s.3)),
            previous: stats((e.3, e.4, e.5), (s.4, s.5, s.6, s.7)),
        })
    }
    async fn sessions(&self, q: SessionsQuery) -> Result<SessionsPage, StoreError> {
        let rows: Vec<SessionRow> = self
            .db()
            .fetch_all(&sql::sessions::sessions_list(&q))
            .await?;
        Ok(SessionsPage {
            range: q.range,
            results: rows.into_iter().map(SessionRow::record).collect(),
        })
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
    async fn person(&self, q: PersonQuery) -> Result<Option<PersonRecord>, StoreError> {
        let rows: Vec<PersonRow> = self
            .db()
            .fetch_all(&sql::persons::person(q.project_id, &q.distinct_id))
            .await?;
        Ok(self
            .person_records(q.project_id, rows)
            .await?
            .into_iter()
            .next())
    }
    async fn funnel(&self, q: FunnelQuery) -> Result<FunnelAnswer, StoreError> {
        let sql = sql::funnel::funnel_sql(&q);
        let rows: Vec<(i64, i64, i64, Option<String>)> = self.db().fetch_all(&sql).await?;
        let mut walk = FunnelWalk::new(&q);
        for (person, at, bits, value) in rows {
            walk.push(person, at, bits, value);
        }
        let mut answer = walk.finish(&q);
        if let Some(list) = answer.persons.as_mut().filter(|l| !l.person_ids.is_empty()) {
            let rows: Vec<PersonRow> = self
                .db()
                .fetch_all(&sql::persons::persons_by_id(q.project_id, &list.person_ids))
                .await?;
            list.results = self.person_records(q.project_id, rows).await?;
        }
        Ok(answer)
    }
    async fn top(&self, q: TopQuery) -> Result<TopAnswer, StoreError> {
        let sql = sql::top::top(&q);
        let rows: Vec<(Option<String>, u64, u64, u64, Option<u64>)> =
            self.db().fetch_all(&sql).await?;
        Ok(TopAnswer {
            dimension: q.dimension,
            range: q.range,
            results: rows
                .into_iter()
                .map(|(value, visitors, pageviews, events, sessions)| TopRow {
                    value,
                    visitors,
                    pageviews,
                    events,
                    sessions,
                })
                .collect(),
        })
    }
    async fn retention(&self, q: RetentionQuery) -> Result<RetentionAnswer, StoreError> {
        let sql = sql::retention::retention_sql(&q);
        let rows: Vec<(i64, Option<i64>, u64)> = self.db().fetch_all(&sql).await?;
        let rows: Vec<RetentionRow> = rows
            .into_iter()
            .map(|(cohort, returned, persons)| RetentionRow {
                cohort_local_us: cohort,
                return_local_us: returned,
                persons: i64::try_from(persons).unwrap_or(i64::MAX),
            })
            .collect();
        Ok(retention::assemble(&q, &rows))
    }
    async fn paths(&self, q: PathsQuery) -> Result<PathsAnswer, StoreError> {
        let sql = sql::paths::paths_sql(&q);
        let rows: Vec<(i64, String, Option<String>, u64)> = self.db().fetch_all(&sql).await?;
        let rows = rows
            .into_iter()
            .map(|(step, item, next, persons)| PathRow {
                step,
                item,
                next,
                persons: i64::try_from(persons).unwrap_or(i64::MAX),
            })
            .collect();
        Ok(paths::assemble(&q, paths::heaviest_links(rows, q.limit)))
    }
    async fn stickiness(&self, q: ActivityQuery) -> Result<StickinessAnswer, StoreError> {
        let sql = sql::activity::stickiness_sql(&q);
        let rows: Vec<(u64, u64)> = self.db().fetch_all(&sql).await?;
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let rows: Vec<(i64, i64)> = rows
            .into_iter()
            .map(|(a, n)| (signed(a), signed(n)))
            .collect();
        Ok(activity::stickiness_answer(&q, &rows))
    }
    async fn lifecycle(&self, q: ActivityQuery) -> Result<LifecycleAnswer, StoreError> {
        let sql = sql::activity::lifecycle_sql(&q);
        let rows: Vec<(i64, String, u64)> = self.db().fetch_all(&sql).await?;
        let rows: Vec<(i64, String, i64)> = rows
            .into_iter()
            .map(|(b, status, n)| (b, status, i64::try_from(n).unwrap_or(i64::MAX)))
            .collect();
        Ok(activity::lifecycle_answer(&q, &rows))
    }
    async fn persons(&self, q: PersonsQuery) -> Result<PersonsPage, StoreError> {
        let page = sql::persons::persons_page(&q);
        let mut rows: Vec<PersonRow> = self.db().fetch_all(&page).await?;
        let next_offset = (rows.len() > q.limit).then(|| {
            rows.truncate(q.limit);
            q.offset + q.limit
        });
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let counts: HashMap<i64, u64> = match ids.is_empty() {
            true => HashMap::new(),
            false => self
                .db()
                .fetch_all::<(i64, u64)>(&sql::persons::event_counts_of(q.project_id, &ids))
                .await?
                .into_iter()
                .collect(),
        };
        let results = self
            .person_records(q.project_id, rows)
            .await?
            .into_iter()
            .map(|person| PersonListItem {
                events: counts.get(&person.id).copied().unwrap_or(0),
                person,
            })
            .collect();
        Ok(PersonsPage {
            kind: "persons",
            results,
            next_offset,
        })
    }
    async fn realtime(&self, q: RealtimeQuery) -> Result<RealtimeAnswer, StoreError> {
        let totals: Vec<(u64, u64, u64)> = self.db().fetch_all(&sql::realtime::totals(&q)).await?;
        let per_minute: Vec<(i64, u64)> =
            self.db().fetch_all(&sql::realtime::per_minute(&q)).await?;
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let totals = totals
            .first()
            .map_or([0; 3], |&(a, b, c)| [signed(a), signed(b), signed(c)]);
        let per_minute: Vec<(i64, i64)> = per_minute
            .into_iter()
            .map(|(m, n)| (m, signed(n)))
            .collect();
        Ok(realtime::assemble(&q, totals, &per_minute))
    }
    async fn session_events(
        &self,
        q: SessionEventsQuery,
    ) -> Result<Option<SessionTimeline>, StoreError> {
        let rows: Vec<EventRow> = self.db().fetch_all(&sql::sessions::sdk_session(&q)).await?;
        let mut events: Vec<EventRecord> = rows.into_iter().map(EventRow::record).collect();
        if events.is_empty() {
            if let Some((distinct_id, start)) = sessions::parse_derived(&q.id) {
                let sql = sql::sessions::derived_session(&q, &distinct_id, start);
                let rows: Vec<EventRow> = self.db().fetch_all(&sql).await?;
                let rows = rows.into_iter().map(EventRow::record).collect();
                events = sessions::cut_derived(rows, start, q.inactivity);
            }
        }
        if events.is_empty() {
            return Ok(None);
        }
        let truncated = events.len() > sessions::MAX_SESSION_EVENTS;
        events.truncate(sessions::MAX_SESSION_EVENTS);
        Ok(Some(SessionTimeline {
            id: q.id,
            events,
            truncated,
        }))
    }
    async fn trends(&self, q: TrendsQuery) -> Result<TrendsAnswer, StoreError> {
        let run_range = |range: TimeRange, plan: BucketPlan| {
            let q = &q;
            async move {
                let mut results = Vec::new();
                for (i, series) in q.series.iter().enumerate() {
                    let sql = sql::trends::series_sql(q, series, range, &plan);
                    let rows: Vec<(i64, u8, Option<String>, Option<f64>)> =
                        self.db().fetch_all(&sql).await?;
                    let rows = rows
                        .into_iter()
                        .map(|(bucket_local_us, other, breakdown, value)| TrendRow {
                            bucket_local_us,
                            other: other == 1,
                            breakdown,
                            value,
                        })
                        .collect();
                    results.extend(trends::assemble(q, i, &plan, rows));
                }
                Ok(results)
            }
        };
        let results = run_range(q.range, q.plan.clone()).await?;
        let previous = match &q.previous {
            Some((range, plan)) => Some(run_range(*range, plan.clone()).await?),
            None => None,
        };
        Ok(q.answer(results, previous))
    }
}
