"""What an operator files: the flight plan, its priority and its drone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from routes import DroneCategory, DronePerformance, Endpoint, InvalidRequestError
from utm.errors import InvalidPlanError

MAX_PLANNING_HORIZON = timedelta(days=30)
"""Plans departing more than 30 days ahead are refused (as ASTM F3548 does)."""

MAX_DEPARTURE_WINDOW = timedelta(hours=24)
"""The window an operator offers for the departure is at most a day."""


class Priority(StrEnum):
    """Who goes first when airspace is short. Emergency flights may preempt lower ones."""

    EMERGENCY = "emergency"
    """Medical, rescue, police and fire: may take airspace from lower-priority approved flights."""
    PUBLIC_SERVICE = "public_service"
    """Inspection, surveying, public administration."""
    COMMERCIAL = "commercial"
    """Deliveries and other paid work."""
    LEISURE = "leisure"
    """Recreation and tourism."""

    @property
    def rank(self) -> int:
        """Higher outranks lower."""
        return _RANK[self]


_RANK = {Priority.EMERGENCY: 3, Priority.PUBLIC_SERVICE: 2, Priority.COMMERCIAL: 1,
         Priority.LEISURE: 0}


@dataclass(frozen=True, slots=True)
class Drone:
    """The aircraft that will fly the plan."""

    id: str
    performance: DronePerformance

    @property
    def category(self) -> DroneCategory:
        """The drone's category."""
        return self.performance.category


@dataclass(frozen=True, slots=True)
class FlightPlan:
    """A request to fly from origin to destination, departing inside a window."""

    operator_id: str
    drone: Drone
    origin: Endpoint
    destination: Endpoint
    earliest_departure_time: datetime
    latest_departure_time: datetime
    priority: Priority = Priority.COMMERCIAL
    purpose: str = ""
    cruise_agl_m: float | None = None
    """Preferred free-flight altitude; None lets the engine choose."""
    allow_review_airspace: bool = False
    """Route through controlled or restricted airspace if needed, subject to review."""

    def __post_init__(self) -> None:
        for name in ("earliest_departure_time", "latest_departure_time"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise InvalidPlanError(f"{name} needs a time zone (RFC 3339 with Z)", field=name)
        if self.latest_departure_time < self.earliest_departure_time:
            raise InvalidPlanError(
                "latest_departure_time is before earliest_departure_time",
                field="latest_departure_time",
            )
        if self.latest_departure_time - self.earliest_departure_time > MAX_DEPARTURE_WINDOW:
            raise InvalidPlanError("the departure window may span at most 24 hours",
                                   field="latest_departure_time")
        if not self.operator_id:
            raise InvalidPlanError("operator_id is required", field="operator_id")
        if not self.drone.id:
            raise InvalidPlanError("drone.id is required", field="drone.id")
        if len(self.purpose) > 500:
            raise InvalidPlanError("purpose is longer than 500 characters", field="purpose")

    def check_horizon(self, now: datetime) -> None:
        """Refuse plans that depart in the past or beyond the planning horizon."""
        if self.earliest_departure_time > now + MAX_PLANNING_HORIZON:
            raise InvalidPlanError(
                "earliest_departure_time is more than 30 days ahead",
                field="earliest_departure_time",
            )
        if self.latest_departure_time < now:
            raise InvalidPlanError("the departure window is in the past",
                                   field="latest_departure_time")


def make_drone(drone_id: str, category: str, *, cruise_speed_mps: float | None = None,
               max_height_agl_m: float | None = None) -> Drone:
    """A drone of a category with default performance, optionally overridden.

    Raises ``InvalidPlanError`` naming the field for an unknown category or a value out of
    range.
    """
    try:
        drone_category = DroneCategory(category)
    except ValueError as error:
        raise InvalidPlanError(
            f"unknown drone category {category!r} (micro, light, small, medium)",
            field="drone.category",
        ) from error
    try:
        performance = DronePerformance.default_for(drone_category).with_overrides(
            cruise_speed_mps=cruise_speed_mps, max_height_agl_m=max_height_agl_m
        )
    except InvalidRequestError as error:
        raise InvalidPlanError(str(error), field="drone") from error
    return Drone(drone_id, performance)
