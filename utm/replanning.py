"""Flights preempted by an emergency: released with the emergency's decision, re-planned after.

An emergency may take the airspace of lower-priority flights that are approved (or pending
review) and not yet flying. Its decision commits with those flights *released*: each becomes
``replan_required`` with the reason ``preempted`` ("being re-planned"), holding nothing, so the
emergency's operator has the answer without waiting for the others to be planned again. Each
released flight is then re-planned in a transaction of its own (``replan``): it keeps its id
and approval id and becomes approved or pending review again, or stays replan_required with
"file it again" when nothing fits in its window.

The engine keeps the released flights in a queue and re-plans them before deciding anything
new (so no later plan can take their room first), when its host asks (``Engine.run_replans``,
the HTTP service does it right after answering), and at start-up for flights a stopped process
left released (``pending_in``): a flight that was acknowledged is never left without an outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from airspace.timing import format_instant
from utm.events import Event, flight_event
from utm.flights import Decision, Flight, Reason
from utm.slots import PREEMPTABLE_STATES
from utm.states import FlightState
from utm.storage.base import Store, Transaction

if TYPE_CHECKING:
    from utm.engine import Engine

PREEMPTED = "preempted"
"""Reason code of a flight released by an emergency and waiting to be re-planned."""

PENDING_NOTE = "; being re-planned"
"""Ends the note of a released flight until its re-plan replaces it with the outcome."""


def is_pending(flight: Flight) -> bool:
    """True for a flight released by an emergency and not yet re-planned."""
    return flight.state is FlightState.REPLAN_REQUIRED and any(
        reason.code == PREEMPTED for reason in flight.decision.reasons)


def release(tx: Transaction, flight_ids: Sequence[str], cause: Flight, now: datetime,
            events: list[Event]) -> list[str]:
    """In the emergency's transaction: release the flights it preempted (those still
    approved or pending review); returns their ids, to re-plan once it has committed."""
    released: list[str] = []
    for flight_id in flight_ids:
        victim = tx.get_flight(flight_id)
        if victim is None or victim.state not in PREEMPTABLE_STATES:
            continue
        note = f"preempted by emergency flight {cause.id} at {format_instant(now)}"
        flight = victim.evolve(
            state=FlightState.REPLAN_REQUIRED, volumes=(), pad_slots=(), updated_time=now,
            decision=Decision(FlightState.REPLAN_REQUIRED, (Reason(
                PREEMPTED, f"its airspace was taken by emergency flight {cause.id}; it is "
                "being re-planned"),)),
            notes=(*victim.notes, note + PENDING_NOTE))
        tx.put_flight(flight)
        tx.audit(now, "system", "preempt", flight_id, {"by": cause.id,
                                                       "previous_state": victim.state.value})
        events.append(flight_event("preempted", flight, now))
        released.append(flight_id)
    return released


def replan(engine: Engine, tx: Transaction, events: list[Event], *, flight_id: str,
           now: datetime) -> Flight | None:
    """Re-plan one released flight in its own transaction; None if it is no longer waiting
    (cancelled meanwhile, or re-planned by another node)."""
    flight = tx.get_flight(flight_id)
    if flight is None or not is_pending(flight):
        return None
    note = flight.notes[-1].removesuffix(PENDING_NOTE) if flight.notes else (
        "preempted by an emergency flight")
    return engine._replan(tx, flight.evolve(notes=flight.notes[:-1]), now, note, events)


def pending_in(store: Store) -> list[str]:
    """Ids of the flights the store holds released and not yet re-planned (a process that
    stopped between an emergency's decision and its re-plans left them)."""
    return [flight.id for flight in store.list_flights(states=[FlightState.REPLAN_REQUIRED],
                                                       limit=1_000_000) if is_pending(flight)]
