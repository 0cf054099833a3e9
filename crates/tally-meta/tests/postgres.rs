//! The metadata conformance suite on a real PostgreSQL server, a new database per
//! test. `scripts/test.sh` installs PostgreSQL (Debian packages), starts a
//! throw-away cluster on 127.0.0.1 and exports its URL as `TALLY_TEST_POSTGRES_URL`.

use sqlx::Connection;

/// Drops the test's database when the test ends.
struct Database {
    admin_url: String,
    name: String,
}

impl Drop for Database {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // A new runtime: the test's own is shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
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

async fn fresh() -> (Database, tally_meta::PostgresMeta) {
    let admin_url = std::env::var("TALLY_TEST_POSTGRES_URL").expect(
        "TALLY_TEST_POSTGRES_URL is not set: run the suite with scripts/test.sh, \
         which installs and starts PostgreSQL",
    );
    let name = format!("tally_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to the test server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create the test database");
    let mut url = url::Url::parse(&admin_url).expect("a postgres:// URL");
    url.set_path(&name);
    let store = tally_meta::PostgresMeta::connect(url.as_str())
        .await
        .expect("postgres store connects and migrates");
    (Database { admin_url, name }, store)
}

tally_meta::metadata_conformance_suite!(fresh());
