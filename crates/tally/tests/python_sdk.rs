//! Tally's own Python SDK (`sdks/python`, installed into the SDK venv by
//! scripts/test.sh with `pip install ./sdks/python`): its pytest suite runs
//! against this real Tally — delivery, identity, retries through a flaky proxy,
//! a server that is down, the bounded queue.

mod common;

use common::{sdk_python, TestServer};
use std::path::Path;

#[tokio::test]
async fn the_python_sdk_suite_passes_against_a_real_tally() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdks/python/tests");
    let out = tokio::process::Command::new(sdk_python())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&tests)
        .env("TALLY_TEST_URL", &server.base)
        .env("TALLY_TEST_KEY", &server.bootstrap.api_key)
        .env("TALLY_TEST_ADMIN", &server.bootstrap.admin_token)
        .env(
            "TALLY_TEST_PROJECT",
            server.bootstrap.project_id.to_string(),
        )
        .output()
        .await
        .expect("python runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pytest failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("6 passed"), "{report}");
}
