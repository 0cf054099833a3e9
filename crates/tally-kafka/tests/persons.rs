//! Two workers resolving persons at once (real broker, one real DuckDB): each
//! visitor's anonymous id and user id are keys of their own, so an `$identify`
//! and the anonymous events it merges are often consumed by different workers.
//! Every visitor must still end up one person — the same answer as the
//! embedded default, which resolves the same events in one pass.

mod common;

use chrono::{Duration as TimeSpan, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally_core::{
    Event, EventSink, EventStore, PersonChanges, PersonId, PersonSnapshot, PersonStore, ProjectId,
    ResolutionGuard, StoreError,
};
use tally_duckdb::{DuckDb, DuckDbConfig};
use tally_kafka::{Batching, KafkaSink, KafkaWorker};
use tally_pipeline::{ProcessConfig, Processor, QueueBudget};
use tally_query::{QueryEngine, TimeRange, TopEventsQuery};

const VISITORS: usize = 300;

fn processor(db: &DuckDb) -> Arc<Processor> {
    Arc::new(Processor::new(ProcessConfig::default()).with_persons(Arc::new(db.clone())))
}

/// The DuckDB person store with each load taking 20 ms longer, so that two
/// resolutions not kept apart would overlap between load and save nearly every
/// time (on two cores they otherwise rarely do).
struct SlowLoads(DuckDb);

impl PersonStore for SlowLoads {
    fn resolution_guard(&self) -> Result<Box<dyn ResolutionGuard + '_>, StoreError> {
        self.0.resolution_guard()
    }
    fn load_persons(&self, keys: &[(ProjectId, String)]) -> Result<PersonSnapshot, StoreError> {
        let snapshot = self.0.load_persons(keys);
        std::thread::sleep(Duration::from_millis(20));
        snapshot
    }
    fn allocate_person_ids(&self, count: usize) -> Result<PersonId, StoreError> {
        self.0.allocate_person_ids(count)
    }
    fn save_persons(&self, changes: &PersonChanges) -> Result<(), StoreError> {
        self.0.save_persons(changes)
    }
}

fn slow_processor(db: &DuckDb) -> Arc<Processor> {
    Arc::new(Processor::new(ProcessConfig::default()).with_persons(Arc::new(SlowLoads(db.clone()))))
}

/// Per visitor: two anonymous page views, the `$identify` that links the
/// anonymous id to the user id, and a sign-up under the user id.
fn visitors() -> Vec<Event> {
    let start = Utc::now() - TimeSpan::minutes(10);
    let mut events = Vec::new();
    for v in 0..VISITORS {
        let at = |s: i64| start + TimeSpan::seconds(s);
        let (anon, user) = (format!("anon-{v}"), format!("user-{v}"));
        for s in 0..2 {
            events.push(Event::new(1, uuid::Uuid::new_v4(), "page", &anon, at(s)));
        }
        let mut identify = Event::new(1, uuid::Uuid::new_v4(), "$identify", &user, at(2));
        identify.properties.insert_str("$anon_distinct_id", &anon);
        events.push(identify);
        events.push(Event::new(1, uuid::Uuid::new_v4(), "signup", &user, at(3)));
    }
    events
}

/// Persons at each step of page view → sign-up: a visitor split into two
/// persons (anonymous, identified) never converts.
async fn funnel(db: &DuckDb) -> Vec<u64> {
    let day = |d: chrono::DateTime<Utc>| d.format("%Y-%m-%d").to_string();
    let request: tally_query::funnel::FunnelRequest = serde_json::from_value(serde_json::json!({
        "date_from": day(Utc::now() - TimeSpan::days(1)),
        "date_to": day(Utc::now() + TimeSpan::days(2)),
        "conversion_window_secs": 86400,
        "steps": [{"event": "page"}, {"event": "signup"}],
    }))
    .unwrap();
    let answer = db
        .funnel(request.resolve(1, Utc::now()).unwrap())
        .await
        .unwrap();
    answer.steps.iter().map(|s| s.count).collect()
}

async fn top_events(db: &DuckDb) -> Vec<(String, u64, u64)> {
    let answer = db
        .top_events(TopEventsQuery {
            project_id: 1,
            range: TimeRange {
                from: Utc::now() - TimeSpan::days(1),
                to: Utc::now() + TimeSpan::days(1),
            },
            limit: 10,
            include_bots: true,
        })
        .await
        .unwrap();
    let mut rows: Vec<_> = answer
        .results
        .into_iter()
        .map(|t| (t.event, t.count, t.unique_users))
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn merges_resolved_by_two_workers_at_once_give_one_person_each() {
    let config = common::fresh_topic(6).await;
    let events = visitors();

    // The embedded default's answer: the same events, one pass, one resolver.
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = DuckDb::open(&DuckDbConfig::in_dir(reference_dir.path())).unwrap();
    let mut one_pass = events.clone();
    processor(&reference).process(&mut one_pass);
    processor(&reference)
        .resolve_persons(&mut one_pass)
        .unwrap();
    reference.insert_batch(Arc::new(one_pass)).await.unwrap();
    let expected = top_events(&reference).await;
    assert_eq!(
        expected,
        vec![
            ("$identify".to_owned(), VISITORS as u64, VISITORS as u64),
            ("page".to_owned(), 2 * VISITORS as u64, VISITORS as u64),
            ("signup".to_owned(), VISITORS as u64, VISITORS as u64),
        ],
        "one person per visitor"
    );
    let expected_funnel = funnel(&reference).await;
    assert_eq!(
        expected_funnel,
        vec![VISITORS as u64; 2],
        "every visitor converts"
    );

    // Both workers hold their partitions before the events arrive, so each
    // resolves its share of the merges while the other resolves the rest.
    let dir = tempfile::tempdir().unwrap();
    let db = DuckDb::open(&DuckDbConfig::in_dir(dir.path())).unwrap();
    let batching = Batching {
        max_batch: 64,
        linger: Duration::from_millis(5),
    };
    let workers: Vec<KafkaWorker> = (0..2)
        .map(|_| {
            KafkaWorker::start(
                &config,
                Arc::new(db.clone()),
                Some(slow_processor(&db)),
                batching,
            )
            .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !workers.iter().all(|w| w.assigned_partitions() > 0) {
        assert!(
            Instant::now() < deadline,
            "the group never split the partitions"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sink = KafkaSink::new(&config, QueueBudget::new(64 << 20, Duration::ZERO, 1)).unwrap();
    sink.send(events.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.stored_events() < events.len() {
        assert!(
            Instant::now() < deadline,
            "stored {} of {}",
            db.stored_events(),
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        top_events(&db).await,
        expected,
        "the embedded default's answer"
    );
    assert_eq!(
        funnel(&db).await,
        expected_funnel,
        "no visitor split in two"
    );
    for worker in workers {
        worker.stop().await;
    }
}
