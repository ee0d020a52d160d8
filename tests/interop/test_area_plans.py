"""Area-based plans in the engine: held to the invariants of routed plans, and deconflicted
against routed plans both ways (an area against approved routes, a route against approved
areas), exactly, in one store transaction.

Geography: the routed delivery CD-TFS -> CD-JRC (central Chengdu); areas are circles.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from checks import assert_store_invariants
from interop_support import NOW0, T0, area, circle

from airspace import Airspace
from airspace.classes import AirspaceClass
from routes import Endpoint, Planner, Volume4D, volumes_intersect
from utm import area_plans
from utm.constraints import Constraint
from utm.engine import Engine
from utm.errors import InvalidPlanError, InvalidTransitionError
from utm.flights import Flight
from utm.plans import AreaPlan, FlightPlan, Priority, make_drone
from utm.states import FlightState
from utm.storage import open_store


def routed(origin: str = "CD-TFS", destination: str = "CD-JRC", earliest: datetime = T0,
           window: timedelta = timedelta(0), priority: Priority = Priority.COMMERCIAL,
           operator_id: str = "route-op") -> FlightPlan:
    return FlightPlan(operator_id, make_drone("d-1", "light"), Endpoint(vertiport_id=origin),
                      Endpoint(vertiport_id=destination), earliest, earliest + window,
                      priority)


def area_over(volume: Volume4D, radius_m: float = 60.0, **changes: object) -> AreaPlan:
    """A plan over the middle of a routed volume, covering its altitudes and times."""
    centre = volume.outline.centroid
    return area(centre.y, centre.x, radius_m, floor_agl_m=0.0,
                ceiling_agl_m=volume.ceiling_agl_m + 5.0,
                start=volume.start_time - timedelta(minutes=1),
                duration=volume.end_time - volume.start_time + timedelta(minutes=2),
                **changes)  # type: ignore[arg-type]


def no_pair_intersects(a: Flight, b: Flight) -> bool:
    return not any(volumes_intersect(x, y) for x in a.volumes for y in b.volumes)


# -- an area against approved routed flights --------------------------------------------------


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_an_area_meeting_an_approved_route_is_rejected_naming_it(engine: Engine,
                                                                 position: str) -> None:
    route = engine.submit(routed(), NOW0)
    assert route.state is FlightState.APPROVED
    index = {"first": 0, "middle": len(route.volumes) // 2, "last": -1}[position]

    flight = engine.submit_area(area_over(route.volumes[index]), NOW0)

    assert flight.state is FlightState.REJECTED
    assert [(c.kind, c.ref) for c in flight.decision.conflicts] == [("flight", route.id)]
    assert flight.decision.reasons[0].code == "conflict"
    assert flight.volumes == () and flight.approval_id is None
    assert_store_invariants(engine.store)


@pytest.mark.parametrize(("shift", "lift_m"), [
    (timedelta(hours=2), 0.0),   # the same place, later
    (timedelta(0), 100.0),       # the same place and time, above the route's volumes
])
def test_an_area_clear_of_the_route_in_time_or_height_is_approved(
    engine: Engine, shift: timedelta, lift_m: float
) -> None:
    route = engine.submit(routed(), NOW0)
    volume = route.volumes[len(route.volumes) // 2]
    centre = volume.outline.centroid
    plan = area(centre.y, centre.x, 60.0, floor_agl_m=volume.ceiling_agl_m + lift_m,
                ceiling_agl_m=volume.ceiling_agl_m + lift_m + 30.0,
                start=volume.start_time + shift, category="light",
                priority=Priority.EMERGENCY if lift_m else Priority.COMMERCIAL)

    flight = engine.submit_area(plan, NOW0)

    assert flight.state is FlightState.APPROVED, flight.decision
    assert no_pair_intersects(flight, route)
    assert_store_invariants(engine.store)


def test_touching_is_not_intersecting(engine: Engine) -> None:
    """An area whose floor is the route's ceiling shares a plane only: not a conflict."""
    route = engine.submit(routed(), NOW0)
    volume = route.volumes[len(route.volumes) // 2]
    centre = volume.outline.centroid
    plan = area(centre.y, centre.x, 60.0, floor_agl_m=volume.ceiling_agl_m,
                ceiling_agl_m=volume.ceiling_agl_m + 20.0, start=volume.start_time)

    assert engine.submit_area(plan, NOW0).state is FlightState.APPROVED


# -- a routed flight against approved areas ---------------------------------------------------


def test_a_route_moves_out_of_an_approved_area(engine: Engine) -> None:
    planned = engine.evaluate(routed(), NOW0)  # where the route would fly, nothing stored
    held = engine.submit_area(area_over(planned.volumes[len(planned.volumes) // 2],
                                        radius_m=150.0), NOW0)
    assert held.state is FlightState.APPROVED

    route = engine.submit(routed(window=timedelta(hours=2)), NOW0)

    assert route.state is FlightState.APPROVED, route.decision
    assert route.decision.changes  # moved: later, another layer, or around
    assert no_pair_intersects(route, held)
    assert_store_invariants(engine.store)


def test_a_route_with_no_way_around_an_approved_area_is_rejected_naming_it(
    engine: Engine, airspace_model: Airspace
) -> None:
    pad = airspace_model.vertiports["CD-TFS"]
    held = engine.submit_area(area(pad.lat, pad.lng, 400.0, 0.0, 120.0,
                                   start=T0 - timedelta(minutes=10),
                                   duration=timedelta(hours=1)), NOW0)
    assert held.state is FlightState.APPROVED

    route = engine.submit(routed(window=timedelta(minutes=5)), NOW0)

    assert route.state is FlightState.REJECTED
    assert ("flight", held.id) in {(c.kind, c.ref) for c in route.decision.conflicts}


def test_mixed_traffic_keeps_every_invariant(airspace_model: Airspace,
                                             planner: Planner) -> None:
    """Areas and routes filed in random order over the same streets: the independent checker
    finds no two holding flights intersecting and no prohibited zone entered."""
    engine = Engine(airspace_model, open_store("sqlite:///:memory:", airspace_model.layers),
                    planner=planner)
    rng = random.Random(20261201)
    pads = ["CD-TFS", "CD-WCH", "CD-PPH", "CD-TCM", "CD-CXR", "CD-SCU", "CD-JRC"]
    outcomes: dict[tuple[str, FlightState], int] = {}
    for step in range(40):
        start = T0 + timedelta(minutes=rng.randrange(0, 40))
        if step % 2:
            origin, destination = rng.sample(pads, 2)
            flight = engine.submit(routed(origin, destination, start, timedelta(minutes=20)),
                                   NOW0)
            kind = "routed"
        else:
            floor = rng.choice([0.0, 30.0, 60.0])
            plan = area(rng.uniform(30.57, 30.68), rng.uniform(104.03, 104.09),
                        rng.uniform(100.0, 600.0), floor, floor + rng.choice([30.0, 60.0]),
                        start, timedelta(minutes=rng.randrange(5, 30)))
            flight = engine.submit_area(plan, NOW0)
            kind = "area"
        outcomes[kind, flight.state] = outcomes.get((kind, flight.state), 0) + 1

    assert outcomes.get(("routed", FlightState.APPROVED), 0) > 5
    assert outcomes.get(("area", FlightState.APPROVED), 0) > 3
    assert outcomes.get(("area", FlightState.REJECTED), 0) > 0  # they did meet
    assert assert_store_invariants(engine.store) > 8


# -- zones and policies, as for routed flights -----------------------------------------------

CASES = [
    # (name, lat, lng, floor, ceiling, start, category, priority, state, reason code)
    ("ordinary delivery", 30.70, 104.12, 30, 90, T0, "light", Priority.COMMERCIAL,
     FlightState.APPROVED, None),
    ("airport clearance zone", 30.5785, 103.947, 30, 60, T0, "light", Priority.COMMERCIAL,
     FlightState.REJECTED, "class_refused"),
    ("above 120 m in Chengdu", 30.72, 104.00, 130, 150, T0, "light", Priority.COMMERCIAL,
     FlightState.PENDING_REVIEW, "class_review"),
    ("emergency fast track", 30.72, 104.00, 130, 150, T0, "light", Priority.EMERGENCY,
     FlightState.APPROVED, "emergency_fast_track"),
    ("Chengdu medium drone", 30.70, 104.12, 30, 90, T0, "medium", Priority.COMMERCIAL,
     FlightState.PENDING_REVIEW, "category_review"),
    ("Deyang curfew", 31.10, 104.40, 30, 90, T0 + timedelta(hours=15), "light",
     Priority.COMMERCIAL, FlightState.REJECTED, "curfew"),
    ("Deyang height limit", 31.10, 104.40, 210, 250, T0, "light", Priority.COMMERCIAL,
     FlightState.REJECTED, "above_max_height"),
    ("Meishan curfew", 30.10, 103.86, 30, 90, T0 + timedelta(hours=16), "light",
     Priority.COMMERCIAL, FlightState.PENDING_REVIEW, "curfew"),
    ("Meishan controlled airspace", 30.10, 103.86, 100, 130, T0, "light",
     Priority.COMMERCIAL, FlightState.REJECTED, "class_refused"),
    ("Ziyang lead time", 30.15, 104.62, 30, 90, NOW0 + timedelta(minutes=10), "light",
     Priority.COMMERCIAL, FlightState.REJECTED, "lead_time"),
    ("Ziyang small drone", 30.15, 104.62, 30, 90, T0, "small", Priority.COMMERCIAL,
     FlightState.PENDING_REVIEW, "category_review"),
    ("Ziyang oil depot", 30.06, 104.75, 30, 90, T0, "light", Priority.COMMERCIAL,
     FlightState.REJECTED, "class_refused"),
]


@pytest.mark.parametrize(("lat", "lng", "floor", "ceiling", "start", "category", "priority",
                          "state", "code"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_every_city_policy_applies_to_areas(
    engine: Engine, lat: float, lng: float, floor: float, ceiling: float, start: datetime,
    category: str, priority: Priority, state: FlightState, code: str | None
) -> None:
    flight = engine.submit_area(area(lat, lng, 300.0, floor, ceiling, start, category=category,
                                     priority=priority), NOW0)

    assert flight.state is state, flight.decision
    codes = {reason.code for reason in flight.decision.reasons}
    assert (code in codes) if code else not codes


def test_a_prohibited_zone_is_named_as_a_conflict(engine: Engine) -> None:
    flight = engine.submit_area(area(30.5785, 103.947, 200.0, 30.0, 60.0), NOW0)

    assert ("zone", "ZUUU-P") in {(c.kind, c.ref) for c in flight.decision.conflicts}


def test_one_approval_across_two_cities(engine: Engine) -> None:
    flight = engine.submit_area(area(30.9062, 104.3431, 500.0, 30.0, 90.0), NOW0)

    assert flight.state is FlightState.APPROVED
    assert set(flight.jurisdictions) == {"chengdu", "deyang"}
    assert flight.reviews == {"chengdu": "automatic", "deyang": "automatic"}
    check = engine.verify_approval(flight.approval_id or "")
    assert check.valid and set(check.jurisdictions) == {"chengdu", "deyang"}


# -- modes, updates, references ---------------------------------------------------------------


def test_dry_run_stores_nothing(engine: Engine) -> None:
    flight = engine.submit_area(area(30.70, 104.12), NOW0, mode="dry_run")

    assert flight.state is FlightState.APPROVED
    assert engine.store.get_flight(flight.id) is None
    assert engine.store.list_flights() == []


def test_if_approved_records_a_plan_needing_review_as_rejected(engine: Engine) -> None:
    flight = engine.submit_area(area(30.72, 104.00, 300.0, 130.0, 150.0, reference="r-1"),
                                NOW0, mode="if_approved")

    assert flight.state is FlightState.REJECTED
    assert {"class_review", "review_required"} <= {r.code for r in flight.decision.reasons}
    stored = engine.store.get_flight(flight.id)
    assert stored is not None and stored.state is FlightState.REJECTED and not stored.volumes
    assert area_plans.flight_id_for(engine.store, "area-op", "r-1") == flight.id


def test_an_update_takes_new_volumes_and_keeps_the_approval_id(engine: Engine) -> None:
    first = engine.submit_area(area(30.70, 104.12, reference="r-2"), NOW0)
    moved = area(30.71, 104.13, reference="r-2")

    updated = engine.submit_area(moved, NOW0, flight_id=first.id, mode="if_approved")

    assert updated.id == first.id and updated.approval_id == first.approval_id
    assert updated.volumes == moved.volumes and updated.version > first.version
    assert engine.verify_approval(updated.approval_id or "").valid


def test_an_update_that_is_not_allowed_leaves_the_flight_as_it_was(engine: Engine) -> None:
    first = engine.submit_area(area(30.70, 104.12), NOW0)
    into_the_airport = area(30.5785, 103.947, 200.0, 30.0, 60.0)

    refused = engine.submit_area(into_the_airport, NOW0, flight_id=first.id,
                                 mode="if_approved")

    assert refused.state is FlightState.REPLAN_REQUIRED  # what it would have become
    assert engine.get(first.id).to_doc() == first.to_doc()


def test_an_update_of_a_routed_or_closed_flight_is_refused(engine: Engine) -> None:
    route = engine.submit(routed(), NOW0)
    with pytest.raises(InvalidPlanError):
        engine.submit_area(area(30.70, 104.12), NOW0, flight_id=route.id)
    cancelled = engine.submit_area(area(30.70, 104.12), NOW0)
    engine.cancel(cancelled.id, NOW0, "tester")
    with pytest.raises(InvalidTransitionError):
        engine.submit_area(area(30.70, 104.12), NOW0, flight_id=cancelled.id)


@pytest.mark.parametrize(("start", "message"), [
    (NOW0 + timedelta(days=31), "30 days"),
    (NOW0 - timedelta(hours=2), "in the past"),
])
def test_plans_outside_the_planning_horizon_are_invalid(engine: Engine, start: datetime,
                                                        message: str) -> None:
    with pytest.raises(InvalidPlanError, match=message):
        engine.submit_area(area(30.70, 104.12, start=start), NOW0)


def test_an_area_leaving_the_service_area_is_invalid(engine: Engine) -> None:
    with pytest.raises(InvalidPlanError, match="service area"):
        engine.submit_area(area(30.0, 106.5), NOW0)  # east of Ziyang, in Chongqing


def test_an_area_too_large_to_index_is_invalid(engine: Engine) -> None:
    with pytest.raises(InvalidPlanError, match="too large"):
        engine.submit_area(area(30.70, 104.12, 8000.0, 0.0, 1000.0,
                                duration=timedelta(hours=20)), NOW0)


@pytest.mark.parametrize("problem", ["no volumes", "over a day", "too many volumes"])
def test_malformed_area_plans_are_refused(problem: str) -> None:
    one = area(30.70, 104.12).volumes[0]
    volumes = {"no volumes": (),
               "over a day": (one, one.shifted(timedelta(hours=24))),
               "too many volumes": tuple(one.shifted(timedelta(minutes=i))
                                         for i in range(101))}[problem]
    with pytest.raises(InvalidPlanError):
        AreaPlan("op", make_drone("d", "light"), volumes)


# -- the life of an area-based flight ---------------------------------------------------------


def test_an_area_flight_flies_conforms_and_ends(engine: Engine) -> None:
    flight = engine.submit_area(area(30.70, 104.12, 300.0, 30.0, 90.0), NOW0)

    flying = engine.activate(flight.id, T0, "pilot")
    inside, _ = engine.report_position(flight.id, 30.70, 104.12, 60.0, T0 + timedelta(minutes=5),
                                       T0 + timedelta(minutes=5))
    outside, alerts = engine.report_position(flight.id, 30.70, 104.12, 150.0,
                                             T0 + timedelta(minutes=6),
                                             T0 + timedelta(minutes=6))
    ended = engine.end(flight.id, T0 + timedelta(minutes=20), "pilot")

    assert flying.state is FlightState.ACTIVATED and inside.state is FlightState.ACTIVATED
    assert outside.state is FlightState.NONCONFORMING
    assert [e.data["kind"] for e in alerts if e.kind == "alert"] == ["nonconforming"]
    assert ended.state is FlightState.ENDED and ended.volumes == ()


@pytest.mark.parametrize("url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_area_flights_round_trip_through_every_store(
    airspace_model: Airspace, planner: Planner, url: str, request: pytest.FixtureRequest
) -> None:
    url = (str(request.getfixturevalue("pg_schema_url")) if url == "postgres"
           else "sqlite:///:memory:")
    store = open_store(url, airspace_model.layers)
    try:
        engine = Engine(airspace_model, store, planner=planner)
        held = engine.submit_area(area(30.70, 104.12, reference="r-9"), NOW0)
        refused = engine.submit_area(area(30.70, 104.12), NOW0)

        stored = store.get_flight(held.id)
        assert stored is not None and stored.to_doc() == held.to_doc()
        assert Flight.from_doc(held.to_doc()).to_doc() == held.to_doc()
        by_approval = store.find_by_approval(held.approval_id or "")
        assert by_approval is not None and by_approval.id == held.id
        assert refused.state is FlightState.REJECTED
        summaries = {s.id: s for s in store.list_flight_summaries(
            start_time=T0, end_time=T0 + timedelta(minutes=10))}
        assert summaries[held.id].departure_time == T0
        # The map draws an area flight as its first volume's outline.
        ring = held.volumes[0].outline.exterior.coords
        path = summaries[held.id].path
        assert len(path) == len(ring) and all(
            abs(lat - y) < 1e-6 and abs(lng - x) < 1e-6
            for (lat, lng), (x, y) in zip(path, ring, strict=True))
        assert area_plans.flight_id_for(store, "area-op", "r-9") == held.id
        assert engine.verify_approval(held.approval_id or "").valid
    finally:
        store.close()


# -- losing the airspace: emergencies and constraints -----------------------------------------


def test_an_emergency_area_preempts_a_routed_flight_not_yet_flying(engine: Engine) -> None:
    route = engine.submit(routed(window=timedelta(hours=2)), NOW0)
    emergency = area_over(route.volumes[len(route.volumes) // 2], radius_m=80.0,
                          priority=Priority.EMERGENCY)

    flight = engine.submit_area(emergency, NOW0)

    moved = engine.get(route.id)
    assert flight.state is FlightState.APPROVED
    assert moved.state in (FlightState.APPROVED, FlightState.REPLAN_REQUIRED)
    assert "preempted by emergency flight" in moved.notes[-1]
    assert no_pair_intersects(flight, moved)
    assert_store_invariants(engine.store)


def test_an_area_preempted_by_a_routed_emergency_must_be_filed_again(engine: Engine) -> None:
    planned = engine.evaluate(routed(), NOW0)
    held = engine.submit_area(area_over(planned.volumes[len(planned.volumes) // 2],
                                        radius_m=80.0, reference="r-3"), NOW0)
    assert held.state is FlightState.APPROVED

    emergency = engine.submit(routed(priority=Priority.EMERGENCY, operator_id="rescue"), NOW0)

    lost = engine.get(held.id)
    assert emergency.state is FlightState.APPROVED
    assert lost.state is FlightState.REPLAN_REQUIRED and lost.volumes == ()
    assert "preempted by emergency flight" in lost.notes[-1]
    assert "file it again" in lost.notes[-1]
    assert not engine.verify_approval(held.approval_id or "").valid
    notices = engine.store.list_records(area_plans.NOTIFICATION_KIND)
    assert [(n["operator_id"], n["flight_id"], n["conflicts"]) for n in notices] == [
        ("area-op", held.id, "Single")]
    assert_store_invariants(engine.store)


@pytest.mark.parametrize(("city", "lat", "lng", "state"), [
    ("ziyang", 30.15, 104.62, FlightState.REPLAN_REQUIRED),  # Ziyang refuses restricted
    ("chengdu", 30.70, 104.12, FlightState.PENDING_REVIEW),  # Chengdu reviews it
])
def test_a_constraint_over_an_area_decides_it_again(engine: Engine, airspace_model: Airspace,
                                                    city: str, lat: float, lng: float,
                                                    state: FlightState) -> None:
    held = engine.submit_area(area(lat, lng, 200.0, 30.0, 90.0), NOW0)
    constraint = Constraint(f"C-{city}-area", city, circle(lat, lng, 500.0), 0.0, 300.0,
                            T0 - timedelta(hours=1), T0 + timedelta(hours=3),
                            AirspaceClass.RESTRICTED, "rescue operation", "regulator",
                            NOW0)
    try:
        _, affected = engine.issue_constraint(constraint, NOW0, f"regulator:{city}")
    finally:
        airspace_model.remove_zone(constraint.id)

    assert [flight.id for flight in affected] == [held.id]
    assert affected[0].state is state
    assert "restricted by constraint" in affected[0].notes[-1]
    notices = engine.store.list_records(area_plans.NOTIFICATION_KIND)
    assert [n["flight_id"] for n in notices] == [held.id]
