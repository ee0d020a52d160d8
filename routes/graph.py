"""The routing graph: free-flight H3 cells, corridor centrelines and vertiports.

The only module that imports networkx. Nodes:

- ``int``: an H3 cell at the dataset's routing resolution whose centre is in the service
  area (free flight between neighbours);
- ``("corridor", corridor_id, k)``: the k-th access point along a corridor's centreline;
- ``("vertiport", vertiport_id)``: a rooftop vertiport.

The graph is static (a few thousand nodes for four cities at resolution 7); what changes with
time and request (zones active, classes allowed, areas to avoid) is decided by each search's
edge costs, an infinite cost closing an edge. networkx builds the graph and is the reference
the tests compare with; the planner's searches run on ``EdgeArrays``, the same edges as numpy
arrays, with scipy's compiled Dijkstra (``cheapest_path``): a search in Python was a tenth of
a decision's time.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import NamedTuple

import networkx as nx
import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString

from airspace.features import CorridorDirection
from airspace.geo import lnglat_to_metric, metric_to_lnglat
from airspace.grid import cell_neighbours, cell_to_latlng, latlng_to_cell, shape_to_cells
from airspace.model import Airspace

CORRIDOR_ACCESS_SPACING_M = 1000.0
"""Distance between access points along a corridor."""

EDGE_KINDS = ("free", "corridor", "access")
"""``EdgeArrays.kind`` holds the position of an edge's kind in this tuple."""

SEARCH_REACH_FACTOR = 1.5
"""A search first settles only the nodes whose cost from the origin is at most this many
times the straight line's plus 2 km (at the suitable class's cost per metre), then twice
that, and only then the whole graph. Dijkstra settles nodes in order of cost, so the path is
the cheapest either way; the reach only spares it the far side of the region."""


@dataclass(frozen=True, slots=True)
class NodePosition:
    """Where a node is: degrees for output, metres for distances."""

    lat: float
    lng: float
    x_m: float
    y_m: float


class Edge(NamedTuple):
    """An outgoing edge: where it leads, its kind (``free``, ``corridor``, ``access``), its
    length and, for a corridor edge, the corridor."""

    target: Hashable
    kind: str
    length_m: float
    corridor_id: str | None


class RoutingGraph:
    """The static graph and the node positions of one airspace."""

    def __init__(self, airspace: Airspace) -> None:
        self.airspace = airspace
        self.resolution = airspace.grid.routing_resolution
        self.graph = nx.DiGraph()
        self.positions: dict[Hashable, NodePosition] = {}
        self._add_free_cells()
        self._add_corridors()
        self._add_vertiports()
        self.successors: dict[Hashable, tuple[Edge, ...]] = {
            node: tuple(Edge(neighbour, data["kind"], data["length_m"], data["corridor_id"])
                        for neighbour, data in self.graph.adj[node].items())
            for node in self.graph.nodes
        }
        """Each node's outgoing edges, in networkx's adjacency order."""
        self.arrays = EdgeArrays(self.successors, self.positions, self.cell_of)

    def _position(self, lat: float, lng: float) -> NodePosition:
        from airspace.geo import latlng_to_xy_m

        x_m, y_m = latlng_to_xy_m(lat, lng)
        return NodePosition(lat, lng, x_m, y_m)

    def _add_node(self, node: Hashable, lat: float, lng: float) -> None:
        self.positions[node] = self._position(lat, lng)
        self.graph.add_node(node)

    def _add_edge(self, a: Hashable, b: Hashable, kind: str, corridor_id: str | None = None,
                  both_ways: bool = True) -> None:
        pa, pb = self.positions[a], self.positions[b]
        length_m = math.hypot(pb.x_m - pa.x_m, pb.y_m - pa.y_m)
        self.graph.add_edge(a, b, kind=kind, length_m=length_m, corridor_id=corridor_id)
        if both_ways:
            self.graph.add_edge(b, a, kind=kind, length_m=length_m, corridor_id=corridor_id)

    def _add_free_cells(self) -> None:
        area = self.airspace.service_area
        cells = shape_to_cells(area, self.resolution)
        for cell in cells:
            lat, lng = cell_to_latlng(cell)
            if shapely.contains_xy(area, lng, lat):
                self._add_node(cell, lat, lng)
        for cell in list(self.graph.nodes):
            for neighbour in cell_neighbours(int(cell)):
                if neighbour in self.positions:
                    self.graph.add_edge(
                        cell, neighbour, kind="free", corridor_id=None,
                        length_m=self._distance(cell, neighbour),
                    )

    def _distance(self, a: Hashable, b: Hashable) -> float:
        pa, pb = self.positions[a], self.positions[b]
        return math.hypot(pb.x_m - pa.x_m, pb.y_m - pa.y_m)

    def _add_corridors(self) -> None:
        for corridor in self.airspace.corridors.values():
            line_m = lnglat_to_metric(corridor.centreline)
            assert isinstance(line_m, LineString)
            steps = max(1, math.ceil(line_m.length / CORRIDOR_ACCESS_SPACING_M))
            points_m = [line_m.interpolate(line_m.length * k / steps) for k in range(steps + 1)]
            # Keep the centreline's own vertices too, so the route follows its bends.
            distances = sorted(
                {line_m.length * k / steps for k in range(steps + 1)}
                | {line_m.project(shapely.Point(xy)) for xy in line_m.coords}
            )
            points_m = [line_m.interpolate(d) for d in distances]
            nodes = []
            for k, point_m in enumerate(points_m):
                point = metric_to_lnglat(point_m)
                node = ("corridor", corridor.id, k)
                self._add_node(node, float(point.y), float(point.x))
                nodes.append(node)
                cell = latlng_to_cell(float(point.y), float(point.x), self.resolution)
                if cell in self.positions:
                    self._add_edge(node, cell, "access")
            one_way = corridor.direction == CorridorDirection.ONE_WAY
            for a, b in itertools.pairwise(nodes):
                self._add_edge(a, b, "corridor", corridor.id, both_ways=not one_way)

    def _add_vertiports(self) -> None:
        for vertiport in self.airspace.vertiports.values():
            node = ("vertiport", vertiport.id)
            self._add_node(node, vertiport.lat, vertiport.lng)
            cell = latlng_to_cell(vertiport.lat, vertiport.lng, self.resolution)
            if cell in self.positions:
                self._add_edge(node, cell, "access")
            # Direct access to corridor points close by: pads are often at a corridor's end.
            for corridor_node in self._corridor_nodes_near(node, radius_m=1500.0):
                self._add_edge(node, corridor_node, "access")

    def _corridor_nodes_near(self, node: Hashable, radius_m: float) -> list[Hashable]:
        origin = self.positions[node]
        return [
            other
            for other, position in self.positions.items()
            if isinstance(other, tuple)
            and other[0] == "corridor"
            and math.hypot(position.x_m - origin.x_m, position.y_m - origin.y_m) <= radius_m
        ]

    def cell_of(self, lat: float, lng: float) -> int | None:
        """The free-flight node holding a position, or None if it is not in the graph."""
        cell = latlng_to_cell(lat, lng, self.resolution)
        return cell if cell in self.positions else None

    def coarse_cells(self, geometry_lnglat: shapely.Geometry) -> set[int]:
        """Cells of the routing resolution that a (lng, lat) geometry overlaps."""
        return shape_to_cells(geometry_lnglat, self.resolution)


class EdgeArrays:
    """The static graph as arrays: nodes numbered in ``RoutingGraph.successors`` order, edges
    grouped by the node they leave (compressed sparse rows), so that a search sets every
    edge's cost with a few numpy operations and runs compiled."""

    def __init__(self, successors: dict[Hashable, tuple[Edge, ...]],
                 positions: dict[Hashable, NodePosition],
                 cell_of: Callable[[float, float], int | None]) -> None:
        self.nodes: list[Hashable] = list(successors)
        self.index: dict[Hashable, int] = {node: i for i, node in enumerate(self.nodes)}
        edges = [(self.index[node], self.index[edge.target], edge.length_m,
                  EDGE_KINDS.index(edge.kind))
                 for node, out in successors.items() for edge in out]
        source, target, length_m, kind = zip(*edges, strict=True) if edges else ((),) * 4
        self.source = np.array(source, dtype=np.int64)
        self.target = np.array(target, dtype=np.int32)
        self.length_m = np.array(length_m, dtype=float)
        self.kind = np.array(kind, dtype=np.int8)
        self.starts = np.searchsorted(self.source, np.arange(len(self.nodes) + 1)).astype(
            np.int32)
        """Edges leaving node i: ``starts[i]:starts[i + 1]``."""
        by_target = np.argsort(self.target, kind="stable")
        self._incoming = by_target
        self._incoming_starts = np.searchsorted(self.target[by_target],
                                                np.arange(len(self.nodes) + 1))
        self.x_m = np.array([positions[node].x_m for node in self.nodes])
        self.y_m = np.array([positions[node].y_m for node in self.nodes])
        self.is_cell = np.array([isinstance(node, int) for node in self.nodes], dtype=bool)
        self.corridor_ids: list[str] = sorted({
            node[1] for node in self.nodes if isinstance(node, tuple) and node[0] == "corridor"})
        corridor_number = {corridor_id: k for k, corridor_id in enumerate(self.corridor_ids)}
        self.corridor_of = np.array([
            corridor_number[node[1]] if isinstance(node, tuple) and node[0] == "corridor"
            else -1 for node in self.nodes], dtype=np.int64)
        """Per node, the number of its corridor in ``corridor_ids``; -1 for other nodes."""
        self.corridor_nodes_by_cell: dict[int, list[int]] = {}
        """Corridor nodes by the free-flight cell they lie in (an avoided cell closes them)."""
        for i, node in enumerate(self.nodes):
            if self.corridor_of[i] >= 0:
                cell = cell_of(positions[node].lat, positions[node].lng)
                if cell is not None:
                    self.corridor_nodes_by_cell.setdefault(cell, []).append(i)

    def touching(self, nodes: np.ndarray) -> np.ndarray:
        """Every edge leaving or entering one of ``nodes`` (indices; an edge may repeat)."""
        if not len(nodes):
            return np.empty(0, dtype=np.int64)
        leaving = [np.arange(self.starts[i], self.starts[i + 1]) for i in nodes.tolist()]
        entering = [self._incoming[self._incoming_starts[i]:self._incoming_starts[i + 1]]
                    for i in nodes.tolist()]
        return np.concatenate(leaving + entering)

    def cheapest_path(self, costs: np.ndarray, source: int, target: int,
                      suitable_cost: float) -> list[int] | None:
        """The cheapest path from ``source`` to ``target`` with these edge costs (``inf``
        closes an edge; a cost is metres times the class's cost per metre), as node indices;
        None if there is none. Dijkstra (scipy, compiled), first within a reach around the
        source (``SEARCH_REACH_FACTOR``)."""
        if source == target:
            return [source]
        matrix = csr_matrix((costs, self.target, self.starts),
                            shape=(len(self.nodes), len(self.nodes)))
        straight_m = math.hypot(self.x_m[target] - self.x_m[source],
                                self.y_m[target] - self.y_m[source])
        reach = SEARCH_REACH_FACTOR * suitable_cost * (straight_m + 2_000.0)
        for limit in (reach, 2.0 * reach, np.inf):
            cost, previous = dijkstra(matrix, indices=source, return_predecessors=True,
                                      limit=limit)
            if math.isfinite(cost[target]):
                path = [target]
                while path[-1] != source:
                    path.append(int(previous[path[-1]]))
                path.reverse()
                return path
        return None
