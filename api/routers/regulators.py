"""What regulators do: review their city's part of pending plans, issue constraints, read
alerts. A regulator acts in its own cities only (403 elsewhere); an admin acts everywhere."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Query, Response
from shapely.geometry import Polygon

from airspace import Airspace, AirspaceClass, AirspaceError
from airspace.geo import check_geometry_lnglat, lnglat_to_metric
from api import problems
from api.auth import CurrentPrincipal, Principal, RegulatorOrAdmin, Role
from api.deps import EngineDep, Now
from api.models import (
    AlertPage,
    ConstraintIn,
    ConstraintIssuedOut,
    ConstraintPage,
    FlightPlanOut,
    Identifier,
    ReviewIn,
    ReviewPage,
)
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, page
from api.problems import ApiProblem
from api.routers.flight_plans import FlightPlanId, visible_flight
from api.routing import StrictQueryRoute
from api.wire import flight_to_json, review_items
from utm.constraints import Constraint
from utm.flights import Flight, ReviewStatus
from utm.states import FlightState

router = APIRouter(prefix="/v1", tags=["regulators"], route_class=StrictQueryRoute)

MAX_CONSTRAINT_AREA_M2 = 100e6
"""A constraint covers at most 100 km² (a city-wide closure is a dataset change, not a TFR)."""
MAX_CONSTRAINT_DURATION = timedelta(days=7)
MAX_CONSTRAINT_LEAD = timedelta(days=30)

CityFilter = Annotated[Identifier | None, Query(description="Only this city (one of yours)")]


def _cities(principal: Principal, jurisdiction: str | None) -> frozenset[str] | None:
    """The cities a list covers: the principal's (None: all, for admin), narrowed to one."""
    if jurisdiction is not None:
        if principal.role is Role.REGULATOR and jurisdiction not in principal.jurisdictions:
            raise ApiProblem(403, "forbidden", f"{jurisdiction!r} is not one of your cities",
                             field="jurisdiction")
        return frozenset({jurisdiction})
    return principal.jurisdictions if principal.role is Role.REGULATOR else None


# -- reviews ----------------------------------------------------------------------------------


@router.get("/reviews", response_model=ReviewPage, responses=problems.responses(401, 403, 422,
                                                                                 503))
def list_reviews(principal: RegulatorOrAdmin, engine: EngineDep,
                 jurisdiction: CityFilter = None, limit: Limit = DEFAULT_LIMIT,
                 cursor: Cursor = None) -> dict[str, Any]:
    """Reviews waiting for the caller's cities, by flight plan (oldest first)."""
    cities = _cities(principal, jurisdiction)

    def fetch(after: str | None, count: int) -> list[Flight]:
        return engine.store.list_flights(
            jurisdictions=sorted(cities) if cities is not None else None,
            states=[FlightState.PENDING_REVIEW], after_id=after, limit=count)

    flights, next_cursor = page(fetch, cursor, limit, lambda f: f.id,
                                lambda f: bool(review_items(f, cities)))
    return {"items": [item for f in flights for item in review_items(f, cities)],
            "next_cursor": next_cursor}


@router.post("/reviews/{flight_plan_id}", response_model=FlightPlanOut,
             responses=problems.responses(400, 401, 403, 404, 409, 413, 415, 422, 503))
def review_flight_plan(principal: RegulatorOrAdmin, engine: EngineDep, now: Now,
                       flight_plan_id: FlightPlanId, body: ReviewIn) -> dict[str, Any]:
    """Approve or reject a city's part of a pending plan.

    When every city crossed has approved, the plan is approved (and signed); one rejection
    rejects it. A regulator reviews for its own cities only (403 for another city's review).
    """
    flight = visible_flight(engine, principal, flight_plan_id)
    pending = [city for city, status in flight.reviews.items()
               if status is ReviewStatus.PENDING and flight.state is FlightState.PENDING_REVIEW]
    if body.jurisdiction is not None:
        if principal.role is Role.REGULATOR and body.jurisdiction not in principal.jurisdictions:
            raise ApiProblem(403, "forbidden",
                             f"{body.jurisdiction!r} is not one of your cities",
                             field="jurisdiction")
        city = body.jurisdiction
    else:
        mine = [c for c in pending if principal.role is Role.ADMIN
                or c in principal.jurisdictions]
        if len(mine) > 1:
            raise ApiProblem(422, "invalid_request", f"reviews are pending for {mine}: name "
                             "the jurisdiction", field="jurisdiction")
        if not mine and pending:
            raise ApiProblem(403, "forbidden", f"the review pending on {flight.id} is for "
                             f"{', '.join(pending)}, not for your cities")
        if not mine:
            raise ApiProblem(409, "review_not_found", f"flight plan {flight.id} has no review "
                             "pending")
        city = mine[0]
    updated = engine.review(flight.id, city, body.decision == "approve", body.note, now,
                            principal.actor)
    return flight_to_json(updated)


# -- constraints ------------------------------------------------------------------------------


def new_constraint_id(now: datetime) -> str:
    """A unique id that sorts by creation time."""
    return f"cs-{int(now.timestamp() * 1000):011x}{secrets.token_hex(3)}"


def _outline(body: ConstraintIn, airspace: Airspace) -> Polygon:
    """The outline as a polygon: valid, inside the service area's extent, at most
    ``MAX_CONSTRAINT_AREA_M2``; 422 naming ``outline`` otherwise."""
    rings = [[(position[0], position[1]) for position in ring]
             for ring in body.outline.coordinates]
    try:
        outline = Polygon(rings[0], rings[1:])
        check_geometry_lnglat(outline)
    except AirspaceError as error:
        raise ApiProblem(422, error.code, str(error), field="outline") from None
    except (ValueError, shapely.errors.GEOSException) as error:
        raise ApiProblem(422, "invalid_position", f"not a valid polygon: {error}",
                         field="outline") from None
    # Before projecting: the metric projection only holds near the region, and a polygon
    # around the globe projects to a degenerate one of zero area (which would pass the limit).
    min_lng, min_lat, max_lng, max_lat = airspace.service_area.bounds
    west, south, east, north = outline.bounds
    if west < min_lng or south < min_lat or east > max_lng or north > max_lat:
        raise ApiProblem(422, "outside_service_area", "the outline reaches beyond the service "
                         f"area's extent [{min_lng:.3f}, {min_lat:.3f}, {max_lng:.3f}, "
                         f"{max_lat:.3f}] (lng, lat)", field="outline")
    area_m2 = lnglat_to_metric(outline).area
    if not area_m2 <= MAX_CONSTRAINT_AREA_M2:  # also refuses NaN
        raise ApiProblem(422, "invalid_constraint", "a constraint covers at most "
                         f"{MAX_CONSTRAINT_AREA_M2 / 1e6:.0f} km²", field="outline")
    return outline


@router.post("/constraints", status_code=201, response_model=ConstraintIssuedOut,
             responses=problems.responses(400, 401, 403, 413, 415, 422, 503))
def issue_constraint(principal: RegulatorOrAdmin, engine: EngineDep, now: Now,
                     body: ConstraintIn, response: Response) -> dict[str, Any]:
    """Restrict an area, between heights, for a time: `prohibited` closes it, `restricted`
    sends plans entering it to review.

    Approved and pending plans inside it are re-planned at once (or set to
    `replan_required`); flights already flying inside it raise an alert. A regulator issues
    constraints inside its own cities only: an outline reaching into another city is 403.
    """
    outline = _outline(body, engine.airspace)
    crossed = [city.id for city in engine.airspace.jurisdictions_crossed(outline)]
    if not crossed:
        raise ApiProblem(422, "outside_service_area", "the outline lies outside every city",
                         field="outline")
    if principal.role is Role.REGULATOR:
        if body.jurisdiction is not None and body.jurisdiction not in principal.jurisdictions:
            raise ApiProblem(403, "forbidden", f"{body.jurisdiction!r} is not one of your cities",
                             field="jurisdiction")
        foreign = sorted(set(crossed) - principal.jurisdictions)
        if foreign:
            raise ApiProblem(403, "forbidden", f"the outline reaches into {', '.join(foreign)}: "
                             "a regulator restricts its own cities only", field="outline")
    if body.jurisdiction is not None and body.jurisdiction not in crossed:
        raise ApiProblem(422, "invalid_constraint",
                         f"the outline does not lie in {body.jurisdiction!r}",
                         field="jurisdiction")
    if body.end_time <= now:
        raise ApiProblem(422, "invalid_constraint", "end_time is in the past", field="end_time")
    if body.start_time > now + MAX_CONSTRAINT_LEAD:
        raise ApiProblem(422, "invalid_constraint", "start_time is more than 30 days ahead",
                         field="start_time")
    if body.end_time - body.start_time > MAX_CONSTRAINT_DURATION:
        raise ApiProblem(422, "invalid_constraint", "a constraint lasts at most 7 days",
                         field="end_time")
    constraint = Constraint(
        id=new_constraint_id(now), jurisdiction=body.jurisdiction or crossed[0],
        outline=outline, floor_agl_m=body.floor_agl_m, ceiling_agl_m=body.ceiling_agl_m,
        start_time=body.start_time, end_time=body.end_time,
        airspace_class=AirspaceClass(body.airspace_class), reason=body.reason,
        issued_by=principal.actor, issued_time=now,
    )
    issued, affected = engine.issue_constraint(constraint, now, principal.actor)
    response.headers["Location"] = f"/v1/constraints?jurisdiction={issued.jurisdiction}"
    return {"constraint": issued.to_doc(),
            "affected": [{"id": f.id, "state": f.state.value} for f in affected]}


@router.get("/constraints", response_model=ConstraintPage, response_model_by_alias=True,
            responses=problems.responses(401, 422, 503))
def list_constraints(_: CurrentPrincipal, engine: EngineDep, jurisdiction: CityFilter = None,
                     limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> dict[str, Any]:
    """Constraints issued so far, oldest first (public to every principal: operators must
    plan around them)."""
    cities = [jurisdiction] if jurisdiction is not None else None

    def fetch(after: str | None, count: int) -> list[dict[str, Any]]:
        return engine.store.list_records("constraint", jurisdictions=cities, after_id=after,
                                         limit=count)

    items, next_cursor = page(fetch, cursor, limit, lambda doc: str(doc["id"]))
    return {"items": items, "next_cursor": next_cursor}


# -- alerts -----------------------------------------------------------------------------------


@router.get("/alerts", response_model=AlertPage, responses=problems.responses(401, 403, 422, 503))
def list_alerts(principal: RegulatorOrAdmin, engine: EngineDep, jurisdiction: CityFilter = None,
                limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> dict[str, Any]:
    """Alerts in the caller's cities (nonconforming flights, lost separation, flights inside
    a new constraint), oldest first."""
    cities = _cities(principal, jurisdiction)

    def fetch(after: str | None, count: int) -> list[dict[str, Any]]:
        return engine.store.list_records(
            "alert", jurisdictions=sorted(cities) if cities is not None else None,
            after_id=after, limit=count)

    items, next_cursor = page(fetch, cursor, limit, lambda doc: str(doc["id"]))
    return {"items": items, "next_cursor": next_cursor}
