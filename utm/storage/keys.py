"""Index keys of a volume: the (H3 cell, altitude layer, time bucket) triples it touches.

The index only finds candidates; exact geometry decides. Keys are conservative: every cell the
footprint overlaps, every layer its altitude range overlaps, every bucket its time range
overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import shapely

from airspace.grid import AltitudeLayers, Cell, cell_to_parent, footprint_to_cells
from routes import Volume4D

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """How volumes are indexed and how writers lock."""

    resolution: int = 9
    """H3 resolution of the deconfliction index (about 200 m edge at 9)."""
    bucket_s: int = 300
    """Width of a time bucket."""
    lock_resolution: int = 5
    """Writers lock the parent cells at this resolution (about 8 km edge) of what they touch."""


Key = tuple[Cell, int, int]


def time_buckets(start_time: datetime, end_time: datetime, bucket_s: int) -> range:
    """Indices of the buckets that ``[start_time, end_time)`` overlaps."""
    first = int((start_time - EPOCH).total_seconds() // bucket_s)
    last = int(((end_time - EPOCH).total_seconds() - 1e-6) // bucket_s)
    return range(first, last + 1)


_CELL_CACHE: dict[tuple[bytes, int], frozenset[Cell]] = {}
_CELL_CACHE_LIMIT = 200_000


def footprint_cells(volume: Volume4D, spec: IndexSpec) -> frozenset[Cell]:
    """Cells of the index resolution that cover the volume's outline (a superset).

    Cached by the outline's exact shape (WKB): a volume shifted in time, or flown at another
    altitude layer, has the same outline, so its cells are computed once however many
    departures and layers the engine tries and however often the store indexes it.
    """
    key = (shapely.to_wkb(volume.outline), spec.resolution)
    cells = _CELL_CACHE.get(key)
    if cells is None:
        cells = frozenset(footprint_to_cells(volume.outline, spec.resolution))
        if len(_CELL_CACHE) >= _CELL_CACHE_LIMIT:
            _CELL_CACHE.clear()
        _CELL_CACHE[key] = cells
    return cells


def volume_keys(volume: Volume4D, cells: frozenset[Cell], layers: AltitudeLayers,
                spec: IndexSpec) -> list[Key]:
    """Every (cell, layer, bucket) key of a volume whose cells are already known."""
    layer_range = layers.layers_between(volume.floor_agl_m, volume.ceiling_agl_m)
    buckets = time_buckets(volume.start_time, volume.end_time, spec.bucket_s)
    return [(cell, layer, bucket) for cell in cells for layer in layer_range for bucket in buckets]


def lock_keys(cells: set[Cell] | frozenset[Cell], spec: IndexSpec) -> list[int]:
    """Sorted parent cells to lock, so that two writers always lock in the same order."""
    return sorted({cell_to_parent(cell, spec.lock_resolution) for cell in cells})
