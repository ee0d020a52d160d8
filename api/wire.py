"""Conversions between the request/response models and the domain's values.

Input models become domain values here (drones, endpoints, plans), checked against the
airspace where the request models cannot check (a vertiport id must exist); domain values
become the JSON documents the output models describe.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airspace import Airspace, AirspaceClass, AirspaceError
from airspace.timing import format_instant
from api.models import DroneIn, EndpointIn, FlightPlanIn, RoutePlanIn, VertiportEndpointIn
from api.problems import ApiProblem, domain_problem
from routes import (
    DroneCategory,
    DronePerformance,
    Endpoint,
    FlightBuffers,
    InvalidRequestError,
    Route,
    RouteRequest,
    RoutingError,
    route_to_volumes,
)
from utm.errors import UtmError
from utm.flights import Flight
from utm.plans import AreaPlan, Drone, FlightPlan, Priority

_PERFORMANCE_FIELDS = ("cruise_speed_mps", "climb_rate_mps", "descent_rate_mps",
                       "max_height_agl_m")


def drone_from_input(drone: DroneIn, field: str = "drone") -> Drone:
    """The drone with its category's performance and the overrides given."""
    try:
        performance = DronePerformance.default_for(DroneCategory(drone.category)).with_overrides(
            **{name: getattr(drone, name) for name in _PERFORMANCE_FIELDS})
    except InvalidRequestError as error:
        named = next((name for name in _PERFORMANCE_FIELDS if name in str(error)), None)
        raise ApiProblem(422, error.code, str(error),
                         field=f"{field}.{named}" if named else field) from None
    return Drone(drone.id, performance)


def endpoint_from_input(endpoint: EndpointIn, role: str, airspace: Airspace,
                        prefix: str = "") -> Endpoint:
    """A routing endpoint; 422 ``unknown_vertiport`` naming the field for an unknown id."""
    if isinstance(endpoint, VertiportEndpointIn):
        if endpoint.vertiport not in airspace.vertiports:
            raise ApiProblem(422, "unknown_vertiport",
                             f"unknown {role} vertiport {endpoint.vertiport!r}",
                             field=f"{prefix}{role}.vertiport")
        return Endpoint(vertiport_id=endpoint.vertiport)
    return Endpoint(lat=endpoint.lat, lng=endpoint.lng)


def endpoint_problem(error: AirspaceError | RoutingError | UtmError, origin: Endpoint,
                     destination: Endpoint, prefix: str = "") -> ApiProblem:
    """The problem for a planning error, naming the endpoint at fault when the error does not.

    Routing messages describe the endpoint ("point (30.5785, 103.947) lies in prohibited
    zone ..."); the request knows which of origin and destination that is.
    """
    problem = domain_problem(error)
    if problem.field is None:
        message = str(error.__cause__ or error)
        for role, endpoint in (("origin", origin), ("destination", destination)):
            if endpoint.describe() in message:
                problem.field = role
                break
    if problem.field is not None and prefix:
        problem.field = prefix + problem.field
    return problem


def route_request_from_input(body: RoutePlanIn, airspace: Airspace,
                             prefix: str = "") -> RouteRequest:
    """A planner request from a ``POST /routes/plan`` body."""
    allowed = (frozenset({AirspaceClass.CONTROLLED, AirspaceClass.RESTRICTED})
               if body.allow_review_airspace else frozenset())
    drone = drone_from_input(body.drone, f"{prefix}drone")
    return RouteRequest(
        origin=endpoint_from_input(body.origin, "origin", airspace, prefix),
        destination=endpoint_from_input(body.destination, "destination", airspace, prefix),
        departure_time=body.departure_time,
        performance=drone.performance,
        cruise_agl_m=body.cruise_agl_m,
        allowed_classes=allowed,
    )


def plan_from_input(body: FlightPlanIn, operator_id: str, airspace: Airspace) -> FlightPlan:
    """A flight plan from a ``POST /flight-plans`` body, filed by ``operator_id``."""
    latest = body.latest_departure_time or body.earliest_departure_time
    return FlightPlan(
        operator_id=operator_id,
        drone=drone_from_input(body.drone),
        origin=endpoint_from_input(body.origin, "origin", airspace),
        destination=endpoint_from_input(body.destination, "destination", airspace),
        earliest_departure_time=body.earliest_departure_time,
        latest_departure_time=latest,
        priority=Priority(body.priority),
        purpose=body.purpose,
        cruise_agl_m=body.cruise_agl_m,
        allow_review_airspace=body.allow_review_airspace,
    )


def route_to_json(route: Route, departure_time: datetime,
                  buffers: FlightBuffers) -> dict[str, Any]:
    """A planned route: GeoJSON line, 4-D volumes, times, distance, legs."""

    def at(offset_s: float) -> str:
        return format_instant(departure_time + timedelta(seconds=offset_s))

    return {
        "route": route.to_geojson(),
        "volumes": [v.to_json() for v in route_to_volumes(route, departure_time, buffers)],
        "departure_time": format_instant(departure_time),
        "arrival_time": at(route.duration_s),
        "distance_m": round(route.distance_m, 1),
        "duration_s": round(route.duration_s, 1),
        "cruise_agl_m": route.cruise_agl_m,
        "corridors": list(route.corridor_ids),
        "legs": [{"kind": leg.kind.value, "corridor_id": leg.corridor_id,
                  "start_time": at(leg.start.offset_s), "end_time": at(leg.end.offset_s)}
                 for leg in route.legs],
    }


def flight_to_json(flight: Flight) -> dict[str, Any]:
    """A flight plan as ``FlightPlanOut``."""
    doc = flight.to_doc()
    plan = doc["plan"]
    decision = doc["decision"]
    if isinstance(flight.plan, AreaPlan):
        start = format_instant(flight.plan.start_time)
        window = {"kind": "area", "origin": None, "destination": None,
                  "earliest_departure_time": start, "latest_departure_time": start}
    else:
        window = {"kind": "routed", "origin": plan["origin"], "destination": plan["destination"],
                  "earliest_departure_time": plan["earliest_departure_time"],
                  "latest_departure_time": plan["latest_departure_time"]}
    return {
        "id": flight.id,
        "state": flight.state.value,
        "operator_id": flight.operator_id,
        "priority": plan["priority"],
        "purpose": plan["purpose"],
        "drone": plan["drone"],
        **window,
        "approval_id": flight.approval_id,
        "departure_time": doc["departure_time"],
        "arrival_time": doc["arrival_time"],
        "route": flight.route.to_geojson() if flight.route else None,
        "volumes": doc["volumes"],
        "pad_slots": doc["pad_slots"],
        "jurisdictions": doc["jurisdictions"],
        "reviews": doc["reviews"],
        "decision": decision,
        "notes": doc["notes"],
        "created_time": doc["created_time"],
        "updated_time": doc["updated_time"],
        "version": doc["version"],
    }


def review_items(flight: Flight, cities: frozenset[str] | None) -> list[dict[str, Any]]:
    """The pending reviews of a flight, for ``cities`` (None: every city)."""
    reasons = [reason.to_json() for reason in flight.decision.reasons]
    return [
        {
            "flight_plan_id": flight.id,
            "jurisdiction": city,
            "status": status.value,
            "operator_id": flight.operator_id,
            "priority": flight.priority.value,
            "purpose": flight.plan.purpose,
            "departure_time": format_instant(flight.departure_time)
            if flight.departure_time else None,
            "arrival_time": format_instant(flight.arrival_time) if flight.arrival_time else None,
            "jurisdictions": list(flight.jurisdictions),
            "reasons": [r for r in reasons if r["jurisdiction"] in (None, city)],
        }
        for city, status in flight.reviews.items()
        if status.value == "pending" and (cities is None or city in cities)
    ]
