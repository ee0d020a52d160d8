"""Ground heights under the airspace, and the one place where altitude datums meet.

We reason in metres above ground level (true height, 真高). Interfaces such as InterUSS and
ASTM F3548 send heights above the WGS84 ellipsoid (``W84``). Converting between the two needs
the ellipsoidal height of the ground, which is the terrain's height above mean sea level (the
EGM96 geoid) plus the geoid's height above the ellipsoid (the undulation, about -43 m over the
four cities).

A dataset's ground model is a list of areas, each with the range of terrain heights and of
geoid undulations inside it: coarse ones (a whole city, mountains included) and fine ones (the
urban plains where the vertiports are). Under an outline the model answers the lowest and
highest ground the outline may stand on, taking the finest areas first and a coarser one for
whatever the fine ones do not cover.

Conversions are conservative, so that the volume held always contains the one meant:

- W84 to AGL: ``floor_agl = floor_w84 - highest ground`` (not below 0) and
  ``ceiling_agl = ceiling_w84 - lowest ground``;
- AGL to W84: ``floor_w84 = floor_agl + lowest ground`` and
  ``ceiling_w84 = ceiling_agl + highest ground``.

Each bound is therefore off by at most the area's ground range (its ``uncertainty_m``), and
always on the safe side: a volume grows, never shrinks. Pure: no I/O (the loader reads the
file), no clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from airspace.errors import AirspaceError

COVERAGE_TOLERANCE_DEG2 = 1e-12
"""What the areas may leave uncovered of an outline (about 0.01 m²): rounding, not ground."""


class OutsideGroundModelError(AirspaceError, ValueError):
    """No ground height is known under (part of) an outline: its altitudes cannot be converted."""

    code = "outside_ground_model"


class InvalidAltitudeError(AirspaceError, ValueError):
    """An altitude range is not usable (not finite, upside down, or below the ground)."""

    code = "invalid_altitude"


@dataclass(frozen=True, slots=True)
class GroundArea:
    """An area and the range of ground heights inside it."""

    id: str
    geometry: BaseGeometry
    """(lng, lat) degrees; a city's boundary for a coarse area."""
    ground_min_amsl_m: float
    """Lowest terrain inside, metres above mean sea level (EGM96 geoid)."""
    ground_max_amsl_m: float
    """Highest terrain inside, metres above mean sea level."""
    geoid_min_m: float
    """Lowest geoid undulation inside: height of the geoid above the WGS84 ellipsoid."""
    geoid_max_m: float
    """Highest geoid undulation inside."""
    source: str = ""

    def __post_init__(self) -> None:
        values = (self.ground_min_amsl_m, self.ground_max_amsl_m, self.geoid_min_m,
                  self.geoid_max_m)
        if not all(math.isfinite(value) for value in values):
            raise ValueError("ground and geoid heights must be finite")
        if self.ground_min_amsl_m > self.ground_max_amsl_m:
            raise ValueError("ground_min_amsl_m is above ground_max_amsl_m")
        if self.geoid_min_m > self.geoid_max_m:
            raise ValueError("geoid_min_m is above geoid_max_m")

    @property
    def ground_min_w84_m(self) -> float:
        """Lowest ground inside, metres above the WGS84 ellipsoid."""
        return self.ground_min_amsl_m + self.geoid_min_m

    @property
    def ground_max_w84_m(self) -> float:
        """Highest ground inside, metres above the WGS84 ellipsoid."""
        return self.ground_max_amsl_m + self.geoid_max_m

    @property
    def uncertainty_m(self) -> float:
        """How far a converted bound may be from the true one, at most (always the safe way)."""
        return self.ground_max_w84_m - self.ground_min_w84_m


class GroundModel:
    """The ground under a dataset's airspace: areas, finest (smallest uncertainty) first."""

    def __init__(self, areas: Sequence[GroundArea]) -> None:
        if not areas:
            raise ValueError("a ground model needs at least one area")
        self.areas: tuple[GroundArea, ...] = tuple(
            sorted(areas, key=lambda area: (area.uncertainty_m, area.id)))
        for area in self.areas:
            shapely.prepare(area.geometry)
        self._tree = STRtree([area.geometry for area in self.areas])

    def areas_under(self, outline: BaseGeometry) -> list[GroundArea]:
        """The areas that decide the ground under an outline: finest first, each one only if
        it covers some part that the finer ones left.

        Raises
        ------
        OutsideGroundModelError
            If some part of the outline lies outside every area.
        """
        remaining = outline
        used: list[GroundArea] = []
        for position in sorted(int(p) for p in self._tree.query(outline)):
            area = self.areas[position]  # the tree keeps the areas' order: finest first
            if not area.geometry.intersects(remaining):
                continue
            used.append(area)
            remaining = remaining.difference(area.geometry)
            if remaining.is_empty or remaining.area <= COVERAGE_TOLERANCE_DEG2:
                return used
        raise OutsideGroundModelError(
            "no ground height is known under part of the outline (outside the dataset's ground "
            "model): its W84 altitudes cannot be converted to heights above ground")

    def ground_w84_range_m(self, outline: BaseGeometry) -> tuple[float, float]:
        """Lowest and highest ground under an outline, metres above the WGS84 ellipsoid."""
        used = self.areas_under(outline)
        return (min(area.ground_min_w84_m for area in used),
                max(area.ground_max_w84_m for area in used))

    def uncertainty_m(self, outline: BaseGeometry) -> float:
        """The most a converted bound over this outline may be off (on the safe side)."""
        low, high = self.ground_w84_range_m(outline)
        return high - low

    def w84_to_agl(self, outline: BaseGeometry, floor_w84_m: float,
                   ceiling_w84_m: float) -> tuple[float, float]:
        """An altitude range above the WGS84 ellipsoid as a range above ground that contains
        it wherever the outline stands (see the module docstring).

        Parameters
        ----------
        outline
            The footprint, (lng, lat) degrees.
        floor_w84_m, ceiling_w84_m
            Metres above the WGS84 ellipsoid.

        Returns
        -------
        (floor_agl_m, ceiling_agl_m)
            Metres above ground; the floor is never below 0.

        Raises
        ------
        InvalidAltitudeError
            For a non-finite or upside-down range, or one wholly below the ground.
        OutsideGroundModelError
            Outside the ground model.
        """
        _check_range(floor_w84_m, ceiling_w84_m)
        low, high = self.ground_w84_range_m(outline)
        ceiling_agl_m = ceiling_w84_m - low
        if ceiling_agl_m <= 0.0:
            raise InvalidAltitudeError(
                f"ceiling {ceiling_w84_m:.1f} m W84 is below the ground there "
                f"(at least {low:.1f} m W84)")
        return max(0.0, floor_w84_m - high), ceiling_agl_m

    def agl_to_w84(self, outline: BaseGeometry, floor_agl_m: float,
                   ceiling_agl_m: float) -> tuple[float, float]:
        """An altitude range above ground as a range above the WGS84 ellipsoid that contains
        it wherever the outline stands.

        Returns
        -------
        (floor_w84_m, ceiling_w84_m)
            Metres above the WGS84 ellipsoid.

        Raises
        ------
        InvalidAltitudeError, OutsideGroundModelError
            As ``w84_to_agl``.
        """
        _check_range(floor_agl_m, ceiling_agl_m)
        low, high = self.ground_w84_range_m(outline)
        return floor_agl_m + low, ceiling_agl_m + high


def _check_range(floor_m: float, ceiling_m: float) -> None:
    if not (math.isfinite(floor_m) and math.isfinite(ceiling_m)):
        raise InvalidAltitudeError("altitudes must be finite")
    if floor_m >= ceiling_m:
        raise InvalidAltitudeError(f"floor {floor_m} m is not below ceiling {ceiling_m} m")
