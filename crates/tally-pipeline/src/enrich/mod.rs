//! The processing stage: validated events become analytics-ready rows. It runs
//! where events are persisted — in the spool's drain in the embedded deployment
//! (through [`ProcessingStore`]), in the queue consumer when Kafka sits between
//! capture and storage — so a replayed event is processed again, and processing
//! must give the same row every time.
//!
//! Today: traffic source and URL hygiene ([`traffic`]), user agent and the bot
//! flag ([`agent`]). Persons and sessions join here; the parts that need the client IP run at capture
//! instead, because the raw IP must never reach the spool or a queue.

pub mod agent;
pub mod traffic;

use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;
use tally_core::{Event, EventStore, InsertOutcome, StoreError};

/// Settings of the processing stage.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// Query parameters removed from stored URLs (case-insensitive).
    pub sensitive_params: Vec<String>,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        Self {
            sensitive_params: traffic::DEFAULT_SENSITIVE_PARAMS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// Turns events into rows; pure apart from its configuration.
#[derive(Debug, Clone, Default)]
pub struct Processor {
    config: ProcessConfig,
}

impl Processor {
    pub fn new(config: ProcessConfig) -> Self {
        Self { config }
    }

    /// Processes a batch in place.
    pub fn process(&self, events: &mut [Event]) {
        for event in events {
            self.process_one(event);
        }
    }

    fn process_one(&self, event: &mut Event) {
        if let Some(agent) = agent::enrich(&mut event.properties) {
            event.browser = agent.browser;
            event.os = agent.os;
            event.device = agent.device.map(str::to_owned);
            event.is_bot = agent.is_bot;
        }
        let found = traffic::enrich(
            event.url.as_deref(),
            event.referrer.as_deref(),
            &mut event.properties,
            &self.config.sensitive_params,
        );
        if let Some(clean) = found.cleaned_url {
            if event.properties.contains_key("$current_url") {
                event
                    .properties
                    .insert("$current_url".into(), Value::String(clean.clone()));
            }
            event.url = Some(clean);
        }
    }
}

/// An [`EventStore`] that processes each batch before handing it to the store it
/// wraps, so whatever drains into it (the spool today, a queue consumer later)
/// stores processed rows.
pub struct ProcessingStore {
    inner: Arc<dyn EventStore>,
    processor: Arc<Processor>,
}

impl ProcessingStore {
    pub fn new(inner: Arc<dyn EventStore>, processor: Processor) -> Self {
        Self {
            inner,
            processor: Arc::new(processor),
        }
    }
}

#[async_trait]
impl EventStore for ProcessingStore {
    async fn insert_batch(&self, events: Arc<[Event]>) -> Result<InsertOutcome, StoreError> {
        let processor = Arc::clone(&self.processor);
        // CPU work over up to a whole drain batch: off the async workers.
        let rows = tokio::task::spawn_blocking(move || {
            let mut rows = events.to_vec();
            processor.process(&mut rows);
            rows
        })
        .await
        .map_err(|e| StoreError::Internal(format!("processing panicked: {e}")))?;
        self.inner.insert_batch(rows.into()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use std::sync::Mutex;
    use uuid::Uuid;

    /// Records what reaches it (a unit-test stand-in for a real store).
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Event>>);

    #[async_trait]
    impl EventStore for Recorder {
        async fn insert_batch(&self, events: Arc<[Event]>) -> Result<InsertOutcome, StoreError> {
            self.0.lock().unwrap().extend(events.iter().cloned());
            Ok(InsertOutcome {
                inserted: events.len(),
                duplicates: 0,
            })
        }
        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn pageview(url: &str, referrer: Option<&str>) -> Event {
        let mut e = Event::new(1, Uuid::new_v4(), "$pageview", "d", Utc::now());
        e.url = Some(url.into());
        e.referrer = referrer.map(Into::into);
        e.properties
            .insert("$current_url".into(), Value::String(url.into()));
        e
    }

    #[tokio::test]
    async fn the_store_receives_processed_rows() {
        let recorder = Arc::new(Recorder::default());
        let store = ProcessingStore::new(recorder.clone(), Processor::default());
        let events: Arc<[Event]> = vec![
            pageview(
                "https://shop.example/login?token=T&utm_source=nl&utm_medium=email",
                None,
            ),
            pageview("https://shop.example/", Some("https://www.bing.com/search")),
        ]
        .into();
        let out = store.insert_batch(events).await.unwrap();
        assert_eq!(out.inserted, 2);
        let rows = recorder.0.lock().unwrap();
        let url = "https://shop.example/login?utm_source=nl&utm_medium=email";
        assert_eq!(rows[0].url.as_deref(), Some(url));
        assert_eq!(rows[0].properties["$current_url"], url);
        assert_eq!(rows[0].properties["$channel_type"], "email");
        assert_eq!(rows[0].properties["utm_source"], "nl");
        assert_eq!(rows[1].properties["$channel_type"], "search");
        assert_eq!(rows[1].properties["$referring_domain"], "bing.com");
    }

    #[test]
    fn processing_twice_gives_the_same_row() {
        let processor = Processor::default();
        let mut once = vec![pageview(
            "https://a.example/?code=c&gclid=g",
            Some("https://t.co/x"),
        )];
        processor.process(&mut once);
        let mut twice = once.clone();
        processor.process(&mut twice);
        assert_eq!(once, twice);
        assert_eq!(once[0].properties["$channel_type"], "paid");
        assert_eq!(once[0].url.as_deref(), Some("https://a.example/?gclid=g"));
    }
}
