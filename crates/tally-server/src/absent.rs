//! [`NoEventStore`]: what a node without an event store (`--role capture`)
//! holds where the store and query engine go, and a node without capture
//! (`--role api`, `worker`) where the sink goes. Such a node serves none of the
//! routes that read or delete events, so nothing calls it; if something did, it
//! would get `503 unavailable`, never a wrong answer.

use async_trait::async_trait;
use tally_core::{
    Event, EventBatch, EventSink, EventStore, InsertOutcome, ProjectId, SinkError, SinkReceipt,
    StoreError,
};
use tally_query::*;

pub struct NoEventStore;

fn absent<T>() -> Result<T, StoreError> {
    Err(StoreError::Unavailable(
        "this node has no event store (see its --role)".into(),
    ))
}

#[async_trait]
impl EventStore for NoEventStore {
    async fn insert_batch(&self, _: EventBatch) -> Result<InsertOutcome, StoreError> {
        absent()
    }
    async fn ping(&self) -> Result<(), StoreError> {
        absent()
    }
    async fn delete_project(&self, _: ProjectId) -> Result<u64, StoreError> {
        absent()
    }
}

/// Reads need not wait for anything (`settle` returns at once): on a node
/// without capture, events reach the store through the queue.
#[async_trait]
impl EventSink for NoEventStore {
    async fn send(&self, _: Vec<Event>) -> Result<SinkReceipt, SinkError> {
        Err(SinkError::Closed)
    }
}

#[async_trait]
impl QueryEngine for NoEventStore {
    async fn events(&self, _: EventsQuery) -> Result<EventsPage, StoreError> {
        absent()
    }
    async fn count_events(&self, _: EventsQuery) -> Result<u64, StoreError> {
        absent()
    }
    async fn timeseries(&self, _: TimeseriesQuery) -> Result<Timeseries, StoreError> {
        absent()
    }
    async fn top_events(&self, _: TopEventsQuery) -> Result<TopEvents, StoreError> {
        absent()
    }
    async fn overview(&self, _: OverviewQuery) -> Result<Overview, StoreError> {
        absent()
    }
    async fn sessions(&self, _: SessionsQuery) -> Result<SessionsPage, StoreError> {
        absent()
    }
    async fn definitions(&self, _: DefinitionsQuery) -> Result<Definitions, StoreError> {
        absent()
    }
    async fn person(&self, _: PersonQuery) -> Result<Option<PersonRecord>, StoreError> {
        absent()
    }
    async fn funnel(&self, _: funnel::FunnelQuery) -> Result<funnel::FunnelAnswer, StoreError> {
        absent()
    }
    async fn top(&self, _: top::TopQuery) -> Result<top::TopAnswer, StoreError> {
        absent()
    }
    async fn retention(
        &self,
        _: retention::RetentionQuery,
    ) -> Result<retention::RetentionAnswer, StoreError> {
        absent()
    }
    async fn paths(&self, _: paths::PathsQuery) -> Result<paths::PathsAnswer, StoreError> {
        absent()
    }
    async fn stickiness(
        &self,
        _: activity::ActivityQuery,
    ) -> Result<activity::StickinessAnswer, StoreError> {
        absent()
    }
    async fn lifecycle(
        &self,
        _: activity::ActivityQuery,
    ) -> Result<activity::LifecycleAnswer, StoreError> {
        absent()
    }
    async fn persons(&self, _: persons::PersonsQuery) -> Result<persons::PersonsPage, StoreError> {
        absent()
    }
    async fn realtime(
        &self,
        _: realtime::RealtimeQuery,
    ) -> Result<realtime::RealtimeAnswer, StoreError> {
        absent()
    }
    async fn session_events(
        &self,
        _: sessions::SessionEventsQuery,
    ) -> Result<Option<sessions::SessionTimeline>, StoreError> {
        absent()
    }
    async fn trends(&self, _: trends::TrendsQuery) -> Result<trends::TrendsAnswer, StoreError> {
        absent()
    }
}
