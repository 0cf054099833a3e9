//! Persons over real HTTP, across a restart: anonymous browsing, login, a later
//! visit from another device, and someone else. Expected answers are worked out
//! by hand below; the persons work happens in the real processing stage.

mod common;

use common::{error_code, TestServer};
use serde_json::{json, Value};

fn pageview(id: &str, ts: &str) -> Value {
    json!({"event": "$pageview", "distinct_id": id, "timestamp": ts,
           "properties": {"$current_url": "https://shop.example/"}})
}

fn identify(user: &str, anonymous: &str, ts: &str, extra: Value) -> Value {
    let mut properties = json!({ "$anon_distinct_id": anonymous });
    if let (Value::Object(p), Value::Object(extra)) = (&mut properties, extra) {
        p.extend(extra);
    }
    json!({"event": "$identify", "distinct_id": user, "timestamp": ts, "properties": properties})
}

async fn capture(server: &TestServer, batch: Vec<Value>) {
    let r = server.capture(&json!({ "batch": batch })).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["rejected"], json!([]), "{body}");
}

#[tokio::test]
async fn one_person_across_anonymous_ids_devices_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Day 1, laptop: two anonymous pageviews, login, one more pageview.
    let server = TestServer::start(&dir).await;
    capture(
        &server,
        vec![
            pageview("anon-laptop", "2026-11-20T10:00:00Z"),
            pageview("anon-laptop", "2026-11-20T10:01:00Z"),
        ],
    )
    .await;
    capture(
        &server,
        vec![
            identify(
                "user-1",
                "anon-laptop",
                "2026-11-20T10:02:00Z",
                json!({"$set": {"email": "u1@example.com", "plan": "free"}}),
            ),
            pageview("user-1", "2026-11-20T10:03:00Z"),
        ],
    )
    .await;
    let day1 = server
        .read_json("/overview?from=2026-11-20&to=2026-11-21")
        .await;
    assert_eq!(day1["current"]["unique_users"], 1, "{day1}");
    server.stop().await;

    // Day 2, after a restart: the phone browses anonymously (stored before the
    // merge, in its own request), then logs in; someone else visits too.
    let server = TestServer::start(&dir).await;
    capture(
        &server,
        vec![pageview("anon-phone", "2026-11-21T09:00:00Z")],
    )
    .await;
    let before_login = server
        .read_json("/overview?from=2026-11-21&to=2026-11-22")
        .await;
    assert_eq!(before_login["current"]["unique_users"], 1);
    capture(
        &server,
        vec![
            identify(
                "user-1",
                "anon-phone",
                "2026-11-21T09:01:00Z",
                json!({"$set": {"plan": "pro"}, "$set_once": {"first_device": "phone", "email": "ignored@x"}}),
            ),
            pageview("user-1", "2026-11-21T09:02:00Z"),
            pageview("someone-else", "2026-11-21T09:30:00Z"),
        ],
    )
    .await;

    // 8 events (4 a day) from 4 distinct ids, but 2 people.
    let overview = server
        .read_json("/overview?from=2026-11-20&to=2026-11-22")
        .await;
    assert_eq!(overview["current"]["events"], 8, "{overview}");
    assert_eq!(overview["current"]["unique_users"], 2, "{overview}");

    // Day 1 had only user-1; day 2 user-1 (on the phone) and someone else.
    let series = server
        .read_json("/timeseries?interval=day&from=2026-11-20&to=2026-11-22&math=unique_users")
        .await;
    let values: Vec<i64> = series["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_i64().unwrap())
        .collect();
    assert_eq!(values, vec![1, 2], "{series}");

    let top = server
        .read_json("/top-events?from=2026-11-20&to=2026-11-22")
        .await;
    let pageviews = top["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "$pageview")
        .unwrap()
        .clone();
    assert_eq!(pageviews["count"], 6, "{top}");
    assert_eq!(pageviews["unique_users"], 2, "{top}");

    // Any of the ids finds the one person, with everything it was told.
    let person = server.read_json("/persons/anon-phone").await;
    assert_eq!(
        person["distinct_ids"],
        json!(["anon-laptop", "anon-phone", "user-1"])
    );
    assert_eq!(person["is_identified"], true);
    assert_eq!(person["first_seen"], "2026-11-20T10:00:00Z");
    assert_eq!(person["last_seen"], "2026-11-21T09:02:00Z");
    assert_eq!(
        person["properties"],
        json!({"email": "u1@example.com", "plan": "pro", "first_device": "phone"})
    );
    assert_eq!(
        server.read_json("/persons/anon-laptop").await["id"],
        person["id"]
    );
    let r = server.read("/persons/nobody").await;
    assert_eq!(error_code(r, 404).await, "not_found");

    // Day 2's sessions are cut per person: the phone's anonymous pageview and the
    // logged-in ones are one visit, not two.
    let sessions = server
        .read_json("/sessions?from=2026-11-21&to=2026-11-22")
        .await;
    let sessions = sessions["results"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let visit = sessions
        .iter()
        .find(|s| s["person_id"] == person["id"])
        .expect("the user's session");
    assert_eq!(visit["events"], 3);
    assert_eq!(visit["distinct_id"], "anon-phone");
    assert_eq!(visit["duration_secs"], 120.0);
    server.stop().await;
}
