"""A node that runs for weeks forgets, from its in-memory index, the flights that ended over an
hour ago; its decisions stay exact: a question about earlier times is answered from the
database."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from checks import assert_store_invariants

from airspace import Airspace
from airspace.geo import lnglat_to_metric, metric_to_lnglat
from routes import Endpoint, Planner, Volume4D
from utm.engine import FORGET_AFTER, Engine
from utm.flights import Flight
from utm.plans import AreaPlan, FlightPlan, make_drone
from utm.states import FlightState
from utm.storage import open_store
from utm.storage.keys import instant_us
from utm.storage.sqlite import SqliteStore
from utm.storage.volume_index import held_until

TFS, WCH = Endpoint("CD-TFS"), Endpoint("CD-WCH")


@pytest.fixture()
def engine(airspace_model: Airspace, planner: Planner) -> Engine:
    return Engine(airspace_model, open_store("sqlite:///:memory:", airspace_model.layers),
                  planner=planner)


def _submit(engine: Engine, departure: datetime, now: datetime,
            origin: Endpoint = TFS, destination: Endpoint = WCH) -> Flight:
    plan = FlightPlan("op1", make_drone("d1", "light"), origin, destination, departure,
                      departure + timedelta(minutes=30))
    return engine.submit(plan, now)


def _in_memory(engine: Engine, t0: datetime) -> set[str]:
    """The flights the store's index holds (any time within a day of ``t0``)."""
    assert isinstance(engine.store, SqliteStore)
    held = engine.store.index.held_between(t0 - timedelta(days=1), t0 + timedelta(days=1))
    return {volume.flight_id for volume in held}


def _old_flight_then_later_plan(engine: Engine, t0: datetime) -> tuple[Flight, datetime]:
    """A flight at ``t0``, then a plan elsewhere filed three hours later: the node forgets."""
    first = _submit(engine, t0, t0 - timedelta(hours=1))
    assert first.state is FlightState.APPROVED
    later = t0 + timedelta(hours=3)
    other = _submit(engine, later + timedelta(hours=1), later, Endpoint("DY-CTR"),
                    Endpoint("DY-SFG"))
    assert other.state is FlightState.APPROVED
    return first, later


def test_a_node_forgets_flights_that_ended_long_ago(engine: Engine, t0: datetime) -> None:
    first = _submit(engine, t0, t0 - timedelta(hours=1))
    assert _in_memory(engine, t0) == {first.id}
    later = t0 + timedelta(hours=3)
    other = _submit(engine, later + timedelta(hours=1), later, Endpoint("DY-CTR"),
                    Endpoint("DY-SFG"))
    # The first flight ended more than FORGET_AFTER before the later plan: out of memory...
    assert first.arrival_time is not None and first.arrival_time < later - FORGET_AFTER
    assert _in_memory(engine, t0) == {other.id}
    # ... not out of the records.
    assert engine.get(first.id).state is FlightState.APPROVED


def test_an_area_that_began_before_still_meets_a_forgotten_flight(
        engine: Engine, t0: datetime) -> None:
    first, later = _old_flight_then_later_plan(engine, t0)
    middle = first.volumes[len(first.volumes) // 2]
    disc = metric_to_lnglat(lnglat_to_metric(middle.outline.centroid).buffer(60.0))
    plan = AreaPlan("area-op", make_drone("uas-1", "light"), (Volume4D(
        disc, 0.0, 120.0, middle.start_time, later + timedelta(minutes=30)),))
    decided = engine.submit_area(plan, later)
    assert decided.state is FlightState.REJECTED
    assert first.id in {conflict.ref for conflict in decided.decision.conflicts}


def test_a_clock_set_back_does_not_reuse_a_forgotten_slot(engine: Engine, t0: datetime) -> None:
    first, _ = _old_flight_then_later_plan(engine, t0)
    # The same plan as the first, filed as if the clock were back before it.
    again = _submit(engine, t0, t0 - timedelta(hours=1))
    assert again.state is FlightState.APPROVED
    assert (again.departure_time, again.route.cruise_agl_m if again.route else None) != (
        first.departure_time, first.route.cruise_agl_m if first.route else None)
    assert_store_invariants(engine.store)


def test_a_landing_pad_is_remembered_for_its_whole_turnaround(
        engine: Engine, t0: datetime) -> None:
    flight = _submit(engine, t0, t0 - timedelta(hours=1))
    last_volume_end = max(volume.end_time for volume in flight.volumes)
    landing = next(slot for slot in flight.pad_slots if slot.movement == "landing")
    assert landing.end_time > last_volume_end + timedelta(seconds=2)  # the case in question
    store = engine.store
    assert isinstance(store, SqliteStore)
    store.forget_before(last_volume_end + timedelta(seconds=1))
    held = store.index.pad_slots(landing.vertiport_id, landing.start_time, landing.end_time)
    assert [slot.flight_id for slot in held] == [flight.id]


def test_a_flight_put_again_later_is_forgotten_by_its_new_end(
        engine: Engine, t0: datetime) -> None:
    """The index remembers each flight's end as it was last put: a flight moved later is kept
    past its old end and forgotten after its new one; a cancelled one is simply gone."""
    flight = _submit(engine, t0, t0 - timedelta(hours=1))
    other = _submit(engine, t0 + timedelta(hours=2), t0 - timedelta(hours=1))
    store = engine.store
    assert isinstance(store, SqliteStore)
    old_end = max(volume.end_time for volume in flight.volumes)
    later = timedelta(hours=3)
    moved = flight.evolve(volumes=tuple(v.shifted(later) for v in flight.volumes),
                          pad_slots=())
    store.index.put(moved)
    assert store.forget_before(old_end + timedelta(minutes=1)) == 0
    assert _in_memory(engine, t0) == {flight.id, other.id}
    engine.cancel(other.id, t0 - timedelta(minutes=30), "op1")
    assert store.forget_before(old_end + later + timedelta(minutes=1)) == 1
    assert _in_memory(engine, t0) == set()


def _file_engine(airspace_model: Airspace, planner: Planner, path: str) -> Engine:
    return Engine(airspace_model, open_store(f"sqlite:///{path}", airspace_model.layers),
                  planner=planner)


def test_a_restarted_node_reads_only_the_flights_still_ahead(
        airspace_model: Airspace, planner: Planner, t0: datetime, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a busy file does not parse every flight it ever held: the node reads, at its
    first decision, only those held from an hour before then on; its decisions are the same
    (the old flights are still met by a plan filed as if the clock were back)."""
    path = str(tmp_path / "utm.sqlite")
    engine = _file_engine(airspace_model, planner, path)
    first, later = _old_flight_then_later_plan(engine, t0)
    (other,) = _in_memory(engine, t0)
    engine.store.close()
    parsed: list[str] = []
    parse = Flight.from_doc

    def counting(doc: dict[str, Any]) -> Flight:
        parsed.append(doc["id"])
        return parse(doc)

    monkeypatch.setattr(Flight, "from_doc", staticmethod(counting))
    restarted = _file_engine(airspace_model, planner, path)
    same_as_other = _submit(restarted, later + timedelta(hours=1), later, Endpoint("DY-CTR"),
                            Endpoint("DY-SFG"))
    assert same_as_other.state is FlightState.APPROVED
    assert other in parsed and first.id not in parsed
    assert _in_memory(restarted, t0) == {other, same_as_other.id}  # the first one not read
    taken = restarted.get(other)
    assert (same_as_other.departure_time, same_as_other.route and
            same_as_other.route.cruise_agl_m) != (taken.departure_time, taken.route and
                                                  taken.route.cruise_agl_m)
    again = _submit(restarted, t0, t0 - timedelta(hours=1))  # the clock set back
    assert again.state is FlightState.APPROVED
    assert (again.departure_time, again.route and again.route.cruise_agl_m) != (
        first.departure_time, first.route and first.route.cruise_agl_m)
    assert_store_invariants(restarted.store)


def test_a_file_from_before_the_held_until_column_gets_it_filled(
        airspace_model: Airspace, planner: Planner, t0: datetime, tmp_path: Path) -> None:
    path = str(tmp_path / "utm.sqlite")
    engine = _file_engine(airspace_model, planner, path)
    first, later = _old_flight_then_later_plan(engine, t0)
    engine.store.close()
    with sqlite3.connect(path) as connection:  # as a version before the column wrote it
        connection.execute("ALTER TABLE flights DROP COLUMN held_until_us")
    restarted = _file_engine(airspace_model, planner, path)
    with sqlite3.connect(path) as connection:
        (value,) = connection.execute("SELECT held_until_us FROM flights WHERE id = ?",
                                      (first.id,)).fetchone()
    end = held_until(restarted.get(first.id))  # as stored (times to the millisecond)
    assert end is not None and value == instant_us(end)
    third = _submit(restarted, later + timedelta(hours=2), later, Endpoint("DY-CTR"),
                    Endpoint("DY-SFG"))
    assert first.id not in _in_memory(restarted, t0)
    assert third.id in _in_memory(restarted, t0)
