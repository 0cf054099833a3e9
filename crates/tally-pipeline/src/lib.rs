//! The embedded deployment's path from capture to storage. Enrichment, persons and
//! sessionization join here; today it makes capture durable in a local spool,
//! acknowledges, and drains the spool into the event store in large batches.

mod spool;

pub use spool::{Recovery, SpoolConfig, SpoolError, SpooledSink};
