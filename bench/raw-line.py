"""Prints one line of a `tally loadgen --raw-data-dir ... --json` report (stdin)."""
import json
import sys

r = json.load(sys.stdin)
print(
    f"{r['requests']} transactions, {r['events']} events in {r['seconds']:.1f} s of inserts: "
    f"{r['events_per_sec']:.0f} events/s; latency p50 {r['p50_ms']:.2f} / p95 {r['p95_ms']:.2f} / "
    f"p99 {r['p99_ms']:.2f} / max {r['max_ms']:.2f} ms"
)
