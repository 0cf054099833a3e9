//! Segment-compatible capture over real HTTP: short routes, write key by HTTP
//! Basic or body, bad keys and unknown routes.

mod common;

use base64::Engine;
use common::{error_code, TestServer};
use serde_json::{json, Value};

#[tokio::test]
async fn short_routes_basic_auth_and_key_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let key = server.bootstrap.api_key.clone();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    );
    let post = |path: &str, auth: Option<&str>, body: Value| {
        let mut req = server
            .client
            .post(format!("{}{path}", server.base))
            .json(&body);
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        req.send()
    };

    // The browser short form, key by HTTP Basic: a page view.
    let r = post(
        "/v1/p",
        Some(&basic),
        json!({"anonymousId": "b1", "properties": {"url": "https://x.example/a", "path": "/a"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["success"], true);
    assert_eq!(reply["accepted"], 1);

    // Key in the body; one bad message among good ones.
    let r = post(
        "/v1/batch",
        None,
        json!({"writeKey": key, "batch": [
            {"type": "track", "userId": "b1", "event": "Kept"},
            {"type": "track", "userId": "b1"},
            {"type": "identify", "userId": "b1", "traits": {"n": 1}}
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["accepted"], 2);
    assert_eq!(reply["rejected"][0]["index"], 1);
    assert_eq!(reply["rejected"][0]["error"]["code"], "missing_field");

    let page = server.read_json("/events?distinct_id=b1").await;
    let names: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    for name in ["$pageview", "Kept", "$identify"] {
        assert!(names.contains(&name), "{names:?}");
    }

    let track = json!({"userId": "u", "event": "E"});
    let r = post("/v1/track", None, track.clone()).await.unwrap();
    assert_eq!(error_code(r, 401).await, "missing_api_key");
    let r = post("/v1/track", Some("Basic bm90LWEta2V5Og=="), track.clone())
        .await
        .unwrap();
    assert_eq!(error_code(r, 401).await, "invalid_api_key");
    let r = post(
        "/v1/batch",
        None,
        json!({"batch": [
            {"type": "track", "userId": "u", "event": "E", "writeKey": key},
            {"type": "track", "userId": "u", "event": "E", "writeKey": "other"}]}),
    )
    .await
    .unwrap();
    assert_eq!(error_code(r, 401).await, "mixed_tokens");
    let r = post("/v1/nonsense", Some(&basic), track).await.unwrap();
    assert_eq!(error_code(r, 404).await, "not_found");
}
