//! Tlytics-compatible routes over real HTTP: off (401 with how-to) until a project
//! is configured; then `/events`, `/batch` told apart from PostHog's by shape,
//! re-sends counted once, and `/view` paginated newest first with its total.
//! (`/health`, which Tlytics clients also call, is covered by tests/contract.rs.)

mod common;

use common::{error_code, TestServer};
use serde_json::{json, Value};
use tally::config::Config;

async fn post(server: &TestServer, path: &str, body: &Value) -> reqwest::Response {
    server
        .client
        .post(format!("{}{path}", server.base))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn view(server: &TestServer, query: &str) -> reqwest::Response {
    server
        .client
        .get(format!("{}/view{query}", server.base))
        .send()
        .await
        .unwrap()
}

/// A server whose Tlytics routes write to its bootstrap project.
async fn configured(dir: &tempfile::TempDir) -> TestServer {
    let first = TestServer::start(dir).await;
    let project_id = first.bootstrap.project_id;
    first.stop().await;
    TestServer::start_with(Config {
        tlytics_project: Some(project_id),
        ..common::config(dir.path())
    })
    .await
}

#[tokio::test]
async fn routes_are_off_until_a_project_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let events = json!([{"key": "a", "data": {}}]);
    for r in [
        post(&server, "/events", &events).await,
        post(&server, "/batch", &json!({"events": events})).await,
        view(&server, "").await,
    ] {
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "tlytics_not_configured");
        let how = body["error"]["message"].as_str().unwrap();
        assert!(how.contains("TALLY_TLYTICS_PROJECT"), "{how}");
        assert!(how.contains("--tlytics-project"), "{how}");
    }
    // PostHog's /batch is untouched by the Tlytics shape check.
    let r = post(
        &server,
        "/batch",
        &json!({"api_key": server.bootstrap.api_key, "batch": [
            {"event": "ph", "distinct_id": "d", "properties": {"events": ["x"]}}
        ]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = server.read_json("/events").await;
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    assert_eq!(page["results"][0]["event"], "ph");
}

#[tokio::test]
async fn a_configured_project_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        tlytics_project: Some(999),
        ..common::config(dir.path())
    };
    let err = tally::app::build(&config, std::sync::Arc::new(tally_core::SystemClock))
        .await
        .err()
        .expect("an unknown project is refused");
    assert!(err.to_string().contains("999"), "{err}");
}

#[tokio::test]
async fn events_batch_and_view() {
    let dir = tempfile::tempdir().unwrap();
    let server = configured(&dir).await;

    // /events: an array; a bad event is reported, its neighbours kept.
    let sent = json!([
        {"key": "signup", "timestamp": "2026-11-20T10:00:00Z", "data": {"plan": "pro", "user_id": "u1"}},
        {"timestamp": "2026-11-20T10:00:01Z", "data": {}},
        {"key": "click", "timestamp": 1_795_176_000, "data": {"button": "buy"}},
    ]);
    let r = post(&server, "/events", &sent).await;
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["accepted"], 2);
    assert_eq!(reply["rejected"][0]["index"], 1);
    assert_eq!(reply["rejected"][0]["error"]["code"], "missing_field");

    // A client retry of the same body is counted once.
    let r = post(&server, "/events", &sent).await;
    assert_eq!(r.status(), 200);

    // /batch with Tlytics' shape.
    let r = post(
        &server,
        "/batch",
        &json!({"events": [
            {"key": "page", "timestamp": "2026-11-21T09:00:00Z", "data": {"path": "/a"}},
            {"key": "page", "timestamp": "2026-11-21T09:00:02Z", "data": {"path": "/b"}},
            {"key": "page", "timestamp": "2026-11-21T09:00:01Z", "data": {"path": "/c"}},
        ]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["accepted"], 3);

    // Five distinct events; pages of two, newest first.
    let r = view(&server, "?page=1&page_size=2").await;
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["total"], 5);
    assert_eq!(page["page"], 1);
    assert_eq!(page["page_size"], 2);
    assert_eq!(page["total_pages"], 3);
    let paths = |p: &Value| -> Vec<Value> {
        p["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["data"]["path"].clone())
            .collect()
    };
    assert_eq!(paths(&page), vec![json!("/b"), json!("/c")]);
    assert_eq!(page["events"][0]["key"], "page");
    assert_eq!(page["events"][0]["timestamp"], "2026-11-21T09:00:02Z");

    let page: Value = view(&server, "?page=3&page_size=2")
        .await
        .json()
        .await
        .unwrap();
    // 1_795_176_000 s is 2026-11-20T12:00:00Z: after the signup at 10:00.
    let last = &page["events"][0];
    assert_eq!(last["key"], "signup");
    assert_eq!(last["data"], json!({"plan": "pro", "user_id": "u1"}));
    assert_eq!(last["distinct_id"], "u1");
    assert_eq!(page["events"].as_array().unwrap().len(), 1);

    let page: Value = view(&server, "?page=2&page_size=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"][1]["key"], "click");
    assert_eq!(page["events"][1]["timestamp"], "2026-11-20T12:00:00Z");
    assert_eq!(page["events"][1]["distinct_id"], "anonymous");

    let page: Value = view(&server, "?page=9&page_size=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"], json!([]));
    assert_eq!(page["total"], 5);

    // Defaults: page 1 of 50.
    let page: Value = view(&server, "").await.json().await.unwrap();
    assert_eq!(
        (page["page"].clone(), page["page_size"].clone()),
        (json!(1), json!(50))
    );
    assert_eq!(page["events"].as_array().unwrap().len(), 5);

    for bad in ["?page=0", "?page_size=0", "?page_size=1001", "?page=x"] {
        assert_eq!(
            error_code(view(&server, bad).await, 400).await,
            "invalid_parameter",
            "{bad}"
        );
    }

    // The same events through Tally's own API, in the bootstrap project.
    let page = server.read_json("/events?event=signup").await;
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    assert_eq!(page["results"][0]["properties"]["plan"], "pro");
    // Tlytics' `/health` shape, {"status": "healthy", "port": N}, is Tally's own:
    // tests/contract.rs checks it.
}
