"""EUROCAE ED-269 and ED-318 documents become zones, or are refused with file, feature and id."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from airspace.classes import AirspaceClass
from airspace.errors import DatasetError
from airspace.eurocae import ed269_to_zones, ed318_to_zones
from airspace.features import Zone
from airspace.geo import lnglat_to_metric
from airspace.timing import TimeWindow

DATA = Path(__file__).parent / "data"
ED269_FILE = "ed269_sample.json"
ED318_FILE = "ed318_sample.json"
T0 = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
"""Inside the first window of the Tianfu Square event (CDEVT1)."""

Converter = Callable[..., list[Zone]]
DELETE = object()
"""Marks a key to remove in a mutation table."""


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _mutated(name: str, path: tuple[Any, ...], value: object) -> Any:
    """The fixture ``name`` with ``value`` written at ``path`` (or the key deleted)."""
    document = copy.deepcopy(_load(name))
    target = document
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


def _area_km2(zone: Zone) -> float:
    return float(lnglat_to_metric(zone.geometry).area) / 1e6


def _window(start: str, end: str) -> TimeWindow:
    return TimeWindow(datetime.fromisoformat(start), datetime.fromisoformat(end))


# ---------------------------------------------------------------------------------------------
# Known-good documents

# id, class, floor m, ceiling m, windows, geometry type, area km² (box areas from the degree
# spans at the zone's latitude; circles pi r²).
ED269_EXPECTED = [
    ("ZUUU01", AirspaceClass.PROHIBITED, 0.0, 500.0, (), "Polygon", 4.25),
    (
        "CDEVT1",
        AirspaceClass.RESTRICTED,
        0.0,
        120.0,
        (
            _window("2026-12-01T02:00:00+00:00", "2026-12-01T10:00:00+00:00"),
            _window("2026-12-02T02:00:00+00:00", "2026-12-02T10:00:00+00:00"),
        ),
        "Polygon",
        3.1416,
    ),
    ("CDMULT", AirspaceClass.CONTROLLED, 0.0, 121.92, (), "MultiPolygon", 2.12),
    ("CDSTCK#0", AirspaceClass.PROHIBITED, 0.0, 60.0, (), "Polygon", 1.062),
    ("CDSTCK#1", AirspaceClass.PROHIBITED, 60.0, 150.0, (), "Polygon", 1.062),
]

ED318_EXPECTED = [
    ("SCP001", AirspaceClass.PROHIBITED, 0.0, 300.0, (), "Polygon", 17.05),
    (
        "SCR002",
        AirspaceClass.RESTRICTED,
        0.0,
        121.92,
        (
            _window("2026-12-04T00:00:00+00:00", "2026-12-04T06:00:00+00:00"),
            _window("2026-12-05T00:00:00+00:00", "2026-12-05T06:00:00+00:00"),
        ),
        "Polygon",
        0.7854,
    ),
    ("SCC003", AirspaceClass.CONTROLLED, 0.0, 120.0, (), "MultiPolygon", 4.225 + 0.2827),
    ("SCC004#0", AirspaceClass.CONTROLLED, 0.0, 50.0, (), "MultiPolygon", 0.534),
    ("SCC004#1", AirspaceClass.CONTROLLED, 50.0, 120.0, (), "Polygon", 2.135),
]


@pytest.mark.parametrize(
    ("name", "convert", "expected"),
    [(ED269_FILE, ed269_to_zones, ED269_EXPECTED), (ED318_FILE, ed318_to_zones, ED318_EXPECTED)],
)
def test_known_document_gives_expected_zones(
    name: str, convert: Converter, expected: list[tuple[Any, ...]]
) -> None:
    zones = convert(_load(name), file=name)

    # NO_RESTRICTION features (CDINFO, SCN005) are not zones.
    assert [zone.id for zone in zones] == [row[0] for row in expected]
    for zone, (_, airspace_class, floor_m, ceiling_m, windows, geom_type, area_km2) in zip(
        zones, expected, strict=True
    ):
        assert zone.airspace_class is airspace_class
        assert zone.floor_agl_m == pytest.approx(floor_m)
        assert zone.ceiling_agl_m == pytest.approx(ceiling_m)
        assert zone.active_windows == windows
        assert zone.geometry.geom_type == geom_type
        assert zone.geometry.is_valid
        assert _area_km2(zone) == pytest.approx(area_km2, rel=0.01)


@pytest.mark.parametrize(
    ("name", "convert", "zone_id", "zone_name", "reason", "authority"),
    [
        (
            ED269_FILE,
            ed269_to_zones,
            "ZUUU01",
            "Shuangliu airport clearance",
            "AIR_TRAFFIC",
            "CAAC Southwest Regional Administration",
        ),
        (
            ED269_FILE,
            ed269_to_zones,
            "CDEVT1",
            "Tianfu Square event",
            "SENSITIVE, POPULATION",
            "Chengdu Public Security Bureau",
        ),
        (ED269_FILE, ed269_to_zones, "CDMULT", "Two substations", "SENSITIVE", ""),
        (
            ED318_FILE,
            ed318_to_zones,
            "SCP001",
            "Tianfu airport",
            "AIR_TRAFFIC",
            "CAAC Southwest Regional Administration",
        ),
        (
            ED318_FILE,
            ed318_to_zones,
            "SCC004#1",
            "Ziyang reservoir",
            "NATURE, PRIVACY",
            "Ziyang Water Bureau",
        ),
    ],
)
def test_texts_are_carried_over(
    name: str,
    convert: Converter,
    zone_id: str,
    zone_name: str,
    reason: str,
    authority: str,
) -> None:
    zone = {zone.id: zone for zone in convert(_load(name), file=name)}[zone_id]
    assert (zone.name, zone.reason, zone.authority) == (zone_name, reason, authority)


@pytest.mark.parametrize(
    ("name", "convert", "zone_id", "radius_m"),
    [
        (ED269_FILE, ed269_to_zones, "CDEVT1", 1000.0),
        (ED318_FILE, ed318_to_zones, "SCR002", 500.0),
    ],
)
def test_circle_is_a_fine_polygon_of_its_radius(
    name: str, convert: Converter, zone_id: str, radius_m: float
) -> None:
    zone = {zone.id: zone for zone in convert(_load(name), file=name)}[zone_id]
    circle_m = lnglat_to_metric(zone.geometry)
    assert len(zone.geometry.exterior.coords) - 1 >= 64
    centre = circle_m.centroid
    distances_m = [centre.distance(type(centre)(xy)) for xy in circle_m.exterior.coords]
    assert min(distances_m) == pytest.approx(radius_m, rel=1e-3)
    assert max(distances_m) == pytest.approx(radius_m, rel=1e-3)


def test_temporary_zone_is_active_only_in_its_windows() -> None:
    zones = {zone.id: zone for zone in ed269_to_zones(_load(ED269_FILE), file=ED269_FILE)}
    event = zones["CDEVT1"]
    assert event.is_active(T0)
    # 18:00 Beijing time on 1 December is 10:00Z, the end of the first window (exclusive).
    assert not event.is_active(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    assert zones["ZUUU01"].is_active(datetime(2030, 1, 1, tzinfo=UTC))


def test_ed269_circle_radius_is_in_uom_dimensions() -> None:
    # As InterUSS reads ED-269: the radius, like the limits, is in uomDimensions.
    document = _load(ED269_FILE)
    item = document["features"][1]["geometry"][0]
    item.update(
        uomDimensions="FT",
        upperLimit=400,
        horizontalProjection={
            "type": "Circle",
            "center": [104.0657, 30.6595],
            "radius": 1000 / 0.3048,
        },
    )
    zone = ed269_to_zones(document, file=ED269_FILE)[1]
    assert zone.ceiling_agl_m == pytest.approx(121.92)
    assert _area_km2(zone) == pytest.approx(3.1416, rel=0.01)


@pytest.mark.parametrize("spelling", ["REQ_AUTHORISATION", "REQ_AUTHORIZATION"])
def test_ed318_accepts_both_spellings_of_authorisation(spelling: str) -> None:
    document = _mutated(ED318_FILE, ("features", 1, "properties", "type"), spelling)
    assert ed318_to_zones(document, file=ED318_FILE)[1].airspace_class is AirspaceClass.RESTRICTED


def test_ed318_without_limited_applicability_is_permanent() -> None:
    document = _mutated(ED318_FILE, ("features", 1, "properties", "limitedApplicability"), DELETE)
    assert ed318_to_zones(document, file=ED318_FILE)[1].active_windows == ()


def test_ed318_restriction_member_is_read_when_type_is_absent() -> None:
    document = _mutated(ED318_FILE, ("features", 0, "properties", "type"), DELETE)
    document["features"][0]["properties"]["restriction"] = "CONDITIONAL"
    assert ed318_to_zones(document, file=ED318_FILE)[0].airspace_class is AirspaceClass.CONTROLLED


# ---------------------------------------------------------------------------------------------
# Refusals: every problem names the file, the feature index and its id

BOWTIE = [[[104.0, 30.6], [104.01, 30.61], [104.01, 30.6], [104.0, 30.61], [104.0, 30.6]]]
SCHEDULE = [{"day": ["MON"], "startTime": "08:00:00Z", "endTime": "18:00:00Z"}]

ED269_REFUSALS: list[tuple[str, tuple[Any, ...], object, int, str | None, str]] = [
    # (case, path, value, feature index, feature id, message fragment)
    ("missing identifier", ("features", 0, "identifier"), DELETE, 0, None, "no 'identifier'"),
    ("missing restriction", ("features", 0, "restriction"), DELETE, 0, "ZUUU01", "restriction"),
    ("missing geometry", ("features", 2, "geometry"), DELETE, 2, "CDMULT", "no 'geometry'"),
    ("empty geometry", ("features", 2, "geometry"), [], 2, "CDMULT", "at least one"),
    (
        "missing applicability",
        ("features", 1, "applicability"),
        DELETE,
        1,
        "CDEVT1",
        "no 'applicability'",
    ),
    (
        "missing limit",
        ("features", 0, "geometry", 0, "upperLimit"),
        DELETE,
        0,
        "ZUUU01",
        "no 'upperLimit'",
    ),
    ("unknown restriction", ("features", 0, "restriction"), "MAYBE", 0, "ZUUU01", "'MAYBE'"),
    (
        "self-intersecting polygon",
        ("features", 0, "geometry", 0, "horizontalProjection", "coordinates"),
        BOWTIE,
        0,
        "ZUUU01",
        "Self-intersection",
    ),
    (
        "unclosed ring",
        ("features", 0, "geometry", 0, "horizontalProjection", "coordinates"),
        [[[103.94, 30.56], [103.96, 30.56], [103.96, 30.58], [103.94, 30.58]]],
        0,
        "ZUUU01",
        "not closed",
    ),
    (
        "latitude out of range",
        ("features", 0, "geometry", 0, "horizontalProjection", "coordinates", 0, 1),
        [30.56, 103.96],
        0,
        "ZUUU01",
        "out of range",
    ),
    (
        "circle centre out of range",
        ("features", 1, "geometry", 0, "horizontalProjection", "center"),
        [204.0, 30.0],
        1,
        "CDEVT1",
        "out of range",
    ),
    (
        "circle radius not positive",
        ("features", 1, "geometry", 0, "horizontalProjection", "radius"),
        0,
        1,
        "CDEVT1",
        "must be positive",
    ),
    (
        "floor above ceiling",
        ("features", 0, "geometry", 0, "lowerLimit"),
        600,
        0,
        "ZUUU01",
        "floor 600 m AGL is above ceiling 500 m AGL",
    ),
    (
        "limit not a number",
        ("features", 0, "geometry", 0, "upperLimit"),
        "120",
        0,
        "ZUUU01",
        "must be a number",
    ),
    (
        "naive start",
        ("features", 1, "applicability", 0, "startDateTime"),
        "2026-12-02T02:00:00",
        1,
        "CDEVT1",
        "has no time zone",
    ),
    (
        "end before start",
        ("features", 1, "applicability", 0, "endDateTime"),
        "2026-12-01T00:00:00Z",
        1,
        "CDEVT1",
        "before it starts",
    ),
    (
        "open-ended period",
        ("features", 1, "applicability", 0, "endDateTime"),
        DELETE,
        1,
        "CDEVT1",
        "needs both startDateTime and endDateTime",
    ),
    (
        "permanent flag unknown",
        ("features", 0, "applicability", 0, "permanent"),
        "PERMANENT",
        0,
        "ZUUU01",
        '"YES" or "NO"',
    ),
    (
        "recurring schedule",
        ("features", 1, "applicability", 0, "schedule"),
        SCHEDULE,
        1,
        "CDEVT1",
        "recurring schedules are not supported",
    ),
    (
        "AMSL reference",
        ("features", 0, "geometry", 0, "upperVerticalReference"),
        "AMSL",
        0,
        "ZUUU01",
        "only AGL/SFC heights are supported in datasets",
    ),
    (
        "WGS84 reference",
        ("features", 0, "geometry", 0, "lowerVerticalReference"),
        "WGS84",
        0,
        "ZUUU01",
        "only AGL/SFC heights are supported in datasets",
    ),
    (
        "unknown reference",
        ("features", 0, "geometry", 0, "lowerVerticalReference"),
        "GND",
        0,
        "ZUUU01",
        "'GND' is unknown",
    ),
    (
        "unsupported unit",
        ("features", 2, "geometry", 1, "uomDimensions"),
        "NM",
        2,
        "CDMULT",
        "'NM' is not supported",
    ),
    (
        "unsupported geometry type",
        ("features", 0, "geometry", 0, "horizontalProjection", "type"),
        "LineString",
        0,
        "ZUUU01",
        "'LineString' is not supported",
    ),
    ("duplicate id", ("features", 2, "identifier"), "ZUUU01", 2, "ZUUU01", "already used"),
    (
        "broken zone that would be skipped",
        ("features", 4, "geometry", 0, "upperVerticalReference"),
        "AMSL",
        4,
        "CDINFO",
        "only AGL/SFC",
    ),
]

ED318_REFUSALS: list[tuple[str, tuple[Any, ...], object, int, str | None, str]] = [
    ("not a Feature", ("features", 0, "type"), "Zone", 0, "SCP001", "type 'Feature'"),
    (
        "missing identifier",
        ("features", 0, "properties", "identifier"),
        DELETE,
        0,
        "SCP001",  # the feature's own "id" names it
        "no 'identifier'",
    ),
    ("missing type", ("features", 0, "properties", "type"), DELETE, 0, "SCP001", "no 'type'"),
    ("missing layer", ("features", 0, "geometry", "layer"), DELETE, 0, "SCP001", "no 'layer'"),
    ("unknown type", ("features", 0, "properties", "type"), "MAYBE", 0, "SCP001", "'MAYBE'"),
    ("U-space type", ("features", 0, "properties", "type"), "USPACE", 0, "SCP001", "U-space"),
    (
        "self-intersecting polygon",
        ("features", 0, "geometry", "coordinates"),
        BOWTIE,
        0,
        "SCP001",
        "Self-intersection",
    ),
    (
        "overlapping multipolygon",
        ("features", 3, "geometry", "geometries", 0, "coordinates", 1),
        [
            [
                [104.622, 30.12],
                [104.63, 30.12],
                [104.63, 30.125],
                [104.622, 30.125],
                [104.622, 30.12],
            ]
        ],
        3,
        "SCC004",
        "not a valid area",
    ),
    (
        "longitude out of range",
        ("features", 1, "geometry", "coordinates"),
        [-203.85, 30.08],
        1,
        "SCR002",
        "out of range",
    ),
    (
        "circle radius negative",
        ("features", 1, "geometry", "extent", "radius"),
        -5,
        1,
        "SCR002",
        "must be positive",
    ),
    (
        "floor above ceiling",
        ("features", 0, "geometry", "layer", "lower"),
        350,
        0,
        "SCP001",
        "floor 350 m AGL is above ceiling 300 m AGL",
    ),
    (
        "naive end",
        ("features", 1, "properties", "limitedApplicability", 0, "endDateTime"),
        "2026-12-05T06:00:00",
        1,
        "SCR002",
        "has no time zone",
    ),
    (
        "recurring schedule",
        ("features", 1, "properties", "limitedApplicability", 1, "schedule"),
        SCHEDULE,
        1,
        "SCR002",
        "recurring schedules are not supported",
    ),
    (
        "AMSL reference",
        ("features", 0, "geometry", "layer", "upperReference"),
        "AMSL",
        0,
        "SCP001",
        "only AGL/SFC heights are supported in datasets",
    ),
    (
        "WGS84 reference",
        ("features", 2, "geometry", "geometries", 1, "layer", "lowerReference"),
        "WGS84",
        2,
        "SCC003",
        "only AGL/SFC heights are supported in datasets",
    ),
    (
        "unsupported unit",
        ("features", 0, "geometry", "layer", "uom"),
        "km",
        0,
        "SCP001",
        "'km' is not supported",
    ),
    (
        "unsupported geometry type",
        ("features", 0, "geometry", "type"),
        "LineString",
        0,
        "SCP001",
        "'LineString' is not supported",
    ),
    (
        "point without a circle",
        ("features", 1, "geometry", "extent"),
        DELETE,
        1,
        "SCR002",
        "without a Circle extent",
    ),
    (
        "duplicate id",
        ("features", 2, "properties", "identifier"),
        "SCP001",
        2,
        "SCP001",
        "already used",
    ),
]


def _assert_refused(
    convert: Converter,
    document: object,
    file: str,
    index: int | None,
    feature_id: str | None,
    fragment: str,
) -> None:
    with pytest.raises(DatasetError) as caught:
        convert(document, file=file)
    error = caught.value
    message = str(error)
    assert (error.file, error.feature_index, error.feature_id) == (file, index, feature_id)
    assert message.startswith(file)
    if index is not None:
        assert f"feature #{index}" in message
    if feature_id is not None:
        assert repr(feature_id) in message
    assert fragment in message


@pytest.mark.parametrize(
    ("path", "value", "index", "feature_id", "fragment"),
    [case[1:] for case in ED269_REFUSALS],
    ids=[case[0] for case in ED269_REFUSALS],
)
def test_ed269_refuses_broken_feature(
    path: tuple[Any, ...], value: object, index: int, feature_id: str | None, fragment: str
) -> None:
    document = _mutated(ED269_FILE, path, value)
    _assert_refused(ed269_to_zones, document, ED269_FILE, index, feature_id, fragment)


@pytest.mark.parametrize(
    ("path", "value", "index", "feature_id", "fragment"),
    [case[1:] for case in ED318_REFUSALS],
    ids=[case[0] for case in ED318_REFUSALS],
)
def test_ed318_refuses_broken_feature(
    path: tuple[Any, ...], value: object, index: int, feature_id: str | None, fragment: str
) -> None:
    document = _mutated(ED318_FILE, path, value)
    _assert_refused(ed318_to_zones, document, ED318_FILE, index, feature_id, fragment)


@pytest.mark.parametrize(
    ("convert", "document", "fragment"),
    [
        (ed269_to_zones, [], "must be a JSON object, got an array"),
        (ed269_to_zones, {"title": "no features"}, "no 'features'"),
        (ed269_to_zones, {"features": {}}, "features must be an array"),
        (ed318_to_zones, {"type": "Feature", "features": []}, "FeatureCollection"),
        (ed318_to_zones, "zones", "must be a JSON object, got a string"),
        (ed318_to_zones, {"type": "FeatureCollection"}, "no 'features'"),
    ],
)
def test_wrong_top_level_shape_is_refused(
    convert: Converter, document: object, fragment: str
) -> None:
    _assert_refused(convert, document, "zones.json", None, None, fragment)


@pytest.mark.parametrize(
    ("convert", "document"),
    [
        (ed269_to_zones, {"features": [42]}),
        (ed318_to_zones, {"type": "FeatureCollection", "features": [None]}),
    ],
)
def test_feature_that_is_not_an_object_is_refused(convert: Converter, document: object) -> None:
    _assert_refused(convert, document, "zones.json", 0, None, "must be a JSON object")
