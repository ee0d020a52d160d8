"""The InterUSS flight-planning interface over the engine: the wire conversions, and what the
virtual user of the interface does (plan, fly, close, clear an area, read notifications).

Mapping (flight_planning.yaml 0.7.0 to the engine):

- A flight plan's ``basic_information.area`` is an area-based plan (``utm.plans.AreaPlan``):
  circles become polygons that contain them, altitudes become metres above ground (``W84``
  through the dataset's ground model, conservatively; ``SFC`` as is; ``Takeoff`` is not
  supported), times stay UTC. ``astm_f3548_21.priority`` maps to our priorities by band (see
  ``priority_from_f3548``), ``additional_information.drone_category`` names the drone's
  category (default light), ``uas.serial_number`` its id, ``description`` the purpose. The
  ``flight_plan_id`` is the plan's ``reference``: the engine keeps the link to the flight.
- Execution styles: ``IfAllowed`` stores the plan only if approved outright (a plan that would
  wait for a city's review is not allowed yet: Rejected); ``Hypothetical`` decides and stores
  nothing; ``InReality`` reports what the user is doing (flying an approved plan: ``InUse``;
  landing: ``Closed``). Planning "in reality" without asking is not supported.
- Usage states: ``Planned`` plans (or re-plans), ``InUse`` plans if needed and activates,
  ``Closed`` cancels (not yet flying) or ends (flying) the flight.
- Results: an approval is ``Completed``; a rejection (conflict, zone, a city's policy, a plan
  the engine refuses as filed, e.g. more than 30 days ahead) is ``Rejected``;
  ``includes_advisories`` says whether the decision came with reasons for the user (for
  example an emergency fast track). ``flight_plan_status``: approved ``Planned``, activated
  ``OkToFly``, nonconforming ``OffNominal``, cancelled or ended ``Closed``, anything else
  (rejected, pending review, replan required, none) ``NotPlanned``.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shapely.geometry import Point, Polygon

from airspace import AirspaceError
from airspace.geo import lnglat_to_metric, metric_to_lnglat
from airspace.ground import GroundModel
from airspace.timing import format_instant
from api.interop_auth import InteropCaller
from api.interop_models import (
    AltitudeIn,
    ClearAreaRequestIn,
    FlightPlanIn,
    UpsertFlightPlanRequestIn,
    Volume4DIn,
)
from routes import Volume4D, volumes_intersect
from utm import area_plans
from utm.engine import Engine
from utm.errors import InvalidPlanError, InvalidTransitionError, UtmError
from utm.flights import Flight
from utm.plans import AreaPlan, Priority, make_drone
from utm.states import HOLDS_AIRSPACE, FlightState

API_NAME = "Flight Planning Automated Testing Interface"
API_VERSION = "v0.7.0"
MANAGER = "lowalt-utm"
"""How exported operational intents name their manager (the USS)."""

CIRCLE_SEGMENTS = 64
"""A circle becomes a polygon of this many sides that contains it."""

DEFAULT_DRONE_CATEGORY = "light"
REQUEST_CACHE_SIZE = 1000
"""Responses remembered by ``request_id`` (a repeated request gets the first answer)."""

_PRIORITY_BANDS: tuple[tuple[int, Priority], ...] = (
    (100, Priority.EMERGENCY),
    (50, Priority.PUBLIC_SERVICE),
    (0, Priority.COMMERCIAL),
)
_F3548_OF: dict[Priority, int] = {Priority.EMERGENCY: 100, Priority.PUBLIC_SERVICE: 50,
                                  Priority.COMMERCIAL: 0, Priority.LEISURE: -10}


def priority_from_f3548(value: int | None) -> Priority:
    """Our priority for an ASTM F3548 ordinal priority (higher goes first): 100 and above
    emergency, 50 to 99 public service, 0 to 49 (and none) commercial, below 0 leisure."""
    if value is None:
        return Priority.COMMERCIAL
    for lowest, priority in _PRIORITY_BANDS:
        if value >= lowest:
            return priority
    return Priority.LEISURE


def priority_to_f3548(priority: Priority) -> int:
    """The ASTM F3548 priority we export (the lowest of the band, so it maps back)."""
    return _F3548_OF[priority]


class NotSupportedError(Exception):
    """The interaction is valid but this USS does not support it (``NotSupported``)."""


# -- wire to domain ------------------------------------------------------------------------------


def outline_from_input(volume: Volume4DIn, field: str) -> Polygon:
    """The footprint, (lng, lat) degrees: a polygon as given, or a polygon containing the
    circle (its vertices lie outside the circle, and the radius is measured in EPSG:32648
    metres, whose scale factor here is below 1, so the true circle is inside).

    Raises
    ------
    InvalidPlanError
        Naming the field: no outline, both, or a polygon that is not simple.
    """
    circle, polygon = volume.volume.outline_circle, volume.volume.outline_polygon
    if (circle is None) == (polygon is None):
        raise InvalidPlanError("exactly one of outline_circle and outline_polygon is needed",
                               field=f"{field}.volume")
    if circle is not None:
        if circle.center is None or circle.radius is None:
            raise InvalidPlanError("a circle needs a center and a radius",
                                   field=f"{field}.volume.outline_circle")
        radius_m = circle.radius.value / math.cos(math.pi / CIRCLE_SEGMENTS)
        centre_m = lnglat_to_metric(Point(circle.center.lng, circle.center.lat))
        shape = metric_to_lnglat(centre_m.buffer(radius_m, quad_segs=CIRCLE_SEGMENTS // 4))
        assert isinstance(shape, Polygon)
        return shape
    assert polygon is not None
    outline = Polygon([(vertex.lng, vertex.lat) for vertex in polygon.vertices])
    if not outline.is_valid or outline.area <= 0.0:
        raise InvalidPlanError("the polygon's edges cross or it has no area",
                               field=f"{field}.volume.outline_polygon")
    return outline


def altitudes_from_input(outline: Polygon, lower: AltitudeIn | None, upper: AltitudeIn,
                         ground: GroundModel | None, field: str) -> tuple[float, float]:
    """``(floor_agl_m, ceiling_agl_m)`` of a volume: ``SFC`` as is, ``W84`` through the ground
    model (``airspace.ground``: the range above ground that contains the given one wherever
    the outline stands). No lower bound means the ground.

    Raises
    ------
    InvalidPlanError
        Altitudes that cannot be converted (outside the ground model, below the ground).
    NotSupportedError
        ``Takeoff`` altitudes, mixed references, ``W84`` without a ground model.
    """
    reference = upper.reference
    if lower is not None and lower.reference != reference:
        raise NotSupportedError("altitude_lower and altitude_upper must use the same reference")
    if reference == "Takeoff":
        raise NotSupportedError("altitudes relative to the take-off point are not supported "
                                "(use W84 or SFC)")
    if reference == "W84" and ground is None:
        raise NotSupportedError("this airspace has no ground model: W84 altitudes cannot be "
                                "converted (use SFC)")
    try:
        if reference == "W84":
            assert ground is not None
            if lower is None:
                _, ceiling_agl_m = ground.w84_to_agl(outline, upper.value - 1.0, upper.value)
                return 0.0, ceiling_agl_m
            return ground.w84_to_agl(outline, lower.value, upper.value)
        floor_agl_m = max(0.0, lower.value) if lower is not None else 0.0
        if upper.value <= floor_agl_m:
            raise InvalidPlanError(f"altitude_upper {upper.value} m SFC is not above the floor "
                                   f"({floor_agl_m} m)", field=f"{field}.volume.altitude_upper")
        return floor_agl_m, upper.value
    except AirspaceError as error:
        raise InvalidPlanError(str(error), field=f"{field}.volume") from None


def volume_from_input(volume: Volume4DIn, ground: GroundModel | None, field: str) -> Volume4D:
    """One volume of the area, in metres above ground.

    Raises
    ------
    InvalidPlanError
        A missing time or upper altitude, times out of order, altitudes that cannot be
        converted (see ``altitudes_from_input``).
    NotSupportedError
        As ``altitudes_from_input``.
    """
    outline = outline_from_input(volume, field)
    if volume.time_start is None or volume.time_end is None:
        raise InvalidPlanError("each volume needs time_start and time_end", field=field)
    upper = volume.volume.altitude_upper
    if upper is None:
        raise InvalidPlanError("each volume needs altitude_upper",
                               field=f"{field}.volume.altitude_upper")
    floor_agl_m, ceiling_agl_m = altitudes_from_input(
        outline, volume.volume.altitude_lower, upper, ground, field)
    try:
        return Volume4D(outline, floor_agl_m, ceiling_agl_m, volume.time_start.value,
                        volume.time_end.value)
    except ValueError as error:  # times out of order
        raise InvalidPlanError(str(error), field=field) from None


def area_plan_from_input(flight_plan: FlightPlanIn, operator_id: str, reference: str,
                         ground: GroundModel | None) -> AreaPlan:
    """The area-based plan a virtual user files.

    Raises
    ------
    InvalidPlanError, NotSupportedError
        As ``volume_from_input``; an empty area; an unknown drone category.
    """
    info = flight_plan.basic_information
    if not info.area:
        raise InvalidPlanError("the flight plan has no area", field="basic_information.area")
    volumes = tuple(volume_from_input(volume, ground, f"basic_information.area[{index}]")
                    for index, volume in enumerate(info.area))
    extra = flight_plan.additional_information or {}
    category = extra.get("drone_category", DEFAULT_DRONE_CATEGORY)
    if not isinstance(category, str):
        raise InvalidPlanError("additional_information.drone_category must be a string",
                               field="additional_information.drone_category")
    serial = flight_plan.uas.serial_number if flight_plan.uas is not None else ""
    priority = (flight_plan.astm_f3548_21.priority if flight_plan.astm_f3548_21 is not None
                else None)
    return AreaPlan(operator_id=operator_id, drone=make_drone(serial or "interuss-uas", category),
                    volumes=volumes, priority=priority_from_f3548(priority),
                    purpose=info.description, reference=reference)


# -- domain to wire ------------------------------------------------------------------------------


def flight_plan_status(flight: Flight | None) -> str:
    """The interface's ``FlightPlanStatus`` of a flight (None: no flight)."""
    if flight is None:
        return "NotPlanned"
    return {FlightState.APPROVED: "Planned", FlightState.ACTIVATED: "OkToFly",
            FlightState.NONCONFORMING: "OffNominal", FlightState.CANCELLED: "Closed",
            FlightState.ENDED: "Closed"}.get(flight.state, "NotPlanned")


def explain(flight: Flight) -> str:
    """The decision's reasons and conflicts, in one line for ``notes``."""
    parts = [reason.message for reason in flight.decision.reasons]
    parts += [conflict.message for conflict in flight.decision.conflicts]
    return f"{flight.state.value}: " + ("; ".join(parts) if parts else "no reason given")


def volume_to_f3548(volume: Volume4D, ground: GroundModel) -> dict[str, Any]:
    """An ASTM F3548 ``Volume4D``: polygon outline, W84 altitudes (containing the AGL range
    wherever the outline stands), RFC 3339 times."""
    floor_w84_m, ceiling_w84_m = ground.agl_to_w84(volume.outline, volume.floor_agl_m,
                                                   volume.ceiling_agl_m)
    vertices = [{"lat": round(lat, 7), "lng": round(lng, 7)}
                for lng, lat in list(volume.outline.exterior.coords)[:-1]]
    return {
        "volume": {
            "outline_polygon": {"vertices": vertices},
            "altitude_lower": {"value": round(floor_w84_m, 2), "reference": "W84",
                               "units": "M"},
            "altitude_upper": {"value": round(ceiling_w84_m, 2), "reference": "W84",
                               "units": "M"},
        },
        "time_start": {"value": format_instant(volume.start_time), "format": "RFC3339"},
        "time_end": {"value": format_instant(volume.end_time), "format": "RFC3339"},
    }


OPERATIONAL_INTENT_STATES = {FlightState.APPROVED: "Accepted",
                             FlightState.ACTIVATED: "Activated",
                             FlightState.NONCONFORMING: "Nonconforming"}
"""ASTM F3548 operational intent states of the flights that have one."""


def operational_intent(flight: Flight, ground: GroundModel) -> dict[str, Any]:
    """An approved (or flying) flight as ASTM F3548 ``OperationalIntent`` (reference and
    details): its volumes with W84 altitudes, its priority and state.

    Raises
    ------
    InvalidTransitionError
        For a flight without an operational intent (not approved, or no longer flying).
    """
    state = OPERATIONAL_INTENT_STATES.get(flight.state)
    if state is None or not flight.volumes:
        raise InvalidTransitionError(
            f"a flight that is {flight.state.value} has no operational intent "
            "(approved or flying flights only)")
    volumes = [volume_to_f3548(volume, ground) for volume in flight.volumes]
    return {
        "reference": {
            "id": flight.id,
            "manager": MANAGER,
            "version": flight.version,
            "state": state,
            "time_start": volumes[0]["time_start"],
            "time_end": {"value": format_instant(max(v.end_time for v in flight.volumes)),
                         "format": "RFC3339"},
        },
        "details": {
            "volumes": volumes,
            "off_nominal_volumes": [],
            "priority": priority_to_f3548(flight.priority),
        },
    }


@dataclass(frozen=True, slots=True)
class PlanningOutcome:
    """An ``UpsertFlightPlanResponse`` / ``DeleteFlightPlanResponse``."""

    planning_result: str
    flight_plan_status: str
    notes: str = ""
    includes_advisories: str = "Unknown"

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {"planning_result": self.planning_result,
                "flight_plan_status": self.flight_plan_status, "notes": self.notes,
                "includes_advisories": self.includes_advisories}


def _approved_notes(flight: Flight) -> str:
    conditions = [reason.message for reason in flight.decision.reasons]
    return (f"approved ({flight.approval_id})"
            + (": " + "; ".join(conditions) if conditions else ""))


def _advisories(flight: Flight) -> str:
    return ("AtLeastOneAdvisoryOrCondition" if flight.decision.reasons or flight.notes
            else "NoAdvisoriesOrConditions")


# -- the virtual user ---------------------------------------------------------------------------


class InteropService:
    """What the interface's handlers do, over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        """One interface action at a time: a plan id is looked up and acted on atomically."""
        self._responses: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()

    @property
    def ground(self) -> GroundModel | None:
        """The airspace's ground model."""
        return self.engine.airspace.ground

    def flight_for(self, caller: InteropCaller, flight_plan_id: str) -> Flight | None:
        """The caller's latest flight filed under ``flight_plan_id``."""
        flight_id = area_plans.flight_id_for(self.engine.store, caller.operator_id,
                                             flight_plan_id)
        return self.engine.store.get_flight(flight_id) if flight_id else None

    # -- upsert --------------------------------------------------------------------------

    def upsert(self, caller: InteropCaller, flight_plan_id: str,
               body: UpsertFlightPlanRequestIn, now: datetime) -> dict[str, Any] | None:
        """Plan, re-plan, fly or close; None if ``request_id`` was used for another plan
        (409)."""
        with self._lock:
            remembered = self._responses.get(body.request_id)
            if remembered is not None:
                plan_id, response = remembered
                return response if plan_id == flight_plan_id else None
            response = self._upsert(caller, flight_plan_id, body, now).to_json()
            self._responses[body.request_id] = (flight_plan_id, response)
            while len(self._responses) > REQUEST_CACHE_SIZE:
                self._responses.popitem(last=False)
            return response

    def _upsert(self, caller: InteropCaller, flight_plan_id: str,
                body: UpsertFlightPlanRequestIn, now: datetime) -> PlanningOutcome:
        info = body.flight_plan.basic_information
        style = body.execution_style
        existing = self.flight_for(caller, flight_plan_id)
        holding = existing if existing is not None and existing.state in HOLDS_AIRSPACE else None
        if info.usage_state == "Closed":
            if style == "Hypothetical":
                return PlanningOutcome("Completed", "Closed" if holding else
                                       flight_plan_status(existing))
            return self._close(caller, existing, now)
        if style == "InReality" and info.usage_state == "Planned":
            return PlanningOutcome("NotSupported", flight_plan_status(existing),
                                   "InReality reports flying (InUse) and landing (Closed); "
                                   "plan with IfAllowed")
        try:
            plan = area_plan_from_input(body.flight_plan, caller.operator_id, flight_plan_id,
                                        self.ground)
        except NotSupportedError as error:
            return PlanningOutcome("NotSupported", flight_plan_status(existing), str(error))
        except InvalidPlanError as error:
            return PlanningOutcome("Rejected", flight_plan_status(existing),
                                   _with_field(error))
        if holding is not None and holding.state in (FlightState.ACTIVATED,
                                                     FlightState.NONCONFORMING):
            if info.usage_state == "InUse" and _within(plan, holding):
                return PlanningOutcome("Completed", flight_plan_status(holding),
                                       "flying inside the approved area",
                                       "NoAdvisoriesOrConditions")
            return PlanningOutcome("NotSupported", flight_plan_status(holding),
                                   "the area of a flight in the air cannot be changed: land "
                                   "(Closed) and plan again")
        if style == "InReality":  # InUse: the user has taken off under an approved plan
            if holding is None or holding.state is not FlightState.APPROVED or not _within(
                plan, holding
            ):
                return PlanningOutcome("NotSupported", flight_plan_status(existing),
                                       "flying in reality needs an approved plan covering the "
                                       "area; plan it with IfAllowed first")
            return self._activate(caller, holding, now)
        mode = "dry_run" if style == "Hypothetical" else "if_approved"
        try:
            flight = self.engine.submit_area(plan, now, flight_id=holding.id if holding else None,
                                             actor=caller.actor, mode=mode)
        except (InvalidPlanError, InvalidTransitionError) as error:
            return PlanningOutcome("Rejected", flight_plan_status(existing), str(error))
        if flight.state is not FlightState.APPROVED:
            return PlanningOutcome("Rejected", flight_plan_status(holding), explain(flight),
                                   "AtLeastOneAdvisoryOrCondition")
        if style == "Hypothetical":
            flying = info.usage_state == "InUse" and plan.start_time <= now
            return PlanningOutcome("Completed", "OkToFly" if flying else "Planned",
                                   "hypothetical: nothing was stored", _advisories(flight))
        if info.usage_state == "InUse":
            return self._activate(caller, flight, now)
        return PlanningOutcome("Completed", "Planned", _approved_notes(flight),
                               _advisories(flight))

    def _activate(self, caller: InteropCaller, flight: Flight, now: datetime) -> PlanningOutcome:
        try:
            flown = self.engine.activate(flight.id, now, caller.actor)
        except InvalidTransitionError as error:
            return PlanningOutcome("Rejected", flight_plan_status(flight), str(error))
        return PlanningOutcome("Completed", flight_plan_status(flown),
                               f"flying under approval {flown.approval_id}", _advisories(flown))

    # -- close ---------------------------------------------------------------------------

    def close(self, caller: InteropCaller, flight_plan_id: str,
              now: datetime) -> dict[str, Any] | None:
        """``DELETE``: close the caller's flight plan; None if there is none (404)."""
        with self._lock:
            existing = self.flight_for(caller, flight_plan_id)
            if existing is None:
                return None
            return self._close(caller, existing, now).to_json()

    def _close(self, caller: InteropCaller, flight: Flight | None,
               now: datetime) -> PlanningOutcome:
        if flight is None:
            return PlanningOutcome("Completed", "NotPlanned", "no such flight plan")
        try:
            closed = self._end_or_cancel(flight, now, caller.actor)
        except UtmError as error:
            return PlanningOutcome("Failed", flight_plan_status(flight), str(error))
        return PlanningOutcome("Completed", flight_plan_status(closed),
                               f"{closed.state.value}", "NoAdvisoriesOrConditions")

    def _end_or_cancel(self, flight: Flight, now: datetime, actor: str) -> Flight:
        if flight.state in (FlightState.ACTIVATED, FlightState.NONCONFORMING):
            return self.engine.end(flight.id, now, actor)
        if flight.state in (FlightState.APPROVED, FlightState.PENDING_REVIEW,
                            FlightState.REPLAN_REQUIRED):
            return self.engine.cancel(flight.id, now, actor)
        return flight  # rejected, cancelled or ended already

    # -- clear area ----------------------------------------------------------------------

    def clear_area(self, caller: InteropCaller, body: ClearAreaRequestIn,
                   now: datetime) -> dict[str, Any]:
        """Cancel (or end) every flight filed through this interface that holds airspace
        meeting the extent."""
        try:
            extent = self._extent(body.extent)
        except (InvalidPlanError, NotSupportedError) as error:
            return {"outcome": {"success": False, "message": str(error)}}
        cleared: list[str] = []
        failed: list[str] = []
        with self._lock:
            for flight in self._interop_flights():
                if not any(volumes_intersect(extent, volume) for volume in flight.volumes):
                    continue
                try:
                    self._end_or_cancel(flight, now, caller.actor)
                    cleared.append(flight.id)
                except UtmError as error:
                    failed.append(f"{flight.id}: {error}")
        if failed:
            return {"outcome": {"success": False, "message": "; ".join(failed),
                                "details": {"cleared": cleared}}}
        return {"outcome": {"success": True, "message": f"{len(cleared)} flight(s) closed",
                            "details": {"cleared": cleared}}}

    def _extent(self, extent: Volume4DIn) -> Volume4D:
        """The extent as one volume; a missing time or altitude bound is unbounded."""
        outline = outline_from_input(extent, "extent")
        floor_agl_m, ceiling_agl_m = 0.0, UNBOUNDED_CEILING_AGL_M
        upper = extent.volume.altitude_upper
        if upper is not None:
            floor_agl_m, ceiling_agl_m = altitudes_from_input(
                outline, extent.volume.altitude_lower, upper, self.ground, "extent")
        start = extent.time_start.value if extent.time_start else _FAR_PAST
        end = extent.time_end.value if extent.time_end else _FAR_FUTURE
        return Volume4D(outline, floor_agl_m, ceiling_agl_m, start, end)

    def _interop_flights(self) -> list[Flight]:
        """Flights filed through the interface that hold airspace."""
        flights: list[Flight] = []
        after: str | None = None
        while True:
            page = self.engine.store.list_records(area_plans.REFERENCE_KIND, after_id=after,
                                                  limit=500)
            for doc in page:
                flight = self.engine.store.get_flight(str(doc["flight_id"]))
                if flight is not None and flight.state in HOLDS_AIRSPACE:
                    flights.append(flight)
            if len(page) < 500:
                return flights
            after = str(page[-1]["id"])

    # -- notifications -------------------------------------------------------------------

    def notifications(self, caller: InteropCaller, after: datetime,
                      before: datetime) -> dict[str, Any]:
        """What the caller's plans were told by the system between ``after`` and ``before``
        (a constraint or an emergency took their airspace)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.engine.store.list_records(area_plans.NOTIFICATION_KIND,
                                                  after_id=cursor, limit=500)
            for doc in page:
                observed = datetime.fromisoformat(str(doc["observed_time"]).replace("Z",
                                                                                    "+00:00"))
                if doc.get("operator_id") == caller.operator_id and after <= observed <= before:
                    found.append({"observed_at": {"value": doc["observed_time"],
                                                  "format": "RFC3339"},
                                  "message": doc.get("message", ""),
                                  "conflicts": doc.get("conflicts", "Unknown")})
            if len(page) < 500:
                return {"user_notifications": found}
            cursor = str(page[-1]["id"])


def _within(plan: AreaPlan, flight: Flight) -> bool:
    """True if every volume of the plan lies inside the flight's volumes (a flight reporting
    its area while flying may not take more)."""
    for volume in plan.volumes:
        covering = [held for held in flight.volumes
                    if held.start_time <= volume.start_time and volume.end_time <= held.end_time
                    and held.floor_agl_m <= volume.floor_agl_m
                    and volume.ceiling_agl_m <= held.ceiling_agl_m]
        if not covering:
            return False
        union = covering[0].outline_m
        for held in covering[1:]:
            union = union.union(held.outline_m)
        if volume.outline_m.difference(union.buffer(0.01)).area > 1e-4:
            return False
    return True


def _with_field(error: InvalidPlanError) -> str:
    return f"{error} ({error.field})" if error.field else str(error)


UNBOUNDED_CEILING_AGL_M = 1.0e6
_FAR_PAST = datetime(2000, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
