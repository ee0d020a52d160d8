"""A flight as the engine keeps it: the plan, its state, route, volumes, slots and reviews.

Every record serialises to a JSON document (``to_doc`` / ``from_doc``) that the stores keep
as-is, so the SQLite and PostgreSQL stores hold exactly the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from shapely.geometry import shape

from airspace.timing import format_instant, parse_instant
from routes import (
    DroneCategory,
    DronePerformance,
    Endpoint,
    Leg,
    LegKind,
    Route,
    Volume4D,
    Waypoint,
    volumes_from_json,
)
from utm.plans import AnyPlan, AreaPlan, Drone, FlightPlan, Priority
from utm.states import FlightState


class ReviewStatus(StrEnum):
    """A city's review of its part of a flight."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    AUTOMATIC = "automatic"
    """The city's policy approved its part without review."""


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a decision went the way it did, in machine and human form."""

    code: str
    message: str
    jurisdiction: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {"code": self.code, "message": self.message, "jurisdiction": self.jurisdiction}


@dataclass(frozen=True, slots=True)
class Conflict:
    """Another flight (or zone, or pad) that stood in the way."""

    kind: str
    """``flight``, ``zone``, ``pad`` or ``vertiport_closed``."""
    ref: str
    """The other flight's id, the zone's id, or the vertiport's id."""
    message: str

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {"kind": self.kind, "ref": self.ref, "message": self.message}


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer to a plan: the state it got, why, and what was changed."""

    state: FlightState
    reasons: tuple[Reason, ...] = ()
    changes: tuple[str, ...] = ()
    conflicts: tuple[Conflict, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "state": self.state.value,
            "reasons": [r.to_json() for r in self.reasons],
            "changes": list(self.changes),
            "conflicts": [c.to_json() for c in self.conflicts],
        }


@dataclass(frozen=True, slots=True)
class PadSlot:
    """One pad of a vertiport held for a take-off or landing over ``[start_time, end_time)``."""

    vertiport_id: str
    pad: int
    start_time: datetime
    end_time: datetime
    movement: str
    """``takeoff`` or ``landing``."""


@dataclass(frozen=True, slots=True)
class Flight:
    """Everything the system knows about one flight plan."""

    id: str
    plan: AnyPlan
    """A routed ``FlightPlan`` or an ``AreaPlan`` (then ``route`` is None)."""
    state: FlightState
    decision: Decision
    created_time: datetime
    updated_time: datetime
    approval_id: str | None = None
    departure_time: datetime | None = None
    arrival_time: datetime | None = None
    route: Route | None = None
    volumes: tuple[Volume4D, ...] = ()
    pad_slots: tuple[PadSlot, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    reviews: dict[str, ReviewStatus] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """Messages to the operator (re-planned, preempted, restricted), newest last."""
    approval_signature: str | None = None
    """Ed25519 signature of the approval payload (see ``utm.approvals``)."""
    approval_issued_time: datetime | None = None
    version: int = 1

    @property
    def operator_id(self) -> str:
        """Who filed the plan."""
        return self.plan.operator_id

    @property
    def priority(self) -> Priority:
        """The plan's priority."""
        return self.plan.priority

    def evolve(self, **changes: Any) -> Flight:
        """A copy with ``changes`` and the version bumped."""
        return replace(self, version=self.version + 1, **changes)

    # -- serialisation ---------------------------------------------------------------------

    def to_doc(self) -> dict[str, Any]:
        """A JSON-ready document holding the whole record."""
        return {
            "id": self.id,
            "plan": _plan_to_doc(self.plan),
            "state": self.state.value,
            "decision": self.decision.to_json(),
            "created_time": format_instant(self.created_time),
            "updated_time": format_instant(self.updated_time),
            "approval_id": self.approval_id,
            "departure_time": _instant_or_none(self.departure_time),
            "arrival_time": _instant_or_none(self.arrival_time),
            "route": _route_to_doc(self.route) if self.route else None,
            "volumes": [v.to_json() for v in self.volumes],
            "pad_slots": [
                {"vertiport_id": s.vertiport_id, "pad": s.pad, "movement": s.movement,
                 "start_time": format_instant(s.start_time),
                 "end_time": format_instant(s.end_time)}
                for s in self.pad_slots
            ],
            "jurisdictions": list(self.jurisdictions),
            "reviews": {city: status.value for city, status in self.reviews.items()},
            "notes": list(self.notes),
            "approval_signature": self.approval_signature,
            "approval_issued_time": _instant_or_none(self.approval_issued_time),
            "version": self.version,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Flight:
        """Rebuild a record from ``to_doc`` output."""
        decision = doc["decision"]
        return cls(
            id=doc["id"],
            plan=_plan_from_doc(doc["plan"]),
            state=FlightState(doc["state"]),
            decision=Decision(
                state=FlightState(decision["state"]),
                reasons=tuple(Reason(r["code"], r["message"], r.get("jurisdiction"))
                              for r in decision["reasons"]),
                changes=tuple(decision["changes"]),
                conflicts=tuple(Conflict(c["kind"], c["ref"], c["message"])
                                for c in decision["conflicts"]),
            ),
            created_time=parse_instant(doc["created_time"]),
            updated_time=parse_instant(doc["updated_time"]),
            approval_id=doc.get("approval_id"),
            departure_time=_parse_or_none(doc.get("departure_time")),
            arrival_time=_parse_or_none(doc.get("arrival_time")),
            route=_route_from_doc(doc["route"]) if doc.get("route") else None,
            volumes=tuple(volumes_from_json(doc.get("volumes", []))),
            pad_slots=tuple(
                PadSlot(s["vertiport_id"], s["pad"], parse_instant(s["start_time"]),
                        parse_instant(s["end_time"]), s["movement"])
                for s in doc.get("pad_slots", [])
            ),
            jurisdictions=tuple(doc.get("jurisdictions", [])),
            reviews={city: ReviewStatus(status) for city, status in doc.get("reviews", {}).items()},
            notes=tuple(doc.get("notes", [])),
            approval_signature=doc.get("approval_signature"),
            approval_issued_time=_parse_or_none(doc.get("approval_issued_time")),
            version=doc.get("version", 1),
        )


def _instant_or_none(instant: datetime | None) -> str | None:
    return format_instant(instant) if instant is not None else None


def _parse_or_none(text: str | None) -> datetime | None:
    return parse_instant(text) if text else None


def _endpoint_to_doc(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.vertiport_id is not None:
        return {"vertiport": endpoint.vertiport_id}
    return {"lat": endpoint.lat, "lng": endpoint.lng}


def _endpoint_from_doc(doc: dict[str, Any]) -> Endpoint:
    if "vertiport" in doc:
        return Endpoint(vertiport_id=doc["vertiport"])
    return Endpoint(lat=doc["lat"], lng=doc["lng"])


def _drone_to_doc(drone: Drone) -> dict[str, Any]:
    perf = drone.performance
    return {
        "id": drone.id,
        "category": perf.category.value,
        "cruise_speed_mps": perf.cruise_speed_mps,
        "climb_rate_mps": perf.climb_rate_mps,
        "descent_rate_mps": perf.descent_rate_mps,
        "max_height_agl_m": perf.max_height_agl_m,
    }


def _drone_from_doc(drone: dict[str, Any]) -> Drone:
    performance = DronePerformance(
        DroneCategory(drone["category"]), drone["cruise_speed_mps"], drone["climb_rate_mps"],
        drone["descent_rate_mps"], drone["max_height_agl_m"],
    )
    return Drone(drone["id"], performance)


def _plan_to_doc(plan: AnyPlan) -> dict[str, Any]:
    if isinstance(plan, AreaPlan):
        # "kind" tells the two apart; routed plans have none (documents written before
        # area-based plans existed read the same).
        return {
            "kind": "area",
            "operator_id": plan.operator_id,
            "drone": _drone_to_doc(plan.drone),
            "volumes": [volume.to_json() for volume in plan.volumes],
            "priority": plan.priority.value,
            "purpose": plan.purpose,
            "reference": plan.reference,
        }
    return {
        "operator_id": plan.operator_id,
        "drone": _drone_to_doc(plan.drone),
        "origin": _endpoint_to_doc(plan.origin),
        "destination": _endpoint_to_doc(plan.destination),
        "earliest_departure_time": format_instant(plan.earliest_departure_time),
        "latest_departure_time": format_instant(plan.latest_departure_time),
        "priority": plan.priority.value,
        "purpose": plan.purpose,
        "cruise_agl_m": plan.cruise_agl_m,
        "allow_review_airspace": plan.allow_review_airspace,
    }


def _plan_from_doc(doc: dict[str, Any]) -> AnyPlan:
    if doc.get("kind") == "area":
        return AreaPlan(
            operator_id=doc["operator_id"],
            drone=_drone_from_doc(doc["drone"]),
            volumes=tuple(volumes_from_json(doc["volumes"])),
            priority=Priority(doc["priority"]),
            purpose=doc.get("purpose", ""),
            reference=doc.get("reference", ""),
        )
    return FlightPlan(
        operator_id=doc["operator_id"],
        drone=_drone_from_doc(doc["drone"]),
        origin=_endpoint_from_doc(doc["origin"]),
        destination=_endpoint_from_doc(doc["destination"]),
        earliest_departure_time=parse_instant(doc["earliest_departure_time"]),
        latest_departure_time=parse_instant(doc["latest_departure_time"]),
        priority=Priority(doc["priority"]),
        purpose=doc.get("purpose", ""),
        cruise_agl_m=doc.get("cruise_agl_m"),
        allow_review_airspace=doc.get("allow_review_airspace", False),
    )


def _route_to_doc(route: Route) -> dict[str, Any]:
    return {
        "distance_m": route.distance_m,
        "origin_vertiport": route.origin_vertiport,
        "destination_vertiport": route.destination_vertiport,
        "corridor_ids": list(route.corridor_ids),
        "cruise_agl_m": route.cruise_agl_m,
        "legs": [
            {"kind": leg.kind.value, "corridor_id": leg.corridor_id,
             "start": [leg.start.lat, leg.start.lng, leg.start.alt_agl_m, leg.start.offset_s],
             "end": [leg.end.lat, leg.end.lng, leg.end.alt_agl_m, leg.end.offset_s]}
            for leg in route.legs
        ],
    }


def route_legs_doc_to_path(legs: list[dict[str, Any]]) -> tuple[tuple[float, float], ...]:
    """The turning points of a route from the ``legs`` of its document: (lat, lng) degrees in
    flight order, without repeats (a climb or descent leg starts and ends above one point).

    For views that draw many flights: the path is read without rebuilding the route or the
    volumes (``Flight.from_doc`` projects every volume's outline).
    """
    path: list[tuple[float, float]] = []
    for leg in legs:
        for lat, lng, *_ in (leg["start"], leg["end"]):
            if not path or path[-1] != (lat, lng):
                path.append((lat, lng))
    return tuple(path)


def _route_from_doc(doc: dict[str, Any]) -> Route:
    return Route(
        legs=tuple(
            Leg(LegKind(leg["kind"]), Waypoint(*leg["start"]), Waypoint(*leg["end"]),
                leg.get("corridor_id"))
            for leg in doc["legs"]
        ),
        distance_m=doc["distance_m"],
        origin_vertiport=doc.get("origin_vertiport"),
        destination_vertiport=doc.get("destination_vertiport"),
        corridor_ids=tuple(doc.get("corridor_ids", [])),
        cruise_agl_m=doc.get("cruise_agl_m", 0.0),
    )


def outline_from_geojson(data: dict[str, Any]) -> Any:
    """A shapely geometry from GeoJSON (for stores that keep outlines separately)."""
    return shape(data)


def outline_ring_to_path(ring: list[list[float]]) -> tuple[tuple[float, float], ...]:
    """A GeoJSON outline's exterior ring (``[lng, lat]`` pairs) as (lat, lng) points: what a
    map draws of a flight without a route (an area-based plan: its first volume's outline)."""
    return tuple((float(lat), float(lng)) for lng, lat, *_ in ring)

