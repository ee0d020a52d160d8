"""The pages for people: ``/`` redirects to ``/map``, the regulator's map. Leaflet is served
from the ``xstatic-leaflet`` package and the map's own script and style from ``api/static``
(``/static/app``), so the map works offline: the page loads nothing from another host."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    """The map is the home page."""
    return RedirectResponse("/map", status_code=307)


@router.get("/map")
def map_page() -> FileResponse:
    """The regulator's map (Leaflet, GeoJSON layers, reviews, constraints, the event
    stream)."""
    return FileResponse(STATIC / "map.html", media_type="text/html")


def mount_static(app: FastAPI) -> None:
    """Serve ``map.js`` and ``map.css`` at ``/static/app``, and Leaflet at ``/static/leaflet``
    if ``xstatic-leaflet`` is installed."""
    app.mount("/static/app", StaticFiles(directory=STATIC), name="map-app")
    try:
        import xstatic.pkg.leaflet as leaflet
    except ImportError:  # the map page then shows no map, the API is unaffected
        return
    app.mount("/static/leaflet", StaticFiles(directory=leaflet.BASE_DIR), name="leaflet")
