"""Airspace features: zones, rooftop vertiports, corridors and jurisdictions with policies.

Value objects, validated on construction. Geometry is shapely in WGS84 (lng, lat) degrees;
each feature also keeps its geometry projected to EPSG:32648 metres for exact checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from airspace.classes import ZONE_CLASSES, AirspaceClass
from airspace.errors import DatasetError
from airspace.timing import DailyWindow, TimeWindow


@dataclass(frozen=True, slots=True)
class Zone:
    """An area with a class between a floor and a ceiling, permanent or active in windows."""

    id: str
    name: str
    airspace_class: AirspaceClass
    geometry: BaseGeometry
    """Polygon or MultiPolygon, (lng, lat) degrees."""
    floor_agl_m: float
    ceiling_agl_m: float
    active_windows: tuple[TimeWindow, ...] = ()
    """Empty means always active."""
    reason: str = ""
    authority: str = ""
    jurisdiction: str | None = None
    """The jurisdiction a zone was issued by (None for zones of the dataset's own authority)."""

    def __post_init__(self) -> None:
        if self.airspace_class not in ZONE_CLASSES:
            raise DatasetError(
                f"zone class must be one of {sorted(ZONE_CLASSES)}, got {self.airspace_class!r}"
            )
        if self.floor_agl_m >= self.ceiling_agl_m:
            raise DatasetError(
                f"floor {self.floor_agl_m} m is not below ceiling {self.ceiling_agl_m} m"
            )

    def is_active(self, instant: datetime) -> bool:
        """True if the zone applies at ``instant``."""
        return not self.active_windows or any(w.contains(instant) for w in self.active_windows)

    def is_active_during(self, start_time: datetime, end_time: datetime) -> bool:
        """True if the zone applies at any instant of ``[start_time, end_time)``."""
        return not self.active_windows or any(
            w.overlaps(start_time, end_time) for w in self.active_windows
        )


MAX_PADS = 100
"""Pads of one vertiport: rooftops have a few; the engine looks at each pad in turn."""

MAX_PAD_TURNAROUND_S = 86_400.0
"""A pad's turnaround is at most a day (slot times are instants plus this)."""


@dataclass(frozen=True, slots=True)
class Vertiport:
    """A rooftop vertiport: pads that each serve one take-off or landing per turnaround."""

    id: str
    name: str
    jurisdiction: str
    lat: float
    lng: float
    rooftop_height_agl_m: float
    pads: int
    pad_turnaround_s: float
    opening_hours: DailyWindow | None = None
    """None means always open."""
    kind: str = ""
    """Free text: hospital, logistics hub, business district, ..."""

    def __post_init__(self) -> None:
        if not 1 <= self.pads <= MAX_PADS:
            raise DatasetError(f"a vertiport needs at least one pad and at most {MAX_PADS}, "
                               f"got {self.pads}")
        if not 0.0 <= self.rooftop_height_agl_m < 120.0:
            raise DatasetError(
                f"rooftop height {self.rooftop_height_agl_m} m must be in [0, 120) m AGL"
            )
        if not 0.0 < self.pad_turnaround_s <= MAX_PAD_TURNAROUND_S:
            raise DatasetError(f"pad turnaround must be positive and at most "
                               f"{MAX_PAD_TURNAROUND_S:.0f} s, got {self.pad_turnaround_s} s")

    @property
    def point(self) -> Point:
        """The vertiport's position as a (lng, lat) point."""
        return Point(self.lng, self.lat)

    def is_open(self, instant: datetime) -> bool:
        """True if the vertiport accepts movements at ``instant``."""
        return self.opening_hours is None or self.opening_hours.contains(instant)


class CorridorDirection:
    """How a corridor may be flown: along its centreline only, or both ways."""

    ONE_WAY = "one_way"
    BOTH = "both"
    ALL = frozenset({ONE_WAY, BOTH})


@dataclass(frozen=True, slots=True)
class Corridor:
    """A designated low-altitude corridor (低空走廊) around a centreline."""

    id: str
    name: str
    centreline: LineString
    """(lng, lat) degrees; a one-way corridor is flown from its first to its last point."""
    width_m: float
    floor_agl_m: float
    ceiling_agl_m: float
    direction: str = CorridorDirection.BOTH
    jurisdictions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.direction not in CorridorDirection.ALL:
            raise DatasetError(
                f"corridor direction must be one of {sorted(CorridorDirection.ALL)}, "
                f"got {self.direction!r}"
            )
        if not 10.0 <= self.width_m <= 5000.0:
            raise DatasetError(f"corridor width {self.width_m} m must be in [10, 5000] m")
        if self.floor_agl_m >= self.ceiling_agl_m:
            raise DatasetError(
                f"floor {self.floor_agl_m} m is not below ceiling {self.ceiling_agl_m} m"
            )

    @property
    def cruise_agl_m(self) -> float:
        """The altitude flown in the corridor: the middle of its slab."""
        return (self.floor_agl_m + self.ceiling_agl_m) / 2.0


@dataclass(frozen=True, slots=True)
class Policy:
    """A jurisdiction's rules for its part of a flight (one approval, city by city)."""

    automatic_classes: frozenset[AirspaceClass] = frozenset(
        {AirspaceClass.SUITABLE, AirspaceClass.CORRIDOR}
    )
    review_classes: frozenset[AirspaceClass] = frozenset(
        {AirspaceClass.CONTROLLED, AirspaceClass.RESTRICTED}
    )
    refused_classes: frozenset[AirspaceClass] = frozenset({AirspaceClass.PROHIBITED})
    max_height_agl_m: float = 120.0
    """Above this true height the city refuses the flight outright."""
    min_lead_time_s: float = 0.0
    """A plan must be filed at least this long before departure (emergencies excepted)."""
    curfew: DailyWindow | None = None
    curfew_action: str = "refuse"
    """What happens to a non-emergency flight in the curfew: ``refuse`` or ``review``."""
    emergency_fast_track: bool = True
    """Emergency flights are approved automatically where review would otherwise be needed."""
    review_categories: frozenset[str] = frozenset()
    """Drone categories the city always reviews (for example ``medium``)."""

    def __post_init__(self) -> None:
        classes = [self.automatic_classes, self.review_classes, self.refused_classes]
        seen: set[AirspaceClass] = set()
        for group in classes:
            if seen & group:
                raise DatasetError(f"policy lists class(es) {sorted(seen & group)} twice")
            seen |= group
        if AirspaceClass.PROHIBITED not in self.refused_classes:
            raise DatasetError("a policy must refuse prohibited airspace")
        if self.curfew_action not in {"refuse", "review"}:
            raise DatasetError(
                f"curfew_action must be refuse or review, got {self.curfew_action!r}"
            )
        if self.min_lead_time_s < 0.0:
            raise DatasetError("min_lead_time_s must not be negative")


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A city: its boundary, its authority and its policy."""

    id: str
    name: str
    name_zh: str
    authority: str
    boundary: BaseGeometry
    """Polygon or MultiPolygon, (lng, lat) degrees. Reference boundary, not a legal one."""
    policy: Policy = field(default_factory=Policy)
    admin_code: str = ""
