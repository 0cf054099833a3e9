//! The [`tally_core::MetadataStore`] implementation, written once for SQLite and
//! PostgreSQL. The statements use only what both accept (`$n` parameters,
//! `RETURNING`, `ON CONFLICT`), over schemas that [`crate::migrations`] keeps
//! equal; the macro instantiates them for each backend's pool and row types, as
//! sqlx's per-database types would otherwise need a thicket of trait bounds.
//!
//! Times are compared in Rust, not in SQL: SQLite keeps them as text.

/// Implements `MetadataStore` for `$store`, whose `pool` field is a `sqlx::Pool<$db>`;
/// `$begin` opens a transaction that will write.
macro_rules! sql_metadata_store {
    ($store:ty, $db:ty, $row:ty, $begin:expr) => {
        use crate::keys;
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::Row;
        use tally_core::{
            Dashboard, DashboardId, Insight, InsightDraft, InsightId, Invite, InviteId, IssuedKey, IssuedSession, KeyGrant, KeyKind, KeyScope, LoginRecord, Member,
            MetaError, MetadataStore, NewUser, PersonalKey, PersonalKeyId, PipelineSettings,
            Project, ProjectId, ProjectOptions, RefreshOutcome, Role, SessionGrant, SessionId,
            SessionLifetimes, User, UserId,
        };

        /// How transactions that write begin.
        const WRITE_TRANSACTION: &str = $begin;

        /// A failure as the metadata error it is: the database out of reach
        /// (connection refused or lost, no connection free in time) is
        /// `Unavailable`, answered 503 and worth retrying; anything else `Internal`.
        fn internal(e: impl std::fmt::Display + 'static) -> MetaError {
            let unreachable = (&e as &dyn std::any::Any)
                .downcast_ref::<sqlx::Error>()
                .is_some_and(|db| {
                    matches!(
                        db,
                        sqlx::Error::Io(_)
                            | sqlx::Error::Tls(_)
                            | sqlx::Error::PoolTimedOut
                            | sqlx::Error::PoolClosed
                    )
                });
            match unreachable {
                true => MetaError::Unavailable(e.to_string()),
                false => MetaError::Internal(e.to_string()),
            }
        }

        /// Maps a foreign-key violation (a missing project or user) to `NotFound`.
        fn missing_parent(e: sqlx::Error) -> MetaError {
            match e {
                sqlx::Error::Database(d) if d.is_foreign_key_violation() => MetaError::NotFound,
                other => internal(other),
            }
        }

        fn found(rows_affected: u64) -> Result<(), MetaError> {
            if rows_affected == 0 {
                Err(MetaError::NotFound)
            } else {
                Ok(())
            }
        }

        const PROJECT_COLUMNS: &str = "p.id, p.name, p.created_at";
        const USER_COLUMNS: &str =
            "u.id, u.email, u.name, u.is_superuser, u.is_active, u.created_at";

        fn project_from(row: &$row) -> Result<Project, MetaError> {
            Ok(Project {
                id: row.try_get("id").map_err(internal)?,
                name: row.try_get("name").map_err(internal)?,
                created_at: row.try_get("created_at").map_err(internal)?,
            })
        }

        fn user_from(row: &$row) -> Result<User, MetaError> {
            Ok(User {
                id: row.try_get("id").map_err(internal)?,
                email: row.try_get("email").map_err(internal)?,
                name: row.try_get("name").map_err(internal)?,
                is_superuser: row.try_get("is_superuser").map_err(internal)?,
                is_active: row.try_get("is_active").map_err(internal)?,
                created_at: row.try_get("created_at").map_err(internal)?,
            })
        }

        fn role_from(row: &$row) -> Result<Role, MetaError> {
            let role: String = row.try_get("role").map_err(internal)?;
            Role::parse(&role).ok_or_else(|| internal(format!("unknown role {role}")))
        }

        const INSIGHT_COLUMNS: &str =
            "id, project_id, name, query, created_by, created_at, updated_at";

        fn insight_from(row: &$row) -> Result<Insight, MetaError> {
            let query: String = row.try_get("query").map_err(internal)?;
            Ok(Insight {
                id: row.try_get("id").map_err(internal)?,
                project_id: row.try_get("project_id").map_err(internal)?,
                name: row.try_get("name").map_err(internal)?,
                query: serde_json::from_str(&query).map_err(internal)?,
                created_by: row.try_get("created_by").map_err(internal)?,
                created_at: row.try_get("created_at").map_err(internal)?,
                updated_at: row.try_get("updated_at").map_err(internal)?,
            })
        }

        const DASHBOARD_COLUMNS: &str = "id, project_id, name, shared_at, created_by, created_at";

        /// A dashboard row, tiles still to be read ([`with_tiles`]).
        fn dashboard_from(row: &$row) -> Result<Dashboard, MetaError> {
            Ok(Dashboard {
                id: row.try_get("id").map_err(internal)?,
                project_id: row.try_get("project_id").map_err(internal)?,
                name: row.try_get("name").map_err(internal)?,
                tiles: Vec::new(),
                shared_at: row.try_get("shared_at").map_err(internal)?,
                created_by: row.try_get("created_by").map_err(internal)?,
                created_at: row.try_get("created_at").map_err(internal)?,
            })
        }

        const INVITE_COLUMNS: &str = "id, project_id, email, role, created_at, expires_at";

        fn invite_from(row: &$row) -> Result<Invite, MetaError> {
            Ok(Invite {
                id: row.try_get("id").map_err(internal)?,
                project_id: row.try_get("project_id").map_err(internal)?,
                email: row.try_get("email").map_err(internal)?,
                role: role_from(row)?,
                created_at: row.try_get("created_at").map_err(internal)?,
                expires_at: row.try_get("expires_at").map_err(internal)?,
            })
        }

        fn personal_key_from(row: &$row) -> Result<PersonalKey, MetaError> {
            let scope: String = row.try_get("scope").map_err(internal)?;
            Ok(PersonalKey {
                id: row.try_get("id").map_err(internal)?,
                name: row.try_get("name").map_err(internal)?,
                scope: KeyScope::parse(&scope)
                    .ok_or_else(|| internal(format!("unknown scope {scope}")))?,
                created_at: row.try_get("created_at").map_err(internal)?,
                last_used_at: row.try_get("last_used_at").map_err(internal)?,
            })
        }

        /// Creates the version table (`ddl`) and applies, in order and each in
        /// its own transaction, the migrations newer than the recorded version.
        async fn apply_migrations(
            conn: &mut <$db as sqlx::Database>::Connection,
            migrations: &[(i64, &str)],
            ddl: &str,
        ) -> Result<(), MetaError> {
            sqlx::query(ddl).execute(&mut *conn).await.map_err(internal)?;
            let current: i64 =
                sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM tally_migrations")
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(internal)?;
            for (version, sql) in migrations.iter().filter(|(v, _)| *v > current) {
                let mut tx = sqlx::Connection::begin(&mut *conn)
                    .await
                    .map_err(internal)?;
                sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(internal)?;
                sqlx::query("INSERT INTO tally_migrations (version, applied_at) VALUES ($1, $2)")
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

        /// argon2id off the async threads: it takes tens of milliseconds.
        async fn hash_off_thread(secret: String) -> Result<String, MetaError> {
            tokio::task::spawn_blocking(move || keys::hash(&secret))
                .await
                .map_err(internal)?
                .map_err(MetaError::Internal)
        }

        async fn verify_off_thread(secret: String, phc: String) -> Result<bool, MetaError> {
            tokio::task::spawn_blocking(move || keys::verify(&secret, &phc))
                .await
                .map_err(internal)
        }

        impl $store {
            /// Stores new access and refresh tokens for a session, in `tx`.
            async fn issue_tokens(
                tx: &mut sqlx::Transaction<'_, $db>,
                session_id: SessionId,
                user_id: UserId,
                csrf_token: String,
                lifetimes: SessionLifetimes,
                now: DateTime<Utc>,
            ) -> Result<IssuedSession, MetaError> {
                let issued = IssuedSession {
                    session_id,
                    user_id,
                    access_token: keys::session_token(),
                    access_expires_at: now + lifetimes.access,
                    refresh_token: keys::session_token(),
                    refresh_expires_at: now + lifetimes.refresh,
                    csrf_token,
                };
                for (token, kind, expires_at) in [
                    (&issued.access_token, "access", issued.access_expires_at),
                    (&issued.refresh_token, "refresh", issued.refresh_expires_at),
                ] {
                    sqlx::query(
                        "INSERT INTO session_tokens (digest, session_id, kind, expires_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(keys::token_digest(token))
                    .bind(session_id)
                    .bind(kind)
                    .bind(expires_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                }
                Ok(issued)
            }

            async fn insert_ingest_key(
                tx: &mut sqlx::Transaction<'_, $db>,
                project_id: ProjectId,
                now: DateTime<Utc>,
            ) -> Result<IssuedKey, MetaError> {
                let (plaintext, lookup) = keys::generate(KeyKind::Ingest);
                let hash = hash_off_thread(plaintext.clone()).await?;
                sqlx::query(
                    "INSERT INTO api_keys (project_id, kind, lookup, hash, created_at) \
                     VALUES ($1, 'ingest', $2, $3, $4)",
                )
                .bind(project_id)
                .bind(lookup)
                .bind(hash)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(missing_parent)?;
                Ok(IssuedKey {
                    kind: KeyKind::Ingest,
                    plaintext,
                })
            }

            /// Deletes one row of `table` (`insights` or `dashboards`, never
            /// input) of the project, and the tiles that name it in
            /// `tile_column` — explicitly, whatever the connection's
            /// foreign-key setting.
            async fn delete_with_tiles(
                &self,
                table: &'static str,
                tile_column: &'static str,
                project_id: ProjectId,
                id: i64,
            ) -> Result<(), MetaError> {
                let mut tx = self.pool.begin_with(WRITE_TRANSACTION).await.map_err(internal)?;
                sqlx::query(&format!(
                    "DELETE FROM dashboard_tiles WHERE {tile_column} IN \
                     (SELECT id FROM {table} WHERE project_id = $1 AND id = $2)"
                ))
                .bind(project_id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
                let done = sqlx::query(&format!("DELETE FROM {table} WHERE project_id = $1 AND id = $2"))
                    .bind(project_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                found(done.rows_affected())?;
                tx.commit().await.map_err(internal)
            }

            /// A dashboard's tiles, in order.
            async fn tiles_of(&self, dashboard_id: DashboardId) -> Result<Vec<InsightId>, MetaError> {
                let rows = sqlx::query(
                    "SELECT insight_id FROM dashboard_tiles WHERE dashboard_id = $1 ORDER BY position",
                )
                .bind(dashboard_id)
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                rows.iter()
                    .map(|r| r.try_get("insight_id").map_err(internal))
                    .collect()
            }
        }

        #[async_trait]
        impl MetadataStore for $store {
            async fn create_project(
                &self,
                name: &str,
                owner: Option<UserId>,
            ) -> Result<Project, MetaError> {
                let now = Utc::now();
                let mut tx = self.pool.begin_with(WRITE_TRANSACTION).await.map_err(internal)?;
                let row = sqlx::query(
                    "INSERT INTO projects (name, created_at) VALUES ($1, $2) \
                     RETURNING id, name, created_at",
                )
                .bind(name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(internal)?;
                let project = project_from(&row)?;
                if let Some(owner) = owner {
                    sqlx::query(
                        "INSERT INTO memberships (project_id, user_id, role, created_at) \
                         VALUES ($1, $2, 'owner', $3)",
                    )
                    .bind(project.id)
                    .bind(owner)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(missing_parent)?;
                }
                tx.commit().await.map_err(internal)?;
                Ok(project)
            }

            async fn get_project(&self, id: ProjectId) -> Result<Option<Project>, MetaError> {
                let row = sqlx::query(&format!(
                    "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                row.as_ref().map(project_from).transpose()
            }

            async fn list_projects(&self) -> Result<Vec<Project>, MetaError> {
                let rows = sqlx::query(&format!(
                    "SELECT {PROJECT_COLUMNS} FROM projects p ORDER BY p.id"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                rows.iter().map(project_from).collect()
            }

            async fn projects_of_user(
                &self,
                user_id: UserId,
            ) -> Result<Vec<(Project, Role)>, MetaError> {
                let rows = sqlx::query(&format!(
                    "SELECT {PROJECT_COLUMNS}, m.role FROM projects p \
                     JOIN memberships m ON m.project_id = p.id \
                     WHERE m.user_id = $1 ORDER BY p.id"
                ))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                rows.iter()
                    .map(|row| Ok((project_from(row)?, role_from(row)?)))
                    .collect()
            }

            async fn rename_project(&self, id: ProjectId, name: &str) -> Result<(), MetaError> {
                let done = sqlx::query("UPDATE projects SET name = $1 WHERE id = $2")
                    .bind(name)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(internal)?;
                found(done.rows_affected())
            }

            async fn delete_project(&self, id: ProjectId) -> Result<(), MetaError> {
                let mut tx = self.pool.begin_with(WRITE_TRANSACTION).await.map_err(internal)?;
                for sql in [
                    "DELETE FROM api_keys WHERE project_id = $1",
                    "DELETE FROM memberships WHERE project_id = $1",
                    "DELETE FROM invites WHERE project_id = $1",
                    "DELETE FROM dashboard_tiles WHERE dashboard_id IN \
                     (SELECT id FROM dashboards WHERE project_id = $1)",
                    "DELETE FROM dashboards WHERE project_id = $1",
                    "DELETE FROM insights WHERE project_id = $1",
                ] {
                    sqlx::query(sql)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                }
                let done = sqlx::query("DELETE FROM projects WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                found(done.rows_affected())?;
                tx.commit().await.map_err(internal)
            }

            async fn project_options(&self, id: ProjectId) -> Result<ProjectOptions, MetaError> {
                let row = sqlx::query(
                    "SELECT timezone, allowed_origins, retention_days FROM projects WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?
                .ok_or(MetaError::NotFound)?;
                let origins: String = row.try_get("allowed_origins").map_err(internal)?;
                let retention: Option<i64> = row.try_get("retention_days").map_err(internal)?;
                Ok(ProjectOptions {
                    timezone: row.try_get("timezone").map_err(internal)?,
                    allowed_origins: serde_json::from_str(&origins).map_err(internal)?,
                    retention_days: retention.and_then(|d| u32::try_from(d).ok()),
                })
            }

            async fn set_project_options(
                &self,
                id: ProjectId,
                options: &ProjectOptions,
            ) -> Result<(), MetaError> {
                let origins = serde_json::to_string(&options.allowed_origins).map_err(internal)?;
                let done = sqlx::query(
                    "UPDATE projects SET timezone = $1, allowed_origins = $2, retention_days = $3 \
                     WHERE id = $4",
                )
                .bind(&options.timezone)
                .bind(origins)
                .bind(options.retention_days.map(i64::from))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(internal)?;
                found(done.rows_affected())
            }

            async fn role_of(
                &self,
                project_id: ProjectId,
                user_id: UserId,
            ) -> Result<Option<Role>, MetaError> {
                let row = sqlx::query(
                    "SELECT role FROM memberships WHERE project_id = $1 AND user_id = $2",
                )
                .bind(project_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                row.as_ref().map(role_from).transpose()
            }

            async fn set_member(
                &self,
                project_id: ProjectId,
                user_id: UserId,
                role: Role,
            ) -> Result<(), MetaError> {
                sqlx::query(
                    "INSERT INTO memberships (project_id, user_id, role, created_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(project_id)
                .bind(user_id)
                .bind(role.as_str())
                .bind(Utc::now())
                .execute(&self.pool)
                .await
                .map_err(missing_parent)?;
                Ok(())
            }

            async fn remove_member(
                &self,
                project_id: ProjectId,
                user_id: UserId,
            ) -> Result<(), MetaError> {
                let done =
                    sqlx::query("DELETE FROM memberships WHERE project_id = $1 AND user_id = $2")
                        .bind(project_id)
                        .bind(user_id)
                        .execute(&self.pool)
                        .await
                        .map_err(internal)?;
                found(done.rows_affected())
            }

            async fn members(&self, project_id: ProjectId) -> Result<Vec<Member>, MetaError> {
                let rows = sqlx::query(&format!(
                    "SELECT {USER_COLUMNS}, m.role FROM memberships m \
                     JOIN users u ON u.id = m.user_id \
                     WHERE m.project_id = $1 ORDER BY u.id"
                ))
                .bind(project_id)
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                rows.iter()
                    .map(|row| {
                        Ok(Member {
                            user: user_from(row)?,
                            role: role_from(row)?,
                        })
                    })
                    .collect()
            }

            async fn create_invite(
                &self,
                project_id: ProjectId,
                email: &str,
                role: Role,
                invited_by: UserId,
                expires_at: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<(Invite, String), MetaError> {
                let token = keys::session_token();
                let row = sqlx::query(&format!(
                    "INSERT INTO invites (project_id, email, role, digest, invited_by, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {INVITE_COLUMNS}"
                ))
                .bind(project_id)
                .bind(email.trim().to_lowercase())
                .bind(role.as_str())
                .bind(keys::token_digest(&token))
                .bind(invited_by)
                .bind(now)
                .bind(expires_at)
                .fetch_one(&self.pool)
                .await
                .map_err(missing_parent)?;
                Ok((invite_from(&row)?, token))
            }

            async fn pending_invites(
                &self,
                project_id: ProjectId,
                now: DateTime<Utc>,
            ) -> Result<Vec<Invite>, MetaError> {
                let rows = sqlx::query(&format!(
                    "SELECT {INVITE_COLUMNS} FROM invites \
                     WHERE project_id = $1 AND accepted_at IS NULL ORDER BY id"
                ))
                .bind(project_id)
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                let invites: Vec<Invite> = rows.iter().map(invite_from).collect::<Result<_, _>>()?;
                Ok(invites.into_iter().filter(|i| i.expires_at > now).collect())
            }

            async fn revoke_invite(
                &self,
                project_id: ProjectId,
                invite_id: InviteId,
            ) -> Result<(), MetaError> {
                let done = sqlx::query(
                    "DELETE FROM invites WHERE id = $1 AND project_id = $2 AND accepted_at IS NULL",
                )
                .bind(invite_id)
                .bind(project_id)
                .execute(&self.pool)
                .await
                .map_err(internal)?;
                found(done.rows_affected())
            }

            async fn invite(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Invite>, MetaError> {
                let row = sqlx::query(&format!(
                    "SELECT {INVITE_COLUMNS} FROM invites WHERE digest = $1 AND accepted_at IS NULL"
                ))
                .bind(keys::token_digest(token))
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                let invite = row.as_ref().map(invite_from).transpose()?;
                Ok(invite.filter(|i| i.expires_at > now))
            }

            async fn accept_invite(
                &self,
                token: &str,
                user_id: UserId,
                now: DateTime<Utc>,
            ) -> Result<Invite, MetaError> {
                let mut tx = self.pool.begin_with(WRITE_TRANSACTION).await.map_err(internal)?;
                let row = sqlx::query(&format!(
                    "SELECT {INVITE_COLUMNS} FROM invites WHERE digest = $1 AND accepted_at IS NULL"
                ))
                .bind(keys::token_digest(token))
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?
                .ok_or(MetaError::NotFound)?;
                let invite = invite_from(&row)?;
                if invite.expires_at <= now {
                    return Err(MetaError::NotFound);
                }
                // Zero rows: a concurrent acceptance spent it first.
                let spent = sqlx::query(
                    "UPDATE invites SET accepted_at = $1, accepted_by = $2 \
                     WHERE id = $3 AND accepted_at IS NULL",
                )
                .bind(now)
                .bind(user_id)
                .bind(invite.id)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
                found(spent.rows_affected())?;
                let current = sqlx::query(
                    "SELECT role FROM memberships WHERE project_id = $1 AND user_id = $2",
                )
                .bind(invite.project_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?
                .as_ref()
                .map(role_from)
                .transpose()?;
                let role = current.map_or(invite.role, |r| r.max(invite.role));
                sqlx::query(
                    "INSERT INTO memberships (project_id, user_id, role, created_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(invite.project_id)
                .bind(user_id)
                .bind(role.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(missing_parent)?;
                tx.commit().await.map_err(internal)?;
                Ok(invite)
            }

            async fn create_ingest_key(&self, project_id: ProjectId) -> Result<IssuedKey, MetaError> {
                let mut tx = self.pool.begin_with(WRITE_TRANSACTION).await.map_err(internal)?;
                let key = Self::insert_ingest_key(&mut tx, project_id, Utc::now()).await?;
                tx.commit().await.map_err(internal)?;
                Ok(key)
            }

            async fn rotate_ingest_key(
                &self,
                project_id: ProjectId,
                grace: chrono::Duration,
                now: DateTime<Utc>,
            ) -> Result<IssuedKey, MetaError> {
                let mut tx = self.pool.begin_with(WRITE_TRANSACTION).await.map_err(internal)?;
                // Keys already on their way out keep their earlier end.
                let ends = now + grace;
                let current = sqlx::query(
                    "SELECT id, expires_at FROM api_keys \
                     WHERE project_id = $1 AND kind = 'ingest' AND revoked_at IS NULL",
                )
                .bind(project_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(internal)?;
                for row in &current {
                    let id: i64 = row.try_get("id").map_err(internal)?;
                    let expires: Option<DateTime<Utc>> =
                        row.try_get("expires_at").map_err(internal)?;
                    if expires.is_none_or(|e| e > ends) {
                        sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
                            .bind(ends)
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .map_err(internal)?;
                    }
                }
                let key = Self::insert_ingest_key(&mut tx, project_id, now).await?;
                tx.commit().await.map_err(internal)?;
                Ok(key)
            }

            async fn create_personal_key(
                &self,
                user_id: UserId,
                name: &str,
                scope: KeyScope,
                now: DateTime<Utc>,
            ) -> Result<(PersonalKey, IssuedKey), MetaError> {
                let (plaintext, lookup) = keys::generate(KeyKind::Personal);
                let hash = hash_off_thread(plaintext.clone()).await?;
                let row = sqlx::query(
                    "INSERT INTO personal_keys (user_id, name, scope, lookup, hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     RETURNING id, name, scope, created_at, last_used_at",
                )
                .bind(user_id)
                .bind(name)
                .bind(scope.as_str())
                .bind(lookup)
                .bind(hash)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(missing_parent)?;
                Ok((
                    personal_key_from(&row)?,
                    IssuedKey {
                        kind: KeyKind::Personal,
                        plaintext,
                    },
                ))
            }

            async fn personal_keys(&self, user_id: UserId) -> Result<Vec<PersonalKey>, MetaError> {
                let rows = sqlx::query(
                    "SELECT id, name, scope, created_at, last_used_at FROM personal_keys \
                     WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id DESC",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                rows.iter().map(personal_key_from).collect()
            }

            async fn revoke_personal_key(
                &self,
                user_id: UserId,
                key_id: PersonalKeyId,
                now: DateTime<Utc>,
            ) -> Result<(), MetaError> {
                let done = sqlx::query(
                    "UPDATE personal_keys SET revoked_at = $1 \
                     WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(key_id)
                .bind(user_id)
                .execute(&self.pool)
                .await
                .map_err(internal)?;
                found(done.rows_affected())
            }

            async fn authenticate(
                &self,
                presented: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<KeyGrant>, MetaError> {
                let Some(parsed) = keys::parse_key(presented) else {
                    return Ok(None);
                };
                match parsed.kind {
                    KeyKind::Ingest => {
                        let row = sqlx::query(
                            "SELECT project_id, hash, expires_at FROM api_keys \
                             WHERE lookup = $1 AND kind = 'ingest' AND revoked_at IS NULL",
                        )
                        .bind(parsed.lookup)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                        let Some(row) = row else { return Ok(None) };
                        let expires: Option<DateTime<Utc>> =
                            row.try_get("expires_at").map_err(internal)?;
                        if expires.is_some_and(|e| e <= now) {
                            return Ok(None);
                        }
                        let project_id: ProjectId = row.try_get("project_id").map_err(internal)?;
                        let hash: String = row.try_get("hash").map_err(internal)?;
                        Ok(verify_off_thread(presented.to_owned(), hash)
                            .await?
                            .then_some(KeyGrant::Ingest { project_id }))
                    }
                    KeyKind::Personal => {
                        let row = sqlx::query(
                            "SELECT k.id, k.user_id, k.scope, k.hash FROM personal_keys k \
                             JOIN users u ON u.id = k.user_id \
                             WHERE k.lookup = $1 AND k.revoked_at IS NULL AND u.is_active",
                        )
                        .bind(parsed.lookup)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                        let Some(row) = row else { return Ok(None) };
                        let hash: String = row.try_get("hash").map_err(internal)?;
                        if !verify_off_thread(presented.to_owned(), hash).await? {
                            return Ok(None);
                        }
                        let key_id: PersonalKeyId = row.try_get("id").map_err(internal)?;
                        let scope: String = row.try_get("scope").map_err(internal)?;
                        sqlx::query("UPDATE personal_keys SET last_used_at = $1 WHERE id = $2")
                            .bind(now)
                            .bind(key_id)
                            .execute(&self.pool)
                            .await
                            .map_err(internal)?;
                        Ok(Some(KeyGrant::Personal {
                            user_id: row.try_get("user_id").map_err(internal)?,
                            key_id,
                            scope: KeyScope::parse(&scope)
                                .ok_or_else(|| internal(format!("unknown scope {scope}")))?,
                        }))
                    }
                }
            }

            async fn create_user(&self, user: NewUser, now: DateTime<Utc>) -> Result<User, MetaError> {
                let row = sqlx::query(
                    "INSERT INTO users (email, name, password_hash, is_superuser, created_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id, email, name, is_superuser, is_active, created_at",
                )
                .bind(user.email.as_deref().map(str::to_lowercase))
                .bind(&user.name)
                .bind(&user.password_hash)
                .bind(user.is_superuser)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| match e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => {
                        MetaError::Conflict("a user with this email exists".into())
                    }
                    other => internal(other),
                })?;
                user_from(&row)
            }

            async fn claim_first_user(
                &self,
                email: &str,
                name: &str,
                password_hash: &str,
                _now: DateTime<Utc>,
            ) -> Result<User, MetaError> {
                // One statement, so two concurrent claims cannot both succeed: the
                // second finds the row already given a password.
                let row = sqlx::query(
                    "UPDATE users SET email = $1, name = $2, password_hash = $3 \
                     WHERE id = (SELECT min(id) FROM users) AND password_hash IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM users o WHERE o.password_hash IS NOT NULL) \
                     RETURNING id, email, name, is_superuser, is_active, created_at",
                )
                .bind(email.to_lowercase())
                .bind(name)
                .bind(password_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                match row {
                    Some(row) => user_from(&row),
                    None => Err(MetaError::Conflict(
                        "setup is done: a user can already log in".into(),
                    )),
                }
            }

            async fn setup_complete(&self) -> Result<bool, MetaError> {
                let row = sqlx::query(
                    "SELECT EXISTS (SELECT 1 FROM users WHERE password_hash IS NOT NULL) AS done",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(internal)?;
                row.try_get("done").map_err(internal)
            }

            async fn user(&self, id: UserId) -> Result<Option<User>, MetaError> {
                let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(internal)?;
                row.as_ref().map(user_from).transpose()
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<User>, MetaError> {
                let row =
                    sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = $1"))
                        .bind(email.to_lowercase())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                row.as_ref().map(user_from).transpose()
            }

            async fn users(&self) -> Result<Vec<User>, MetaError> {
                let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.id"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                rows.iter().map(user_from).collect()
            }

            async fn login_record(&self, email: &str) -> Result<Option<LoginRecord>, MetaError> {
                let row = sqlx::query(&format!(
                    "SELECT {USER_COLUMNS}, u.password_hash, u.failed_logins, u.locked_until \
                     FROM users u WHERE u.email = $1"
                ))
                .bind(email.to_lowercase())
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                row.as_ref()
                    .map(|row| {
                        Ok(LoginRecord {
                            user: user_from(row)?,
                            password_hash: row.try_get("password_hash").map_err(internal)?,
                            failed_logins: row.try_get("failed_logins").map_err(internal)?,
                            locked_until: row.try_get("locked_until").map_err(internal)?,
                        })
                    })
                    .transpose()
            }

            async fn record_login_failure(
                &self,
                user_id: UserId,
                max_failures: i64,
                lock_for: chrono::Duration,
                now: DateTime<Utc>,
            ) -> Result<Option<DateTime<Utc>>, MetaError> {
                let mut tx = self.pool.begin_with(WRITE_TRANSACTION).await.map_err(internal)?;
                let failures: i64 = sqlx::query(
                    "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 \
                     RETURNING failed_logins",
                )
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?
                .ok_or(MetaError::NotFound)?
                .try_get("failed_logins")
                .map_err(internal)?;
                let locked_until = (failures >= max_failures).then(|| now + lock_for);
                if let Some(until) = locked_until {
                    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = $1 WHERE id = $2")
                        .bind(until)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                }
                tx.commit().await.map_err(internal)?;
                Ok(locked_until)
            }

            async fn record_login_success(&self, user_id: UserId) -> Result<(), MetaError> {
                sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
                    .bind(user_id)
                    .execute(&self.pool)
                    .await
                    .map_err(internal)?;
                Ok(())
            }

            async fn set_user_name(&self, user_id: UserId, name: &str) -> Result<(), MetaError> {
                let done = sqlx::query("UPDATE users SET name = $1 WHERE id = $2")
                    .bind(name)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await
                    .map_err(internal)?;
                found(done.rows_affected())
            }

            async fn set_password(&self, user_id: UserId, password_hash: &str) -> Result<(), MetaError> {
                let done = sqlx::query(
                    "UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL \
                     WHERE id = $2",
                )
                .bind(password_hash)
                .bind(user_id)
                .execute(&self.pool)
                .await
                .map_err(internal)?;
                found(done.rows_affected())
            }

            async fn set_user_active(&self, user_id: UserId, active: bool) -> Result<(), MetaError> {
                let done = sqlx::query("UPDATE users SET is_active = $1 WHERE id = $2")
                    .bind(active)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await
                    .map_err(internal)?;
                found(done.rows_affected())
            }

            async fn delete_user(&self, user_id: UserId) -> Result<(), MetaError> {
                let mut tx = self.pool.begin_with(WRITE_TRANSACTION).await.map_err(internal)?;
                for sql in [
                    "DELETE FROM session_tokens WHERE session_id IN \
                     (SELECT id FROM auth_sessions WHERE user_id = $1)",
                    "DELETE FROM auth_sessions WHERE user_id = $1",
                    "DELETE FROM personal_keys WHERE user_id = $1",
                    "DELETE FROM memberships WHERE user_id = $1",
                ] {
                    sqlx::query(sql)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                }
                let done = sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                found(done.rows_affected())?;
                tx.commit().await.map_err(internal)
            }

            async fn create_session(
                &self,
                user_id: UserId,
                lifetimes: SessionLifetimes,
                now: DateTime<Utc>,
            ) -> Result<IssuedSession, MetaError> {
                let csrf = keys::session_token();
                let mut tx = self.pool.begin_with(WRITE_TRANSACTION).await.map_err(internal)?;
                let session_id: SessionId = sqlx::query(
                    "INSERT INTO auth_sessions (user_id, csrf, created_at) VALUES ($1, $2, $3) \
                     RETURNING id",
                )
                .bind(user_id)
                .bind(&csrf)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(missing_parent)?
                .try_get("id")
                .map_err(internal)?;
                let issued =
                    Self::issue_tokens(&mut tx, session_id, user_id, csrf, lifetimes, now).await?;
                tx.commit().await.map_err(internal)?;
                Ok(issued)
            }

            async fn session(
                &self,
                access_token: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<SessionGrant>, MetaError> {
                let row = sqlx::query(
                    "SELECT s.id, s.user_id, s.csrf, t.expires_at FROM session_tokens t \
                     JOIN auth_sessions s ON s.id = t.session_id \
                     JOIN users u ON u.id = s.user_id \
                     WHERE t.digest = $1 AND t.kind = 'access' AND s.revoked_at IS NULL \
                     AND u.is_active",
                )
                .bind(keys::token_digest(access_token))
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                let Some(row) = row else { return Ok(None) };
                let expires: DateTime<Utc> = row.try_get("expires_at").map_err(internal)?;
                if expires <= now {
                    return Ok(None);
                }
                Ok(Some(SessionGrant {
                    session_id: row.try_get("id").map_err(internal)?,
                    user_id: row.try_get("user_id").map_err(internal)?,
                    csrf_token: row.try_get("csrf").map_err(internal)?,
                }))
            }

            async fn refresh_session(
                &self,
                refresh_token: &str,
                lifetimes: SessionLifetimes,
                now: DateTime<Utc>,
            ) -> Result<RefreshOutcome, MetaError> {
                let digest = keys::token_digest(refresh_token);
                let mut tx = self.pool.begin_with(WRITE_TRANSACTION).await.map_err(internal)?;
                let row = sqlx::query(
                    "SELECT s.id, s.user_id, s.csrf, t.expires_at, t.used_at \
                     FROM session_tokens t \
                     JOIN auth_sessions s ON s.id = t.session_id \
                     JOIN users u ON u.id = s.user_id \
                     WHERE t.digest = $1 AND t.kind = 'refresh' AND s.revoked_at IS NULL \
                     AND u.is_active",
                )
                .bind(&digest)
                .fetch_optional(&mut *tx)
                .await
                .map_err(internal)?;
                let Some(row) = row else {
                    return Ok(RefreshOutcome::Invalid);
                };
                let session_id: SessionId = row.try_get("id").map_err(internal)?;
                let user_id: UserId = row.try_get("user_id").map_err(internal)?;
                let expires: DateTime<Utc> = row.try_get("expires_at").map_err(internal)?;
                let used: Option<DateTime<Utc>> = row.try_get("used_at").map_err(internal)?;
                if expires <= now {
                    return Ok(RefreshOutcome::Invalid);
                }
                // Spend it; zero rows means a concurrent refresh spent it first.
                let spent = used.is_none()
                    && sqlx::query(
                        "UPDATE session_tokens SET used_at = $1 WHERE digest = $2 AND used_at IS NULL",
                    )
                    .bind(now)
                    .bind(&digest)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?
                    .rows_affected()
                        == 1;
                if !spent {
                    sqlx::query("UPDATE auth_sessions SET revoked_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(session_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    tx.commit().await.map_err(internal)?;
                    return Ok(RefreshOutcome::ReuseDetected { session_id });
                }
                let csrf: String = row.try_get("csrf").map_err(internal)?;
                let issued =
                    Self::issue_tokens(&mut tx, session_id, user_id, csrf, lifetimes, now).await?;
                tx.commit().await.map_err(internal)?;
                Ok(RefreshOutcome::Rotated(issued))
            }

            async fn revoke_session(&self, session_id: SessionId, now: DateTime<Utc>) -> Result<(), MetaError> {
                sqlx::query(
                    "UPDATE auth_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(session_id)
                .execute(&self.pool)
                .await
                .map_err(internal)?;
                Ok(())
            }

            async fn revoke_user_sessions(
                &self,
                user_id: UserId,
                keep: Option<SessionId>,
                now: DateTime<Utc>,
            ) -> Result<(), MetaError> {
                sqlx::query(
                    "UPDATE auth_sessions SET revoked_at = $1 \
                     WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3",
                )
                .bind(now)
                .bind(user_id)
                .bind(keep.unwrap_or(-1))
                .execute(&self.pool)
                .await
                .map_err(internal)?;
                Ok(())
            }

            async fn all_pipeline_settings(
                &self,
            ) -> Result<Vec<(ProjectId, PipelineSettings)>, MetaError> {
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
                let done = sqlx::query("UPDATE projects SET drop_bots = $1, use_ip = $2 WHERE id = $3")
                    .bind(settings.drop_bots)
                    .bind(settings.use_ip)
                    .bind(project_id)
                    .execute(&self.pool)
                    .await
                    .map_err(internal)?;
                found(done.rows_affected())
            }

            async fn create_insight(
                &self,
                project_id: ProjectId,
                draft: InsightDraft,
                created_by: Option<UserId>,
                now: DateTime<Utc>,
            ) -> Result<Insight, MetaError> {
                let row = sqlx::query(&format!(
                    "INSERT INTO insights (project_id, name, query, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING {INSIGHT_COLUMNS}"
                ))
                .bind(project_id)
                .bind(&draft.name)
                .bind(draft.query.to_string())
                .bind(created_by)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(missing_parent)?;
                insight_from(&row)
            }

            async fn insights(&self, project_id: ProjectId) -> Result<Vec<Insight>, MetaError> {
                let rows = sqlx::query(&format!(
                    "SELECT {INSIGHT_COLUMNS} FROM insights WHERE project_id = $1 ORDER BY id DESC"
                ))
                .bind(project_id)
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                rows.iter().map(insight_from).collect()
            }

            async fn insight(
                &self,
                project_id: ProjectId,
                id: InsightId,
            ) -> Result<Option<Insight>, MetaError> {
                let row = sqlx::query(&format!(
                    "SELECT {INSIGHT_COLUMNS} FROM insights WHERE project_id = $1 AND id = $2"
                ))
                .bind(project_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                row.as_ref().map(insight_from).transpose()
            }

            async fn update_insight(
                &self,
                project_id: ProjectId,
                id: InsightId,
                draft: InsightDraft,
                now: DateTime<Utc>,
            ) -> Result<Insight, MetaError> {
                let row = sqlx::query(&format!(
                    "UPDATE insights SET name = $1, query = $2, updated_at = $3 \
                     WHERE project_id = $4 AND id = $5 RETURNING {INSIGHT_COLUMNS}"
                ))
                .bind(&draft.name)
                .bind(draft.query.to_string())
                .bind(now)
                .bind(project_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                row.as_ref().map(insight_from).transpose()?.ok_or(MetaError::NotFound)
            }

            async fn delete_insight(&self, project_id: ProjectId, id: InsightId) -> Result<(), MetaError> {
                self.delete_with_tiles("insights", "insight_id", project_id, id).await
            }

            async fn create_dashboard(
                &self,
                project_id: ProjectId,
                name: &str,
                created_by: Option<UserId>,
                now: DateTime<Utc>,
            ) -> Result<Dashboard, MetaError> {
                let row = sqlx::query(&format!(
                    "INSERT INTO dashboards (project_id, name, created_by, created_at) \
                     VALUES ($1, $2, $3, $4) RETURNING {DASHBOARD_COLUMNS}"
                ))
                .bind(project_id)
                .bind(name)
                .bind(created_by)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(missing_parent)?;
                dashboard_from(&row)
            }

            async fn dashboards(&self, project_id: ProjectId) -> Result<Vec<Dashboard>, MetaError> {
                let rows = sqlx::query(&format!(
                    "SELECT {DASHBOARD_COLUMNS} FROM dashboards WHERE project_id = $1 ORDER BY name, id"
                ))
                .bind(project_id)
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                let mut dashboards: Vec<Dashboard> =
                    rows.iter().map(dashboard_from).collect::<Result<_, _>>()?;
                let tiles = sqlx::query(
                    "SELECT t.dashboard_id, t.insight_id FROM dashboard_tiles t \
                     JOIN dashboards d ON d.id = t.dashboard_id \
                     WHERE d.project_id = $1 ORDER BY t.dashboard_id, t.position",
                )
                .bind(project_id)
                .fetch_all(&self.pool)
                .await
                .map_err(internal)?;
                for tile in &tiles {
                    let dashboard_id: DashboardId = tile.try_get("dashboard_id").map_err(internal)?;
                    let insight_id: InsightId = tile.try_get("insight_id").map_err(internal)?;
                    if let Some(d) = dashboards.iter_mut().find(|d| d.id == dashboard_id) {
                        d.tiles.push(insight_id);
                    }
                }
                Ok(dashboards)
            }

            async fn dashboard(
                &self,
                project_id: ProjectId,
                id: DashboardId,
            ) -> Result<Option<Dashboard>, MetaError> {
                let row = sqlx::query(&format!(
                    "SELECT {DASHBOARD_COLUMNS} FROM dashboards WHERE project_id = $1 AND id = $2"
                ))
                .bind(project_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                let Some(row) = row else { return Ok(None) };
                let mut dashboard = dashboard_from(&row)?;
                dashboard.tiles = self.tiles_of(dashboard.id).await?;
                Ok(Some(dashboard))
            }

            async fn update_dashboard(
                &self,
                project_id: ProjectId,
                id: DashboardId,
                name: Option<&str>,
                tiles: Option<&[InsightId]>,
            ) -> Result<Dashboard, MetaError> {
                let mut tx = self.pool.begin_with(WRITE_TRANSACTION).await.map_err(internal)?;
                let exists = sqlx::query("SELECT id FROM dashboards WHERE project_id = $1 AND id = $2")
                    .bind(project_id)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(internal)?;
                if exists.is_none() {
                    return Err(MetaError::NotFound);
                }
                if let Some(name) = name {
                    sqlx::query("UPDATE dashboards SET name = $1 WHERE id = $2")
                        .bind(name)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                }
                if let Some(tiles) = tiles {
                    sqlx::query("DELETE FROM dashboard_tiles WHERE dashboard_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    for (position, insight_id) in tiles.iter().enumerate() {
                        if tiles[..position].contains(insight_id) {
                            return Err(MetaError::Invalid(format!(
                                "insight {insight_id} is on the dashboard twice"
                            )));
                        }
                        // Only an insight of the same project may become a tile.
                        let added = sqlx::query(
                            "INSERT INTO dashboard_tiles (dashboard_id, insight_id, position) \
                             SELECT $1, id, $2 FROM insights WHERE project_id = $3 AND id = $4",
                        )
                        .bind(id)
                        .bind(position as i64)
                        .bind(project_id)
                        .bind(*insight_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                        if added.rows_affected() == 0 {
                            return Err(MetaError::Invalid(format!(
                                "insight {insight_id} is not an insight of this project"
                            )));
                        }
                    }
                }
                tx.commit().await.map_err(internal)?;
                self.dashboard(project_id, id).await?.ok_or(MetaError::NotFound)
            }

            async fn delete_dashboard(
                &self,
                project_id: ProjectId,
                id: DashboardId,
            ) -> Result<(), MetaError> {
                self.delete_with_tiles("dashboards", "dashboard_id", project_id, id).await
            }

            async fn share_dashboard(
                &self,
                project_id: ProjectId,
                id: DashboardId,
                now: DateTime<Utc>,
            ) -> Result<String, MetaError> {
                let token = keys::session_token();
                let done = sqlx::query(
                    "UPDATE dashboards SET share_digest = $1, shared_at = $2 \
                     WHERE project_id = $3 AND id = $4",
                )
                .bind(keys::token_digest(&token))
                .bind(now)
                .bind(project_id)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(internal)?;
                found(done.rows_affected())?;
                Ok(token)
            }

            async fn unshare_dashboard(
                &self,
                project_id: ProjectId,
                id: DashboardId,
            ) -> Result<(), MetaError> {
                let done = sqlx::query(
                    "UPDATE dashboards SET share_digest = NULL, shared_at = NULL \
                     WHERE project_id = $1 AND id = $2",
                )
                .bind(project_id)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(internal)?;
                found(done.rows_affected())
            }

            async fn shared_dashboard(&self, token: &str) -> Result<Option<Dashboard>, MetaError> {
                let row = sqlx::query(&format!(
                    "SELECT {DASHBOARD_COLUMNS} FROM dashboards WHERE share_digest = $1"
                ))
                .bind(keys::token_digest(token))
                .fetch_optional(&self.pool)
                .await
                .map_err(internal)?;
                let Some(row) = row else { return Ok(None) };
                let mut dashboard = dashboard_from(&row)?;
                dashboard.tiles = self.tiles_of(dashboard.id).await?;
                Ok(Some(dashboard))
            }

            async fn shared_secret(
                &self,
                name: &str,
                candidate: &[u8],
            ) -> Result<Vec<u8>, MetaError> {
                // The first writer's candidate wins; every caller reads the winner.
                sqlx::query(
                    "INSERT INTO instance_secrets (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(candidate)
                .execute(&self.pool)
                .await
                .map_err(internal)?;
                sqlx::query("SELECT value FROM instance_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(internal)?
                    .try_get("value")
                    .map_err(internal)
            }

            async fn ping(&self) -> Result<(), MetaError> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(internal)?;
                Ok(())
            }
        }
    };
}

pub(crate) use sql_metadata_store;
