"""A morning of traffic over the four cities, replayed through the engine.

Seeded and reproducible: deliveries between hot-spot vertiports in every city, cross-city
logistics, a medical emergency that preempts, a regulator's constraint and a city review.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shapely.geometry import Point

from airspace import AirspaceClass
from airspace.geo import latlng_to_xy_m, metric_to_lnglat
from routes import Endpoint
from utm.constraints import Constraint
from utm.engine import Engine
from utm.flights import Flight
from utm.plans import FlightPlan, Priority, make_drone
from utm.states import FlightState

MORNING_START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
"""08:00 in Chengdu (UTC+8)."""


@dataclass(slots=True)
class DemoSummary:
    """What the replay did, for people to read."""

    submitted: int = 0
    states: Counter[str] = field(default_factory=Counter)
    approvals_by_city: Counter[str] = field(default_factory=Counter)
    preempted: list[str] = field(default_factory=list)
    constraint_id: str | None = None
    constraint_affected: int = 0
    reviewed: list[str] = field(default_factory=list)
    cross_city: int = 0


def replay_morning(engine: Engine, *, flights: int = 300, seed: int = 7,
                   on_progress: Callable[[int], None] | None = None) -> DemoSummary:
    """Submit ``flights`` plans over a morning (08:00-12:00 local) and the scripted events."""
    rng = random.Random(seed)
    summary = DemoSummary()
    airspace = engine.airspace
    by_city: dict[str, list[str]] = {}
    for vertiport in airspace.vertiports.values():
        by_city.setdefault(vertiport.jurisdiction, []).append(vertiport.id)
    cities = sorted(by_city)
    weights = [6 if city == "chengdu" else 2 for city in cities]
    for number in range(flights):
        now = MORNING_START + timedelta(minutes=number * 240 / flights)
        if rng.random() < 0.12:
            origin = rng.choice(by_city["chengdu"])
            destination = rng.choice(by_city[rng.choice([c for c in cities if c != "chengdu"])])
            summary.cross_city += 1
        else:
            city = rng.choices(cities, weights)[0]
            origin, destination = rng.sample(by_city[city], 2)
        departure = now + timedelta(minutes=rng.randint(35, 60))
        category = rng.choices(["light", "small", "medium"], [80, 15, 5])[0]
        plan = FlightPlan(
            operator_id=rng.choice(["sf-express", "meituan-air", "jd-logistics"]),
            drone=make_drone(f"drone-{number:04d}", category),
            origin=Endpoint(origin), destination=Endpoint(destination),
            earliest_departure_time=departure,
            latest_departure_time=departure + timedelta(minutes=20),
            priority=Priority.COMMERCIAL, purpose="parcel delivery",
        )
        _record(summary, engine.submit(plan, now))
        if on_progress:
            on_progress(number + 1)
    _emergency(engine, summary)
    _constraint(engine, summary)
    _review(engine, summary)
    return summary


def _record(summary: DemoSummary, flight: Flight) -> None:
    summary.submitted += 1
    summary.states[flight.state.value] += 1
    if flight.state is FlightState.APPROVED:
        for city in flight.jurisdictions:
            summary.approvals_by_city[city] += 1


def _emergency(engine: Engine, summary: DemoSummary) -> None:
    """A medical flight from a hospital pad onto the busiest route, at the busiest time."""
    busiest = engine.store.list_flights(states=[FlightState.APPROVED], limit=1)[0]
    departure = busiest.departure_time
    assert departure is not None
    plan = FlightPlan(
        operator_id="west-china-hospital", drone=make_drone("med-001", "light"),
        origin=busiest.plan.origin, destination=busiest.plan.destination,
        earliest_departure_time=departure, latest_departure_time=departure,
        priority=Priority.EMERGENCY, purpose="blood for surgery",
    )
    flight = engine.submit(plan, departure - timedelta(minutes=5))
    _record(summary, flight)
    after = engine.get(busiest.id)
    if after.notes:
        summary.preempted.append(f"{busiest.id}: {after.notes[-1]}")


def _constraint(engine: Engine, summary: DemoSummary) -> None:
    """Chengdu closes a 600 m circle around a busy vertiport for a public event."""
    approved = engine.store.list_flights(states=[FlightState.APPROVED], limit=50)
    target = next((f for f in approved if "chengdu" in f.jurisdictions and f.route), None)
    if target is None or target.route is None:
        return
    middle = target.route.legs[len(target.route.legs) // 2].end
    x_m, y_m = latlng_to_xy_m(middle.lat, middle.lng)
    outline = metric_to_lnglat(Point(x_m, y_m).buffer(600.0, quad_segs=8))
    start = target.volumes[0].start_time
    constraint = Constraint(
        id="tfr-demo-1", jurisdiction=target.jurisdictions[0], outline=outline,
        floor_agl_m=0.0, ceiling_agl_m=300.0, start_time=start,
        end_time=start + timedelta(hours=2), airspace_class=AirspaceClass.PROHIBITED,
        reason="public event", issued_by="regulator-demo", issued_time=start - timedelta(hours=1),
    )
    _, affected = engine.issue_constraint(constraint, start - timedelta(minutes=30),
                                          "regulator-demo")
    summary.constraint_id = constraint.id
    summary.constraint_affected = len(affected)


def _review(engine: Engine, summary: DemoSummary) -> None:
    """Each city's regulator approves the first plan waiting for it."""
    for flight in engine.store.list_flights(states=[FlightState.PENDING_REVIEW], limit=20):
        for city, status in flight.reviews.items():
            if status.value == "pending" and flight.departure_time is not None:
                now = flight.departure_time - timedelta(minutes=20)
                done = engine.review(flight.id, city, True, "checked on the map", now,
                                     f"regulator-{city}")
                summary.reviewed.append(f"{flight.id} by {city} -> {done.state.value}")
                if len(summary.reviewed) >= 2:
                    return
