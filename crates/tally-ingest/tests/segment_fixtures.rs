//! Replays the requests the real segment-analytics-python SDK sent (recorded by
//! `crates/tally/tests/sdk/record.py`) through the Segment decoder.

use base64::Engine;
use serde_json::Value;
use std::path::Path;
use tally_ingest::{decode_body, parse_segment, ContentEncoding};

/// Decodes one recorded request; returns (event name, distinct id) per message.
fn replay(name: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/segment-python")
        .join(name);
    let fixture: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(fixture["path"], "/v1/batch");
    let body = base64::engine::general_purpose::STANDARD
        .decode(fixture["body_base64"].as_str().unwrap())
        .unwrap();
    let encoding =
        ContentEncoding::from_header(fixture["headers"]["Content-Encoding"].as_str()).unwrap();
    let plain = decode_body(&body, encoding, 20 << 20).unwrap();
    let payload = parse_segment(&plain, None, chrono::Utc::now()).unwrap();
    assert_eq!(payload.write_key.as_deref(), Some("fixture_token"));
    assert!(!payload.mixed_keys);
    payload
        .events
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            (
                e.event.unwrap().as_str().unwrap().to_owned(),
                e.distinct_id.unwrap().as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn segment_python_requests_decode() {
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        replay("01-v1_batch.json"),
        pairs(&[
            ("Order Completed", "seg-fixture"),
            ("$identify", "seg-fixture"),
            ("$pageview", "seg-fixture"),
            ("$screen", "seg-fixture"),
            ("$groupidentify", "seg-fixture"),
            ("$create_alias", "seg-anon-fixture"),
        ])
    );
    assert_eq!(
        replay("02-v1_batch.json"),
        pairs(&[("Order Completed", "seg-fixture")])
    );
    assert_eq!(
        replay("03-v1_batch.json"),
        pairs(&[("Zipped", "seg-fixture")])
    );
}
