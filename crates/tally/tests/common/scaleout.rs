//! Scale-out test harness: a real Apache Kafka broker (the shared one that
//! `scripts/test.sh` starts, or a test's own through `scripts/kafka/broker.sh`),
//! a PostgreSQL database for the shared metadata, and the real `tally` binary in
//! each role. Without the broker the tests fail with directions, never skip.

use super::{free_port, stored_uuid_counts, wait_ready};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `host:port` of the broker `scripts/test.sh` started for the whole suite.
pub fn shared_broker() -> String {
    std::env::var("TALLY_TEST_KAFKA_BOOTSTRAP").expect(
        "TALLY_TEST_KAFKA_BOOTSTRAP is not set: run the suite with `bash scripts/test.sh`, \
         which fetches Apache Kafka and starts a broker",
    )
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

fn broker_script() -> PathBuf {
    scripts_dir().join("kafka/broker.sh")
}

/// A fresh topic and consumer group on `broker`.
fn fresh_queue(broker: &str) -> String {
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    // Few partitions: two workers on two cores; four still splits them.
    format!("kafka://{broker}/{name}?group_id={name}&partitions=4")
}

/// Runs `scripts/<script> <command> <dir>` and returns what it printed.
fn run_script(script: &str, command: &str, dir: &Path, env: &[(&str, String)]) -> String {
    let out = Command::new("bash")
        .arg(scripts_dir().join(script))
        .arg(command)
        .arg(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run scripts/{script}: {e}"));
    assert!(out.status.success(), "{script} {command} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A broker of the test's own, which it may stop and start again (same data,
/// same port). Stopped when dropped.
pub struct OwnBroker {
    dir: tempfile::TempDir,
    pub bootstrap: String,
}

impl OwnBroker {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A broker whose client listener takes SASL PLAIN logins of `users`
    /// (`user:password`) only.
    pub fn start_with_sasl(users: &str) -> Self {
        Self::start_with(&[("KAFKA_SASL_USERS", users.to_owned())])
    }

    /// A broker whose client listener speaks TLS only, with a certificate
    /// for 127.0.0.1 signed by a throw-away CA ([`Self::tls_ca`]).
    pub fn start_with_tls() -> Self {
        Self::start_with(&[("KAFKA_TLS", "1".to_owned())])
    }

    /// The PEM file of the CA that signed a TLS broker's certificate.
    pub fn tls_ca(&self) -> PathBuf {
        self.dir.path().join("tls/ca.pem")
    }

    fn start_with(env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bootstrap = run_broker_script("start", dir.path(), env);
        Self { dir, bootstrap }
    }

    pub fn stop(&self) {
        run_broker_script("stop", self.dir.path(), &[]);
    }

    pub fn start_again(&self) {
        let again = run_broker_script("start", self.dir.path(), &[]);
        assert_eq!(again, self.bootstrap, "the broker keeps its port");
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(broker_script())
            .args(["stop"])
            .arg(self.dir.path())
            .status();
    }
}

fn run_broker_script(command: &str, dir: &Path, env: &[(&str, String)]) -> String {
    let libs = std::env::var("TALLY_TEST_KAFKA_LIBS").expect(
        "TALLY_TEST_KAFKA_LIBS is not set: run the suite with `bash scripts/test.sh`, \
         which fetches Apache Kafka's jars",
    );
    let mut env = env.to_vec();
    env.push(("KAFKA_LIBS", libs));
    run_script("kafka/broker.sh", command, dir, &env)
}

/// A PostgreSQL server of the test's own (`scripts/postgres.sh`), which it may
/// halt and start again (same data, same port). Deleted when dropped.
pub struct OwnPostgres {
    dir: tempfile::TempDir,
    pub url: String,
}

impl OwnPostgres {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = run_script("postgres.sh", "start", dir.path(), &[]);
        Self { dir, url }
    }

    pub fn halt(&self) {
        run_script("postgres.sh", "halt", self.dir.path(), &[]);
    }

    pub fn start_again(&self) {
        let again = run_script("postgres.sh", "start", self.dir.path(), &[]);
        assert_eq!(again, self.url, "the server keeps its port");
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(scripts_dir().join("postgres.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// A deployment's shared parts: the queue URL (a fresh topic and consumer
/// group on `broker`) and the metadata database (a fresh one on the suite's
/// PostgreSQL server, or a server of the test's own).
pub struct Deployment {
    pub queue: String,
    pub metadata_url: String,
    _metadata: Option<tally_meta::testing::TestDatabase>,
}

impl Deployment {
    pub async fn new(broker: &str) -> Self {
        let database = tally_meta::testing::TestDatabase::create().await;
        Self {
            queue: fresh_queue(broker),
            metadata_url: database.url.clone(),
            _metadata: Some(database),
        }
    }

    /// A deployment whose metadata lives at `metadata_url`.
    pub fn with_metadata(broker: &str, metadata_url: &str) -> Self {
        Self {
            queue: fresh_queue(broker),
            metadata_url: metadata_url.to_owned(),
            _metadata: None,
        }
    }

    /// Waits until the deployment's consumer group is stable with `members`
    /// workers, each of which then holds partitions (the group's assignor
    /// gives every member some while there are as many partitions), asking
    /// the broker itself.
    pub async fn wait_workers(&self, members: usize, within: Duration) {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let (bootstrap, rest) = self
            .queue
            .trim_start_matches("kafka://")
            .split_once('/')
            .expect("kafka://host/topic?…");
        let group = rest
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("group_id="))
            .expect("the queue names its group")
            .to_owned();
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("a client of the broker");
        let deadline = Instant::now() + within;
        loop {
            let groups = tokio::task::block_in_place(|| {
                consumer.fetch_group_list(Some(&group), Duration::from_secs(5))
            })
            .expect("the broker lists its groups");
            let stable = groups
                .groups()
                .iter()
                .any(|g| g.state() == "Stable" && g.members().len() == members);
            if stable {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the consumer group did not settle on {members} workers in {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Starts the real binary with `role` in this deployment.
    pub async fn node(&self, role: &str, data_dir: Option<&Path>) -> Node {
        self.node_with(role, data_dir, &[]).await
    }

    pub async fn node_with(
        &self,
        role: &str,
        data_dir: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Node {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tally"));
        command
            .args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--role", role, "--queue", &self.queue])
            .env("TALLY_METADATA_URL", &self.metadata_url)
            .env("TALLY_LOG", "warn,tally_kafka=info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        match data_dir {
            Some(dir) => command.arg("--data-dir").arg(dir),
            // A capture node must not need one: point it somewhere unwritable.
            None => command.args(["--data-dir", "/nonexistent/tally-capture-node"]),
        };
        let child = command.spawn().expect("spawn tally");
        let node = Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        node.wait_ready(Duration::from_secs(60)).await;
        node
    }
}

/// One `tally serve` process of a deployment; killed when dropped.
pub struct Node {
    pub child: Child,
    pub base: String,
}

impl Node {
    pub async fn wait_ready(&self, within: Duration) {
        wait_ready(&self.base, within).await;
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls until `expected` uuids are stored (or `within` passes), then returns
/// the counts: the queue is asynchronous, so a test waits for the worker.
pub async fn wait_stored(
    base: &str,
    project: i64,
    token: &str,
    expected: usize,
    within: Duration,
) -> HashMap<String, usize> {
    let deadline = Instant::now() + within;
    loop {
        let counts = stored_uuid_counts(base, project, token).await;
        if counts.len() >= expected || Instant::now() >= deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the node serving the API shows `sent`, then checks it shows
/// exactly those events, each once.
pub async fn assert_stored_exactly(
    api: &Node,
    boot: &tally::app::Bootstrap,
    sent: &std::collections::HashSet<String>,
) {
    let stored = wait_stored(
        &api.base,
        boot.project_id,
        &boot.admin_token,
        sent.len(),
        Duration::from_secs(60),
    )
    .await;
    let stored_set: std::collections::HashSet<String> = stored.keys().cloned().collect();
    assert_eq!(
        &stored_set, sent,
        "exactly the acknowledged events are stored"
    );
    assert!(stored.values().all(|&n| n == 1), "none is stored twice");
}
