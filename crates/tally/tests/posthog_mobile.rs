//! The requests PostHog's mobile SDKs (posthog-android, posthog-ios,
//! posthog_flutter) send to `/batch`, replayed from `tests/fixtures/posthog_mobile`
//! with their headers and gzip: every event is stored once (a retried flush too),
//! at the right time although a device clock is wrong, with the OS and device
//! the SDK declares, in the SDK's session, and the identify joins the anonymous
//! install to the user so a funnel runs across it.

mod common;

use chrono::{DateTime, Duration as TimeDelta, SecondsFormat, Utc};
use common::TestServer;
use flate2::{write::GzEncoder, Compression};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/posthog_mobile")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The fixture's body with its placeholders filled: the key, and `{{T-n}}` as
/// the device's clock `n` seconds before `sent`, in the SDKs' format.
fn fill(value: &Value, key: &str, device_sent: DateTime<Utc>) -> Value {
    match value {
        Value::String(s) if s == "{{API_KEY}}" => json!(key),
        Value::String(s) if s.starts_with("{{T-") => {
            let secs: i64 = s[4..s.len() - 2].parse().unwrap();
            json!((device_sent - TimeDelta::seconds(secs))
                .to_rfc3339_opts(SecondsFormat::Millis, true))
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| fill(v, key, device_sent)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(v, key, device_sent)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Sends the fixture's request as the SDK does; returns the batch it sent and
/// when (by the server's clock) it was sent.
async fn send(server: &TestServer, fixture: &Value, times: usize) -> (Vec<Value>, DateTime<Utc>) {
    let sent = Utc::now();
    let offset = TimeDelta::seconds(fixture["device_clock_offset_secs"].as_i64().unwrap());
    let body = fill(&fixture["body"], &server.bootstrap.api_key, sent + offset);
    let mut raw = serde_json::to_vec(&body).unwrap();
    let headers = fixture["headers"].as_object().unwrap();
    if headers.get("Content-Encoding") == Some(&json!("gzip")) {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&raw).unwrap();
        raw = gz.finish().unwrap();
    }
    for _ in 0..times {
        let mut request = server
            .client
            .post(format!(
                "{}{}",
                server.base,
                fixture["path"].as_str().unwrap()
            ))
            .body(raw.clone());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str().unwrap());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", fixture["sdk"]);
        assert_eq!(response.json::<Value>().await.unwrap()["status"], 1);
    }
    (body["batch"].as_array().unwrap().clone(), sent)
}

/// The stored events with these uuids, once all of them are readable.
async fn stored(server: &TestServer, batch: &[Value]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = server.read_json("/events?limit=1000").await;
        let found: Vec<Value> = batch
            .iter()
            .filter_map(|sent| {
                page["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["uuid"] == sent["uuid"])
                    .cloned()
            })
            .collect();
        if found.len() == batch.len() || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks each stored event against what the SDK sent.
fn check_events(sdk: &str, batch: &[Value], stored: &[Value], sent: DateTime<Utc>, raw: &[Value]) {
    assert_eq!(stored.len(), batch.len(), "{sdk}: every event stored");
    for ((sent_event, event), raw_event) in batch.iter().zip(stored).zip(raw) {
        let props = &sent_event["properties"];
        let what = format!("{sdk} {}", sent_event["event"]);
        assert_eq!(event["event"], sent_event["event"], "{what}");
        assert_eq!(event["distinct_id"], sent_event["distinct_id"], "{what}");
        // `{{T-n}}`: the event happened n seconds before the flush, by the
        // server's clock, whatever the device's clock said.
        let before: i64 = raw_event["timestamp"].as_str().unwrap()[4..]
            .trim_end_matches("}}")
            .parse()
            .unwrap();
        let expected = sent - TimeDelta::seconds(before);
        let at: DateTime<Utc> = event["timestamp"].as_str().unwrap().parse().unwrap();
        assert!(
            (at - expected).num_seconds().abs() <= 5,
            "{what}: stored at {at}, happened at {expected}"
        );
        assert_eq!(event["os"], props["$os_name"], "{what}");
        assert_eq!(
            event["device"],
            json!(props["$device_type"].as_str().unwrap().to_lowercase()),
            "{what}"
        );
        assert_eq!(
            event["browser"],
            Value::Null,
            "{what}: an app is no browser"
        );
        assert_eq!(event["is_bot"], false, "{what}");
        assert_eq!(event["session_id"], props["$session_id"], "{what}");
        assert_eq!(event["properties"]["$lib"], props["$lib"], "{what}");
        if sent_event["event"] == "$screen" {
            assert_eq!(
                event["properties"]["$screen_name"], props["$screen_name"],
                "{what}"
            );
        }
    }
}

#[tokio::test]
async fn mobile_sdk_batches_are_stored_as_the_sdks_mean_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    for (file, identified) in [
        ("android.json", Some(("user-4711", "ada@example.com"))),
        ("ios.json", Some(("user-0815", "grace@example.com"))),
        ("flutter_android.json", None),
    ] {
        let fixture = fixture(file);
        let sdk = fixture["sdk"].as_str().unwrap();
        // A flush whose response was lost is sent again: stored once.
        let (batch, sent) = send(&server, &fixture, 2).await;
        let events = stored(&server, &batch).await;
        let raw = fixture["body"]["batch"].as_array().unwrap();
        check_events(sdk, &batch, &events, sent, raw);

        if let Some((user, email)) = identified {
            let person = server.read_json(&format!("/persons/{user}")).await;
            let anonymous = &batch[0]["distinct_id"];
            assert!(
                person["distinct_ids"]
                    .as_array()
                    .unwrap()
                    .contains(anonymous),
                "{sdk}: the install joined to the user: {person}"
            );
            assert_eq!(person["properties"]["email"], email, "{sdk}");
            let timeline = server
                .read_json(&format!("/events?person={user}&limit=100"))
                .await;
            assert_eq!(
                timeline["results"].as_array().unwrap().len(),
                batch.len(),
                "{sdk}: the person's timeline holds the anonymous events too"
            );
        }
    }
    let android = server.read_json("/persons/user-4711").await;
    assert_eq!(
        android["properties"]["first_platform"], "android",
        "$set_once"
    );

    // Each event counted once, and none of them left out as a bot.
    let top = server.read_json("/top-events?limit=100").await;
    let count = |name: &str| {
        top["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["event"] == name)
            .map_or(0, |r| r["count"].as_u64().unwrap())
    };
    assert_eq!(count("$screen"), 1 + 2 + 2);
    assert_eq!(count("Application Opened"), 3);

    // A funnel from opening the app to signing in, across the identify.
    let funnel = json!({"kind": "funnel", "steps": [
        {"event": "Application Opened"}, {"event": "$screen"}, {"event": "$identify"}]});
    assert_eq!(server.funnel_counts(&funnel).await, [3, 3, 2]);
}
