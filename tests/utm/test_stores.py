"""The storage contract, run against every store: SQLite always, PostgreSQL when
``UTM_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it; each test gets a schema of its own).

Then what only a shared database must show: two nodes (two engines on two stores over one
database) deciding deliberately conflicting plans at once never approve two intersecting
flights (DESIGN.md invariant 3), lost connections come back, and the locks and constraints
behave as ``utm.storage.postgres`` says.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from checks import assert_store_invariants, check_invariants
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from postgres_server import POSTGRES_URL, SKIP_POSTGRES
from shapely.geometry import box

from airspace import Airspace
from routes import Endpoint, Planner, Volume4D
from routes.volumes import footprints_intersect
from utm.engine import Engine
from utm.errors import StoreConflictError, StoreUnavailableError
from utm.flights import Decision, Flight, PadSlot
from utm.plans import FlightPlan, Priority, make_drone
from utm.states import FlightState
from utm.storage import Store, open_store
from utm.storage.keys import IndexSpec, Reach
from utm.storage.volume_index import VolumeIndex

# -- fixtures (pg_schema_url, store_url and shared_url: conftest.py) ----------------------


@pytest.fixture
def store(store_url: str, airspace_model: Airspace) -> Iterator[Store]:
    """An empty store of each kind."""
    opened = open_store(store_url, airspace_model.layers)
    yield opened
    opened.close()


# -- flights made by hand ----------------------------------------------------------------------


def make_flight(flight_id: str, t0: datetime, *, state: FlightState = FlightState.APPROVED,
                operator_id: str = "op1", jurisdictions: tuple[str, ...] = ("chengdu",),
                offset_s: float = 0.0, lng: float = 104.06, pad: int = 0,
                priority: Priority = Priority.COMMERCIAL) -> Flight:
    """A flight with two volumes near (30.65, ``lng``) and a take-off pad slot at CD-TFS."""
    start = t0 + timedelta(seconds=offset_s)
    volumes = (
        Volume4D(box(lng, 30.65, lng + 0.004, 30.654), 30.0, 60.0, start,
                 start + timedelta(minutes=2)),
        Volume4D(box(lng + 0.004, 30.65, lng + 0.008, 30.654), 30.0, 60.0,
                 start + timedelta(minutes=1), start + timedelta(minutes=4)),
    )
    plan = FlightPlan(operator_id, make_drone("d1", "light"), Endpoint("CD-TFS"),
                      Endpoint("CD-WCH"), start, start + timedelta(minutes=30), priority,
                      purpose="store test")
    holds = state in (FlightState.APPROVED, FlightState.PENDING_REVIEW, FlightState.ACTIVATED)
    return Flight(
        id=flight_id, plan=plan, state=state, decision=Decision(state),
        created_time=t0 - timedelta(hours=1), updated_time=t0 - timedelta(hours=1),
        approval_id=f"apv-{flight_id}" if holds else None,
        departure_time=start, arrival_time=start + timedelta(minutes=4),
        volumes=volumes if holds else (),
        pad_slots=(PadSlot("CD-TFS", pad, start - timedelta(seconds=60), start, "takeoff"),)
        if holds else (),
        jurisdictions=jurisdictions,
    )


def reach_of(store: Store, flight: Flight, *, raised_m: float = 0.0,
             later: timedelta = timedelta(0)) -> Reach:
    """Where and when a flight's volumes are (optionally raised or later)."""
    return Reach.of([replace(volume, floor_agl_m=volume.floor_agl_m + raised_m,
                             ceiling_agl_m=volume.ceiling_agl_m + raised_m).shifted(later)
                     for volume in flight.volumes], store.spec)


def put(store: Store, *flights: Flight) -> None:
    with store.transaction(()) as tx:
        for flight in flights:
            tx.put_flight(flight)


# -- the contract ------------------------------------------------------------------------------


def test_put_get_round_trip(store: Store, t0: datetime) -> None:
    flight = make_flight("fp-1", t0)
    put(store, flight)
    stored = store.get_flight("fp-1")
    assert stored is not None
    assert stored.to_doc() == flight.to_doc()
    assert store.get_flight("fp-none") is None
    found = store.find_by_approval("apv-fp-1")
    assert found is not None and found.id == "fp-1"
    assert store.find_by_approval("apv-none") is None
    with store.transaction(()) as tx:
        inside = tx.get_flight("fp-1")
        assert inside is not None and inside.to_doc() == flight.to_doc()
        changed = flight.evolve(state=FlightState.CANCELLED, volumes=(), pad_slots=())
        tx.put_flight(changed)
        again = tx.get_flight("fp-1")
        assert again is not None and again.state is FlightState.CANCELLED
    stored = store.get_flight("fp-1")
    assert stored is not None and stored.to_doc() == changed.to_doc()


def test_list_filters_and_pagination(store: Store, t0: datetime) -> None:
    # Ids that a locale collation would order differently from bytes: both stores use bytes.
    ids = ["fp-B", "fp-a", "fp_c", "fp-0", "fp-Z1", "fp-z0"]
    flights = [
        make_flight(ids[0], t0, operator_id="op1", jurisdictions=("chengdu",)),
        make_flight(ids[1], t0, operator_id="op2", jurisdictions=("chengdu", "deyang"),
                    offset_s=600),
        make_flight(ids[2], t0, operator_id="op1", jurisdictions=("deyang",), offset_s=1200,
                    state=FlightState.REJECTED),
        make_flight(ids[3], t0, operator_id="op3", jurisdictions=("meishan",), offset_s=1800,
                    state=FlightState.CANCELLED),
        make_flight(ids[4], t0, operator_id="op1", jurisdictions=("ziyang", "chengdu"),
                    offset_s=2400, state=FlightState.PENDING_REVIEW),
        make_flight(ids[5], t0, operator_id="op2", jurisdictions=(), offset_s=3000,
                    state=FlightState.REJECTED),
    ]
    put(store, *flights)
    ordered = sorted(ids)

    def listed(**filters: Any) -> list[str]:
        return [flight.id for flight in store.list_flights(**filters)]

    assert listed() == ordered
    assert listed(operator_id="op1") == sorted([ids[0], ids[2], ids[4]])
    assert listed(operator_id="nobody") == []
    assert listed(jurisdictions=["chengdu"]) == sorted([ids[0], ids[1], ids[4]])
    assert listed(jurisdictions=["deyang", "meishan"]) == sorted([ids[1], ids[2], ids[3]])
    assert listed(jurisdictions=[]) == []
    assert listed(states=[FlightState.REJECTED]) == sorted([ids[2], ids[5]])
    assert listed(states=[FlightState.APPROVED, FlightState.PENDING_REVIEW]) == sorted(
        [ids[0], ids[1], ids[4]])
    assert listed(operator_id="op1", jurisdictions=["chengdu"],
                  states=[FlightState.APPROVED]) == [ids[0]]
    pages: list[str] = []
    after: str | None = None
    while True:
        page = listed(after_id=after, limit=4) if after else listed(limit=4)
        assert len(page) <= 4
        if not page:
            break
        pages += page
        after = page[-1]
    assert pages == ordered
    assert listed(after_id=ordered[2], limit=2) == ordered[3:5]


def test_flight_summaries_follow_the_flights(store: Store, airspace_model: Airspace,
                                              planner: Planner, t0: datetime) -> None:
    engine = Engine(airspace_model, store, planner=planner)
    filed = engine.submit(FlightPlan("op1", make_drone("d1", "light"), Endpoint("CD-TFS"),
                                     Endpoint("CD-JRC"), t0, t0 + timedelta(minutes=20),
                                     Priority.PUBLIC_SERVICE, purpose="survey"),
                          t0 - timedelta(hours=1))
    assert filed.state is FlightState.APPROVED
    filed = store.get_flight(filed.id)  # as stored: instants to the millisecond
    assert filed is not None and filed.route is not None
    # Half a second past t0: its arrival "...:04:00.500Z" sorts before "...:04:00Z" as text.
    late = make_flight("fp-late", t0, offset_s=0.5, operator_id="op2",
                       jurisdictions=("deyang",), pad=1)  # the engine's flight took pad 0
    put(store, late, make_flight("fp-gone", t0, state=FlightState.CANCELLED))

    summaries = {s.id: s for s in store.list_flight_summaries()}
    assert sorted(summaries) == [f.id for f in store.list_flights()]
    summary = summaries[filed.id]
    assert (summary.state, summary.priority, summary.operator_id, summary.jurisdictions,
            summary.departure_time, summary.arrival_time) == (
        FlightState.APPROVED, Priority.PUBLIC_SERVICE, "op1", filed.jurisdictions,
        filed.departure_time, filed.arrival_time)
    waypoints = {(leg.start.lat, leg.start.lng) for leg in filed.route.legs} | {
        (leg.end.lat, leg.end.lng) for leg in filed.route.legs}
    origin, destination = airspace_model.vertiports["CD-TFS"], airspace_model.vertiports["CD-JRC"]
    assert len(summary.path) >= 2 and set(summary.path) <= waypoints
    assert summary.path[0] == pytest.approx((origin.lat, origin.lng), abs=1e-6)
    assert summary.path[-1] == pytest.approx((destination.lat, destination.lng), abs=1e-6)
    assert summaries["fp-late"].path == ()  # no route: nothing to draw

    def listed(**filters: Any) -> list[str]:
        return [s.id for s in store.list_flight_summaries(**filters)]

    assert filed.departure_time is not None and filed.arrival_time is not None
    assert listed(operator_id="op2") == ["fp-late"]
    assert listed(jurisdictions=["deyang"]) == ["fp-late"]
    assert listed(states=[FlightState.CANCELLED]) == ["fp-gone"]
    flying = listed(start_time=filed.departure_time, end_time=filed.arrival_time)
    assert filed.id in flying
    assert filed.id not in listed(end_time=filed.departure_time)  # departs at the end: out
    assert filed.id not in listed(start_time=filed.arrival_time)  # arrived at the start: out
    assert "fp-late" in listed(start_time=t0 + timedelta(minutes=4),
                               end_time=t0 + timedelta(hours=1))
    assert "fp-late" not in listed(start_time=t0 + timedelta(minutes=4, seconds=1))
    first = listed(limit=1)
    assert listed(after_id=first[0]) == sorted(summaries)[1:]


def test_records(store: Store, t0: datetime) -> None:
    with store.transaction(()) as tx:
        tx.put_record("constraint", "c-2", {"id": "c-2", "n": 1}, "chengdu", t0)
        tx.put_record("constraint", "c-1", {"id": "c-1", "nested": {"a": [1, 2.5, None]}},
                      "deyang", t0)
        tx.put_record("alert", "al-1", {"id": "al-1", "text": "无人机"}, "chengdu", t0)
    with store.transaction(()) as tx:
        tx.put_record("constraint", "c-2", {"id": "c-2", "n": 2}, "chengdu", t0)  # replaces
    assert store.list_records("constraint") == [
        {"id": "c-1", "nested": {"a": [1, 2.5, None]}}, {"id": "c-2", "n": 2}]
    assert store.list_records("constraint", jurisdictions=["chengdu"]) == [{"id": "c-2", "n": 2}]
    assert store.list_records("constraint", jurisdictions=[]) == []
    assert store.list_records("constraint", after_id="c-1") == [{"id": "c-2", "n": 2}]
    assert store.list_records("constraint", limit=1) == [
        {"id": "c-1", "nested": {"a": [1, 2.5, None]}}]
    assert store.list_records("alert") == [{"id": "al-1", "text": "无人机"}]
    assert store.list_records("nothing") == []


def test_audit_order(store: Store, t0: datetime) -> None:
    with store.transaction(()) as tx:
        for number in range(5):
            tx.audit(t0 + timedelta(seconds=5 - number, milliseconds=250), f"actor{number}",
                     "submit", "fp-1" if number % 2 == 0 else "fp-2", {"n": number})
    with store.transaction(()) as tx:
        tx.audit(t0, "system", "alert", None, {"n": 5})
    entries = store.list_audit()
    assert [entry["detail"]["n"] for entry in entries] == [0, 1, 2, 3, 4, 5]  # as appended
    assert entries[0] == {"time": "2026-12-01T02:00:05.250Z", "actor": "actor0",
                          "action": "submit", "flight_id": "fp-1", "detail": {"n": 0}}
    assert entries[-1]["time"] == "2026-12-01T02:00:00Z"
    assert entries[-1]["flight_id"] is None
    assert [e["detail"]["n"] for e in store.list_audit(flight_id="fp-1")] == [0, 2, 4]
    assert [e["detail"]["n"] for e in store.list_audit(limit=2)] == [0, 1]


def test_meta_is_shared(shared_url: str, airspace_model: Airspace) -> None:
    nodes = [open_store(shared_url, airspace_model.layers) for _ in range(2)]
    try:
        assert nodes[0].meta("signing", "first") == "first"
        assert nodes[0].meta("signing", "second") == "first"
        assert nodes[1].meta("signing", "third") == "first"  # another node, same database
        assert nodes[1].meta("other", "x") == "x"
        assert nodes[0].meta("other", "y") == "x"
    finally:
        for node in nodes:
            node.close()


def test_pad_slot_queries(store: Store, t0: datetime) -> None:
    put(store, make_flight("fp-1", t0, pad=0), make_flight("fp-2", t0, pad=1, lng=104.08),
        make_flight("fp-3", t0, pad=0, offset_s=600, lng=104.10),
        make_flight("fp-x", t0, pad=2, state=FlightState.CANCELLED))
    minute = timedelta(seconds=60)
    with store.transaction(()) as tx:
        def held(start: datetime, end: datetime, vertiport: str = "CD-TFS") -> list[Any]:
            return sorted((s.flight_id, s.pad, s.start_time, s.end_time)
                          for s in tx.pad_slots(vertiport, start, end))

        assert held(t0 - minute, t0) == [("fp-1", 0, t0 - minute, t0),
                                         ("fp-2", 1, t0 - minute, t0)]
        assert held(t0 - 2 * minute, t0 - minute) == []  # ends are exclusive
        assert held(t0, t0 + 9 * minute) == []
        assert [s[0] for s in held(t0 + 9 * minute, t0 + 10 * minute)] == ["fp-3"]
        assert [s[0] for s in held(t0 - 30 * minute, t0 + 30 * minute)] == [
            "fp-1", "fp-2", "fp-3"]
        assert [s[0] for s in held(t0 + 9 * minute + timedelta(seconds=59),
                                   t0 + 12 * minute)] == ["fp-3"]
        assert held(t0 - minute, t0, "CD-WCH") == []


def test_candidates_after_put_and_after_cancel(store: Store, t0: datetime) -> None:
    flight = make_flight("fp-1", t0, priority=Priority.PUBLIC_SERVICE)
    other = make_flight("fp-far", t0, lng=104.30, pad=1)
    put(store, flight, other)
    keys = reach_of(store, flight)
    with store.transaction(()) as tx:
        held = list(tx.candidates(keys))
        assert sorted((h.flight_id, h.index) for h in held) == [("fp-1", 0), ("fp-1", 1)]
        assert {h.priority_rank for h in held} == {Priority.PUBLIC_SERVICE.rank}
        assert {h.state for h in held} == {FlightState.APPROVED}
        assert [h.volume.to_json() for h in sorted(held, key=lambda h: h.index)] == [
            v.to_json() for v in flight.volumes]
        assert list(tx.candidates(Reach.of(flight.volumes[:1], store.spec))) != []
        assert list(tx.candidates(Reach((), ()))) == []
    put(store, flight.evolve(state=FlightState.ACTIVATED))
    with store.transaction(()) as tx:
        assert {h.state for h in tx.candidates(keys)} == {FlightState.ACTIVATED}
    put(store, flight.evolve(state=FlightState.CANCELLED, volumes=(), pad_slots=()))
    with store.transaction(()) as tx:
        assert list(tx.candidates(keys)) == []
        assert [s.flight_id for s in tx.pad_slots("CD-TFS", t0 - timedelta(hours=1), t0)] == [
            "fp-far"]
        assert {h.flight_id for h in tx.candidates(reach_of(store, other))} == {"fp-far"}


def test_candidates_by_layer_and_bucket(store: Store, t0: datetime) -> None:
    """Asking about the layers above (or an hour later) first, then the flight's own reach:
    whatever a store reads ahead, it finds what is there and nothing far from it."""
    flight = make_flight("fp-1", t0)  # 30-60 m: one layer
    put(store, flight)
    keys = reach_of(store, flight)
    above = reach_of(store, flight, raised_m=40.0)
    later = reach_of(store, flight, later=timedelta(hours=1))
    with store.transaction(()) as tx:
        assert list(tx.candidates(above)) == []
        assert list(tx.candidates(later)) == []
        assert {h.flight_id for h in tx.candidates(keys)} == {"fp-1"}
        mixed = Reach([*keys.volumes[:1], *above.volumes], [*keys.cells[:1], *above.cells])
        assert {h.flight_id for h in tx.candidates(mixed)} == {"fp-1"}
    with store.transaction(()) as tx:
        assert {h.flight_id for h in tx.candidates(keys)} == {"fp-1"}
        assert list(tx.candidates(above)) == []


flights_placed = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 40), st.sampled_from([0.0, 30.0, 90.0]),
              st.sampled_from(["keep", "cancel", "replace"])),
    min_size=1, max_size=25)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flights_placed, st.integers(0, 4), st.integers(0, 40), st.sampled_from([0, 300, 1800]),
       st.integers(-10, 60), st.sampled_from([1, 3, 10_000]))
def test_index_candidates_hold_every_real_neighbour(
    airspace_model: Airspace, t0: datetime, placed: list[tuple[int, int, float, str]],
    query_lng: int, query_minute: int, window_s: int, forget_minute: int, sweep_after: int,
) -> None:
    """Whatever was put, cancelled, replaced or forgotten (and whether the removed rows were
    swept out of the postings yet or not), the SQLite index's candidates of a reach include
    every held volume that meets one of its volumes (exactly: time for some delay in the
    window, altitude, footprint), and no volume of a flight no longer held; its pad slots
    are those of the held flights."""
    index = VolumeIndex(airspace_model.layers, IndexSpec(), sweep_after_rows=sweep_after)
    held: dict[str, Flight] = {}
    for number, (lng_step, minute, raised_m, fate) in enumerate(placed):
        flight = make_flight(f"fp-{number}", t0, offset_s=60.0 * minute,
                             lng=104.0 + 0.003 * lng_step)
        flight = replace(flight, volumes=tuple(v.raised(raised_m) for v in flight.volumes))
        index.put(flight)
        held[flight.id] = flight
        if fate == "cancel":
            index.put(flight.evolve(state=FlightState.CANCELLED, volumes=(), pad_slots=()))
            del held[flight.id]
        elif fate == "replace":  # re-planned: the same flight, later
            moved = replace(flight, volumes=tuple(v.shifted(timedelta(minutes=7))
                                                  for v in flight.volumes))
            index.put(moved)
            held[flight.id] = moved
    forget = t0 + timedelta(minutes=forget_minute)
    index.forget_before(forget)
    held = {fid: f for fid, f in held.items() if max(v.end_time for v in f.volumes) >= forget}
    query = make_flight("q", t0, offset_s=60.0 * query_minute, lng=104.0 + 0.003 * query_lng)
    reach = Reach.of(query.volumes, IndexSpec(), float(window_s))
    found = {(h.flight_id, h.index) for h in index.candidates(reach)}
    window = timedelta(seconds=window_s)
    expected = {
        (flight.id, position)
        for flight in held.values() for position, other in enumerate(flight.volumes)
        for ours in query.volumes
        if other.start_time < ours.end_time + window and ours.start_time < other.end_time
        and other.floor_agl_m < ours.ceiling_agl_m and ours.floor_agl_m < other.ceiling_agl_m
        and footprints_intersect(ours.outline_m, other.outline_m)
    }
    assert expected <= found
    assert {flight_id for flight_id, _ in found} <= set(held)
    day = timedelta(days=1)
    assert sorted(slot.flight_id for slot in index.pad_slots("CD-TFS", t0 - day, t0 + day)) == (
        sorted(held))


def test_held_between(store: Store, t0: datetime) -> None:
    minute = timedelta(minutes=1)
    put(store, make_flight("fp-1", t0), make_flight("fp-2", t0, offset_s=3600, pad=1),
        make_flight("fp-x", t0, state=FlightState.CANCELLED))
    with store.transaction(()) as tx:
        def held(start: datetime, end: datetime) -> list[tuple[str, int]]:
            return sorted((h.flight_id, h.index) for h in tx.held_between(start, end))

        # fp-1's volumes: [t0, t0+2min) and [t0+1min, t0+4min); fp-2's an hour later.
        assert held(t0 - minute, t0) == []
        assert held(t0, t0 + minute) == [("fp-1", 0)]
        assert held(t0 + 3 * minute, t0 + 60 * minute) == [("fp-1", 1)]
        assert held(t0 - minute, t0 + 2 * 60 * minute) == [("fp-1", 0), ("fp-1", 1),
                                                            ("fp-2", 0), ("fp-2", 1)]
        tx.put_flight(make_flight("fp-3", t0, lng=104.2, pad=2))  # its own writes count
        assert ("fp-3", 0) in held(t0, t0 + minute)
        tx.put_flight(make_flight("fp-1", t0).evolve(state=FlightState.CANCELLED, volumes=(),
                                                     pad_slots=()))
        assert held(t0, t0 + minute) == [("fp-3", 0)]


def test_a_transaction_sees_its_own_writes(store: Store, t0: datetime) -> None:
    flight = make_flight("fp-1", t0)
    keys = reach_of(store, flight)
    with store.transaction(()) as tx:
        assert list(tx.candidates(keys)) == []  # read once: must not be remembered stale
        assert tx.pad_slots("CD-TFS", t0 - timedelta(hours=1), t0) == []
        tx.put_flight(flight)
        assert {h.flight_id for h in tx.candidates(keys)} == {"fp-1"}
        assert [s.flight_id for s in tx.pad_slots("CD-TFS", t0 - timedelta(hours=1), t0)] == [
            "fp-1"]
        tx.put_flight(flight.evolve(state=FlightState.CANCELLED, volumes=(), pad_slots=()))
        assert list(tx.candidates(keys)) == []
        assert tx.pad_slots("CD-TFS", t0 - timedelta(hours=1), t0) == []


def test_rollback_on_exception_leaves_nothing(store: Store, t0: datetime) -> None:
    flight = make_flight("fp-1", t0)
    with pytest.raises(RuntimeError, match="boom"), store.transaction(()) as tx:
        tx.put_flight(flight)
        tx.put_record("alert", "al-1", {"id": "al-1"}, "chengdu", t0)
        tx.audit(t0, "op1", "submit", "fp-1", {})
        raise RuntimeError("boom")
    assert store.get_flight("fp-1") is None
    assert store.list_flights() == []
    assert store.list_records("alert") == []
    assert store.list_audit() == []
    with store.transaction(()) as tx:
        assert list(tx.candidates(reach_of(store, flight))) == []
        assert tx.pad_slots("CD-TFS", t0 - timedelta(hours=1), t0) == []
    put(store, flight)  # and the store still works
    assert store.get_flight("fp-1") is not None


def test_forget_before_keeps_correctness(store: Store, t0: datetime) -> None:
    put(store, make_flight("fp-1", t0))
    store.forget_before(t0 - timedelta(days=1))  # nothing ended that early
    with store.transaction(()) as tx:
        assert {h.flight_id for h in tx.candidates(reach_of(store, make_flight("x", t0)))} == {
            "fp-1"}


# -- the engine on every store -----------------------------------------------------------------


def test_engine_never_approves_two_conflicting_plans(store: Store, airspace_model: Airspace,
                                                      planner: Planner, t0: datetime) -> None:
    engine = Engine(airspace_model, store, planner=planner)
    now = t0 - timedelta(hours=1)
    plan = FlightPlan("op1", make_drone("d1", "light"), Endpoint("CD-TFS"), Endpoint("CD-WCH"),
                      t0, t0 + timedelta(minutes=20))
    first = engine.submit(plan, now)
    second = engine.submit(replace(plan, operator_id="op2"), now)
    assert first.state is FlightState.APPROVED
    assert first.departure_time == t0
    # Delayed, moved to another layer or route (the decision says so), or rejected.
    assert second.state is FlightState.REJECTED or second.decision.changes, second.decision
    docs = [flight.to_doc() for flight in store.list_flights()]
    assert check_invariants(docs) == []
    assert {doc["id"] for doc in docs} == {first.id, second.id}
    cancelled = engine.cancel(first.id, now, "op1")
    assert cancelled.volumes == ()
    third = engine.submit(replace(plan, operator_id="op3"), now)
    assert third.state is FlightState.APPROVED
    assert_store_invariants(store)


# -- two nodes at once -------------------------------------------------------------------------

CONFLICTING_PAIRS = [("CD-TFS", "CD-WCH"), ("CD-WCH", "CD-TFS"), ("CD-TFS", "CD-SCU"),
                     ("CD-SCU", "CD-TFS")]
PLANS_PER_NODE = 40


def submit_retrying(engine: Engine, plan: FlightPlan, now: datetime,
                    retries: list[int]) -> Flight:
    """``engine.submit``, retried on ``StoreConflictError`` (what the engine is to do)."""
    for attempt in range(20):
        try:
            return engine.submit(plan, now)
        except StoreConflictError:
            retries.append(attempt)
            time.sleep(random.uniform(0.0, 0.01 * (attempt + 1)))
    raise AssertionError("20 conflicts in a row")


@pytest.mark.timeout(240)
def test_two_nodes_never_approve_conflicting_flights(
    shared_url: str, airspace_model: Airspace, planner: Planner, t0: datetime,
) -> None:
    """Two engines on two stores over one database (two nodes), each submitting the same
    deliberately conflicting plans at the same moment; then the independent checker."""
    stores = [open_store(shared_url, airspace_model.layers) for _ in range(2)]
    try:
        engines = [Engine(airspace_model, stores[0], planner=planner),
                   Engine(airspace_model, stores[1], planner=Planner(airspace_model))]
        now = t0 - timedelta(hours=1)
        plans = [
            FlightPlan(f"op{number % 4}", make_drone(f"d{number}", "light"),
                       Endpoint(origin), Endpoint(destination),
                       t0 + timedelta(seconds=60 * (number % 8)),
                       t0 + timedelta(seconds=60 * (number % 8) + 1200))
            for number, (origin, destination) in (
                (number, CONFLICTING_PAIRS[number % len(CONFLICTING_PAIRS)])
                for number in range(PLANS_PER_NODE))
        ]
        results: list[list[Flight]] = [[], []]
        intervals: list[list[tuple[float, float]]] = [[], []]
        retries: list[int] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def node(number: int) -> None:
            try:
                barrier.wait()
                for plan in plans:
                    start = time.perf_counter()
                    results[number].append(submit_retrying(engines[number], plan, now,
                                                           retries))
                    intervals[number].append((start, time.perf_counter()))
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=node, args=(number,)) for number in range(2)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        assert not errors, errors

        # The nodes really did decide at the same time.
        assert any(a0 < b1 and b0 < a1 for a0, a1 in intervals[0] for b0, b1 in intervals[1])
        returned = [flight for flights in results for flight in flights]
        holding = assert_store_invariants(stores[0])  # every node sees the same database
        in_db = {flight.id: flight for flight in stores[1].list_flights(limit=10_000)}
        assert len(in_db) == len(returned) == 2 * PLANS_PER_NODE
        for flight in returned:
            assert flight.id in in_db, flight.id
            assert in_db[flight.id].to_doc() == flight.to_doc()
        approved = sum(flight.state is FlightState.APPROVED for flight in returned)
        pending = sum(flight.state is FlightState.PENDING_REVIEW for flight in returned)
        assert holding == approved + pending
        assert approved > PLANS_PER_NODE // 4
        delayed = sum(1 for flight in returned if flight.decision.changes)
        kind = shared_url.split(":", 1)[0]
        print(f"\n{kind}: {len(returned)} decisions by 2 nodes in {elapsed:.1f} s "
              f"({len(returned) / elapsed:.1f}/s); {approved} approved ({delayed} moved), "
              f"{len(returned) - approved} rejected; {len(retries)} conflict retries")
    finally:
        for opened in stores:
            opened.close()


# -- SQLite only -------------------------------------------------------------------------------


def _held_ids(store: Store, flight: Flight) -> set[str]:
    with store.transaction(()) as tx:
        return {held.flight_id for held in tx.candidates(reach_of(store, flight))}


def test_sqlite_reads_only_what_another_process_changed(tmp_path: Path, t0: datetime,
                                                        airspace_model: Airspace) -> None:
    """Two stores on one file (as two processes would be): what one writes, the other's
    index follows by reading the changed flights only (the same index, not a new one)."""
    url = f"sqlite:///{tmp_path / 'utm.sqlite'}"
    first, second = (open_store(url, airspace_model.layers) for _ in range(2))
    try:
        kept, cancelled = make_flight("fp-kept", t0), make_flight("fp-gone", t0, pad=1)
        put(first, kept, cancelled)
        assert _held_ids(second, kept) == {"fp-kept", "fp-gone"}
        index = second.index  # type: ignore[attr-defined]
        added = make_flight("fp-new", t0, offset_s=30.0, pad=2)
        put(first, added, cancelled.evolve(state=FlightState.CANCELLED, volumes=(),
                                           pad_slots=()))
        assert _held_ids(second, kept) == {"fp-kept", "fp-new"}
        assert second.index is index  # type: ignore[attr-defined]
        put(second, kept.evolve(state=FlightState.ACTIVATED))  # and the other way round
        with first.transaction(()) as tx:
            states = {held.flight_id: held.state for held in tx.candidates(reach_of(first,
                                                                                    kept))}
        assert states == {"fp-kept": FlightState.ACTIVATED, "fp-new": FlightState.APPROVED}
    finally:
        first.close()
        second.close()


def test_sqlite_database_from_before_the_change_sequence(tmp_path: Path, t0: datetime,
                                                         airspace_model: Airspace) -> None:
    """A file written before flights had a change number gets the column when it is opened,
    keeps its flights, and another store's changes are followed from then on."""
    path = tmp_path / "old.sqlite"
    url = f"sqlite:///{path}"
    written = open_store(url, airspace_model.layers)
    old = make_flight("fp-old", t0)
    put(written, old)
    written.close()
    with sqlite3.connect(path) as connection:  # as the file was before
        connection.execute("DROP INDEX flights_seq")
        connection.execute("ALTER TABLE flights DROP COLUMN seq")
    assert "seq" not in _columns(path)
    first, second = (open_store(url, airspace_model.layers) for _ in range(2))
    try:
        assert "seq" in _columns(path)
        assert _held_ids(second, old) == {"fp-old"}
        put(first, make_flight("fp-new", t0, offset_s=30.0, pad=1),
            old.evolve(state=FlightState.CANCELLED, volumes=(), pad_slots=()))
        assert _held_ids(second, old) == {"fp-new"}
    finally:
        first.close()
        second.close()


def _columns(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[1] for row in connection.execute("PRAGMA table_info(flights)")}


# -- PostgreSQL only ---------------------------------------------------------------------------


def pool_pids(store: Store) -> list[int]:
    """Backend pids of a PostgreSQL store's idle connections (a test's peek inside)."""
    return [connection.info.backend_pid
            for connection in store._pool._idle]  # type: ignore[attr-defined]


def terminate(pids: list[int]) -> None:
    import psycopg

    assert POSTGRES_URL
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        for pid in pids:
            connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):  # until the server has really let them go
            alive = connection.execute("SELECT count(*) FROM pg_stat_activity"
                                       " WHERE pid = ANY(%s)", (pids,)).fetchone()
            if alive and alive[0] == 0:
                return
            time.sleep(0.02)


def call_through_outage(call: Callable[[], Any]) -> Any:
    """The first call after the connection died: it reconnects, or says 503 (never else)."""
    try:
        return call()
    except StoreUnavailableError:
        return None


@pytest.mark.postgres
def test_postgres_reconnects_after_the_connection_is_killed(
    pg_schema_url: str, airspace_model: Airspace, t0: datetime,
) -> None:
    store = open_store(pg_schema_url, airspace_model.layers)
    try:
        put(store, make_flight("fp-1", t0))
        assert store.get_flight("fp-1") is not None
        pids = pool_pids(store)
        assert pids
        terminate(pids)
        call_through_outage(lambda: store.get_flight("fp-1"))
        assert store.get_flight("fp-1") is not None  # the one after succeeds
        assert not set(pool_pids(store)) & set(pids)

        terminate(pool_pids(store))  # a transaction starting on a dead connection
        call_through_outage(lambda: put(store, make_flight("fp-2", t0, lng=104.2,
                                                           offset_s=200)))
        put(store, make_flight("fp-3", t0, lng=104.3, offset_s=300))
        assert store.get_flight("fp-3") is not None

        # Killed inside a transaction: nothing of it stays, and the store goes on.
        with pytest.raises(StoreUnavailableError), store.transaction(()) as tx:
            tx.put_flight(make_flight("fp-4", t0, lng=104.4, offset_s=400))
            terminate([tx.connection.info.backend_pid])  # type: ignore[attr-defined]
            tx.put_flight(make_flight("fp-5", t0, lng=104.5, offset_s=500))
        assert store.get_flight("fp-4") is None
        assert store.get_flight("fp-5") is None
        put(store, make_flight("fp-6", t0, lng=104.6, offset_s=600))
        assert store.get_flight("fp-6") is not None
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_unreachable_is_store_unavailable(airspace_model: Airspace) -> None:
    if not POSTGRES_URL:
        pytest.skip(SKIP_POSTGRES)
    with pytest.raises(StoreUnavailableError):
        open_store("postgresql://postgres@127.0.0.1:1/utm_test", airspace_model.layers)


@pytest.mark.postgres
def test_postgres_pad_slots_have_a_database_backstop(
    pg_schema_url: str, airspace_model: Airspace, t0: datetime,
) -> None:
    """Even if two nodes both believed a pad free, the exclusion constraint lets one win and
    turns the other into a retryable conflict (never a 500)."""
    store = open_store(pg_schema_url, airspace_model.layers)
    try:
        put(store, make_flight("fp-1", t0, pad=0))
        with pytest.raises(StoreConflictError):
            put(store, make_flight("fp-2", t0 + timedelta(seconds=30), pad=0, lng=104.3))
        assert store.get_flight("fp-2") is None
        put(store, make_flight("fp-3", t0 + timedelta(seconds=30), pad=1, lng=104.3))
        put(store, make_flight("fp-4", t0 + timedelta(seconds=60), pad=0, lng=104.4))
        # Taking a pad whose holder lets go in the same transaction (emergency preemption).
        with store.transaction(()) as tx:
            tx.put_flight(make_flight("fp-5", t0, pad=0, lng=104.5,
                                      priority=Priority.EMERGENCY))
            victim = tx.get_flight("fp-1")
            assert victim is not None
            tx.put_flight(victim.evolve(state=FlightState.REPLAN_REQUIRED, volumes=(),
                                        pad_slots=()))
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_locks_serialise_two_nodes(
    pg_schema_url: str, airspace_model: Airspace, t0: datetime,
) -> None:
    """A second node's transaction on the same cell waits for the first to commit and then
    reads what it wrote; a lock below those held is not waited for long."""
    stores = [open_store(pg_schema_url, airspace_model.layers) for _ in range(2)]
    try:
        flight = make_flight("fp-1", t0)
        keys = reach_of(stores[0], flight)
        lock_key = 1_000_001  # any int (below every H3 index, so taken first)
        holding, seen = threading.Event(), []

        def second() -> None:
            holding.wait()
            with stores[1].transaction([lock_key]) as tx:
                seen.extend(h.flight_id for h in tx.candidates(keys))

        thread = threading.Thread(target=second)
        thread.start()
        with stores[0].transaction([lock_key]) as tx:
            holding.set()
            time.sleep(0.3)  # the other node is waiting for the lock meanwhile
            tx.put_flight(flight)
        thread.join()
        assert set(seen) == {"fp-1"}  # it read after the commit, not before

        # Out of order: A holds k1 and wants k0 while B holds k0 (and would want k1).
        k0, k1 = lock_key, lock_key + 1
        b_holds, a_done = threading.Event(), threading.Event()

        def node_b() -> None:
            with stores[1].transaction([k0]):
                b_holds.set()
                a_done.wait(5)

        thread = threading.Thread(target=node_b)
        thread.start()
        b_holds.wait()
        started = time.perf_counter()
        with pytest.raises(StoreConflictError) as caught, stores[0].transaction([k1]) as tx:
            tx.lock([k0])
        a_done.set()
        thread.join()
        assert time.perf_counter() - started < 0.9  # not PostgreSQL's 1 s deadlock detector
        assert caught.value.lock_keys == (k0, k1)
        assert caught.value.code == "store_conflict"
        with stores[0].transaction(caught.value.lock_keys) as tx:  # the retry gets both
            tx.lock([k0, k1])
    finally:
        for opened in stores:
            opened.close()


@pytest.mark.postgres
def test_postgres_schema_is_migrated_once_by_concurrent_nodes(
    pg_schema_url: str, airspace_model: Airspace,
) -> None:
    from utm.storage.postgres import SCHEMA_VERSION

    opened: list[Store] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(open_store(pg_schema_url, airspace_model.layers))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors, errors
        assert len(opened) == 4
        assert opened[0].meta("schema_version", "0") == str(SCHEMA_VERSION)
        with opened[0].transaction(()) as tx:  # a database newer than the code is refused
            tx.connection.execute(  # type: ignore[attr-defined]
                "UPDATE meta SET value = %s WHERE key = 'schema_version'",
                (str(SCHEMA_VERSION + 1),))
        with pytest.raises(StoreUnavailableError, match="upgrade"):
            open_store(pg_schema_url, airspace_model.layers)
    finally:
        for store in opened:
            store.close()
