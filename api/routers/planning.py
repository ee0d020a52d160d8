"""Route planning for logistics firms: single and batch; nothing is reserved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from airspace import AirspaceError
from api import problems
from api.auth import CurrentPrincipal
from api.deps import EngineDep, Now
from api.models import RouteBatchIn, RouteBatchOut, RoutePlanIn, RoutePlanOut
from api.problems import ApiProblem
from api.routing import StrictQueryRoute
from api.wire import endpoint_problem, route_request_from_input, route_to_json
from routes import RoutingError
from utm.engine import Engine
from utm.plans import MAX_PLANNING_HORIZON

router = APIRouter(prefix="/v1", tags=["planning"], route_class=StrictQueryRoute)


def _plan(engine: Engine, body: RoutePlanIn, now: datetime, prefix: str = "") -> dict[str, Any]:
    if body.departure_time - now > MAX_PLANNING_HORIZON:
        # The same horizon as flight plans (ASTM F3548): zones, constraints and opening hours
        # further ahead are not known yet, so a route planned for then would promise nothing.
        raise ApiProblem(422, "invalid_route_request", "departure_time is more than "
                         f"{MAX_PLANNING_HORIZON.days} days ahead",
                         field=f"{prefix}departure_time")
    request = route_request_from_input(body, engine.airspace, prefix)
    try:
        route = engine.planner.plan(request)
    except (RoutingError, AirspaceError) as error:
        raise endpoint_problem(error, request.origin, request.destination, prefix) from None
    return route_to_json(route, body.departure_time, engine.planner.buffers)


@router.post("/routes/plan", response_model=RoutePlanOut,
             responses=problems.responses(400, 401, 413, 415, 422))
def plan_route(_: CurrentPrincipal, engine: EngineDep, now: Now,
               body: RoutePlanIn) -> dict[str, Any]:
    """Plan a route between vertiports or points, without reserving anything.

    The answer has the route (GeoJSON LineString of `[lng, lat, alt_agl_m]`), the 4-D volumes
    the flight would hold, departure and arrival times, distance, corridors and legs. Other
    flights are not considered: file a flight plan to get a conflict-free slot. An unknown
    vertiport, an endpoint outside the service area or in prohibited airspace, or no route,
    answer 422 with the code and the field; so does a departure more than 30 days ahead.
    """
    return _plan(engine, body, now)


@router.post("/routes/plan:batch", response_model=RouteBatchOut,
             responses=problems.responses(400, 401, 413, 415, 422))
def plan_routes(_: CurrentPrincipal, engine: EngineDep, now: Now,
                body: RouteBatchIn) -> dict[str, Any]:
    """Plan up to 100 routes; each result stands in its request's place.

    A request that cannot be planned gets `status` 422 and its `problem` (with `field`
    prefixed by `requests[i].`); the others still get their plan.
    """
    results: list[dict[str, Any]] = []
    for index, request in enumerate(body.requests):
        prefix = f"requests[{index}]."
        try:
            results.append({"index": index, "status": 200,
                            "plan": _plan(engine, request, now, prefix)})
        except ApiProblem as problem:
            results.append({"index": index, "status": problem.status,
                            "problem": problem.to_problem().model_dump(mode="json",
                                                                       exclude_none=True)})
    return {"results": results}
