//! Person resolution shared by several worker processes through PostgreSQL.
//!
//! A worker resolves a batch's persons by reading them, deciding (new
//! persons, links, merges) and saving. Two workers deciding about the same
//! distinct ids at once — a merge whose two ids hash to partitions that
//! different workers consume — could each make a person for the same id, and
//! two processes counting person ids on their own hand out the same ids. So
//! [`SharedPersons`] wraps the event store's [`PersonStore`] (the persons stay
//! there, in ClickHouse) and adds what must be shared:
//! - the resolution lock is a PostgreSQL session advisory lock, held on a
//!   connection of its own from before the load until after the save (a
//!   worker that dies mid-resolution loses its connection, and with it the
//!   lock);
//! - new person ids come from one counter row in the metadata database
//!   (`person_id_counter`), started past every id the event store has used.
//!
//! Resolutions are serialized across the whole deployment; what that costs is
//! one lock round trip per batch, measured with the scale-out benchmarks.

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;
use std::future::Future;
use std::sync::Arc;
use tally_core::{
    MetaError, PersonChanges, PersonId, PersonSnapshot, PersonStore, ProjectId, ResolutionGuard,
    StoreError,
};

/// Arbitrary constant naming the persons lock among the database's advisory
/// locks (`tally_p1`).
const PERSONS_LOCK: i64 = 0x7461_6c6c_795f_7031;

/// The event store's persons, resolved one worker at a time across processes.
pub struct SharedPersons {
    inner: Arc<dyn PersonStore>,
    shared: Arc<Shared>,
    /// Runs the PostgreSQL requests of the blocking methods (they are called
    /// from the blocking pool, and from tests' async code); shut down in the
    /// background on drop.
    runtime: Option<tokio::runtime::Runtime>,
}

struct Shared {
    url: String,
    pool: PgPool,
    /// The connection that holds the advisory lock; replaced when broken.
    lock: tokio::sync::Mutex<Option<PgConnection>>,
}

fn setup(e: impl std::fmt::Display) -> MetaError {
    MetaError::Unavailable(format!("PostgreSQL (person resolution): {e}"))
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL (person resolution): {e}"))
}

impl SharedPersons {
    /// Connects to the metadata database (`postgres://…`, migrated already)
    /// and starts the shared id counter past every id `inner` has used.
    pub async fn connect(url: &str, inner: Arc<dyn PersonStore>) -> Result<Self, MetaError> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await
            .map_err(setup)?;
        let floor = inner
            .allocate_person_ids(0)
            .map_err(|e| MetaError::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO person_id_counter (id, next) VALUES (1, $1) ON CONFLICT (id) \
             DO UPDATE SET next = GREATEST(person_id_counter.next, EXCLUDED.next)",
        )
        .bind(floor)
        .execute(&pool)
        .await
        .map_err(setup)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tally-shared-persons")
            .enable_all()
            .build()
            .map_err(|e| MetaError::Internal(e.to_string()))?;
        Ok(Self {
            inner,
            shared: Arc::new(Shared {
                url: url.to_owned(),
                pool,
                lock: tokio::sync::Mutex::new(None),
            }),
            runtime: Some(runtime),
        })
    }

    /// Runs `work` on this store's runtime and waits for it.
    fn block_on<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .spawn(async move {
                let _ = tx.send(work.await);
            });
        rx.recv()
            .map_err(|_| StoreError::Internal("the shared persons runtime stopped".into()))?
    }
}

impl Drop for SharedPersons {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Shared {
    /// Takes the advisory lock, on a new connection when there is none or
    /// the last one broke.
    async fn lock(&self) -> Result<(), StoreError> {
        let mut conn = self.lock.lock().await;
        for attempt in 0..2 {
            if conn.is_none() {
                *conn = Some(
                    PgConnection::connect(&self.url)
                        .await
                        .map_err(unavailable)?,
                );
            }
            let c = conn.as_mut().expect("connected above");
            match sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(PERSONS_LOCK)
                .execute(&mut *c)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if attempt == 1 => return Err(unavailable(e)),
                Err(_) => *conn = None,
            }
        }
        unreachable!("the second attempt returns")
    }

    async fn unlock(&self) -> Result<(), StoreError> {
        let mut conn = self.lock.lock().await;
        if let Some(c) = conn.as_mut() {
            if let Err(e) = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PERSONS_LOCK)
                .execute(&mut *c)
                .await
            {
                // A broken connection's session is gone, and its lock with it.
                *conn = None;
                return Err(unavailable(e));
            }
        }
        Ok(())
    }
}

/// Holds the deployment-wide lock, then this process's own; releases the
/// deployment-wide one first.
struct Held<'a> {
    owner: &'a SharedPersons,
    _local: Box<dyn ResolutionGuard + 'a>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let shared = self.owner.shared.clone();
        if let Err(e) = self.owner.block_on(async move { shared.unlock().await }) {
            tracing::warn!(error = %e, "releasing the persons lock");
        }
    }
}

impl PersonStore for SharedPersons {
    fn resolution_guard(&self) -> Result<Box<dyn ResolutionGuard + '_>, StoreError> {
        // This process's lock first: only one of its resolutions asks
        // PostgreSQL at a time.
        let local = self.inner.resolution_guard()?;
        let shared = self.shared.clone();
        self.block_on(async move { shared.lock().await })?;
        Ok(Box::new(Held {
            owner: self,
            _local: local,
        }))
    }

    fn load_persons(&self, keys: &[(ProjectId, String)]) -> Result<PersonSnapshot, StoreError> {
        self.inner.load_persons(keys)
    }

    fn allocate_person_ids(&self, count: usize) -> Result<PersonId, StoreError> {
        let shared = self.shared.clone();
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.block_on(async move {
            sqlx::query_scalar::<_, i64>(
                "UPDATE person_id_counter SET next = next + $1 WHERE id = 1 RETURNING next - $1",
            )
            .bind(count)
            .fetch_one(&shared.pool)
            .await
            .map_err(unavailable)
        })
    }

    fn save_persons(&self, changes: &PersonChanges) -> Result<(), StoreError> {
        self.inner.save_persons(changes)
    }
}
