//! The consumer group against the real broker that `scripts/test.sh` starts
//! (`TALLY_TEST_KAFKA_BOOTSTRAP`), storing into a real DuckDB: workers joining and
//! leaving under load lose nothing and store nothing twice.

mod common;

use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally_core::{Event, EventSink};
use tally_duckdb::{DuckDb, DuckDbConfig};
use tally_kafka::{Batching, KafkaConfig, KafkaSink, KafkaWorker};
use tally_pipeline::{ProcessConfig, Processor, QueueBudget};

fn worker(config: &KafkaConfig, db: &DuckDb) -> KafkaWorker {
    let processor = Processor::new(ProcessConfig::default()).with_persons(Arc::new(db.clone()));
    KafkaWorker::start(
        config,
        Arc::new(db.clone()),
        Some(Arc::new(processor)),
        Batching {
            max_batch: 4_096,
            linger: Duration::from_millis(50),
        },
    )
    .unwrap()
}

/// (rows stored, distinct uuids stored)
fn stored(db: &DuckDb) -> (u64, u64) {
    let rows = db
        .read_numbers("SELECT count(*), count(DISTINCT uuid) FROM events")
        .unwrap();
    (rows[0][0] as u64, rows[0][1] as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_joining_and_leaving_under_load_lose_and_double_nothing() {
    let config = common::fresh_topic(6).await;
    let dir = tempfile::tempdir().unwrap();
    let db = DuckDb::open(&DuckDbConfig::in_dir(dir.path())).unwrap();
    let sink = Arc::new(
        KafkaSink::new(
            &config,
            QueueBudget::new(64 << 20, Duration::from_secs(1), 1),
        )
        .unwrap(),
    );

    const REQUESTS: usize = 300;
    const PER_REQUEST: usize = 50;
    let producer = {
        let sink = Arc::clone(&sink);
        tokio::spawn(async move {
            for r in 0..REQUESTS {
                let events: Vec<Event> = (0..PER_REQUEST)
                    .map(|i| {
                        Event::new(
                            1,
                            uuid::Uuid::new_v4(),
                            "tick",
                            format!("person-{}", (r * PER_REQUEST + i) % 97),
                            Utc::now(),
                        )
                    })
                    .collect();
                let receipt = sink.send(events).await.expect("the broker takes them");
                assert_eq!(receipt.accepted, PER_REQUEST);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let a = worker(&config, &db);
    let b = worker(&config, &db);
    let total = (REQUESTS * PER_REQUEST) as u64;
    let wait_for = |n: u64| {
        let db = db.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(90);
            while stored(&db).1 < n {
                assert!(
                    Instant::now() < deadline,
                    "stuck at {:?} of {n}",
                    stored(&db)
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // Both share the partitions; then one leaves mid-stream, another joins.
    wait_for(total / 4).await;
    b.stop().await;
    wait_for(total / 2).await;
    let c = worker(&config, &db);
    producer.await.unwrap();
    wait_for(total).await;
    // Anything redelivered after the rebalances has arrived by now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(stored(&db), (total, total), "every event once");
    a.stop().await;
    c.stop().await;
}
