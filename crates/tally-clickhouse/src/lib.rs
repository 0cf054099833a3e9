//! The scale-out event store and query engine, on ClickHouse over its HTTP
//! interface: the same [`tally_core::EventStore`], [`tally_core::PersonStore`]
//! and [`tally_query::QueryEngine`] as `tally-duckdb`, with the same answers.
//! Same file shape as `tally-duckdb`: `config`, `schema` (migrations), `store`,
//! `persons`, `query`, `sql`; `client` is the one place requests are sent.

mod client;
mod config;
mod persons;
mod query;
mod schema;
mod sql;
mod store;

pub use config::{valid_identifier, ClickHouseConfig, Cluster, ConfigError, DEFAULT_HTTP_PORT};
pub use schema::latest_version;
pub use store::ClickHouse;
