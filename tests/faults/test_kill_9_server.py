"""Invariant 3 over HTTP: kill -9 of ``utm serve`` in the middle of a burst of submissions,
on SQLite and on PostgreSQL, loses no acknowledged plan and leaves no half-written one.

A real server (``python -m api.cli serve`` on a loopback port) takes plans from eight client
threads; once enough have been answered 201 it is killed with SIGKILL while requests are in
flight. A new server on the same database must then show every plan answered 201 exactly as
answered (state, departure, volumes, pad slots), with approvals that verify; every flight in
the database (also those whose 201 never reached the client) must be whole, and the
independent checker (``tests/utm/checks.py``) must find no violation. The restarted node
then takes new plans, around the recovered ones.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fault_tools import (
    POSTGRES_URL,
    SKIP_POSTGRES,
    Burst,
    all_flights,
    assert_acknowledged_intact,
    assert_nothing_half_written,
    fresh_database,
    plan_body,
)
from utm_cluster import ADMIN_TOKEN, bearer, planning_day, running_nodes, write_principals

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ACKNOWLEDGED_BEFORE_KILL = 25
BURST_PREFIX = "kill9-"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'utm.sqlite'}"
        return
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    with fresh_database(POSTGRES_URL) as (_, url):
        yield url


def test_kill_9_mid_burst_loses_no_acknowledged_plan(database: str, tmp_path: Path) -> None:
    principals = write_principals(tmp_path / "principals.json")
    day = planning_day()
    client = httpx.Client(timeout=30.0)
    try:
        with running_nodes(["first"], database, principals, tmp_path / "logs") as nodes:
            node = nodes[0]
            burst = Burst(node.url, day, BURST_PREFIX)
            burst.start()
            try:
                burst.wait_for(ACKNOWLEDGED_BEFORE_KILL, timeout_s=90.0)
                os.kill(node.process.pid, signal.SIGKILL)  # requests are in flight
                assert node.process.wait(timeout=30) == -signal.SIGKILL
            finally:
                burst.stop()
        acknowledged = dict(burst.acknowledged)
        assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL
        assert not burst.unexpected, burst.unexpected[:5]
        assert burst.transport_errors > 0, "the kill landed after the burst, not during it"

        if database.startswith("sqlite:///"):
            path = database.removeprefix("sqlite:///")
            with sqlite3.connect(path) as connection:
                assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

        with running_nodes(["restarted"], database, principals, tmp_path / "logs2") as nodes:
            node = nodes[0]
            assert_acknowledged_intact(client, node, acknowledged)
            flights = all_flights(client, node)
            burst_ids = {doc["id"] for doc in flights
                         if doc["drone"]["id"].startswith(BURST_PREFIX)}
            assert set(acknowledged) <= burst_ids
            # Committed but unanswered: at most one per client thread (its request in flight).
            assert len(burst_ids - set(acknowledged)) <= burst.threads
            assert_nothing_half_written(flights)
            print(f"{len(acknowledged)} acknowledged before the kill, "
                  f"{len(burst_ids - set(acknowledged))} committed but unanswered, "
                  f"{burst.transport_errors} requests cut; statuses {burst.statuses}")

            # The restarted node decides again, around what it recovered.
            response = client.post(f"{node.url}/v1/flight-plans",
                                   json=plan_body(0, day, "after-kill-") | {
                                       "operator_id": "op-chengdu"},
                                   headers=bearer(ADMIN_TOKEN))
            assert response.status_code == 201, response.text
            assert_nothing_half_written(all_flights(client, node))
    finally:
        client.close()
