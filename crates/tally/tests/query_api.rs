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
    // Broken down by `plan`, anon's hostile value is a value; by the hostile
    // name, that name is a property like any other.
    let lines = |answer: &Value| -> Vec<(Value, Value, Value)> {
        answer["breakdown"]
            .as_array()
            .unwrap_or_else(|| panic!("no breakdown: {answer}"))
            .iter()
            .map(|b| {
                (
                    b["value"].clone(),
                    b["steps"][0]["count"].clone(),
                    b["steps"][1]["count"].clone(),
                )
            })
            .collect()
    };
    for (property, expected) in [
        (
            "plan",
            vec![
                (json!(evil), json!(1), json!(1)),
                (Value::Null, json!(1), json!(0)),
            ],
        ),
        (
            evil,
            vec![
                (json!("yes"), json!(1), json!(0)),
                (Value::Null, json!(1), json!(1)),
            ],
        ),
    ] {
        let body = json!({"kind": "funnel", "date_from": "2026-11-20", "date_to": "2026-11-22",
            "steps": [{"event": "$pageview"}, {"event": "$identify"}],
            "breakdown": {"property": property}});
        let r = query(&server, &body.to_string()).await;
        assert_eq!(r.status(), 200, "{property}");
        assert_eq!(lines(&r.json().await.unwrap()), expected, "{property}");
    }
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
            r#"{"kind": "trends", "series": [{"event": "a", "filters": {"key": "x'); DROP TABLE events; --", "operator": "is_set", "type": "session"}}]}"#,
            "invalid_filter",
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

/// Every other kind over HTTP on events the real pipeline stored (persons merged
/// by `$identify`), each with a hostile property name and value in its filters,
/// the timelines, and a clear 400 for each kind's malformed requests.
#[tokio::test]
async fn every_kind_over_http_with_hostile_filters_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let evil = "x'); DROP TABLE persons; -- \u{202e}\"";
    let now = chrono::Utc::now();
    let ago = |mins: i64| (now - chrono::Duration::minutes(mins)).to_rfc3339();
    let page = |who: &str, mins: i64, path: &str| {
        json!({"event": "$pageview", "distinct_id": who, "timestamp": ago(mins),
            "properties": {"$pathname": path, "$current_url": format!("https://x.io{path}")}})
    };
    let r = server
        .capture(&json!({"batch": [
            page("anon", 50, "/"),
            page("anon", 49, "/pricing"),
            {"event": "$identify", "distinct_id": "ann", "timestamp": ago(48),
             "properties": {"$anon_distinct_id": "anon", "$set": {"plan": evil}}},
            page("ann", 47, "/signup"),
            page("bob", 3, "/"),
            page("bob", 2, "/docs"),
        ]}))
        .await;
    assert_eq!(r.status(), 200);
    let hostile = json!({"op": "or", "filters": [
        {"key": evil, "operator": "is_set"},
        {"key": "plan", "operator": "eq", "value": evil, "type": "person"},
        {"key": "$entry_pathname", "operator": "eq", "value": evil, "type": "session"}]});
    let ok = |body: Value| {
        let server = &server;
        async move {
            let r = query(server, &body.to_string()).await;
            assert_eq!(r.status(), 200, "{body}");
            r.json::<Value>().await.unwrap()
        }
    };

    // Retention by any event: ann (with anon) and bob are each in one cohort
    // (yesterday's or today's: the events are under an hour old).
    let sizes = |a: &Value| -> u64 {
        a["cohorts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["size"].as_u64().unwrap())
            .sum()
    };
    let retention = ok(json!({"kind": "retention", "periods": 2})).await;
    assert_eq!(retention["kind"], "retention");
    assert_eq!(sizes(&retention), 2);
    let retention = ok(json!({"kind": "retention", "periods": 2,
        "start_event": {"event": "$pageview", "filters": hostile}}))
    .await;
    assert_eq!(sizes(&retention), 1, "only ann's plan matches");

    // Paths from "/": ann (through her anonymous id) to /pricing, bob to /docs.
    let paths = ok(json!({"kind": "paths", "start_point": "/", "steps": 1})).await;
    let links: Vec<(String, u64)> = paths["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["target"].as_str().unwrap().to_owned(),
                l["persons"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(links, vec![("1:/docs".into(), 1), ("1:/pricing".into(), 1)]);
    let paths = ok(json!({"kind": "paths", "start_point": evil, "filters": hostile})).await;
    assert_eq!(paths["links"], json!([]));

    // Stickiness: persons per number of active days (ann's four events may
    // straddle midnight UTC); lifecycle: ann is new in one hour.
    let days = |mins: &[i64]| {
        let mut d: Vec<_> = mins
            .iter()
            .map(|m| (now - chrono::Duration::minutes(*m)).date_naive())
            .collect();
        d.dedup();
        d.len()
    };
    let mut expected = [0u64; 2];
    expected[days(&[50, 49, 48, 47]) - 1] += 1;
    expected[days(&[3, 2]) - 1] += 1;
    let sticky = ok(json!({"kind": "stickiness", "date_from": ago(60 * 24)})).await;
    let got: Vec<u64> = sticky["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["persons"].as_u64().unwrap())
        .collect();
    assert_eq!(got, expected);
    let life = ok(
        json!({"kind": "lifecycle", "interval": "hour", "date_from": ago(120),
        "event": {"event": "$pageview", "filters": hostile}}),
    )
    .await;
    let new: u64 = life["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["new"].as_u64().unwrap())
        .sum();
    assert_eq!(new, 1);

    // Persons: searched by an id, filtered by a hostile property value.
    let persons = ok(json!({"kind": "persons", "search": "ANON"})).await;
    assert_eq!(
        persons["results"][0]["distinct_ids"],
        json!(["ann", "anon"])
    );
    assert_eq!(persons["results"][0]["events"], 4);
    let persons = ok(json!({"kind": "persons", "search": evil,
        "filters": {"key": "plan", "operator": "eq", "value": evil, "type": "person"}}))
    .await;
    assert_eq!(
        persons["results"][0]["distinct_ids"],
        json!(["ann", "anon"])
    );
    assert_eq!(persons["results"].as_array().unwrap().len(), 1);

    // Realtime: bob in the last 5 and 30 minutes (ann's events are 47–50
    // minutes old).
    let live = ok(json!({"kind": "realtime"})).await;
    assert_eq!(live["active_persons_5m"], 1);
    assert_eq!(live["active_persons_30m"], 1);
    assert_eq!(live["events_30m"], 2);

    // Timelines: one person under both ids; one session from the list.
    let timeline = server.read_json("/events?person=anon").await;
    assert_eq!(timeline["results"].as_array().unwrap().len(), 4);
    let sessions = server.read_json("/sessions?sort=events&order=desc").await;
    let id = sessions["results"][0]["id"].as_str().unwrap().to_owned();
    let one = server
        .read_json(&format!("/sessions/{}", urlencoding(&id)))
        .await;
    assert_eq!(one["events"].as_array().unwrap().len(), 4);
    let r = server.read("/sessions/no-such-session").await;
    assert_eq!(error_code(r, 404).await, "not_found");
    let r = server.read("/sessions?sort=mood").await;
    assert_eq!(error_code(r, 400).await, "invalid_query");

    for (bad, code) in [
        (
            r#"{"kind": "retention", "period": "hour"}"#,
            "invalid_query",
        ),
        (r#"{"kind": "retention", "periods": 0}"#, "invalid_query"),
        (
            r#"{"kind": "retention", "cohort": "sometimes"}"#,
            "invalid_query",
        ),
        (
            r#"{"kind": "retention", "start_event": {"event": ""}}"#,
            "invalid_query",
        ),
        (
            r#"{"kind": "paths", "start_point": "/", "end_point": "/x"}"#,
            "invalid_query",
        ),
        (r#"{"kind": "paths", "steps": 11}"#, "invalid_query"),
        (
            r#"{"kind": "paths", "path_type": "screens"}"#,
            "invalid_query",
        ),
        (
            r#"{"kind": "stickiness", "interval": "minute"}"#,
            "invalid_query",
        ),
        (
            r#"{"kind": "lifecycle", "filters": {"key": "k", "operator": "regex", "value": "["}}"#,
            "invalid_filter",
        ),
        (
            r#"{"kind": "persons", "filters": {"key": "k", "operator": "eq", "value": "v"}}"#,
            "invalid_filter",
        ),
        (r#"{"kind": "persons", "limit": 5000}"#, "invalid_limit"),
        (r#"{"kind": "realtime", "minutes": 5}"#, "invalid_query"),
        (
            r#"{"kind": "funnel", "steps": [{"event": "a"}, {"event": "b"}], "persons": {"step": 0}}"#,
            "invalid_query",
        ),
        (
            r#"{"kind": "funnel", "steps": [{"event": "a"}, {"event": "b"}], "persons": {"step": 2, "status": "reached"}}"#,
            "invalid_query",
        ),
    ] {
        let r = query(&server, bad).await;
        assert_eq!(error_code(r, 400).await, code, "{bad}");
    }
    // Still alive, nothing lost.
    let page = server.read_json("/events?limit=10").await;
    assert_eq!(page["results"].as_array().unwrap().len(), 6);
    server.stop().await;
}

/// Percent-encodes a path segment.
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The dashboard's `filter` over HTTP: it narrows `/overview`, `/timeseries`
/// and `/top` (entry and exit pages to whole visits); a hostile value is only
/// a value; bad shapes are 400s.
#[tokio::test]
async fn dashboard_filter_parameter_narrows_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let r = server
        .capture(&json!({"batch": [
            {"event": "$pageview", "distinct_id": "a", "properties": {"$current_url": "https://s.io/x", "$raw_user_agent": chrome}},
            {"event": "$pageview", "distinct_id": "b", "properties": {"$current_url": "https://s.io/y", "$raw_user_agent": firefox}},
            {"event": "$pageview", "distinct_id": "b", "properties": {"$current_url": "https://s.io/z", "$raw_user_agent": firefox}},
        ]}))
        .await;
    assert_eq!(r.status(), 200);
    let enc = |f: &str| form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>();
    let firefox_only = enc(r#"{"browser":"Firefox"}"#);
    let o = server
        .read_json(&format!("/overview?filter={firefox_only}"))
        .await;
    assert_eq!(o["current"]["pageviews"], 2, "{o}");
    assert_eq!(o["current"]["unique_users"], 1);
    let t = server
        .read_json(&format!(
            "/timeseries?event=$pageview&interval=hour&filter={firefox_only}"
        ))
        .await;
    let total: u64 = t["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2, "{t}");
    let pages = server
        .read_json(&format!(
            "/top/page?filter={}",
            enc(r#"{"browser":"Chrome"}"#)
        ))
        .await;
    let values: Vec<&str> = pages["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["/x"], "{pages}");
    let hostile = server
        .read_json(&format!(
            "/top/page?filter={}",
            enc(r#"{"browser":"x' OR 1=1 --"}"#)
        ))
        .await;
    assert_eq!(hostile["results"], json!([]), "a value, not SQL");
    // An entry page keeps whole visits: b entered on /y, then saw /z.
    let visit = |filter: &str| {
        let url = format!("/top/page?filter={}", enc(filter));
        let server = &server;
        async move {
            let pages = server.read_json(&url).await;
            pages["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["value"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(visit(r#"{"entry_page":"/y"}"#).await, ["/y", "/z"]);
    assert_eq!(visit(r#"{"exit_page":"/x"}"#).await, ["/x"]);
    assert!(visit(r#"{"entry_page":"/y' OR 1=1 --"}"#).await.is_empty());
    for bad in [
        r#"{"entry_page":5}"#,
        r#"{"browser":1}"#,
        r#"{"nope":"x"}"#,
        "not json",
    ] {
        let r = server.read(&format!("/overview?filter={}", enc(bad))).await;
        assert_eq!(error_code(r, 400).await, "invalid_filter", "{bad}");
    }
}
