//! JSON reading shared by every decoder. Guarantees:
//! - A body is split into its events without building one tree of the whole body
//!   and without a nesting limit, so one pathological event (10,000 levels deep,
//!   say) fails alone and its neighbours are kept.
//! - Invalid UTF-8 never fails a body: such bytes become U+FFFD, as browsers do
//!   when they decode text, so the other events of the batch are kept.

use crate::DecodeError;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use tally_core::EventError;

/// The body as text; invalid UTF-8 sequences are replaced.
pub fn text(body: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(body)
}

/// A body's outermost value, with its members left as raw text.
pub enum TopLevel<'a> {
    Array(Vec<&'a RawValue>),
    /// The object's members by name, and the whole object.
    Object(HashMap<String, &'a RawValue>, &'a RawValue),
}

fn invalid(e: serde_json::Error) -> DecodeError {
    DecodeError::InvalidJson(e.to_string())
}

/// Reads the outermost array or object of `text`.
pub fn top_level(text: &str) -> Result<TopLevel<'_>, DecodeError> {
    if text.trim().is_empty() {
        return Err(DecodeError::EmptyBody);
    }
    let top: &RawValue = serde_json::from_str(text).map_err(invalid)?;
    let trimmed = top.get().trim_start();
    if trimmed.starts_with('[') {
        Ok(TopLevel::Array(array(top)?))
    } else if trimmed.starts_with('{') {
        let members = serde_json::from_str(top.get()).map_err(invalid)?;
        Ok(TopLevel::Object(members, top))
    } else {
        Err(DecodeError::NotAnObject)
    }
}

/// The elements of a raw JSON array (`BatchNotArray` when it is something else).
pub fn array(raw: &RawValue) -> Result<Vec<&RawValue>, DecodeError> {
    if !raw.get().trim_start().starts_with('[') {
        return Err(DecodeError::BatchNotArray);
    }
    serde_json::from_str(raw.get()).map_err(invalid)
}

/// One member's value, parsed; `None` when absent or unreadable.
pub fn member(members: &HashMap<String, &RawValue>, name: &str) -> Option<Value> {
    serde_json::from_str(members.get(name)?.get()).ok()
}

/// One event: must be a JSON object that serde_json can read.
pub fn event_object(raw: &RawValue) -> Result<Map<String, Value>, EventError> {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(EventError::NotAnObject),
        Err(e) => Err(EventError::InvalidJson(e.to_string())),
    }
}
