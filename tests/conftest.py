"""Shared fixtures: the bundled dataset, its airspace, a planner over it, a fixed ``T0``, and a
fresh PostgreSQL schema (``pg_schema_url``, skipped without ``UTM_TEST_POSTGRES_URL``).

The airspace and planner take a few seconds to build, so they are built once per session.
Tests that add temporary zones to ``airspace_model`` must remove them again (``try/finally``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from postgres_server import POSTGRES_URL, SKIP_POSTGRES

from airspace import Airspace, load_dataset
from airspace.loading import Dataset
from routes import Planner

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
"""10:00 Beijing time on a weekday: inside every vertiport's opening hours, outside curfews
and outside the windows of the dataset's temporary zones. Domain code never reads the clock."""


@pytest.fixture(scope="session")
def t0() -> datetime:
    """The fixed instant every test plans and classifies at."""
    return T0


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    """The bundled ``sichuan4`` dataset, validated."""
    return load_dataset()


@pytest.fixture(scope="session")
def airspace_model(dataset: Dataset) -> Airspace:
    """The indexed airspace of the bundled dataset."""
    return Airspace(dataset)


@pytest.fixture(scope="session")
def planner(airspace_model: Airspace) -> Planner:
    """A route planner over ``airspace_model`` with default costs and buffers."""
    return Planner(airspace_model)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    import psycopg

    schema = f"utm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema},public"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")
