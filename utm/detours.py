"""The areas a detour keeps out of: the route's volumes that met other flights, buffered.

When a plan fits no departure at any altitude layer, the engine plans a route around the
volumes that were in the way, kept at least the horizontal separation from them. Routes are
built once and reused all day (``Engine._volumes_at``), so the same outline objects come back
in later decisions between the same pads: their buffered areas are remembered by identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from routes import Volume4D

MOST_AREAS = 200
"""Areas a detour avoids at most (the first volumes in the way): a plan meeting more is in
airspace too busy for a route around it to help, and each area costs the planner time."""

AREA_CACHE_LIMIT = 50_000
"""Buffered outlines remembered (see ``AvoidAreas``)."""

BUFFER_QUAD_SEGS = 16
"""Segments per quarter circle of the buffered areas' round caps (shapely's method default)."""


class AvoidAreas:
    """Buffered metric outlines, remembered by the identity of the outline. The outline is
    kept alive with its area, so its id cannot be reused while the entry exists. Not
    thread-safe: the engine decides under its lock."""

    def __init__(self, limit: int = AREA_CACHE_LIMIT) -> None:
        self.limit = limit
        self._known: dict[tuple[int, float], tuple[BaseGeometry, BaseGeometry]] = {}

    def around(self, volumes: Sequence[Volume4D], horizontal_m: float) -> list[BaseGeometry]:
        """The areas to keep out of: each distinct outline among ``volumes`` once (one of our
        volumes may meet many flights), the first ``MOST_AREAS``, buffered by
        ``horizontal_m``."""
        outlines = list({id(v.outline_m): v.outline_m for v in volumes}.values())[:MOST_AREAS]
        if len(self._known) + len(outlines) > self.limit:
            self._known.clear()  # before looking: every area returned is then in the cache
        missing = [outline for outline in outlines
                   if (id(outline), horizontal_m) not in self._known]
        if missing:
            buffered = shapely.buffer(np.array(missing, dtype=object), horizontal_m,
                                      quad_segs=BUFFER_QUAD_SEGS)
            for outline, area in zip(missing, buffered.tolist(), strict=True):
                self._known[(id(outline), horizontal_m)] = (outline, area)
        return [self._known[(id(outline), horizontal_m)][1] for outline in outlines]
