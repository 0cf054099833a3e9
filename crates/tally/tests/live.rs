//! The live stream over a real WebSocket: a member's ticket opens it once; it
//! carries the project's events as they are stored, enriched, and no other
//! project's.

mod common;

use common::TestServer;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message};

async fn ticket(server: &TestServer, project: i64) -> String {
    let r: Value = server
        .client
        .post(format!(
            "{}/api/v1/projects/{project}/live/ticket",
            server.base
        ))
        .bearer_auth(&server.bootstrap.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["ticket"].as_str().unwrap().to_owned()
}

fn ws_url(server: &TestServer, project: i64, ticket: &str) -> String {
    format!(
        "{}/api/v1/projects/{project}/live?ticket={ticket}",
        server.base.replacen("http://", "ws://", 1)
    )
}

#[tokio::test]
async fn a_ticket_opens_the_stream_of_its_project_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let a = server.bootstrap.project_id;
    let other: Value = server
        .client
        .post(format!("{}/api/v1/projects", server.base))
        .bearer_auth(&server.bootstrap.admin_token)
        .json(&json!({"name": "other"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let t = ticket(&server, a).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url(&server, a, &t))
        .await
        .expect("the ticket opens the stream");
    // Spent: the same ticket opens nothing more.
    let again = tokio_tungstenite::connect_async(ws_url(&server, a, &t)).await;
    match again {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("a spent ticket must be refused: {other:?}"),
    }
    // A ticket for A does not open B's stream.
    let t2 = ticket(&server, a).await;
    match tokio_tungstenite::connect_async(ws_url(&server, other["id"].as_i64().unwrap(), &t2))
        .await
    {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("another project's ticket must be refused: {other:?}"),
    }

    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    let r = server
        .client
        .post(format!("{}/api/v1/capture", server.base))
        .header("X-API-Key", other["api_key"].as_str().unwrap())
        .json(&json!({"event": "elsewhere", "distinct_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = server
        .client
        .post(format!("{}/api/v1/capture", server.base))
        .header("X-API-Key", &server.bootstrap.api_key)
        .json(&json!({"batch": [
            {"event": "$pageview", "distinct_id": "alice", "properties": {"$current_url": "https://shop.example/cart", "$user_agent": chrome}},
            {"event": "checkout", "distinct_id": "alice"}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("events arrive within seconds")
            .expect("stream open")
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let m: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(m["type"], "event");
        seen.push(m["event"].clone());
    }
    let names: Vec<&str> = seen.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["$pageview", "checkout"], "only project A's events");
    assert_eq!(seen[0]["project_id"], a);
    assert_eq!(seen[0]["path"], "/cart");
    assert_eq!(seen[0]["browser"], "Chrome", "events arrive processed");
    // Nothing else (B's event) follows.
    let more = tokio::time::timeout(Duration::from_millis(500), socket.next()).await;
    assert!(more.is_err(), "no other project's events: {more:?}");
}
