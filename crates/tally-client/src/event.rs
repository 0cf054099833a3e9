//! [`Event`]: what [`crate::Client::emit`] takes, with its uuid and time fixed
//! when it is made.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub event: String,
    pub distinct_id: String,
    pub uuid: Uuid,
    pub timestamp: DateTime<Utc>,
    pub properties: Map<String, Value>,
}

impl Event {
    pub fn new(event: impl Into<String>, distinct_id: impl Into<String>) -> Self {
        Self {
            event: event.into(),
            distinct_id: distinct_id.into(),
            uuid: Uuid::new_v4(),
            timestamp: Utc::now(),
            properties: Map::new(),
        }
    }

    /// Adds a property (builder style).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    pub fn timestamp(mut self, at: DateTime<Utc>) -> Self {
        self.timestamp = at;
        self
    }
}
