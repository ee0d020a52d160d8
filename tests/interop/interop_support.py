"""Helpers of the interoperability tests: the instants and area-based plans they file.

(Not in ``conftest.py``: test modules import these by name, and another test folder's
``conftest`` module may be the one on the import path.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shapely.geometry import Point, Polygon

from airspace.geo import lnglat_to_metric, metric_to_lnglat
from routes import Volume4D
from utm.plans import AreaPlan, Priority, make_drone

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
"""10:00 in the cities: no curfew, inside opening hours (as ``tests/conftest.py``)."""

NOW0 = T0 - timedelta(hours=1)
"""When plans are filed: an hour ahead, more than every city's lead time."""


def circle(lat: float, lng: float, radius_m: float) -> Polygon:
    """A (lng, lat) polygon approximating a circle (for test areas)."""
    shape = metric_to_lnglat(lnglat_to_metric(Point(lng, lat)).buffer(radius_m, quad_segs=8))
    assert isinstance(shape, Polygon)
    return shape


def area(lat: float, lng: float, radius_m: float = 200.0, floor_agl_m: float = 0.0,
         ceiling_agl_m: float = 120.0, start: datetime = T0,
         duration: timedelta = timedelta(minutes=30), operator_id: str = "area-op",
         category: str = "light", priority: Priority = Priority.COMMERCIAL,
         reference: str = "") -> AreaPlan:
    """An area-based plan of one circular volume."""
    volume = Volume4D(circle(lat, lng, radius_m), floor_agl_m, ceiling_agl_m, start,
                      start + duration)
    return AreaPlan(operator_id, make_drone("uas-1", category), (volume,), priority,
                    "survey", reference)
