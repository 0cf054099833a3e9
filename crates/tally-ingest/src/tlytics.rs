//! The Tlytics wire format, so existing Tlytics clients keep working unchanged:
//! `POST /events` with a JSON array of `{key, timestamp, data}` and `POST /batch`
//! with `{"events": [...]}`.
//!
//! Guarantees:
//! - `key` is the event name and `data` its properties, kept exactly as sent (a
//!   `data` that is not an object is kept under `properties.data`).
//! - `timestamp` may be RFC 3339 text or a Unix time in seconds or milliseconds
//!   (numbers below 10^11 are seconds); absent, the receive time is used.
//! - Tlytics events name no user: the distinct id is `data.distinct_id`,
//!   `data.user_id` or `data.userId` when one is there, else [`ANONYMOUS_ID`].
//! - Tlytics events carry no id either, so a re-sent event is recognised by its
//!   content: the uuid is a name-based UUID (v5) of key, timestamp and data. Two
//!   events identical in all three are therefore counted once; an event without a
//!   timestamp gets a random uuid, since its content says nothing of when it was.
//! - A bad event is an error in its slot; its neighbours are kept.

use crate::json::{self, TopLevel};
use crate::DecodeError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tally_core::{EventError, RawEvent};
use uuid::Uuid;

/// The distinct id of events whose `data` names no user.
pub const ANONYMOUS_ID: &str = "anonymous";

/// Namespace of the uuids derived from event content.
const CONTENT_NAMESPACE: Uuid = Uuid::from_u128(0x2f6b_94c1_7d3e_4a5b_8c09_1e2d_3f4a_5b6c);

/// Unix times below this are seconds; at or above it, milliseconds (10^11 s is
/// the year 5138, 10^11 ms is 1973).
const MILLIS_FROM: f64 = 1e11;

/// What a Tlytics request decoded to.
#[derive(Debug)]
pub struct TlyticsPayload {
    pub is_batch: bool,
    pub events: Vec<Result<RawEvent, EventError>>,
}

/// Whether a body sent to `/batch` is Tlytics' `{"events": [...]}` rather than one
/// of PostHog's shapes: an object with an `events` member and no `batch`.
pub fn is_tlytics_batch(body: &[u8]) -> bool {
    // A cheap look first: PostHog batches almost never contain the word.
    let text = json::text(body);
    if !text.trim_start().starts_with('{') || !text.contains("\"events\"") {
        return false;
    }
    matches!(
        json::top_level(&text, "events"),
        Ok(TopLevel::Object(members))
            if members.has_list() && !members.contains("batch")
    )
}

/// Decodes a Tlytics body (already decompressed): an array of events,
/// `{"events": [...]}`, or one event object.
pub fn parse_tlytics(
    body: &[u8],
    received_at: DateTime<Utc>,
) -> Result<TlyticsPayload, DecodeError> {
    let text = json::text(body);
    let (raw_events, is_batch): (Vec<&RawValue>, bool) = match json::top_level(&text, "events")? {
        TopLevel::Array(items) => (items, true),
        TopLevel::Object(mut members) => match members.take_list() {
            Some(events) => (events?, true),
            None => (vec![members.whole()?], false),
        },
    };
    if raw_events.is_empty() {
        return Err(DecodeError::EmptyBatch);
    }
    let events = raw_events
        .into_iter()
        .map(|raw| {
            let fields = json::event_object(raw)?;
            event(fields, received_at, raw.get().len())
        })
        .collect();
    Ok(TlyticsPayload { is_batch, events })
}

fn event(
    mut fields: Map<String, Value>,
    received_at: DateTime<Utc>,
    encoded_len: usize,
) -> Result<RawEvent, EventError> {
    let key = match fields.remove("key") {
        Some(Value::String(k)) => k,
        Some(_) => {
            return Err(EventError::WrongType {
                field: "key",
                expected: "a string",
            })
        }
        None => return Err(EventError::MissingField { field: "key" }),
    };
    let timestamp = match fields.remove("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(unix_time(n.as_f64().unwrap_or(f64::NAN))?),
        Some(_) => {
            return Err(EventError::WrongType {
                field: "timestamp",
                expected: "RFC 3339 text or a Unix time",
            })
        }
    };
    let data = match fields.remove("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(data)) => data,
        Some(other) => Map::from_iter([("data".to_owned(), other)]),
    };
    let uuid = timestamp.as_ref().map(|ts| {
        let mut name = Vec::with_capacity(key.len() + ts.len() + 64);
        for part in [key.as_bytes(), b"\0", ts.as_bytes(), b"\0"] {
            name.extend_from_slice(part);
        }
        // serde_json's maps are ordered by key, so equal data writes equal text.
        serde_json::to_writer(&mut name, &data).expect("a JSON map always serializes");
        Value::String(Uuid::new_v5(&CONTENT_NAMESPACE, &name).to_string())
    });
    let distinct_id = ["distinct_id", "user_id", "userId"]
        .iter()
        .find_map(|name| match data.get(*name) {
            Some(Value::String(s)) if !s.is_empty() => Some(Value::String(s.clone())),
            Some(Value::Number(n)) => Some(Value::String(n.to_string())),
            _ => None,
        })
        .unwrap_or_else(|| Value::String(ANONYMOUS_ID.to_owned()));
    Ok(RawEvent {
        event: Some(Value::String(key)),
        distinct_id: Some(distinct_id),
        uuid,
        timestamp: Some(Value::String(timestamp.unwrap_or_else(|| {
            received_at.to_rfc3339_opts(SecondsFormat::Micros, true)
        }))),
        properties: Some(Value::Object(data).into()),
        encoded_len,
    })
}

/// A Unix time in seconds or milliseconds as RFC 3339 text.
fn unix_time(n: f64) -> Result<String, EventError> {
    let micros = if n.abs() < MILLIS_FROM {
        n * 1e6
    } else {
        n * 1e3
    };
    let invalid = || EventError::WrongType {
        field: "timestamp",
        expected: "RFC 3339 text or a Unix time",
    };
    if !micros.is_finite() || micros.abs() > i64::MAX as f64 {
        return Err(invalid());
    }
    DateTime::from_timestamp_micros(micros.round() as i64)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    fn parse(body: Value) -> TlyticsPayload {
        parse_tlytics(body.to_string().as_bytes(), now()).unwrap()
    }

    fn ok(r: &Result<RawEvent, EventError>) -> &RawEvent {
        r.as_ref().expect("event decodes")
    }

    #[test]
    fn an_array_of_events_maps_key_timestamp_and_data() {
        let p = parse(json!([
            {"key": "signup", "timestamp": "2026-11-22T10:00:00Z", "data": {"plan": "pro", "user_id": 42}},
            {"key": "click", "data": {"button": "buy"}},
        ]));
        assert!(p.is_batch);
        let a = ok(&p.events[0]);
        assert_eq!(a.event, Some(json!("signup")));
        assert_eq!(a.timestamp, Some(json!("2026-11-22T10:00:00Z")));
        assert_eq!(a.distinct_id, Some(json!("42")));
        assert_eq!(
            a.properties
                .clone()
                .map(tally_core::RawProperties::into_value),
            Some(json!({"plan": "pro", "user_id": 42}))
        );
        let b = ok(&p.events[1]);
        assert_eq!(b.distinct_id, Some(json!(ANONYMOUS_ID)));
        assert_eq!(b.timestamp, Some(json!("2026-11-22T12:00:00.000000Z")));
        assert_eq!(b.uuid, None, "no timestamp, no content id");
    }

    #[test]
    fn the_events_object_and_a_single_event_are_read() {
        let p = parse(json!({"events": [{"key": "a"}, {"key": "b"}]}));
        assert!(p.is_batch);
        assert_eq!(p.events.len(), 2);
        let p = parse(json!({"key": "a", "data": {"userId": "u7"}}));
        assert!(!p.is_batch);
        assert_eq!(ok(&p.events[0]).distinct_id, Some(json!("u7")));
    }

    #[test]
    fn unix_times_in_seconds_and_milliseconds() {
        let p = parse(json!([
            {"key": "s", "timestamp": 1_795_348_800},
            {"key": "ms", "timestamp": 1_795_348_800_250_i64},
            {"key": "frac", "timestamp": 1_795_348_800.5},
        ]));
        let ts = |i: usize| ok(&p.events[i]).timestamp.clone().unwrap();
        // 1_795_348_800 s is 2026-11-22T12:00:00Z.
        assert_eq!(ts(0), json!("2026-11-22T12:00:00.000000Z"));
        assert_eq!(ts(1), json!("2026-11-22T12:00:00.250000Z"));
        assert_eq!(ts(2), json!("2026-11-22T12:00:00.500000Z"));
    }

    #[test]
    fn a_resent_event_gets_the_same_uuid_and_a_different_one_does_not() {
        let body = json!([
            {"key": "a", "timestamp": "2026-11-22T10:00:00Z", "data": {"x": 1, "y": 2}},
            {"data": {"y": 2, "x": 1}, "timestamp": "2026-11-22T10:00:00Z", "key": "a"},
            {"key": "a", "timestamp": "2026-11-22T10:00:00Z", "data": {"x": 1, "y": 3}},
            {"key": "a", "timestamp": "2026-11-22T10:00:01Z", "data": {"x": 1, "y": 2}},
        ]);
        let p = parse(body);
        let ids: Vec<_> = p
            .events
            .iter()
            .map(|e| ok(e).uuid.clone().unwrap())
            .collect();
        assert_eq!(ids[0], ids[1], "same content in another member order");
        assert_ne!(ids[0], ids[2], "other data");
        assert_ne!(ids[0], ids[3], "other time");
        assert!(Uuid::parse_str(ids[0].as_str().unwrap()).is_ok());
    }

    #[test]
    fn bad_events_fail_alone() {
        let p = parse(json!([
            {"key": "good"},
            {"data": {}},
            {"key": 5},
            {"key": "t", "timestamp": [1]},
            {"key": "scalar data", "data": 7},
            "not an object",
        ]));
        assert!(p.events[0].is_ok());
        assert!(matches!(
            p.events[1],
            Err(EventError::MissingField { field: "key" })
        ));
        assert!(matches!(
            p.events[2],
            Err(EventError::WrongType { field: "key", .. })
        ));
        assert!(matches!(
            p.events[3],
            Err(EventError::WrongType {
                field: "timestamp",
                ..
            })
        ));
        assert_eq!(
            ok(&p.events[4])
                .properties
                .clone()
                .map(tally_core::RawProperties::into_value),
            Some(json!({"data": 7}))
        );
        assert!(matches!(p.events[5], Err(EventError::NotAnObject)));
    }

    #[test]
    fn whole_body_errors() {
        let err = |b: &[u8]| parse_tlytics(b, now()).unwrap_err().code();
        assert_eq!(err(b"[]"), "empty_batch");
        assert_eq!(err(b"{\"events\": 3}"), "invalid_batch");
        assert_eq!(err(b"[{\"key\": \"a\""), "invalid_json");
        assert_eq!(err(b"   "), "empty_body");
        assert_eq!(err(b"\"text\""), "invalid_body");
    }

    #[test]
    fn the_batch_route_tells_tlytics_from_posthog() {
        assert!(is_tlytics_batch(br#"{"events": [{"key": "a"}]}"#));
        assert!(!is_tlytics_batch(
            br#"{"api_key": "k", "batch": [{"event": "a", "properties": {"events": 1}}]}"#
        ));
        assert!(!is_tlytics_batch(
            br#"[{"event": "a", "distinct_id": "d"}]"#
        ));
        assert!(!is_tlytics_batch(
            br#"{"event": "events", "distinct_id": "d"}"#
        ));
        assert!(!is_tlytics_batch(b"{\"events\": [ truncated"));
    }
}
