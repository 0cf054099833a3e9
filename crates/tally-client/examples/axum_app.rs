//! An axum app that reports to Tally: one `$http_request` event per request, and
//! a `signup_viewed` event for the signup page.
//!
//! ```sh
//! TALLY_URL=http://127.0.0.1:8000 TALLY_KEY=tly_ing_… cargo run -p tally-client --example axum_app
//! curl -H 'X-Tally-Distinct-Id: ann' localhost:3000/users/42
//! ```

use axum::routing::get;
use axum::Router;
use std::time::Duration;
use tally_client::{Client, Config};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt::init();
    let client = Client::new(Config {
        server_url: std::env::var("TALLY_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into()),
        api_key: std::env::var("TALLY_KEY").unwrap_or_default(),
        flush_interval: Duration::from_secs(1),
        ..Config::default()
    });
    let app = Router::new()
        .route("/users/{id}", get(|| async { "a user" }))
        .route(
            "/signup",
            get(|| async { "sign up" })
                .route_layer(client.track("signup_viewed").property("page", "signup")),
        )
        .layer(client.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    let serve = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    let result = serve.await;
    // Deliver what the last requests recorded.
    client.close().await;
    result
}
