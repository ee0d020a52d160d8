"""Flight plans: file, read, list, cancel, activate, end, report positions.

Operators see and act on their own plans only: another operator's plan answers 404, exactly
as a plan that does not exist. Regulators see the plans crossing their cities and may cancel
them; admins see and do everything.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Path, Query, Response

from api import problems
from api.auth import CurrentPrincipal, OperatorOrAdmin, Principal, Role
from api.deps import EngineDep, Now, ServicesDep
from api.models import FlightPlanIn, FlightPlanOut, FlightPlanPage, TelemetryIn, TelemetryOut
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, page
from api.problems import ApiProblem
from api.routing import StrictQueryRoute
from api.wire import endpoint_problem, flight_to_json, plan_from_input
from routes import RoutingError
from utm.engine import Engine
from utm.errors import FlightNotFoundError, InvalidPlanError, UtmError
from utm.flights import Flight
from utm.states import FlightState

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["flight plans"], route_class=StrictQueryRoute)

FlightPlanId = Annotated[str, Path(max_length=128, description="A flight plan id (`fp-...`)")]
StateName = Literal["pending_review", "approved", "rejected", "activated", "nonconforming",
                    "ended", "cancelled", "replan_required"]


def visible_flight(engine: Engine, principal: Principal, flight_id: str) -> Flight:
    """The flight if the principal may see it; 404 otherwise (also for other operators')."""
    flight = engine.store.get_flight(flight_id)
    if flight is None or not principal.may_see_flight(flight):
        raise FlightNotFoundError(f"no flight plan {flight_id!r}")
    return flight


@router.post("/flight-plans", status_code=201, response_model=FlightPlanOut,
             responses=problems.responses(400, 401, 403, 413, 415, 422, 503))
def file_flight_plan(principal: OperatorOrAdmin, engine: EngineDep, now: Now,
                     body: FlightPlanIn, response: Response, services: ServicesDep,
                     background: BackgroundTasks) -> dict[str, Any]:
    """File a flight plan and get the decision at once.

    The engine finds the earliest departure in the window (`earliest_departure_time` to
    `latest_departure_time`) at which the route conflicts with no other flight, pad or active
    zone, applies the policy of every city crossed (the strictest wins), and answers
    `approved` (with one `approval_id` valid in every city), `pending_review` (the slot is held
    until the cities review) or `rejected` (with reasons and conflicts). A rejection is a
    decision, not an error: the plan is stored and answered with 201 too.

    An emergency may take the airspace of approved flights that are not flying yet: it is
    answered at once, and those flights are re-planned right after (`replan_required` with
    the reason `preempted` until then; then approved again, or `replan_required`: file again).

    Operators file for themselves; an admin files for the operator named in `operator_id`.
    """
    if principal.role is Role.OPERATOR:
        assert principal.operator_id is not None
        if body.operator_id not in (None, principal.operator_id):
            raise ApiProblem(403, "forbidden", "an operator files for itself only",
                             field="operator_id")
        operator_id = principal.operator_id
    else:
        if body.operator_id is None:
            raise ApiProblem(422, "invalid_request", "an admin must name the operator_id",
                             field="operator_id")
        operator_id = body.operator_id
    plan = plan_from_input(body, operator_id, engine.airspace)
    try:
        flight = engine.submit(plan, now, actor=principal.actor, replan_later=True)
    except (InvalidPlanError, RoutingError) as error:
        raise endpoint_problem(error, plan.origin, plan.destination) from None
    background.add_task(_replan_released, engine, services)
    response.headers["Location"] = f"/v1/flight-plans/{flight.id}"
    return flight_to_json(flight)


def _replan_released(engine: Engine, services: ServicesDep) -> None:
    """After the answer: re-plan the flights an emergency released. If the store fails they
    stay queued, and the engine re-plans them before its next decision."""
    try:
        engine.run_replans(services.now())
    except UtmError as error:
        log.warning("re-planning preempted flights failed, will retry: %s", error)


@router.get("/flight-plans", response_model=FlightPlanPage,
            responses=problems.responses(401, 422, 503))
def list_flight_plans(
    principal: CurrentPrincipal, engine: EngineDep,
    state: Annotated[StateName | None, Query(description="Only plans in this state")] = None,
    limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
) -> dict[str, Any]:
    """The plans the caller may see, oldest first (operators: their own; regulators: those
    crossing their cities; admin: all)."""
    operator_id = principal.operator_id if principal.role is Role.OPERATOR else None
    cities = sorted(principal.jurisdictions) if principal.role is Role.REGULATOR else None
    states = [FlightState(state)] if state else None

    def fetch(after: str | None, count: int) -> list[Flight]:
        return engine.store.list_flights(operator_id=operator_id, jurisdictions=cities,
                                         states=states, after_id=after, limit=count)

    flights, next_cursor = page(fetch, cursor, limit, lambda f: f.id, principal.may_see_flight)
    return {"items": [flight_to_json(f) for f in flights], "next_cursor": next_cursor}


@router.get("/flight-plans/{flight_plan_id}", response_model=FlightPlanOut,
            responses=problems.responses(401, 404, 422, 503))
def get_flight_plan(principal: CurrentPrincipal, engine: EngineDep,
                    flight_plan_id: FlightPlanId) -> dict[str, Any]:
    """One flight plan with its decision, route, volumes, reviews and notes."""
    return flight_to_json(visible_flight(engine, principal, flight_plan_id))


_ACTION_RESPONSES = problems.responses(401, 403, 404, 409, 422, 503)


@router.post("/flight-plans/{flight_plan_id}/cancel", response_model=FlightPlanOut,
             responses=_ACTION_RESPONSES)
def cancel_flight_plan(principal: CurrentPrincipal, engine: EngineDep, now: Now,
                       flight_plan_id: FlightPlanId) -> dict[str, Any]:
    """Withdraw a plan that is not flying; its airspace is released at once.

    Its operator, a regulator of a city it crosses, or an admin may cancel it.
    """
    visible_flight(engine, principal, flight_plan_id)
    return flight_to_json(engine.cancel(flight_plan_id, now, principal.actor))


@router.post("/flight-plans/{flight_plan_id}/activate", response_model=FlightPlanOut,
             responses=_ACTION_RESPONSES)
def activate_flight_plan(principal: OperatorOrAdmin, engine: EngineDep, now: Now,
                         flight_plan_id: FlightPlanId) -> dict[str, Any]:
    """The flight takes off (approved plans only, not before their first volume begins)."""
    visible_flight(engine, principal, flight_plan_id)
    return flight_to_json(engine.activate(flight_plan_id, now, principal.actor))


@router.post("/flight-plans/{flight_plan_id}/end", response_model=FlightPlanOut,
             responses=_ACTION_RESPONSES)
def end_flight_plan(principal: OperatorOrAdmin, engine: EngineDep, now: Now,
                    flight_plan_id: FlightPlanId) -> dict[str, Any]:
    """The flight has landed; its airspace is released."""
    visible_flight(engine, principal, flight_plan_id)
    return flight_to_json(engine.end(flight_plan_id, now, principal.actor))


@router.post("/flight-plans/{flight_plan_id}/telemetry", response_model=TelemetryOut,
             responses=problems.responses(400, 401, 403, 404, 409, 413, 415, 422, 503))
def report_position(principal: OperatorOrAdmin, engine: EngineDep, now: Now,
                    flight_plan_id: FlightPlanId, body: TelemetryIn) -> dict[str, Any]:
    """Report a position of a flying flight.

    A position outside the flight's volumes (beyond a 10 m tolerance) makes the flight
    `nonconforming` and alerts the regulators; two flights reported closer than the separation
    minima raise a `loss_of_separation` alert. A plan that is not flying answers 409.
    """
    visible_flight(engine, principal, flight_plan_id)
    flight, events = engine.report_position(flight_plan_id, body.lat, body.lng, body.alt_agl_m,
                                            body.time, now)
    return {"flight_plan_id": flight.id, "state": flight.state.value,
            "alerts": [event.data for event in events if event.kind == "alert"]}
