"""Fixtures for the interoperability tests: area-based plans, the ground model, the InterUSS
flight-planning interface and the uss_qualifier report check (helpers: ``interop_support``).

The independent invariant checker of ``tests/utm/checks.py`` is shared (its folder is put on
the import path), so area-based and routed flights are held to exactly the same checks.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
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


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards (skipped
    without ``UTM_TEST_POSTGRES_URL``, as in ``tests/utm/test_stores.py``)."""
    base = os.environ.get("UTM_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("set UTM_TEST_POSTGRES_URL to run the PostgreSQL tests")
    import psycopg

    schema = f"utm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options=-csearch_path%3D{schema},public"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")
