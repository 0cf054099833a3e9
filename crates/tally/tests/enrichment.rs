//! The processing stage end to end over real HTTP: what capture stores has its
//! user agent read, bots flagged and left out of analytics answers unless asked,
//! its traffic source classified and secrets removed from its URL.

mod common;

use common::TestServer;
use serde_json::{json, Value};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

#[tokio::test]
async fn events_are_enriched_and_bots_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let ts = "2026-11-20T10:00:00Z";
    let r = server
        .capture(&json!({"batch": [
            {"event": "$pageview", "distinct_id": "person", "timestamp": ts, "properties": {
                "$raw_user_agent": CHROME,
                "$current_url": "https://shop.example/welcome?utm_source=spring&utm_medium=email&token=SECRET",
                "$referrer": "https://mail.google.com/",
            }},
            {"event": "$pageview", "distinct_id": "crawler", "timestamp": ts, "properties": {
                "$raw_user_agent": GOOGLEBOT,
                "$current_url": "https://shop.example/",
            }},
            {"event": "signup", "distinct_id": "server-side", "timestamp": ts},
        ]}))
        .await;
    assert_eq!(r.status(), 200);

    let page = server.read_json("/events?limit=10").await;
    let by_id = |id: &str| -> Value {
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["distinct_id"] == id)
            .unwrap()
            .clone()
    };
    let person = by_id("person");
    assert_eq!(person["browser"], "Chrome");
    assert_eq!(person["os"], "Windows 10");
    assert_eq!(person["device"], "desktop");
    assert_eq!(person["is_bot"], false);
    assert_eq!(person["properties"]["$browser_version"], "131.0.0.0");
    assert_eq!(
        person["url"],
        "https://shop.example/welcome?utm_source=spring&utm_medium=email"
    );
    assert_eq!(person["properties"]["$current_url"], person["url"]);
    assert_eq!(person["properties"]["utm_source"], "spring");
    assert_eq!(person["properties"]["$channel_type"], "email");
    assert_eq!(person["properties"]["$referring_domain"], "mail.google.com");
    assert!(!page.to_string().contains("SECRET"), "the token is gone");

    let crawler = by_id("crawler");
    assert_eq!(crawler["is_bot"], true);
    assert_eq!(crawler["device"], "bot");

    let server_side = by_id("server-side");
    assert_eq!(server_side["is_bot"], false);
    assert_eq!(server_side["browser"], Value::Null);
    assert!(server_side["properties"].get("$channel_type").is_none());

    let range = "from=2026-11-20&to=2026-11-21";
    let o = server.read_json(&format!("/overview?{range}")).await;
    assert_eq!(o["current"]["events"], 2, "the crawler is left out");
    assert_eq!(o["current"]["unique_users"], 2);
    let o = server
        .read_json(&format!("/overview?{range}&include_bots=true"))
        .await;
    assert_eq!(o["current"]["events"], 3);
    let top = server.read_json(&format!("/top-events?{range}")).await;
    assert_eq!(top["results"][0]["event"], "$pageview");
    assert_eq!(top["results"][0]["count"], 1);
    let ts = server
        .read_json(&format!(
            "/timeseries?{range}&interval=day&include_bots=true"
        ))
        .await;
    assert_eq!(ts["results"][0]["value"], 3);

    // What the project has sent, for filter pickers: names with counts, and
    // properties (enrichment's included) with types.
    let defs = server.read_json("/definitions").await;
    assert_eq!(defs["kind"], "event");
    assert_eq!(defs["results"][0]["name"], "$pageview");
    assert_eq!(defs["results"][0]["count"], 2);
    let defs = server
        .read_json("/definitions?kind=property&search=utm")
        .await;
    let names: Vec<&str> = defs["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["utm_medium", "utm_source"]);
    assert_eq!(defs["results"][0]["property_type"], "String");
    let r = server.read("/definitions?kind=people").await;
    assert_eq!(common::error_code(r, 400).await, "invalid_kind");
}
