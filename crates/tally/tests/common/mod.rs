//! Shared test harness: an app on a temporary data dir served over real HTTP on
//! 127.0.0.1, or the real `tally` binary as a child process.
#![allow(dead_code)]

pub mod scaleout;

use reqwest::{Client, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally::app::{self, Bootstrap};
use tally::config::Config;
use tally_core::SystemClock;
use tempfile::TempDir;

pub struct TestServer {
    pub base: String,
    pub bootstrap: Bootstrap,
    pub client: Client,
    pub data_dir: PathBuf,
    pub events: tally_duckdb::DuckDb,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn config(dir: &Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        bind: "127.0.0.1".parse().unwrap(),
        port: 0,
        ..Config::default()
    }
}

impl TestServer {
    pub async fn start(dir: &TempDir) -> Self {
        Self::start_with(config(dir.path())).await
    }

    pub async fn start_with(config: Config) -> Self {
        let app = app::build(&config, Arc::new(SystemClock))
            .await
            .expect("app builds");
        let base = format!("http://127.0.0.1:{}", app.port);
        let bootstrap = app.bootstrap.clone().expect("bootstrap");
        let events = app
            .events
            .clone()
            .expect("an embedded app has its event store");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            app.serve(async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        Self {
            base,
            bootstrap,
            client: Client::new(),
            data_dir: config.data_dir,
            events,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops serving and waits until the stores are closed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        drop(self.events);
        // The committer task holds the store until it sees its channel close; let it
        // run so the database is closed before a test reopens the same directory.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    pub async fn capture(&self, body: &Value) -> Response {
        self.client
            .post(format!("{}/api/v1/capture", self.base))
            .header("X-API-Key", &self.bootstrap.api_key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// GET a project route with the admin token; `path` starts after `/projects/{id}`.
    pub async fn read(&self, path: &str) -> Response {
        self.client
            .get(format!(
                "{}/api/v1/projects/{}{}",
                self.base, self.bootstrap.project_id, path
            ))
            .bearer_auth(&self.bootstrap.admin_token)
            .send()
            .await
            .unwrap()
    }

    /// Sends `body` as JSON with the admin token to a project route; `path`
    /// starts after `/projects/{id}`.
    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &str) -> Response {
        self.client
            .request(
                method,
                format!(
                    "{}/api/v1/projects/{}{}",
                    self.base, self.bootstrap.project_id, path
                ),
            )
            .bearer_auth(&self.bootstrap.admin_token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// The persons at each step of a funnel query (`POST /query`).
    pub async fn funnel_counts(&self, funnel: &Value) -> Vec<u64> {
        let answer: Value = self
            .send_json(reqwest::Method::POST, "/query", &funnel.to_string())
            .await
            .json()
            .await
            .unwrap();
        answer["steps"]
            .as_array()
            .unwrap_or_else(|| panic!("not a funnel answer: {answer}"))
            .iter()
            .map(|s| s["count"].as_u64().unwrap())
            .collect()
    }

    pub async fn read_json(&self, path: &str) -> Value {
        let r = self.read(path).await;
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }
}

/// Asserts the error body shape and returns the code.
pub async fn error_code(r: Response, status: u16) -> String {
    assert_eq!(r.status().as_u16(), status);
    let body: Value = r.json().await.expect("error body is JSON");
    let message = body["error"]["message"].as_str().expect("error.message");
    assert!(!message.is_empty());
    body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `{base}/ready` answers 200; fails the test after `within`.
pub async fn wait_ready(base: &str, within: Duration) {
    let client = Client::new();
    let deadline = Instant::now() + within;
    loop {
        if let Ok(r) = client.get(format!("{base}/ready")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{base} did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many times each uuid is stored in the project, read page by page
/// through the events API of an API node.
pub async fn stored_uuid_counts(base: &str, project: i64, token: &str) -> HashMap<String, usize> {
    let client = Client::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/projects/{project}/events?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for e in page["results"].as_array().expect("an events page") {
            *seen
                .entry(e["uuid"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => return seen,
        }
    }
}

/// The real binary, serving a data dir.
pub struct Binary {
    pub child: Child,
    pub base: String,
}

impl Binary {
    pub async fn spawn(data_dir: &Path) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_tally"))
            .args([
                "serve",
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--data-dir",
            ])
            .arg(data_dir)
            .env("TALLY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tally");
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&base, Duration::from_secs(60)).await;
        Self { child, base }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Binary {
    /// A test that fails midway must not leave a server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn read_bootstrap(dir: &Path) -> Bootstrap {
    serde_json::from_slice(&std::fs::read(dir.join("bootstrap.json")).unwrap()).unwrap()
}

/// The Python interpreter of the SDK test environment, which `scripts/test.sh`
/// creates with the pinned SDKs and names in `TALLY_SDK_PYTHON`. Without it the
/// SDK tests fail (they are part of the suite, never skipped).
pub fn sdk_python() -> PathBuf {
    let python = std::env::var_os("TALLY_SDK_PYTHON").map(PathBuf::from).expect(
        "TALLY_SDK_PYTHON is not set: run the suite with `bash scripts/test.sh`, which installs the SDKs",
    );
    assert!(python.exists(), "{} does not exist", python.display());
    python
}

/// The folder of the browser tests' Node project, with its packages installed by
/// `scripts/test.sh` (`npm ci`). Without them the browser tests fail, never skip.
pub fn browser_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists()
            && dir.join("node_modules/posthog-js").exists(),
        "the browser test packages are missing: run the suite with `bash scripts/test.sh`, \
         which installs them (npm ci in {}) and Debian's chromium",
        dir.display()
    );
    dir
}

/// Runs `tests/browser/<script>` with node and the given arguments, and returns
/// the JSON report it prints; fails the test with the script's output when the
/// script fails (a page error, a step that timed out).
pub async fn run_browser_script(script: &str, args: &[&str]) -> Value {
    let out = tokio::process::Command::new("node")
        .arg(browser_dir().join(script))
        .args(args)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser script {script} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script} printed no JSON report ({e}): {stdout}"))
}

/// A browser's view of Tally's session: the cookies it was given (with their
/// attributes), sent back on every request, and the CSRF token echoed on writes.
pub struct Browser {
    pub base: String,
    pub client: Client,
    /// name → (value, full Set-Cookie line)
    pub cookies: std::collections::HashMap<String, (String, String)>,
    /// Leave out `X-CSRF-Token`, as a forged cross-site request would.
    pub omit_csrf: bool,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            client: Client::new(),
            cookies: Default::default(),
            omit_csrf: false,
        }
    }

    fn remember(&mut self, r: &Response) {
        for line in r.headers().get_all("set-cookie") {
            let line = line.to_str().unwrap().to_owned();
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies
                    .insert(name.to_owned(), (value.to_owned(), line.clone()));
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(|(v, _)| v.as_str())
    }

    /// Sends a request as a browser on Tally's own page would: cookies for the
    /// path (the refresh cookie only to /api/v1/auth), CSRF token on writes.
    pub async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let cookie_header: Vec<String> = self
            .cookies
            .iter()
            .filter(|(name, _)| {
                name.as_str() != "tally_refresh" || path.starts_with("/api/v1/auth")
            })
            .map(|(name, (value, _))| format!("{name}={value}"))
            .collect();
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .header("cookie", cookie_header.join("; "));
        if method != reqwest::Method::GET && !self.omit_csrf {
            if let Some(csrf) = self.cookie("tally_csrf") {
                request = request.header("x-csrf-token", csrf.to_owned());
            }
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        self.remember(&r);
        r
    }

    pub async fn get(&mut self, path: &str) -> Response {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, body: Value) -> Response {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

/// First-run setup on a fresh server: the first user claims the bootstrap
/// superuser. Returns their logged-in browser.
pub async fn set_up_first_user(base: &str, email: &str, password: &str) -> Browser {
    let mut browser = Browser::new(base);
    let r = browser
        .post(
            "/api/v1/setup",
            serde_json::json!({"email": email, "password": password, "name": "Owner"}),
        )
        .await;
    assert_eq!(r.status(), 201, "setup");
    browser
}
