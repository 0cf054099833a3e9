//! Per-project pipeline switches over real HTTP: `use_ip` off means no location
//! and no address hash; `drop_bots` on means crawlers are not stored at all. Both
//! take effect for the next request and survive a restart.

mod common;

use common::{error_code, TestServer};
use serde_json::{json, Value};

const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

async fn patch(server: &TestServer, body: &str) -> reqwest::Response {
    server
        .send_json(reqwest::Method::PATCH, "/settings", body)
        .await
}

fn visit(id: &str, agent: &str) -> Value {
    json!({"event": "$pageview", "distinct_id": id, "timestamp": "2026-11-20T10:00:00Z",
           "properties": {"$ip": "8.8.8.8", "$raw_user_agent": agent}})
}

async fn stored_ids(server: &TestServer) -> Vec<String> {
    let page = server.read_json("/events?limit=100").await;
    let mut ids: Vec<String> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["distinct_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn switches_change_what_is_kept_from_the_next_request_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    assert_eq!(
        server.read_json("/settings").await,
        json!({"drop_bots": false, "use_ip": true})
    );

    // Defaults: located and hashed; the crawler kept (flagged).
    let r = server
        .capture(&json!({"batch": [visit("before", CHROME), visit("bot-before", GOOGLEBOT)]}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(stored_ids(&server).await, ["before", "bot-before"]);

    let r = patch(&server, r#"{"use_ip": false, "drop_bots": true}"#).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"drop_bots": true, "use_ip": false})
    );
    let r = server
        .capture(&json!({"batch": [visit("after", CHROME), visit("bot-after", GOOGLEBOT)]}))
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["accepted"], 2,
        "acknowledged, then dropped by processing"
    );
    assert_eq!(stored_ids(&server).await, ["after", "before", "bot-before"]);

    let props = |page: &Value, id: &str| {
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["distinct_id"] == id)
            .unwrap()["properties"]
            .clone()
    };
    let page = server.read_json("/events?limit=100").await;
    let before = props(&page, "before");
    assert_eq!(before["$geoip_country_code"], "US");
    assert!(before["$ip_hash"].is_string());
    let after = props(&page, "after");
    assert!(after.get("$geoip_country_code").is_none(), "{after}");
    assert!(after.get("$ip_hash").is_none(), "{after}");
    assert!(after.get("$ip").is_none(), "{after}");

    // Only the named field changes; bad bodies are 400s that change nothing.
    let r = patch(&server, r#"{"use_ip": true}"#).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"drop_bots": true, "use_ip": true})
    );
    for bad in [r#"{"use_ip": "yes"}"#, r#"{"retention": 3}"#, "not json"] {
        let r = patch(&server, bad).await;
        assert_eq!(error_code(r, 400).await, "invalid_json", "{bad}");
    }
    server.stop().await;

    let server = TestServer::start(&dir).await;
    assert_eq!(
        server.read_json("/settings").await,
        json!({"drop_bots": true, "use_ip": true})
    );
    // Another project's settings are not this key's business.
    let r = server
        .client
        .get(format!("{}/api/v1/projects/999/settings", server.base))
        .bearer_auth(&server.bootstrap.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r, 404).await, "not_found");
    server.stop().await;
}

/// Answers in buckets use the project's time zone unless the request names one.
#[tokio::test]
async fn buckets_default_to_the_projects_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    // 03:00 UTC on the 10th is 22:00 on the 9th in New York.
    let r = server
        .capture(
            &json!({"event": "order", "distinct_id": "u", "timestamp": "2026-11-10T03:00:00Z"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let day_of = |series: &Value| {
        series
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {series}"))
            .iter()
            .find(|p| p["value"].as_f64().unwrap_or(0.0) > 0.0)
            .map(|p| p["bucket"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let range = "from=2026-11-08T00:00:00Z&to=2026-11-12T00:00:00Z";
    let utc = server
        .read_json(&format!("/timeseries?interval=day&event=order&{range}"))
        .await;
    assert_eq!(day_of(&utc["results"]), "2026-11-10T00:00:00+00:00");

    let r = server
        .send_json(
            reqwest::Method::PATCH,
            "",
            r#"{"timezone": "America/New_York"}"#,
        )
        .await;
    assert_eq!(r.status(), 200);
    let ny = server
        .read_json(&format!("/timeseries?interval=day&event=order&{range}"))
        .await;
    assert_eq!(day_of(&ny["results"]), "2026-11-09T00:00:00-05:00");
    let asked = server
        .read_json(&format!(
            "/timeseries?interval=day&event=order&tz=UTC&{range}"
        ))
        .await;
    assert_eq!(day_of(&asked["results"]), "2026-11-10T00:00:00+00:00");

    let trends: Value = server
        .send_json(
            reqwest::Method::POST,
            "/query",
            r#"{"kind": "trends", "series": [{"event": "order"}], "interval": "day",
                "date_from": "2026-11-08T00:00:00Z", "date_to": "2026-11-12T00:00:00Z"}"#,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trends["tz"], "America/New_York", "{trends}");
    assert_eq!(
        day_of(&trends["results"][0]["points"]),
        "2026-11-09T00:00:00-05:00"
    );
    // Funnels and paths read bare dates as the project's days too.
    for kind in [
        r#""kind": "funnel", "steps": [{"event": "order"}, {"event": "order"}]"#,
        r#""kind": "paths", "path_type": "events""#,
    ] {
        let answer: Value = server
            .send_json(
                reqwest::Method::POST,
                "/query",
                &format!(r#"{{{kind}, "date_from": "2026-11-08", "date_to": "2026-11-12"}}"#),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["tz"], "America/New_York", "{answer}");
        assert_eq!(answer["range"]["from"], "2026-11-08T05:00:00Z", "{answer}");
    }
}
