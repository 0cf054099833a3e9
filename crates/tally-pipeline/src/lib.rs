//! The embedded deployment's path from capture to storage: capture is made
//! durable in a local spool and acknowledged; the spool drains into the event
//! store in large batches through the processing stage: enrichment (`enrich`),
//! then person resolution (`persons`).

pub mod enrich;
pub mod persons;
mod spool;

pub use enrich::{ProcessConfig, Processor};
pub use spool::{Recovery, SpoolConfig, SpoolError, SpooledSink};
