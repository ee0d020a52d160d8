"""The SQLite file refuses writes: full, or read-only. Reported, never ignored, nothing half
written, and the node takes writes again once the cause is gone.

Each fault is a real failure of SQLite or of the file system, not a mock:

- full: ``PRAGMA max_page_count`` at the file's current size, so SQLite itself answers
  ``SQLITE_FULL`` ("database or disk is full") exactly as for a full disk; and, where the test
  may mount (root with ``CAP_SYS_ADMIN``, else skipped), a real full disk: the database on a
  small tmpfs filled up with a ballast file, so that the WAL write meets ``ENOSPC``;
- read-only: ``utm serve`` started on a file it may not write (mode 0444; as root, the server
  runs without ``CAP_DAC_OVERRIDE``, through util-linux ``setpriv``, since root ignores file
  modes), so SQLite opens it read-only and refuses every write with ``SQLITE_READONLY``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fault_tools import assert_nothing_half_written
from utm_cluster import (
    ADMIN_TOKEN,
    Node,
    bearer,
    free_ports,
    node_environment,
    operator_token,
    stop_nodes,
    wait_until_healthy,
    write_principals,
)

from airspace import Airspace
from airspace.timing import format_instant
from api.app import create_app, shutdown
from api.auth import PrincipalRegistry
from api.settings import Settings
from routes import Planner
from utm.storage.keys import IndexSpec
from utm.storage.sqlite import SqliteStore

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
NOW = T0 - timedelta(hours=1)
OPERATOR = bearer(operator_token("chengdu"))


def plan(drone: str) -> dict[str, Any]:
    """The same route and window every time: a refused plan filed again takes its slot."""
    return {
        "origin": {"vertiport": "CD-TFS"}, "destination": {"vertiport": "CD-WCH"},
        "earliest_departure_time": format_instant(T0),
        "latest_departure_time": format_instant(T0 + timedelta(minutes=30)),
        "drone": {"id": drone, "category": "light"}, "priority": "commercial",
        "purpose": "parcel",
    }


@contextmanager
def app_on_file(path: Path, airspace: Airspace, planner: Planner,
                principals: Path) -> Iterator[tuple[FastAPI, SqliteStore, TestClient]]:
    """The API over a SQLite store on ``path`` (in-process), its store and a client."""
    store = SqliteStore(str(path), airspace.layers, IndexSpec())
    registry = PrincipalRegistry.from_file(principals, list(airspace.jurisdictions))
    app = create_app(Settings(database_url=f"sqlite:///{path}"), airspace=airspace,
                     planner=planner, store=store, clock=lambda: NOW, principals=registry)
    try:
        yield app, store, TestClient(app)
    finally:
        shutdown(app)
        store.close()


def flights_of(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/v1/flight-plans?limit=500", headers=bearer(ADMIN_TOKEN))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def assert_refused_as(response: httpx.Response, word: str) -> None:
    """A 503 problem ``store_write_failed`` naming the cause, with ``Retry-After``."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["code"] == "store_write_failed", body
    assert word in body["detail"], body


def check_full_then_freed(client: TestClient, store: SqliteStore, caplog: pytest.LogCaptureFixture,
                          fill: Any, free: Any) -> None:
    """File one plan; ``fill()``; the next is refused as full (logged, nothing stored, the
    index untouched); ``free()``; the same plan is approved in the slot it was refused."""
    first = client.post("/v1/flight-plans", json=plan("full-1"), headers=OPERATOR)
    assert first.status_code == 201, first.text
    audit_before = len(store.list_audit(limit=10_000))
    fill()
    with caplog.at_level(logging.WARNING, logger="api"):
        refused = client.post("/v1/flight-plans", json=plan("full-2"), headers=OPERATOR)
    assert_refused_as(refused, "full")
    assert any(record.levelno == logging.ERROR and "full" in record.getMessage()
               for record in caplog.records), "no log line for the refused write"

    # Nothing of the refused decision stayed: not in the tables, not in the index.
    flights = flights_of(client)
    assert [doc["id"] for doc in flights] == [first.json()["id"]]
    assert len(store.list_audit(limit=10_000)) == audit_before
    reads = client.get(f"/v1/flight-plans/{first.json()['id']}", headers=OPERATOR)
    assert reads.status_code == 200  # reads go on

    free()
    again = client.post("/v1/flight-plans", json=plan("full-2"), headers=OPERATOR)
    assert again.status_code == 201, again.text
    flights = flights_of(client)
    assert len(flights) == 2
    assert_nothing_half_written(flights)


def test_sqlite_full_is_503_logged_and_recovers(tmp_path: Path, airspace_model: Airspace,
                                                planner: Planner,
                                                caplog: pytest.LogCaptureFixture) -> None:
    principals = write_principals(tmp_path / "principals.json")
    with app_on_file(tmp_path / "utm.sqlite", airspace_model, planner,
                     principals) as (_, store, client):
        def fill() -> None:
            pages = store.connection.execute("PRAGMA page_count").fetchone()[0]
            store.connection.execute(f"PRAGMA max_page_count = {pages}")

        def free() -> None:
            store.connection.execute("PRAGMA max_page_count = 1073741823")

        check_full_then_freed(client, store, caplog, fill, free)


def _may_mount() -> bool:
    return sys.platform == "linux" and os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not _may_mount(), reason="mounting a tmpfs needs root on Linux")
def test_sqlite_on_a_full_disk_is_503_logged_and_recovers(
    tmp_path: Path, airspace_model: Airspace, planner: Planner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        principals = write_principals(tmp_path / "principals.json")
        ballast = disk / "ballast"
        with app_on_file(disk / "utm.sqlite", airspace_model, planner,
                         principals) as (_, store, client):
            def fill() -> None:  # until the file system says ENOSPC
                with suppress(OSError), ballast.open("wb") as file:
                    while True:
                        file.write(b"\0" * 4096)
                        file.flush()

            def free() -> None:
                ballast.unlink()

            check_full_then_freed(client, store, caplog, fill, free)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


# -- read-only -----------------------------------------------------------------------------------


def without_root_file_access() -> list[str]:
    """A command prefix under which file modes bind this process (root ignores them)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("as root, the read-only test needs util-linux setpriv")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


@pytest.mark.slow
def test_sqlite_read_only_file_serves_reads_and_refuses_writes(
    tmp_path: Path, airspace_model: Airspace, planner: Planner,
) -> None:
    principals = write_principals(tmp_path / "principals.json")
    database = tmp_path / "utm.sqlite"
    with app_on_file(database, airspace_model, planner, principals) as (_, _store, client):
        stored = client.post("/v1/flight-plans", json=plan("ro-1"), headers=OPERATOR)
        assert stored.status_code == 201, stored.text
    stored_doc = stored.json()
    database.chmod(0o444)  # the folder stays writable: SQLite may keep its -shm and -wal there

    port = free_ports(1)[0]
    log_path = tmp_path / "node.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*without_root_file_access(), sys.executable, "-m", "api.cli", "serve",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path, env=node_environment(f"sqlite:///{database}", principals, "ro"),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    node = Node("read-only", port, process, log_path)
    try:
        wait_until_healthy([node])
        assert "read-only" in node.log_tail(100)  # said at start, before any write fails
        with httpx.Client(base_url=node.url, timeout=30.0) as http:
            read = http.get(f"/v1/flight-plans/{stored_doc['id']}", headers=OPERATOR)
            assert read.status_code == 200 and read.json()["state"] == stored_doc["state"]
            check = http.get(f"/v1/approvals/{stored_doc['approval_id']}")
            assert check.status_code == 200 and check.json()["valid"] is True
            refused = http.post("/v1/flight-plans", json=plan("ro-2"), headers=OPERATOR)
            assert_refused_as(refused, "read-only")
            cancel = http.post(f"/v1/flight-plans/{stored_doc['id']}/cancel",
                               headers=OPERATOR)
            assert_refused_as(cancel, "read-only")
            after = http.get(f"/v1/flight-plans/{stored_doc['id']}", headers=OPERATOR)
            assert after.json()["state"] == stored_doc["state"]  # the cancel stored nothing
        assert "the database refused a write" in node.log_tail(100)
    finally:
        stop_nodes([node])
