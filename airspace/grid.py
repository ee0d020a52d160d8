"""The H3 grid and the altitude layers: the only module that imports h3.

A grid position is a (cell, layer) pair: an H3 cell (as a 64-bit integer, which is how the
stores keep it) and the index of an altitude layer in metres above ground. Cell sets for
safety-relevant shapes use h3's *overlap* containment: every cell the shape touches, never only
the cells whose centre it contains.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import h3.api.basic_int as h3
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from airspace.errors import DatasetError

Cell = int
"""An H3 cell index as a 64-bit integer."""


@dataclass(frozen=True, slots=True)
class AltitudeLayers:
    """Horizontal slabs of airspace between ascending boundaries in metres AGL.

    Layer ``i`` spans ``[boundaries_agl_m[i], boundaries_agl_m[i + 1])``.
    """

    boundaries_agl_m: tuple[float, ...]

    def __post_init__(self) -> None:
        bounds = self.boundaries_agl_m
        if len(bounds) < 2:
            raise DatasetError("altitude layers need at least two boundaries")
        if bounds[0] != 0.0:
            raise DatasetError("the lowest altitude layer must start at 0 m AGL")
        if any(upper <= lower for lower, upper in itertools.pairwise(bounds)):
            raise DatasetError(f"altitude layer boundaries must ascend strictly: {bounds}")

    @property
    def count(self) -> int:
        """Number of layers."""
        return len(self.boundaries_agl_m) - 1

    @property
    def ceiling_agl_m(self) -> float:
        """Top of the highest layer."""
        return self.boundaries_agl_m[-1]

    def layer_of(self, altitude_agl_m: float) -> int:
        """Index of the layer containing ``altitude_agl_m`` (the top boundary counts as the last).

        Raises
        ------
        ValueError
            If the altitude is below ground or above the highest layer.
        """
        # Written so that NaN fails too (every comparison with NaN is False).
        if not 0.0 <= altitude_agl_m <= self.ceiling_agl_m:
            raise ValueError(
                f"altitude {altitude_agl_m} m AGL is outside the grid's "
                f"[0, {self.ceiling_agl_m}] m"
            )
        index = bisect.bisect_right(self.boundaries_agl_m, altitude_agl_m) - 1
        return min(index, self.count - 1)

    def layers_between(self, floor_agl_m: float, ceiling_agl_m: float) -> range:
        """Indices of every layer that overlaps ``[floor_agl_m, ceiling_agl_m]`` (clamped)."""
        low = max(0.0, floor_agl_m)
        high = min(self.ceiling_agl_m, ceiling_agl_m)
        if high < low:
            return range(0)
        first = self.layer_of(low)
        last = self.layer_of(high)
        # A ceiling exactly on a boundary does not enter the layer above it.
        if last > first and high == self.boundaries_agl_m[last]:
            last -= 1
        return range(first, last + 1)

    def bounds_of(self, layer: int) -> tuple[float, float]:
        """``(floor_agl_m, ceiling_agl_m)`` of a layer."""
        return self.boundaries_agl_m[layer], self.boundaries_agl_m[layer + 1]


def latlng_to_cell(lat: float, lng: float, resolution: int) -> Cell:
    """The H3 cell containing a WGS84 position."""
    return int(h3.latlng_to_cell(lat, lng, resolution))


def cell_to_latlng(cell: Cell) -> tuple[float, float]:
    """``(lat, lng)`` of a cell's centre."""
    lat, lng = h3.cell_to_latlng(cell)
    return float(lat), float(lng)


def cell_to_polygon(cell: Cell) -> Polygon:
    """A cell's boundary as a shapely polygon in (lng, lat) degrees."""
    boundary = h3.cell_to_boundary(cell)
    return Polygon([(lng, lat) for lat, lng in boundary])


def cell_resolution(cell: Cell) -> int:
    """The resolution of a cell."""
    return int(h3.get_resolution(cell))


def cell_to_parent(cell: Cell, resolution: int) -> Cell:
    """The ancestor of ``cell`` at a coarser ``resolution``."""
    return int(h3.cell_to_parent(cell, resolution))


def cell_neighbours(cell: Cell) -> list[Cell]:
    """The (usually six) cells sharing an edge with ``cell``."""
    return [int(other) for other in h3.grid_ring(cell, 1)]


def grid_disk(cell: Cell, k: int) -> list[Cell]:
    """Every cell within ``k`` grid steps of ``cell``, itself included."""
    return [int(other) for other in h3.grid_disk(cell, k)]


def cell_to_str(cell: Cell) -> str:
    """The usual hexadecimal spelling of a cell (as in h3 tools and maps)."""
    return str(h3.int_to_str(cell))


def str_to_cell(text: str) -> Cell:
    """Parse a hexadecimal cell spelling; raises ``ValueError`` if it is not a valid cell."""
    try:
        cell = int(h3.str_to_int(text))
    except (ValueError, TypeError) as error:
        raise ValueError(f"{text!r} is not an H3 cell") from error
    if not h3.is_valid_cell(cell):
        raise ValueError(f"{text!r} is not an H3 cell")
    return cell


def shape_to_cells(geometry: BaseGeometry, resolution: int) -> set[Cell]:
    """Every cell that ``geometry`` (Polygon or MultiPolygon, (lng, lat) degrees) overlaps.

    Conservative by design: a zone marks each cell it touches, so a point inside the zone is
    always in one of the returned cells. h3's default ``polygon_to_cells`` keeps only cells
    whose centre is inside and would leave the edge of a no-fly zone uncovered.
    """
    if geometry.is_empty:
        return set()
    h3shape = to_h3shape(geometry)
    cells = h3.h3shape_to_cells_experimental(h3shape, resolution, contain="overlap")
    return {int(cell) for cell in cells}


def to_h3shape(geometry: BaseGeometry) -> h3.H3Shape:
    """The h3 shape of a (Multi)Polygon in (lng, lat) degrees: what ``h3.geo_to_h3shape``
    builds, from coordinate arrays rather than ``__geo_interface__`` tuples (about six times
    faster on the unions of hundreds of points a detour avoids)."""
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        return h3.geo_to_h3shape(geometry)  # and its error for other kinds

    def latlngs(ring: BaseGeometry) -> list[tuple[float, float]]:
        return [(lat, lng) for lng, lat in shapely.get_coordinates(ring).tolist()]

    polygons = [h3.LatLngPoly(latlngs(polygon.exterior),
                              *(latlngs(hole) for hole in polygon.interiors))
                for polygon in getattr(geometry, "geoms", [geometry])]
    return polygons[0] if geometry.geom_type == "Polygon" else h3.LatLngMultiPoly(*polygons)


def footprint_to_cells(polygon: BaseGeometry, resolution: int) -> set[Cell]:
    """A superset of the cells a polygon overlaps, much faster than ``shape_to_cells`` for
    the small, thin footprints of flight volumes.

    Every point of the polygon is covered: a cell the boundary passes through holds a ring
    sample or is next to one (samples are closer together than a cell is wide), so the cells
    of the samples and their neighbours cover it; a cell the boundary does not enter lies
    inside the polygon, so its centre is inside and centre-containment finds it (only
    polygons larger than a cell can hold one, so smaller ones skip that step).
    """
    # Samples closer than 0.8 of a cell edge (a cell is at least 1.7 edges wide, and edges
    # vary by a few per cent): a boundary stretch between two samples can only pass through
    # the samples' cells and cells next to them.
    spacing_deg = 0.8 * h3.average_hexagon_edge_length(resolution, unit="m") / 111_000.0
    rings = shapely.get_coordinates(
        shapely.segmentize(shapely.boundary(polygon), spacing_deg)
    )
    latlng_to_cell, grid_disk = h3.latlng_to_cell, h3.grid_disk
    sampled = {latlng_to_cell(lat, lng, resolution) for lng, lat in rings.tolist()}
    cells: set[Cell] = set()
    for cell in sampled:
        cells.update(grid_disk(cell, 1))
    cell_area_deg2 = h3.average_hexagon_area(resolution, unit="km^2") / (111.0 * 96.0)
    if polygon.area >= cell_area_deg2 * 0.5:
        cells.update(h3.h3shape_to_cells(to_h3shape(polygon), resolution))
    return cells


def cells_to_geometry(cells: Iterable[Cell]) -> BaseGeometry:
    """The union of ``cells`` as a shapely (Multi)Polygon in (lng, lat) degrees."""
    from shapely.geometry import shape

    return shape(h3.cells_to_geo(list(cells)))


def average_edge_length_m(resolution: int) -> float:
    """Average hexagon edge length at ``resolution``, in metres."""
    return float(h3.average_hexagon_edge_length(resolution, unit="m"))


def cells_along(latlngs: Sequence[tuple[float, float]], resolution: int) -> list[Cell]:
    """Cells of the grid path through consecutive positions (for display and coarse lookups)."""
    path: list[Cell] = []
    previous: Cell | None = None
    for lat, lng in latlngs:
        cell = latlng_to_cell(lat, lng, resolution)
        if previous is not None and cell != previous:
            for step in h3.grid_path_cells(previous, cell)[1:]:
                path.append(int(step))
        elif previous is None:
            path.append(cell)
        previous = cell
    return path
