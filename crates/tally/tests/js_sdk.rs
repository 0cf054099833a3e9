//! Tally's browser SDK (`sdks/js/tally.js`, served at `/sdk.js`) in Debian's
//! headless Chromium on a test site of another origin: pageviews with SPA
//! navigations, click and form autocapture (never field values), offline →
//! online replay, a 503 retried, delivery on unload, opt-out and identify —
//! each checked in what Tally stored (`tests/browser/sdk_js.mjs`).

mod common;

use common::{run_browser_script, TestServer};
use serde_json::json;
use std::io::Write;

#[tokio::test]
async fn the_sdk_is_small_and_served_as_script_and_module() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    for (path, module) in [("/sdk.js", false), ("/sdk.mjs", true)] {
        let r = server
            .client
            .get(format!("{}{path}", server.base))
            .header("origin", "https://shop.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        assert!(
            r.headers().contains_key("access-control-allow-origin"),
            "loadable cross-origin"
        );
        let body = r.bytes().await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&body).contains("export default tally"),
            module
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&body).unwrap();
        let size = gz.finish().unwrap().len();
        assert!(
            size <= 5 * 1024,
            "{path} is {size} bytes gzipped, over 5 KB"
        );
    }
}

#[tokio::test]
async fn the_sdk_in_chromium_captures_what_a_site_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let screenshot = std::env::temp_dir().join(format!("sdk-js-{}.png", std::process::id()));
    let r = run_browser_script(
        "sdk_js.mjs",
        &[
            &server.base,
            &server.bootstrap.api_key,
            &server.bootstrap.admin_token,
            &server.bootstrap.project_id.to_string(),
            screenshot.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(
        r["pageview_paths"],
        json!(["/", "/app/a", "/app/b", "/"]),
        "{r}"
    );
    assert_eq!(r["click"]["$el_text"], "Buy now", "{r}");
    assert_eq!(r["click"]["$el_tag"], "button");
    assert_eq!(r["click"]["$el_selector"], "button#buy");
    assert_eq!(r["submit"]["$form_id"], "signup", "{r}");
    assert_eq!(r["secret_stored"], false, "form values are never captured");
    assert_eq!(
        r["session_ids"].as_array().unwrap().len(),
        1,
        "one session: {r}"
    );
    assert_eq!(
        r["browser"], "Headless Chrome",
        "the user agent reached enrichment"
    );
    assert_eq!(
        r["module"],
        json!({"accepted": true, "stored": 1}),
        "the ES module, initialised in code, captures"
    );
    assert_eq!(
        r["module_dnt"],
        json!({"accepted": false, "stored": 0}),
        "Do-Not-Track honoured when respectDnt is set"
    );
    assert_eq!(r["offline_held"], true, "{r}");
    assert_eq!(r["offline_delivered"], 1);
    assert!(r["retry_calls"].as_u64().unwrap() >= 2, "{r}");
    assert_eq!(r["retry_stored"], 1, "retried, stored once");
    assert_eq!(r["unload_delivered"], 1, "{r}");
    assert_eq!(
        r["flush_during_send"],
        json!({"queued": 0, "stored": [1, 1]}),
        "flush() during a send waits for it and sends the rest"
    );
    assert_eq!(
        r["batched_after_send"],
        json!({"requests": 1, "queued": 1}),
        "what was captured during an automatic send waits for the interval"
    );
    assert_eq!(r["opted_out_capture"], false);
    assert_eq!(r["opted_out_stored"], 0);
    assert_eq!(r["identify_anon"], r["distinct_id"]);
    assert_eq!(r["identify_email"], "js@example.com");
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdk-js.png");
    std::fs::copy(&screenshot, artifact).unwrap();
}
