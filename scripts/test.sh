#!/usr/bin/env bash
# Runs Tally's whole test suite on a fresh clone. The embedded deployment needs no
# outside service. The real-SDK tests need the SDKs themselves: this script makes
# a Python virtual environment with the pinned PyPI packages (installing the Debian
# python3-venv package first if it is missing) and passes its interpreter to the
# tests as TALLY_SDK_PYTHON, and one with schemathesis (TALLY_SCHEMATHESIS).
# The browser tests need Debian's chromium and the npm
# packages of crates/tally/tests/browser (playwright-core, posthog-js), installed
# here from the lock file. The metadata conformance suite needs a PostgreSQL
# server: this script installs Debian's postgresql if missing, starts a
# throw-away cluster on 127.0.0.1 (stopped again at exit) and passes its URL as
# TALLY_TEST_POSTGRES_URL. The scale-out tests need Apache Kafka: this script
# fetches the broker's jars from Maven Central with Maven (pinned in
# scripts/kafka/pom.xml, cached in ~/.cache/tally-kafka so later runs start
# offline), starts one KRaft broker on 127.0.0.1 (stopped at exit) and passes its
# address as TALLY_TEST_KAFKA_BOOTSTRAP, and the jars as TALLY_TEST_KAFKA_LIBS for
# tests that start (and stop) brokers of their own. The ClickHouse store's tests
# need a ClickHouse server: this script installs Debian's clickhouse-server if
# missing, starts a throw-away server on free 127.0.0.1 ports (stopped at exit)
# and passes its HTTP URL as TALLY_TEST_CLICKHOUSE_URL; the statements the
# store sends are replayed on ClickHouse 26 in process: PyPI's chdb-core
# (pinned) in a venv of its own, passed as TALLY_TEST_CHDB_PYTHON. Two more
# servers run as the two shards of a cluster (TALLY_TEST_CLICKHOUSE_CLUSTER,
# their HTTP URLs) for the sharded store's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_UPDATED=
apt_install() {
    if [ -z "$APT_UPDATED" ]; then apt-get update; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

SDK_VENV="${TALLY_SDK_VENV:-$HOME/.cache/tally-sdk-venv}"
SDK_PACKAGES=(posthog==7.91.1 segment-analytics-python==2.4.0 pytest==9.2.0)
if ! "$SDK_VENV/bin/python" -c "import posthog, segment.analytics, pytest" 2>/dev/null; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
        apt_install python3-venv
    fi
    python3 -m venv "$SDK_VENV"
    "$SDK_VENV/bin/pip" install --quiet "${SDK_PACKAGES[@]}"
fi
# Tally's own Python SDK, installed as its users would (no dependencies to fetch).
"$SDK_VENV/bin/pip" install --quiet --no-deps --force-reinstall ./sdks/python
export TALLY_SDK_PYTHON="$SDK_VENV/bin/python"

# schemathesis (PyPI, pinned) fuzzes the served OpenAPI document in
# crates/tally/tests/schemathesis.rs; its own venv keeps its dependencies apart.
ST_VENV="${TALLY_SCHEMATHESIS_VENV:-$HOME/.cache/tally-schemathesis-venv}"
ST_VERSION=4.32.5
if [ "$("$ST_VENV/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $ST_VERSION" ]; then
    python3 -m venv "$ST_VENV"
    "$ST_VENV/bin/pip" install --quiet "schemathesis==$ST_VERSION"
fi
export TALLY_SCHEMATHESIS="$ST_VENV/bin/schemathesis"

CHDB_VENV="${TALLY_CHDB_VENV:-$HOME/.cache/tally-chdb-venv}"
CHDB_VERSION=26.9.0
if [ "$("$CHDB_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("chdb-core"))' 2>/dev/null)" != "$CHDB_VERSION" ]; then
    python3 -m venv "$CHDB_VENV"
    "$CHDB_VENV/bin/pip" install --quiet "chdb-core==$CHDB_VERSION"
fi
export TALLY_TEST_CHDB_PYTHON="$CHDB_VENV/bin/python"

if [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi
if ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi
BROWSER_DIR=crates/tally/tests/browser
LOCK_SUM=$(sha256sum "$BROWSER_DIR/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$BROWSER_DIR/node_modules/.tally-lock-sum" 2>/dev/null)" != "$LOCK_SUM" ]; then
    (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund)
    echo "$LOCK_SUM" > "$BROWSER_DIR/node_modules/.tally-lock-sum"
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then apt_install postgresql; fi
PG_DIR=$(mktemp -d /tmp/tally-pg.XXXXXX)
stop_postgres() { bash scripts/postgres.sh stop "$PG_DIR"; }
trap stop_postgres EXIT
TALLY_TEST_POSTGRES_URL=$(bash scripts/postgres.sh start "$PG_DIR")
export TALLY_TEST_POSTGRES_URL

if ! command -v java >/dev/null 2>&1; then apt_install openjdk-17-jre-headless; fi
if ! command -v mvn >/dev/null 2>&1; then apt_install maven; fi
KAFKA_LIBS=$(bash scripts/kafka/fetch.sh)
export KAFKA_LIBS TALLY_TEST_KAFKA_LIBS="$KAFKA_LIBS"
KAFKA_DIR=$(mktemp -d /tmp/tally-kafka.XXXXXX)
CH_DIR=$(mktemp -d /tmp/tally-clickhouse.XXXXXX)
CH_CLUSTER_DIR=$(mktemp -d /tmp/tally-clickhouse-cluster.XXXXXX)
stop_services() {
    bash scripts/clickhouse.sh stop "$CH_DIR" || true
    bash scripts/clickhouse.sh cluster-stop "$CH_CLUSTER_DIR" || true
    bash scripts/kafka/broker.sh stop "$KAFKA_DIR" || true
    rm -rf "$KAFKA_DIR"
    stop_postgres
}
trap stop_services EXIT
TALLY_TEST_KAFKA_BOOTSTRAP=$(bash scripts/kafka/broker.sh start "$KAFKA_DIR")
export TALLY_TEST_KAFKA_BOOTSTRAP

if ! command -v clickhouse-server >/dev/null 2>&1; then apt_install clickhouse-server; fi
TALLY_TEST_CLICKHOUSE_URL=$(bash scripts/clickhouse.sh start "$CH_DIR")
export TALLY_TEST_CLICKHOUSE_URL
# Two more servers as the two shards of a cluster, for the sharded store.
TALLY_TEST_CLICKHOUSE_CLUSTER=$(bash scripts/clickhouse.sh cluster-start "$CH_CLUSTER_DIR" 2)
export TALLY_TEST_CLICKHOUSE_CLUSTER

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
else
    cargo test --workspace --no-fail-fast "$@"
fi
