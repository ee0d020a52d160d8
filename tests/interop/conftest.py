"""Fixtures for the interoperability tests: area-based plans, the ground model, the InterUSS
flight-planning interface and the uss_qualifier report check (helpers: ``interop_support``).

The independent invariant checker of ``tests/utm/checks.py`` is shared (its folder is put on
the import path), so area-based and routed flights are held to exactly the same checks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from airspace import Airspace
from routes import Planner
from utm.engine import Engine
from utm.storage import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "utm"))


@pytest.fixture()
def engine(airspace_model: Airspace, planner: Planner) -> Engine:
    """An engine over an empty in-memory SQLite store."""
    return Engine(airspace_model, open_store("sqlite:///:memory:", airspace_model.layers),
                  planner=planner)
