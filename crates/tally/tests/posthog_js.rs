//! The real posthog-js (npm, pinned in `tests/browser/package.json`) in Debian's
//! headless Chromium, driven by playwright-core: a test page inits it with
//! `api_host` = this Tally, which captures the initial pageview, then a click
//! captures a custom event and an identify. All three are read back through the
//! events API with their person, session and properties.

mod common;

use common::{browser_dir, TestServer};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

async fn events_of(server: &TestServer, distinct_id: &str) -> Vec<Value> {
    server
        .read_json(&format!("/events?distinct_id={distinct_id}&limit=100"))
        .await["results"]
        .as_array()
        .unwrap()
        .clone()
}

fn named<'a>(events: &'a [Value], name: &str) -> Option<&'a Value> {
    events.iter().find(|e| e["event"] == name)
}

#[tokio::test]
async fn posthog_js_in_chromium_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let run = format!("js{}", std::process::id());
    let mut browser = tokio::process::Command::new("node")
        .arg(browser_dir().join("posthog_js.mjs"))
        .args([&server.base, &server.bootstrap.api_key, &run])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdout = BufReader::new(browser.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).await.unwrap();
    let mut stderr = browser.stderr.take().unwrap();
    if line.is_empty() {
        let mut err = String::new();
        stderr.read_to_string(&mut err).await.unwrap();
        panic!("the browser script stopped before the page was ready: {err}");
    }
    let page: Value = serde_json::from_str(&line).unwrap();
    let page_url = page["page"].as_str().unwrap().to_owned();

    // posthog-js sends in batches every few seconds; wait for the identify, the
    // last call the page makes.
    let user = format!("user-{run}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let identified = loop {
        let events = events_of(&server, &user).await;
        if let Some(e) = named(&events, "$identify") {
            break e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no $identify from posthog-js within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let anonymous = identified["properties"]["$anon_distinct_id"]
        .as_str()
        .expect("identify names the anonymous id")
        .to_owned();
    assert_eq!(identified["properties"]["$set"]["email"], "js@example.com");

    // The anonymous id's events: the initial pageview and the click.
    let deadline = Instant::now() + Duration::from_secs(30);
    let before_login = loop {
        let events = events_of(&server, &anonymous).await;
        if named(&events, "$pageview").is_some() && named(&events, "clicked_buy").is_some() {
            break events;
        }
        assert!(Instant::now() < deadline, "pageview or click missing");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let pageview = named(&before_login, "$pageview").unwrap();
    assert_eq!(pageview["url"], page_url.as_str());
    assert_eq!(pageview["path"], "/checkout");
    assert_eq!(pageview["properties"]["$lib"], "web");
    assert_eq!(pageview["properties"]["title"], "Shop");
    let click = named(&before_login, "clicked_buy").unwrap();
    assert_eq!(click["properties"]["plan"], "pro");
    assert_eq!(click["properties"]["price"], 42.5);
    assert_eq!(click["properties"]["run"], run.as_str());

    // One browser session, and times from the browser's clock near ours.
    let session = pageview["session_id"].as_str().expect("session id");
    assert_eq!(click["session_id"], session);
    assert_eq!(identified["session_id"], session);
    for e in [pageview, click, &identified] {
        let ts = chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).unwrap();
        let age = chrono::Utc::now().signed_duration_since(ts);
        assert!(age.num_seconds().abs() < 120, "{}: {ts}", e["event"]);
    }
    // Each call stored once, though posthog-js may retry.
    assert_eq!(before_login.len(), 2, "{before_login:#?}");

    // posthog-js's identify joined the anonymous browsing to the user: one
    // person, found by either id, with the email it set.
    let person = server.read_json(&format!("/persons/{anonymous}")).await;
    let mut ids = vec![anonymous.clone(), user.clone()];
    ids.sort();
    assert_eq!(person["distinct_ids"], serde_json::json!(ids));
    assert_eq!(person["is_identified"], true);
    assert_eq!(person["properties"]["email"], "js@example.com");
    assert_eq!(
        server.read_json(&format!("/persons/{user}")).await["id"],
        person["id"]
    );

    drop(browser.stdin.take());
    let status = browser.wait().await.unwrap();
    let mut err = String::new();
    stderr.read_to_string(&mut err).await.unwrap();
    assert!(
        status.success(),
        "page errors or failed requests to Tally: {err}"
    );
}
