"""The Tally these tests talk to: started by crates/tally/tests/python_sdk.rs,
which passes its address and keys in the environment."""

import json
import os
import time
import urllib.request

import pytest


class Tally:
    def __init__(self) -> None:
        try:
            self.url = os.environ["TALLY_TEST_URL"]
            self.key = os.environ["TALLY_TEST_KEY"]
            self.admin = os.environ["TALLY_TEST_ADMIN"]
            self.project = os.environ["TALLY_TEST_PROJECT"]
        except KeyError as missing:
            raise RuntimeError(
                f"{missing} is not set: these tests run against a real Tally, "
                "started by crates/tally/tests/python_sdk.rs (bash scripts/test.sh)"
            ) from None

    def get(self, path: str) -> dict:
        request = urllib.request.Request(
            f"{self.url}/api/v1/projects/{self.project}{path}",
            headers={"Authorization": f"Bearer {self.admin}"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())

    def events(self, distinct_id: str) -> list:
        return self.get(f"/events?distinct_id={distinct_id}&limit=1000")["results"]

    def wait_for(self, distinct_id: str, count: int, timeout: float = 15.0) -> list:
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(distinct_id)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@pytest.fixture(scope="session")
def tally() -> Tally:
    return Tally()
