//! Tally's scale-out queue: capture nodes produce validated events to an Apache
//! Kafka topic ([`KafkaSink`], an `EventSink` that answers only after the
//! broker's acknowledgement) and worker nodes consume them into the event store
//! through the embedded drain's stages ([`KafkaWorker`]). The record layout is in
//! [`record`]; settings and the `kafka://` URL in [`config`]; the live feed
//! across nodes (a second topic of stored events) in [`live`].

pub mod config;
pub mod live;
pub mod record;
mod sink;
mod worker;

pub use config::{ConfigError, KafkaConfig, KafkaSettings};
pub use live::{ensure_live_topic, LivePublisher, LiveSubscriber};
pub use sink::{KafkaSink, MAX_RECORD_BYTES};
pub use worker::{Batching, KafkaWorker};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// Creates the events topic with the configured partitions (replication: the
/// broker's default) if it does not exist; an existing topic is left as it is.
/// Returns whether it was created.
pub async fn ensure_topic(config: &KafkaConfig, timeout: Duration) -> Result<bool, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = config.client().create()?;
    let max_bytes = MAX_RECORD_BYTES.to_string();
    let topic = NewTopic::new(
        &config.settings.topic,
        config.settings.partitions,
        TopicReplication::Fixed(-1),
    )
    .set("max.message.bytes", &max_bytes);
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = admin.create_topics([&topic], &options).await?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => Ok(false),
        Some(Err((_, code))) => Err(KafkaError::AdminOp(code)),
    }
}
