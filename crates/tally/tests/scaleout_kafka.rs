//! Scale-out over the real Apache Kafka broker: stateless capture nodes produce
//! to a topic, a worker node consumes it into DuckDB and serves the API, and
//! metadata is shared through PostgreSQL. Every node is the real binary.

mod common;

use common::read_bootstrap;
use common::scaleout::{assert_stored_exactly, shared_broker, wait_stored, Deployment, Node};
use reqwest::Client;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// One batch of `n` events for `distinct_id`, with fresh uuids.
fn batch(n: usize, distinct_id: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "event": if i % 2 == 0 { "page" } else { "click" },
                "distinct_id": distinct_id,
                "uuid": Uuid::new_v4().to_string(),
                "properties": {"i": i},
            })
        })
        .collect()
}

fn uuids(events: &[Value]) -> impl Iterator<Item = String> + '_ {
    events
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_owned())
}

async fn send_native(client: &Client, node: &Node, key: &str, events: &[Value]) -> u16 {
    client
        .post(format!("{}/api/v1/capture", node.base))
        .header("X-API-Key", key)
        .json(&json!({ "batch": events }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn send_posthog(client: &Client, node: &Node, key: &str, events: &[Value]) -> u16 {
    client
        .post(format!("{}/batch/", node.base))
        .json(&json!({ "api_key": key, "batch": events }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sum of the per-event counts the dashboard's top-events table shows.
async fn counted_events(client: &Client, node: &Node, project: i64, token: &str) -> u64 {
    let answer: Value = client
        .get(format!(
            "{}/api/v1/projects/{project}/top-events?from=2000-01-01&to=2100-01-01",
            node.base
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("not a top-events answer: {answer}"))
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_capture_nodes_and_a_worker_store_every_event_once() {
    let deployment = Deployment::new(&shared_broker()).await;
    let data = tempfile::tempdir().unwrap();
    let worker = deployment.node("worker,api", Some(data.path())).await;
    let boot = read_bootstrap(data.path());
    let capture_a = deployment.node("capture", None).await;
    let capture_b = deployment.node("capture", None).await;
    let client = Client::new();

    let mut sent: HashSet<String> = HashSet::new();
    let mut first_batches = Vec::new();
    for round in 0..10 {
        let native = batch(25, &format!("native-{}", round % 3));
        let posthog = batch(25, &format!("posthog-{}", round % 3));
        assert_eq!(
            send_native(&client, &capture_a, &boot.api_key, &native).await,
            200
        );
        assert_eq!(
            send_posthog(&client, &capture_b, &boot.api_key, &posthog).await,
            200
        );
        sent.extend(uuids(&native));
        sent.extend(uuids(&posthog));
        if round == 0 {
            first_batches = vec![native, posthog];
        }
    }
    // Re-sent through the other node (a client retrying elsewhere behind a load
    // balancer): acknowledged again, stored once.
    assert_eq!(
        send_native(&client, &capture_b, &boot.api_key, &first_batches[0]).await,
        200
    );
    assert_eq!(
        send_posthog(&client, &capture_a, &boot.api_key, &first_batches[1]).await,
        200
    );

    assert_stored_exactly(&worker, &boot, &sent).await;
    // Give a late duplicate delivery time to arrive, then count as the dashboard does.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        counted_events(&client, &worker, boot.project_id, &boot.admin_token).await,
        sent.len() as u64
    );

    // A capture node serves capture only: no query API, no dashboard.
    let r = client
        .get(format!(
            "{}/api/v1/projects/{}/events",
            capture_a.base, boot.project_id
        ))
        .bearer_auth(&boot.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(common::error_code(r, 404).await, "not_found");
    // A wrong key is refused by a capture node as by the embedded one.
    assert_eq!(
        send_native(&client, &capture_a, "nope", &batch(1, "x")).await,
        401
    );
}

/// Answers other than 200: status and `Retry-After`.
type Refusals = std::sync::Arc<std::sync::Mutex<Vec<(u16, Option<String>)>>>;

/// Writers that send native batches to `node` until stopped, remembering every
/// uuid acknowledged with a complete 200, and counting other answers by status.
struct Writers {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    acked: std::sync::Arc<std::sync::Mutex<HashSet<String>>>,
    refused: Refusals,
}

impl Writers {
    fn start(base: &str, key: &str, clients: usize) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let acked: std::sync::Arc<std::sync::Mutex<HashSet<String>>> = Default::default();
        let refused: Refusals = Default::default();
        let tasks = (0..clients)
            .map(|c| {
                let (stop, acked, refused) = (stop.clone(), acked.clone(), refused.clone());
                let (base, key) = (base.to_owned(), key.to_owned());
                tokio::spawn(async move {
                    let client = Client::new();
                    let mut i = 0usize;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let events = batch(1 + (i % 4) * 15, &format!("writer-{c}-{}", i % 5));
                        i += 1;
                        let sent = client
                            .post(format!("{base}/api/v1/capture"))
                            .header("X-API-Key", &key)
                            .json(&json!({ "batch": events }))
                            .timeout(Duration::from_secs(30))
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status() == 200 => {
                                // Only a complete answer is an acknowledgement.
                                if r.bytes().await.is_ok() {
                                    acked.lock().unwrap().extend(uuids(&events));
                                }
                            }
                            Ok(r) => {
                                let retry_after = r
                                    .headers()
                                    .get("retry-after")
                                    .map(|v| v.to_str().unwrap().to_owned());
                                refused
                                    .lock()
                                    .unwrap()
                                    .push((r.status().as_u16(), retry_after));
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            tasks,
            acked,
            refused,
        }
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    async fn finish(self) -> (HashSet<String>, Vec<(u16, Option<String>)>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let acked = std::mem::take(&mut *self.acked.lock().unwrap());
        let refused = std::mem::take(&mut *self.refused.lock().unwrap());
        (acked, refused)
    }
}

/// Checks that exactly the acknowledged events are stored, each once, by
/// uuid and by the count the dashboard shows.
async fn assert_stored_once(worker: &Node, project: i64, token: &str, acked: &HashSet<String>) {
    let stored = wait_stored(
        &worker.base,
        project,
        token,
        acked.len(),
        Duration::from_secs(120),
    )
    .await;
    let missing = acked.iter().filter(|u| !stored.contains_key(*u)).count();
    assert_eq!(missing, 0, "acknowledged events missing of {}", acked.len());
    assert!(stored.values().all(|&n| n == 1), "an event is stored twice");
    // Unacknowledged attempts may be stored too (a broker took them after the
    // client gave up); never one twice.
    let counted = counted_events(&Client::new(), worker, project, token).await;
    assert_eq!(counted, stored.len() as u64, "counted once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_batch_loses_and_doubles_nothing() {
    let deployment = Deployment::new(&shared_broker()).await;
    let data = tempfile::tempdir().unwrap();
    // A long linger keeps a large batch gathering and processing when the kill comes.
    let worker_env = [("TALLY_STORE_LINGER_MS", "400")];
    let mut worker = deployment
        .node_with("worker,api", Some(data.path()), &worker_env)
        .await;
    let boot = read_bootstrap(data.path());
    let capture = deployment.node("capture", None).await;
    let writers = Writers::start(&capture.base, &boot.api_key, 4);
    for round in 0..3 {
        let before = writers.acked_count();
        // Let events flow, then kill the worker while batches are in hand.
        while writers.acked_count() < before + 2_000 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        worker.kill9();
        tokio::time::sleep(Duration::from_millis(300 * round as u64)).await;
        worker = deployment
            .node_with("worker,api", Some(data.path()), &worker_env)
            .await;
    }
    let (acked, _) = writers.finish().await;
    assert!(acked.len() >= 6_000, "the load ran: {}", acked.len());
    assert_stored_once(&worker, boot.project_id, &boot.admin_token, &acked).await;
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capture_sheds_while_the_broker_is_down_and_recovers_by_itself() {
    let broker = common::scaleout::OwnBroker::start();
    let deployment = Deployment::new(&broker.bootstrap).await;
    let data = tempfile::tempdir().unwrap();
    let worker = deployment.node("worker,api", Some(data.path())).await;
    let boot = read_bootstrap(data.path());
    // A short delivery timeout: requests during the outage are answered sooner.
    let capture = deployment
        .node_with(
            "capture",
            None,
            &[
                ("TALLY_KAFKA_DELIVERY_TIMEOUT_MS", "2000"),
                ("TALLY_MAX_QUEUED_MB", "32"),
            ],
        )
        .await;
    let writers = Writers::start(&capture.base, &boot.api_key, 6);
    while writers.acked_count() < 1_000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    broker.stop();
    let acked_at_stop = writers.acked_count();
    let mut peak_rss = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak_rss = peak_rss.max(rss_mib(capture.child.id()));
    }
    let acked_during = writers.acked_count() - acked_at_stop;
    broker.start_again();
    // Capture recovers by itself: new events are acknowledged again.
    let resumed_from = writers.acked_count();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while writers.acked_count() < resumed_from + 1_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "capture did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (acked, refused) = writers.finish().await;

    // While the broker was down (10 s), requests were refused with 503 and a
    // Retry-After; a few acknowledged just as it stopped are the only 200s.
    let unavailable: Vec<_> = refused.iter().filter(|(s, _)| *s == 503).collect();
    assert!(
        !unavailable.is_empty(),
        "503s during the outage: {refused:?}"
    );
    assert!(
        unavailable.iter().all(|(_, retry)| retry.is_some()),
        "every 503 says when to retry"
    );
    assert!(
        refused.iter().all(|(s, _)| *s == 503),
        "nothing but 503: {refused:?}"
    );
    assert!(
        acked_during < 200,
        "{acked_during} acknowledged while the broker was down"
    );
    assert!(
        peak_rss < 400,
        "capture stayed within its budget: {peak_rss} MiB"
    );
    assert_stored_once(&worker, boot.project_id, &boot.admin_token, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capture_keeps_taking_known_keys_while_postgresql_is_down() {
    let postgres = common::scaleout::OwnPostgres::start();
    let deployment = Deployment::with_metadata(&shared_broker(), &postgres.url);
    let data = tempfile::tempdir().unwrap();
    let worker = deployment.node("worker,api", Some(data.path())).await;
    let boot = read_bootstrap(data.path());
    let capture = deployment.node("capture", None).await;
    let client = Client::new();
    let before = batch(20, "before");
    assert_eq!(
        send_native(&client, &capture, &boot.api_key, &before).await,
        200
    );

    postgres.halt();
    // The key was checked a moment ago: capture goes on without the database.
    let during = batch(20, "during");
    assert_eq!(
        send_native(&client, &capture, &boot.api_key, &during).await,
        200
    );
    // A key it has not checked cannot be: 503 with a Retry-After, soon, not 401
    // (the key may be good) and not a hang.
    let mut unchecked = boot.api_key.clone();
    let last = unchecked.pop().unwrap();
    unchecked.push(if last == 'a' { 'b' } else { 'a' });
    let asked = std::time::Instant::now();
    let r = client
        .post(format!("{}/api/v1/capture", capture.base))
        .header("X-API-Key", &unchecked)
        .json(&json!({"event": "x", "distinct_id": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(common::error_code(r, 503).await, "unavailable");

    postgres.start_again();
    let sent: HashSet<String> = uuids(&before).chain(uuids(&during)).collect();
    assert_stored_exactly(&worker, &boot, &sent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_log_in_to_a_sasl_broker_with_the_configured_user() {
    let broker = common::scaleout::OwnBroker::start_with_sasl("tally:tally-secret");
    let deployment = Deployment::new(&broker.bootstrap).await;
    let login = |password: &'static str| {
        [
            ("TALLY_KAFKA_SECURITY_PROTOCOL", "sasl_plaintext"),
            ("TALLY_KAFKA_SASL_MECHANISM", "PLAIN"),
            ("TALLY_KAFKA_SASL_USERNAME", "tally"),
            ("TALLY_KAFKA_SASL_PASSWORD", password),
            ("TALLY_KAFKA_DELIVERY_TIMEOUT_MS", "3000"),
        ]
    };
    let data = tempfile::tempdir().unwrap();
    let worker = deployment
        .node_with("worker,api", Some(data.path()), &login("tally-secret"))
        .await;
    let boot = read_bootstrap(data.path());
    let capture = deployment
        .node_with("capture", None, &login("tally-secret"))
        .await;
    let impostor = deployment.node_with("capture", None, &login("wrong")).await;
    let client = Client::new();

    let events = batch(20, "sasl");
    assert_eq!(
        send_native(&client, &capture, &boot.api_key, &events).await,
        200
    );
    // A node the broker refuses acknowledges nothing.
    let refused = batch(5, "refused");
    assert_eq!(
        send_native(&client, &impostor, &boot.api_key, &refused).await,
        503
    );

    assert_stored_exactly(&worker, &boot, &uuids(&events).collect()).await;
}

/// TLS to the broker: nodes that trust its CA (`ssl_ca_location`) produce and
/// consume; a node that does not trust it acknowledges nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_talk_tls_to_a_broker_whose_ca_they_trust() {
    let broker = common::scaleout::OwnBroker::start_with_tls();
    let deployment = Deployment::new(&broker.bootstrap).await;
    fn tls(ca: &str) -> [(&'static str, &str); 3] {
        [
            ("TALLY_KAFKA_SECURITY_PROTOCOL", "ssl"),
            ("TALLY_KAFKA_SSL_CA_LOCATION", ca),
            ("TALLY_KAFKA_DELIVERY_TIMEOUT_MS", "3000"),
        ]
    }
    let ca = broker.tls_ca();
    let ca = ca.to_str().unwrap();
    let data = tempfile::tempdir().unwrap();
    let worker = deployment
        .node_with("worker,api", Some(data.path()), &tls(ca))
        .await;
    let boot = read_bootstrap(data.path());
    let capture = deployment.node_with("capture", None, &tls(ca)).await;
    // The system's CAs do not know the broker's.
    let distrustful = deployment
        .node_with("capture", None, &tls("/etc/ssl/certs/ca-certificates.crt"))
        .await;
    let client = Client::new();

    let events = batch(20, "tls");
    assert_eq!(
        send_native(&client, &capture, &boot.api_key, &events).await,
        200
    );
    assert_eq!(
        send_native(&client, &distrustful, &boot.api_key, &batch(5, "refused")).await,
        503
    );
    let sent: HashSet<String> = uuids(&events).collect();
    assert_stored_exactly(&worker, &boot, &sent).await;
}
