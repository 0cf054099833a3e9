//! The processing stage: validated events become analytics-ready rows. It runs
//! where events are persisted — in the spool's drain in the embedded deployment
//! (`SpoolConfig::processor`, live and at recovery), in the queue consumer when
//! Kafka sits between capture and storage — so a replayed event is processed
//! again, and processing must give the same row every time.
//!
//! Enrichment: traffic source and URL hygiene ([`traffic`]), user agent and the
//! bot flag ([`agent`]); then persons ([`crate::persons`]). Sessions are cut at
//! query time. The parts that need the client IP (its hash, GeoIP) run at capture
//! instead, because the raw IP must never reach the spool or a queue.

pub mod agent;
pub mod geo;
pub mod traffic;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tally_core::{Event, PersonStore, ProjectSwitches, StoreError};

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

/// Turns events into rows: enrichment (pure apart from its configuration), then
/// person resolution against its [`PersonStore`] when it has one.
#[derive(Clone, Default)]
pub struct Processor {
    config: ProcessConfig,
    persons: Option<Arc<dyn PersonStore>>,
    switches: Option<Arc<dyn ProjectSwitches>>,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("config", &self.config)
            .field("persons", &self.persons.is_some())
            .field("switches", &self.switches.is_some())
            .finish()
    }
}

impl Processor {
    pub fn new(config: ProcessConfig) -> Self {
        Self {
            config,
            persons: None,
            switches: None,
        }
    }

    /// Reads each project's switches (dropping bots) from `switches`; without
    /// them every project has the defaults.
    pub fn with_switches(mut self, switches: Arc<dyn ProjectSwitches>) -> Self {
        self.switches = Some(switches);
        self
    }

    /// Resolves persons against `store` (see [`crate::persons`]).
    pub fn with_persons(mut self, store: Arc<dyn PersonStore>) -> Self {
        self.persons = Some(store);
        self
    }

    /// Stamps each event's `person_id` and saves person changes. Fails only when
    /// the person store does; the caller retries (the events are acknowledged
    /// already). Without a person store this does nothing.
    pub fn resolve_persons(&self, events: &mut [Event]) -> Result<(), StoreError> {
        let Some(store) = &self.persons else {
            return Ok(());
        };
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            crate::persons::resolve(events, store.as_ref())
        }));
        match outcome {
            Ok(result) => result.map(|_| ()),
            Err(_) => {
                // A bug, not an outage: retrying would loop forever, so the batch
                // is stored without persons and the error logged.
                tracing::error!(
                    events = events.len(),
                    "person resolution panicked; batch stored without persons"
                );
                Ok(())
            }
        }
    }

    /// Processes a batch in place. An event whose processing panics (a parser
    /// bug) is stored as far as it got rather than stopping storage: these events
    /// are acknowledged already. Bots of projects that drop them are removed.
    pub fn process(&self, events: &mut Vec<Event>) {
        // Events are processed independently: a large batch is split over the
        // cores, so the drain's processing stage is not one thread's work.
        tally_core::parallel::for_each_chunk(events, |chunk| self.process_chunk(chunk));
        if let Some(switches) = &self.switches {
            events.retain(|e| !(e.is_bot && switches.pipeline_settings(e.project_id).drop_bots));
        }
    }

    fn process_chunk(&self, events: &mut [Event]) {
        // Parsing a user agent costs microseconds and a batch repeats the same
        // few hundred agents, so each is parsed once per chunk.
        let mut agents = HashMap::new();
        let mut pages = traffic::Lookups::default();
        for event in events.iter_mut() {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.process_one(event, &mut agents, &mut pages)
            }));
            if outcome.is_err() {
                tracing::error!(uuid = %event.uuid, "processing an event panicked; stored as is");
            }
        }
    }

    fn process_one(
        &self,
        event: &mut Event,
        agents: &mut HashMap<String, agent::Agent>,
        pages: &mut traffic::Lookups,
    ) {
        if let Some(agent) = agent::enrich(&mut event.properties, agents) {
            event.browser = agent.browser;
            event.os = agent.os;
            event.device = agent.device.map(str::to_owned);
            event.is_bot = agent.is_bot;
        }
        // GeoIP ran at capture (it needs the raw address); the column is
        // filled here so queries need not parse JSON.
        if let Some(code) = event.properties.get_str(geo::COUNTRY_CODE) {
            event.country = Some(code.into_owned());
        }
        let found = traffic::enrich(
            event.url.as_deref(),
            event.referrer.as_deref(),
            &mut event.properties,
            &self.config.sensitive_params,
            pages,
        );
        if let Some(clean) = found.cleaned_url {
            if event.properties.contains_key("$current_url") {
                event.properties.insert_str("$current_url", &clean);
            }
            event.url = Some(clean);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::Value;
    use uuid::Uuid;

    fn pageview(url: &str, referrer: Option<&str>) -> Event {
        let mut e = Event::new(1, Uuid::new_v4(), "$pageview", "d", Utc::now());
        e.url = Some(url.into());
        e.referrer = referrer.map(Into::into);
        e.properties
            .insert("$current_url".into(), Value::String(url.into()));
        e
    }

    #[test]
    fn a_batch_is_processed_in_place() {
        let mut rows = vec![
            pageview(
                "https://shop.example/login?token=T&utm_source=nl&utm_medium=email",
                None,
            ),
            pageview("https://shop.example/", Some("https://www.bing.com/search")),
        ];
        rows[1].properties.insert(
            "$raw_user_agent".into(),
            Value::String(
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".into(),
            ),
        );
        Processor::default().process(&mut rows);
        let url = "https://shop.example/login?utm_source=nl&utm_medium=email";
        assert_eq!(rows[0].url.as_deref(), Some(url));
        assert_eq!(rows[0].properties.get("$current_url").unwrap(), url);
        assert_eq!(rows[0].properties.get("$channel_type").unwrap(), "email");
        assert_eq!(rows[0].properties.get("utm_source").unwrap(), "nl");
        assert!(!rows[0].is_bot);
        assert_eq!(rows[1].properties.get("$channel_type").unwrap(), "search");
        assert_eq!(
            rows[1].properties.get("$referring_domain").unwrap(),
            "bing.com"
        );
        assert!(rows[1].is_bot);
        assert_eq!(rows[1].device.as_deref(), Some("bot"));
    }

    #[test]
    fn bots_are_dropped_only_for_projects_that_ask() {
        struct DropsForProject2;
        impl ProjectSwitches for DropsForProject2 {
            fn pipeline_settings(&self, project_id: i64) -> tally_core::PipelineSettings {
                tally_core::PipelineSettings {
                    drop_bots: project_id == 2,
                    ..Default::default()
                }
            }
        }
        let crawler = |project| {
            let mut e = pageview("https://a.example/", None);
            e.project_id = project;
            e.properties.insert(
                "$raw_user_agent".into(),
                Value::String("Mozilla/5.0 (compatible; bingbot/2.0)".into()),
            );
            e
        };
        let mut person_on_2 = pageview("https://a.example/", None);
        person_on_2.project_id = 2;
        let mut rows = vec![crawler(1), crawler(2), person_on_2];
        Processor::default()
            .with_switches(Arc::new(DropsForProject2))
            .process(&mut rows);
        let kept: Vec<(i64, bool)> = rows.iter().map(|e| (e.project_id, e.is_bot)).collect();
        assert_eq!(kept, vec![(1, true), (2, false)]);
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
        assert_eq!(once[0].properties.get("$channel_type").unwrap(), "paid");
        assert_eq!(once[0].url.as_deref(), Some("https://a.example/?gclid=g"));
    }
}
