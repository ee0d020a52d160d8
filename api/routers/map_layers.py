"""What the regulator's map (``/map``) needs beyond the other endpoints: who is signed in with
the server's clock and the altitude layers, and every flight in a time window in a compact form.

``GET /v1/flight-plans`` answers with whole plans (some 25 kB each with their volumes) and no
time filter; a map of 5,000 flights needs about 200 bytes a flight: the route's turning points,
its state and priority. The flight's volumes are one ``GET /v1/flight-plans/{id}`` away when
someone clicks it.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from airspace.timing import format_instant
from api import problems
from api.airspace_views import MAX_BBOX_SPAN_DEG
from api.auth import CurrentPrincipal, Principal, Role
from api.deps import EngineDep, Now
from api.models import Identifier, Instant, InstantOut
from api.pagination import Cursor, decode_cursor, encode_cursor
from api.problems import ApiProblem
from api.routing import StrictQueryRoute
from utm.states import FlightState
from utm.storage.base import FlightSummary

router = APIRouter(prefix="/v1/map", tags=["map"], route_class=StrictQueryRoute)

DEFAULT_WINDOW = timedelta(hours=3)
MAX_WINDOW = timedelta(days=7)
MAX_TRACKS_PER_PAGE = 5000
COORDINATE_DIGITS = 6
"""About 0.1 m: more than a map can show."""

MapStateName = Literal["pending_review", "approved", "activated", "nonconforming",
                       "replan_required", "rejected", "ended", "cancelled"]
DEFAULT_STATES = (FlightState.PENDING_REVIEW, FlightState.APPROVED, FlightState.ACTIVATED,
                  FlightState.NONCONFORMING, FlightState.REPLAN_REQUIRED)
"""What a regulator watches: plans holding airspace, flights in the air, plans that a
constraint or an emergency knocked out of their slot."""


class OrjsonResponse(JSONResponse):
    """JSON serialised with orjson: thousands of tracks, not validated a second time."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class AltitudeLayerOut(BaseModel):
    """One altitude layer of the grid (the ``layer`` of ``/v1/airspace/cells``)."""

    index: int
    floor_agl_m: float
    ceiling_agl_m: float


class SignedInOut(BaseModel):
    """The principal of the token (never the token)."""

    name: str
    role: Literal["operator", "regulator", "admin"]
    operator_id: str | None
    jurisdictions: list[str] = Field(description="A regulator's cities; empty otherwise")


class MapContextOut(BaseModel):
    """What the map needs before it draws anything."""

    now: InstantOut = Field(description="The server's clock (the default time window starts "
                                        "here)")
    principal: SignedInOut
    cities: list[str] = Field(description="The cities the principal may filter the map by")
    altitude_layers: list[AltitudeLayerOut]
    max_cell_bbox_span_deg: float = Field(description="`/v1/airspace/cells` answers for boxes "
                                                      "up to this many degrees a side")


class FlightTrackOut(BaseModel):
    """A flight as the map draws it."""

    id: str
    state: str
    priority: str
    operator_id: str
    jurisdictions: list[str]
    departure_time: InstantOut | None
    arrival_time: InstantOut | None
    path: list[list[float]] = Field(description="The route's turning points in flight order, "
                                                "GeoJSON positions `[lng, lat]`")


class FlightTrackPage(BaseModel):
    """Flights flying in the window, by id; ``next_cursor`` is null on the last page."""

    start_time: InstantOut
    end_time: InstantOut
    items: list[FlightTrackOut]
    next_cursor: str | None


@router.get("/context", response_model=MapContextOut, responses=problems.responses(401))
def map_context(principal: CurrentPrincipal, engine: EngineDep, now: Now) -> dict[str, Any]:
    """Who the token belongs to, the server's clock, the altitude layers, the cities to filter
    by. The map calls it first (a bad token answers 401 here)."""
    bounds = engine.airspace.layers.boundaries_agl_m
    cities = (sorted(principal.jurisdictions) if principal.role is Role.REGULATOR
              else sorted(engine.airspace.jurisdictions))
    return {
        "now": format_instant(now),
        "principal": {"name": principal.name, "role": principal.role.value,
                      "operator_id": principal.operator_id,
                      "jurisdictions": sorted(principal.jurisdictions)},
        "cities": cities,
        "altitude_layers": [{"index": index, "floor_agl_m": low, "ceiling_agl_m": high}
                            for index, (low, high) in enumerate(itertools.pairwise(bounds))],
        "max_cell_bbox_span_deg": MAX_BBOX_SPAN_DEG,
    }


def _visible_cities(principal: Principal, jurisdiction: str | None) -> list[str] | None:
    """The cities whose flights the principal may list (None: no city filter)."""
    if principal.role is Role.REGULATOR:
        if jurisdiction is not None and jurisdiction not in principal.jurisdictions:
            raise ApiProblem(403, "forbidden", f"{jurisdiction!r} is not one of your cities",
                             field="jurisdiction")
        return [jurisdiction] if jurisdiction else sorted(principal.jurisdictions)
    return [jurisdiction] if jurisdiction else None


def _track(summary: FlightSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "state": summary.state.value,
        "priority": summary.priority.value,
        "operator_id": summary.operator_id,
        "jurisdictions": list(summary.jurisdictions),
        "departure_time": format_instant(summary.departure_time)
        if summary.departure_time else None,
        "arrival_time": format_instant(summary.arrival_time) if summary.arrival_time else None,
        "path": [[round(lng, COORDINATE_DIGITS), round(lat, COORDINATE_DIGITS)]
                 for lat, lng in summary.path],
    }


@router.get("/flights", response_model=FlightTrackPage,
            responses=problems.responses(401, 403, 422, 503))
def list_flight_tracks(
    principal: CurrentPrincipal, engine: EngineDep, now: Now,
    start_time: Annotated[Instant | None, Query(
        description="Window start (RFC 3339); default: now")] = None,
    end_time: Annotated[Instant | None, Query(
        description="Window end (RFC 3339), after the start and at most 7 days later; "
                    "default: three hours after the start")] = None,
    jurisdiction: Annotated[Identifier | None, Query(
        description="Only flights crossing this city (a regulator: one of its own)")] = None,
    state: Annotated[list[MapStateName] | None, Query(
        description="Only these states (repeat the parameter); default: pending_review, "
                    "approved, activated, nonconforming, replan_required")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TRACKS_PER_PAGE,
                                description="Page size (1 to 5000)")] = 1000,
    cursor: Cursor = None,
) -> OrjsonResponse:
    """The flights the caller may see that fly in a time window (depart before its end,
    arrive after its start), each with its route's turning points, state and priority.

    Visibility is that of `GET /v1/flight-plans`: operators their own, regulators those
    crossing their cities, admin all.
    """
    start = start_time or now
    end = end_time or start + DEFAULT_WINDOW
    if end <= start:
        raise ApiProblem(422, "invalid_request", "end_time must be after start_time",
                         field="end_time")
    if end - start > MAX_WINDOW:
        raise ApiProblem(422, "invalid_request", "the window may span at most 7 days",
                         field="end_time")
    cities = _visible_cities(principal, jurisdiction)
    after = decode_cursor(cursor)
    states = [FlightState(name) for name in state] if state else list(DEFAULT_STATES)
    summaries = engine.store.list_flight_summaries(
        operator_id=principal.operator_id if principal.role is Role.OPERATOR else None,
        jurisdictions=cities, states=states, start_time=start, end_time=end, after_id=after,
        limit=limit + 1)
    more = len(summaries) > limit
    summaries = summaries[:limit]
    return OrjsonResponse({
        "start_time": format_instant(start),
        "end_time": format_instant(end),
        "items": [_track(summary) for summary in summaries],
        "next_cursor": encode_cursor(summaries[-1].id) if more else None,
    })
