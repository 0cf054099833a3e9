//! GeoIP at capture over real HTTP: the embedded country database locates a
//! server SDK's `$ip` and a trusted proxy's `X-Forwarded-For`; `$geoip_disable`
//! opts out; `--geoip-db` with a city-layout database adds region and city; a
//! broken `--geoip-db` stops start-up with a clear error.

mod common;

use common::{config, TestServer};
use serde_json::{json, Value};
use std::path::Path;

fn city_fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tally-pipeline/tests/fixtures/geoip/city-test.mmdb")
}

async fn stored(server: &TestServer, distinct_id: &str) -> Value {
    let page = server
        .read_json(&format!("/events?distinct_id={distinct_id}"))
        .await;
    page["results"][0]["properties"].clone()
}

#[tokio::test]
async fn the_embedded_database_gives_countries_out_of_the_box() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let server = TestServer::start_with(cfg).await;
    let ts = "2026-11-20T10:00:00Z";
    // A server SDK names its user's address (Google's resolver: US).
    let r = server
        .capture(&json!({"batch": [
            {"event": "$pageview", "distinct_id": "from-sdk-ip", "timestamp": ts,
             "properties": {"$ip": "8.8.8.8", "$current_url": "https://a.example/"}},
            {"event": "$pageview", "distinct_id": "opted-out", "timestamp": ts,
             "properties": {"$ip": "8.8.8.8", "$geoip_disable": true}},
        ]}))
        .await;
    assert_eq!(r.status(), 200);
    // A browser behind the (trusted) proxy: RIPE NCC's address, NL.
    let r = server
        .client
        .post(format!("{}/api/v1/capture", server.base))
        .header("X-API-Key", &server.bootstrap.api_key)
        .header("X-Forwarded-For", "193.0.6.139")
        .json(
            &json!({"event": "$pageview", "distinct_id": "behind-proxy", "timestamp": ts,
                      "properties": {"$current_url": "https://a.example/"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    assert_eq!(
        stored(&server, "from-sdk-ip").await["$geoip_country_code"],
        "US"
    );
    assert_eq!(
        stored(&server, "behind-proxy").await["$geoip_country_code"],
        "NL"
    );
    let opted_out = stored(&server, "opted-out").await;
    assert!(
        opted_out.get("$geoip_country_code").is_none(),
        "{opted_out}"
    );
    // The column that sessions (and later breakdowns) read is filled too.
    let sessions = server
        .read_json("/sessions?from=2026-11-20&to=2026-11-21")
        .await;
    let country_of = |id: &str| {
        sessions["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["distinct_id"] == id)
            .unwrap()["country"]
            .clone()
    };
    assert_eq!(country_of("from-sdk-ip"), "US");
    assert_eq!(country_of("behind-proxy"), "NL");
    assert_eq!(country_of("opted-out"), Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn an_operator_city_database_adds_region_and_city() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.geoip_db = Some(city_fixture());
    let server = TestServer::start_with(cfg).await;
    let r = server
        .capture(&json!({"event": "$pageview", "distinct_id": "lyon", "timestamp": "2026-11-20T10:00:00Z",
                         "properties": {"$ip": "203.0.113.9"}}))
        .await;
    assert_eq!(r.status(), 200);
    let props = stored(&server, "lyon").await;
    for (key, value) in [
        ("$geoip_country_code", "FR"),
        ("$geoip_country_name", "France"),
        ("$geoip_subdivision_1_code", "ARA"),
        ("$geoip_subdivision_1_name", "Auvergne-Rhone-Alpes"),
        ("$geoip_city_name", "Lyon"),
    ] {
        assert_eq!(props[key], value, "{key} in {props}");
    }
    assert!(props.get("$ip").is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_broken_geoip_db_stops_start_up_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.mmdb");
    std::fs::write(&junk, b"not a database").unwrap();
    let mut cfg = config(dir.path());
    cfg.geoip_db = Some(junk);
    let err = match tally::app::build(&cfg, std::sync::Arc::new(tally_core::SystemClock)).await {
        Ok(_) => panic!("a broken --geoip-db must not start"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("geoip-db"), "{err}");
    assert!(err.contains("MaxMind"), "{err}");
}
