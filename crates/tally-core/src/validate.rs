//! Turning a [`RawEvent`] into an [`Event`], or saying exactly why not.
//!
//! Rules: `event` and `distinct_id` are required and non-empty (a numeric
//! `distinct_id` is accepted and kept as its decimal text, as PostHog does);
//! `uuid` must parse when given and is generated when absent; `timestamp` is
//! RFC 3339; one more than [`Limits::max_future_skew`] ahead of the server clock,
//! or older than [`Limits::max_event_age`] (and never before 2000), is rejected or,
//! with [`OutOfRange::Clamp`], dated at its receive time with the client's time kept
//! in `$original_timestamp`; `properties` is an object. `$ip` is dropped from the
//! properties so a raw IP address is never stored.

use crate::clock::Clock;
use crate::error::EventError;
use crate::event::{Event, ProjectId, RawEvent, RawProperties};
use crate::properties::Properties;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use uuid::Uuid;

/// What happens to an event whose timestamp is outside the accepted range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutOfRange {
    /// Rejected with `timestamp_in_future` / `timestamp_too_old`.
    #[default]
    Reject,
    /// Stored at its receive time; the client's timestamp is kept in
    /// `$original_timestamp`.
    Clamp,
}

/// Size, shape and time limits applied at capture.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_event_bytes: usize,
    pub max_body_bytes: usize,
    pub max_event_name_chars: usize,
    pub max_distinct_id_chars: usize,
    pub max_future_skew: Duration,
    /// Events older than this are out of range; `None`: only before 2000 is.
    pub max_event_age: Option<Duration>,
    pub out_of_range: OutOfRange,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_event_bytes: 1024 * 1024,
            max_body_bytes: 20 * 1024 * 1024,
            max_event_name_chars: 200,
            max_distinct_id_chars: 200,
            max_future_skew: Duration::hours(1),
            max_event_age: None,
            out_of_range: OutOfRange::Reject,
        }
    }
}

/// Validates events against [`Limits`] using an injected clock.
pub struct Validator<'a> {
    pub limits: &'a Limits,
    pub clock: &'a dyn Clock,
}

impl Validator<'_> {
    pub fn validate(&self, project_id: ProjectId, raw: RawEvent) -> Result<Event, EventError> {
        if raw.encoded_len > self.limits.max_event_bytes {
            return Err(EventError::EventTooLarge {
                size: raw.encoded_len,
                max: self.limits.max_event_bytes,
            });
        }
        let now = self.clock.now();
        let event = required_string(raw.event, "event", self.limits.max_event_name_chars)?;
        let distinct_id = match raw.distinct_id {
            Some(Value::Number(n)) => n.to_string(),
            other => required_string(other, "distinct_id", self.limits.max_distinct_id_chars)?,
        };
        let uuid = match raw.uuid {
            None | Some(Value::Null) => Uuid::now_v7(),
            Some(Value::String(s)) => {
                Uuid::parse_str(&s).map_err(|e| EventError::InvalidUuid(e.to_string()))?
            }
            Some(_) => {
                return Err(EventError::WrongType {
                    field: "uuid",
                    expected: "a string",
                })
            }
        };
        let timestamp = match raw.timestamp {
            None | Some(Value::Null) => now,
            Some(Value::String(s)) => parse_timestamp(&s)?,
            Some(_) => {
                return Err(EventError::WrongType {
                    field: "timestamp",
                    expected: "an RFC 3339 string",
                })
            }
        };
        let floor = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
        let floor = match self.limits.max_event_age {
            Some(age) => floor.max(now - age),
            None => floor,
        };
        let out_of_range = if timestamp > now + self.limits.max_future_skew {
            Some(EventError::TimestampInFuture {
                max_skew_secs: self.limits.max_future_skew.num_seconds(),
            })
        } else if timestamp < floor {
            Some(EventError::TimestampTooOld)
        } else {
            None
        };
        let clamped_from = match (out_of_range, self.limits.out_of_range) {
            (None, _) => None,
            (Some(err), OutOfRange::Reject) => return Err(err),
            (Some(_), OutOfRange::Clamp) => Some(timestamp),
        };
        let timestamp = if clamped_from.is_some() {
            now
        } else {
            timestamp
        };
        let not_an_object = EventError::WrongType {
            field: "properties",
            expected: "an object",
        };
        let mut properties = match raw.properties {
            None | Some(RawProperties::Value(Value::Null)) => Properties::new(),
            Some(RawProperties::Read(p)) => p,
            Some(RawProperties::Value(Value::Object(m))) => Properties::from_map(&m),
            Some(RawProperties::Value(_)) => return Err(not_an_object),
        };
        properties.remove("$ip");
        if let Some(original) = clamped_from {
            properties.insert_str(
                "$original_timestamp",
                &original.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            );
        }
        let text = |key: &str| properties.get_str(key).map(|s| s.into_owned());
        let url = text("$current_url");
        let path = text("$pathname").or_else(|| url.as_deref().map(path_of_url));
        let referrer = text("$referrer").filter(|r| r != "$direct");
        let session_id = text("$session_id");
        Ok(Event {
            received_at: now,
            url,
            path,
            referrer,
            session_id,
            properties,
            ..Event::new(project_id, uuid, event, distinct_id, timestamp)
        })
    }
}

fn required_string(
    value: Option<Value>,
    field: &'static str,
    max_chars: usize,
) -> Result<String, EventError> {
    match value {
        None | Some(Value::Null) => Err(EventError::MissingField { field }),
        Some(Value::String(s)) if s.trim().is_empty() => Err(EventError::EmptyField { field }),
        Some(Value::String(s)) if s.chars().count() > max_chars => Err(EventError::TooLong {
            field,
            max: max_chars,
        }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(EventError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, EventError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| EventError::InvalidTimestamp(e.to_string()))
}

/// The path part of a URL (`https://a.b/c/d?x#y` → `/c/d`); the input itself when it
/// has no scheme.
fn path_of_url(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_start = if url.contains("://") {
        after_scheme.find('/').map_or(after_scheme.len(), |i| i)
    } else {
        0
    };
    let path = &after_scheme[path_start..];
    let end = path.find(['?', '#']).unwrap_or(path.len());
    if path[..end].is_empty() {
        "/".to_owned()
    } else {
        path[..end].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn check(raw: RawEvent) -> Result<Event, EventError> {
        let clock = FixedClock::new(now());
        let limits = Limits::default();
        Validator {
            limits: &limits,
            clock: &clock,
        }
        .validate(7, raw)
    }

    fn raw(v: Value) -> RawEvent {
        RawEvent {
            event: v.get("event").cloned(),
            distinct_id: v.get("distinct_id").cloned(),
            uuid: v.get("uuid").cloned(),
            timestamp: v.get("timestamp").cloned(),
            properties: v.get("properties").cloned().map(RawProperties::Value),
            encoded_len: v.to_string().len(),
        }
    }

    fn check_with(limits: Limits, raw: RawEvent) -> Result<Event, EventError> {
        let clock = FixedClock::new(now());
        Validator {
            limits: &limits,
            clock: &clock,
        }
        .validate(7, raw)
    }

    #[test]
    fn out_of_range_times_are_rejected_or_clamped_as_configured() {
        let at = |ts: &str| raw(json!({"event": "x", "distinct_id": "d", "timestamp": ts}));
        let strict = Limits {
            max_future_skew: Duration::minutes(10),
            max_event_age: Some(Duration::days(30)),
            ..Limits::default()
        };
        // Now is 2026-11-22T12:00Z: 11 minutes ahead and 31 days back are out.
        let code = |r: Result<Event, EventError>| r.unwrap_err().code();
        assert_eq!(
            code(check_with(strict.clone(), at("2026-11-22T12:11:00Z"))),
            "timestamp_in_future"
        );
        assert_eq!(
            code(check_with(strict.clone(), at("2026-10-22T11:59:00Z"))),
            "timestamp_too_old"
        );
        let inside = check_with(strict.clone(), at("2026-10-23T12:00:00Z")).unwrap();
        assert_eq!(inside.timestamp, now() - Duration::days(30));
        assert!(!inside.properties.contains_key("$original_timestamp"));

        let clamp = Limits {
            out_of_range: OutOfRange::Clamp,
            ..strict
        };
        for ts in [
            "2026-11-22T12:11:00Z",
            "2026-10-22T11:59:00Z",
            "1999-12-31T00:00:00Z",
        ] {
            let e = check_with(clamp.clone(), at(ts)).unwrap();
            assert_eq!(e.timestamp, now(), "{ts}");
            assert_eq!(e.received_at, now());
            let kept = e.properties.get_str("$original_timestamp").unwrap();
            assert_eq!(
                DateTime::parse_from_rfc3339(&kept).unwrap(),
                DateTime::parse_from_rfc3339(ts).unwrap()
            );
        }
    }

    #[test]
    fn accepts_a_full_event_and_extracts_columns() {
        let e = check(raw(json!({
            "event": "$pageview", "distinct_id": "u1",
            "uuid": "0190a0a0-0000-7000-8000-000000000001",
            "timestamp": "2026-11-22T10:00:00+01:00",
            "properties": {"$current_url": "https://x.io/a/b?q=1", "$ip": "1.2.3.4", "$referrer": "$direct"}
        })))
        .unwrap();
        assert_eq!(e.project_id, 7);
        assert_eq!(
            e.timestamp,
            Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
        );
        assert_eq!(e.path.as_deref(), Some("/a/b"));
        assert_eq!(e.referrer, None);
        assert!(!e.properties.contains_key("$ip"), "raw IP must be dropped");
        assert_eq!(e.received_at, now());
    }

    #[test]
    fn numeric_distinct_id_is_kept_as_text() {
        let e = check(raw(json!({"event": "x", "distinct_id": 42}))).unwrap();
        assert_eq!(e.distinct_id, "42");
    }

    #[test]
    fn missing_timestamp_and_uuid_are_filled_in() {
        let a = check(raw(json!({"event": "x", "distinct_id": "d"}))).unwrap();
        let b = check(raw(json!({"event": "x", "distinct_id": "d"}))).unwrap();
        assert_eq!(a.timestamp, now());
        assert_ne!(a.uuid, b.uuid);
    }

    #[test]
    fn each_rule_has_its_own_code() {
        let cases = [
            (json!({"distinct_id": "d"}), "missing_field"),
            (json!({"event": "", "distinct_id": "d"}), "empty_field"),
            (json!({"event": "x", "distinct_id": "  "}), "empty_field"),
            (json!({"event": 5, "distinct_id": "d"}), "invalid_type"),
            (json!({"event": "x", "distinct_id": ["d"]}), "invalid_type"),
            (
                json!({"event": "x", "distinct_id": "d", "uuid": "nope"}),
                "invalid_uuid",
            ),
            (
                json!({"event": "x", "distinct_id": "d", "timestamp": "yesterday"}),
                "invalid_timestamp",
            ),
            (
                json!({"event": "x", "distinct_id": "d", "timestamp": "2026-11-22T14:00:00Z"}),
                "timestamp_in_future",
            ),
            (
                json!({"event": "x", "distinct_id": "d", "timestamp": "1970-01-21T00:00:00Z"}),
                "timestamp_too_old",
            ),
            (
                json!({"event": "x", "distinct_id": "d", "properties": [1]}),
                "invalid_type",
            ),
            (
                json!({"event": "x".repeat(201), "distinct_id": "d"}),
                "field_too_long",
            ),
        ];
        for (input, code) in cases {
            let err = check(raw(input.clone())).expect_err(&input.to_string());
            assert_eq!(err.code(), code, "{input}");
        }
    }

    #[test]
    fn a_timestamp_just_inside_the_skew_is_accepted() {
        let e = check(raw(
            json!({"event": "x", "distinct_id": "d", "timestamp": "2026-11-22T12:59:00Z"}),
        ));
        assert!(e.is_ok());
    }

    #[test]
    fn oversized_event_is_rejected_by_encoded_size() {
        let mut r = raw(json!({"event": "x", "distinct_id": "d"}));
        r.encoded_len = 1024 * 1024 + 1;
        assert_eq!(check(r).unwrap_err().code(), "event_too_large");
    }

    #[test]
    fn path_of_url_handles_the_usual_shapes() {
        assert_eq!(path_of_url("https://a.io"), "/");
        assert_eq!(path_of_url("https://a.io/x/y#h"), "/x/y");
        assert_eq!(path_of_url("/local?q"), "/local");
    }
}
