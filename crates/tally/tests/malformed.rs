//! Malformed payloads through every wire format: each gets a 4xx with a JSON error
//! body or, inside a batch, a per-event rejection while its valid neighbours are
//! stored; the server stays up throughout.

mod common;

use common::{error_code, TestServer};
use serde_json::{json, Value};

/// One pathological event for each way a batch element can be broken.
fn poison() -> Vec<(&'static str, String)> {
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        (
            "10k-deep nesting",
            format!(r#"{{"event":"deep","distinct_id":"p","properties":{{"x":{deep}}}}}"#),
        ),
        (
            "wrong types",
            r#"{"event":7,"distinct_id":{"a":1}}"#.to_owned(),
        ),
        (
            "huge string",
            format!(
                r#"{{"event":"huge","distinct_id":"p","properties":{{"s":"{}"}}}}"#,
                "x".repeat(1_100_000)
            ),
        ),
        ("not an object", "\"just text\"".to_owned()),
    ]
}

fn good(name: &str, format: &str) -> String {
    match format {
        "segment" => json!({"type": "track", "event": name, "userId": "neighbour"}),
        _ => json!({"event": name, "distinct_id": "neighbour"}),
    }
    .to_string()
}

/// A batch body: a good event, the poison, a good event; in the format's shape.
fn batch(format: &str, key: &str, poison: &str) -> Vec<u8> {
    let items = format!(
        "[{},{poison},{}]",
        good("before", format),
        good("after", format)
    );
    match format {
        "native" => format!(r#"{{"batch":{items}}}"#),
        "posthog" => format!(r#"{{"api_key":"{key}","batch":{items}}}"#),
        _ => format!(r#"{{"writeKey":"{key}","batch":{items}}}"#),
    }
    .into_bytes()
}

fn route(format: &str) -> &'static str {
    match format {
        "native" => "/api/v1/capture",
        "posthog" => "/batch/",
        _ => "/v1/batch",
    }
}

async fn send(
    server: &TestServer,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = server
        .client
        .post(format!("{}{path}", server.base))
        .header("X-API-Key", &server.bootstrap.api_key)
        .header("Content-Type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body).send().await.unwrap()
}

#[tokio::test]
async fn a_poisoned_event_is_rejected_alone_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let key = server.bootstrap.api_key.clone();
    let mut expected_neighbours = 0;
    for format in ["native", "posthog", "segment"] {
        for (what, poison) in poison() {
            let r = send(&server, route(format), batch(format, &key, &poison), &[]).await;
            assert_eq!(r.status(), 200, "{format} / {what}");
            let reply: Value = r.json().await.unwrap();
            assert_eq!(reply["accepted"], 2, "{format} / {what}: {reply}");
            let rejected = reply["rejected"].as_array().unwrap();
            assert_eq!(rejected.len(), 1, "{format} / {what}");
            assert_eq!(rejected[0]["index"], 1);
            assert!(!rejected[0]["error"]["message"].as_str().unwrap().is_empty());
            expected_neighbours += 2;
        }
    }
    let page = server
        .read_json("/events?distinct_id=neighbour&limit=1000")
        .await;
    assert_eq!(
        page["results"].as_array().unwrap().len(),
        expected_neighbours
    );
    assert_eq!(
        server
            .client
            .get(format!("{}/health", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn invalid_utf8_is_replaced_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let mut body = br#"{"batch":[{"event":"ok","distinct_id":"utf"},{"event":"bad "#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#" bytes","distinct_id":"utf"}]}"#);
    let r = send(&server, "/api/v1/capture", body, &[]).await;
    assert_eq!(r.status(), 200);
    let page = server.read_json("/events?distinct_id=utf").await;
    let names: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"ok"));
    assert!(names.contains(&"bad \u{fffd}\u{fffd} bytes"), "{names:?}");
}

/// Route, body, extra headers, expected status and error code.
type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, &'a str)>, u16, &'a str);

#[tokio::test]
async fn broken_encodings_and_mixed_tokens_are_4xx_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let key = server.bootstrap.api_key.clone();
    let json_body =
        serde_json::to_vec(&json!({"api_key": key, "batch": [{"event": "e", "distinct_id": "d"}]}))
            .unwrap();
    let mut gz = {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&json_body).unwrap();
        enc.finish().unwrap()
    };
    gz.truncate(gz.len() / 2);
    let cases: Vec<Case> = vec![
        ("/batch/", gz.clone(), vec![], 400, "invalid_compression"),
        ("/api/v1/capture", gz.clone(), vec![("Content-Encoding", "gzip")], 400, "invalid_compression"),
        ("/v1/batch", gz, vec![("Content-Encoding", "gzip")], 400, "invalid_compression"),
        ("/e/?compression=lz64", b"@@@@not-lz@@@@".to_vec(), vec![], 400, "invalid_compression"),
        ("/e/", b"!!!! not base64 !!!!".to_vec(), vec![], 400, "invalid_json"),
        ("/v1/track", b"{\"userId\": \"u\", \"event\": ".to_vec(), vec![], 400, "invalid_json"),
        (
            "/e/",
            serde_json::to_vec(&json!([{"event": "e", "distinct_id": "d", "token": key}, {"event": "e", "distinct_id": "d", "token": "tly_ing_other"}])).unwrap(),
            vec![],
            401,
            "mixed_tokens",
        ),
    ];
    for (path, body, headers, status, code) in cases {
        let r = send(&server, path, body, &headers).await;
        assert_eq!(error_code(r, status).await, code, "{path}");
    }
}
