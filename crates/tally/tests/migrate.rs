//! `tally migrate`: applies the event store's and the metadata store's schema
//! migrations and exits, the real binary against a real ClickHouse server.

use std::process::Command;

fn migrate(store: &str, data_dir: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["migrate", "--store", store, "--data-dir"])
        .arg(data_dir)
        .env("TALLY_LOG", "warn")
        .output()
        .expect("run tally migrate");
    assert!(
        out.status.success(),
        "tally migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn migrate_applies_the_clickhouse_schema_once_and_says_so() {
    let http = std::env::var("TALLY_TEST_CLICKHOUSE_URL").expect(
        "TALLY_TEST_CLICKHOUSE_URL is not set: run the suite with scripts/test.sh, which starts ClickHouse",
    );
    let store = format!(
        "clickhouse://{}/migrate_{}",
        http.trim_start_matches("http://").trim_end_matches('/'),
        uuid::Uuid::new_v4().simple()
    );
    let dir = tempfile::tempdir().unwrap();
    let first = migrate(&store, dir.path());
    assert!(first.contains("schema version 1 (applied [1])"), "{first}");
    assert!(first.contains("SQLite metadata: migrated"), "{first}");
    let again = migrate(&store, dir.path());
    assert!(again.contains("(nothing to apply)"), "{again}");

    // A store that cannot be reached is an error that says which.
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args([
            "migrate",
            "--store",
            "clickhouse://127.0.0.1:1/x",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ClickHouse event store"), "{err}");
}
