//! The metadata conformance suite on a real PostgreSQL server, a new database per
//! test. `scripts/test.sh` installs PostgreSQL (Debian packages), starts a
//! throw-away cluster on 127.0.0.1 and exports its URL as `TALLY_TEST_POSTGRES_URL`.

use tally_meta::testing::TestDatabase;

async fn fresh() -> (TestDatabase, tally_meta::PostgresMeta) {
    let db = TestDatabase::create().await;
    let store = tally_meta::PostgresMeta::connect(&db.url)
        .await
        .expect("postgres store connects and migrates");
    (db, store)
}

tally_meta::metadata_conformance_suite!(fresh());
