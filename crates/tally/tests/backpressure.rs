//! Invariant 4: when the writer falls behind, capture answers 503 with
//! `Retry-After` instead of queueing without bound, and recovers afterwards.

mod common;

use common::{config, TestServer};
use serde_json::{json, Value};

#[tokio::test]
async fn a_stalled_writer_sheds_load_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_queued_mb = 1;
    let server = TestServer::start_with(cfg).await;
    // ~400 KB of events per request: two fit in the 1 MiB budget, a third does not.
    let batch: Vec<Value> = (0..40)
        .map(|i| json!({"event": "big", "distinct_id": format!("u{i}"), "properties": {"pad": "p".repeat(10_000)}}))
        .collect();
    let body = json!({"batch": batch});

    let hold = server.events.hold_writes();
    let mut queued = Vec::new();
    for _ in 0..2 {
        let (client, url, key, body) = (
            server.client.clone(),
            format!("{}/api/v1/capture", server.base),
            server.bootstrap.api_key.clone(),
            body.clone(),
        );
        queued.push(tokio::spawn(async move {
            client
                .post(url)
                .header("X-API-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let shed = server.capture(&body).await;
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let err: Value = shed.json().await.unwrap();
    assert_eq!(err["error"]["code"], "overloaded");

    for q in queued {
        assert_eq!(
            q.await.unwrap(),
            200,
            "requests within the budget are acknowledged from the spool while the store is stalled"
        );
    }
    drop(hold);
    // A read waits until the acknowledged events are stored, which frees the budget.
    let page = server.read_json("/events?limit=1000").await;
    assert_eq!(page["results"].as_array().unwrap().len(), 80);
    assert_eq!(
        server.capture(&body).await.status(),
        200,
        "capture recovers"
    );
    let page = server.read_json("/events?limit=1000").await;
    assert_eq!(
        page["results"].as_array().unwrap().len(),
        120,
        "3 acknowledged batches, nothing from the shed one"
    );
}

#[tokio::test]
async fn bodies_in_flight_are_bounded_too() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_body_memory_mb = 1;
    let server = TestServer::start_with(cfg).await;
    // A client that announces 600 kB and sends only part of it holds its reservation.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        slow,
        "POST /api/v1/capture HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: 600000\r\n\r\n{{\"batch\": [",
        server.bootstrap.api_key
    )
    .unwrap();
    slow.flush().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let shed = server
        .capture(&json!({"event": "x", "distinct_id": "d"}))
        .await;
    assert_eq!(shed.status(), 503);
    assert!(shed.headers().contains_key("retry-after"));
    drop(slow);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let ok = server
        .capture(&json!({"event": "x", "distinct_id": "d"}))
        .await;
    assert_eq!(
        ok.status(),
        200,
        "the reservation is returned when the slow client goes away"
    );
}
