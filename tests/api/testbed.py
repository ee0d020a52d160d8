"""The API test bed: principals and tokens, a clock tests can move, plan bodies, the app.

Imported by ``conftest.py`` and by the test modules (``from testbed import auth, ...``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from airspace import Airspace
from api.app import create_app
from api.auth import PrincipalRegistry
from api.settings import Settings
from routes import Planner

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
"""Departures in the tests (10:00 in Chengdu)."""

NOW0 = T0 - timedelta(hours=1)
"""The API's clock unless a test moves it: an hour before ``T0`` (every city's lead time)."""

TOKENS = {
    "operator": "test-operator-sf-express-token",
    "other_operator": "test-operator-meituan-air-token",
    "regulator": "test-regulator-chengdu-token",
    "other_regulator": "test-regulator-deyang-token",
    "admin": "test-admin-token-0123456789",
}
"""Who is who: ``operator`` is sf-express; ``regulator`` is Chengdu's, ``other_regulator``
Deyang's."""

PRINCIPALS = [
    {"token": TOKENS["operator"], "role": "operator", "operator_id": "sf-express"},
    {"token": TOKENS["other_operator"], "role": "operator", "operator_id": "meituan-air"},
    {"token": TOKENS["regulator"], "role": "regulator", "jurisdictions": ["chengdu"],
     "name": "chengdu-caac"},
    {"token": TOKENS["other_regulator"], "role": "regulator", "jurisdictions": ["deyang"],
     "name": "deyang-caac"},
    {"token": TOKENS["admin"], "role": "admin", "name": "root"},
]


class SteppedClock:
    """The API's clock in tests: a fixed instant that a test may move."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def __call__(self) -> datetime:
        return self.instant


def auth(who: str) -> dict[str, str]:
    """The ``Authorization`` header of a test principal."""
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def plan_body(**changes: Any) -> dict[str, Any]:
    """A flight plan inside Chengdu departing at ``T0`` with a 20-minute window."""
    body: dict[str, Any] = {
        "origin": {"vertiport": "CD-TFS"},
        "destination": {"vertiport": "CD-JRC"},
        "earliest_departure_time": "2026-12-01T02:00:00Z",
        "latest_departure_time": "2026-12-01T02:20:00Z",
        "drone": {"id": "drone-1", "category": "light"},
        "priority": "commercial",
        "purpose": "parcel delivery",
    }
    body.update(changes)
    return body


def build_app(airspace: Airspace, planner: Planner, clock: SteppedClock,
              heartbeat_s: float = 15.0) -> FastAPI:
    """An app over the shared airspace and planner, with an in-memory store."""
    registry = PrincipalRegistry.from_documents(PRINCIPALS, list(airspace.jurisdictions))
    return create_app(Settings(database_url="sqlite:///:memory:"), airspace=airspace,
                      planner=planner, clock=clock, principals=registry,
                      heartbeat_s=heartbeat_s)
