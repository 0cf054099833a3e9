//! The query conformance suite against a real ClickHouse server: the same
//! checks and expected answers as DuckDB's. The kinds not yet said in
//! ClickHouse's SQL join this list as they land.

mod common;

tally_query::conformance_suite!(@tests common::open().await;
    duplicates_are_stored_once,
    events_pages_are_newest_first_without_skips,
    events_filters_apply,
    offset_pages_and_counts_agree,
    timeseries_zero_fills_in_the_requested_zone,
    definitions_count_stored_events_once,
    persons_list_search_and_timeline_across_ids,
    realtime_counts_the_last_minutes,
    top_tables_count_visitors_pageviews_and_events,
    trends_answer_series_math_breakdowns_filters_compare_and_cumulative);
