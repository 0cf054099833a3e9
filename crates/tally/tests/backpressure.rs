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

    drop(hold);
    for q in queued {
        assert_eq!(
            q.await.unwrap(),
            200,
            "queued requests complete once the writer resumes"
        );
    }
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
