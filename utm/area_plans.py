"""Area-based plans: the operator's own 4-D volumes, decided by the engine as filed.

An ``AreaPlan`` (what the InterUSS flight-planning interface and ASTM F3548 send) is held to
the invariants of DESIGN.md exactly as a routed ``FlightPlan`` is:

1. **Separation.** Every volume is checked against every volume held by another flight, in
   the same store transaction, holding the lock cells around the area: candidates come from
   the volume index (H3 cell, altitude layer, time bucket), exact geometry decides
   (``routes.volumes.volumes_intersect``). Nothing is moved: the times and altitudes are the
   operator's, so a conflict is a rejection (or, for an emergency, a preemption of lower
   priority plans that have not taken off, as for routed emergencies).
2. **Zones and policies.** Every city the volumes touch applies its policy to its part
   (``utm.policy``): prohibited zones refuse, controlled and restricted airspace (including
   everything above 120 m true height) go to review or are refused as the city says, curfews,
   lead times, height limits and drone categories apply; the strictest city wins.
3. **Atomic.** The flight, its volumes, its audit entry and what it preempted commit together.
4. **One approval.** An approved plan is signed like a routed one (``utm.approvals``).

Once stored, an area-based flight is a ``Flight`` like any other (its ``route`` is None): the
routed search sees its volumes as held, cancel / activate / end / telemetry / reviews /
approval checks work unchanged. When a constraint or an emergency takes its airspace, it is
decided again as filed (``redecide``): it keeps its approval if it still may, and otherwise
becomes ``replan_required`` (an area cannot be moved without its operator), with a note and a
user notification record.

This module is the engine's own extension (it uses the engine's transaction, signing and
re-planning helpers); ``Engine.submit_area`` is its entry point.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from airspace import AirspaceClass
from airspace.timing import format_instant, require_aware
from routes import Volume4D, volumes_intersect
from utm import policy, replanning
from utm.errors import InvalidPlanError, InvalidTransitionError
from utm.events import Event, flight_event
from utm.flights import Conflict, Decision, Flight, Reason, ReviewStatus
from utm.plans import AreaPlan, Priority
from utm.states import FlightState, check_transition
from utm.storage.base import Store, Transaction
from utm.storage.keys import Reach, footprint_cells, time_buckets

if TYPE_CHECKING:
    from utm.engine import Engine

MAX_INDEX_KEYS = 250_000
"""An area-based plan touching more (H3 cell, layer, time bucket) index keys than this is
refused: a larger area or a longer time must be split (the index rows are written per key)."""

NOTIFICATION_KIND = "user_notification"
"""Record kind of the messages to an area plan's operator (see ``redecide``)."""

REFERENCE_KIND = "area_plan_reference"
"""Record kind mapping an operator's own name for a plan (``AreaPlan.reference``) to the flight
id, written with the flight (see ``flight_id_for``)."""


class AreaMode(StrEnum):
    """What ``submit`` does with the decision."""

    KEEP = "keep"
    """Store the decision whatever it is (approved, pending review or rejected), as a routed
    submission does."""
    IF_APPROVED = "if_approved"
    """Store it only if approved outright (InterUSS ``IfAllowed``). A plan that would wait for a
    review is recorded as rejected, holding nothing; an update that is not approved leaves the
    flight as it was."""
    DRY_RUN = "dry_run"
    """Decide and store nothing (InterUSS ``Hypothetical``)."""


@dataclass(slots=True)
class _Rollback(Exception):
    """Raised inside the transaction to undo it and return ``flight`` (not stored)."""

    flight: Flight


def check_plan(engine: Engine, plan: AreaPlan) -> None:
    """Refuse an area plan the engine cannot decide: outside the service area, or too large to
    index.

    Raises
    ------
    InvalidPlanError
        Naming ``volumes``.
    """
    layers = engine.store.layers
    keys = 0
    for position, volume in enumerate(plan.volumes):
        if not engine.airspace.service_area.covers(volume.outline):
            raise InvalidPlanError(
                f"volume {position} leaves the service area (the cities of the dataset)",
                field="volumes")
        cells = footprint_cells(volume, engine.spec)
        keys += (len(cells) * len(layers.layers_between(volume.floor_agl_m, volume.ceiling_agl_m))
                 * len(time_buckets(volume.start_time, volume.end_time, engine.spec.bucket_s)))
    if keys > MAX_INDEX_KEYS:
        raise InvalidPlanError(
            f"the area is too large to hold at once ({keys} index keys, at most "
            f"{MAX_INDEX_KEYS}): split it into smaller or shorter plans", field="volumes")


def lock_keys(engine: Engine, plan: AreaPlan) -> list[int]:
    """The lock cells around every volume (as a constraint over the same area would take)."""
    keys: set[int] = set()
    for volume in plan.volumes:
        keys.update(engine._area_lock_keys(volume.outline))
    return sorted(keys)


def submit(engine: Engine, plan: AreaPlan, now: datetime, *, flight_id: str | None = None,
           actor: str | None = None, mode: AreaMode = AreaMode.KEEP) -> Flight:
    """Decide an area-based plan (see ``Engine.submit_area``)."""
    from utm.engine import new_flight_id

    now = require_aware(now, "now")
    plan.check_horizon(now)
    check_plan(engine, plan)
    engine._forget_past(now)
    engine.sync_constraints()
    target_id = flight_id or new_flight_id(now)

    def body(tx: Transaction, events: list[Event]) -> Flight:
        engine.sync_constraints()  # constraints another node issued before our locks
        previous = tx.get_flight(target_id) if flight_id is not None else None
        if previous is not None:
            if not isinstance(previous.plan, AreaPlan):
                raise InvalidPlanError(f"flight {target_id} is a routed plan: file a new one",
                                       field="flight_id")
            if previous.state not in (FlightState.APPROVED, FlightState.PENDING_REVIEW):
                raise InvalidTransitionError(
                    f"a flight that is {previous.state.value} cannot take a new area")
        flight = decide(engine, tx, target_id, plan, now, previous, events, filed_time=now)
        if mode is AreaMode.DRY_RUN:
            raise _Rollback(flight)
        if mode is AreaMode.IF_APPROVED and flight.state is not FlightState.APPROVED:
            raise _Rollback(flight)  # nothing it did (preemptions included) is kept
        tx.audit(now, actor or plan.operator_id, "update_area" if previous else "submit_area",
                 target_id, {"decision": flight.decision.to_json()})
        _put_reference(tx, plan, target_id, now)
        return flight

    try:
        return engine._in_transaction(lock_keys(engine, plan), body)
    except _Rollback as rollback:
        decided = rollback.flight
    updating = flight_id is not None and engine.store.get_flight(target_id) is not None
    if mode is AreaMode.DRY_RUN or updating:
        return decided
    # IfAllowed, a new plan, not approved: keep a record of the refusal (it holds nothing).
    rejected = _as_rejected(decided, now)

    def record(tx: Transaction, events: list[Event]) -> Flight:
        tx.put_flight(rejected)
        tx.audit(now, actor or plan.operator_id, "submit_area", target_id,
                 {"decision": rejected.decision.to_json()})
        _put_reference(tx, plan, target_id, now)
        events.append(flight_event("decision", rejected, now))
        return rejected

    return engine._in_transaction((), record)


def reference_id(operator_id: str, reference: str) -> str:
    """The record id of an operator's reference (operator ids never contain a newline)."""
    return f"{operator_id}\n{reference}"


def _put_reference(tx: Transaction, plan: AreaPlan, flight_id: str, now: datetime) -> None:
    if plan.reference:
        record_id = reference_id(plan.operator_id, plan.reference)
        tx.put_record(REFERENCE_KIND, record_id, {"id": record_id, "flight_id": flight_id,
                                                  "operator_id": plan.operator_id,
                                                  "reference": plan.reference}, None, now)


def flight_id_for(store: Store, operator_id: str, reference: str) -> str | None:
    """The flight an operator's reference names (the latest plan filed under it), or None.

    The store lists records in id order from ``after_id``; the ids sharing all but the last
    character of the wanted one come first, so a short page holds it if it exists.
    """
    record_id = reference_id(operator_id, reference)
    for doc in store.list_records(REFERENCE_KIND, after_id=record_id[:-1], limit=64):
        if doc.get("id") == record_id:
            return str(doc["flight_id"])
        if str(doc.get("id", "")) > record_id:
            break
    return None


def _as_rejected(flight: Flight, now: datetime) -> Flight:
    """A decision that was not an outright approval, as a rejection holding nothing."""
    reasons = flight.decision.reasons
    if flight.state is FlightState.PENDING_REVIEW:
        waiting = ", ".join(city for city, status in flight.reviews.items()
                            if status is ReviewStatus.PENDING)
        reasons = (*reasons, Reason("review_required",
                                    f"needs the review of {waiting}; the plan was filed to be "
                                    "approved at once or not at all"))
    return Flight(
        id=flight.id, plan=flight.plan, state=FlightState.REJECTED,
        decision=Decision(FlightState.REJECTED, reasons, (), flight.decision.conflicts),
        created_time=now, updated_time=now, jurisdictions=flight.jurisdictions,
    )


def decide(engine: Engine, tx: Transaction, flight_id: str, plan: AreaPlan, now: datetime,
           previous: Flight | None, events: list[Event], *, filed_time: datetime) -> Flight:
    """Check the plan's volumes against held flights, zones and every crossed city's policy,
    and write the flight (approved, pending review, or rejected / replan_required).

    Parameters
    ----------
    previous
        The flight being decided again (an update, or a re-decision after a constraint or a
        preemption); its own volumes do not count as conflicts.
    filed_time
        When the plan counts as filed, for the cities' lead times: ``now`` for a new plan or
        an operator's update, the original filing for a re-decision (the operator filed in
        time; a constraint issued later must not make it late).
    """
    from utm.engine import new_approval_id

    conflicts, preempted = _held_conflicts(engine, tx, flight_id, plan)
    # The operator's volumes carry no buffer: their ceiling is the height flown.
    buffers = replace(engine.config.buffers, vertical_m=0.0)
    verdicts = policy.evaluate(engine.airspace, plan, plan.volumes, plan.start_time,
                               filed_time, buffers)
    outcome = policy.strictest(verdicts)
    reasons = [reason for verdict in verdicts for reason in verdict.reasons]
    jurisdictions = tuple(verdict.jurisdiction for verdict in verdicts)
    for volume in plan.volumes:
        for zone in engine.airspace.zones_touching(
            volume.outline_m, volume.floor_agl_m, volume.ceiling_agl_m, volume.start_time,
            volume.end_time, [AirspaceClass.PROHIBITED],
        ):
            if all(c.ref != zone.id for c in conflicts):
                conflicts.append(Conflict("zone", zone.id, f"enters prohibited zone {zone.id}"))
    if conflicts or outcome is policy.Outcome.REFUSE:
        if any(c.kind == "flight" for c in conflicts):
            reasons.insert(0, Reason("conflict", "the area meets "
                                     + _count(sum(c.kind == "flight" for c in conflicts),
                                              "other flight")))
        return engine._reject(tx, flight_id, plan, now, previous, events,
                              [r for r in reasons if r.code != "class_review"], conflicts,
                              jurisdictions)
    reviews, state = policy.reviews_and_state(verdicts)
    if previous is not None:
        check_transition(previous.state, state)
    flight = Flight(
        id=flight_id, plan=plan, state=state,
        decision=Decision(state, tuple(reasons), ()),
        created_time=previous.created_time if previous else now,
        updated_time=now,
        approval_id=previous.approval_id if previous and previous.approval_id else (
            new_approval_id()),
        departure_time=plan.start_time,
        arrival_time=plan.end_time,
        route=None,
        volumes=plan.volumes,
        jurisdictions=jurisdictions,
        reviews=reviews,
        notes=previous.notes if previous else (),
        version=previous.version + 1 if previous else 1,
    )
    if state is FlightState.APPROVED:
        flight = engine._signed(flight, now)
    tx.put_flight(flight)
    events.append(flight_event("decision", flight, now))
    if preempted:
        replanning.release(tx, sorted(preempted), flight, now, events)
    return flight


def _held_conflicts(engine: Engine, tx: Transaction, flight_id: str,
                    plan: AreaPlan) -> tuple[list[Conflict], set[str]]:
    """Flights whose held volumes meet the plan's (exactly), and those of them an emergency
    may take the airspace of (approved or pending review, lower priority, not flying)."""
    preempt_rank = plan.priority.rank if plan.priority is Priority.EMERGENCY else None
    conflicts: dict[str, Conflict] = {}
    preempted: set[str] = set()
    for volume in plan.volumes:
        for held in tx.candidates(Reach.of([volume], engine.spec)):
            if held.flight_id == flight_id or held.flight_id in conflicts:
                continue
            if not volumes_intersect(volume, held.volume):
                continue
            if (preempt_rank is not None and held.priority_rank < preempt_rank
                    and held.state in (FlightState.APPROVED, FlightState.PENDING_REVIEW)):
                preempted.add(held.flight_id)
                continue
            conflicts[held.flight_id] = Conflict(
                "flight", held.flight_id,
                f"intersects {held.state.value.replace('_', ' ')} flight {held.flight_id} "
                f"({_when(held.volume)})")
    return list(conflicts.values()), preempted - set(conflicts)


def redecide(engine: Engine, tx: Transaction, flight: Flight, released: Flight, now: datetime,
             note: str, events: list[Event]) -> Flight:
    """An area-based flight whose airspace was taken (a constraint, an emergency): decide its
    volumes again as filed, with ``note`` for its operator, an audit entry and a user
    notification. It stays approved (or pending review) if it still may, else it becomes
    replan_required: an area is not moved without its operator.

    ``released`` is the flight as the engine stored it without its volumes."""
    plan = flight.plan
    assert isinstance(plan, AreaPlan)
    decided = decide(engine, tx, flight.id, plan, now, released, events,
                     filed_time=flight.created_time)
    if decided.state is FlightState.REPLAN_REQUIRED:
        outcome = "its area can no longer be held: file it again"
    else:
        outcome = f"its area is still held as filed ({decided.state.value.replace('_', ' ')})"
    final = replace(decided, notes=(*decided.notes[:-1], f"{note}; {outcome}"))
    tx.put_flight(final)
    tx.audit(now, "system", "replan", flight.id, {"note": final.notes[-1],
                                                  "state": final.state.value})
    flights_met = sum(conflict.kind == "flight" for conflict in final.decision.conflicts)
    notification_id = f"un-{int(now.timestamp() * 1000):011x}{secrets.token_hex(3)}"
    tx.put_record(NOTIFICATION_KIND, notification_id, {
        "id": notification_id,
        "observed_time": format_instant(now),
        "operator_id": flight.operator_id,
        "flight_id": flight.id,
        "reference": plan.reference,
        "message": final.notes[-1],
        "conflicts": "None" if flights_met == 0 else "Single" if flights_met == 1 else "Multiple",
    }, (flight.jurisdictions or (None,))[0], now)
    return final


def _when(volume: Volume4D) -> str:
    return (f"{volume.floor_agl_m:.0f}-{volume.ceiling_agl_m:.0f} m AGL, "
            f"{format_instant(volume.start_time)} to {format_instant(volume.end_time)}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
