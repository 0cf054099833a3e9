//! `POST /api/v1/projects/{id}/query` over real HTTP: a trends query on captured
//! events (persons resolved by the real pipeline), hostile property names and
//! values as plain data, and every malformed request a clear 400.

mod common;

use common::{error_code, TestServer};
use serde_json::{json, Value};

async fn query(server: &TestServer, body: &str) -> reqwest::Response {
    server
        .send_json(reqwest::Method::POST, "/query", body)
        .await
}

#[tokio::test]
async fn trends_over_http_with_persons_filters_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let evil = "x'); DROP TABLE events; --\"";
    let r = server
        .capture(&json!({"batch": [
            {"event": "$pageview", "distinct_id": "anon", "timestamp": "2026-11-20T10:00:00Z",
             "properties": {"plan": evil}},
            {"event": "$identify", "distinct_id": "user", "timestamp": "2026-11-20T10:01:00Z",
             "properties": {"$anon_distinct_id": "anon", "$set": {"tier": "gold"}}},
            {"event": "$pageview", "distinct_id": "user", "timestamp": "2026-11-21T10:00:00Z",
             "properties": {"plan": "pro"}},
            {"event": "$pageview", "distinct_id": "other", "timestamp": "2026-11-21T11:00:00Z",
             "properties": {(evil): "yes"}},
        ]}))
        .await;
    assert_eq!(r.status(), 200);

    let body = json!({"kind": "trends", "date_from": "2026-11-20", "date_to": "2026-11-22",
        "series": [{"event": "$pageview", "math": "unique_persons"}, {"event": "$pageview"}]});
    let r = query(&server, &body.to_string()).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    let values = |line: &Value| -> Vec<Value> {
        line["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["value"].clone())
            .collect()
    };
    // anon and user are one person: day 1 one person, day 2 that person + other.
    assert_eq!(values(&answer["results"][0]), vec![json!(1.0), json!(2.0)]);
    assert_eq!(values(&answer["results"][1]), vec![json!(1.0), json!(2.0)]);
    assert_eq!(answer["range"]["from"], "2026-11-20T00:00:00Z");
    assert_eq!(answer["tz"], "UTC");

    // A hostile value and a hostile property name are only data; the person
    // property set by $identify filters the anonymous day-1 pageview too.
    for (filter, expected) in [
        (
            json!({"key": "plan", "operator": "eq", "value": evil}),
            vec![json!(1.0), json!(0.0)],
        ),
        (
            json!({"key": evil, "operator": "is_set"}),
            vec![json!(0.0), json!(1.0)],
        ),
        (
            json!({"key": "tier", "operator": "eq", "value": "gold", "type": "person"}),
            vec![json!(1.0), json!(1.0)],
        ),
    ] {
        let body = json!({"kind": "trends", "date_from": "2026-11-20", "date_to": "2026-11-22",
            "series": [{"event": "$pageview", "filters": filter}]});
        let r = query(&server, &body.to_string()).await;
        assert_eq!(r.status(), 200, "{filter}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(values(&answer["results"][0]), expected, "{filter}");
    }
    // Still there after all of that.
    let page = server.read_json("/events?limit=10").await;
    assert_eq!(page["results"].as_array().unwrap().len(), 4);

    // A funnel over persons: anon's pageview then the identify (one person);
    // `other` only viewed.
    let body = json!({"kind": "funnel", "date_from": "2026-11-20", "date_to": "2026-11-22",
        "steps": [{"event": "$pageview"}, {"event": "$identify"}]});
    let r = query(&server, &body.to_string()).await;
    assert_eq!(r.status(), 200);
    let funnel: Value = r.json().await.unwrap();
    assert_eq!(funnel["steps"][0]["count"], 2);
    assert_eq!(funnel["steps"][1]["count"], 1);
    assert_eq!(funnel["steps"][1]["median_secs_from_previous"], 60.0);
    let one_step = json!({"kind": "funnel", "steps": [{"event": "$pageview"}]});
    let r = query(&server, &one_step.to_string()).await;
    assert_eq!(error_code(r, 400).await, "invalid_query");

    // The dashboard's tables: anon and user are one visitor.
    let events = server
        .read_json("/top/event?from=2026-11-20&to=2026-11-22")
        .await;
    assert_eq!(
        events["results"][0],
        json!({"value": "$pageview", "visitors": 2, "pageviews": 3, "events": 3})
    );
    let r = server.read("/top/favourite_colour").await;
    assert_eq!(error_code(r, 400).await, "invalid_query");

    for (bad, code) in [
        ("not json", "invalid_json"),
        (r#"{"kind": "crystal_ball"}"#, "invalid_query"),
        (r#"{"series": []}"#, "invalid_query"),
        (r#"{"kind": "trends", "series": []}"#, "invalid_query"),
        (
            r#"{"kind": "trends", "series": [{"math": "sum"}]}"#,
            "invalid_query",
        ),
        (
            r#"{"kind": "trends", "series": [{"event": "a"}], "surprise": 1}"#,
            "invalid_query",
        ),
        (
            r#"{"kind": "trends", "series": [{"event": "a", "filters": {"key": "k", "operator": "regex", "value": "("}}]}"#,
            "invalid_filter",
        ),
        (
            r#"{"kind": "trends", "series": [{"event": "a", "math": "unique_persons"}], "cumulative": true}"#,
            "invalid_query",
        ),
        (
            r#"{"kind": "trends", "series": [{"event": "a"}], "interval": "fortnight"}"#,
            "invalid_interval",
        ),
        (
            r#"{"kind": "trends", "series": [{"event": "a"}], "tz": "Mars/Olympus"}"#,
            "invalid_tz",
        ),
        (
            r#"{"kind": "trends", "series": [{"event": "a"}], "date_from": "2026-11-22", "date_to": "2026-11-20"}"#,
            "invalid_range",
        ),
        (
            r#"{"kind": "trends", "series": [{"event": "a"}], "interval": "minute", "date_from": "2026-01-01", "date_to": "2026-11-20"}"#,
            "range_too_large",
        ),
    ] {
        let r = query(&server, bad).await;
        assert_eq!(error_code(r, 400).await, code, "{bad}");
    }
    server.stop().await;
}
