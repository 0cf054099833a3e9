"""End-to-end lag probe: beside a steady background load at a fixed rate (batches
of 100 events, open loop, so every deployment gets the same load), sends one
probe event at a time to a capture URL and measures how long after its
acknowledgement it can be read back through the events API (acknowledged ->
queryable). Prints p50/p99/max over the probes. Used by bench/kafka.sh; standard
library only."""

import argparse
import json
import threading
import time
import urllib.request
import uuid


def post(url, body, headers):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
        return r.status


def found(read_base, project, token, distinct_id):
    url = f"{read_base}/api/v1/projects/{project}/events?limit=1&distinct_id={distinct_id}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return len(json.load(r)["results"]) > 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--capture", required=True)
    p.add_argument("--read", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--project", required=True)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--label", default="")
    p.add_argument("--rate", type=int, default=5000, help="background events/s")
    a = p.parse_args()
    headers = {"X-API-Key": a.key, "Content-Type": "application/json"}
    stop = threading.Event()
    sent = [0]

    def steady():
        # 100 events every 100/rate seconds, on schedule (not after each answer).
        interval = 100 / a.rate
        next_at = time.monotonic()
        while not stop.is_set():
            body = {"batch": [{"event": "steady", "distinct_id": f"s{i}"} for i in range(100)]}
            if post(f"{a.capture}/api/v1/capture", body, headers) == 200:
                sent[0] += 100
            next_at += interval
            time.sleep(max(0, next_at - time.monotonic()))

    loaders = [threading.Thread(target=steady)]
    for t in loaders:
        t.start()
    started = time.monotonic()
    lags = []
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        probe = f"lag-probe-{uuid.uuid4().hex}"
        status = post(
            f"{a.capture}/api/v1/capture",
            {"event": "lag_probe", "distinct_id": probe},
            headers,
        )
        assert status == 200, status
        acked = time.monotonic()
        while not found(a.read, a.project, a.token, probe):
            time.sleep(0.005)
        lags.append(time.monotonic() - acked)
    stop.set()
    for t in loaders:
        t.join()
    rate = sent[0] / (time.monotonic() - started)
    lags.sort()
    pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] * 1000
    print(
        f"{a.label}: lag acknowledged -> queryable over {len(lags)} probes: "
        f"p50 {pick(0.5):.0f} ms, p99 {pick(0.99):.0f} ms, max {lags[-1] * 1000:.0f} ms "
        f"(steady load beside them: {rate:.0f} events/s)"
    )


if __name__ == "__main__":
    main()
