"""The embedded store: SQLite in a file (WAL) or in memory, with an in-memory volume index.

One writing connection guarded by a lock: SQLite serialises writers anyway, and ``BEGIN
IMMEDIATE`` takes the write lock before a decision reads its candidates, so no other writer
(thread or process) can slip in between the check and the insert. Another process writing the
same file (a second server started on it while the first still runs) is noticed through
``PRAGMA data_version``, and only the flights it changed are read again: every write stamps its
flight with the next number of a change sequence (column ``seq``, indexed), and the store keeps
the last number it has seen. A database from before the sequence gets the column when a
writable store opens it; a read-only one is read again whole when another process writes.

Reads outside a transaction (the API's GETs) use reading connections of their own, one per
concurrent reader, kept for reuse: in WAL mode they see the last committed state and neither
wait for a decision in progress nor hold it up. (On the writing connection, a read waited for
the whole decision being made, engine work included: hundreds of milliseconds under load.) A
read in the thread that holds the transaction uses the writing connection, so it sees the
transaction's own writes. ``:memory:`` has one connection only: another would open another
database.

Durability: WAL with ``synchronous=NORMAL`` survives a crash of the process (kill -9): a
committed transaction is in the WAL file before ``COMMIT`` returns. ``synchronous=FULL``
(``UTM_SQLITE_SYNCHRONOUS=FULL``) also survives a power cut, at the cost of an fsync per
decision.

Faults: a write the database refuses (``SQLITE_FULL``: the disk or ``max_page_count`` is full;
``SQLITE_READONLY``: the file, its folder or the file system is read-only; an I/O error) rolls
the whole transaction back and raises ``StoreWriteError`` naming the cause; a busy or
unreadable database raises ``StoreUnavailableError``. Nothing is cached before ``COMMIT``
returns, so the node goes on serving reads and takes writes again as soon as the cause is
gone (space freed), without a restart. A database that is read-only when the store opens is
still opened (reads and approval checks work) and a warning is logged once.

Opening is quick whatever the file holds: the index is read at the first transaction, and if
the store has been told to forget the flights that ended before an instant by then
(``forget_before``, which the engine does before its first decision), only the flights held
until that instant or later are read and parsed (column ``held_until_us``, written with each
flight; a database from before it gets the column, and its older rows, which have none, are
read whatever their end).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

import orjson

from airspace.grid import AltitudeLayers, Cell
from airspace.timing import format_instant, parse_instant
from utm.errors import StoreUnavailableError, StoreWriteError, UtmError
from utm.flights import Flight, outline_ring_to_path, route_legs_doc_to_path
from utm.plans import Priority
from utm.states import HOLDS_AIRSPACE, FlightState
from utm.storage.base import Candidates, FlightSummary, HeldPadSlot, HeldVolume
from utm.storage.keys import IndexSpec, Reach, instant_us
from utm.storage.volume_index import VolumeIndex, held_until

SCHEMA = """
CREATE TABLE IF NOT EXISTS flights (
    id TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL,
    state TEXT NOT NULL,
    approval_id TEXT,
    jurisdictions TEXT NOT NULL,
    departure_time TEXT,
    arrival_time TEXT,
    doc BLOB NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    held_until_us INTEGER
);
CREATE INDEX IF NOT EXISTS flights_operator ON flights (operator_id, id);
CREATE INDEX IF NOT EXISTS flights_approval ON flights (approval_id);
CREATE INDEX IF NOT EXISTS flights_state ON flights (state, id);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    jurisdiction TEXT,
    time TEXT NOT NULL,
    doc BLOB NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    flight_id TEXT,
    detail BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_flight ON audit (flight_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

CHANGE_SEQUENCE = """
CREATE INDEX IF NOT EXISTS flights_seq ON flights (seq);
"""
"""The index of the change sequence; made after a database from before it got the column."""

PUT_FLIGHT = (
    "INSERT OR REPLACE INTO flights (id, operator_id, state, approval_id, jurisdictions,"
    " departure_time, arrival_time, doc{held}{seq})"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?{held_value}{next_seq})")
"""A flight written, with (``seq``) or without the change sequence, with or without when it
stops holding airspace (``held_until_us``): a read-only database from before either column
cannot get it."""

_HOLDING = tuple(sorted(state.value for state in HOLDS_AIRSPACE))
_HOLDING_MARKS = ",".join("?" * len(_HOLDING))
"""The placeholders of ``state IN (...)`` for ``_HOLDING``."""

log = logging.getLogger("utm.storage")


def _store_error(error: sqlite3.Error, doing: str, *, writing: bool) -> UtmError:
    """The ``utm`` error for a driver error, naming its cause for the operator."""
    name = getattr(error, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL"):
        return StoreWriteError(f"the database is full while {doing} (free disk space): {error}",
                               reason="full")
    if name.startswith("SQLITE_READONLY"):
        return StoreWriteError(f"the database is read-only while {doing} (check the file, its "
                               f"folder and the file system): {error}", reason="read_only")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreUnavailableError(f"the database is busy while {doing}: {error}")
    if writing:
        return StoreWriteError(f"the database refused the write while {doing}: {error}")
    return StoreUnavailableError(f"cannot read the database while {doing}: {error}")


def _jurisdictions_column(jurisdictions: Iterable[str]) -> str:
    # ",chengdu,deyang," so that a LIKE '%,chengdu,%' filter matches whole ids only.
    return "," + ",".join(jurisdictions) + ","


def _flight_filters(operator_id: str | None, jurisdictions: Sequence[str] | None,
                    states: Sequence[FlightState] | None) -> tuple[list[str], list[Any]] | None:
    """WHERE clauses and their parameters for the flight list filters; None if nothing can
    match (an empty list of jurisdictions)."""
    clauses: list[str] = ["1 = 1"]
    parameters: list[Any] = []
    if operator_id is not None:
        clauses.append("operator_id = ?")
        parameters.append(operator_id)
    if jurisdictions is not None:
        if not jurisdictions:
            return None
        clauses.append("(" + " OR ".join("jurisdictions LIKE ?" for _ in jurisdictions) + ")")
        parameters.extend(f"%,{city},%" for city in jurisdictions)
    if states:
        clauses.append(f"state IN ({','.join('?' * len(states))})")
        parameters.extend(state.value for state in states)
    return clauses, parameters


class _SqliteTransaction:
    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.connection = store.connection
        self.pending: list[Flight] = []
        self._whole_index: VolumeIndex | None = None
        """Every held flight read from the database, once a question reached before what the
        cached index forgot (see ``_index_from``)."""

    def lock(self, lock_keys: Sequence[int]) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` holds the whole database already."""

    def _index_from(self, start_time: datetime) -> VolumeIndex:
        """The index that answers exactly for times from ``start_time`` on: the cached one,
        or, for times before what it forgot (an area plan that began hours ago, a clock set
        back), one read afresh from the database, once per transaction: nothing but this
        transaction writes meanwhile, and ``pending`` overlays what it wrote."""
        if self.store.index.covers(start_time):
            return self.store.index
        if self._whole_index is None:
            self._whole_index = self.store._load_index()
        return self._whole_index

    def candidates(self, reach: Reach) -> Candidates:
        if not reach.volumes:
            return Candidates.of(())
        start_time = min(volume.start_time for volume in reach.volumes)
        held = self._index_from(start_time).candidates(reach)
        if not self.pending:  # the common case: nothing written yet in this transaction
            return held
        # Written earlier in this transaction: what it wrote replaces what was committed.
        return held.replacing({flight.id for flight in self.pending}, (
            HeldVolume(flight.id, position, volume, flight.priority.rank, flight.state)
            for flight in self.pending if flight.state in HOLDS_AIRSPACE
            for position, volume in enumerate(flight.volumes)))

    def held_between(self, start_time: datetime, end_time: datetime) -> Iterator[HeldVolume]:
        pending_ids = {flight.id for flight in self.pending}
        for held in self._index_from(start_time).held_between(start_time, end_time):
            if held.flight_id not in pending_ids:
                yield held
        for flight in self.pending:
            if flight.state in HOLDS_AIRSPACE:
                for position, volume in enumerate(flight.volumes):
                    if volume.start_time < end_time and start_time < volume.end_time:
                        yield HeldVolume(flight.id, position, volume, flight.priority.rank,
                                         flight.state)

    def pad_slots(self, vertiport_id: str, start_time: datetime,
                  end_time: datetime) -> list[HeldPadSlot]:
        pending_ids = {flight.id for flight in self.pending}
        index = self._index_from(start_time)
        slots = [s for s in index.pad_slots(vertiport_id, start_time, end_time)
                 if s.flight_id not in pending_ids]
        for flight in self.pending:
            if flight.state in HOLDS_AIRSPACE:
                slots.extend(
                    HeldPadSlot(flight.id, s.vertiport_id, s.pad, s.start_time, s.end_time)
                    for s in flight.pad_slots
                    if s.vertiport_id == vertiport_id and s.start_time < end_time
                    and start_time < s.end_time
                )
        return slots

    def get_flight(self, flight_id: str) -> Flight | None:
        for flight in reversed(self.pending):
            if flight.id == flight_id:
                return flight
        return self.store._read_flight(flight_id)

    def put_flight(self, flight: Flight) -> None:
        self.connection.execute(
            self.store._put_flight_sql,
            (
                flight.id, flight.operator_id, flight.state.value, flight.approval_id,
                _jurisdictions_column(flight.jurisdictions),
                format_instant(flight.departure_time) if flight.departure_time else None,
                format_instant(flight.arrival_time) if flight.arrival_time else None,
                orjson.dumps(flight.to_doc()),
                *self.store._held_until_column(flight),
            ),
        )
        self.pending = [f for f in self.pending if f.id != flight.id]
        self.pending.append(flight)

    def put_record(self, kind: str, record_id: str, doc: dict[str, Any],
                   jurisdiction: str | None, time: datetime) -> None:
        self.connection.execute(
            "INSERT OR REPLACE INTO records (kind, id, jurisdiction, time, doc)"
            " VALUES (?, ?, ?, ?, ?)",
            (kind, record_id, jurisdiction, format_instant(time), orjson.dumps(doc)),
        )

    def audit(self, time: datetime, actor: str, action: str, flight_id: str | None,
              detail: dict[str, Any]) -> None:
        self.connection.execute(
            "INSERT INTO audit (time, actor, action, flight_id, detail) VALUES (?, ?, ?, ?, ?)",
            (format_instant(time), actor, action, flight_id, orjson.dumps(detail)),
        )


class SqliteStore:
    """The embedded default store."""

    uses_lock_keys = False

    def __init__(self, path: str, layers: AltitudeLayers, spec: IndexSpec) -> None:
        self.path = path
        self.layers = layers
        self.spec = spec
        self._lock = threading.RLock()
        self._writer: int | None = None
        """The thread holding the transaction, if any."""
        self._readers: list[sqlite3.Connection] = []
        """Idle reading connections."""
        self._all_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        try:
            self.connection = sqlite3.connect(path, check_same_thread=False,
                                              isolation_level=None, timeout=30.0)
            if path != ":memory:":
                self.connection.execute("PRAGMA journal_mode=WAL")
            synchronous = os.environ.get("UTM_SQLITE_SYNCHRONOUS", "NORMAL").upper()
            if synchronous not in {"NORMAL", "FULL"}:
                raise ValueError("UTM_SQLITE_SYNCHRONOUS must be NORMAL or FULL")
            self.connection.execute(f"PRAGMA synchronous={synchronous}")
            self.connection.executescript(SCHEMA)
            columns = {row[1] for row in self.connection.execute("PRAGMA table_info(flights)")}
            self._sequenced = self._add_column(
                columns, "seq", "seq INTEGER NOT NULL DEFAULT 0", CHANGE_SEQUENCE)
            self._has_held_until = self._add_column(
                columns, "held_until_us", "held_until_us INTEGER")
            if self._has_held_until and "held_until_us" not in columns:
                self._fill_held_until()
            self._put_flight_sql = PUT_FLIGHT.format(
                held=", held_until_us" if self._has_held_until else "",
                held_value=", ?" if self._has_held_until else "",
                seq=", seq" if self._sequenced else "",
                next_seq=", (SELECT COALESCE(MAX(seq), 0) + 1 FROM flights)"
                if self._sequenced else "")
            self.index = VolumeIndex(layers, spec)
            self._data_version = -1
            self._seen_seq: int | None = None
            """The last change this store's index holds; None: not loaded yet (it is at the
            first transaction)."""
            self._forget_first: datetime | None = None
            """What ``forget_before`` was told before the index was loaded: the load reads
            only the flights held from then on."""
            self.read_only = self._is_read_only()
        except sqlite3.Error as error:
            raise StoreUnavailableError(f"cannot open SQLite database {path!r}: {error}") from error
        if self.read_only:
            log.warning("the SQLite database %s is read-only: reads are served, every write "
                        "will be refused (503 store_write_failed)", path)

    def _is_read_only(self) -> bool:
        """True if a write is refused as read-only (tried, then rolled back: nothing stays)."""
        try:
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.execute("INSERT OR REPLACE INTO meta (key, value)"
                                    " VALUES ('write_check', '')")
        except sqlite3.Error as error:
            if not str(getattr(error, "sqlite_errorname", "")).startswith("SQLITE_READONLY"):
                raise
            return True
        finally:
            self._rollback()
        return False

    # -- index -------------------------------------------------------------------------

    def _add_column(self, columns: set[str], name: str, definition: str, then: str = "") -> bool:
        """Give a database from before column ``name`` of ``flights`` (not in ``columns``)
        that column, and run the script ``then`` (its index); False if it has none and
        cannot get it (read-only)."""
        try:
            if name not in columns:
                self.connection.execute(f"ALTER TABLE flights ADD COLUMN {definition}")
            if then:
                self.connection.executescript(then)
        except sqlite3.Error as error:
            if not str(getattr(error, "sqlite_errorname", "")).startswith("SQLITE_READONLY"):
                raise
            return name in columns
        return True

    def _fill_held_until(self) -> None:
        """Set ``held_until_us`` of the flights written before the column existed (once, when
        it is added: every flight holding airspace is parsed, as a full load would). Read
        and written under the write lock: no other process changes a flight in between."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            rows = self.connection.execute(
                f"SELECT doc FROM flights WHERE state IN ({_HOLDING_MARKS})"
                " AND held_until_us IS NULL", _HOLDING)
            updates = []  # (written once every row is read: the cursor reads the table)
            for (doc,) in rows:
                flight = Flight.from_doc(orjson.loads(doc))
                updates.append((*self._held_until_column(flight), flight.id))
            self.connection.executemany(
                "UPDATE flights SET held_until_us = ? WHERE id = ?", updates)
            self.connection.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()
            raise

    def _held_until_column(self, flight: Flight) -> tuple[int | None, ...]:
        """The ``held_until_us`` value of a flight being written (none without the column)."""
        if not self._has_held_until:
            return ()
        end = held_until(flight)
        return (None if end is None else instant_us(end),)

    def _last_seq(self) -> int:
        return int(self.connection.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM flights").fetchone()[0])

    def _reload_if_changed(self) -> None:
        """Bring the index up to what other connections committed: the flights changed since
        the last change seen, or everything on first use (or without the sequence)."""
        version = self.connection.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return
        self._data_version = version
        if self._seen_seq is None or not self._sequenced:
            # The sequence is read first: a change committed in between is read twice (the
            # same flight put again), never missed.
            self._seen_seq = self._last_seq() if self._sequenced else 0
            self.index = self._load_index(self._forget_first)
            return
        rows = self.connection.execute(
            "SELECT seq, id, state, CASE WHEN state IN (" + _HOLDING_MARKS
            + ") THEN doc END FROM flights WHERE seq > ? ORDER BY seq",
            (*_HOLDING, self._seen_seq))
        for seq, flight_id, state, doc in rows:
            if state in _HOLDING:
                self.index.put(Flight.from_doc(orjson.loads(doc)))
            else:  # released: nothing to parse
                self.index.remove(flight_id)
            self._seen_seq = seq

    def _load_index(self, forgotten_before: datetime | None = None) -> VolumeIndex:
        """A new index of every flight the database holds airspace for; with
        ``forgotten_before``, of those held until then or later only (the index then
        answers for times from it on: ``VolumeIndex.covers``)."""
        index = VolumeIndex(self.layers, self.spec)
        sql = f"SELECT doc FROM flights WHERE state IN ({_HOLDING_MARKS})"
        parameters: list[Any] = list(_HOLDING)
        if forgotten_before is not None and self._has_held_until:
            sql += " AND (held_until_us IS NULL OR held_until_us >= ?)"
            parameters.append(instant_us(forgotten_before))
        for (doc,) in self.connection.execute(sql, parameters):
            index.put(Flight.from_doc(orjson.loads(doc)))
        if forgotten_before is not None:
            index.forget_before(forgotten_before)
        return index

    def forget_before(self, instant: datetime) -> int:
        """Drop cached flights that ended before ``instant`` (see ``VolumeIndex``); a later
        question about earlier times is answered from the database (``_index_from``). Before
        the index is loaded, nothing is in memory to drop: the load will skip them."""
        with self._lock:
            if self._seen_seq is None:
                if self._forget_first is None or instant > self._forget_first:
                    self._forget_first = instant
                return 0
            return self.index.forget_before(instant)

    # -- transactions --------------------------------------------------------------------

    @contextmanager
    def transaction(self, lock_keys: Sequence[int] = ()) -> Iterator[_SqliteTransaction]:
        """A write transaction (``BEGIN IMMEDIATE``); the lock keys are implied by it."""
        with self._lock:
            try:
                self.connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise _store_error(error, "starting a transaction", writing=True) from error
            outer_writer, self._writer = self._writer, threading.get_ident()
            try:
                self._reload_if_changed()
                transaction = _SqliteTransaction(self)
                yield transaction
                # Read under the write lock: the changes up to it are this index's own.
                seen_seq = (self._last_seq() if transaction.pending and self._sequenced
                            else self._seen_seq)
                self.connection.execute("COMMIT")
            except sqlite3.Error as error:
                # SQLite may have rolled back already (SQLITE_FULL does); a second ROLLBACK
                # is harmless. The index is only updated after COMMIT, below.
                self._rollback()
                raise _store_error(error, "writing", writing=True) from error
            except BaseException:
                self._rollback()
                raise
            finally:
                self._writer = outer_writer
            for flight in transaction.pending:
                self.index.put(flight)
            self._seen_seq = seen_seq

    def _rollback(self) -> None:
        with suppress(sqlite3.Error):
            self.connection.execute("ROLLBACK")

    # -- reads -----------------------------------------------------------------------------

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """Rows of one statement: on a reading connection, or on the writing one in the
        thread that holds the transaction (it must see its own writes) and for ``:memory:``."""
        if self.path == ":memory:" or self._writer == threading.get_ident():
            with self._lock:
                try:
                    return self.connection.execute(sql, parameters).fetchall()
                except sqlite3.Error as error:
                    raise _store_error(error, "reading", writing=False) from error
        reader = self._acquire_reader()
        try:
            return reader.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise _store_error(error, "reading", writing=False) from error
        finally:
            with self._readers_lock:
                self._readers.append(reader)

    def _acquire_reader(self) -> sqlite3.Connection:
        with self._readers_lock:
            if self._readers:
                return self._readers.pop()
        try:
            reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                     timeout=30.0)
            reader.execute("PRAGMA query_only = ON")
        except sqlite3.Error as error:
            raise _store_error(error, "opening a reading connection", writing=False) from error
        with self._readers_lock:
            self._all_readers.append(reader)
        return reader

    def _read_flight(self, flight_id: str) -> Flight | None:
        rows = self._read("SELECT doc FROM flights WHERE id = ?", (flight_id,))
        return Flight.from_doc(orjson.loads(rows[0][0])) if rows else None

    def get_flight(self, flight_id: str) -> Flight | None:
        return self._read_flight(flight_id)

    def find_by_approval(self, approval_id: str) -> Flight | None:
        rows = self._read("SELECT doc FROM flights WHERE approval_id = ?", (approval_id,))
        return Flight.from_doc(orjson.loads(rows[0][0])) if rows else None

    def list_flights(self, *, operator_id: str | None = None,
                     jurisdictions: Sequence[str] | None = None,
                     states: Sequence[FlightState] | None = None,
                     after_id: str | None = None, limit: int = 100) -> list[Flight]:
        filters = _flight_filters(operator_id, jurisdictions, states)
        if filters is None:
            return []
        clauses, parameters = filters
        if after_id is not None:
            clauses.append("id > ?")
            parameters.append(after_id)
        rows = self._read(
            f"SELECT doc FROM flights WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
            [*parameters, limit],
        )
        return [Flight.from_doc(orjson.loads(doc)) for (doc,) in rows]

    def list_flight_summaries(self, *, operator_id: str | None = None,
                              jurisdictions: Sequence[str] | None = None,
                              states: Sequence[FlightState] | None = None,
                              start_time: datetime | None = None,
                              end_time: datetime | None = None,
                              after_id: str | None = None,
                              limit: int = 100) -> list[FlightSummary]:
        filters = _flight_filters(operator_id, jurisdictions, states)
        if filters is None:
            return []
        clauses, parameters = filters
        # julianday(), not text comparison: "...:07.277Z" sorts before "...:07Z" as text.
        if end_time is not None:
            clauses.append("julianday(departure_time) < julianday(?)")
            parameters.append(format_instant(end_time))
        if start_time is not None:
            clauses.append("departure_time IS NOT NULL AND julianday(arrival_time) > julianday(?)")
            parameters.append(format_instant(start_time))
        if after_id is not None:
            clauses.append("id > ?")
            parameters.append(after_id)
        # json_extract reads the two fields inside SQLite: parsing whole documents in Python
        # (volumes and all, some 25 kB a flight) would cost more than everything else.
        rows = self._read(
            "SELECT id, state, json_extract(doc, '$.plan.priority'), operator_id, jurisdictions,"
            " departure_time, arrival_time, json_extract(doc, '$.route.legs'),"
            " CASE WHEN json_extract(doc, '$.plan.kind') = 'area'"
            " THEN json_extract(doc, '$.volumes[0].outline.coordinates[0]') END FROM flights"
            f" WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
            [*parameters, limit],
        )
        return [
            FlightSummary(
                id=flight_id, state=FlightState(state), priority=Priority(priority),
                operator_id=operator, jurisdictions=tuple(filter(None, cities.split(","))),
                departure_time=parse_instant(departure) if departure else None,
                arrival_time=parse_instant(arrival) if arrival else None,
                path=route_legs_doc_to_path(orjson.loads(legs)) if legs else (
                    outline_ring_to_path(orjson.loads(ring)) if ring else ()),
            )
            for flight_id, state, priority, operator, cities, departure, arrival, legs, ring
            in rows
        ]

    def list_records(self, kind: str, *, jurisdictions: Sequence[str] | None = None,
                     after_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        clauses, parameters = ["kind = ?"], [kind]
        if jurisdictions is not None:
            if not jurisdictions:
                return []
            clauses.append(f"jurisdiction IN ({','.join('?' * len(jurisdictions))})")
            parameters.extend(jurisdictions)
        if after_id is not None:
            clauses.append("id > ?")
            parameters.append(after_id)
        rows = self._read(
            f"SELECT doc FROM records WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
            [*parameters, limit],
        )
        return [orjson.loads(doc) for (doc,) in rows]

    def list_audit(self, *, flight_id: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
        if flight_id is None:
            rows = self._read("SELECT time, actor, action, flight_id, detail FROM audit"
                              " ORDER BY seq LIMIT ?", (limit,))
        else:
            rows = self._read("SELECT time, actor, action, flight_id, detail FROM audit"
                              " WHERE flight_id = ? ORDER BY seq LIMIT ?", (flight_id, limit))
        return [{"time": t, "actor": a, "action": act, "flight_id": f,
                 "detail": orjson.loads(d)} for t, a, act, f, d in rows]

    def meta(self, key: str, default: str) -> str:
        # Read first: a read-only database that has the setting still opens.
        with self._lock:
            rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
            if not rows:
                try:
                    self.connection.execute("INSERT OR IGNORE INTO meta (key, value)"
                                            " VALUES (?, ?)", (key, default))
                except sqlite3.Error as error:
                    raise _store_error(error, "writing a setting", writing=True) from error
                rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
            return str(rows[0][0])

    def close(self) -> None:
        with self._lock:
            self.connection.close()
        with self._readers_lock:
            for reader in self._all_readers:
                reader.close()
            self._all_readers.clear()
            self._readers.clear()


__all__ = ["Cell", "SqliteStore"]
