"""The InterUSS flight-planning automated-testing interface, v1 (spec 0.7.0), at
``/flight_planning/v1``: what the InterUSS test driver (uss_qualifier) calls to act as a user
of this system and as the test director.

The interface's own OpenAPI document (``shared/specs/flight_planning_v1_0.7.0``) is its
contract, so these routes stay out of ours. Who may call and with which scope:
``api.interop_auth``; what each call does: ``api.interop``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import Now, ServicesDep
from api.interop import API_NAME, API_VERSION, InteropService
from api.interop_auth import InteropCaller, Scope, TokenVerifier, caller_of, require_scope
from api.interop_models import ClearAreaRequestIn, UpsertFlightPlanRequestIn
from api.models import Instant
from api.problems import ApiProblem

router = APIRouter(prefix="/flight_planning/v1", tags=["interuss"], include_in_schema=False)

FlightPlanId = Annotated[str, Path(
    min_length=36, max_length=36,
    pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-"
            r"[0-9a-fA-F]{12}$",
    description="A version-4 UUID naming the user's flight plan")]

_bearer = HTTPBearer(auto_error=False)


def get_interop(request: Request) -> InteropService:
    """The app's interface service (set by ``create_app``)."""
    service: InteropService = request.app.state.interop
    return service


def get_caller(
    request: Request, services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> InteropCaller:
    """The caller, from its bearer token (401 without a valid one)."""
    verifier: TokenVerifier | None = request.app.state.interop_verifier
    return caller_of(credentials.credentials if credentials else None, verifier,
                     services.principals)


InteropDep = Annotated[InteropService, Depends(get_interop)]
Caller = Annotated[InteropCaller, Depends(get_caller)]


@router.get("/status")
def get_status(caller: Caller) -> dict[str, Any]:
    """The interface is ready (test director)."""
    require_scope(caller, Scope.DIRECT_AUTOMATED_TEST)
    return {"status": "Ready", "api_name": API_NAME, "api_version": API_VERSION}


@router.put("/flight_plans/{flight_plan_id}")
def upsert_flight_plan(caller: Caller, interop: InteropDep, now: Now,
                       flight_plan_id: FlightPlanId,
                       body: UpsertFlightPlanRequestIn) -> dict[str, Any]:
    """A user plans, re-plans, flies or closes a flight (see ``api.interop``)."""
    require_scope(caller, Scope.PLAN)
    response = interop.upsert(caller, flight_plan_id, body, now)
    if response is None:
        raise ApiProblem(409, "duplicate_request_id",
                         f"request_id {body.request_id!r} was used for another flight plan",
                         field="request_id")
    return response


@router.delete("/flight_plans/{flight_plan_id}")
def delete_flight_plan(caller: Caller, interop: InteropDep, now: Now,
                       flight_plan_id: FlightPlanId) -> dict[str, Any]:
    """Close a flight plan (cancel it, or end it if flying). The driver asks with the ``plan``
    scope, the interface names ``direct_automated_test``: either will do."""
    require_scope(caller, Scope.PLAN, Scope.DIRECT_AUTOMATED_TEST)
    response = interop.close(caller, flight_plan_id, now)
    if response is None:
        raise ApiProblem(404, "flight_plan_not_found",
                         f"no flight plan {flight_plan_id} of {caller.operator_id}")
    return response


@router.post("/clear_area_requests")
def clear_area(caller: Caller, interop: InteropDep, now: Now,
               body: ClearAreaRequestIn) -> dict[str, Any]:
    """Close every flight plan filed through this interface that meets the extent (test
    director)."""
    require_scope(caller, Scope.DIRECT_AUTOMATED_TEST)
    return interop.clear_area(caller, body, now)


@router.get("/user_notifications")
def user_notifications(
    caller: Caller, interop: InteropDep, now: Now,
    after: Annotated[Instant, Query(description="Notifications observed at or after")],
    before: Annotated[Instant | None, Query(description="... and at or before (default now)")]
    = None,
) -> dict[str, Any]:
    """What the system told the caller about its plans (a constraint or an emergency took
    their airspace)."""
    require_scope(caller, Scope.PLAN)
    until = before or now
    if until < after:
        raise ApiProblem(400, "invalid_request", "'before' is earlier than 'after'",
                         field="before")
    return interop.notifications(caller, after, until)
