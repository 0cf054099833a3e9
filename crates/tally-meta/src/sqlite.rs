//! [`SqliteMeta`]: the embedded metadata store (WAL mode, foreign keys on,
//! versioned migrations recorded in `tally_migrations`).

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;

/// Metadata in one SQLite file.
#[derive(Clone)]
pub struct SqliteMeta {
    pool: SqlitePool,
}

impl SqliteMeta {
    pub async fn open(path: &Path) -> Result<Self, MetaError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(internal)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), MetaError> {
        let mut conn = self.pool.acquire().await.map_err(internal)?;
        apply_migrations(
            &mut conn,
            crate::migrations::SQLITE,
            "CREATE TABLE IF NOT EXISTS tally_migrations \
             (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .await
    }
}

// IMMEDIATE: a transaction that reads and then writes would otherwise fail with
// "database is locked" (without waiting) when another connection wrote in between.
crate::sql_store::sql_metadata_store!(
    SqliteMeta,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    "BEGIN IMMEDIATE"
);

#[cfg(test)]
mod tests {
    use super::*;
    use tally_core::{KeyGrant, KeyKind, KeyScope, MetadataStore, Role};

    #[tokio::test]
    async fn keys_and_passwords_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        let key = {
            let meta = SqliteMeta::open(&path).await.unwrap();
            let p = meta.create_project("default", None).await.unwrap();
            meta.create_ingest_key(p.id).await.unwrap()
        };
        let meta = SqliteMeta::open(&path).await.unwrap();
        assert_eq!(meta.list_projects().await.unwrap().len(), 1);
        assert!(meta
            .authenticate(&key.plaintext, Utc::now())
            .await
            .unwrap()
            .is_some());
        let stored: Vec<String> = sqlx::query_scalar("SELECT hash FROM api_keys")
            .fetch_all(&meta.pool)
            .await
            .unwrap();
        assert!(stored
            .iter()
            .all(|h| h.starts_with("$argon2id$") && !h.contains(&key.plaintext)));
        drop(meta);
        let bytes = std::fs::read(&path).unwrap();
        let needle = key.plaintext.as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    }

    /// A data dir from before accounts: its admin token becomes the personal key
    /// of a first, unclaimed superuser who owns the existing projects.
    #[tokio::test]
    async fn upgrading_turns_the_admin_token_into_the_first_users_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        let (admin_token, lookup) = keys::generate(KeyKind::Personal);
        {
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true);
            let pool = SqlitePoolOptions::new()
                .connect_with(options)
                .await
                .unwrap();
            sqlx::raw_sql(
                "CREATE TABLE tally_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);",
            )
            .execute(&pool)
            .await
            .unwrap();
            for (version, sql) in &crate::migrations::SQLITE[..2] {
                sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                sqlx::query("INSERT INTO tally_migrations VALUES ($1, $2)")
                    .bind(version)
                    .bind(Utc::now())
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            sqlx::query("INSERT INTO projects (name, created_at) VALUES ('default', $1)")
                .bind(Utc::now())
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO api_keys (project_id, kind, lookup, hash, created_at) \
                 VALUES (1, 'admin', $1, $2, $3)",
            )
            .bind(&lookup)
            .bind(keys::hash(&admin_token).unwrap())
            .bind(Utc::now())
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        let meta = SqliteMeta::open(&path).await.unwrap();
        let Some(KeyGrant::Personal { user_id, scope, .. }) =
            meta.authenticate(&admin_token, Utc::now()).await.unwrap()
        else {
            panic!("the admin token still authenticates, as a personal key");
        };
        assert_eq!(scope, KeyScope::Write);
        let first = meta.user(user_id).await.unwrap().unwrap();
        assert!(first.is_superuser && first.email.is_none());
        assert_eq!(meta.role_of(1, user_id).await.unwrap(), Some(Role::Owner));
        assert!(!meta.setup_complete().await.unwrap());
    }
}
