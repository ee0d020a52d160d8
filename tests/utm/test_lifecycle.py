"""A flight's life: transitions, activation, conformance, separation alerts, emergency
preemption, constraints and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from checks import assert_store_invariants
from shapely.geometry import box

from airspace import Airspace, AirspaceClass
from routes import Endpoint, LegKind, Planner
from utm.constraints import Constraint
from utm.engine import Engine
from utm.errors import (
    FlightNotFoundError,
    InvalidConstraintError,
    InvalidTelemetryError,
    InvalidTransitionError,
    ReviewNotFoundError,
)
from utm.events import Event
from utm.flights import Flight
from utm.plans import FlightPlan, Priority, make_drone
from utm.states import FlightState
from utm.storage import open_store

TFS, WCH = Endpoint("CD-TFS"), Endpoint("CD-WCH")
"""Tianfu Square and West China Hospital, 1.8 km apart along corridor CD-C01."""


@pytest.fixture()
def engine(airspace_model: Airspace, planner: Planner) -> Engine:
    """An engine over an empty in-memory store."""
    return Engine(airspace_model, open_store("sqlite:///:memory:", airspace_model.layers),
                  planner=planner)


def _filed(t0: datetime) -> datetime:
    """When plans are filed: an hour ahead, clear of every lead time."""
    return t0 - timedelta(hours=1)


def _submit(engine: Engine, t0: datetime, origin: Endpoint = TFS, destination: Endpoint = WCH,
            *, category: str = "light", window: timedelta = timedelta(minutes=30),
            priority: Priority = Priority.COMMERCIAL, operator_id: str = "op1") -> Flight:
    plan = FlightPlan(operator_id, make_drone("d1", category), origin, destination, t0,
                      t0 + window, priority)
    return engine.submit(plan, _filed(t0))


def _activated(engine: Engine, t0: datetime, **options: object) -> Flight:
    flight = _submit(engine, t0, **options)  # type: ignore[arg-type]
    assert flight.state is FlightState.APPROVED
    return engine.activate(flight.id, flight.volumes[0].start_time, "op1")


def _alert_kinds(events: list[Event]) -> list[str]:
    return [event.data["kind"] for event in events if event.kind == "alert"]


def _cruise_position(flight: Flight) -> tuple[float, float, float, datetime]:
    """Where the flight is halfway along its first cruise leg: lat, lng, m AGL, instant."""
    assert flight.route is not None and flight.departure_time is not None
    leg = next(leg for leg in flight.route.legs
               if leg.kind in (LegKind.CORRIDOR, LegKind.CRUISE))
    offset_s = (leg.start.offset_s + leg.end.offset_s) / 2
    return ((leg.start.lat + leg.end.lat) / 2, (leg.start.lng + leg.end.lng) / 2,
            leg.start.alt_agl_m, flight.departure_time + timedelta(seconds=offset_s))


# -- transitions -----------------------------------------------------------------------------


def _approved(engine: Engine, t0: datetime) -> Flight:
    return _submit(engine, t0)


def _pending(engine: Engine, t0: datetime) -> Flight:
    return _submit(engine, t0, category="medium")


def _rejected(engine: Engine, t0: datetime) -> Flight:
    plan = FlightPlan("op1", make_drone("d1", "light"), TFS, WCH, t0 + timedelta(seconds=60),
                      t0 + timedelta(seconds=60))
    return engine.submit(plan, t0)


def _cancelled(engine: Engine, t0: datetime) -> Flight:
    return engine.cancel(_submit(engine, t0).id, _filed(t0), "op1")


def _ended(engine: Engine, t0: datetime) -> Flight:
    flight = _activated(engine, t0)
    return engine.end(flight.id, t0 + timedelta(minutes=5), "op1")


def _replan_required(engine: Engine, t0: datetime) -> Flight:
    # A micro drone flies at 45 m only; with no departure window it cannot make way for an
    # emergency on the same route and time.
    victim = _submit(engine, t0, category="micro", window=timedelta(0))
    _submit(engine, t0, category="micro", window=timedelta(0), priority=Priority.EMERGENCY,
            operator_id="police")
    flight = engine.get(victim.id)
    assert flight.state is FlightState.REPLAN_REQUIRED
    return flight


STATES: dict[FlightState, Callable[[Engine, datetime], Flight]] = {
    FlightState.APPROVED: _approved,
    FlightState.PENDING_REVIEW: _pending,
    FlightState.REJECTED: _rejected,
    FlightState.CANCELLED: _cancelled,
    FlightState.ACTIVATED: _activated,
    FlightState.ENDED: _ended,
    FlightState.REPLAN_REQUIRED: _replan_required,
}

TRANSITION_CASES = [
    # (state the flight is in, action, allowed?)
    (FlightState.APPROVED, "cancel", True),
    (FlightState.APPROVED, "activate", True),
    (FlightState.APPROVED, "end", False),
    (FlightState.PENDING_REVIEW, "cancel", True),
    (FlightState.PENDING_REVIEW, "activate", False),
    (FlightState.PENDING_REVIEW, "end", False),
    (FlightState.REJECTED, "cancel", False),
    (FlightState.REJECTED, "activate", False),
    (FlightState.CANCELLED, "cancel", False),
    (FlightState.CANCELLED, "activate", False),
    (FlightState.ACTIVATED, "end", True),
    (FlightState.ACTIVATED, "cancel", False),
    (FlightState.ACTIVATED, "activate", False),
    (FlightState.ENDED, "activate", False),
    (FlightState.ENDED, "end", False),
    (FlightState.ENDED, "cancel", False),
    (FlightState.REPLAN_REQUIRED, "cancel", True),
    (FlightState.REPLAN_REQUIRED, "activate", False),
]


@pytest.mark.parametrize(("state", "action", "allowed"), TRANSITION_CASES)
def test_transitions(engine: Engine, t0: datetime, state: FlightState, action: str,
                     allowed: bool) -> None:
    flight = engine.get(STATES[state](engine, t0).id)  # as stored (times to the millisecond)
    assert flight.state is state
    when = flight.volumes[0].start_time if flight.volumes else t0
    act = getattr(engine, action)
    if allowed:
        after = act(flight.id, when, "op1")
        assert after.state is not state
        assert after.version > flight.version
    else:
        with pytest.raises(InvalidTransitionError):
            act(flight.id, when, "op1")
        assert engine.get(flight.id) == flight  # nothing changed


def test_cancel_releases_the_airspace(engine: Engine, t0: datetime) -> None:
    first = _submit(engine, t0)
    second = _submit(engine, t0)
    assert second.departure_time != first.departure_time or second.route != first.route
    cancelled = engine.cancel(first.id, _filed(t0), "op1")
    assert cancelled.volumes == () and cancelled.pad_slots == ()
    assert not engine.verify_approval(first.approval_id or "").valid
    third = _submit(engine, t0)
    assert third.departure_time == first.departure_time
    assert third.volumes == first.volumes


def test_unknown_flight(engine: Engine, t0: datetime) -> None:
    with pytest.raises(FlightNotFoundError):
        engine.cancel("fp-nothing", t0, "op1")
    with pytest.raises(FlightNotFoundError):
        engine.get("fp-nothing")


def test_review_of_a_flight_without_pending_review(engine: Engine, t0: datetime) -> None:
    flight = _approved(engine, t0)
    with pytest.raises(ReviewNotFoundError):
        engine.review(flight.id, "chengdu", True, "", t0, "reg")


def test_activation_before_the_first_volume_is_refused(engine: Engine, t0: datetime) -> None:
    flight = _approved(engine, t0)
    start = flight.volumes[0].start_time
    with pytest.raises(InvalidTransitionError):
        engine.activate(flight.id, start - timedelta(seconds=1), "op1")
    assert engine.get(flight.id).state is FlightState.APPROVED
    assert engine.activate(flight.id, start, "op1").state is FlightState.ACTIVATED
    assert engine.verify_approval(flight.approval_id or "").valid


# -- telemetry -------------------------------------------------------------------------------


def test_an_active_flight_not_ended_after_its_volumes_is_flagged_overdue(
        engine: Engine, t0: datetime) -> None:
    flying = _activated(engine, t0)
    waiting = _submit(engine, t0 + timedelta(minutes=40))  # approved, never activated
    ended = max(volume.end_time for volume in flying.volumes)
    overdue_after = timedelta(seconds=engine.config.overdue_after_s)
    events: list[Event] = []
    engine.listeners.append(events.append)

    assert engine.flag_overdue(ended + overdue_after - timedelta(seconds=1)) == []
    [flagged] = engine.flag_overdue(ended + overdue_after)

    assert flagged.id == flying.id and flagged.state is FlightState.NONCONFORMING
    assert flagged.volumes == flying.volumes  # it may still be airborne: it keeps them
    assert [(e.kind, e.flight_id) for e in events] == [("state", flying.id),
                                                       ("alert", flying.id)]
    [alert] = engine.store.list_records("alert")
    assert (alert["kind"], alert["jurisdiction"]) == ("overdue", "chengdu")
    assert "still active 120 s after its volumes ended" in alert["message"]
    assert engine.flag_overdue(ended + 2 * overdue_after) == []  # alerted once
    assert engine.get(waiting.id).state is FlightState.APPROVED  # not flying: not overdue
    landed = engine.end(flying.id, ended + 2 * overdue_after, "op1")
    assert landed.state is FlightState.ENDED and landed.volumes == ()


def test_conformance_monitoring(engine: Engine, t0: datetime) -> None:
    flight = _activated(engine, t0)
    lat, lng, alt_agl_m, time = _cruise_position(flight)

    inside, events = engine.report_position(flight.id, lat, lng, alt_agl_m, time, time)
    assert inside.state is FlightState.ACTIVATED and events == []
    assert engine.store.list_records("alert") == []

    outside, events = engine.report_position(flight.id, lat + 0.02, lng, alt_agl_m,
                                             time + timedelta(seconds=1),
                                             time + timedelta(seconds=1))
    assert outside.state is FlightState.NONCONFORMING
    assert _alert_kinds(events) == ["nonconforming"]
    records = engine.store.list_records("alert")
    assert [record["kind"] for record in records] == ["nonconforming"]
    assert records[0]["flight_id"] == flight.id
    assert engine.verify_approval(flight.approval_id or "").valid  # still its airspace

    too_high, _ = engine.report_position(flight.id, lat, lng, 300.0, time + timedelta(seconds=2),
                                         time + timedelta(seconds=2))
    assert too_high.state is FlightState.NONCONFORMING
    back, events = engine.report_position(flight.id, lat, lng, alt_agl_m,
                                          time + timedelta(seconds=3),
                                          time + timedelta(seconds=3))
    assert back.state is FlightState.ACTIVATED and _alert_kinds(events) == []
    assert len(engine.store.list_records("alert")) == 1

    ended = engine.end(flight.id, time + timedelta(minutes=5), "op1")
    assert ended.state is FlightState.ENDED and ended.volumes == ()
    with pytest.raises(InvalidTelemetryError):
        engine.report_position(flight.id, lat, lng, alt_agl_m, time, time)


def test_telemetry_of_a_flight_that_is_not_flying(engine: Engine, t0: datetime) -> None:
    flight = _approved(engine, t0)
    with pytest.raises(InvalidTelemetryError):
        engine.report_position(flight.id, 30.65, 104.06, 45.0, t0, t0)


def test_telemetry_must_be_finite(engine: Engine, t0: datetime) -> None:
    flight = _activated(engine, t0)
    with pytest.raises(InvalidTelemetryError):
        engine.report_position(flight.id, float("nan"), 104.06, 45.0, t0, t0)


def test_loss_of_separation_between_two_active_flights(engine: Engine, t0: datetime) -> None:
    first = _activated(engine, t0)
    second = _activated(engine, t0, origin=WCH, destination=TFS, operator_id="op2")
    lat, lng, alt_agl_m, time = _cruise_position(first)
    _, events = engine.report_position(first.id, lat, lng, alt_agl_m, time, time)
    assert events == []
    # 20 m east (0.0002 degrees of longitude at 30.6 N) and 5 m higher, 2 s later.
    later = time + timedelta(seconds=2)
    _, events = engine.report_position(second.id, lat, lng + 0.0002, alt_agl_m + 5.0, later,
                                       later)
    assert "loss_of_separation" in _alert_kinds(events)
    records = engine.store.list_records("alert", limit=100)
    separation = [r for r in records if r["kind"] == "loss_of_separation"]
    assert len(separation) == 1
    assert first.id in separation[0]["message"] and second.id in separation[0]["message"]


def test_far_apart_flights_raise_no_separation_alert(engine: Engine, t0: datetime) -> None:
    first = _activated(engine, t0)
    second = _activated(engine, t0, origin=WCH, destination=TFS, operator_id="op2")
    lat, lng, alt_agl_m, time = _cruise_position(first)
    engine.report_position(first.id, lat, lng, alt_agl_m, time, time)
    # 50 m apart horizontally, then 20 m apart vertically: both beyond the minima.
    _, events = engine.report_position(second.id, lat, lng + 0.0005, alt_agl_m, time, time)
    assert "loss_of_separation" not in _alert_kinds(events)
    _, events = engine.report_position(second.id, lat, lng, alt_agl_m + 20.0, time, time)
    assert "loss_of_separation" not in _alert_kinds(events)


# -- emergencies -----------------------------------------------------------------------------


def test_emergency_preempts_a_commercial_flight(engine: Engine, t0: datetime) -> None:
    commercial = _submit(engine, t0)
    assert commercial.state is FlightState.APPROVED and commercial.departure_time == t0
    emergency = _submit(engine, t0, window=timedelta(0), priority=Priority.EMERGENCY,
                        operator_id="ambulance")
    assert emergency.state is FlightState.APPROVED
    assert emergency.departure_time == t0

    after = engine.get(commercial.id)
    assert after.state in (FlightState.APPROVED, FlightState.REPLAN_REQUIRED)
    assert any("emergency" in note and emergency.id in note for note in after.notes)
    if after.state is FlightState.APPROVED:
        assert after.approval_id == commercial.approval_id
        assert after.volumes != commercial.volumes
        assert engine.verify_approval(after.approval_id or "").valid
    else:
        assert after.volumes == ()
        assert not engine.verify_approval(commercial.approval_id or "").valid
    assert engine.verify_approval(emergency.approval_id or "").valid
    assert [entry["action"] for entry in engine.store.list_audit(flight_id=commercial.id)] == [
        "submit", "preempt", "replan"]
    assert_store_invariants(engine.store)


def test_preempted_flight_without_room_must_be_filed_again(engine: Engine,
                                                           t0: datetime) -> None:
    flight = _replan_required(engine, t0)
    assert flight.volumes == () and flight.pad_slots == ()
    assert flight.decision.state is FlightState.REPLAN_REQUIRED
    assert not engine.verify_approval(flight.approval_id or "").valid
    assert_store_invariants(engine.store)


def test_emergency_does_not_preempt_an_active_flight(engine: Engine, t0: datetime) -> None:
    active = _activated(engine, t0)
    emergency = _submit(engine, t0, priority=Priority.EMERGENCY, operator_id="ambulance")
    assert engine.get(active.id) == active
    assert emergency.state is FlightState.APPROVED
    assert_store_invariants(engine.store)


@pytest.mark.parametrize("holder", [Priority.COMMERCIAL, Priority.EMERGENCY])
def test_emergency_takes_only_a_pad_it_may_preempt(engine: Engine, t0: datetime,
                                                   holder: Priority) -> None:
    """CD-SCU has two pads. Pad 0 is held by a flight that is flying (or by another
    emergency), pad 1 by an approved commercial flight: a new emergency must take pad 1."""
    scu = Endpoint("CD-SCU")
    first = _submit(engine, t0, scu, TFS, window=timedelta(0), priority=holder,
                    operator_id="op0")
    if holder is Priority.COMMERCIAL:
        first = engine.activate(first.id, first.volumes[0].start_time, "op0")
    first = engine.get(first.id)
    commercial = _submit(engine, t0, scu, WCH, window=timedelta(minutes=10))
    assert commercial.departure_time is not None
    assert {slot.pad for slot in first.pad_slots if slot.vertiport_id == "CD-SCU"} == {0}
    assert {slot.pad for slot in commercial.pad_slots if slot.vertiport_id == "CD-SCU"} == {1}

    emergency = _submit(engine, commercial.departure_time, scu, WCH, window=timedelta(0),
                        priority=Priority.EMERGENCY, operator_id="ambulance")
    assert emergency.departure_time == commercial.departure_time
    assert engine.get(first.id) == first  # neither preempted nor moved
    assert_store_invariants(engine.store)


# -- constraints -----------------------------------------------------------------------------


def test_constraint_replans_the_flights_it_covers(engine: Engine, airspace_model: Airspace,
                                                  t0: datetime) -> None:
    flight = _submit(engine, t0)
    assert flight.state is FlightState.APPROVED
    # 580 m by 440 m across corridor CD-C01, halfway between the two vertiports.
    constraint = _fire_constraint(t0)
    try:
        _, affected = engine.issue_constraint(constraint, _filed(t0), "chengdu-reg")
        assert [f.id for f in affected] == [flight.id]
        after = engine.get(flight.id)
        assert any("cx-fire" in note for note in after.notes)
        assert after.state in (FlightState.APPROVED, FlightState.REPLAN_REQUIRED)
        if after.state is FlightState.APPROVED:
            assert after.volumes != flight.volumes
            assert engine.verify_approval(after.approval_id or "").valid
        new = _submit(engine, t0)
        assert new.state in (FlightState.APPROVED, FlightState.REJECTED)
        assert engine.store.list_records("constraint")[0]["id"] == "cx-fire"
        assert_store_invariants(engine.store)  # the constraint counts as a prohibited zone
        actions = [entry["action"] for entry in engine.store.list_audit(limit=100)]
        assert "constraint" in actions and "replan" in actions
    finally:
        airspace_model.remove_zone("cx-fire")


def _fire_constraint(t0: datetime, constraint_id: str = "cx-fire") -> Constraint:
    return Constraint(
        constraint_id, "chengdu", box(104.0634, 30.6485, 104.0694, 30.6525), 0.0, 300.0,
        t0 - timedelta(hours=1), t0 + timedelta(hours=3), AirspaceClass.PROHIBITED,
        "fire brigade operation", "chengdu-reg", _filed(t0))


def test_constraint_ids_are_unique(engine: Engine, airspace_model: Airspace,
                                   t0: datetime) -> None:
    engine.issue_constraint(_fire_constraint(t0, "cx-twice"), _filed(t0), "chengdu-reg")
    try:
        with pytest.raises(InvalidConstraintError):
            engine.issue_constraint(_fire_constraint(t0, "cx-twice"), _filed(t0), "chengdu-reg")
    finally:
        airspace_model.remove_zone("cx-twice")


def test_two_engines_on_one_airspace_share_constraints(tmp_path: Path, airspace_model: Airspace,
                                                       planner: Planner, t0: datetime) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first = Engine(airspace_model, open_store(url, airspace_model.layers), planner=planner)
    second = Engine(airspace_model, open_store(url, airspace_model.layers), planner=planner)
    first.issue_constraint(_fire_constraint(t0, "cx-shared"), _filed(t0), "chengdu-reg")
    try:
        flight = _submit(second, t0)
        assert flight.state is FlightState.APPROVED
        assert_store_invariants(second.store)
    finally:
        airspace_model.remove_zone("cx-shared")


# -- audit -----------------------------------------------------------------------------------


def test_audit_log_records_submit_review_and_cancel(engine: Engine, t0: datetime) -> None:
    pending = _pending(engine, t0)
    engine.review(pending.id, "chengdu", True, "checked the payload", _filed(t0), "chengdu-reg")
    engine.cancel(pending.id, _filed(t0) + timedelta(minutes=1), "op1")
    entries = engine.store.list_audit(flight_id=pending.id)
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("submit", "op1"), ("review", "chengdu-reg"), ("cancel", "op1")]
    assert entries[0]["detail"]["decision"]["state"] == "pending_review"
    assert entries[1]["detail"] == {"jurisdiction": "chengdu", "approve": True,
                                    "note": "checked the payload"}
    assert entries[2]["detail"] == {"from": "approved", "to": "cancelled"}
    assert all(entry["time"].endswith("Z") for entry in entries)


def test_an_approval_issued_within_a_millisecond_of_a_second_verifies_when_read_back(
        airspace_model: Airspace, planner: Planner, t0: datetime, tmp_path: Path) -> None:
    """The issue time is written to the store and read back before it is verified."""
    url = f"sqlite:///{tmp_path / 'approvals.sqlite'}"
    engine = Engine(airspace_model, open_store(url, airspace_model.layers), planner=planner)
    plan = FlightPlan("op1", make_drone("d1", "light"), TFS, WCH, t0, t0 + timedelta(minutes=30))
    flight = engine.submit(plan, _filed(t0).replace(microsecond=412))
    assert flight.state is FlightState.APPROVED
    engine.store.close()
    reopened = Engine(airspace_model, open_store(url, airspace_model.layers), planner=planner)
    assert reopened.verify_approval(flight.approval_id or "").valid
    reopened.store.close()
