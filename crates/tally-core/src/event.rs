//! The event model: [`RawEvent`] is what a wire decoder produced and nothing has
//! checked yet; [`Event`] is validated, owned by one project and ready to store.

use crate::properties::Properties;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
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
    pub properties: Option<RawProperties>,
    /// Size of the event's JSON as received, for the per-event size limit.
    pub encoded_len: usize,
}

/// An event's `properties` as a decoder left them.
#[derive(Debug, Clone, PartialEq)]
pub enum RawProperties {
    /// An object read straight from the received text into its stored form.
    Read(Properties),
    /// A value a decoder parsed or built (an object it changed, or a value of
    /// another type, which validation refuses).
    Value(Value),
}

impl RawProperties {
    /// The properties as a JSON value (for tests and decoders that change them).
    pub fn into_value(self) -> Value {
        match self {
            Self::Read(p) => Value::Object(p.to_map()),
            Self::Value(v) => v,
        }
    }
}

impl RawProperties {
    /// A member's value when these are an object that has it as a string.
    pub fn get_str(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::Read(p) => p.get_str(key),
            Self::Value(v) => v.get(key)?.as_str().map(std::borrow::Cow::Borrowed),
        }
    }

    /// Whether these are an object whose `key` is `true`.
    pub fn is_true(&self, key: &str) -> bool {
        match self {
            Self::Read(p) => p.get_json(key) == Some("true"),
            Self::Value(v) => v.get(key) == Some(&Value::Bool(true)),
        }
    }
}

impl From<Value> for RawProperties {
    fn from(v: Value) -> Self {
        Self::Value(v)
    }
}

/// A validated event. The typed columns are copied out of well-known properties
/// (`$current_url`, `$pathname`, `$referrer`) so queries need not parse JSON; the
/// enrichment columns stay empty until the pipeline fills them. Serialized
/// as the live feed shows it, and read back from the live topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub properties: Properties,
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
            properties: Properties::new(),
        }
    }

    /// Approximate in-memory size, used to bound the capture queue by bytes.
    pub fn approx_size(&self) -> usize {
        const FIXED: usize = 256;
        FIXED
            + self.event.len()
            + self.distinct_id.len()
            + [&self.url, &self.path, &self.referrer, &self.session_id]
                .iter()
                .map(|s| s.as_ref().map_or(0, |s| s.len()))
                .sum::<usize>()
            + self.properties.approx_size()
    }
}
