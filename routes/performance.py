"""Drone categories and performance (2024 Interim Regulations on Unmanned Aircraft Flight
Management, article 62: micro, light, small, medium, large)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from routes.errors import InvalidRequestError


class DroneCategory(StrEnum):
    """Categories of civil unmanned aircraft by weight and performance."""

    MICRO = "micro"
    """Under 0.25 kg, true height at most 50 m."""

    LIGHT = "light"
    """Under 4 kg take-off weight."""

    SMALL = "small"
    """Under 25 kg take-off weight."""

    MEDIUM = "medium"
    """Under 150 kg take-off weight."""


@dataclass(frozen=True, slots=True)
class DronePerformance:
    """What the planner needs to know about how a drone flies."""

    category: DroneCategory
    cruise_speed_mps: float
    climb_rate_mps: float
    descent_rate_mps: float
    max_height_agl_m: float

    def __post_init__(self) -> None:
        _check_range("cruise_speed_mps", self.cruise_speed_mps, 1.0, 60.0)
        _check_range("climb_rate_mps", self.climb_rate_mps, 0.5, 15.0)
        _check_range("descent_rate_mps", self.descent_rate_mps, 0.5, 15.0)
        _check_range("max_height_agl_m", self.max_height_agl_m, 10.0, 1000.0)
        limit = CATEGORY_MAX_HEIGHT_AGL_M[self.category]
        if self.max_height_agl_m > limit:
            raise InvalidRequestError(
                f"max_height_agl_m {self.max_height_agl_m} m exceeds the {limit} m allowed "
                f"for {self.category.value} drones"
            )

    @classmethod
    def default_for(cls, category: DroneCategory) -> DronePerformance:
        """Typical performance of a category (values of common delivery drones)."""
        return DEFAULT_PERFORMANCE[category]

    def with_overrides(
        self,
        *,
        cruise_speed_mps: float | None = None,
        climb_rate_mps: float | None = None,
        descent_rate_mps: float | None = None,
        max_height_agl_m: float | None = None,
    ) -> DronePerformance:
        """A copy with the given values replaced (and validated)."""
        return DronePerformance(
            self.category,
            self.cruise_speed_mps if cruise_speed_mps is None else cruise_speed_mps,
            self.climb_rate_mps if climb_rate_mps is None else climb_rate_mps,
            self.descent_rate_mps if descent_rate_mps is None else descent_rate_mps,
            self.max_height_agl_m if max_height_agl_m is None else max_height_agl_m,
        )


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequestError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise InvalidRequestError(f"{name} {value} is outside [{low}, {high}]")


CATEGORY_MAX_HEIGHT_AGL_M = {
    DroneCategory.MICRO: 50.0,
    DroneCategory.LIGHT: 120.0,
    DroneCategory.SMALL: 300.0,
    DroneCategory.MEDIUM: 1000.0,
}
"""Micro drones fly at most 50 m true height; light drones stay in suitable airspace below
120 m; small and medium drones may be approved higher, in controlled airspace, after review."""

DEFAULT_PERFORMANCE = {
    DroneCategory.MICRO: DronePerformance(DroneCategory.MICRO, 8.0, 2.0, 2.0, 50.0),
    DroneCategory.LIGHT: DronePerformance(DroneCategory.LIGHT, 15.0, 4.0, 3.0, 120.0),
    DroneCategory.SMALL: DronePerformance(DroneCategory.SMALL, 18.0, 5.0, 4.0, 120.0),
    DroneCategory.MEDIUM: DronePerformance(DroneCategory.MEDIUM, 25.0, 6.0, 5.0, 120.0),
}
