#!/usr/bin/env bash
# Scale-out ingest beside the embedded spool, in one run on this machine:
#   1. acknowledged events/s at batch 1 and batch 100 (native route), first for the
#      embedded deployment (spool + fsync), then for a capture node producing to
#      Apache Kafka (idempotent, acks=all) with a worker,api node consuming into
#      DuckDB; for both, the end-to-end rate (until every acknowledged event is
#      queryable);
#      Then the same with the worker storing into ClickHouse (Debian's
#      clickhouse-server, a throw-away one) and an API node apart reading it;
#      and the bytes on disk per stored event of both stores.
#   2. end-to-end lag (acknowledged -> queryable) at a steady load, p50/p99, for each:
#      bench/lag.py sends one probe event at a time beside a steady open-loop load
#      (LAG_RATE events/s, default 5000) and polls for it.
# The broker, PostgreSQL (metadata), the load generator and Tally share the
# machine's cores: the figures are for one 2-core machine, not a cluster.
# Usage: bench/kafka.sh [seconds per run]   (needs a release build: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
BIN=${CARGO_TARGET_DIR:-target}/release/tally
[ -x "$BIN" ] || { echo "no release build at $BIN: cargo build --release (with the same CARGO_TARGET_DIR)" >&2; exit 1; }
WORK=$(mktemp -d)
PG_DIR=$(mktemp -d /tmp/tally-bench-pg.XXXXXX)
CH_DIR=$(mktemp -d /tmp/tally-bench-ch.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  KAFKA_LIBS=${KAFKA_LIBS:-} bash scripts/kafka/broker.sh stop "$WORK/kafka" >/dev/null 2>&1 || true
  bash scripts/postgres.sh stop "$PG_DIR" >/dev/null 2>&1 || true
  bash scripts/clickhouse.sh stop "$CH_DIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
KAFKA_LIBS=$(bash scripts/kafka/fetch.sh)
export KAFKA_LIBS
BROKER=$(bash scripts/kafka/broker.sh start "$WORK/kafka")
PG=$(bash scripts/postgres.sh start "$PG_DIR")
CH=$(bash scripts/clickhouse.sh start "$CH_DIR")
echo "host speed probe: $(bash bench/host-speed.sh) s (bench/host-speed.sh: larger = slower host right now)"

# serve NAME PORT ARGS...: starts a node, waits for /ready.
serve() {
  local name=$1 port=$2; shift 2
  "$BIN" serve --bind 127.0.0.1 --port "$port" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  until curl -sf --max-time 2 "http://127.0.0.1:$port/ready" >/dev/null; do
    kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "$name exited; its log:" >&2; cat "$WORK/$name.log" >&2; exit 1; }
    sleep 0.2
  done
}
now() { date +%s.%N; }

# run LABEL CAPTURE_BASE READ_BASE DATA_DIR: the two loads and the lag probe.
run() {
  local label=$1 capture=$2 read_base=$3 data=$4
  KEY=$(python3 -c "import json;print(json.load(open('$data/bootstrap.json'))['api_key'])")
  TOKEN=$(python3 -c "import json;print(json.load(open('$data/bootstrap.json'))['admin_token'])")
  PROJECT=$(python3 -c "import json;print(json.load(open('$data/bootstrap.json'))['project_id'])")
  BASE=$read_base
  . bench/lib.sh
  for spec in "1 256" "100 32"; do
    set -- $spec
    before=$(stored)
    "$BIN" loadgen --url "$capture" --api-key "$KEY" --batch "$1" --concurrency "$2" --duration "$SECS" --json >"$WORK/report.json"
    ended=$(now)
    acked=$(python3 -c "import json;print(json.load(open('$WORK/report.json'))['events'])")
    until [ "$(stored)" -ge $((before + acked)) ]; do sleep 0.05; done
    python3 - "$WORK/report.json" "$ended" "$(now)" "$label" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
tail = float(sys.argv[3]) - float(sys.argv[2])
print(f"{sys.argv[4]}, batch {r['events'] // max(r['requests'], 1)}: acknowledged {r['events_per_sec']:.0f} events/s "
      f"({r['requests_per_sec']:.0f} req/s, p50 {r['p50_ms']:.2f} / p99 {r['p99_ms']:.2f} ms, non-2xx {r['errors']}); "
      f"all queryable {tail:.2f} s after -> end to end {r['events'] / (r['seconds'] + tail):.0f} events/s")
EOF
  done
  # Lag at the same steady load for both (open loop, well below either ceiling).
  python3 bench/lag.py --capture "$capture" --read "$read_base" --key "$KEY" --token "$TOKEN" \
    --project "$PROJECT" --seconds "$SECS" --rate "${LAG_RATE:-5000}" --label "$label"
}

# The embedded deployment.
serve embedded 18201 --data-dir "$WORK/embedded"
run "embedded (spool)" http://127.0.0.1:18201 http://127.0.0.1:18201 "$WORK/embedded"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# Scale-out: one capture node, one worker,api node, the broker, PostgreSQL.
export TALLY_METADATA_URL=$PG
QUEUE="kafka://$BROKER/bench-events?partitions=4"
serve worker 18202 --role worker,api --queue "$QUEUE" --data-dir "$WORK/worker"
serve capture 18203 --role capture --queue "$QUEUE"
run "kafka (capture node)" http://127.0.0.1:18203 http://127.0.0.1:18202 "$WORK/worker"
events=$(BASE=http://127.0.0.1:18202; . bench/lib.sh; stored)
echo "DuckDB: $(python3 -c "import os;print(round(os.path.getsize('$WORK/worker/events.duckdb') / $events, 1))") bytes on disk per event ($events events, events.duckdb after the runs, WAL not counted)"
kill "${PIDS[-1]}" "${PIDS[-2]}"; wait "${PIDS[-1]}" "${PIDS[-2]}" 2>/dev/null || true

# Scale-out onto ClickHouse: capture node, a worker storing into ClickHouse, an
# API node apart from it.
export TALLY_STORE="clickhouse://${CH#http://}/bench"
QUEUE="kafka://$BROKER/bench-ch-events?partitions=4"
serve api 18204 --role api --queue "$QUEUE" --data-dir "$WORK/api"
serve chworker 18205 --role worker --queue "$QUEUE" --data-dir "$WORK/chworker"
serve chcapture 18206 --role capture --queue "$QUEUE"
# Same PostgreSQL: the project and keys the first worker bootstrapped.
run "kafka -> ClickHouse (capture node, API node apart)" http://127.0.0.1:18206 http://127.0.0.1:18204 "$WORK/worker"
curl -s "$CH/?database=bench" --data-binary \
  "SELECT sum(rows), sum(bytes_on_disk), round(sum(bytes_on_disk) / sum(rows), 1) FROM system.parts WHERE database = 'bench' AND table = 'events' AND active FORMAT TSV" \
  | awk '{print "ClickHouse: " $3 " bytes on disk per event (" $1 " events, active parts of events; merges still running may shrink it)"}'
echo "host speed probe: $(bash bench/host-speed.sh) s"
