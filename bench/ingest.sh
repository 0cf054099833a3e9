#!/usr/bin/env bash
# Ingest benchmark: HTTP with durable ack at batch 1 and batch 100, then the raw
# DuckDB insert rate of the same events (the ceiling), plus RSS idle and under load.
# Usage: bench/ingest.sh [seconds per run]   (needs a release build: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
BIN=${CARGO_TARGET_DIR:-target}/release/tally
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18123
"$BIN" serve --bind 127.0.0.1 --port $PORT --data-dir "$WORK/http" >"$WORK/server.log" 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null; do sleep 0.2; done
KEY=$(python3 -c "import json;print(json.load(open('$WORK/http/bootstrap.json'))['api_key'])")
rss() { awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' /proc/$PID/status; }
echo "rss idle: $(rss)"
for spec in "1 256" "100 32"; do
  set -- $spec
  "$BIN" loadgen --url "http://127.0.0.1:$PORT" --api-key "$KEY" --batch "$1" --concurrency "$2" --duration "$SECS" &
  LG=$!
  sleep $((SECS / 2)); echo "rss under load (batch $1): $(rss)"
  wait $LG
done
for b in 100 10000; do
  echo "raw DuckDB insert, one transaction per $b events:"
  "$BIN" loadgen --raw-data-dir "$WORK/raw-$b" --batch $b --duration "$SECS"
done
