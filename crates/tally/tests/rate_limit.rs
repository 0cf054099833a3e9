//! The per-project capture rate limit over real HTTP: past its burst a project's
//! capture answers 429 `rate_limited` with `Retry-After` on every capture route,
//! and nothing of a refused request is stored.

mod common;

use common::{error_code, TestServer};
use serde_json::json;
use tally::config::Config;

#[tokio::test]
async fn capture_past_the_burst_is_refused_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(Config {
        // One event per second: a burst of ten.
        capture_rate_limit: 1,
        ..common::config(dir.path())
    })
    .await;
    let batch: Vec<_> = (0..10)
        .map(|i| json!({"event": "e", "distinct_id": format!("u{i}")}))
        .collect();
    let r = server.capture(&json!({"batch": batch})).await;
    assert_eq!(r.status(), 200);

    let over = |r: reqwest::Response| async move {
        let retry_after: u64 = r
            .headers()
            .get("retry-after")
            .expect("Retry-After")
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1, "{retry_after}");
        error_code(r, 429).await
    };
    let r = server
        .capture(&json!({"event": "late", "distinct_id": "u"}))
        .await;
    assert_eq!(over(r).await, "rate_limited");
    let key = server.bootstrap.api_key.clone();
    let posthog = server
        .client
        .post(format!("{}/batch/", server.base))
        .json(&json!({"api_key": key, "batch": [{"event": "late", "distinct_id": "u"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(over(posthog).await, "rate_limited");
    let segment = server
        .client
        .post(format!("{}/v1/track", server.base))
        .json(&json!({"writeKey": key, "userId": "u", "event": "late"}))
        .send()
        .await
        .unwrap();
    assert_eq!(over(segment).await, "rate_limited");

    let page = server.read_json("/events?limit=100").await;
    let stored = page["results"].as_array().unwrap();
    assert_eq!(stored.len(), 10);
    assert!(stored.iter().all(|e| e["event"] == "e"));
}
