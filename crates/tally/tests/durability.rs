//! Invariant 1: an event acknowledged with 2xx survives `kill -9`. The real binary
//! takes writes from several concurrent clients, is SIGKILLed mid-stream, restarted,
//! and every acknowledged uuid must be readable. Repeated several times on one data
//! dir, so recovery is also exercised on top of earlier crashes.

mod common;

use common::{read_bootstrap, stored_uuid_counts, Binary};
use reqwest::Client;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

const ROUNDS: usize = 4;
const CLIENTS: usize = 6;

async fn stored_uuids(base: &str, project: i64, token: &str) -> HashSet<String> {
    stored_uuid_counts(base, project, token)
        .await
        .into_keys()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let client = Client::new();
    for round in 0..ROUNDS {
        let server = Binary::spawn(dir.path()).await;
        let boot = read_bootstrap(dir.path());
        let mut writers = Vec::new();
        for c in 0..CLIENTS {
            let (client, base, key, acked) = (
                client.clone(),
                server.base.clone(),
                boot.api_key.clone(),
                acked.clone(),
            );
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let batch: Vec<(String, Value)> = (0..(1 + (i % 3) * 20))
                        .map(|_| {
                            let id = Uuid::new_v4().to_string();
                            let e = json!({"event": "tick", "distinct_id": format!("c{c}"), "uuid": id});
                            (id, e)
                        })
                        .collect();
                    let body = json!({"batch": batch.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>()});
                    let sent = client.post(format!("{base}/api/v1/capture")).header("X-API-Key", &key).json(&body).send().await;
                    match sent {
                        Ok(r) if r.status().is_success() => {
                            // Only a complete 2xx answer counts as an acknowledgement.
                            if r.bytes().await.is_ok() {
                                acked.lock().unwrap().extend(batch.into_iter().map(|(id, _)| id));
                            }
                        }
                        _ => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(700 + 300 * round as u64)).await;
        server.kill9();
        for w in writers {
            w.await.unwrap();
        }
        let restarted = Binary::spawn(dir.path()).await;
        let stored = stored_uuids(&restarted.base, boot.project_id, &boot.admin_token).await;
        let acked = acked.lock().unwrap().clone();
        assert!(
            !acked.is_empty(),
            "round {round}: some events were acknowledged"
        );
        let lost: Vec<_> = acked.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} acknowledged events lost, e.g. {:?}",
            lost.len(),
            lost.first()
        );
        restarted.kill9();
    }
}
