//! The real posthog-python SDK (PyPI `posthog`, pinned in scripts/test.sh) against
//! a running Tally: every call it made is read back through the events API with
//! its exact name, person and properties.

mod common;

use common::{sdk_python, TestServer};
use serde_json::Value;
use std::collections::HashMap;

async fn by_uuid(server: &TestServer, distinct_id: &str) -> HashMap<String, Value> {
    let page = server
        .read_json(&format!("/events?distinct_id={distinct_id}&limit=1000"))
        .await;
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["uuid"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

#[tokio::test]
async fn posthog_python_calls_are_stored_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/posthog_python.py");
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
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
    let uuid = |k: &str| sent[k].as_str().unwrap().to_owned();

    let user = by_uuid(&server, "py-t1").await;
    let purchase = &user[&uuid("capture")];
    assert_eq!(purchase["event"], "purchase");
    let p = &purchase["properties"];
    assert_eq!(p["price"], 12.5);
    assert_eq!(p["qty"], 3);
    assert_eq!(p["vip"], true);
    assert_eq!(p["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(p["address"]["city"], "Zürich");
    assert_eq!(p["$lib"], "posthog-python");
    assert_eq!(purchase["url"], "https://shop.example/checkout");
    // The SDK dated it 09:30:00 by its own clock; skew correction keeps it there
    // (client and server share a clock here, so only transit time may differ).
    let ts = chrono::DateTime::parse_from_rfc3339(purchase["timestamp"].as_str().unwrap()).unwrap();
    let expected = chrono::DateTime::parse_from_rfc3339("2026-11-22T09:30:00Z").unwrap();
    assert!((ts - expected).num_seconds().abs() <= 5, "{ts}");

    let set = &user[&uuid("set")];
    assert_eq!(set["event"], "$set");
    assert_eq!(set["properties"]["$set"]["email"], "py-t1@example.com");
    let set_once = &user[&uuid("set_once")];
    assert_eq!(set_once["event"], "$set_once");
    assert_eq!(set_once["properties"]["$set_once"]["first_plan"], "free");
    // alias(previous_id, distinct_id) is sent as the previous id's event, naming
    // the new id in `alias`.
    let anon = by_uuid(&server, "anon-t1").await;
    let alias = &anon[&uuid("alias")];
    assert_eq!(alias["event"], "$create_alias");
    assert_eq!(alias["properties"]["alias"], "py-t1");

    let group = &user[&uuid("group")];
    assert_eq!(group["event"], "$groupidentify");
    assert_eq!(group["properties"]["$group_type"], "company");
    assert_eq!(group["properties"]["$group_set"]["seats"], 40);

    let burst = by_uuid(&server, "py-burst-t1").await;
    let mut sent_burst: Vec<String> = sent["burst"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect();
    let mut stored: Vec<String> = burst.keys().cloned().collect();
    sent_burst.sort();
    stored.sort();
    assert_eq!(stored, sent_burst, "the gzip batch arrived whole, once");
}
