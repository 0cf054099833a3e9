//! The client and its sender task.

use crate::event::Event;
use crate::layer::{TallyLayer, TrackLayer};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How to reach Tally and how to batch.
#[derive(Debug, Clone)]
pub struct Config {
    /// e.g. `http://127.0.0.1:8000`.
    pub server_url: String,
    /// The project's ingest key (`tly_ing_…`).
    pub api_key: String,
    /// A batch smaller than `max_batch` is sent after this long.
    pub flush_interval: Duration,
    /// Events per request, at most (Tally takes up to 1000).
    pub max_batch: usize,
    /// Events waiting to be sent, at most; more are dropped and counted.
    pub max_queue: usize,
    /// Tries of a batch beyond the first before it is given up and counted.
    pub max_retries: u32,
    pub request_timeout: Duration,
    /// First wait between tries; doubles each time up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_url: "http://127.0.0.1:8000".into(),
            api_key: String::new(),
            flush_interval: Duration::from_secs(2),
            max_batch: 100,
            max_queue: 10_000,
            max_retries: 8,
            request_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// What happened to the events emitted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Acknowledged by Tally.
    pub sent: u64,
    /// Not queued: the queue was full or the client closed.
    pub dropped: u64,
    /// Given up after the retries, or refused by Tally.
    pub failed: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

enum Control {
    /// Send everything queued before this, then answer.
    Flush(oneshot::Sender<()>),
    /// Flush, then stop.
    Close(oneshot::Sender<()>),
}

/// A handle to the sender; cheap to clone, shared by every clone.
#[derive(Clone)]
pub struct Client {
    events: mpsc::Sender<Event>,
    control: mpsc::UnboundedSender<Control>,
    counters: Arc<Counters>,
}

impl Client {
    /// Starts the sender: on the current Tokio runtime when there is one, else on
    /// a thread of its own.
    pub fn new(config: Config) -> Self {
        let (events, events_rx) = mpsc::channel(config.max_queue.max(1));
        let (control, control_rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let sender = Sender {
            http: reqwest::Client::builder()
                .timeout(config.request_timeout)
                .build()
                .unwrap_or_default(),
            endpoint: format!("{}/api/v1/capture", config.server_url.trim_end_matches('/')),
            config,
            counters: Arc::clone(&counters),
        };
        let task = sender.run(events_rx, control_rx);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(task);
            }
            Err(_) => {
                std::thread::Builder::new()
                    .name("tally-client".into())
                    .spawn(move || {
                        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            rt.block_on(task);
                        }
                    })
                    .map(drop)
                    .unwrap_or_else(|e| tracing::error!(%e, "tally client: no sender thread"));
            }
        }
        Self {
            events,
            control,
            counters,
        }
    }

    /// Queues an event. Never blocks, never panics; `false` when it was dropped.
    pub fn emit(&self, event: Event) -> bool {
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(_) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Waits until every event emitted before this call is sent or given up.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.control.send(Control::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Flushes, then stops the sender; later events are dropped.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.control.send(Control::Close(done)).is_ok() {
            let _ = wait.await;
        }
    }

    pub fn stats(&self) -> Stats {
        Stats {
            sent: self.counters.sent.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
        }
    }

    /// A tower layer recording one event per request; see [`TallyLayer`].
    pub fn layer(&self) -> TallyLayer {
        TallyLayer::new(self.clone())
    }

    /// A tower layer recording the named event for each request to the routes
    /// it wraps; see [`TrackLayer`].
    pub fn track(&self, event: impl Into<String>) -> TrackLayer {
        TrackLayer::new(self.clone(), event.into())
    }
}

struct Sender {
    http: reqwest::Client,
    endpoint: String,
    config: Config,
    counters: Arc<Counters>,
}

impl Sender {
    async fn run(
        self,
        mut events: mpsc::Receiver<Event>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let mut batch: Vec<Event> = Vec::new();
        let mut tick = tokio::time::interval(self.config.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => {
                        batch.push(event);
                        if batch.len() >= self.config.max_batch {
                            self.send(std::mem::take(&mut batch)).await;
                        }
                    }
                    // Every client handle is gone: deliver what is left and stop.
                    None => {
                        self.send_all(&mut batch, &mut events).await;
                        return;
                    }
                },
                _ = tick.tick() => {
                    if !batch.is_empty() {
                        self.send(std::mem::take(&mut batch)).await;
                    }
                }
                command = control.recv() => {
                    self.send_all(&mut batch, &mut events).await;
                    match command {
                        Some(Control::Flush(done)) => {
                            let _ = done.send(());
                        }
                        Some(Control::Close(done)) => {
                            events.close();
                            self.send_all(&mut batch, &mut events).await;
                            let _ = done.send(());
                            return;
                        }
                        None => {}
                    }
                }
            }
        }
    }

    /// Sends the batch and everything already queued, in `max_batch` chunks.
    async fn send_all(&self, batch: &mut Vec<Event>, events: &mut mpsc::Receiver<Event>) {
        while let Ok(event) = events.try_recv() {
            batch.push(event);
        }
        for chunk in std::mem::take(batch).chunks(self.config.max_batch.max(1)) {
            self.send(chunk.to_vec()).await;
        }
    }

    async fn send(&self, batch: Vec<Event>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let body = match gzipped(&serde_json::json!({ "batch": batch })) {
            Ok(body) => body,
            Err(err) => {
                tracing::warn!(%err, "tally client: batch not encodable");
                self.counters.failed.fetch_add(n, Ordering::Relaxed);
                return;
            }
        };
        let mut attempt = 0u32;
        loop {
            let result = self
                .http
                .post(&self.endpoint)
                .header("x-api-key", &self.config.api_key)
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(body.clone())
                .send()
                .await;
            let retry_after = match result {
                Ok(r) if r.status().is_success() => {
                    let rejected = r
                        .json::<serde_json::Value>()
                        .await
                        .ok()
                        .and_then(|v| v["rejected"].as_array().map(|a| a.len() as u64))
                        .unwrap_or(0);
                    self.counters
                        .sent
                        .fetch_add(n - rejected.min(n), Ordering::Relaxed);
                    self.counters
                        .failed
                        .fetch_add(rejected.min(n), Ordering::Relaxed);
                    return;
                }
                Ok(r) if r.status().as_u16() != 429 && !r.status().is_server_error() => {
                    tracing::warn!(status = %r.status(), "tally client: batch refused");
                    self.counters.failed.fetch_add(n, Ordering::Relaxed);
                    return;
                }
                Ok(r) => r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_secs),
                Err(err) => {
                    tracing::debug!(%err, "tally client: send failed");
                    None
                }
            };
            attempt += 1;
            if attempt > self.config.max_retries {
                tracing::warn!(events = n, "tally client: giving up on a batch");
                self.counters.failed.fetch_add(n, Ordering::Relaxed);
                return;
            }
            let backoff = self
                .config
                .backoff_base
                .saturating_mul(2u32.saturating_pow(attempt - 1))
                .min(self.config.backoff_max);
            tokio::time::sleep(retry_after.map_or(backoff, |r| r.max(backoff))).await;
        }
    }
}

fn gzipped(value: &serde_json::Value) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    serde_json::to_writer(&mut encoder, value)?;
    encoder.flush()?;
    encoder.finish()
}
