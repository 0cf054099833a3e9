//! The backend conformance suite plus DuckDB-specific checks, on a real DuckDB
//! file in a temporary directory.

use crate::{DuckDb, DuckDbConfig};
use tally_core::EventStore;
use tally_query::conformance::event;
use tally_query::{EventsQuery, QueryEngine};

fn open(dir: &tempfile::TempDir) -> DuckDb {
    DuckDb::open(&DuckDbConfig::in_dir(dir.path())).unwrap()
}

fn fresh() -> (DuckDb, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (open(&dir), dir)
}

tally_query::conformance_suite!(fresh());

#[tokio::test]
async fn duplicates_stay_duplicates_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let e = event(1, "signup", "u1", "2026-11-01T10:00:00Z");
    {
        let db = open(&dir);
        db.insert_batch(vec![e.clone()].into()).await.unwrap();
    }
    let db = open(&dir);
    assert_eq!(db.stored_events(), 1, "the index is rebuilt from the table");
    let out = db
        .insert_batch(vec![e.clone(), e.clone()].into())
        .await
        .unwrap();
    assert_eq!((out.inserted, out.duplicates), (0, 2));
    let q = EventsQuery::all(1, 10);
    assert_eq!(db.events(q).await.unwrap().results.len(), 1);
}

#[test]
fn migrations_are_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    let db = open(&dir);
    let rows: i64 = db
        .read(|c| {
            c.query_row("SELECT count(*) FROM tally_migrations", [], |r| r.get(0))
                .map_err(crate::store::internal)
        })
        .unwrap();
    assert_eq!(rows, crate::schema::latest_version());
}
