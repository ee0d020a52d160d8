"""Stores for the ``utm`` tests: each kind empty (``store_url``), or a database several stores
(nodes) can open (``shared_url``); the PostgreSQL ones in a fresh schema (``pg_schema_url``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_server import POSTGRES_URL, SKIP_POSTGRES, needs_postgres


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
