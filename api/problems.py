"""Errors as RFC 9457 problem details (``application/problem+json``): the one place that maps.

Every error response of the API has this shape::

    {"type": "urn:lowalt-utm:problem:unknown_vertiport", "title": "Unknown vertiport",
     "status": 422, "detail": "unknown origin vertiport 'CD-NOPE'",
     "code": "unknown_vertiport", "field": "origin.vertiport"}

``code`` is stable (the ``code`` of the package error, or one of the API's own codes below);
``detail`` is for people; ``field`` names the part of the request at fault (dotted path into
the body, or the query or path parameter), and ``errors`` lists every field at fault when
request validation found several. A request the API cannot accept never becomes a 500.

Status codes:

- 400 ``malformed_json`` (the body is not JSON), ``invalid_content_length``;
- 401 ``unauthenticated`` (with ``WWW-Authenticate: Bearer``);
- 403 ``forbidden``: the principal's role or cities do not allow the action;
- 404 ``flight_plan_not_found`` (also for another operator's plan: its existence is not
  revealed), ``not_found``;
- 409 ``invalid_state_transition``, ``review_not_found``, ``invalid_telemetry``: the request is
  well formed but the flight's state does not allow it;
- 413 ``body_too_large``;
- 415 ``unsupported_media_type``: a body that is not sent as JSON;
- 429 ``rate_limited`` (with ``Retry-After``): the caller sent more requests than its rate
  limit allows (``api.rate_limits``; off unless ``UTM_RATE_LIMIT`` is set);
- 422 ``invalid_request`` (request validation) and the domain's codes for values that are well
  formed but unusable: ``unknown_vertiport`` (a vertiport id in a body that the airspace does
  not have is a 422, not a 404: the URL names no vertiport), ``outside_service_area``,
  ``endpoint_in_prohibited_airspace``, ``invalid_position``, ``naive_datetime``,
  ``invalid_instant``, ``invalid_route_request``, ``no_route``, ``invalid_flight_plan``,
  ``invalid_constraint``, ``invalid_cursor``;
- 503 ``store_unavailable`` (the database cannot be reached), ``store_write_failed`` (it
  refused the write: disk full, read-only), ``store_conflict`` (a race between writers), each
  with ``Retry-After``. A refused write or a conflict stored nothing; a database lost during
  the commit itself leaves the outcome unknown (the plan may be listed). A full or read-only
  database is a 503, not a 507: for the client it is the same as an unreachable one (the node
  cannot take writes now; retry later or elsewhere), and generic clients and proxies retry
  503s only. The cause is in ``detail`` in a word (``full``, ``read-only``); the database's
  own message, which may name hosts and files, goes to the log only (ERROR for a refused
  write, WARNING otherwise).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from airspace import AirspaceError
from airspace.errors import DatasetError
from api.models import UNION_TAGS
from routes import (
    InvalidRequestError,
    NoRouteError,
    OutsideServiceAreaError,
    ProhibitedEndpointError,
    RoutingError,
    UnknownVertiportError,
)
from utm.errors import (
    FlightNotFoundError,
    InvalidConstraintError,
    InvalidPlanError,
    InvalidTelemetryError,
    InvalidTransitionError,
    ReviewNotFoundError,
    StoreUnavailableError,
    StoreWriteError,
    UtmError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:lowalt-utm:problem:"
RETRY_AFTER_S = 5
"""Seconds a client should wait before retrying after a 503."""

log = logging.getLogger("api")


class FieldError(BaseModel):
    """One field at fault."""

    field: str
    message: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the API's stable ``code`` and the field at fault."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "type": "urn:lowalt-utm:problem:unknown_vertiport",
                "title": "Unknown vertiport",
                "status": 422,
                "detail": "unknown origin vertiport 'CD-NOPE'",
                "code": "unknown_vertiport",
                "field": "origin.vertiport",
            }
        }
    )

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    errors: list[FieldError] | None = None


class ApiProblem(Exception):
    """Raised at the edge (route functions, dependencies) to answer with a problem."""

    def __init__(self, status: int, code: str, detail: str, *, field: str | None = None,
                 errors: list[FieldError] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.errors = errors
        self.headers = headers or {}

    def to_problem(self) -> Problem:
        """The wire form."""
        return Problem(type=PROBLEM_TYPE_PREFIX + self.code, title=title_of(self.code, self.status),
                       status=self.status, detail=self.detail, code=self.code, field=self.field,
                       errors=self.errors)


TITLES = {
    "malformed_json": "Malformed JSON",
    "invalid_content_length": "Invalid Content-Length",
    "unauthenticated": "Authentication required",
    "forbidden": "Not allowed for this principal",
    "not_found": "Not found",
    "flight_plan_not_found": "Flight plan not found",
    "method_not_allowed": "Method not allowed",
    "invalid_state_transition": "Not allowed in the flight's state",
    "review_not_found": "No review pending",
    "invalid_telemetry": "Telemetry not accepted",
    "body_too_large": "Request body too large",
    "unsupported_media_type": "Unsupported media type",
    "invalid_request": "Invalid request",
    "unknown_vertiport": "Unknown vertiport",
    "outside_service_area": "Outside the service area",
    "endpoint_in_prohibited_airspace": "Endpoint in prohibited airspace",
    "invalid_position": "Invalid position",
    "naive_datetime": "Invalid instant",
    "invalid_instant": "Invalid instant",
    "rate_limited": "Too many requests",
    "invalid_route_request": "Invalid route request",
    "no_route": "No route",
    "invalid_flight_plan": "Invalid flight plan",
    "invalid_constraint": "Invalid constraint",
    "invalid_cursor": "Invalid cursor",
    "store_unavailable": "Storage unavailable",
    "store_write_failed": "Storage refused the write",
    "store_conflict": "Concurrent write: retry",
    "internal_error": "Internal error",
}


def title_of(code: str, status: int) -> str:
    """A short human title for a code (the HTTP phrase for codes without one)."""
    if code in TITLES:
        return TITLES[code]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# -- domain errors --------------------------------------------------------------------------

_STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    # Most specific first: the first isinstance match decides.
    (StoreUnavailableError, 503),
    (StoreWriteError, 503),
    (FlightNotFoundError, 404),
    (InvalidTransitionError, 409),
    (ReviewNotFoundError, 409),
    # Malformed telemetry is refused by the request models; what reaches the engine and fails
    # is a report for a flight that is not flying: a state conflict.
    (InvalidTelemetryError, 409),
    (InvalidPlanError, 422),
    (InvalidConstraintError, 422),
    (UnknownVertiportError, 422),
    (OutsideServiceAreaError, 422),
    (ProhibitedEndpointError, 422),
    (InvalidRequestError, 422),
    (NoRouteError, 422),
    (DatasetError, 500),
    (AirspaceError, 422),
    (RoutingError, 422),
    (UtmError, 422),
)


def _endpoint_field(message: str) -> str | None:
    """``origin`` or ``destination`` if a routing message names one (they all do)."""
    for role in ("origin", "destination"):
        if role in message:
            return role
    return None


_WRITE_REASONS = {"full": "full", "read_only": "read-only"}
"""``StoreWriteError.reason`` as the client reads it in ``detail``."""

_STATUS_BY_CODE = {"store_conflict": 503}
"""Errors known by code only (a race between writers: retry the whole request)."""


def domain_problem(error: AirspaceError | RoutingError | UtmError) -> ApiProblem:
    """The problem for an error of the ``airspace``, ``routes`` or ``utm`` package.

    An ``InvalidPlanError`` caused by a routing error keeps the routing error's code
    (``unknown_vertiport`` says more than ``invalid_flight_plan``).
    """
    code = str(getattr(error, "code", "error"))
    status = _STATUS_BY_CODE.get(code) or next(
        status for kind, status in _STATUS_BY_ERROR if isinstance(error, kind))
    field = getattr(error, "field", None)
    cause = error.__cause__
    if isinstance(error, InvalidPlanError) and isinstance(cause, RoutingError | AirspaceError):
        code = str(cause.code)
        error_for_field: Exception = cause
    else:
        error_for_field = error
    if isinstance(error_for_field, RoutingError) and field is None:
        field = _endpoint_field(str(error_for_field))
    if isinstance(error_for_field, UnknownVertiportError) and field in ("origin", "destination"):
        field = f"{field}.vertiport"
    detail = str(error) or title_of(code, status)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else {}
    if isinstance(error, StoreWriteError):
        log.error("the database refused a write: %s", error)
        detail = (f"the database refused the write ({_WRITE_REASONS.get(error.reason, 'error')})"
                  "; nothing was stored")
    elif isinstance(error, StoreUnavailableError):
        log.warning("the database is unavailable: %s", error)
        detail = "the database is unavailable; retry later"
    if status == 500:  # a broken dataset at run time: do not leak file paths
        log.error("dataset error while serving a request: %s", error)
        detail = "the service's airspace data is broken"
        code = "internal_error"
    return ApiProblem(status, code, detail, field=field, headers=headers)


# -- request validation -------------------------------------------------------------------------


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "requests", 0, "origin", "lat")`` -> ``requests[0].origin.lat``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where = parts.pop(0)
        if not parts:
            return str(where)
    path = ""
    for part in parts:
        if part in UNION_TAGS:
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path


MAX_LISTED_ERRORS = 20
"""``errors`` lists at most this many fields (``detail`` counts the rest): a 1 MiB body with
50,000 unknown keys would otherwise be answered with 4 MB of errors."""


def validation_problem(error: RequestValidationError) -> ApiProblem:
    """422 naming the fields at fault (the first ``MAX_LISTED_ERRORS``); 400 if the body is
    not JSON at all."""
    raw = list(error.errors())
    if any(item.get("type") == "json_invalid" for item in raw):
        invalid = next(item for item in raw if item.get("type") == "json_invalid")
        message = str(invalid.get("msg", ""))
        ctx = invalid.get("ctx")
        reason = f": {ctx.get('error')}" if isinstance(ctx, dict) and ctx.get("error") else ""
        return ApiProblem(400, "malformed_json", f"the request body is not valid JSON{reason}"
                          if reason else message or "the request body is not valid JSON",
                          field="body")
    errors = [
        FieldError(field=_field_path(item.get("loc", ())), message=str(item.get("msg", "")),
                   type=str(item.get("type", "")))
        for item in raw[:MAX_LISTED_ERRORS]
    ]
    if not errors:
        return ApiProblem(422, "invalid_request", "the request is invalid")
    first = errors[0]
    detail = f"{first.field}: {first.message}"
    if len(raw) > 1:
        detail += f" (and {len(raw) - 1} more)"
    return ApiProblem(422, "invalid_request", detail, field=first.field, errors=errors)


def unparsable_body_problem(cause: BaseException | None) -> ApiProblem:
    """400 ``malformed_json`` for a body the JSON parser could not take: nested too deeply
    (``RecursionError``), or an integer too long to convert (``ValueError``: Python refuses
    more than 4300 digits, a guard against quadratic-time parsing)."""
    if isinstance(cause, RecursionError):
        reason = "it is nested too deeply"
    elif isinstance(cause, ValueError):
        reason = f"{cause}"
    else:
        reason = "it could not be parsed"
    return ApiProblem(400, "malformed_json", f"the request body is not acceptable JSON: {reason}",
                      field="body")


# -- responses ------------------------------------------------------------------------------------


def problem_response(problem: ApiProblem) -> JSONResponse:
    """The HTTP response for a problem."""
    body = problem.to_problem().model_dump(mode="json", exclude_none=True)
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE,
                        headers=problem.headers)


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at the request's path."""

    def collect(routes: list[Any]) -> set[str]:
        methods: set[str] = set()
        for route in routes:
            included = getattr(route, "original_router", None)  # an included APIRouter
            if included is not None:
                methods |= collect(list(included.routes))
                continue
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= set(getattr(route, "methods", None) or ())
        return methods

    return sorted(collect(list(app.router.routes)))


def install(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into a problem response."""

    async def on_problem(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiProblem)
        return problem_response(error)

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        if not _is_json(request.headers.get("content-type")) and any(
            tuple(item.get("loc", ())) == ("body",) and item.get("type") != "missing"
            for item in error.errors()
        ):
            return problem_response(ApiProblem(
                415, "unsupported_media_type",
                "the body must be JSON, sent with Content-Type: application/json",
                field="body"))
        return problem_response(validation_problem(error))

    async def on_domain(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, AirspaceError | RoutingError | UtmError)
        return problem_response(domain_problem(error))

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 400:  # FastAPI's only 400: a body its JSON parser gave up on
            return problem_response(unparsable_body_problem(error.__cause__))
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code,
                                                                 "http_error")
        detail = error.detail if isinstance(error.detail, str) else title_of(code, 0)
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # Starlette names the methods of the first route matching the path; a path served
            # by several routes (GET and POST /v1/flight-plans) allows all of theirs.
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        return problem_response(ApiProblem(error.status_code, code, detail, headers=headers))

    async def on_unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=error)
        return problem_response(ApiProblem(500, "internal_error",
                                           "the service failed; the error is logged"))

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    for kind in (AirspaceError, RoutingError, UtmError):
        app.add_exception_handler(kind, on_domain)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


_DESCRIPTIONS = {
    400: "Malformed JSON body or Content-Length (`malformed_json`, `invalid_content_length`).",
    401: "No bearer token, or a token the service does not know (`unauthenticated`).",
    403: "The principal's role or cities do not allow this (`forbidden`).",
    404: "No such resource visible to this principal (`flight_plan_not_found`, `not_found`).",
    409: "The flight's state does not allow this (`invalid_state_transition`, "
         "`review_not_found`, `invalid_telemetry`).",
    413: "The request body is larger than the limit (`body_too_large`).",
    415: "The body is not sent as JSON (`unsupported_media_type`).",
    429: "Too many requests from this principal (or, without a token, this address); retry "
         "after `Retry-After` seconds (`rate_limited`).",
    422: "A field is invalid; `field` names it (`invalid_request` and the domain codes such as "
         "`unknown_vertiport`, `outside_service_area`, `invalid_flight_plan`).",
    503: "The database is unavailable (`store_unavailable`), refused the write: full or "
         "read-only (`store_write_failed`), or met a concurrent writer (`store_conflict`); "
         "retry after `Retry-After` seconds.",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem statuses (for a route's ``responses=``)."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "description": _DESCRIPTIONS[status],
            # The schema is added to the components by ``api.app`` (``Problem``).
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status == 401:
            entry["headers"] = {"WWW-Authenticate": {
                "description": "`Bearer` (with `error=\"invalid_token\"` for a bad token)",
                "schema": {"type": "string"}}}
        if status in (429, 503):
            entry["headers"] = {"Retry-After": {"description": "seconds",
                                                "schema": {"type": "string"}}}
        documented[status] = entry
    return documented
