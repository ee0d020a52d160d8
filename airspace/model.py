"""The indexed airspace: which class a (cell, layer) has at an instant, in which jurisdiction.

Zones and corridors are indexed by every H3 cell they overlap (conservative coverage), so the
class of a cell is a dictionary lookup; exact shapely geometry (in EPSG:32648 metres) answers
the questions where a cell would be too coarse, such as "does this route enter the zone".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, box
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from airspace.classes import TRUE_HEIGHT_LIMIT_M, AirspaceClass
from airspace.errors import InvalidPositionError
from airspace.features import Corridor, Jurisdiction, Vertiport, Zone
from airspace.geo import check_latlng, lnglat_to_metric, metric_to_lnglat
from airspace.grid import (
    AltitudeLayers,
    Cell,
    cell_to_latlng,
    cell_to_str,
    latlng_to_cell,
    shape_to_cells,
)
from airspace.ground import GroundModel
from airspace.loading import Dataset, GridSpec
from airspace.timing import require_aware


@dataclass(frozen=True, slots=True)
class Classification:
    """The answer to "what airspace is this": class, jurisdiction, grid position, and why."""

    airspace_class: AirspaceClass
    jurisdiction: str | None
    cell: Cell
    layer: int
    zone_ids: tuple[str, ...] = ()
    corridor_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The wire form: ``{"class", "jurisdiction", "cell", "layer", "zones", "corridors"}``."""
        return {
            "class": self.airspace_class.value,
            "jurisdiction": self.jurisdiction,
            "cell": cell_to_str(self.cell),
            "layer": self.layer,
            "zones": list(self.zone_ids),
            "corridors": list(self.corridor_ids),
        }


class Airspace:
    """A dataset's features with their indexes; temporary zones can be added and removed.

    Not thread-safe for writers: callers serialise ``add_zone`` / ``remove_zone``.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.grid: GridSpec = dataset.grid
        self.jurisdictions: dict[str, Jurisdiction] = {j.id: j for j in dataset.jurisdictions}
        self.vertiports: dict[str, Vertiport] = {v.id: v for v in dataset.vertiports}
        self.corridors: dict[str, Corridor] = {c.id: c for c in dataset.corridors}
        self.ground: GroundModel | None = dataset.ground
        """Ground heights, for altitudes above the WGS84 ellipsoid (``airspace.ground``)."""
        self.zones: dict[str, Zone] = {}
        self._zone_cells: dict[Cell, list[Zone]] = defaultdict(list)
        self._zone_metric: dict[str, BaseGeometry] = {}
        self._zone_tree: STRtree | None = None
        self._zone_tree_ids: list[str] = []
        self.version = 0
        """Bumped whenever zones are added or removed, so derived indexes know to refresh."""

        self._city_ids = [j.id for j in dataset.jurisdictions]
        self._city_tree = STRtree([j.boundary for j in dataset.jurisdictions])
        for jurisdiction in dataset.jurisdictions:
            shapely.prepare(jurisdiction.boundary)
        self.service_area: BaseGeometry = shapely.union_all(
            [j.boundary for j in dataset.jurisdictions]
        )
        shapely.prepare(self.service_area)

        self.corridor_footprints: dict[str, BaseGeometry] = {}
        self.corridor_footprints_m: dict[str, BaseGeometry] = {}
        self._corridor_cells: dict[Cell, list[Corridor]] = defaultdict(list)
        for corridor in dataset.corridors:
            footprint_m = lnglat_to_metric(corridor.centreline).buffer(corridor.width_m / 2.0)
            footprint = metric_to_lnglat(footprint_m)
            self.corridor_footprints_m[corridor.id] = footprint_m
            self.corridor_footprints[corridor.id] = footprint
            for cell in shape_to_cells(footprint, self.grid.resolution):
                self._corridor_cells[cell].append(corridor)

        for zone in dataset.zones:
            self._index_zone(zone)
        self._rebuild_zone_tree()

    # -- properties -----------------------------------------------------------------------

    @property
    def layers(self) -> AltitudeLayers:
        """The altitude layers of the grid."""
        return self.grid.layers

    @property
    def resolution(self) -> int:
        """The H3 resolution of the classification grid."""
        return self.grid.resolution

    # -- zones ----------------------------------------------------------------------------

    def _index_zone(self, zone: Zone) -> None:
        self.zones[zone.id] = zone
        self._zone_metric[zone.id] = lnglat_to_metric(zone.geometry)
        for cell in shape_to_cells(zone.geometry, self.grid.resolution):
            self._zone_cells[cell].append(zone)

    def _rebuild_zone_tree(self) -> None:
        self.version += 1
        self._zone_tree_ids = list(self.zones)
        geometries = [self._zone_metric[zone_id] for zone_id in self._zone_tree_ids]
        self._zone_tree = STRtree(geometries) if geometries else None

    def add_zone(self, zone: Zone) -> None:
        """Add a temporary zone (a regulator's constraint) to the indexes.

        Raises
        ------
        ValueError
            If a zone with the same id exists.
        """
        if zone.id in self.zones:
            raise ValueError(f"zone {zone.id!r} exists already")
        self._index_zone(zone)
        self._rebuild_zone_tree()

    def remove_zone(self, zone_id: str) -> None:
        """Remove a zone added with ``add_zone`` (or any zone) from the indexes."""
        zone = self.zones.pop(zone_id)
        del self._zone_metric[zone_id]
        for cell in shape_to_cells(zone.geometry, self.grid.resolution):
            remaining = [z for z in self._zone_cells.get(cell, []) if z.id != zone_id]
            if remaining:
                self._zone_cells[cell] = remaining
            else:
                self._zone_cells.pop(cell, None)
        self._rebuild_zone_tree()

    def zone_metric_geometry(self, zone_id: str) -> BaseGeometry:
        """A zone's footprint in EPSG:32648 metres."""
        return self._zone_metric[zone_id]

    def zones_touching(
        self,
        footprint_m: BaseGeometry,
        floor_agl_m: float,
        ceiling_agl_m: float,
        start_time: datetime,
        end_time: datetime,
        classes: Iterable[AirspaceClass] | None = None,
    ) -> list[Zone]:
        """Zones whose volume, active in ``[start_time, end_time)``, meets the given volume.

        Exact: footprints are compared in metres; altitude ranges must overlap with positive
        thickness. ``classes`` limits the answer to those classes.
        """
        if self._zone_tree is None:
            return []
        wanted = set(classes) if classes is not None else None
        result = []
        for position in self._zone_tree.query(footprint_m, predicate="intersects"):
            zone = self.zones[self._zone_tree_ids[int(position)]]
            if wanted is not None and zone.airspace_class not in wanted:
                continue
            if zone.floor_agl_m >= ceiling_agl_m or floor_agl_m >= zone.ceiling_agl_m:
                continue
            if zone.is_active_during(start_time, end_time):
                result.append(zone)
        return result

    def zones_touching_many(
        self,
        volumes: Sequence[tuple[BaseGeometry, float, float, datetime, datetime]],
        classes: Iterable[AirspaceClass] | None = None,
    ) -> list[list[Zone]]:
        """``zones_touching`` for many ``(footprint_m, floor, ceiling, start, end)`` at once:
        one spatial query for all the footprints (a route's volumes), the same answers."""
        answers: list[list[Zone]] = [[] for _ in volumes]
        if self._zone_tree is None or not volumes:
            return answers
        wanted = set(classes) if classes is not None else None
        footprints = np.array([volume[0] for volume in volumes], dtype=object)
        mine, theirs = self._zone_tree.query(footprints, predicate="intersects")
        for index, position in zip(mine.tolist(), theirs.tolist(), strict=True):
            zone = self.zones[self._zone_tree_ids[position]]
            _, floor_agl_m, ceiling_agl_m, start_time, end_time = volumes[index]
            if wanted is not None and zone.airspace_class not in wanted:
                continue
            if zone.floor_agl_m >= ceiling_agl_m or floor_agl_m >= zone.ceiling_agl_m:
                continue
            if zone.is_active_during(start_time, end_time):
                answers[index].append(zone)
        return answers

    # -- jurisdictions ----------------------------------------------------------------------

    def jurisdiction_at(self, lat: float, lng: float) -> Jurisdiction | None:
        """The jurisdiction whose boundary covers the position, or None outside all."""
        point = Point(lng, lat)
        for position in sorted(int(p) for p in self._city_tree.query(point)):
            city = self.jurisdictions[self._city_ids[position]]
            if city.boundary.intersects(point):
                return city
        return None

    def jurisdictions_crossed(self, geometry: BaseGeometry) -> list[Jurisdiction]:
        """Every jurisdiction a (lng, lat) geometry touches, in dataset order."""
        # The tree narrows by bounding box; the prepared boundaries decide (a tree predicate
        # would test against the unprepared 5,000-vertex boundaries: much slower).
        hits = sorted(int(p) for p in self._city_tree.query(geometry))
        cities = [self.jurisdictions[self._city_ids[p]] for p in hits]
        return [city for city in cities if city.boundary.intersects(geometry)]

    def is_in_service_area(self, lat: float, lng: float) -> bool:
        """True if some jurisdiction covers the position."""
        return self.jurisdiction_at(lat, lng) is not None

    # -- classification ---------------------------------------------------------------------

    def classify(
        self, lat: float, lng: float, alt_agl_m: float, at_time: datetime
    ) -> Classification:
        """The class of the (cell, layer) holding a position at an instant.

        Parameters
        ----------
        lat, lng : float
            WGS84 degrees.
        alt_agl_m : float
            Metres above ground level (true height).
        at_time : datetime
            Aware instant; zones with active windows apply only inside them.

        Raises
        ------
        InvalidPositionError
            If the position or altitude is out of range.
        NaiveDatetimeError
            If ``at_time`` has no time zone.
        """
        check_latlng(lat, lng)
        at_time = require_aware(at_time, "time")
        layer = self._layer_of(alt_agl_m)
        cell = latlng_to_cell(lat, lng, self.grid.resolution)
        jurisdiction = self.jurisdiction_at(lat, lng)
        return self._classify(cell, layer, at_time, jurisdiction)

    def classify_cell(self, cell: Cell, layer: int, at_time: datetime) -> Classification:
        """The class of a (cell, layer) at an instant; the cell's centre decides the city."""
        at_time = require_aware(at_time, "time")
        if not 0 <= layer < self.layers.count:
            raise InvalidPositionError(f"layer {layer} is outside [0, {self.layers.count - 1}]")
        lat, lng = cell_to_latlng(cell)
        return self._classify(cell, layer, at_time, self.jurisdiction_at(lat, lng))

    def _layer_of(self, alt_agl_m: float) -> int:
        try:
            return self.layers.layer_of(alt_agl_m)
        except (ValueError, TypeError) as error:
            raise InvalidPositionError(str(error)) from error

    def _classify(
        self, cell: Cell, layer: int, at_time: datetime, jurisdiction: Jurisdiction | None
    ) -> Classification:
        if jurisdiction is None:
            return Classification(AirspaceClass.OUT_OF_SERVICE, None, cell, layer)
        floor_agl_m, ceiling_agl_m = self.layers.bounds_of(layer)
        zones = [
            zone
            for zone in self._zone_cells.get(cell, ())
            if zone.floor_agl_m < ceiling_agl_m
            and floor_agl_m < zone.ceiling_agl_m
            and zone.is_active(at_time)
        ]
        if zones:
            worst = max(zones, key=lambda zone: zone.airspace_class.severity)
            return Classification(
                worst.airspace_class,
                jurisdiction.id,
                cell,
                layer,
                zone_ids=tuple(sorted(zone.id for zone in zones)),
            )
        corridors = [
            corridor
            for corridor in self._corridor_cells.get(cell, ())
            if corridor.floor_agl_m < ceiling_agl_m and floor_agl_m < corridor.ceiling_agl_m
        ]
        if corridors:
            return Classification(
                AirspaceClass.CORRIDOR,
                jurisdiction.id,
                cell,
                layer,
                corridor_ids=tuple(sorted(c.id for c in corridors)),
            )
        # Everything above 120 m true height is controlled (2024 Interim Regulations); a layer
        # reaching above 120 m counts as above it, conservatively.
        if ceiling_agl_m > TRUE_HEIGHT_LIMIT_M:
            return Classification(AirspaceClass.CONTROLLED, jurisdiction.id, cell, layer)
        return Classification(AirspaceClass.SUITABLE, jurisdiction.id, cell, layer)

    def classified_cells_in(
        self, bbox: tuple[float, float, float, float], layer: int, at_time: datetime
    ) -> Iterator[Classification]:
        """Every zone or corridor cell of ``layer`` whose centre is in ``bbox``.

        ``bbox`` is ``(min_lng, min_lat, max_lng, max_lat)``. Cells not listed are suitable
        below 120 m and controlled above, or out of service outside every jurisdiction.
        """
        area = box(*bbox)
        shapely.prepare(area)
        candidates = set(self._zone_cells) | set(self._corridor_cells)
        for cell in candidates:
            lat, lng = cell_to_latlng(cell)
            if shapely.contains_xy(area, lng, lat):
                result = self.classify_cell(cell, layer, at_time)
                if result.airspace_class not in (AirspaceClass.SUITABLE,):
                    yield result

    def zone_cells(self) -> dict[Cell, list[Zone]]:
        """The zone index (cell -> zones overlapping it), read-only by convention."""
        return self._zone_cells
