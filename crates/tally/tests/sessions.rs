//! `GET /sessions` over real HTTP: captured events become sessions with their
//! facts (the processing stage's channel and device included); bad parameters are
//! 400s.

mod common;

use common::{error_code, TestServer};
use serde_json::json;

#[tokio::test]
async fn captured_visits_are_listed_as_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let view = |ts: &str, url: &str| {
        json!({"event": "$pageview", "distinct_id": "v1", "timestamp": ts, "properties": {
            "$current_url": url, "$raw_user_agent": chrome, "$referrer": "https://t.co/x",
        }})
    };
    let r = server
        .capture(&json!({"batch": [
            view("2026-11-20T10:00:00Z", "https://shop.example/"),
            view("2026-11-20T10:04:00Z", "https://shop.example/cart"),
            view("2026-11-20T12:00:00Z", "https://shop.example/"),
        ]}))
        .await;
    assert_eq!(r.status(), 200);
    let page = server
        .read_json("/sessions?from=2026-11-20&to=2026-11-21")
        .await;
    let sessions = page["results"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{page}");
    let first_visit = &sessions[1];
    assert_eq!(first_visit["distinct_id"], "v1");
    assert_eq!(first_visit["events"], 2);
    assert_eq!(first_visit["duration_secs"], 240.0);
    assert_eq!(first_visit["entry_path"], "/");
    assert_eq!(first_visit["exit_path"], "/cart");
    assert_eq!(first_visit["bounce"], false);
    assert_eq!(first_visit["channel"], "social");
    assert_eq!(first_visit["device"], "desktop");
    assert_eq!(first_visit["browser"], "Chrome");
    assert_eq!(sessions[0]["bounce"], true);

    let page = server
        .read_json("/sessions?from=2026-11-20&to=2026-11-21&inactivity_minutes=180")
        .await;
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    for bad in [
        "inactivity_minutes=0",
        "inactivity_minutes=1441",
        "limit=0",
        "from=soon",
    ] {
        let r = server.read(&format!("/sessions?{bad}")).await;
        assert_eq!(r.status(), 400, "{bad}");
        let _ = error_code(r, 400).await;
    }
}

/// Events that arrive minutes late, out of order, and after a restart still land
/// in the session their time puts them in — including a late event that joins
/// two visits into one (sessions are cut when queried, from event times).
#[tokio::test]
async fn late_and_out_of_order_events_land_in_their_session_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let view = |ts: &str, path: &str| {
        json!({"event": "$pageview", "distinct_id": "late-visitor", "timestamp": ts,
               "properties": {"$current_url": format!("https://shop.example{path}")}})
    };
    let server = TestServer::start(&dir).await;
    let r = server
        .capture(&json!({"batch": [
            view("2026-11-20T10:00:00Z", "/a"),
            view("2026-11-20T10:20:00Z", "/b"),
            view("2026-11-20T11:00:00Z", "/c"),
            view("2026-11-20T11:50:00Z", "/d"),
        ]}))
        .await;
    assert_eq!(r.status(), 200);
    let count = |page: &serde_json::Value| page["results"].as_array().unwrap().len();
    let before = server
        .read_json("/sessions?from=2026-11-20&to=2026-11-21")
        .await;
    // Gaps 20, 40, 50 minutes: {10:00, 10:20}, {11:00}, {11:50}.
    assert_eq!(count(&before), 3, "{before}");
    server.stop().await;

    let server = TestServer::start(&dir).await;
    // After the restart, late and out of order: 11:25 (bridging 11:00 and 11:50)
    // and 10:40 (bridging 10:20 and 11:00).
    let r = server
        .capture(&json!({"batch": [
            view("2026-11-20T11:25:00Z", "/late-2"),
            view("2026-11-20T10:40:00Z", "/late-1"),
        ]}))
        .await;
    assert_eq!(r.status(), 200);
    let after = server
        .read_json("/sessions?from=2026-11-20&to=2026-11-21")
        .await;
    // 10:00, 10:20, 10:40, 11:00, 11:25, 11:50: every gap 20–25 minutes.
    assert_eq!(count(&after), 1, "{after}");
    let visit = &after["results"][0];
    assert_eq!(visit["events"], 6);
    assert_eq!(visit["start"], "2026-11-20T10:00:00Z");
    assert_eq!(visit["end"], "2026-11-20T11:50:00Z");
    assert_eq!(visit["entry_path"], "/a");
    assert_eq!(visit["exit_path"], "/d");
    server.stop().await;
}
