#!/usr/bin/env bash
# Where the server's CPU goes under batch-100 load: a fresh server, SECS seconds of
# load (32 clients), `perf record` with DWARF call graphs for 8 s in the middle, then
# the functions with the largest share of samples, callees included ("children").
# Usage: bench/profile.sh [SECS] [PERCENT]   (needs a release build and `perf`:
# apt-get install linux-perf). BIN: the server build; the report is kept in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-22}; LIMIT=${2:-1.5}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/tally}
OUT=${OUT:-$(mktemp -d)}
WORK=$(mktemp -d); PORT=18200; BASE="http://127.0.0.1:$PORT"
"$BIN" serve --bind 127.0.0.1 --port $PORT --data-dir "$WORK/d" >"$WORK/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
until curl -sf --max-time 2 "$BASE/ready" >/dev/null; do kill -0 $PID 2>/dev/null || { cat "$WORK/log" >&2; exit 1; }; sleep 0.2; done
KEY=$(python3 -c "import json;print(json.load(open('$WORK/d/bootstrap.json'))['api_key'])")
"$BIN" loadgen --url "$BASE" --api-key "$KEY" --batch 100 --concurrency 32 --duration "$SECS" --json >"$OUT/loadgen.json" &
LG=$!
sleep $((SECS / 3))
perf record -F 299 --call-graph dwarf,16384 -p $PID -o "$OUT/perf.data" -- sleep 8 >/dev/null 2>&1
wait $LG
python3 -c "import json;r=json.load(open('$OUT/loadgen.json'));print(f\"acknowledged {r['events_per_sec']:.0f} events/s\")"
perf report -i "$OUT/perf.data" --children --sort symbol --stdio -g none --percent-limit "$LIMIT" 2>/dev/null \
  | grep -v '^#' | grep -v '^$' | sed 's/  */ /g' | cut -c1-160 \
  | grep -E 'tally|serde|drop_in_place|mi_free|memcmp|memmove|DuckDb|fsync'
echo "perf data: $OUT/perf.data"
