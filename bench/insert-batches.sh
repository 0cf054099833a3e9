#!/usr/bin/env bash
# How big the store inserts are and where each spends its time, from the store's
# debug line "insert committed" (medians over the run):
#   bench/insert-batches.sh raw [events per transaction] [seconds]
#       the raw insert path alone (`tally loadgen --raw-data-dir`)
#   bench/insert-batches.sh http [events per request] [clients] [seconds]
#       a served load: also the requests per second acknowledged; the drain's
#       batching follows TALLY_STORE_LINGER_MS like the server's
# Needs a release build (cargo build --release, same CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-target}/release/tally
[ -x "$BIN" ] || { echo "no release build at $BIN" >&2; exit 1; }
WORK=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
MODE=${1:-raw}
if [ "$MODE" = raw ]; then
  TALLY_LOG=info,tally_duckdb=debug "$BIN" loadgen --raw-data-dir "$WORK/raw" --batch "${2:-131072}" \
    --duration "${3:-10}" >"$WORK/log" 2>&1
else
  PORT=18127
  TALLY_LOG=info,tally_duckdb=debug "$BIN" serve --bind 127.0.0.1 --port $PORT --data-dir "$WORK/d" >"$WORK/log" 2>&1 &
  PID=$!
  until curl -sf --max-time 2 "http://127.0.0.1:$PORT/ready" >/dev/null; do sleep 0.2; done
  KEY=$(python3 -c "import json;print(json.load(open('$WORK/d/bootstrap.json'))['api_key'])")
  "$BIN" loadgen --url "http://127.0.0.1:$PORT" --api-key "$KEY" --batch "${2:-1}" --concurrency "${3:-256}" \
    --duration "${4:-8}" --json >"$WORK/report.json"
  sleep 3 # the drain stores what is left
  python3 -c "import json;r=json.load(open('$WORK/report.json'));print(f\"{r['requests_per_sec']:.0f} req/s acknowledged\")"
fi
sed 's/\x1b\[[0-9;]*m//g' "$WORK/log" | grep "insert committed" | python3 -c '
import re, statistics, sys
rows = [dict(re.findall(r"(\w+)=(\d+)", line)) for line in sys.stdin]
med = lambda k, d=1: statistics.median(int(r[k]) / d for r in rows)
ev, pre, app, com = med("events"), med("prepare_us", 1000), med("append_us", 1000), med("commit_us", 1000)
print(f"{len(rows)} inserts, median {ev:.0f} events; median prepare {pre:.1f} ms, append {app:.1f} ms, commit {com:.1f} ms")'
