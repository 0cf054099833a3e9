"""The client: a bounded queue in front of one sender thread.

Guarantees:
- ``capture``/``identify``/``alias`` never block on the network and never raise;
  they return False when the event was dropped (queue full, client shut down, or
  an argument that cannot be sent).
- Each event gets its uuid when captured, so retrying a batch never counts an
  event twice (Tally stores a uuid once).
- A batch is retried on network errors, 5xx and 429 with exponential backoff
  (``Retry-After`` honoured), at most ``max_retries`` times; 4xx answers other
  than 429 are not retried (the events are invalid and would stay so).
"""

from __future__ import annotations

import atexit
import datetime as _dt
import gzip
import json
import logging
import queue
import random
import threading
import time
import urllib.error
import urllib.request
import uuid as _uuid
from typing import Any, Callable, Mapping, Optional

log = logging.getLogger("tally_sdk")

_USER_AGENT = "tally-sdk-python/0.1.0"


class Client:
    def __init__(
        self,
        api_key: str,
        host: str = "http://localhost:8000",
        *,
        flush_at: int = 100,
        flush_interval: float = 2.0,
        max_queue: int = 10_000,
        max_retries: int = 8,
        timeout: float = 10.0,
        gzip: bool = True,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        on_error: Optional[Callable[[Exception, list], None]] = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        self.api_key = api_key
        self.endpoint = host.rstrip("/") + "/api/v1/capture"
        self.flush_at = max(1, min(flush_at, 1000))
        self.flush_interval = flush_interval
        self.max_retries = max_retries
        self.timeout = timeout
        self.gzip = gzip
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.on_error = on_error
        #: Events dropped because the queue was full or the client was shut down.
        self.dropped = 0
        #: Events given up after ``max_retries`` or refused by the server.
        self.failed = 0
        #: Events the server acknowledged.
        self.sent = 0
        self._queue: "queue.Queue[dict]" = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._stop = threading.Event()
        self._flush_now = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="tally-sdk", daemon=True)
        self._thread.start()
        atexit.register(self.shutdown)

    # ---- the caller's side: never blocks, never raises ----

    def capture(
        self,
        distinct_id: str,
        event: str,
        properties: Optional[Mapping[str, Any]] = None,
        *,
        timestamp: Optional[_dt.datetime] = None,
        uuid: Optional[str] = None,
    ) -> bool:
        """Queues one event; False when it was dropped."""
        try:
            if timestamp is None:
                timestamp = _dt.datetime.now(_dt.timezone.utc)
            elif timestamp.tzinfo is None:
                timestamp = timestamp.replace(tzinfo=_dt.timezone.utc)
            message = {
                "event": str(event),
                "distinct_id": str(distinct_id),
                "uuid": str(uuid or _uuid.uuid4()),
                "timestamp": timestamp.isoformat(),
                "properties": {**(properties or {}), "$lib": "tally-python", "$lib_version": "0.1.0"},
            }
            # Fail here, not in the sender, on something that cannot be JSON.
            json.dumps(message, default=_json_default)
        except Exception as err:  # noqa: BLE001 - the caller must never see it
            log.warning("tally: event not captured: %s", err)
            self._count("dropped", 1)
            return False
        if self._closed:
            self._count("dropped", 1)
            return False
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self._count("dropped", 1)
            return False
        return True

    def identify(
        self,
        distinct_id: str,
        properties: Optional[Mapping[str, Any]] = None,
        *,
        anonymous_id: Optional[str] = None,
    ) -> bool:
        """Sets person properties; with ``anonymous_id``, links that id's events to this person."""
        props: dict = {"$set": dict(properties or {})}
        if anonymous_id:
            props["$anon_distinct_id"] = str(anonymous_id)
        return self.capture(distinct_id, "$identify", props)

    def alias(self, previous_id: str, distinct_id: str) -> bool:
        """Makes ``previous_id`` another id of the person ``distinct_id``."""
        return self.capture(distinct_id, "$create_alias", {"alias": str(previous_id)})

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every queued event is delivered or given up; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._flush_now.set()
        try:
            with self._idle:
                while self._queue.unfinished_tasks > 0:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._idle.wait(0.05 if left is None else min(0.05, left))
            return True
        finally:
            self._flush_now.clear()

    def shutdown(self, timeout: Optional[float] = 30.0) -> bool:
        """Delivers what is queued (within ``timeout``), then stops the sender."""
        if self._closed:
            return True
        self._closed = True
        done = self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout=1.0)
        return done

    # ---- the sender thread ----

    def _count(self, name: str, n: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def _next_batch(self) -> list:
        """Up to ``flush_at`` events: waits at most ``flush_interval`` for a batch
        to fill, less when someone is flushing."""
        batch: list = []
        try:
            batch.append(self._queue.get(timeout=0.1))
        except queue.Empty:
            return batch
        deadline = time.monotonic() + self.flush_interval
        while len(batch) < self.flush_at:
            left = deadline - time.monotonic()
            try:
                if self._flush_now.is_set() or self._closed or left <= 0:
                    batch.append(self._queue.get_nowait())
                else:
                    batch.append(self._queue.get(timeout=min(left, 0.05)))
            except queue.Empty:
                if self._flush_now.is_set() or self._closed or left <= 0:
                    break
        return batch

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.unfinished_tasks == 0):
            batch = self._next_batch()
            if not batch:
                continue
            try:
                self._deliver(batch)
            except Exception as err:  # noqa: BLE001 - the thread must survive anything
                log.warning("tally: batch lost: %s", err)
                self._count("failed", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
                with self._idle:
                    self._idle.notify_all()

    def _deliver(self, batch: list) -> None:
        body = json.dumps({"batch": batch}, default=_json_default).encode()
        headers = {
            "Content-Type": "application/json",
            "X-API-Key": self.api_key,
            "User-Agent": _USER_AGENT,
        }
        if self.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        attempt = 0
        while True:
            error: Optional[Exception] = None
            retry_after: Optional[float] = None
            try:
                request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    reply = json.loads(response.read() or b"{}")
                rejected = len(reply.get("rejected", []))
                self._count("sent", len(batch) - rejected)
                if rejected:
                    log.warning("tally: %d events rejected: %s", rejected, reply.get("rejected"))
                    self._count("failed", rejected)
                return
            except urllib.error.HTTPError as err:
                if err.code != 429 and err.code < 500:
                    # Invalid as sent; retrying cannot help.
                    log.warning("tally: batch refused (%s): %s", err.code, _read(err))
                    self._count("failed", len(batch))
                    self._report(err, batch)
                    return
                error = err
                retry_after = _retry_after(err)
            except (urllib.error.URLError, OSError, ValueError) as err:
                error = err
            attempt += 1
            if attempt > self.max_retries:
                log.warning("tally: giving up on %d events after %d tries: %s", len(batch), attempt, error)
                self._count("failed", len(batch))
                self._report(error, batch)
                return
            delay = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
            delay = delay * (0.5 + random.random() / 2)
            if retry_after is not None:
                delay = max(delay, retry_after)
            # A shutdown whose time is up stops waiting for a server that is not there.
            if self._stop.wait(delay):
                log.warning("tally: shut down with %d events undelivered", len(batch))
                self._count("failed", len(batch))
                return

    def _report(self, error: Optional[Exception], batch: list) -> None:
        if self.on_error and error is not None:
            try:
                self.on_error(error, batch)
            except Exception:  # noqa: BLE001
                log.exception("tally: on_error raised")


def _retry_after(err: urllib.error.HTTPError) -> Optional[float]:
    value = err.headers.get("Retry-After") if err.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _read(err: urllib.error.HTTPError) -> str:
    try:
        return err.read().decode(errors="replace")[:500]
    except Exception:  # noqa: BLE001
        return ""


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, _uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
