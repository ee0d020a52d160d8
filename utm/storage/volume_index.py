"""An in-memory index of held volumes by (H3 cell, time bucket), and pad slots by vertiport.

Used by the SQLite store as its cache of what the database holds; kept in step by the store
on every commit. Finding a route's candidates costs a dictionary lookup per (cell, bucket) it
may reach, then array operations, whatever the traffic:

- every held volume is a *row*: its times and extents live in numpy arrays (reused rows when
  flights go), so the cheap tests of ``utm.slots`` need no Python per candidate;
- the postings map a small integer key (the cell's dense number and the bucket) to the rows
  filed under it. Altitude is not part of the key: it is compared in the arrays, which is
  cheaper than a lookup per layer.

The keys are this index's own (its bucket is ``INDEX_BUCKET_S``): the store's ``IndexSpec``
keys are for stores that share keys across nodes (PostgreSQL).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from datetime import datetime

import numpy as np

from airspace.grid import AltitudeLayers, Cell, cell_to_parent
from utm.flights import Flight
from utm.states import HOLDS_AIRSPACE
from utm.storage.base import Candidates, HeldPadSlot, HeldVolume
from utm.storage.keys import IndexSpec, Reach, footprint_cells, instant_us

INDEX_RESOLUTION = 8
"""Volumes are filed under the parents at this H3 resolution (about 460 m edge) of their
index cells: a volume then sits under one to three cells, not five to ten, so a route finds
each neighbour under fewer keys; the arrays drop the ones too far away."""

INDEX_BUCKET_S = 900
"""Width of this index's time buckets. Wider buckets mean fewer lookups per route and more
rows to filter in the arrays; 900 s suits routes of a few minutes flown in windows of up to
half an hour."""

SWEEP_AFTER_ROWS = 50_000
"""Rows of removed flights left in the posting lists before they are swept out. Removing a
flight only marks its rows dead (readers skip them); sweeping filters each posting list that
held them once for all, so a busy cell is not filtered again for every flight that leaves it
(a re-plan, a preemption, each minute's forgetting)."""

NUMBERS_CACHE_LIMIT = 200_000
"""Sets of cells whose parent numbers are remembered (``VolumeIndex._filed_numbers``)."""

_BUCKET_BITS = 24
_BUCKET_MASK = (1 << _BUCKET_BITS) - 1
"""Buckets are folded modulo 2^24 (about 480 years of 900 s): two instants that far apart
share postings, which only adds candidates the arrays then drop."""


def held_until(flight: Flight) -> datetime | None:
    """When the flight stops holding anything (its last volume or pad slot ends: a landing
    holds its pad for a turnaround after the last volume); None if it holds nothing. A
    flight is forgotten by this (``VolumeIndex.forget_before``), and a store opened later
    need not read the flights that ended before what it is told to forget."""
    if flight.state not in HOLDS_AIRSPACE or not flight.volumes:
        return None
    return max([v.end_time for v in flight.volumes] + [s.end_time for s in flight.pad_slots])


class VolumeIndex:
    """Held volumes by cell and time bucket, and pad slots by vertiport. Not thread-safe: the
    store locks."""

    def __init__(self, layers: AltitudeLayers, spec: IndexSpec, *,
                 sweep_after_rows: int = SWEEP_AFTER_ROWS) -> None:
        self.layers = layers
        self.spec = spec
        self.sweep_after_rows = sweep_after_rows
        self._bucket_us = INDEX_BUCKET_S * 1_000_000
        self._cell_numbers: dict[Cell, int] = {}
        """Index cell -> dense number of its parent at ``INDEX_RESOLUTION``."""
        self._parent_numbers: dict[Cell, int] = {}
        self._numbers_by_cells: dict[int, tuple[frozenset[Cell], int, tuple[int, ...]]] = {}
        """``_filed_numbers`` by the identity of the set of cells (kept alive with its answer,
        so its id is not reused while the entry lives), with the count of filed cells then."""
        self._postings: dict[int, list[int]] = {}
        self._rows: list[HeldVolume | None] = []
        self._free_rows: list[int] = []
        self._times_us = np.zeros((0, 2), dtype=np.int64)
        self._extents_m = np.zeros((0, 6))
        self._live = np.zeros(0, dtype=bool)
        self._dead_rows: list[int] = []
        """Rows of removed flights still in posting lists (not reused until swept)."""
        self._dirty_keys: set[int] = set()
        """Posting lists that hold dead rows."""
        self._rows_by_flight: dict[str, list[int]] = {}
        self._keys_by_flight: dict[str, set[int]] = {}
        self._sites_by_flight: dict[str, set[str]] = {}
        self._end_by_flight: dict[str, datetime] = {}
        self._ends: list[tuple[datetime, str]] = []
        """Heap of (end, flight id) as flights were put: ``forget_before`` pops what ended
        instead of scanning every flight. An entry whose flight was removed or put again with
        another end is dropped when it comes up."""
        self._pads: dict[str, list[HeldPadSlot]] = defaultdict(list)
        self.forgotten_before_us: int | None = None
        """Flights that ended (volumes and pad slots) before this instant may have been
        forgotten (``forget_before``): the index answers only for times from it on."""

    def __len__(self) -> int:
        return len(self._rows_by_flight)

    # -- writing -----------------------------------------------------------------------

    def put(self, flight: Flight) -> None:
        """Index a flight's volumes and pads if its state holds airspace (replacing any)."""
        self.remove(flight.id)
        if flight.state not in HOLDS_AIRSPACE or not flight.volumes:
            return
        rows: list[int] = []
        keys: set[int] = set()
        for position, volume in enumerate(flight.volumes):
            held = HeldVolume(flight.id, position, volume, flight.priority.rank, flight.state)
            row = self._new_row(held)
            rows.append(row)
            buckets = range(held.start_us // self._bucket_us,
                            (held.end_us - 1) // self._bucket_us + 1)
            for number in {self._number(cell) for cell in footprint_cells(volume, self.spec)}:
                for bucket in buckets:
                    key = self._key(number, bucket)
                    self._postings.setdefault(key, []).append(row)
                    keys.add(key)
        self._rows_by_flight[flight.id] = rows
        self._keys_by_flight[flight.id] = keys
        self._sites_by_flight[flight.id] = {slot.vertiport_id for slot in flight.pad_slots}
        end = held_until(flight)
        assert end is not None  # it holds volumes
        self._end_by_flight[flight.id] = end
        heapq.heappush(self._ends, (end, flight.id))
        for slot in flight.pad_slots:
            self._pads[slot.vertiport_id].append(
                HeldPadSlot(flight.id, slot.vertiport_id, slot.pad, slot.start_time,
                            slot.end_time)
            )

    def _new_row(self, held: HeldVolume) -> int:
        if self._free_rows:
            row = self._free_rows.pop()
            self._rows[row] = held
        else:
            row = len(self._rows)
            self._rows.append(held)
            if row >= len(self._times_us):  # grow the arrays by doubling
                capacity = max(1024, 2 * len(self._times_us))
                self._times_us = np.resize(self._times_us, (capacity, 2))
                self._extents_m = np.resize(self._extents_m, (capacity, 6))
                self._live = np.resize(self._live, capacity)
        self._times_us[row] = (held.start_us, held.end_us)
        self._extents_m[row] = held.extent_m
        self._live[row] = True
        return row

    def _number(self, cell: Cell) -> int:
        number = self._cell_numbers.get(cell)
        if number is None:
            parent = cell_to_parent(cell, min(INDEX_RESOLUTION, self.spec.resolution))
            number = self._parent_numbers.setdefault(parent, len(self._parent_numbers))
            self._cell_numbers[cell] = number
        return number

    @staticmethod
    def _key(cell_number: int, bucket: int) -> int:
        return (cell_number << _BUCKET_BITS) | (bucket & _BUCKET_MASK)

    def remove(self, flight_id: str) -> None:
        """Forget a flight's volumes and pad slots."""
        self._remove_all([flight_id])

    def _remove_all(self, flight_ids: list[str]) -> None:
        """Forget these flights: their rows are marked dead at once (readers skip them) and
        swept out of the posting lists later, many flights at a time (``SWEEP_AFTER_ROWS``)."""
        removed: set[str] = set()
        sites: set[str] = set()
        for flight_id in flight_ids:
            rows = self._rows_by_flight.pop(flight_id, None)
            self._end_by_flight.pop(flight_id, None)
            if rows is None:
                continue
            removed.add(flight_id)
            sites |= self._sites_by_flight.pop(flight_id)
            self._dirty_keys |= self._keys_by_flight.pop(flight_id)
            for row in rows:
                self._rows[row] = None
            self._live[rows] = False
            self._dead_rows.extend(rows)
        for vertiport_id in sites:
            self._pads[vertiport_id] = [slot for slot in self._pads[vertiport_id]
                                        if slot.flight_id not in removed]
        if len(self._dead_rows) >= self.sweep_after_rows:
            self._sweep()

    def _sweep(self) -> None:
        """Filter the dead rows out of every posting list holding some (each list once), and
        let new volumes reuse those rows."""
        gone = set(self._dead_rows)
        for key in self._dirty_keys:
            remaining = [row for row in self._postings[key] if row not in gone]
            if remaining:
                self._postings[key] = remaining
            else:
                del self._postings[key]
        self._free_rows.extend(self._dead_rows)
        self._dead_rows = []
        self._dirty_keys = set()

    # -- reading -----------------------------------------------------------------------

    def candidates(self, reach: Reach) -> Candidates:
        """Held volumes sharing a cell and a bucket with ``reach``, that overlap its whole
        time span and altitude range (each once)."""
        if not reach.volumes:
            return Candidates.of(())
        window_us = round(reach.window_s * 1_000_000)
        bucket_us = self._bucket_us
        spans: dict[int, tuple[int, int]] = {}
        for volume, cells in zip(reach.volumes, reach.cells, strict=True):
            first = instant_us(volume.start_time) // bucket_us
            last = (instant_us(volume.end_time) + window_us - 1) // bucket_us
            for number in self._filed_numbers(cells):
                span = spans.get(number)
                if span is None:
                    spans[number] = (first, last)
                elif first < span[0] or last > span[1]:
                    spans[number] = (min(first, span[0]), max(last, span[1]))
        postings = self._postings
        found = [postings.get(self._key(number, bucket))
                 for number, (first, last) in spans.items() for bucket in range(first, last + 1)]
        # Each row once, in row order: a set union in C, then one array (twice as fast as
        # numpy's unique over every posting, where a row is filed under several keys).
        distinct: set[int] = set().union(*(rows for rows in found if rows))
        rows = np.fromiter(distinct, dtype=np.int64, count=len(distinct))
        rows.sort()
        if self._dead_rows:  # removed flights not yet swept out of the postings
            rows = rows[self._live[rows]]
        start_us, end_us, floor_m, ceiling_m = reach.bounds()
        times, extents = self._times_us[rows], self._extents_m[rows]
        rows = rows[(times[:, 0] < end_us) & (start_us < times[:, 1])
                    & (extents[:, 0] < ceiling_m) & (floor_m < extents[:, 1])]
        held = self._rows
        return Candidates([held[row] for row in rows.tolist()],
                          self._times_us[rows], self._extents_m[rows])

    def _filed_numbers(self, cells: frozenset[Cell]) -> tuple[int, ...]:
        """The distinct parent numbers of the cells among ``cells`` that something was filed
        under (a cell nothing was filed under cannot share a volume with anything).
        Remembered per set of cells, which ``footprint_cells`` shares between the volumes of
        one outline, until a new cell is filed."""
        filed = len(self._cell_numbers)
        known = self._numbers_by_cells.get(id(cells))
        if known is not None and known[0] is cells and known[1] == filed:
            return known[2]
        numbers = self._cell_numbers
        distinct = tuple({numbers[cell] for cell in cells if cell in numbers})
        if len(self._numbers_by_cells) >= NUMBERS_CACHE_LIMIT:
            self._numbers_by_cells.clear()
        self._numbers_by_cells[id(cells)] = (cells, filed, distinct)
        return distinct

    def held_between(self, start_time: datetime, end_time: datetime) -> list[HeldVolume]:
        """Every held volume overlapping ``[start_time, end_time)``, by scanning all of them
        (the naive way: for baselines and checks, not for decisions)."""
        return [held for held in self._rows
                if held is not None and held.volume.start_time < end_time
                and start_time < held.volume.end_time]

    def pad_slots(self, vertiport_id: str, start_time: datetime,
                  end_time: datetime) -> list[HeldPadSlot]:
        """Pad slots at a vertiport overlapping ``[start_time, end_time)``."""
        return [
            slot for slot in self._pads.get(vertiport_id, ())
            if slot.start_time < end_time and start_time < slot.end_time
        ]

    def covers(self, start_time: datetime) -> bool:
        """True if the index answers exactly for times from ``start_time`` on (nothing that
        could meet them has been forgotten)."""
        return (self.forgotten_before_us is None
                or instant_us(start_time) >= self.forgotten_before_us)

    def forget_before(self, instant: datetime) -> int:
        """Drop flights whose last volume and pad slot ended before ``instant``; returns how
        many. Their volumes cannot meet anything from ``instant`` on (``covers``)."""
        gone: dict[str, None] = {}  # a flight put twice with the same end comes up twice
        ends = self._ends
        while ends and ends[0][0] < instant:
            end, flight_id = heapq.heappop(ends)
            if self._end_by_flight.get(flight_id) == end:  # else removed, or put again
                gone[flight_id] = None
        self._remove_all(list(gone))
        horizon_us = instant_us(instant)
        if self.forgotten_before_us is None or horizon_us > self.forgotten_before_us:
            self.forgotten_before_us = horizon_us
        return len(gone)
