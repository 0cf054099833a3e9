//! The demo site (`tally demo`) clicked through in Debian's headless Chromium
//! (`tests/browser/demo_site.mjs`): its events reach Tally through the browser
//! SDK and make a complete funnel for one person, joined across the sign-up.

mod common;

use common::{run_browser_script, TestServer};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn clicking_through_the_demo_fills_a_funnel() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo_url = format!("http://{}", listener.local_addr().unwrap());
    let site = tally::demo::router(&server.base, &server.bootstrap.api_key);
    tokio::spawn(async move { axum::serve(listener, site).await.unwrap() });

    // The pages carry the SDK with this Tally and key; unknown pages are 404s.
    let home = reqwest::get(format!("{demo_url}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains(&format!("src=\"{}/sdk.js\"", server.base)));
    assert!(home.contains(&format!("data-key=\"{}\"", server.bootstrap.api_key)));
    assert_eq!(
        reqwest::get(format!("{demo_url}/nope"))
            .await
            .unwrap()
            .status(),
        404
    );

    let screenshot = std::env::temp_dir().join(format!("demo-{}.png", std::process::id()));
    let run = run_browser_script("demo_site.mjs", &[&demo_url, screenshot.to_str().unwrap()]).await;
    let email = run["email"].as_str().unwrap();

    // The funnel, over the person the sign-up joined (headless Chromium is a bot
    // to Tally, so bots are included).
    let funnel = json!({"kind": "funnel", "include_bots": true, "steps": [
        {"event": "$pageview"}, {"event": "video_played"}, {"event": "plan_selected"},
        {"event": "signed_up"}, {"event": "onboarding_started"}]});
    let deadline = Instant::now() + Duration::from_secs(20);
    let counts = loop {
        let counts = server.funnel_counts(&funnel).await;
        if counts.last() == Some(&1) || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(counts, [1, 1, 1, 1, 1], "one person through every step");
    let person = server.read_json(&format!("/persons/{email}")).await;
    let ids = person["distinct_ids"].as_array().unwrap();
    assert!(ids.contains(&run["anonymous_id"]), "{person}");
    assert_eq!(person["properties"]["plan"], "pro");
    assert_eq!(person["properties"]["name"], "Demo Person");
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-site.png");
    std::fs::copy(&screenshot, artifact).unwrap();
}
