"""Flight states and the transitions allowed between them (the one place that says so).

Compatible in spirit with ASTM F3548-21: approved ~ Accepted, activated ~ Activated,
nonconforming ~ Nonconforming, replan_required ~ a plan that must be re-planned.
"""

from __future__ import annotations

from enum import StrEnum

from utm.errors import InvalidTransitionError


class FlightState(StrEnum):
    """Where a flight plan is in its life."""

    PENDING_REVIEW = "pending_review"
    """Deconflicted and holding its slot; waits for one or more cities' review."""
    APPROVED = "approved"
    """Approved in every city it crosses; holds its volumes and pad slots."""
    REJECTED = "rejected"
    """Refused (by the engine or a city's review); holds nothing."""
    ACTIVATED = "activated"
    """Flying."""
    NONCONFORMING = "nonconforming"
    """Flying outside its volumes (beyond the tolerance); regulators are alerted."""
    ENDED = "ended"
    """Landed; the flight is over."""
    CANCELLED = "cancelled"
    """Withdrawn by its operator or a regulator, or expired unused (``utm.expiry``); holds
    nothing."""
    REPLAN_REQUIRED = "replan_required"
    """Lost its airspace (emergency preemption or a constraint) and could not be re-planned
    automatically: the operator must file again. Also, for the moments between an
    emergency's decision and their re-plan, the flights it preempted (reason ``preempted``:
    being re-planned, ``utm.replanning``)."""


HOLDS_AIRSPACE = frozenset(
    {
        FlightState.PENDING_REVIEW,
        FlightState.APPROVED,
        FlightState.ACTIVATED,
        FlightState.NONCONFORMING,
    }
)
"""States whose volumes and pad slots no other flight may take."""

TERMINAL = frozenset({FlightState.REJECTED, FlightState.ENDED, FlightState.CANCELLED})

TRANSITIONS: dict[FlightState, frozenset[FlightState]] = {
    FlightState.PENDING_REVIEW: frozenset(
        {FlightState.APPROVED, FlightState.REJECTED, FlightState.CANCELLED,
         FlightState.REPLAN_REQUIRED, FlightState.PENDING_REVIEW}
    ),
    FlightState.APPROVED: frozenset(
        {FlightState.ACTIVATED, FlightState.CANCELLED, FlightState.REPLAN_REQUIRED,
         FlightState.APPROVED, FlightState.PENDING_REVIEW}
    ),
    FlightState.ACTIVATED: frozenset({FlightState.ENDED, FlightState.NONCONFORMING}),
    FlightState.NONCONFORMING: frozenset({FlightState.ACTIVATED, FlightState.ENDED}),
    FlightState.REPLAN_REQUIRED: frozenset(
        {FlightState.CANCELLED, FlightState.APPROVED, FlightState.PENDING_REVIEW,
         FlightState.REPLAN_REQUIRED}
    ),
    FlightState.REJECTED: frozenset(),
    FlightState.ENDED: frozenset(),
    FlightState.CANCELLED: frozenset(),
}
"""Allowed moves. approved -> approved and pending_review -> pending_review are automatic
re-plans that keep the flight's id and approval id; so are the moves out of replan_required
but cancelled: the re-plan of a flight an emergency released (``utm.replanning``; a flight
that could not be re-planned is never decided again, its operator files a new plan).
pending_review -> rejected, approved -> cancelled and replan_required -> cancelled are also how
a plan expires when its time passes unused (``utm.expiry``)."""


def check_transition(current: FlightState, target: FlightState) -> None:
    """Raise ``InvalidTransitionError`` unless ``current -> target`` is allowed."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransitionError(
            f"a flight that is {current.value} cannot become {target.value}"
        )
