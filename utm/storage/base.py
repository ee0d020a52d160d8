"""The storage Protocol the engine talks to, and ``open_store`` to pick one by URL.

The engine never holds a database session: it asks for a ``Transaction`` in which it reads
candidates and writes one decision. Everything a decision writes (the flight with its volumes
and pad slots, the audit entry, alerts) commits together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from airspace.grid import AltitudeLayers
from routes import Volume4D
from utm.flights import Flight
from utm.plans import Priority
from utm.states import FlightState
from utm.storage.keys import IndexSpec, Reach, instant_us


@dataclass(frozen=True, slots=True)
class HeldVolume:
    """A volume held by another flight, as a candidate for a conflict."""

    flight_id: str
    index: int
    volume: Volume4D
    priority_rank: int
    state: FlightState
    start_us: int = field(init=False)
    """The volume's start, microseconds since ``keys.EPOCH`` (for vectorised time tests)."""
    end_us: int = field(init=False)
    extent_m: tuple[float, float, float, float, float, float] = field(init=False)
    """Floor and ceiling (m AGL), then the metric outline's bounds (min x, min y, max x,
    max y): the cheap tests before exact geometry, computed once when indexed."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_us", instant_us(self.volume.start_time))
        object.__setattr__(self, "end_us", instant_us(self.volume.end_time))
        object.__setattr__(self, "extent_m", (self.volume.floor_agl_m, self.volume.ceiling_agl_m,
                                          *self.volume.outline_m.bounds))


@dataclass(frozen=True, slots=True)
class Candidates:
    """Held volumes that may conflict (a superset: exact geometry decides), each once, with
    their times and extents as arrays, so that the cheap tests run over all of them at once
    (``utm.slots.Blockers.add_pairs``)."""

    held: list[HeldVolume]
    times_us: np.ndarray
    """(n, 2) int64: ``start_us``, ``end_us`` of each."""
    extents_m: np.ndarray
    """(n, 6) float: ``extent_m`` of each."""

    @classmethod
    def of(cls, held: Iterable[HeldVolume]) -> Candidates:
        """Candidates from held volumes (building the arrays)."""
        listed = list(held)
        return cls(listed,
                   np.array([(h.start_us, h.end_us) for h in listed],
                            dtype=np.int64).reshape(-1, 2),
                   np.array([h.extent_m for h in listed], dtype=float).reshape(-1, 6))

    def __iter__(self) -> Iterator[HeldVolume]:
        return iter(self.held)

    def __len__(self) -> int:
        return len(self.held)

    def replacing(self, flight_ids: set[str], more: Iterable[HeldVolume]) -> Candidates:
        """These without the volumes of ``flight_ids``, plus ``more`` (a transaction's own
        writes over what was committed)."""
        keep = [position for position, held in enumerate(self.held)
                if held.flight_id not in flight_ids]
        extra = Candidates.of(more)
        return Candidates([self.held[p] for p in keep] + extra.held,
                          np.concatenate([self.times_us[keep], extra.times_us]),
                          np.concatenate([self.extents_m[keep], extra.extents_m]))


@dataclass(frozen=True, slots=True)
class HeldPadSlot:
    """A pad slot held by another flight."""

    flight_id: str
    vertiport_id: str
    pad: int
    start_time: datetime
    end_time: datetime


@dataclass(frozen=True, slots=True)
class FlightSummary:
    """What a map draws of a flight, read without rebuilding its route and volumes."""

    id: str
    state: FlightState
    priority: Priority
    operator_id: str
    jurisdictions: tuple[str, ...]
    departure_time: datetime | None
    arrival_time: datetime | None
    path: tuple[tuple[float, float], ...]
    """The route's turning points, (lat, lng) degrees in flight order; for an area-based plan
    its first volume's outline; empty without either (a rejected plan)."""


class Transaction(Protocol):
    """One atomic unit of work, holding the locks it was opened with."""

    def lock(self, lock_keys: Sequence[int]) -> None:
        """Take more locks inside the transaction (a store may raise to ask for a retry)."""
        ...

    def candidates(self, reach: Reach) -> Candidates:
        """Held volumes that may meet one of ``reach``'s volumes at some delay in its
        window: every one that does (each once), and maybe others."""
        ...

    def held_between(self, start_time: datetime, end_time: datetime) -> Iterator[HeldVolume]:
        """Every held volume overlapping ``[start_time, end_time)``, found by scanning, not
        by the index: the naive baseline of the benchmark."""
        ...

    def pad_slots(self, vertiport_id: str, start_time: datetime,
                  end_time: datetime) -> list[HeldPadSlot]:
        """Pad slots at a vertiport overlapping ``[start_time, end_time)``."""
        ...

    def get_flight(self, flight_id: str) -> Flight | None:
        """The current record, read inside the transaction."""
        ...

    def put_flight(self, flight: Flight) -> None:
        """Insert or replace a flight with its volumes and pad slots."""
        ...

    def put_record(self, kind: str, record_id: str, doc: dict[str, Any],
                   jurisdiction: str | None, time: datetime) -> None:
        """Insert or replace a constraint, alert or other record."""
        ...

    def audit(self, time: datetime, actor: str, action: str, flight_id: str | None,
              detail: dict[str, Any]) -> None:
        """Append to the audit log."""
        ...


class Store(Protocol):
    """Durable storage of flights, records and the audit log."""

    layers: AltitudeLayers
    spec: IndexSpec
    uses_lock_keys: bool
    """True if ``transaction`` needs lock keys (several writers); False if it serialises all
    writers anyway, so the engine need not compute them."""

    def transaction(self, lock_keys: Sequence[int]) -> AbstractContextManager[Transaction]:
        """Open a write transaction holding locks on ``lock_keys`` (sorted cell ids)."""
        ...

    def get_flight(self, flight_id: str) -> Flight | None:
        """A flight by id."""
        ...

    def find_by_approval(self, approval_id: str) -> Flight | None:
        """The flight holding an approval id."""
        ...

    def list_flights(self, *, operator_id: str | None = None,
                     jurisdictions: Sequence[str] | None = None,
                     states: Sequence[FlightState] | None = None,
                     after_id: str | None = None, limit: int = 100) -> list[Flight]:
        """Flights ordered by id, filtered; ``after_id`` pages on."""
        ...

    def list_flight_summaries(self, *, operator_id: str | None = None,
                              jurisdictions: Sequence[str] | None = None,
                              states: Sequence[FlightState] | None = None,
                              start_time: datetime | None = None,
                              end_time: datetime | None = None,
                              after_id: str | None = None,
                              limit: int = 100) -> list[FlightSummary]:
        """``FlightSummary`` of the flights ``list_flights`` would return, ordered by id, and
        with ``start_time``/``end_time`` only those flying then: departing before
        ``end_time`` and arriving after ``start_time`` (a flight without a departure time is
        left out when either is given).

        Cheap where ``list_flights`` is not: the route's legs are read from the document
        and nothing is parsed into volumes (thousands of flights for a map).
        """
        ...

    def list_records(self, kind: str, *, jurisdictions: Sequence[str] | None = None,
                     after_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Records of a kind ordered by id."""
        ...

    def list_audit(self, *, flight_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Audit entries, oldest first."""
        ...

    def meta(self, key: str, default: str) -> str:
        """A shared setting; written with ``default`` on first read (same on every node)."""
        ...

    def forget_before(self, instant: datetime) -> int:
        """Drop cached flights that ended before ``instant`` (no-op without a cache): a bound
        on a long-running node's memory. Answers stay exact: a question about times before
        ``instant`` is answered from the database."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


SUMMARY_PAGE = 500
"""Flight summaries read at a time by ``all_summaries``."""


def all_summaries(store: Store, **filters: Any) -> Iterator[FlightSummary]:
    """Every ``FlightSummary`` ``store.list_flight_summaries(**filters)`` matches, page by
    page (for sweeps over the store: expiry, overdue flights)."""
    after: str | None = None
    while True:
        page = store.list_flight_summaries(**filters, after_id=after, limit=SUMMARY_PAGE)
        yield from page
        if len(page) < SUMMARY_PAGE:
            return
        after = page[-1].id


def open_store(url: str, layers: AltitudeLayers, spec: IndexSpec | None = None) -> Store:
    """A store for ``url``: ``sqlite:///path``, ``sqlite:///:memory:`` or ``postgresql://...``.

    Raises
    ------
    ValueError
        For an unknown scheme.
    """
    spec = spec or IndexSpec()
    if url.startswith("sqlite://"):
        from utm.storage.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///") or ":memory:", layers, spec)
    if url.startswith(("postgresql://", "postgres://")):
        from utm.storage.postgres import PostgresStore

        return PostgresStore(url, layers, spec)
    raise ValueError(f"unknown database URL {url!r} (sqlite:///... or postgresql://...)")
