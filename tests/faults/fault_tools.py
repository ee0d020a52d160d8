"""What the fault tests share: a PostgreSQL database of their own that can be taken away and
given back, a burst of plans fired at a real ``utm serve``, and the checks that every
acknowledged plan is whole after the fault.

Not a test module (no ``test_`` prefix). The nodes are started by ``tests/multinode/
utm_cluster.py`` and the wire checker is ``tests/utm/checks.py``; both folders are put on
``sys.path`` here.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS / "multinode", TESTS / "utm"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from checks import check_invariants, holding_docs  # noqa: E402
from utm_cluster import ADMIN_TOKEN, CITIES, Node, bearer, operator_token  # noqa: E402

from airspace.timing import format_instant  # noqa: E402

POSTGRES_URL = os.environ.get("UTM_TEST_POSTGRES_URL")
SKIP_POSTGRES = ("set UTM_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/utm_test)"
                 " to run the PostgreSQL fault tests")

PAIRS: tuple[tuple[str, str], ...] = (
    ("CD-TFS", "CD-WCH"), ("CD-WCH", "CD-TFS"), ("CD-SCU", "CD-WCH"), ("CD-CXR", "CD-TFS"),
    ("CD-PPH", "CD-TCM"), ("DY-CTR", "DY-PPH"), ("MS-CTR", "MS-PPH"), ("ZY-CTR", "ZY-PPH"),
)
"""Short routes in every city; several share pads, so the burst contends (later departures,
rejections) as real traffic does."""


# -- a PostgreSQL database of the test's own ---------------------------------------------------


def database_url(base_url: str, name: str) -> str:
    """``base_url`` pointing at database ``name`` (same server, user and options)."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(base_url: str) -> Any:
    import psycopg

    return psycopg.connect(base_url, autocommit=True)


def terminate_sessions(base_url: str, name: str) -> None:
    """End every session on database ``name`` and wait until the server has let them go."""
    with _admin(base_url) as connection:
        for _ in range(200):
            connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                               " WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            left = connection.execute("SELECT count(*) FROM pg_stat_activity"
                                      " WHERE datname = %s", (name,)).fetchone()
            if left is not None and left[0] == 0:
                return
            time.sleep(0.05)
    raise RuntimeError(f"sessions on {name} did not end")


@contextmanager
def fresh_database(base_url: str) -> Iterator[tuple[str, str]]:
    """A new, empty database (with ``btree_gist``) on the test server: (name, URL). Dropped
    afterwards, whoever is still connected. The shared server itself is never stopped."""
    name = f"utm_fault_{uuid.uuid4().hex[:12]}"
    with _admin(base_url) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    try:
        import psycopg

        url = database_url(base_url, name)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        yield name, url
    finally:
        with _admin(base_url) as connection:
            connection.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def take_database_away(base_url: str, name: str) -> None:
    """The database goes away: no new connection is accepted and every open one is cut (as
    when its server stops or the network between them fails)."""
    with _admin(base_url) as connection:
        connection.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    terminate_sessions(base_url, name)


def give_database_back(base_url: str, name: str) -> None:
    """The database comes back: connections are accepted again."""
    with _admin(base_url) as connection:
        connection.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


# -- a burst of plans --------------------------------------------------------------------------


def plan_body(number: int, day: datetime, prefix: str) -> dict[str, Any]:
    """The ``number``-th plan of a burst: commercial light drones (no emergency, so no
    acknowledged plan is preempted later), departures spread over the day, short windows."""
    origin, destination = PAIRS[number % len(PAIRS)]
    departure = day + timedelta(minutes=3 * (number // len(PAIRS)) % 600)
    return {
        "origin": {"vertiport": origin}, "destination": {"vertiport": destination},
        "earliest_departure_time": format_instant(departure),
        "latest_departure_time": format_instant(departure + timedelta(minutes=5)),
        "drone": {"id": f"{prefix}{number:05d}", "category": "light"},
        "priority": "commercial", "purpose": "parcel",
    }


@dataclass(slots=True)
class Burst:
    """Threads filing plans at one node until stopped, recording every answer.

    ``acknowledged`` holds the body of every 201 answer (what the node promised); the other
    answers are counted by status; transport errors (the node killed) end a thread's work.
    """

    url: str
    day: datetime
    prefix: str
    threads: int = 8
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    transport_errors: int = 0
    _next: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index,), daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self, timeout_s: float = 90.0) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=timeout_s)

    def wait_for(self, acknowledged: int, timeout_s: float) -> None:
        """Until at least ``acknowledged`` plans got their 201."""
        deadline = time.monotonic() + timeout_s
        while len(self.acknowledged) < acknowledged:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.acknowledged)} plans acknowledged in "
                                     f"{timeout_s:.0f} s (statuses {self.statuses}, "
                                     f"unexpected {self.unexpected[:3]})")
            time.sleep(0.02)

    def _run(self, index: int) -> None:
        city = CITIES[index % len(CITIES)]
        with httpx.Client(timeout=60.0) as client:
            while not self._stop.is_set():
                with self._lock:
                    number, self._next = self._next, self._next + 1
                try:
                    response = client.post(f"{self.url}/v1/flight-plans",
                                           json=plan_body(number, self.day, self.prefix),
                                           headers=bearer(operator_token(city)))
                except httpx.HTTPError:
                    with self._lock:
                        self.transport_errors += 1
                    time.sleep(0.05)
                    continue
                with self._lock:
                    self.statuses[response.status_code] = (
                        self.statuses.get(response.status_code, 0) + 1)
                    if response.status_code == 201:
                        answer = response.json()
                        self.acknowledged[answer["id"]] = answer
                    elif response.status_code != 503:
                        self.unexpected.append(f"{response.status_code}: {response.text[:300]}")
                if response.status_code == 503:  # honour Retry-After, shortened for a test
                    time.sleep(min(float(response.headers.get("Retry-After", "1")), 0.2)
                               * random.uniform(0.5, 1.0))


# -- after the fault --------------------------------------------------------------------------


def same_decision(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same state, approval, departure, volumes and pad slots (both in their wire form)."""
    return all(a.get(key) == b.get(key) for key in
               ("state", "approval_id", "departure_time", "volumes", "pad_slots"))


def all_flights(client: httpx.Client, node: Node) -> list[dict[str, Any]]:
    """Every flight plan on the node, as the admin sees them (all pages)."""
    flights: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 500}
    while True:
        response = client.get(f"{node.url}/v1/flight-plans", params=params,
                              headers=bearer(ADMIN_TOKEN))
        assert response.status_code == 200, response.text
        page = response.json()
        flights += page["items"]
        if not page["next_cursor"]:
            return flights
        params["cursor"] = page["next_cursor"]


def assert_acknowledged_intact(client: httpx.Client, node: Node,
                               acknowledged: dict[str, dict[str, Any]]) -> None:
    """Every plan answered 201 reads back as answered, and its approval verifies."""
    for flight_id, answer in acknowledged.items():
        response = client.get(f"{node.url}/v1/flight-plans/{flight_id}",
                              headers=bearer(ADMIN_TOKEN))
        assert response.status_code == 200, f"acknowledged {flight_id} was lost: {response.text}"
        stored = response.json()
        assert same_decision(stored, answer), f"{flight_id} changed: {stored} != {answer}"
        if answer["approval_id"]:
            check = client.get(f"{node.url}/v1/approvals/{answer['approval_id']}")
            assert check.status_code == 200, check.text
            assert check.json()["valid"] is True, check.json()


def assert_nothing_half_written(flights: list[dict[str, Any]]) -> None:
    """No flight holds airspace without its volumes and pad slots, none is approved without
    an approval id, and the independent checker finds no violation among them."""
    for doc in holding_docs(flights):
        assert doc["volumes"], f"{doc['id']} is {doc['state']} without volumes"
        assert doc["pad_slots"], f"{doc['id']} is {doc['state']} without pad slots"
    for doc in flights:
        if doc["state"] == "approved":
            assert doc["approval_id"], f"{doc['id']} is approved without an approval id"
    violations = check_invariants(flights)
    assert not violations, f"{len(violations)} violations:\n" + "\n".join(violations[:20])
