"""Index keys of a volume: the (H3 cell, altitude layer, time bucket) triples it touches.

The index only finds candidates; exact geometry decides. Keys are conservative: every cell the
footprint overlaps, every layer its altitude range overlaps, every bucket its time range
overlaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import shapely

from airspace.grid import AltitudeLayers, Cell, cell_to_parent, footprint_to_cells
from routes import Volume4D

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """How volumes are keyed where nodes share keys (the PostgreSQL store's key table), the
    resolution of every volume's index cells (``footprint_cells``), and how writers lock. The
    SQLite store's in-memory index files volumes under coarser keys of its own, made from
    these cells (``volume_index``)."""

    resolution: int = 9
    """H3 resolution of the deconfliction index (about 200 m edge at 9)."""
    bucket_s: int = 300
    """Width of a time bucket."""
    lock_resolution: int = 5
    """Writers lock the parent cells at this resolution (about 8 km edge) of what they touch."""


Key = tuple[Cell, int, int]


def instant_us(instant: datetime) -> int:
    """Microseconds since ``EPOCH``: exact, like ``datetime`` itself."""
    delta = instant - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def time_buckets(start_time: datetime, end_time: datetime, bucket_s: int) -> range:
    """Indices of the buckets that ``[start_time, end_time)`` overlaps."""
    first = int((start_time - EPOCH).total_seconds() // bucket_s)
    last = int(((end_time - EPOCH).total_seconds() - 1e-6) // bucket_s)
    return range(first, last + 1)


_CELL_CACHE: dict[tuple[bytes, int], frozenset[Cell]] = {}
_CELL_CACHE_LIMIT = 200_000
_CELLS_BY_ID: dict[tuple[int, int], tuple[object, frozenset[Cell]]] = {}
"""In front of ``_CELL_CACHE``: the same outline object (a volume shifted or raised) needs
no WKB to be found."""


def footprint_cells(volume: Volume4D, spec: IndexSpec) -> frozenset[Cell]:
    """Cells of the index resolution that cover the volume's outline (a superset).

    Cached by the outline object, then by its exact shape (WKB): a volume shifted in time,
    or flown at another altitude layer, has the same outline, so its cells are computed once
    however many departures and layers the engine tries and however often the store indexes
    it.
    """
    same_object = _CELLS_BY_ID.get((id(volume.outline), spec.resolution))
    if same_object is not None:
        return same_object[1]
    key = (shapely.to_wkb(volume.outline), spec.resolution)
    cells = _CELL_CACHE.get(key)
    if cells is None:
        cells = frozenset(footprint_to_cells(volume.outline, spec.resolution))
        if len(_CELL_CACHE) >= _CELL_CACHE_LIMIT:
            _CELL_CACHE.clear()
        _CELL_CACHE[key] = cells
    if len(_CELLS_BY_ID) >= _CELL_CACHE_LIMIT:
        _CELLS_BY_ID.clear()
    # The outline is kept with its cells, so its id cannot be reused while the entry lives.
    _CELLS_BY_ID[(id(volume.outline), spec.resolution)] = (volume.outline, cells)
    return cells


def volume_keys(volume: Volume4D, cells: frozenset[Cell], layers: AltitudeLayers,
                spec: IndexSpec) -> list[Key]:
    """Every (cell, layer, bucket) key of a volume whose cells are already known."""
    layer_range = layers.layers_between(volume.floor_agl_m, volume.ceiling_agl_m)
    buckets = time_buckets(volume.start_time, volume.end_time, spec.bucket_s)
    return [(cell, layer, bucket) for cell in cells for layer in layer_range for bucket in buckets]


def reach_keys(volumes: Sequence[Volume4D], cells: Sequence[frozenset[Cell]],
               layers: AltitudeLayers, spec: IndexSpec, window_s: float) -> list[Key]:
    """The keys of ``volumes`` (with their cells) flown at any delay in ``[0, window_s]``.

    For each (cell, layer) one span of buckets, from the earliest start to the latest end
    plus the window of the volumes over it: a superset (conservative), each key once.
    """
    spans: dict[tuple[Cell, int], tuple[int, int]] = {}
    window = timedelta(seconds=window_s)
    for volume, volume_cells in zip(volumes, cells, strict=True):
        buckets = time_buckets(volume.start_time, volume.end_time + window, spec.bucket_s)
        first, last = buckets.start, buckets.stop - 1
        for layer in layers.layers_between(volume.floor_agl_m, volume.ceiling_agl_m):
            for cell in volume_cells:
                span = spans.get((cell, layer))
                spans[(cell, layer)] = (first, last) if span is None else (
                    min(span[0], first), max(span[1], last))
    return [(cell, layer, bucket) for (cell, layer), (first, last) in spans.items()
            for bucket in range(first, last + 1)]


@dataclass(frozen=True, slots=True)
class Reach:
    """Where and when a route's volumes may be if flown at any delay in ``[0, window_s]``:
    what the engine asks a store for candidates (``Transaction.candidates``). Each store
    turns it into the lookups its own index needs."""

    volumes: Sequence[Volume4D]
    cells: Sequence[frozenset[Cell]]
    """Each volume's index cells (``footprint_cells``), in the same order."""
    window_s: float = 0.0

    @classmethod
    def of(cls, volumes: Sequence[Volume4D], spec: IndexSpec, window_s: float = 0.0) -> Reach:
        """The reach of ``volumes``, computing their cells."""
        return cls(volumes, [footprint_cells(volume, spec) for volume in volumes], window_s)

    def keys(self, layers: AltitudeLayers, spec: IndexSpec) -> list[Key]:
        """Its (cell, layer, bucket) keys (see ``reach_keys``)."""
        return reach_keys(self.volumes, self.cells, layers, spec, self.window_s)

    def bounds(self) -> tuple[int, int, float, float]:
        """Start and end (microseconds, the end with the window) and floor and ceiling (m AGL)
        of everything it covers: what a candidate must overlap at all."""
        return (min(instant_us(v.start_time) for v in self.volumes),
                max(instant_us(v.end_time) for v in self.volumes)
                + round(self.window_s * 1_000_000),
                min(v.floor_agl_m for v in self.volumes),
                max(v.ceiling_agl_m for v in self.volumes))


def lock_keys(cells: set[Cell] | frozenset[Cell], spec: IndexSpec) -> list[int]:
    """Sorted parent cells to lock, so that two writers always lock in the same order."""
    return sorted({cell_to_parent(cell, spec.lock_resolution) for cell in cells})
