//! Shared by the ClickHouse crate's tests: a fresh database on the throw-away
//! server `scripts/test.sh` starts (`TALLY_TEST_CLICKHOUSE_URL`, its HTTP URL).

// Each test file uses part of these.
#![allow(dead_code, unused_macros)]

use tally_clickhouse::{ClickHouse, ClickHouseConfig};

/// Calls `$m!` with the query conformance suite's checks whose kinds the
/// ClickHouse engine says so far; the others join as they land.
macro_rules! said_on_clickhouse {
    ($m:ident) => {
        $m!(
            duplicates_are_stored_once,
            events_pages_are_newest_first_without_skips,
            events_filters_apply,
            offset_pages_and_counts_agree,
            timeseries_zero_fills_in_the_requested_zone,
            definitions_count_stored_events_once,
            persons_list_search_and_timeline_across_ids,
            realtime_counts_the_last_minutes,
            top_tables_count_visitors_pageviews_and_events,
            trends_answer_series_math_breakdowns_filters_compare_and_cumulative,
            funnels_count_persons_per_step_loose_and_strict,
            funnels_break_down_by_the_starting_events_property,
            funnels_take_events_of_one_instant_in_step_order,
            retention_counts_cohorts_first_time_and_recurring,
            stickiness_and_lifecycle_follow_persons_across_days,
            paths_follow_pages_from_a_start_or_to_an_end,
            bare_dates_are_days_of_the_querys_zone,
            deleting_a_project_removes_its_events_persons_and_definitions
        );
    };
}

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
