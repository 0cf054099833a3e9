//! Shared by the ClickHouse crate's tests: a fresh database on the throw-away
//! server `scripts/test.sh` starts (`TALLY_TEST_CLICKHOUSE_URL`, its HTTP URL).

// Each test file uses part of these.
#![allow(dead_code)]

use tally_clickhouse::{ClickHouse, ClickHouseConfig};

/// The `clickhouse://` URL of a database no other test uses.
pub fn fresh_url() -> String {
    let http = std::env::var("TALLY_TEST_CLICKHOUSE_URL").expect(
        "TALLY_TEST_CLICKHOUSE_URL is not set: run the tests with scripts/test.sh, which starts ClickHouse",
    );
    let authority = http.trim_start_matches("http://").trim_end_matches('/');
    format!(
        "clickhouse://{authority}/t_{}",
        uuid::Uuid::new_v4().simple()
    )
}

/// The settings of a fresh database. With `TALLY_TEST_CLICKHOUSE_RECORD` set
/// (`scripts/test.sh` sets it), every statement the store sends is appended to
/// that file, for `scripts/clickhouse/replay.py` to replay on ClickHouse 26.
pub fn fresh_config() -> ClickHouseConfig {
    let mut config = ClickHouseConfig::from_url(&fresh_url()).unwrap();
    config.record_to = std::env::var_os("TALLY_TEST_CLICKHOUSE_RECORD").map(Into::into);
    config
}

/// A store on a fresh, migrated database.
pub async fn open() -> (ClickHouse, ()) {
    let config = fresh_config();
    (ClickHouse::open(&config).await.unwrap(), ())
}

/// The HTTP URLs of the two servers `scripts/test.sh` starts as the shards of
/// the cluster `tally`.
pub fn cluster_shards() -> Vec<String> {
    std::env::var("TALLY_TEST_CLICKHOUSE_CLUSTER")
        .expect(
            "TALLY_TEST_CLICKHOUSE_CLUSTER is not set: run the tests with scripts/test.sh, \
             which starts a two-shard ClickHouse cluster",
        )
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The settings of a fresh database sharded over that cluster, entered
/// through its first shard.
pub fn fresh_cluster_config() -> ClickHouseConfig {
    let shards = cluster_shards();
    let authority = |url: &str| {
        url.trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    };
    let list: Vec<String> = shards.iter().map(|s| authority(s)).collect();
    ClickHouseConfig::from_url(&format!(
        "clickhouse://{}/t_{}?cluster=tally&shards={}",
        list[0],
        uuid::Uuid::new_v4().simple(),
        list.join(",")
    ))
    .unwrap()
}

/// A store on a fresh database sharded over the test cluster.
pub async fn open_cluster() -> (ClickHouse, ()) {
    (ClickHouse::open(&fresh_cluster_config()).await.unwrap(), ())
}
