"""The API's route class: unknown query parameters are refused, as unknown body fields are.

A misspelt parameter (``?limt=5``) would otherwise be ignored silently and the caller would
get a default it did not ask for; 422 ``invalid_request`` names the parameter instead.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api import problems
from api.problems import ApiProblem


def query_parameter_names(dependant: Dependant) -> frozenset[str]:
    """Every query parameter a route reads, its dependencies' included."""
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= query_parameter_names(dependency)
    return frozenset(names)


class StrictQueryRoute(APIRoute):
    """An ``APIRoute`` that answers 422 for a query parameter it does not declare (and says
    so in its OpenAPI responses)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], *,
                 responses: dict[int | str, dict[str, Any]] | None = None,
                 **kwargs: Any) -> None:
        responses = dict(responses or {})
        responses.setdefault(422, problems.responses(422)[422])
        super().__init__(path, endpoint, responses=responses, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        allowed = query_parameter_names(self.dependant)

        async def strict_handler(request: Request) -> Response:
            unknown = sorted(set(request.query_params.keys()) - allowed)
            if unknown:
                known = ", ".join(sorted(allowed)) or "none"
                raise ApiProblem(422, "invalid_request",
                                 f"unknown query parameter {unknown[0]!r} (known: {known})",
                                 field=unknown[0])
            return await handler(request)

        return strict_handler
