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
from airspace.timing import DailyWindow, TimeWindow, parse_instant

BUNDLED_DATASETS = Path(__file__).parent / "datasets"


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
    known_cities = {j.id for j in jurisdictions}
    zones = _load_zones(root, manifest, known_cities)
    vertiports = _load_vertiports(root, manifest, jurisdictions, timezone)
    corridors = _load_corridors(root, manifest, jurisdictions, zones)
    _check_unique_ids(manifest_file, zones, vertiports, corridors)
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
    )


# -- files ------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except FileNotFoundError as error:
        raise DatasetError("file not found", file=str(path)) from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"not valid JSON: {error}", file=str(path)) from error


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
    try:
        geometry = shape(raw)
    except (ValueError, TypeError, AttributeError, IndexError) as error:
        raise where.error(f"malformed geometry: {error}") from error
    check_geometry(geometry, where)
    return geometry


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
    path = root / _string(manifest, "jurisdictions", str(root / "manifest.json"))
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
    if not isinstance(categories, list) or not set(categories) <= _DRONE_CATEGORIES:
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


def _load_zones(root: Path, manifest: dict[str, Any], cities: set[str]) -> list[Zone]:
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
        path = root / entry["path"]
        kind = entry.get("format", "geojson")
        if kind == "geojson":
            zones.extend(_geojson_zones(path, cities))
        elif kind in ("ed269", "ed318"):
            from airspace import eurocae  # only datasets that use it pay for the import

            convert = eurocae.ed269_to_zones if kind == "ed269" else eurocae.ed318_to_zones
            zones.extend(convert(_read_json(path), file=str(path)))
        else:
            raise DatasetError(f"unknown zone format {kind!r} (geojson, ed269, ed318)",
                               file=manifest_file)
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
        if jurisdiction is not None and jurisdiction not in cities:
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
    path = root / _string(manifest, "vertiports", str(root / "manifest.json"))
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
        if city not in by_id:
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

    path = root / _string(manifest, "corridors", str(root / "manifest.json"))
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
