//! The native format of `POST /api/v1/capture`: one event object, `{"batch": [...]}`,
//! or a bare JSON array of events.

use crate::json::{self, TopLevel};
use crate::DecodeError;
use serde_json::Value;
use tally_core::{EventError, RawEvent};

/// A decoded capture body, one entry per event in the order received. An entry is an
/// error when that event is not even an object; the others are still kept.
#[derive(Debug)]
pub struct NativePayload {
    pub is_batch: bool,
    pub events: Vec<Result<RawEvent, EventError>>,
}

/// Parses a native capture body.
pub fn parse_native(body: &[u8]) -> Result<NativePayload, DecodeError> {
    let text = json::text(body);
    let items = match json::top_level(&text)? {
        TopLevel::Array(items) => items,
        TopLevel::Object(members, top) => match members.get("batch") {
            Some(batch) => json::array(batch)?,
            None => {
                let fields =
                    json::event_object(top).map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
                return Ok(NativePayload {
                    is_batch: false,
                    events: vec![Ok(raw_event(fields, top.get().len()))],
                });
            }
        },
    };
    if items.is_empty() {
        return Err(DecodeError::EmptyBatch);
    }
    let events = items
        .into_iter()
        .map(|item| json::event_object(item).map(|fields| raw_event(fields, item.get().len())))
        .collect();
    Ok(NativePayload {
        is_batch: true,
        events,
    })
}

fn raw_event(mut fields: serde_json::Map<String, Value>, encoded_len: usize) -> RawEvent {
    RawEvent {
        event: fields.remove("event"),
        distinct_id: fields.remove("distinct_id"),
        uuid: fields.remove("uuid"),
        timestamp: fields.remove("timestamp"),
        properties: fields.remove("properties"),
        encoded_len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_event() {
        let p = parse_native(br#"{"event":"a","distinct_id":"d","properties":{"k":1}}"#).unwrap();
        assert!(!p.is_batch);
        let e = p.events[0].as_ref().unwrap();
        assert_eq!(e.event, Some(json!("a")));
        assert_eq!(e.properties, Some(json!({"k": 1})));
    }

    #[test]
    fn batch_keeps_order_and_flags_non_objects() {
        let p = parse_native(br#"{"batch":[{"event":"a"}, 5, {"event":"b"}]}"#).unwrap();
        assert!(p.is_batch);
        assert_eq!(p.events.len(), 3);
        assert_eq!(p.events[0].as_ref().unwrap().event, Some(json!("a")));
        assert_eq!(p.events[1].as_ref().unwrap_err().code(), "invalid_event");
        assert_eq!(p.events[2].as_ref().unwrap().event, Some(json!("b")));
    }

    #[test]
    fn per_event_size_is_the_encoded_length() {
        let p = parse_native(br#"[{"event":"a"},{"event":"bbbb"}]"#).unwrap();
        assert_eq!(p.events[0].as_ref().unwrap().encoded_len, 13);
        assert_eq!(p.events[1].as_ref().unwrap().encoded_len, 16);
    }

    #[test]
    fn whole_body_problems() {
        let code = |b: &[u8]| parse_native(b).unwrap_err().code();
        assert_eq!(code(b"{not json"), "invalid_json");
        assert_eq!(code(b"   "), "empty_body");
        assert_eq!(code(br#"{"batch":[]}"#), "empty_batch");
        assert_eq!(code(br#"{"batch":{"event":"a"}}"#), "invalid_batch");
        assert_eq!(code(br#""just a string""#), "invalid_body");
    }
}
