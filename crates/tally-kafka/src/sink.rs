//! [`KafkaSink`]: the capture node's [`EventSink`]. Each event becomes one record
//! ([`crate::record`]), produced by an idempotent producer with `acks=all`.
//!
//! Guarantees:
//! - `send` returns `Ok` only after the broker acknowledged every event of the
//!   call (written to all in-sync replicas); if any of them was not, the whole
//!   call fails (`503`), and a client that sends them again has the ones that did
//!   arrive counted once (the store skips uuids it has).
//! - The wait is bounded: a broker that is down or slow fails the call after
//!   `delivery_timeout` (librdkafka's `message.timeout.ms`), never later.
//! - Memory is bounded: events hold their share of the capture byte budget
//!   ([`QueueBudget`]) from `send` until the broker answered for them, so the
//!   producer's queue never holds more than the budget.
//! - Nothing is written to local disk.

use crate::config::KafkaConfig;
use crate::record;
use async_trait::async_trait;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use std::sync::RwLock;
use std::time::Duration;
use tally_core::{Event, EventSink, SinkError, SinkReceipt, StoreError};
use tally_pipeline::QueueBudget;

pub struct KafkaSink {
    /// Replaced by a new one if it ever fails fatally (librdkafka's idempotent
    /// producer can, e.g. after its sequence numbers were lost with a broker).
    producer: RwLock<FutureProducer>,
    settings: ClientConfig,
    topic: String,
    budget: QueueBudget,
}

impl KafkaSink {
    /// A producer for the configured topic, admitting events under `budget`.
    /// Connects lazily: a broker that is down at start shows as 503s, not as a
    /// failed start.
    pub fn new(config: &KafkaConfig, budget: QueueBudget) -> Result<Self, KafkaError> {
        let mut client = config.client();
        let timeout_ms = config.settings.delivery_timeout_ms.to_string();
        client
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", &timeout_ms)
            // The Java client's partitioner: the same key, the same partition,
            // whichever client wrote it.
            .set("partitioner", "murmur2_random")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            // Events are at most 1 MiB as captured; their records a little more.
            .set("message.max.bytes", MAX_RECORD_BYTES.to_string())
            // The byte budget bounds what is queued; these only must not bind first.
            .set("queue.buffering.max.messages", "2000000")
            .set("queue.buffering.max.kbytes", "2097151");
        Ok(Self {
            producer: RwLock::new(client.create()?),
            settings: client,
            topic: config.settings.topic.clone(),
            budget,
        })
    }

    fn producer(&self) -> FutureProducer {
        self.producer.read().expect("not poisoned").clone()
    }

    /// After a failed delivery: a producer that failed fatally takes no more
    /// records, so it is replaced (capture recovers by itself).
    fn replace_if_fatal(&self, producer: &FutureProducer) {
        if let Some((code, reason)) = producer.client().fatal_error() {
            tracing::error!(?code, %reason, "kafka producer failed fatally; starting a new one");
            match self.settings.create() {
                Ok(fresh) => *self.producer.write().expect("not poisoned") = fresh,
                Err(err) => tracing::error!(%err, "could not start a new kafka producer"),
            }
        }
    }

    /// Waits up to `timeout` for what is queued to be delivered (at shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(err) = self.producer().flush(timeout) {
            tracing::warn!(%err, "kafka producer did not deliver everything before shutdown");
        }
    }
}

/// The largest record the producer sends; a topic Tally creates allows it.
pub const MAX_RECORD_BYTES: usize = 2 * 1024 * 1024;

#[async_trait]
impl EventSink for KafkaSink {
    async fn send(&self, events: Vec<Event>) -> Result<SinkReceipt, SinkError> {
        if events.is_empty() {
            return Ok(SinkReceipt::default());
        }
        let _permit = self.budget.admit(&events).await?;
        let producer = self.producer();
        let mut key = Vec::new();
        let mut value = Vec::new();
        let mut deliveries = Vec::with_capacity(events.len());
        for event in &events {
            record::key(event, &mut key);
            record::encode(event, &mut value);
            let produced =
                producer.send_result(FutureRecord::to(&self.topic).key(&key).payload(&value));
            match produced {
                Ok(delivery) => deliveries.push(delivery),
                // Its queue full (the budget should bind first) or the producer
                // failed: either way the client is told to come back.
                Err((err, _)) => {
                    tracing::warn!(%err, "kafka producer refused a record");
                    self.replace_if_fatal(&producer);
                    return Err(unavailable(format!("kafka producer: {err}")));
                }
            }
        }
        // Every record is answered by `message.timeout.ms` at the latest.
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((err, _))) => {
                    tracing::warn!(%err, events = events.len(), "kafka did not take events");
                    self.replace_if_fatal(&producer);
                    return Err(unavailable(format!("kafka: {err}")));
                }
                Err(_) => return Err(SinkError::Closed),
            }
        }
        Ok(SinkReceipt {
            accepted: events.len(),
        })
    }
}

fn unavailable(why: String) -> SinkError {
    SinkError::Store(StoreError::Unavailable(why))
}
