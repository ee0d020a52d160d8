"""Request bodies of the InterUSS flight-planning interface, v1 (spec 0.7.0, in
``shared/specs/flight_planning_v1_0.7.0/``), as pydantic models.

Unlike our own API's models (``api.models``), unknown fields are ignored: the interface says
"fields specified in a message but not declared in the API or otherwise known to the server
must be ignored". Values are still typed strictly (a number is a number, an instant an RFC
3339 string with an offset) and bounded (list lengths, string lengths, coordinate ranges), so
a hostile body is a 422 problem, never a 500.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.models import Instant

Degrees = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Metres = Annotated[float, Field(strict=True, allow_inf_nan=False)]
ShortText = Annotated[str, Field(max_length=200)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LatLngPointIn(_Lenient):
    """A point: degrees WGS84."""

    lat: Annotated[Degrees, Field(ge=-90.0, le=90.0)]
    lng: Annotated[Degrees, Field(ge=-180.0, le=180.0)]


class RadiusIn(_Lenient):
    value: Annotated[Metres, Field(gt=0.0, le=100_000.0)]
    units: Literal["M"] = "M"


class CircleIn(_Lenient):
    center: LatLngPointIn | None = None
    radius: RadiusIn | None = None


class PolygonIn(_Lenient):
    vertices: Annotated[list[LatLngPointIn], Field(min_length=3, max_length=1000)]


class AltitudeIn(_Lenient):
    value: Annotated[Metres, Field(ge=-8000.0, le=100_000.0)]
    reference: Literal["W84", "SFC", "Takeoff"]
    units: Literal["M"] = "M"


class TimeIn(_Lenient):
    value: Instant
    format: Literal["RFC3339"] = "RFC3339"


class Volume3DIn(_Lenient):
    outline_circle: CircleIn | None = None
    outline_polygon: PolygonIn | None = None
    altitude_lower: AltitudeIn | None = None
    altitude_upper: AltitudeIn | None = None


class Volume4DIn(_Lenient):
    volume: Volume3DIn
    time_start: TimeIn | None = None
    time_end: TimeIn | None = None


UsageState = Literal["Planned", "InUse", "Closed"]
UasState = Literal["Nominal", "OffNominal", "Contingent", "NotSpecified"]
ExecutionStyle = Literal["Hypothetical", "IfAllowed", "InReality"]


class BasicFlightPlanInformationIn(_Lenient):
    usage_state: UsageState
    uas_state: UasState = "NotSpecified"
    area: Annotated[list[Volume4DIn], Field(max_length=100)] = []
    description: Annotated[str, Field(max_length=500)] = ""


class UasInformationIn(_Lenient):
    serial_number: ShortText = ""


class AstmF3548In(_Lenient):
    priority: Annotated[int, Field(strict=True, ge=-1_000_000, le=1_000_000)] = 0


class FlightPlanIn(_Lenient):
    basic_information: BasicFlightPlanInformationIn
    uas: UasInformationIn | None = None
    astm_f3548_21: AstmF3548In | None = None
    additional_information: dict[str, Any] | None = None
    """Keys agreed between test designer and participant; we read ``drone_category``
    (micro, light, small, medium; default light)."""


class UpsertFlightPlanRequestIn(_Lenient):
    flight_plan: FlightPlanIn
    execution_style: ExecutionStyle
    request_id: ShortText


class ClearAreaRequestIn(_Lenient):
    request_id: ShortText
    extent: Volume4DIn


# -- responses (ASTM F3548-21 operational intents, for GET /v1/flight-plans/{id}/operational-intent)


class F3548LatLngOut(BaseModel):
    lat: float
    lng: float


class F3548PolygonOut(BaseModel):
    vertices: list[F3548LatLngOut]


class F3548AltitudeOut(BaseModel):
    value: float
    """Metres above the WGS84 ellipsoid."""
    reference: Literal["W84"]
    units: Literal["M"]


class F3548TimeOut(BaseModel):
    value: str
    """RFC 3339, UTC with ``Z``."""
    format: Literal["RFC3339"]


class F3548Volume3DOut(BaseModel):
    outline_polygon: F3548PolygonOut
    altitude_lower: F3548AltitudeOut
    altitude_upper: F3548AltitudeOut


class F3548Volume4DOut(BaseModel):
    volume: F3548Volume3DOut
    time_start: F3548TimeOut
    time_end: F3548TimeOut


class OperationalIntentReferenceOut(BaseModel):
    id: str
    manager: str
    version: int
    state: Literal["Accepted", "Activated", "Nonconforming"]
    time_start: F3548TimeOut
    time_end: F3548TimeOut


class OperationalIntentDetailsOut(BaseModel):
    volumes: list[F3548Volume4DOut]
    off_nominal_volumes: list[F3548Volume4DOut]
    priority: int
    """ASTM F3548 ordinal priority: 100 emergency, 50 public service, 0 commercial, -10
    leisure."""


class OperationalIntentOut(BaseModel):
    """An approved or flying flight as ASTM F3548-21 ``OperationalIntent`` (reference and
    details; no DSS fields: this system keeps its own reservations)."""

    reference: OperationalIntentReferenceOut
    details: OperationalIntentDetailsOut
