#!/usr/bin/env bash
# Where a DuckDB insert transaction spends its time: runs `tally loadgen --raw-data-dir`
# with the store's debug timings on and averages the `insert committed` phases;
# then counts the process's system calls (fsync among them) with strace.
# Usage: bench/commit-phases.sh [events per transaction] [seconds]
#   (needs a release build, and strace: apt-get install -y strace)
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=${1:-100}
SECS=${2:-4}
BIN=${CARGO_TARGET_DIR:-target}/release/tally
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TALLY_LOG=tally_duckdb=debug "$BIN" loadgen --raw-data-dir "$WORK/a" --batch "$BATCH" --duration "$SECS" 2>&1 \
  | sed 's/\x1b\[[0-9;]*m//g' | grep -o "append_us=[0-9]* commit_us=[0-9]*" \
  | awk -F'[= ]' '{a+=$2; c+=$4; n++; if ($4>m) m=$4} END {printf "%d transactions of %s events: mean append %.0f us, mean commit %.0f us, max commit %d us\n", n, "'"$BATCH"'", a/n, c/n, m}'
strace -f -c -o "$WORK/strace.txt" "$BIN" loadgen --raw-data-dir "$WORK/b" --batch "$BATCH" --duration "$SECS" >/dev/null 2>&1
echo "system calls (strace -c), top by time:"
sed -n 1,8p "$WORK/strace.txt"
grep -E " fsync$| fdatasync$" "$WORK/strace.txt" || true
