#!/usr/bin/env bash
# Quick end-to-end figure for one build: a fresh server, SECS seconds of batch-100 load
# (32 clients), then the time until every acknowledged event is queryable, and the
# server's CPU per event over the whole run (load + tail). For A/B runs of two builds,
# alternate them: BIN=build-a bench/batch100.sh A 15; BIN=build-b bench/batch100.sh B 15; ...
# Usage: bench/batch100.sh LABEL [SECS] [ENV=VALUE ...]   (env assignments go to the server)
# BIN: the server build (default: the release build); LOADGEN_BIN: the load generator's.
# Also prints DuckDB's WAL per acknowledged event once all are stored, and, when the
# server runs with TALLY_LOG=info,tally_duckdb=debug, how many inserts were below one
# row group (122,880 rows: DuckDB logs those in its WAL) and the longest commits.
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
. "$(dirname "$0")/lib.sh"
probe=$(bash "$(dirname "$0")/host-speed.sh")
c0=$(cpu)
"$LOADGEN_BIN" loadgen --url "$BASE" --api-key "$KEY" --batch 100 --concurrency 32 --duration "$SECS" --json >"$WORK/r.json"
t0=$(date +%s.%N)
acked=$(python3 -c "import json;print(json.load(open('$WORK/r.json'))['events'])")
until [ "$(stored)" -ge "$acked" ]; do sleep 0.05; done
t1=$(date +%s.%N); c1=$(cpu)
python3 - "$WORK/r.json" "$t0" "$t1" "$c0" "$c1" "$LABEL" "$probe" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); tail = float(sys.argv[3]) - float(sys.argv[2])
cpu = float(sys.argv[5]) - float(sys.argv[4])
print(f"{sys.argv[6]}: acknowledged {r['events_per_sec']:.0f} events/s, end to end "
      f"{r['events'] / (r['seconds'] + tail):.0f} events/s (tail {tail:.2f} s), "
      f"server {cpu * 1e6 / r['events']:.2f} us CPU per event, non-2xx {r['errors']}, "
      f"host speed probe {sys.argv[7]} s")
PY
wal=$(stat -c %s "$WORK/d/events.duckdb.wal" 2>/dev/null || echo 0)
echo "  DuckDB WAL once all are stored: $((wal / 1048576)) MiB, $((wal / acked)) bytes per acknowledged event"
if grep -q "insert committed" "$WORK/log"; then
  sed 's/\x1b\[[0-9;]*m//g' "$WORK/log" | python3 -c '
import re, sys
rows = [(int(m.group(1)), int(m.group(2))) for m in
        (re.search(r"insert committed events=(\d+) .*commit_us=(\d+)", l) for l in sys.stdin) if m]
small = sum(1 for n, _ in rows if n < 122880)
commits = sorted((c for _, c in rows), reverse=True)
print(f"  inserts below a row group: {small} of {len(rows)}; longest commits "
      + ", ".join(f"{c / 1e3:.0f} ms" for c in commits[:3])
      + f"; all commits {sum(commits) / 1e6:.2f} s")'
fi
