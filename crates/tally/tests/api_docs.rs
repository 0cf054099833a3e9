//! The interactive API reference in Debian's headless Chromium (playwright-core):
//! it renders every operation of the served OpenAPI document and sends a request
//! with the key typed into it, under its own strict CSP (a violation would be a
//! console error, which fails the script). A screenshot is left in the target
//! dir (`api-docs.png`).

mod common;

use common::{browser_dir, TestServer};
use serde_json::Value;

#[tokio::test]
async fn the_docs_page_lists_every_route_and_sends_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let page = server
        .client
        .get(format!("{}/api/v1/docs", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );

    let doc: Value = server
        .client
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();

    let screenshot = std::env::temp_dir().join(format!("api-docs-{}.png", std::process::id()));
    let out = tokio::process::Command::new("node")
        .arg(browser_dir().join("api_docs.mjs"))
        .arg(&server.base)
        .arg(&server.bootstrap.admin_token)
        .arg(&screenshot)
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "the page worked without errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["operations"], documented, "one entry per operation");
    assert_eq!(report["status"], 200);
    let body = report["body"].as_str().unwrap();
    assert!(body.contains("\"authenticated_by\": \"key\""), "{body}");
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("api-docs.png");
    std::fs::copy(&screenshot, artifact).unwrap();
}
