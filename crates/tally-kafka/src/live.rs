//! The live feed across nodes: the worker that stored a batch hands it to a
//! second topic (`<topic>.live`, [`LivePublisher`]), and every API node reads
//! that topic from its newest record on into its own in-process feed
//! ([`LiveSubscriber`]), so a viewer on any API node sees what any worker
//! stored, enriched and with its person, as on the embedded default.
//!
//! - Best effort, as the feed itself is: storing never waits for this topic,
//!   a record the broker does not take is dropped (and logged), and an API
//!   node that starts reads from the newest record on (the feed shows what
//!   happens while a viewer watches, it replays nothing).
//! - A record holds up to [`EVENTS_PER_RECORD`] events of one stored batch and
//!   at most [`RECORD_BYTES`]: one version byte, then the events as a JSON
//!   array with every stored column (`is_bot`, `person_id`: the capture
//!   records carry neither). A newer version is skipped, not guessed at.
//! - Every API node reads every partition: a consumer group of its own
//!   (`<group_id>-live-<random>`), committing nothing.
//! - The topic keeps an hour of records (`retention.ms`): nobody reads it later.

use crate::config::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;
use tally_core::Event;

/// What the live topic's name adds to the events topic's.
pub const LIVE_TOPIC_SUFFIX: &str = ".live";

/// Events per record at most.
pub const EVENTS_PER_RECORD: usize = 256;

/// Bytes per record at most (the topic is made to take 2 MiB).
pub const RECORD_BYTES: usize = 1 << 20;

/// The version byte this build writes.
const VERSION: u8 = 1;

/// The live topic of this deployment.
pub fn live_topic(config: &KafkaConfig) -> String {
    format!("{}{LIVE_TOPIC_SUFFIX}", config.settings.topic)
}

/// Creates the live topic (as many partitions as the events topic, an hour of
/// retention) if it does not exist; returns whether it was created.
pub async fn ensure_live_topic(
    config: &KafkaConfig,
    timeout: Duration,
) -> Result<bool, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = config.client().create()?;
    let name = live_topic(config);
    let max_bytes = crate::MAX_RECORD_BYTES.to_string();
    let topic = NewTopic::new(
        &name,
        config.settings.partitions,
        TopicReplication::Fixed(-1),
    )
    .set("max.message.bytes", &max_bytes)
    .set("retention.ms", "3600000");
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = admin.create_topics([&topic], &options).await?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => Ok(false),
        Some(Err((_, code))) => Err(KafkaError::AdminOp(code)),
    }
}

/// The records of `events`: each a version byte and a JSON array, within
/// [`EVENTS_PER_RECORD`] and [`RECORD_BYTES`] (an event larger than that
/// alone is left out).
pub fn encode(events: &[Event]) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    let (mut record, mut count) = (vec![VERSION, b'['], 0);
    for event in events {
        let Ok(json) = serde_json::to_vec(event) else {
            continue;
        };
        if json.len() + 3 > RECORD_BYTES {
            tracing::warn!(uuid = %event.uuid, bytes = json.len(), "event too large for the live topic");
            continue;
        }
        if count == EVENTS_PER_RECORD || record.len() + json.len() + 2 > RECORD_BYTES {
            record.push(b']');
            records.push(std::mem::replace(&mut record, vec![VERSION, b'[']));
            count = 0;
        }
        if count > 0 {
            record.push(b',');
        }
        record.extend_from_slice(&json);
        count += 1;
    }
    if count > 0 {
        record.push(b']');
        records.push(record);
    }
    records
}

/// The events of a live record; `None` for a version this build does not
/// read or a damaged record.
pub fn decode(value: &[u8]) -> Option<Vec<Event>> {
    match value.split_first() {
        Some((&VERSION, body)) => serde_json::from_slice(body).ok(),
        _ => None,
    }
}

/// A worker's side: hands stored batches to the live topic.
pub struct LivePublisher {
    producer: FutureProducer,
    topic: String,
}

impl LivePublisher {
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaError> {
        let mut client = config.client();
        client
            .set("linger.ms", "20")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "5000")
            .set("message.max.bytes", crate::MAX_RECORD_BYTES.to_string())
            // A broker that is away must not grow this queue without end.
            .set("queue.buffering.max.kbytes", "65536");
        Ok(Self {
            producer: client.create()?,
            topic: live_topic(config),
        })
    }

    /// Queues `events` for the live topic without waiting for the broker.
    pub fn publish(&self, events: &[Event]) {
        for value in encode(events) {
            let record = FutureRecord::<(), _>::to(&self.topic).payload(&value);
            if let Err((err, _)) = self.producer.send_result(record) {
                tracing::debug!(%err, "live record dropped");
            }
        }
    }
}

/// An API node's side: reads the live topic into `on_events` until dropped.
pub struct LiveSubscriber {
    task: tokio::task::JoinHandle<()>,
}

impl LiveSubscriber {
    pub fn start(
        config: &KafkaConfig,
        on_events: impl Fn(Vec<Event>) + Send + Sync + 'static,
    ) -> Result<Self, KafkaError> {
        let mut client = config.client();
        let group = format!("{}-live-{:016x}", config.settings.group_id, rand_suffix());
        client
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "latest")
            .set(
                "fetch.message.max.bytes",
                crate::MAX_RECORD_BYTES.to_string(),
            );
        let consumer: StreamConsumer = client.create()?;
        consumer.subscribe(&[&live_topic(config)])?;
        let task = tokio::spawn(async move {
            loop {
                match consumer.recv().await {
                    Ok(message) => match message.payload().and_then(decode) {
                        Some(events) => on_events(events),
                        None => tracing::debug!("unreadable live record skipped"),
                    },
                    Err(err) => {
                        tracing::debug!(%err, "reading the live topic");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Self { task })
    }
}

impl Drop for LiveSubscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A random number for the subscriber's own group (no two nodes share one).
fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event(n: usize, size: usize) -> Event {
        let mut e = Event::new(
            1,
            uuid::Uuid::new_v4(),
            "$pageview",
            format!("u{n}"),
            chrono::Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap(),
        );
        e.person_id = Some(7);
        e.is_bot = n.is_multiple_of(2);
        e.properties
            .insert("pad".into(), serde_json::json!("x".repeat(size)));
        e
    }

    #[test]
    fn records_give_back_every_stored_column_within_their_limits() {
        let events: Vec<Event> = (0..600).map(|n| event(n, 10)).collect();
        let records = encode(&events);
        assert_eq!(records.len(), 3, "256 + 256 + 88 events");
        let back: Vec<Event> = records.iter().flat_map(|r| decode(r).unwrap()).collect();
        assert_eq!(back, events);

        let big: Vec<Event> = (0..5).map(|n| event(n, 400_000)).collect();
        let records = encode(&big);
        assert!(records.iter().all(|r| r.len() <= RECORD_BYTES));
        assert_eq!(records.len(), 3, "two of 400 kB fit in a record");
        let too_big = vec![event(0, RECORD_BYTES)];
        assert!(encode(&too_big).is_empty());
        assert_eq!(decode(&[2, b'[', b']']), None, "a newer version is skipped");
    }
}
