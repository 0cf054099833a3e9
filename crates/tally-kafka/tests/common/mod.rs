//! Shared by the tally-kafka tests: the broker `scripts/test.sh` starts, and a
//! fresh topic and consumer group on it for each test.
#![allow(dead_code)]

use std::time::Duration;
use tally_kafka::{KafkaConfig, KafkaSettings};

/// `host:port` of the suite's broker; the tests fail with directions without it.
pub fn broker() -> String {
    std::env::var("TALLY_TEST_KAFKA_BOOTSTRAP").expect(
        "TALLY_TEST_KAFKA_BOOTSTRAP is not set: run the suite with `bash scripts/test.sh`, \
         which fetches Apache Kafka and starts a broker",
    )
}

/// A new topic of `partitions` partitions (created) with a group of its own.
pub async fn fresh_topic(partitions: u32) -> KafkaConfig {
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    let config = KafkaConfig::from_url(
        &format!(
            "kafka://{}/{name}?group_id={name}&partitions={partitions}",
            broker()
        ),
        &KafkaSettings::default(),
    )
    .unwrap();
    let created = tally_kafka::ensure_topic(&config, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(created, "a fresh topic is created");
    config
}
