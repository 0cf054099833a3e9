//! The sharded store on two real ClickHouse servers (Debian's 18.16) on
//! loopback as the two shards of the cluster `tally`, which `scripts/test.sh`
//! starts: every conformance check answers as on one server through the
//! `Distributed` table, events are spread over both shards with each
//! person's on one, and a database made for the other layout is refused.

mod common;

use chrono::{Duration, TimeZone, Utc};
use std::collections::HashSet;
use tally_clickhouse::{ClickHouse, ClickHouseConfig};
use tally_core::{Event, EventStore};
use uuid::Uuid;

/// The whole query conformance suite, through the cluster.
mod conformance {
    tally_query::conformance_suite!(super::common::open_cluster().await);
}

/// (person id, events) of the events a shard keeps itself.
async fn kept_by(shard: &str, database: &str) -> Vec<(Option<i64>, u64)> {
    clickhouse::Client::default()
        .with_url(shard)
        .with_validation(false)
        .with_option("database", database)
        .query("SELECT person_id, count() FROM events_local GROUP BY person_id")
        .fetch_all()
        .await
        .unwrap()
}

#[tokio::test]
async fn events_spread_over_the_shards_each_persons_on_one() {
    let config = common::fresh_cluster_config();
    let store = ClickHouse::open(&config).await.unwrap();
    let start = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
    let events: Vec<Event> = (0..200)
        .map(|i| {
            let person = i % 40;
            let mut e = Event::new(
                1,
                Uuid::new_v4(),
                "$pageview",
                format!("u{person}"),
                start + Duration::seconds(i),
            );
            e.person_id = Some(person + 1);
            e
        })
        .collect();
    let outcome = store.insert_batch(events.clone().into()).await.unwrap();
    assert_eq!(outcome.inserted, 200);
    // Sent again (a worker's retry): every copy is found on its shard.
    let again = store.insert_batch(events.into()).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 200));

    let shards = common::cluster_shards();
    let mut persons_seen: HashSet<i64> = HashSet::new();
    let mut total = 0;
    for shard in &shards {
        let kept = kept_by(shard, &config.database).await;
        assert!(!kept.is_empty(), "{shard} keeps none of the events");
        for (person, n) in kept {
            let person = person.unwrap();
            assert_eq!(n, 5, "person {person}'s events are on one shard");
            assert!(persons_seen.insert(person), "person {person} on two shards");
            total += n;
        }
    }
    assert_eq!((total, persons_seen.len()), (200, 40));
}

#[tokio::test]
async fn a_database_made_for_the_other_layout_is_refused() {
    // Sharded first, then named as one server.
    let sharded = common::fresh_cluster_config();
    ClickHouse::open(&sharded).await.unwrap();
    let single = ClickHouseConfig {
        cluster: None,
        ..sharded.clone()
    };
    let err = ClickHouse::open(&single).await.err().unwrap().to_string();
    assert!(err.contains("sharded over a cluster"), "{err}");

    // One server first, then named as a cluster.
    let single = ClickHouseConfig {
        cluster: None,
        ..common::fresh_cluster_config()
    };
    ClickHouse::open(&single).await.unwrap();
    let sharded = ClickHouseConfig {
        cluster: sharded.cluster,
        ..single
    };
    let err = ClickHouse::open(&sharded).await.err().unwrap().to_string();
    assert!(err.contains("keeps its events on one server"), "{err}");
}
