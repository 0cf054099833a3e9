#!/usr/bin/env bash
# Runs Tally's whole test suite on a fresh clone. The embedded deployment needs no
# outside service, so nothing is installed or started here yet; when tests need
# ClickHouse, Kafka or Chromium, this script installs and starts them.
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --workspace --no-fail-fast
else
    exec cargo test --workspace --no-fail-fast
fi
