"""What every request handler may depend on: the app's services and the current instant.

The API is the edge where the clock is read: ``Now`` is ``datetime.now(UTC)`` in service and a
fixed or stepped instant in tests (``create_app(clock=...)``); the engine is always handed it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from airspace.timing import require_aware
from utm.engine import Engine

if TYPE_CHECKING:
    from api.airspace_views import AirspaceViews
    from api.auth import PrincipalRegistry
    from api.streams import EventHub

Clock = Callable[[], datetime]
"""Returns the current instant, timezone-aware."""


def system_clock() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass(slots=True)
class Services:
    """One per app: the engine (one store, one airspace), principals, clock and event hub."""

    engine: Engine
    principals: PrincipalRegistry
    clock: Clock
    hub: EventHub
    views: AirspaceViews
    owns_store: bool
    """True if the app opened the store (and closes it at shutdown)."""
    heartbeat_s: float = 15.0
    """Seconds between comment lines on a quiet event stream."""

    def now(self) -> datetime:
        """The current instant, UTC (a clock returning a naive datetime is a bug: it raises)."""
        return require_aware(self.clock(), "clock()")


def get_services(request: Request) -> Services:
    """The app's services (set by ``create_app``)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_now(services: ServicesDep) -> datetime:
    """The instant this request is handled at."""
    return services.now()


Now = Annotated[datetime, Depends(get_now)]
"""The current instant (UTC), read once per request."""


def get_engine(services: ServicesDep) -> Engine:
    """The app's engine."""
    return services.engine


EngineDep = Annotated[Engine, Depends(get_engine)]
