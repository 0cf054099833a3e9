//! The embedded deployment's path from capture to storage. Enrichment, persons and
//! sessionization join here; today it groups concurrent requests into shared
//! durable commits and bounds what may queue.

mod group_commit;

pub use group_commit::{GroupCommitConfig, GroupCommitSink};
