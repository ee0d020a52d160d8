"""What the benchmark reports about resolution: the detour a decision added to a route."""

from __future__ import annotations

from datetime import datetime, timedelta

from airspace import Airspace
from routes import Endpoint, Planner
from utm.bench.runner import BenchResult, _record_resolution
from utm.engine import Engine
from utm.plans import FlightPlan, make_drone
from utm.states import FlightState
from utm.storage import open_store


def test_a_flight_sent_around_another_reports_what_the_detour_added(
        airspace_model: Airspace, planner: Planner, t0: datetime) -> None:
    def engine() -> Engine:
        return Engine(airspace_model, open_store("sqlite:///:memory:", airspace_model.layers),
                      planner=planner)

    def plan(drone: str, origin: str, destination: str) -> FlightPlan:
        # No later departure allowed: a conflict is resolved in space or not at all.
        return FlightPlan("op1", make_drone(drone, "light"), Endpoint(origin),
                          Endpoint(destination), t0, t0)

    crossing = plan("d2", "CD-CXR", "CD-PPH")
    alone = engine().submit(crossing, t0 - timedelta(hours=1))
    busy = engine()
    first = busy.submit(plan("d1", "CD-TFS", "CD-WCH"), t0 - timedelta(hours=1))
    around = busy.submit(crossing, t0 - timedelta(hours=1))
    assert FlightState.APPROVED is first.state is alone.state is around.state
    assert not alone.decision.changes and "route changed" in around.decision.changes[0]
    assert alone.route is not None and around.route is not None
    assert busy.route_as_filed(crossing) == alone.route != around.route
    result = BenchResult()
    _record_resolution(result, busy, plan("d1", "CD-TFS", "CD-WCH"), first)
    _record_resolution(result, busy, crossing, around)
    added_m = around.route.distance_m - alone.route.distance_m
    added_s = around.route.duration_s - alone.route.duration_s
    assert added_s != 0.0
    assert (result.added_m, result.added_s) == ([0.0, added_m], [0.0, added_s])
    assert (result.rerouted_added_m, result.rerouted_added_s) == ([added_m], [added_s])
    summary = result.summary()
    assert summary["reroutes"] == 1 and summary["altitude_changes"] == 0
    assert summary["mean_added_flight_s"] == added_s / 2
    assert summary["rerouted_mean_added_distance_m"] == added_m
