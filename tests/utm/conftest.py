"""Stores for the ``utm`` tests: each kind empty (``store_url``), or a database several stores
(nodes) can open (``shared_url``); the PostgreSQL ones in a fresh schema (``pg_schema_url``,
``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from postgres_server import needs_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=needs_postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty store of each kind: ``sqlite:///:memory:``, a PostgreSQL schema."""
    if request.param == "sqlite":
        return "sqlite:///:memory:"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=needs_postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database that several stores (nodes) can open: a SQLite file, a
    PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'utm.sqlite'}"
    return str(request.getfixturevalue("pg_schema_url"))
