"""An emergency is answered before the flights it preempted are re-planned (``utm.replanning``):
they are released with its decision, re-planned each in a transaction of its own, before any
later decision, and after a restart if the process stopped in between."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from checks import assert_store_invariants

from airspace import Airspace
from routes import Endpoint, Planner
from utm import replanning
from utm.engine import Engine
from utm.errors import StoreUnavailableError
from utm.events import Event
from utm.flights import Flight
from utm.plans import FlightPlan, Priority, make_drone
from utm.replanning import PREEMPTED, is_pending
from utm.states import HOLDS_AIRSPACE, FlightState
from utm.storage import open_store
from utm.storage.base import Store

TFS, WCH = Endpoint("CD-TFS"), Endpoint("CD-WCH")


def _plan(t0: datetime, priority: Priority = Priority.COMMERCIAL, operator_id: str = "op1",
          window: timedelta = timedelta(minutes=30)) -> FlightPlan:
    return FlightPlan(operator_id, make_drone("d1", "light"), TFS, WCH, t0, t0 + window,
                      priority)


def _filed(t0: datetime) -> datetime:
    return t0 - timedelta(hours=1)


@pytest.fixture()
def engine(airspace_model: Airspace, planner: Planner) -> Engine:
    return Engine(airspace_model, open_store("sqlite:///:memory:", airspace_model.layers),
                  planner=planner)


def _emergency_later(engine: Engine, t0: datetime) -> tuple[Flight, Flight]:
    """A commercial flight, then an emergency on its route and time answered with
    ``replan_later``: (the emergency, the commercial flight as the emergency left it)."""
    commercial = engine.submit(_plan(t0), _filed(t0))
    assert commercial.state is FlightState.APPROVED and commercial.departure_time == t0
    emergency = engine.submit(_plan(t0, Priority.EMERGENCY, "ambulance", timedelta(0)),
                              _filed(t0), replan_later=True)
    assert emergency.state is FlightState.APPROVED and emergency.departure_time == t0
    return emergency, engine.get(commercial.id)


def test_the_emergency_is_answered_with_the_preempted_flight_released(engine: Engine,
                                                                      t0: datetime) -> None:
    events: list[Event] = []
    engine.listeners.append(events.append)
    emergency, released = _emergency_later(engine, t0)
    assert released.state is FlightState.REPLAN_REQUIRED and is_pending(released)
    assert released.volumes == () and released.pad_slots == ()
    assert [reason.code for reason in released.decision.reasons] == [PREEMPTED]
    assert released.notes[-1] == (f"preempted by emergency flight {emergency.id} at "
                                  f"{_filed(t0).isoformat().replace('+00:00', 'Z')}; being "
                                  "re-planned")
    assert not engine.verify_approval(released.approval_id or "").valid
    assert engine.verify_approval(emergency.approval_id or "").valid
    assert [(event.kind, event.flight_id) for event in events][-2:] == [
        ("decision", emergency.id), ("preempted", released.id)]
    assert_store_invariants(engine.store)


def test_run_replans_gives_the_released_flight_its_outcome(engine: Engine,
                                                          t0: datetime) -> None:
    emergency, released = _emergency_later(engine, t0)
    replanned = engine.run_replans(_filed(t0))
    assert [flight.id for flight in replanned] == [released.id]
    after = engine.get(released.id)
    assert (after.state, after.volumes) == (replanned[0].state, replanned[0].volumes)
    assert not is_pending(after)
    # Its window is 30 minutes: it departs later, with the same approval id, signed again.
    assert after.state is FlightState.APPROVED
    assert after.approval_id == released.approval_id
    assert after.departure_time is not None and after.departure_time > t0
    assert engine.verify_approval(after.approval_id or "").valid
    assert after.notes[-1].startswith(f"preempted by emergency flight {emergency.id} at ")
    assert "; re-planned: departs " in after.notes[-1]
    assert [entry["action"] for entry in engine.store.list_audit(flight_id=after.id)] == [
        "submit", "preempt", "replan"]
    assert engine.run_replans(_filed(t0)) == []  # nothing left to do
    assert_store_invariants(engine.store)


def test_released_flights_are_replanned_before_the_next_decision(engine: Engine,
                                                                 t0: datetime) -> None:
    """A later plan for the same room must not overtake the flight the emergency moved."""
    _, released = _emergency_later(engine, t0)
    newcomer = engine.submit(_plan(t0, operator_id="op2"), _filed(t0))
    after = engine.get(released.id)
    assert after.state is FlightState.APPROVED
    assert after.departure_time is not None and newcomer.departure_time is not None
    assert after.departure_time <= newcomer.departure_time
    assert_store_invariants(engine.store)


def test_a_flight_cancelled_meanwhile_is_not_replanned(engine: Engine, t0: datetime) -> None:
    _, released = _emergency_later(engine, t0)
    cancelled = engine.cancel(released.id, _filed(t0), "op1")
    assert cancelled.state is FlightState.CANCELLED
    assert engine.run_replans(_filed(t0)) == []
    assert engine.get(released.id).state is FlightState.CANCELLED


def test_a_restart_replans_what_a_stopped_process_left_released(
        airspace_model: Airspace, planner: Planner, t0: datetime, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'utm.sqlite'}"
    first = Engine(airspace_model, open_store(url, airspace_model.layers), planner=planner)
    _, released = _emergency_later(first, t0)
    first.store.close()  # stops before re-planning it

    second = Engine(airspace_model, open_store(url, airspace_model.layers), planner=planner)
    assert is_pending(second.get(released.id))
    assert [flight.id for flight in second.run_replans(_filed(t0))] == [released.id]
    after = second.get(released.id)
    assert after.state in HOLDS_AIRSPACE and not is_pending(after)
    assert_store_invariants(second.store)
    second.store.close()


def test_without_replan_later_submit_returns_after_the_replans(engine: Engine,
                                                              t0: datetime) -> None:
    commercial = engine.submit(_plan(t0), _filed(t0))
    engine.submit(_plan(t0, Priority.EMERGENCY, "ambulance", timedelta(0)), _filed(t0))
    after = engine.get(commercial.id)
    assert not is_pending(after) and after.state is FlightState.APPROVED


class _FailingAfter:
    """The store, but its transactions fail (database unreachable) once ``allowed`` ran."""

    def __init__(self, store: Store, allowed: int) -> None:
        self._store = store
        self.allowed = allowed

    def transaction(self, lock_keys: Sequence[int] = ()) -> Any:
        if self.allowed <= 0:
            raise StoreUnavailableError("database unreachable (test)")
        self.allowed -= 1
        return self._store.transaction(lock_keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_an_emergency_stands_when_its_replans_fail_and_they_are_retried(
        airspace_model: Airspace, planner: Planner, t0: datetime) -> None:
    """The emergency's decision is stored: a failing re-plan afterwards must not turn its
    answer into an error, and the released flight is re-planned once the store is back."""
    store = _FailingAfter(open_store("sqlite:///:memory:", airspace_model.layers), 2)
    engine = Engine(airspace_model, store, planner=planner)  # type: ignore[arg-type]
    commercial = engine.submit(_plan(t0), _filed(t0))
    emergency = engine.submit(_plan(t0, Priority.EMERGENCY, "ambulance", timedelta(0)),
                              _filed(t0))  # its re-plan meets the failing store
    assert emergency.state is FlightState.APPROVED
    assert is_pending(engine.get(commercial.id))
    store.allowed = 10
    assert [flight.id for flight in engine.run_replans(_filed(t0))] == [commercial.id]
    assert engine.get(commercial.id).state is FlightState.APPROVED
    assert_store_invariants(engine.store)


def test_a_flight_whose_replan_fails_does_not_stop_later_decisions(
        engine: Engine, t0: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A defect in re-planning one flight (anything but the store failing) leaves that flight
    released and lets the engine go on deciding."""
    _, released = _emergency_later(engine, t0)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a defect")

    monkeypatch.setattr(replanning, "replan", broken)
    assert engine.run_replans(_filed(t0)) == []
    monkeypatch.undo()
    later = engine.submit(_plan(t0, operator_id="op2"), _filed(t0))
    assert later.state is FlightState.APPROVED
    assert is_pending(engine.get(released.id))  # left as released; never re-queued here
    assert_store_invariants(engine.store)
