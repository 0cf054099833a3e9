#!/usr/bin/env bash
# Quick end-to-end figure for one build: a fresh server, SECS seconds of batch-100 load
# (32 clients), then the time until every acknowledged event is queryable, and the
# server's CPU per event over the whole run (load + tail). For A/B runs of two builds,
# alternate them: BIN=build-a bench/batch100.sh A 15; BIN=build-b bench/batch100.sh B 15; ...
# Usage: bench/batch100.sh LABEL [SECS] [ENV=VALUE ...]   (env assignments go to the server)
# BIN: the server build (default: the release build); LOADGEN_BIN: the load generator's.
set -euo pipefail
LABEL=$1; SECS=${2:-15}; shift 2 || shift $#
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/tally}
LOADGEN_BIN=${LOADGEN_BIN:-$BIN}
WORK=$(mktemp -d); PORT=18300; BASE="http://127.0.0.1:$PORT"
env "$@" "$BIN" serve --bind 127.0.0.1 --port $PORT --data-dir "$WORK/d" >"$WORK/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
until curl -sf --max-time 2 "$BASE/ready" >/dev/null; do kill -0 $PID 2>/dev/null || { cat "$WORK/log" >&2; exit 1; }; sleep 0.2; done
boot() { python3 -c "import json;print(json.load(open('$WORK/d/bootstrap.json'))['$1'])"; }
KEY=$(boot api_key); TOKEN=$(boot admin_token); PROJECT=$(boot project_id)
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' /proc/$PID/stat; }
stored() {
  curl -sf -H "Authorization: Bearer $TOKEN" \
    "$BASE/api/v1/projects/$PROJECT/overview?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z" \
    | python3 -c "import json,sys;print(json.load(sys.stdin)['current']['events'])"
}
c0=$(cpu)
"$LOADGEN_BIN" loadgen --url "$BASE" --api-key "$KEY" --batch 100 --concurrency 32 --duration "$SECS" --json >"$WORK/r.json"
t0=$(date +%s.%N)
acked=$(python3 -c "import json;print(json.load(open('$WORK/r.json'))['events'])")
until [ "$(stored)" -ge "$acked" ]; do sleep 0.05; done
t1=$(date +%s.%N); c1=$(cpu)
python3 - "$WORK/r.json" "$t0" "$t1" "$c0" "$c1" "$LABEL" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); tail = float(sys.argv[3]) - float(sys.argv[2])
cpu = float(sys.argv[5]) - float(sys.argv[4])
print(f"{sys.argv[6]}: acknowledged {r['events_per_sec']:.0f} events/s, end to end "
      f"{r['events'] / (r['seconds'] + tail):.0f} events/s (tail {tail:.2f} s), "
      f"server {cpu * 1e6 / r['events']:.2f} us CPU per event, non-2xx {r['errors']}")
PY
