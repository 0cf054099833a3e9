//! The event model: [`RawEvent`] is what a wire decoder produced and nothing has
//! checked yet; [`Event`] is validated, owned by one project and ready to store.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Identifies a project (a tenant). Every stored event and every query carries one.
pub type ProjectId = i64;

/// An event as a decoder read it from the wire, before validation. Fields hold raw
/// JSON so that validation can name the exact problem ("`event` must be a string").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawEvent {
    pub event: Option<Value>,
    pub distinct_id: Option<Value>,
    pub uuid: Option<Value>,
    pub timestamp: Option<Value>,
    pub properties: Option<Value>,
    /// Size of the event's JSON as received, for the per-event size limit.
    pub encoded_len: usize,
}

/// A validated event. The typed columns are copied out of well-known properties
/// (`$current_url`, `$pathname`, `$referrer`) so queries need not parse JSON; the
/// enrichment columns stay empty until the pipeline fills them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub uuid: Uuid,
    pub project_id: ProjectId,
    pub event: String,
    pub distinct_id: String,
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub url: Option<String>,
    pub path: Option<String>,
    pub referrer: Option<String>,
    pub session_id: Option<String>,
    pub person_id: Option<i64>,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub device: Option<String>,
    pub country: Option<String>,
    /// A crawler, a headless browser or an HTTP library rather than a person;
    /// set by the processing stage from the user agent.
    pub is_bot: bool,
    pub properties: Map<String, Value>,
}

/// A batch of events shared by the drain's stages, the store and the live feed.
/// A `Vec` behind the `Arc`, not a slice: a batch is gathered in a `Vec`, and
/// turning that into an `Arc<[Event]>` copies every event (for a full drain
/// batch of 131,072 events, 47 MB into freshly faulted memory).
pub type EventBatch = std::sync::Arc<Vec<Event>>;

impl Event {
    /// An event with no properties and no derived columns filled in yet.
    pub fn new(
        project_id: ProjectId,
        uuid: Uuid,
        event: impl Into<String>,
        distinct_id: impl Into<String>,
        timestamp: DateTime<Utc>,
    ) -> Self {
        Self {
            uuid,
            project_id,
            event: event.into(),
            distinct_id: distinct_id.into(),
            timestamp,
            received_at: timestamp,
            url: None,
            path: None,
            referrer: None,
            session_id: None,
            person_id: None,
            browser: None,
            os: None,
            device: None,
            country: None,
            is_bot: false,
            properties: Map::new(),
        }
    }

    /// Approximate in-memory size, used to bound the capture queue by bytes.
    pub fn approx_size(&self) -> usize {
        const FIXED: usize = 256;
        let props: usize = self
            .properties
            .iter()
            .map(|(k, v)| k.len() + approx_value_size(v))
            .sum();
        FIXED
            + self.event.len()
            + self.distinct_id.len()
            + [&self.url, &self.path, &self.referrer, &self.session_id]
                .iter()
                .map(|s| s.as_ref().map_or(0, |s| s.len()))
                .sum::<usize>()
            + props
    }
}

fn approx_value_size(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 16,
        Value::String(s) => 24 + s.len(),
        Value::Array(a) => 24 + a.iter().map(approx_value_size).sum::<usize>(),
        Value::Object(o) => {
            48 + o
                .iter()
                .map(|(k, v)| k.len() + approx_value_size(v))
                .sum::<usize>()
        }
    }
}
