//! Settings of the embedded store.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct DuckDbConfig {
    /// The database file; its WAL sits beside it.
    pub path: PathBuf,
    /// DuckDB's memory limit, e.g. "4GB"; `None` keeps DuckDB's default (80% of RAM).
    pub memory_limit: Option<String>,
    /// WAL size at which DuckDB checkpoints (writes the logged rows into the
    /// database file), e.g. "256MB"; `None` keeps DuckDB's default (16 MiB).
    pub checkpoint_threshold: Option<String>,
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

/// The default of [`DuckDbConfig::checkpoint_threshold`]. Each checkpoint
/// rewrites (and recompresses) the row groups that changed since the last, so
/// with DuckDB's 16 MiB the row group being filled under steady ingest was
/// compressed several times over: ~12 % of the server's CPU at batch 100. The
/// price is WAL to replay at start after a crash (at most this much).
pub const DEFAULT_CHECKPOINT_THRESHOLD: &str = "256MB";

/// The default of [`DuckDbConfig::timeline_cache_bytes`]: the rows of ~40M
/// events.
pub const DEFAULT_TIMELINE_CACHE_BYTES: usize = 512 << 20;

impl DuckDbConfig {
    pub fn in_dir(dir: &std::path::Path) -> Self {
        Self {
            path: dir.join("events.duckdb"),
            memory_limit: None,
            checkpoint_threshold: Some(DEFAULT_CHECKPOINT_THRESHOLD.to_owned()),
            threads: None,
            compact_rollups_on_insert: false,
            timeline_cache_bytes: DEFAULT_TIMELINE_CACHE_BYTES,
        }
    }
}
