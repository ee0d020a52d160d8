"""EUROCAE UAS geographical zones: ED-269 and ED-318 documents to ``Zone`` objects.

Two formats are read, both already parsed from JSON by the caller:

* ED-269 (2020): an object whose ``features`` are ``UASZoneVersion`` records. Each record
  has a ``restriction``, an ``applicability`` list and a ``geometry`` list of airspace
  volumes, each a ``horizontalProjection`` (``Polygon`` or ``Circle``) between
  ``lowerLimit`` and ``upperLimit`` in ``uomDimensions``.
* ED-318 (2023): a GeoJSON ``FeatureCollection``. The zone's properties carry its ``type``
  (the restriction), an optional ``limitedApplicability`` and texts as ``[{"text", "lang"}]``
  lists; the geometry is GeoJSON extended with a vertical ``layer`` and, for circles, a
  ``Point`` with an ``extent`` of sub-type ``Circle``.

Both are converted at the edge into our own model: heights in metres above ground level,
instants as aware UTC datetimes, footprints as (lng, lat) shapely geometry. Whatever cannot
be converted faithfully is refused with a ``DatasetError`` naming the file, the feature and
the problem; nothing is guessed. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from airspace.classes import AirspaceClass
from airspace.errors import DatasetError, InvalidInstantError
from airspace.features import Zone
from airspace.geo import lnglat_to_metric, metric_to_lnglat
from airspace.timing import TimeWindow, parse_instant

METRES_PER_FOOT = 0.3048
"""The international foot."""

CIRCLE_QUAD_SEGMENTS = 32
"""Segments per quarter circle: a circle becomes a polygon of 128 vertices, whose edges stay
within 0.03 % of the radius inside the true circle (1.5 m for a 5 km zone)."""

_RESTRICTION_TO_CLASS: dict[str, AirspaceClass | None] = {
    "PROHIBITED": AirspaceClass.PROHIBITED,
    # ED-269 spells it with an S, ED-318 with a Z; both occur in published data.
    "REQ_AUTHORISATION": AirspaceClass.RESTRICTED,
    "REQ_AUTHORIZATION": AirspaceClass.RESTRICTED,
    "CONDITIONAL": AirspaceClass.CONTROLLED,
    # Published for information only: no restriction, so no zone.
    "NO_RESTRICTION": None,
}

_METRES_PER_UNIT = {"M": 1.0, "FT": METRES_PER_FOOT}

_HEIGHT_REFERENCES = frozenset({"AGL", "SFC"})
"""References whose limits are true heights (above ground or surface level)."""

_ALTITUDE_REFERENCES = frozenset({"AMSL", "WGS84"})
"""References the standards allow but our datasets do not: they need a terrain model."""


# ---------------------------------------------------------------------------------------------
# Public converters


def ed269_to_zones(document: object, *, file: str) -> list[Zone]:
    """Convert an ED-269 ``UASZoneVersion`` document into zones.

    Parameters
    ----------
    document
        The parsed JSON value: an object with a ``features`` array of ``UASZoneVersion``
        objects (``title`` and ``description`` are ignored). Coordinates are WGS84
        ``[lng, lat]`` degrees.
    file
        The name of the file the document came from, for error messages.

    Returns
    -------
    list[Zone]
        In document order. A feature whose geometry items all share the same vertical
        limits gives one zone, id ``identifier``, whose footprint is the union of the items
        (a MultiPolygon when they are disjoint). Otherwise each item gives its own zone, id
        ``"<identifier>#<k>"`` with ``k`` the item's 0-based index in ``geometry``.
        ``NO_RESTRICTION`` features are checked like the others but not returned.

    Raises
    ------
    DatasetError
        For anything that cannot be converted faithfully; the message names ``file``, the
        feature's 0-based index and its identifier.

    Notes
    -----
    Field by field:

    * ``identifier`` (required) -> ``Zone.id``; ``name`` -> ``Zone.name`` (the identifier
      when absent); ``reason`` codes joined with ``", "`` -> ``Zone.reason``; the first
      ``zoneAuthority`` entry's ``name`` -> ``Zone.authority``.
    * ``restriction`` (required): ``PROHIBITED`` -> prohibited, ``REQ_AUTHORISATION`` ->
      restricted, ``CONDITIONAL`` -> controlled, ``NO_RESTRICTION`` -> skipped.
    * ``applicability`` (required): a period with ``permanent: "YES"`` makes the zone
      permanent; a period with ``permanent: "NO"`` needs ``startDateTime`` and
      ``endDateTime`` with an offset and becomes a ``TimeWindow``. An empty list means
      permanent. Recurring ``schedule`` entries are refused.
    * ``geometry`` (at least one item): ``uomDimensions`` ``M`` or ``FT``; limits referenced
      to ``AGL`` or ``SFC`` (``AMSL`` and ``WGS84`` are refused). ``horizontalProjection``
      is a ``Polygon`` (``coordinates``: rings of ``[lng, lat]``, closed) or a ``Circle``
      (``center`` ``[lng, lat]``, ``radius`` in ``uomDimensions``, as InterUSS reads it).
      A circle becomes a 128-vertex polygon, buffered in EPSG:32648 metres; outside UTM
      zone 48N (about 102 to 108 degrees east) that projection distorts it.
    """
    top = _Where(file)
    root = _mapping(document, "an ED-269 document", top)
    features = _list(_required(root, "features", "the document", top), "features", top)
    zones: list[Zone] = []
    first_index_by_id: dict[str, int] = {}
    for index, feature in enumerate(features):
        feature_zones = _ed269_feature_to_zones(feature, _Where(file, index))
        _check_unique_ids(feature_zones, first_index_by_id, _Where(file, index))
        zones.extend(feature_zones)
    return zones


def ed318_to_zones(document: object, *, file: str) -> list[Zone]:
    """Convert an ED-318 GeoJSON ``FeatureCollection`` of UAS geographical zones into zones.

    Parameters
    ----------
    document
        The parsed JSON value: ``{"type": "FeatureCollection", "features": [...]}``; each
        feature has ``properties`` (a ``UASZone``) and a layered GeoJSON ``geometry``.
        Coordinates are WGS84 ``[lng, lat]`` degrees. ``metadata`` is not read.
    file
        The name of the file the document came from, for error messages.

    Returns
    -------
    list[Zone]
        In document order. A ``GeometryCollection`` whose members share the same vertical
        layer gives one zone (the union of the members); otherwise each member gives its own
        zone, id ``"<identifier>#<k>"`` with ``k`` the member's 0-based index in
        ``geometries``. ``NO_RESTRICTION`` features are checked but not returned.

    Raises
    ------
    DatasetError
        For anything that cannot be converted faithfully; the message names ``file``, the
        feature's 0-based index and its identifier.

    Notes
    -----
    Field by field:

    * ``properties.identifier`` (required) -> ``Zone.id``; ``name`` (``[{"text", "lang"}]``,
      the first text) -> ``Zone.name``; ``reason`` codes joined -> ``Zone.reason``; the
      first ``zoneAuthority`` entry's first ``name`` text -> ``Zone.authority``.
    * ``properties.type`` (required): ``PROHIBITED``, ``REQ_AUTHORIZATION`` (or
      ``REQ_AUTHORISATION``), ``CONDITIONAL``, ``NO_RESTRICTION``, mapped as for ED-269.
      ``USPACE`` is refused. A ``restriction`` member is read when ``type`` is absent,
      because files converted from ED-269 keep that name.
    * ``limitedApplicability``: absent or empty means permanent; each period needs
      ``startDateTime`` and ``endDateTime`` with an offset; ``schedule`` is refused.
    * ``geometry``: ``Polygon`` or ``MultiPolygon`` with a ``layer``; a ``Point`` with
      ``extent: {"subType": "Circle", "radius": <metres>}`` and a ``layer``; or a
      ``GeometryCollection`` of those, each member with its own ``layer``. ``layer.uom`` is
      ``m`` or ``ft``; references ``AGL`` or ``SFC`` (``AMSL`` and ``WGS84`` are refused).
      Circles are buffered in EPSG:32648 metres, as for ED-269.
    """
    top = _Where(file)
    root = _mapping(document, "an ED-318 document", top)
    kind = _required(root, "type", "the document", top)
    if kind != "FeatureCollection":
        raise top.error(f"an ED-318 document is a GeoJSON FeatureCollection, got type {kind!r}")
    features = _list(_required(root, "features", "the document", top), "features", top)
    zones: list[Zone] = []
    first_index_by_id: dict[str, int] = {}
    for index, feature in enumerate(features):
        feature_zones = _ed318_feature_to_zones(feature, _Where(file, index))
        _check_unique_ids(feature_zones, first_index_by_id, _Where(file, index))
        zones.extend(feature_zones)
    return zones


# ---------------------------------------------------------------------------------------------
# Error context and JSON access


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a problem lies: the file, and the feature when there is one."""

    file: str
    feature_index: int | None = None
    feature_id: str | None = None

    def with_id(self, feature_id: str | None) -> _Where:
        return _Where(self.file, self.feature_index, feature_id)

    def error(self, problem: str) -> DatasetError:
        return DatasetError(
            problem, file=self.file, feature_index=self.feature_index, feature_id=self.feature_id
        )


@dataclass(frozen=True, slots=True)
class _Volume:
    """One horizontal footprint between two true heights."""

    footprint: BaseGeometry
    """Polygon or MultiPolygon, (lng, lat) degrees."""
    floor_agl_m: float
    ceiling_agl_m: float


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _mapping(value: object, what: str, where: _Where) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise where.error(f"{what} must be a JSON object, got {_json_type(value)}")
    return value


def _list(value: object, what: str, where: _Where) -> Sequence[object]:
    if not isinstance(value, list):
        raise where.error(f"{what} must be an array, got {_json_type(value)}")
    return value


def _required(mapping: Mapping[str, object], key: str, what: str, where: _Where) -> object:
    if key not in mapping or mapping[key] is None:
        raise where.error(f"{what} has no {key!r}")
    return mapping[key]


def _string(value: object, what: str, where: _Where) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"{what} must be a non-empty string, got {value!r}")
    return value


def _number(value: object, what: str, where: _Where) -> float:
    # JSON true/false parse to bool, which Python counts as int: refuse them explicitly.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(f"{what} must be a number, got {_json_type(value)}")
    if not math.isfinite(value):
        raise where.error(f"{what} must be finite, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------------
# ED-269


def _ed269_feature_to_zones(feature: object, where: _Where) -> list[Zone]:
    record = _mapping(feature, "a UASZoneVersion", where)
    raw_id = record.get("identifier")
    where = where.with_id(raw_id if isinstance(raw_id, str) and raw_id.strip() else None)
    identifier = _string(
        _required(record, "identifier", "the UASZoneVersion", where), "identifier", where
    )

    airspace_class = _restriction_to_class(
        _required(record, "restriction", "the zone", where), "restriction", where
    )
    name = record.get("name")
    name_text = _string(name, "name", where) if name is not None else identifier
    windows = _ed269_applicability_to_windows(
        _required(record, "applicability", "the zone", where), where
    )
    items = _list(_required(record, "geometry", "the zone", where), "geometry", where)
    if not items:
        raise where.error("geometry must list at least one airspace volume")
    volumes = [_ed269_volume(item, f"geometry[{k}]", where) for k, item in enumerate(items)]
    if airspace_class is None:
        return []
    return _volumes_to_zones(
        identifier,
        volumes,
        name=name_text,
        airspace_class=airspace_class,
        active_windows=windows,
        reason=_reasons_to_text(record.get("reason"), where),
        authority=_ed269_authority(record.get("zoneAuthority"), where),
        where=where,
    )


def _ed269_applicability_to_windows(value: object, where: _Where) -> tuple[TimeWindow, ...]:
    periods = _list(value, "applicability", where)
    windows: list[TimeWindow] = []
    is_permanent = not periods
    for k, period_value in enumerate(periods):
        what = f"applicability[{k}]"
        period = _mapping(period_value, what, where)
        _refuse_schedule(period, what, where)
        permanent = _required(period, "permanent", what, where)
        if permanent == "YES":
            if period.get("startDateTime") is not None or period.get("endDateTime") is not None:
                raise where.error(
                    f"{what} is permanent but also gives startDateTime/endDateTime; "
                    'a period with dates is written "permanent": "NO"'
                )
            is_permanent = True
        elif permanent == "NO":
            windows.append(_period_to_window(period, what, where))
        else:
            raise where.error(f'{what}.permanent must be "YES" or "NO", got {permanent!r}')
    # A zone that is always active in one period is always active, whatever the others say.
    return () if is_permanent else tuple(sorted(windows, key=lambda w: w.start_time))


def _ed269_volume(value: object, what: str, where: _Where) -> _Volume:
    item = _mapping(value, what, where)
    metres_per_unit = _metres_per_unit(
        _required(item, "uomDimensions", what, where), f"{what}.uomDimensions", where
    )
    floor_agl_m = _height_agl_m(
        item, "lowerLimit", "lowerVerticalReference", metres_per_unit, what, where
    )
    ceiling_agl_m = _height_agl_m(
        item, "upperLimit", "upperVerticalReference", metres_per_unit, what, where
    )
    _check_limits(floor_agl_m, ceiling_agl_m, what, where)

    projection_what = f"{what}.horizontalProjection"
    projection = _mapping(
        _required(item, "horizontalProjection", what, where), projection_what, where
    )
    kind = _required(projection, "type", projection_what, where)
    if kind == "Polygon":
        footprint: BaseGeometry = _polygon(
            _required(projection, "coordinates", projection_what, where),
            f"{projection_what}.coordinates",
            where,
        )
    elif kind == "Circle":
        centre_lng, centre_lat = _position(
            _required(projection, "center", projection_what, where),
            f"{projection_what}.center",
            where,
        )
        radius = _number(
            _required(projection, "radius", projection_what, where),
            f"{projection_what}.radius",
            where,
        )
        footprint = _circle(
            centre_lng, centre_lat, radius * metres_per_unit, f"{projection_what}.radius", where
        )
    else:
        raise where.error(
            f"{projection_what}.type {kind!r} is not supported; expected Polygon or Circle"
        )
    _check_valid(footprint, projection_what, where)
    return _Volume(footprint, floor_agl_m, ceiling_agl_m)


def _ed269_authority(value: object, where: _Where) -> str:
    if value is None:
        return ""
    authorities = _list(value, "zoneAuthority", where)
    if not authorities:
        return ""
    first = _mapping(authorities[0], "zoneAuthority[0]", where)
    name = first.get("name")
    return "" if name is None else _string(name, "zoneAuthority[0].name", where)


# ---------------------------------------------------------------------------------------------
# ED-318


def _ed318_feature_to_zones(feature: object, where: _Where) -> list[Zone]:
    record = _mapping(feature, "a feature", where)
    properties = _mapping(record.get("properties"), "the feature's properties", where)
    # Name the feature in messages by its identifier, else by the GeoJSON feature id.
    raw_id = properties.get("identifier")
    if not (isinstance(raw_id, str) and raw_id.strip()):
        raw_id = record.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    where = where.with_id(raw_id if isinstance(raw_id, str) and raw_id.strip() else None)
    if record.get("type") != "Feature":
        raise where.error(f"a feature must have type 'Feature', got {record.get('type')!r}")
    identifier = _string(
        _required(properties, "identifier", "the feature's properties", where), "identifier", where
    )

    if "type" in properties:
        airspace_class = _restriction_to_class(properties["type"], "type", where, ed318=True)
    elif "restriction" in properties:
        airspace_class = _restriction_to_class(properties["restriction"], "restriction", where)
    else:
        raise where.error("the feature's properties have no 'type' (the zone's restriction)")
    name = properties.get("name")
    name_text = _ed318_text(name, "name", where) if name is not None else identifier
    windows = _ed318_applicability_to_windows(properties.get("limitedApplicability"), where)
    volumes = _ed318_geometry_to_volumes(_required(record, "geometry", "the feature", where), where)
    if airspace_class is None:
        return []
    return _volumes_to_zones(
        identifier,
        volumes,
        name=name_text,
        airspace_class=airspace_class,
        active_windows=windows,
        reason=_reasons_to_text(properties.get("reason"), where),
        authority=_ed318_authority(properties.get("zoneAuthority"), where),
        where=where,
    )


def _ed318_text(value: object, what: str, where: _Where) -> str:
    """The first text of an ED-318 ``[{"text", "lang"}]`` list (a bare string is accepted)."""
    if isinstance(value, str):
        return _string(value, what, where)
    texts = _list(value, what, where)
    if not texts:
        raise where.error(f"{what} must list at least one text")
    first = _mapping(texts[0], f"{what}[0]", where)
    return _string(_required(first, "text", f"{what}[0]", where), f"{what}[0].text", where)


def _ed318_applicability_to_windows(value: object, where: _Where) -> tuple[TimeWindow, ...]:
    # ED-318: a zone without limitedApplicability applies at all times.
    if value is None:
        return ()
    periods = _list(value, "limitedApplicability", where)
    windows: list[TimeWindow] = []
    for k, period_value in enumerate(periods):
        what = f"limitedApplicability[{k}]"
        period = _mapping(period_value, what, where)
        _refuse_schedule(period, what, where)
        windows.append(_period_to_window(period, what, where))
    return tuple(sorted(windows, key=lambda w: w.start_time))


def _ed318_geometry_to_volumes(value: object, where: _Where) -> list[_Volume]:
    geometry = _mapping(value, "geometry", where)
    if geometry.get("type") == "GeometryCollection":
        members = _list(
            _required(geometry, "geometries", "geometry", where), "geometry.geometries", where
        )
        if not members:
            raise where.error("geometry.geometries must list at least one geometry")
        return [
            _ed318_volume(member, f"geometry.geometries[{k}]", where)
            for k, member in enumerate(members)
        ]
    return [_ed318_volume(geometry, "geometry", where)]


def _ed318_volume(value: object, what: str, where: _Where) -> _Volume:
    geometry = _mapping(value, what, where)
    kind = _required(geometry, "type", what, where)
    footprint: BaseGeometry
    if kind == "Polygon":
        footprint = _polygon(
            _required(geometry, "coordinates", what, where), f"{what}.coordinates", where
        )
    elif kind == "MultiPolygon":
        footprint = _multipolygon(
            _required(geometry, "coordinates", what, where), f"{what}.coordinates", where
        )
    elif kind == "Point" and geometry.get("extent") is not None:
        extent_what = f"{what}.extent"
        extent = _mapping(geometry["extent"], extent_what, where)
        sub_type = _required(extent, "subType", extent_what, where)
        if sub_type != "Circle":
            raise where.error(
                f"{extent_what}.subType {sub_type!r} is not supported; expected Circle"
            )
        centre_lng, centre_lat = _position(
            _required(geometry, "coordinates", what, where), f"{what}.coordinates", where
        )
        # ED-318 4.2.3.1: the radius is in metres whatever the layer's uom.
        radius_m = _number(
            _required(extent, "radius", extent_what, where), f"{extent_what}.radius", where
        )
        footprint = _circle(centre_lng, centre_lat, radius_m, f"{extent_what}.radius", where)
    elif kind == "Point":
        raise where.error(f"{what} is a Point without a Circle extent: a zone needs an area")
    else:
        raise where.error(
            f"{what}.type {kind!r} is not supported; expected Polygon, MultiPolygon, "
            "Point with a Circle extent, or a GeometryCollection of those"
        )
    _check_valid(footprint, what, where)

    layer_what = f"{what}.layer"
    layer = _mapping(_required(geometry, "layer", what, where), layer_what, where)
    metres_per_unit = _metres_per_unit(
        _required(layer, "uom", layer_what, where), f"{layer_what}.uom", where
    )
    floor_agl_m = _height_agl_m(
        layer, "lower", "lowerReference", metres_per_unit, layer_what, where
    )
    ceiling_agl_m = _height_agl_m(
        layer, "upper", "upperReference", metres_per_unit, layer_what, where
    )
    _check_limits(floor_agl_m, ceiling_agl_m, layer_what, where)
    return _Volume(footprint, floor_agl_m, ceiling_agl_m)


def _ed318_authority(value: object, where: _Where) -> str:
    if value is None:
        return ""
    authorities = _list(value, "zoneAuthority", where)
    if not authorities:
        return ""
    first = _mapping(authorities[0], "zoneAuthority[0]", where)
    name = first.get("name")
    return "" if name is None else _ed318_text(name, "zoneAuthority[0].name", where)


# ---------------------------------------------------------------------------------------------
# Shared: classes, reasons, times, heights, geometry, assembly


def _restriction_to_class(
    value: object, what: str, where: _Where, *, ed318: bool = False
) -> AirspaceClass | None:
    if isinstance(value, str) and value in _RESTRICTION_TO_CLASS:
        return _RESTRICTION_TO_CLASS[value]
    if ed318 and value == "USPACE":
        raise where.error(
            f"{what} 'USPACE' is not supported: a U-space airspace is not a restriction zone"
        )
    raise where.error(f"unknown {what} {value!r}; expected one of {sorted(_RESTRICTION_TO_CLASS)}")


def _reasons_to_text(value: object, where: _Where) -> str:
    if value is None:
        return ""
    reasons = _list(value, "reason", where)
    return ", ".join(_string(reason, f"reason[{k}]", where) for k, reason in enumerate(reasons))


def _refuse_schedule(period: Mapping[str, object], what: str, where: _Where) -> None:
    schedule = period.get("schedule")
    if schedule is not None and schedule != []:
        raise where.error(
            f"{what}.schedule: recurring schedules are not supported; "
            "list each occurrence as its own startDateTime/endDateTime period"
        )


def _period_to_window(period: Mapping[str, object], what: str, where: _Where) -> TimeWindow:
    start_text = period.get("startDateTime")
    end_text = period.get("endDateTime")
    if start_text is None or end_text is None:
        raise where.error(
            f"{what} needs both startDateTime and endDateTime "
            "(open-ended periods are not supported)"
        )
    start_text = _string(start_text, f"{what}.startDateTime", where)
    end_text = _string(end_text, f"{what}.endDateTime", where)
    try:
        start_time = parse_instant(start_text, f"{what}.startDateTime")
        end_time = parse_instant(end_text, f"{what}.endDateTime")
    except InvalidInstantError as error:
        raise where.error(str(error)) from error
    if end_time <= start_time:
        raise where.error(f"{what} ends ({end_text}) before it starts ({start_text})")
    return TimeWindow(start_time, end_time)


def _metres_per_unit(value: object, what: str, where: _Where) -> float:
    # ED-269 writes "M"/"FT", ED-318 "m"/"ft".
    unit = value.upper() if isinstance(value, str) else value
    if not isinstance(unit, str) or unit not in _METRES_PER_UNIT:
        raise where.error(f"{what} {value!r} is not supported; expected metres (M) or feet (FT)")
    return _METRES_PER_UNIT[unit]


def _height_agl_m(
    mapping: Mapping[str, object],
    limit_key: str,
    reference_key: str,
    metres_per_unit: float,
    what: str,
    where: _Where,
) -> float:
    reference = _required(mapping, reference_key, what, where)
    if reference in _ALTITUDE_REFERENCES:
        # Our datasets are in true height (the 120 m limit of the 2024 Interim Regulations is
        # a true height); converting an altitude needs a terrain model we do not carry.
        raise where.error(
            f"{what}.{reference_key} is {reference}: only AGL/SFC heights are supported in datasets"
        )
    if reference not in _HEIGHT_REFERENCES:
        raise where.error(f"{what}.{reference_key} {reference!r} is unknown; expected AGL or SFC")
    height_agl_m = (
        _number(_required(mapping, limit_key, what, where), f"{what}.{limit_key}", where)
        * metres_per_unit
    )
    if height_agl_m < 0.0:
        raise where.error(f"{what}.{limit_key} is {height_agl_m:g} m below the ground")
    return height_agl_m


def _check_limits(floor_agl_m: float, ceiling_agl_m: float, what: str, where: _Where) -> None:
    if floor_agl_m >= ceiling_agl_m:
        relation = "equals" if floor_agl_m == ceiling_agl_m else "is above"
        raise where.error(
            f"{what}: floor {floor_agl_m:g} m AGL {relation} ceiling {ceiling_agl_m:g} m AGL"
        )


def _position(value: object, what: str, where: _Where) -> tuple[float, float]:
    """A WGS84 ``[lng, lat]`` position (a third, altitude, member is ignored)."""
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise where.error(f"{what} must be a [lng, lat] position, got {value!r}")
    lng = _number(value[0], f"{what} longitude", where)
    lat = _number(value[1], f"{what} latitude", where)
    if not (-180.0 <= lng <= 180.0 and -90.0 <= lat <= 90.0):
        hint = " (positions are [lng, lat])" if -90.0 <= lng <= 90.0 < abs(lat) <= 180.0 else ""
        raise where.error(
            f"{what} [{lng:g}, {lat:g}] is out of range: lng must be in [-180, 180] and lat in "
            f"[-90, 90] degrees{hint}"
        )
    return lng, lat


def _ring(value: object, what: str, where: _Where) -> list[tuple[float, float]]:
    positions = _list(value, what, where)
    ring = [_position(position, f"{what}[{k}]", where) for k, position in enumerate(positions)]
    if len(ring) < 4:
        raise where.error(f"{what} has {len(ring)} positions; a ring needs at least 4")
    if ring[0] != ring[-1]:
        raise where.error(f"{what} is not closed: its last position must repeat its first")
    return ring


def _polygon(value: object, what: str, where: _Where) -> Polygon:
    rings = _list(value, what, where)
    if not rings:
        raise where.error(f"{what} must list at least the outer ring")
    shell, *holes = [_ring(ring, f"{what}[{k}]", where) for k, ring in enumerate(rings)]
    return Polygon(shell, holes)


def _multipolygon(value: object, what: str, where: _Where) -> MultiPolygon:
    polygons = _list(value, what, where)
    if not polygons:
        raise where.error(f"{what} must list at least one polygon")
    return MultiPolygon(
        [_polygon(polygon, f"{what}[{k}]", where) for k, polygon in enumerate(polygons)]
    )


def _circle(lng: float, lat: float, radius_m: float, what: str, where: _Where) -> Polygon:
    """A circle of ``radius_m`` metres as a polygon, buffered in EPSG:32648 metres."""
    if radius_m <= 0.0:
        raise where.error(f"{what} must be positive, got {radius_m:g} m")
    # shapely is Cartesian: buffer in projected metres, never in degrees.
    disc_m = lnglat_to_metric(Point(lng, lat)).buffer(radius_m, quad_segs=CIRCLE_QUAD_SEGMENTS)
    disc = metric_to_lnglat(disc_m)
    assert isinstance(disc, Polygon)  # a buffered point is one polygon
    return disc


def _check_valid(footprint: BaseGeometry, what: str, where: _Where) -> None:
    if footprint.is_empty or not footprint.is_valid:
        reason = shapely.is_valid_reason(footprint)
        raise where.error(f"{what} is not a valid area: {reason}")


def _volumes_to_zones(
    identifier: str,
    volumes: Sequence[_Volume],
    *,
    name: str,
    airspace_class: AirspaceClass,
    active_windows: tuple[TimeWindow, ...],
    reason: str,
    authority: str,
    where: _Where,
) -> list[Zone]:
    first = volumes[0]
    same_limits = all(
        math.isclose(volume.floor_agl_m, first.floor_agl_m, abs_tol=1e-6)
        and math.isclose(volume.ceiling_agl_m, first.ceiling_agl_m, abs_tol=1e-6)
        for volume in volumes
    )
    if same_limits:
        footprint = (
            first.footprint
            if len(volumes) == 1
            else shapely.unary_union([volume.footprint for volume in volumes])
        )
        parts = [(identifier, _Volume(footprint, first.floor_agl_m, first.ceiling_agl_m))]
    else:
        parts = [(f"{identifier}#{k}", volume) for k, volume in enumerate(volumes)]
    zones: list[Zone] = []
    for zone_id, volume in parts:
        try:
            zones.append(
                Zone(
                    id=zone_id,
                    name=name,
                    airspace_class=airspace_class,
                    geometry=volume.footprint,
                    floor_agl_m=volume.floor_agl_m,
                    ceiling_agl_m=volume.ceiling_agl_m,
                    active_windows=active_windows,
                    reason=reason,
                    authority=authority,
                )
            )
        except DatasetError as error:
            raise where.error(error.problem) from error
    return zones


def _check_unique_ids(
    zones: Sequence[Zone], first_index_by_id: dict[str, int], where: _Where
) -> None:
    """Record the ids of one feature's zones; refuse an id an earlier feature already used."""
    assert where.feature_index is not None
    for zone in zones:
        if zone.id in first_index_by_id:
            raise where.with_id(zone.id).error(
                f"zone id {zone.id!r} is already used by feature #{first_index_by_id[zone.id]}"
            )
        first_index_by_id[zone.id] = where.feature_index
