//! Invariant 6: a raw IP address is never written to disk, whether it arrives as a
//! `$ip` property or in forwarding headers.

mod common;

use common::TestServer;
use serde_json::json;

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
