//! Configured time limits over real HTTP: with `clamp`, an event dated too far
//! ahead (or too long ago) is stored at its receive time with the client's time
//! kept; with the default `reject`, it is refused with its own code.

mod common;

use common::{error_code, TestServer};
use serde_json::json;
use tally::config::Config;
use tally_core::OutOfRange;

#[tokio::test]
async fn out_of_range_events_are_clamped_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(Config {
        max_future_skew_secs: 60,
        max_event_age_days: Some(7),
        out_of_range_timestamps: OutOfRange::Clamp,
        ..common::config(dir.path())
    })
    .await;
    // Microseconds: the precision Tally keeps.
    let micros = chrono::SecondsFormat::Micros;
    let ahead = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339_opts(micros, true);
    let old = (chrono::Utc::now() - chrono::Duration::days(8)).to_rfc3339_opts(micros, true);
    let r = server
        .capture(&json!({"batch": [
            {"event": "ahead", "distinct_id": "d", "timestamp": ahead},
            {"event": "old", "distinct_id": "d", "timestamp": old},
        ]}))
        .await;
    assert_eq!(r.status(), 200);
    let page = server.read_json("/events?limit=10").await;
    for e in page["results"].as_array().unwrap() {
        let stored =
            chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).unwrap();
        let received =
            chrono::DateTime::parse_from_rfc3339(e["received_at"].as_str().unwrap()).unwrap();
        assert_eq!(stored, received, "{}", e["event"]);
        let sent = if e["event"] == "ahead" { &ahead } else { &old };
        let kept = chrono::DateTime::parse_from_rfc3339(
            e["properties"]["$original_timestamp"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(kept, chrono::DateTime::parse_from_rfc3339(sent).unwrap());
    }
}

#[tokio::test]
async fn out_of_range_events_are_rejected_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(Config {
        max_event_age_days: Some(7),
        ..common::config(dir.path())
    })
    .await;
    let old = (chrono::Utc::now() - chrono::Duration::days(8)).to_rfc3339();
    let r = server
        .capture(&json!({"event": "old", "distinct_id": "d", "timestamp": old}))
        .await;
    assert_eq!(error_code(r, 400).await, "timestamp_too_old");
}
