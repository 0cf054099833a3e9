#!/usr/bin/env bash
# Ingest benchmark: HTTP with durable ack at batch 1 and batch 100 (native), batch 100
# through the PostHog route (gzip, as posthog-python sends), then the raw
# DuckDB insert rate of the same events (the ceiling), plus RSS idle and under load.
#
# Capture acknowledges once events are synced to the spool and stores them in
# DuckDB right after, so each HTTP run reports two rates:
#   acknowledged  = events acknowledged / load seconds       (what clients see)
#   end-to-end    = events acknowledged / (load seconds + time until all of them
#                   are queryable)                            (the sustained rate)
# Usage: bench/ingest.sh [seconds per run]   (needs a release build: cargo build --release)
# LOADGEN_BIN=path runs the HTTP load from another build (A/B of servers with one client).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
BIN=${CARGO_TARGET_DIR:-target}/release/tally
[ -x "$BIN" ] || { echo "no release build at $BIN: cargo build --release (with the same CARGO_TARGET_DIR)" >&2; exit 1; }
LOADGEN_BIN=${LOADGEN_BIN:-$BIN}
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18123
BASE="http://127.0.0.1:$PORT"
"$BIN" serve --bind 127.0.0.1 --port $PORT --data-dir "$WORK/http" >"$WORK/server.log" 2>&1 &
PID=$!
until curl -sf --max-time 2 "$BASE/ready" >/dev/null; do kill -0 $PID 2>/dev/null || { echo "server exited; its log:" >&2; cat "$WORK/server.log" >&2; exit 1; }; sleep 0.2; done
boot() { python3 -c "import json;print(json.load(open('$WORK/http/bootstrap.json'))['$1'])"; }
KEY=$(boot api_key); TOKEN=$(boot admin_token); PROJECT=$(boot project_id)
rss() { awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' /proc/$PID/status; }
. bench/lib.sh
now() { date +%s.%N; }
# The server's CPU time so far (user + system, seconds): per event it is a figure the
# machine's noise (other tenants, the load generator) moves far less than rates.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' /proc/$PID/stat; }
echo "host speed probe: $(bash bench/host-speed.sh) s (bench/host-speed.sh: larger = slower host right now)"
echo "rss idle: $(rss)"
# native batch 1, native batch 100, and PostHog gzip batches of 100 to /batch/.
for spec in "native 1 256" "native 100 32" "posthog 100 32"; do
  set -- $spec
  FORMAT=$1
  echo "== $FORMAT format"
  before=$(stored)
  cpu_before=$(cpu)
  "$LOADGEN_BIN" loadgen --url "$BASE" --api-key "$KEY" --format "$FORMAT" --batch "$2" --concurrency "$3" --duration "$SECS" --json >"$WORK/report.json" &
  LG=$!
  sleep $((SECS / 2)); echo "rss under load ($FORMAT, batch $2): $(rss)"
  wait $LG
  ended=$(now)
  acked=$(python3 -c "import json;print(json.load(open('$WORK/report.json'))['events'])")
  until [ "$(stored)" -ge $((before + acked)) ]; do sleep 0.05; done
  python3 - "$WORK/report.json" "$ended" "$(now)" "$cpu_before" "$(cpu)" "$WORK/e2e-$FORMAT-$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
tail = float(sys.argv[3]) - float(sys.argv[2])
cpu = float(sys.argv[5]) - float(sys.argv[4])
open(sys.argv[6], "w").write(f"{r['events'] / (r['seconds'] + tail):.0f}")
print(f"batch {r['events'] // max(r['requests'], 1)}: {r['requests']} requests, {r['events']} events acknowledged in {r['seconds']:.1f} s")
print(f"  acknowledged: {r['events_per_sec']:.0f} events/s, {r['requests_per_sec']:.0f} req/s; "
      f"latency p50 {r['p50_ms']:.2f} / p95 {r['p95_ms']:.2f} / p99 {r['p99_ms']:.2f} / max {r['max_ms']:.2f} ms; non-2xx {r['errors']}")
print(f"  all of them queryable {tail:.2f} s after the load ended -> end-to-end {r['events'] / (r['seconds'] + tail):.0f} events/s")
print(f"  server CPU {cpu:.1f} s: {cpu * 1e6 / max(r['events'], 1):.2f} us per event, {cpu * 1e6 / max(r['requests'], 1):.1f} us per request")
EOF
done
for b in 100 10000 131072; do
  echo "raw DuckDB insert, one transaction per $b events:"
  TALLY_LOG=warn "$BIN" loadgen --raw-data-dir "$WORK/raw-$b" --batch $b --duration "$SECS" --json \
    | tee "$WORK/raw-$b.json" | python3 bench/raw-line.py
done
# The issue's ratio: native batch 100 end to end over the raw rate at the drain's
# batch size (131,072: a store transaction under load holds that many events).
python3 - "$WORK" <<'EOF'
import json, sys
e2e = float(open(f"{sys.argv[1]}/e2e-native-100").read())
raw = json.load(open(f"{sys.argv[1]}/raw-131072.json"))["events_per_sec"]
print(f"end to end (native, batch 100) / raw (131072): {e2e:.0f} / {raw:.0f} = {100 * e2e / raw:.1f} %")
EOF
echo "host speed probe: $(bash bench/host-speed.sh) s"
