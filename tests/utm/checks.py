"""An independent checker of the invariants, working from the wire JSON only.

It shares no code with the engine or ``routes.volumes``: outlines are re-parsed from GeoJSON
with shapely, projected to EPSG:32648 with its own pyproj transformer, and compared pairwise
with exact geometry (an STRtree only narrows the candidates; it decides nothing). A checker
that reused the engine's own helpers would share their bugs.

- Separation (DESIGN.md invariant 1): no two volumes of different flights that hold airspace
  overlap in time (strictly), in altitude (strictly) and in footprint by more than
  ``INTERSECTION_TOLERANCE_M2``.
- Zones (invariant 2): no volume enters a prohibited zone's exact geometry while the zone is
  active, within the zone's altitude range.
- Pads: no two pad slots of different flights on the same vertiport and pad overlap in time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

INTERSECTION_TOLERANCE_M2 = 1e-4
"""Footprints sharing at most 1 cm² do not intersect (ASTM F3548 GEN0500)."""

HOLDING_STATES = frozenset({"approved", "pending_review", "activated", "nonconforming"})
"""Wire values of the states whose volumes and pad slots no other flight may take."""

DATASET_ZONES_PATH = (Path(__file__).resolve().parents[2] / "airspace" / "datasets"
                      / "sichuan4" / "zones.geojson")

_TO_UTM48N = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)


def lnglat_to_utm48n(geometry: BaseGeometry) -> BaseGeometry:
    """Project a (lng, lat) geometry to EPSG:32648 metres with this module's transformer."""
    def project(coords: np.ndarray) -> np.ndarray:
        x_m, y_m = _TO_UTM48N.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x_m, y_m])

    return shapely.transform(geometry, project)


def parse_wire_instant(text: str) -> datetime:
    """Parse an RFC 3339 instant that must be UTC with ``Z``."""
    if not text.endswith("Z"):
        raise AssertionError(f"instant {text!r} is not UTC with Z (DESIGN.md invariant 5)")
    return datetime.fromisoformat(text)


@dataclass(frozen=True, slots=True)
class WireVolume:
    """One volume of one flight, parsed from its wire form."""

    flight_id: str
    index: int
    footprint_m: BaseGeometry
    floor_agl_m: float
    ceiling_agl_m: float
    start_time: datetime
    end_time: datetime


@dataclass(frozen=True, slots=True)
class WireZone:
    """A prohibited zone (dataset or constraint) with its active windows (empty: always)."""

    id: str
    footprint_m: BaseGeometry
    floor_agl_m: float
    ceiling_agl_m: float
    windows: tuple[tuple[datetime, datetime], ...]

    def is_active_during(self, start_time: datetime, end_time: datetime) -> bool:
        """True if the zone is active at some instant of ``[start_time, end_time)``."""
        if not self.windows:
            return True
        return any(start < end_time and start_time < end for start, end in self.windows)


def parse_volume(flight_id: str, index: int, data: dict[str, Any]) -> WireVolume:
    """A ``Volume4D.to_json()`` dict as a ``WireVolume`` (its outline projected)."""
    outline = shape(data["outline"])
    if outline.geom_type != "Polygon" or not outline.is_valid:
        raise AssertionError(f"flight {flight_id} volume {index}: outline is not a valid Polygon")
    volume = WireVolume(
        flight_id, index, lnglat_to_utm48n(outline), float(data["floor_agl_m"]),
        float(data["ceiling_agl_m"]), parse_wire_instant(data["start_time"]),
        parse_wire_instant(data["end_time"]),
    )
    if not (volume.floor_agl_m < volume.ceiling_agl_m and volume.start_time < volume.end_time):
        raise AssertionError(f"flight {flight_id} volume {index} is empty: {data}")
    return volume


def load_prohibited_zones(path: Path = DATASET_ZONES_PATH) -> list[WireZone]:
    """The prohibited zones of a dataset's ``zones.geojson``, read directly from the file."""
    collection = json.loads(path.read_text(encoding="utf-8"))
    zones = []
    for feature in collection["features"]:
        properties = feature["properties"]
        if properties["class"] != "prohibited":
            continue
        windows = tuple(
            (parse_wire_instant(w["start_time"]), parse_wire_instant(w["end_time"]))
            for w in properties.get("active_windows") or ()
        )
        zones.append(WireZone(properties["id"], lnglat_to_utm48n(shape(feature["geometry"])),
                              float(properties.get("floor_agl_m", 0.0)),
                              float(properties.get("ceiling_agl_m", 1000.0)), windows))
    return zones


def constraint_doc_to_zone(doc: dict[str, Any]) -> WireZone | None:
    """A constraint's wire document as a zone if it is prohibited (else None)."""
    if doc["class"] != "prohibited":
        return None
    return WireZone(doc["id"], lnglat_to_utm48n(shape(doc["outline"])),
                    float(doc["floor_agl_m"]), float(doc["ceiling_agl_m"]),
                    ((parse_wire_instant(doc["start_time"]),
                      parse_wire_instant(doc["end_time"])),))


def holding_docs(flight_docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flight documents whose state holds airspace."""
    return [doc for doc in flight_docs if doc["state"] in HOLDING_STATES]


def separation_violations(flight_docs: Sequence[dict[str, Any]]) -> list[str]:
    """Pairs of volumes of different holding flights that intersect in 4-D."""
    volumes = [parse_volume(doc["id"], index, data)
               for doc in holding_docs(flight_docs)
               for index, data in enumerate(doc["volumes"])]
    if not volumes:
        return []
    tree = STRtree([volume.footprint_m for volume in volumes])
    left, right = tree.query([volume.footprint_m for volume in volumes], predicate="intersects")
    violations = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        a, b = volumes[i], volumes[j]
        if i >= j or a.flight_id == b.flight_id:
            continue
        if not (a.start_time < b.end_time and b.start_time < a.end_time):
            continue
        if not (a.floor_agl_m < b.ceiling_agl_m and b.floor_agl_m < a.ceiling_agl_m):
            continue
        area_m2 = a.footprint_m.intersection(b.footprint_m).area
        if area_m2 > INTERSECTION_TOLERANCE_M2:
            violations.append(
                f"{a.flight_id}[{a.index}] and {b.flight_id}[{b.index}] share {area_m2:.4f} m² "
                f"at {max(a.floor_agl_m, b.floor_agl_m):.0f}-"
                f"{min(a.ceiling_agl_m, b.ceiling_agl_m):.0f} m AGL from "
                f"{max(a.start_time, b.start_time).isoformat()} to "
                f"{min(a.end_time, b.end_time).isoformat()}")
    return violations


def zone_violations(flight_docs: Sequence[dict[str, Any]],
                    zones: Sequence[WireZone]) -> list[str]:
    """Volumes of holding flights that enter an active prohibited zone."""
    violations = []
    for doc in holding_docs(flight_docs):
        for index, data in enumerate(doc["volumes"]):
            volume = parse_volume(doc["id"], index, data)
            for zone in zones:
                if not (volume.floor_agl_m < zone.ceiling_agl_m
                        and zone.floor_agl_m < volume.ceiling_agl_m):
                    continue
                if not zone.is_active_during(volume.start_time, volume.end_time):
                    continue
                if not volume.footprint_m.intersects(zone.footprint_m):
                    continue
                area_m2 = volume.footprint_m.intersection(zone.footprint_m).area
                if area_m2 > INTERSECTION_TOLERANCE_M2:
                    violations.append(f"{doc['id']}[{index}] enters prohibited zone {zone.id} "
                                      f"({area_m2:.2f} m²)")
    return violations


def pad_violations(flight_docs: Sequence[dict[str, Any]]) -> list[str]:
    """Pad slots of different holding flights on the same vertiport and pad that overlap."""
    by_pad: dict[tuple[str, int], list[tuple[datetime, datetime, str]]] = {}
    for doc in holding_docs(flight_docs):
        for slot in doc["pad_slots"]:
            by_pad.setdefault((slot["vertiport_id"], int(slot["pad"])), []).append(
                (parse_wire_instant(slot["start_time"]), parse_wire_instant(slot["end_time"]),
                 doc["id"]))
    violations = []
    for (vertiport_id, pad), slots in by_pad.items():
        slots.sort()
        for position, (start, end, flight_id) in enumerate(slots):
            for other_start, other_end, other_id in slots[position + 1:]:
                if other_start >= end:
                    break
                if other_id != flight_id and start < other_end:
                    violations.append(f"{vertiport_id} pad {pad}: {flight_id} and {other_id} "
                                      f"overlap from {other_start.isoformat()}")
    return violations


def check_invariants(flight_docs: Sequence[dict[str, Any]],
                     constraint_docs: Sequence[dict[str, Any]] = (),
                     zones: Sequence[WireZone] | None = None) -> list[str]:
    """Every violation of separation, prohibited zones and pad slots, as messages."""
    if zones is None:
        zones = load_prohibited_zones()
    all_zones = [*zones, *(z for doc in constraint_docs
                           if (z := constraint_doc_to_zone(doc)) is not None)]
    empty = [f"{doc['id']} is {doc['state']} but holds no volumes"
             for doc in holding_docs(flight_docs) if not doc["volumes"]]
    return [*empty, *separation_violations(flight_docs), *zone_violations(flight_docs, all_zones),
            *pad_violations(flight_docs)]


def assert_invariants(flight_docs: Sequence[dict[str, Any]],
                      constraint_docs: Sequence[dict[str, Any]] = ()) -> None:
    """Fail with every violation listed (at most 20 shown)."""
    violations = check_invariants(flight_docs, constraint_docs)
    assert not violations, f"{len(violations)} violations:\n" + "\n".join(violations[:20])


def store_docs(store: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All flight documents and constraint documents of a store, in wire form."""
    flights = [flight.to_doc() for flight in store.list_flights(limit=100_000)]
    constraints = store.list_records("constraint", limit=100_000)
    return flights, constraints


def assert_store_invariants(store: Any) -> int:
    """Check every flight in ``store``; returns how many hold airspace."""
    flights, constraints = store_docs(store)
    # Through JSON and back, so that nothing but the wire form reaches the checker.
    flights = json.loads(json.dumps(flights))
    assert_invariants(flights, constraints)
    return len(holding_docs(flights))
