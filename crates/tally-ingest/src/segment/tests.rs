use super::*;

fn now() -> DateTime<Utc> {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

fn parse(body: Value, route: Option<&str>) -> SegmentPayload {
    parse_segment(&serde_json::to_vec(&body).unwrap(), route, now()).unwrap()
}

fn one(body: Value, route: &str) -> RawEvent {
    parse(body, route_type(route)).events.remove(0).unwrap()
}

#[test]
fn track_uses_its_event_and_the_user_id() {
    let e = one(
        json!({"userId": "u1", "anonymousId": "a1", "event": "Order Completed",
               "properties": {"revenue": 39.95}, "messageId": "0c8a9f7e-34c4-4b0f-9a57-2f3fd0a0f3f1"}),
        "track",
    );
    assert_eq!(e.event, Some(json!("Order Completed")));
    assert_eq!(e.distinct_id, Some(json!("u1")));
    assert_eq!(e.uuid, Some(json!("0c8a9f7e-34c4-4b0f-9a57-2f3fd0a0f3f1")));
    assert_eq!(
        e.properties
            .clone()
            .map(tally_core::RawProperties::into_value),
        Some(json!({"revenue": 39.95, "$anon_distinct_id": "a1"}))
    );
}

#[test]
fn each_type_maps_to_its_event() {
    let page = one(
        json!({"anonymousId": "a", "name": "Pricing",
               "properties": {"url": "https://x.example/pricing?a=1", "path": "/pricing", "referrer": "https://google.com/"}}),
        "p",
    );
    assert_eq!(page.event, Some(json!("$pageview")));
    assert_eq!(page.distinct_id, Some(json!("a")));
    let p = page.properties.unwrap().into_value();
    assert_eq!(p["$current_url"], "https://x.example/pricing?a=1");
    assert_eq!(p["$pathname"], "/pricing");
    assert_eq!(p["$referrer"], "https://google.com/");
    assert_eq!(p["name"], "Pricing");

    let screen = one(json!({"userId": "u", "name": "Home"}), "screen");
    assert_eq!(screen.event, Some(json!("$screen")));
    assert_eq!(
        screen.properties.unwrap().into_value()["$screen_name"],
        "Home"
    );

    let identify = one(
        json!({"userId": "u", "anonymousId": "a", "traits": {"email": "u@x.example"}}),
        "identify",
    );
    assert_eq!(identify.event, Some(json!("$identify")));
    let p = identify.properties.unwrap().into_value();
    assert_eq!(p["$set"]["email"], "u@x.example");
    assert_eq!(p["$anon_distinct_id"], "a");

    let group = one(
        json!({"userId": "u", "groupId": 42, "traits": {"seats": 5}}),
        "g",
    );
    assert_eq!(group.event, Some(json!("$groupidentify")));
    let p = group.properties.unwrap().into_value();
    assert_eq!(p["$group_key"], "42");
    assert_eq!(p["$group_set"]["seats"], 5);

    let alias = one(json!({"previousId": "anon-9", "userId": "user-9"}), "alias");
    assert_eq!(alias.event, Some(json!("$create_alias")));
    assert_eq!(alias.distinct_id, Some(json!("anon-9")));
    assert_eq!(alias.properties.unwrap().into_value()["alias"], "user-9");
}

#[test]
fn a_message_type_beats_the_route_and_batches_mix_types() {
    let p = parse(
        json!({"writeKey": "wk", "batch": [
            {"type": "track", "event": "A", "userId": "u"},
            {"type": "identify", "userId": "u"},
            {"type": "nonsense", "userId": "u"},
            {"event": "no type", "userId": "u"}
        ]}),
        None,
    );
    assert_eq!(p.write_key.as_deref(), Some("wk"));
    assert!(p.is_batch && !p.mixed_keys);
    assert_eq!(p.events[0].as_ref().unwrap().event, Some(json!("A")));
    assert_eq!(
        p.events[1].as_ref().unwrap().event,
        Some(json!("$identify"))
    );
    assert_eq!(p.events[2].as_ref().unwrap_err().code(), "unknown_type");
    assert_eq!(p.events[3].as_ref().unwrap_err().code(), "missing_field");
}

#[test]
fn context_is_mapped_to_property_names() {
    let e = one(
        json!({"userId": "u", "event": "E", "context": {
            "ip": "203.0.113.9", "userAgent": "Mozilla/5.0", "locale": "de-CH", "timezone": "Europe/Zurich",
            "library": {"name": "analytics-python", "version": "2.4.0"},
            "page": {"url": "https://x.example/a", "path": "/a", "referrer": "https://r.example/"},
            "campaign": {"source": "newsletter", "medium": "email", "name": "winter", "term": "t", "content": "c"}
        }}),
        "track",
    );
    let p = e.properties.unwrap().into_value();
    assert_eq!(p["$raw_user_agent"], "Mozilla/5.0");
    assert_eq!(p["$locale"], "de-CH");
    assert_eq!(p["$timezone"], "Europe/Zurich");
    assert_eq!(p["$lib"], "analytics-python");
    assert_eq!(p["$lib_version"], "2.4.0");
    assert_eq!(p["$current_url"], "https://x.example/a");
    assert_eq!(p["$referrer"], "https://r.example/");
    assert_eq!(p["utm_source"], "newsletter");
    assert_eq!(p["utm_medium"], "email");
    assert_eq!(p["utm_campaign"], "winter");
    assert_eq!(p["utm_term"], "t");
    assert_eq!(p["utm_content"], "c");
    assert_eq!(
        p["$ip"], "203.0.113.9",
        "handed on for enrichment; validation drops it"
    );
}

#[test]
fn sent_at_corrects_the_client_clock() {
    // The client's clock is 1 h fast: it says it sent at 13:00:05 an event of 13:00:00.
    let e = one(
        json!({"userId": "u", "event": "E", "originalTimestamp": "2026-11-22T13:00:00Z",
               "sentAt": "2026-11-22T13:00:05Z"}),
        "track",
    );
    assert_eq!(e.timestamp, Some(json!("2026-11-22T11:59:55.000000Z")));
    let batch = parse(
        json!({"sentAt": "2026-11-22T13:00:05Z", "batch": [
            {"type": "track", "userId": "u", "event": "E", "timestamp": "2026-11-22T13:00:04Z"}]}),
        None,
    );
    assert_eq!(
        batch.events[0].as_ref().unwrap().timestamp,
        Some(json!("2026-11-22T11:59:59.000000Z"))
    );
}

#[test]
fn a_non_uuid_message_id_maps_to_the_same_uuid_every_time() {
    let e = |id: &str| one(json!({"userId": "u", "event": "E", "messageId": id}), "t").uuid;
    let first = e("ajs-next-1700000000000-abc");
    assert_eq!(first, e("ajs-next-1700000000000-abc"));
    assert_ne!(first, e("ajs-next-1700000000000-abd"));
    assert!(Uuid::parse_str(first.unwrap().as_str().unwrap()).is_ok());
}

#[test]
fn write_keys_from_messages_and_mixed_keys() {
    let p = parse(
        json!({"batch": [
            {"type": "track", "event": "E", "userId": "u", "writeKey": "k1"},
            {"type": "track", "event": "E", "userId": "u", "writeKey": "k2"}]}),
        None,
    );
    assert!(p.mixed_keys);
    let bad = |b: &[u8]| parse_segment(b, None, now()).unwrap_err().code();
    assert_eq!(bad(b""), "empty_body");
    assert_eq!(bad(b"[1]"), "invalid_body");
    assert_eq!(bad(b"{\"batch\": []}"), "empty_batch");
    assert_eq!(bad(b"{\"batch\": {}}"), "invalid_batch");
    assert_eq!(bad(b"{nope"), "invalid_json");
}
