"""4-D volumes: the reservation a flight holds, and exact separation between two of them.

Pure: no I/O, no clock. A volume's outline is kept twice: in WGS84 (lng, lat) degrees for the
wire, and in EPSG:32648 metres for exact checks (shapely is Cartesian).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon, shape
from shapely.geometry.base import BaseGeometry

from airspace.geo import (
    check_geometry_lnglat,
    geometry_to_geojson,
    lnglat_to_metric,
    lnglat_to_metric_many,
)
from airspace.timing import format_instant, parse_instant, require_aware

INTERSECTION_TOLERANCE_M2 = 1e-4
"""Two footprints intersect when they share more than 1 cm² (ASTM F3548 GEN0500 asks for
intersection of more than 1 cm to count); touching edges and rounding do not."""


@dataclass(frozen=True, slots=True)
class Volume4D:
    """A polygon footprint between a floor and a ceiling (m AGL), over ``[start, end)`` UTC."""

    outline: Polygon
    """(lng, lat) degrees."""
    floor_agl_m: float
    ceiling_agl_m: float
    start_time: datetime
    end_time: datetime
    outline_m: BaseGeometry = field(default=None, compare=False, repr=False)
    """The outline in EPSG:32648 metres; derived when not given."""

    def __post_init__(self) -> None:
        require_aware(self.start_time, "start_time")
        require_aware(self.end_time, "end_time")
        if self.end_time <= self.start_time:
            raise ValueError("a volume must end after it starts")
        if not (math.isfinite(self.floor_agl_m) and math.isfinite(self.ceiling_agl_m)):
            raise ValueError("floor and ceiling must be finite")
        if self.floor_agl_m >= self.ceiling_agl_m:
            raise ValueError(
                f"floor {self.floor_agl_m} m is not below ceiling {self.ceiling_agl_m} m"
            )
        if self.outline_m is None:
            object.__setattr__(self, "outline_m", lnglat_to_metric(self.outline))
        shapely.prepare(self.outline_m)

    @classmethod
    def derived(cls, outline: Polygon, floor_agl_m: float, ceiling_agl_m: float,
                start_time: datetime, end_time: datetime, outline_m: BaseGeometry) -> Volume4D:
        """A volume computed from values checked already (a route's, cut from legs timed
        from an aware departure; a volume shifted in time), with its metric outline prepared.

        Only the cheap checks of ``__post_init__`` run: the engine builds volumes by the
        hundred thousand, and the awareness and finiteness tests were a tenth of its time."""
        if end_time <= start_time or floor_agl_m >= ceiling_agl_m:
            raise ValueError("a volume must end after it starts, its floor below its ceiling")
        volume = object.__new__(cls)
        set_field = object.__setattr__  # frozen: the dataclass's own setattr refuses
        set_field(volume, "outline", outline)
        set_field(volume, "floor_agl_m", floor_agl_m)
        set_field(volume, "ceiling_agl_m", ceiling_agl_m)
        set_field(volume, "start_time", start_time)
        set_field(volume, "end_time", end_time)
        set_field(volume, "outline_m", outline_m)
        return volume

    def shifted(self, delta: timedelta) -> Volume4D:
        """The same volume, ``delta`` later (the same outline objects)."""
        return Volume4D.derived(self.outline, self.floor_agl_m, self.ceiling_agl_m,
                                self.start_time + delta, self.end_time + delta, self.outline_m)

    def raised(self, delta_m: float) -> Volume4D:
        """The same volume, ``delta_m`` metres higher."""
        return replace(
            self,
            floor_agl_m=self.floor_agl_m + delta_m,
            ceiling_agl_m=self.ceiling_agl_m + delta_m,
        )

    def to_json(self) -> dict[str, Any]:
        """The binding wire form of DESIGN.md (GeoJSON outline, metres AGL, RFC 3339 ``Z``)."""
        return {
            "outline": geometry_to_geojson(self.outline),
            "floor_agl_m": round(self.floor_agl_m, 3),
            "ceiling_agl_m": round(self.ceiling_agl_m, 3),
            "start_time": format_instant(self.start_time),
            "end_time": format_instant(self.end_time),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Volume4D:
        """Parse the wire form; raises ``ValueError`` with the field at fault."""
        try:
            outline = shape(data["outline"])
        except (AttributeError, KeyError, IndexError, TypeError, ValueError,
                shapely.errors.GEOSException) as error:
            raise ValueError(f"outline must be a GeoJSON Polygon ({error})") from error
        if not isinstance(outline, Polygon):
            raise ValueError("outline must be a GeoJSON Polygon")
        check_geometry_lnglat(outline)
        return cls(
            outline=outline,
            floor_agl_m=float(data["floor_agl_m"]),
            ceiling_agl_m=float(data["ceiling_agl_m"]),
            start_time=parse_instant(data["start_time"], "start_time"),
            end_time=parse_instant(data["end_time"], "end_time"),
        )


def volumes_from_json(docs: Sequence[dict[str, Any]]) -> list[Volume4D]:
    """Parse many volumes' wire forms: the same volumes and errors as ``Volume4D.from_json``
    on each, with one validity test and one projection for them all (a store opening reads
    every held flight, tens of thousands of volumes; per volume, building the polygon,
    checking it and projecting it were most of the time)."""
    outlines = _plain_outlines(docs)
    if outlines is None:
        # Holes, other kinds, anything unusual or wrong: the one-by-one way and its errors.
        return [Volume4D.from_json(item) for item in docs]
    outlines_m = lnglat_to_metric_many(outlines)
    return [Volume4D(outline=outline, floor_agl_m=float(data["floor_agl_m"]),
                     ceiling_agl_m=float(data["ceiling_agl_m"]),
                     start_time=parse_instant(data["start_time"], "start_time"),
                     end_time=parse_instant(data["end_time"], "end_time"),
                     outline_m=outline_m)
            for data, outline, outline_m in zip(docs, outlines.tolist(), outlines_m.tolist(),
                                                strict=True)]


def _plain_outlines(docs: Sequence[dict[str, Any]]) -> np.ndarray | None:
    """The outlines of ``docs`` built together, if each is a valid GeoJSON Polygon without
    holes (``check_geometry_lnglat``); None otherwise."""
    shells = []
    for data in docs:
        outline = data["outline"]
        if not (isinstance(outline, dict) and outline.get("type") == "Polygon"
                and isinstance(outline.get("coordinates"), list)
                and len(outline["coordinates"]) == 1):
            return None
        shells.append(outline["coordinates"][0])
    try:
        points = [np.asarray(shell, dtype=float) for shell in shells]
        exteriors = shapely.linearrings(np.concatenate(points), indices=np.repeat(
            np.arange(len(points)), [len(shell) for shell in points]))
        outlines = shapely.polygons(exteriors)
        check_geometry_lnglat(outlines)
    except (ValueError, TypeError, shapely.errors.GEOSException):  # InvalidPositionError too
        return None
    return outlines


def time_ranges_overlap(a: Volume4D, b: Volume4D) -> bool:
    """True if the two volumes share an instant (ends are exclusive)."""
    return a.start_time < b.end_time and b.start_time < a.end_time


def altitude_ranges_overlap(a: Volume4D, b: Volume4D) -> bool:
    """True if the two altitude ranges share more than a plane."""
    return a.floor_agl_m < b.ceiling_agl_m and b.floor_agl_m < a.ceiling_agl_m


def footprints_intersect(a: BaseGeometry, b: BaseGeometry) -> bool:
    """True if two metric footprints share more than 1 cm² (``INTERSECTION_TOLERANCE_M2``)."""
    if not a.intersects(b):
        return False
    return bool(a.intersection(b).area > INTERSECTION_TOLERANCE_M2)


def volumes_intersect(a: Volume4D, b: Volume4D) -> bool:
    """Invariant 1 of DESIGN.md: time, altitude and footprint all overlap.

    The cheap interval tests run first; exact geometry decides only for real candidates.
    """
    return (
        time_ranges_overlap(a, b)
        and altitude_ranges_overlap(a, b)
        and footprints_intersect(a.outline_m, b.outline_m)
    )
