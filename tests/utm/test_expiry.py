"""Plans whose time passed unused expire (``utm.expiry``): a review not finished by the
departure rejects the plan, an approval not activated before its volumes end ends it; both
release what they held, late reviews and activations are refused, and nothing else moves."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta

import pytest
from checks import assert_store_invariants
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airspace import Airspace
from routes import Endpoint, Planner
from utm import expiry
from utm.engine import Engine
from utm.errors import InvalidTransitionError
from utm.events import Event
from utm.flights import Flight, ReviewStatus
from utm.plans import FlightPlan, Priority, make_drone
from utm.replanning import is_pending
from utm.states import FlightState
from utm.storage import open_store

TFS, WCH = Endpoint("CD-TFS"), Endpoint("CD-WCH")


@pytest.fixture()
def engine(airspace_model: Airspace, planner: Planner) -> Engine:
    return Engine(airspace_model, open_store("sqlite:///:memory:", airspace_model.layers),
                  planner=planner)


def _file(engine: Engine, t0: datetime, category: str = "light",
          window: timedelta = timedelta(0)) -> Flight:
    plan = FlightPlan("op1", make_drone(f"d-{category}", category), TFS, WCH, t0, t0 + window)
    return engine.submit(plan, t0 - timedelta(hours=1))


def _last_end(flight: Flight) -> datetime:
    return max(volume.end_time for volume in flight.volumes)


def test_a_review_not_finished_by_the_departure_rejects_the_plan(engine: Engine,
                                                                  t0: datetime) -> None:
    pending = _file(engine, t0, "medium")
    assert pending.state is FlightState.PENDING_REVIEW and pending.departure_time == t0
    events: list[Event] = []
    engine.listeners.append(events.append)

    assert engine.expire(t0 - timedelta(seconds=1)) == []  # a second before: still waiting
    [expired] = engine.expire(t0)

    assert expired.id == pending.id and expired.state is FlightState.REJECTED
    assert expired.volumes == () and expired.pad_slots == ()
    reason = expired.decision.reasons[-1]
    assert reason.code == expiry.REVIEW_EXPIRED and reason.jurisdiction == "chengdu"
    assert "not reviewed by chengdu before its departure time" in reason.message
    assert expired.decision.state is FlightState.REJECTED
    assert engine.get(pending.id) == expired
    assert [(e.kind, e.flight_id, e.data["state"]) for e in events] == [
        ("state", pending.id, "rejected")]
    audit = engine.store.list_audit(flight_id=pending.id)[-1]
    assert (audit["actor"], audit["action"], audit["detail"]["to"]) == (
        "system", "expire", "rejected")
    assert engine.expire(t0 + timedelta(hours=1)) == []  # once only
    assert_store_invariants(engine.store)


def test_a_late_review_is_refused_and_the_plan_expires(engine: Engine, t0: datetime) -> None:
    pending = _file(engine, t0, "medium")
    with pytest.raises(InvalidTransitionError, match="expired and is now rejected"):
        engine.review(pending.id, "chengdu", True, "looks fine", t0 + timedelta(minutes=1),
                      "chengdu-reg")
    late = engine.get(pending.id)
    assert late.state is FlightState.REJECTED
    assert late.reviews["chengdu"] is ReviewStatus.PENDING  # nobody decided


def test_a_review_in_time_still_approves(engine: Engine, t0: datetime) -> None:
    pending = _file(engine, t0, "medium")
    approved = engine.review(pending.id, "chengdu", True, "", t0 - timedelta(seconds=1), "reg")
    assert approved.state is FlightState.APPROVED
    assert engine.expire(t0) == []  # approved: expires only when its volumes end


def test_an_approval_not_used_by_the_end_of_its_volumes_is_cancelled(engine: Engine,
                                                              t0: datetime) -> None:
    approved = _file(engine, t0)
    flying = _file(engine, t0 + timedelta(minutes=20))
    assert approved.state is flying.state is FlightState.APPROVED
    engine.activate(flying.id, flying.volumes[0].start_time, "op1")
    end = _last_end(approved)

    assert engine.expire(end - timedelta(seconds=1)) == []
    [expired] = engine.expire(max(end, _last_end(flying)) + timedelta(minutes=5))

    assert expired.id == approved.id and expired.state is FlightState.CANCELLED
    assert expired.volumes == () and expired.pad_slots == ()
    assert expired.approval_id == approved.approval_id  # the record of what was approved stays
    assert expired.notes[-1].startswith("expired: not activated before its volumes ended")
    assert engine.get(flying.id).state is FlightState.ACTIVATED  # flying: never expired
    with pytest.raises(InvalidTransitionError):
        engine.activate(approved.id, end, "op1")


def test_activating_after_the_volumes_ended_is_refused(engine: Engine, t0: datetime) -> None:
    approved = _file(engine, t0)
    with pytest.raises(InvalidTransitionError, match="expired and is now cancelled"):
        engine.activate(approved.id, _last_end(approved), "op1")
    assert engine.get(approved.id).state is FlightState.CANCELLED


def test_an_expired_review_holds_nothing(engine: Engine, t0: datetime) -> None:
    pending = _file(engine, t0, "medium")
    start = pending.volumes[0].start_time

    def holders() -> set[str]:
        with engine.store.transaction(()) as tx:
            return {held.flight_id
                    for held in tx.held_between(start, start + timedelta(hours=1))}

    assert pending.id in holders()
    engine.expire(t0)
    assert pending.id not in holders()
    assert_store_invariants(engine.store)


def test_flights_in_other_states_never_expire(engine: Engine, t0: datetime) -> None:
    cancelled = _file(engine, t0)
    engine.cancel(cancelled.id, t0 - timedelta(minutes=30), "op1")
    rejected = engine.submit(FlightPlan("op1", make_drone("d1", "light"), TFS, WCH,
                                        t0 + timedelta(seconds=60), t0 + timedelta(seconds=60)),
                             t0)  # too late to file: rejected
    assert rejected.state is FlightState.REJECTED
    assert engine.expire(t0 + timedelta(days=1)) == []
    assert engine.get(cancelled.id).state is FlightState.CANCELLED


def test_two_nodes_expire_a_flight_once(shared_url: str, airspace_model: Airspace,
                                        planner: Planner, t0: datetime) -> None:
    """Two engines on one database (SQLite file, PostgreSQL) both sweep: one expiry."""
    stores = [open_store(shared_url, airspace_model.layers) for _ in range(2)]
    try:
        first, second = (Engine(airspace_model, store, planner=planner) for store in stores)
        pending = _file(first, t0, "medium")
        approved = _file(first, t0 + timedelta(minutes=30))
        later = t0 + timedelta(hours=2)
        expired = first.expire(later) + second.expire(later)
        assert sorted(flight.id for flight in expired) == sorted([pending.id, approved.id])
        assert second.get(pending.id).state is FlightState.REJECTED
        assert first.get(approved.id).state is FlightState.CANCELLED
        actions = [entry["action"] for flight_id in (pending.id, approved.id)
                   for entry in stores[1].list_audit(flight_id=flight_id)]
        assert actions.count("expire") == 2
    finally:
        for store in stores:
            store.close()


def test_a_flight_to_file_again_is_cancelled_after_its_latest_departure(
        engine: Engine, t0: datetime) -> None:
    """An emergency takes the airspace of a flight that cannot move (a window of one
    instant, and every layer taken by emergencies): it must be filed again, and once its
    latest departure has passed it is cancelled."""
    commercial = _file(engine, t0)
    for number, altitude in enumerate((None, *engine.config.cruise_options_agl_m)):
        emergency = FlightPlan(f"ambulance-{number}", make_drone(f"e{number}", "light"), TFS,
                               WCH, t0, t0, Priority.EMERGENCY, cruise_agl_m=altitude)
        engine.submit(emergency, t0 - timedelta(hours=1))
    lost = engine.get(commercial.id)
    assert lost.state is FlightState.REPLAN_REQUIRED and not is_pending(lost), lost.notes

    assert engine.expire(t0 - timedelta(seconds=1)) == []
    [expired] = engine.expire(t0)
    assert expired.id == lost.id and expired.state is FlightState.CANCELLED
    assert expired.notes[-1].startswith("expired: not filed again by its latest departure")


def test_a_flight_waiting_for_its_replan_is_left_to_it(engine: Engine, t0: datetime) -> None:
    commercial = _file(engine, t0)
    engine.submit(FlightPlan("ambulance", make_drone("e1", "light"), TFS, WCH, t0, t0,
                             Priority.EMERGENCY), t0 - timedelta(hours=1), replan_later=True)
    waiting = engine.get(commercial.id)
    assert is_pending(waiting) and expiry.expires_at(waiting) is None
    expired = engine.expire(t0 + timedelta(hours=2))  # the emergency's approval expires
    assert commercial.id not in {flight.id for flight in expired}
    assert engine.get(commercial.id) == waiting


# -- property: a day with a moving clock ---------------------------------------------------------

PAIRS = [("CD-TFS", "CD-WCH"), ("CD-WCH", "CD-TFS"), ("CD-TFS", "CD-SCU"), ("CD-SCU", "CD-WCH")]

day_steps = st.lists(st.tuples(
    st.sampled_from(PAIRS),
    st.integers(min_value=5 * 60, max_value=45 * 60),  # earliest departure, s after now
    st.sampled_from([0, 300, 900]),  # departure window, s
    st.sampled_from(["light", "light", "medium"]),  # medium: Chengdu reviews it
    st.sampled_from([Priority.COMMERCIAL] * 5 + [Priority.EMERGENCY]),
    st.sampled_from(["nothing", "review", "activate", "expire"]),  # then, to an earlier flight
    st.integers(min_value=30, max_value=15 * 60),  # then the clock moves on, s
), min_size=15, max_size=35)


@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=day_steps)
def test_expiry_takes_only_what_is_due_and_leaves_nothing_due(
        steps: list[tuple[tuple[str, str], int, int, str, Priority, str, int]],
        airspace_model: Airspace, planner: Planner, t0: datetime) -> None:
    """Plans filed as the clock moves, some reviewed or activated in time, sweeps in between:
    every flight a sweep expires was due (by the state it had before), after each sweep no
    flight is left due, and the airspace stays deconflicted."""
    engine = Engine(airspace_model, open_store("sqlite:///:memory:", airspace_model.layers),
                    planner=planner)
    now = t0
    filed: list[str] = []
    expired: list[FlightState] = []

    def sweep() -> None:
        before = {flight.id: flight for flight in engine.store.list_flights(limit=10_000)}
        for flight in engine.expire(now):
            deadline = expiry.expires_at(before[flight.id])
            assert deadline is not None and deadline <= now, flight.id
            expired.append(before[flight.id].state)
        for flight in engine.store.list_flights(limit=10_000):
            assert not expiry.is_due(flight, now), (flight.id, flight.state)

    for number, (pair, ahead_s, window_s, category, priority, then, wait_s) in enumerate(steps):
        earliest = now + timedelta(seconds=ahead_s)
        plan = FlightPlan(f"op{number % 3}", make_drone(f"d{number}", category),
                          Endpoint(pair[0]), Endpoint(pair[1]), earliest,
                          earliest + timedelta(seconds=window_s), priority)
        filed.append(engine.submit(plan, now).id)
        other = engine.get(filed[number * 5 % len(filed)])
        if then == "review" and other.state is FlightState.PENDING_REVIEW:
            with suppress(InvalidTransitionError):  # too late: it expires instead
                engine.review(other.id, "chengdu", True, "", now, "chengdu-reg")
        elif then == "activate" and other.state is FlightState.APPROVED and (
                other.volumes[0].start_time <= now):
            with suppress(InvalidTransitionError):
                engine.activate(other.id, now, "op")
        elif then == "expire":
            sweep()
        now += timedelta(seconds=wait_s)
    sweep()
    assert_store_invariants(engine.store)
    for state in sorted(set(expired)):
        event(f"expired from {state.value}")
