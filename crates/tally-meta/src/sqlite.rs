//! [`SqliteMeta`]: the embedded metadata store (WAL mode, foreign keys on,
//! versioned migrations recorded in `tally_migrations`).

use crate::keys;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use tally_core::{
    IssuedKey, KeyGrant, KeyKind, MetaError, MetadataStore, PipelineSettings, Project, ProjectId,
};

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE projects (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        kind TEXT NOT NULL CHECK (kind IN ('ingest', 'admin')),
        lookup TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );",
    ),
    (
        2,
        "ALTER TABLE projects ADD COLUMN drop_bots INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE projects ADD COLUMN use_ip INTEGER NOT NULL DEFAULT 1;",
    ),
];

fn internal(e: impl std::fmt::Display) -> MetaError {
    MetaError::Internal(e.to_string())
}

fn kind_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Ingest => "ingest",
        KeyKind::Admin => "admin",
    }
}

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
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS tally_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        let current: i64 =
            sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM tally_migrations")
                .fetch_one(&self.pool)
                .await
                .map_err(internal)?;
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            let mut tx = self.pool.begin().await.map_err(internal)?;
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
            sqlx::query("INSERT INTO tally_migrations (version, applied_at) VALUES (?, ?)")
                .bind(version)
                .bind(Utc::now())
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
            tx.commit().await.map_err(internal)?;
            tracing::info!(version, "applied metadata migration");
        }
        Ok(())
    }
}

fn project_from(row: &sqlx::sqlite::SqliteRow) -> Result<Project, MetaError> {
    Ok(Project {
        id: row.try_get("id").map_err(internal)?,
        name: row.try_get("name").map_err(internal)?,
        created_at: row
            .try_get::<DateTime<Utc>, _>("created_at")
            .map_err(internal)?,
    })
}

#[async_trait]
impl MetadataStore for SqliteMeta {
    async fn create_project(&self, name: &str) -> Result<Project, MetaError> {
        let row = sqlx::query(
            "INSERT INTO projects (name, created_at) VALUES (?, ?) RETURNING id, name, created_at",
        )
        .bind(name)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(internal)?;
        project_from(&row)
    }

    async fn get_project(&self, id: ProjectId) -> Result<Option<Project>, MetaError> {
        let row = sqlx::query("SELECT id, name, created_at FROM projects WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        row.as_ref().map(project_from).transpose()
    }

    async fn list_projects(&self) -> Result<Vec<Project>, MetaError> {
        let rows = sqlx::query("SELECT id, name, created_at FROM projects ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
        rows.iter().map(project_from).collect()
    }

    async fn create_key(
        &self,
        project_id: ProjectId,
        kind: KeyKind,
    ) -> Result<IssuedKey, MetaError> {
        let (plaintext, lookup) = keys::generate(kind);
        let to_hash = plaintext.clone();
        let hash = tokio::task::spawn_blocking(move || keys::hash(&to_hash))
            .await
            .map_err(internal)?
            .map_err(MetaError::Internal)?;
        sqlx::query("INSERT INTO api_keys (project_id, kind, lookup, hash, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(project_id)
            .bind(kind_name(kind))
            .bind(lookup)
            .bind(hash)
            .bind(Utc::now())
            .execute(&self.pool)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(d) if d.is_foreign_key_violation() => MetaError::NotFound,
                other => internal(other),
            })?;
        Ok(IssuedKey {
            project_id,
            kind,
            plaintext,
        })
    }

    async fn authenticate(&self, presented: &str) -> Result<Option<KeyGrant>, MetaError> {
        let Some(parsed) = keys::parse_key(presented) else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT project_id, hash FROM api_keys WHERE lookup = ? AND kind = ? AND revoked_at IS NULL")
            .bind(parsed.lookup)
            .bind(kind_name(parsed.kind))
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let project_id: i64 = row.try_get("project_id").map_err(internal)?;
        let hash: String = row.try_get("hash").map_err(internal)?;
        let key = presented.to_owned();
        let ok = tokio::task::spawn_blocking(move || keys::verify(&key, &hash))
            .await
            .map_err(internal)?;
        Ok(ok.then_some(KeyGrant {
            project_id,
            kind: parsed.kind,
        }))
    }

    async fn all_pipeline_settings(&self) -> Result<Vec<(ProjectId, PipelineSettings)>, MetaError> {
        let rows = sqlx::query("SELECT id, drop_bots, use_ip FROM projects ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("id").map_err(internal)?,
                    PipelineSettings {
                        drop_bots: row.try_get("drop_bots").map_err(internal)?,
                        use_ip: row.try_get("use_ip").map_err(internal)?,
                    },
                ))
            })
            .collect()
    }

    async fn set_pipeline_settings(
        &self,
        project_id: ProjectId,
        settings: PipelineSettings,
    ) -> Result<(), MetaError> {
        let done = sqlx::query("UPDATE projects SET drop_bots = ?, use_ip = ? WHERE id = ?")
            .bind(settings.drop_bots)
            .bind(settings.use_ip)
            .bind(project_id)
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        if done.rows_affected() == 0 {
            return Err(MetaError::NotFound);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), MetaError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_authenticate_only_for_their_project_and_kind() {
        let dir = tempfile::tempdir().unwrap();
        let meta = SqliteMeta::open(&dir.path().join("meta.sqlite"))
            .await
            .unwrap();
        let a = meta.create_project("a").await.unwrap();
        let b = meta.create_project("b").await.unwrap();
        let ingest = meta.create_key(a.id, KeyKind::Ingest).await.unwrap();
        let admin = meta.create_key(b.id, KeyKind::Admin).await.unwrap();
        assert_eq!(
            meta.authenticate(&ingest.plaintext).await.unwrap(),
            Some(KeyGrant {
                project_id: a.id,
                kind: KeyKind::Ingest
            })
        );
        assert_eq!(
            meta.authenticate(&admin.plaintext).await.unwrap(),
            Some(KeyGrant {
                project_id: b.id,
                kind: KeyKind::Admin
            })
        );
        // Same lookup id, wrong secret.
        let forged = format!("{}{}", &ingest.plaintext[..ingest.plaintext.len() - 1], "Z");
        let forged = if forged == ingest.plaintext {
            forged.replace('Z', "Y")
        } else {
            forged
        };
        assert_eq!(meta.authenticate(&forged).await.unwrap(), None);
        // An ingest key relabelled as admin does not become one.
        let relabelled = ingest.plaintext.replacen("tly_ing_", "tly_adm_", 1);
        assert_eq!(meta.authenticate(&relabelled).await.unwrap(), None);
        assert_eq!(meta.authenticate("nonsense").await.unwrap(), None);
    }

    #[tokio::test]
    async fn projects_survive_reopen_and_keys_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        let key = {
            let meta = SqliteMeta::open(&path).await.unwrap();
            let p = meta.create_project("default").await.unwrap();
            meta.create_key(p.id, KeyKind::Ingest).await.unwrap()
        };
        let meta = SqliteMeta::open(&path).await.unwrap();
        assert_eq!(meta.list_projects().await.unwrap().len(), 1);
        assert!(meta.authenticate(&key.plaintext).await.unwrap().is_some());
        let stored: Vec<String> = sqlx::query_scalar("SELECT hash FROM api_keys")
            .fetch_all(&meta.pool)
            .await
            .unwrap();
        assert!(stored
            .iter()
            .all(|h| h.starts_with("$argon2id$") && !h.contains(&key.plaintext)));
        assert!(matches!(
            meta.create_key(999, KeyKind::Admin).await,
            Err(MetaError::NotFound)
        ));
    }
}
