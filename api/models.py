"""Request and response bodies (pydantic v2). Input and output models are kept apart.

Input models are strict: ``extra="forbid"`` (a misspelt field is an error, not ignored), no
type coercion (``false`` is not a number, ``"1"`` is not a number, ``0`` is not an instant),
no NaN or infinity, and instants are RFC 3339 strings with an offset (``Z`` or ``+08:00``);
a naive or date-only string is refused. Coordinates are degrees with their ranges, so a swapped
pair (``lat`` 104) fails on the field that is out of range.

Output models describe what the API returns (for the OpenAPI document and response
validation); instants go out in UTC with ``Z``; volumes have exactly the shape of DESIGN.md.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    Tag,
    WithJsonSchema,
    model_serializer,
)
from pydantic_core import PydanticCustomError

from airspace.errors import InvalidInstantError
from airspace.text import describe_character, first_refused_character
from airspace.timing import EARLIEST_TIME, LATEST_TIME, format_instant, require_aware

# -- shared types -----------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)


def parse_rfc3339(value: object) -> datetime:
    """An RFC 3339 instant with an offset, as an aware UTC datetime.

    Raises ``PydanticCustomError`` (type ``rfc3339``) for anything else: numbers, naive or
    date-only strings, impossible dates.
    """
    if not isinstance(value, str):
        raise PydanticCustomError(
            "rfc3339", "must be an RFC 3339 string with an offset, such as "
            "'2026-12-01T02:00:00Z', not {kind}", {"kind": type(value).__name__})
    if not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "rfc3339", "must be an RFC 3339 instant with an offset (Z or +08:00), such as "
            "'2026-12-01T02:00:00Z'")
    text = value.upper()
    if "." in text:  # Python keeps microseconds: cut nanoseconds
        head, _, tail = text.partition(".")
        digits = re.match(r"\d+", tail)
        assert digits is not None
        text = f"{head}.{digits.group()[:6].ljust(6, '0')}{tail[digits.end():]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as error:
        raise PydanticCustomError("rfc3339", "is not a valid instant: {error}",
                                  {"error": str(error)}) from None
    try:
        return require_aware(parsed)
    except InvalidInstantError:
        raise PydanticCustomError(
            "rfc3339", "is out of range: instants are between {earliest} and {latest}",
            {"earliest": format_instant(EARLIEST_TIME),
             "latest": format_instant(LATEST_TIME)}) from None


Instant = Annotated[
    datetime,
    BeforeValidator(parse_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "description": "RFC 3339 with an offset, e.g. 2026-12-01T02:00:00Z",
                    "examples": ["2026-12-01T02:00:00Z"]}),
]
"""An input instant (string in, aware UTC datetime out)."""

InstantOut = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""An output instant: RFC 3339 in UTC with ``Z``."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                              pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
"""Ids of vertiports, drones, operators and cities: letters, digits, ``. _ : -``."""

def _check_text(value: str) -> str:
    """Free text as people write it (``airspace.text``): no control characters but tabs and
    line breaks, no bidirectional controls, no lone surrogates."""
    position = first_refused_character(value)
    if position is not None:
        raise PydanticCustomError(
            "text", "character {character} at position {position} is not allowed in text "
            "(control, bidirectional-control and lone surrogate characters are refused)",
            {"character": describe_character(value[position]), "position": position})
    return value


Text = Annotated[str, AfterValidator(_check_text)]
"""Free text (purpose, note, reason): printable characters, tabs and line breaks."""

Latitude = Annotated[float, Field(ge=-90.0, le=90.0, description="WGS84 degrees")]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0, description="WGS84 degrees")]
DroneCategoryName = Literal["micro", "light", "small", "medium"]
PriorityName = Literal["emergency", "public_service", "commercial", "leisure"]


class StrictModel(BaseModel):
    """Base of every input model."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


# -- inputs --------------------------------------------------------------------------------------


class VertiportEndpointIn(StrictModel):
    """An endpoint at a vertiport: ``{"vertiport": "CD-TFS"}``."""

    vertiport: Identifier


class PointEndpointIn(StrictModel):
    """An endpoint at a point: ``{"lat": 29.95, "lng": 103.6}`` (degrees)."""

    lat: Latitude
    lng: Longitude


def _endpoint_form(value: Any) -> str | None:
    if isinstance(value, dict):
        return "vertiport_endpoint" if "vertiport" in value else "point_endpoint"
    if isinstance(value, VertiportEndpointIn):
        return "vertiport_endpoint"
    if isinstance(value, PointEndpointIn):
        return "point_endpoint"
    return None


UNION_TAGS = frozenset({"vertiport_endpoint", "point_endpoint"})
"""Tags pydantic puts in error locations inside tagged unions; ``api.problems`` drops them
from the field it reports (``origin.point_endpoint.lat`` is ``origin.lat`` to a caller)."""

EndpointIn = Annotated[
    Annotated[VertiportEndpointIn, Tag("vertiport_endpoint")]
    | Annotated[PointEndpointIn, Tag("point_endpoint")],
    Discriminator(_endpoint_form, custom_error_type="endpoint",
                  custom_error_message='an endpoint is {"vertiport": ID} or {"lat": ..., '
                                       '"lng": ...}'),
]
"""A vertiport or a point: ``{"vertiport": "CD-TFS"}`` or ``{"lat": 30.65, "lng": 104.06}``."""


class DroneIn(StrictModel):
    """The aircraft: its id and category; performance defaults to the category's."""

    id: Identifier
    category: DroneCategoryName
    cruise_speed_mps: float | None = Field(None, ge=1.0, le=60.0)
    climb_rate_mps: float | None = Field(None, ge=0.5, le=15.0)
    descent_rate_mps: float | None = Field(None, ge=0.5, le=15.0)
    max_height_agl_m: float | None = Field(
        None, ge=10.0, le=1000.0,
        description="True-height limit of this drone (at most 50 m micro, 120 m light, "
                    "300 m small, 1000 m medium)")


class RoutePlanIn(StrictModel):
    """A route to plan (nothing is reserved)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "origin": {"vertiport": "CD-TFS"}, "destination": {"vertiport": "CD-JRC"},
        "departure_time": "2026-12-01T02:00:00Z", "drone": {"id": "d-1", "category": "light"},
    }]})

    origin: EndpointIn
    destination: EndpointIn
    departure_time: Instant
    drone: DroneIn
    cruise_agl_m: float | None = Field(None, ge=10.0, le=1000.0,
                                       description="Free-flight cruise height, m AGL")
    allow_review_airspace: bool = Field(
        False, description="May cross controlled or restricted airspace (review needed)")


class RouteBatchIn(StrictModel):
    """Up to 100 routes to plan; each result stands in its request's place."""

    requests: list[RoutePlanIn] = Field(min_length=1, max_length=100)


class FlightPlanIn(StrictModel):
    """A flight plan to decide and, if approved, reserve."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "origin": {"vertiport": "CD-TFS"}, "destination": {"vertiport": "CD-JRC"},
        "earliest_departure_time": "2026-12-01T02:00:00Z",
        "latest_departure_time": "2026-12-01T02:20:00Z",
        "drone": {"id": "d-1", "category": "light"}, "priority": "commercial",
        "purpose": "parcel delivery",
    }]})

    origin: EndpointIn
    destination: EndpointIn
    earliest_departure_time: Instant
    latest_departure_time: Instant | None = Field(
        None, description="End of the departure window; default: no window (the earliest "
                          "departure or nothing)")
    drone: DroneIn
    priority: PriorityName = "commercial"
    purpose: Text = Field("", max_length=500)
    cruise_agl_m: float | None = Field(None, ge=10.0, le=1000.0)
    allow_review_airspace: bool = False
    operator_id: Identifier | None = Field(
        None, description="Only for admin principals filing for an operator; operators file "
                          "for themselves (their own id may be given)")


class TelemetryIn(StrictModel):
    """A position report of a flying flight."""

    lat: Latitude
    lng: Longitude
    alt_agl_m: float = Field(ge=-100.0, le=10_000.0, description="metres above ground")
    time: Instant


class ReviewIn(StrictModel):
    """A city's verdict on its part of a pending flight."""

    decision: Literal["approve", "reject"]
    note: Text = Field("", max_length=500)
    jurisdiction: Identifier | None = Field(
        None, description="The city reviewed; default: the only one of the regulator's cities "
                          "with a review pending on this flight")


def _check_lnglat(position: list[float]) -> list[float]:
    if not (-180.0 <= position[0] <= 180.0 and -90.0 <= position[1] <= 90.0):
        raise PydanticCustomError(
            "lnglat", "a position is [lng, lat] with lng in [-180, 180] and lat in [-90, 90] "
            "(are they swapped?)")
    return position


Position = Annotated[list[float], Field(min_length=2, max_length=3),
                     AfterValidator(_check_lnglat)]
"""A GeoJSON position: [lng, lat] or [lng, lat, alt] (the altitude is ignored)."""


def _check_closed(ring: list[list[float]]) -> list[list[float]]:
    # RFC 7946 §3.1.6: a linear ring's first and last positions are the same. An open ring is
    # refused rather than closed silently: the outline drawn would not be the one sent.
    if ring[0][:2] != ring[-1][:2]:
        raise PydanticCustomError(
            "ring", "a ring must end where it starts (RFC 7946: the first and last positions "
            "are equal)")
    return ring


Ring = Annotated[list[Position], Field(min_length=4, max_length=2000),
                 AfterValidator(_check_closed)]
"""A closed GeoJSON linear ring: at least 4 positions, the last equal to the first."""


class PolygonIn(StrictModel):
    """A GeoJSON Polygon in [lng, lat] degrees: an outer ring, then up to 19 holes."""

    type: Literal["Polygon"]
    coordinates: list[Ring] = Field(min_length=1, max_length=20)


class ConstraintIn(StrictModel):
    """A temporary restriction over an area, between heights, for a time."""

    model_config = ConfigDict(populate_by_name=False, json_schema_extra={"examples": [{
        "outline": {"type": "Polygon", "coordinates": [[[104.06, 30.65], [104.07, 30.65],
                                                        [104.07, 30.66], [104.06, 30.65]]]},
        "floor_agl_m": 0, "ceiling_agl_m": 300, "start_time": "2026-12-01T02:00:00Z",
        "end_time": "2026-12-01T04:00:00Z", "class": "prohibited", "reason": "public event",
    }]})

    outline: PolygonIn
    floor_agl_m: float = Field(ge=0.0, le=1000.0)
    ceiling_agl_m: float = Field(ge=0.0, le=1000.0)
    start_time: Instant
    end_time: Instant
    airspace_class: Literal["prohibited", "restricted"] = Field(alias="class")
    reason: Text = Field("", max_length=500)
    jurisdiction: Identifier | None = Field(
        None, description="The issuing city; default: the city the outline lies in")


# -- outputs ---------------------------------------------------------------------------------------


class GeometryOut(BaseModel):
    """A GeoJSON geometry ([lng, lat] or [lng, lat, alt_agl_m] positions)."""

    type: str
    coordinates: list[Any]


class PolygonOut(BaseModel):
    """A GeoJSON Polygon."""

    type: Literal["Polygon"]
    coordinates: list[list[list[float]]]


class LineStringOut(BaseModel):
    """A GeoJSON LineString of [lng, lat, alt_agl_m]."""

    type: Literal["LineString"]
    coordinates: list[list[float]]


class VolumeOut(BaseModel):
    """A 4-D volume: footprint, floor and ceiling (m AGL), start and end (UTC)."""

    outline: PolygonOut
    floor_agl_m: float
    ceiling_agl_m: float
    start_time: InstantOut
    end_time: InstantOut


class LegOut(BaseModel):
    """A straight leg of a route."""

    kind: str
    corridor_id: str | None
    start_time: InstantOut
    end_time: InstantOut


class RoutePlanOut(BaseModel):
    """A planned route (nothing reserved)."""

    route: LineStringOut
    volumes: list[VolumeOut]
    departure_time: InstantOut
    arrival_time: InstantOut
    distance_m: float
    duration_s: float
    cruise_agl_m: float
    corridors: list[str]
    legs: list[LegOut]


class BatchItemOut(BaseModel):
    """One result of a batch: the plan, or the problem that prevented it."""

    index: int
    status: int
    plan: RoutePlanOut | None = None
    problem: dict[str, Any] | None = Field(None, description="a Problem (problem+json body)")


class RouteBatchOut(BaseModel):
    """The results, in the order of the requests."""

    results: list[BatchItemOut]


class EndpointOut(BaseModel):
    """A vertiport (``{"vertiport"}``) or a point (``{"lat", "lng"}``), as filed."""

    vertiport: str | None = None
    lat: float | None = None
    lng: float | None = None

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


class DroneOut(BaseModel):
    """The drone with its performance."""

    id: str
    category: str
    cruise_speed_mps: float
    climb_rate_mps: float
    descent_rate_mps: float
    max_height_agl_m: float


class ReasonOut(BaseModel):
    """Why a decision went the way it did."""

    code: str
    message: str
    jurisdiction: str | None


class ConflictOut(BaseModel):
    """Another flight, zone or pad that stood in the way."""

    kind: str
    ref: str
    message: str


class DecisionOut(BaseModel):
    """The engine's answer."""

    state: str
    reasons: list[ReasonOut]
    changes: list[str]
    conflicts: list[ConflictOut]


class PadSlotOut(BaseModel):
    """A vertiport pad held for a take-off or landing."""

    vertiport_id: str
    pad: int
    movement: str
    start_time: InstantOut
    end_time: InstantOut


class FlightPlanOut(BaseModel):
    """A flight plan with its decision, route, volumes and reviews.

    ``kind`` is ``routed`` (origin to destination, route found by the engine) or ``area`` (the
    operator's own volumes, filed through the InterUSS interface: no origin, destination or
    route; the departure window is the first volume's start)."""

    id: str
    kind: Literal["routed", "area"]
    state: str
    operator_id: str
    priority: str
    purpose: str
    drone: DroneOut
    origin: EndpointOut | None
    destination: EndpointOut | None
    earliest_departure_time: InstantOut
    latest_departure_time: InstantOut
    approval_id: str | None
    departure_time: InstantOut | None
    arrival_time: InstantOut | None
    route: LineStringOut | None
    volumes: list[VolumeOut]
    pad_slots: list[PadSlotOut]
    jurisdictions: list[str]
    reviews: dict[str, str]
    decision: DecisionOut
    notes: list[str]
    created_time: InstantOut
    updated_time: InstantOut
    version: int


class FlightPlanPage(BaseModel):
    """A page of flight plans, oldest first; ``next_cursor`` is null on the last page."""

    items: list[FlightPlanOut]
    next_cursor: str | None


class ReviewOut(BaseModel):
    """A city's review waiting on a flight plan."""

    flight_plan_id: str
    jurisdiction: str
    status: str
    operator_id: str
    priority: str
    purpose: str
    departure_time: InstantOut | None
    arrival_time: InstantOut | None
    jurisdictions: list[str]
    reasons: list[ReasonOut]


class ReviewPage(BaseModel):
    """Pending reviews, by flight plan id."""

    items: list[ReviewOut]
    next_cursor: str | None


class ConstraintOut(BaseModel):
    """A temporary restriction."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    jurisdiction: str
    outline: PolygonOut
    floor_agl_m: float
    ceiling_agl_m: float
    start_time: InstantOut
    end_time: InstantOut
    airspace_class: str = Field(alias="class")
    reason: str
    issued_by: str
    issued_time: InstantOut


class AffectedFlightOut(BaseModel):
    """A flight a new constraint moved or grounded."""

    id: str
    state: str


class ConstraintIssuedOut(BaseModel):
    """The constraint and the flights it re-planned (or told to re-plan)."""

    constraint: ConstraintOut
    affected: list[AffectedFlightOut]


class ConstraintPage(BaseModel):
    """Constraints, by id."""

    items: list[ConstraintOut]
    next_cursor: str | None


class AlertOut(BaseModel):
    """Something a regulator must look at (a flight off its volumes, lost separation)."""

    id: str
    kind: str
    flight_id: str
    jurisdiction: str
    operator_id: str
    message: str
    time: InstantOut


class AlertPage(BaseModel):
    """Alerts, oldest first."""

    items: list[AlertOut]
    next_cursor: str | None


class TelemetryOut(BaseModel):
    """The flight's state after the report, and the alerts it raised."""

    flight_plan_id: str
    state: str
    alerts: list[AlertOut]


class ApprovalCheckOut(BaseModel):
    """Whether an approval is genuine (signed by this system) and current."""

    valid: bool
    approval_id: str
    flight_plan_id: str | None = None
    state: str | None = None
    jurisdictions: list[str] = []
    issued_time: InstantOut | None = None
    signature: str | None = Field(None, description="Ed25519, base64")
    signed_payload: str | None = Field(
        None, description="The exact bytes signed (UTF-8 JSON): verify `signature` over them "
                          "with the public key of /v1/approvals/public-key")
    reason: str = ""


class PublicKeyOut(BaseModel):
    """The key approvals are signed with."""

    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="raw 32-byte public key, base64")


class ClassificationOut(BaseModel):
    """The class of a position at an instant."""

    model_config = ConfigDict(populate_by_name=True)

    airspace_class: str = Field(alias="class")
    jurisdiction: str | None
    cell: str
    layer: int
    zones: list[str]
    corridors: list[str]


class FeatureOut(BaseModel):
    """A GeoJSON Feature with its id (also in ``properties.id``)."""

    type: Literal["Feature"]
    id: str
    geometry: GeometryOut
    properties: dict[str, Any]


class FeatureCollectionOut(BaseModel):
    """A GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"]
    features: list[FeatureOut]
