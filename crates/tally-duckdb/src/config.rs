//! Settings of the embedded store.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct DuckDbConfig {
    /// The database file; its WAL sits beside it.
    pub path: PathBuf,
    /// DuckDB's memory limit, e.g. "4GB"; `None` keeps DuckDB's default (80% of RAM).
    pub memory_limit: Option<String>,
    /// Worker threads for queries; `None` keeps DuckDB's default (one per core).
    pub threads: Option<usize>,
    /// Recompute the rollups of every hour an insert touched right after it (so
    /// every query that can read rollups does). For tests; a server compacts
    /// in the background instead (`DuckDb::compact_rollups`).
    pub compact_rollups_on_insert: bool,
    /// Bytes of person timeline rows kept in memory between funnel and paths
    /// queries (`timeline_cache`); 0 keeps none. About 12 bytes per event.
    pub timeline_cache_bytes: usize,
}

/// The default of [`DuckDbConfig::timeline_cache_bytes`]: the rows of ~40M
/// events.
pub const DEFAULT_TIMELINE_CACHE_BYTES: usize = 512 << 20;

impl DuckDbConfig {
    pub fn in_dir(dir: &std::path::Path) -> Self {
        Self {
            path: dir.join("events.duckdb"),
            memory_limit: None,
            threads: None,
            compact_rollups_on_insert: false,
            timeline_cache_bytes: DEFAULT_TIMELINE_CACHE_BYTES,
        }
    }
}
