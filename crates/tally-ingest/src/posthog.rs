//! The PostHog capture format, as posthog-js, posthog-python, posthog-node and the
//! mobile SDKs send it to `/e`, `/i/v0/e`, `/capture`, `/batch`, `/track`, `/engage`.
//!
//! Guarantees:
//! - Every body shape PostHog's own capture accepts is read: a JSON array of
//!   events, `{"api_key"|"token", "batch": [...], "sent_at"|"sentAt"}`, or one
//!   event; carried as the raw body, as `data=` in a urlencoded form or in the
//!   query string; plain, gzip (by the `compression=gzip|gzip-js` hint or the
//!   `1f 8b` magic), base64, or lz-string (`compression=lz64`).
//! - The project token is taken from the body (`api_key`, `token`), or from each
//!   event (`api_key`, `token`, `$token`, `properties.token`); events that name
//!   different tokens make the whole request [`TokenSource::Mixed`].
//! - Clock skew is corrected when the client says when it sent the request:
//!   `timestamp = received_at − (sent_at − timestamp)`; an `offset` (ms before
//!   sending) becomes `received_at − offset`.
//! - A bad event is an error in its slot; its neighbours are kept.

use crate::body::gunzip_limited;
use crate::json::{self, TopLevel};
use crate::skew::{as_time, corrected_timestamp};
use crate::DecodeError;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;
use tally_core::{EventError, Properties, PropertiesError, RawEvent, RawProperties};

/// What a request carried besides its body, as far as decoding needs it.
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
}

/// Which project token the request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    None,
    One(String),
    /// Two events (or the body and an event) name different tokens.
    Mixed,
}

#[derive(Debug)]
pub struct PosthogPayload {
    pub token: TokenSource,
    pub is_batch: bool,
    pub events: Vec<Result<RawEvent, EventError>>,
}

/// Decodes a PostHog capture request. `max` bounds every decompression step.
pub fn parse_posthog(
    parts: RequestParts<'_>,
    body: &[u8],
    received_at: DateTime<Utc>,
    max: usize,
) -> Result<PosthogPayload, DecodeError> {
    let query = parse_query(parts.query.unwrap_or(""));
    let mut compression = query.get("compression").cloned();
    let is_form = parts
        .content_type
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let data: Vec<u8> = if let Some(data) = query.get("data").filter(|_| body.is_empty()) {
        data.clone().into_bytes()
    } else if is_form || body.starts_with(b"data=") {
        let form = parse_query(std::str::from_utf8(body).map_err(|_| DecodeError::NotAnObject)?);
        compression = form.get("compression").cloned().or(compression);
        form.get("data")
            .ok_or(DecodeError::EmptyBody)?
            .clone()
            .into_bytes()
    } else {
        body.to_vec()
    };
    let json = unwrap_encodings(data, compression.as_deref(), max)?;
    let sent_at_ms = query
        .get("_")
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis);
    read_events(&json, sent_at_ms, received_at)
}

/// Turns whatever wrapping the client applied into JSON bytes.
fn unwrap_encodings(
    data: Vec<u8>,
    compression: Option<&str>,
    max: usize,
) -> Result<Vec<u8>, DecodeError> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::EmptyBody);
    }
    if data.starts_with(&[0x1f, 0x8b]) {
        return gunzip_limited(&data, max);
    }
    if compression == Some("lz64") {
        let text = std::str::from_utf8(&data)
            .map_err(|_| DecodeError::BadCompression("lz64 data is not text".into()))?;
        // Garbage may "decompress" to nothing rather than fail.
        let words = lz_str::decompress_from_base64(text.trim())
            .filter(|w| !w.is_empty())
            .ok_or_else(|| DecodeError::BadCompression("not valid lz-string data".into()))?;
        let json = String::from_utf16(&words)
            .map_err(|_| DecodeError::BadCompression("lz-string data is not text".into()))?;
        if json.len() > max {
            return Err(DecodeError::BodyTooLarge { max });
        }
        return Ok(json.into_bytes());
    }
    let first = data.iter().find(|b| !b.is_ascii_whitespace()).copied();
    // JSON that is not an object or array is left for `read_events` to name.
    if matches!(first, Some(b'{' | b'[')) || serde_json::from_slice::<Value>(&data).is_ok() {
        return Ok(data);
    }
    // Not JSON, not gzip: base64 (older posthog-js, and some mobile SDKs).
    let text: Vec<u8> = data
        .into_iter()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&text))
        .map_err(|_| DecodeError::InvalidJson("body is neither JSON, gzip nor base64".into()))?;
    if decoded.starts_with(&[0x1f, 0x8b]) {
        return gunzip_limited(&decoded, max);
    }
    Ok(decoded)
}

/// Reads the events, each parsed on its own from its raw text: a batch is not
/// built as one big tree, and an event's size is its size as received.
fn read_events(
    body: &[u8],
    query_sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
) -> Result<PosthogPayload, DecodeError> {
    let text = json::text(body);
    let mut tokens = Tokens::default();
    let (items, is_batch, sent_at) = match json::top_level(&text, "batch")? {
        TopLevel::Array(items) => (items, true, query_sent_at),
        TopLevel::Object(mut members) => {
            let member = |k: &str| json::member(&members, k);
            tokens.see(member("api_key").or_else(|| member("token")).as_ref());
            let sent_at = ["sent_at", "sentAt"]
                .iter()
                .find_map(|k| member(k).as_ref().and_then(as_time))
                .or(query_sent_at);
            match members.take_list() {
                Some(batch) => (batch?, true, sent_at),
                None => (vec![members.whole()?], false, sent_at),
            }
        }
    };
    if items.is_empty() {
        return Err(DecodeError::EmptyBatch);
    }
    let events = items
        .into_iter()
        .map(|item| {
            json::event_members(item, &EVENT_MEMBERS, PROPERTIES).and_then(|members| {
                raw_event(members, &mut tokens, sent_at, received_at, item.get().len())
            })
        })
        .collect();
    Ok(PosthogPayload {
        token: tokens.into_source(),
        is_batch,
        events,
    })
}

#[derive(Default)]
struct Tokens {
    first: Option<String>,
    mixed: bool,
}

impl Tokens {
    fn see(&mut self, token: Option<&Value>) {
        let Some(Value::String(t)) = token else {
            return;
        };
        match &self.first {
            None => self.first = Some(t.clone()),
            Some(f) if f != t => self.mixed = true,
            Some(_) => {}
        }
    }

    fn into_source(self) -> TokenSource {
        match (self.mixed, self.first) {
            (true, _) => TokenSource::Mixed,
            (false, Some(t)) => TokenSource::One(t),
            (false, None) => TokenSource::None,
        }
    }
}

/// The members of a PostHog event that are read; any other is ignored.
const EVENT_MEMBERS: [&str; 13] = [
    "event",
    "distinct_id",
    "$distinct_id",
    "uuid",
    "timestamp",
    "offset",
    "properties",
    "api_key",
    "token",
    "$token",
    "$set",
    "$set_once",
    "$unset",
];

/// `properties`' place in [`EVENT_MEMBERS`]: read from its text, not parsed into a tree.
const PROPERTIES: usize = 6;

fn raw_event(
    (members, properties): ([Option<Value>; EVENT_MEMBERS.len()], Option<&RawValue>),
    tokens: &mut Tokens,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    encoded_len: usize,
) -> Result<RawEvent, EventError> {
    let [event, distinct_id, dollar_distinct_id, uuid, timestamp, offset, _, api_key, token, dollar_token, set, set_once, unset] =
        members;
    let mut properties = match properties.map(|raw| (raw, Properties::from_json(raw.get()))) {
        None => Properties::new(),
        Some((_, Ok(read))) => read,
        Some((_, Err(PropertiesError::Invalid(e)))) => return Err(EventError::InvalidJson(e)),
        Some((raw, Err(PropertiesError::NotAnObject))) => {
            let other: Value = serde_json::from_str(raw.get())
                .map_err(|e| EventError::InvalidJson(e.to_string()))?;
            if other.is_null() {
                Properties::new()
            } else {
                // Not an object: handed on as is, so validation names the problem.
                return Ok(RawEvent {
                    event,
                    distinct_id,
                    uuid,
                    timestamp,
                    properties: Some(other.into()),
                    encoded_len,
                });
            }
        }
    };
    for token in [&api_key, &token, &dollar_token] {
        tokens.see(token.as_ref());
    }
    tokens.see(properties.get("token").as_ref());
    properties.remove("token");
    let mut take = |key: &str| {
        let value = properties.get(key)?;
        properties.remove(key);
        Some(value)
    };
    let distinct_id = distinct_id
        .or(dollar_distinct_id)
        .or_else(|| take("distinct_id"))
        .or_else(|| take("$distinct_id"));
    // Person updates sent beside the properties (as /engage and some SDKs do) are
    // kept under the same keys inside them, where the person work reads them.
    for (key, update) in [("$set", set), ("$set_once", set_once), ("$unset", unset)] {
        if let Some(v) = update.filter(|_| !properties.contains_key(key)) {
            properties.insert(key.into(), v);
        }
    }
    let event = event.or_else(|| {
        // An /engage call carries only person updates: PostHog records it as $identify.
        ["$set", "$set_once", "$unset"]
            .iter()
            .any(|k| properties.contains_key(k))
            .then(|| Value::String("$identify".into()))
    });
    Ok(RawEvent {
        event,
        distinct_id,
        uuid,
        timestamp: corrected_timestamp(timestamp, offset, sent_at, received_at),
        properties: Some(RawProperties::Read(properties)),
        encoded_len,
    })
}

fn parse_query(q: &str) -> HashMap<String, String> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

#[cfg(test)]
mod tests;
