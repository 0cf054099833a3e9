//! The query conformance suite against a real ClickHouse server: every check,
//! with the same expected answers as DuckDB's.

mod common;

tally_query::conformance_suite!(common::open().await);
