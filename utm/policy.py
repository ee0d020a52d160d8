"""City policies applied to a flight's part in each city; the strictest outcome wins.

Pure: no I/O, no clock (``now`` is passed in). Rules come from each jurisdiction's ``Policy``
in the dataset (see docs/dataset-format.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from airspace import Airspace, AirspaceClass
from airspace.classes import TRUE_HEIGHT_LIMIT_M
from routes import FlightBuffers, Volume4D
from utm.flights import Reason, ReviewStatus
from utm.plans import AnyPlan, Priority
from utm.states import FlightState


class Outcome(IntEnum):
    """A city's verdict on its part; higher is stricter."""

    AUTOMATIC = 0
    REVIEW = 1
    REFUSE = 2


@dataclass(frozen=True, slots=True)
class CityVerdict:
    """What one jurisdiction says about its part of a flight."""

    jurisdiction: str
    outcome: Outcome
    reasons: tuple[Reason, ...]


def split_by_jurisdiction(airspace: Airspace,
                          volumes: Sequence[Volume4D]) -> dict[str, list[Volume4D]]:
    """The volumes each jurisdiction holds a part of (a volume on a border is in both)."""
    parts: dict[str, list[Volume4D]] = {}
    for volume in volumes:
        for jurisdiction in airspace.jurisdictions_crossed(volume.outline):
            parts.setdefault(jurisdiction.id, []).append(volume)
    return parts


def evaluate(
    airspace: Airspace,
    plan: AnyPlan,
    volumes: Sequence[Volume4D],
    departure_time: datetime,
    now: datetime,
    buffers: FlightBuffers,
) -> list[CityVerdict]:
    """Each crossed city's verdict, in dataset order.

    Parameters
    ----------
    volumes
        The flight's reservation as it would be approved.
    departure_time, now
        Aware UTC instants; ``now`` is when the plan is decided (for lead times).
    buffers
        The vertical buffer is removed from ceilings to get the nominal flown height.
    """
    emergency = plan.priority is Priority.EMERGENCY
    lead_s = (departure_time - now).total_seconds()
    verdicts = []
    for city_id, part in split_by_jurisdiction(airspace, volumes).items():
        policy = airspace.jurisdictions[city_id].policy
        findings: list[tuple[Outcome, Reason]] = []
        rule = _Rules(city_id, findings)

        classes: set[AirspaceClass] = {AirspaceClass.SUITABLE}
        zone_ids: dict[AirspaceClass, str] = {}
        highest_m = 0.0
        for volume in part:
            highest_m = max(highest_m, volume.ceiling_agl_m - buffers.vertical_m)
            for zone in airspace.zones_touching(volume.outline_m, volume.floor_agl_m,
                                                volume.ceiling_agl_m, volume.start_time,
                                                volume.end_time):
                classes.add(zone.airspace_class)
                zone_ids.setdefault(zone.airspace_class, zone.id)
        if highest_m > TRUE_HEIGHT_LIMIT_M:
            # Everything above 120 m true height is controlled (2024 Interim Regulations).
            classes.add(AirspaceClass.CONTROLLED)
        if highest_m > policy.max_height_agl_m:
            rule(Outcome.REFUSE, "above_max_height",
                 f"flies at {highest_m:.0f} m, above {city_id}'s limit of "
                 f"{policy.max_height_agl_m:.0f} m true height")
        for airspace_class in sorted(classes & policy.refused_classes):
            where = f" (zone {zone_ids[airspace_class]})" if airspace_class in zone_ids else ""
            rule(Outcome.REFUSE, "class_refused",
                 f"{city_id} does not allow flights in {airspace_class.value} airspace{where}")
        for airspace_class in sorted(classes & policy.review_classes):
            where = f" (zone {zone_ids[airspace_class]})" if airspace_class in zone_ids else ""
            if emergency and policy.emergency_fast_track:
                rule(Outcome.AUTOMATIC, "emergency_fast_track",
                     f"{airspace_class.value} airspace{where} approved by "
                     f"{city_id}'s emergency fast track")
            else:
                rule(Outcome.REVIEW, "class_review",
                     f"{city_id} reviews flights in {airspace_class.value} airspace{where}")
        category = plan.drone.category.value
        if category in policy.review_categories and not (emergency and policy.emergency_fast_track):
            rule(Outcome.REVIEW, "category_review", f"{city_id} reviews {category} drones")
        if not emergency and lead_s < policy.min_lead_time_s:
            rule(Outcome.REFUSE, "lead_time",
                 f"{city_id} needs plans filed {policy.min_lead_time_s:.0f} s before departure; "
                 f"this one was filed {max(lead_s, 0):.0f} s before")
        if policy.curfew is not None and not emergency and any(
            policy.curfew.overlaps(volume.start_time, volume.end_time) for volume in part
        ):
            result = Outcome.REVIEW if policy.curfew_action == "review" else Outcome.REFUSE
            rule(result, "curfew",
                 f"the flight is in {city_id} during its curfew ({policy.curfew.to_text()})")
        outcome = max((found for found, _ in findings), default=Outcome.AUTOMATIC)
        verdicts.append(CityVerdict(city_id, outcome, tuple(reason for _, reason in findings)))
    return verdicts


@dataclass(slots=True)
class _Rules:
    """Collects one city's findings: ``rule(outcome, code, message)``."""

    jurisdiction: str
    findings: list[tuple[Outcome, Reason]]

    def __call__(self, outcome: Outcome, code: str, message: str) -> None:
        self.findings.append((outcome, Reason(code, message, self.jurisdiction)))


def strictest(verdicts: Sequence[CityVerdict]) -> Outcome:
    """The overall outcome: the strictest city's."""
    return max((verdict.outcome for verdict in verdicts), default=Outcome.AUTOMATIC)


def reviews_and_state(verdicts: Sequence[CityVerdict]
                      ) -> tuple[dict[str, ReviewStatus], FlightState]:
    """Each city's review (pending where its policy asks one, automatic elsewhere) and the
    state a flight that is not refused takes: pending review if any city reviews it."""
    reviews = {
        verdict.jurisdiction: (ReviewStatus.PENDING if verdict.outcome is Outcome.REVIEW
                               else ReviewStatus.AUTOMATIC)
        for verdict in verdicts
    }
    state = (FlightState.PENDING_REVIEW if strictest(verdicts) is Outcome.REVIEW
             else FlightState.APPROVED)
    return reviews, state


def required_lead_s(airspace: Airspace, cities: Sequence[str], plan: AnyPlan) -> float:
    """The longest lead time among ``cities`` (zero for emergencies)."""
    if plan.priority is Priority.EMERGENCY:
        return 0.0
    return max((airspace.jurisdictions[c].policy.min_lead_time_s for c in cities), default=0.0)
