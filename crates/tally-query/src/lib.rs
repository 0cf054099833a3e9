//! Query definitions shared by every query engine: the typed requests and answers
//! of the query API, time bucketing in named time zones, opaque page cursors, and
//! the SQL each request compiles to. Engines (DuckDB now, ClickHouse later) run the
//! SQL and shape rows into these answers; the HTTP layer only sees [`QueryEngine`].

pub mod activity;
pub mod buckets;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod cursor;
pub mod engine;
pub mod error;
pub mod filters;
pub mod funnel;
pub mod paths;
pub mod persons;
pub mod realtime;
pub mod retention;
pub mod rollup;
pub mod scope;
pub mod sessions;
pub mod sql;
#[cfg(test)]
mod test_time;
pub mod timeline;
pub mod top;
pub mod trends;
pub mod types;

pub use buckets::{BucketPlan, OffsetSegment};
pub use cursor::Cursor;
pub use engine::QueryEngine;
pub use error::QueryError;
pub use types::*;
