//! The live event stream: events as they are stored, pushed to dashboards over a
//! WebSocket.
//!
//! - [`LiveFeed`] is an in-process broadcast. [`PublishingStore`] wraps the event
//!   store and publishes each batch once it is stored — after processing, so a
//!   viewer sees events enriched, and only what a query would also find. In a
//!   scale-out deployment a worker publishes to a topic instead, which every
//!   API node reads into its feed (`tally_kafka::live`).
//! - A WebSocket cannot carry cookies' CSRF protection or an `Authorization`
//!   header from a browser, and a token in its URL would land in logs. So a
//!   member first asks for a **ticket** (`POST …/live/ticket`, authenticated as
//!   any other route) and opens `GET …/live?ticket=…` with it: random, single
//!   use, valid for 30 seconds, good for one project. Tickets live in this
//!   process's memory, so the socket must reach the node that issued it.
//! - A slow viewer does not slow capture: the broadcast keeps a bounded backlog;
//!   a viewer that falls behind is told how many events it missed and carries on.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tally_core::{
    Event, EventBatch, EventStore, InsertOutcome, PreparedBatch, ProjectId, StoreError, UserId,
};
use tokio::sync::broadcast;

/// Batches kept for viewers that are behind, before they lag.
const BACKLOG_BATCHES: usize = 1024;

/// How long a ticket may wait before its socket opens.
pub const TICKET_TTL: chrono::Duration = chrono::Duration::seconds(30);

/// Stored batches, fanned out to every open stream.
pub struct LiveFeed {
    tx: broadcast::Sender<EventBatch>,
    tickets: Mutex<HashMap<[u8; 32], Ticket>>,
}

#[derive(Debug, Clone, Copy)]
struct Ticket {
    project_id: ProjectId,
    user_id: UserId,
    expires_at: DateTime<Utc>,
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG_BATCHES).0,
            tickets: Mutex::new(HashMap::new()),
        }
    }
}

fn digest(ticket: &str) -> [u8; 32] {
    Sha256::digest(ticket.as_bytes()).into()
}

impl LiveFeed {
    /// Hands a stored batch to the open streams (none open: nothing happens).
    pub fn publish(&self, events: EventBatch) {
        let _ = self.tx.send(events);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EventBatch> {
        self.tx.subscribe()
    }

    /// A new single-use ticket for one project's stream.
    pub fn issue_ticket(
        &self,
        project_id: ProjectId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        use base64::Engine;
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        let ticket = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let expires_at = now + TICKET_TTL;
        let mut tickets = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        // Forget expired tickets, so unused ones do not pile up.
        tickets.retain(|_, t| t.expires_at > now);
        tickets.insert(
            digest(&ticket),
            Ticket {
                project_id,
                user_id,
                expires_at,
            },
        );
        (ticket, expires_at)
    }

    /// Spends a ticket: the user it was issued to, when it is valid for this
    /// project and not expired. A ticket works once, whatever the outcome.
    pub fn redeem(
        &self,
        ticket: &str,
        project_id: ProjectId,
        now: DateTime<Utc>,
    ) -> Option<UserId> {
        let mut tickets = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        let t = tickets.remove(&digest(ticket))?;
        (t.project_id == project_id && t.expires_at > now).then_some(t.user_id)
    }
}

/// An event store that publishes each stored batch to the live feed.
pub struct PublishingStore {
    inner: Arc<dyn EventStore>,
    publish: Publish,
}

/// Where a stored batch goes: this process's feed, or (scale-out) the live
/// topic every API node reads.
pub type Publish = Arc<dyn Fn(EventBatch) + Send + Sync>;

impl PublishingStore {
    /// Publishes into this process's feed.
    pub fn new(inner: Arc<dyn EventStore>, feed: Arc<LiveFeed>) -> Self {
        Self::to(inner, Arc::new(move |batch| feed.publish(batch)))
    }

    /// Publishes through `publish`.
    pub fn to(inner: Arc<dyn EventStore>, publish: Publish) -> Self {
        Self { inner, publish }
    }
}

#[async_trait]
impl EventStore for PublishingStore {
    async fn insert_batch(&self, events: EventBatch) -> Result<InsertOutcome, StoreError> {
        let outcome = self.inner.insert_batch(Arc::clone(&events)).await?;
        (self.publish)(events);
        Ok(outcome)
    }

    fn prepare(&self, events: &[Event]) -> Option<PreparedBatch> {
        self.inner.prepare(events)
    }

    async fn insert_prepared(
        &self,
        events: EventBatch,
        prepared: Option<PreparedBatch>,
    ) -> Result<InsertOutcome, StoreError> {
        let outcome = self
            .inner
            .insert_prepared(Arc::clone(&events), prepared)
            .await?;
        (self.publish)(events);
        Ok(outcome)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn delete_project(&self, project_id: ProjectId) -> Result<u64, StoreError> {
        self.inner.delete_project(project_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_works_once_for_its_project_within_30_seconds() {
        let feed = LiveFeed::default();
        let t0 = Utc::now();
        let (ticket, expires) = feed.issue_ticket(1, 7, t0);
        assert_eq!(expires, t0 + TICKET_TTL);
        assert_eq!(feed.redeem(&ticket, 1, t0), Some(7));
        assert_eq!(feed.redeem(&ticket, 1, t0), None, "single use");
        let (other_project, _) = feed.issue_ticket(1, 7, t0);
        assert_eq!(feed.redeem(&other_project, 2, t0), None);
        assert_eq!(
            feed.redeem(&other_project, 1, t0),
            None,
            "spent by the failed try"
        );
        let (late, _) = feed.issue_ticket(1, 7, t0);
        assert_eq!(
            feed.redeem(&late, 1, t0 + chrono::Duration::seconds(30)),
            None
        );
        assert_eq!(feed.redeem("made-up", 1, t0), None);
    }
}
