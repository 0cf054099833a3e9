//! Scale-out onto ClickHouse: capture nodes produce to the real Apache Kafka
//! broker, a worker node stores into a real ClickHouse server, and an API node
//! apart from the worker serves what the worker stored. Metadata is shared
//! through PostgreSQL; every node is the real binary.

mod common;

use common::read_bootstrap;
use common::scaleout::{assert_stored_exactly, shared_broker, Deployment};
use futures_util::StreamExt;
use reqwest::Client;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// A `clickhouse://` URL of a database no other test uses, on the server
/// `scripts/test.sh` starts.
fn fresh_store() -> String {
    let http = std::env::var("TALLY_TEST_CLICKHOUSE_URL").expect(
        "TALLY_TEST_CLICKHOUSE_URL is not set: run the suite with scripts/test.sh, which starts ClickHouse",
    );
    format!(
        "clickhouse://{}/scaleout_{}",
        http.trim_start_matches("http://").trim_end_matches('/'),
        Uuid::new_v4().simple()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_stores_into_clickhouse_and_an_api_node_apart_serves_it() {
    let deployment = Deployment::new(&shared_broker()).await;
    let store = fresh_store();
    let env = [("TALLY_STORE", store.as_str())];
    let api_dir = tempfile::tempdir().unwrap();
    let worker_dir = tempfile::tempdir().unwrap();
    // The API node bootstraps the first project (and migrates ClickHouse).
    let api = deployment
        .node_with("api", Some(api_dir.path()), &env)
        .await;
    let boot = read_bootstrap(api_dir.path());
    let worker = deployment
        .node_with("worker", Some(worker_dir.path()), &env)
        .await;
    let capture = deployment.node("capture", None).await;
    let client = Client::new();

    // A viewer of the API node's live stream, open before anything is sent.
    let ticket: Value = client
        .post(format!(
            "{}/api/v1/projects/{}/live/ticket",
            api.base, boot.project_id
        ))
        .bearer_auth(&boot.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (mut viewer, _) = tokio_tungstenite::connect_async(format!(
        "{}/api/v1/projects/{}/live?ticket={}",
        api.base.replacen("http://", "ws://", 1),
        boot.project_id,
        ticket["ticket"].as_str().unwrap()
    ))
    .await
    .expect("the API node opens its live stream");

    let mut sent = HashSet::new();
    let mut batches = Vec::new();
    for round in 0..4 {
        let events: Vec<Value> = (0..30)
            .map(|i| {
                json!({
                    "event": if i % 3 == 0 { "$pageview" } else { "click" },
                    "distinct_id": format!("user-{}", i % 7),
                    "uuid": Uuid::new_v4().to_string(),
                    "properties": {"round": round, "$current_url": "https://shop.example/a"},
                })
            })
            .collect();
        sent.extend(
            events
                .iter()
                .map(|e| e["uuid"].as_str().unwrap().to_owned()),
        );
        batches.push(events);
    }
    // The first batch twice: an SDK retrying after a lost answer.
    batches.push(batches[0].clone());
    for events in &batches {
        let status = client
            .post(format!("{}/api/v1/capture", capture.base))
            .header("X-API-Key", &boot.api_key)
            .json(&json!({ "batch": events }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }

    // Exactly what was sent, a re-sent event once.
    assert_stored_exactly(&api, &boot, &sent).await;

    // The viewer on the API node saw every event the worker (another
    // process) stored, enriched and with its person, through the live topic.
    let mut seen = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < sent.len() {
        let message = tokio::time::timeout_at(deadline, viewer.next())
            .await
            .unwrap_or_else(|_| panic!("the live stream showed {} of {}", seen.len(), sent.len()))
            .expect("the stream stays open")
            .unwrap();
        let text = message.into_text().unwrap();
        let m: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(m["type"], "event", "{m}");
        assert!(m["event"]["person_id"].is_i64(), "{m}");
        assert_eq!(m["event"]["path"], "/a", "{m}");
        seen.insert(m["event"]["uuid"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, sent);

    // The worker resolved persons into ClickHouse: one distinct id's events
    // are found through its person.
    let page: Value = client
        .get(format!(
            "{}/api/v1/projects/{}/events?person=user-3&limit=1000",
            api.base, boot.project_id
        ))
        .bearer_auth(&boot.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = batches[..4]
        .iter()
        .flatten()
        .filter(|e| e["distinct_id"] == "user-3")
        .count();
    assert_eq!(
        page["results"].as_array().unwrap().len(),
        expected,
        "{page}"
    );
    drop(worker);
}

/// Two worker processes on one ClickHouse database, the topic's partitions
/// split between them: each of 60 visitors browses anonymously, logs in
/// (`$identify`) and goes on — the anonymous and the known id hash to
/// partitions that are often different workers'. Every visitor ends as one
/// person holding both ids (as the embedded default resolves them), and no
/// two visitors share a person: resolutions take turns through PostgreSQL and
/// person ids come from one counter there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_resolve_merges_across_partitions_into_one_person_each() {
    let deployment = Deployment::new(&shared_broker()).await;
    let store = fresh_store();
    let env = [("TALLY_STORE", store.as_str())];
    let (api_dir, one_dir, two_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let api = deployment
        .node_with("api", Some(api_dir.path()), &env)
        .await;
    let boot = read_bootstrap(api_dir.path());
    let _one = deployment
        .node_with("worker", Some(one_dir.path()), &env)
        .await;
    let _two = deployment
        .node_with("worker", Some(two_dir.path()), &env)
        .await;
    deployment.wait_workers(2, Duration::from_secs(60)).await;
    let capture = deployment.node("capture", None).await;
    let client = Client::new();

    let people = 60;
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let at = |i: usize, step: i64| {
        (start + chrono::Duration::seconds(i as i64 * 10 + step))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let mut sent = HashSet::new();
    let mut event = |e: Value| {
        let uuid = Uuid::new_v4().to_string();
        sent.insert(uuid.clone());
        let mut e = e;
        e["uuid"] = json!(uuid);
        e
    };
    // Ten requests of six visitors each, so both workers resolve at once.
    let mut requests = Vec::new();
    for chunk in (0..people).collect::<Vec<_>>().chunks(6) {
        let mut batch = Vec::new();
        for &i in chunk {
            let (anon, known) = (format!("anon-{i}"), format!("user-{i}"));
            batch.push(event(json!({"event": "$pageview", "distinct_id": anon,
                "timestamp": at(i, 0), "properties": {"$current_url": "https://shop.example/"}})));
            batch.push(event(json!({"event": "$identify", "distinct_id": known,
                "timestamp": at(i, 1), "properties": {"$anon_distinct_id": anon}})));
            batch.push(event(json!({"event": "purchase", "distinct_id": known,
                "timestamp": at(i, 2)})));
        }
        requests.push(batch);
    }
    let sends = requests.iter().map(|batch| {
        client
            .post(format!("{}/api/v1/capture", capture.base))
            .header("X-API-Key", &boot.api_key)
            .json(&json!({ "batch": batch }))
            .send()
    });
    for response in futures_util::future::join_all(sends).await {
        assert_eq!(response.unwrap().status(), 200);
    }
    assert_stored_exactly(&api, &boot, &sent).await;

    let mut persons = HashSet::new();
    for i in 0..people {
        let mut ids = Vec::new();
        for id in [format!("anon-{i}"), format!("user-{i}")] {
            let person: Value = client
                .get(format!(
                    "{}/api/v1/projects/{}/persons/{id}",
                    api.base, boot.project_id
                ))
                .bearer_auth(&boot.admin_token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                person["distinct_ids"],
                json!([format!("anon-{i}"), format!("user-{i}")]),
                "{id}: {person}"
            );
            ids.push(person["id"].as_i64().unwrap());
        }
        assert_eq!(ids[0], ids[1], "visitor {i} is one person");
        assert!(persons.insert(ids[0]), "person {} is two visitors", ids[0]);
    }
}
