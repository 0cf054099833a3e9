//! The SQL is valid on both ClickHouse versions Tally supports and means the
//! same on both: every conformance check runs against the server (18.16, Debian's), every statement the store sends is recorded with
//! its answer, and `scripts/clickhouse/replay.py` replays them in order on
//! ClickHouse 26.9 in process (PyPI's chdb-core, in the venv `scripts/test.sh`
//! makes: `TALLY_TEST_CHDB_PYTHON`), where every answer must be the same.

mod common;

use std::path::PathBuf;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_answers_the_same_on_clickhouse_26() {
    let python = std::env::var_os("TALLY_TEST_CHDB_PYTHON").expect(
        "TALLY_TEST_CHDB_PYTHON is not set: run the suite with scripts/test.sh, which installs chdb-core",
    );
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("statements.jsonl");
    macro_rules! run_all {
        ($($name:ident),+) => {
            $({
                let mut config = common::fresh_config();
                config.record_to = Some(record.clone());
                let db = tally_clickhouse::ClickHouse::open(&config).await.unwrap();
                tally_query::conformance::$name(&db).await;
            })+
        };
    }
    tally_query::conformance_checks!([run_all]);
    let script: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "../../scripts/clickhouse/replay.py",
    ]
    .iter()
    .collect();
    let out = Command::new(python)
        .arg(&script)
        .arg(&record)
        .output()
        .expect("run the replay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the replay on ClickHouse 26 differs:\n{stdout}"
    );
    assert!(stdout.contains("all the same"), "{stdout}");
}
