"""The airspace as GeoJSON FeatureCollections, built once and cached.

Jurisdictions, vertiports and corridors do not change while the service runs; zones do (a
regulator's constraint is a temporary zone), so the zone collection is rebuilt when the
airspace's ``version`` moves. Every feature has its ``id`` (top level and in ``properties``)
and, where it has one, its ``jurisdiction`` in the properties.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Literal

import numpy as np
from shapely.geometry.base import BaseGeometry

from airspace import Airspace
from airspace.classes import AirspaceClass
from airspace.features import Zone
from airspace.geo import geometry_to_geojson
from airspace.grid import Cell, cell_to_latlng, cell_to_polygon, shape_to_cells
from airspace.timing import format_instant

SIMPLIFY_TOLERANCE_DEG = 0.0005
"""About 50 m: city boundaries for maps (``detail=simplified``) lose their finest wiggles."""

MAX_BBOX_SPAN_DEG = 0.1
"""``/airspace/cells`` answers for boxes up to this many degrees on a side (about 10 km):
near the airports such a box holds some 7,000 zone cells."""


def _feature(feature_id: str, geometry: BaseGeometry | dict[str, Any],
             properties: dict[str, Any]) -> dict[str, Any]:
    geojson = geometry if isinstance(geometry, dict) else geometry_to_geojson(geometry, digits=6)
    return {"type": "Feature", "id": feature_id, "geometry": geojson,
            "properties": {"id": feature_id, **properties}}


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


class AirspaceViews:
    """GeoJSON views of one airspace."""

    def __init__(self, airspace: Airspace) -> None:
        self.airspace = airspace
        self._lock = threading.Lock()
        self._jurisdictions: dict[str, dict[str, Any]] = {}
        self._zones: tuple[int, dict[str, Any]] | None = None
        self._vertiports: dict[str, Any] | None = None
        self._corridors: dict[str, Any] | None = None
        self._corridor_cells: set[Cell] | None = None
        self._candidates: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None

    def jurisdictions(self, detail: Literal["simplified", "full"]) -> dict[str, Any]:
        """The cities with their authority and policy summary."""
        with self._lock:
            if detail not in self._jurisdictions:
                features = []
                for city in self.airspace.jurisdictions.values():
                    boundary = city.boundary
                    if detail == "simplified":
                        boundary = boundary.simplify(SIMPLIFY_TOLERANCE_DEG,
                                                     preserve_topology=True)
                    policy = city.policy
                    features.append(_feature(city.id, boundary, {
                        "jurisdiction": city.id, "name": city.name, "name_zh": city.name_zh,
                        "authority": city.authority, "admin_code": city.admin_code,
                        "policy": {
                            "automatic_classes": sorted(c.value for c in policy.automatic_classes),
                            "review_classes": sorted(c.value for c in policy.review_classes),
                            "refused_classes": sorted(c.value for c in policy.refused_classes),
                            "max_height_agl_m": policy.max_height_agl_m,
                            "min_lead_time_s": policy.min_lead_time_s,
                            "curfew": policy.curfew.to_text() if policy.curfew else None,
                            "curfew_action": policy.curfew_action,
                            "emergency_fast_track": policy.emergency_fast_track,
                            "review_categories": sorted(policy.review_categories),
                        },
                    }))
                self._jurisdictions[detail] = _collection(features)
            return self._jurisdictions[detail]

    def _zone_jurisdiction(self, zone: Zone) -> str | None:
        if zone.jurisdiction is not None:
            return zone.jurisdiction
        crossed = self.airspace.jurisdictions_crossed(zone.geometry)
        return crossed[0].id if len(crossed) == 1 else None

    def zones(self) -> dict[str, Any]:
        """Zones of the dataset and constraints in force or announced."""
        with self._lock:
            version = self.airspace.version
            if self._zones is None or self._zones[0] != version:
                features = [
                    _feature(zone.id, zone.geometry, {
                        "name": zone.name, "class": zone.airspace_class.value,
                        "floor_agl_m": zone.floor_agl_m, "ceiling_agl_m": zone.ceiling_agl_m,
                        "active_windows": [
                            {"start_time": format_instant(w.start_time),
                             "end_time": format_instant(w.end_time)}
                            for w in zone.active_windows],
                        "reason": zone.reason, "authority": zone.authority,
                        "jurisdiction": self._zone_jurisdiction(zone),
                    })
                    for zone in list(self.airspace.zones.values())
                ]
                self._zones = (version, _collection(features))
            return self._zones[1]

    def vertiports(self) -> dict[str, Any]:
        """Rooftop vertiports with pads, turnaround and opening hours."""
        with self._lock:
            if self._vertiports is None:
                self._vertiports = _collection([
                    _feature(v.id, {"type": "Point", "coordinates": [v.lng, v.lat]}, {
                        "name": v.name, "jurisdiction": v.jurisdiction, "kind": v.kind,
                        "pads": v.pads, "pad_turnaround_s": v.pad_turnaround_s,
                        "rooftop_height_agl_m": v.rooftop_height_agl_m,
                        "opening_hours": v.opening_hours.to_text() if v.opening_hours
                        else None,
                    })
                    for v in self.airspace.vertiports.values()
                ])
            return self._vertiports

    def corridors(self) -> dict[str, Any]:
        """Corridors: centreline geometry, width, layers, direction, cities crossed."""
        with self._lock:
            if self._corridors is None:
                self._corridors = _collection([
                    _feature(c.id, c.centreline, {
                        "name": c.name, "width_m": c.width_m, "floor_agl_m": c.floor_agl_m,
                        "ceiling_agl_m": c.ceiling_agl_m, "direction": c.direction,
                        "jurisdictions": list(c.jurisdictions),
                        "jurisdiction": c.jurisdictions[0] if len(c.jurisdictions) == 1
                        else None,
                    })
                    for c in self.airspace.corridors.values()
                ])
            return self._corridors

    def _candidate_cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every zone or corridor cell with its centre: ``(cells, lats, lngs)``.

        Cached per airspace version, so that a request only filters arrays by its box
        instead of visiting every indexed cell.
        """
        with self._lock:
            version = self.airspace.version
            if self._candidates is None or self._candidates[0] != version:
                if self._corridor_cells is None:
                    self._corridor_cells = set().union(*(
                        shape_to_cells(footprint, self.airspace.resolution)
                        for footprint in self.airspace.corridor_footprints.values()))
                cells = sorted(set(self.airspace.zone_cells()) | self._corridor_cells)
                centres = np.array([cell_to_latlng(cell) for cell in cells]).reshape(-1, 2)
                self._candidates = (version, np.array(cells, dtype=np.uint64),
                                    centres[:, 0], centres[:, 1])
            return self._candidates[1], self._candidates[2], self._candidates[3]

    def cells(self, bbox: tuple[float, float, float, float], layer: int,
              at_time: datetime) -> dict[str, Any]:
        """Cells of ``layer`` whose centre is in ``bbox`` and whose class is not plain
        ``suitable``, as hexagons (the answer of ``Airspace.classified_cells_in``).

        ``bbox`` is ``(min_lng, min_lat, max_lng, max_lat)``; cells not listed are suitable
        (below 120 m) or controlled (above), inside the service area.
        """
        min_lng, min_lat, max_lng, max_lat = bbox
        cells, lats, lngs = self._candidate_cells()
        inside = (lngs >= min_lng) & (lngs <= max_lng) & (lats >= min_lat) & (lats <= max_lat)
        features = []
        for cell in cells[inside].tolist():
            found = self.airspace.classify_cell(int(cell), layer, at_time)
            if found.airspace_class is AirspaceClass.SUITABLE:
                continue
            cell_id = found.to_json()["cell"]
            features.append(_feature(cell_id, cell_to_polygon(found.cell), {
                "class": found.airspace_class.value, "jurisdiction": found.jurisdiction,
                "layer": found.layer, "zones": list(found.zone_ids),
                "corridors": list(found.corridor_ids),
            }))
        features.sort(key=lambda feature: feature["id"])
        return _collection(features)
