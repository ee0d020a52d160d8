"""Fixtures for the HTTP API: one app per test module over the session's airspace and planner.

Each module gets a fresh in-memory store, a clock it may move (reset before every test), and
five principals (``testbed.TOKENS``). Constraints issued through the API add zones to the
shared airspace; the app fixture removes them again when the module is done, so other tests
see the bundled airspace.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from testbed import NOW0, SteppedClock, build_app

from airspace import Airspace
from api.app import shutdown
from api.deps import Services
from routes import Planner


@pytest.fixture(scope="module")
def clock() -> SteppedClock:
    """The module's clock (reset to ``NOW0`` before every test)."""
    return SteppedClock(NOW0)


@pytest.fixture(autouse=True)
def _reset_clock(clock: SteppedClock) -> None:
    clock.instant = NOW0


@pytest.fixture(scope="module")
def api_app(airspace_model: Airspace, planner: Planner, clock: SteppedClock) -> Iterator[FastAPI]:
    """The module's app; removes the zones its constraints added when the module ends."""
    zones_before = set(airspace_model.zones)
    app = build_app(airspace_model, planner, clock)
    try:
        yield app
    finally:
        shutdown(app)
        for zone_id in set(airspace_model.zones) - zones_before:
            airspace_model.remove_zone(zone_id)


@pytest.fixture(scope="module")
def client(api_app: FastAPI) -> TestClient:
    """An in-process client (no lifespan: the app fixture shuts the app down)."""
    return TestClient(api_app)


@pytest.fixture(scope="module")
def services(api_app: FastAPI) -> Services:
    """The app's services (engine, store), to look behind the API."""
    found: Services = api_app.state.services
    return found


@pytest.fixture
def nothing_stored(services: Services) -> Iterator[None]:
    """Fails the test if the request stored a flight, an audit entry or a record."""
    store = services.engine.store

    def snapshot() -> tuple[int, int, int, int]:
        return (len(store.list_flights(limit=100_000)), len(store.list_audit(limit=1_000_000)),
                len(store.list_records("constraint", limit=100_000)),
                len(store.list_records("alert", limit=100_000)))

    before = snapshot()
    yield
    assert snapshot() == before
