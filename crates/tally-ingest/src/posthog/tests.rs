use super::*;
use flate2::{write::GzEncoder, Compression};
use serde_json::json;
use std::io::Write;

const MAX: usize = 20 * 1024 * 1024;

fn now() -> DateTime<Utc> {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

fn parse(query: Option<&str>, content_type: Option<&str>, body: &[u8]) -> PosthogPayload {
    parse_posthog(
        RequestParts {
            query,
            content_type,
        },
        body,
        now(),
        MAX,
    )
    .unwrap()
}

fn event(p: &PosthogPayload, i: usize) -> &RawEvent {
    p.events[i].as_ref().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn python_style_batch() -> Value {
    json!({
        "api_key": "tok",
        "batch": [
            {"event": "signed up", "distinct_id": "u1", "properties": {"plan": "pro"},
             "timestamp": "2026-11-22T11:59:50+00:00", "uuid": "01935c4e-7a2b-7c3d-8e4f-5a6b7c8d9e0f"},
            {"event": "$identify", "distinct_id": "u1", "$set": {"email": "a@b.c"}}
        ],
        "sent_at": "2026-11-22T11:59:55+00:00"
    })
}

#[test]
fn a_batch_object_gives_its_token_events_and_corrected_times() {
    let body = serde_json::to_vec(&python_style_batch()).unwrap();
    let p = parse(None, Some("application/json"), &body);
    assert_eq!(p.token, TokenSource::One("tok".into()));
    assert!(p.is_batch);
    let first = event(&p, 0);
    assert_eq!(first.event, Some(json!("signed up")));
    assert_eq!(first.distinct_id, Some(json!("u1")));
    assert_eq!(
        first
            .properties
            .clone()
            .map(tally_core::RawProperties::into_value),
        Some(json!({"plan": "pro"}))
    );
    // Sent 5 s after the event by the client's clock, received at 12:00:00.
    assert_eq!(first.timestamp, Some(json!("2026-11-22T11:59:55.000000Z")));
    assert_eq!(
        event(&p, 1)
            .properties
            .clone()
            .map(tally_core::RawProperties::into_value),
        Some(json!({"$set": {"email": "a@b.c"}}))
    );
}

#[test]
fn the_same_batch_reads_the_same_in_every_encoding() {
    let json = serde_json::to_vec(&python_style_batch()).unwrap();
    let plain = parse(None, None, &json);
    let form_body = format!(
        "data={}",
        form_urlencoded::byte_serialize(b64(&json).as_bytes()).collect::<String>()
    );
    let query_data = format!(
        "data={}&ver=1.0",
        form_urlencoded::byte_serialize(&json).collect::<String>()
    );
    let variants: Vec<(&str, PosthogPayload)> = vec![
        (
            "gzip by hint",
            parse(Some("compression=gzip-js"), None, &gzip(&json)),
        ),
        ("gzip by magic", parse(None, None, &gzip(&json))),
        ("base64 body", parse(None, None, b64(&json).as_bytes())),
        (
            "base64 of gzip",
            parse(None, Some("text/plain"), b64(&gzip(&json)).as_bytes()),
        ),
        (
            "form data=base64",
            parse(
                None,
                Some("application/x-www-form-urlencoded"),
                form_body.as_bytes(),
            ),
        ),
        ("query data=", parse(Some(&query_data), None, b"")),
    ];
    for (name, p) in variants {
        assert_eq!(p.token, plain.token, "{name}");
        assert_eq!(p.events.len(), 2, "{name}");
        for i in 0..2 {
            assert_eq!(event(&p, i), event(&plain, i), "{name}");
        }
    }
}

#[test]
fn lz64_from_the_real_lz_string_library_decodes() {
    let body = include_str!("../../tests/fixtures/posthog/batch.lz64");
    let p = parse(
        Some("compression=lz64&_=1795003200000"),
        None,
        body.as_bytes(),
    );
    assert_eq!(p.token, TokenSource::One("phc_fixture_token".into()));
    let view = event(&p, 0);
    assert_eq!(view.event, Some(json!("$pageview")));
    assert_eq!(view.distinct_id, Some(json!("anon-1")));
    assert_eq!(
        view.uuid,
        Some(json!("01935c4e-7a2b-7c3d-8e4f-5a6b7c8d9e0f"))
    );
    let props = view.properties.clone().unwrap().into_value();
    assert_eq!(props["$current_url"], "https://shop.example/cart?x=1");
    assert_eq!(props["π"], "ünïcødé ✓");
    assert!(
        props.get("token").is_none(),
        "the token is not kept as a property"
    );
    assert!(props.get("distinct_id").is_none());
    assert_eq!(
        event(&p, 1).properties.clone().unwrap().into_value()["price"],
        12.5
    );
}

#[test]
fn tokens_come_from_any_place_and_disagreeing_ones_are_mixed() {
    let one = |v: Value| parse(None, None, &serde_json::to_vec(&v).unwrap()).token;
    let e = |extra: Value| {
        let mut ev = json!({"event": "e", "distinct_id": "d"});
        ev.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        ev
    };
    assert_eq!(
        one(e(json!({"api_key": "a"}))),
        TokenSource::One("a".into())
    );
    assert_eq!(one(e(json!({"token": "a"}))), TokenSource::One("a".into()));
    assert_eq!(one(e(json!({"$token": "a"}))), TokenSource::One("a".into()));
    assert_eq!(
        one(e(json!({"properties": {"token": "a"}}))),
        TokenSource::One("a".into())
    );
    assert_eq!(one(e(json!({}))), TokenSource::None);
    assert_eq!(
        one(json!([
            e(json!({"api_key": "a"})),
            e(json!({"api_key": "b"}))
        ])),
        TokenSource::Mixed
    );
    assert_eq!(
        one(json!({"api_key": "a", "batch": [e(json!({"token": "b"}))]})),
        TokenSource::Mixed
    );
}

#[test]
fn engage_calls_become_identify_with_person_updates() {
    let body = json!({"$set": {"name": "Ada"}, "$distinct_id": "u9", "$token": "t"});
    let p = parse(None, None, &serde_json::to_vec(&body).unwrap());
    let e = event(&p, 0);
    assert_eq!(e.event, Some(json!("$identify")));
    assert_eq!(e.distinct_id, Some(json!("u9")));
    assert_eq!(
        e.properties
            .clone()
            .map(tally_core::RawProperties::into_value),
        Some(json!({"$set": {"name": "Ada"}}))
    );
}

#[test]
fn an_offset_dates_the_event_before_receipt() {
    let body = json!({"event": "e", "distinct_id": "d", "offset": 1500});
    let p = parse(None, None, &serde_json::to_vec(&body).unwrap());
    assert_eq!(
        event(&p, 0).timestamp,
        Some(json!("2026-11-22T11:59:58.500000Z"))
    );
}

#[test]
fn bad_bodies_are_named_and_bad_events_keep_their_neighbours() {
    let err = |query: Option<&str>, body: &[u8]| {
        parse_posthog(
            RequestParts {
                query,
                content_type: None,
            },
            body,
            now(),
            MAX,
        )
        .unwrap_err()
        .code()
    };
    assert_eq!(err(None, b""), "empty_body");
    assert_eq!(err(None, b"%%% not base64 %%%"), "invalid_json");
    assert_eq!(err(None, &[0x1f, 0x8b, 0, 1, 2]), "invalid_compression");
    assert_eq!(
        err(Some("compression=lz64"), b"!!!!"),
        "invalid_compression"
    );
    assert_eq!(err(None, b"[]"), "empty_batch");
    assert_eq!(err(None, b"{\"batch\": 3}"), "invalid_batch");
    assert_eq!(err(None, b"\"text\""), "invalid_body");
    let bomb = gzip(&vec![b' '; 4096]);
    assert_eq!(
        parse_posthog(RequestParts::default(), &bomb, now(), 1024)
            .unwrap_err()
            .code(),
        "body_too_large"
    );
    let p = parse(
        None,
        None,
        br#"[{"event":"ok","distinct_id":"d"}, 7, {"event":"also ok","distinct_id":"d"}]"#,
    );
    assert!(p.events[0].is_ok() && p.events[1].is_err() && p.events[2].is_ok());
}
