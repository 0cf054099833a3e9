//! The embedded event store and query engine, on one DuckDB file in the data dir.
//!
//! One writer connection (inserts are serialised through it, one transaction per
//! batch, durable at commit) and a pool of reader connections for queries, which
//! DuckDB's MVCC lets run concurrently with the writer.

mod columns;
mod config;
mod dedup;
mod definitions;
mod persons;
mod query;
mod rollup;
mod schema;
mod sql;
mod store;
mod timeline;
mod timeline_cache;

pub use config::{DuckDbConfig, DEFAULT_CHECKPOINT_THRESHOLD, DEFAULT_TIMELINE_CACHE_BYTES};
pub use store::{DuckDb, WeakDuckDb, WriteHold};

#[cfg(test)]
mod tests;
