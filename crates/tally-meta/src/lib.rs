//! Metadata: projects, users, memberships and credentials, behind
//! [`tally_core::MetadataStore`]: SQLite in the data dir for the embedded
//! deployment, PostgreSQL for scale-out — one implementation (`sql_store.rs`)
//! over two migration lists, checked by one conformance suite ([`conformance`]).
//!
//! Keys and passwords are stored only as argon2id hashes; a short random lookup
//! id inside each key finds its row without scanning. Because argon2id is
//! deliberately slow, [`KeyCache`] remembers successful key checks briefly.

mod cache;
pub mod conformance;
mod keys;
mod migrations;
mod postgres;
mod settings;
mod shared_persons;
mod sql_store;
mod sqlite;
pub mod testing;

pub use cache::KeyCache;
pub use keys::{parse_key, ParsedKey};
pub use postgres::PostgresMeta;
pub use settings::SettingsCache;
pub use shared_persons::SharedPersons;
pub use sqlite::SqliteMeta;

/// Hashes a password with argon2id (PHC string), off the async threads.
pub async fn hash_password(password: String) -> Result<String, tally_core::MetaError> {
    tokio::task::spawn_blocking(move || keys::hash(&password))
        .await
        .map_err(|e| tally_core::MetaError::Internal(e.to_string()))?
        .map_err(tally_core::MetaError::Internal)
}

/// Checks a password against its stored hash, off the async threads.
pub async fn verify_password(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || keys::verify(&password, &phc))
        .await
        .unwrap_or(false)
}
