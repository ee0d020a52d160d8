"""A planned route as legs with times, and the route turned into 4-D volumes.

A route is timed relative to its departure (``offset_s``), so that the engine can try a later
departure without planning again: ``route_to_volumes(route, departure_time, buffers)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from airspace.geo import (
    geometry_to_geojson,
    latlngs_to_xy_m,
    lnglat_to_metric_many,
    metric_to_lnglat_many,
)
from airspace.timing import require_aware
from routes.volumes import Volume4D


class LegKind(StrEnum):
    """What the drone does on a leg."""

    CLIMB = "climb"
    """Vertical take-off from the origin to the first cruise altitude."""
    CRUISE = "cruise"
    """Free flight through suitable airspace."""
    CORRIDOR = "corridor"
    """Flight along a corridor's centreline, in the corridor's direction and layers."""
    TRANSITION = "transition"
    """Joining or leaving a corridor: horizontal and vertical change together."""
    DESCENT = "descent"
    """Vertical landing at the destination."""


@dataclass(frozen=True, slots=True)
class Waypoint:
    """A 3-D position with its time offset from departure."""

    lat: float
    lng: float
    alt_agl_m: float
    offset_s: float


@dataclass(frozen=True, slots=True)
class Leg:
    """Straight flight between two waypoints."""

    kind: LegKind
    start: Waypoint
    end: Waypoint
    corridor_id: str | None = None

    @property
    def duration_s(self) -> float:
        """Time the leg takes."""
        return self.end.offset_s - self.start.offset_s


@dataclass(frozen=True, slots=True)
class FlightBuffers:
    """Margins held around the nominal trajectory, inside the volumes."""

    horizontal_m: float = 15.0
    vertical_m: float = 10.0
    time_s: float = 20.0
    max_volume_duration_s: float = 60.0
    """Long legs are cut into volumes of at most this duration, so that a flight does not
    hold a long stretch of airspace for the whole time it needs to fly it."""


@dataclass(frozen=True, slots=True)
class Route:
    """A route from origin to destination, timed from departure."""

    legs: tuple[Leg, ...]
    distance_m: float
    origin_vertiport: str | None = None
    destination_vertiport: str | None = None
    corridor_ids: tuple[str, ...] = ()
    cruise_agl_m: float = 0.0
    """Altitude of the free-flight legs."""

    @property
    def duration_s(self) -> float:
        """Departure to landing."""
        return self.legs[-1].end.offset_s if self.legs else 0.0

    def waypoints(self) -> list[Waypoint]:
        """Every distinct waypoint in order."""
        points = [self.legs[0].start] if self.legs else []
        points.extend(leg.end for leg in self.legs)
        return points

    def to_linestring(self) -> LineString:
        """The route in (lng, lat) degrees, 2-D."""
        return LineString([(w.lng, w.lat) for w in self.waypoints()])

    def to_geojson(self) -> dict[str, Any]:
        """GeoJSON LineString of ``[lng, lat, alt_agl_m]``."""
        return {
            "type": "LineString",
            "coordinates": [
                [round(w.lng, 7), round(w.lat, 7), round(w.alt_agl_m, 2)]
                for w in self.waypoints()
            ],
        }


def route_to_volumes(
    route: Route, departure_time: datetime, buffers: FlightBuffers
) -> list[Volume4D]:
    """The reservation of ``route`` flown from ``departure_time``: buffered 4-D volumes.

    Each leg becomes one volume per ``buffers.max_volume_duration_s`` of flight: the swept
    footprint buffered by ``horizontal_m`` (round caps), altitudes widened by ``vertical_m``
    (never below ground), times widened by ``time_s``. Times are rounded outwards to whole
    seconds and outlines to 1e-7 degree (about 1 cm), and the metric outline is computed from
    the rounded one, so that the wire form and an independent check on it see exactly what
    the engine saw.
    """
    departure_time = require_aware(departure_time, "departure_time")
    legs = route.legs
    if not legs:
        return []
    # Every piece of every leg at once (numpy does the same float operations, in the same
    # order, as a loop over pieces would: the tracks, which key the outline cache, and the
    # spans are the same to the last bit).
    ends_m = latlngs_to_xy_m([(point.lat, point.lng) for leg in legs
                              for point in (leg.start, leg.end)])
    legs_array = np.array([(leg.start.alt_agl_m, leg.end.alt_agl_m, leg.start.offset_s,
                            leg.duration_s) for leg in legs])
    pieces = np.maximum(1, np.ceil(legs_array[:, 3] / buffers.max_volume_duration_s - 1e-9)
                        ).astype(np.int64)
    leg_of = np.repeat(np.arange(len(legs)), pieces)
    piece = np.arange(len(leg_of)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    f0, f1 = piece / pieces[leg_of], (piece + 1) / pieces[leg_of]
    ax, ay = ends_m[0::2][leg_of].T
    bx, by = ends_m[1::2][leg_of].T
    z_start, z_end, offset_s, duration_s = legs_array[leg_of].T
    z0 = z_start + (z_end - z_start) * f0
    z1 = z_start + (z_end - z_start) * f1
    tracks = list(zip((ax + (bx - ax) * f0).tolist(), (ay + (by - ay) * f0).tolist(),
                      (ax + (bx - ax) * f1).tolist(), (ay + (by - ay) * f1).tolist(),
                      strict=True))
    floors_m = np.maximum(0.0, np.minimum(z0, z1) - buffers.vertical_m).tolist()
    ceilings_m = (np.maximum(z0, z1) + buffers.vertical_m).tolist()
    starts_s = (offset_s + duration_s * f0 - buffers.time_s).tolist()
    ends_s = (offset_s + duration_s * f1 + buffers.time_s).tolist()
    shapes = _outlines(tracks, buffers.horizontal_m)
    volumes = []
    for track, floor_m, ceiling_m, t0, t1 in zip(tracks, floors_m, ceilings_m, starts_s,
                                                  ends_s, strict=True):
        start_time = (departure_time + timedelta(seconds=t0)).replace(microsecond=0)
        end_time = departure_time + timedelta(seconds=t1)
        if end_time.microsecond:
            end_time = end_time.replace(microsecond=0) + timedelta(seconds=1)
        outline, outline_m = shapes[track]
        volumes.append(Volume4D.derived(outline, round(floor_m, 3), round(ceiling_m, 3),
                                        start_time, end_time, outline_m))
    return volumes


_OUTLINES: dict[tuple[tuple[float, float, float, float], float], tuple[Any, Any]] = {}
_OUTLINES_LIMIT = 200_000


def _outlines(tracks: list[tuple[float, float, float, float]],
              horizontal_m: float) -> dict[tuple[float, float, float, float], tuple[Any, Any]]:
    """The buffered outline (lng/lat, rounded) and its metric form of each straight track
    (x0, y0, x1, y1 in metres). Remembered: the same track recurs when a route is flown at
    another altitude or planned again, and the same outline objects then share their index
    cells and exact comparisons downstream."""
    found = {track: _OUTLINES.get((track, horizontal_m)) for track in tracks}
    missing = [track for track, shape in found.items() if shape is None]
    if missing:
        lines = [Point(x0, y0) if math.hypot(x1 - x0, y1 - y0) < 0.01
                 else LineString([(x0, y0), (x1, y1)]) for x0, y0, x1, y1 in missing]
        footprints_m = shapely.buffer(np.array(lines, dtype=object), horizontal_m, quad_segs=4)
        # One projection call each way for them all: pyproj is fast on arrays only.
        outlines = metric_to_lnglat_many(footprints_m)
        outlines = shapely.transform(outlines, lambda coords: np.round(coords, 7))
        outlines_m = lnglat_to_metric_many(outlines)
        shapely.prepare(outlines_m)
        if len(_OUTLINES) + len(missing) > _OUTLINES_LIMIT:
            _OUTLINES.clear()
        for track, outline, outline_m in zip(missing, outlines, outlines_m, strict=True):
            found[track] = _OUTLINES[(track, horizontal_m)] = (outline, outline_m)
    return found  # type: ignore[return-value]  # every value is set now


def route_swaths_m(
    route: Route, buffers: FlightBuffers
) -> list[tuple[Any, float, float, float, float]]:
    """Per leg: ``(footprint_m, floor_agl_m, ceiling_agl_m, start_offset_s, end_offset_s)``.

    Each leg's swath covers all the volumes cut from it (same buffers), so a check against
    swaths is a conservative, cheaper stand-in for a check against every volume. One
    projection and one buffer call for all the legs (the planner checks every route it makes).
    """
    if not route.legs:
        return []
    ends = latlngs_to_xy_m([(point.lat, point.lng) for leg in route.legs
                            for point in (leg.start, leg.end)])
    tracks = [Point(a) if math.dist(a, b) < 0.01 else LineString([a, b])
              for a, b in zip(ends[0::2].tolist(), ends[1::2].tolist(), strict=True)]
    footprints_m = shapely.buffer(np.array(tracks, dtype=object), buffers.horizontal_m + 0.05,
                                  quad_segs=4)
    return [(
        footprint_m,
        max(0.0, min(leg.start.alt_agl_m, leg.end.alt_agl_m) - buffers.vertical_m),
        max(leg.start.alt_agl_m, leg.end.alt_agl_m) + buffers.vertical_m,
        leg.start.offset_s - buffers.time_s - 1.0,
        leg.end.offset_s + buffers.time_s + 1.0,
    ) for leg, footprint_m in zip(route.legs, footprints_m, strict=True)]


def outline_geojson(volume: Volume4D) -> dict[str, Any]:
    """GeoJSON of a volume's outline (for maps)."""
    return geometry_to_geojson(volume.outline)
