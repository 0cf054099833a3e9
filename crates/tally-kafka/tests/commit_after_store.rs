//! A worker commits a batch's offsets only after the store took the batch: one
//! that crashes while its insert is under way leaves the batch to be read again.
//! Real broker (`TALLY_TEST_KAFKA_BOOTSTRAP`, started by `scripts/test.sh`) and
//! real DuckDB; the first worker's store is DuckDB behind a gate that never opens.

mod common;

use async_trait::async_trait;
use chrono::Utc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally_core::{Event, EventBatch, EventSink, EventStore, InsertOutcome, ProjectId, StoreError};
use tally_duckdb::{DuckDb, DuckDbConfig};
use tally_kafka::{Batching, KafkaSink, KafkaWorker};
use tally_pipeline::QueueBudget;

/// Inserts wait forever; `entered` says an insert has begun.
struct StuckStore {
    entered: AtomicBool,
}

#[async_trait]
impl EventStore for StuckStore {
    async fn insert_batch(&self, _: EventBatch) -> Result<InsertOutcome, StoreError> {
        self.entered.store(true, Ordering::SeqCst);
        std::future::pending().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn delete_project(&self, _: ProjectId) -> Result<u64, StoreError> {
        Ok(0)
    }
}

fn batching() -> Batching {
    Batching {
        max_batch: 100_000,
        linger: Duration::from_millis(200),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_dies_during_an_insert_leaves_its_batch_to_be_read_again() {
    let config = common::fresh_topic(2).await;
    let sink = KafkaSink::new(&config, QueueBudget::new(16 << 20, Duration::ZERO, 1)).unwrap();
    let events: Vec<Event> = (0..500)
        .map(|i| {
            Event::new(
                1,
                uuid::Uuid::new_v4(),
                "e",
                format!("p{}", i % 7),
                Utc::now(),
            )
        })
        .collect();
    sink.send(events).await.unwrap();

    let stuck = Arc::new(StuckStore {
        entered: AtomicBool::new(false),
    });
    let first = KafkaWorker::start(&config, stuck.clone(), None, batching()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stuck.entered.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the first worker never inserted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Crash in the middle of the insert.
    first.abort();

    let dir = tempfile::tempdir().unwrap();
    let db = DuckDb::open(&DuckDbConfig::in_dir(dir.path())).unwrap();
    let second = KafkaWorker::start(&config, Arc::new(db.clone()), None, batching()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.stored_events() < 500 {
        assert!(
            Instant::now() < deadline,
            "only {} of 500 stored: the first worker committed a batch it never stored",
            db.stored_events()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.stop().await;
}
