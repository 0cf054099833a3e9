//! Saved insights, custom dashboards and read-only share links over real HTTP:
//! a saved query is checked before it is stored and answers with current data
//! when opened; dashboards hold only their project's insights; a share link
//! shows that dashboard's answers to anyone holding it, and nothing else.

mod common;

use common::{error_code, set_up_first_user, Browser, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

fn signups_trend() -> Value {
    json!({"kind": "trends", "date_from": "-7d", "interval": "day",
           "series": [{"event": "signup", "math": "total"}]})
}

fn checkout_funnel() -> Value {
    json!({"kind": "funnel", "date_from": "-7d",
           "steps": [{"event": "signup"}, {"event": "purchase"}]})
}

async fn created(server: &TestServer, path: &str, body: Value) -> Value {
    let r = server
        .send_json(Method::POST, path, &body.to_string())
        .await;
    assert_eq!(r.status(), 201, "POST {path} {body}");
    r.json().await.unwrap()
}

/// The sum of a trends answer's first series.
fn trend_sum(answer: &Value) -> f64 {
    answer["results"][0]["points"]
        .as_array()
        .unwrap_or_else(|| panic!("not a trends answer: {answer}"))
        .iter()
        .map(|p| p["value"].as_f64().unwrap_or(0.0))
        .sum()
}

#[tokio::test]
async fn insights_are_checked_saved_and_answer_with_current_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;

    // Only a query /query accepts is saved; the error is /query's own.
    for (body, status, code) in [
        (
            json!({"name": "x", "query": {"kind": "nope"}}),
            400,
            "invalid_query",
        ),
        (
            json!({"name": "x", "query": {"kind": "trends", "date_from": "-7q", "series": [{"event": "a"}]}}),
            400,
            "invalid_datetime",
        ),
        (
            json!({"name": "x", "query": "kind=trends"}),
            400,
            "invalid_parameter",
        ),
        (
            json!({"name": "  ", "query": signups_trend()}),
            400,
            "invalid_parameter",
        ),
        (
            json!({"name": "x".repeat(201), "query": signups_trend()}),
            400,
            "invalid_parameter",
        ),
        (
            json!({"name": "a\u{0}b", "query": signups_trend()}),
            400,
            "invalid_parameter",
        ),
        (
            json!({"name": "x", "query": {"kind": "trends", "series": [{"event": "a"}], "pad": "y".repeat(40_000)}}),
            400,
            "invalid_parameter",
        ),
        (json!({"query": signups_trend()}), 400, "invalid_json"),
    ] {
        let r = server
            .send_json(Method::POST, "/insights", &body.to_string())
            .await;
        let text = body.to_string();
        assert_eq!(
            error_code(r, status).await,
            code,
            "{}",
            &text[..text.len().min(120)]
        );
    }
    let listed: Value = server.read_json("/insights").await;
    assert_eq!(listed, json!([]), "nothing refused was stored");

    let trend = created(
        &server,
        "/insights",
        json!({"name": "Signups", "query": signups_trend()}),
    )
    .await;
    assert_eq!(trend["name"], "Signups");
    assert_eq!(trend["query"], signups_trend(), "the query is kept as sent");

    // Opened later, the saved relative range covers events that came after saving.
    let sent = server
        .capture(&json!({"batch": [
            {"event": "signup", "distinct_id": "ann"},
            {"event": "signup", "distinct_id": "bob"},
            {"event": "signup", "distinct_id": "cyd"},
            {"event": "purchase", "distinct_id": "bob"},
        ]}))
        .await;
    assert_eq!(sent.status(), 200);
    let saved: Value = server
        .read_json(&format!("/insights/{}", trend["id"]))
        .await;
    let answer: Value = server
        .send_json(Method::POST, "/query", &saved["query"].to_string())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trend_sum(&answer), 3.0);

    // Renaming keeps the query; a new query is checked like the first.
    let r = server
        .send_json(
            Method::PATCH,
            &format!("/insights/{}", trend["id"]),
            &json!({"name": "Daily signups"}).to_string(),
        )
        .await;
    assert_eq!(r.status(), 200);
    let renamed: Value = r.json().await.unwrap();
    assert_eq!(
        (renamed["name"].clone(), renamed["query"].clone()),
        (json!("Daily signups"), signups_trend())
    );
    let r = server
        .send_json(
            Method::PATCH,
            &format!("/insights/{}", trend["id"]),
            &json!({"query": {"kind": "funnel", "steps": []}}).to_string(),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        server
            .read_json(&format!("/insights/{}", trend["id"]))
            .await["query"],
        signups_trend()
    );

    let r = server
        .send_json(Method::DELETE, &format!("/insights/{}", trend["id"]), "")
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        server
            .read(&format!("/insights/{}", trend["id"]))
            .await
            .status(),
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn a_shared_dashboard_shows_its_answers_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let _owner = set_up_first_user(&server.base, "owner@example.com", PASSWORD).await;
    let project = server.bootstrap.project_id;
    let sent = server
        .capture(&json!({"batch": [
            {"event": "signup", "distinct_id": "ann"},
            {"event": "signup", "distinct_id": "bob"},
            {"event": "purchase", "distinct_id": "bob"},
        ]}))
        .await;
    assert_eq!(sent.status(), 200);
    let trend = created(
        &server,
        "/insights",
        json!({"name": "Signups", "query": signups_trend()}),
    )
    .await;
    let funnel = created(
        &server,
        "/insights",
        json!({"name": "Checkout", "query": checkout_funnel()}),
    )
    .await;

    // Another user's project and insight: never a tile of this project.
    let mut eve = Browser::new(&server.base);
    let r = eve
        .post(
            "/api/v1/auth/register",
            json!({"email": "eve@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let theirs: Value = eve
        .post("/api/v1/projects", json!({"name": "Eve's"}))
        .await
        .json()
        .await
        .unwrap();
    let their_insight: Value = eve
        .post(
            &format!("/api/v1/projects/{}/insights", theirs["id"]),
            json!({"name": "Mine", "query": signups_trend()}),
        )
        .await
        .json()
        .await
        .unwrap();
    let r = eve
        .get(&format!("/api/v1/projects/{project}/insights"))
        .await;
    assert_eq!(
        error_code(r, 404).await,
        "not_found",
        "a non-member does not see the insights"
    );

    let board = created(&server, "/dashboards", json!({"name": "Weekly"})).await;
    let board_path = format!("/dashboards/{}", board["id"]);
    for tiles in [
        json!([trend["id"], their_insight["id"]]),
        json!([trend["id"], trend["id"]]),
        json!([999_999]),
    ] {
        let r = server
            .send_json(
                Method::PATCH,
                &board_path,
                &json!({"tiles": tiles}).to_string(),
            )
            .await;
        assert_eq!(error_code(r, 400).await, "invalid_request", "tiles {tiles}");
    }
    let r = server
        .send_json(
            Method::PATCH,
            &board_path,
            &json!({"tiles": [funnel["id"], trend["id"]]}).to_string(),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        server.read_json(&board_path).await["tiles"],
        json!([funnel["id"], trend["id"]])
    );

    // The link: anyone holding it reads the answers, computed now.
    let share: Value = created(&server, &format!("{board_path}/share"), json!({})).await;
    let token = share["token"].as_str().unwrap().to_owned();
    assert_eq!(share["path"], format!("/shared/{token}"));
    let anon = reqwest::Client::new();
    let shared = anon
        .get(format!("{}/api/v1/shared/{token}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), 200);
    assert_eq!(shared.headers()["cache-control"], "private, no-store");
    let shared: Value = shared.json().await.unwrap();
    assert_eq!(shared["name"], "Weekly");
    assert_eq!(shared["project_name"], "default");
    let tiles = shared["tiles"].as_array().unwrap();
    assert_eq!(tiles.len(), 2);
    assert_eq!(tiles[0]["name"], "Checkout");
    let steps: Vec<u64> = tiles[0]["answer"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [2, 1], "ann and bob signed up, bob bought");
    assert_eq!(tiles[1]["name"], "Signups");
    assert_eq!(trend_sum(&tiles[1]["answer"]), 2.0);

    // The token is no key: it opens no project route.
    for path in [
        format!("/api/v1/projects/{project}/insights"),
        format!("/api/v1/projects/{project}{board_path}"),
    ] {
        let r = anon
            .get(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with the share token");
    }

    // A deleted insight leaves the dashboard and the shared view.
    let r = server
        .send_json(Method::DELETE, &format!("/insights/{}", funnel["id"]), "")
        .await;
    assert_eq!(r.status(), 204);
    let shared: Value = anon
        .get(format!("{}/api/v1/shared/{token}", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = shared["tiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Signups"]);

    // A new link ends the old one; revoking ends the new one.
    let again: Value = created(&server, &format!("{board_path}/share"), json!({})).await;
    let status = |token: String| {
        let anon = anon.clone();
        let base = server.base.clone();
        async move {
            anon.get(format!("{base}/api/v1/shared/{token}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(token.clone()).await, 404, "the replaced link");
    let new_token = again["token"].as_str().unwrap().to_owned();
    assert_eq!(status(new_token.clone()).await, 200);
    assert!(server.read_json(&board_path).await["shared_at"].is_string());
    let r = server
        .send_json(Method::DELETE, &format!("{board_path}/share"), "")
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(status(new_token).await, 404, "the revoked link");
    assert!(server.read_json(&board_path).await["shared_at"].is_null());

    // Deleting the dashboard keeps its insights.
    let r = server.send_json(Method::DELETE, &board_path, "").await;
    assert_eq!(r.status(), 204);
    assert_eq!(server.read(&board_path).await.status(), 404);
    assert_eq!(
        server
            .read_json("/insights")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    server.stop().await;
}
