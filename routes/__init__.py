"""Routing over the airspace: graph, A*, drone performance, trajectories and 4-D volumes.

Imports only from ``airspace``.
"""

from routes.errors import (
    InvalidRequestError,
    NoRouteError,
    OutsideServiceAreaError,
    ProhibitedEndpointError,
    RoutingError,
    UnknownVertiportError,
)
from routes.performance import DroneCategory, DronePerformance
from routes.planner import ClassCosts, Endpoint, Planner, RouteRequest
from routes.trajectory import FlightBuffers, Leg, LegKind, Route, Waypoint, route_to_volumes
from routes.volumes import Volume4D, volumes_from_json, volumes_intersect

__all__ = [
    "ClassCosts",
    "DroneCategory",
    "DronePerformance",
    "Endpoint",
    "FlightBuffers",
    "InvalidRequestError",
    "Leg",
    "LegKind",
    "NoRouteError",
    "OutsideServiceAreaError",
    "Planner",
    "ProhibitedEndpointError",
    "Route",
    "RouteRequest",
    "RoutingError",
    "UnknownVertiportError",
    "Volume4D",
    "Waypoint",
    "route_to_volumes",
    "volumes_from_json",
    "volumes_intersect",
]
