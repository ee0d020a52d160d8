"""The engine: plan, deconflict, apply every city's policy, reserve, and keep flights' lives.

``submit(plan, now)`` returns a ``Flight`` whose ``decision`` says what happened; rejections
are outcomes, not exceptions. Every decision is one store transaction: the flight with its
volumes and pad slots, any flights it preempted or re-planned, and the audit entries commit
together or not at all.

Domain code never reads the clock: every call takes ``now``.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from shapely.geometry import Point
from shapely.strtree import STRtree

from airspace import Airspace, AirspaceClass
from airspace.geo import latlng_to_xy_m, lnglat_to_metric, metric_to_lnglat
from airspace.grid import Cell, shape_to_cells
from airspace.timing import format_instant, require_aware
from routes import (
    FlightBuffers,
    NoRouteError,
    Planner,
    Route,
    RouteRequest,
    RoutingError,
    Volume4D,
    route_to_volumes,
)
from routes.volumes import footprints_intersect
from utm import expiry, policy, replanning
from utm.approvals import ApprovalSigner, approval_payload, new_private_key_text
from utm.constraints import Constraint
from utm.detours import AvoidAreas
from utm.errors import (
    FlightNotFoundError,
    InvalidConstraintError,
    InvalidPlanError,
    InvalidTelemetryError,
    InvalidTransitionError,
    ReviewNotFoundError,
    StoreConflictError,
    StoreUnavailableError,
    StoreWriteError,
)
from utm.events import Event, flight_event
from utm.flights import Conflict, Decision, Flight, PadSlot, Reason, ReviewStatus
from utm.plans import AnyPlan, AreaPlan, FlightPlan, Priority
from utm.slots import PREEMPTABLE_STATES, Blockers, FootprintCache, Interval
from utm.states import HOLDS_AIRSPACE, FlightState, check_transition
from utm.storage.base import Candidates, Store, Transaction, all_summaries
from utm.storage.keys import IndexSpec, Reach, footprint_cells

VOLUME_CACHE_LIMIT = 5_000
"""Routes whose volumes are kept for reuse (see ``_volumes_at``)."""

POSITION_MEMORY_WINDOWS = 10
"""Last positions older than this many separation windows before a new report are dropped."""

STORE_CONFLICT_RETRIES = 5
"""A decision that met another writer (``StoreConflictError``: nothing was stored) is made
again up to this many times, taking every lock the failed attempt needed up front."""

_T = TypeVar("_T")

log = logging.getLogger("utm.engine")

LOCK_MARGIN_M = 1000.0
"""Routes lock every lock-resolution cell within this distance (see ``_lock_keys``)."""

FORGET_AFTER = timedelta(hours=1)
"""The store may drop from its cache the flights that ended this long before now (see
``Engine._forget_past``): a node that runs for weeks keeps in memory what is still ahead, not
every flight it ever approved."""

FORGET_EVERY = timedelta(minutes=1)
"""How often (by the clock decisions are made at) the store is told to forget."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Tunable behaviour of the engine."""

    buffers: FlightBuffers = field(default_factory=FlightBuffers)
    cruise_options_agl_m: tuple[float, ...] = (45.0, 75.0, 105.0)
    """Free-flight altitudes tried in turn (centres of the 30 m layers below 120 m)."""
    max_delay_steps: int = 40
    """How many later departures are tried per route before giving up on it."""
    conformance_tolerance_m: float = 10.0
    """A position this far outside the flight's volumes is still conforming."""
    overdue_after_s: float = 120.0
    """An active flight not ended this long after its last volume ended is nonconforming
    (``Engine.flag_overdue``)."""
    separation_horizontal_m: float = 30.0
    separation_vertical_m: float = 10.0
    separation_window_s: float = 5.0
    """Two positions closer than the minima, reported within this time, raise an alert."""
    candidate_strategy: str = "index"
    """How held volumes that might conflict are found: ``index`` (H3 cell, layer and time
    bucket: the engine), or the naive baselines of the benchmark: ``scan`` (every held volume
    overlapping in time) and ``strtree`` (those, in a shapely STRtree built per request).
    Exact geometry decides in every case, so all three reach identical decisions."""


@dataclass(frozen=True, slots=True)
class ApprovalCheck:
    """The answer to "is this approval genuine and current"."""

    valid: bool
    approval_id: str
    flight_id: str | None = None
    state: str | None = None
    jurisdictions: tuple[str, ...] = ()
    issued_time: datetime | None = None
    signature: str | None = None
    reason: str = ""


@dataclass(slots=True)
class _Slot:
    route: Route
    departure_time: datetime
    volumes: list[Volume4D]
    pad_slots: list[PadSlot]
    preempted: set[str]


@dataclass(slots=True)
class _Search:
    slot: _Slot | None
    conflicts: list[Conflict]
    conflicting_volumes: list[Volume4D]


class Engine:
    """Decides flight plans over one airspace and one store. Thread-safe."""

    def __init__(self, airspace: Airspace, store: Store, *, planner: Planner | None = None,
                 config: EngineConfig | None = None) -> None:
        self.airspace = airspace
        self.store = store
        self.config = config or EngineConfig()
        self.planner = planner or Planner(airspace, buffers=self.config.buffers)
        self.spec: IndexSpec = store.spec
        self.signer = ApprovalSigner(store.meta("approval_signing_key", new_private_key_text()))
        self.listeners: list[Callable[[Event], None]] = []
        self._lock = threading.RLock()
        self._constraint_ids: set[str] = set()
        self._positions: dict[str, tuple[datetime, float, float, float]] = {}
        self._volumes: dict[int, tuple[Route, datetime, list[Volume4D]]] = {}
        self._footprints = FootprintCache()
        self._avoid = AvoidAreas()
        self._forgotten_at: datetime | None = None
        self._replan_queue: dict[str, None] = dict.fromkeys(replanning.pending_in(store))
        """Flights released by an emergency, in order, to re-plan (``run_replans``)."""
        self.sync_constraints()

    # -- events -------------------------------------------------------------------------

    def _emit(self, events: Sequence[Event]) -> None:
        for event in events:
            for listener in list(self.listeners):
                listener(event)

    # -- constraints shared through the store -----------------------------------------------

    def sync_constraints(self) -> None:
        """Bring temporary zones in step with the constraints in the store (other nodes may
        have issued some)."""
        with self._lock:
            docs = self.store.list_records("constraint", limit=10_000)
            for doc in docs:
                if doc["id"] not in self._constraint_ids:
                    if doc["id"] not in self.airspace.zones:  # another engine may share it
                        self.airspace.add_zone(Constraint.from_doc(doc).to_zone())
                    self._constraint_ids.add(doc["id"])

    def _forget_past(self, now: datetime) -> None:
        """Tell the store it may drop the flights that ended ``FORGET_AFTER`` before ``now``
        (at most once per ``FORGET_EVERY``). Decisions do not change: a plan departs after
        now, and a question about earlier times (an area plan that began hours ago, a clock
        set back) is answered from the database (``Store.forget_before``). Told before
        anything else after start-up, a SQLite store reads only the flights held from then on
        (``utm.storage.sqlite``)."""
        with self._lock:
            last = self._forgotten_at
            if last is not None and timedelta(0) <= now - last < FORGET_EVERY:
                return
            self._forgotten_at = now
            self.store.forget_before(now - FORGET_AFTER)

    def check_store(self) -> None:
        """Read from the store now (a flight that cannot exist): for readiness probes.

        Raises
        ------
        StoreUnavailableError
            If the database cannot be reached.
        """
        self.store.get_flight("readiness-probe")

    # -- submit ---------------------------------------------------------------------------

    def submit(self, plan: FlightPlan, now: datetime, actor: str | None = None, *,
               replan_later: bool = False) -> Flight:
        """Decide a flight plan: approved, pending_review or rejected, with reasons.

        An emergency's decision commits with the flights it preempted released
        (``utm.replanning``); they are re-planned before this returns, or with
        ``replan_later`` by the next ``run_replans`` (or before the next decision): the
        emergency's operator then has the answer without waiting for them.

        Raises
        ------
        InvalidPlanError
            For a plan that cannot be decided as filed (times, unknown vertiport, endpoints
            outside the service area or in prohibited airspace).
        """
        now = require_aware(now, "now")
        plan.check_horizon(now)
        # Released flights first: no later plan takes their room (and before anything, the
        # store is told what to forget: a store not read yet then reads only what is ahead).
        self.run_replans(now)
        self.sync_constraints()
        flight_id = new_flight_id(now)
        routes = self._routes_as_filed(plan)

        def decide(tx: Transaction, events: list[Event]) -> Flight:
            # Constraints issued on another node: read again now that the locks are held, so
            # none issued before this transaction can be missed.
            self.sync_constraints()
            flight = self._decide(tx, flight_id, plan, routes, now, None, events)
            tx.audit(now, actor or plan.operator_id, "submit", flight.id,
                     {"decision": flight.decision.to_json()})
            return flight

        flight = self._in_transaction(self._lock_keys(routes, plan), decide)
        if not replan_later:
            try:
                self.run_replans(now)
            except (StoreUnavailableError, StoreWriteError, StoreConflictError) as error:
                # The decision above is stored and stands; the released flights stay queued.
                log.warning("re-planning preempted flights failed, will retry: %s", error)
        return flight

    def run_replans(self, now: datetime) -> list[Flight]:
        """Re-plan the flights emergencies released (``utm.replanning``), each in a
        transaction of its own, in the order they were released; returns them as they end
        up (approved, pending review, or replan_required: file it again)."""
        now = require_aware(now, "now")
        self._forget_past(now)  # (a node's first work after start-up: see ``_forget_past``)
        replanned: list[Flight] = []
        while True:
            with self._lock:
                if not self._replan_queue:
                    return replanned
                flight_id = next(iter(self._replan_queue))
                try:
                    flight = self._in_transaction((), partial(replanning.replan, self,
                                                              flight_id=flight_id, now=now))
                except (StoreUnavailableError, StoreWriteError, StoreConflictError):
                    raise  # stays queued: tried again once the store answers
                except Exception:
                    # Nothing was stored; one flight that cannot be re-planned must not stop
                    # every later decision: it stays replan_required, its operator files again.
                    log.exception("re-planning flight %s failed; left replan_required",
                                  flight_id)
                    flight = None
                self._replan_queue.pop(flight_id, None)
            if flight is not None:
                replanned.append(flight)

    def _in_transaction(self, lock_keys: Sequence[int],
                        body: Callable[[Transaction, list[Event]], _T]) -> _T:
        """Run ``body`` in one store transaction holding ``lock_keys``, and emit the events
        it collected once committed. On ``StoreConflictError`` (another node got in the way;
        nothing was stored) run it again with fresh events, taking every lock the failed
        attempt held or wanted up front, after a short random pause."""
        keys = sorted(set(lock_keys))
        for attempt in range(STORE_CONFLICT_RETRIES + 1):
            events: list[Event] = []
            with self._lock:
                try:
                    with self.store.transaction(keys) as tx:
                        result = body(tx, events)
                except StoreConflictError as error:
                    if attempt == STORE_CONFLICT_RETRIES:
                        raise
                    keys = sorted(set(keys) | set(error.lock_keys))
                else:
                    self._replan_queue.update(dict.fromkeys(
                        event.flight_id for event in events
                        if event.kind == "preempted" and event.flight_id is not None))
                    self._emit(events)
                    return result
            time.sleep(random.uniform(0.0, 0.002 * 2 ** attempt))
        raise AssertionError("unreachable")

    def submit_area(self, plan: AreaPlan, now: datetime, *, flight_id: str | None = None,
                    actor: str | None = None, mode: str = "keep") -> Flight:
        """Decide an area-based plan: the operator's own 4-D volumes, neither moved nor
        re-routed, held to the same invariants as routed plans (``utm.area_plans``).

        Parameters
        ----------
        flight_id
            An existing area-based flight (approved or pending review) to give the new
            volumes to; None files a new plan.
        mode
            ``keep`` stores the decision whatever it is; ``if_approved`` stores it only if
            approved outright (a new plan that is not is recorded as rejected, an update that
            is not leaves the flight as it was); ``dry_run`` stores nothing.

        Raises
        ------
        InvalidPlanError
            Volumes outside the service area, too large to index, beyond the planning horizon
            or all in the past; ``flight_id`` naming a routed plan.
        InvalidTransitionError
            ``flight_id`` naming a flight that is neither approved nor pending review.
        """
        from utm import area_plans

        now = require_aware(now, "now")
        self.run_replans(now)
        flight = area_plans.submit(self, plan, now, flight_id=flight_id, actor=actor,
                                   mode=area_plans.AreaMode(mode))
        self.run_replans(now)
        return flight

    def evaluate(self, plan: FlightPlan, now: datetime) -> Flight:
        """What ``submit`` would decide now, without storing anything (a dry run: the
        transaction is rolled back). For "hypothetical" plans and for benchmarks. Flights an
        emergency released are re-planned first, as ``submit`` would."""
        now = require_aware(now, "now")
        plan.check_horizon(now)
        self.run_replans(now)
        self.sync_constraints()
        routes = self._routes_as_filed(plan)
        outcome: list[Flight] = []
        with self._lock:
            try:
                with self.store.transaction(self._lock_keys(routes, plan)) as tx:
                    outcome.append(self._decide(tx, new_flight_id(now), plan, routes, now,
                                                None, []))
                    raise _DryRun
            except _DryRun:
                pass
        return outcome[0]

    def route_as_filed(self, plan: FlightPlan) -> Route | None:
        """The route the plan would fly if nothing were in its way: the cheapest path at its
        preferred cruise altitude, planned as a decision plans it first (remembered, so this
        is cheap after a decision). What a decision's re-routing and altitude change are
        measured against; None if no route avoids the airspace the plan must avoid."""
        routes = self._routes_as_filed(plan)
        return routes[0] if routes else None

    def _routes_as_filed(self, plan: FlightPlan) -> list[Route]:
        """The preferred route from the plan's earliest departure (none if no route avoids
        what the plan must avoid): what a decision searches first."""
        return self._route_options(plan, plan.earliest_departure_time, (), preferred_only=True)

    def _route_options(self, plan: FlightPlan, departure_time: datetime,
                       avoid_m: Sequence[Any], *, preferred_only: bool = False) -> list[Route]:
        """Routes at each cruise altitude the drone may fly (preferred first)."""
        preferred = plan.cruise_agl_m
        altitudes = [a for a in self.config.cruise_options_agl_m
                     if a <= plan.drone.performance.max_height_agl_m - 5.0]
        if preferred is not None:
            altitudes = [preferred] + [a for a in altitudes if a != preferred]
        if not altitudes:
            altitudes = [max(10.0, plan.drone.performance.max_height_agl_m - 5.0)]
        allowed = (frozenset({AirspaceClass.CONTROLLED, AirspaceClass.RESTRICTED})
                   if plan.allow_review_airspace else frozenset())
        routes: list[Route] = []
        for cruise_agl_m in altitudes[:1] if preferred_only else altitudes:
            request = RouteRequest(plan.origin, plan.destination, departure_time,
                                   plan.drone.performance, cruise_agl_m=cruise_agl_m,
                                   allowed_classes=allowed, avoid_m=tuple(avoid_m))
            try:
                # The horizontal path does not depend on the free-flight altitude: search
                # once, then lift the same path to the other layers.
                routes.append(self.planner.at_cruise_altitude(routes[0], request) if routes
                              else self.planner.plan(request))
            except NoRouteError:
                continue
            except RoutingError as error:
                raise InvalidPlanError(str(error), field=_routing_field(error)) from error
        return routes

    def _lock_keys(self, routes: Sequence[Route], plan: FlightPlan) -> list[int]:
        """Lock-resolution cells around the routes (a superset of the parents of every index
        cell their volumes touch, so two writers that share a cell share a lock)."""
        if not self.store.uses_lock_keys:
            return []
        cells: set[Cell] = set()
        for route in routes:
            line_m = lnglat_to_metric(route.to_linestring())
            area = metric_to_lnglat(line_m.buffer(LOCK_MARGIN_M, quad_segs=2))
            cells |= shape_to_cells(area, self.spec.lock_resolution)
        return sorted(cells)

    def _decide(self, tx: Transaction, flight_id: str, plan: FlightPlan, routes: list[Route],
                now: datetime, previous: Flight | None, events: list[Event]) -> Flight:
        """Search a slot, apply policies, write the flight (and what it preempted)."""
        changes: list[str] = []
        if not routes:
            return self._reject(tx, flight_id, plan, now, previous, events,
                                [Reason("no_route", "no route avoids prohibited airspace"
                                        + ("" if plan.allow_review_airspace else
                                           " and airspace that needs review"))], [])
        cities = self._cities(routes[0], plan.earliest_departure_time)
        lead_s = policy.required_lead_s(self.airspace, cities, plan)
        earliest = max(plan.earliest_departure_time, now + timedelta(seconds=lead_s))
        if previous is not None:
            earliest = max(earliest, now)
        earliest = _ceil_second(earliest)
        if earliest > plan.latest_departure_time:
            strictest = max(cities, key=lambda city: (
                self.airspace.jurisdictions[city].policy.min_lead_time_s))
            return self._reject(tx, flight_id, plan, now, previous, events, [Reason(
                "lead_time", f"{strictest} needs plans filed {lead_s:.0f} s before departure; "
                f"the latest departure {format_instant(plan.latest_departure_time)} is too "
                "soon", strictest)], [], tuple(cities))
        search = self._search(tx, plan, routes, earliest)
        # Other layers and detours take off from the same pads: if those are full for the
        # whole window, none of them could fit.
        hopeless = search.slot is None and not self._takeoff_possible(tx, plan, routes[0],
                                                                       earliest)
        if not hopeless and (search.slot is None or search.slot.departure_time > earliest):
            # Another altitude layer may be free now where this one is not.
            others = [r for r in self._route_options(plan, earliest, ())
                      if r.cruise_agl_m not in {route.cruise_agl_m for route in routes}]
            if others:
                tx.lock(self._lock_keys(others, plan))
                routes = [*routes, *others]
                search = self._search(tx, plan, others, earliest, search)
        if not hopeless and search.slot is None and search.conflicting_volumes:
            # Another route around the conflict: keep out of the volumes that were in the way.
            detours = self._route_options(plan, earliest,
                                          self._avoid.around(search.conflicting_volumes,
                                                             self.config.buffers.horizontal_m))
            if detours:
                tx.lock(self._lock_keys(detours, plan))
                detour_search = self._search(tx, plan, detours, earliest)
                if detour_search.slot is not None:
                    search = detour_search
                    changes.append("route changed to go around other flights")
        if search.slot is None:
            reasons = [Reason("no_slot", "no departure in the window avoids every other "
                              "flight, pad and zone")]
            return self._reject(tx, flight_id, plan, now, previous, events, reasons,
                                search.conflicts)
        slot = search.slot
        delay_s = (slot.departure_time - plan.earliest_departure_time).total_seconds()
        if delay_s >= 1.0:
            changes.append(f"departure moved {delay_s:.0f} s later, to "
                           f"{format_instant(slot.departure_time)}")
        if slot.route.cruise_agl_m != routes[0].cruise_agl_m and slot.route is not routes[0]:
            changes.append(f"cruise altitude {slot.route.cruise_agl_m:.0f} m AGL instead of "
                           f"{routes[0].cruise_agl_m:.0f} m")
        verdicts = policy.evaluate(self.airspace, plan, slot.volumes, slot.departure_time, now,
                                   self.config.buffers)
        outcome = policy.strictest(verdicts)
        reasons = [reason for verdict in verdicts for reason in verdict.reasons]
        jurisdictions = tuple(verdict.jurisdiction for verdict in verdicts)
        if outcome is policy.Outcome.REFUSE:
            return self._reject(tx, flight_id, plan, now, previous, events,
                                [r for r in reasons if r.code != "class_review"], [],
                                jurisdictions)
        reviews, state = policy.reviews_and_state(verdicts)
        if previous is not None:
            check_transition(previous.state, state)
        approval_id = previous.approval_id if previous and previous.approval_id else (
            new_approval_id())
        flight = Flight(
            id=flight_id, plan=plan, state=state,
            decision=Decision(state, tuple(reasons), tuple(changes)),
            created_time=previous.created_time if previous else now,
            updated_time=now,
            approval_id=approval_id,
            departure_time=slot.departure_time,
            arrival_time=slot.departure_time + timedelta(seconds=slot.route.duration_s),
            route=slot.route,
            volumes=tuple(slot.volumes),
            pad_slots=tuple(slot.pad_slots),
            jurisdictions=jurisdictions,
            reviews=reviews,
            notes=previous.notes if previous else (),
            version=previous.version + 1 if previous else 1,
        )
        if state is FlightState.APPROVED:
            flight = self._signed(flight, now)
        tx.put_flight(flight)
        events.append(flight_event("decision", flight, now))
        if slot.preempted:
            replanning.release(tx, sorted(slot.preempted), flight, now, events)
        return flight

    def _cities(self, route: Route, departure_time: datetime) -> list[str]:
        return [j.id for j in self.airspace.jurisdictions_crossed(route.to_linestring())]

    def _reject(self, tx: Transaction, flight_id: str, plan: AnyPlan, now: datetime,
                previous: Flight | None, events: list[Event], reasons: list[Reason],
                conflicts: list[Conflict], jurisdictions: tuple[str, ...] = ()) -> Flight:
        if previous is not None:
            # A flight that held airspace and cannot be re-planned must be filed again.
            flight = previous.evolve(
                state=FlightState.REPLAN_REQUIRED, volumes=(), pad_slots=(), updated_time=now,
                decision=Decision(FlightState.REPLAN_REQUIRED, tuple(reasons), (),
                                  tuple(conflicts)),
            )
        else:
            flight = Flight(
                id=flight_id, plan=plan, state=FlightState.REJECTED,
                decision=Decision(FlightState.REJECTED, tuple(reasons), (), tuple(conflicts)),
                created_time=now, updated_time=now, jurisdictions=jurisdictions,
            )
        tx.put_flight(flight)
        events.append(flight_event("decision", flight, now))
        return flight

    def _signed(self, flight: Flight, now: datetime) -> Flight:
        assert flight.approval_id is not None
        payload = approval_payload(flight.approval_id, flight.id, flight.jurisdictions,
                                   flight.volumes, now)
        return replace(flight, approval_signature=self.signer.sign(payload),
                       approval_issued_time=now)

    # -- slot search ------------------------------------------------------------------------
    #
    # For one route, every held volume that meets one of ours in space and altitude forbids an
    # open interval of delays (lo, hi): the delays at which the two time ranges would overlap.
    # Pads and opening hours forbid delays too. The earliest departure is the smallest delay in
    # [0, window] outside every forbidden interval: one candidate query per route, one exact
    # geometry test per pair, whatever the window.

    def _search(self, tx: Transaction, plan: FlightPlan, routes: Sequence[Route],
                earliest: datetime, previous: _Search | None = None) -> _Search:
        """The earliest conflict-free departure over the route options (preferred first).

        ``previous``: the search over the options tried before ``routes`` (same plan, same
        earliest departure); its slot stands unless one of ``routes`` departs earlier, as if
        all had been searched in one go."""
        window_s = (plan.latest_departure_time - earliest).total_seconds()
        preempt_rank = plan.priority.rank if plan.priority is Priority.EMERGENCY else None
        if previous is not None and previous.slot is not None and (
                previous.slot.departure_time == earliest):
            return previous  # nothing departs earlier
        best = previous.slot if previous else None
        bases = [self._volumes_at(route, earliest) for route in routes]
        cells = [[footprint_cells(volume, self.spec) for volume in base] for base in bases]
        shared = None
        if len(routes) > 1 and self.config.candidate_strategy == "index":
            # The options share most cells (the same path at other layers): one read for all.
            shared = tx.candidates(Reach([v for base in bases for v in base],
                                         [c for route_cells in cells for c in route_cells],
                                         window_s))
        first_conflicts = previous.conflicts if previous else []
        first_volumes = previous.conflicting_volumes if previous else []
        for position, route in enumerate(routes):
            base = bases[position]
            limit_s = window_s if best is None else min(
                window_s, (best.departure_time - earliest).total_seconds() - 1.0)
            # The whole window in one read: the cheap tests are vectorised and the exact ones
            # lazy, so reading a short horizon first and widening after was measured slower
            # (same decisions).
            blockers, zone_blocked = self._forbidden(tx, base, cells[position],
                                                     max(limit_s, 0.0), plan, preempt_rank,
                                                     shared)
            delay_s = None if zone_blocked or limit_s < 0 else self._first_free(
                tx, route, earliest, blockers, limit_s, preempt_rank)
            if position == 0 and previous is None:
                first_conflicts, first_volumes = self._conflicts_at(tx, blockers, base, 0.0,
                                                                    route, earliest)
                if zone_blocked:
                    first_conflicts.append(zone_blocked)
            if delay_s is None:
                continue
            delay = timedelta(seconds=delay_s)
            volumes = [volume.shifted(delay) for volume in base] if delay_s else base
            departure = earliest + delay
            pads, pad_preempted = self._take_pads(tx, route, departure, preempt_rank)
            preempted = {iv.ref for iv in blockers.all_at(delay_s) if iv.preemptable}
            best = _Slot(route, departure, volumes, pads, preempted | pad_preempted)
            if delay_s == 0.0:
                break
        return _Search(best, first_conflicts, first_volumes)

    def _volumes_at(self, route: Route, departure: datetime) -> list[Volume4D]:
        """The route's volumes from ``departure``; built once per route and shifted after,
        so outlines (and their cached index cells) are shared by every departure tried."""
        cached = self._volumes.get(id(route))
        if cached is None or cached[0] is not route:
            volumes = route_to_volumes(route, departure, self.config.buffers)
            if len(self._volumes) >= VOLUME_CACHE_LIMIT:
                self._volumes.clear()
            self._volumes[id(route)] = (route, departure, volumes)
            return volumes
        _, reference, volumes = cached
        if reference == departure:
            return volumes
        delta = departure - reference
        return [volume.shifted(delta) for volume in volumes]

    def _forbidden(self, tx: Transaction, base: list[Volume4D], cells: list[frozenset[Cell]],
                   window_s: float, plan: FlightPlan, preempt_rank: int | None,
                   candidates: Candidates | None = None) -> tuple[Blockers, Conflict | None]:
        """The delays in ``[0, window_s]`` that held volumes and time-limited zones forbid
        (see ``utm.slots``); a Conflict if a permanent zone blocks the route. ``candidates``:
        read already (a superset of this route's), else read here."""
        blockers = Blockers(self._footprints)
        if self.config.candidate_strategy == "index":
            if candidates is None:
                candidates = tx.candidates(Reach(base, cells, window_s))
            blockers.add_pairs(base, candidates, window_s, preempt_rank)
        else:
            self._forbidden_naive(tx, base, window_s, preempt_rank, blockers)
        blocking = [AirspaceClass.PROHIBITED]
        if not plan.allow_review_airspace:
            blocking += [AirspaceClass.RESTRICTED, AirspaceClass.CONTROLLED]
        window = timedelta(seconds=window_s)
        touching = self.airspace.zones_touching_many(
            [(v.outline_m, v.floor_agl_m, v.ceiling_agl_m, v.start_time, v.end_time + window)
             for v in base], blocking)
        for volume, zones in zip(base, touching, strict=True):
            for zone in zones:
                if not zone.active_windows:
                    message = f"enters {zone.airspace_class.value} zone {zone.id}"
                    return blockers, Conflict("zone", zone.id, message)
                for active in zone.active_windows:
                    blockers.confirm(Interval(
                        (active.start_time - volume.end_time).total_seconds(),
                        (active.end_time - volume.start_time).total_seconds(),
                        f"zone:{zone.id}", False, -1,
                    ))
        return blockers, None

    def _forbidden_naive(self, tx: Transaction, base: list[Volume4D], window_s: float,
                         preempt_rank: int | None, blockers: Blockers) -> None:
        """The naive way, for the benchmark's baselines (``EngineConfig.candidate_strategy``
        ``scan`` or ``strtree``): every held volume overlapping the time range in question
        (optionally through an STRtree of their outlines), exact geometry for every pair."""
        window = timedelta(seconds=window_s)
        in_time = list(tx.held_between(min(v.start_time for v in base),
                                       max(v.end_time for v in base) + window))
        tree = (STRtree([held.volume.outline_m for held in in_time])
                if self.config.candidate_strategy == "strtree" else None)
        for index, volume in enumerate(base):
            candidates = in_time if tree is None else [
                in_time[int(i)] for i in tree.query(volume.outline_m)]
            reach_end = volume.end_time + window
            for held in candidates:
                other = held.volume
                if other.end_time <= volume.start_time or other.start_time >= reach_end:
                    continue
                if not (volume.floor_agl_m < other.ceiling_agl_m
                        and other.floor_agl_m < volume.ceiling_agl_m):
                    continue
                if not footprints_intersect(volume.outline_m, other.outline_m):
                    continue
                blockers.confirm(Interval(
                    (other.start_time - volume.end_time).total_seconds(),
                    (other.end_time - volume.start_time).total_seconds(),
                    held.flight_id,
                    preempt_rank is not None and held.priority_rank < preempt_rank
                    and held.state in PREEMPTABLE_STATES,
                    index,
                ))

    def _first_free(self, tx: Transaction, route: Route, earliest: datetime,
                    blockers: Blockers, limit_s: float,
                    preempt_rank: int | None) -> float | None:
        """The smallest delay in [0, limit_s] free of other flights, zones, pads and closing
        hours (exact: every pending pair at a delay about to be taken is compared first)."""
        return blockers.first_free(limit_s, lambda delay_s: self._movement_wait(
            tx, route, earliest + timedelta(seconds=delay_s), preempt_rank))

    def _movements(self, route: Route, departure: datetime) -> list[tuple[str, datetime, str]]:
        arrival = departure + timedelta(seconds=route.duration_s)
        movements = []
        if route.origin_vertiport:
            movements.append((route.origin_vertiport, departure, "takeoff"))
        if route.destination_vertiport:
            movements.append((route.destination_vertiport, arrival, "landing"))
        return movements

    def _pad_window(self, vertiport_id: str, instant: datetime,
                    movement: str) -> tuple[datetime, datetime]:
        """A take-off holds a pad for ``[dep - turnaround, dep)``, a landing for
        ``[arr, arr + turnaround)``: a pad serves one movement per turnaround."""
        turnaround = timedelta(seconds=self.airspace.vertiports[vertiport_id].pad_turnaround_s)
        return (instant - turnaround, instant) if movement == "takeoff" else (
            instant, instant + turnaround)

    def _movement_wait(self, tx: Transaction, route: Route, departure: datetime,
                       preempt_rank: int | None) -> float:
        """Seconds to wait until every vertiport end is open and has a free pad (0: now)."""
        for vertiport_id, instant, movement in self._movements(route, departure):
            waiting_s = self._pad_wait(tx, vertiport_id, instant, movement, preempt_rank)
            if waiting_s > 0.0:
                return waiting_s
        return 0.0

    def _pad_wait(self, tx: Transaction, vertiport_id: str, instant: datetime, movement: str,
                  preempt_rank: int | None) -> float:
        """Seconds until the vertiport is open and a pad is free for ``movement`` at
        ``instant`` (0: now). Until then every pad stays busy, so no instant is skipped."""
        vertiport = self.airspace.vertiports[vertiport_id]
        if vertiport.opening_hours is not None and not vertiport.is_open(instant):
            return (vertiport.opening_hours.next_inside(instant) - instant).total_seconds()
        start, end = self._pad_window(vertiport_id, instant, movement)
        busy: dict[int, float] = {}
        for slot in tx.pad_slots(vertiport_id, start, end):
            if self._may_preempt(tx, slot.flight_id, preempt_rank):
                continue
            busy[slot.pad] = max(busy.get(slot.pad, 0.0), (slot.end_time - start).total_seconds())
        return min(busy.values()) if len(busy) >= vertiport.pads else 0.0

    def _takeoff_possible(self, tx: Transaction, plan: FlightPlan, route: Route,
                          earliest: datetime) -> bool:
        """False if the origin's pads (or opening hours) refuse every departure from
        ``earliest`` to the latest departure: then no route, layer or detour can help."""
        if route.origin_vertiport is None:
            return True
        preempt_rank = plan.priority.rank if plan.priority is Priority.EMERGENCY else None
        window_s = (plan.latest_departure_time - earliest).total_seconds()
        origin = route.origin_vertiport
        # No airspace intervals: the slot search's stepping over the pad waits alone.
        return Blockers(self._footprints).first_free(window_s, lambda delay_s: self._pad_wait(
            tx, origin, earliest + timedelta(seconds=delay_s), "takeoff", preempt_rank),
        ) is not None

    def _take_pads(self, tx: Transaction, route: Route, departure: datetime,
                   preempt_rank: int | None) -> tuple[list[PadSlot], set[str]]:
        """Pick a pad at each vertiport end (free ones first; an emergency may take one)."""
        slots: list[PadSlot] = []
        preempted: set[str] = set()
        for vertiport_id, instant, movement in self._movements(route, departure):
            start, end = self._pad_window(vertiport_id, instant, movement)
            held = tx.pad_slots(vertiport_id, start, end)
            busy = {slot.pad for slot in held}
            free = [pad for pad in range(self.airspace.vertiports[vertiport_id].pads)
                    if pad not in busy]
            if free:
                pad = free[0]
            else:  # only reachable for an emergency: _movement_wait found a pad whose
                # holders may all be preempted (approved or pending, lower rank)
                holders: dict[int, set[str]] = {}
                for slot in held:
                    holders.setdefault(slot.pad, set()).add(slot.flight_id)
                pad = next(
                    candidate for candidate, ids in sorted(holders.items())
                    if all(self._may_preempt(tx, flight_id, preempt_rank) for flight_id in ids)
                )
                preempted |= holders[pad]
            slots.append(PadSlot(vertiport_id, pad, start, end, movement))
        return slots, preempted

    def _conflicts_at(self, tx: Transaction, blockers: Blockers,
                      base: list[Volume4D], delay_s: float, route: Route,
                      departure: datetime) -> tuple[list[Conflict], list[Volume4D]]:
        """What stands in the way at ``delay_s`` (for the Decision and for re-routing)."""
        conflicts: dict[str, Conflict] = {}
        volumes: list[Volume4D] = []
        for interval in blockers.all_at(delay_s):
            ref, index = interval.ref, interval.index
            if interval.preemptable:
                continue
            if ref.startswith("zone:"):
                conflicts.setdefault(ref, Conflict("zone", ref[5:], f"enters zone {ref[5:]} "
                                                   "while it is active"))
                continue
            conflicts.setdefault(ref, Conflict("flight", ref, f"intersects approved flight "
                                               f"{ref}"))
            if index >= 0:
                volumes.append(base[index])
        for vertiport_id, instant, movement in self._movements(route, departure):
            if self._pad_wait(tx, vertiport_id, instant, movement, None) > 0.0:
                conflicts.setdefault(f"pad:{vertiport_id}", Conflict(
                    "pad", vertiport_id, f"no pad of {vertiport_id} is free (or it is closed) "
                    f"for the {movement} at {format_instant(instant)}"))
        return list(conflicts.values()), volumes

    def _may_preempt(self, tx: Transaction, flight_id: str, preempt_rank: int | None) -> bool:
        if preempt_rank is None:
            return False  # no flight is read unless an emergency asks
        rank = self._rank_of(tx, flight_id)
        return rank is not None and rank < preempt_rank

    def _rank_of(self, tx: Transaction, flight_id: str) -> int | None:
        flight = tx.get_flight(flight_id)
        if flight is None or flight.state not in PREEMPTABLE_STATES:
            return None
        return flight.priority.rank

    # -- preemption and re-planning ---------------------------------------------------------

    def _replan(self, tx: Transaction, flight: Flight, now: datetime, note: str,
                events: list[Event]) -> Flight:
        """Release a flight's airspace and plan it again in its own window; if nothing fits,
        it becomes replan_required. Either way its operator gets ``note``."""
        released = flight.evolve(state=flight.state, volumes=(), pad_slots=(),
                                 notes=(*flight.notes, note))
        tx.put_flight(released)  # its old volumes must not block its own re-plan
        if isinstance(flight.plan, AreaPlan):  # the operator's own volumes: never moved
            from utm import area_plans

            return area_plans.redecide(self, tx, flight, released, now, note, events)
        try:
            routes = self._route_options(
                flight.plan, max(now, flight.plan.earliest_departure_time), (),
                preferred_only=True)
        except InvalidPlanError as error:  # e.g. its pad now lies inside a closed area
            replanned = self._reject(tx, flight.id, flight.plan, now, released, events,
                                     [Reason("endpoint_unavailable", str(error))], [])
        else:
            tx.lock(self._lock_keys(routes, flight.plan))
            replanned = self._decide(tx, flight.id, flight.plan, routes, now, released, events)
        if replanned.state is FlightState.REPLAN_REQUIRED:
            outcome = "could not be re-planned: file it again"
        else:
            outcome = (f"re-planned: departs {format_instant(replanned.departure_time)}"
                       if replanned.departure_time else "re-planned")
        final = replace(replanned, notes=(*replanned.notes[:-1], f"{note}; {outcome}"))
        tx.put_flight(final)
        tx.audit(now, "system", "replan", flight.id, {"note": final.notes[-1],
                                                      "state": final.state.value})
        return final

    # -- lifecycle ------------------------------------------------------------------------

    def get(self, flight_id: str) -> Flight:
        """A flight by id; raises ``FlightNotFoundError``."""
        flight = self.store.get_flight(flight_id)
        if flight is None:
            raise FlightNotFoundError(f"no flight plan {flight_id!r}")
        return flight

    def _transition(self, flight_id: str, target: FlightState, now: datetime, actor: str,
                    action: str) -> Flight:
        now = require_aware(now, "now")

        def change(flight: Flight) -> Flight:
            changes: dict[str, Any] = {"state": target, "updated_time": now}
            if target not in HOLDS_AIRSPACE:  # released: no volumes, no pad slots
                changes.update(volumes=(), pad_slots=())
            return flight.evolve(**changes)

        moved = self._move(flight_id, now, actor, action, change)
        assert moved is not None
        return moved

    def _move(self, flight_id: str, now: datetime, actor: str, action: str,
              change: Callable[[Flight], Flight | None]) -> Flight | None:
        """Change one flight's state in a transaction of its own: ``change`` gives the flight
        as it becomes (an allowed transition, else ``InvalidTransitionError``) or None to
        leave it; the change is stored, audited and announced (event ``state``)."""

        def move(tx: Transaction, events: list[Event]) -> Flight | None:
            flight = tx.get_flight(flight_id)
            if flight is None:
                raise FlightNotFoundError(f"no flight plan {flight_id!r}")
            updated = change(flight)
            if updated is None:
                return None
            return self._record_move(tx, events, flight, updated, now, actor, action)

        return self._in_transaction((), move)

    @staticmethod
    def _record_move(tx: Transaction, events: list[Event], flight: Flight, updated: Flight,
                     now: datetime, actor: str, action: str) -> Flight:
        """Store ``updated`` (an allowed transition from ``flight``, else
        ``InvalidTransitionError``), audit it and announce it (event ``state``)."""
        check_transition(flight.state, updated.state)
        tx.put_flight(updated)
        detail = {"from": flight.state.value, "to": updated.state.value}
        if updated.notes != flight.notes:
            detail["note"] = updated.notes[-1]
        tx.audit(now, actor, action, flight.id, detail)
        events.append(flight_event("state", updated, now))
        return updated

    def cancel(self, flight_id: str, now: datetime, actor: str) -> Flight:
        """Withdraw a plan; its airspace is released at once."""
        return self._transition(flight_id, FlightState.CANCELLED, now, actor, "cancel")

    def activate(self, flight_id: str, now: datetime, actor: str) -> Flight:
        """The flight takes off (approved only; not before its volumes begin, nor after they
        end: the flight has then expired, ``utm.expiry``)."""
        now = require_aware(now, "now")
        flight = self.get(flight_id)
        if flight.state is FlightState.APPROVED and flight.volumes and (
            now < flight.volumes[0].start_time
        ):
            raise InvalidTransitionError(
                f"flight {flight_id} may not activate before "
                f"{format_instant(flight.volumes[0].start_time)}")
        if flight.state is FlightState.APPROVED:
            self._refuse_if_expired(flight, now)
        return self._transition(flight_id, FlightState.ACTIVATED, now, actor, "activate")

    # -- expiry -----------------------------------------------------------------------------

    def expire(self, now: datetime) -> list[Flight]:
        """Expire every flight whose time passed unused (``utm.expiry``), each in a
        transaction of its own; returns them as they end up (rejected or cancelled)."""
        now = require_aware(now, "now")
        done = (self._expire(flight_id, now) for flight_id in expiry.due_ids(self.store, now))
        return [flight for flight in done if flight is not None]

    def _expire(self, flight_id: str, now: datetime) -> Flight | None:
        """Expire one flight if it is due (None if it was reviewed, activated or cancelled
        meanwhile)."""
        return self._move(flight_id, now, "system", "expire", lambda flight: (
            expiry.expired(flight, now) if expiry.is_due(flight, now) else None))

    def _refuse_if_expired(self, flight: Flight, now: datetime) -> None:
        """Store the expiry of ``flight`` if it is due, then refuse the action asked of it
        (one its state would allow: any other is refused as it always was)."""
        if not expiry.is_due(flight, now):
            return
        expired = self._expire(flight.id, now) or self.get(flight.id)
        raise InvalidTransitionError(
            f"flight {flight.id} expired and is now {expired.state.value}: {expired.notes[-1]}")

    def end(self, flight_id: str, now: datetime, actor: str) -> Flight:
        """The flight has landed; its airspace is released."""
        self._positions.pop(flight_id, None)
        return self._transition(flight_id, FlightState.ENDED, now, actor, "end")

    def review(self, flight_id: str, jurisdiction: str, approve: bool, note: str,
               now: datetime, actor: str) -> Flight:
        """A city's regulator approves or rejects its part of a pending flight.

        Raises
        ------
        ReviewNotFoundError
            If the flight has no pending review for ``jurisdiction``.
        InvalidTransitionError
            If its departure time has passed: the flight expired unreviewed (it is stored
            rejected, ``utm.expiry``).
        """
        now = require_aware(now, "now")
        pending = self.get(flight_id)
        if pending.state is FlightState.PENDING_REVIEW:
            self._refuse_if_expired(pending, now)
        with self._lock:
            events: list[Event] = []
            with self.store.transaction(()) as tx:
                flight = tx.get_flight(flight_id)
                if flight is None:
                    raise FlightNotFoundError(f"no flight plan {flight_id!r}")
                if flight.state is not FlightState.PENDING_REVIEW or flight.reviews.get(
                    jurisdiction
                ) is not ReviewStatus.PENDING:
                    raise ReviewNotFoundError(
                        f"flight {flight_id} has no review pending for {jurisdiction}")
                reviews = dict(flight.reviews)
                reviews[jurisdiction] = ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED
                reason = Reason("review_approved" if approve else "review_rejected",
                                f"{jurisdiction}: {note}" if note else jurisdiction, jurisdiction)
                if not approve:
                    state = FlightState.REJECTED
                elif all(status in (ReviewStatus.APPROVED, ReviewStatus.AUTOMATIC)
                         for status in reviews.values()):
                    state = FlightState.APPROVED
                else:
                    state = FlightState.PENDING_REVIEW
                check_transition(flight.state, state)
                updated = flight.evolve(
                    state=state, reviews=reviews, updated_time=now,
                    decision=replace(flight.decision, state=state,
                                     reasons=(*flight.decision.reasons, reason)),
                    **({"volumes": (), "pad_slots": ()} if state is FlightState.REJECTED else {}),
                )
                if state is FlightState.APPROVED:
                    updated = self._signed(updated, now)
                tx.put_flight(updated)
                tx.audit(now, actor, "review", flight_id,
                         {"jurisdiction": jurisdiction, "approve": approve, "note": note})
                events.append(flight_event("review", updated, now))
            self._emit(events)
        return updated

    # -- constraints -----------------------------------------------------------------------

    def issue_constraint(self, constraint: Constraint, now: datetime,
                         actor: str) -> tuple[Constraint, list[Flight]]:
        """Add a temporary restriction; flights holding airspace inside it are re-planned
        (or set to replan_required); active flights inside raise an alert."""
        now = require_aware(now, "now")
        self.sync_constraints()
        if constraint.id in self.airspace.zones:
            raise InvalidConstraintError(f"constraint {constraint.id!r} exists already",
                                         field="id")
        zone = constraint.to_zone()
        affected: list[Flight] = []
        with self._lock:
            events: list[Event] = []
            self.airspace.add_zone(zone)
            try:
                with self.store.transaction(self._area_lock_keys(constraint.outline)) as tx:
                    tx.put_record("constraint", constraint.id, constraint.to_doc(),
                                  constraint.jurisdiction, now)
                    tx.audit(now, actor, "constraint", None, constraint.to_doc())
                    holding = self.store.list_flights(states=sorted(HOLDS_AIRSPACE),
                                                      limit=1_000_000)
                    for listed in holding:
                        # Re-read: re-planning an earlier one may have changed this flight.
                        flight = tx.get_flight(listed.id)
                        if flight is None or flight.state not in HOLDS_AIRSPACE:
                            continue
                        if not self._touches(flight, zone):
                            continue
                        if flight.state in (FlightState.APPROVED, FlightState.PENDING_REVIEW):
                            note = f"airspace restricted by constraint {constraint.id}"
                            affected.append(self._replan(tx, flight, now, note, events))
                        else:
                            alert = self._alert(tx, now, "constraint_active_flight", flight,
                                                constraint.jurisdiction,
                                                f"active flight {flight.id} is inside new "
                                                f"constraint {constraint.id}")
                            events.append(alert)
            except BaseException:
                self.airspace.remove_zone(zone.id)
                raise
            self._constraint_ids.add(constraint.id)
            events.append(Event("constraint", now, None, (constraint.jurisdiction,), None,
                                constraint.to_doc()))
            self._emit(events)
        return constraint, affected

    def _area_lock_keys(self, outline: Any) -> list[int]:
        """Lock cells around an area (as ``_lock_keys`` does around a route), so that no
        node approves a flight there while a constraint on it is being issued."""
        if not self.store.uses_lock_keys:
            return []
        grown = metric_to_lnglat(lnglat_to_metric(outline).buffer(LOCK_MARGIN_M, quad_segs=2))
        return sorted(shape_to_cells(grown, self.spec.lock_resolution))

    def _touches(self, flight: Flight, zone: Any) -> bool:
        geometry_m = self.airspace.zone_metric_geometry(zone.id)
        return any(
            volume.floor_agl_m < zone.ceiling_agl_m and zone.floor_agl_m < volume.ceiling_agl_m
            and zone.is_active_during(volume.start_time, volume.end_time)
            and volume.outline_m.intersects(geometry_m)
            for volume in flight.volumes
        )

    # -- telemetry -------------------------------------------------------------------------

    def report_position(self, flight_id: str, lat: float, lng: float, alt_agl_m: float,
                        time: datetime, now: datetime) -> tuple[Flight, list[Event]]:
        """Check a position of an active flight against its volumes and other flights.

        Returns the flight (now ``nonconforming`` if it left its volumes beyond the tolerance,
        ``activated`` again when it returns) and the alerts raised.
        """
        time = require_aware(time, "time")
        flight = self.get(flight_id)
        if flight.state not in (FlightState.ACTIVATED, FlightState.NONCONFORMING):
            raise InvalidTelemetryError(
                f"flight {flight_id} is {flight.state.value}; only flying flights report")
        if not (math.isfinite(lat) and math.isfinite(lng) and math.isfinite(alt_agl_m)):
            raise InvalidTelemetryError("lat, lng and alt_agl_m must be finite")
        x_m, y_m = latlng_to_xy_m(lat, lng)
        tolerance = self.config.conformance_tolerance_m
        point = Point(x_m, y_m)
        conforming = any(
            volume.start_time <= time < volume.end_time
            and volume.floor_agl_m - tolerance <= alt_agl_m <= volume.ceiling_agl_m + tolerance
            and volume.outline_m.distance(point) <= tolerance
            for volume in flight.volumes
        )
        jurisdiction = self.airspace.jurisdiction_at(lat, lng)
        city = jurisdiction.id if jurisdiction else (flight.jurisdictions or ("",))[0]
        events: list[Event] = []
        target = FlightState.ACTIVATED if conforming else FlightState.NONCONFORMING
        with self._lock:
            close = self._close_to(flight_id, time, x_m, y_m, alt_agl_m)
            if flight.state is target and not close:
                # Nothing to write: no transaction (reports come every second or so).
                return flight, events
            with self.store.transaction(()) as tx:
                current = tx.get_flight(flight_id)
                assert current is not None
                if current.state is not target:
                    check_transition(current.state, target)
                    current = current.evolve(state=target, updated_time=now)
                    tx.put_flight(current)
                    events.append(flight_event("state", current, now))
                    if target is FlightState.NONCONFORMING:
                        events.append(self._alert(
                            tx, now, "nonconforming", current, city,
                            f"flight {flight_id} is outside its volumes at ({lat:.6f}, "
                            f"{lng:.6f}, {alt_agl_m:.0f} m)"))
                for other_id in close:
                    events.append(self._alert(
                        tx, now, "loss_of_separation", current, city,
                        f"flights {flight_id} and {other_id} are closer than "
                        f"{self.config.separation_horizontal_m:.0f} m / "
                        f"{self.config.separation_vertical_m:.0f} m"))
            flight = current
            self._emit(events)
        return flight, events

    def flag_overdue(self, now: datetime) -> list[Flight]:
        """Active flights whose last volume ended over ``overdue_after_s`` before ``now`` and
        that were not ended: flying outside their volumes in time, or landed unreported.
        Each becomes ``nonconforming`` (still holding its volumes: it may be airborne) with an
        alert to the regulators of the city it was bound for, until its operator ends it.
        Returns them."""
        now = require_aware(now, "now")
        late = now - timedelta(seconds=self.config.overdue_after_s)
        flagged: list[Flight] = []
        for summary in all_summaries(self.store, states=[FlightState.ACTIVATED], end_time=late):
            if summary.arrival_time is not None and summary.arrival_time <= late:
                flight = self._in_transaction((), partial(self._flag_overdue, summary.id,
                                                          late, now))
                if flight is not None:
                    flagged.append(flight)
        return flagged

    def _flag_overdue(self, flight_id: str, late: datetime, now: datetime, tx: Transaction,
                      events: list[Event]) -> Flight | None:
        flight = tx.get_flight(flight_id)
        if flight is None or flight.state is not FlightState.ACTIVATED or not flight.volumes:
            return None
        last = max(flight.volumes, key=lambda volume: volume.end_time)
        ended = last.end_time
        if ended > late:
            return None
        updated = self._record_move(
            tx, events, flight, flight.evolve(state=FlightState.NONCONFORMING, updated_time=now),
            now, "system", "overdue")
        where = last.outline.representative_point()  # where it should have landed
        bound_for = self.airspace.jurisdiction_at(where.y, where.x)
        city = bound_for.id if bound_for else (flight.jurisdictions or ("",))[-1]
        events.append(self._alert(
            tx, now, "overdue", updated, city,
            f"flight {flight_id} is still active {(now - ended).total_seconds():.0f} s after "
            f"its volumes ended at {format_instant(ended)}: airborne outside them, or landed "
            "without ending"))
        return updated

    def _close_to(self, flight_id: str, time: datetime, x_m: float, y_m: float,
                  alt_agl_m: float) -> list[str]:
        """Record this position; the other flights last seen closer than the separation
        minima within the separation window. Positions far older than the window are
        forgotten (they can meet no new report). Called under the engine's lock."""
        self._positions[flight_id] = (time, x_m, y_m, alt_agl_m)
        window_s = self.config.separation_window_s
        close = []
        for other_id, (other_time, ox, oy, oz) in list(self._positions.items()):
            if other_id == flight_id:
                continue
            apart_s = (time - other_time).total_seconds()
            if apart_s > POSITION_MEMORY_WINDOWS * window_s:
                del self._positions[other_id]
                continue
            if abs(apart_s) > window_s:
                continue
            if (math.hypot(ox - x_m, oy - y_m) < self.config.separation_horizontal_m
                    and abs(oz - alt_agl_m) < self.config.separation_vertical_m):
                close.append(other_id)
        return close

    def _alert(self, tx: Transaction, now: datetime, kind: str, flight: Flight,
               jurisdiction: str, message: str) -> Event:
        alert_id = f"al-{int(now.timestamp() * 1000):011x}{secrets.token_hex(3)}"
        doc = {"id": alert_id, "kind": kind, "flight_id": flight.id, "jurisdiction": jurisdiction,
               "operator_id": flight.operator_id, "message": message,
               "time": format_instant(now)}
        tx.put_record("alert", alert_id, doc, jurisdiction, now)
        tx.audit(now, "system", "alert", flight.id, doc)
        return Event("alert", now, flight.id, (jurisdiction,), flight.operator_id, doc)

    # -- approvals ---------------------------------------------------------------------------

    def verify_approval(self, approval_id: str) -> ApprovalCheck:
        """Genuine (signed by this system, unaltered) and current (the flight still holds it)."""
        flight = self.store.find_by_approval(approval_id) if approval_id else None
        if flight is None or flight.approval_signature is None or (
            flight.approval_issued_time is None
        ):
            return ApprovalCheck(False, approval_id, reason="unknown approval id")
        payload = approval_payload(approval_id, flight.id, flight.jurisdictions,
                                   flight.volumes, flight.approval_issued_time)
        current = flight.state in (FlightState.APPROVED, FlightState.ACTIVATED,
                                   FlightState.NONCONFORMING)
        # A flight that no longer holds its airspace has released its volumes, so there is
        # nothing left to check the signature against: it is simply not current.
        genuine = current and self.signer.verify(payload, flight.approval_signature)
        reason = "" if genuine else (
            f"flight is {flight.state.value}" if not current
            else "signature does not match the flight")
        return ApprovalCheck(genuine and current, approval_id, flight.id, flight.state.value,
                             flight.jurisdictions, flight.approval_issued_time,
                             flight.approval_signature, reason)


class _DryRun(Exception):
    """Raised inside a transaction to roll it back on purpose."""


def new_flight_id(now: datetime) -> str:
    """A unique id that sorts by creation time (for cursor pagination)."""
    return f"fp-{int(now.timestamp() * 1000):011x}{secrets.token_hex(4)}"


def new_approval_id() -> str:
    """An unguessable approval id."""
    return f"apv-{secrets.token_urlsafe(12)}"


def _ceil_second(instant: datetime) -> datetime:
    if instant.microsecond:
        return instant.replace(microsecond=0) + timedelta(seconds=1)
    return instant


def _routing_field(error: RoutingError) -> str | None:
    message = str(error)
    if "origin" in message:
        return "origin"
    if "destination" in message:
        return "destination"
    return None
