"""What class of airspace is this point, at this height, at this time?"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from airspace import AirspaceClass
from airspace.errors import InvalidPositionError, NaiveDatetimeError
from airspace.features import Zone
from airspace.geo import latlng_to_xy_m
from airspace.timing import TimeWindow

MEISHAN_COUNTRYSIDE = (29.95, 103.6)
"""Farmland west of Meishan city, far from every zone and corridor."""


@pytest.mark.parametrize(
    ("lat", "lng", "alt_agl_m", "airspace_class", "jurisdiction"),
    [
        # The aerodromes' clearance protection zones are no-fly for light drones.
        (30.5785, 103.947, 50.0, AirspaceClass.PROHIBITED, "chengdu"),  # ZUUU
        # ZUTF's reference point lies 62 m outside ZUTF-P (between runways 01/19 and 02/20),
        # but in a cell that ZUTF-P overlaps: cells are marked conservatively.
        (30.29, 104.44333, 50.0, AirspaceClass.PROHIBITED, "chengdu"),  # ZUTF
        (30.312, 104.424, 50.0, AirspaceClass.PROHIBITED, "chengdu"),  # ZUTF runway 01/19
        (30.5785, 103.947, 0.0, AirspaceClass.PROHIBITED, "chengdu"),
        (30.5785, 103.947, 1000.0, AirspaceClass.PROHIBITED, "chengdu"),
        # Suitable below 120 m true height, controlled above (2024 Interim Regulations).
        (*MEISHAN_COUNTRYSIDE, 50.0, AirspaceClass.SUITABLE, "meishan"),
        (*MEISHAN_COUNTRYSIDE, 100.0, AirspaceClass.SUITABLE, "meishan"),
        (*MEISHAN_COUNTRYSIDE, 150.0, AirspaceClass.CONTROLLED, "meishan"),
        (*MEISHAN_COUNTRYSIDE, 600.0, AirspaceClass.CONTROLLED, "meishan"),
        # Corridor CD-C01 (Tianfu Avenue South) flies at 60-90 m; below it is free airspace.
        (30.645, 104.066, 75.0, AirspaceClass.CORRIDOR, "chengdu"),
        (30.645, 104.066, 45.0, AirspaceClass.SUITABLE, "chengdu"),
        # Outside the four cities: not ours to serve.
        (35.0, 110.0, 50.0, AirspaceClass.OUT_OF_SERVICE, None),  # Xi'an direction
        (30.57, 106.0, 50.0, AirspaceClass.OUT_OF_SERVICE, None),  # Nanchong
        (29.56, 106.55, 50.0, AirspaceClass.OUT_OF_SERVICE, None),  # Chongqing
    ],
)
def test_classify(airspace_model, t0, lat, lng, alt_agl_m, airspace_class, jurisdiction):
    result = airspace_model.classify(lat, lng, alt_agl_m, t0)
    assert result.airspace_class is airspace_class
    assert result.jurisdiction == jurisdiction


def test_prohibited_answer_names_the_zone(airspace_model, t0):
    result = airspace_model.classify(30.5785, 103.947, 50.0, t0)
    assert "ZUUU-P" in result.zone_ids
    wire = result.to_json()
    assert wire["class"] == "prohibited"
    assert wire["zones"] == list(result.zone_ids)
    assert isinstance(wire["cell"], str)


def test_corridor_answer_names_the_corridor(airspace_model, t0):
    result = airspace_model.classify(30.645, 104.066, 75.0, t0)
    assert result.corridor_ids == ("CD-C01",)
    assert result.zone_ids == ()


def test_classification_does_not_depend_on_the_time_zone_of_the_instant(airspace_model, t0):
    from zoneinfo import ZoneInfo

    local = t0.astimezone(ZoneInfo("Asia/Shanghai"))
    assert airspace_model.classify(30.5785, 103.947, 50.0, local) == airspace_model.classify(
        30.5785, 103.947, 50.0, t0
    )


# -- temporary zones ------------------------------------------------------------------------


def test_temporary_zone_applies_only_inside_its_window(airspace_model, t0):
    lat, lng = MEISHAN_COUNTRYSIDE
    window = TimeWindow(t0 + timedelta(hours=1), t0 + timedelta(hours=3))
    event = Zone(
        id="TEST-EVENT-RESTRICTION",
        name="Test event",
        airspace_class=AirspaceClass.RESTRICTED,
        geometry=box(lng - 0.01, lat - 0.01, lng + 0.01, lat + 0.01),
        floor_agl_m=0.0,
        ceiling_agl_m=120.0,
        active_windows=(window,),
    )
    airspace_model.add_zone(event)
    try:
        at = {
            "before": t0 + timedelta(minutes=59),
            "start": window.start_time,
            "inside": t0 + timedelta(hours=2),
            "end": window.end_time,  # windows are half-open
            "after": t0 + timedelta(hours=4),
        }
        classes = {name: airspace_model.classify(lat, lng, 50.0, when).airspace_class
                   for name, when in at.items()}
        assert classes == {
            "before": AirspaceClass.SUITABLE,
            "start": AirspaceClass.RESTRICTED,
            "inside": AirspaceClass.RESTRICTED,
            "end": AirspaceClass.SUITABLE,
            "after": AirspaceClass.SUITABLE,
        }
        # Above the zone's ceiling it does not apply even while active.
        above = airspace_model.classify(lat, lng, 150.0, at["inside"])
        assert above.airspace_class is AirspaceClass.CONTROLLED
        assert "TEST-EVENT-RESTRICTION" in airspace_model.classify(
            lat, lng, 50.0, at["inside"]).zone_ids
    finally:
        airspace_model.remove_zone("TEST-EVENT-RESTRICTION")
    after_removal = airspace_model.classify(lat, lng, 50.0, t0 + timedelta(hours=2))
    assert after_removal.airspace_class is AirspaceClass.SUITABLE


def test_permanent_temporary_zone_prohibits_until_removed(airspace_model, t0):
    lat, lng = MEISHAN_COUNTRYSIDE
    closure = Zone(
        id="TEST-EMERGENCY-CLOSURE",
        name="Test emergency closure",
        airspace_class=AirspaceClass.PROHIBITED,
        geometry=Point(lng, lat).buffer(0.005),
        floor_agl_m=0.0,
        ceiling_agl_m=300.0,
    )
    airspace_model.add_zone(closure)
    try:
        assert airspace_model.classify(lat, lng, 50.0, t0).airspace_class is (
            AirspaceClass.PROHIBITED)
        with pytest.raises(ValueError, match="exists already"):
            airspace_model.add_zone(closure)
    finally:
        airspace_model.remove_zone("TEST-EMERGENCY-CLOSURE")
    assert airspace_model.classify(lat, lng, 50.0, t0).airspace_class is AirspaceClass.SUITABLE


def test_most_restrictive_zone_wins(airspace_model, t0):
    # ZUTF's aerodrome point lies in both its controlled and its prohibited zone.
    result = airspace_model.classify(30.29, 104.44333, 50.0, t0)
    assert set(result.zone_ids) >= {"ZUTF-P", "ZUTF-C"}
    assert result.airspace_class is AirspaceClass.PROHIBITED


# -- bad input ------------------------------------------------------------------------------


def test_naive_datetime_is_refused(airspace_model, t0):
    with pytest.raises(NaiveDatetimeError, match="no time zone"):
        airspace_model.classify(30.6571, 104.0657, 50.0, t0.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("lat", "lng", "alt_agl_m"),
    [
        (95.0, 104.0, 50.0),
        (-90.5, 104.0, 50.0),
        (30.6, 181.0, 50.0),
        (float("nan"), 104.0, 50.0),
        (30.6, float("inf"), 50.0),
        (30.6, 104.0, -1.0),  # below ground
        (30.6, 104.0, 1500.0),  # above the grid
        (30.6, 104.0, float("nan")),
    ],
)
def test_invalid_position_is_refused(airspace_model, t0, lat, lng, alt_agl_m):
    with pytest.raises(InvalidPositionError):
        airspace_model.classify(lat, lng, alt_agl_m, t0)


def test_invalid_position_is_also_a_value_error(airspace_model, t0):
    with pytest.raises(ValueError, match="lat 95"):
        airspace_model.classify(95.0, 104.0, 50.0, t0)


# -- property: a prohibited zone is prohibited everywhere inside it --------------------------


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data())
def test_points_inside_prohibited_zones_are_prohibited(airspace_model, t0, data):
    zones = sorted(
        (zone for zone in airspace_model.zones.values()
         if zone.airspace_class is AirspaceClass.PROHIBITED and zone.is_active(t0)),
        key=lambda zone: zone.id,
    )
    zone = data.draw(st.sampled_from(zones), label="zone")
    min_lng, min_lat, max_lng, max_lat = zone.geometry.bounds
    lng = data.draw(st.floats(min_lng, max_lng), label="lng")
    lat = data.draw(st.floats(min_lat, max_lat), label="lat")
    # Uniform in the bounds, kept only where the polygon itself contains the point.
    point = Point(lng, lat)
    assume(zone.geometry.contains(point))
    alt_agl_m = data.draw(
        st.floats(zone.floor_agl_m, zone.ceiling_agl_m, exclude_max=True), label="alt_agl_m"
    )
    result = airspace_model.classify(lat, lng, alt_agl_m, t0)
    assert result.airspace_class is AirspaceClass.PROHIBITED, (zone.id, result)
    assert zone.id in result.zone_ids


def test_property_checks_every_permanent_prohibited_zone(airspace_model):
    # Guard for the property above: it samples from these, so they must exist.
    prohibited = {zone.id for zone in airspace_model.zones.values()
                  if zone.airspace_class is AirspaceClass.PROHIBITED}
    assert {"ZUUU-P", "ZUTF-P", "CD-P-PIDU-DETENTION", "DY-P-MUNITIONS-DEPOT"} <= prohibited


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(30.40, 30.95), st.floats(103.80, 104.45),
                          st.floats(50.0, 3000.0), st.floats(0.0, 150.0),
                          st.integers(0, 48)), min_size=1, max_size=12))
def test_zones_touching_many_answers_as_one_at_a_time(
        airspace_model: Any, t0: datetime,
        volumes: list[tuple[float, float, float, float, int]]) -> None:
    """The bulk query the engine uses gives, volume by volume, the single query's zones."""
    asked = []
    for lat, lng, radius_m, floor_m, hours in volumes:
        x_m, y_m = latlng_to_xy_m(lat, lng)
        start = t0 + timedelta(hours=hours)
        asked.append((Point(x_m, y_m).buffer(radius_m), floor_m, floor_m + 40.0, start,
                      start + timedelta(minutes=30)))
    for classes in (None, [AirspaceClass.PROHIBITED]):
        bulk = airspace_model.zones_touching_many(asked, classes)
        single = [airspace_model.zones_touching(*volume, classes) for volume in asked]
        assert [{z.id for z in zones} for zones in bulk] == [{z.id for z in zones}
                                                             for zones in single]
