"""The planner's compiled search (edge costs as arrays, scipy's Dijkstra) finds a path exactly
as cheap as networkx's ``astar_path`` with the edge costs of ``_Search.weight``, the reference:
every edge of it open, from the origin to the destination; and none where networkx finds none."""

from __future__ import annotations

import itertools
from datetime import timedelta

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from airspace.geo import latlng_to_xy_m
from routes import DroneCategory, DronePerformance, Endpoint, NoRouteError, RouteRequest
from routes.graph import Edge
from routes.planner import _Search

LIGHT = DronePerformance.default_for(DroneCategory.LIGHT)


def _search(planner, origin: str, destination: str, t0, avoid_m=()) -> tuple[_Search, tuple]:
    request = RouteRequest(Endpoint(vertiport_id=origin), Endpoint(vertiport_id=destination),
                           t0, LIGHT, avoid_m=tuple(avoid_m))
    cruise_agl_m = planner._cruise_altitude(request)
    search = _Search(planner, request, cruise_agl_m, t0, t0 + timedelta(hours=2),
                     planner._blocking_classes(request))
    ends = (planner._resolve(request.origin, "origin")[4],
            planner._resolve(request.destination, "destination")[4])
    return search, ends


def _networkx_path(planner, search: _Search, source, target) -> list:
    def weight(u, v, data):
        return search.weight(u, Edge(v, data["kind"], data["length_m"], data["corridor_id"]))

    def heuristic(node, _target):
        here, there = planner.graph.positions[node], planner.graph.positions[target]
        return search.costs.cheapest * ((there.x_m - here.x_m) ** 2
                                        + (there.y_m - here.y_m) ** 2) ** 0.5

    return nx.astar_path(planner.graph.graph, source, target, heuristic=heuristic,
                         weight=weight)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), avoid=st.booleans())
def test_same_path_as_networkx(planner, airspace_model, t0, data, avoid) -> None:
    ids = sorted(airspace_model.vertiports)
    origin = data.draw(st.sampled_from(ids), label="origin")
    destination = data.draw(st.sampled_from([i for i in ids if i != origin]),
                            label="destination")
    avoid_m = []
    if avoid:  # a disc on the way, as the engine's detours avoid other flights
        a, b = airspace_model.vertiports[origin], airspace_model.vertiports[destination]
        ax, ay = latlng_to_xy_m(a.lat, a.lng)
        bx, by = latlng_to_xy_m(b.lat, b.lng)
        share = data.draw(st.floats(0.2, 0.8), label="where on the way")
        avoid_m = [Point(ax + (bx - ax) * share, ay + (by - ay) * share).buffer(1500.0)]
    search, (source, target) = _search(planner, origin, destination, t0, avoid_m)
    try:
        ours = search.shortest_path(source, target)
    except NoRouteError:
        with pytest.raises(nx.NetworkXNoPath):
            _networkx_path(planner, search, source, target)
        return
    theirs = _networkx_path(planner, search, source, target)
    assert ours[0] == source and ours[-1] == target
    assert _cost(planner, search, ours) == pytest.approx(_cost(planner, search, theirs),
                                                         rel=1e-9)


def _cost(planner, search: _Search, path: list) -> float:
    """The path's cost by the reference ``weight``; every edge must be open."""
    total = 0.0
    for u, v in itertools.pairwise(path):
        data = planner.graph.graph.edges[u, v]
        step = search.weight(u, Edge(v, data["kind"], data["length_m"], data["corridor_id"]))
        assert step is not None, f"the path takes the closed edge {u} -> {v}"
        total += step
    return total


def test_no_path_is_a_no_route_error(planner, airspace_model, t0) -> None:
    """Avoiding a wide disc around the destination leaves no way in."""
    ids = sorted(airspace_model.vertiports)
    origin, destination = ids[0], ids[-1]
    target = airspace_model.vertiports[destination]
    x_m, y_m = latlng_to_xy_m(target.lat, target.lng)
    ring = Point(x_m, y_m).buffer(12_000.0).difference(Point(x_m, y_m).buffer(6_000.0))
    search, (source, goal) = _search(planner, origin, destination, t0, [ring])
    with pytest.raises(NoRouteError):
        search.shortest_path(source, goal)
