#!/usr/bin/env bash
# Prints how many seconds this host takes, right now, for a fixed single-threaded job
# (ten million iterations of a Python loop). On a shared VM the figure moves by about
# ±10 % from one minute to the next, and throughput moves with it (session 20: the
# same build gave 166k–287k events/s end to end at batch 100). The benchmark scripts
# print it next to their results so that runs can be compared for what the host gave.
# Usage: bench/host-speed.sh
set -euo pipefail
python3 - <<'PY'
import time
started = time.perf_counter()
total = 0
for i in range(10_000_000):
    total += i
print(f"{time.perf_counter() - started:.3f}")
PY
