"""An in-memory index of held volumes and pad slots by (cell, layer, time bucket).

Used by the SQLite store as its cache of what the database holds; kept in step by the store
on every commit. Finding candidates is a few dictionary lookups, whatever the traffic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

from airspace.grid import AltitudeLayers
from utm.flights import Flight
from utm.states import HOLDS_AIRSPACE
from utm.storage.base import HeldPadSlot, HeldVolume
from utm.storage.keys import IndexSpec, Key, footprint_cells, volume_keys


class VolumeIndex:
    """Held volumes by key, and pad slots by vertiport. Not thread-safe: the store locks."""

    def __init__(self, layers: AltitudeLayers, spec: IndexSpec) -> None:
        self.layers = layers
        self.spec = spec
        self._by_key: dict[Key, list[HeldVolume]] = defaultdict(list)
        self._keys_by_flight: dict[str, list[Key]] = {}
        self._end_by_flight: dict[str, datetime] = {}
        self._pads: dict[str, list[HeldPadSlot]] = defaultdict(list)
        self._held_by_flight: dict[str, list[HeldVolume]] = {}

    def __len__(self) -> int:
        return len(self._keys_by_flight)

    def put(self, flight: Flight) -> None:
        """Index a flight's volumes and pads if its state holds airspace (replacing any)."""
        self.remove(flight.id)
        if flight.state not in HOLDS_AIRSPACE or not flight.volumes:
            return
        keys: list[Key] = []
        held_volumes: list[HeldVolume] = []
        for position, volume in enumerate(flight.volumes):
            held = HeldVolume(flight.id, position, volume, flight.priority.rank, flight.state)
            held_volumes.append(held)
            for key in volume_keys(volume, footprint_cells(volume, self.spec), self.layers,
                                   self.spec):
                self._by_key[key].append(held)
                keys.append(key)
        self._keys_by_flight[flight.id] = keys
        self._held_by_flight[flight.id] = held_volumes
        self._end_by_flight[flight.id] = max(v.end_time for v in flight.volumes)
        for slot in flight.pad_slots:
            self._pads[slot.vertiport_id].append(
                HeldPadSlot(flight.id, slot.vertiport_id, slot.pad, slot.start_time,
                            slot.end_time)
            )

    def remove(self, flight_id: str) -> None:
        """Forget a flight's volumes and pad slots."""
        keys = self._keys_by_flight.pop(flight_id, None)
        self._end_by_flight.pop(flight_id, None)
        self._held_by_flight.pop(flight_id, None)
        if keys is None:
            return
        for key in set(keys):
            remaining = [held for held in self._by_key[key] if held.flight_id != flight_id]
            if remaining:
                self._by_key[key] = remaining
            else:
                del self._by_key[key]
        for vertiport_id, slots in list(self._pads.items()):
            kept = [slot for slot in slots if slot.flight_id != flight_id]
            if len(kept) != len(slots):
                self._pads[vertiport_id] = kept

    def candidates(self, keys: Iterable[Key]) -> Iterable[HeldVolume]:
        """Held volumes under any of ``keys``, each once."""
        by_key = self._by_key
        # By identity: each held volume is one object, under every key it is filed at.
        unique = {id(held): held for key in keys for held in by_key.get(key, ())}
        return unique.values()

    def held_between(self, start_time: datetime, end_time: datetime) -> Iterator[HeldVolume]:
        """Every held volume overlapping ``[start_time, end_time)``, by scanning all of them
        (the naive way: for baselines and checks, not for decisions)."""
        for held_volumes in self._held_by_flight.values():
            for held in held_volumes:
                if held.volume.start_time < end_time and start_time < held.volume.end_time:
                    yield held

    def pad_slots(self, vertiport_id: str, start_time: datetime,
                  end_time: datetime) -> list[HeldPadSlot]:
        """Pad slots at a vertiport overlapping ``[start_time, end_time)``."""
        return [
            slot for slot in self._pads.get(vertiport_id, ())
            if slot.start_time < end_time and start_time < slot.end_time
        ]

    def forget_before(self, instant: datetime) -> int:
        """Drop flights whose last volume ended before ``instant``; returns how many.

        They cannot conflict with a new plan, which departs after now.
        """
        gone = [fid for fid, end in self._end_by_flight.items() if end < instant]
        for flight_id in gone:
            self.remove(flight_id)
        return len(gone)
