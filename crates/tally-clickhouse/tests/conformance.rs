//! The query conformance suite against a real ClickHouse server: the same
//! checks and expected answers as DuckDB's, for the kinds said in ClickHouse's
//! SQL so far (`common::said_on_clickhouse!`).

#[macro_use]
mod common;

macro_rules! suite {
    ($($name:ident),+) => {
        tally_query::conformance_suite!(@tests common::open().await; $($name),+);
    };
}
said_on_clickhouse!(suite);
