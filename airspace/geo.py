"""Coordinates: the one module where (lat, lng) meets GeoJSON's (lng, lat), and where degrees
become metres.

shapely is Cartesian, so every distance, buffer or area in metres is computed on geometry
projected to UTM zone 48N (EPSG:32648), which covers the four cities (103.5°E to 105.5°E) with
a scale error below 0.1 %. Geometry in degrees is always (lng, lat) as in GeoJSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from airspace.errors import InvalidPositionError

METRIC_CRS = "EPSG:32648"
"""UTM zone 48N: the projected CRS in which all metric geometry of the region is computed."""


@lru_cache(maxsize=1)
def _to_metric() -> Transformer:
    return Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)


@lru_cache(maxsize=1)
def _to_lnglat() -> Transformer:
    return Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)


def check_latlng(lat: float, lng: float) -> None:
    """Raise ``InvalidPositionError`` unless ``lat`` and ``lng`` are finite degrees in range."""
    if not (isinstance(lat, int | float) and isinstance(lng, int | float)) \
            or isinstance(lat, bool) or isinstance(lng, bool):
        raise InvalidPositionError(f"lat and lng must be numbers, got {lat!r}, {lng!r}")
    if not (math.isfinite(lat) and math.isfinite(lng)):
        raise InvalidPositionError(f"lat and lng must be finite, got {lat!r}, {lng!r}")
    if not -90.0 <= lat <= 90.0:
        raise InvalidPositionError(f"lat {lat} is outside [-90, 90] degrees")
    if not -180.0 <= lng <= 180.0:
        raise InvalidPositionError(f"lng {lng} is outside [-180, 180] degrees")


def latlng_to_point(lat: float, lng: float) -> Point:
    """A shapely point in GeoJSON order (x = lng, y = lat), degrees WGS84."""
    return Point(lng, lat)


def point_to_latlng(point: Point) -> tuple[float, float]:
    """``(lat, lng)`` of a shapely point in GeoJSON order."""
    return float(point.y), float(point.x)


def lnglat_to_metric(geometry: BaseGeometry) -> BaseGeometry:
    """Project a WGS84 (lng, lat) geometry to EPSG:32648 metres."""
    transformer = _to_metric()

    def project(coords: np.ndarray) -> np.ndarray:
        x_m, y_m = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x_m, y_m])

    return shapely.transform(geometry, project)


def metric_to_lnglat(geometry: BaseGeometry) -> BaseGeometry:
    """Project an EPSG:32648 geometry back to WGS84 (lng, lat) degrees."""
    transformer = _to_lnglat()

    def unproject(coords: np.ndarray) -> np.ndarray:
        lng, lat = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lng, lat])

    return shapely.transform(geometry, unproject)


def lnglat_to_metric_many(geometries: np.ndarray) -> np.ndarray:
    """Project an array of WGS84 geometries to EPSG:32648 in one pyproj call."""
    transformer = _to_metric()

    def project(coords: np.ndarray) -> np.ndarray:
        x_m, y_m = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x_m, y_m])

    return shapely.transform(geometries, project)


def metric_to_lnglat_many(geometries: np.ndarray) -> np.ndarray:
    """Unproject an array of EPSG:32648 geometries to WGS84 in one pyproj call."""
    transformer = _to_lnglat()

    def unproject(coords: np.ndarray) -> np.ndarray:
        lng, lat = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lng, lat])

    return shapely.transform(geometries, unproject)


def latlng_to_xy_m(lat: float, lng: float) -> tuple[float, float]:
    """Project one WGS84 position to EPSG:32648 ``(x_m, y_m)``."""
    x_m, y_m = _to_metric().transform(lng, lat)
    return float(x_m), float(y_m)


def xy_m_to_latlng(x_m: float, y_m: float) -> tuple[float, float]:
    """Unproject EPSG:32648 ``(x_m, y_m)`` to WGS84 ``(lat, lng)``."""
    lng, lat = _to_lnglat().transform(x_m, y_m)
    return float(lat), float(lng)


def latlngs_to_xy_m(latlngs: Sequence[tuple[float, float]]) -> np.ndarray:
    """Project many ``(lat, lng)`` to an ``(N, 2)`` array of EPSG:32648 metres."""
    array = np.asarray(latlngs, dtype=float).reshape(-1, 2)
    x_m, y_m = _to_metric().transform(array[:, 1], array[:, 0])
    return np.column_stack([x_m, y_m])


def geojson_to_geometry(geojson: dict[str, Any]) -> BaseGeometry:
    """A shapely geometry from a GeoJSON geometry mapping (coordinates stay (lng, lat))."""
    return shape(geojson)


def geometry_to_geojson(geometry: BaseGeometry, *, digits: int = 7) -> dict[str, Any]:
    """A GeoJSON geometry mapping of a (lng, lat) shapely geometry, rounded to ``digits``.

    Seven decimal places of a degree are about 1 cm, finer than any buffer in the system.
    """
    if isinstance(geometry, shapely.Polygon):  # the hot path: every volume outline
        rings = [geometry.exterior, *geometry.interiors]
        return {"type": "Polygon", "coordinates": [
            np.round(shapely.get_coordinates(ring), digits).tolist() for ring in rings]}
    # Rounding each coordinate (not shapely.set_precision, which may re-order rings) keeps
    # the operation idempotent: a parsed and re-written outline is byte-identical.
    rounded = shapely.transform(geometry, lambda coords: np.round(coords, digits))
    mapping: dict[str, Any] = shapely.geometry.mapping(rounded)
    return _listify(mapping)


def _listify(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_listify(item) for item in value]
    if isinstance(value, dict):
        return {key: _listify(item) for key, item in value.items()}
    return value


def distance_m(a_lat: float, a_lng: float, b_lat: float, b_lng: float) -> float:
    """Horizontal distance in metres between two WGS84 positions (in the metric projection)."""
    ax, ay = latlng_to_xy_m(a_lat, a_lng)
    bx, by = latlng_to_xy_m(b_lat, b_lng)
    return math.hypot(bx - ax, by - ay)


def check_geometry_lnglat(geometry: BaseGeometry | np.ndarray) -> None:
    """Raise ``InvalidPositionError`` for empty, non-finite, out-of-range or invalid geometry
    (one geometry, or an array of them checked together: the message is then of the first
    problem found over all of them, test by test)."""
    if np.any(shapely.is_empty(geometry)):
        raise InvalidPositionError("geometry is empty")
    coords = shapely.get_coordinates(geometry)
    if not np.isfinite(coords).all():
        raise InvalidPositionError("geometry has non-finite coordinates")
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise InvalidPositionError("coordinates must be [lng, lat] within [-180, 180], [-90, 90]")
    valid = np.atleast_1d(shapely.is_valid(geometry))
    if not valid.all():
        first = np.atleast_1d(geometry)[int(np.argmin(valid))]
        raise InvalidPositionError(f"invalid geometry: {shapely.is_valid_reason(first)}")
