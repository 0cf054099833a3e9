use super::*;
use std::sync::Mutex;
use tally_core::{EventBatch, InsertOutcome};
use tokio::sync::Notify;

/// An in-memory store for unit tests: records each insert, can be held shut or
/// made to fail a number of times.
#[derive(Default)]
struct Recorder {
    inserts: Mutex<Vec<Vec<uuid::Uuid>>>,
    gate: Option<Arc<Notify>>,
    failures_left: Mutex<u32>,
    /// Stored events flagged as bots (set by the processing stage).
    bots: Mutex<usize>,
    /// Stored events with a person (set by the processing stage).
    with_person: Mutex<usize>,
    /// Inserts that came with this store's preparation of the same events.
    prepared_inserts: Mutex<usize>,
}

impl Recorder {
    fn stored(&self) -> Vec<uuid::Uuid> {
        self.inserts.lock().unwrap().concat()
    }
    fn insert_sizes(&self) -> Vec<usize> {
        self.inserts.lock().unwrap().iter().map(Vec::len).collect()
    }
}

#[async_trait]
impl EventStore for Recorder {
    async fn insert_batch(&self, events: EventBatch) -> Result<InsertOutcome, StoreError> {
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        {
            let mut left = self.failures_left.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(StoreError::Unavailable("disk gone".into()));
            }
        }
        self.inserts
            .lock()
            .unwrap()
            .push(events.iter().map(|e| e.uuid).collect());
        *self.bots.lock().unwrap() += events.iter().filter(|e| e.is_bot).count();
        *self.with_person.lock().unwrap() +=
            events.iter().filter(|e| e.person_id.is_some()).count();
        Ok(InsertOutcome {
            inserted: events.len(),
            duplicates: 0,
        })
    }
    fn prepare(&self, events: &[Event]) -> Option<tally_core::PreparedBatch> {
        Some(Box::new(uuids(events)))
    }
    async fn insert_prepared(
        &self,
        events: EventBatch,
        prepared: Option<tally_core::PreparedBatch>,
    ) -> Result<InsertOutcome, StoreError> {
        let made_for = prepared.and_then(|p| p.downcast::<Vec<uuid::Uuid>>().ok());
        let outcome = self.insert_batch(Arc::clone(&events)).await?;
        if made_for.is_some_and(|uuids_prepared| *uuids_prepared == uuids(&events)) {
            *self.prepared_inserts.lock().unwrap() += 1;
        }
        Ok(outcome)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn delete_project(&self, _: tally_core::ProjectId) -> Result<u64, StoreError> {
        unimplemented!("the spool never deletes")
    }
}

fn events(n: usize, prop_bytes: usize) -> Vec<Event> {
    let mut properties = serde_json::Map::new();
    properties.insert(
        "blob".into(),
        serde_json::Value::String("x".repeat(prop_bytes)),
    );
    (0..n)
        .map(|i| {
            let mut e = Event::new(
                1,
                uuid::Uuid::new_v4(),
                "e",
                format!("u{i}"),
                chrono::Utc::now(),
            );
            e.properties = properties.clone().into();
            e
        })
        .collect()
}

fn uuids(events: &[Event]) -> Vec<uuid::Uuid> {
    events.iter().map(|e| e.uuid).collect()
}

async fn start(store: Arc<Recorder>, config: SpoolConfig) -> (Arc<SpooledSink>, Recovery) {
    let (sink, recovery) = SpooledSink::start(store, config).await.unwrap();
    (Arc::new(sink), recovery)
}

const LONG: Duration = Duration::from_secs(10);

#[tokio::test]
async fn acknowledged_events_are_stored_and_settle_waits_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Recorder::default());
    let (sink, _) = start(store.clone(), SpoolConfig::in_dir(dir.path())).await;
    let batch = events(5, 10);
    let expected = uuids(&batch);
    assert_eq!(sink.send(batch).await.unwrap().accepted, 5);
    sink.settle(LONG).await;
    assert_eq!(store.stored(), expected);
}

#[tokio::test]
async fn with_a_linger_requests_sent_apart_are_stored_in_one_insert() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Recorder::default());
    let config = SpoolConfig {
        store_linger: Duration::from_secs(1),
        ..SpoolConfig::in_dir(dir.path())
    };
    let (sink, _) = start(store.clone(), config).await;
    let mut expected = Vec::new();
    for _ in 0..3 {
        let batch = events(2, 0);
        expected.extend(uuids(&batch));
        // Acknowledged (durable in the spool) long before it is stored.
        assert_eq!(sink.send(batch).await.unwrap().accepted, 2);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    sink.settle(LONG).await;
    assert_eq!(store.insert_sizes(), [6], "gathered within the linger");
    assert_eq!(store.stored(), expected);
}

/// Inserts made of requests of the given sizes, each sent `gap` after the one
/// before, into a drain with a 0.4 s linger and batches of up to 10 events.
async fn inserts_of_requests_apart(sizes: &[usize], gap: Duration) -> Vec<usize> {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Recorder::default());
    let config = SpoolConfig {
        store_linger: Duration::from_millis(400),
        max_store_batch: 10,
        ..SpoolConfig::in_dir(dir.path())
    };
    let (sink, _) = start(store.clone(), config).await;
    for (i, &size) in sizes.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        sink.send(events(size, 0)).await.unwrap();
    }
    sink.settle(LONG).await;
    store.insert_sizes()
}

#[tokio::test]
async fn a_half_full_batch_gathers_past_one_linger_while_events_keep_coming() {
    // Each request half a linger after the one before; the last after the
    // first linger has passed, within three.
    let gap = Duration::from_millis(200);
    assert_eq!(inserts_of_requests_apart(&[5, 1, 1, 3], gap).await, [10]);
}

#[tokio::test]
async fn a_half_full_batch_is_stored_a_linger_after_events_stop() {
    let gap = Duration::from_millis(700);
    assert_eq!(inserts_of_requests_apart(&[5, 5], gap).await, [5, 5]);
}

#[tokio::test]
async fn a_small_batch_waits_one_linger_only() {
    let gap = Duration::from_millis(700);
    assert_eq!(inserts_of_requests_apart(&[4, 4], gap).await, [4, 4]);
}

#[tokio::test]
async fn requests_arriving_during_an_insert_are_stored_together_in_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Notify::new());
    let store = Arc::new(Recorder {
        gate: Some(gate.clone()),
        ..Default::default()
    });
    let (sink, _) = start(store.clone(), SpoolConfig::in_dir(dir.path())).await;
    // Acknowledged before the store has anything: the spool is what is durable.
    sink.send(events(1, 0)).await.unwrap();
    // Let the drain take that one request into an insert, which the gate holds.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..10 {
        sink.send(events(2, 0)).await.unwrap();
    }
    // While that insert is held, the processing stage holds at most two
    // batches (one handed over, one waiting to be): every other request that
    // arrived meanwhile goes into one batch after them.
    for _ in 0..4 {
        gate.notify_one();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sink.settle(LONG).await;
    let sizes = store.insert_sizes();
    assert_eq!(sizes[0], 1);
    assert_eq!(sizes.iter().sum::<usize>(), 21);
    assert!(sizes.len() <= 4, "{sizes:?}");
}

#[tokio::test]
async fn the_drain_hands_the_store_its_preparation_of_each_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Recorder::default());
    let (sink, _) = start(store.clone(), SpoolConfig::in_dir(dir.path())).await;
    for _ in 0..3 {
        sink.send(events(5, 10)).await.unwrap();
        sink.settle(LONG).await;
    }
    let inserts = store.insert_sizes().len();
    assert!(inserts >= 1);
    assert_eq!(*store.prepared_inserts.lock().unwrap(), inserts);
}

/// A sink with a 64 KiB budget over a store that inserts only when `gate` is
/// notified, one insert per notification.
async fn gated_sink(
    dir: &std::path::Path,
    admission_wait: Duration,
) -> (Arc<SpooledSink>, Arc<Recorder>, Arc<Notify>) {
    let gate = Arc::new(Notify::new());
    let store = Arc::new(Recorder {
        gate: Some(gate.clone()),
        ..Default::default()
    });
    let config = SpoolConfig {
        max_queued_bytes: 64 * 1024,
        admission_wait,
        ..SpoolConfig::in_dir(dir)
    };
    let (sink, _) = start(store.clone(), config).await;
    (sink, store, gate)
}

#[tokio::test]
async fn a_full_budget_sheds_until_the_store_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, _store, gate) = gated_sink(dir.path(), Duration::ZERO).await;
    sink.send(events(1, 40 * 1024)).await.unwrap();
    let shed = sink.send(events(1, 40 * 1024)).await;
    assert!(
        matches!(
            shed,
            Err(SinkError::Overloaded {
                retry_after_secs: 1
            })
        ),
        "{shed:?}"
    );
    gate.notify_one();
    sink.settle(LONG).await;
    assert_eq!(
        sink.free_bytes(),
        64 * 1024,
        "the budget is returned once stored"
    );
    sink.send(events(1, 40 * 1024)).await.unwrap();
}

#[tokio::test]
async fn a_full_budget_waits_for_room_up_to_the_admission_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, store, gate) = gated_sink(dir.path(), Duration::from_millis(300)).await;
    sink.send(events(1, 40 * 1024)).await.unwrap();

    // Nothing frees room within the wait: shed, as without one.
    let started = std::time::Instant::now();
    let shed = sink.send(events(1, 40 * 1024)).await;
    assert!(
        matches!(shed, Err(SinkError::Overloaded { .. })),
        "{shed:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "shed only after the wait"
    );

    // Room frees while a request waits: it is taken and acknowledged, not shed.
    let waiting = tokio::spawn({
        let sink = Arc::clone(&sink);
        async move { sink.send(events(1, 40 * 1024)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "waits while the budget is spent");
    gate.notify_one();
    let receipt = waiting
        .await
        .unwrap()
        .expect("admitted once the store caught up");
    assert_eq!(receipt.accepted, 1);
    gate.notify_one();
    sink.settle(LONG).await;
    assert_eq!(store.stored().len(), 2);
}

#[tokio::test]
async fn a_failing_store_is_retried_and_nothing_acknowledged_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Recorder {
        failures_left: Mutex::new(3),
        ..Default::default()
    });
    let (sink, _) = start(store.clone(), SpoolConfig::in_dir(dir.path())).await;
    let batch = events(4, 0);
    let expected = uuids(&batch);
    sink.send(batch).await.unwrap();
    sink.settle(LONG).await;
    assert_eq!(*store.failures_left.lock().unwrap(), 0);
    assert_eq!(store.stored(), expected);
}

/// Sends `n` requests to a sink whose store never answers, then drops it: what
/// a crash after the acknowledgement and before the store looks like on disk.
async fn crash_before_storing(dir: &Path, n: usize) -> Vec<uuid::Uuid> {
    let store = Arc::new(Recorder {
        gate: Some(Arc::new(Notify::new())),
        ..Default::default()
    });
    let config = SpoolConfig {
        max_segment_bytes: 2048,
        ..SpoolConfig::in_dir(dir)
    };
    let (sink, _) = start(store, config).await;
    let mut acked = Vec::new();
    for _ in 0..n {
        let batch = events(3, 100);
        acked.extend(uuids(&batch));
        sink.send(batch).await.unwrap();
    }
    acked
}

#[tokio::test]
async fn start_up_stores_what_the_previous_run_acknowledged_but_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let acked = crash_before_storing(dir.path(), 20).await;
    assert!(
        segments::list_segments(dir.path()).unwrap().len() > 1,
        "the test spans several segments"
    );

    let store = Arc::new(Recorder::default());
    let (_sink, recovery) = start(store.clone(), SpoolConfig::in_dir(dir.path())).await;
    assert_eq!(recovery.events, acked.len());
    assert_eq!(store.stored(), acked);
    // Recovered segments are gone; only the new, empty one is left.
    assert_eq!(segments::list_segments(dir.path()).unwrap().len(), 1);
}

#[tokio::test]
async fn a_partial_last_record_is_ignored_and_everything_before_it_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let acked = crash_before_storing(dir.path(), 2).await;
    let last = *segments::list_segments(dir.path()).unwrap().last().unwrap();
    let mut frame = Vec::new();
    codec::push_frame(&mut frame, b"a write the crash cut short");
    let path = segments::segment_path(dir.path(), last);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&frame[..frame.len() / 2]);
    std::fs::write(&path, bytes).unwrap();

    let store = Arc::new(Recorder::default());
    let (_sink, recovery) = start(store.clone(), SpoolConfig::in_dir(dir.path())).await;
    assert_eq!(recovery.torn_tails, 1);
    assert!(recovery.damaged.is_empty());
    assert_eq!(store.stored(), acked);
}

#[tokio::test]
async fn a_damaged_segment_is_kept_aside_and_its_intact_records_stored() {
    let dir = tempfile::tempdir().unwrap();
    let acked = crash_before_storing(dir.path(), 1).await;
    let first = segments::list_segments(dir.path()).unwrap()[0];
    let path = segments::segment_path(dir.path(), first);
    let mut bytes = std::fs::read(&path).unwrap();
    let mut garbage = Vec::new();
    codec::push_frame(&mut garbage, b"payload");
    let n = garbage.len();
    garbage[n - 1] ^= 0xff; // the checksum no longer matches
    bytes.extend_from_slice(&garbage);
    std::fs::write(&path, bytes).unwrap();

    let store = Arc::new(Recorder::default());
    let (_sink, recovery) = start(store.clone(), SpoolConfig::in_dir(dir.path())).await;
    assert_eq!(recovery.damaged.len(), 1);
    assert!(recovery.damaged[0].exists());
    assert_eq!(store.stored(), acked);
}

#[tokio::test]
async fn segments_are_deleted_once_their_events_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Recorder::default());
    let config = SpoolConfig {
        max_segment_bytes: 1024,
        ..SpoolConfig::in_dir(dir.path())
    };
    let (sink, _) = start(store.clone(), config).await;
    for _ in 0..30 {
        sink.send(events(2, 200)).await.unwrap();
        sink.settle(LONG).await;
    }
    assert_eq!(store.stored().len(), 60);
    // Each 1 KiB segment holds about two requests; all but the newest are stored.
    let left = segments::list_segments(dir.path()).unwrap();
    assert!(left.len() <= 2, "{left:?}");
}

#[tokio::test]
async fn events_are_processed_on_the_way_to_the_store_live_and_at_recovery() {
    let crawler = || {
        let mut batch = events(2, 10);
        for e in &mut batch {
            e.properties.insert(
                "$raw_user_agent".into(),
                serde_json::Value::String("Mozilla/5.0 (compatible; Googlebot/2.1)".into()),
            );
        }
        batch
    };
    let with_processor = |dir: &Path| SpoolConfig {
        processor: Some(Arc::new(crate::Processor::default())),
        ..SpoolConfig::in_dir(dir)
    };
    let dir = tempfile::tempdir().unwrap();
    // Acknowledged, then a crash before storing.
    {
        let gated = Arc::new(Recorder {
            gate: Some(Arc::new(Notify::new())),
            ..Default::default()
        });
        let (sink, _) = start(gated, with_processor(dir.path())).await;
        sink.send(crawler()).await.unwrap();
    }
    let store = Arc::new(Recorder::default());
    let (sink, recovery) = start(store.clone(), with_processor(dir.path())).await;
    assert_eq!(recovery.events, 2);
    assert_eq!(*store.bots.lock().unwrap(), 2, "processed at recovery");
    sink.send(crawler()).await.unwrap();
    sink.settle(Duration::from_secs(5)).await;
    assert_eq!(*store.bots.lock().unwrap(), 4, "processed live");
    // Without a processor, events are stored as captured.
    let plain = Arc::new(Recorder::default());
    let (sink, _) = start(
        plain.clone(),
        SpoolConfig::in_dir(tempfile::tempdir().unwrap().path()),
    )
    .await;
    sink.send(crawler()).await.unwrap();
    sink.settle(Duration::from_secs(5)).await;
    assert_eq!(plain.stored().len(), 2);
    assert_eq!(*plain.bots.lock().unwrap(), 0);
}

/// A spool in `dir` whose processing resolves persons in `persons`.
fn resolving_persons(
    dir: &tempfile::TempDir,
    persons: &Arc<crate::persons::memory::MemoryPersons>,
) -> SpoolConfig {
    SpoolConfig {
        processor: Some(Arc::new(
            crate::Processor::default().with_persons(persons.clone()),
        )),
        ..SpoolConfig::in_dir(dir.path())
    }
}

#[tokio::test]
async fn a_failing_person_store_is_retried_and_nothing_acknowledged_is_dropped() {
    use crate::persons::memory::MemoryPersons;
    let persons = Arc::new(MemoryPersons::default());
    persons.state.lock().unwrap().fail_saves = true;
    let store = Arc::new(Recorder::default());
    let dir = tempfile::tempdir().unwrap();
    let (sink, _) = start(store.clone(), resolving_persons(&dir, &persons)).await;
    sink.send(events(3, 10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(store.stored().is_empty(), "not stored while persons fail");
    persons.state.lock().unwrap().fail_saves = false;
    sink.settle(Duration::from_secs(10)).await;
    assert_eq!(store.stored().len(), 3);
    assert_eq!(*store.with_person.lock().unwrap(), 3);
}

#[tokio::test]
async fn the_next_batch_is_processed_while_one_is_stored() {
    use crate::persons::memory::MemoryPersons;
    let persons = Arc::new(MemoryPersons::default());
    let gate = Arc::new(Notify::new());
    let store = Arc::new(Recorder {
        gate: Some(gate.clone()),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let (sink, _) = start(store.clone(), resolving_persons(&dir, &persons)).await;
    sink.send(events(1, 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The first insert is held; the next request's person is resolved anyway.
    let mut next = events(1, 0);
    next[0].distinct_id = "later".into();
    sink.send(next).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(store.stored().is_empty(), "the gate holds the first insert");
    assert!(
        persons.person_of(1, "later").is_some(),
        "processed meanwhile"
    );
    gate.notify_one();
    gate.notify_one();
    sink.settle(LONG).await;
    assert_eq!(store.insert_sizes(), vec![1, 1]);
}

#[test]
fn a_handed_back_buffer_is_reused_when_it_fits_the_batch() {
    let (tx, mut rx) = mpsc::channel::<Vec<Event>>(1);
    let buffer = Vec::with_capacity(1000);
    let address = buffer.as_ptr();
    tx.try_send(buffer).unwrap();
    let reused = batch_buffer(&mut rx, 900, 1000);
    assert_eq!(reused.as_ptr(), address);
    assert!(reused.is_empty());
}

#[test]
fn a_handed_back_buffer_too_small_or_far_too_large_is_let_go() {
    let (tx, mut rx) = mpsc::channel::<Vec<Event>>(1);
    tx.try_send(Vec::with_capacity(100)).unwrap();
    assert!(batch_buffer(&mut rx, 101, 1000).capacity() >= 101);
    // A burst's buffer is not kept for a trickle of small batches.
    tx.try_send(Vec::with_capacity(1000)).unwrap();
    assert_eq!(batch_buffer(&mut rx, 10, 1000).capacity(), 10);
    assert!(rx.try_recv().is_err(), "each buffer is taken once");
}

#[test]
fn kept_buffers_are_all_released() {
    let (tx, mut rx) = mpsc::channel::<Vec<Event>>(2);
    tx.try_send(Vec::with_capacity(10)).unwrap();
    tx.try_send(Vec::with_capacity(10)).unwrap();
    assert_eq!(release_kept_buffers(&mut rx), 2);
    assert!(rx.try_recv().is_err());
    assert_eq!(release_kept_buffers(&mut rx), 0);
}

#[test]
fn new_buffers_for_large_batches_have_room_for_the_next_full_batch() {
    let (_tx, mut rx) = mpsc::channel::<Vec<Event>>(1);
    let full = batch_buffer(&mut rx, 1010, 1000);
    assert!(full.capacity() >= 1125, "{}", full.capacity());
    // Large batches get buffers of one size, small ones what they need.
    assert_eq!(batch_buffer(&mut rx, 250, 1000).capacity(), 1125);
    assert_eq!(batch_buffer(&mut rx, 249, 1000).capacity(), 249);
}

#[tokio::test]
async fn the_store_stage_hands_stored_batches_buffers_back_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Recorder::default());
    let (sink, _) = SpooledSink::start(store.clone(), SpoolConfig::in_dir(dir.path()))
        .await
        .unwrap();
    let first = events(3, 10);
    let second = events(2, 10);
    sink.send(first.clone()).await.unwrap();
    sink.settle(Duration::from_secs(5)).await;
    // The first batch's buffer is emptied and handed back off the async
    // workers, after the batch is reported stored: give that a moment, so that
    // the second batch is gathered in it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sink.send(second.clone()).await.unwrap();
    sink.settle(Duration::from_secs(5)).await;
    // Whatever buffer the second batch was gathered in, it held only its own events.
    let uuids = |events: &[Event]| events.iter().map(|e| e.uuid).collect::<Vec<_>>();
    assert_eq!(
        *store.inserts.lock().unwrap(),
        vec![uuids(&first), uuids(&second)]
    );
}
