"""Drives the real segment-analytics-python SDK against a Tally server.

Usage: python segment_python.py HOST WRITE_KEY RUN_ID
Sends track (with context: campaign, page, locale), identify, page, screen, group
and alias through one client (batched), then the same track again with the same
messageId (a retry), and a gzip client's track. Prints the messageIds it used.
"""
import json
import sys
from datetime import datetime, timezone

from segment.analytics import Client

host, key, run = sys.argv[1], sys.argv[2], sys.argv[3]
user, anon = f"seg-{run}", f"seg-anon-{run}"
ids = {k: f"{k}-{run}" for k in ("track", "identify", "page", "screen", "group", "alias", "gzip")}


def fail(err, batch):
    sys.exit(f"SDK error: {err}")


client = Client(key, host=host, on_error=fail, max_retries=0)
client.track(user, "Order Completed", {"revenue": 39.95, "currency": "CHF", "items": [{"sku": "A1"}]},
             context={"campaign": {"source": "newsletter", "medium": "email", "name": "winter"},
                      "page": {"url": "https://shop.example/done", "path": "/done"},
                      "locale": "de-CH"},
             timestamp=datetime(2026, 11, 22, 9, 45, tzinfo=timezone.utc),
             anonymous_id=anon, message_id=ids["track"])
client.identify(user, {"email": f"{user}@example.com", "plan": "pro"}, anonymous_id=anon,
                message_id=ids["identify"])
client.page(user, "Docs", "Getting Started",
            {"url": "https://docs.example/start?x=1", "path": "/start", "referrer": "https://www.google.com/"},
            message_id=ids["page"])
client.screen(user, "Onboarding", "Welcome", {"step": 1}, message_id=ids["screen"])
client.group(user, f"org-{run}", {"name": "Acme", "seats": 12}, message_id=ids["group"])
client.alias(anon, user, message_id=ids["alias"])
client.flush()
# A retry of the first call: same messageId, must not be counted twice.
client.track(user, "Order Completed", {"revenue": 39.95}, message_id=ids["track"])
client.flush()
client.join()

zipped = Client(key, host=host, on_error=fail, max_retries=0, gzip=True)
zipped.track(user, "Zipped", {"ok": True}, message_id=ids["gzip"])
zipped.flush()
zipped.join()
print(json.dumps(ids))
