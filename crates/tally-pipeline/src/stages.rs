//! The two stages every drain runs a batch through, whatever feeds it (the
//! embedded spool, a Kafka consumer): [`processed`] enriches it, resolves its
//! persons and has the store prepare it; [`store_until_done`] inserts it.
//!
//! Guarantee: neither gives up. Both retry with backoff (up to 5 s apart) until
//! the person store and the event store take the batch, because the events are
//! acknowledged to clients already and must not be dropped; a caller that holds
//! back its acknowledgement of the source (a queue's offsets, a spool segment)
//! until `store_until_done` returned never loses an event.

use crate::enrich::Processor;
use std::sync::Arc;
use std::time::Duration;
use tally_core::{Event, EventBatch, EventStore, PreparedBatch};

/// The rows to store for `events`, and the store's preparation of them:
/// processed off the async workers (it is CPU work over up to a whole drain
/// batch), in place, without copying. Person resolution needs its store; while
/// that fails it is retried with backoff, as storing is, because these events
/// are acknowledged and must not be dropped.
pub async fn processed(
    store: &Arc<dyn EventStore>,
    processor: Option<&Arc<Processor>>,
    events: Vec<Event>,
) -> (EventBatch, Option<PreparedBatch>) {
    let mut events = events;
    let mut enriched = false;
    let mut backoff = Duration::from_millis(50);
    loop {
        let processor = processor.cloned();
        let store = Arc::clone(store);
        let (back, outcome) = tokio::task::spawn_blocking(move || {
            let Some(processor) = processor else {
                let prepared = store.prepare(&events);
                return (events, Ok(prepared));
            };
            if !enriched {
                processor.process(&mut events);
            }
            let outcome = processor
                .resolve_persons(&mut events)
                .map(|()| store.prepare(&events));
            (events, outcome)
        })
        .await
        .expect("Processor catches panics");
        events = back;
        enriched = true;
        match outcome {
            Ok(prepared) => return (events.into(), prepared),
            Err(err) => {
                tracing::error!(%err, events = events.len(), "resolving persons failed; will retry");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Acknowledged events must not be dropped: retry until the store takes them,
/// backing off. Meanwhile the budget stays held, so capture sheds load.
pub async fn store_until_done(
    store: &dyn EventStore,
    events: EventBatch,
    mut prepared: Option<PreparedBatch>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut attempt = 1u32;
    // The preparation goes with the first attempt; a retry prepares again.
    while let Err(err) = store
        .insert_prepared(Arc::clone(&events), prepared.take())
        .await
    {
        tracing::error!(%err, events = events.len(), attempt, "storing spooled events failed; will retry");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        attempt += 1;
    }
}
