//! The native format of `POST /api/v1/capture`: one event object, `{"batch": [...]}`,
//! or a bare JSON array of events. A batch object may carry the ingest key as
//! `api_key`, for browsers that send without custom headers (no CORS preflight). A `sent_at` (RFC 3339 or epoch ms) — on the
//! batch object, or on an event — corrects the client's clock skew (see `skew`).

use crate::json::{self, TopLevel};
use crate::skew::{as_time, corrected_timestamp};
use crate::DecodeError;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use serde_json::Value;
use tally_core::{EventError, Properties, PropertiesError, RawEvent, RawProperties};

/// A decoded capture body, one entry per event in the order received. An entry is an
/// error when that event is not even an object; the others are still kept.
#[derive(Debug)]
pub struct NativePayload {
    pub is_batch: bool,
    /// The batch object's `api_key`, when it has one.
    pub api_key: Option<String>,
    pub events: Vec<Result<RawEvent, EventError>>,
}

/// Parses a native capture body received at `received_at`.
pub fn parse_native(body: &[u8], received_at: DateTime<Utc>) -> Result<NativePayload, DecodeError> {
    let text = json::text(body);
    let (items, sent_at, api_key) = match json::top_level(&text, "batch")? {
        TopLevel::Array(items) => (items, None, None),
        TopLevel::Object(mut members) => match members.take_list() {
            Some(batch) => {
                let field = |name: &str| {
                    members
                        .get(name)
                        .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
                };
                let sent_at = field("sent_at").as_ref().and_then(as_time);
                let api_key = field("api_key").and_then(|v| v.as_str().map(str::to_owned));
                (batch?, sent_at, api_key)
            }
            None => {
                let top = members.whole()?;
                let fields = json::event_members(top, &EVENT_MEMBERS, PROPERTIES)
                    .map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
                return Ok(NativePayload {
                    is_batch: false,
                    api_key: None,
                    events: vec![raw_event(fields, top.get().len(), None, received_at)],
                });
            }
        },
    };
    if items.is_empty() {
        return Err(DecodeError::EmptyBatch);
    }
    let events = items
        .into_iter()
        .map(|item| {
            json::event_members(item, &EVENT_MEMBERS, PROPERTIES)
                .and_then(|fields| raw_event(fields, item.get().len(), sent_at, received_at))
        })
        .collect();
    Ok(NativePayload {
        is_batch: true,
        api_key,
        events,
    })
}

/// The members of a native event that are read; any other is ignored.
const EVENT_MEMBERS: [&str; 6] = [
    "event",
    "distinct_id",
    "uuid",
    "timestamp",
    "properties",
    "sent_at",
];
/// `properties`' place in [`EVENT_MEMBERS`]: read from its text, not parsed into a tree.
const PROPERTIES: usize = 4;

fn raw_event(
    (members, properties): ([Option<Value>; EVENT_MEMBERS.len()], Option<&RawValue>),
    encoded_len: usize,
    batch_sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
) -> Result<RawEvent, EventError> {
    let [event, distinct_id, uuid, timestamp, _, sent_at] = members;
    let sent_at = sent_at.as_ref().and_then(as_time).or(batch_sent_at);
    let properties = match properties.map(|raw| (raw, Properties::from_json(raw.get()))) {
        None => None,
        Some((_, Ok(read))) => Some(RawProperties::Read(read)),
        // Not an object: parsed, for validation to say what it is.
        Some((raw, Err(PropertiesError::NotAnObject))) => Some(RawProperties::Value(
            serde_json::from_str(raw.get()).map_err(|e| EventError::InvalidJson(e.to_string()))?,
        )),
        Some((_, Err(PropertiesError::Invalid(e)))) => return Err(EventError::InvalidJson(e)),
    };
    Ok(RawEvent {
        timestamp: corrected_timestamp(timestamp, None, sent_at, received_at),
        event,
        distinct_id,
        uuid,
        properties,
        encoded_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn parse_native(body: &[u8]) -> Result<NativePayload, DecodeError> {
        super::parse_native(body, Utc::now())
    }

    #[test]
    fn sent_at_corrects_a_wrong_client_clock() {
        // The device's clock is 2 hours fast; the event happened 5 s before sending.
        let received = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        let body = br#"{"sent_at": "2026-11-22T12:00:00Z", "batch": [
            {"event": "a", "timestamp": "2026-11-22T11:59:55Z"},
            {"event": "b", "timestamp": "2026-11-22T11:59:00Z", "sent_at": "2026-11-22T12:00:30Z"},
            {"event": "c"}]}"#;
        let p = super::parse_native(body, received).unwrap();
        let ts = |i: usize| p.events[i].as_ref().unwrap().timestamp.clone();
        assert_eq!(ts(0), Some(json!("2026-11-22T09:59:55.000000Z")));
        // Its own sent_at wins over the batch's: 90 s before sending.
        assert_eq!(ts(1), Some(json!("2026-11-22T09:58:30.000000Z")));
        assert_eq!(
            ts(2),
            None,
            "no timestamp: validation uses the receive time"
        );
        // Without sent_at the client's time is kept as sent.
        let single = super::parse_native(
            br#"{"event": "a", "timestamp": "2026-11-22T11:59:55Z"}"#,
            received,
        )
        .unwrap();
        assert_eq!(
            single.events[0].as_ref().unwrap().timestamp,
            Some(json!("2026-11-22T11:59:55Z"))
        );
    }

    #[test]
    fn single_event() {
        let p = parse_native(br#"{"event":"a","distinct_id":"d","properties":{"k":1}}"#).unwrap();
        assert!(!p.is_batch);
        let e = p.events[0].as_ref().unwrap();
        assert_eq!(e.event, Some(json!("a")));
        assert_eq!(
            e.properties.clone().map(RawProperties::into_value),
            Some(json!({"k": 1}))
        );
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

#[cfg(test)]
mod properties_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn properties_are_read_from_their_text_and_bad_ones_fail_their_event_alone() {
        let body = br#"{"batch":[
            {"event":"a","properties":{ "plan" : "pro", "n": 1.50, "o": {"x": [1, 2]} }},
            {"event":"b","properties":{"n":1e400}},
            {"event":"c","properties":[1]},
            {"event":"d","properties":null},
            {"event":"e","properties":{"s":"\ud800"}}]}"#;
        let p = super::parse_native(body, Utc::now()).unwrap();
        match &p.events[0].as_ref().unwrap().properties {
            Some(RawProperties::Read(read)) => {
                assert_eq!(read.json(), r#"{"plan":"pro","n":1.50,"o":{"x":[1,2]}}"#);
            }
            other => panic!("not read from text: {other:?}"),
        }
        for bad in [1, 4] {
            assert_eq!(
                p.events[bad].as_ref().unwrap_err().code(),
                "invalid_json",
                "event {bad}"
            );
        }
        // Not an object: parsed, for validation to name the problem.
        assert_eq!(
            p.events[2].as_ref().unwrap().properties,
            Some(RawProperties::Value(json!([1])))
        );
        assert_eq!(
            p.events[3].as_ref().unwrap().properties,
            Some(RawProperties::Value(Value::Null))
        );
    }
}
