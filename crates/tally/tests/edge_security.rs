//! What every answer tells browsers (security headers, HSTS when configured),
//! CORS for the API (listed origins only) and for capture (open, but a project
//! with `allowed_origins` takes browser events from those pages only).

mod common;

use common::{error_code, TestServer};
use serde_json::json;

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_hsts_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    for r in [
        server
            .client
            .get(format!("{}/health", server.base))
            .send()
            .await
            .unwrap(),
        server.read("/events").await,
        server
            .capture(&json!({"event": "e", "distinct_id": "d"}))
            .await,
        server
            .client
            .get(format!("{}/api/v1/nowhere", server.base))
            .send()
            .await
            .unwrap(),
    ] {
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{}", r.url());
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert!(!h.contains_key("strict-transport-security"));
    }
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.hsts = true;
    let server = TestServer::start_with(config).await;
    let r = server
        .client
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}

#[tokio::test]
async fn the_api_answers_cors_only_for_listed_origins() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.api_cors_origins = vec!["https://dash.example".into()];
    let server = TestServer::start_with(config).await;
    let preflight = |origin: &'static str| {
        server
            .client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/projects", server.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, x-csrf-token",
            )
            .send()
    };
    let listed = preflight("https://dash.example").await.unwrap();
    let h = listed.headers();
    assert_eq!(h["access-control-allow-origin"], "https://dash.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("x-csrf-token"));
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    // Capture stays open to any page (the SDK's site is not Tally's origin).
    let capture_preflight = server
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/capture", server.base),
        )
        .header("origin", "https://any-shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        capture_preflight.headers()["access-control-allow-origin"],
        "https://any-shop.example"
    );
}

#[tokio::test]
async fn a_project_with_allowed_origins_takes_browser_events_from_those_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let r = server
        .send_json(
            reqwest::Method::PATCH,
            "",
            r#"{"allowed_origins": ["https://shop.example"]}"#,
        )
        .await;
    assert_eq!(r.status(), 200);
    let send = |origin: Option<&'static str>, event: &'static str| {
        let mut r = server
            .client
            .post(format!("{}/api/v1/capture", server.base))
            .header("X-API-Key", &server.bootstrap.api_key)
            .json(&json!({"event": event, "distinct_id": "d"}));
        if let Some(origin) = origin {
            r = r.header("origin", origin);
        }
        r.send()
    };
    let evil = send(Some("https://evil.example"), "from-evil")
        .await
        .unwrap();
    assert_eq!(error_code(evil, 403).await, "origin_not_allowed");
    assert_eq!(
        send(Some("https://shop.example"), "from-shop")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(send(None, "from-server").await.unwrap().status(), 200);
    // PostHog's route checks it too.
    let ph = server
        .client
        .post(format!("{}/e/", server.base))
        .header("origin", "https://evil.example")
        .json(&json!({"api_key": server.bootstrap.api_key, "event": "ph-evil", "distinct_id": "d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(ph, 403).await, "origin_not_allowed");
    let events = server.read_json("/events").await;
    let mut names: Vec<&str> = events["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["from-server", "from-shop"]);
}
