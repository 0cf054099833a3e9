//! Metadata: projects and credentials. SQLite in the data dir for the embedded
//! deployment (PostgreSQL joins behind the same [`tally_core::MetadataStore`] trait).
//!
//! Keys are random, shown once, and stored only as argon2id hashes; a short random
//! lookup id inside each key finds its row without scanning. Because argon2id is
//! deliberately slow, [`CachedMetadata`] remembers successful checks briefly.

mod cache;
mod keys;
mod settings;
mod sqlite;

pub use cache::CachedMetadata;
pub use keys::{parse_key, ParsedKey};
pub use settings::SettingsCache;
pub use sqlite::SqliteMeta;
