//! Test support shared by the crates' test suites: a fresh database on the
//! PostgreSQL server that `scripts/test.sh` starts (its URL in
//! `TALLY_TEST_POSTGRES_URL`), dropped again when the test ends.

use sqlx::Connection;

/// A test's own database; dropped with this guard.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    /// Where the database is: hand this to `PostgresMeta::connect`.
    pub url: String,
}

impl TestDatabase {
    /// Creates `tally_test_<random>`. Panics with directions when the server is
    /// not there: the suite never skips a backend.
    pub async fn create() -> Self {
        let admin_url = std::env::var("TALLY_TEST_POSTGRES_URL").expect(
            "TALLY_TEST_POSTGRES_URL is not set: run the suite with scripts/test.sh, \
             which installs and starts PostgreSQL",
        );
        let name = format!("tally_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to the test PostgreSQL server");
        // The name is ours (hex), never input: safe to splice into DDL.
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let mut url = url::Url::parse(&admin_url).expect("a postgres:// URL");
        url.set_path(&name);
        Self {
            admin_url,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // On a thread of its own: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}
