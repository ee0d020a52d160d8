"""Each city's policy, applied to its part of the route; the strictest outcome wins.

The four policies of the bundled dataset (airspace/datasets/sichuan4/jurisdictions.geojson):

- chengdu: 300 s lead time, reviews medium drones and controlled/restricted airspace.
- deyang: curfew 22:00-06:00 Beijing time, refused; 200 m limit.
- meishan: 900 s lead time, refuses controlled airspace, curfew 23:00-05:30 reviewed; 120 m.
- ziyang: 1800 s lead time, no emergency fast track, reviews small and medium drones, refuses
  restricted airspace.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airspace import Airspace
from routes import Endpoint, Planner
from utm.engine import Engine
from utm.errors import ReviewNotFoundError
from utm.flights import Flight, ReviewStatus
from utm.plans import FlightPlan, Priority, make_drone
from utm.states import FlightState
from utm.storage import open_store

NIGHT_T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
"""23:00 Beijing time: inside the Deyang curfew (22:00-06:00)."""

LATE_NIGHT_T0 = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
"""23:30 Beijing time: inside the Meishan curfew (23:00-05:30)."""

DEYANG_POINT = Endpoint(lat=31.12, lng=104.39)
"""A point in central Deyang near DY-PPH (a hospital pad open at night)."""

MEISHAN_POINT = Endpoint(lat=30.07, lng=103.85)
"""A point in central Meishan near MS-PPH (a hospital pad open at night)."""


@pytest.fixture()
def engine(airspace_model: Airspace, planner: Planner) -> Engine:
    """An engine over an empty in-memory store."""
    return Engine(airspace_model, open_store("sqlite:///:memory:", airspace_model.layers),
                  planner=planner)


def _plan(origin: Endpoint, destination: Endpoint, earliest: datetime, window: timedelta,
          category: str = "light", priority: Priority = Priority.COMMERCIAL,
          **options: object) -> FlightPlan:
    return FlightPlan("op1", make_drone("d1", category), origin, destination, earliest,
                      earliest + window, priority, **options)  # type: ignore[arg-type]


def _codes(flight: Flight) -> dict[str, str | None]:
    return {reason.code: reason.jurisdiction for reason in flight.decision.reasons}


# -- lead time ------------------------------------------------------------------------------


def test_chengdu_lead_time_rejects_a_plan_filed_too_late(engine: Engine, t0: datetime) -> None:
    plan = _plan(Endpoint("CD-TFS"), Endpoint("CD-WCH"), t0 + timedelta(seconds=100),
                 timedelta(seconds=60))
    flight = engine.submit(plan, t0)
    assert flight.state is FlightState.REJECTED
    assert "lead_time" in _codes(flight)
    assert flight.volumes == () and flight.approval_id is None


def test_chengdu_lead_time_moves_the_departure_inside_a_long_window(engine: Engine,
                                                                   t0: datetime) -> None:
    plan = _plan(Endpoint("CD-TFS"), Endpoint("CD-WCH"), t0 + timedelta(seconds=100),
                 timedelta(minutes=30))
    flight = engine.submit(plan, t0)
    assert flight.state is FlightState.APPROVED
    assert flight.departure_time is not None
    assert flight.departure_time >= t0 + timedelta(seconds=300)
    assert any("departure moved" in change for change in flight.decision.changes)


@pytest.mark.parametrize(("origin", "destination", "lead_s"), [
    ("MS-CTR", "MS-LOG", 900),
    ("ZY-CTR", "ZY-NST", 1800),
])
def test_lead_time_of_each_city(engine: Engine, t0: datetime, origin: str, destination: str,
                                lead_s: int) -> None:
    too_soon = _plan(Endpoint(origin), Endpoint(destination), t0 + timedelta(seconds=300),
                     timedelta(seconds=lead_s - 400))
    assert "lead_time" in _codes(engine.submit(too_soon, t0))
    movable = _plan(Endpoint(origin), Endpoint(destination), t0 + timedelta(seconds=300),
                    timedelta(seconds=lead_s))
    flight = engine.submit(movable, t0)
    assert flight.state is FlightState.APPROVED
    assert flight.departure_time == t0 + timedelta(seconds=lead_s)


def test_emergency_ignores_the_lead_time(engine: Engine, t0: datetime) -> None:
    plan = _plan(Endpoint("CD-TFS"), Endpoint("CD-WCH"), t0 + timedelta(seconds=100),
                 timedelta(seconds=60), priority=Priority.EMERGENCY)
    flight = engine.submit(plan, t0)
    assert flight.state is FlightState.APPROVED
    assert flight.departure_time == t0 + timedelta(seconds=100)


# -- drone categories ------------------------------------------------------------------------


def test_chengdu_reviews_medium_drones(engine: Engine, t0: datetime) -> None:
    plan = _plan(Endpoint("CD-TFS"), Endpoint("CD-WCH"), t0, timedelta(minutes=30), "medium")
    flight = engine.submit(plan, t0 - timedelta(hours=1))
    assert flight.state is FlightState.PENDING_REVIEW
    assert flight.reviews == {"chengdu": ReviewStatus.PENDING}
    assert _codes(flight)["category_review"] == "chengdu"
    assert flight.volumes  # a pending flight holds its slot
    assert not engine.verify_approval(flight.approval_id or "").valid


def test_chengdu_fast_tracks_an_emergency_medium_drone(engine: Engine, t0: datetime) -> None:
    plan = _plan(Endpoint("CD-TFS"), Endpoint("CD-WCH"), t0, timedelta(minutes=30), "medium",
                 Priority.EMERGENCY)
    flight = engine.submit(plan, t0 - timedelta(hours=1))
    assert flight.state is FlightState.APPROVED
    assert flight.reviews == {"chengdu": ReviewStatus.AUTOMATIC}


@pytest.mark.parametrize("category", ["small", "medium"])
def test_ziyang_reviews_small_and_medium_drones(engine: Engine, t0: datetime,
                                                category: str) -> None:
    plan = _plan(Endpoint("ZY-CTR"), Endpoint("ZY-NST"), t0, timedelta(minutes=30), category)
    flight = engine.submit(plan, t0 - timedelta(hours=1))
    assert flight.state is FlightState.PENDING_REVIEW
    assert flight.reviews == {"ziyang": ReviewStatus.PENDING}
    assert _codes(flight)["category_review"] == "ziyang"


def test_ziyang_approves_light_drones_automatically(engine: Engine, t0: datetime) -> None:
    plan = _plan(Endpoint("ZY-CTR"), Endpoint("ZY-NST"), t0, timedelta(minutes=30))
    flight = engine.submit(plan, t0 - timedelta(hours=1))
    assert flight.state is FlightState.APPROVED
    assert flight.reviews == {"ziyang": ReviewStatus.AUTOMATIC}


def test_ziyang_has_no_emergency_fast_track(engine: Engine, t0: datetime) -> None:
    plan = _plan(Endpoint("ZY-CTR"), Endpoint("ZY-NST"), t0, timedelta(minutes=30), "small",
                 Priority.EMERGENCY)
    flight = engine.submit(plan, t0 - timedelta(hours=1))
    assert flight.state is FlightState.PENDING_REVIEW
    assert flight.reviews == {"ziyang": ReviewStatus.PENDING}


# -- curfews ---------------------------------------------------------------------------------


def test_deyang_curfew_refuses_a_night_flight(engine: Engine) -> None:
    plan = _plan(Endpoint("DY-PPH"), DEYANG_POINT, NIGHT_T0, timedelta(minutes=10))
    flight = engine.submit(plan, NIGHT_T0 - timedelta(hours=1))
    assert flight.state is FlightState.REJECTED
    assert _codes(flight)["curfew"] == "deyang"
    assert flight.volumes == ()


def test_emergency_ignores_the_deyang_curfew(engine: Engine) -> None:
    plan = _plan(Endpoint("DY-PPH"), DEYANG_POINT, NIGHT_T0, timedelta(minutes=10),
                 priority=Priority.EMERGENCY)
    flight = engine.submit(plan, NIGHT_T0 - timedelta(hours=1))
    assert flight.state is FlightState.APPROVED
    assert flight.departure_time == NIGHT_T0
    assert engine.verify_approval(flight.approval_id or "").valid


def test_deyang_flies_by_day(engine: Engine, t0: datetime) -> None:
    plan = _plan(Endpoint("DY-PPH"), DEYANG_POINT, t0, timedelta(minutes=10))
    assert engine.submit(plan, t0 - timedelta(hours=1)).state is FlightState.APPROVED


def test_meishan_curfew_sends_a_night_flight_to_review(engine: Engine) -> None:
    plan = _plan(Endpoint("MS-PPH"), MEISHAN_POINT, LATE_NIGHT_T0, timedelta(minutes=10))
    flight = engine.submit(plan, LATE_NIGHT_T0 - timedelta(hours=1))
    assert flight.state is FlightState.PENDING_REVIEW
    assert flight.reviews == {"meishan": ReviewStatus.PENDING}
    assert _codes(flight)["curfew"] == "meishan"


def test_emergency_ignores_the_meishan_curfew(engine: Engine) -> None:
    plan = _plan(Endpoint("MS-PPH"), MEISHAN_POINT, LATE_NIGHT_T0, timedelta(minutes=10),
                 priority=Priority.EMERGENCY)
    flight = engine.submit(plan, LATE_NIGHT_T0 - timedelta(hours=1))
    assert flight.state is FlightState.APPROVED


# -- airspace classes and heights ------------------------------------------------------------


@pytest.mark.parametrize(("city", "origin", "destination"), [
    # Straight across a restricted zone's footprint, from one side to the other.
    ("chengdu", Endpoint(lat=30.455, lng=104.135), Endpoint(lat=30.455, lng=104.165)),
    ("meishan", Endpoint(lat=29.93, lng=103.98), Endpoint(lat=29.93, lng=104.02)),
])
def test_restricted_airspace_is_reviewed(engine: Engine, t0: datetime, city: str,
                                         origin: Endpoint, destination: Endpoint) -> None:
    plan = _plan(origin, destination, t0, timedelta(minutes=30), allow_review_airspace=True)
    flight = engine.submit(plan, t0 - timedelta(hours=1))
    assert flight.state is FlightState.PENDING_REVIEW
    assert _codes(flight)["class_review"] == city


def test_ziyang_refuses_restricted_airspace(engine: Engine, t0: datetime) -> None:
    plan = _plan(Endpoint(lat=30.06, lng=104.735), Endpoint(lat=30.06, lng=104.765), t0,
                 timedelta(minutes=30), allow_review_airspace=True)
    flight = engine.submit(plan, t0 - timedelta(hours=1))
    assert flight.state is FlightState.REJECTED
    assert _codes(flight)["class_refused"] == "ziyang"


def test_restricted_airspace_without_consent_is_avoided_or_refused(engine: Engine,
                                                                   t0: datetime) -> None:
    plan = _plan(Endpoint(lat=30.06, lng=104.735), Endpoint(lat=30.06, lng=104.765), t0,
                 timedelta(minutes=30))
    flight = engine.submit(plan, t0 - timedelta(hours=1))
    assert flight.state is FlightState.REJECTED
    assert "no_route" in _codes(flight)


def test_above_120_m_is_controlled_airspace(engine: Engine, t0: datetime) -> None:
    high = FlightPlan("op1", make_drone("d1", "small", max_height_agl_m=300), Endpoint("CD-TFS"),
                      Endpoint("CD-WCH"), t0, t0 + timedelta(minutes=30), cruise_agl_m=150.0)
    flight = engine.submit(high, t0 - timedelta(hours=1))
    assert flight.state is FlightState.PENDING_REVIEW
    assert _codes(flight)["class_review"] == "chengdu"


@pytest.mark.parametrize(("origin", "destination", "cruise_agl_m", "city"), [
    ("MS-CTR", "MS-LOG", 150.0, "meishan"),  # limit 120 m, and controlled is refused
    ("DY-CTR", "DY-LOG", 250.0, "deyang"),  # limit 200 m
])
def test_city_height_limit(engine: Engine, t0: datetime, origin: str, destination: str,
                           cruise_agl_m: float, city: str) -> None:
    high = FlightPlan("op1", make_drone("d1", "small", max_height_agl_m=300), Endpoint(origin),
                      Endpoint(destination), t0, t0 + timedelta(minutes=30),
                      cruise_agl_m=cruise_agl_m, allow_review_airspace=True)
    flight = engine.submit(high, t0 - timedelta(hours=1))
    assert flight.state is FlightState.REJECTED
    assert _codes(flight)["above_max_height"] == city


# -- one approval across cities: the strictest wins ------------------------------------------


def _cross_city(engine: Engine, t0: datetime) -> Flight:
    plan = _plan(Endpoint("CD-TFS"), Endpoint("ZY-CTR"), t0, timedelta(minutes=30), "small")
    flight = engine.submit(plan, t0 - timedelta(hours=1))
    assert flight.state is FlightState.PENDING_REVIEW
    assert flight.reviews["chengdu"] is ReviewStatus.AUTOMATIC
    assert flight.reviews["ziyang"] is ReviewStatus.PENDING
    assert {"chengdu", "ziyang"} <= set(flight.jurisdictions)
    return flight


def test_cross_city_flight_is_approved_when_the_strictest_city_approves(
    engine: Engine, t0: datetime,
) -> None:
    flight = _cross_city(engine, t0)
    with pytest.raises(ReviewNotFoundError):
        engine.review(flight.id, "chengdu", True, "not ours to review", t0 - timedelta(minutes=30),
                      "chengdu-reg")
    approved = engine.review(flight.id, "ziyang", True, "ok", t0 - timedelta(minutes=30),
                             "ziyang-reg")
    assert approved.state is FlightState.APPROVED
    assert approved.approval_id == flight.approval_id
    assert approved.volumes == flight.volumes
    check = engine.verify_approval(approved.approval_id or "")
    assert check.valid
    assert set(check.jurisdictions) >= {"chengdu", "ziyang"}
    assert "review_approved" in _codes(approved)


def test_cross_city_flight_is_rejected_when_one_city_rejects(engine: Engine,
                                                             t0: datetime) -> None:
    flight = _cross_city(engine, t0)
    rejected = engine.review(flight.id, "ziyang", False, "busy day", t0 - timedelta(minutes=30),
                             "ziyang-reg")
    assert rejected.state is FlightState.REJECTED
    assert rejected.volumes == () and rejected.pad_slots == ()
    assert rejected.reviews["ziyang"] is ReviewStatus.REJECTED
    assert not engine.verify_approval(rejected.approval_id or "").valid
    with pytest.raises(ReviewNotFoundError):
        engine.review(flight.id, "ziyang", True, "changed my mind", t0, "ziyang-reg")
    # The released airspace is free again: the same plan gets the same departure.
    again = engine.submit(flight.plan, t0 - timedelta(minutes=50))
    assert again.departure_time == flight.departure_time
