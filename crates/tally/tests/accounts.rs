//! Accounts over real HTTP: first-run setup, login sessions in cookies, refresh
//! rotation with reuse detection, lockout, CSRF, password change, personal keys,
//! ingest-key rotation, superusers, sign-up switch, and `tally admin create-user`.

mod common;

use common::{error_code, set_up_first_user, Browser, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

const OWNER: &str = "owner@example.com";
const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn first_run_setup_logs_in_and_locks_itself() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let mut anon = Browser::new(&server.base);
    let status: Value = anon.get("/api/v1/setup").await.json().await.unwrap();
    assert_eq!(status["needed"], true);
    let bad = anon
        .post(
            "/api/v1/setup",
            json!({"email": "not-an-email", "password": PASSWORD}),
        )
        .await;
    assert_eq!(error_code(bad, 400).await, "invalid_parameter");
    let short = anon
        .post(
            "/api/v1/setup",
            json!({"email": OWNER, "password": "short"}),
        )
        .await;
    assert_eq!(error_code(short, 400).await, "invalid_parameter");

    let mut owner = set_up_first_user(&server.base, "Owner@Example.com", PASSWORD).await;
    // Cookie attributes: tokens out of scripts' reach, all SameSite=Lax and Secure.
    let (_, access) = &owner.cookies["tally_access"];
    let (_, refresh) = &owner.cookies["tally_refresh"];
    let (_, csrf) = &owner.cookies["tally_csrf"];
    for line in [access, refresh, csrf] {
        assert!(
            line.contains("SameSite=Lax") && line.contains("Secure"),
            "{line}"
        );
    }
    assert!(access.contains("HttpOnly") && access.contains("Path=/;"));
    assert!(refresh.contains("HttpOnly") && refresh.contains("Path=/api/v1/auth"));
    assert!(
        !csrf.contains("HttpOnly"),
        "the dashboard reads the CSRF token"
    );

    let me: Value = owner.get("/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(me["user"]["email"], OWNER);
    assert_eq!(me["user"]["is_superuser"], true);
    assert_eq!(me["authenticated_by"], "session");
    assert_eq!(
        me["projects"],
        json!([{"id": server.bootstrap.project_id, "name": "default", "role": "owner"}])
    );
    // The bootstrap admin token is now this user's personal key.
    let by_token: Value = server
        .client
        .get(format!("{}/api/v1/auth/me", server.base))
        .bearer_auth(&server.bootstrap.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_token["user"]["id"], me["user"]["id"]);
    assert_eq!(by_token["authenticated_by"], "key");

    // Setup locks itself.
    let status: Value = anon.get("/api/v1/setup").await.json().await.unwrap();
    assert_eq!(status["needed"], false);
    let again = anon
        .post(
            "/api/v1/setup",
            json!({"email": "evil@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(error_code(again, 409).await, "conflict");

    // Logout revokes the session, not just the cookie.
    let stolen_access = owner.cookie("tally_access").unwrap().to_owned();
    let out = owner.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(out.status(), 204);
    assert!(owner.cookie("tally_access").is_none(), "cookie cleared");
    let replay = server
        .client
        .get(format!("{}/api/v1/auth/me", server.base))
        .header("cookie", format!("tally_access={stolen_access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(replay, 401).await, "unauthenticated");
}

#[tokio::test]
async fn refresh_rotates_and_a_replayed_refresh_token_revokes_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let mut owner = set_up_first_user(&server.base, OWNER, PASSWORD).await;
    let first_refresh = owner.cookie("tally_refresh").unwrap().to_owned();
    let first_access = owner.cookie("tally_access").unwrap().to_owned();
    let r = owner.post("/api/v1/auth/refresh", json!({})).await;
    assert_eq!(r.status(), 200);
    let second_access = owner.cookie("tally_access").unwrap().to_owned();
    assert_ne!(owner.cookie("tally_refresh").unwrap(), first_refresh);
    assert_ne!(second_access, first_access);
    assert_eq!(owner.get("/api/v1/auth/me").await.status(), 200);

    // Someone replays the spent refresh token: the whole session ends.
    let mut thief = Browser::new(&server.base);
    thief.cookies.insert(
        "tally_refresh".into(),
        (first_refresh.clone(), String::new()),
    );
    let replay = thief.post("/api/v1/auth/refresh", json!({})).await;
    assert_eq!(error_code(replay, 401).await, "refresh_reused");
    let me = owner.get("/api/v1/auth/me").await;
    assert_eq!(error_code(me, 401).await, "unauthenticated");
    let r = owner.post("/api/v1/auth/refresh", json!({})).await;
    assert_eq!(error_code(r, 401).await, "unauthenticated");
}

#[tokio::test]
async fn five_failed_logins_lock_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    set_up_first_user(&server.base, OWNER, PASSWORD).await;
    let mut b = Browser::new(&server.base);
    // An unknown email and a wrong password look the same.
    let unknown = b
        .post(
            "/api/v1/auth/login",
            json!({"email": "nobody@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(error_code(unknown, 401).await, "invalid_credentials");
    for _ in 0..4 {
        let wrong = b
            .post(
                "/api/v1/auth/login",
                json!({"email": OWNER, "password": "wrong password"}),
            )
            .await;
        assert_eq!(error_code(wrong, 401).await, "invalid_credentials");
    }
    let fifth = b
        .post(
            "/api/v1/auth/login",
            json!({"email": OWNER, "password": "wrong password"}),
        )
        .await;
    let retry: u64 = fifth.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (890..=900).contains(&retry),
        "locked for 15 minutes: {retry}"
    );
    assert_eq!(error_code(fifth, 429).await, "account_locked");
    // Locked: even the right password is refused.
    let right = b
        .post(
            "/api/v1/auth/login",
            json!({"email": OWNER, "password": PASSWORD}),
        )
        .await;
    assert_eq!(error_code(right, 429).await, "account_locked");
    assert!(b.cookie("tally_access").is_none());
}

#[tokio::test]
async fn the_auth_routes_are_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.auth_rate_limit = 3;
    let server = TestServer::start_with(config).await;
    let mut b = Browser::new(&server.base);
    for _ in 0..3 {
        let r = b
            .post(
                "/api/v1/auth/login",
                json!({"email": "a@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    let limited = b
        .post(
            "/api/v1/auth/login",
            json!({"email": "a@example.com", "password": PASSWORD}),
        )
        .await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(error_code(limited, 429).await, "too_many_requests");
}

#[tokio::test]
async fn cookie_writes_need_the_csrf_token_and_key_writes_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let mut owner = set_up_first_user(&server.base, OWNER, PASSWORD).await;
    owner.omit_csrf = true;
    let forged = owner
        .post("/api/v1/projects", json!({"name": "forged"}))
        .await;
    assert_eq!(error_code(forged, 403).await, "csrf_failed");
    let wrong = server
        .client
        .post(format!("{}/api/v1/projects", server.base))
        .header(
            "cookie",
            format!("tally_access={}", owner.cookie("tally_access").unwrap()),
        )
        .header("x-csrf-token", "guessed")
        .json(&json!({"name": "forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wrong, 403).await, "csrf_failed");
    // Reads need no token.
    assert_eq!(owner.get("/api/v1/projects").await.status(), 200);
    owner.omit_csrf = false;
    let made = owner
        .post("/api/v1/projects", json!({"name": "Shop"}))
        .await;
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    assert!(made["api_key"].as_str().unwrap().starts_with("tly_ing_"));
    assert_eq!(made["role"], "owner");
    // A bearer key is not sent by browsers on their own: no CSRF token needed.
    let by_key = server
        .client
        .post(format!("{}/api/v1/projects", server.base))
        .bearer_auth(&server.bootstrap.admin_token)
        .json(&json!({"name": "Blog"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), 201);
    let mine: Value = owner.get("/api/v1/projects").await.json().await.unwrap();
    let names: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "Shop", "Blog"]);
    // The new project's ingest key captures into it.
    let captured = server
        .client
        .post(format!("{}/api/v1/capture", server.base))
        .header("X-API-Key", made["api_key"].as_str().unwrap())
        .json(&json!({"event": "signup", "distinct_id": "u1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(captured.status(), 200);
    let events: Value = owner
        .get(&format!("/api/v1/projects/{}/events", made["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["results"][0]["event"], "signup");
}

#[tokio::test]
async fn a_password_change_revokes_the_other_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let mut laptop = set_up_first_user(&server.base, OWNER, PASSWORD).await;
    let mut phone = Browser::new(&server.base);
    let r = phone
        .post(
            "/api/v1/auth/login",
            json!({"email": OWNER, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let wrong = laptop
        .post(
            "/api/v1/auth/password",
            json!({"current_password": "not it at all", "new_password": "a new password"}),
        )
        .await;
    assert_eq!(error_code(wrong, 401).await, "invalid_credentials");
    let changed = laptop
        .post(
            "/api/v1/auth/password",
            json!({"current_password": PASSWORD, "new_password": "a new password"}),
        )
        .await;
    assert_eq!(changed.status(), 204);
    assert_eq!(laptop.get("/api/v1/auth/me").await.status(), 200);
    assert_eq!(
        error_code(phone.get("/api/v1/auth/me").await, 401).await,
        "unauthenticated"
    );
    let mut b = Browser::new(&server.base);
    let old = b
        .post(
            "/api/v1/auth/login",
            json!({"email": OWNER, "password": PASSWORD}),
        )
        .await;
    assert_eq!(error_code(old, 401).await, "invalid_credentials");
    let new = b
        .post(
            "/api/v1/auth/login",
            json!({"email": OWNER, "password": "a new password"}),
        )
        .await;
    assert_eq!(new.status(), 200);
}

async fn bearer(
    server: &TestServer,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = server
        .client
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(key);
    if let Some(body) = body {
        r = r.json(&body);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn personal_keys_have_scopes_last_use_and_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let mut owner = set_up_first_user(&server.base, OWNER, PASSWORD).await;
    let project = format!("/api/v1/projects/{}", server.bootstrap.project_id);
    let read: Value = owner
        .post(
            "/api/v1/auth/keys",
            json!({"name": "grafana", "scope": "read"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let write: Value = owner
        .post(
            "/api/v1/auth/keys",
            json!({"name": "deploy", "scope": "write"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let read_key = read["key"].as_str().unwrap();
    let write_key = write["key"].as_str().unwrap();
    assert!(read_key.starts_with("tly_adm_"));

    let events = bearer(
        &server,
        Method::GET,
        &format!("{project}/events"),
        read_key,
        None,
    )
    .await;
    assert_eq!(events.status(), 200);
    let query = bearer(
        &server,
        Method::POST,
        &format!("{project}/query"),
        read_key,
        Some(json!({"kind": "realtime"})),
    )
    .await;
    assert_eq!(query.status(), 200, "a query is a read, even as a POST");
    let patch = bearer(
        &server,
        Method::PATCH,
        &project,
        read_key,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(error_code(patch, 403).await, "forbidden");
    let mint = bearer(
        &server,
        Method::POST,
        "/api/v1/auth/keys",
        read_key,
        Some(json!({"name": "escalate", "scope": "write"})),
    )
    .await;
    assert_eq!(error_code(mint, 403).await, "forbidden");
    let patch = bearer(
        &server,
        Method::PATCH,
        &project,
        write_key,
        Some(json!({"name": "Main"})),
    )
    .await;
    assert_eq!(patch.status(), 200);
    let patched: Value = patch.json().await.unwrap();
    assert_eq!(patched["name"], "Main");

    let listed: Value = owner.get("/api/v1/auth/keys").await.json().await.unwrap();
    let grafana = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "grafana")
        .unwrap();
    assert!(grafana["last_used_at"].is_string(), "{grafana}");
    assert!(grafana.get("key").is_none(), "the key is shown only once");

    let revoked = owner
        .send(
            Method::DELETE,
            &format!("/api/v1/auth/keys/{}", read["id"]),
            None,
        )
        .await;
    assert_eq!(revoked.status(), 204);
    let after = bearer(
        &server,
        Method::GET,
        &format!("{project}/events"),
        read_key,
        None,
    )
    .await;
    assert_eq!(error_code(after, 401).await, "invalid_api_key");
}

#[tokio::test]
async fn a_rotated_ingest_key_keeps_working_for_its_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let project = format!("/api/v1/projects/{}", server.bootstrap.project_id);
    let admin = &server.bootstrap.admin_token;
    let capture = |key: String| {
        let client = server.client.clone();
        let url = format!("{}/api/v1/capture", server.base);
        async move {
            client
                .post(url)
                .header("X-API-Key", key)
                .json(&json!({"event": "e", "distinct_id": "d"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let old = server.bootstrap.api_key.clone();
    assert_eq!(capture(old.clone()).await, 200);
    let rotated: Value = bearer(
        &server,
        Method::POST,
        &format!("{project}/ingest-key/rotate"),
        admin,
        Some(json!({"grace_seconds": 3600})),
    )
    .await
    .json()
    .await
    .unwrap();
    let new = rotated["api_key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(capture(old.clone()).await, 200, "still within its grace");
    assert_eq!(capture(new.clone()).await, 200);
    let third: Value = bearer(
        &server,
        Method::POST,
        &format!("{project}/ingest-key/rotate"),
        admin,
        Some(json!({"grace_seconds": 0})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(capture(old).await, 401, "no grace: the old keys stop now");
    assert_eq!(capture(new).await, 401);
    assert_eq!(
        capture(third["api_key"].as_str().unwrap().to_owned()).await,
        200
    );
}

/// Walks every project-scoped route of the served OpenAPI document (so a route
/// added later is walked too) as: a user of another project (session and key),
/// another project's ingest key, and a viewer.
#[tokio::test]
async fn tenant_isolation_on_every_project_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let mut owner = set_up_first_user(&server.base, OWNER, PASSWORD).await;
    let a = server.bootstrap.project_id;
    let mut bob = Browser::new(&server.base);
    let r = bob
        .post(
            "/api/v1/auth/register",
            json!({"email": "bob@example.com", "password": PASSWORD, "name": "Bob"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let b_project: Value = bob
        .post("/api/v1/projects", json!({"name": "Bob's"}))
        .await
        .json()
        .await
        .unwrap();
    let bob_ingest = b_project["api_key"].as_str().unwrap().to_owned();
    let bob_key: Value = bob
        .post("/api/v1/auth/keys", json!({"name": "k", "scope": "write"}))
        .await
        .json()
        .await
        .unwrap();
    let bob_key = bob_key["key"].as_str().unwrap().to_owned();
    let bob_id = bob
        .get("/api/v1/auth/me")
        .await
        .json::<Value>()
        .await
        .unwrap()["user"]["id"]
        .clone();

    let doc: Value = owner
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let mut routes = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        if !path.contains("{project_id}") {
            continue;
        }
        for method in methods.as_object().unwrap().keys() {
            let concrete = path
                .replace("{project_id}", &a.to_string())
                .replace("{session_id}", "s1")
                .replace("{distinct_id}", "d1")
                .replace("{dimension}", "page")
                .replace("{user_id}", &bob_id.to_string())
                .replace("{invite_id}", "1")
                .replace("{insight_id}", "1")
                .replace("{dashboard_id}", "1");
            routes.push((method.to_uppercase(), path.clone(), concrete));
        }
    }
    assert!(
        routes.len() >= 19,
        "every project route is walked: {routes:?}"
    );
    // Reads sent as POST: a query, a live-stream ticket.
    let is_write = |method: &str, path: &str| {
        method != "GET" && !path.ends_with("/query") && !path.ends_with("/live/ticket")
    };
    // The live stream is opened with a ticket, not a session or key: another
    // project's ticket (Bob's own) must not open it.
    let bob_ticket: Value = bob
        .post(
            &format!("/api/v1/projects/{}/live/ticket", b_project["id"]),
            json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let bob_ticket = bob_ticket["ticket"].as_str().unwrap().to_owned();
    let body = |path: &str| {
        if path.ends_with("/query") {
            json!({"kind": "realtime"})
        } else {
            json!({})
        }
    };

    for (method, template, path) in &routes {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        if template.ends_with("/live") {
            let with_foreign_ticket = format!("{path}?ticket={bob_ticket}");
            let r = bob.send(m.clone(), &with_foreign_ticket, None).await;
            assert_eq!(error_code(r, 401).await, "invalid_ticket", "{template}");
            let r = bob.send(m.clone(), path, None).await;
            let code = error_code(r, 401).await;
            assert_eq!(code, "invalid_ticket", "{template} without a ticket");
            continue;
        }
        // Not a member, by session and by key: the project does not exist for them.
        let by_session = bob.send(m.clone(), path, Some(body(template))).await;
        assert_eq!(
            by_session.status(),
            404,
            "{method} {template} by a non-member's session"
        );
        let by_key = bearer(&server, m.clone(), path, &bob_key, Some(body(template))).await;
        assert_eq!(
            by_key.status(),
            404,
            "{method} {template} by a non-member's key"
        );
        // An ingest key reads and manages nothing.
        let by_ingest = bearer(&server, m.clone(), path, &bob_ingest, Some(body(template))).await;
        assert_eq!(
            by_ingest.status(),
            403,
            "{method} {template} by an ingest key"
        );
        // Nobody at all.
        let anon = server
            .client
            .request(m.clone(), format!("{}{path}", server.base))
            .json(&body(template))
            .send()
            .await
            .unwrap();
        assert_eq!(anon.status(), 401, "{method} {template} anonymously");
    }

    // Bob becomes a viewer of A: reads work, writes are refused.
    let added = owner
        .send(
            Method::PUT,
            &format!("/api/v1/projects/{a}/members"),
            Some(json!({"email": "bob@example.com", "role": "viewer"})),
        )
        .await;
    assert_eq!(added.status(), 200);
    for (method, template, path) in &routes {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        if template.ends_with("/live") {
            // A viewer's own ticket is accepted (then the plain GET is told to upgrade).
            let ticket: Value = bob
                .post(&format!("{path}/ticket"), json!({}))
                .await
                .json()
                .await
                .unwrap();
            let r = bob
                .get(&format!(
                    "{path}?ticket={}",
                    ticket["ticket"].as_str().unwrap()
                ))
                .await;
            assert_eq!(
                error_code(r, 426).await,
                "websocket_required",
                "{template} by a viewer with a ticket, without upgrading"
            );
            continue;
        }
        let r = bob.send(m, path, Some(body(template))).await;
        let status = r.status().as_u16();
        if is_write(method, template) {
            assert_eq!(status, 403, "{method} {template} by a viewer");
        } else {
            assert!(
                ![401, 403].contains(&status) && status < 500,
                "{method} {template} by a viewer: {status}"
            );
        }
    }
    // Nothing Bob tried changed A.
    let project: Value = owner
        .get(&format!("/api/v1/projects/{a}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(project["name"], "default");
}

#[tokio::test]
async fn only_owners_touch_the_owner_role_and_a_project_keeps_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let mut owner = set_up_first_user(&server.base, OWNER, PASSWORD).await;
    let a = server.bootstrap.project_id;
    let mut bob = Browser::new(&server.base);
    bob.post(
        "/api/v1/auth/register",
        json!({"email": "bob@example.com", "password": PASSWORD}),
    )
    .await;
    let members = format!("/api/v1/projects/{a}/members");
    let r = owner
        .send(
            Method::PUT,
            &members,
            Some(json!({"email": "bob@example.com", "role": "admin"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let owner_id = owner
        .get("/api/v1/auth/me")
        .await
        .json::<Value>()
        .await
        .unwrap()["user"]["id"]
        .clone();
    // An admin cannot make themselves owner, nor remove the owner.
    let r = bob
        .send(
            Method::PUT,
            &members,
            Some(json!({"email": "bob@example.com", "role": "owner"})),
        )
        .await;
    assert_eq!(error_code(r, 403).await, "forbidden");
    let r = bob
        .send(Method::DELETE, &format!("{members}/{owner_id}"), None)
        .await;
    assert_eq!(error_code(r, 403).await, "forbidden");
    // The last owner cannot leave or be demoted.
    let r = owner
        .send(Method::DELETE, &format!("{members}/{owner_id}"), None)
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_parameter");
    // An unknown email is a 404.
    let r = owner
        .send(
            Method::PUT,
            &members,
            Some(json!({"email": "ghost@example.com", "role": "viewer"})),
        )
        .await;
    assert_eq!(error_code(r, 404).await, "not_found");
    // Admins manage settings but cannot delete the project.
    let r = bob
        .send(Method::DELETE, &format!("/api/v1/projects/{a}"), None)
        .await;
    assert_eq!(error_code(r, 403).await, "forbidden");
    let r = bob
        .send(
            Method::PATCH,
            &format!("/api/v1/projects/{a}"),
            Some(json!({"timezone": "Mars/Olympus"})),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_parameter");
    let r = bob
        .send(
            Method::PATCH,
            &format!("/api/v1/projects/{a}"),
            Some(json!({"timezone": "Europe/Berlin", "allowed_origins": ["https://shop.example"], "retention_days": 365})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["timezone"], "Europe/Berlin");
    assert_eq!(p["allowed_origins"], json!(["https://shop.example"]));
    assert_eq!(p["retention_days"], 365);
    assert_eq!(p["role"], "admin");
    let listed: Value = owner.get(&members).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    // The owner deletes it; the ingest key stops with it.
    let r = owner
        .send(Method::DELETE, &format!("/api/v1/projects/{a}"), None)
        .await;
    assert_eq!(r.status(), 204);
    let r = owner.get(&format!("/api/v1/projects/{a}")).await;
    assert_eq!(error_code(r, 404).await, "not_found");
    let captured = server
        .client
        .post(format!("{}/api/v1/capture", server.base))
        .header("X-API-Key", &server.bootstrap.api_key)
        .json(&json!({"event": "e", "distinct_id": "d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(captured.status(), 401);
}

#[tokio::test]
async fn superusers_manage_users_and_signup_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.allow_signup = false;
    let server = TestServer::start_with(config).await;
    let mut root = set_up_first_user(&server.base, OWNER, PASSWORD).await;
    let mut anon = Browser::new(&server.base);
    let r = anon
        .post(
            "/api/v1/auth/register",
            json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(error_code(r, 403).await, "signup_disabled");

    // The superuser makes Bob's account from the shell tool instead.
    let out = tally::admin::run(
        &common::config(dir.path()),
        &tally::admin::AdminCommand::CreateUser {
            data_dir: None,
            email: "Bob@Example.com".into(),
            name: "Bob".into(),
            superuser: false,
        },
        "bobs password\n".as_bytes(),
    )
    .await
    .unwrap();
    let made: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(made["email"], "bob@example.com");
    assert_eq!(made["is_superuser"], false);
    let mut bob = Browser::new(&server.base);
    let r = bob
        .post(
            "/api/v1/auth/login",
            json!({"email": "bob@example.com", "password": "bobs password"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = bob.get("/api/v1/users").await;
    assert_eq!(error_code(r, 403).await, "forbidden");

    let users: Value = root.get("/api/v1/users").await.json().await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
    let bob_id = made["id"].clone();
    // Deactivating ends Bob's session and stops his login.
    let r = root
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{bob_id}"),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        error_code(bob.get("/api/v1/auth/me").await, 401).await,
        "unauthenticated"
    );
    let r = bob
        .post(
            "/api/v1/auth/login",
            json!({"email": "bob@example.com", "password": "bobs password"}),
        )
        .await;
    assert_eq!(error_code(r, 401).await, "invalid_credentials");
    // Reactivated with a reset password.
    let r = root
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{bob_id}"),
            Some(json!({"is_active": true, "password": "reset by root"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = bob
        .post(
            "/api/v1/auth/login",
            json!({"email": "bob@example.com", "password": "reset by root"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = root
        .send(Method::DELETE, &format!("/api/v1/users/{bob_id}"), None)
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        error_code(bob.get("/api/v1/auth/me").await, 401).await,
        "unauthenticated"
    );
}

#[tokio::test]
async fn the_shell_tool_sets_up_the_first_user_on_a_fresh_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(dir.path());
    let out = tally::admin::run(
        &config,
        &tally::admin::AdminCommand::CreateUser {
            data_dir: None,
            email: OWNER.into(),
            name: "Owner".into(),
            superuser: false,
        },
        format!("{PASSWORD}\n").as_bytes(),
    )
    .await
    .unwrap();
    let made: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        made["is_superuser"], true,
        "the first user is the bootstrap superuser"
    );
    let server = TestServer::start(&dir).await;
    let mut b = Browser::new(&server.base);
    let setup: Value = b.get("/api/v1/setup").await.json().await.unwrap();
    assert_eq!(setup["needed"], false);
    let r = b
        .post(
            "/api/v1/auth/login",
            json!({"email": OWNER, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let me: Value = b.get("/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(me["projects"][0]["role"], "owner");
    assert_eq!(me["projects"][0]["id"], server.bootstrap.project_id);
}

/// The same server with its metadata in PostgreSQL: setup, login, a project, its
/// ingest key capturing, a member reading — and a second node on the same
/// database seeing the same accounts.
#[tokio::test]
async fn accounts_work_with_metadata_in_postgresql() {
    let db = tally_meta::testing::TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.metadata_url = Some(db.url.clone());
    let server = TestServer::start_with(config).await;
    let mut owner = set_up_first_user(&server.base, OWNER, PASSWORD).await;
    let made: Value = owner
        .post("/api/v1/projects", json!({"name": "Shop"}))
        .await
        .json()
        .await
        .unwrap();
    let captured = server
        .client
        .post(format!("{}/api/v1/capture", server.base))
        .header("X-API-Key", made["api_key"].as_str().unwrap())
        .json(&json!({"event": "paid", "distinct_id": "u1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(captured.status(), 200);
    let events: Value = owner
        .get(&format!("/api/v1/projects/{}/events", made["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["results"][0]["event"], "paid");

    // A second node (own data dir for events) on the same metadata database.
    let other_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("bootstrap.json"),
        other_dir.path().join("bootstrap.json"),
    )
    .unwrap();
    let mut config = common::config(other_dir.path());
    config.metadata_url = Some(db.url.clone());
    let second = TestServer::start_with(config).await;
    let mut b = Browser::new(&second.base);
    let r = b
        .post(
            "/api/v1/auth/login",
            json!({"email": OWNER, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mine: Value = b.get("/api/v1/projects").await.json().await.unwrap();
    let names: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "Shop"]);
    second.stop().await;
    server.stop().await;
}

/// Invite-only: with sign-up off, an invitation lets its email register (and
/// join), once; an existing account accepts with its own email only.
#[tokio::test]
async fn invitations_let_their_email_in_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.allow_signup = false;
    let server = TestServer::start_with(config).await;
    let mut owner = set_up_first_user(&server.base, OWNER, PASSWORD).await;
    let a = server.bootstrap.project_id;
    let invites = format!("/api/v1/projects/{a}/invites");
    let made = owner
        .post(
            &invites,
            json!({"email": "Bob@Example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let token = made["token"].as_str().unwrap().to_owned();
    assert_eq!(made["email"], "bob@example.com");
    let pending: Value = owner.get(&invites).await.json().await.unwrap();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert!(pending[0].get("token").is_none(), "the token is shown once");

    let mut bob = Browser::new(&server.base);
    let r = bob
        .post(
            "/api/v1/auth/register",
            json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(error_code(r, 403).await, "signup_disabled");
    let r = bob
        .post(
            "/api/v1/auth/register",
            json!({"email": "mallory@example.com", "password": PASSWORD, "invite": token}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_invite");
    let r = bob
        .post(
            "/api/v1/auth/register",
            json!({"email": "bob@example.com", "password": PASSWORD, "invite": token}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let me: Value = bob.get("/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(
        me["projects"],
        json!([{"id": a, "name": "default", "role": "viewer"}])
    );
    let mut eve = Browser::new(&server.base);
    let r = eve
        .post(
            "/api/v1/auth/register",
            json!({"email": "bob@example.com", "password": PASSWORD, "invite": token}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_invite", "spent");

    // An existing account accepts an invitation for its own email only.
    let r = owner
        .send(
            Method::PUT,
            &format!("/api/v1/projects/{a}/members"),
            Some(json!({"email": "bob@example.com", "role": "admin"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let shop: Value = owner
        .post("/api/v1/projects", json!({"name": "Shop"}))
        .await
        .json()
        .await
        .unwrap();
    let shop_invites = format!("/api/v1/projects/{}/invites", shop["id"]);
    let to_owner: Value = owner
        .post(
            &shop_invites,
            json!({"email": "bob@example.com", "role": "admin"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let mut outsider = Browser::new(&server.base);
    tally::admin::run(
        &common::config(dir.path()),
        &tally::admin::AdminCommand::CreateUser {
            data_dir: None,
            email: "carol@example.com".into(),
            name: String::new(),
            superuser: false,
        },
        format!("{PASSWORD}\n").as_bytes(),
    )
    .await
    .unwrap();
    outsider
        .post(
            "/api/v1/auth/login",
            json!({"email": "carol@example.com", "password": PASSWORD}),
        )
        .await;
    let r = outsider
        .post(
            "/api/v1/auth/invites/accept",
            json!({"token": to_owner["token"]}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_invite", "not Carol's");
    let joined: Value = bob
        .post(
            "/api/v1/auth/invites/accept",
            json!({"token": to_owner["token"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        joined,
        json!({"id": shop["id"], "name": "Shop", "role": "admin"})
    );

    // An admin cannot invite an owner; invitations can be revoked.
    let r = bob
        .post(&invites, json!({"email": "x@example.com", "role": "owner"}))
        .await;
    assert_eq!(error_code(r, 403).await, "forbidden");
    let pending: Value = bob
        .post(
            &invites,
            json!({"email": "x@example.com", "role": "viewer"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let r = bob
        .send(
            Method::DELETE,
            &format!("{invites}/{}", pending["id"]),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = outsider
        .post(
            "/api/v1/auth/invites/accept",
            json!({"token": pending["token"]}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_invite", "revoked");
}

/// For plain HTTP on hosts other than localhost, `cookie_secure = false` drops
/// `Secure` (the rest stays); the rotation grace default comes from the config.
#[tokio::test]
async fn cookie_security_and_rotation_grace_follow_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.cookie_secure = false;
    config.ingest_key_grace_secs = 120;
    let server = TestServer::start_with(config).await;
    let owner = set_up_first_user(&server.base, OWNER, PASSWORD).await;
    for (_, line) in owner.cookies.values() {
        assert!(!line.contains("Secure"), "{line}");
        assert!(line.contains("SameSite=Lax"), "{line}");
    }
    assert!(owner.cookies["tally_access"].1.contains("HttpOnly"));
    let rotated: Value = bearer(
        &server,
        Method::POST,
        &format!(
            "/api/v1/projects/{}/ingest-key/rotate",
            server.bootstrap.project_id
        ),
        &server.bootstrap.admin_token,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(rotated["previous_keys_expire_at"].as_str().unwrap())
            .unwrap();
    let left = expires
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!((100..=120).contains(&left), "{left}");
}

#[tokio::test]
async fn users_change_their_own_name_but_not_with_a_read_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let mut owner = set_up_first_user(&server.base, OWNER, PASSWORD).await;
    let r = owner
        .send(
            Method::PATCH,
            "/api/v1/auth/me",
            Some(json!({"name": "  Ada Lovelace "})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["user"]["name"], "Ada Lovelace", "trimmed");
    let me: Value = owner.get("/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(me["user"]["name"], "Ada Lovelace", "kept");

    for bad in [json!({"name": "a\u{7}b"}), json!({"name": "x".repeat(101)})] {
        let r = owner
            .send(Method::PATCH, "/api/v1/auth/me", Some(bad.clone()))
            .await;
        assert_eq!(error_code(r, 400).await, "invalid_parameter", "{bad}");
    }
    let r = owner
        .send(
            Method::PATCH,
            "/api/v1/auth/me",
            Some(json!({"email": "x@y.z"})),
        )
        .await;
    assert_eq!(
        error_code(r, 400).await,
        "invalid_json",
        "only the name changes here"
    );

    // A read-only key reads the profile but cannot change it.
    let key: Value = owner
        .post(
            "/api/v1/auth/keys",
            json!({"name": "reader", "scope": "read"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let r = server
        .client
        .patch(format!("{}/api/v1/auth/me", server.base))
        .bearer_auth(key["key"].as_str().unwrap())
        .json(&json!({"name": "Mallory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r, 403).await, "forbidden");
    let me: Value = owner.get("/api/v1/auth/me").await.json().await.unwrap();
    assert_eq!(me["user"]["name"], "Ada Lovelace");
}
