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
