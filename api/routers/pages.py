"""The pages for people: ``/`` redirects to ``/map``; Leaflet is served from the
``xstatic-leaflet`` package, so the map works offline."""

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
    """The airspace map (Leaflet, GeoJSON layers, the event stream)."""
    return FileResponse(STATIC / "map.html", media_type="text/html")


def mount_static(app: FastAPI) -> None:
    """Serve Leaflet at ``/static/leaflet`` if ``xstatic-leaflet`` is installed."""
    try:
        import xstatic.pkg.leaflet as leaflet
    except ImportError:  # the map page then shows no map, the API is unaffected
        return
    app.mount("/static/leaflet", StaticFiles(directory=leaflet.BASE_DIR), name="leaflet")
