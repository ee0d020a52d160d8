"""``create_app()``: the FastAPI service over one engine (one airspace, one store).

Building the airspace and the routing graph takes a few seconds, so it happens once, when the
app is created (``utm serve`` runs ``create_app`` as a uvicorn factory). Tests and the demo
pass prebuilt ``airspace``, ``planner`` and ``store`` objects, and a ``clock``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from airspace import Airspace, load_dataset
from api import problems
from api.airspace_views import AirspaceViews
from api.auth import PrincipalRegistry
from api.deps import Clock, EngineDep, Services, system_clock
from api.housekeeping import keep_house_periodically
from api.interop import InteropService
from api.interop_auth import TokenVerifier
from api.limits import BodySizeLimit
from api.rate_limits import RateLimiter, RateLimitMiddleware, document_429
from api.routers import airspace as airspace_routes
from api.routers import (
    approvals,
    events,
    flight_planning,
    flight_plans,
    map_layers,
    operational_intents,
    pages,
    planning,
    regulators,
)
from api.routing import StrictQueryRoute
from api.settings import Settings
from api.streams import HEARTBEAT_S, EventHub
from routes import Planner
from utm.engine import Engine
from utm.errors import UtmError
from utm.storage import open_store
from utm.storage.base import Store

log = logging.getLogger("api")

API_VERSION = "1.0.0"

DESCRIPTION = """
Low-altitude drone traffic management for Chengdu, Deyang, Meishan and Ziyang: airspace,
route planning, flight plans with one approval valid in every city crossed, regulators'
reviews and constraints, and an event stream.

**Authentication**: `Authorization: Bearer <token>` (tokens come from the principals file,
`UTM_PRINCIPALS`; `utm demo` writes one and prints its tokens). Roles: `operator` (its own
plans only; another operator's plan is 404), `regulator` (plans crossing its cities; reviews,
constraints and alerts of its cities, 403 elsewhere), `admin` (everything). Without a valid
token: 401. `GET /v1/approvals/...` needs no token.

**Errors** are RFC 9457 `application/problem+json` with a stable `code`, a human `detail` and
the `field` at fault (`errors` lists them all for validation errors).

**Input** is strict: unknown fields are refused, numbers are numbers (not `false`, not
`"1"`), instants are RFC 3339 strings with an offset (`2026-12-01T02:00:00Z`). Output instants
are UTC with `Z`; altitudes are metres above ground level (`_agl_m`); GeoJSON positions are
`[lng, lat]` (and `alt_agl_m`). Bodies are limited in size (413).

**Lists** are paginated: `limit` (1 to 500) and `cursor` (the `next_cursor` of the previous
page); `next_cursor` is null on the last page.
"""

TAGS = [
    {"name": "airspace", "description": "Cities, zones, vertiports, corridors, cells, classes."},
    {"name": "planning", "description": "Routes for logistics firms (nothing reserved)."},
    {"name": "flight plans", "description": "File plans and fly them."},
    {"name": "regulators", "description": "Reviews, constraints, alerts."},
    {"name": "approvals", "description": "Anyone can verify an approval."},
    {"name": "events", "description": "Server-sent events."},
    {"name": "service", "description": "Health."},
]


ROUTER_MODULES: tuple[Any, ...] = (airspace_routes, planning, flight_plans, operational_intents,
                                   regulators, approvals, events, map_layers, pages,
                                   flight_planning)
"""The router modules, in the order their paths appear in the OpenAPI document."""


class HealthOut(BaseModel):
    """The service is up."""

    status: str
    version: str


service_router = APIRouter(prefix="/v1", tags=["service"], route_class=StrictQueryRoute)


@service_router.get("/health", response_model=HealthOut)
def health() -> dict[str, str]:
    """The process is up (no token needed; the database is not asked: see `/v1/ready`)."""
    return {"status": "ok", "version": API_VERSION}


class ReadyOut(BaseModel):
    """The node's database answers reads (a read-only one too: writes then get 503
    `store_write_failed`)."""

    status: str
    version: str


@service_router.get("/ready", response_model=ReadyOut, responses=problems.responses(503))
def ready(engine: EngineDep) -> dict[str, str]:
    """The node's database answers a read now (no token needed): for load balancers, which
    should send plans only to a ready node. 503 `store_unavailable` with `Retry-After` while
    it does not; the node recovers by itself once the database is back."""
    engine.check_store()
    return {"status": "ready", "version": API_VERSION}


def _open_store(url: str, airspace: Airspace) -> Store:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return open_store(url, airspace.layers)


def create_app(settings: Settings | None = None, *, airspace: Airspace | None = None,
               planner: Planner | None = None, store: Store | None = None,
               clock: Clock | None = None, principals: PrincipalRegistry | None = None,
               heartbeat_s: float = HEARTBEAT_S) -> FastAPI:
    """The API service.

    Parameters
    ----------
    settings
        Configuration; default: read from the environment (``Settings.from_environment``).
    airspace, planner, store
        Prebuilt parts (tests, the demo); default: built from ``settings``. A store passed in
        is not closed at shutdown; one the app opened is.
    clock
        Returns the current aware instant; default ``datetime.now(UTC)``.
    principals
        The principals; default: read from ``settings.principals_file`` (none if unset).
    heartbeat_s
        Seconds between comment lines on a quiet event stream.

    Raises
    ------
    ValueError
        For a malformed principals file, an unknown database URL scheme or an unreadable
        InterUSS public key (``UTM_INTERUSS_PUBLIC_KEY``).
    DatasetError
        If the airspace dataset is broken.
    """
    settings = settings or Settings.from_environment()
    if airspace is None:
        airspace = Airspace(load_dataset(settings.airspace_folder))
    if planner is None:
        planner = Planner(airspace)
    if principals is None:  # before the store is opened: a bad file leaves nothing open
        principals = (PrincipalRegistry.from_file(settings.principals_file,
                                                  list(airspace.jurisdictions))
                      if settings.principals_file is not None else PrincipalRegistry())
    if not len(principals):
        log.warning("no principals configured (UTM_PRINCIPALS): only public endpoints answer")
    interop_verifier = (  # before the store is opened, as the principals
        TokenVerifier.from_file(settings.interuss_public_key_file, settings.interuss_audiences)
        if settings.interuss_public_key_file is not None else None)
    if interop_verifier is not None:
        log.warning("InterUSS test-driver tokens are accepted (UTM_INTERUSS_PUBLIC_KEY, "
                    "audience %s): for test runs only", ", ".join(settings.interuss_audiences))
    owns_store = store is None
    if store is None:
        store = _open_store(settings.database_url, airspace)
    engine = Engine(airspace, store, planner=planner)
    hub = EventHub()
    engine.listeners.append(hub.publish)
    services = Services(engine=engine, principals=principals, clock=clock or system_clock,
                        hub=hub, views=AirspaceViews(airspace), owns_store=owns_store,
                        heartbeat_s=heartbeat_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Flights an emergency released just before this node stopped: re-plan them now,
        # not at the next filed plan (if the database is down, that is when).
        try:
            engine.run_replans(services.now())
        except UtmError as error:
            log.warning("re-planning preempted flights at start-up failed: %s", error)
        stop = asyncio.Event()
        interval_s = settings.housekeeping_interval_s
        housekeeping = (None if interval_s is None else asyncio.create_task(
            keep_house_periodically(engine, services.now, interval_s, stop)))
        yield
        stop.set()
        if housekeeping is not None:
            await housekeeping
        shutdown(app)

    app = FastAPI(title="lowalt-utm", version=API_VERSION, description=DESCRIPTION,
                  openapi_tags=TAGS, lifespan=lifespan)
    app.state.services = services
    # The InterUSS flight-planning interface (/flight_planning/v1, outside our OpenAPI).
    app.state.interop = InteropService(engine)
    app.state.interop_verifier = interop_verifier
    problems.install(app)
    for module in ROUTER_MODULES:
        app.include_router(module.router)
    app.include_router(service_router)
    pages.mount_static(app)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes)
    app.state.rate_limiter = None
    if settings.rate_limit is not None:  # added last: outermost, before the body is read
        app.state.rate_limiter = RateLimiter(settings.rate_limit)
        app.add_middleware(RateLimitMiddleware, limiter=app.state.rate_limiter,
                           principals=principals)
    app.openapi = lambda: _openapi_with_problem(app)  # type: ignore[method-assign]
    return app


def shutdown(app: FastAPI) -> None:
    """End the event streams, detach from the engine, close the store if the app opened it.

    Idempotent (the lifespan and the demo may both call it).
    """
    services: Services = app.state.services
    services.hub.close()
    if services.hub.publish in services.engine.listeners:
        services.engine.listeners.remove(services.hub.publish)
    if services.owns_store:
        services.owns_store = False
        services.engine.store.close()


def _openapi_with_problem(app: FastAPI) -> dict[str, Any]:
    """The generated document, plus the ``Problem`` schema that problem responses refer to,
    and the ranges that depend on this deployment's airspace (altitude layers)."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes,
                               tags=app.openapi_tags)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        problem_schema = problems.Problem.model_json_schema(
            ref_template="#/components/schemas/{model}")
        schemas.update(problem_schema.pop("$defs", {}))
        schemas["Problem"] = problem_schema
        layers = app.state.services.engine.airspace.layers
        ranges = {("/v1/airspace/cells", "layer"): (0, layers.count - 1),
                  ("/v1/airspace/classify", "alt_agl_m"): (0, layers.ceiling_agl_m)}
        for (path, name), (low, high) in ranges.items():
            for parameter in document["paths"][path]["get"]["parameters"]:
                if parameter["name"] == name:
                    parameter["schema"].update(minimum=low, maximum=high)
        if app.state.rate_limiter is not None:
            document_429(document)
        app.openapi_schema = document
    return app.openapi_schema
