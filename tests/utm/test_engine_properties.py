"""Property: whatever traffic is filed, the approved airspace stays deconflicted.

Each example files 20 to 40 plans concentrated on a few hot spots of central Chengdu (and one
route to Deyang), departing within 20 minutes, with some emergencies and cancellations; then
the independent checker of ``checks`` (wire JSON only) must find no intersection, no entry
into a prohibited zone and no double-booked pad (DESIGN.md invariants 1 and 2), and every
approval must verify (invariant 4).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from checks import assert_store_invariants, check_invariants
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airspace import Airspace
from routes import Endpoint, Planner
from utm.engine import Engine
from utm.plans import FlightPlan, Priority, make_drone
from utm.states import FlightState
from utm.storage import open_store

HOT_PAIRS = [
    # Repeated pairs are drawn more often: the hot spots of the scenario.
    ("CD-TFS", "CD-WCH"), ("CD-TFS", "CD-WCH"), ("CD-WCH", "CD-TFS"), ("CD-WCH", "CD-TFS"),
    ("CD-TFS", "CD-SCU"), ("CD-SCU", "CD-TFS"), ("CD-SCU", "CD-WCH"), ("CD-WCH", "CD-SCU"),
    ("CD-CXR", "CD-TFS"), ("CD-TFS", "CD-CXR"), ("CD-WCH", "CD-CXR"),
    ("CD-TFS", "DY-CTR"),
]

CATEGORIES = ["light", "light", "light", "micro", "small", "medium"]
"""Mostly light drones; medium ones go to Chengdu's review and hold airspace while pending."""

PRIORITIES = [Priority.EMERGENCY] + [Priority.COMMERCIAL] * 6 + [Priority.PUBLIC_SERVICE] * 2 + [
    Priority.LEISURE]
"""About one plan in ten is an emergency."""

plan_specs = st.tuples(
    st.sampled_from(HOT_PAIRS),
    st.integers(min_value=0, max_value=20 * 60),  # earliest departure, s after T0
    st.sampled_from([0, 60, 300, 900, 1800]),  # departure window, s
    st.sampled_from(CATEGORIES),
    st.sampled_from(PRIORITIES),
    st.integers(min_value=0, max_value=14),  # 0: cancel an earlier flight after this submit
)


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(specs=st.lists(plan_specs, min_size=20, max_size=40))
def test_random_traffic_stays_deconflicted(
    specs: list[tuple[tuple[str, str], int, int, str, Priority, int]],
    airspace_model: Airspace, planner: Planner, t0: datetime,
) -> None:
    store = open_store("sqlite:///:memory:", airspace_model.layers)
    engine = Engine(airspace_model, store, planner=planner)
    now = t0 - timedelta(hours=1)
    submitted: list[str] = []
    cancelled: dict[str, str] = {}  # flight id -> the approval id it held
    for number, ((origin, destination), offset_s, window_s, category, priority, cancel) in (
        enumerate(specs)
    ):
        earliest = t0 + timedelta(seconds=offset_s)
        plan = FlightPlan(f"op{number % 5}", make_drone(f"d{number}", category),
                          Endpoint(origin), Endpoint(destination), earliest,
                          earliest + timedelta(seconds=window_s), priority)
        flight = engine.submit(plan, now)
        submitted.append(flight.id)
        now += timedelta(seconds=1)
        if cancel == 0:
            victim = engine.get(submitted[number * 7 % len(submitted)])
            if victim.state in (FlightState.APPROVED, FlightState.PENDING_REVIEW,
                                FlightState.REPLAN_REQUIRED):
                engine.cancel(victim.id, now, "operator")
                if victim.approval_signature is not None and victim.approval_id:
                    cancelled[victim.id] = victim.approval_id

    holding = assert_store_invariants(store)
    flights = store.list_flights(limit=100_000)
    assert len(flights) == len(specs)
    event(f"flights holding airspace: {holding // 10 * 10}+")
    for flight in flights:
        if flight.state is FlightState.APPROVED:
            assert flight.approval_id is not None
            check = engine.verify_approval(flight.approval_id)
            assert check.valid, (flight.id, check.reason)
            assert check.flight_id == flight.id
        elif flight.state is FlightState.CANCELLED:
            assert flight.volumes == () and flight.pad_slots == ()
    for flight_id, approval_id in cancelled.items():
        check = engine.verify_approval(approval_id)
        assert not check.valid, flight_id
        assert check.state == FlightState.CANCELLED.value


def test_checker_finds_planted_violations(airspace_model: Airspace, planner: Planner,
                                          t0: datetime) -> None:
    """The checker is not vacuous: copies of an approved flight violate every invariant."""
    store = open_store("sqlite:///:memory:", airspace_model.layers)
    engine = Engine(airspace_model, store, planner=planner)
    plan = FlightPlan("op1", make_drone("d1", "light"), Endpoint("CD-TFS"), Endpoint("CD-WCH"),
                      t0, t0 + timedelta(minutes=30))
    doc = engine.submit(plan, t0 - timedelta(hours=1)).to_doc()
    assert doc["state"] == "approved"
    assert check_invariants([doc]) == []

    twin = {**doc, "id": "fp-twin"}
    violations = check_invariants([doc, twin])
    assert any("share" in v for v in violations)
    assert any("pad" in v for v in violations)

    later = json.loads(json.dumps(twin).replace("2026-12-01T0", "2026-12-01T1"))
    assert check_invariants([doc, later]) == []

    cancelled = {**twin, "state": "cancelled"}
    assert check_invariants([doc, cancelled]) == []

    zuuu = {"type": "Polygon", "coordinates": [[[103.94, 30.57], [103.95, 30.57],
                                                [103.95, 30.58], [103.94, 30.57]]]}
    inside_airport = {**doc, "volumes": [{**doc["volumes"][0], "outline": zuuu}],
                      "pad_slots": []}
    assert any("ZUUU-P" in v for v in check_invariants([inside_airport]))
