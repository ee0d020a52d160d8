"""The PostgreSQL database goes away under a running ``utm serve`` and comes back.

The test owns its database (``CREATE DATABASE utm_fault_...``) and takes it away the way a
server stop or a network cut does for the node: no new connection is accepted
(``ALLOW_CONNECTIONS false``) and every open one is cut (``pg_terminate_backend``). The shared
PostgreSQL server is never stopped. While the database is away the node answers 503 with
``Retry-After`` as ``application/problem+json`` (never a 500, never a hang), a burst of plans
keeps coming, and once the database accepts connections again the same process serves
without a restart; every plan answered 201, before, during or after the outage, is whole.

Read-only: the database is made read-only (``default_transaction_read_only``, as during a
maintenance or on a standby); writes answer 503 ``store_write_failed`` saying "read-only" with
an ERROR line in the node's log, reads go on, and writes work again once it is writable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
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
    give_database_back,
    plan_body,
    take_database_away,
    terminate_sessions,
)
from utm_cluster import (
    ADMIN_TOKEN,
    Node,
    bearer,
    operator_token,
    planning_day,
    running_nodes,
    write_principals,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(240),
              pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_POSTGRES)]

RECOVERY_BUDGET_S = 15.0
"""The node must serve again this soon after the database is back (no restart)."""


@dataclass(frozen=True, slots=True)
class Setup:
    name: str
    node: Node
    client: httpx.Client


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    """One node on a database of the test's own (dropped afterwards)."""
    assert POSTGRES_URL
    principals = write_principals(tmp_path / "principals.json")
    with fresh_database(POSTGRES_URL) as (name, url), \
            running_nodes(["node"], url, principals, tmp_path / "logs") as nodes, \
            httpx.Client(timeout=60.0) as client:
        yield Setup(name, nodes[0], client)


def file_plan(setup: Setup, number: int, prefix: str) -> httpx.Response:
    return setup.client.post(f"{setup.node.url}/v1/flight-plans",
                             json=plan_body(number, planning_day(), prefix),
                             headers=bearer(operator_token("chengdu")))


def assert_problem_503(response: httpx.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["code"] == code and body["status"] == 503, body
    assert "127.0.0.1" not in body["detail"]  # the database's address stays in the log


def wait_until_serving(setup: Setup) -> float:
    """Seconds until a list of plans answers 200 again."""
    started = time.monotonic()
    while True:
        response = setup.client.get(f"{setup.node.url}/v1/flight-plans?limit=1",
                                    headers=bearer(ADMIN_TOKEN))
        if response.status_code == 200:
            return time.monotonic() - started
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < RECOVERY_BUDGET_S, "the node did not recover"
        time.sleep(0.2)


def test_database_away_is_503_with_retry_after_and_the_node_recovers(setup: Setup) -> None:
    assert POSTGRES_URL
    before = file_plan(setup, 0, "before-")
    assert before.status_code == 201, before.text
    approval_id = before.json()["approval_id"]

    burst = Burst(setup.node.url, planning_day(), "outage-", threads=4)
    burst.start()
    try:
        burst.wait_for(5, timeout_s=60.0)
        take_database_away(POSTGRES_URL, setup.name)
        try:
            reads = setup.client.get(f"{setup.node.url}/v1/flight-plans",
                                     headers=bearer(ADMIN_TOKEN))
            assert_problem_503(reads, "store_unavailable")
            assert_problem_503(file_plan(setup, 1, "during-"), "store_unavailable")
            assert_problem_503(setup.client.get(f"{setup.node.url}/v1/approvals/{approval_id}"),
                               "store_unavailable")
            health = setup.client.get(f"{setup.node.url}/v1/health")
            assert health.status_code == 200  # the process is up; its database is not
            assert_problem_503(setup.client.get(f"{setup.node.url}/v1/ready"),
                               "store_unavailable")
            time.sleep(1.0)  # the burst meets the outage too
        finally:
            give_database_back(POSTGRES_URL, setup.name)
        recovered_s = wait_until_serving(setup)
        assert setup.client.get(f"{setup.node.url}/v1/ready").status_code == 200
        acknowledged_before = len(burst.acknowledged)
        burst.wait_for(acknowledged_before + 5, timeout_s=60.0)  # plans go through again
    finally:
        burst.stop()

    after = file_plan(setup, 2, "after-")
    assert after.status_code == 201, after.text
    assert not burst.unexpected, burst.unexpected[:5]  # only 201 and 503, never a 500
    assert burst.statuses.get(503, 0) > 0, burst.statuses
    assert burst.transport_errors == 0

    acknowledged = {**burst.acknowledged, before.json()["id"]: before.json(),
                    after.json()["id"]: after.json()}
    assert_acknowledged_intact(setup.client, setup.node, acknowledged)
    flights = all_flights(setup.client, setup.node)
    assert_nothing_half_written(flights)
    unanswered = {doc["id"] for doc in flights} - set(acknowledged)
    # A plan is stored without its 201 only if the connection was cut during its COMMIT (the
    # outcome is unknown to the node, which answered 503): at most one per client thread.
    assert len(unanswered) <= burst.threads, unanswered
    assert "the database is unavailable" in setup.node.log_tail(200)
    print(f"recovered {recovered_s:.1f} s after the database came back; statuses "
          f"{burst.statuses}; {len(unanswered)} stored without a 201")


def test_read_only_database_refuses_writes_with_503_and_recovers(setup: Setup) -> None:
    assert POSTGRES_URL
    first = file_plan(setup, 0, "ro-")
    assert first.status_code == 201, first.text
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"ALTER DATABASE {setup.name} SET default_transaction_read_only = on")
    try:
        terminate_sessions(POSTGRES_URL, setup.name)  # new sessions start read-only
        refused = file_plan(setup, 1, "ro-")
        if refused.status_code == 503 and refused.json()["code"] == "store_unavailable":
            refused = file_plan(setup, 1, "ro-")  # the first call met the cut connections
        assert_problem_503(refused, "store_write_failed")
        assert "read-only" in refused.json()["detail"]
        read = setup.client.get(f"{setup.node.url}/v1/flight-plans/{first.json()['id']}",
                                headers=bearer(ADMIN_TOKEN))
        assert read.status_code == 200 and read.json()["state"] == first.json()["state"]
        assert "the database refused a write" in setup.node.log_tail(200)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"ALTER DATABASE {setup.name} RESET default_transaction_read_only")
    # No restart, and no connection cut: the node must not keep using read-only sessions. A
    # session opened while the database was read-only stays so; the first write to meet one
    # drops it and every idle one, so the next write at the latest goes through.
    again = file_plan(setup, 1, "ro-")
    if again.status_code == 503:
        assert again.json()["code"] == "store_write_failed", again.text
        again = file_plan(setup, 1, "ro-")
    assert again.status_code == 201, again.text
    assert_nothing_half_written(all_flights(setup.client, setup.node))
