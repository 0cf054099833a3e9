//! Invariant 6: a raw IP address is never written to disk, whether it arrives as a
//! `$ip` property or in forwarding headers; what is kept is the daily keyed hash.

mod common;

use common::TestServer;
use hmac::Mac;
use serde_json::{json, Value};
use tally::config::Config;

const IP: &str = "203.0.113.77";

#[tokio::test]
async fn raw_ips_are_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let r = server
        .client
        .post(format!("{}/api/v1/capture", server.base))
        .header("X-API-Key", &server.bootstrap.api_key)
        .header("X-Forwarded-For", IP)
        .json(&json!({"event": "visit", "distinct_id": "d", "properties": {"$ip": IP, "kept": "yes"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = server.read_json("/events").await;
    let props = &page["results"][0]["properties"];
    assert_eq!(props["kept"], "yes");
    assert!(props.get("$ip").is_none(), "{props}");
    server.stop().await;
    // Scan every file the server wrote: DuckDB's WAL and the capture spool too.
    let files = files_under(dir.path());
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "seg")),
        "the spool segment holding the event is among the files scanned: {files:?}"
    );
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(IP.len()).any(|w| w == IP.as_bytes()),
            "{} contains the raw IP",
            path.display()
        );
    }
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// `HMAC-SHA256(secret ‖ UTC date, ip)`, first 16 bytes in hex, computed here
/// from the server's key file, independently of the server's code.
fn expected_hash(data_dir: &std::path::Path, ip: &str) -> String {
    let mut key = std::fs::read(data_dir.join("ip-hash.key")).unwrap();
    assert_eq!(key.len(), 32);
    key.extend_from_slice(chrono::Utc::now().format("%Y-%m-%d").to_string().as_bytes());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(ip.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

async fn hash_of(server: &TestServer, xff: &str, props: Value) -> Value {
    let r = server
        .client
        .post(format!("{}/api/v1/capture", server.base))
        .header("X-API-Key", &server.bootstrap.api_key)
        .header("X-Forwarded-For", xff)
        .json(&json!({"event": "visit", "distinct_id": "d", "properties": props}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = server.read_json("/events?limit=1").await;
    page["results"][0]["properties"]["$ip_hash"].clone()
}

#[tokio::test]
async fn the_client_address_is_kept_as_a_daily_keyed_hash() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir).await;
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("ip-hash.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);
    // No trusted proxy: the forwarded header is ignored, the connection counts.
    assert_eq!(
        hash_of(&server, IP, json!({})).await,
        expected_hash(dir.path(), "127.0.0.1")
    );
    // A server SDK naming its end user's address.
    assert_eq!(
        hash_of(&server, IP, json!({"$ip": "198.51.100.23"})).await,
        expected_hash(dir.path(), "198.51.100.23")
    );
    // An SDK that asks for no IP use; a hash a client made up is not kept.
    assert_eq!(
        hash_of(
            &server,
            IP,
            json!({"$geoip_disable": true, "$ip_hash": "forged"})
        )
        .await,
        Value::Null
    );
    server.stop().await;

    // Behind a trusted proxy (the test client connects from 127.0.0.1), the
    // forwarded address is the client's; the key survives the restart.
    let server = TestServer::start_with(Config {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..common::config(dir.path())
    })
    .await;
    assert_eq!(
        hash_of(&server, &format!("6.6.6.6, {IP}"), json!({})).await,
        expected_hash(dir.path(), IP)
    );
}
