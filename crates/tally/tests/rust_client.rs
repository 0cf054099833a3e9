//! Tally's Rust SDK (`crates/tally-client`) against a real Tally: delivery with
//! uuids, a server that is down and then comes back, the bounded queue, and the
//! axum middleware's events.

mod common;

use axum::routing::get;
use axum::Router;
use common::{free_port, TestServer};
use serde_json::Value;
use std::time::Duration;
use tally_client::{Client, Config, Event};

fn config(server_url: String, api_key: &str) -> Config {
    Config {
        server_url,
        api_key: api_key.to_owned(),
        flush_interval: Duration::from_millis(100),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..Config::default()
    }
}

async fn events_of(server: &TestServer, distinct_id: &str) -> Vec<Value> {
    server
        .read_json(&format!("/events?distinct_id={distinct_id}&limit=1000"))
        .await["results"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn events_are_delivered_with_their_uuids() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let client = Client::new(config(server.base.clone(), &server.bootstrap.api_key));
    let made: Vec<Event> = (0..250)
        .map(|i| Event::new("job_done", "worker-1").property("n", i))
        .collect();
    for e in &made {
        assert!(client.emit(e.clone()));
    }
    client.flush().await;
    let stats = client.stats();
    assert_eq!((stats.sent, stats.dropped, stats.failed), (250, 0, 0));
    let stored = events_of(&server, "worker-1").await;
    assert_eq!(stored.len(), 250);
    let mut uuids: Vec<String> = stored
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = made.iter().map(|e| e.uuid.to_string()).collect();
    uuids.sort();
    expected.sort();
    assert_eq!(uuids, expected);
    client.close().await;
    assert!(
        !client.emit(Event::new("late", "worker-1")),
        "closed: dropped, no panic"
    );
    assert_eq!(client.stats().dropped, 1);
}

#[tokio::test]
async fn events_wait_for_a_server_that_is_down_and_arrive_when_it_is_back() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    // The key must exist before the server does: bootstrap the data dir first.
    let key = {
        let server = TestServer::start(&dir).await;
        let key = server.bootstrap.api_key.clone();
        server.stop().await;
        key
    };
    let client = Client::new(Config {
        max_retries: 100,
        ..config(format!("http://127.0.0.1:{port}"), &key)
    });
    for i in 0..3 {
        assert!(client.emit(Event::new("while_down", "patient").property("i", i)));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(client.stats().sent, 0, "nothing listens yet");
    let mut config = common::config(dir.path());
    config.port = port;
    let server = TestServer::start_with(config).await;
    tokio::time::timeout(Duration::from_secs(20), client.flush())
        .await
        .expect("delivered once the server is back");
    assert_eq!(client.stats().sent, 3);
    assert_eq!(events_of(&server, "patient").await.len(), 3);
}

#[tokio::test]
async fn the_queue_is_bounded_and_nothing_blocks() {
    let port = free_port();
    let client = Client::new(Config {
        max_queue: 5,
        max_batch: 1,
        max_retries: 1,
        ..config(format!("http://127.0.0.1:{port}"), "tly_ing_nobody")
    });
    let started = std::time::Instant::now();
    let accepted = (0..20)
        .filter(|i| client.emit(Event::new("e", "d").property("i", *i)))
        .count();
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "emit never waits"
    );
    assert!((5..=7).contains(&accepted), "{accepted}");
    client.close().await;
    let stats = client.stats();
    assert_eq!(stats.dropped as usize, 20 - accepted);
    assert_eq!(
        stats.failed as usize, accepted,
        "given up after the retries"
    );
    assert_eq!(stats.sent, 0);
}

#[tokio::test]
async fn the_axum_layers_record_requests_and_named_route_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let client = Client::new(config(server.base.clone(), &server.bootstrap.api_key));
    let app = Router::new()
        .route("/users/{id}", get(|| async { "a user" }))
        .route(
            "/signup",
            get(|| async { "sign up" })
                .route_layer(client.track("signup_viewed").property("page", "signup")),
        )
        .layer(client.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    for path in ["/users/42", "/users/7", "/signup", "/nowhere"] {
        http.get(format!("{app_url}{path}"))
            .header("x-tally-distinct-id", "visitor-9")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
            .send()
            .await
            .unwrap();
    }
    client.flush().await;
    let stored = events_of(&server, "visitor-9").await;
    let requests: Vec<&Value> = stored
        .iter()
        .filter(|e| e["event"] == "$http_request")
        .collect();
    assert_eq!(requests.len(), 4);
    let mut routes: Vec<(String, u64)> = requests
        .iter()
        .map(|e| {
            let p = &e["properties"];
            assert_eq!(p["method"], "GET");
            assert!(p["latency_ms"].as_f64().unwrap() >= 0.0);
            (
                p["route"].as_str().unwrap_or("(none)").to_owned(),
                p["status"].as_u64().unwrap(),
            )
        })
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        [
            ("(none)".to_owned(), 404),
            ("/signup".to_owned(), 200),
            ("/users/{id}".to_owned(), 200),
            ("/users/{id}".to_owned(), 200),
        ],
        "matched routes, never the raw path with its ids"
    );
    assert_eq!(
        requests[0]["browser"], "Chrome",
        "the user agent is enriched"
    );
    let named: Vec<&Value> = stored
        .iter()
        .filter(|e| e["event"] == "signup_viewed")
        .collect();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0]["properties"]["page"], "signup");
    assert_eq!(named[0]["properties"]["route"], "/signup");
}
