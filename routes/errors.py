"""The routes package's errors (grouped by meaning, after networkx's exception tree)."""

from __future__ import annotations


class RoutingError(Exception):
    """Base of every error raised by the ``routes`` package."""

    code = "routing_error"


class UnknownVertiportError(RoutingError, LookupError):
    """A request names a vertiport the dataset does not have."""

    code = "unknown_vertiport"

    def __str__(self) -> str:  # LookupError would quote the message like a key
        return str(self.args[0]) if self.args else ""


class OutsideServiceAreaError(RoutingError, ValueError):
    """An origin or destination lies outside every jurisdiction."""

    code = "outside_service_area"


class ProhibitedEndpointError(RoutingError, ValueError):
    """An origin or destination lies inside prohibited airspace."""

    code = "endpoint_in_prohibited_airspace"


class InvalidRequestError(RoutingError, ValueError):
    """A request is malformed: speeds, heights or times out of range, naive datetimes."""

    code = "invalid_route_request"


class NoRouteError(RoutingError, RuntimeError):
    """No route satisfies the request (like networkx's NetworkXNoPath)."""

    code = "no_route"
