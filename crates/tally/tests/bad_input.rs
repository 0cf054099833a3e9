//! Invariant 3: bad input gets a clear 4xx with a JSON error body, valid events in
//! the same batch are kept, and the process stays up.

mod common;

use chrono::{Duration, Utc};
use common::{error_code, TestServer};
use flate2::{write::GzEncoder, Compression};
use serde_json::{json, Value};
use std::io::Write;

async fn post_raw(server: &TestServer, body: Vec<u8>, encoding: Option<&str>) -> reqwest::Response {
    let mut req = server
        .client
        .post(format!("{}/api/v1/capture", server.base))
        .header("X-API-Key", &server.bootstrap.api_key)
        .header("Content-Type", "application/json");
    if let Some(e) = encoding {
        req = req.header("Content-Encoding", e);
    }
    req.body(body).send().await.unwrap()
}

#[tokio::test]
async fn every_kind_of_bad_single_event_gets_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let future = (Utc::now() + Duration::days(2)).to_rfc3339();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{\"event\": ".to_vec(), 400, "invalid_json"),
        (b"".to_vec(), 400, "empty_body"),
        (b"42".to_vec(), 400, "invalid_body"),
        (br#"{"batch": []}"#.to_vec(), 400, "empty_batch"),
        (br#"{"batch": "nope"}"#.to_vec(), 400, "invalid_batch"),
        (br#"{"distinct_id": "d"}"#.to_vec(), 400, "missing_field"),
        (br#"{"event": "x"}"#.to_vec(), 400, "missing_field"),
        (
            br#"{"event": "", "distinct_id": "d"}"#.to_vec(),
            400,
            "empty_field",
        ),
        (
            br#"{"event": "x", "distinct_id": ""}"#.to_vec(),
            400,
            "empty_field",
        ),
        (
            br#"{"event": ["x"], "distinct_id": "d"}"#.to_vec(),
            400,
            "invalid_type",
        ),
        (
            br#"{"event": "x", "distinct_id": "d", "properties": "p"}"#.to_vec(),
            400,
            "invalid_type",
        ),
        (
            br#"{"event": "x", "distinct_id": "d", "uuid": "not-a-uuid"}"#.to_vec(),
            400,
            "invalid_uuid",
        ),
        (
            br#"{"event": "x", "distinct_id": "d", "timestamp": "soon"}"#.to_vec(),
            400,
            "invalid_timestamp",
        ),
        (
            format!(r#"{{"event": "x", "distinct_id": "d", "timestamp": "{future}"}}"#)
                .into_bytes(),
            400,
            "timestamp_in_future",
        ),
    ];
    for (body, status, code) in cases {
        let shown = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(
            error_code(post_raw(&server, body, None).await, status).await,
            code,
            "{shown}"
        );
    }
    let health = server
        .client
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "still alive");
}

#[tokio::test]
async fn unknown_or_missing_keys_are_401() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let url = format!("{}/api/v1/capture", server.base);
    let body = json!({"event": "x", "distinct_id": "d"});
    let none = server.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(error_code(none, 401).await, "missing_api_key");
    let unknown = server
        .client
        .post(&url)
        .header(
            "X-API-Key",
            "tly_ing_zzzzzzzzzzzzaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(unknown, 401).await, "invalid_api_key");
    let junk = server
        .client
        .post(&url)
        .header("X-API-Key", "hello")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(junk, 401).await, "invalid_api_key");
}

#[tokio::test]
async fn a_batch_keeps_its_valid_events_and_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let huge = "x".repeat(1024 * 1024 + 10);
    let r = server
        .capture(&json!({"batch": [
            {"event": "ok1", "distinct_id": "d"},
            {"event": "too-big", "distinct_id": "d", "properties": {"blob": huge}},
            "not an object",
            {"event": "ok2", "distinct_id": "d"},
            {"distinct_id": "d"},
        ]}))
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["accepted"], 2);
    let rejected: Vec<(u64, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["error"]["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [
            (1, "event_too_large"),
            (2, "invalid_event"),
            (4, "missing_field")
        ]
    );
    let stored = server.read_json("/events").await;
    let mut names: Vec<&str> = stored["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["ok1", "ok2"]);

    let all_bad = server
        .capture(&json!({"batch": [{"event": 1}, {"distinct_id": 2}]}))
        .await;
    assert_eq!(all_bad.status(), 400);
    let body: Value = all_bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "all_events_rejected");
    assert_eq!(body["rejected"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn oversized_events_and_bodies_are_413() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let big_event = json!({"event": "x", "distinct_id": "d", "properties": {"blob": "y".repeat(1024 * 1024 + 1)}});
    assert_eq!(
        error_code(server.capture(&big_event).await, 413).await,
        "event_too_large"
    );

    // 21 MB of events, each one small.
    let one = json!({"event": "x", "distinct_id": "d", "properties": {"pad": "z".repeat(1000)}});
    let batch: Vec<Value> = std::iter::repeat_n(one, 21_000).collect();
    let body = serde_json::to_vec(&json!({"batch": batch})).unwrap();
    assert!(body.len() > 20 * 1024 * 1024);
    assert_eq!(
        error_code(post_raw(&server, body.clone(), None).await, 413).await,
        "body_too_large"
    );

    // The same 21 MB gzipped is small on the wire but still over the limit once inflated.
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&body).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 20 * 1024 * 1024);
    assert_eq!(
        error_code(post_raw(&server, gz, Some("gzip")).await, 413).await,
        "body_too_large"
    );

    let zstd = post_raw(&server, b"{}".to_vec(), Some("zstd")).await;
    assert_eq!(error_code(zstd, 415).await, "unsupported_encoding");

    // A gzipped body within limits is accepted.
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(br#"{"event": "zipped", "distinct_id": "d"}"#)
        .unwrap();
    let ok = post_raw(&server, gz.finish().unwrap(), Some("gzip")).await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn unknown_routes_answer_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    // Other paths are the dashboard's (a single-page app); the API's are not.
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/nope"),
        (reqwest::Method::POST, "/nope"),
        (reqwest::Method::GET, "/nope.js"),
    ] {
        let r = server
            .client
            .request(method, format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(r, 404).await, "not_found", "{path}");
    }
}

#[tokio::test]
async fn a_chunked_body_without_length_is_cut_off_at_the_limit() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let key = server.bootstrap.api_key.clone();
    // Blocking socket I/O off the runtime that serves the request.
    let response = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST /api/v1/capture HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .unwrap();
        let chunk = vec![b' '; 1024 * 1024];
        // 21 MiB of whitespace; the server may answer and close before we finish.
        for _ in 0..21 {
            if write!(s, "{:x}\r\n", chunk.len()).is_err() || s.write_all(&chunk).is_err() || s.write_all(b"\r\n").is_err() {
                break;
            }
        }
        let _ = s.write_all(b"0\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .await
    .unwrap();
    assert!(
        response.starts_with("HTTP/1.1 413"),
        "{}",
        &response[..response.len().min(200)]
    );
    assert!(response.contains("body_too_large"), "{response}");
}
