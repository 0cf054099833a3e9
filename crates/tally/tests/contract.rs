//! The HTTP contract of the embedded spine, over real HTTP.

mod common;

use chrono::{Duration, Utc};
use common::{error_code, TestServer};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn first_start_writes_a_private_bootstrap_file_and_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let path = dir.path().join("bootstrap.json");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file["project_id"], json!(server.bootstrap.project_id));
    assert!(file["api_key"].as_str().unwrap().starts_with("tly_ing_"));
    assert!(file["admin_token"]
        .as_str()
        .unwrap()
        .starts_with("tly_adm_"));
    let first = server.bootstrap.clone();
    server.stop().await;
    let again = TestServer::start(&dir).await;
    assert_eq!(
        again.bootstrap.api_key, first.api_key,
        "a restart keeps the keys"
    );
    // Keys are stored hashed: the plaintext is nowhere in the metadata file.
    let meta = std::fs::read(dir.path().join("meta.sqlite")).unwrap();
    let needle = first.admin_token.as_bytes();
    assert!(!meta.windows(needle.len()).any(|w| w == needle));
}

#[tokio::test]
async fn health_and_ready() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    let health: Value = server
        .client
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["port"], json!(port));
    let ready = server
        .client
        .get(format!("{}/ready", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn captured_events_come_back_through_every_read_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let now = Utc::now();
    let ts = |mins: i64| (now - Duration::minutes(mins)).to_rfc3339();
    let single = server
        .capture(&json!({"event": "signup", "distinct_id": "alice", "timestamp": ts(30), "properties": {"$current_url": "https://a.io/start?x=1", "plan": "pro"}}))
        .await;
    assert_eq!(single.status(), 200);
    assert_eq!(
        single.json::<Value>().await.unwrap(),
        json!({"accepted": 1, "rejected": []})
    );
    let batch = server
        .capture(&json!({"batch": [
            {"event": "$pageview", "distinct_id": "alice", "timestamp": ts(20)},
            {"event": "$pageview", "distinct_id": "bob", "timestamp": ts(10)},
            {"event": "$pageview", "distinct_id": 7, "timestamp": ts(5)},
        ]}))
        .await;
    assert_eq!(batch.json::<Value>().await.unwrap()["accepted"], 3);

    // Events, newest first, with filters and a cursor.
    let page = server.read_json("/events?limit=2").await;
    let names: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["distinct_id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["7", "bob"]);
    let next = page["next"].as_str().expect("a next cursor");
    let page2 = server
        .read_json(&format!("/events?limit=2&cursor={next}"))
        .await;
    let names: Vec<&str> = page2["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["distinct_id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "alice"]);
    assert_eq!(page2["next"], Value::Null);
    let signup = server.read_json("/events?event=signup").await;
    assert_eq!(signup["results"][0]["path"], "/start");
    assert_eq!(signup["results"][0]["properties"]["plan"], "pro");
    let alice = server.read_json("/events?distinct_id=alice").await;
    assert_eq!(alice["results"].as_array().unwrap().len(), 2);

    // Timeseries: hourly over the last 3 hours, zero-filled.
    let from = (now - Duration::hours(3)).to_rfc3339();
    let to = (now + Duration::minutes(1)).to_rfc3339();
    let q = |s: &str| s.replace('+', "%2B");
    let series = server
        .read_json(&format!(
            "/timeseries?interval=hour&from={}&to={}&math=total",
            q(&from),
            q(&to)
        ))
        .await;
    let values: Vec<u64> = series["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_u64().unwrap())
        .collect();
    assert!(values.len() >= 4, "{series}");
    assert_eq!(values.iter().sum::<u64>(), 4);
    assert!(values.contains(&0), "gaps are zero-filled: {values:?}");
    let uniques = server
        .read_json(&format!("/timeseries?interval=day&from={}&to={}&math=unique_users&event=%24pageview&tz=Asia%2FTokyo", q(&from), q(&to)))
        .await;
    let total: u64 = uniques["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3, "3 users with one page view each: {uniques}");
    assert!(uniques["results"][0]["bucket"]
        .as_str()
        .unwrap()
        .ends_with("+09:00"));

    let top = server.read_json("/top-events").await;
    assert_eq!(
        top["results"][0],
        json!({"event": "$pageview", "count": 3, "unique_users": 3})
    );
    assert_eq!(
        top["results"][1],
        json!({"event": "signup", "count": 1, "unique_users": 1})
    );

    let overview = server.read_json("/overview").await;
    // alice: signup, then a pageview 10 minutes later — one session of 600 s,
    // not a bounce; bob and 7: one pageview each, bounces of 0 s.
    assert_eq!(
        overview["current"],
        json!({"events": 4, "unique_users": 3, "pageviews": 3, "sessions": 3,
               "bounce_rate": 2.0 / 3.0, "avg_session_secs": 200.0})
    );
    assert_eq!(
        overview["previous"],
        json!({"events": 0, "unique_users": 0, "pageviews": 0, "sessions": 0,
               "bounce_rate": null, "avg_session_secs": null})
    );
}

#[tokio::test]
async fn keys_only_reach_their_own_project_and_role() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let url = format!(
        "{}/api/v1/projects/{}/events",
        server.base, server.bootstrap.project_id
    );
    let missing = server.client.get(&url).send().await.unwrap();
    assert_eq!(error_code(missing, 401).await, "unauthenticated");
    let wrong = server
        .client
        .get(&url)
        .bearer_auth("tly_adm_000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wrong, 401).await, "invalid_api_key");
    let ingest = server
        .client
        .get(&url)
        .header("X-API-Key", &server.bootstrap.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(ingest, 403).await, "forbidden");
    let other = format!(
        "{}/api/v1/projects/{}/events",
        server.base,
        server.bootstrap.project_id + 1
    );
    let cross = server
        .client
        .get(&other)
        .bearer_auth(&server.bootstrap.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(cross, 404).await, "not_found");
    let bearer_capture = server
        .client
        .post(format!("{}/api/v1/capture", server.base))
        .bearer_auth(&server.bootstrap.api_key)
        .json(&json!({"event": "x", "distinct_id": "d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bearer_capture.status(),
        200,
        "Authorization: Bearer works for capture too"
    );
}

#[tokio::test]
async fn bad_query_parameters_are_400s_with_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    for (path, code) in [
        ("/timeseries?interval=minute", "invalid_interval"),
        ("/timeseries?math=median", "invalid_math"),
        ("/timeseries?tz=Mars%2FOlympus", "invalid_tz"),
        ("/timeseries?from=yesterday", "invalid_datetime"),
        ("/timeseries?from=2026-02-01&to=2026-01-01", "invalid_range"),
        (
            "/timeseries?interval=hour&from=2000-01-01&to=2026-01-01",
            "range_too_large",
        ),
        ("/events?cursor=garbage", "invalid_cursor"),
        ("/events?limit=5000", "invalid_limit"),
        ("/events?limit=-1", "invalid_parameter"),
    ] {
        assert_eq!(
            error_code(server.read(path).await, 400).await,
            code,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_served_openapi_document_describes_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let doc: Value = server
        .client
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/health", "get"),
        ("/ready", "get"),
        ("/api/v1/capture", "post"),
        ("/api/v1/projects/{project_id}/events", "get"),
        ("/api/v1/projects/{project_id}/timeseries", "get"),
        ("/api/v1/projects/{project_id}/top-events", "get"),
        ("/api/v1/projects/{project_id}/overview", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    let params: Vec<&str> = paths["/api/v1/projects/{project_id}/timeseries"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "project_id",
        "event",
        "interval",
        "from",
        "to",
        "tz",
        "math",
    ] {
        assert!(
            params.contains(&name),
            "timeseries documents `{name}`: {params:?}"
        );
    }
    let responses = paths["/api/v1/projects/{project_id}/events"]["get"]["responses"]
        .as_object()
        .unwrap();
    for status in ["200", "400", "401", "403", "404"] {
        assert!(responses.contains_key(status), "events documents {status}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas["EventRecord"]["properties"]["uuid"].is_object());
    assert!(schemas["ErrorResponse"]["properties"]["error"].is_object());
}
