//! The Segment tracking API (also spoken by RudderStack), as Segment's and
//! RudderStack's SDKs send it to `/v1/{track,identify,page,screen,group,alias,batch,import}`
//! and the browser short forms `/v1/{t,i,p,s,g,a,b}`.
//!
//! Guarantees:
//! - Each message type becomes the event Tally's person/session work expects:
//!   track → its `event`; page → `$pageview`; screen → `$screen`; identify →
//!   `$identify` with traits as `$set`; group → `$groupidentify`; alias →
//!   `$create_alias` (the previous id's event, naming the new id in `alias`).
//! - `userId`, else `anonymousId`, is the distinct id; with both, the anonymous id
//!   is kept as `$anon_distinct_id`. `messageId` is the idempotency key: a UUID is
//!   used as it is, anything else is mapped to a name-based UUID (v5), so a re-sent
//!   message is still counted once.
//! - `context` is mapped to Tally's property names (page, userAgent, campaign →
//!   `utm_*`, locale, timezone, library, ip).
//! - Skew: with `sentAt`, `timestamp = received_at − (sentAt − originalTimestamp)`.
//! - A bad message is an error in its slot; its neighbours are kept.

use crate::json::{self, TopLevel};
use crate::DecodeError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use tally_core::{EventError, RawEvent};
use uuid::Uuid;

/// Namespace of the name-based uuids made from non-UUID `messageId`s.
const MESSAGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c1d_0b7e_52a4_4c1e_9e0b_7a8f_3d2c_1b00);

/// What a Segment request decoded to.
#[derive(Debug)]
pub struct SegmentPayload {
    /// `writeKey` from the body (top level or messages); `None` when absent.
    pub write_key: Option<String>,
    /// Two different write keys in one request.
    pub mixed_keys: bool,
    pub is_batch: bool,
    pub events: Vec<Result<RawEvent, EventError>>,
}

/// The message type a route implies (`/v1/track` → `Some("track")`); batch routes
/// imply none.
pub fn route_type(route: &str) -> Option<&'static str> {
    Some(match route {
        "track" | "t" => "track",
        "identify" | "i" => "identify",
        "page" | "p" => "page",
        "screen" | "s" => "screen",
        "group" | "g" => "group",
        "alias" | "a" => "alias",
        _ => return None,
    })
}

/// Decodes a Segment body (already decompressed). `implied_type` comes from the
/// route; a message's own `type` wins.
pub fn parse_segment(
    body: &[u8],
    implied_type: Option<&str>,
    received_at: DateTime<Utc>,
) -> Result<SegmentPayload, DecodeError> {
    let text = json::text(body);
    let TopLevel::Object(mut members) = json::top_level(&text, "batch")? else {
        return Err(DecodeError::NotAnObject);
    };
    let mut keys = Keys::default();
    keys.see(json::member(&members, "writeKey").as_ref());
    let sent_at = json::member(&members, "sentAt").as_ref().and_then(as_time);
    let (messages, is_batch, shared_context) = match members.take_list() {
        Some(batch) => (batch?, true, json::member(&members, "context")),
        None => (vec![members.whole()?], false, None),
    };
    if messages.is_empty() {
        return Err(DecodeError::EmptyBatch);
    }
    let events = messages
        .into_iter()
        .map(|raw| {
            let mut fields = json::event_object(raw)?;
            keys.see(fields.get("writeKey"));
            if let (Some(Value::Object(shared)), false) =
                (&shared_context, fields.contains_key("context"))
            {
                fields.insert("context".into(), Value::Object(shared.clone()));
            }
            let msg_sent_at = fields.get("sentAt").and_then(as_time).or(sent_at);
            message(
                fields,
                implied_type,
                msg_sent_at,
                received_at,
                raw.get().len(),
            )
        })
        .collect();
    Ok(SegmentPayload {
        write_key: keys.first,
        mixed_keys: keys.mixed,
        is_batch,
        events,
    })
}

#[derive(Default)]
struct Keys {
    first: Option<String>,
    mixed: bool,
}

impl Keys {
    fn see(&mut self, key: Option<&Value>) {
        let Some(Value::String(k)) = key else { return };
        match &self.first {
            None => self.first = Some(k.clone()),
            Some(f) if f != k => self.mixed = true,
            Some(_) => {}
        }
    }
}

fn message(
    mut m: Map<String, Value>,
    implied_type: Option<&str>,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    encoded_len: usize,
) -> Result<RawEvent, EventError> {
    let kind = match m.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(_) => {
            return Err(EventError::WrongType {
                field: "type",
                expected: "a string",
            })
        }
        None => implied_type
            .map(str::to_owned)
            .ok_or(EventError::MissingField { field: "type" })?,
    };
    let mut props = match m.remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    let user_id = non_empty_id(m.remove("userId"));
    let anonymous_id = non_empty_id(m.remove("anonymousId"));
    if let (Some(_), Some(anon)) = (&user_id, &anonymous_id) {
        props.insert("$anon_distinct_id".into(), anon.clone());
    }
    let mut distinct_id = user_id.or(anonymous_id);
    let traits = m.remove("traits");
    let event = match kind.as_str() {
        "track" => m.remove("event"),
        "page" => {
            page_properties(&mut props, m.get("name"));
            if let Some(category) = m.remove("category") {
                props.entry("category").or_insert(category);
            }
            Some(json!("$pageview"))
        }
        "screen" => {
            if let Some(name) = m.get("name").cloned() {
                props.insert("$screen_name".into(), name);
            }
            Some(json!("$screen"))
        }
        "identify" => {
            if let Some(traits) = traits {
                props.insert("$set".into(), traits);
            }
            Some(json!("$identify"))
        }
        "group" => {
            props.insert("$group_type".into(), json!("group"));
            props.insert(
                "$group_key".into(),
                non_empty_id(m.remove("groupId")).unwrap_or(Value::Null),
            );
            props.insert("$group_set".into(), traits.unwrap_or_else(|| json!({})));
            Some(json!("$groupidentify"))
        }
        "alias" => {
            // Segment's alias: previousId becomes userId. Stored as the previous
            // id's event naming the new id, like PostHog's `$create_alias`.
            if let Some(new_id) = distinct_id.take() {
                props.insert("alias".into(), new_id);
            }
            distinct_id = non_empty_id(m.remove("previousId"));
            Some(json!("$create_alias"))
        }
        _ => return Err(EventError::UnknownType(kind)),
    };
    if let Some(Value::Object(context)) = m.remove("context") {
        context_properties(&mut props, context);
    }
    let uuid = m.remove("messageId").map(|id| match id {
        Value::String(s) => Value::String(
            Uuid::parse_str(&s)
                .unwrap_or_else(|_| Uuid::new_v5(&MESSAGE_ID_NAMESPACE, s.as_bytes()))
                .to_string(),
        ),
        other => other,
    });
    let original = m
        .remove("originalTimestamp")
        .or_else(|| m.remove("timestamp"));
    let timestamp = match (original.as_ref().and_then(as_time), sent_at) {
        (Some(ts), Some(sent)) => Some(Value::String(
            (received_at - (sent - ts)).to_rfc3339_opts(SecondsFormat::Micros, true),
        )),
        _ => original,
    };
    Ok(RawEvent {
        event,
        distinct_id,
        uuid,
        timestamp,
        properties: Some(Value::Object(props).into()),
        encoded_len,
    })
}

/// Ids may be strings or numbers; empty strings count as absent.
fn non_empty_id(v: Option<Value>) -> Option<Value> {
    match v? {
        Value::String(s) if s.is_empty() => None,
        Value::Null => None,
        Value::Number(n) => Some(Value::String(n.to_string())),
        other => Some(other),
    }
}

/// A page's url, path, referrer and title under the names Tally's columns read.
fn page_properties(props: &mut Map<String, Value>, name: Option<&Value>) {
    for (from, to) in [
        ("url", "$current_url"),
        ("path", "$pathname"),
        ("referrer", "$referrer"),
        ("title", "title"),
    ] {
        if let Some(v) = props.get(from).cloned() {
            props.entry(to).or_insert(v);
        }
    }
    if let Some(name) = name {
        props.entry("name").or_insert(name.clone());
    }
}

fn context_properties(props: &mut Map<String, Value>, mut context: Map<String, Value>) {
    if let Some(Value::Object(page)) = context.remove("page") {
        for (from, to) in [
            ("url", "$current_url"),
            ("path", "$pathname"),
            ("referrer", "$referrer"),
        ] {
            if let Some(v) = page.get(from) {
                props.entry(to).or_insert(v.clone());
            }
        }
    }
    if let Some(Value::Object(campaign)) = context.remove("campaign") {
        for (from, to) in [
            ("source", "utm_source"),
            ("medium", "utm_medium"),
            ("name", "utm_campaign"),
            ("term", "utm_term"),
            ("content", "utm_content"),
        ] {
            if let Some(v) = campaign.get(from) {
                props.entry(to).or_insert(v.clone());
            }
        }
    }
    if let Some(Value::Object(library)) = context.remove("library") {
        if let Some(v) = library.get("name") {
            props.entry("$lib").or_insert(v.clone());
        }
        if let Some(v) = library.get("version") {
            props.entry("$lib_version").or_insert(v.clone());
        }
    }
    for (from, to) in [
        ("userAgent", "$raw_user_agent"),
        ("locale", "$locale"),
        ("timezone", "$timezone"),
        // Validation drops `$ip` before storage; enrichment will read it first.
        ("ip", "$ip"),
    ] {
        if let Some(v) = context.remove(from) {
            props.entry(to).or_insert(v);
        }
    }
}

fn as_time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests;
