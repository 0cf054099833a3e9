//! One event set, two deployments, the same numbers: the embedded default (one
//! `tally serve` process on DuckDB) and the scale-out one (a capture node →
//! the real Apache Kafka broker → a worker → a real ClickHouse server, read by
//! an API node apart, metadata in PostgreSQL) are sent the same events, and
//! every query the dashboard makes answers the same on both.
//!
//! Only what is not the data's may differ: receive times, and the numbers the
//! stores give persons (each deployment numbers them in its own order), so
//! answers are compared with those left out.

mod common;

use common::scaleout::{assert_stored_exactly, shared_broker, wait_stored, Deployment, Node};
use common::{read_bootstrap, Binary};
use reqwest::Client;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::time::Duration;
use tally::app::Bootstrap;
use uuid::Uuid;

/// A ClickHouse database no other test uses, on the server `scripts/test.sh`
/// starts.
fn fresh_store() -> String {
    let http = std::env::var("TALLY_TEST_CLICKHOUSE_URL").expect(
        "TALLY_TEST_CLICKHOUSE_URL is not set: run the suite with scripts/test.sh, which starts ClickHouse",
    );
    format!(
        "clickhouse://{}/same_{}",
        http.trim_start_matches("http://").trim_end_matches('/'),
        Uuid::new_v4().simple()
    )
}

/// A small deterministic generator: the same events on every run.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
];
const PAGES: [&str; 5] = ["/", "/pricing", "/docs", "/blog", "/signup"];
const SOURCES: [Option<&str>; 4] = [
    None,
    Some("https://www.google.com/search?q=analytics"),
    Some("https://t.co/x1"),
    Some("https://news.ycombinator.com/item?id=1"),
];

/// Three days of visits by 24 people (some anonymous first, then identified),
/// with and without SDK session ids, referrers, campaigns, a funnel's custom
/// events and a crawler. Every event has its own instant, so no answer
/// depends on how a store breaks ties between events.
fn events() -> Vec<Value> {
    let mut dice = Dice(7);
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-01T06:00:00Z").unwrap();
    let mut out = Vec::new();
    let mut push = |at: chrono::Duration, seq: usize, e: Value| {
        let mut e = e;
        let when = start + at + chrono::Duration::milliseconds(seq as i64);
        e["timestamp"] = json!(when.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        e["uuid"] = json!(Uuid::new_v4().to_string());
        out.push(e);
    };
    let mut seq = 0;
    for person in 0..24u64 {
        let known = format!("user-{person}");
        let anonymous = format!("anon-{person}");
        let agent = AGENTS[(person % 3) as usize];
        let plan = ["free", "pro", "team"][dice.below(3) as usize];
        let identifies = person % 3 != 0;
        let mut identified = false;
        for day in 0..4i64 {
            for visit in 0..=dice.below(2) {
                let mut at = chrono::Duration::days(day)
                    + chrono::Duration::hours(dice.below(12) as i64 + 5 * visit as i64)
                    + chrono::Duration::minutes(dice.below(50) as i64);
                let who = if identified { &known } else { &anonymous };
                let sdk_session = (person % 4 == 1).then(|| format!("s-{person}-{day}-{visit}"));
                let campaign = dice.below(5) == 0;
                let pages = 1 + dice.below(4);
                for n in 0..pages {
                    let path = PAGES[dice.below(5) as usize];
                    let mut url = format!("https://shop.example{path}");
                    let mut props = Map::new();
                    if n == 0 {
                        if campaign {
                            url.push_str(
                                "?utm_source=newsletter&utm_medium=email&utm_campaign=nov",
                            );
                        }
                        if let Some(r) = SOURCES[dice.below(4) as usize] {
                            props.insert("$referrer".into(), json!(r));
                        }
                    }
                    props.insert("$current_url".into(), json!(url));
                    props.insert("$user_agent".into(), json!(agent));
                    if let Some(s) = &sdk_session {
                        props.insert("$session_id".into(), json!(s));
                    }
                    seq += 1;
                    push(
                        at,
                        seq,
                        json!({"event": "$pageview", "distinct_id": who, "properties": props}),
                    );
                    at += chrono::Duration::seconds(20 + dice.below(600) as i64);
                }
                if dice.below(3) == 0 {
                    seq += 1;
                    push(
                        at,
                        seq,
                        json!({"event": "signup_started", "distinct_id": who,
                               "properties": {"$user_agent": agent, "step": 1}}),
                    );
                    at += chrono::Duration::seconds(30);
                    if identifies && !identified {
                        seq += 1;
                        push(
                            at,
                            seq,
                            json!({"event": "$identify", "distinct_id": known,
                                   "properties": {"$anon_distinct_id": anonymous,
                                                  "$set": {"plan": plan, "email": format!("{known}@example.com")},
                                                  "$set_once": {"first_day": day}}}),
                        );
                        identified = true;
                        at += chrono::Duration::seconds(5);
                    }
                    if dice.below(2) == 0 {
                        seq += 1;
                        let who = if identified { &known } else { &anonymous };
                        push(
                            at,
                            seq,
                            json!({"event": "purchase", "distinct_id": who,
                                   "properties": {"amount": 5 + dice.below(95), "currency": "EUR"}}),
                        );
                    }
                }
            }
        }
    }
    for hour in 0..6 {
        seq += 1;
        push(
            chrono::Duration::hours(hour * 9),
            seq,
            json!({"event": "$pageview", "distinct_id": "crawler",
                   "properties": {"$current_url": "https://shop.example/", "$user_agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}}),
        );
    }
    out
}

/// The GETs of the dashboard (paths under the project) and the analytics
/// queries it posts.
fn dashboard_queries(events: &[Value]) -> Vec<(String, Option<Value>)> {
    let range = "from=2026-11-02&to=2026-11-05";
    let mut gets: Vec<String> = vec![
        format!("overview?{range}"),
        format!("overview?{range}&include_bots=true"),
        format!("timeseries?{range}&interval=day&tz=Europe/Berlin"),
        format!("timeseries?{range}&interval=hour&event=$pageview&math=unique_users"),
        format!("top-events?{range}"),
        format!("sessions?{range}&limit=1000"),
        format!("sessions?{range}&sort=duration&order=asc&limit=20&offset=5"),
        format!("sessions?{range}&inactivity_minutes=5&sort=events"),
        "definitions?kind=event".into(),
        "definitions?kind=property".into(),
        "events?limit=1000".into(),
        "persons/anon-0".into(),
    ];
    // Persons who logged in, by either id.
    for e in events.iter().filter(|e| e["event"] == "$identify").take(3) {
        gets.push(format!("persons/{}", e["distinct_id"].as_str().unwrap()));
        gets.push(format!(
            "persons/{}",
            e["properties"]["$anon_distinct_id"].as_str().unwrap()
        ));
    }
    for dimension in [
        "page",
        "entry_page",
        "exit_page",
        "referrer",
        "channel",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "country",
        "browser",
        "os",
        "device",
        "event",
    ] {
        gets.push(format!("top/{dimension}?{range}"));
    }
    for filter in [
        r#"{"browser":"Firefox"}"#,
        r#"{"entry_page":"/pricing"}"#,
        r#"{"exit_page":"/signup","channel":"search"}"#,
        r#"{"referrer":null}"#,
    ] {
        let filter = urlencode(filter);
        gets.push(format!("overview?{range}&filter={filter}"));
        gets.push(format!("timeseries?{range}&filter={filter}"));
        gets.push(format!("top/page?{range}&filter={filter}"));
        gets.push(format!("top/entry_page?{range}&filter={filter}"));
    }
    let dates = json!({"date_from": "2026-11-02", "date_to": "2026-11-05"});
    let with_dates = |q: Value| {
        let mut q = q;
        for (k, v) in dates.as_object().unwrap() {
            q[k] = v.clone();
        }
        q
    };
    let session = |key: &str, op: &str, value: Value| json!({"key": key, "operator": op, "value": value, "type": "session"});
    let posts = vec![
        json!({"kind": "trends", "interval": "hour", "series": [
            {"event": "$pageview"}, {"event": "$pageview", "math": "unique_persons"},
            {"math": "unique_sessions"}, {"event": "purchase", "math": "sum", "math_property": "amount"},
            {"event": "purchase", "math": "p90", "math_property": "amount"},
            {"event": "$pageview", "math": "per_person_avg"}]}),
        json!({"kind": "trends", "tz": "America/New_York", "compare": true, "cumulative": true,
               "series": [{"event": "$pageview"}],
               "breakdown": {"property": "$browser", "limit": 2}}),
        json!({"kind": "trends", "series": [{"event": "$pageview", "math": "unique_persons"}],
               "breakdown": {"property": "plan", "type": "person"}}),
        json!({"kind": "trends", "series": [{"event": "$pageview",
               "filters": session("$session_duration", "gt", json!(300))}],
               "breakdown": {"property": "$entry_pathname", "type": "session"}}),
        json!({"kind": "funnel", "steps": [{"event": "$pageview"}, {"event": "signup_started"}, {"event": "purchase"}]}),
        json!({"kind": "funnel", "order": "strict", "conversion_window_secs": 1800,
               "steps": [{"event": "$pageview"}, {"event": "signup_started"}]}),
        json!({"kind": "funnel", "persons": {"step": 1, "status": "dropped"},
               "steps": [{"event": "$pageview"}, {"event": "signup_started"}]}),
        json!({"kind": "funnel", "breakdown": {"property": "$browser"},
               "steps": [{"event": "$pageview"}, {"event": "purchase"}]}),
        json!({"kind": "retention", "date_to": "2026-11-05", "periods": 4,
               "start_event": {"event": "$pageview"}, "return_event": {"event": "purchase"}}),
        json!({"kind": "retention", "date_to": "2026-11-05", "periods": 4, "cohort": "recurring",
               "start_event": {"event": "signup_started"}, "return_event": {"event": "$pageview"}}),
        json!({"kind": "paths", "steps": 4}),
        json!({"kind": "paths", "path_type": "events", "end_point": "purchase"}),
        json!({"kind": "paths", "start_point": "/pricing",
               "filters": {"key": "$browser", "operator": "eq", "value": "Chrome"}}),
        json!({"kind": "stickiness", "event": {"event": "$pageview"}}),
        json!({"kind": "lifecycle", "event": {"event": "$pageview"}}),
        json!({"kind": "persons", "limit": 100}),
        json!({"kind": "persons", "search": "example.com",
               "filters": {"key": "plan", "operator": "eq", "value": "pro", "type": "person"}}),
    ];
    gets.into_iter()
        .map(|p| (p, None))
        .chain(posts.into_iter().map(|q| {
            let q = match q["kind"].as_str() {
                Some("persons" | "retention") => q,
                _ => with_dates(q),
            };
            ("query".to_owned(), Some(q))
        }))
        .collect()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The answer without what is not the data's: receive times, the numbers a
/// store gives persons, and client address hashes (each deployment keys them
/// with a secret of its own). Lists of persons ordered by their numbers (a
/// funnel's) are put in the order of their distinct ids.
fn comparable(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k != "received_at" && k != "$ip_hash")
                .map(|(k, v)| match k.as_str() {
                    "person_id" | "person_ids" => (k, Value::Null),
                    "id" if v.is_number() => (k, Value::Null),
                    _ => (k, comparable(v)),
                })
                .collect(),
        ),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.into_iter().map(comparable).collect();
            if items.iter().all(|i| i.get("distinct_ids").is_some()) {
                items.sort_by_key(|i| i["distinct_ids"].to_string());
            }
            Value::Array(items)
        }
        other => other,
    }
}

/// Where two answers differ first (a JSON pointer and both values), `None`
/// when they are the same. Numbers that are not integers may differ in the
/// last bits: a mean or a sum of fractions adds its terms in the order the
/// persons come, which follows the numbers each store gave them.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (l, r) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                first_difference(l, r, &format!("{at}/{k}"))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (l, r))| first_difference(l, r, &format!("{at}/{i}"))),
        (Value::Number(x), Value::Number(y)) if x != y => {
            let (l, r) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            ((l - r).abs() > 1e-9 * l.abs().max(r.abs())).then(|| format!("{at}: {a} against {b}"))
        }
        _ => (a != b).then(|| format!("{at}: {a} against {b}")),
    }
}

async fn answer(
    client: &Client,
    base: &str,
    boot: &Bootstrap,
    path: &str,
    body: &Option<Value>,
) -> Value {
    let url = format!("{base}/api/v1/projects/{}/{path}", boot.project_id);
    let request = match body {
        Some(b) => client.post(url).json(b),
        None => client.get(url),
    };
    let response = request.bearer_auth(&boot.admin_token).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{path} {body}");
    body
}

async fn capture(client: &Client, base: &str, key: &str, events: &[Value]) {
    for batch in events.chunks(200) {
        let status = client
            .post(format!("{base}/api/v1/capture"))
            .header("X-API-Key", key)
            .json(&json!({ "batch": batch }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_answers_the_same_on_duckdb_and_on_clickhouse() {
    let events = events();
    let sent: HashSet<String> = events
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_owned())
        .collect();
    let client = Client::new();

    let embedded_dir = tempfile::tempdir().unwrap();
    let embedded = Binary::spawn(embedded_dir.path()).await;
    let embedded_boot = read_bootstrap(embedded_dir.path());

    let deployment = Deployment::new(&shared_broker()).await;
    let store = fresh_store();
    let env = [("TALLY_STORE", store.as_str())];
    let api_dir = tempfile::tempdir().unwrap();
    let worker_dir = tempfile::tempdir().unwrap();
    let api: Node = deployment
        .node_with("api", Some(api_dir.path()), &env)
        .await;
    let boot = read_bootstrap(api_dir.path());
    let _worker = deployment
        .node_with("worker", Some(worker_dir.path()), &env)
        .await;
    let capture_node = deployment.node("capture", None).await;

    capture(&client, &embedded.base, &embedded_boot.api_key, &events).await;
    capture(&client, &capture_node.base, &boot.api_key, &events).await;
    let stored = wait_stored(
        &embedded.base,
        embedded_boot.project_id,
        &embedded_boot.admin_token,
        sent.len(),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        stored.len(),
        sent.len(),
        "the embedded store has every event"
    );
    assert_stored_exactly(&api, &boot, &sent).await;

    let mut differ = Vec::new();
    let queries = dashboard_queries(&events);
    for (path, body) in &queries {
        let here = answer(&client, &embedded.base, &embedded_boot, path, body).await;
        let there = answer(&client, &api.base, &boot, path, body).await;
        let (here, there) = (comparable(here), comparable(there));
        if let Some(difference) = first_difference(&here, &there, "") {
            differ.push(format!(
                "{path} {}\n  DuckDB against ClickHouse at {difference}",
                body.as_ref().map(Value::to_string).unwrap_or_default()
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} answers differ:\n{}",
        differ.len(),
        queries.len(),
        differ.join("\n")
    );
}
