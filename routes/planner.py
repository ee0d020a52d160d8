"""Plan a route from vertiport to vertiport (or point to point) with A*.

Free flight crosses suitable airspace between H3 neighbours; corridors are preferred (cheaper
per metre) and flown only in their direction and layers; prohibited airspace is impassable;
controlled and restricted airspace is passable only if the request allows it, and costs more.
The cell path is then straightened where exact geometry allows (string pulling), so a route is
a few straight legs, not a staircase of cells, and becomes a few volumes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from airspace.classes import AirspaceClass
from airspace.features import Zone
from airspace.geo import check_latlng, latlng_to_xy_m, metric_to_lnglat, xy_m_to_latlng
from airspace.grid import Cell
from airspace.model import Airspace
from airspace.timing import require_aware
from routes.errors import (
    InvalidRequestError,
    NoRouteError,
    OutsideServiceAreaError,
    ProhibitedEndpointError,
    RoutingError,
    UnknownVertiportError,
)
from routes.graph import Edge, EdgeArrays, RoutingGraph
from routes.performance import DronePerformance
from routes.trajectory import (
    FlightBuffers,
    Leg,
    LegKind,
    Route,
    Waypoint,
    route_swaths_m,
    route_to_volumes,
)

DEFAULT_CRUISE_AGL_M = 45.0
"""Free flight cruises in the 30-60 m layer by default, below the corridors' slabs."""

ROUTE_CACHE_LIMIT = 20_000
"""Planned routes kept for reuse (a route is a few legs: small)."""

EDGE_COST_CACHE_LIMIT = 64
"""Kinds of request whose static edge costs are kept (``Planner.edge_costs``; about 0.5 MB
each): cruise ceilings times drone ceilings times the few states of time-limited zones."""

ZONE_MARGIN_M = 100.0
"""Coarse cells are blocked if they come within this distance of a blocking zone, so that a
path through cell centres keeps its buffers clear of the zone."""

MERGE_TOLERANCE_M = 1.0
"""Consecutive legs are joined into one only if the joined leg stays this close to the
waypoints it drops."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An origin or destination: a vertiport id, or a point (lat, lng in degrees)."""

    vertiport_id: str | None = None
    lat: float | None = None
    lng: float | None = None

    def __post_init__(self) -> None:
        is_point = self.lat is not None or self.lng is not None
        if (self.vertiport_id is None) != is_point:
            raise InvalidRequestError("an endpoint is either a vertiport id or a lat/lng point")
        if self.vertiport_id is not None and (not isinstance(self.vertiport_id, str)
                                              or not self.vertiport_id):
            raise InvalidRequestError(
                f"a vertiport id is a non-empty string, got {self.vertiport_id!r}")
        if is_point:
            try:
                check_latlng(self.lat, self.lng)  # type: ignore[arg-type]  # checks None too
            except ValueError as error:
                raise InvalidRequestError(str(error)) from error

    def describe(self) -> str:
        """Human-readable form for messages."""
        if self.vertiport_id is not None:
            return f"vertiport {self.vertiport_id!r}"
        return f"point ({self.lat}, {self.lng})"


@dataclass(frozen=True, slots=True)
class ClassCosts:
    """Cost per metre of flight by class (corridors cheapest: the planner prefers them)."""

    corridor: float = 1.0
    suitable: float = 1.3
    controlled: float = 2.5
    restricted: float = 4.0
    access_penalty_m: float = 300.0
    """Added for each entry to or exit from a corridor, so routes do not hop in and out."""

    def __post_init__(self) -> None:
        for name in ("corridor", "suitable", "controlled", "restricted"):
            if not getattr(self, name) > 0:
                raise InvalidRequestError(f"class cost {name} must be positive")

    @property
    def cheapest(self) -> float:
        """The smallest factor: no metre costs less (an admissible A* heuristic multiplies the
        straight distance by it, as the tests' networkx reference does)."""
        return min(self.corridor, self.suitable, self.controlled, self.restricted)


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What to plan. ``departure_time`` only decides which zones are active."""

    origin: Endpoint
    destination: Endpoint
    departure_time: datetime
    performance: DronePerformance
    cruise_agl_m: float | None = None
    allowed_classes: frozenset[AirspaceClass] = frozenset()
    """Classes besides suitable and corridor the route may cross (controlled, restricted)."""
    avoid_m: tuple[BaseGeometry, ...] = field(default=(), compare=False)
    """Areas (EPSG:32648 metres) to keep out of, for example other flights' volumes."""
    use_corridors: bool = True


@dataclass(frozen=True, slots=True)
class _Stop:
    x_m: float
    y_m: float
    alt_agl_m: float
    corridor_id: str | None
    """Set when the segment arriving here is flown along this corridor."""
    anchor: bool
    """Anchors stay (endpoints, corridor points); others may be cut by straightening."""


class Planner:
    """Plans routes over one airspace. Thread-safe for concurrent ``plan`` calls."""

    def __init__(
        self,
        airspace: Airspace,
        costs: ClassCosts | None = None,
        buffers: FlightBuffers | None = None,
    ) -> None:
        self.airspace = airspace
        self.costs = costs or ClassCosts()
        self.buffers = buffers or FlightBuffers()
        self.graph = RoutingGraph(airspace)
        self._coarse_version = -1
        self._coarse_zones: dict[Cell, list[Zone]] = {}
        self._coarse_by_zone: dict[str, set[Cell]] = {}
        self._routes: dict[tuple[Any, ...], Route] = {}
        self._lifted: dict[tuple[Any, ...], tuple[Route, Route | NoRouteError]] = {}
        self._static_by_kind: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # -- public ------------------------------------------------------------------------------

    def plan(self, request: RouteRequest) -> Route:
        """Plan one route.

        Raises
        ------
        UnknownVertiportError, OutsideServiceAreaError, ProhibitedEndpointError,
        InvalidRequestError
            For a request that cannot be planned as asked.
        NoRouteError
            If no route avoids the airspace it must avoid.
        """
        departure_time = _aware(request.departure_time)
        perf = request.performance
        cruise_agl_m = self._cruise_altitude(request)
        origin = self._resolve(request.origin, "origin")
        destination = self._resolve(request.destination, "destination")
        straight_m = math.hypot(destination[2] - origin[2], destination[3] - origin[3])
        window_end = departure_time + timedelta(
            seconds=3.0 * straight_m / perf.cruise_speed_mps + 900.0
        )
        blocking = self._blocking_classes(request)
        band_ceiling_m = cruise_agl_m + self.buffers.vertical_m
        for endpoint, (_lat, _lng, x_m, y_m, _, _) in (
            (request.origin, origin), (request.destination, destination)
        ):
            spot = Point(x_m, y_m).buffer(self.buffers.horizontal_m)
            hits = self.airspace.zones_touching(
                spot, 0.0, band_ceiling_m, departure_time, window_end, [AirspaceClass.PROHIBITED]
            )
            if hits:
                raise ProhibitedEndpointError(
                    f"{endpoint.describe()} lies in prohibited zone {hits[0].id!r}"
                )
        cache_key = None
        if not request.avoid_m:
            # Routes repeat all day between the same pads: reuse one while nothing that shaped
            # it changed (zones added or removed, or time-limited zones active in its window).
            cache_key = (request.origin, request.destination, perf, cruise_agl_m,
                         request.allowed_classes, request.use_corridors,
                         *self._shaping(departure_time, window_end))
            cached = self._routes.get(cache_key)
            if cached is not None:
                return cached
        search = _Search(self, request, cruise_agl_m, departure_time, window_end, blocking)
        path = search.shortest_path(origin[4], destination[4])
        stops = self._stops(path, origin, destination, cruise_agl_m)
        stops = search.straighten(stops)
        route = self._route(stops, origin, destination, request, cruise_agl_m)
        self._verify(route, departure_time, blocking)
        if cache_key is not None:
            if len(self._routes) >= ROUTE_CACHE_LIMIT:
                self._routes.clear()
            self._routes[cache_key] = route
        return route

    def edge_costs(self, search: _Search) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of the node factors (``nan``: closed), node openness and edge costs
        (``inf``: closed) of ``search``'s kind of request, before its endpoints and areas to
        avoid: the same for every request at that cruise ceiling, with those classes
        blocking, corridors allowed or not, drone ceiling, and time-limited zones active."""
        key = (search.cruise_agl_m, search.blocking, search.request.use_corridors,
               search.request.performance.max_height_agl_m,
               *self._shaping(search.start_time, search.end_time))
        known = self._static_by_kind.get(key)
        if known is None:
            known = self._static_costs(search)
            if len(self._static_by_kind) >= EDGE_COST_CACHE_LIMIT:
                self._static_by_kind.clear()
            self._static_by_kind[key] = known
        return known[0].copy(), known[1].copy(), known[2].copy()

    def _static_costs(self, search: _Search) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What ``edge_costs`` remembers: every free cell suitable but those near zones (the
        coarse zone index), judged by ``_Search.factor`` as if no cell were an endpoint or
        avoided; corridor nodes open if their corridor is usable; every edge's cost from
        these."""
        arrays = self.graph.arrays
        factors = np.where(arrays.is_cell, self.costs.suitable, np.nan)
        plain = _Search(self, search.request, search.cruise_agl_m, search.start_time,
                        search.end_time, search.blocking, avoid=False)
        for cell in self.coarse_zones():
            i = arrays.index.get(cell)
            if i is not None:
                factor = plain.factor(cell)
                factors[i] = np.nan if factor is None else factor
        is_open = ~arrays.is_cell | ~np.isnan(factors)
        corridor_open = np.array([plain.corridor_usable(corridor_id)
                                  for corridor_id in arrays.corridor_ids] + [True])
        is_open &= corridor_open[arrays.corridor_of]  # -1: not a corridor node, True
        everything = np.arange(len(arrays.target))
        return factors, is_open, _weights(arrays, everything, factors, is_open, self.costs)

    def at_cruise_altitude(self, route: Route, request: RouteRequest) -> Route:
        """The same horizontal route with its free-flight legs at ``request.cruise_agl_m``.

        Corridor legs keep their corridor's altitude; take-off and landing keep the pads'.
        Cheap (no search): the engine uses it to try other altitude layers. The result is
        verified against blocking zones like any planned route.

        Raises
        ------
        InvalidRequestError
            If the altitude is out of range for the drone.
        NoRouteError
            If the route at that altitude would enter a blocking zone.
        """
        cruise_agl_m = self._cruise_altitude(request)
        departure_time = _aware(request.departure_time)
        perf = request.performance
        # The engine lifts the same cached routes all day: reuse the result (or the refusal)
        # while nothing that shaped it changed, as ``plan`` does.
        cache_key = (id(route), cruise_agl_m, perf, request.allowed_classes, *self._shaping(
            departure_time, departure_time + timedelta(seconds=route.duration_s)))
        cached = self._lifted.get(cache_key)
        if cached is not None and cached[0] is route:
            if isinstance(cached[1], NoRouteError):
                raise cached[1]
            return cached[1]
        if len(self._lifted) >= ROUTE_CACHE_LIMIT:
            self._lifted.clear()
        try:
            lifted = self._lift(route, request, cruise_agl_m, departure_time)
        except NoRouteError as error:
            self._lifted[cache_key] = (route, error)  # the route is kept: its id stays unique
            raise
        self._lifted[cache_key] = (route, lifted)
        return lifted

    def _shaping(self, departure_time: datetime,
                 window_end: datetime) -> tuple[int, frozenset[str]]:
        """What a route planned for ``[departure_time, window_end]`` depends on besides the
        request: the airspace's version and the time-limited zones active in that window."""
        timed = frozenset(
            zone.id for zone in self.airspace.zones.values()
            if zone.active_windows and zone.is_active_during(departure_time, window_end)
        )
        return self.airspace.version, timed

    def _lift(self, route: Route, request: RouteRequest, cruise_agl_m: float,
              departure_time: datetime) -> Route:
        perf = request.performance
        in_corridor = {id(leg.start) for leg in route.legs if leg.kind is LegKind.CORRIDOR}
        in_corridor |= {id(leg.end) for leg in route.legs if leg.kind is LegKind.CORRIDOR}
        first, last = route.legs[0].start, route.legs[-1].end

        def altitude(point: Waypoint) -> float:
            if point is first or point is last or id(point) in in_corridor:
                return point.alt_agl_m
            return cruise_agl_m

        legs: list[Leg] = []
        clock_s = 0.0
        previous_end: Waypoint | None = None
        for leg in route.legs:
            start = previous_end or Waypoint(leg.start.lat, leg.start.lng,
                                             altitude(leg.start), 0.0)
            end_alt = altitude(leg.end)
            ax, ay = latlng_to_xy_m(leg.start.lat, leg.start.lng)
            bx, by = latlng_to_xy_m(leg.end.lat, leg.end.lng)
            duration_s = max(math.hypot(bx - ax, by - ay) / perf.cruise_speed_mps,
                             _vertical_time(start.alt_agl_m, end_alt, perf))
            clock_s += duration_s
            end = Waypoint(leg.end.lat, leg.end.lng, end_alt, clock_s)
            kind = leg.kind
            if kind in (LegKind.CRUISE, LegKind.TRANSITION):
                kind = (LegKind.CRUISE if abs(end_alt - start.alt_agl_m) < 1e-6
                        else LegKind.TRANSITION)
            if duration_s > 0.0 or len(legs) == 0:
                legs.append(Leg(kind, start, end, leg.corridor_id))
            previous_end = end
        moved = Route(legs=tuple(legs), distance_m=route.distance_m,
                      origin_vertiport=route.origin_vertiport,
                      destination_vertiport=route.destination_vertiport,
                      corridor_ids=route.corridor_ids, cruise_agl_m=cruise_agl_m)
        self._verify(moved, departure_time, self._blocking_classes(request))
        return moved

    def plan_batch(self, requests: Sequence[RouteRequest]) -> list[Route | RoutingError]:
        """Plan many routes; each failure is returned in its place, not raised."""
        results: list[Route | RoutingError] = []
        for request in requests:
            try:
                results.append(self.plan(request))
            except RoutingError as error:
                results.append(error)
        return results

    def volumes(self, route: Route, departure_time: datetime) -> list[Any]:
        """The route's 4-D volumes when flown from ``departure_time``."""
        return route_to_volumes(route, departure_time, self.buffers)

    # -- request resolution ------------------------------------------------------------------

    def _cruise_altitude(self, request: RouteRequest) -> float:
        perf = request.performance
        cruise = request.cruise_agl_m
        if cruise is None:
            cruise = min(DEFAULT_CRUISE_AGL_M, perf.max_height_agl_m - 5.0)
        if isinstance(cruise, bool) or not isinstance(cruise, int | float) \
                or not math.isfinite(cruise):
            raise InvalidRequestError(f"cruise_agl_m must be a finite number, got {cruise!r}")
        if not 10.0 <= cruise <= perf.max_height_agl_m:
            raise InvalidRequestError(
                f"cruise altitude {cruise} m AGL is outside [10, {perf.max_height_agl_m}] m "
                f"for this {perf.category.value} drone"
            )
        return float(cruise)

    def _resolve(
        self, endpoint: Endpoint, role: str
    ) -> tuple[float, float, float, float, Hashable, float]:
        """``(lat, lng, x_m, y_m, graph node, ground altitude m AGL)`` of an endpoint."""
        if endpoint.vertiport_id is not None:
            vertiport = self.airspace.vertiports.get(endpoint.vertiport_id)
            if vertiport is None:
                raise UnknownVertiportError(f"unknown {role} vertiport {endpoint.vertiport_id!r}")
            x_m, y_m = latlng_to_xy_m(vertiport.lat, vertiport.lng)
            return (vertiport.lat, vertiport.lng, x_m, y_m, ("vertiport", vertiport.id),
                    vertiport.rooftop_height_agl_m)
        assert endpoint.lat is not None and endpoint.lng is not None
        if not self.airspace.is_in_service_area(endpoint.lat, endpoint.lng):
            raise OutsideServiceAreaError(
                f"{role} ({endpoint.lat}, {endpoint.lng}) is outside the service area"
            )
        node = self.graph.cell_of(endpoint.lat, endpoint.lng)
        if node is None:
            raise OutsideServiceAreaError(
                f"{role} ({endpoint.lat}, {endpoint.lng}) is too close to the service area's edge"
            )
        x_m, y_m = latlng_to_xy_m(endpoint.lat, endpoint.lng)
        return endpoint.lat, endpoint.lng, x_m, y_m, node, 0.0

    def _blocking_classes(self, request: RouteRequest) -> frozenset[AirspaceClass]:
        avoidable = {AirspaceClass.CONTROLLED, AirspaceClass.RESTRICTED}
        return frozenset({AirspaceClass.PROHIBITED} | (avoidable - request.allowed_classes))

    def coarse_zones(self) -> dict[Cell, list[Zone]]:
        """Zones by routing-resolution cell (with ``ZONE_MARGIN_M``), kept in step with the
        airspace's zones (temporary zones come and go)."""
        if self._coarse_version != self.airspace.version:
            current = self.airspace.zones
            for zone_id in list(self._coarse_by_zone):
                if zone_id not in current:
                    del self._coarse_by_zone[zone_id]
            for zone_id in current:
                if zone_id not in self._coarse_by_zone:
                    grown = metric_to_lnglat(
                        self.airspace.zone_metric_geometry(zone_id).buffer(ZONE_MARGIN_M)
                    )
                    self._coarse_by_zone[zone_id] = self.graph.coarse_cells(grown)
            index: dict[Cell, list[Zone]] = {}
            for zone_id, cells in self._coarse_by_zone.items():
                for cell in cells:
                    index.setdefault(cell, []).append(current[zone_id])
            self._coarse_zones = index
            self._coarse_version = self.airspace.version
        return self._coarse_zones

    # -- path to route -------------------------------------------------------------------

    def _stops(self, path: list[Hashable], origin: tuple[Any, ...], destination: tuple[Any, ...],
               cruise_agl_m: float) -> list[_Stop]:
        positions = self.graph.positions
        corridors = self.airspace.corridors
        stops = [_Stop(origin[2], origin[3], cruise_agl_m, None, True)]
        for previous, node in itertools.pairwise(path):
            position = positions[node]
            data = self.graph.graph.edges[previous, node]
            if isinstance(node, tuple) and node[0] == "corridor":
                corridor = corridors[node[1]]
                along = data["kind"] == "corridor"
                stops.append(_Stop(position.x_m, position.y_m, corridor.cruise_agl_m,
                                   corridor.id if along else None, True))
            elif isinstance(node, tuple) and node[0] == "vertiport":
                continue  # the destination stop is appended below with its exact position
            else:
                stops.append(_Stop(position.x_m, position.y_m, cruise_agl_m, None, False))
        stops.append(_Stop(destination[2], destination[3], cruise_agl_m, None, True))
        return stops

    def _route(self, stops: list[_Stop], origin: tuple[Any, ...], destination: tuple[Any, ...],
               request: RouteRequest, cruise_agl_m: float) -> Route:
        perf = request.performance
        legs: list[Leg] = []
        o_lat, o_lng = origin[0], origin[1]
        clock_s = 0.0
        first = stops[0]
        start = Waypoint(o_lat, o_lng, origin[5], 0.0)
        climb_s = _vertical_time(origin[5], first.alt_agl_m, perf)
        clock_s += climb_s
        current = Waypoint(o_lat, o_lng, first.alt_agl_m, clock_s)
        legs.append(Leg(LegKind.CLIMB, start, current))
        distance_m = 0.0
        for index, (a, b) in enumerate(itertools.pairwise(stops)):
            horizontal_m = math.hypot(b.x_m - a.x_m, b.y_m - a.y_m)
            if index == len(stops) - 2:
                lat, lng = destination[0], destination[1]
            else:
                lat, lng = xy_m_to_latlng(b.x_m, b.y_m)
            duration_s = max(horizontal_m / perf.cruise_speed_mps,
                             _vertical_time(a.alt_agl_m, b.alt_agl_m, perf))
            if horizontal_m < 0.01 and duration_s <= 0.0:
                continue
            clock_s += duration_s
            distance_m += horizontal_m
            point = Waypoint(lat, lng, b.alt_agl_m, clock_s)
            if b.corridor_id is not None:
                kind = LegKind.CORRIDOR
            elif abs(b.alt_agl_m - a.alt_agl_m) > 1e-6:
                kind = LegKind.TRANSITION
            else:
                kind = LegKind.CRUISE
            legs.append(Leg(kind, current, point, b.corridor_id))
            current = point
        descent_s = _vertical_time(current.alt_agl_m, destination[5], perf)
        landing = Waypoint(current.lat, current.lng, destination[5], clock_s + descent_s)
        legs.append(Leg(LegKind.DESCENT, current, landing))
        # A rooftop at cruise altitude needs no climb or descent: drop zero-time legs, so
        # that waypoint times strictly increase (keep one leg for a hover at the same pad).
        merged = [leg for leg in _merge_collinear(legs) if leg.duration_s > 0.0] or legs[:1]
        corridor_ids = tuple(dict.fromkeys(leg.corridor_id for leg in merged if leg.corridor_id))
        return Route(
            legs=tuple(merged),
            distance_m=distance_m,
            origin_vertiport=request.origin.vertiport_id,
            destination_vertiport=request.destination.vertiport_id,
            corridor_ids=corridor_ids,
            cruise_agl_m=cruise_agl_m,
        )

    def _verify(self, route: Route, departure_time: datetime,
                blocking: frozenset[AirspaceClass]) -> None:
        """The last guard: no leg's buffered swath may touch a blocking zone (exact geometry;
        the swaths cover the volumes, so this is conservative)."""
        swaths = [(footprint_m, floor_m, ceiling_m, departure_time + timedelta(seconds=t0_s),
                   departure_time + timedelta(seconds=t1_s))
                  for footprint_m, floor_m, ceiling_m, t0_s, t1_s
                  in route_swaths_m(route, self.buffers)]
        for hits in self.airspace.zones_touching_many(swaths, blocking):
            if hits:
                raise NoRouteError(
                    f"every route found crosses {hits[0].airspace_class.value} zone {hits[0].id!r}"
                )


class _Search:
    """One A* search: the per-request view of the static graph."""

    def __init__(self, planner: Planner, request: RouteRequest, cruise_agl_m: float,
                 start_time: datetime, end_time: datetime,
                 blocking: frozenset[AirspaceClass], *, avoid: bool = True) -> None:
        """``avoid=False`` leaves out the request's areas to avoid (the static costs every
        request of its kind shares, ``Planner.edge_costs``)."""
        self.planner = planner
        self.request = request
        self.cruise_agl_m = cruise_agl_m
        self.start_time = start_time
        self.end_time = end_time
        self.blocking = blocking
        self.costs = planner.costs
        self.coarse = planner.coarse_zones()
        self.factors: dict[Cell, float | None] = {}
        self.corridor_ok: dict[str, bool] = {}
        self.open_nodes: dict[Hashable, bool] = {}
        self.avoid_cells: set[Cell] = set()
        self.avoid_areas = np.array(request.avoid_m, dtype=object)
        """For one vectorised test of a straightened segment against every area."""
        if request.avoid_m and avoid:
            # One overlap query for the union: exact cells, and far fewer calls into h3.
            merged = shapely.union_all(list(request.avoid_m))
            self.avoid_cells = planner.graph.coarse_cells(metric_to_lnglat(merged))
        self.endpoint_cells: set[Cell] = set()

    def factor(self, cell: Cell) -> float | None:
        """Cost per metre in a free-flight cell, or None if the cell may not be entered."""
        cached = self.factors.get(cell, -1.0)
        if cached != -1.0:
            return cached
        result: float | None
        if cell in self.avoid_cells and cell not in self.endpoint_cells:
            result = None
        else:
            ceiling_m = self.cruise_agl_m + self.planner.buffers.vertical_m
            worst: AirspaceClass | None = None
            for zone in self.coarse.get(cell, ()):
                if zone.floor_agl_m >= ceiling_m:
                    continue
                if not zone.is_active_during(self.start_time, self.end_time):
                    continue
                if worst is None or zone.airspace_class.severity > worst.severity:
                    worst = zone.airspace_class
            if worst is None:
                result = self.costs.suitable
            elif worst in self.blocking:
                result = None if cell not in self.endpoint_cells else self.costs.restricted
            elif worst is AirspaceClass.CONTROLLED:
                result = self.costs.controlled
            else:
                result = self.costs.restricted
        self.factors[cell] = result
        return result

    def corridor_usable(self, corridor_id: str) -> bool:
        """A corridor may be used if the drone may fly its altitude and no zone closes it."""
        known = self.corridor_ok.get(corridor_id)
        if known is not None:
            return known
        corridor = self.planner.airspace.corridors[corridor_id]
        usable = (
            self.request.use_corridors
            and corridor.cruise_agl_m <= self.request.performance.max_height_agl_m
            and not self.planner.airspace.zones_touching(
                self.planner.airspace.corridor_footprints_m[corridor_id],
                corridor.floor_agl_m, corridor.ceiling_agl_m,
                self.start_time, self.end_time, self.blocking,
            )
        )
        self.corridor_ok[corridor_id] = usable
        return usable

    def weight(self, u: Hashable, edge: Edge) -> float | None:
        """The cost of an edge for this request; None if it may not be taken. The reference:
        ``_weights`` computes the same costs for many edges at once, and the tests compare
        the compiled search's paths with networkx's over these."""
        if edge.kind == "free":
            fu = self.factor(u)  # type: ignore[arg-type]
            fv = self.factor(edge.target)  # type: ignore[arg-type]
            if fu is None or fv is None:
                return None
            return edge.length_m * (fu + fv) / 2.0
        if edge.kind == "corridor":
            # Both ends on the same corridor: the end flown to decides.
            if not self.node_open(edge.target):
                return None
            return edge.length_m * self.costs.corridor
        # access: vertiport or corridor point <-> free cell, or vertiport <-> corridor point
        if not (self.node_open(u) and self.node_open(edge.target)):
            return None
        return edge.length_m * self.costs.suitable + self.costs.access_penalty_m

    def node_open(self, node: Hashable) -> bool:
        """May the route pass through this node: a free cell that may be entered, a point on
        a usable corridor outside the areas to avoid, or a vertiport. Remembered per node."""
        known = self.open_nodes.get(node)
        if known is None:
            if isinstance(node, int):
                known = self.factor(node) is not None
            elif isinstance(node, tuple) and node[0] == "corridor":
                known = (self.corridor_usable(node[1])
                         and not self._corridor_node_avoided(node))
            else:
                known = True
            self.open_nodes[node] = known
        return known

    def _corridor_node_avoided(self, node: tuple[Any, ...]) -> bool:
        if not self.avoid_cells:
            return False
        position = self.planner.graph.positions[node]
        return self.planner.graph.cell_of(position.lat, position.lng) in self.avoid_cells

    def shortest_path(self, source: Hashable, target: Hashable) -> list[Hashable]:
        """The cheapest path from source to target with the costs of ``weight``; raises
        ``NoRouteError`` if none.

        The costs of every edge come as an array: the request's static part (zones, classes,
        corridors) is computed once per kind of request and remembered by the planner
        (``Planner.edge_costs``), then the edges of the endpoint cells and of the areas to
        avoid are set again. The search is compiled (``EdgeArrays.cheapest_path``); a path
        as cheap as networkx's ``astar_path`` finds with ``weight`` (tests compare them)."""
        graph = self.planner.graph
        successors = graph.successors
        if source not in successors or target not in successors:
            raise NoRouteError("no route avoids the airspace this flight must avoid")
        for node in (source, target):
            if isinstance(node, int):
                self.endpoint_cells.add(node)
            else:
                for edge in successors[node]:
                    if isinstance(edge.target, int):
                        self.endpoint_cells.add(edge.target)
        arrays = graph.arrays
        factors, is_open, costs = self.planner.edge_costs(self)
        changed = [arrays.index[cell] for cell in self.endpoint_cells]
        factors[changed] = [np.nan if (f := self.factor(cell)) is None else f
                            for cell in self.endpoint_cells]
        avoided = [arrays.index[cell] for cell in self.avoid_cells - self.endpoint_cells
                   if cell in arrays.index]
        factors[avoided] = np.nan
        closed = [i for cell in self.avoid_cells
                  for i in arrays.corridor_nodes_by_cell.get(cell, ())]
        is_open[changed + avoided] = ~np.isnan(factors[changed + avoided])
        is_open[closed] = False
        edges = arrays.touching(np.array(changed + avoided + closed, dtype=np.int64))
        costs[edges] = _weights(arrays, edges, factors, is_open, self.costs)
        path = arrays.cheapest_path(costs, arrays.index[source], arrays.index[target],
                                    self.costs.suitable)
        if path is None:
            raise NoRouteError("no route avoids the airspace this flight must avoid")
        return [arrays.nodes[i] for i in path]

    def straighten(self, stops: list[_Stop]) -> list[_Stop]:
        """String pulling over free-flight runs: keep a stop only if the straight segment
        past it would enter a blocking zone, an avoided area, or leave the service area."""
        result = [stops[0]]
        index = 0
        while index < len(stops) - 1:
            # The furthest stop reachable in a straight free line, up to the next anchor.
            limit = index + 1
            while limit < len(stops) - 1 and not stops[limit].anchor:
                limit += 1
            chosen = index + 1
            if stops[index + 1].corridor_id is None:
                for candidate in range(limit, index + 1, -1):
                    if stops[candidate].corridor_id is None and self.is_clear(
                        stops[index], stops[candidate]
                    ):
                        chosen = candidate
                        break
            result.append(stops[chosen])
            index = chosen
        return result

    def is_clear(self, a: _Stop, b: _Stop) -> bool:
        """True if free flight straight from ``a`` to ``b`` stays in allowed airspace."""
        airspace = self.planner.airspace
        segment = LineString([(a.x_m, a.y_m), (b.x_m, b.y_m)])
        swath = segment.buffer(self.planner.buffers.horizontal_m + 30.0, quad_segs=2)
        ceiling_m = max(a.alt_agl_m, b.alt_agl_m) + self.planner.buffers.vertical_m
        if airspace.zones_touching(swath, 0.0, ceiling_m, self.start_time, self.end_time,
                                   self.blocking):
            return False
        if len(self.avoid_areas) and shapely.intersects(swath, self.avoid_areas).any():
            return False
        return bool(airspace.service_area.covers(metric_to_lnglat(segment)))


def _weights(arrays: EdgeArrays, edges: np.ndarray, factors: np.ndarray,
                is_open: np.ndarray, costs: ClassCosts) -> np.ndarray:
    """``_Search.weight`` of these edges at once (``inf`` where it is None), from each
    node's factor (free cells) and openness (every node)."""
    source, target = arrays.source[edges], arrays.target[edges]
    length_m, kind = arrays.length_m[edges], arrays.kind[edges]
    free = length_m * (factors[source] + factors[target]) / 2.0
    corridor = np.where(is_open[target], length_m * costs.corridor, np.nan)
    access = np.where(is_open[source] & is_open[target],
                      length_m * costs.suitable + costs.access_penalty_m, np.nan)
    cost = np.choose(kind, [free, corridor, access])
    return np.where(np.isnan(cost), np.inf, cost)


def _aware(instant: datetime) -> datetime:
    try:
        return require_aware(instant, "departure_time")
    except ValueError as error:
        raise InvalidRequestError(str(error)) from error


def _vertical_time(from_agl_m: float, to_agl_m: float, perf: DronePerformance) -> float:
    delta = to_agl_m - from_agl_m
    rate = perf.climb_rate_mps if delta > 0 else perf.descent_rate_mps
    return abs(delta) / rate


def _merge_collinear(legs: list[Leg]) -> list[Leg]:
    """Join consecutive legs of the same kind, corridor and altitude that keep their heading
    (within about 1°), so a straight corridor is one leg, not one per access point.

    A join is kept only if every waypoint it drops lies within ``MERGE_TOLERANCE_M`` of the
    joined leg: a heading test alone lets a chain of slight bends drift (a 1° bend is 175 m
    off after 10 km), cutting a corner through a zone the bends went around, or out of a
    corridor.
    """
    merged: list[Leg] = []
    dropped: list[list[Waypoint]] = []  # per merged leg, the joints it no longer flies through
    for leg in legs:
        if merged:
            last = merged[-1]
            if (
                last.kind == leg.kind
                and last.kind in (LegKind.CRUISE, LegKind.CORRIDOR)
                and last.corridor_id == leg.corridor_id
                and last.start.alt_agl_m == last.end.alt_agl_m == leg.end.alt_agl_m
                and _same_heading(last, leg)
            ):
                joined = Leg(last.kind, last.start, leg.end, last.corridor_id)
                joints = [*dropped[-1], last.end]
                if _passes_near(joined, joints, MERGE_TOLERANCE_M):
                    merged[-1] = joined
                    dropped[-1] = joints
                    continue
        merged.append(leg)
        dropped.append([])
    return merged


def _passes_near(leg: Leg, points: list[Waypoint], tolerance_m: float) -> bool:
    """True if every point is within ``tolerance_m`` of the leg's straight line (metres)."""
    segment = LineString([latlng_to_xy_m(leg.start.lat, leg.start.lng),
                          latlng_to_xy_m(leg.end.lat, leg.end.lng)])
    return all(
        segment.distance(Point(latlng_to_xy_m(point.lat, point.lng))) <= tolerance_m
        for point in points
    )


def _same_heading(a: Leg, b: Leg) -> bool:
    def bearing(leg: Leg) -> float:
        return math.atan2(leg.end.lat - leg.start.lat,
                          (leg.end.lng - leg.start.lng) * math.cos(math.radians(leg.start.lat)))

    difference = abs(bearing(a) - bearing(b)) % (2 * math.pi)
    return min(difference, 2 * math.pi - difference) < math.radians(1.0)
