//! The query engine trait. It lives here rather than in tally-core because its
//! requests and answers are this crate's types.

use crate::types::*;
use async_trait::async_trait;
use tally_core::StoreError;

/// Answers analytical questions about one project's events. Every request carries
/// its project id and every implementation filters on it.
#[async_trait]
pub trait QueryEngine: Send + Sync + 'static {
    async fn events(&self, q: EventsQuery) -> Result<EventsPage, StoreError>;
    /// How many events match `q`'s filters; its limit, offset and cursor are ignored.
    async fn count_events(&self, q: EventsQuery) -> Result<u64, StoreError>;
    async fn timeseries(&self, q: TimeseriesQuery) -> Result<Timeseries, StoreError>;
    async fn top_events(&self, q: TopEventsQuery) -> Result<TopEvents, StoreError>;
    async fn overview(&self, q: OverviewQuery) -> Result<Overview, StoreError>;
    async fn sessions(&self, q: SessionsQuery) -> Result<SessionsPage, StoreError>;
    async fn definitions(&self, q: DefinitionsQuery) -> Result<Definitions, StoreError>;
    /// The person a distinct id belongs to, with all of its ids; `None` when the
    /// id has no person (never seen, or stored before persons were resolved).
    async fn person(&self, q: PersonQuery) -> Result<Option<PersonRecord>, StoreError>;
    async fn funnel(
        &self,
        q: crate::funnel::FunnelQuery,
    ) -> Result<crate::funnel::FunnelAnswer, StoreError>;
    async fn top(&self, q: crate::top::TopQuery) -> Result<crate::top::TopAnswer, StoreError>;
    async fn retention(
        &self,
        q: crate::retention::RetentionQuery,
    ) -> Result<crate::retention::RetentionAnswer, StoreError>;
    async fn paths(
        &self,
        q: crate::paths::PathsQuery,
    ) -> Result<crate::paths::PathsAnswer, StoreError>;
    async fn stickiness(
        &self,
        q: crate::activity::ActivityQuery,
    ) -> Result<crate::activity::StickinessAnswer, StoreError>;
    async fn lifecycle(
        &self,
        q: crate::activity::ActivityQuery,
    ) -> Result<crate::activity::LifecycleAnswer, StoreError>;
    async fn persons(
        &self,
        q: crate::persons::PersonsQuery,
    ) -> Result<crate::persons::PersonsPage, StoreError>;
    async fn realtime(
        &self,
        q: crate::realtime::RealtimeQuery,
    ) -> Result<crate::realtime::RealtimeAnswer, StoreError>;
    /// One session's events; `None` when no session has that id.
    async fn session_events(
        &self,
        q: crate::sessions::SessionEventsQuery,
    ) -> Result<Option<crate::sessions::SessionTimeline>, StoreError>;
    async fn trends(
        &self,
        q: crate::trends::TrendsQuery,
    ) -> Result<crate::trends::TrendsAnswer, StoreError>;
}
