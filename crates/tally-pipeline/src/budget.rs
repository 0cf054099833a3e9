//! [`QueueBudget`]: the byte budget every capture sink admits events under.
//!
//! Guarantees: an admitted batch holds its share (approximate in-memory bytes,
//! in KiB units) until the returned permit is dropped — by the spool once the
//! events are stored, by the Kafka sink once the broker acknowledged them. When
//! the budget is spent, admission waits at most `admission_wait` for room, in
//! arrival order, and then fails with [`SinkError::Overloaded`] (HTTP 503 +
//! `Retry-After`), so a sink's queue never grows past the budget.

use std::sync::Arc;
use std::time::Duration;
use tally_core::{Event, SinkError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const UNIT: usize = 1024;

#[derive(Debug)]
pub struct QueueBudget {
    permits: Arc<Semaphore>,
    units: usize,
    retry_after_secs: u64,
    admission_wait: Duration,
}

impl QueueBudget {
    /// A budget of `max_bytes` (at least one unit).
    pub fn new(max_bytes: usize, admission_wait: Duration, retry_after_secs: u64) -> Self {
        let units = (max_bytes / UNIT).max(1);
        Self {
            permits: Arc::new(Semaphore::new(units)),
            units,
            retry_after_secs,
            admission_wait,
        }
    }

    /// Holds room for `events` until the permit is dropped, or sheds them.
    pub async fn admit(&self, events: &[Event]) -> Result<OwnedSemaphorePermit, SinkError> {
        let bytes: usize = events.iter().map(Event::approx_size).sum();
        let units = (bytes / UNIT + 1).min(self.units);
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        let overloaded = || SinkError::Overloaded {
            retry_after_secs: self.retry_after_secs,
        };
        match Arc::clone(&self.permits).try_acquire_many_owned(units) {
            Ok(permit) => Ok(permit),
            Err(_) if self.admission_wait.is_zero() => Err(overloaded()),
            // Tokio's semaphore hands freed permits to waiters in arrival order.
            Err(_) => tokio::time::timeout(
                self.admission_wait,
                Arc::clone(&self.permits).acquire_many_owned(units),
            )
            .await
            .map_err(|_| overloaded())?
            .map_err(|_| SinkError::Closed),
        }
    }

    /// Bytes of budget currently free, for metrics and tests.
    pub fn free_bytes(&self) -> usize {
        self.permits.available_permits() * UNIT
    }
}
