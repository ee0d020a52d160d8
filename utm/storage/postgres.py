"""The shared store: PostgreSQL, for several API nodes deciding over one airspace.

Schema
------
Created and migrated by the project when a store opens: ``MIGRATIONS`` are idempotent
(``CREATE ... IF NOT EXISTS``) and run in one transaction that first takes
``pg_advisory_xact_lock(SCHEMA_LOCK_KEY)``, so several nodes starting at once do not race;
``schema_version`` in ``meta`` records the last one applied, and a database newer than the
code is refused. The database needs PostgreSQL 11 or later (tested on 15) and the
``btree_gist`` extension (created here if the user may, else ``CREATE EXTENSION btree_gist``
once as a superuser). No H3 extension: cells are ``bigint`` (H3 indexes are below 2**63).

- ``flights``: one row per flight, the whole record in ``doc`` (``Flight.to_doc``) and the
  columns the lists filter on (``jurisdictions text[]``; ``priority`` so that candidate reads
  need not open the document). Ids sort with ``COLLATE "C"``, as in SQLite, so cursor pages
  are the same on both stores.
- ``volumes`` (``Volume4D.to_json`` per volume), ``volume_keys`` (one row per
  (cell, layer, bucket) key of each volume, indexed on the key) and ``pad_slots``
  (``tstzrange``): rows only for flights in ``HOLDS_AIRSPACE`` states. ``put_flight`` deletes
  and re-inserts them with the flight, in the same transaction.
- ``pad_slots`` carries ``EXCLUDE USING gist (vertiport_id WITH =, pad WITH =, during WITH &&,
  flight_id WITH <>)``, deferred to commit (an emergency takes a pad before the flight it
  preempts lets go of it): a database-level backstop; a violation becomes
  ``StoreConflictError`` and the decision is retried, never a 500.
- ``records``, ``audit`` (identity ``seq``: the order), ``meta``.

Invariant 3 across nodes
------------------------
Every write transaction runs at READ COMMITTED (each statement sees what was committed before
it started; REPEATABLE READ would freeze the snapshot before the lock waits) and holds
transaction-scoped advisory locks, one per H3 cell at ``spec.lock_resolution`` (an int, the
lock key), until it commits or rolls back:

1. ``transaction(lock_keys)`` takes the engine's keys in ascending order, waiting as long as
   needed (``lock_timeout``, 30 s, then ``StoreUnavailableError``).
2. The store does not trust the caller's set: ``candidates(keys)`` first locks the parents of
   every cell it is asked about, and ``put_flight`` the parents of every cell of the volumes it
   writes. So whatever the engine computes, a read of a cell and a write to it happen under the
   same lock, and the second writer reads (after its lock) what the first committed.
3. Keys above every key held are taken in order and waited for. A key below one already held
   (``tx.lock`` for a detour, say) is waited for at most ``OUT_OF_ORDER_WAIT_MS``; if it
   does not come, ``StoreConflictError`` carrying every key held and wanted: the engine retries
   the decision, taking them all up front. A transaction therefore only waits without a bound
   for keys above all it holds, and such waits cannot form a cycle: no lock deadlock, and no
   one-second stall waiting for PostgreSQL's deadlock detector. A deadlock PostgreSQL does
   detect (40P01, e.g. row locks) and serialization failures (40001) are
   ``StoreConflictError`` as well.
4. ``tx.get_flight`` reads ``FOR UPDATE``: two nodes changing the same flight (a cancel and a
   review) take turns, and the second sees the first's result.

Caches and other nodes
----------------------
Nothing a decision depends on is cached between transactions: candidates and pad slots are read
inside the locked transaction, from the database (so they include this transaction's own
writes, and what every other node committed before the locks were granted). Within one
transaction, what was read under a key (and a vertiport's pad slots) is kept until the
transaction writes a flight: no other node can add under a key, or change the state of a flight
held there, while we hold the key's cell lock; a flight released meanwhile (a cancel needs no
lock) only makes the answer cautious; two nodes taking one pad meet the exclusion constraint.
``held_between`` (the benchmark's naive baselines) reads by time and locks nothing itself: it
is as safe across nodes as the lock keys its caller took. The one cache across transactions is
of parsed volumes by ``rev``, a number from a sequence that names one stored volume's content
for ever (rows are deleted and inserted, never updated): it cannot be stale, and it saves
sending and parsing the same GeoJSON for every decision. ``forget_before`` is therefore a
no-op. Temporary constraints live in ``records``; ``Engine.sync_constraints`` reads them at
each submit. ``meta`` is shared by every node (``SELECT``; if missing, ``INSERT ... ON
CONFLICT DO NOTHING`` and ``SELECT`` again), so they all sign approvals with one key.

Durability: ``COMMIT`` returns once the server has flushed its WAL (``synchronous_commit``
on, PostgreSQL's default), so an accepted decision survives kill -9 of the node or the server.

Connections
-----------
A small pool (``pool_size``, default ``UTM_POSTGRES_POOL_SIZE`` or 8): a write transaction
holds one connection; reads borrow one for a single autocommit statement (their own short
transaction), or use the calling thread's open transaction if it has one (so a read inside a
transaction sees its writes, as on SQLite). A lost connection (server restart,
``pg_terminate_backend``) is dropped with every idle one; a read or the start of a transaction
that finds its pooled connection dead reconnects once at once; otherwise
``StoreUnavailableError`` (the API answers 503 with Retry-After) and the next call connects
afresh. A connection lost during ``COMMIT`` leaves the outcome unknown: the caller gets
``StoreUnavailableError`` and may find the flight committed. A write the server refuses as
read-only (25006: ``default_transaction_read_only``, a standby) or for a full disk (53100) is
``StoreWriteError`` (503 ``store_write_failed``); a session that met read-only is closed with
every idle one, since a session keeps the default it started with: the first write after the
database turns writable again goes through, or the next one at the latest.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg.pq import TransactionStatus
from psycopg.types.json import set_json_loads

from airspace.grid import AltitudeLayers, cell_to_parent
from airspace.timing import format_instant, parse_instant
from routes import Volume4D
from utm.errors import StoreConflictError, StoreUnavailableError, StoreWriteError, UtmError
from utm.flights import Flight, outline_ring_to_path, route_legs_doc_to_path
from utm.plans import Priority
from utm.states import HOLDS_AIRSPACE, FlightState
from utm.storage.base import Candidates, FlightSummary, HeldPadSlot, HeldVolume
from utm.storage.keys import IndexSpec, Key, Reach, footprint_cells, volume_keys

Connection = psycopg.Connection[tuple[Any, ...]]

SCHEMA_LOCK_KEY = 0x55544D
"""Advisory lock key of the migrations ("UTM"). Far below any H3 index (those start near
5.8e17), so it never collides with a cell lock."""

LOCK_TIMEOUT_MS = 30_000
"""A write waits this long for its locks before ``StoreUnavailableError`` (database busy)."""

OUT_OF_ORDER_WAIT_MS = 100
"""How long a lock below one already held is waited for before ``StoreConflictError``."""

VOLUME_CACHE_LIMIT = 20_000
"""Parsed volumes kept, by ``rev``."""

PAD_READ_MARGIN = timedelta(hours=2)
"""A transaction reads a vertiport's pad slots this far around the first window asked."""

CONFLICT_STATES = frozenset({"40P01", "40001", "23P01"})
"""Deadlock detected, serialization failure, exclusion violation: retry the decision."""

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE IF NOT EXISTS flights (
        id text COLLATE "C" PRIMARY KEY,
        operator_id text NOT NULL,
        state text NOT NULL,
        priority text NOT NULL,
        approval_id text,
        jurisdictions text[] NOT NULL,
        departure_time timestamptz,
        arrival_time timestamptz,
        doc jsonb NOT NULL
    );
    CREATE INDEX IF NOT EXISTS flights_operator ON flights (operator_id, id);
    CREATE INDEX IF NOT EXISTS flights_approval ON flights (approval_id);
    CREATE INDEX IF NOT EXISTS flights_state ON flights (state, id);
    CREATE INDEX IF NOT EXISTS flights_jurisdictions ON flights USING gin (jurisdictions);
    CREATE SEQUENCE IF NOT EXISTS volume_rev;
    CREATE TABLE IF NOT EXISTS volumes (
        flight_id text COLLATE "C" NOT NULL,
        volume_index int NOT NULL,
        rev bigint NOT NULL DEFAULT nextval('volume_rev') UNIQUE,
        start_time timestamptz NOT NULL,
        end_time timestamptz NOT NULL,
        doc jsonb NOT NULL,
        PRIMARY KEY (flight_id, volume_index)
    );
    CREATE TABLE IF NOT EXISTS volume_keys (
        cell bigint NOT NULL,
        layer smallint NOT NULL,
        bucket int NOT NULL,
        flight_id text COLLATE "C" NOT NULL,
        volume_index int NOT NULL
    );
    CREATE INDEX IF NOT EXISTS volume_keys_key
        ON volume_keys (cell, layer, bucket) INCLUDE (flight_id, volume_index);
    CREATE INDEX IF NOT EXISTS volume_keys_flight ON volume_keys (flight_id);
    CREATE TABLE IF NOT EXISTS pad_slots (
        vertiport_id text NOT NULL,
        pad int NOT NULL,
        during tstzrange NOT NULL,
        flight_id text COLLATE "C" NOT NULL,
        CONSTRAINT pad_slots_no_overlap EXCLUDE USING gist (
            vertiport_id WITH =, pad WITH =, during WITH &&, flight_id WITH <>
        ) DEFERRABLE INITIALLY DEFERRED
    );
    CREATE INDEX IF NOT EXISTS pad_slots_flight ON pad_slots (flight_id);
    CREATE TABLE IF NOT EXISTS records (
        kind text NOT NULL,
        id text COLLATE "C" NOT NULL,
        jurisdiction text,
        time timestamptz NOT NULL,
        doc jsonb NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE TABLE IF NOT EXISTS audit (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time timestamptz NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        flight_id text,
        detail jsonb NOT NULL
    );
    CREATE INDEX IF NOT EXISTS audit_flight ON audit (flight_id, seq);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_CANDIDATES_SQL = """
SELECT h.flight_id, h.volume_index, v.rev, f.state, f.priority, h.cells, h.layers, h.buckets
FROM (SELECT vk.flight_id, vk.volume_index, array_agg(vk.cell) AS cells,
             array_agg(vk.layer) AS layers, array_agg(vk.bucket) AS buckets
      FROM unnest(%s::bigint[], %s::smallint[], %s::int[]) AS k(cell, layer, bucket)
      JOIN volume_keys vk ON vk.cell = k.cell AND vk.layer = k.layer AND vk.bucket = k.bucket
      GROUP BY vk.flight_id, vk.volume_index) AS h
JOIN volumes v ON v.flight_id = h.flight_id AND v.volume_index = h.volume_index
JOIN flights f ON f.id = h.flight_id
"""
"""Held volumes under any of the keys asked (three parallel arrays), each once, with those of
their keys that were asked. The volume itself comes by ``rev`` (see
``PostgresStore.volumes_by_rev``)."""

_FLIGHT_COLUMNS = ("id, operator_id, state, priority, approval_id, jurisdictions, "
                   "departure_time, arrival_time, doc")


WRITE_REFUSED_STATES = {"25006": "read_only", "53100": "full"}
"""The server refuses writes (read-only transaction, e.g. a standby or
``default_transaction_read_only``; disk full): ``StoreWriteError`` naming the cause."""


def _is_connection_error(error: psycopg.Error) -> bool:
    """True if the error means the connection (or the server) is gone, not the statement."""
    if (error.sqlstate in CONFLICT_STATES or error.sqlstate in WRITE_REFUSED_STATES
            or error.sqlstate in {"55P03", "57014"}):
        return False
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


def _store_error(error: psycopg.Error, doing: str, *, writing: bool,
                 lock_keys: Iterable[int] = ()) -> UtmError:
    """The ``utm`` error for a driver error."""
    state = error.sqlstate
    if state in CONFLICT_STATES:
        return StoreConflictError(f"a concurrent writer got in the way while {doing} "
                                  f"({state}); retry", lock_keys=tuple(sorted(lock_keys)))
    if state == "55P03":
        return StoreUnavailableError(f"the database is busy (locks held too long) while {doing}")
    if state == "57014":
        return StoreUnavailableError(f"the database cancelled the statement while {doing}")
    if state in WRITE_REFUSED_STATES:
        reason = WRITE_REFUSED_STATES[state]
        return StoreWriteError(f"the database is {reason.replace('_', '-')} while {doing}: "
                               f"{error}", reason=reason)
    if _is_connection_error(error) or not writing:
        return StoreUnavailableError(f"cannot reach the database while {doing}: {error}")
    return StoreWriteError(f"the database refused the write while {doing}: {error}")


def _flight_filters(operator_id: str | None, jurisdictions: Sequence[str] | None,
                    states: Sequence[FlightState] | None) -> tuple[list[str], list[Any]] | None:
    """WHERE clauses and their parameters for the flight list filters; None if nothing can
    match (an empty list of jurisdictions)."""
    clauses: list[str] = ["TRUE"]
    parameters: list[Any] = []
    if operator_id is not None:
        clauses.append("operator_id = %s")
        parameters.append(operator_id)
    if jurisdictions is not None:
        if not jurisdictions:
            return None
        clauses.append("jurisdictions && %s::text[]")
        parameters.append(list(jurisdictions))
    if states:
        clauses.append("state = ANY(%s::text[])")
        parameters.append([state.value for state in states])
    return clauses, parameters


class _Pool:
    """Connections to one database: at most ``size``, idle ones reused (LIFO)."""

    def __init__(self, url: str, size: int, timeout_s: float) -> None:
        self.url = url
        self.size = size
        self.timeout_s = timeout_s
        self._idle: list[Connection] = []
        self._count = 0
        self._closed = False
        self._condition = threading.Condition()

    def _connect(self) -> Connection:
        try:
            connection: Connection = psycopg.connect(
                self.url, autocommit=True, connect_timeout=10, application_name="utm")
        except psycopg.Error as error:
            raise StoreUnavailableError(f"cannot connect to PostgreSQL: {error}") from error
        try:
            set_json_loads(orjson.loads, connection)
            connection.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
            connection.execute("SET TIME ZONE 'UTC'")
        except psycopg.Error as error:
            with suppress(psycopg.Error):
                connection.close()
            raise StoreUnavailableError(f"cannot set up a PostgreSQL session: {error}") from error
        return connection

    def acquire(self) -> tuple[Connection, bool]:
        """A connection, and whether it is new (a pooled one may have died while idle)."""
        with self._condition:
            if self._closed:
                raise StoreUnavailableError("the store is closed")
            if not self._condition.wait_for(lambda: self._idle or self._count < self.size,
                                            timeout=self.timeout_s):
                raise StoreUnavailableError(
                    f"all {self.size} database connections are busy")
            if self._idle:
                return self._idle.pop(), False
            self._count += 1
        try:
            return self._connect(), True
        except BaseException:
            with self._condition:
                self._count -= 1
                self._condition.notify()
            raise

    def release(self, connection: Connection) -> None:
        """Return a connection: kept if healthy and idle, else closed."""
        healthy = not (connection.closed or connection.broken) and (
            connection.info.transaction_status == TransactionStatus.IDLE)
        with self._condition:
            if healthy and not self._closed:
                self._idle.append(connection)
            else:
                self._count -= 1
            self._condition.notify()
        if not healthy or self._closed:
            with suppress(psycopg.Error):
                connection.close()

    def discard_idle(self) -> None:
        """Close every idle connection (after one was found dead: they likely all are)."""
        with self._condition:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._condition.notify_all()
        for connection in idle:
            with suppress(psycopg.Error):
                connection.close()

    def close(self) -> None:
        with self._condition:
            self._closed = True
        self.discard_idle()


class _PostgresTransaction:
    """One write transaction on one connection, holding its advisory locks."""

    def __init__(self, store: PostgresStore, connection: Connection, held: set[int]) -> None:
        self.store = store
        self.connection = connection
        self.held = held
        self._known: dict[Key, list[HeldVolume]] = {}
        """What is held under each key read so far. Valid until this transaction writes a
        flight: nobody else can add under a key while we hold its cell's lock."""
        self._held: dict[tuple[str, int], HeldVolume] = {}
        self._pads: dict[str, tuple[datetime, datetime, list[HeldPadSlot]]] = {}
        """Pad slots by vertiport over a window read (valid like ``_known``)."""

    def _run(self, sql: str, parameters: Sequence[Any] | None = None,
             doing: str = "writing", *, binary: bool = False) -> list[tuple[Any, ...]]:
        try:
            cursor = self.connection.execute(sql, parameters, binary=binary)
            return cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as error:
            raise _store_error(error, doing, writing=True, lock_keys=self.held) from error

    # -- locks ---------------------------------------------------------------------------

    def lock(self, lock_keys: Sequence[int]) -> None:
        """Take the keys not yet held: those above every key held in order, waiting; those
        below, waiting at most ``OUT_OF_ORDER_WAIT_MS`` (else ``StoreConflictError``)."""
        wanted = sorted(set(lock_keys) - self.held)
        if not wanted:
            return
        top = max(self.held, default=None)
        below = [key for key in wanted if top is not None and key < top]
        above = [key for key in wanted if top is None or key > top]
        if below:
            try:
                with self.connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = {OUT_OF_ORDER_WAIT_MS}")
                    cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) "
                                   "AS k", (below,))
                    cursor.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
            except psycopg.Error as error:
                everything = tuple(sorted(self.held | set(wanted)))
                if error.sqlstate == "55P03":
                    raise StoreConflictError(
                        "a lock below those held was busy; retry taking every lock in order",
                        lock_keys=everything) from error
                raise _store_error(error, "locking", writing=True,
                                   lock_keys=everything) from error
            self.held.update(below)
        if above:
            self._run("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k",
                      (above,), "locking")
            self.held.update(above)

    def _lock_cells(self, cells: Iterable[int]) -> None:
        resolution = self.store.spec.lock_resolution
        parents = {cell_to_parent(cell, resolution) for cell in cells}
        if not parents <= self.held:
            self.lock(sorted(parents))

    # -- reads ---------------------------------------------------------------------------

    def candidates(self, reach: Reach) -> Candidates:
        unique = set(reach.keys(self.store.layers, self.store.spec))
        if not unique:
            return Candidates.of(())
        self._lock_cells({key[0] for key in unique})
        # Not ``unique - self._known.keys()``: that copies every key known so far.
        missing = {key for key in unique if key not in self._known}
        if missing:
            self._fetch(missing)
        known = self._known
        # By identity: one HeldVolume object per held volume in this transaction.
        return Candidates.of({id(held): held for key in unique for held in known[key]}.values())

    def _fetch(self, keys: set[Key]) -> None:
        """Read what is held under ``keys`` into ``_known`` (exactly those keys: the engine
        asks for a whole route's at once)."""
        ordered = sorted(keys)
        rows = self._run(_CANDIDATES_SQL, ([k[0] for k in ordered], [k[1] for k in ordered],
                                           [k[2] for k in ordered]),
                         "reading candidates", binary=True)  # binary: arrays parse faster
        read: dict[Key, list[HeldVolume]] = {key: [] for key in ordered}
        volumes = self.store.volumes_by_rev({row[2] for row in rows}, self._run)
        for flight_id, index, rev, state, priority, held_cells, held_layers, held_buckets \
                in rows:
            held = self._held.get((flight_id, index))
            if held is None:
                held = HeldVolume(flight_id, index, volumes[rev], Priority(priority).rank,
                                  FlightState(state))
                self._held[(flight_id, index)] = held
            for key in zip(held_cells, held_layers, held_buckets, strict=True):
                read[key].append(held)
        self._known.update(read)

    def held_between(self, start_time: datetime, end_time: datetime) -> Iterator[HeldVolume]:
        """Every held volume overlapping ``[start_time, end_time)`` (the benchmark's naive
        baselines). It locks nothing of its own: across nodes it is only as safe as the lock
        keys the caller took (``put_flight`` still locks what it writes)."""
        rows = self._run(
            "SELECT v.flight_id, v.volume_index, v.rev, f.state, f.priority FROM volumes v"
            " JOIN flights f ON f.id = v.flight_id"
            " WHERE v.start_time < %s AND %s < v.end_time",
            (end_time, start_time), "reading held volumes")
        volumes = self.store.volumes_by_rev({row[2] for row in rows}, self._run)
        for flight_id, index, rev, state, priority in rows:
            held = self._held.get((flight_id, index))
            if held is None:
                held = HeldVolume(flight_id, index, volumes[rev], Priority(priority).rank,
                                  FlightState(state))
                self._held[(flight_id, index)] = held
            yield held

    def pad_slots(self, vertiport_id: str, start_time: datetime,
                  end_time: datetime) -> list[HeldPadSlot]:
        known = self._pads.get(vertiport_id)
        if known is None or not (known[0] <= start_time and end_time <= known[1]):
            # The engine asks about one vertiport many times over a window: read around it.
            low, high = start_time - PAD_READ_MARGIN, end_time + PAD_READ_MARGIN
            rows = self._run(
                "SELECT flight_id, pad, lower(during), upper(during) FROM pad_slots"
                " WHERE vertiport_id = %s AND during && tstzrange(%s, %s, '[)')",
                (vertiport_id, low, high), "reading pad slots")
            known = (low, high, [HeldPadSlot(flight_id, vertiport_id, pad, start, end)
                                 for flight_id, pad, start, end in rows])
            self._pads[vertiport_id] = known
        return [slot for slot in known[2]
                if slot.start_time < end_time and start_time < slot.end_time]

    def get_flight(self, flight_id: str) -> Flight | None:
        rows = self._run("SELECT doc FROM flights WHERE id = %s FOR UPDATE", (flight_id,),
                         "reading a flight")
        return Flight.from_doc(rows[0][0]) if rows else None

    # -- writes --------------------------------------------------------------------------

    def put_flight(self, flight: Flight) -> None:
        holds = flight.state in HOLDS_AIRSPACE and bool(flight.volumes)
        self._known.clear()
        self._held.clear()
        self._pads.clear()
        spec, layers = self.store.spec, self.store.layers
        key_rows: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
        if holds:
            all_cells: set[int] = set()
            for position, volume in enumerate(flight.volumes):
                cells = footprint_cells(volume, spec)
                all_cells |= cells
                for cell, layer, bucket in volume_keys(volume, cells, layers, spec):
                    key_rows[0].append(cell)
                    key_rows[1].append(layer)
                    key_rows[2].append(bucket)
                    key_rows[3].append(position)
            self._lock_cells(all_cells)
        doc = orjson.dumps(flight.to_doc()).decode()
        try:
            with self.connection.pipeline(), self.connection.cursor() as cursor:
                cursor.execute("DELETE FROM volume_keys WHERE flight_id = %s", (flight.id,))
                cursor.execute("DELETE FROM volumes WHERE flight_id = %s", (flight.id,))
                cursor.execute("DELETE FROM pad_slots WHERE flight_id = %s", (flight.id,))
                cursor.execute(
                    f"INSERT INTO flights ({_FLIGHT_COLUMNS})"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"
                    " ON CONFLICT (id) DO UPDATE SET operator_id = EXCLUDED.operator_id,"
                    " state = EXCLUDED.state, priority = EXCLUDED.priority,"
                    " approval_id = EXCLUDED.approval_id,"
                    " jurisdictions = EXCLUDED.jurisdictions,"
                    " departure_time = EXCLUDED.departure_time,"
                    " arrival_time = EXCLUDED.arrival_time, doc = EXCLUDED.doc",
                    (flight.id, flight.operator_id, flight.state.value, flight.priority.value,
                     flight.approval_id, list(flight.jurisdictions), flight.departure_time,
                     flight.arrival_time, doc),
                )
                if holds:
                    cursor.execute(
                        "INSERT INTO volumes (flight_id, volume_index, start_time, end_time, doc)"
                        " SELECT %s, t.i - 1, t.s, t.e, t.d::jsonb FROM unnest(%s::text[],"
                        " %s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS t (d, s, e, i)",
                        (flight.id, [orjson.dumps(v.to_json()).decode() for v in flight.volumes],
                         [v.start_time for v in flight.volumes],
                         [v.end_time for v in flight.volumes]),
                    )
                    cursor.execute(
                        "INSERT INTO volume_keys (cell, layer, bucket, flight_id, volume_index)"
                        " SELECT t.c, t.l, t.b, %s, t.i FROM unnest(%s::bigint[],"
                        " %s::smallint[], %s::int[], %s::int[]) AS t (c, l, b, i)",
                        (flight.id, *key_rows),
                    )
                    if flight.pad_slots:
                        cursor.execute(
                            "INSERT INTO pad_slots (vertiport_id, pad, during, flight_id)"
                            " SELECT t.v, t.p, tstzrange(t.s, t.e, '[)'), %s FROM"
                            " unnest(%s::text[], %s::int[], %s::timestamptz[],"
                            " %s::timestamptz[]) AS t (v, p, s, e)",
                            (flight.id, [s.vertiport_id for s in flight.pad_slots],
                             [s.pad for s in flight.pad_slots],
                             [s.start_time for s in flight.pad_slots],
                             [s.end_time for s in flight.pad_slots]),
                        )
        except psycopg.Error as error:
            raise _store_error(error, "writing a flight", writing=True,
                               lock_keys=self.held) from error

    def put_record(self, kind: str, record_id: str, doc: dict[str, Any],
                   jurisdiction: str | None, time: datetime) -> None:
        self._run(
            "INSERT INTO records (kind, id, jurisdiction, time, doc)"
            " VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT (kind, id) DO UPDATE SET"
            " jurisdiction = EXCLUDED.jurisdiction, time = EXCLUDED.time, doc = EXCLUDED.doc",
            (kind, record_id, jurisdiction, time, orjson.dumps(doc).decode()),
            "writing a record")

    def audit(self, time: datetime, actor: str, action: str, flight_id: str | None,
              detail: dict[str, Any]) -> None:
        self._run(
            "INSERT INTO audit (time, actor, action, flight_id, detail)"
            " VALUES (%s, %s, %s, %s, %s::jsonb)",
            (time, actor, action, flight_id, orjson.dumps(detail).decode()), "auditing")


class PostgresStore:
    """The shared store of several nodes (see the module docstring)."""

    uses_lock_keys = True

    def __init__(self, url: str, layers: AltitudeLayers, spec: IndexSpec, *,
                 pool_size: int | None = None, acquire_timeout_s: float = 30.0) -> None:
        self.url = url
        self.layers = layers
        self.spec = spec
        size = pool_size or int(os.environ.get("UTM_POSTGRES_POOL_SIZE", "8"))
        self._pool = _Pool(url, max(2, size), acquire_timeout_s)
        self._local = threading.local()
        self._volumes: dict[int, Volume4D] = {}
        self._migrate()

    # -- schema --------------------------------------------------------------------------

    def _migrate(self) -> None:
        connection, _ = self._pool.acquire()
        try:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
                if connection.execute("SELECT 1 FROM pg_extension"
                                      " WHERE extname = 'btree_gist'").fetchone() is None:
                    connection.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
                connection.execute("CREATE TABLE IF NOT EXISTS meta"
                                   " (key text PRIMARY KEY, value text NOT NULL)")
                row = connection.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                current = int(row[0]) if row else 0
                if current > SCHEMA_VERSION:
                    raise StoreUnavailableError(
                        f"the database schema is version {current}; this code knows up to "
                        f"{SCHEMA_VERSION}: upgrade the code")
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    connection.execute(MIGRATIONS[version - 1])
                    connection.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
                        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        (str(version),))
        except psycopg.Error as error:
            hint = (" (the btree_gist extension is needed: CREATE EXTENSION btree_gist as a "
                    "superuser)" if "btree_gist" in str(error) or error.sqlstate == "42501"
                    else "")
            raise StoreUnavailableError(
                f"cannot prepare the PostgreSQL schema: {error}{hint}") from error
        finally:
            self._pool.release(connection)

    # -- volumes -------------------------------------------------------------------------

    def volumes_by_rev(self, revs: set[int], run: Callable[..., list[tuple[Any, ...]]]
                       ) -> dict[int, Volume4D]:
        """Volumes by ``rev``, read with ``run`` only if not cached. A rev names one row's
        content forever (``put_flight`` deletes and inserts, never updates), so the cache
        cannot be stale; it saves sending and parsing the same GeoJSON for every decision."""
        found = {rev: volume for rev in revs if (volume := self._volumes.get(rev)) is not None}
        missing = [rev for rev in revs if rev not in found]
        if missing:
            rows = run("SELECT rev, doc FROM volumes WHERE rev = ANY(%s::bigint[])",
                       (missing,), "reading volumes")
            if len(self._volumes) + len(rows) > VOLUME_CACHE_LIMIT:
                self._volumes.clear()
            for rev, doc in rows:
                volume = Volume4D.from_json(doc)
                self._volumes[rev] = found[rev] = volume
        return found

    def forget_before(self, instant: datetime) -> int:
        """Nothing to forget: no held volume is cached between transactions."""
        return 0

    # -- transactions --------------------------------------------------------------------

    def _begin(self, keys: list[int]) -> Connection:
        """A connection with a transaction open and ``keys`` locked; a pooled connection that
        turns out dead is replaced once (nothing had been done on it yet)."""
        for attempt in range(2):
            connection, new = self._pool.acquire()
            try:
                connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                if keys:
                    connection.execute(
                        "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k",
                        (keys,))
                return connection
            except psycopg.Error as error:
                self._rollback(connection)
                self._pool.release(connection)
                if _is_connection_error(error):
                    self._pool.discard_idle()
                    if attempt == 0 and not new:
                        continue
                raise _store_error(error, "starting a transaction", writing=True,
                                   lock_keys=keys) from error
            except BaseException:
                self._rollback(connection)
                self._pool.release(connection)
                raise
        raise AssertionError("unreachable")

    @staticmethod
    def _rollback(connection: Connection) -> None:
        if connection.closed or connection.broken:
            return
        with suppress(psycopg.Error):
            connection.execute("ROLLBACK")

    @contextmanager
    def transaction(self, lock_keys: Sequence[int] = ()) -> Iterator[_PostgresTransaction]:
        """A write transaction holding advisory locks on ``lock_keys`` (taken in order)."""
        if getattr(self._local, "transaction", None) is not None:
            raise RuntimeError("a transaction is already open in this thread")
        keys = sorted(set(lock_keys))
        connection = self._begin(keys)
        transaction = _PostgresTransaction(self, connection, set(keys))
        self._local.transaction = transaction
        try:
            try:
                yield transaction
            except BaseException as error:
                self._rollback(connection)
                if isinstance(error, StoreWriteError) and error.reason == "read_only":
                    # A session keeps the read-only default it started with: drop it (and,
                    # below, the idle ones) so that writes work again once the database does.
                    with suppress(psycopg.Error):
                        connection.close()
                raise
            try:
                connection.execute("COMMIT")
            except psycopg.Error as error:
                self._rollback(connection)
                raise _store_error(error, "committing", writing=True,
                                   lock_keys=transaction.held) from error
        finally:
            self._local.transaction = None
            if connection.closed or connection.broken:
                self._pool.discard_idle()
            self._pool.release(connection)

    # -- reads -----------------------------------------------------------------------------

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one statement: in this thread's transaction if one is open, else in its
        own (autocommit) on a pooled connection, reconnecting once if that one is dead."""
        transaction: _PostgresTransaction | None = getattr(self._local, "transaction", None)
        if transaction is not None:
            return transaction._run(sql, parameters, "reading")
        for attempt in range(2):
            connection, new = self._pool.acquire()
            try:
                cursor = connection.execute(sql, parameters)
                return cursor.fetchall() if cursor.description is not None else []
            except psycopg.Error as error:
                if _is_connection_error(error):
                    self._pool.discard_idle()
                    if attempt == 0 and not new:
                        continue
                raise _store_error(error, "reading", writing=False) from error
            finally:
                self._pool.release(connection)
        raise AssertionError("unreachable")

    def get_flight(self, flight_id: str) -> Flight | None:
        rows = self._read("SELECT doc FROM flights WHERE id = %s", (flight_id,))
        return Flight.from_doc(rows[0][0]) if rows else None

    def find_by_approval(self, approval_id: str) -> Flight | None:
        rows = self._read("SELECT doc FROM flights WHERE approval_id = %s LIMIT 1",
                          (approval_id,))
        return Flight.from_doc(rows[0][0]) if rows else None

    def list_flights(self, *, operator_id: str | None = None,
                     jurisdictions: Sequence[str] | None = None,
                     states: Sequence[FlightState] | None = None,
                     after_id: str | None = None, limit: int = 100) -> list[Flight]:
        filters = _flight_filters(operator_id, jurisdictions, states)
        if filters is None:
            return []
        clauses, parameters = filters
        if after_id is not None:
            clauses.append("id > %s")
            parameters.append(after_id)
        rows = self._read(
            f"SELECT doc FROM flights WHERE {' AND '.join(clauses)} ORDER BY id LIMIT %s",
            [*parameters, limit],
        )
        return [Flight.from_doc(doc) for (doc,) in rows]

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
        # The document's instants (milliseconds), so that both stores agree to the edge; the
        # columns keep the microseconds the engine computed.
        if end_time is not None:
            clauses.append("(doc->>'departure_time')::timestamptz < %s")
            parameters.append(end_time)
        if start_time is not None:
            clauses.append("departure_time IS NOT NULL"
                           " AND (doc->>'arrival_time')::timestamptz > %s")
            parameters.append(start_time)
        if after_id is not None:
            clauses.append("id > %s")
            parameters.append(after_id)
        rows = self._read(
            "SELECT id, state, priority, operator_id, jurisdictions, doc->>'departure_time',"
            " doc->>'arrival_time', doc->'route'->'legs',"
            " CASE WHEN doc->'plan'->>'kind' = 'area'"
            " THEN doc->'volumes'->0->'outline'->'coordinates'->0 END FROM flights"
            f" WHERE {' AND '.join(clauses)} ORDER BY id LIMIT %s",
            [*parameters, limit],
        )
        return [
            FlightSummary(
                id=flight_id, state=FlightState(state), priority=Priority(priority),
                operator_id=operator, jurisdictions=tuple(cities),
                departure_time=parse_instant(departure) if departure else None,
                arrival_time=parse_instant(arrival) if arrival else None,
                path=route_legs_doc_to_path(legs) if legs else (
                    outline_ring_to_path(ring) if ring else ()),
            )
            for flight_id, state, priority, operator, cities, departure, arrival, legs, ring
            in rows
        ]

    def list_records(self, kind: str, *, jurisdictions: Sequence[str] | None = None,
                     after_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        clauses: list[str] = ["kind = %s"]
        parameters: list[Any] = [kind]
        if jurisdictions is not None:
            if not jurisdictions:
                return []
            clauses.append("jurisdiction = ANY(%s::text[])")
            parameters.append(list(jurisdictions))
        if after_id is not None:
            clauses.append("id > %s")
            parameters.append(after_id)
        rows = self._read(
            f"SELECT doc FROM records WHERE {' AND '.join(clauses)} ORDER BY id LIMIT %s",
            [*parameters, limit],
        )
        return [doc for (doc,) in rows]

    def list_audit(self, *, flight_id: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
        if flight_id is None:
            rows = self._read("SELECT time, actor, action, flight_id, detail FROM audit"
                              " ORDER BY seq LIMIT %s", (limit,))
        else:
            rows = self._read("SELECT time, actor, action, flight_id, detail FROM audit"
                              " WHERE flight_id = %s ORDER BY seq LIMIT %s", (flight_id, limit))
        return [{"time": format_instant(t), "actor": a, "action": act, "flight_id": f,
                 "detail": d} for t, a, act, f, d in rows]

    def meta(self, key: str, default: str) -> str:
        # Read first: a node on a read-only database (a standby) that has the setting starts.
        rows = self._read("SELECT value FROM meta WHERE key = %s", (key,))
        if not rows:
            self._read("INSERT INTO meta (key, value) VALUES (%s, %s)"
                       " ON CONFLICT (key) DO NOTHING", (key, default))
            rows = self._read("SELECT value FROM meta WHERE key = %s", (key,))
        return str(rows[0][0])

    def close(self) -> None:
        self._pool.close()


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "PostgresStore"]
