//! The embedded deployment's path from capture to storage: capture is made
//! durable in a local spool and acknowledged; the spool drains into the event
//! store in large batches through the processing stage: enrichment (`enrich`),
//! then person resolution (`persons`). The drain's two stages (`stages`) and
//! the capture byte budget (`QueueBudget`) serve the Kafka deployment too.

mod budget;
pub mod enrich;
pub mod persons;
mod spool;
pub mod stages;

pub use budget::QueueBudget;
pub use enrich::{ProcessConfig, Processor};
pub use spool::{Recovery, SpoolConfig, SpoolError, SpooledSink, DEFAULT_STORE_BATCH};

/// The binary encoding of events that the spool's frames hold, shared with the
/// Kafka records (`tally-kafka`), so both carry an event the same way.
pub mod codec {
    pub use crate::spool::codec::{decode_batch, encode_batch, CodecError};
}
