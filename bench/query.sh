#!/usr/bin/env bash
# Query latency benchmark on a seeded dataset: hot latency (median and max of 10
# runs after 2 warm-ups) of overview, timeseries, top-events and an events page,
# plus bytes on disk per event, and every POST /query kind that has a 10M-event
# target (trends, funnel, retention, paths) plus unique sessions, lifecycle, stickiness, persons.
# Usage: bench/query.sh [events] [days]   (needs a release build: cargo build --release)
# BENCH_DATA_DIR=DIR: serve an already seeded data dir instead of seeding one (kept).
# BENCH_KINDS=dashboard: only the dashboard GETs and the two trends queries.
# BENCH_LIVE=1: at the end, store one event in the current hour in each of the 3,000
#   sessions that began last (within a day of the newest event; the data dir keeps them) and time the overview
#   again: what it costs while the current hour's sessions wait for compaction.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-10000000}
DAYS=${2:-30}
BIN=${CARGO_TARGET_DIR:-target}/release/tally
[ -x "$BIN" ] || { echo "no release build at $BIN: cargo build --release (with the same CARGO_TARGET_DIR)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
DATA="${BENCH_DATA_DIR:-$WORK/data}"
if [ -z "${BENCH_DATA_DIR:-}" ]; then
  /usr/bin/time -f "seed: %e s, max RSS %M KiB" "$BIN" seed --events "$EVENTS" --days "$DAYS" --data-dir "$DATA"
fi
BYTES=$(du -sb "$DATA/events.duckdb" | cut -f1)
python3 -c "print(f'disk: {$BYTES} bytes for {$EVENTS} events = {$BYTES/$EVENTS:.1f} B/event')"
PORT=18124
"$BIN" serve --bind 127.0.0.1 --port $PORT --data-dir "$DATA" >"$WORK/server.log" 2>&1 &
PID=$!
START=$(date +%s.%N)
until curl -sf --max-time 2 "http://127.0.0.1:$PORT/ready" >/dev/null; do kill -0 $PID 2>/dev/null || { echo "server exited; its log:" >&2; cat "$WORK/server.log" >&2; exit 1; }; sleep 0.1; done
python3 -c "print(f'start-up to ready (rebuilds the dedup index): {$(date +%s.%N)-$START:.2f} s')"
echo "rss after start: $(awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' /proc/$PID/status)"
ADMIN=$(python3 -c "import json;print(json.load(open('$DATA/bootstrap.json'))['admin_token'])")
P=$(python3 -c "import json;print(json.load(open('$DATA/bootstrap.json'))['project_id'])")
FROM=$(date -u -d "-$DAYS days" +%Y-%m-%dT%H:%M:%SZ)
BASE="http://127.0.0.1:$PORT/api/v1/projects/$P"
FROM7=$(date -u -d "-7 days" +%Y-%m-%dT%H:%M:%SZ)
time_get() {
  times=()
  for i in $(seq 12); do
    t=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $ADMIN" "$BASE/$1")
    [ "$i" -gt 2 ] && times+=("$t")
  done
  printf '%s\n' "${times[@]}" | python3 -c "
import sys,statistics; v=[float(x)*1000 for x in sys.stdin]
print(f'{sys.argv[1]:70s} median {statistics.median(v):7.1f} ms  max {max(v):7.1f} ms')" "$1"
}
for q in "overview?from=$FROM" "timeseries?interval=day&from=$FROM" "timeseries?interval=day&math=unique_users&from=$FROM" \
         "timeseries?interval=hour&event=%24pageview&tz=America%2FNew_York" "top-events?from=$FROM" "events?limit=100" \
         "events?limit=100&event=purchase" "sessions?from=$FROM7&limit=50" "sessions?from=$FROM&limit=50" \
         "sessions?from=$FROM&limit=50&sort=duration" "sessions?from=$FROM&limit=50&offset=1000" \
         "sessions?from=$FROM7&limit=50&include_bots=true" "sessions?from=$FROM&limit=50&include_bots=true"; do
  time_get "$q"
done
# Analytics queries (POST /query), same timing.
TO=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for body in \
  "{\"kind\":\"trends\",\"date_from\":\"$FROM\",\"date_to\":\"$TO\",\"series\":[{\"event\":\"\$pageview\",\"math\":\"unique_persons\"}]}" \
  "{\"kind\":\"trends\",\"date_from\":\"$FROM\",\"date_to\":\"$TO\",\"series\":[{\"event\":\"\$pageview\"}],\"breakdown\":{\"property\":\"\$browser\"}}" \
  "{\"kind\":\"trends\",\"date_from\":\"$FROM\",\"date_to\":\"$TO\",\"series\":[{\"event\":\"\$pageview\",\"filters\":{\"key\":\"\$browser\",\"operator\":\"eq\",\"value\":\"Chrome\"}}]}" \
  ${BENCH_KINDS:+"STOP"} \
  "{\"kind\":\"funnel\",\"date_from\":\"$FROM\",\"date_to\":\"$TO\",\"conversion_window_secs\":86400,\"steps\":[{\"event\":\"\$pageview\"},{\"event\":\"signup_started\"},{\"event\":\"signup_completed\"},{\"event\":\"purchase\"}]}" \
  "{\"kind\":\"trends\",\"date_from\":\"$FROM\",\"date_to\":\"$TO\",\"series\":[{\"event\":\"\$pageview\",\"math\":\"unique_sessions\"}]}" \
  "{\"kind\":\"retention\",\"period\":\"week\",\"periods\":8,\"date_to\":\"$TO\"}" \
  "{\"kind\":\"paths\",\"date_from\":\"$FROM\",\"date_to\":\"$TO\",\"start_point\":\"/\",\"steps\":3}" \
  "{\"kind\":\"lifecycle\",\"date_from\":\"$FROM\",\"date_to\":\"$TO\",\"event\":{\"event\":\"\$pageview\"}}" \
  "{\"kind\":\"stickiness\",\"date_from\":\"$FROM\",\"date_to\":\"$TO\",\"event\":{\"event\":\"\$pageview\"}}" \
  "{\"kind\":\"persons\",\"limit\":100}"; do
  [ "$body" = STOP ] && break
  # A benchmark of an error answer would mean nothing: the first run must be a 200.
  code=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' -d "$body" "$BASE/query")
  [ "$code" = 200 ] || { echo "query answered $code: $(head -c 300 "$WORK/answer.json")"; exit 1; }
  times=()
  for i in $(seq 12); do
    t=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' -d "$body" "$BASE/query")
    [ "$i" -gt 2 ] && times+=("$t")
  done
  printf '%s\n' "${times[@]}" | python3 -c "
import sys,statistics; v=[float(x)*1000 for x in sys.stdin]
print(f'{sys.argv[1][:110]:110s} median {statistics.median(v):7.1f} ms  max {max(v):7.1f} ms')" "$(echo "$body" | sed "s/$FROM/FROM/; s/$TO/TO/")"
done
echo "rss after queries: $(awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' /proc/$PID/status)"
if [ -n "${BENCH_LIVE:-}" ]; then
  KEY=$(python3 -c "import json;print(json.load(open('$DATA/bootstrap.json'))['api_key'])")
  LAST=$(curl -s -H "Authorization: Bearer $ADMIN" "$BASE/events?limit=1" | python3 -c "import json,sys;print(json.load(sys.stdin)['results'][0]['timestamp'])")
  HOUR=$(python3 -c "import sys,datetime as d;t=d.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00'));print((t-d.timedelta(hours=24)).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$LAST")
  for offset in 0 1000 2000; do
    curl -s -H "Authorization: Bearer $ADMIN" "$BASE/sessions?from=$HOUR&limit=1000&offset=$offset"
    echo
  done | python3 -c "
import json,sys,datetime as d
now=d.datetime.now(d.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
batch=[{'event':'\$pageview','distinct_id':s['distinct_id'],'timestamp':now,'properties':{'\$session_id':s['id'],'\$current_url':'https://example.com/live'}}
       for line in sys.stdin if line.strip() for s in json.loads(line)['results']]
json.dump({'batch':batch},open('$WORK/live.json','w')); print(f'live: {len(batch)} events in as many sessions, stored now')"
  curl -s -H "X-API-Key: $KEY" -H 'content-type: application/json' --data @"$WORK/live.json" "http://127.0.0.1:$PORT/api/v1/capture" >/dev/null
  time_get "overview?from=$FROM"
fi
