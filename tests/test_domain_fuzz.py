"""Hypothesis over the domain's entry points: whatever they are given, garbage included, they
answer or raise their package's documented error, never another exception.

- ``Airspace.classify(lat, lng, alt_agl_m, at_time)``: a ``Classification`` or an
  ``AirspaceError``;
- ``Planner.plan(RouteRequest(...))``: a ``Route`` or a ``RoutingError`` (building the request
  is part of the call: ``Endpoint`` and ``DronePerformance`` check their values);
- ``Engine.submit(FlightPlan(...), now)``: a ``Flight`` or a ``UtmError`` (again with the
  plan's construction).

Inputs mix plausible values (inside the four cities, around ``T0``) with garbage: NaN,
infinities, huge and negative numbers, booleans, strings and ``None`` where numbers belong,
naive, far-past and far-future datetimes, unknown vertiport ids, strings with control
characters. ``UTM_FUZZ_EXAMPLES`` sets the examples per test (default 60: a few seconds each);
raise it for a deeper run (``UTM_FUZZ_EXAMPLES=2000 pytest tests/test_domain_fuzz.py``).
Failures found this way are kept as ``@example``s, so they run every time.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from airspace import Airspace, AirspaceClass, AirspaceError
from routes import (
    DroneCategory,
    DronePerformance,
    Endpoint,
    Planner,
    Route,
    RouteRequest,
    RoutingError,
)
from utm.engine import Engine
from utm.errors import UtmError
from utm.flights import Flight
from utm.plans import Drone, FlightPlan, Priority
from utm.storage import open_store

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)

FUZZ_EXAMPLES = int(os.environ.get("UTM_FUZZ_EXAMPLES", "60"))
"""Examples per test; the planner and engine tests take a third of them (they are slower)."""

FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SLOW_FUZZ = settings(FUZZ, max_examples=max(10, FUZZ_EXAMPLES // 3))

# -- strategies ---------------------------------------------------------------------------------

GARBAGE = st.one_of(st.none(), st.booleans(), st.text(max_size=8), st.just([]), st.just({}),
                    st.integers(min_value=-(10**30), max_value=10**30))
"""Values of the wrong type."""

ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


def mostly(plausible: st.SearchStrategy[Any],
           *odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``plausible`` about five times in six, one of ``odd`` otherwise: with several
    arguments, a good share of examples is plausible throughout and reaches the deep code,
    and the others have one or two odd arguments. (``st.one_of`` would pick each branch
    equally often.) Shrinking goes towards ``plausible``."""
    odd_one = st.one_of(*odd)
    return st.integers(min_value=0, max_value=5).flatmap(
        lambda draw: odd_one if draw == 5 else plausible)


def number_near(low: float, high: float) -> st.SearchStrategy[Any]:
    """Mostly values in ``[low, high]``; sometimes any float (NaN, infinities), or garbage."""
    return mostly(st.floats(low, high), ANY_FLOAT, GARBAGE)


LAT = number_near(29.5, 31.6)
LNG = number_near(103.0, 105.6)
ALT_AGL_M = number_near(0.0, 1000.0)

OFFSETS = st.builds(timezone, st.timedeltas(min_value=-timedelta(hours=23, minutes=59),
                                            max_value=timedelta(hours=23, minutes=59)))
ANY_INSTANT = st.datetimes(timezones=st.one_of(st.none(), st.just(UTC), OFFSETS))
"""From year 1 to 9999, naive or with any offset: near ``datetime``'s own limits too."""

NEAR_T0 = st.builds(lambda minutes: T0 + timedelta(minutes=minutes),
                    st.integers(min_value=-60 * 24, max_value=60 * 24 * 40))
INSTANT = mostly(NEAR_T0, ANY_INSTANT, GARBAGE)


def known_or_unknown_vertiport(airspace: Airspace) -> st.SearchStrategy[Any]:
    return mostly(st.sampled_from(sorted(airspace.vertiports)), st.text(max_size=12), GARBAGE)


def endpoints(airspace: Airspace) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments of ``Endpoint``: mostly a vertiport or a point; sometimes both, or
    neither."""
    return mostly(
        st.one_of(st.fixed_dictionaries({"vertiport_id": known_or_unknown_vertiport(airspace)}),
                  st.fixed_dictionaries({"vertiport_id": known_or_unknown_vertiport(airspace)}),
                  st.fixed_dictionaries({"lat": LAT, "lng": LNG})),
        st.fixed_dictionaries({}, optional={"vertiport_id": known_or_unknown_vertiport(airspace),
                                            "lat": LAT, "lng": LNG}),
    )


PERFORMANCE_OVERRIDES = mostly(st.just({}), st.fixed_dictionaries({}, optional={
    "cruise_speed_mps": number_near(1.0, 60.0),
    "climb_rate_mps": number_near(0.5, 15.0),
    "descent_rate_mps": number_near(0.5, 15.0),
    "max_height_agl_m": number_near(10.0, 1000.0),
}))

CATEGORY = st.sampled_from(list(DroneCategory))
CRUISE_AGL_M = mostly(st.none(), number_near(10.0, 120.0))
ALLOWED = st.frozensets(st.sampled_from([AirspaceClass.CONTROLLED, AirspaceClass.RESTRICTED]))
IDENTIFIER = mostly(st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True),
                    st.text(max_size=20), st.just("a\x00b"), st.just("\ud800"), GARBAGE)
PURPOSE = mostly(st.text(max_size=40), st.just("\u202eevil"), st.just("\ud800"),
                 st.text(min_size=501, max_size=600), GARBAGE)
WINDOW = mostly(st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=2)),
                st.timedeltas(min_value=timedelta(hours=-2), max_value=timedelta(hours=30)),
                GARBAGE)
NOW = mostly(st.just(T0 - timedelta(hours=1)), INSTANT)


# -- classify ---------------------------------------------------------------------------------


@FUZZ
@given(lat=LAT, lng=LNG, alt_agl_m=ALT_AGL_M, at_time=INSTANT)
@example(lat=30.6, lng=104.06, alt_agl_m=50.0, at_time=datetime(9999, 12, 31, 23, tzinfo=UTC))
@example(lat=30.6, lng=104.06, alt_agl_m=50.0,
         at_time=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
def test_classify_answers_or_raises_an_airspace_error(airspace_model: Airspace, lat: Any,
                                                      lng: Any, alt_agl_m: Any,
                                                      at_time: Any) -> None:
    try:
        result = airspace_model.classify(lat, lng, alt_agl_m, at_time)
    except AirspaceError as error:
        event(f"refused: {error.code}")
        return
    event(f"classified: {result.airspace_class.value}")
    assert result.airspace_class in AirspaceClass
    assert 0 <= result.layer < airspace_model.layers.count


# -- planner ----------------------------------------------------------------------------------


def plan_route(planner: Planner, origin: dict[str, Any], destination: dict[str, Any],
               departure_time: Any, category: DroneCategory, overrides: dict[str, Any],
               cruise_agl_m: Any, allowed: frozenset[AirspaceClass]) -> Route:
    """Build the request from raw values (as a caller would) and plan it."""
    performance = DronePerformance.default_for(category).with_overrides(**overrides)
    request = RouteRequest(origin=Endpoint(**origin), destination=Endpoint(**destination),
                           departure_time=departure_time, performance=performance,
                           cruise_agl_m=cruise_agl_m, allowed_classes=allowed)
    return planner.plan(request)


@pytest.fixture(scope="module")
def endpoint_strategy(airspace_model: Airspace) -> st.SearchStrategy[dict[str, Any]]:
    return endpoints(airspace_model)


@SLOW_FUZZ
@given(data=st.data(), departure_time=INSTANT, category=CATEGORY,
       overrides=PERFORMANCE_OVERRIDES, cruise_agl_m=CRUISE_AGL_M, allowed=ALLOWED)
def test_the_planner_answers_or_raises_a_routing_error(
    planner: Planner, endpoint_strategy: st.SearchStrategy[dict[str, Any]], data: st.DataObject,
    departure_time: Any, category: DroneCategory, overrides: dict[str, Any], cruise_agl_m: Any,
    allowed: frozenset[AirspaceClass],
) -> None:
    origin = data.draw(endpoint_strategy, label="origin")
    destination = data.draw(endpoint_strategy, label="destination")
    try:
        route = plan_route(planner, origin, destination, departure_time, category, overrides,
                           cruise_agl_m, allowed)
    except RoutingError as error:
        event(f"refused: {error.code}")
        return
    event("planned")
    assert route.legs and route.duration_s >= 0.0


# -- engine -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(airspace_model: Airspace, planner: Planner) -> Engine:
    """An engine over an in-memory store (approved fuzz flights stay in it)."""
    return Engine(airspace_model, open_store("sqlite:///:memory:", airspace_model.layers),
                  planner=planner)


@SLOW_FUZZ
@given(data=st.data(), operator_id=IDENTIFIER, drone_id=IDENTIFIER, category=CATEGORY,
       overrides=PERFORMANCE_OVERRIDES, earliest=INSTANT, window=WINDOW,
       priority=st.sampled_from(list(Priority)), purpose=PURPOSE, cruise_agl_m=CRUISE_AGL_M,
       allow_review=st.booleans(), now=NOW)
def test_the_engine_decides_or_raises_a_utm_error(
    engine: Engine, endpoint_strategy: st.SearchStrategy[dict[str, Any]], data: st.DataObject,
    operator_id: Any, drone_id: Any, category: DroneCategory, overrides: dict[str, Any],
    earliest: Any, window: Any, priority: Priority, purpose: Any, cruise_agl_m: Any,
    allow_review: bool, now: Any,
) -> None:
    origin = data.draw(endpoint_strategy, label="origin")
    destination = data.draw(endpoint_strategy, label="destination")
    try:
        flight = submit(engine, operator_id, drone_id, category, overrides, origin,
                        destination, earliest, window, priority, purpose, cruise_agl_m,
                        allow_review, now)
    except (UtmError, RoutingError, AirspaceError) as error:
        # Building the plan's parts raises the lower packages' errors (an Endpoint out of
        # range is a RoutingError, a naive ``now`` an AirspaceError); all are documented.
        event(f"refused: {error.code}")
        return
    event(f"decided: {flight.state.value}")
    assert isinstance(flight, Flight)
    assert flight.state.value in {"approved", "pending_review", "rejected"}


def submit(engine: Engine, operator_id: Any, drone_id: Any, category: DroneCategory,
           overrides: dict[str, Any], origin: dict[str, Any], destination: dict[str, Any],
           earliest: Any, window: Any, priority: Priority, purpose: Any, cruise_agl_m: Any,
           allow_review: bool, now: Any) -> Flight:
    """Build a plan from raw values and submit it."""
    performance = DronePerformance.default_for(category).with_overrides(**overrides)
    try:
        latest = earliest + window
    except (TypeError, OverflowError):
        latest = window
    plan = FlightPlan(operator_id=operator_id, drone=Drone(drone_id, performance),
                      origin=Endpoint(**origin), destination=Endpoint(**destination),
                      earliest_departure_time=earliest, latest_departure_time=latest,
                      priority=priority, purpose=purpose, cruise_agl_m=cruise_agl_m,
                      allow_review_airspace=allow_review)
    return engine.submit(plan, now)


# -- what the fuzzing found -----------------------------------------------------------------

REGRESSIONS = [
    # (what, the arguments of plan_route that differ from a plannable request)
    ("a vertiport id that is a list", dict(origin={"vertiport_id": []})),
    ("a vertiport id with a stray longitude", dict(origin={"vertiport_id": "CD-CXR", "lng": []})),
    ("a latitude that is a boolean", dict(origin={"lat": True, "lng": 104.0})),
    ("a cruise height that is a list", dict(cruise_agl_m=[])),
    ("a departure in year 9999", dict(departure_time=datetime(9999, 12, 31, 23, tzinfo=UTC))),
    ("a departure before year 1 in UTC",
     dict(departure_time=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))),
]


@pytest.mark.parametrize("changes", [case[1] for case in REGRESSIONS],
                         ids=[case[0] for case in REGRESSIONS])
def test_what_the_planner_fuzzing_found_is_a_routing_error(planner: Planner,
                                                           changes: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "origin": {"vertiport_id": "CD-TFS"}, "destination": {"vertiport_id": "CD-JRC"},
        "departure_time": T0, "category": DroneCategory.LIGHT, "overrides": {},
        "cruise_agl_m": None, "allowed": frozenset()} | changes

    with pytest.raises(RoutingError):
        plan_route(planner, **arguments)


@pytest.mark.parametrize(("field", "value"), [
    ("purpose", None), ("purpose", "\ud800"), ("purpose", "a\x00b"), ("operator_id", 5),
    ("operator_id", "sf\u202eexpress"), ("drone_id", "\udfff"),
])
def test_what_the_engine_fuzzing_found_is_an_invalid_plan(engine: Engine, field: str,
                                                          value: Any) -> None:
    # Before: the plan was decided, then the store failed to encode it (TypeError), or
    # len(None) failed (TypeError).
    arguments: dict[str, Any] = {"operator_id": "sf-express", "drone_id": "d-1",
                                 "purpose": "parcel"} | {field: value}

    with pytest.raises(UtmError) as caught:
        submit(engine, arguments["operator_id"], arguments["drone_id"], DroneCategory.LIGHT,
               {}, {"vertiport_id": "CD-TFS"}, {"vertiport_id": "CD-JRC"}, T0, timedelta(0),
               Priority.COMMERCIAL, arguments["purpose"], None, False,
               T0 - timedelta(hours=1))

    assert caught.value.code == "invalid_flight_plan"
