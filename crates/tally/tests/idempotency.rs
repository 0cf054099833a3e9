//! Invariant 2: the same uuid sent again — in the same batch, another batch, or
//! after a restart — is counted once in every answer.

mod common;

use chrono::{Duration, Utc};
use common::TestServer;
use serde_json::{json, Value};
use uuid::Uuid;

async fn counts(server: &TestServer) -> (usize, Value, Value, u64) {
    let events = server.read_json("/events?limit=1000").await["results"]
        .as_array()
        .unwrap()
        .len();
    let overview = server.read_json("/overview").await["current"].clone();
    let top = server.read_json("/top-events").await["results"].clone();
    let series = server.read_json("/timeseries?interval=hour").await["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_u64().unwrap())
        .sum();
    (events, overview, top, series)
}

#[tokio::test]
async fn resent_events_count_once_everywhere_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let ts = (Utc::now() - Duration::minutes(5)).to_rfc3339();
    let a = Uuid::new_v4().to_string();
    let b = Uuid::new_v4().to_string();
    let ev = |uuid: &str, who: &str| json!({"event": "buy", "distinct_id": who, "uuid": uuid, "timestamp": ts});
    // Same batch twice over, then again as singles.
    let r = server
        .capture(&json!({"batch": [ev(&a, "u1"), ev(&a, "u1"), ev(&b, "u2")]}))
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["accepted"],
        3,
        "duplicates are accepted, not errors"
    );
    server.capture(&ev(&a, "u1")).await;
    server.capture(&json!({"batch": [ev(&b, "u2")]})).await;
    let expected = (
        2,
        json!({"events": 2, "unique_users": 2, "pageviews": 0, "sessions": 2,
               "bounce_rate": null, "avg_session_secs": 0.0}),
        json!([{"event": "buy", "count": 2, "unique_users": 2}]),
        2,
    );
    assert_eq!(counts(&server).await, expected);
    server.stop().await;

    let server = TestServer::start(&dir).await;
    server
        .capture(&json!({"batch": [ev(&a, "u1"), ev(&b, "u2")]}))
        .await;
    assert_eq!(counts(&server).await, expected, "after a restart");
    // Upper-case and braced spellings of a uuid are the same uuid.
    server.capture(&ev(&a.to_uppercase(), "u1")).await;
    assert_eq!(counts(&server).await, expected);
}
