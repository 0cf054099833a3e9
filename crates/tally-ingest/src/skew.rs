//! Client clock skew: a device's clock may be minutes or years off, but the time
//! between creating an event and sending it is measured on that same clock, so it
//! is trusted. With the request's `sent_at`, an event's time becomes
//! `received_at − (sent_at − timestamp)` (PostHog's rule, used by the PostHog and
//! native decoders).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

/// The event time to validate: corrected when both `timestamp` and `sent_at` are
/// readable; else the client's `timestamp` as sent (an unreadable one is left for
/// validation to name); else `offset_ms` before receipt when given.
pub(crate) fn corrected_timestamp(
    timestamp: Option<Value>,
    offset_ms: Option<Value>,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
) -> Option<Value> {
    let render = |t: DateTime<Utc>| Value::String(t.to_rfc3339_opts(SecondsFormat::Micros, true));
    match (timestamp.as_ref().and_then(as_time), sent_at) {
        (Some(ts), Some(sent)) => Some(render(received_at - (sent - ts))),
        (Some(_), None) => timestamp,
        (None, _) if timestamp.is_some() => timestamp,
        (None, _) => offset_ms
            .as_ref()
            .and_then(Value::as_i64)
            .map(|ms| render(received_at - Duration::milliseconds(ms))),
    }
}

/// RFC 3339 text or epoch milliseconds.
pub(crate) fn as_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    }
}
