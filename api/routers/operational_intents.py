"""Any approved (or flying) flight as an ASTM F3548-21 operational intent: volumes with
altitudes above the WGS84 ellipsoid (converted through the dataset's ground model, so that
they contain the flight's heights above ground), priority and state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from airspace import AirspaceError
from api import problems
from api.auth import CurrentPrincipal
from api.deps import EngineDep
from api.interop import operational_intent
from api.interop_models import OperationalIntentOut
from api.problems import ApiProblem
from api.routers.flight_plans import FlightPlanId, visible_flight
from api.routing import StrictQueryRoute
from utm.errors import InvalidTransitionError

router = APIRouter(prefix="/v1", tags=["flight plans"], route_class=StrictQueryRoute)


@router.get("/flight-plans/{flight_plan_id}/operational-intent",
            response_model=OperationalIntentOut,
            responses=problems.responses(401, 404, 409, 422, 503))
def get_operational_intent(principal: CurrentPrincipal, engine: EngineDep,
                           flight_plan_id: FlightPlanId) -> dict[str, Any]:
    """The flight as ASTM F3548 `OperationalIntent` (`reference` and `details`): one `Volume4D`
    per volume, polygon outline, `W84` altitudes that contain the flight's heights above
    ground wherever the outline stands (the conversion's error bound is in the README), the
    F3548 priority (100 emergency, 50 public service, 0 commercial, -10 leisure) and state
    (`Accepted`, `Activated`, `Nonconforming`). A flight that is not approved or flying has
    none: 409. Who may see the flight may see this."""
    flight = visible_flight(engine, principal, flight_plan_id)
    ground = engine.airspace.ground
    if ground is None:
        raise ApiProblem(409, "no_ground_model", "this airspace has no ground model: "
                         "heights above ground cannot be given as W84 altitudes")
    try:
        return operational_intent(flight, ground)
    except InvalidTransitionError as error:
        raise ApiProblem(409, "no_operational_intent", str(error)) from None
    except AirspaceError as error:
        raise ApiProblem(409, error.code, str(error)) from None
