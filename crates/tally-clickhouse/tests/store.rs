//! Store behaviour particular to ClickHouse, against a real server.

mod common;

use tally_core::{EventStore, PersonChanges, PersonStore};
use tally_query::conformance::event;
use tally_query::{EventsQuery, QueryEngine};

/// A batch holding events stored before and new ones stores only the new
/// ones: the duplicate check is per event, not per batch.
#[tokio::test]
async fn a_batch_of_stored_and_new_events_stores_only_the_new_ones() {
    let (db, _) = common::open().await;
    let a = event(1, "view", "u1", "2026-11-01T10:00:00Z");
    let b = event(1, "view", "u1", "2026-11-01T10:00:00Z");
    let c = event(1, "click", "u2", "2026-12-03T10:00:00Z");
    assert_eq!(
        db.insert_batch(vec![a.clone()].into())
            .await
            .unwrap()
            .inserted,
        1
    );
    let out = db
        .insert_batch(vec![a.clone(), b.clone(), c.clone(), b.clone()].into())
        .await
        .unwrap();
    assert_eq!((out.inserted, out.duplicates), (2, 2));
    let mut stored: Vec<_> = db
        .events(EventsQuery::all(1, 10))
        .await
        .unwrap()
        .results
        .into_iter()
        .map(|r| r.uuid)
        .collect();
    stored.sort();
    let mut expected = vec![a.uuid, b.uuid, c.uuid];
    expected.sort();
    assert_eq!(stored, expected);
}

/// Migrations run once: opening the same database again applies nothing and
/// keeps the data.
#[tokio::test]
async fn reopening_a_migrated_database_keeps_its_events() {
    let config = common::fresh_config();
    assert_eq!(
        tally_clickhouse::ClickHouse::migrate(&config)
            .await
            .unwrap(),
        vec![1]
    );
    let db = tally_clickhouse::ClickHouse::open(&config).await.unwrap();
    db.insert_batch(vec![event(1, "view", "u1", "2026-11-01T10:00:00Z")].into())
        .await
        .unwrap();
    assert!(tally_clickhouse::ClickHouse::migrate(&config)
        .await
        .unwrap()
        .is_empty());
    let again = tally_clickhouse::ClickHouse::open(&config).await.unwrap();
    assert_eq!(
        again.count_events(EventsQuery::all(1, 10)).await.unwrap(),
        1
    );
}

/// Person ids continue past every id in use after a restart, and a merge
/// chain saved twice (a replay) ends at the survivor.
#[tokio::test]
async fn person_ids_continue_and_merge_chains_resolve_after_a_reopen() {
    let config = common::fresh_config();
    let db = tally_clickhouse::ClickHouse::open(&config).await.unwrap();
    let first = db.allocate_person_ids(3).unwrap();
    assert_eq!(first, 1);
    let links = vec![
        (1, "a".to_string(), 1),
        (1, "b".to_string(), 2),
        (1, "c".to_string(), 3),
    ];
    let person = |id| tally_core::Person {
        project_id: 1,
        id,
        is_identified: false,
        first_seen: chrono::DateTime::from_timestamp(1, 0).unwrap(),
        last_seen: chrono::DateTime::from_timestamp(2, 0).unwrap(),
        properties: Default::default(),
    };
    db.save_persons(&PersonChanges {
        merges: vec![],
        links,
        persons: vec![person(1), person(2), person(3)],
    })
    .unwrap();
    let merges = PersonChanges {
        merges: vec![(1, 3, 2), (1, 2, 1)],
        links: vec![],
        persons: vec![],
    };
    db.save_persons(&merges).unwrap();
    db.save_persons(&merges).unwrap();
    drop(db);
    let db = tally_clickhouse::ClickHouse::open(&config).await.unwrap();
    let keys: Vec<_> = ["a", "b", "c"].iter().map(|d| (1, d.to_string())).collect();
    let snap = db.load_persons(&keys).unwrap();
    assert_eq!(snap.distinct_ids.len(), 3);
    assert!(
        snap.distinct_ids.iter().all(|(_, _, p)| *p == 1),
        "{snap:?}"
    );
    assert_eq!(
        snap.persons.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(db.allocate_person_ids(1).unwrap(), 4);
}

/// A batch with tens of thousands of distinct ids looks all of them up at
/// once: the query text is past ClickHouse's default 256 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persons_of_a_batch_with_many_distinct_ids_load_at_once() {
    let (db, _) = common::open().await;
    let keys: Vec<(i64, String)> = (0..40_000)
        .map(|i| (1, format!("visitor-{i:08}-0123456789")))
        .collect();
    db.save_persons(&PersonChanges {
        merges: vec![],
        links: vec![(1, keys[39_999].1.clone(), 7)],
        persons: vec![],
    })
    .unwrap();
    let snap = db.load_persons(&keys).unwrap();
    assert_eq!(snap.distinct_ids, vec![(1, keys[39_999].1.clone(), 7)]);
}
