//! Replays the requests the real posthog-python SDK sent (recorded by
//! `crates/tally/tests/sdk/record.py`) and those posthog-js sent from Chromium
//! (recorded by `crates/tally/tests/browser/posthog_js.mjs`) through the PostHog
//! decoder.

use base64::Engine;
use serde_json::Value;
use std::path::Path;
use tally_core::RawEvent;
use tally_ingest::{decode_body, parse_posthog, ContentEncoding, RequestParts, TokenSource};

const MAX: usize = 20 * 1024 * 1024;

/// Decodes one recorded request; returns its token and events.
fn decode(path: &Path) -> (TokenSource, Vec<RawEvent>) {
    let fixture: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let body = base64::engine::general_purpose::STANDARD
        .decode(fixture["body_base64"].as_str().unwrap())
        .unwrap();
    let encoding =
        ContentEncoding::from_header(fixture["headers"]["Content-Encoding"].as_str()).unwrap();
    let plain = decode_body(&body, encoding, MAX).unwrap();
    let parts = RequestParts {
        query: fixture["query"].as_str().filter(|q| !q.is_empty()),
        content_type: fixture["headers"]["Content-Type"].as_str(),
    };
    let payload = parse_posthog(parts, &plain, chrono::Utc::now(), MAX).unwrap();
    let events = payload
        .events
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            assert!(
                e.distinct_id.is_some(),
                "{}: every event has a distinct id",
                path.display()
            );
            e
        })
        .collect();
    (payload.token, events)
}

fn name(e: &RawEvent) -> String {
    e.event.as_ref().unwrap().as_str().unwrap().to_owned()
}

/// Decodes one request recorded with the token `fixture_token`; returns its event names.
fn replay(path: &Path) -> Vec<String> {
    let (token, events) = decode(path);
    assert_eq!(
        token,
        TokenSource::One("fixture_token".into()),
        "{}",
        path.display()
    );
    events.iter().map(name).collect()
}

#[test]
fn posthog_python_requests_decode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/posthog-python");
    let plain = replay(&dir.join("01-batch.json"));
    assert_eq!(
        plain,
        [
            "purchase",
            "$set",
            "$set_once",
            "$create_alias",
            "$groupidentify"
        ]
    );
    let gzipped = replay(&dir.join("02-batch.json"));
    assert_eq!(gzipped.len(), 30);
    assert!(gzipped.iter().all(|e| e == "burst"));
}

#[test]
fn posthog_js_requests_decode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/posthog-js");
    let mut events = Vec::new();
    let mut tokens = Vec::new();
    for file in ["01-e.json", "02-e.json", "03-e.json"] {
        let (token, decoded) = decode(&dir.join(file));
        tokens.push(token);
        events.extend(decoded);
    }
    assert!(matches!(tokens[0], TokenSource::One(_)), "{:?}", tokens[0]);
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "one token throughout"
    );
    // The SDK sends its requests concurrently, so their order varies.
    let mut names: Vec<String> = events.iter().map(name).collect();
    names.sort();
    assert_eq!(names, ["$identify", "$pageview", "clicked_buy"]);
    let find = |n: &str| events.iter().find(|e| name(e) == n).unwrap();
    let (pageview, click, identify) = (find("$pageview"), find("clicked_buy"), find("$identify"));
    let props = |e: &RawEvent| e.properties.clone().unwrap().into_value();
    assert_eq!(props(pageview)["$lib"], "web");
    assert_eq!(props(pageview)["$pathname"], "/checkout");
    assert_eq!(props(click)["plan"], "pro");
    assert_eq!(props(click)["price"], 42.5);
    assert_eq!(props(click)["run"], "fixture");
    assert_eq!(props(identify)["$set"]["email"], "js@example.com");
    // identify links the anonymous id of the other two events to the user.
    assert_eq!(identify.distinct_id, Some(Value::from("user-fixture")));
    assert_eq!(
        props(identify)["$anon_distinct_id"],
        *pageview.distinct_id.as_ref().unwrap()
    );
    assert_eq!(pageview.distinct_id, click.distinct_id);
}
