"""Invariant 3: an accepted request survives a crash (kill -9), and nothing is half-written.

A child process submits plans to a SQLite file store in a loop and acknowledges each decision
on stdout (the flight id and a digest of its document) only after ``submit`` returned. The
parent kills it with SIGKILL mid-stream, reopens the file and checks that every acknowledged
decision is there, byte for byte, and that the database holds no partial plan.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from checks import assert_store_invariants

from airspace import Airspace
from routes import Endpoint, Planner
from utm.engine import Engine
from utm.plans import FlightPlan, make_drone
from utm.states import HOLDS_AIRSPACE, FlightState
from utm.storage import open_store

PROJECT_ROOT = Path(__file__).resolve().parents[2]

ACKNOWLEDGED_BEFORE_KILL = 15
CHILD_TIMEOUT_S = 120.0
"""The child needs a few seconds to build the airspace, then a few ms per decision."""

CHILD_SCRIPT = textwrap.dedent("""
    import hashlib
    import json
    import sys
    from datetime import UTC, datetime, timedelta

    from airspace import Airspace, load_dataset
    from routes import Endpoint, Planner
    from utm.engine import Engine
    from utm.plans import FlightPlan, make_drone
    from utm.storage import open_store

    T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    PAIRS = [("CD-TFS", "CD-WCH"), ("CD-WCH", "CD-TFS"), ("CD-TFS", "CD-SCU"),
             ("CD-SCU", "CD-WCH"), ("CD-CXR", "CD-TFS")]

    airspace = Airspace(load_dataset())
    store = open_store("sqlite:///" + sys.argv[1], airspace.layers)
    engine = Engine(airspace, store, planner=Planner(airspace))
    print("READY", flush=True)
    number = 0
    while True:  # until killed
        origin, destination = PAIRS[number % len(PAIRS)]
        earliest = T0 + timedelta(seconds=37 * number % 1200)
        plan = FlightPlan(f"op{number % 3}", make_drone(f"d{number}", "light"),
                          Endpoint(origin), Endpoint(destination), earliest,
                          earliest + timedelta(minutes=30))
        flight = engine.submit(plan, T0 - timedelta(hours=1) + timedelta(seconds=number))
        digest = hashlib.sha256(json.dumps(flight.to_doc(), sort_keys=True).encode()).hexdigest()
        print("ACK", flight.id, digest, flush=True)
        number += 1
""")


def doc_digest(doc: dict[str, Any]) -> str:
    """The digest the child prints: SHA-256 of the document's canonical JSON."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _read_lines(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _run_and_kill(script: Path, database: Path, delay_s: float) -> dict[str, str]:
    """Run the child until it has acknowledged enough decisions, wait ``delay_s`` (so that
    the kill lands at another point of the next decision), then SIGKILL it."""
    environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    errors = script.with_suffix(".stderr")
    with errors.open("w") as errors_file:  # a file, not a pipe nobody drains
        child = subprocess.Popen([sys.executable, str(script), str(database)],
                                 stdout=subprocess.PIPE, stderr=errors_file, text=True,
                                 env=environment, cwd=script.parent)
    assert child.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(child.stdout, lines), daemon=True)
    reader.start()
    acknowledged: dict[str, str] = {}
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    try:
        while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"the child acknowledged only {len(acknowledged)} decisions")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                child.wait()
                pytest.fail(f"the child exited ({child.returncode}):\n{errors.read_text()}")
            fields = line.split()
            if fields[:1] == ["ACK"] and len(fields) == 3:
                acknowledged[fields[1]] = fields[2]
        time.sleep(delay_s)
        os.kill(child.pid, signal.SIGKILL)  # in the middle of a decision, most likely
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        reader.join(timeout=10)
        child.stdout.close()
    # Lines printed after the last one read and before the kill were acknowledged too.
    while not lines.empty() and (line := lines.get_nowait()) is not None:
        fields = line.split()
        if fields[:1] == ["ACK"] and len(fields) == 3:
            acknowledged[fields[1]] = fields[2]
    return acknowledged


@pytest.mark.slow
@pytest.mark.parametrize("delay_s", [0.0, 0.02])
def test_acknowledged_decisions_survive_kill_9(tmp_path: Path, airspace_model: Airspace,
                                               planner: Planner, t0: datetime,
                                               delay_s: float) -> None:
    script = tmp_path / "submit_forever.py"
    script.write_text(CHILD_SCRIPT, encoding="utf-8")
    database = tmp_path / "utm.sqlite"

    acknowledged = _run_and_kill(script, database, delay_s)
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL

    integrity = sqlite3.connect(database).execute("PRAGMA integrity_check").fetchone()[0]
    assert integrity == "ok"

    store = open_store(f"sqlite:///{database}", airspace_model.layers)
    try:
        engine = Engine(airspace_model, store, planner=planner)
        for flight_id, digest in acknowledged.items():
            flight = store.get_flight(flight_id)
            assert flight is not None, f"acknowledged {flight_id} was lost"
            assert doc_digest(flight.to_doc()) == digest, f"{flight_id} changed"

        flights = store.list_flights(limit=100_000)
        assert len(flights) >= len(acknowledged)
        assert len(flights) <= len(acknowledged) + 1  # at most the one being decided
        for flight in flights:
            if flight.state in HOLDS_AIRSPACE:
                assert flight.volumes, f"{flight.id} is {flight.state} without volumes"
                assert flight.pad_slots, f"{flight.id} is {flight.state} without pad slots"
            audit = [entry["action"] for entry in store.list_audit(flight_id=flight.id)]
            assert audit[:1] == ["submit"], f"{flight.id} has no audit entry: half-written"
        for flight in flights:
            if flight.state is FlightState.APPROVED:
                assert engine.verify_approval(flight.approval_id or "").valid
        assert_store_invariants(store)

        # The recovered store keeps deciding: a new plan on the busy route fits around the
        # recovered flights, not through them.
        plan = FlightPlan("op9", make_drone("d-after", "light"), Endpoint("CD-TFS"),
                          Endpoint("CD-WCH"), t0, t0 + timedelta(minutes=30))
        engine.submit(plan, t0 - timedelta(minutes=30))
        assert_store_invariants(store)
    finally:
        store.close()
