//! The real segment-analytics-python SDK (PyPI, pinned in scripts/test.sh) against
//! a running Tally: every message type read back with its mapped name, person,
//! properties and context; a retried messageId counted once.

mod common;

use common::{sdk_python, TestServer};
use serde_json::Value;

#[tokio::test]
async fn segment_python_calls_are_stored_and_mapped() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/segment_python.py");
    let out = tokio::process::Command::new(sdk_python())
        .args([script, &server.base, &server.bootstrap.api_key, "t1"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "SDK script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let page = server
        .read_json("/events?distinct_id=seg-t1&limit=100")
        .await;
    let events = page["results"].as_array().unwrap();
    let named =
        |name: &str| -> Vec<&Value> { events.iter().filter(|e| e["event"] == name).collect() };
    assert_eq!(events.len(), 6, "{events:#?}");

    let orders = named("Order Completed");
    assert_eq!(orders.len(), 1, "the retried messageId is stored once");
    let order = orders[0];
    let p = &order["properties"];
    assert_eq!(p["revenue"], 39.95);
    assert_eq!(p["currency"], "CHF");
    assert_eq!(p["items"][0]["sku"], "A1");
    assert_eq!(p["utm_source"], "newsletter");
    assert_eq!(p["utm_medium"], "email");
    assert_eq!(p["utm_campaign"], "winter");
    assert_eq!(p["$locale"], "de-CH");
    assert_eq!(p["$lib"], "analytics-python");
    assert_eq!(p["$anon_distinct_id"], "seg-anon-t1");
    assert_eq!(order["url"], "https://shop.example/done");
    assert_eq!(order["path"], "/done");
    let ts = chrono::DateTime::parse_from_rfc3339(order["timestamp"].as_str().unwrap()).unwrap();
    let expected = chrono::DateTime::parse_from_rfc3339("2026-11-22T09:45:00Z").unwrap();
    assert!((ts - expected).num_seconds().abs() <= 5, "{ts}");

    let identify = named("$identify")[0];
    assert_eq!(
        identify["properties"]["$set"]["email"],
        "seg-t1@example.com"
    );
    assert_eq!(identify["properties"]["$set"]["plan"], "pro");

    let view = named("$pageview")[0];
    assert_eq!(view["url"], "https://docs.example/start?x=1");
    assert_eq!(view["path"], "/start");
    assert_eq!(view["referrer"], "https://www.google.com/");
    assert_eq!(view["properties"]["name"], "Getting Started");
    assert_eq!(view["properties"]["category"], "Docs");

    let screen = named("$screen")[0];
    assert_eq!(screen["properties"]["$screen_name"], "Welcome");
    let group = named("$groupidentify")[0];
    assert_eq!(group["properties"]["$group_key"], "org-t1");
    assert_eq!(group["properties"]["$group_set"]["seats"], 12);
    assert_eq!(
        named("Zipped").len(),
        1,
        "the gzip client's request arrived"
    );

    let anon = server.read_json("/events?distinct_id=seg-anon-t1").await;
    let alias = &anon["results"][0];
    assert_eq!(alias["event"], "$create_alias");
    assert_eq!(alias["properties"]["alias"], "seg-t1");
}
