"""Forbidden departure delays of one route: what the engine's slot search works from.

Every held volume that meets one of the route's volumes in space and altitude forbids an open
interval of delays ``(lo, hi)``: the delays at which the two time ranges would overlap. The
earliest departure is the smallest delay outside every such interval (and outside the pads'
and opening hours' waits, which the engine adds).

Most of a decision's cost would be exact footprint geometry, so it is decided lazily: the cheap
tests (time, altitude, bounding boxes) run over every candidate at once in numpy, and a pair
that passes them gives a *pending* interval. Only the pending intervals that contain a delay
the search is about to take are compared exactly (``Blockers.resolve_at``). The search ends at
the same delay as if every pair had been compared first: each delay it skips lies inside an
interval proven real, and the delay it takes lies inside none. Naive deconfliction (the
baselines of the benchmark) compares every pair eagerly and reaches the same decisions.

Times are integer microseconds since ``utm.storage.keys.EPOCH`` (exact, like ``datetime``);
delays are float seconds, as ``timedelta.total_seconds()`` gives them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from routes import Volume4D
from routes.volumes import footprints_intersect
from utm.states import FlightState
from utm.storage.base import Candidates, HeldVolume
from utm.storage.keys import instant_us

PREEMPTABLE_STATES = (FlightState.APPROVED, FlightState.PENDING_REVIEW)
"""States of flights an emergency may take the airspace of."""

FOOTPRINT_CACHE_LIMIT = 300_000
"""Exact footprint comparisons remembered (see ``FootprintCache``)."""


@dataclass(frozen=True, slots=True)
class Interval:
    """Delays ``(lo_s, hi_s)`` (open at both ends) at which the route meets ``ref``."""

    lo_s: float
    hi_s: float
    ref: str
    """A flight id, or ``zone:<id>`` for a time-limited zone."""
    preemptable: bool
    """An emergency may take this flight's airspace."""
    index: int
    """Which of the route's volumes meets it (-1: a zone)."""

    def contains(self, delay_s: float) -> bool:
        return self.lo_s < delay_s < self.hi_s


class FootprintCache:
    """Exact footprint comparisons, remembered by the outlines' identity.

    A route's volumes are built once and shifted in time (same outline objects), and the
    store's index keeps the volumes it holds, so the same pair of outlines comes back across
    horizons, altitude layers and later decisions. The outlines are kept alive with the
    answer, so an id is never reused while its entry exists. Not thread-safe: the engine
    decides under its lock.
    """

    def __init__(self, limit: int = FOOTPRINT_CACHE_LIMIT) -> None:
        self.limit = limit
        self._known: dict[tuple[int, int], tuple[BaseGeometry, BaseGeometry, bool]] = {}
        self.compared = 0
        """Exact comparisons actually made (for benchmarks and tests)."""

    def meet(self, ours: BaseGeometry, theirs: BaseGeometry) -> bool:
        """True if the footprints share more than 1 cm² (``footprints_intersect``)."""
        key = (id(ours), id(theirs))
        known = self._known.get(key)
        if known is not None:
            return known[2]
        self.compared += 1
        answer = footprints_intersect(ours, theirs)
        if len(self._known) >= self.limit:
            self._known.clear()
        self._known[key] = (ours, theirs, answer)
        return answer


class Blockers:
    """The forbidden intervals of one route: confirmed ones, and pending ones whose exact
    footprint comparison has not been needed yet."""

    def __init__(self, cache: FootprintCache) -> None:
        self.cache = cache
        self.confirmed: list[Interval] = []
        self._blocking: list[tuple[float, float]] | None = []
        self._lo_s = np.empty(0)
        self._hi_s = np.empty(0)
        self._open = np.empty(0, dtype=bool)
        self._sources: list[tuple[Sequence[Volume4D], list[HeldVolume], int | None]] = []
        """Per ``add_pairs`` call: the route's volumes, the candidates, the preempting rank."""
        self._source = np.empty(0, dtype=np.int64)
        self._mine = np.empty(0, dtype=np.int64)
        self._their = np.empty(0, dtype=np.int64)

    def confirm(self, interval: Interval) -> None:
        self.confirmed.append(interval)
        if not interval.preemptable:
            self._blocking = None

    def add_pairs(self, base: Sequence[Volume4D], candidates: Candidates, window_s: float,
                  preempt_rank: int | None) -> None:
        """Pending intervals for every (route volume, held volume) pair that overlaps in
        altitude and bounding box, and in time for some delay in ``[0, window_s]``."""
        if not base or not len(candidates):
            return
        ours_us = np.array([(instant_us(v.start_time), instant_us(v.end_time)) for v in base],
                           dtype=np.int64)
        ours_box = np.column_stack([
            [v.floor_agl_m for v in base], [v.ceiling_agl_m for v in base],
            shapely.bounds(np.array([v.outline_m for v in base], dtype=object))])
        window_us = round(window_s * 1_000_000)
        # First the candidates that meet the route as a whole in time and altitude (the
        # options' shared read holds every layer's): the pairwise test below keeps the same
        # pairs, in the same order, over far fewer columns.
        theirs_us, theirs_box = candidates.times_us, candidates.extents_m
        near = np.flatnonzero(
            (theirs_us[:, 1] > ours_us[:, 0].min())
            & (theirs_us[:, 0] < ours_us[:, 1].max() + window_us)
            & (theirs_box[:, 0] < ours_box[:, 1].max())
            & (ours_box[:, 0].min() < theirs_box[:, 1]))
        near_us, near_box = theirs_us[near], theirs_box[near]
        mask = (
            (near_us[None, :, 1] > ours_us[:, None, 0])
            & (near_us[None, :, 0] < ours_us[:, None, 1] + window_us)
            & (near_box[None, :, 0] < ours_box[:, None, 1])
            & (ours_box[:, None, 0] < near_box[None, :, 1])
            & (near_box[None, :, 2] < ours_box[:, None, 4])
            & (ours_box[:, None, 2] < near_box[None, :, 4])
            & (near_box[None, :, 3] < ours_box[:, None, 5])
            & (ours_box[:, None, 3] < near_box[None, :, 5])
        )
        mine, their_near = np.nonzero(mask)
        if not len(mine):
            return
        their = near[their_near]
        # Intervals are made only for the pairs the search looks at (most never are).
        self._sources.append((base, candidates.held, preempt_rank))
        self._source = np.concatenate([self._source, np.full(len(mine), len(self._sources) - 1)])
        self._mine = np.concatenate([self._mine, mine])
        self._their = np.concatenate([self._their, their])
        self._lo_s = np.concatenate([self._lo_s, (theirs_us[their, 0] - ours_us[mine, 1]) / 1e6])
        self._hi_s = np.concatenate([self._hi_s, (theirs_us[their, 1] - ours_us[mine, 0]) / 1e6])
        self._open = np.concatenate([self._open, np.ones(len(mine), dtype=bool)])

    def _pair(self, position: int) -> tuple[Interval, BaseGeometry, BaseGeometry]:
        """The interval of pending pair ``position``, and the two outlines to compare."""
        base, held, preempt_rank = self._sources[int(self._source[position])]
        mine, other = int(self._mine[position]), held[int(self._their[position])]
        preemptable = (preempt_rank is not None and other.priority_rank < preempt_rank
                       and other.state in PREEMPTABLE_STATES)
        interval = Interval(float(self._lo_s[position]), float(self._hi_s[position]),
                            other.flight_id, preemptable, mine)
        return interval, base[mine].outline_m, other.volume.outline_m

    def resolve_at(self, delay_s: float) -> bool:
        """True if a pending pair whose interval contains ``delay_s`` is a real overlap that
        forbids it (then that one is confirmed, and the others wait: the search jumps past
        it). False if none does: then every pending pair containing the delay has been
        compared, so ``at(delay_s)`` is complete."""
        if not len(self._open):
            return False
        touched = np.flatnonzero(self._open & (self._lo_s < delay_s) & (delay_s < self._hi_s))
        if not len(touched):
            return False
        # The longest-blocking pairs first: one real overlap is enough to skip ahead.
        order = touched[np.argsort(-self._hi_s[touched], kind="stable")].tolist()
        preemptable: list[int] = []
        for position in order:
            interval, ours, theirs = self._pair(position)
            if interval.preemptable:
                preemptable.append(position)
                continue
            self._open[position] = False
            if self.cache.meet(ours, theirs):
                self.confirm(interval)
                return True
        for position in preemptable:
            self._open[position] = False
            interval, ours, theirs = self._pair(position)
            if self.cache.meet(ours, theirs):
                self.confirm(interval)
        return False

    def all_at(self, delay_s: float) -> list[Interval]:
        """Every real interval containing ``delay_s`` (comparing what is still pending)."""
        touched = np.flatnonzero(self._open & (self._lo_s < delay_s) & (delay_s < self._hi_s))
        for position in touched.tolist():
            self._open[position] = False
            interval, ours, theirs = self._pair(position)
            if self.cache.meet(ours, theirs):
                self.confirm(interval)
        return [interval for interval in self.confirmed if interval.contains(delay_s)]

    def first_free(self, limit_s: float, wait_s: Callable[[float], float]) -> float | None:
        """The smallest delay in ``[0, limit_s]`` outside every real blocking interval at
        which ``wait_s(delay)`` (pads, opening hours: seconds still to wait) is 0; None if
        there is none. Exact: each pending pair at a delay about to be taken is compared."""
        delay_s = 0.0
        for _ in range(100_000):
            delay_s = self.skip_blocked(delay_s)
            if delay_s > limit_s:
                return None
            if self.resolve_at(delay_s):
                continue
            waiting_s = wait_s(delay_s)
            if waiting_s <= 0.0:
                return delay_s
            delay_s += math.ceil(waiting_s)
        return None

    def skip_blocked(self, delay_s: float) -> float:
        """The smallest delay from ``delay_s`` on outside every confirmed blocking interval."""
        if self._blocking is None:
            self._blocking = sorted((iv.lo_s, iv.hi_s) for iv in self.confirmed
                                    if not iv.preemptable)
        for lo, hi in self._blocking:  # sorted by start; open at both ends
            if lo >= delay_s:
                break
            if hi > delay_s:
                delay_s = hi
        return delay_s
