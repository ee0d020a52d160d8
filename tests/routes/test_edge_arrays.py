"""``EdgeArrays.cheapest_path``: the compiled search finds the cheapest path even far beyond
its first reach, and none when every way is closed."""

from __future__ import annotations

import numpy as np

from routes.graph import Edge, EdgeArrays, NodePosition


def _arrays() -> EdgeArrays:
    """A at the origin, B 1 km east; C 50 km north: A -> B direct, or A -> C -> B."""
    positions = {"A": NodePosition(0.0, 0.0, 0.0, 0.0), "B": NodePosition(0.0, 0.0, 1000.0, 0.0),
                 "C": NodePosition(0.0, 0.0, 0.0, 50_000.0)}
    successors = {
        "A": (Edge("B", "free", 1000.0, None), Edge("C", "free", 50_000.0, None)),
        "B": (),
        "C": (Edge("B", "free", 50_010.0, None),),
    }
    return EdgeArrays(successors, positions, lambda lat, lng: None)


def test_the_direct_edge_when_it_is_open() -> None:
    arrays = _arrays()
    a, b = arrays.index["A"], arrays.index["B"]
    costs = arrays.length_m * 1.3
    assert arrays.cheapest_path(costs, a, b, 1.3) == [a, b]


def test_a_detour_far_beyond_the_first_reach() -> None:
    """The direct edge closed: the only way costs about 100 times the straight line, past both
    limited passes; the unlimited one finds it."""
    arrays = _arrays()
    a, b, c = (arrays.index[n] for n in "ABC")
    costs = arrays.length_m * 1.3
    costs[(arrays.source == a) & (arrays.target == b)] = np.inf
    assert arrays.cheapest_path(costs, a, b, 1.3) == [a, c, b]


def test_no_path_when_every_way_is_closed() -> None:
    arrays = _arrays()
    a, b = arrays.index["A"], arrays.index["B"]
    costs = np.full(len(arrays.length_m), np.inf)
    assert arrays.cheapest_path(costs, a, b, 1.3) is None
    assert arrays.cheapest_path(costs, a, a, 1.3) == [a]
