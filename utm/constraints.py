"""Temporary restrictions (constraints) that regulators issue for an area, layers and time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shapely.geometry import Polygon, shape

from airspace import AirspaceClass
from airspace.features import Zone
from airspace.geo import check_geometry_lnglat, geometry_to_geojson
from airspace.timing import TimeWindow, format_instant, parse_instant
from utm.errors import InvalidConstraintError

CONSTRAINT_CLASSES = frozenset({AirspaceClass.PROHIBITED, AirspaceClass.RESTRICTED})


@dataclass(frozen=True, slots=True)
class Constraint:
    """A regulator's temporary restriction: closed (prohibited) or review-only (restricted)."""

    id: str
    jurisdiction: str
    outline: Polygon
    """(lng, lat) degrees."""
    floor_agl_m: float
    ceiling_agl_m: float
    start_time: datetime
    end_time: datetime
    airspace_class: AirspaceClass
    reason: str
    issued_by: str
    issued_time: datetime

    def __post_init__(self) -> None:
        if self.airspace_class not in CONSTRAINT_CLASSES:
            raise InvalidConstraintError("a constraint is prohibited or restricted",
                                         field="class")
        if not 0.0 <= self.floor_agl_m < self.ceiling_agl_m <= 1000.0:
            raise InvalidConstraintError("need 0 <= floor_agl_m < ceiling_agl_m <= 1000",
                                         field="floor_agl_m")
        if self.end_time <= self.start_time:
            raise InvalidConstraintError("end_time must be after start_time", field="end_time")
        try:
            check_geometry_lnglat(self.outline)
        except ValueError as error:
            raise InvalidConstraintError(str(error), field="outline") from error

    def to_zone(self) -> Zone:
        """The constraint as a zone of the airspace, active in its window."""
        return Zone(
            id=self.id,
            name=f"Temporary restriction {self.id}",
            airspace_class=self.airspace_class,
            geometry=self.outline,
            floor_agl_m=self.floor_agl_m,
            ceiling_agl_m=self.ceiling_agl_m,
            active_windows=(TimeWindow(self.start_time, self.end_time),),
            reason=self.reason,
            authority=self.issued_by,
            jurisdiction=self.jurisdiction,
        )

    def to_doc(self) -> dict[str, Any]:
        """Wire and storage form."""
        return {
            "id": self.id,
            "jurisdiction": self.jurisdiction,
            "outline": geometry_to_geojson(self.outline),
            "floor_agl_m": self.floor_agl_m,
            "ceiling_agl_m": self.ceiling_agl_m,
            "start_time": format_instant(self.start_time),
            "end_time": format_instant(self.end_time),
            "class": self.airspace_class.value,
            "reason": self.reason,
            "issued_by": self.issued_by,
            "issued_time": format_instant(self.issued_time),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Constraint:
        """Rebuild from ``to_doc`` output."""
        outline = shape(doc["outline"])
        if not isinstance(outline, Polygon):
            raise InvalidConstraintError("outline must be a GeoJSON Polygon", field="outline")
        return cls(
            id=doc["id"],
            jurisdiction=doc["jurisdiction"],
            outline=outline,
            floor_agl_m=float(doc["floor_agl_m"]),
            ceiling_agl_m=float(doc["ceiling_agl_m"]),
            start_time=parse_instant(doc["start_time"]),
            end_time=parse_instant(doc["end_time"]),
            airspace_class=AirspaceClass(doc["class"]),
            reason=doc.get("reason", ""),
            issued_by=doc.get("issued_by", ""),
            issued_time=parse_instant(doc["issued_time"]),
        )
