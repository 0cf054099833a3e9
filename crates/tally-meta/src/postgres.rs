//! [`PostgresMeta`]: the scale-out metadata store. Several Tally nodes may share
//! one database: migrations run under an advisory lock, so nodes starting
//! together apply each version once.

use sqlx::postgres::{PgPool, PgPoolOptions};

/// Arbitrary constant naming Tally's migration lock among the database's advisory locks.
const MIGRATION_LOCK: i64 = 0x7461_6c6c_795f_6d31;

/// How long a query waits for a pooled connection (or a new one) before it
/// fails as unavailable.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Metadata in a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresMeta {
    pool: PgPool,
}

impl PostgresMeta {
    /// Connects (`postgres://user:pass@host:port/db`) and migrates.
    pub async fn connect(url: &str) -> Result<Self, MetaError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // A request waiting for a connection to a server that is down is
            // answered (503) after this, not after sqlx's default 30 s.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(internal)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), MetaError> {
        let mut conn = self.pool.acquire().await.map_err(internal)?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(internal)?;
        let result = apply_migrations(
            &mut conn,
            crate::migrations::POSTGRES,
            "CREATE TABLE IF NOT EXISTS tally_migrations \
             (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)",
        )
        .await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(internal)?;
        result
    }
}

crate::sql_store::sql_metadata_store!(PostgresMeta, sqlx::Postgres, sqlx::postgres::PgRow, "BEGIN");
