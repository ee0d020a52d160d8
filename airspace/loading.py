"""Load and validate a dataset folder (manifest plus GeoJSON / EUROCAE files).

A dataset is refused as a whole: the first problem raises ``DatasetError`` naming the file,
the feature (index and id) and what is wrong, and nothing is returned half-loaded.
See ``docs/dataset-format.md`` for the format.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from airspace.classes import AirspaceClass
from airspace.errors import AirspaceError, DatasetError
from airspace.features import Corridor, Jurisdiction, Policy, Vertiport, Zone
from airspace.grid import AltitudeLayers
from airspace.ground import GroundArea, GroundModel
from airspace.text import describe_character, first_refused_character
from airspace.timing import DailyWindow, TimeWindow, parse_instant

BUNDLED_DATASETS = Path(__file__).parent / "datasets"

MAX_FILE_BYTES = 64 * 1024 * 1024
"""A dataset file is at most 64 MiB (the bundled one's largest is under 0.5 MiB): a file
is parsed whole in memory, so a larger one is refused before it is read."""

MAX_NESTING_DEPTH = 32
"""JSON objects and arrays nest at most this deep (GeoJSON needs 9, ED-269 about 12). Deeper
documents are refused before anything recurses over them (shapely's ``shape`` does)."""

MAX_POSITIONS_PER_GEOMETRY = 200_000
"""Positions in one geometry (the largest city boundary of sichuan4 has about 5,000): every
zone is cut into grid cells and checked for validity at start-up, in time that grows with it."""

MAX_SERVICE_AREA_SPAN_DEG = 10.0
"""The cities together fit in a box of this many degrees each way: a metropolitan region. The
grid indexes the whole area at fine resolution, and the metric projection (UTM zone 48N) holds
only over a few degrees of longitude."""

FEATURE_MARGIN_DEG = 1.0
"""Zones and corridors lie inside the cities' bounding box grown by this many degrees: a zone
may reach beyond the cities (an aerodrome's protection area), a continent-sized one may not."""


def bundled_dataset_path(name: str = "sichuan4") -> Path:
    """The folder of a dataset shipped with the package."""
    return BUNDLED_DATASETS / name


@dataclass(frozen=True, slots=True)
class GridSpec:
    """How a dataset grids its airspace."""

    resolution: int
    routing_resolution: int
    layers: AltitudeLayers


@dataclass(frozen=True, slots=True)
class Dataset:
    """Every validated feature of a dataset, before indexing."""

    name: str
    description: str
    notice: str
    local_timezone: str
    grid: GridSpec
    jurisdictions: tuple[Jurisdiction, ...]
    zones: tuple[Zone, ...]
    vertiports: tuple[Vertiport, ...]
    corridors: tuple[Corridor, ...]
    folder: Path
    ground: GroundModel | None = None
    """Ground heights (``airspace.ground``); None if the manifest names no ``ground`` file:
    then altitudes above the WGS84 ellipsoid cannot be converted."""


def load_dataset(folder: str | Path | None = None) -> Dataset:
    """Read, validate and return a dataset folder (default: the bundled ``sichuan4``).

    Raises
    ------
    DatasetError
        For the first problem found, naming file, feature index, id and problem.
    """
    root = Path(folder) if folder is not None else bundled_dataset_path()
    manifest_path = root / "manifest.json"
    manifest = _read_json(manifest_path)
    if not isinstance(manifest, dict):
        raise DatasetError("the manifest must be a JSON object", file=str(manifest_path))
    manifest_file = str(manifest_path)
    timezone = _string(manifest, "local_timezone", manifest_file, default="Asia/Shanghai")
    grid = _grid_spec(manifest.get("grid"), manifest_file)

    jurisdictions = _load_jurisdictions(root, manifest, timezone)
    extent = _service_extent(jurisdictions, _dataset_file(root, manifest, "jurisdictions"))
    known_cities = {j.id for j in jurisdictions}
    zones = _load_zones(root, manifest, known_cities, extent)
    vertiports = _load_vertiports(root, manifest, jurisdictions, timezone)
    corridors = _load_corridors(root, manifest, jurisdictions, zones)
    corridors_file = _dataset_file(root, manifest, "corridors")
    for index, corridor in enumerate(corridors):
        _check_extent(corridor.centreline, extent,
                      _Where(str(corridors_file), index, corridor.id))
    _check_unique_ids(manifest_file, zones, vertiports, corridors)
    ground = _load_ground(root, manifest, jurisdictions)
    return Dataset(
        name=_string(manifest, "name", manifest_file),
        description=_string(manifest, "description", manifest_file, default=""),
        notice=_string(manifest, "notice", manifest_file, default=""),
        local_timezone=timezone,
        grid=grid,
        jurisdictions=tuple(jurisdictions),
        zones=tuple(zones),
        vertiports=tuple(vertiports),
        corridors=tuple(corridors),
        folder=root,
        ground=ground,
    )


# -- files ------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    """The parsed document, refused whole if oversized, unreadable, not JSON, nested too deeply
    or holding text the system does not accept (``airspace.text``)."""
    try:
        size_bytes = path.stat().st_size
        if size_bytes > MAX_FILE_BYTES:
            raise DatasetError(f"file is {size_bytes} bytes, more than the {MAX_FILE_BYTES} "
                               "bytes a dataset file may have", file=str(path))
        with path.open("rb") as handle:
            content = handle.read()
    except FileNotFoundError as error:
        raise DatasetError("file not found", file=str(path)) from error
    except (OSError, ValueError) as error:  # a folder, no permission, a NUL in the name
        raise DatasetError(f"cannot be read: {error}", file=str(path)) from error
    try:
        document = json.loads(content)
    except RecursionError as error:
        raise DatasetError("not valid JSON: nested too deeply", file=str(path)) from error
    except ValueError as error:  # also UnicodeDecodeError, and integers of over 4300 digits
        raise DatasetError(f"not valid JSON: {error}", file=str(path)) from error
    _check_document(document, str(path))
    return document


_Entry = tuple[Any, int, Any, str | int | None]
"""A value met while walking a document: ``(value, depth, parent entry, key in parent)``."""


def _check_document(document: Any, file: str) -> None:
    """Refuse nesting deeper than ``MAX_NESTING_DEPTH`` and strings (keys too) with refused
    characters, naming where in the document (and the feature, for a FeatureCollection).

    Iterative, and it keeps each value's parent rather than its path: the path is only built
    for a message, so a walk over 20,000 positions takes milliseconds. (``json`` gives exact
    ``dict``, ``list`` and ``str``, so ``type(...) is`` is enough.)
    """
    stack: list[_Entry] = [(document, 0, None, None)]
    while stack:
        entry = stack.pop()
        value, depth = entry[0], entry[1]
        kind = type(value)
        if kind is str:
            _check_text(value, document, file, entry)
            continue
        if depth >= MAX_NESTING_DEPTH:
            path = _path_of(entry)
            raise _document_error(f"nested more than {MAX_NESTING_DEPTH} levels deep at "
                                  f"{_json_path(path)}", document, file, path)
        if kind is dict:
            for key in value:
                _check_text(key, document, file, (key, depth + 1, entry, key))
        for key, item in value.items() if kind is dict else enumerate(value):
            item_kind = type(item)
            if item_kind is str or item_kind is dict or item_kind is list:
                stack.append((item, depth + 1, entry, key))


def _path_of(entry: _Entry) -> tuple[str | int, ...]:
    """The keys from the document's root down to ``entry``."""
    keys: list[str | int] = []
    while entry[2] is not None:
        keys.append(entry[3] if entry[3] is not None else "")
        entry = entry[2]
    return tuple(reversed(keys))


def _check_text(text: str, document: Any, file: str, entry: _Entry) -> None:
    position = first_refused_character(text)
    if position is not None:
        path = _path_of(entry)
        raise _document_error(
            f"{_json_path(path)}: character {describe_character(text[position])} at position "
            f"{position} is not allowed (control, bidirectional-control and lone surrogate "
            "characters are refused)", document, file, path)


def _json_path(path: tuple[str | int, ...]) -> str:
    """``("features", 4, "properties", "name")`` -> ``features[4].properties.name``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + repr(part)[1:-1]
    return text or "the document"


def _document_error(problem: str, document: Any, file: str,
                    path: tuple[str | int, ...]) -> DatasetError:
    """The error, naming the feature when ``path`` lies inside one of ``features``."""
    if len(path) < 2 or path[0] != "features" or not isinstance(path[1], int):
        return DatasetError(problem, file=file)
    feature = document["features"][path[1]]
    properties = feature.get("properties") if isinstance(feature, dict) else None
    raw_id = properties.get("id") if isinstance(properties, dict) else None
    clean_id = (raw_id if isinstance(raw_id, str) and first_refused_character(raw_id) is None
                else None)
    return DatasetError(problem, file=file, feature_index=path[1], feature_id=clean_id)


def _dataset_file(root: Path, manifest: dict[str, Any], key: str) -> Path:
    """The file the manifest names under ``key``, which must lie inside the dataset folder."""
    return _inside(root, _string(manifest, key, str(root / "manifest.json")))


def _inside(root: Path, relative: str) -> Path:
    path = root / relative
    if not path.resolve().is_relative_to(root.resolve()):
        raise DatasetError(f"{relative!r} lies outside the dataset folder",
                           file=str(root / "manifest.json"))
    return path


def _features(path: Path) -> Iterator[tuple[int, dict[str, Any], str]]:
    """Yield ``(index, feature, id)`` of a GeoJSON FeatureCollection, checking its shape."""
    document = _read_json(path)
    file = str(path)
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise DatasetError("expected a GeoJSON FeatureCollection", file=file)
    features = document.get("features")
    if not isinstance(features, list):
        raise DatasetError("'features' must be a list", file=file)
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise DatasetError("expected a GeoJSON Feature", file=file, feature_index=index)
        properties = feature.get("properties")
        if not isinstance(properties, dict):
            raise DatasetError("'properties' must be an object", file=file, feature_index=index)
        raw_id = properties.get("id", feature.get("id"))
        feature_id = raw_id if isinstance(raw_id, str) and raw_id else None
        if feature_id is None:
            raise DatasetError("every feature needs a non-empty string 'id'", file=file,
                               feature_index=index)
        yield index, feature, feature_id


class _Where:
    """Where a problem is, so that every message names file, feature index and id."""

    def __init__(self, file: str, index: int | None = None, feature_id: str | None = None):
        self.file = file
        self.index = index
        self.feature_id = feature_id

    def error(self, problem: str) -> DatasetError:
        return DatasetError(problem, file=self.file, feature_index=self.index,
                            feature_id=self.feature_id)


@contextmanager
def _guarded(where: _Where) -> Iterator[None]:
    """Around a value-object constructor: re-raise its error with the location attached."""
    try:
        yield
    except DatasetError as error:
        raise where.error(error.problem) from error
    except (AirspaceError, ValueError, TypeError, KeyError) as error:
        raise where.error(str(error)) from error


# -- values -----------------------------------------------------------------------------------


def _string(mapping: dict[str, Any], key: str, file: str, *, default: str | None = None,
            where: _Where | None = None) -> str:
    value = mapping.get(key, default)
    if not isinstance(value, str):
        location = where or _Where(file)
        raise location.error(f"'{key}' must be a string, got {value!r}")
    return value


def _number(properties: dict[str, Any], key: str, where: _Where, *,
            default: float | None = None) -> float:
    value = properties.get(key, default)
    # bool is an int in Python; a dataset saying `true` for a height is a mistake.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(f"'{key}' must be a number, got {value!r}")
    if not math.isfinite(value):
        raise where.error(f"'{key}' must be finite, got {value!r}")
    return float(value)


def _integer(properties: dict[str, Any], key: str, where: _Where) -> int:
    value = properties.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(f"'{key}' must be an integer, got {value!r}")
    return value


def _daily_window(text: Any, timezone: str, where: _Where, key: str) -> DailyWindow | None:
    if text is None:
        return None
    if not isinstance(text, str) or "-" not in text:
        raise where.error(f"'{key}' must look like \"23:00-06:00\", got {text!r}")
    start_text, end_text = text.split("-", 1)
    try:
        start = time.fromisoformat(start_text.strip())
        end = time.fromisoformat(end_text.strip())
    except ValueError as error:
        raise where.error(f"'{key}' must look like \"23:00-06:00\", got {text!r}") from error
    return DailyWindow(start, end, timezone)


def _classes(value: Any, where: _Where, key: str) -> frozenset[AirspaceClass]:
    if not isinstance(value, list):
        raise where.error(f"'{key}' must be a list of classes, got {value!r}")
    result = set()
    for item in value:
        try:
            result.add(AirspaceClass(item))
        except ValueError as error:
            raise where.error(f"unknown class {item!r} in '{key}'") from error
    return frozenset(result)


def _geometry(feature: dict[str, Any], where: _Where, allowed: tuple[str, ...]) -> BaseGeometry:
    raw = feature.get("geometry")
    if not isinstance(raw, dict) or raw.get("type") not in allowed:
        kind = raw.get("type") if isinstance(raw, dict) else raw
        raise where.error(f"geometry must be one of {', '.join(allowed)}, got {kind!r}")
    _check_positions(raw.get("coordinates"), _POSITION_DEPTH[raw["type"]], where)
    try:
        geometry = shape(raw)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError,
            shapely.errors.GEOSException) as error:
        raise where.error(f"malformed geometry: {error}") from error
    check_geometry(geometry, where)
    return geometry


_POSITION_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2,
                   "Polygon": 2, "MultiPolygon": 3}
"""How many levels of arrays a geometry's ``coordinates`` hold above its positions."""


def _check_positions(coordinates: Any, depth: int, where: _Where) -> None:
    """Check the shape of ``coordinates`` before shapely sees them: arrays nested ``depth``
    deep around positions of two or three finite numbers, at most
    ``MAX_POSITIONS_PER_GEOMETRY`` of them (counted as they are met, so a file with millions
    is refused after the first 200,000).

    Why before: shapely turns a NaN in a ring into a ``GEOSException``, an object where an
    array belongs into a ``KeyError``, and deep nesting into a ``RecursionError``.
    """
    count = 0
    stack: list[tuple[Any, int, str]] = [(coordinates, depth, "coordinates")]
    while stack:
        value, level, path = stack.pop()
        if type(value) is not list:
            raise where.error(f"{path} must be an array, got {_json_kind(value)}")
        if level > 1:
            stack.extend((item, level - 1, f"{path}[{index}]")
                         for index, item in enumerate(value))
            continue
        positions = [value] if level == 0 else value
        count += len(positions)
        if count > MAX_POSITIONS_PER_GEOMETRY:
            raise where.error(f"geometry has more than {MAX_POSITIONS_PER_GEOMETRY} positions")
        for index, position in enumerate(positions):
            if not _is_position(position):
                at = path if level == 0 else f"{path}[{index}]"
                raise where.error(f"{at} must be a position [lng, lat] of finite numbers, got "
                                  f"{json.dumps(position)[:80]}")


def _is_position(value: Any) -> bool:
    """True for ``[lng, lat]`` or ``[lng, lat, alt]`` of finite numbers (not booleans)."""
    if type(value) is not list or not 2 <= len(value) <= 3:
        return False
    for number in value:
        kind = type(number)
        if (kind is not float and kind is not int) or not math.isfinite(number):
            return False
    return True


def _json_kind(value: Any) -> str:
    """What a JSON value is, for messages: ``null``, ``a number``, ``an object``, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "an object"


def _service_extent(jurisdictions: list[Jurisdiction],
                    file: Path) -> tuple[float, float, float, float]:
    """The cities' bounding box ``(min_lng, min_lat, max_lng, max_lat)``, at most
    ``MAX_SERVICE_AREA_SPAN_DEG`` each way."""
    boxes = [j.boundary.bounds for j in jurisdictions]
    min_lng, min_lat = min(box[0] for box in boxes), min(box[1] for box in boxes)
    max_lng, max_lat = max(box[2] for box in boxes), max(box[3] for box in boxes)
    if max(max_lng - min_lng, max_lat - min_lat) > MAX_SERVICE_AREA_SPAN_DEG:
        raise DatasetError(f"the cities span [{min_lng}, {min_lat}, {max_lng}, {max_lat}] "
                           f"(lng, lat): more than {MAX_SERVICE_AREA_SPAN_DEG} degrees",
                           file=str(file))
    return min_lng, min_lat, max_lng, max_lat


def _check_extent(geometry: BaseGeometry, extent: tuple[float, float, float, float],
                  where: _Where) -> None:
    """Refuse a geometry reaching more than ``FEATURE_MARGIN_DEG`` beyond the cities' box."""
    min_lng, min_lat, max_lng, max_lat = extent
    west, south, east, north = geometry.bounds
    if (west < min_lng - FEATURE_MARGIN_DEG or south < min_lat - FEATURE_MARGIN_DEG
            or east > max_lng + FEATURE_MARGIN_DEG or north > max_lat + FEATURE_MARGIN_DEG):
        raise where.error(
            f"geometry spans [{west}, {south}, {east}, {north}] (lng, lat): more than "
            f"{FEATURE_MARGIN_DEG} degrees beyond the cities' extent "
            f"[{min_lng:.3f}, {min_lat:.3f}, {max_lng:.3f}, {max_lat:.3f}]")


def check_geometry(geometry: BaseGeometry, where: _Where) -> None:
    """Refuse empty, non-finite, out-of-range, swapped or self-intersecting geometry."""
    if geometry.is_empty:
        raise where.error("geometry is empty")
    coords = shapely.get_coordinates(geometry)
    if not all(math.isfinite(v) for v in coords.ravel()):
        raise where.error("geometry has non-finite coordinates")
    lng_ok = (coords[:, 0] >= -180) & (coords[:, 0] <= 180)
    lat_ok = (coords[:, 1] >= -90) & (coords[:, 1] <= 90)
    if not (lng_ok.all() and lat_ok.all()):
        lng, lat = coords[~(lng_ok & lat_ok)][0]
        swapped = -90 <= lng <= 90 and -180 <= lat <= 180
        hint = " (looks like [lat, lng]; GeoJSON wants [lng, lat])" if swapped else ""
        raise where.error(f"coordinate [{lng}, {lat}] is out of range{hint}")
    if isinstance(geometry, Polygon | MultiPolygon) and not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        raise where.error(f"invalid polygon ({reason}); self-intersecting rings are refused")
    if isinstance(geometry, Polygon | MultiPolygon) and geometry.area <= 0.0:
        raise where.error("polygon has no area")


def _floor_ceiling(properties: dict[str, Any], where: _Where) -> tuple[float, float]:
    floor_agl_m = _number(properties, "floor_agl_m", where)
    ceiling_agl_m = _number(properties, "ceiling_agl_m", where)
    if floor_agl_m < 0.0:
        raise where.error(f"floor {floor_agl_m} m is below ground")
    if floor_agl_m >= ceiling_agl_m:
        raise where.error(f"floor {floor_agl_m} m is not below ceiling {ceiling_agl_m} m")
    return floor_agl_m, ceiling_agl_m


def _grid_spec(raw: Any, file: str) -> GridSpec:
    where = _Where(file)
    if not isinstance(raw, dict):
        raise where.error("'grid' must be an object")
    resolution = _integer(raw, "resolution", where)
    routing_resolution = raw.get("routing_resolution", max(0, resolution - 2))
    if not 5 <= resolution <= 13:
        raise where.error(f"grid resolution {resolution} must be in [5, 13]")
    if isinstance(routing_resolution, bool) or not isinstance(routing_resolution, int) or not (
        3 <= routing_resolution <= resolution
    ):
        raise where.error(f"routing_resolution must be an integer in [3, {resolution}]")
    boundaries = raw.get("layer_boundaries_agl_m")
    if not isinstance(boundaries, list) or not all(
        isinstance(b, int | float) and not isinstance(b, bool) for b in boundaries
    ):
        raise where.error("'layer_boundaries_agl_m' must be a list of numbers")
    with _guarded(where):
        layers = AltitudeLayers(tuple(float(b) for b in boundaries))
    return GridSpec(resolution, routing_resolution, layers)


# -- features ---------------------------------------------------------------------------------


def _load_jurisdictions(root: Path, manifest: dict[str, Any], timezone: str) -> list[Jurisdiction]:
    path = _dataset_file(root, manifest, "jurisdictions")
    result = []
    for index, feature, feature_id in _features(path):
        where = _Where(str(path), index, feature_id)
        props = feature["properties"]
        boundary = _geometry(feature, where, ("Polygon", "MultiPolygon"))
        policy = _policy(props.get("policy", {}), timezone, where)
        with _guarded(where):
            result.append(Jurisdiction(
                id=feature_id,
                name=_string(props, "name", str(path), where=where),
                name_zh=_string(props, "name_zh", str(path), default="", where=where),
                authority=_string(props, "authority", str(path), default="", where=where),
                boundary=boundary,
                policy=policy,
                admin_code=_string(props, "admin_code", str(path), default="", where=where),
            ))
    if not result:
        raise DatasetError("a dataset needs at least one jurisdiction", file=str(path))
    _check_unique(str(path), [j.id for j in result])
    return result


_DRONE_CATEGORIES = {"micro", "light", "small", "medium"}


def _policy(raw: Any, timezone: str, where: _Where) -> Policy:
    if not isinstance(raw, dict):
        raise where.error("'policy' must be an object")
    defaults = Policy()
    categories = raw.get("review_categories", [])
    if not isinstance(categories, list) or not all(
            isinstance(category, str) and category in _DRONE_CATEGORIES
            for category in categories):
        raise where.error(f"'review_categories' must be a list of {sorted(_DRONE_CATEGORIES)}")
    fast_track = raw.get("emergency_fast_track", True)
    if not isinstance(fast_track, bool):
        raise where.error("'emergency_fast_track' must be true or false")
    with _guarded(where):
        return Policy(
            automatic_classes=_classes(raw.get("automatic_classes",
                                               sorted(defaults.automatic_classes)), where,
                                       "automatic_classes"),
            review_classes=_classes(raw.get("review_classes", sorted(defaults.review_classes)),
                                    where, "review_classes"),
            refused_classes=_classes(raw.get("refused_classes",
                                             sorted(defaults.refused_classes)),
                                     where, "refused_classes"),
            max_height_agl_m=_number(raw, "max_height_agl_m", where, default=120.0),
            min_lead_time_s=_number(raw, "min_lead_time_s", where, default=0.0),
            curfew=_daily_window(raw.get("curfew"), timezone, where, "curfew"),
            curfew_action=raw.get("curfew_action", "refuse"),
            emergency_fast_track=fast_track,
            review_categories=frozenset(categories),
        )


def _load_zones(root: Path, manifest: dict[str, Any], cities: set[str],
                extent: tuple[float, float, float, float]) -> list[Zone]:
    entries = manifest.get("zones", [])
    manifest_file = str(root / "manifest.json")
    if not isinstance(entries, list):
        raise DatasetError("'zones' must be a list of {path, format}", file=manifest_file)
    zones: list[Zone] = []
    for entry in entries:
        if isinstance(entry, str):
            entry = {"path": entry, "format": "geojson"}
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise DatasetError("each 'zones' entry needs a 'path'", file=manifest_file)
        path = _inside(root, entry["path"])
        kind = entry.get("format", "geojson")
        if kind == "geojson":
            file_zones = _geojson_zones(path, cities)
            for index, zone in enumerate(file_zones):  # one zone per feature, in order
                _check_extent(zone.geometry, extent, _Where(str(path), index, zone.id))
        elif kind in ("ed269", "ed318"):
            from airspace import eurocae  # only datasets that use it pay for the import

            convert = eurocae.ed269_to_zones if kind == "ed269" else eurocae.ed318_to_zones
            file_zones = convert(_read_json(path), file=str(path))
            for zone in file_zones:
                _check_extent(zone.geometry, extent, _Where(str(path), feature_id=zone.id))
        else:
            raise DatasetError(f"unknown zone format {kind!r} (geojson, ed269, ed318)",
                               file=manifest_file)
        zones.extend(file_zones)
    return zones


def _geojson_zones(path: Path, cities: set[str]) -> list[Zone]:
    zones = []
    for index, feature, feature_id in _features(path):
        where = _Where(str(path), index, feature_id)
        props = feature["properties"]
        geometry = _geometry(feature, where, ("Polygon", "MultiPolygon"))
        floor_agl_m, ceiling_agl_m = _floor_ceiling(props, where)
        raw_class = props.get("class")
        try:
            airspace_class = AirspaceClass(raw_class)
        except ValueError as error:
            raise where.error(f"unknown class {raw_class!r}") from error
        windows = _windows(props.get("active_windows"), where)
        jurisdiction = props.get("jurisdiction")
        if jurisdiction is not None and (not isinstance(jurisdiction, str)
                                         or jurisdiction not in cities):
            raise where.error(f"unknown jurisdiction {jurisdiction!r}")
        with _guarded(where):
            zones.append(Zone(
                id=feature_id,
                name=_string(props, "name", str(path), default=feature_id, where=where),
                airspace_class=airspace_class,
                geometry=geometry,
                floor_agl_m=floor_agl_m,
                ceiling_agl_m=ceiling_agl_m,
                active_windows=windows,
                reason=_string(props, "reason", str(path), default="", where=where),
                authority=_string(props, "authority", str(path), default="", where=where),
                jurisdiction=jurisdiction,
            ))
    _check_unique(str(path), [zone.id for zone in zones])
    return zones


def _windows(raw: Any, where: _Where) -> tuple[TimeWindow, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise where.error("'active_windows' must be a list of {start_time, end_time}")
    windows = []
    for item in raw:
        if not isinstance(item, dict):
            raise where.error("each active window needs start_time and end_time")
        with _guarded(where):
            start = parse_instant(item.get("start_time"), "start_time")
        with _guarded(where):
            end = parse_instant(item.get("end_time"), "end_time")
        with _guarded(where):
            windows.append(TimeWindow(start, end))
    return tuple(windows)


def _load_vertiports(root: Path, manifest: dict[str, Any], jurisdictions: list[Jurisdiction],
                     timezone: str) -> list[Vertiport]:
    path = _dataset_file(root, manifest, "vertiports")
    by_id = {j.id: j for j in jurisdictions}
    result = []
    for index, feature, feature_id in _features(path):
        where = _Where(str(path), index, feature_id)
        props = feature["properties"]
        point = _geometry(feature, where, ("Point",))
        assert isinstance(point, Point)
        city = props.get("jurisdiction")
        containing = [j.id for j in jurisdictions if j.boundary.covers(point)]
        if not containing:
            raise where.error(
                f"vertiport at [{point.x}, {point.y}] lies outside every jurisdiction")
        if not isinstance(city, str) or city not in by_id:
            raise where.error(f"unknown jurisdiction {city!r}")
        if city not in containing:
            raise where.error(f"vertiport lies in {containing[0]!r}, not in {city!r}")
        opening = _daily_window(props.get("opening_hours"), timezone, where, "opening_hours")
        with _guarded(where):
            result.append(Vertiport(
                id=feature_id,
                name=_string(props, "name", str(path), default=feature_id, where=where),
                jurisdiction=city,
                lat=float(point.y),
                lng=float(point.x),
                rooftop_height_agl_m=_number(props, "rooftop_height_agl_m", where),
                pads=_integer(props, "pads", where),
                pad_turnaround_s=_number(props, "pad_turnaround_s", where),
                opening_hours=opening,
                kind=_string(props, "kind", str(path), default="", where=where),
            ))
    _check_unique(str(path), [vertiport.id for vertiport in result])
    return result


def _load_corridors(root: Path, manifest: dict[str, Any], jurisdictions: list[Jurisdiction],
                    zones: list[Zone]) -> list[Corridor]:
    from airspace.geo import lnglat_to_metric

    path = _dataset_file(root, manifest, "corridors")
    prohibited = [z for z in zones if z.airspace_class is AirspaceClass.PROHIBITED]
    prohibited_m = [lnglat_to_metric(z.geometry) for z in prohibited]
    result = []
    for index, feature, feature_id in _features(path):
        where = _Where(str(path), index, feature_id)
        props = feature["properties"]
        line = _geometry(feature, where, ("LineString",))
        assert isinstance(line, LineString)
        floor_agl_m, ceiling_agl_m = _floor_ceiling(props, where)
        width_m = _number(props, "width_m", where)
        footprint_m = lnglat_to_metric(line).buffer(width_m / 2.0)
        for zone, zone_m in zip(prohibited, prohibited_m, strict=True):
            if (zone.floor_agl_m < ceiling_agl_m and floor_agl_m < zone.ceiling_agl_m
                    and footprint_m.intersects(zone_m)):
                raise where.error(f"corridor crosses prohibited zone {zone.id!r}")
        crossed = tuple(j.id for j in jurisdictions if j.boundary.intersects(line))
        if not crossed:
            raise where.error("corridor lies outside every jurisdiction")
        with _guarded(where):
            result.append(Corridor(
                id=feature_id,
                name=_string(props, "name", str(path), default=feature_id, where=where),
                centreline=line,
                width_m=width_m,
                floor_agl_m=floor_agl_m,
                ceiling_agl_m=ceiling_agl_m,
                direction=props.get("direction", "both"),
                jurisdictions=crossed,
            ))
    _check_unique(str(path), [corridor.id for corridor in result])
    return result


def _load_ground(root: Path, manifest: dict[str, Any],
                 jurisdictions: list[Jurisdiction]) -> GroundModel | None:
    """The ground model named by the manifest's optional ``ground`` key (a GeoJSON file)."""
    if manifest.get("ground") is None:
        return None
    path = _dataset_file(root, manifest, "ground")
    by_id = {j.id: j for j in jurisdictions}
    areas = []
    for index, feature, feature_id in _features(path):
        where = _Where(str(path), index, feature_id)
        props = feature["properties"]
        if feature.get("geometry") is None:
            # A coarse area: the whole of a city, named instead of drawn again.
            city = props.get("jurisdiction")
            if not isinstance(city, str) or city not in by_id:
                raise where.error(f"a feature without geometry needs a known 'jurisdiction', "
                                  f"got {city!r}")
            geometry = by_id[city].boundary
        else:
            geometry = _geometry(feature, where, ("Polygon", "MultiPolygon"))
        with _guarded(where):
            areas.append(GroundArea(
                id=feature_id,
                geometry=geometry,
                ground_min_amsl_m=_number(props, "ground_min_amsl_m", where),
                ground_max_amsl_m=_number(props, "ground_max_amsl_m", where),
                geoid_min_m=_number(props, "geoid_min_m", where),
                geoid_max_m=_number(props, "geoid_max_m", where),
                source=_string(props, "source", str(path), default="", where=where),
            ))
    _check_unique(str(path), [area.id for area in areas])
    # Every city whole, so that any outline inside the service area has a ground height.
    uncovered = set(by_id) - _ground_cities(areas, by_id)
    if uncovered:
        raise DatasetError(f"the ground model does not cover the whole of {sorted(uncovered)}",
                           file=str(path))
    return GroundModel(areas)


def _ground_cities(areas: list[GroundArea], by_id: dict[str, Jurisdiction]) -> set[str]:
    """The cities whose whole boundary one of the areas covers."""
    return {city for city, jurisdiction in by_id.items()
            if any(area.geometry.covers(jurisdiction.boundary) for area in areas)}


def _check_unique(file: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for index, feature_id in enumerate(ids):
        if feature_id in seen:
            raise DatasetError("duplicate id", file=file, feature_index=index,
                               feature_id=feature_id)
        seen.add(feature_id)


def _check_unique_ids(file: str, zones: list[Zone], vertiports: list[Vertiport],
                      corridors: list[Corridor]) -> None:
    """Ids are unique within each kind of feature (zones across all zone files)."""
    for kind, ids in (("zones", [z.id for z in zones]),
                      ("vertiports", [v.id for v in vertiports]),
                      ("corridors", [c.id for c in corridors])):
        seen: set[str] = set()
        for feature_id in ids:
            if feature_id in seen:
                raise DatasetError(f"duplicate id among {kind}", file=file, feature_id=feature_id)
            seen.add(feature_id)
