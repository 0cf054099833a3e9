//! [`GroupCommitSink`]: the embedded [`EventSink`].
//!
//! Guarantees:
//! - `send` returns `Ok` only after the store's `insert_batch` holding those events
//!   returned `Ok`, i.e. after they are durable. Requests that arrive while a commit
//!   runs are gathered into the next one, so many requests share one fsync.
//! - Memory is bounded: events waiting for a commit are counted against a byte
//!   budget; when it is spent, `send` fails at once with `Overloaded` (HTTP 503 +
//!   `Retry-After`) instead of queueing.
//! - A failed commit fails every request in it; none of them is acknowledged.

use async_trait::async_trait;
use std::sync::Arc;
use tally_core::{Event, EventSink, EventStore, SinkError, SinkReceipt, StoreError};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone)]
pub struct GroupCommitConfig {
    /// Bytes of events (approximate, in memory) allowed to wait for a commit.
    pub max_queued_bytes: usize,
    /// Events per commit at most; more waiting requests go into the next one.
    pub max_commit_events: usize,
    /// What `Retry-After` suggests when the budget is spent.
    pub retry_after_secs: u64,
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        Self {
            max_queued_bytes: 256 * 1024 * 1024,
            max_commit_events: 100_000,
            retry_after_secs: 1,
        }
    }
}

const UNIT: usize = 1024;

struct Job {
    events: Vec<Event>,
    _permit: OwnedSemaphorePermit,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

pub struct GroupCommitSink {
    jobs: mpsc::UnboundedSender<Job>,
    budget: Arc<Semaphore>,
    budget_units: usize,
    retry_after_secs: u64,
}

impl GroupCommitSink {
    /// Starts the committer task on the current tokio runtime.
    pub fn spawn(store: Arc<dyn EventStore>, config: GroupCommitConfig) -> Self {
        // The channel itself is unbounded: the byte budget is what bounds it, since a
        // job cannot be queued without first holding its permits.
        let (tx, rx) = mpsc::unbounded_channel();
        let budget_units = (config.max_queued_bytes / UNIT).max(1);
        tokio::spawn(commit_loop(store, rx, config.max_commit_events));
        Self {
            jobs: tx,
            budget: Arc::new(Semaphore::new(budget_units)),
            budget_units,
            retry_after_secs: config.retry_after_secs,
        }
    }

    /// Bytes of budget currently free, for metrics and tests.
    pub fn free_bytes(&self) -> usize {
        self.budget.available_permits() * UNIT
    }
}

async fn commit_loop(
    store: Arc<dyn EventStore>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    max_commit_events: usize,
) {
    while let Some(first) = rx.recv().await {
        let mut n = first.events.len();
        let mut jobs = vec![first];
        while n < max_commit_events {
            match rx.try_recv() {
                Ok(job) => {
                    n += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut batch = Vec::with_capacity(n);
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            batch.extend(job.events);
            // The permit is released when `replies` is dropped, after the commit.
            replies.push((job.reply, job._permit));
        }
        let result = store.insert_batch(batch).await;
        if let Err(err) = &result {
            tracing::error!(%err, requests = replies.len(), events = n, "commit failed");
        }
        for (reply, _permit) in replies {
            let outcome = match &result {
                Ok(_) => Ok(()),
                Err(e) => Err(StoreError::Internal(e.to_string())),
            };
            // A client that went away just does not hear back; its events are stored.
            let _ = reply.send(outcome);
        }
    }
}

#[async_trait]
impl EventSink for GroupCommitSink {
    async fn send(&self, events: Vec<Event>) -> Result<SinkReceipt, SinkError> {
        if events.is_empty() {
            return Ok(SinkReceipt::default());
        }
        let bytes: usize = events.iter().map(Event::approx_size).sum();
        let units = (bytes / UNIT + 1).min(self.budget_units);
        let permit = Arc::clone(&self.budget)
            .try_acquire_many_owned(u32::try_from(units).unwrap_or(u32::MAX))
            .map_err(|_| SinkError::Overloaded {
                retry_after_secs: self.retry_after_secs,
            })?;
        let accepted = events.len();
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                events,
                _permit: permit,
                reply,
            })
            .map_err(|_| SinkError::Closed)?;
        answer.await.map_err(|_| SinkError::Closed)??;
        Ok(SinkReceipt { accepted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tally_core::InsertOutcome;
    use tokio::sync::Notify;

    /// An in-memory store for unit tests: records commit sizes, can be held shut.
    #[derive(Default)]
    struct Recorder {
        commits: Mutex<Vec<usize>>,
        gate: Option<Arc<Notify>>,
        fail: bool,
    }

    #[async_trait]
    impl EventStore for Recorder {
        async fn insert_batch(&self, events: Vec<Event>) -> Result<InsertOutcome, StoreError> {
            if let Some(gate) = &self.gate {
                gate.notified().await;
            }
            if self.fail {
                return Err(StoreError::Unavailable("disk gone".into()));
            }
            self.commits.lock().unwrap().push(events.len());
            Ok(InsertOutcome {
                inserted: events.len(),
                duplicates: 0,
            })
        }
        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
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
                e.properties = properties.clone();
                e
            })
            .collect()
    }

    #[tokio::test]
    async fn requests_waiting_during_a_commit_share_the_next_one() {
        let gate = Arc::new(Notify::new());
        let store = Arc::new(Recorder {
            gate: Some(gate.clone()),
            ..Default::default()
        });
        let sink = Arc::new(GroupCommitSink::spawn(
            store.clone(),
            GroupCommitConfig::default(),
        ));
        let first = tokio::spawn({
            let sink = sink.clone();
            async move { sink.send(events(1, 0)).await }
        });
        tokio::task::yield_now().await;
        let rest: Vec<_> = (0..10)
            .map(|_| {
                let sink = sink.clone();
                tokio::spawn(async move { sink.send(events(2, 0)).await })
            })
            .collect();
        // Let everything queue behind the held first commit, then open the gate twice.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        gate.notify_one();
        assert_eq!(first.await.unwrap().unwrap().accepted, 1);
        gate.notify_one();
        for r in rest {
            assert_eq!(r.await.unwrap().unwrap().accepted, 2);
        }
        assert_eq!(*store.commits.lock().unwrap(), vec![1, 20]);
    }

    #[tokio::test]
    async fn a_full_budget_sheds_instead_of_queueing() {
        let gate = Arc::new(Notify::new());
        let store = Arc::new(Recorder {
            gate: Some(gate.clone()),
            ..Default::default()
        });
        let config = GroupCommitConfig {
            max_queued_bytes: 64 * 1024,
            ..Default::default()
        };
        let sink = Arc::new(GroupCommitSink::spawn(store, config));
        let held = tokio::spawn({
            let sink = sink.clone();
            async move { sink.send(events(1, 40 * 1024)).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
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
        held.await.unwrap().unwrap();
        assert_eq!(
            sink.free_bytes(),
            64 * 1024,
            "the budget is returned after the commit"
        );
    }

    #[tokio::test]
    async fn a_failed_commit_is_not_acknowledged() {
        let store = Arc::new(Recorder {
            fail: true,
            ..Default::default()
        });
        let sink = GroupCommitSink::spawn(store, GroupCommitConfig::default());
        assert!(matches!(
            sink.send(events(3, 0)).await,
            Err(SinkError::Store(_))
        ));
    }
}
