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
}

impl DuckDbConfig {
    pub fn in_dir(dir: &std::path::Path) -> Self {
        Self {
            path: dir.join("events.duckdb"),
            memory_limit: None,
            threads: None,
        }
    }
}
