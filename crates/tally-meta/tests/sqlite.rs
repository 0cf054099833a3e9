//! The metadata conformance suite on SQLite, a new file per test.

async fn fresh() -> (tempfile::TempDir, tally_meta::SqliteMeta) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tally_meta::SqliteMeta::open(&dir.path().join("meta.sqlite"))
        .await
        .expect("sqlite store opens");
    (dir, store)
}

tally_meta::metadata_conformance_suite!(fresh());
