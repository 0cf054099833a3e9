//! [`SpooledSink`]: the embedded [`EventSink`]. Capture writes to an append-only,
//! checksummed log on local disk (the spool) and is acknowledged once that write is
//! synced; a drain task then stores the logged events in the event store in large
//! batches, and segments are deleted once everything in them is stored.
//!
//! Guarantees:
//! - `send` returns `Ok` only after its events are synced to the spool. Requests
//!   that arrive while a sync runs share the next one (group commit).
//! - Every acknowledged event reaches the store: the drain retries until the store
//!   takes it, and on start-up [`SpooledSink::start`] first stores whatever the
//!   spool still holds (a crash between sync and store). Storing twice is harmless
//!   because the store is idempotent on `(project_id, uuid)`.
//! - Memory and disk are bounded: an event holds part of a byte budget from `send`
//!   until it is stored; when the budget is spent, `send` waits at most
//!   `admission_wait` for room (in arrival order) and then fails with `Overloaded`
//!   (HTTP 503 + `Retry-After`). Waiting requests hold their bodies' share of the
//!   server's body budget, so the wait does not unbound memory either.
//! - Reads catch up: [`EventSink::settle`] waits until everything acknowledged
//!   before the call is stored, so a client reading after its own write sees it
//!   whenever the drain keeps up.

pub(crate) mod codec;
mod segments;

use crate::budget::QueueBudget;
use crate::enrich::Processor;
use crate::stages::{processed, store_until_done};
use async_trait::async_trait;
use segments::{SegmentId, SegmentWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tally_core::{
    Event, EventBatch, EventSink, EventStore, PreparedBatch, SinkError, SinkReceipt, StoreError,
};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit};

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// Where the segment files live.
    pub dir: PathBuf,
    /// Bytes of events (approximate, in memory) allowed between `send` and stored.
    pub max_queued_bytes: usize,
    /// Events per spool sync at most; more waiting requests go into the next one.
    pub max_sync_events: usize,
    /// Events per store insert at most. Large inserts are what make the store fast:
    /// DuckDB's cost per transaction is fixed, and from one row group (122,880 rows)
    /// up it writes the rows straight to the database file instead of its WAL.
    pub max_store_batch: usize,
    /// How long the drain gathers events after the first of a batch before it
    /// processes and stores them (fewer than `max_store_batch` so far). A store
    /// insert and a persons look-up cost about the same for 1,000 events as for
    /// 10,000, so under a load of single-event requests waiting a little saves
    /// most of the drain's CPU for capture. Events are durable (in the spool)
    /// before this; only when they become queryable moves. Zero: take what is
    /// there, never wait.
    pub store_linger: Duration,
    /// A segment that reaches this size is closed and the next one started.
    pub max_segment_bytes: u64,
    /// What `Retry-After` suggests when the budget is spent.
    pub retry_after_secs: u64,
    /// How long `send` waits for room in a spent budget before it sheds the
    /// request. Zero: shed at once. A short wait turns the drain's pauses into
    /// latency instead of a 503 that sends every client away for `Retry-After`
    /// (whole seconds) while the drain catches up and then idles.
    pub admission_wait: Duration,
    /// Turns events into rows on their way from the spool to the store (live and
    /// at recovery); `None` stores them as captured.
    pub processor: Option<Arc<Processor>>,
}

/// Events per store insert by default, for the spool's drain and a Kafka
/// worker alike: a little over one DuckDB row group (122,880 rows), which DuckDB
/// writes straight to the database file rather than to its WAL.
pub const DEFAULT_STORE_BATCH: usize = 131_072;

impl SpoolConfig {
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_queued_bytes: 256 * 1024 * 1024,
            max_sync_events: 100_000,
            max_store_batch: DEFAULT_STORE_BATCH,
            store_linger: Duration::ZERO,
            max_segment_bytes: 64 * 1024 * 1024,
            retry_after_secs: 1,
            admission_wait: Duration::ZERO,
            processor: None,
        }
    }
}

#[derive(Debug, Error)]
pub enum SpoolError {
    #[error("spool directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("storing events recovered from the spool: {0}")]
    Replay(#[from] StoreError),
}

/// What start-up found in the spool.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Events read back from segments left by the previous run.
    pub events: usize,
    /// Segments whose last record was cut short by a crash (never acknowledged).
    pub torn_tails: usize,
    /// Segments with damaged records, kept aside as `*.damaged` files.
    pub damaged: Vec<PathBuf>,
}

/// A request waiting for the spool.
struct Job {
    events: Vec<Event>,
    permit: OwnedSemaphorePermit,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Events synced to the spool, waiting to be stored.
struct Logged {
    events: Vec<Event>,
    _permit: OwnedSemaphorePermit,
    segment: SegmentId,
    seq: u64,
}

/// How far the spool and the store have got, as counts of spool syncs.
struct Progress {
    synced: AtomicU64,
    stored: watch::Sender<u64>,
}

pub struct SpooledSink {
    jobs: mpsc::UnboundedSender<Job>,
    budget: QueueBudget,
    progress: Arc<Progress>,
}

impl SpooledSink {
    /// Stores what the spool holds from an earlier run, then starts the spool
    /// writer thread and the drain task (on the current tokio runtime).
    pub async fn start(
        store: Arc<dyn EventStore>,
        config: SpoolConfig,
    ) -> Result<(Self, Recovery), SpoolError> {
        let io = |source| SpoolError::Io {
            path: config.dir.clone(),
            source,
        };
        std::fs::create_dir_all(&config.dir).map_err(io)?;
        let (recovery, next_id) = recover(&store, &config).await?;
        let dir = config.dir.clone();
        let max_segment = config.max_segment_bytes;
        let writer =
            tokio::task::spawn_blocking(move || SegmentWriter::create(&dir, next_id, max_segment))
                .await
                .map_err(|e| io(std::io::Error::other(e)))?
                .map_err(io)?;

        let progress = Arc::new(Progress {
            synced: AtomicU64::new(0),
            stored: watch::Sender::new(0),
        });
        let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
        let (logged_tx, logged_rx) = mpsc::unbounded_channel();
        tokio::spawn(drain_loop(
            store,
            config.processor.clone(),
            logged_rx,
            Arc::clone(&progress),
            config.dir.clone(),
            next_id,
            Batching {
                max_events: config.max_store_batch,
                linger: config.store_linger,
            },
        ));
        let sync_progress = Arc::clone(&progress);
        let max_sync_events = config.max_sync_events;
        std::thread::Builder::new()
            .name("tally-spool".into())
            .spawn(move || sync_loop(writer, jobs_rx, logged_tx, &sync_progress, max_sync_events))
            .map_err(io)?;

        // The channels are unbounded: the byte budget is what bounds them, since a
        // job cannot be queued without first holding its permits.
        let sink = Self {
            jobs: jobs_tx,
            budget: QueueBudget::new(
                config.max_queued_bytes,
                config.admission_wait,
                config.retry_after_secs,
            ),
            progress,
        };
        Ok((sink, recovery))
    }

    /// Bytes of budget currently free, for metrics and tests.
    pub fn free_bytes(&self) -> usize {
        self.budget.free_bytes()
    }
}

/// Stores every event in the spool's existing segments, then deletes them.
/// Returns the id the next segment gets.
async fn recover(
    store: &Arc<dyn EventStore>,
    config: &SpoolConfig,
) -> Result<(Recovery, SegmentId), SpoolError> {
    let dir = config.dir.clone();
    let io = |source| SpoolError::Io {
        path: dir.clone(),
        source,
    };
    let ids = segments::list_segments(&dir).map_err(io)?;
    let mut recovery = Recovery::default();
    let mut pending: Vec<Event> = Vec::new();
    for &id in &ids {
        let contents = segments::read_segment(&dir, id).map_err(io)?;
        let mut damaged = contents.stop == Some(codec::ScanStop::Corrupt);
        for payload in &contents.payloads {
            match codec::decode_batch(payload) {
                Ok(events) => {
                    recovery.events += events.len();
                    pending.extend(events);
                }
                Err(err) => {
                    tracing::error!(segment = id, %err, "undecodable spool record");
                    damaged = true;
                    break;
                }
            }
            if pending.len() >= config.max_store_batch {
                let (rows, prepared) = processed(
                    store,
                    config.processor.as_ref(),
                    std::mem::take(&mut pending),
                )
                .await;
                store.insert_prepared(rows, prepared).await?;
            }
        }
        if contents.stop == Some(codec::ScanStop::TornTail) {
            // The last write did not finish, so it was never acknowledged.
            tracing::warn!(
                segment = id,
                bytes = contents.unread_bytes,
                "spool segment ends in a partial record (an unfinished write); ignored"
            );
            recovery.torn_tails += 1;
        }
        if damaged {
            let kept = segments::set_aside(&dir, id).map_err(io)?;
            tracing::error!(
                segment = id,
                unread_bytes = contents.unread_bytes,
                kept = %kept.display(),
                "spool segment is damaged; its readable records were stored, the rest kept aside"
            );
            recovery.damaged.push(kept);
        }
    }
    if !pending.is_empty() {
        let (rows, prepared) = processed(store, config.processor.as_ref(), pending).await;
        store.insert_prepared(rows, prepared).await?;
    }
    let next_id = ids.last().map_or(1, |last| last + 1);
    segments::delete_segments(&dir, ids.first().copied().unwrap_or(next_id), next_id)
        .map_err(io)?;
    if recovery.events > 0 {
        tracing::info!(
            events = recovery.events,
            segments = ids.len(),
            "stored events recovered from the spool"
        );
    }
    Ok((recovery, next_id))
}

/// The spool writer: one thread, because each sync blocks on the disk.
fn sync_loop(
    mut writer: SegmentWriter,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    logged: mpsc::UnboundedSender<Logged>,
    progress: &Progress,
    max_sync_events: usize,
) {
    let mut frames = Vec::new();
    while let Some(first) = jobs.blocking_recv() {
        let mut n = first.events.len();
        let mut batch = vec![first];
        while n < max_sync_events {
            match jobs.try_recv() {
                Ok(job) => {
                    n += job.events.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        frames.clear();
        for job in &batch {
            codec::push_batch_frame(&mut frames, job.events.iter());
        }
        match writer.append(&frames) {
            Ok(segment) => {
                let seq = progress.synced.fetch_add(1, Ordering::AcqRel) + 1;
                for job in batch {
                    // Ordering of the two sends does not matter for safety: the
                    // events are durable already.
                    let _ = logged.send(Logged {
                        events: job.events,
                        _permit: job.permit,
                        segment,
                        seq,
                    });
                    // A client that went away just does not hear back.
                    let _ = job.reply.send(Ok(()));
                }
            }
            Err(err) => {
                tracing::error!(%err, requests = batch.len(), events = n, "spool write failed");
                for job in batch {
                    let _ = job.reply.send(Err(StoreError::Unavailable(format!(
                        "spool write failed: {err}"
                    ))));
                }
            }
        }
        // Keep a burst's buffers from pinning memory for good.
        if frames.capacity() > 64 * 1024 * 1024 {
            frames = Vec::new();
        }
    }
}

/// A drain batch processed and waiting to be stored: its rows, the budget they
/// hold until stored, and the last spool position they cover.
struct Processed {
    rows: EventBatch,
    /// The store's own work on `rows` done ahead (see [`EventStore::prepare`]).
    prepared: Option<PreparedBatch>,
    _permits: Vec<OwnedSemaphorePermit>,
    segment: SegmentId,
    seq: u64,
}

/// Moves spooled events into the store, oldest first, in large batches, in
/// two stages so one batch is processed (enriched, persons resolved) while the
/// one before is stored: on two cores that overlaps the processing's CPU with
/// the store's commit. The stages hand over in order through a channel of one,
/// so at most three batches are in flight, all within the byte budget (the
/// permits travel with them), and progress is reported in spool order.
async fn drain_loop(
    store: Arc<dyn EventStore>,
    processor: Option<Arc<Processor>>,
    logged: mpsc::UnboundedReceiver<Logged>,
    progress: Arc<Progress>,
    dir: PathBuf,
    first_live: SegmentId,
    batching: Batching,
) {
    let (processed_tx, processed_rx) = mpsc::channel::<Processed>(1);
    // Two: while one batch is stored and the next processed, the buffers of
    // the two before can be on their way back.
    let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<Event>>(2);
    let storing = tokio::spawn(store_loop(
        Arc::clone(&store),
        processed_rx,
        recycle_tx,
        progress,
        dir,
        first_live,
    ));
    process_loop(store, processor, logged, processed_tx, recycle_rx, batching).await;
    // The processing stage ended (the sink is gone): the store stage stores
    // what it was handed, then ends too.
    let _ = storing.await;
}

/// A batch that is half full or more gathers for up to this many lingers more
/// while events keep coming, each within a linger of the one before (the
/// drain's batch is then a full one under a heavy load). Its inserts are what
/// make the store fast: DuckDB writes an insert of one row group or more
/// straight to the database file, a smaller one to its WAL, which a checkpoint
/// rewrites later; with batches cut at the linger under a batch-100 load, 9 of
/// 36 were below a row group and a checkpoint stalled the writer for 3.1 s
/// (BENCHMARKS.md, session 20). When a burst ends, its last batch is stored a
/// linger after its last events, not three lingers after its first. A
/// trickle's batches (under half) wait one linger only.
const HALF_FULL_EXTRA_LINGERS: u32 = 2;

/// How the drain cuts batches: [`SpoolConfig::max_store_batch`] and
/// [`SpoolConfig::store_linger`].
#[derive(Debug, Clone, Copy)]
struct Batching {
    max_events: usize,
    linger: Duration,
}

/// Gathers logged events into batches of up to `max_events` (for up to
/// `linger` after a batch's first), processes them and has the store prepare
/// them, handing each to the store stage in order. A batch is gathered into a
/// buffer the store stage handed back when one fits (see [`batch_buffer`]).
async fn process_loop(
    store: Arc<dyn EventStore>,
    processor: Option<Arc<Processor>>,
    mut logged: mpsc::UnboundedReceiver<Logged>,
    processed_tx: mpsc::Sender<Processed>,
    mut recycled: mpsc::Receiver<Vec<Event>>,
    Batching { max_events, linger }: Batching,
) {
    loop {
        let first = match tokio::time::timeout(IDLE_BEFORE_RELEASE, logged.recv()).await {
            Ok(Some(first)) => first,
            Ok(None) => break,
            Err(_) => {
                // Idle: the buffers kept for the next large batch go back.
                release_kept_buffers(&mut recycled);
                match logged.recv().await {
                    Some(first) => first,
                    None => break,
                }
            }
        };
        let started = tokio::time::Instant::now();
        let one_linger_on = started + linger;
        let longest_gather = started + linger * (1 + HALF_FULL_EXTRA_LINGERS);
        let mut items = vec![first];
        let mut n = items[0].events.len();
        let mut last_arrival = started;
        while n < max_events {
            let item = match logged.try_recv() {
                Ok(item) => item,
                Err(mpsc::error::TryRecvError::Empty) if !linger.is_zero() => {
                    let until = if n >= max_events / 2 {
                        longest_gather.min(last_arrival + linger)
                    } else {
                        one_linger_on
                    };
                    match tokio::time::timeout_at(until, logged.recv()).await {
                        Ok(Some(item)) => item,
                        // Lingered long enough, or the sink is gone: store
                        // what is here (the outer loop then ends).
                        Ok(None) | Err(_) => break,
                    }
                }
                Err(_) => break,
            };
            n += item.events.len();
            items.push(item);
            last_arrival = tokio::time::Instant::now();
        }
        let gathered = std::time::Instant::now();
        let last = items.last().expect("one item at least");
        let (segment, seq) = (last.segment, last.seq);
        let mut events = batch_buffer(&mut recycled, n, max_events);
        let mut permits = Vec::with_capacity(items.len());
        for item in items {
            events.extend(item.events);
            permits.push(item._permit);
        }
        let (rows, prepared) = processed(&store, processor.as_ref(), events).await;
        let done = gathered.elapsed();
        let batch = Processed {
            rows,
            prepared,
            _permits: permits,
            segment,
            seq,
        };
        if processed_tx.send(batch).await.is_err() {
            return;
        }
        tracing::debug!(
            events = n,
            process_us = done.as_micros() as u64,
            handover_wait_us = (gathered.elapsed() - done).as_micros() as u64,
            "drain batch processed"
        );
    }
}

/// How long the drain waits for events before it lets go of the buffers it
/// keeps for the next large batch (a full batch's are tens of MB).
const IDLE_BEFORE_RELEASE: Duration = Duration::from_secs(1);

/// A buffer for a batch of `n` events: one the store stage emptied and handed
/// back, when it holds `n` and is not more than four times that (a burst's
/// buffers are let go once batches are small again), else a new one. A new
/// buffer for a full batch is memory the kernel faults in and zeroes page by
/// page while the batch is copied into it: under a batch-100 load that copy
/// with its page faults was 3.7 % of the server's samples, into reused
/// buffers 1.3 % (BENCHMARKS.md, session 20).
fn batch_buffer(
    recycled: &mut mpsc::Receiver<Vec<Event>>,
    n: usize,
    max_events: usize,
) -> Vec<Event> {
    match recycled.try_recv() {
        Ok(buffer) if buffer.capacity() >= n && buffer.capacity() / 4 <= n => buffer,
        // Batches under load are all large, but not of one size (a full one
        // ends with the request that reached `max_events`): buffers of one
        // size, with room, fit whichever comes next.
        _ if n >= max_events / 4 => Vec::with_capacity(n.max(max_events + max_events / 8)),
        _ => Vec::with_capacity(n),
    }
}

/// Frees the emptied buffers waiting to be reused; returns how many there were.
fn release_kept_buffers(recycled: &mut mpsc::Receiver<Vec<Event>>) -> usize {
    std::iter::from_fn(|| recycled.try_recv().ok()).count()
}

/// Stores processed batches in the order handed over, then reports them stored
/// and deletes the spool segments wholly stored. Each stored batch's buffer,
/// emptied, goes back to the processing stage (if it is not shared still).
async fn store_loop(
    store: Arc<dyn EventStore>,
    mut processed_rx: mpsc::Receiver<Processed>,
    recycle: mpsc::Sender<Vec<Event>>,
    progress: Arc<Progress>,
    dir: PathBuf,
    mut first_live: SegmentId,
) {
    while let Some(batch) = processed_rx.recv().await {
        let Processed {
            rows,
            prepared,
            _permits: permits,
            segment,
            seq,
        } = batch;
        store_until_done(store.as_ref(), Arc::clone(&rows), prepared).await;
        progress.stored.send_replace(seq);
        drop(permits);
        // Freeing a full batch's events is tens of milliseconds of CPU: not on
        // an async worker, where capture requests would wait behind it.
        let recycle = recycle.clone();
        tokio::task::spawn_blocking(move || {
            // The live feed may hold the batch a while longer: then it is
            // freed with its last holder.
            if let Ok(mut buffer) = Arc::try_unwrap(rows) {
                buffer.clear();
                // Beyond the buffers waiting already, one is freed here.
                let _ = recycle.try_send(buffer);
            }
        });
        if segment > first_live {
            // Every event in segments before `segment` is stored now.
            release(&dir, first_live, segment);
            first_live = segment;
        }
    }
}

fn release(dir: &Path, from: SegmentId, until: SegmentId) {
    if let Err(err) = segments::delete_segments(dir, from, until) {
        // Harmless beyond disk space: a later start-up stores them again, as
        // duplicates that the store skips.
        tracing::warn!(%err, from, until, "could not delete stored spool segments");
    }
}

#[async_trait]
impl EventSink for SpooledSink {
    async fn send(&self, events: Vec<Event>) -> Result<SinkReceipt, SinkError> {
        if events.is_empty() {
            return Ok(SinkReceipt::default());
        }
        let permit = self.budget.admit(&events).await?;
        let accepted = events.len();
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                events,
                permit,
                reply,
            })
            .map_err(|_| SinkError::Closed)?;
        answer.await.map_err(|_| SinkError::Closed)??;
        Ok(SinkReceipt { accepted })
    }

    async fn settle(&self, max_wait: Duration) {
        let target = self.progress.synced.load(Ordering::Acquire);
        let mut stored = self.progress.stored.subscribe();
        let _ = tokio::time::timeout(max_wait, stored.wait_for(|&s| s >= target)).await;
    }
}

#[cfg(test)]
mod tests;
