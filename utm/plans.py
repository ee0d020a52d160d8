"""What an operator files: a routed flight plan or an area-based plan, its priority and drone.

Two kinds of plan, held to the same invariants by the engine:

- ``FlightPlan``: from an origin to a destination, departing inside a window; the engine finds
  the route, the altitude and the departure;
- ``AreaPlan``: the operator's own 4-D volumes (as the InterUSS flight-planning interface and
  ASTM F3548 send them); the engine decides them as given, without moving them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from airspace.text import describe_character, first_refused_character
from routes import DroneCategory, DronePerformance, Endpoint, InvalidRequestError, Volume4D
from utm.errors import InvalidPlanError

MAX_PLANNING_HORIZON = timedelta(days=30)
"""Plans departing more than 30 days ahead are refused (as ASTM F3548 does)."""

MAX_DEPARTURE_WINDOW = timedelta(hours=24)
"""The window an operator offers for the departure is at most a day."""

MAX_AREA_DURATION = timedelta(hours=24)
"""An area-based plan spans at most a day, from its first volume's start to its last's end."""

MAX_AREA_VOLUMES = 100
"""An area-based plan has at most this many volumes."""


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
        for name, value in (("operator_id", self.operator_id), ("drone.id", self.drone.id),
                            ("purpose", self.purpose)):
            check_plan_text(value, name)
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


@dataclass(frozen=True, slots=True)
class AreaPlan:
    """A request to hold the operator's own 4-D volumes: fly anywhere inside them.

    The volumes are decided as given (no route, no delay, no other altitude): approved only if
    they meet no other flight, no zone that refuses them, and every crossed city's policy.
    """

    operator_id: str
    drone: Drone
    volumes: tuple[Volume4D, ...]
    """Metres above ground, UTC; kept in order of start time."""
    priority: Priority = Priority.COMMERCIAL
    purpose: str = ""
    reference: str = ""
    """The operator's own name for the plan (the InterUSS ``flight_plan_id``), for tracing."""

    def __post_init__(self) -> None:
        if not self.operator_id:
            raise InvalidPlanError("operator_id is required", field="operator_id")
        if not self.drone.id:
            raise InvalidPlanError("drone.id is required", field="drone.id")
        for name, value in (("operator_id", self.operator_id), ("drone.id", self.drone.id),
                            ("purpose", self.purpose), ("reference", self.reference)):
            check_plan_text(value, name)
        if len(self.purpose) > 500:
            raise InvalidPlanError("purpose is longer than 500 characters", field="purpose")
        if len(self.reference) > 128:
            raise InvalidPlanError("reference is longer than 128 characters", field="reference")
        if not self.volumes:
            raise InvalidPlanError("an area-based plan needs at least one volume",
                                   field="volumes")
        if len(self.volumes) > MAX_AREA_VOLUMES:
            raise InvalidPlanError(f"an area-based plan has at most {MAX_AREA_VOLUMES} volumes",
                                   field="volumes")
        for volume in self.volumes:
            if not isinstance(volume, Volume4D):
                raise InvalidPlanError("volumes must be Volume4D values", field="volumes")
        # Floats, so that the signed digest of the volumes is the same after a store round
        # trip (JSON writes an int 100 and a float 100.0 differently).
        ordered = tuple(sorted(
            (replace(v, floor_agl_m=float(v.floor_agl_m), ceiling_agl_m=float(v.ceiling_agl_m),
                     outline_m=v.outline_m) for v in self.volumes),
            key=lambda v: (v.start_time, v.end_time)))
        object.__setattr__(self, "volumes", ordered)
        if self.end_time - self.start_time > MAX_AREA_DURATION:
            raise InvalidPlanError("an area-based plan may span at most 24 hours",
                                   field="volumes")

    @property
    def start_time(self) -> datetime:
        """When the first volume begins (the departure, for lead times and curfews)."""
        return self.volumes[0].start_time

    @property
    def end_time(self) -> datetime:
        """When the last volume ends."""
        return max(volume.end_time for volume in self.volumes)

    def check_horizon(self, now: datetime) -> None:
        """Refuse plans that are over already or begin beyond the planning horizon."""
        if self.start_time > now + MAX_PLANNING_HORIZON:
            raise InvalidPlanError("the area's first volume begins more than 30 days ahead",
                                   field="volumes")
        if self.end_time <= now:
            raise InvalidPlanError("the area's volumes are all in the past", field="volumes")


AnyPlan = FlightPlan | AreaPlan
"""Either kind of plan (``Flight.plan``)."""


def check_plan_text(value: object, field: str) -> None:
    """Refuse a text field that is not a string, or holds characters no record may keep
    (``airspace.text``: control characters, lone surrogates, bidirectional controls).

    Why here too, and not only at the API: a lone surrogate cannot be encoded as UTF-8, so a
    plan holding one would fail in the store after it was decided.
    """
    if not isinstance(value, str):
        raise InvalidPlanError(f"{field} must be a string, got {type(value).__name__}",
                               field=field)
    position = first_refused_character(value)
    if position is not None:
        raise InvalidPlanError(f"{field} holds {describe_character(value[position])} at "
                               f"position {position}, which is not allowed", field=field)


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
