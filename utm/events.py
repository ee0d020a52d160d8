"""What the engine tells the world: events for the stream, integrations and its own queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airspace.timing import format_instant
from utm.flights import Flight


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened (committed), for the event stream and integrations."""

    kind: str
    """``decision``, ``state``, ``alert``, ``constraint``, ``review``, ``preempted`` (a flight
    released by an emergency, about to be re-planned: ``utm.replanning``)."""
    time: datetime
    flight_id: str | None
    jurisdictions: tuple[str, ...]
    operator_id: str | None
    data: dict[str, Any]


def flight_event(kind: str, flight: Flight, now: datetime) -> Event:
    """An event about ``flight``: its id, state, priority and departure."""
    return Event(kind, now, flight.id, flight.jurisdictions, flight.operator_id,
                 {"flight_id": flight.id, "state": flight.state.value,
                  "priority": flight.priority.value,
                  "departure_time": format_instant(flight.departure_time)
                  if flight.departure_time else None})
