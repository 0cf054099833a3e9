#!/usr/bin/env bash
# Restart after a crash under load: single-event requests from many clients for a
# while, `kill -9` of the server, then a restart timed until `/ready`. Prints the WAL
# and spool left behind, the events the restart replayed from the spool (already
# stored, so every one is a duplicate to recognise), and the time to ready.
# Usage: bench/crash-replay.sh [seconds of load] [clients]
#   (needs a release build; BIN=path picks another build)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-40}
CLIENTS=${2:-256}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/tally}
WORK=$(mktemp -d)
PORT=18124
PID=
trap 'kill -9 $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
serve() {
  "$BIN" serve --bind 127.0.0.1 --port $PORT --data-dir "$WORK/data" >>"$WORK/server.log" 2>&1 &
  PID=$!
}
ready() { curl -sf --max-time 2 "http://127.0.0.1:$PORT/ready" >/dev/null; }
serve
until ready; do sleep 0.1; done
KEY=$(python3 -c "import json;print(json.load(open('$WORK/data/bootstrap.json'))['api_key'])")
"$BIN" loadgen --url "http://127.0.0.1:$PORT" --api-key "$KEY" --batch 1 --concurrency "$CLIENTS" \
  --duration "$SECS" --json | python3 -c "import json,sys;r=json.load(sys.stdin);print(f\"load: {r['events']} events acknowledged in {r['seconds']:.0f} s\")"
sleep 1
echo "left behind: WAL $(stat -c %s "$WORK/data/events.duckdb.wal" 2>/dev/null || echo 0) bytes, spool $(du -sb "$WORK/data/spool" | cut -f1) bytes"
kill -9 $PID
wait $PID 2>/dev/null || true
started=$(date +%s.%N)
serve
until ready; do sleep 0.05; done
echo "restart: ready after $(python3 -c "print(round($(date +%s.%N) - $started, 2))") s"
sed 's/\x1b\[[0-9;]*m//g' "$WORK/server.log" | grep -E "opened event store|recovered from the spool" | tail -2 \
  | sed -E 's/^([0-9T:.-]+)Z .*(opened event store|stored events recovered from the spool)(.*)$/  \1 \2\3/'
