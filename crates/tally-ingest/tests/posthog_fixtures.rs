//! Replays the requests the real posthog-python SDK sent (recorded by
//! `crates/tally/tests/sdk/record.py`) through the PostHog decoder.

use base64::Engine;
use serde_json::Value;
use std::path::Path;
use tally_ingest::{decode_body, parse_posthog, ContentEncoding, RequestParts, TokenSource};

const MAX: usize = 20 * 1024 * 1024;

/// Decodes one recorded request; returns its event names.
fn replay(path: &Path) -> Vec<String> {
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
    assert_eq!(
        payload.token,
        TokenSource::One("fixture_token".into()),
        "{}",
        path.display()
    );
    payload
        .events
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            assert!(
                e.distinct_id.is_some(),
                "{}: every event has a distinct id",
                path.display()
            );
            e.event.unwrap().as_str().unwrap().to_owned()
        })
        .collect()
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
