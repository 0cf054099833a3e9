//! [`KafkaWorker`]: consumes the events topic as one member of the workers'
//! consumer group, and runs each batch through the same stages as the embedded
//! drain (`tally_pipeline::stages`: enrichment, persons, the store's
//! preparation, the insert) into any [`EventStore`].
//!
//! Guarantees:
//! - A partition's offset is committed only after every event before it was
//!   stored and its persons saved (the stages retry until they are). A worker
//!   killed at any moment, or a partition moved to another worker by a
//!   rebalance, is re-read from the last commit: events stored since come again
//!   and the store skips their uuids, so nothing is lost and nothing counted twice.
//! - A record this build cannot read because a newer Tally wrote it stops the
//!   worker (nothing after it is committed, `/ready` says why) rather than
//!   dropping it; a damaged record is logged with its partition and offset and
//!   skipped, since no version of Tally could store it.
//! - Batches are as large as the embedded drain's (`max_batch` events, gathered
//!   for up to `linger` after the first), and memory holds at most three batches
//!   (one being inserted, one processed and waiting, one being gathered) plus
//!   librdkafka's prefetch (`queued.max.messages.kbytes`).

use crate::config::KafkaConfig;
use crate::record::{self, RecordError};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tally_core::{Event, EventBatch, EventStore, PreparedBatch};
use tally_pipeline::{stages, Processor};
use tokio::sync::{mpsc, watch};

/// How a worker cuts batches (the embedded drain's settings).
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    pub max_batch: usize,
    pub linger: Duration,
}

/// How long the worker waits after a consumer error before it asks again.
const CONSUMER_ERROR_PAUSE: Duration = Duration::from_millis(200);

/// How often the lag is measured (and logged when large).
const LAG_EVERY: Duration = Duration::from_secs(5);

pub struct KafkaWorker {
    consumer: Arc<StreamConsumer>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    state: Arc<Shared>,
}

struct Shared {
    lag: AtomicU64,
    halted: Mutex<Option<String>>,
    max_ready_lag: u64,
}

const LAG_UNKNOWN: u64 = u64::MAX;

impl Shared {
    /// `Err` (why) when halted, or measured more than `max_ready_lag` behind.
    fn ready(&self) -> Result<(), String> {
        if let Some(why) = self.halted.lock().expect("not poisoned").clone() {
            return Err(why);
        }
        match self.lag.load(Ordering::Relaxed) {
            LAG_UNKNOWN => Ok(()),
            lag if lag > self.max_ready_lag => Err(format!(
                "{lag} events behind (more than {})",
                self.max_ready_lag
            )),
            _ => Ok(()),
        }
    }
}

impl KafkaWorker {
    /// Joins the consumer group and starts consuming into `store`.
    pub fn start(
        config: &KafkaConfig,
        store: Arc<dyn EventStore>,
        processor: Option<Arc<Processor>>,
        batching: Batching,
    ) -> Result<Self, KafkaError> {
        let mut client = config.client();
        client
            .set("group.id", &config.settings.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // A partition's events are gathered from its prefetch; this bounds it.
            .set("queued.max.messages.kbytes", "65536")
            .set(
                "fetch.message.max.bytes",
                crate::sink::MAX_RECORD_BYTES.to_string(),
            )
            .set("partition.assignment.strategy", "cooperative-sticky");
        let consumer: Arc<StreamConsumer> = Arc::new(client.create()?);
        consumer.subscribe(&[&config.settings.topic])?;
        let state = Arc::new(Shared {
            lag: AtomicU64::new(LAG_UNKNOWN),
            halted: Mutex::new(None),
            max_ready_lag: config.settings.max_ready_lag,
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(measure_lag(
            Arc::downgrade(&consumer),
            config.settings.topic.clone(),
            Arc::clone(&state),
        ));
        let task = tokio::spawn(consume_loop(
            Arc::clone(&consumer),
            config.settings.topic.clone(),
            store,
            processor,
            batching,
            stopped,
            Arc::clone(&state),
        ));
        Ok(Self {
            consumer,
            stop,
            task,
            state,
        })
    }

    /// Partitions the group has assigned to this worker now.
    pub fn assigned_partitions(&self) -> usize {
        self.consumer
            .assignment()
            .map(|list| list.count())
            .unwrap_or(0)
    }

    /// A check for `/ready`: `Ok` while consuming and at most `max_ready_lag`
    /// events behind; `Err` says why not. It lives as long as whoever holds it.
    pub fn readiness(&self) -> impl Fn() -> Result<(), String> + Send + Sync + 'static {
        let state = Arc::clone(&self.state);
        move || state.ready()
    }

    /// Stops at once, storing and committing nothing more, as a crash would
    /// (the consumer leaves the group when dropped). For tests of what a
    /// crash leaves behind; a node stops with [`Self::stop`].
    pub fn abort(self) {
        self.task.abort();
    }

    /// Stores and commits the batch in hand, then leaves the group.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Where each partition's next unstored record is: what a commit writes.
#[derive(Default)]
struct Positions(BTreeMap<i32, i64>);

impl Positions {
    fn consumed(&mut self, partition: i32, offset: i64) {
        let next = self.0.entry(partition).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }
}

/// Gathers, processes and stores batches in two stages, as the embedded drain
/// does: batch N+1 is gathered and processed (enrichment, persons, the store's
/// prepare) while batch N is inserted. Both stages run in this one task, so
/// aborting it stops both. Offsets are committed by the store stage, in order,
/// after each batch's insert.
async fn consume_loop(
    consumer: Arc<StreamConsumer>,
    topic: String,
    store: Arc<dyn EventStore>,
    processor: Option<Arc<Processor>>,
    batching: Batching,
    stopped: watch::Receiver<bool>,
    state: Arc<Shared>,
) {
    let (processed_tx, processed_rx) = mpsc::channel::<Processed>(1);
    tokio::join!(
        gather_and_process(
            &consumer,
            &store,
            processor.as_ref(),
            batching,
            stopped,
            &state,
            processed_tx
        ),
        store_and_commit(&consumer, &topic, &store, processed_rx),
    );
}

/// A batch processed and waiting for its insert, with the offsets that insert
/// lets the worker commit.
struct Processed {
    rows: EventBatch,
    prepared: Option<PreparedBatch>,
    positions: Positions,
}

async fn gather_and_process(
    consumer: &StreamConsumer,
    store: &Arc<dyn EventStore>,
    processor: Option<&Arc<Processor>>,
    Batching { max_batch, linger }: Batching,
    mut stopped: watch::Receiver<bool>,
    state: &Shared,
    processed: mpsc::Sender<Processed>,
) {
    loop {
        let mut events: Vec<Event> = Vec::new();
        let mut positions = Positions::default();
        let first = tokio::select! {
            message = consumer.recv() => message,
            _ = stopped.changed() => break,
        };
        let first = match first {
            Ok(message) => message,
            Err(err) => {
                // Broker and network errors: librdkafka reconnects by itself.
                tracing::warn!(%err, "kafka consumer error");
                tokio::time::sleep(CONSUMER_ERROR_PAUSE).await;
                continue;
            }
        };
        let mut halt = take(&first, &mut events, &mut positions);
        drop(first);
        let deadline = tokio::time::Instant::now() + linger;
        while halt.is_none() && events.len() < max_batch && !*stopped.borrow() {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(message)) => halt = take(&message, &mut events, &mut positions),
                // An error ends the batch early; the next one starts after a pause.
                Ok(Err(err)) => {
                    tracing::warn!(%err, "kafka consumer error");
                    break;
                }
                Err(_) => break,
            }
        }
        let (rows, prepared) = match events.is_empty() {
            // Skipped records only: their offsets are still committed.
            true => (EventBatch::default(), None),
            false => stages::processed(store, processor, events).await,
        };
        let batch = Processed {
            rows,
            prepared,
            positions,
        };
        if processed.send(batch).await.is_err() {
            break;
        }
        if let Some(why) = halt {
            tracing::error!(%why, "kafka worker stopped consuming");
            *state.halted.lock().expect("not poisoned") = Some(why);
            break;
        }
    }
}

async fn store_and_commit(
    consumer: &Arc<StreamConsumer>,
    topic: &str,
    store: &Arc<dyn EventStore>,
    mut processed: mpsc::Receiver<Processed>,
) {
    while let Some(batch) = processed.recv().await {
        if !batch.rows.is_empty() {
            let started = std::time::Instant::now();
            let n = batch.rows.len();
            stages::store_until_done(store.as_ref(), batch.rows, batch.prepared).await;
            tracing::debug!(
                events = n,
                ms = started.elapsed().as_millis() as u64,
                "kafka batch stored"
            );
        }
        commit(consumer, topic, batch.positions).await;
    }
}

/// Adds a received record's events to the batch; `Some(reason)` when the worker
/// must stop before this record.
fn take(
    message: &rdkafka::message::BorrowedMessage<'_>,
    events: &mut Vec<Event>,
    positions: &mut Positions,
) -> Option<String> {
    let (partition, offset) = (message.partition(), message.offset());
    match record::decode(message.payload().unwrap_or_default()) {
        Ok(decoded) => events.extend(decoded),
        Err(err @ RecordError::NewerVersion(_)) => {
            return Some(format!("partition {partition} offset {offset}: {err}"));
        }
        Err(err) => {
            tracing::error!(partition, offset, %err, "skipping an unreadable kafka record");
        }
    }
    positions.consumed(partition, offset);
    None
}

/// Commits `positions` (synchronously, so a clean stop leaves nothing to
/// re-read). A failed commit — the partition moved to another worker meanwhile —
/// only means its new owner stores some events again, which the store skips.
async fn commit(consumer: &Arc<StreamConsumer>, topic: &str, positions: Positions) {
    if positions.0.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for (&partition, &next) in &positions.0 {
        if let Err(err) = list.add_partition_offset(topic, partition, Offset::Offset(next)) {
            tracing::warn!(%err, partition, "kafka offset not committed");
        }
    }
    let consumer = Arc::clone(consumer);
    let committed =
        tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync)).await;
    match committed {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::warn!(%err, "kafka offsets not committed; another worker re-reads them")
        }
        Err(err) => tracing::warn!(%err, "kafka commit task failed"),
    }
}

/// Every [`LAG_EVERY`]: events between the group's committed offsets and the
/// end of each partition this worker holds, summed.
async fn measure_lag(consumer: std::sync::Weak<StreamConsumer>, topic: String, state: Arc<Shared>) {
    let mut logged_at = std::time::Instant::now();
    loop {
        tokio::time::sleep(LAG_EVERY).await;
        let Some(consumer) = consumer.upgrade() else {
            break;
        };
        let topic = topic.clone();
        let lag = tokio::task::spawn_blocking(move || lag_of(&consumer, &topic)).await;
        match lag {
            Ok(Ok(lag)) => {
                state.lag.store(lag, Ordering::Relaxed);
                if lag > 0 && logged_at.elapsed() >= Duration::from_secs(30) {
                    tracing::info!(lag, "kafka worker is behind");
                    logged_at = std::time::Instant::now();
                }
            }
            Ok(Err(err)) => tracing::debug!(%err, "kafka lag not measured"),
            Err(_) => break,
        }
    }
}

fn lag_of(consumer: &StreamConsumer, topic: &str) -> Result<u64, KafkaError> {
    let timeout = Duration::from_secs(2);
    let assigned = consumer.assignment()?;
    if assigned.count() == 0 {
        return Ok(0);
    }
    let committed = consumer.committed_offsets(assigned, timeout)?;
    let mut lag = 0u64;
    for element in committed.elements_for_topic(topic) {
        let (low, high) = consumer.fetch_watermarks(topic, element.partition(), timeout)?;
        let from = match element.offset() {
            Offset::Offset(o) => o,
            _ => low,
        };
        lag += u64::try_from(high - from).unwrap_or(0);
    }
    Ok(lag)
}
