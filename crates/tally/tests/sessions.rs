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
