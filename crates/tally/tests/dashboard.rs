//! The web dashboard: how Tally serves it (SPA fallback, hashed immutable
//! assets, gzip, ETag revalidation, its CSP, API 404s left alone), its API
//! types checked against the served OpenAPI document, and a new user's walk
//! through it in Debian's headless Chromium (`tests/browser/dashboard.mjs`):
//! setup, a new project, events from a site arriving live, the overview, a
//! funnel of the visit.

mod common;

use common::{run_browser_script, TestServer};
use serde_json::Value;
use std::path::PathBuf;

#[tokio::test]
async fn the_dashboard_is_served_as_a_single_page_app() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let get = |path: &str, gzip: bool| {
        let mut r = server.client.get(format!("{}{path}", server.base));
        // reqwest would decompress transparently if asked to; ask by header.
        if gzip {
            r = r.header("accept-encoding", "gzip");
        }
        r.send()
    };

    let root = get("/", false).await.unwrap();
    assert_eq!(root.status(), 200);
    assert!(root.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(root.headers()["cache-control"], "no-cache");
    let csp = root.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.starts_with("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let etag = root.headers()["etag"].clone();
    let html = root.text().await.unwrap();
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    assert!(
        script.starts_with("/assets/index-") && script.ends_with(".js"),
        "{script}"
    );

    // Client-side routes get the same page; revalidation answers 304.
    for route in ["/p/1", "/p/1/live", "/projects/new"] {
        let r = get(route, false).await.unwrap();
        assert_eq!(r.status(), 200, "{route}");
        assert_eq!(r.text().await.unwrap(), html, "{route}");
    }
    let revalidated = server
        .client
        .get(format!("{}/p/1", server.base))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);

    // The bundle: gzipped when taken, cached for good, and smaller that way.
    let zipped = get(&script, true).await.unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(
        zipped.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(zipped.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    let zipped_len = zipped.bytes().await.unwrap().len();
    let plain = get(&script, false).await.unwrap();
    assert!(!plain.headers().contains_key("content-encoding"));
    let plain_len = plain.bytes().await.unwrap().len();
    assert!(zipped_len * 2 < plain_len, "{zipped_len} vs {plain_len}");

    // What is not a page stays an error: missing files, the API, other methods.
    for (method, path) in [
        (reqwest::Method::GET, "/assets/gone.js"),
        (reqwest::Method::GET, "/api/v1/nope"),
        (reqwest::Method::DELETE, "/p/1"),
    ] {
        let r = server
            .client
            .request(method.clone(), format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }
}

/// `dashboard/src/api/schema.d.ts` is what openapi-typescript makes of the
/// document Tally serves: an API change without regenerating the types fails
/// here (regenerate: `npm run api-types -- URL -o src/api/schema.d.ts`).
#[tokio::test]
async fn the_dashboards_api_types_match_the_served_openapi_document() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let document = server
        .client
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, &document).unwrap();
    let generated = dir.path().join("schema.d.ts");
    let dashboard = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dashboard");
    let out = tokio::process::Command::new("npx")
        .args(["--no-install", "openapi-typescript"])
        .arg(&spec)
        .arg("-o")
        .arg(&generated)
        .current_dir(&dashboard)
        .output()
        .await
        .expect("npx runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read_to_string(dashboard.join("src/api/schema.d.ts")).unwrap();
    let fresh = std::fs::read_to_string(&generated).unwrap();
    if committed != fresh {
        let copy = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schema.d.ts");
        std::fs::write(&copy, &fresh).unwrap();
        panic!(
            "dashboard/src/api/schema.d.ts is stale: the types of the served document are in {}",
            copy.display()
        );
    }
}

#[tokio::test]
async fn a_new_user_sees_their_sites_events_live_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    // Plain HTTP on 127.0.0.1: Secure cookies are not kept there by every browser.
    config.cookie_secure = false;
    let server = TestServer::start_with(config).await;
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let r = run_browser_script(
        "dashboard.mjs",
        &[&server.base, artifacts.to_str().unwrap()],
    )
    .await;
    println!("{r}");
    assert_eq!(
        r["projects_after_setup"],
        serde_json::json!(["default"]),
        "{r}"
    );
    assert_eq!(r["key_shown"], true);
    assert_eq!(r["snippet_has_key"], true);
    assert_eq!(r["empty_state"], true, "a new project says what to do next");
    let live: Vec<&str> = r["live_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(live, ["$autocapture", "$pageview", "$pageview"], "{r}");
    assert_eq!(r["live_properties_open"], true);
    assert_eq!(r["paused_rows"], false, "held back while paused");
    assert_eq!(r["resumed_rows"], true, "shown on resume");
    assert_eq!(r["cards"]["visitors"], "1", "{r}");
    assert_eq!(r["cards"]["pageviews"], "2", "{r}");
    assert_eq!(r["cards"]["sessions"], "1", "{r}");
    assert_eq!(
        r["cards"]["bounce"], "0%",
        "two pageviews and a click: no bounce"
    );
    let pages: Vec<&str> = r["top_pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(pages, ["/", "/checkout"], "{r}");
    assert_eq!(r["chart_drawn"], 1);
    assert_eq!(r["filtered_pageviews"], "1", "filtered to /checkout: {r}");
    assert_eq!(
        r["filtered_events_table"],
        serde_json::json!(["$pageview", "while_paused"]),
        "only what happened on /checkout is left (the click was on /): {r}"
    );
    assert_eq!(r["unfiltered_pageviews"], "2");
    assert_eq!(r["funnel_counts"], serde_json::json!(["1", "1"]), "{r}");
    assert_eq!(r["funnel_conversion"], "100%");
    assert_eq!(
        r["funnel_breakdown"],
        serde_json::json!(["/ | 1 | 1"]),
        "the attempt started on the view of /: {r}"
    );
    assert_eq!(r["funnel_bars"], 1, "the steps drawn as bars");
    assert_eq!(
        r["path_links"],
        serde_json::json!(["1. / | 2. /checkout | 1"]),
        "the visitor went from / to /checkout: {r}"
    );
    assert_eq!(r["profile_name"], "Ada Lovelace", "{r}");
    assert_eq!(
        r["pending_invites"],
        serde_json::json!(["carol@example.com"]),
        "{r}"
    );
    assert!(
        r["users_listed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u.as_str().unwrap().starts_with("ada@example.com")),
        "the superuser sees the accounts: {r}"
    );
    assert_eq!(
        r["invited_projects"],
        serde_json::json!(["Shop"]),
        "Carol joined through the link: {r}"
    );
    assert_eq!(r["sankey_nodes"], 2, "one node per page and step: {r}");
    // The saved funnel on a dashboard, and through its share link to someone
    // without an account: the same counts, no way into the project, and
    // nothing once sharing stops.
    assert_eq!(r["dashboard_tile_counts"], r["funnel_counts"], "{r}");
    assert_eq!(r["share_link_path"], true, "{r}");
    assert_eq!(r["shared_counts"], r["funnel_counts"], "{r}");
    assert_eq!(r["shared_title"], "Weekly", "{r}");
    assert_eq!(
        r["shared_has_nav"], 0,
        "the shared page links nowhere inside: {r}"
    );
    assert_eq!(r["revoked_link_dead"], true, "{r}");
    assert_eq!(
        r["reopened"],
        serde_json::json!(["$pageview", "$autocapture", "$pathname"]),
        "the saved funnel opens in its builder as it was saved: {r}"
    );
    assert_eq!(
        r["saved_order"],
        serde_json::json!(["Visit to click: strict"]),
        "the change was saved to the insight: {r}"
    );
    assert_eq!(
        r["renamed"],
        serde_json::json!(["Visit, then click"]),
        "{r}"
    );
    assert_eq!(
        r["trend_total"],
        serde_json::json!(["2"]),
        "two pageviews: {r}"
    );
    let mut breakdown: Vec<String> = r["trend_breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row.as_str().unwrap().to_owned())
        .collect();
    breakdown.sort();
    assert_eq!(breakdown, ["$pageview: /1", "$pageview: /checkout1"], "{r}");
    assert_eq!(
        r["trend_filtered"],
        serde_json::json!(["$pageview: /checkout1"]),
        "filtered to /checkout with a browser set: {r}"
    );
    let sizes: Vec<&str> = r["retention_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(sizes.iter().filter(|s| **s == "1").count(), 1, "{r}");
    assert!(sizes.iter().all(|s| *s == "1" || *s == "0"), "{r}");
    assert_eq!(r["stickiness"], serde_json::json!(["1 day | 1"]), "{r}");
    assert_eq!(
        r["lifecycle"],
        serde_json::json!(["1", "0", "0", "0"]),
        "new, returning, resurrecting, dormant: {r}"
    );
    assert_eq!(
        r["explorer_all"],
        serde_json::json!(["$autocapture", "$pageview", "$pageview", "while_paused"]),
        "{r}"
    );
    assert_eq!(r["explorer_pageviews"], 2);
    assert_eq!(r["explorer_properties"], true);
    assert_eq!(r["entry_pages"], serde_json::json!(["/"]), "{r}");
    assert_eq!(r["exit_pages"], serde_json::json!(["/checkout"]), "{r}");
    assert_eq!(r["entry_chip"], "Entry page: / ✕", "{r}");
    assert_eq!(
        r["entry_filtered_pages"],
        serde_json::json!(["/", "/checkout"]),
        "the visits entered on /, with every page they saw: {r}"
    );
    // The visit: two pageviews, a click and `while_paused`, one SDK session.
    assert_eq!(r["sessions_rows"], 1, "{r}");
    assert_eq!(
        r["session_timeline"],
        serde_json::json!(["$pageview", "$autocapture", "$pageview", "while_paused"]),
        "{r}"
    );
    assert_eq!(r["persons_rows"], 1, "{r}");
    assert_eq!(r["person_timeline"], 4, "{r}");
    assert_eq!(r["saved_timezone"], "Europe/Berlin", "{r}");
    assert_eq!(r["rotated_key"], true);
    assert_eq!(r["personal_key"], true);
    assert_eq!(r["no_horizontal_scroll"], true, "fits a phone");
    assert_eq!(r["logged_out"], true);
    assert_eq!(
        r["registered_projects"], 0,
        "a new account sees none of Ada's projects"
    );
    assert_eq!(r["registered_hint"], true);
    for shot in [
        "setup",
        "project-created",
        "live",
        "overview",
        "overview-phone-dark",
        "login",
    ] {
        assert!(
            artifacts.join(format!("dashboard-{shot}.png")).exists(),
            "{shot}"
        );
    }
}
