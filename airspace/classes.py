"""Graded airspace classes, after the 2023 national airspace classification and the 2024
Interim Regulations on Unmanned Aircraft Flight Management (无人驾驶航空器飞行管理暂行条例)."""

from __future__ import annotations

from enum import StrEnum


class AirspaceClass(StrEnum):
    """The class of a (cell, altitude layer) at an instant. Wire values are lower case."""

    PROHIBITED = "prohibited"
    """No-fly: airport clearance zones, military and other sensitive sites. Never approved."""

    RESTRICTED = "restricted"
    """Restricted areas and temporary restrictions: regulator review, or closed while active."""

    CONTROLLED = "controlled"
    """Controlled airspace: everything above 120 m true height, and listed sites."""

    SUITABLE = "suitable"
    """Suitable-flight airspace (适飞空域) below 120 m for micro, light and small drones."""

    CORRIDOR = "corridor"
    """A designated low-altitude corridor (低空走廊), in its own layers."""

    OUT_OF_SERVICE = "out_of_service"
    """Outside every jurisdiction of the dataset: this system does not serve it."""

    @property
    def severity(self) -> int:
        """Rank for "the most restrictive class wins" (higher is stricter)."""
        return _SEVERITY[self]


_SEVERITY = {
    AirspaceClass.CORRIDOR: 0,
    AirspaceClass.SUITABLE: 1,
    AirspaceClass.CONTROLLED: 2,
    AirspaceClass.RESTRICTED: 3,
    AirspaceClass.PROHIBITED: 4,
    AirspaceClass.OUT_OF_SERVICE: 5,
}

ZONE_CLASSES = frozenset(
    {AirspaceClass.PROHIBITED, AirspaceClass.RESTRICTED, AirspaceClass.CONTROLLED}
)
"""Classes a zone may carry (suitable and corridor come from the defaults and corridors)."""

TRUE_HEIGHT_LIMIT_M = 120.0
"""Above 120 m true height the airspace is controlled (2024 Interim Regulations, art. 19)."""
