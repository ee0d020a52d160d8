"""Planning routes between rooftop vertiports (and points): what a route must always be, and
every error a caller can meet."""

from __future__ import annotations

import math
from datetime import timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point

from airspace import AirspaceClass
from airspace.features import Zone
from airspace.geo import distance_m, latlng_to_xy_m, lnglat_to_metric, metric_to_lnglat
from routes import (
    DroneCategory,
    DronePerformance,
    Endpoint,
    InvalidRequestError,
    LegKind,
    NoRouteError,
    OutsideServiceAreaError,
    ProhibitedEndpointError,
    Route,
    RouteRequest,
    RoutingError,
    UnknownVertiportError,
)

LIGHT = DronePerformance.default_for(DroneCategory.LIGHT)
MICRO = DronePerformance.default_for(DroneCategory.MICRO)

ENDPOINT_TOLERANCE_M = 1.0

PAIRS = [
    # (origin, destination, one-way corridor the route should take, or None)
    # Inside one city.
    ("CD-TFS", "CD-WCH", None),  # Tianfu Square to West China Hospital, 2 km
    ("CD-PPH", "CD-XLH", None),  # across central Chengdu to Xinglong Lake
    ("CD-SLW", "CD-XJN", None),  # south-west, past Shuangliu airport
    ("CD-TFL", "CD-JYG", None),  # next to Tianfu airport
    ("CD-DJY", "CD-QBJ", None),  # west to north-east Chengdu
    ("DY-CTR", "DY-SFG", None),
    ("MS-CTR", "MS-QSN", None),
    ("ZY-CTR", "ZY-AYE", None),
    # Between cities ("one approval, valid in four cities").
    ("CD-TFS", "DY-CTR", "CD-DY-N"),  # Chengdu to Deyang: the northbound one-way corridor
    ("DY-CTR", "CD-TFS", "CD-DY-S"),  # and back on the southbound one
    ("CD-JYG", "ZY-CTR", "CD-ZY-E"),
    ("ZY-CTR", "CD-JYG", "CD-ZY-W"),
    ("CD-TFS", "MS-CTR", None),
    ("MS-PSN", "CD-SLH", None),
    ("DY-GHN", "ZY-LZH", None),
]


def _request(origin, destination, t0, performance=LIGHT, **options) -> RouteRequest:
    def endpoint(value):
        return Endpoint(vertiport_id=value) if isinstance(value, str) else Endpoint(
            lat=value[0], lng=value[1])

    return RouteRequest(endpoint(origin), endpoint(destination), t0, performance, **options)


def _endpoint_latlng(airspace_model, endpoint: Endpoint) -> tuple[float, float]:
    if endpoint.vertiport_id is not None:
        vertiport = airspace_model.vertiports[endpoint.vertiport_id]
        return vertiport.lat, vertiport.lng
    assert endpoint.lat is not None and endpoint.lng is not None
    return endpoint.lat, endpoint.lng


def _assert_sound(route: Route, request: RouteRequest, planner, airspace_model, t0) -> None:
    """Everything a planned route must be, whatever the request."""
    waypoints = route.waypoints()

    # It starts and ends where it was asked to.
    ends = ((waypoints[0], request.origin), (waypoints[-1], request.destination))
    for waypoint, endpoint in ends:
        lat, lng = _endpoint_latlng(airspace_model, endpoint)
        assert distance_m(waypoint.lat, waypoint.lng, lat, lng) <= ENDPOINT_TOLERANCE_M
    assert route.origin_vertiport == request.origin.vertiport_id
    assert route.destination_vertiport == request.destination.vertiport_id

    # Time runs forward, and the legs join up.
    assert waypoints[0].offset_s == 0.0
    offsets = [waypoint.offset_s for waypoint in waypoints]
    assert all(later > earlier for earlier, later in pairwise(offsets))
    for before, after in pairwise(route.legs):
        assert before.end == after.start

    # The drone never flies above what it may. The first and last waypoints are the pads,
    # whose height is the building's, not the flight's.
    for waypoint in waypoints[1:-1]:
        assert waypoint.alt_agl_m <= request.performance.max_height_agl_m

    # One-way corridors are flown from the first to the last point of their centreline.
    for leg in route.legs:
        if leg.kind is not LegKind.CORRIDOR:
            continue
        assert leg.corridor_id in airspace_model.corridors
        corridor = airspace_model.corridors[leg.corridor_id]
        assert corridor.floor_agl_m <= leg.start.alt_agl_m <= corridor.ceiling_agl_m
        if corridor.direction != "one_way":
            continue
        centreline_m = lnglat_to_metric(corridor.centreline)
        start_m = centreline_m.project(Point(latlng_to_xy_m(leg.start.lat, leg.start.lng)))
        end_m = centreline_m.project(Point(latlng_to_xy_m(leg.end.lat, leg.end.lng)))
        assert end_m > start_m, f"{leg.corridor_id} flown backwards"

    # No volume enters a prohibited zone: checked on the zones' exact geometry, not cells.
    volumes = planner.volumes(route, t0)
    assert volumes
    prohibited = [zone for zone in airspace_model.zones.values()
                  if zone.airspace_class is AirspaceClass.PROHIBITED]
    for volume in volumes:
        for zone in prohibited:
            if not zone.is_active_during(volume.start_time, volume.end_time):
                continue
            if volume.ceiling_agl_m <= zone.floor_agl_m or zone.ceiling_agl_m <= volume.floor_agl_m:
                continue
            zone_m = airspace_model.zone_metric_geometry(zone.id)
            assert not volume.outline_m.intersects(zone_m), f"volume enters {zone.id}"


@pytest.mark.parametrize(("origin", "destination", "one_way_corridor"), PAIRS)
def test_route_between_vertiports(planner, airspace_model, t0, origin, destination,
                                  one_way_corridor):
    request = _request(origin, destination, t0)
    route = planner.plan(request)
    _assert_sound(route, request, planner, airspace_model, t0)
    if one_way_corridor is not None:
        assert one_way_corridor in route.corridor_ids
    # Never much longer than the straight line, and at least as long.
    o, d = airspace_model.vertiports[origin], airspace_model.vertiports[destination]
    straight_m = distance_m(o.lat, o.lng, d.lat, d.lng)
    assert straight_m - 1.0 <= route.distance_m <= 2.0 * straight_m + 3000.0


@pytest.mark.parametrize(("origin", "destination"), [
    ("CD-CXR", "CD-JRC"),  # both rooftops above a micro drone's 50 m
    ("CD-TFS", "CD-WJG"),
    ("MS-CTR", "CD-PDU"),  # long free flight west of Shuangliu airport
    ("ZY-CTR", "ZY-LZH"),
])
def test_micro_drone_stays_low(planner, airspace_model, t0, origin, destination):
    request = _request(origin, destination, t0, MICRO)
    route = planner.plan(request)
    _assert_sound(route, request, planner, airspace_model, t0)
    # Every corridor flies above 50 m, so a micro drone flies free all the way.
    assert route.corridor_ids == ()


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_any_pair_of_vertiports(planner, airspace_model, t0, data):
    ids = sorted(airspace_model.vertiports)
    origin = data.draw(st.sampled_from(ids), label="origin")
    destination = data.draw(st.sampled_from(ids).filter(lambda other: other != origin),
                            label="destination")
    performance = data.draw(st.sampled_from([LIGHT, MICRO]), label="performance")
    request = _request(origin, destination, t0, performance)
    route = planner.plan(request)
    _assert_sound(route, request, planner, airspace_model, t0)


@pytest.mark.parametrize(("origin", "destination"), [
    ((30.60, 104.10), (30.05, 103.85)),  # east Chengdu to Meishan countryside
    ((31.13, 104.40), (30.12, 104.65)),  # Deyang to Ziyang
    ((30.6582, 104.0665), "CD-WCH"),  # a point to a vertiport
    ("DY-CTR", (31.20, 104.30)),
])
def test_point_to_point(planner, airspace_model, t0, origin, destination):
    request = _request(origin, destination, t0)
    route = planner.plan(request)
    _assert_sound(route, request, planner, airspace_model, t0)
    if not isinstance(origin, str):
        assert route.waypoints()[0].alt_agl_m == 0.0  # take-off from the ground
    if not isinstance(destination, str):
        assert route.waypoints()[-1].alt_agl_m == 0.0


@pytest.mark.parametrize("pad", ["CD-TFS", "CD-HYG"])  # rooftop above / at cruise altitude
def test_same_pad_is_a_hover(planner, airspace_model, t0, pad):
    route = planner.plan(_request(pad, pad, t0))
    assert route.distance_m == 0.0
    vertiport = airspace_model.vertiports[pad]
    for waypoint in route.waypoints():
        assert distance_m(waypoint.lat, waypoint.lng, vertiport.lat, vertiport.lng) < 0.01
    offsets = [waypoint.offset_s for waypoint in route.waypoints()]
    assert offsets == sorted(offsets)
    assert planner.volumes(route, t0)


def test_explicit_cruise_altitude_is_flown(planner, t0):
    route = planner.plan(_request("ZY-CTR", "ZY-AYE", t0, cruise_agl_m=35.0,
                                  use_corridors=False))
    assert route.cruise_agl_m == 35.0
    assert route.corridor_ids == ()
    cruising = [leg for leg in route.legs if leg.kind is LegKind.CRUISE]
    assert cruising
    assert all(leg.start.alt_agl_m == leg.end.alt_agl_m == 35.0 for leg in cruising)


def test_temporary_prohibited_zone_is_flown_around(planner, airspace_model, t0):
    # An emergency closure on the straight line from Ziyang centre to Anyue.
    request = _request("ZY-CTR", "ZY-AYE", t0, use_corridors=False)
    before = planner.plan(request)
    middle = before.to_linestring().interpolate(0.5, normalized=True)
    closure = Zone(
        id="TEST-PLANNER-CLOSURE",
        name="Test closure",
        airspace_class=AirspaceClass.PROHIBITED,
        geometry=metric_to_lnglat(lnglat_to_metric(middle).buffer(2000.0)),
        floor_agl_m=0.0,
        ceiling_agl_m=500.0,
    )
    airspace_model.add_zone(closure)
    try:
        around = planner.plan(request)
        _assert_sound(around, request, planner, airspace_model, t0)
        assert around.distance_m > before.distance_m
    finally:
        airspace_model.remove_zone(closure.id)
    assert planner.plan(request).distance_m == pytest.approx(before.distance_m)


def test_zone_outside_its_window_does_not_divert(planner, airspace_model, t0):
    from airspace.timing import TimeWindow

    request = _request("ZY-CTR", "ZY-AYE", t0, use_corridors=False)
    before = planner.plan(request)
    middle = before.to_linestring().interpolate(0.5, normalized=True)
    tomorrow = TimeWindow(t0 + timedelta(days=1), t0 + timedelta(days=1, hours=2))
    closure = Zone(
        id="TEST-PLANNER-TOMORROW",
        name="Test closure tomorrow",
        airspace_class=AirspaceClass.PROHIBITED,
        geometry=metric_to_lnglat(lnglat_to_metric(middle).buffer(2000.0)),
        floor_agl_m=0.0,
        ceiling_agl_m=500.0,
        active_windows=(tomorrow,),
    )
    airspace_model.add_zone(closure)
    try:
        assert planner.plan(request).distance_m == pytest.approx(before.distance_m)
    finally:
        airspace_model.remove_zone(closure.id)


# -- errors ---------------------------------------------------------------------------------

ZUUU_RUNWAY = (30.5785, 103.947)


@pytest.mark.parametrize(
    ("origin", "destination", "error", "words"),
    [
        ("CD-NOPE", "CD-WCH", UnknownVertiportError, "unknown origin vertiport 'CD-NOPE'"),
        ("CD-TFS", "XX-999", UnknownVertiportError, "unknown destination vertiport"),
        ((35.0, 110.0), "CD-WCH", OutsideServiceAreaError, "outside the service area"),
        ("CD-TFS", (29.56, 106.55), OutsideServiceAreaError, "outside the service area"),
        (ZUUU_RUNWAY, "CD-WCH", ProhibitedEndpointError, "ZUUU-P"),
        # The centre of ZUTF's runway 01/19. (The aerodrome reference point, 30.29 N
        # 104.44333 E, lies between the runways, 62 m outside ZUTF-P: only its H3 cell is
        # prohibited, the point itself is in the controlled zone.)
        ("CD-WCH", (30.312, 104.424), ProhibitedEndpointError, "ZUTF-P"),
    ],
)
def test_endpoint_errors(planner, t0, origin, destination, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(")):
        planner.plan(_request(origin, destination, t0))


def test_naive_departure_time_is_refused(planner, t0):
    with pytest.raises(InvalidRequestError, match="no time zone"):
        planner.plan(_request("CD-TFS", "CD-WCH", t0.replace(tzinfo=None)))


@pytest.mark.parametrize(
    ("performance", "cruise_agl_m"),
    [
        (MICRO, 60.0),  # micro drones fly at most 50 m true height
        (MICRO, 50.1),
        (LIGHT, 121.0),
        (LIGHT, 5.0),  # too low to clear the rooftops
        (LIGHT, float("nan")),
    ],
)
def test_cruise_altitude_out_of_range_is_refused(planner, t0, performance, cruise_agl_m):
    with pytest.raises(InvalidRequestError, match="cruise"):
        planner.plan(_request("CD-TFS", "CD-WCH", t0, performance, cruise_agl_m=cruise_agl_m))


def test_no_route_when_everything_around_the_destination_is_avoided(
    planner, airspace_model, t0
):
    destination = airspace_model.vertiports["DY-CTR"]
    around_m = Point(latlng_to_xy_m(destination.lat, destination.lng)).buffer(6000.0)
    with pytest.raises(NoRouteError, match="no route"):
        planner.plan(_request("CD-TFS", "DY-CTR", t0, avoid_m=(around_m,)))


def test_avoided_area_is_kept_out_of(planner, airspace_model, t0):
    request = _request("ZY-CTR", "ZY-AYE", t0, use_corridors=False)
    straight = planner.plan(request)
    middle_m = lnglat_to_metric(straight.to_linestring().interpolate(0.5, normalized=True))
    area_m = middle_m.buffer(1500.0)
    route = planner.plan(_request("ZY-CTR", "ZY-AYE", t0, use_corridors=False,
                                  avoid_m=(area_m,)))
    track_m = lnglat_to_metric(route.to_linestring())
    assert isinstance(track_m, LineString)
    assert not track_m.intersects(area_m)


@pytest.mark.parametrize(
    "overrides",
    [
        {"cruise_speed_mps": 0.5},
        {"cruise_speed_mps": 61.0},
        {"cruise_speed_mps": float("inf")},
        {"cruise_speed_mps": True},
        {"climb_rate_mps": 0.0},
        {"climb_rate_mps": 16.0},
        {"descent_rate_mps": 0.1},
        {"descent_rate_mps": -3.0},
        {"max_height_agl_m": 150.0},  # above the 120 m a light drone may fly
        {"max_height_agl_m": 5.0},
    ],
)
def test_performance_out_of_range_is_refused(overrides):
    with pytest.raises(InvalidRequestError):
        LIGHT.with_overrides(**overrides)


@pytest.mark.parametrize(
    "fields",
    [
        {},  # neither a vertiport nor a point
        {"vertiport_id": "CD-TFS", "lat": 30.6, "lng": 104.0},  # both
        {"lat": 30.6},  # half a point
        {"lat": 95.0, "lng": 104.0},
        {"lat": 30.6, "lng": 200.0},
    ],
)
def test_malformed_endpoint_is_refused(fields):
    with pytest.raises(InvalidRequestError):
        Endpoint(**fields)


def test_errors_carry_codes_and_builtin_types():
    assert issubclass(UnknownVertiportError, LookupError)
    assert issubclass(OutsideServiceAreaError, ValueError)
    assert issubclass(InvalidRequestError, ValueError)
    codes = {error.code for error in (UnknownVertiportError, OutsideServiceAreaError,
                                      ProhibitedEndpointError, InvalidRequestError,
                                      NoRouteError)}
    assert len(codes) == 5
    assert str(UnknownVertiportError("unknown origin vertiport 'X'")) == (
        "unknown origin vertiport 'X'")


def test_plan_batch_returns_errors_in_place(planner, airspace_model, t0):
    requests = [
        _request("CD-TFS", "CD-WCH", t0),
        _request("CD-NOPE", "CD-WCH", t0),
        _request(ZUUU_RUNWAY, "CD-WCH", t0),
        _request((35.0, 110.0), "CD-WCH", t0),
        _request("DY-CTR", "DY-SFG", t0),
    ]
    results = planner.plan_batch(requests)
    assert len(results) == len(requests)
    assert isinstance(results[0], Route)
    assert isinstance(results[1], UnknownVertiportError)
    assert isinstance(results[2], ProhibitedEndpointError)
    assert isinstance(results[3], OutsideServiceAreaError)
    assert isinstance(results[4], Route)
    assert all(isinstance(result, Route | RoutingError) for result in results)
    _assert_sound(results[4], requests[4], planner, airspace_model, t0)


def test_plan_batch_of_nothing_is_nothing(planner):
    assert planner.plan_batch([]) == []


def test_route_geojson_is_lng_lat_alt(planner, airspace_model, t0):
    route = planner.plan(_request("CD-TFS", "CD-WCH", t0))
    coordinates = route.to_geojson()["coordinates"]
    tfs = airspace_model.vertiports["CD-TFS"]
    lng, lat, alt_agl_m = coordinates[0]
    assert math.isclose(lng, tfs.lng, abs_tol=1e-6) and math.isclose(lat, tfs.lat, abs_tol=1e-6)
    assert alt_agl_m == tfs.rooftop_height_agl_m
