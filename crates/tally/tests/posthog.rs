//! PostHog-compatible capture over real HTTP: the routes, token handling, CORS,
//! flags, and read-back of what was sent through the events API.

mod common;

use base64::Engine;
use common::{error_code, TestServer};
use flate2::{write::GzEncoder, Compression};
use serde_json::{json, Value};
use std::io::Write;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

async fn post(server: &TestServer, path_and_query: &str, body: Vec<u8>) -> reqwest::Response {
    server
        .client
        .post(format!("{}{path_and_query}", server.base))
        .header("Content-Type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Events of one distinct id, oldest first.
async fn events_of(server: &TestServer, distinct_id: &str) -> Vec<Value> {
    let page = server
        .read_json(&format!("/events?distinct_id={distinct_id}&limit=100"))
        .await;
    let mut events = page["results"].as_array().unwrap().clone();
    events.reverse();
    events
}

#[tokio::test]
async fn every_capture_route_and_encoding_stores_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let key = server.bootstrap.api_key.clone();
    let batch = |id: &str| {
        serde_json::to_vec(&json!({
            "api_key": key,
            "batch": [{"event": "step", "distinct_id": id, "properties": {"route": id}}],
            "sent_at": chrono::Utc::now().to_rfc3339(),
        }))
        .unwrap()
    };
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        (
            "batch-gzip",
            "/batch/?compression=gzip-js".into(),
            gzip(&batch("batch-gzip")),
        ),
        ("e-plain", "/e/".into(), batch("e-plain")),
        ("i-v0-e", "/i/v0/e".into(), batch("i-v0-e")),
        (
            "capture-b64",
            "/capture".into(),
            b64(&batch("capture-b64")).into_bytes(),
        ),
        ("track", "/track/".into(), batch("track")),
        (
            "form",
            "/e/?ver=1.2".into(),
            format!(
                "data={}",
                form_urlencoded::byte_serialize(b64(&batch("form")).as_bytes()).collect::<String>()
            )
            .into_bytes(),
        ),
    ];
    for (id, path, body) in cases {
        let r = post(&server, &path, body).await;
        assert_eq!(r.status(), 200, "{id}");
        let reply: Value = r.json().await.unwrap();
        assert_eq!(reply["status"], 1, "{id}");
        let stored = events_of(&server, id).await;
        assert_eq!(stored.len(), 1, "{id}");
        assert_eq!(stored[0]["event"], "step");
        assert_eq!(stored[0]["properties"]["route"], id);
    }
    // GET with the payload in the query string, as image-beacon fallbacks do.
    let data = b64(&batch("get"));
    let r = server
        .client
        .get(format!(
            "{}/e/?data={}",
            server.base,
            form_urlencoded::byte_serialize(data.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(events_of(&server, "get").await.len(), 1);
}

#[tokio::test]
async fn identify_and_engage_keep_person_updates() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let key = &server.bootstrap.api_key;
    let identify = json!({"api_key": key, "event": "$identify", "distinct_id": "user-7",
        "properties": {"$anon_distinct_id": "anon-7", "$set": {"email": "u7@example.com"}}});
    let engage = json!({"$token": key, "$distinct_id": "user-7", "$set_once": {"plan": "free"}});
    for (path, body) in [("/capture/", identify), ("/engage/", engage)] {
        let r = post(&server, path, serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(r.status(), 200, "{path}");
    }
    let stored = events_of(&server, "user-7").await;
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|e| e["event"] == "$identify"));
    let props: Vec<&Value> = stored.iter().map(|e| &e["properties"]).collect();
    assert!(props
        .iter()
        .any(|p| p["$anon_distinct_id"] == "anon-7" && p["$set"]["email"] == "u7@example.com"));
    assert!(props.iter().any(|p| p["$set_once"]["plan"] == "free"));
}

#[tokio::test]
async fn tokens_are_checked_and_bad_events_keep_their_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let key = server.bootstrap.api_key.clone();
    let body = |v: Value| serde_json::to_vec(&v).unwrap();
    let ev = |t: &str| json!({"event": "x", "distinct_id": "d", "api_key": t});

    let r = post(
        &server,
        "/batch/",
        body(json!([
            ev(&key),
            ev("tly_ing_someoneelsesxxxxxxxxxxxxxxxxxxxxxxxxx")
        ])),
    )
    .await;
    assert_eq!(error_code(r, 401).await, "mixed_tokens");
    let r = post(
        &server,
        "/e/",
        body(json!({"event": "x", "distinct_id": "d"})),
    )
    .await;
    assert_eq!(error_code(r, 401).await, "missing_api_key");
    let r = post(&server, "/e/", body(ev("phc_not_a_tally_key"))).await;
    assert_eq!(error_code(r, 401).await, "invalid_api_key");
    let r = post(&server, "/e/", b"%%%".to_vec()).await;
    assert_eq!(error_code(r, 400).await, "invalid_json");

    let r = post(
        &server,
        "/batch/",
        body(json!({"api_key": key, "batch": [
            {"event": "kept", "distinct_id": "n1"},
            {"event": "", "distinct_id": "n1"},
            {"event": "kept too", "properties": {"distinct_id": "n1"}}
        ]})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["accepted"], 2);
    assert_eq!(reply["rejected"][0]["index"], 1);
    assert_eq!(reply["rejected"][0]["error"]["code"], "empty_field");
    assert_eq!(events_of(&server, "n1").await.len(), 2);
}

#[tokio::test]
async fn browsers_get_cors_flags_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let origin = "https://shop.example";
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/e/", server.base))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], origin);

    for path in ["/decide/?v=3", "/flags/?v=2"] {
        let r = server
            .client
            .post(format!("{}{path}", server.base))
            .header("Origin", origin)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["access-control-allow-origin"], origin);
        let flags: Value = r.json().await.unwrap();
        assert_eq!(flags["featureFlags"], json!({}), "{path}");
        assert_eq!(flags["errorsWhileComputingFlags"], false);
    }
    let config: Value = server
        .client
        .get(format!("{}/array/tok/config", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["token"], "tok");
    assert_eq!(config["hasFeatureFlags"], false);
}
