"""Drives the real posthog-python SDK against a Tally server.

Usage: python posthog_python.py HOST TOKEN RUN_ID
Sends, through two clients (plain JSON, and gzip), a capture with typed
properties, a $set, a $set_once, an alias, a group identify, and a burst of
captures that the SDK batches; then flushes. Prints, as one JSON object, the
uuid the SDK gave each call, so the caller can read exactly these events back.
"""
import json
import sys
from datetime import datetime, timezone

from posthog import Posthog

host, token, run = sys.argv[1], sys.argv[2], sys.argv[3]
sent = {}


def client(gzip):
    return Posthog(token, host=host, gzip=gzip, flush_at=50, flush_interval=0.2,
                   max_retries=0, enable_exception_autocapture=False,
                   on_error=lambda e, batch: sys.exit(f"SDK error: {e}"))


plain = client(gzip=False)
user = f"py-{run}"
sent["capture"] = plain.capture(
    "purchase", distinct_id=user,
    properties={"price": 12.5, "qty": 3, "vip": True, "tags": ["a", "b"],
                "address": {"city": "Zürich"}, "$current_url": "https://shop.example/checkout"},
    timestamp=datetime(2026, 11, 22, 9, 30, tzinfo=timezone.utc))
sent["set"] = plain.set(distinct_id=user, properties={"email": f"{user}@example.com"})
sent["set_once"] = plain.set_once(distinct_id=user, properties={"first_plan": "free"})
sent["alias"] = plain.alias(previous_id=f"anon-{run}", distinct_id=user)
sent["group"] = plain.group_identify("company", f"acme-{run}", {"seats": 40}, distinct_id=user)
plain.flush()
plain.shutdown()

zipped = client(gzip=True)
sent["burst"] = [zipped.capture("burst", distinct_id=f"py-burst-{run}", properties={"i": i})
                 for i in range(30)]
zipped.flush()
zipped.shutdown()
print(json.dumps(sent))
