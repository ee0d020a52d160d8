"""Plans whose time passed before they could fly: expired, so that no state outlives its use.

Three kinds of flight would otherwise stay as they are for ever:

- **pending_review at its departure time**: a city did not review it in time. Approving it
  later would approve a flight whose departure has passed, so it becomes ``rejected`` with the
  reason ``review_expired`` naming the cities that did not decide (a late review is refused,
  ``Engine.review``).
- **approved after its last volume ended** without being activated: the approval can no
  longer be used (``Engine.activate`` refuses it), so the flight becomes ``cancelled`` with a
  note that it expired unused (not ``ended``: that says it flew and landed).
- **replan_required after its latest departure**, not filed again (its airspace went to an
  emergency or a constraint and no re-plan fitted): it becomes ``cancelled``, so that the
  flights an operator must act on are only those that can still fly, and a starting node,
  which reads every replan_required flight (``replanning.pending_in``), reads few. One still
  waiting for its automatic re-plan is left to it.

The first two release their volumes and pad slots (a past slot blocks nobody, but a held one
would be listed and drawn as if it still mattered). ``Engine.expire`` applies this to every
flight due, each in a transaction of its own; the HTTP service runs it every minute
(``api.housekeeping``). A decision never depends on it: an expired flight's volumes all lie
in the past, where no new plan can go.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from airspace.timing import format_instant
from utm import replanning
from utm.flights import Flight, Reason, ReviewStatus
from utm.plans import AnyPlan, FlightPlan
from utm.states import FlightState
from utm.storage.base import Store, all_summaries

REVIEW_EXPIRED = "review_expired"
"""Reason code of a plan rejected because its review was not finished by its departure."""

EXPIRING_STATES = (FlightState.PENDING_REVIEW, FlightState.APPROVED,
                   FlightState.REPLAN_REQUIRED)
"""The states a flight can expire from."""

LOOK_AHEAD = timedelta(seconds=1)
"""Flights departing this soon after ``now`` are read too: one departing exactly at ``now``
is due, and a store may compare instants to the second."""


def expires_at(flight: Flight) -> datetime | None:
    """When ``flight`` expires as it is now: a pending review at its departure time, an
    approved flight when its last volume ends, one that must be filed again at its latest
    departure time; None if it does not expire."""
    if flight.state is FlightState.PENDING_REVIEW:
        return flight.departure_time
    if flight.state is FlightState.APPROVED:
        if flight.volumes:
            return max(volume.end_time for volume in flight.volumes)
        return flight.arrival_time
    if flight.state is FlightState.REPLAN_REQUIRED and not replanning.is_pending(flight):
        return last_departure(flight.plan)
    return None


def last_departure(plan: AnyPlan) -> datetime:
    """The latest a plan may take off: its latest departure time, or for an area-based plan
    the end of its last volume."""
    if isinstance(plan, FlightPlan):
        return plan.latest_departure_time
    return max(volume.end_time for volume in plan.volumes)


def is_due(flight: Flight, now: datetime) -> bool:
    """True if ``flight`` has expired at ``now``."""
    deadline = expires_at(flight)
    return deadline is not None and now >= deadline


def expired(flight: Flight, now: datetime) -> Flight:
    """``flight`` (due at ``now``) as it is once expired, holding nothing."""
    deadline = expires_at(flight)
    assert deadline is not None, f"flight {flight.id} ({flight.state.value}) does not expire"
    when = format_instant(deadline)
    if flight.state is FlightState.PENDING_REVIEW:
        late = sorted(city for city, status in flight.reviews.items()
                      if status is ReviewStatus.PENDING)
        reason = Reason(REVIEW_EXPIRED, f"not reviewed by {', '.join(late)} before its "
                        f"departure time {when}", late[0] if len(late) == 1 else None)
        return flight.evolve(
            state=FlightState.REJECTED, updated_time=now, volumes=(), pad_slots=(),
            decision=replace(flight.decision, state=FlightState.REJECTED,
                             reasons=(*flight.decision.reasons, reason)),
            notes=(*flight.notes, f"expired: {reason.message}"))
    unused = ("not activated before its volumes ended at" if flight.state is FlightState.APPROVED
              else "not filed again by its latest departure time")
    return flight.evolve(state=FlightState.CANCELLED, updated_time=now, volumes=(),
                         pad_slots=(), notes=(*flight.notes, f"expired: {unused} {when}"))


def due_ids(store: Store, now: datetime) -> list[str]:
    """Ids of the flights that may have expired at ``now``: in an expiring state, departing
    (or having departed) by ``now``; each is checked again, with ``is_due``, in its own
    transaction."""
    return [summary.id
            for summary in all_summaries(store, states=EXPIRING_STATES,
                                         end_time=now + LOOK_AHEAD)
            if summary.state is not FlightState.APPROVED
            or summary.arrival_time is None or summary.arrival_time <= now]
