"""Tally's Python SDK against a real Tally: delivery, identity, retries through a
flaky proxy, a server that is down, and a bounded queue."""

import gzip
import http.server
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tally_sdk import Client


def run_id() -> str:
    return uuid.uuid4().hex[:12]


def test_events_arrive_with_their_properties_and_uuids(tally):
    who = f"py-{run_id()}"
    client = Client(tally.key, host=tally.url, flush_interval=0.2)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for i, event_id in enumerate(ids):
        assert client.capture(who, "order_paid", {"amount": 10.5 * (i + 1), "items": ["a", "b"]}, uuid=event_id)
    assert client.flush(timeout=10)
    stored = tally.wait_for(who, 3)
    assert sorted(e["uuid"] for e in stored) == sorted(ids)
    amounts = sorted(e["properties"]["amount"] for e in stored)
    assert amounts == [10.5, 21.0, 31.5]
    assert stored[0]["properties"]["$lib"] == "tally-python"
    assert (client.sent, client.dropped, client.failed) == (3, 0, 0)
    client.shutdown()


def test_identify_and_alias_join_ids_into_one_person(tally):
    anon, user, other = (f"{p}-{run_id()}" for p in ("anon", "user", "old"))
    client = Client(tally.key, host=tally.url, flush_interval=0.2)
    client.capture(anon, "$pageview")
    client.capture(other, "$pageview")
    assert client.flush(timeout=10)
    client.identify(user, {"email": "ann@example.com"}, anonymous_id=anon)
    client.alias(other, user)
    assert client.flush(timeout=10)
    client.shutdown()
    deadline = time.monotonic() + 15
    while True:
        try:
            person = tally.get(f"/persons/{user}")
        except urllib.error.HTTPError:
            person = {}
        ids = set(person.get("distinct_ids", []))
        if {anon, user, other} <= ids or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert {anon, user, other} <= ids, person
    assert person["properties"]["email"] == "ann@example.com"


class FlakyProxy:
    """Forwards to Tally, answering 503 (with Retry-After: 0) to the first
    `failures` requests; remembers what it saw."""

    def __init__(self, target: str, failures: int) -> None:
        self.target = target
        self.failures = failures
        self.seen = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                proxy.seen.append((dict(self.headers), body))
                if proxy.failures > 0:
                    proxy.failures -= 1
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "content-encoding", "x-api-key")}
                request = urllib.request.Request(proxy.target + self.path, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=10) as r:
                    reply = r.read()
                    status = r.status
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_a_503_is_retried_and_the_batch_stored_once(tally):
    who = f"retry-{run_id()}"
    proxy = FlakyProxy(tally.url, failures=2)
    client = Client(tally.key, host=proxy.url, flush_interval=0.2, backoff_base=0.05)
    for i in range(5):
        client.capture(who, "step", {"i": i})
    assert client.flush(timeout=15)
    client.shutdown()
    proxy.close()
    assert len(proxy.seen) == 3, "two 503s, then delivered"
    bodies = {body for _, body in proxy.seen}
    assert len(bodies) == 1, "the same batch (same uuids) each time"
    headers, body = proxy.seen[0]
    assert headers.get("Content-Encoding") == "gzip"
    assert b'"batch"' in gzip.decompress(body)
    stored = tally.wait_for(who, 5)
    assert len(stored) == 5
    time.sleep(0.5)
    assert len(tally.events(who)) == 5, "stored once"
    assert (client.sent, client.failed) == (5, 0)


def test_a_server_that_is_down_never_blocks_or_raises(tally):
    # Nothing listens on this port.
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    errors = []
    client = Client(
        tally.key,
        host=f"http://127.0.0.1:{port}",
        flush_interval=0.05,
        max_retries=2,
        backoff_base=0.01,
        on_error=lambda err, batch: errors.append((err, len(batch))),
    )
    started = time.monotonic()
    for i in range(50):
        assert client.capture("down", "e", {"i": i})
    assert time.monotonic() - started < 0.5, "capture never waits for the network"
    assert client.flush(timeout=10)
    assert client.failed == 50 and client.sent == 0
    assert errors and all(isinstance(e, Exception) for e, _ in errors)
    assert client.shutdown(timeout=1)


def test_the_queue_is_bounded_and_counts_what_it_drops(tally):
    # The sender is stuck retrying a server that is down; the queue fills.
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    client = Client(tally.key, host=f"http://127.0.0.1:{port}", max_queue=5, flush_at=1, backoff_base=5)
    accepted = [client.capture("full", "e") for _ in range(20)]
    # One may be out of the queue, in the sender's hands.
    assert 5 <= sum(accepted) <= 6
    assert client.dropped == 20 - sum(accepted)
    client.shutdown(timeout=0.5)
    assert client.capture("full", "after") is False, "a shut-down client drops"


def test_values_that_are_not_json_are_dropped_not_raised(tally):
    client = Client(tally.key, host=tally.url)
    assert client.capture("x", "e", {"bad": object()}) is False
    assert client.dropped == 1
    with pytest.raises(ValueError):
        Client("", host=tally.url)
    client.shutdown()
