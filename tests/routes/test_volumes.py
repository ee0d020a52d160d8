"""4-D volumes: when two reservations conflict, how a route becomes volumes, and the wire form.

Invariant 1 of DESIGN.md: two volumes intersect only if their footprints share more than
1 cm², their altitude ranges overlap and their time ranges overlap.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from airspace.errors import NaiveDatetimeError
from airspace.geo import latlng_to_xy_m, metric_to_lnglat
from routes import (
    DroneCategory,
    DronePerformance,
    Endpoint,
    FlightBuffers,
    Route,
    RouteRequest,
    Volume4D,
    route_to_volumes,
    volumes_from_json,
    volumes_intersect,
)

TFS_X_M, TFS_Y_M = latlng_to_xy_m(30.6571, 104.0657)
"""Tianfu Square in EPSG:32648: the test squares are laid out east and north of it."""


def _volume(t0, footprint=(0.0, 0.0, 100.0, 100.0), altitude=(30.0, 60.0), seconds=(0, 60)):
    """A box ``footprint`` (x0, y0, x1, y1 in metres from Tianfu Square) between ``altitude``
    (m AGL), during ``seconds`` after ``t0``. The metric outline is given exactly."""
    x0, y0, x1, y1 = footprint
    outline_m = box(TFS_X_M + x0, TFS_Y_M + y0, TFS_X_M + x1, TFS_Y_M + y1)
    return Volume4D(
        outline=metric_to_lnglat(outline_m),
        floor_agl_m=altitude[0],
        ceiling_agl_m=altitude[1],
        start_time=t0 + timedelta(seconds=seconds[0]),
        end_time=t0 + timedelta(seconds=seconds[1]),
        outline_m=outline_m,
    )


INTERSECTION_CASES = [
    # (case, other volume's footprint, altitude, seconds, intersects?)
    ("identical", (0, 0, 100, 100), (30, 60), (0, 60), True),
    ("edges touch", (100, 0, 200, 100), (30, 60), (0, 60), False),
    ("corners touch", (100, 100, 200, 200), (30, 60), (0, 60), False),
    ("overlap 10 cm2", (100 - 1e-5, 0, 200, 100), (30, 60), (0, 60), True),
    ("overlap 0.5 cm2", (100 - 5e-7, 0, 200, 100), (30, 60), (0, 60), False),
    ("overlap 1 m2", (99, 99, 199, 199), (30, 60), (0, 60), True),
    ("one inside the other", (40, 40, 60, 60), (30, 60), (0, 60), True),
    ("times touch", (0, 0, 100, 100), (30, 60), (60, 120), False),
    ("times overlap 1 s", (0, 0, 100, 100), (30, 60), (59, 120), True),
    ("altitudes touch", (0, 0, 100, 100), (60, 90), (0, 60), False),
    ("altitudes overlap 1 m", (0, 0, 100, 100), (59, 90), (0, 60), True),
    ("only altitude overlaps", (500, 0, 600, 100), (30, 60), (200, 300), False),
    ("altitude and time, not footprint", (500, 0, 600, 100), (30, 60), (0, 60), False),
    ("footprint and time, not altitude", (0, 0, 100, 100), (100, 150), (0, 60), False),
    ("footprint and altitude, not time", (0, 0, 100, 100), (30, 60), (120, 180), False),
]


@pytest.mark.parametrize(
    ("footprint", "altitude", "seconds", "expected"),
    [case[1:] for case in INTERSECTION_CASES],
    ids=[case[0] for case in INTERSECTION_CASES],
)
def test_volumes_intersect(t0, footprint, altitude, seconds, expected):
    reserved = _volume(t0)
    other = _volume(t0, footprint, altitude, seconds)
    assert volumes_intersect(reserved, other) is expected
    assert volumes_intersect(other, reserved) is expected


@settings(max_examples=200, deadline=None)
@given(
    dx_m=st.floats(-150.0, 150.0),
    dy_m=st.floats(-150.0, 150.0),
    dz_m=st.floats(-60.0, 60.0),
    dt_s=st.integers(-90, 90),
)
def test_volumes_intersect_agrees_with_boxes(t0, dx_m, dy_m, dz_m, dt_s):
    # Two 100 m boxes, 30 m thick, 60 s long: they conflict exactly when every axis overlaps
    # (footprints by more than 1 cm², which for 100 m sides is an overlap of over 1e-6 m).
    reserved = _volume(t0)
    other = _volume(t0, (dx_m, dy_m, dx_m + 100.0, dy_m + 100.0), (30.0 + dz_m, 60.0 + dz_m),
                    (dt_s, dt_s + 60))
    overlap_area_m2 = max(0.0, 100.0 - abs(dx_m)) * max(0.0, 100.0 - abs(dy_m))
    assume(abs(overlap_area_m2 - 1e-4) > 1e-6)  # too close to the threshold to call
    expected = overlap_area_m2 > 1e-4 and abs(dz_m) < 30.0 and abs(dt_s) < 60
    assert volumes_intersect(reserved, other) is expected


def test_a_later_or_higher_volume_no_longer_conflicts(t0):
    reserved = _volume(t0)
    assert not volumes_intersect(reserved, reserved.shifted(timedelta(seconds=60)))
    assert volumes_intersect(reserved, reserved.shifted(timedelta(seconds=59)))
    assert not volumes_intersect(reserved, reserved.raised(30.0))
    assert volumes_intersect(reserved, reserved.raised(29.0))


@pytest.mark.parametrize(
    ("altitude", "seconds", "problem"),
    [
        ((60.0, 30.0), (0, 60), "not below ceiling"),
        ((30.0, 30.0), (0, 60), "not below ceiling"),
        ((30.0, float("inf")), (0, 60), "finite"),
        ((30.0, 60.0), (60, 60), "end after it starts"),
        ((30.0, 60.0), (60, 0), "end after it starts"),
    ],
)
def test_malformed_volume_is_refused(t0, altitude, seconds, problem):
    with pytest.raises(ValueError, match=problem):
        _volume(t0, altitude=altitude, seconds=seconds)


def test_volume_refuses_naive_times(t0):
    with pytest.raises(NaiveDatetimeError):
        _volume(t0.replace(tzinfo=None))


# -- a route as volumes ---------------------------------------------------------------------

LIGHT = DronePerformance.default_for(DroneCategory.LIGHT)

ROUTES = [
    ("CD-TFS", "CD-WCH"),  # 2 km in Chengdu
    ("ZY-CTR", "ZY-AYE"),
    ("CD-TFS", "DY-CTR"),  # an hour along the northbound corridor
    ("MS-CTR", "CD-TFS"),
    ((30.60, 104.10), (30.05, 103.85)),  # point to point
]


def _plan(planner, t0, origin, destination) -> Route:
    def endpoint(value):
        if isinstance(value, str):
            return Endpoint(vertiport_id=value)
        return Endpoint(lat=value[0], lng=value[1])

    return planner.plan(RouteRequest(endpoint(origin), endpoint(destination), t0, LIGHT))


@pytest.mark.parametrize(("origin", "destination"), ROUTES)
def test_volume_count_is_small(planner, t0, origin, destination):
    route = _plan(planner, t0, origin, destination)
    volumes = planner.volumes(route, t0)
    minutes = route.duration_s / 60.0
    # One volume per leg and per started minute of each leg: never more.
    assert len(volumes) <= len(route.legs) + math.ceil(minutes)
    if minutes >= 10.0:
        # Long flights are dominated by the per-minute cut: well under 2 a minute.
        assert len(volumes) < 2.0 * minutes


def _samples(route: Route, per_leg: int = 4):
    """Points of the nominal trajectory: every waypoint and points along every leg, as
    ``(x_m, y_m, alt_agl_m, offset_s)``. Legs are straight in EPSG:32648."""
    for leg in route.legs:
        ax, ay = latlng_to_xy_m(leg.start.lat, leg.start.lng)
        bx, by = latlng_to_xy_m(leg.end.lat, leg.end.lng)
        for step in range(per_leg + 1):
            fraction = step / per_leg
            yield (
                ax + (bx - ax) * fraction,
                ay + (by - ay) * fraction,
                leg.start.alt_agl_m + (leg.end.alt_agl_m - leg.start.alt_agl_m) * fraction,
                leg.start.offset_s + leg.duration_s * fraction,
            )


@pytest.mark.parametrize(("origin", "destination"), ROUTES)
def test_volumes_cover_the_trajectory_with_its_buffers(planner, t0, origin, destination):
    route = _plan(planner, t0, origin, destination)
    buffers = planner.buffers
    volumes = planner.volumes(route, t0)
    # quad_segs=4 draws a round cap as a 16-gon: its edges come within cos(pi/16) of radius.
    horizontal_margin_m = buffers.horizontal_m * math.cos(math.pi / 16) - 0.05
    for x_m, y_m, alt_agl_m, offset_s in _samples(route):
        instant = t0 + timedelta(seconds=offset_s)
        point = Point(x_m, y_m)
        holders = [
            volume for volume in volumes
            if volume.outline_m.covers(point)
            and volume.outline_m.exterior.distance(point) >= horizontal_margin_m
            and volume.floor_agl_m <= max(0.0, alt_agl_m - buffers.vertical_m) + 1e-3
            and volume.ceiling_agl_m >= alt_agl_m + buffers.vertical_m - 1e-3
            and volume.start_time <= instant - timedelta(seconds=buffers.time_s)
            and volume.end_time >= instant + timedelta(seconds=buffers.time_s)
        ]
        assert holders, f"trajectory point at +{offset_s:.1f} s, {alt_agl_m} m is uncovered"


@pytest.mark.parametrize(("origin", "destination"), ROUTES)
def test_volumes_span_the_flight_and_nothing_more(planner, t0, origin, destination):
    route = _plan(planner, t0, origin, destination)
    volumes = planner.volumes(route, t0)
    slack = timedelta(seconds=planner.buffers.time_s + 1)
    assert min(volume.start_time for volume in volumes) >= t0 - slack
    assert max(volume.end_time for volume in volumes) <= (
        t0 + timedelta(seconds=route.duration_s) + slack)
    assert all(volume.floor_agl_m >= 0.0 for volume in volumes)


def test_later_departure_shifts_every_volume(planner, t0):
    route = _plan(planner, t0, "CD-TFS", "CD-WCH")
    now = planner.volumes(route, t0)
    later = planner.volumes(route, t0 + timedelta(minutes=10))
    assert [volume.shifted(timedelta(minutes=10)) for volume in now] == later


def test_route_to_volumes_refuses_naive_departure(planner, t0):
    route = _plan(planner, t0, "CD-TFS", "CD-WCH")
    with pytest.raises(NaiveDatetimeError):
        route_to_volumes(route, t0.replace(tzinfo=None), FlightBuffers())


# -- wire form ------------------------------------------------------------------------------


@pytest.mark.parametrize(("origin", "destination"), ROUTES[:3])
def test_json_round_trip_is_exact(planner, t0, origin, destination):
    route = _plan(planner, t0, origin, destination)
    for volume in planner.volumes(route, t0):
        wire = json.loads(json.dumps(volume.to_json()))
        assert wire["start_time"].endswith("Z") and wire["end_time"].endswith("Z")
        assert wire["outline"]["type"] == "Polygon"
        back = Volume4D.from_json(wire)
        assert list(back.outline.exterior.coords) == list(volume.outline.exterior.coords)
        assert back.start_time == volume.start_time
        assert back.end_time == volume.end_time
        assert (back.floor_agl_m, back.ceiling_agl_m) == (volume.floor_agl_m,
                                                          volume.ceiling_agl_m)
        assert back == volume
        assert back.to_json() == wire
        # What an independent checker sees is what the engine saw.
        assert back.outline_m.equals_exact(volume.outline_m, 1e-6)


def test_wire_form_matches_the_design(t0):
    wire = _volume(t0).to_json()
    assert set(wire) == {"outline", "floor_agl_m", "ceiling_agl_m", "start_time", "end_time"}
    assert wire["start_time"] == "2026-12-01T02:00:00Z"
    assert wire["end_time"] == "2026-12-01T02:01:00Z"
    lng, lat = wire["outline"]["coordinates"][0][0]
    assert 104.0 < lng < 104.1 and 30.6 < lat < 30.7  # GeoJSON order: lng first


@pytest.mark.parametrize(("origin", "destination"), ROUTES[:3])
def test_many_parsed_at_once_are_the_same_volumes(planner, t0, origin, destination):
    volumes = planner.volumes(_plan(planner, t0, origin, destination), t0)
    wires = [json.loads(json.dumps(volume.to_json())) for volume in volumes]
    one_by_one = [Volume4D.from_json(wire) for wire in wires]
    together = volumes_from_json(wires)
    assert together == one_by_one == volumes
    for a, b in zip(together, one_by_one, strict=True):
        assert list(a.outline_m.exterior.coords) == list(b.outline_m.exterior.coords)
    assert volumes_from_json([]) == []


BAD_VOLUME_FIELDS = [
    ("start_time", "2026-12-01T02:00:00"),  # naive
    ("end_time", "yesterday"),
    ("outline", {"type": "Point", "coordinates": [104.06, 30.65]}),
    ("outline", {"type": "Polygon",
                 "coordinates": [[[30.65, 104.06], [30.66, 104.07], [30.66, 104.06],
                                  [30.65, 104.06]]]}),  # [lat, lng]: latitude 104
    ("outline", {"type": "Polygon",  # a bow tie: self-intersecting
                 "coordinates": [[[104.06, 30.65], [104.07, 30.66], [104.07, 30.65],
                                  [104.06, 30.66], [104.06, 30.65]]]}),
    ("outline", {"type": "Polygon", "coordinates": [[[104.06, 30.65], [104.07, 30.66]]]}),
    ("outline", {"type": "Polygon", "coordinates": {"ring": 1}}),
    ("outline", {"type": "Polygon", "coordinates": [["a", "b", "c", "d"]]}),
    ("outline", "a polygon"),
    ("floor_agl_m", 500.0),  # above the ceiling
]


@pytest.mark.parametrize(("field", "value"), BAD_VOLUME_FIELDS)
def test_many_parsed_at_once_refuse_what_one_refuses(t0, field, value):
    good = _volume(t0).to_json()
    bad = {**good, field: value}
    with pytest.raises(ValueError) as alone:
        Volume4D.from_json(bad)
    with pytest.raises(ValueError) as together:
        volumes_from_json([good, bad, good])
    assert str(together.value) == str(alone.value)


@pytest.mark.parametrize(("field", "value"), BAD_VOLUME_FIELDS)
def test_from_json_refuses_bad_input(t0, field, value):
    wire = _volume(t0).to_json()
    wire[field] = value
    with pytest.raises(ValueError):
        Volume4D.from_json(wire)
