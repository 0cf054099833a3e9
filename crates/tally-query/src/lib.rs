//! What every query means, for every engine: the typed requests and answers of
//! the query API, their validation, time bucketing in named time zones, filters,
//! opaque page cursors, and the assembly of rows into answers (funnel walks,
//! retention triangles, zero-filled series). Each engine crate (`tally-duckdb`,
//! `tally-clickhouse`) says the queries in its own SQL with [`sql::Sql`] and
//! hands its rows to this crate's assembly; the HTTP layer only sees
//! [`QueryEngine`].

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
pub mod scope;
pub mod sessions;
pub mod sql;
#[cfg(any(test, feature = "conformance"))]
pub mod testing;
pub mod top;
pub mod trends;
pub mod types;

pub use buckets::{BucketPlan, OffsetSegment};
pub use cursor::Cursor;
pub use engine::QueryEngine;
pub use error::QueryError;
pub use types::*;
