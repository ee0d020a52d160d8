"""The permission matrix: each role against each endpoint, own versus foreign resources.

The plan acted on belongs to ``operator`` (sf-express) and lies in Chengdu only. So
``other_operator`` meets a foreign plan (404: its existence is not revealed), ``regulator``
(Chengdu) meets a plan of its city, and ``other_regulator`` (Deyang) a plan outside its cities
(404). Reviews and constraints are Chengdu's (403 for Deyang's regulator). ``anonymous`` sends
no token, ``bad_token`` one the service does not know.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from starlette.routing import Mount
from testbed import T0, SteppedClock, auth, plan_body

from airspace.timing import format_instant, parse_instant

ROLES = ("anonymous", "bad_token", "operator", "other_operator", "regulator",
         "other_regulator", "admin")

MATRIX = {
    # action                        anonymous bad_token operator other_op regulator other_reg admin
    "GET /v1/jurisdictions":              "401 401 200 200 200 200 200",
    "GET /v1/zones":                      "401 401 200 200 200 200 200",
    "GET /v1/vertiports":                 "401 401 200 200 200 200 200",
    "GET /v1/corridors":                  "401 401 200 200 200 200 200",
    "GET /v1/airspace/cells":             "401 401 200 200 200 200 200",
    "GET /v1/airspace/classify":          "401 401 200 200 200 200 200",
    "POST /v1/routes/plan":               "401 401 200 200 200 200 200",
    "POST /v1/routes/plan:batch":         "401 401 200 200 200 200 200",
    "POST /v1/flight-plans":              "401 401 201 201 403 403 201",
    "GET /v1/flight-plans":               "401 401 200 200 200 200 200",
    "GET /v1/flight-plans/{own}":         "401 401 200 404 200 404 200",
    "GET /v1/flight-plans/{own}/operational-intent": "401 401 200 404 200 404 200",
    "POST /v1/flight-plans/{own}/cancel": "401 401 200 404 200 404 200",
    "POST /v1/flight-plans/{own}/activate": "401 401 200 404 403 403 200",
    "POST /v1/flight-plans/{own}/telemetry": "401 401 200 404 403 403 200",
    "POST /v1/flight-plans/{own}/end":    "401 401 200 404 403 403 200",
    "GET /v1/reviews":                    "401 401 403 403 200 200 200",
    "POST /v1/reviews/{own}":             "401 401 403 403 200 404 200",
    "POST /v1/constraints":               "401 401 403 403 201 403 201",
    "GET /v1/constraints":                "401 401 200 200 200 200 200",
    "GET /v1/alerts":                     "401 401 403 403 200 200 200",
    "GET /v1/map/context":                "401 401 200 200 200 200 200",
    "GET /v1/map/flights":                "401 401 200 200 200 200 200",
    "GET /v1/approvals/{own}":            "200 200 200 200 200 200 200",
    "GET /v1/approvals/public-key":       "200 200 200 200 200 200 200",
    "GET /v1/events":                     "401 401 - - - - -",
    "GET /v1/health":                     "200 200 200 200 200 200 200",
    "GET /v1/ready":                      "200 200 200 200 200 200 200",
}
"""Expected status by role; ``-``: not in this table (the event stream never ends: its
authorised use is tested against a real server in ``test_events.py``)."""

_slots = itertools.count()


def headers_of(who: str) -> dict[str, str]:
    if who == "anonymous":
        return {}
    if who == "bad_token":
        return {"Authorization": "Bearer not-a-token-anyone-has-000"}
    return auth(who)


class World:
    """Sets up what an action needs, as the resources' owners, then lets ``who`` act."""

    def __init__(self, client: TestClient, clock: SteppedClock) -> None:
        self.client = client
        self.clock = clock

    def own_plan(self, **changes: Any) -> dict[str, Any]:
        """A Chengdu plan of ``operator``, in a slot of its own."""
        slot = next(_slots)  # 50 slots a day: all inside the vertiports' opening hours
        departure = T0 + timedelta(days=slot // 50, minutes=12 * (slot % 50))
        body = plan_body(origin={"vertiport": "CD-CXR"}, destination={"vertiport": "CD-SCU"},
                         earliest_departure_time=format_instant(departure),
                         latest_departure_time=format_instant(departure), **changes)
        response = self.client.post("/v1/flight-plans", json=body, headers=auth("operator"))
        assert response.status_code == 201, response.text
        flight: dict[str, Any] = response.json()
        return flight

    def approved_plan(self) -> dict[str, Any]:
        flight = self.own_plan()
        assert flight["state"] == "approved", flight["decision"]
        return flight

    def plan_at_departure(self) -> dict[str, Any]:
        """An approved plan, with the clock at its departure."""
        flight = self.approved_plan()
        self.clock.instant = parse_instant(flight["departure_time"])
        return flight

    def flying_plan(self) -> dict[str, Any]:
        flight = self.plan_at_departure()
        response = self.client.post(f"/v1/flight-plans/{flight['id']}/activate",
                                    headers=auth("operator"))
        assert response.status_code == 200, response.text
        return flight

    def pending_plan(self) -> dict[str, Any]:
        flight = self.own_plan(drone={"id": "heavy", "category": "medium"})
        assert flight["state"] == "pending_review"
        return flight


def _telemetry(world: World, headers: dict[str, str]) -> Response:
    flight = world.flying_plan()
    volume = flight["volumes"][0]
    lng, lat = volume["outline"]["coordinates"][0][0]
    return world.client.post(f"/v1/flight-plans/{flight['id']}/telemetry", headers=headers,
                             json={"lat": lat, "lng": lng, "alt_agl_m": 40.0,
                                   "time": volume["start_time"]})


def _file(world: World, headers: dict[str, str]) -> Response:
    body = plan_body(earliest_departure_time=format_instant(T0 + timedelta(hours=9)),
                     latest_departure_time=format_instant(T0 + timedelta(hours=10)))
    if headers == auth("admin"):
        body["operator_id"] = "sf-express"  # an admin files for a named operator
    return world.client.post("/v1/flight-plans", json=body, headers=headers)


def _constraint(world: World, headers: dict[str, str]) -> Response:
    corner = 103.70 + 0.005 * next(_slots)
    outline = [[corner, 30.9], [corner + 0.003, 30.9], [corner + 0.003, 30.903],
               [corner, 30.903], [corner, 30.9]]
    return world.client.post("/v1/constraints", headers=headers, json={
        "outline": {"type": "Polygon", "coordinates": [outline]}, "floor_agl_m": 0,
        "ceiling_agl_m": 120, "start_time": "2026-12-01T22:00:00Z",
        "end_time": "2026-12-01T23:00:00Z", "class": "restricted"})


ROUTE = {"origin": {"vertiport": "CD-TFS"}, "destination": {"vertiport": "CD-JRC"},
         "departure_time": "2026-12-01T02:00:00Z", "drone": {"id": "d", "category": "light"}}

ACTIONS: dict[str, Callable[[World, dict[str, str]], Response]] = {
    "GET /v1/jurisdictions": lambda w, h: w.client.get("/v1/jurisdictions", headers=h),
    "GET /v1/zones": lambda w, h: w.client.get("/v1/zones", headers=h),
    "GET /v1/vertiports": lambda w, h: w.client.get("/v1/vertiports", headers=h),
    "GET /v1/corridors": lambda w, h: w.client.get("/v1/corridors", headers=h),
    "GET /v1/airspace/cells": lambda w, h: w.client.get(
        "/v1/airspace/cells?bbox=103.94,30.57,103.95,30.58", headers=h),
    "GET /v1/airspace/classify": lambda w, h: w.client.get(
        "/v1/airspace/classify?lat=30.6&lng=104.0&alt_agl_m=50", headers=h),
    "POST /v1/routes/plan": lambda w, h: w.client.post("/v1/routes/plan", json=ROUTE, headers=h),
    "POST /v1/routes/plan:batch": lambda w, h: w.client.post(
        "/v1/routes/plan:batch", json={"requests": [ROUTE]}, headers=h),
    "POST /v1/flight-plans": _file,
    "GET /v1/flight-plans": lambda w, h: w.client.get("/v1/flight-plans", headers=h),
    "GET /v1/flight-plans/{own}": lambda w, h: w.client.get(
        f"/v1/flight-plans/{w.own_plan()['id']}", headers=h),
    "GET /v1/flight-plans/{own}/operational-intent": lambda w, h: w.client.get(
        f"/v1/flight-plans/{w.approved_plan()['id']}/operational-intent", headers=h),
    "POST /v1/flight-plans/{own}/cancel": lambda w, h: w.client.post(
        f"/v1/flight-plans/{w.approved_plan()['id']}/cancel", headers=h),
    "POST /v1/flight-plans/{own}/activate": lambda w, h: w.client.post(
        f"/v1/flight-plans/{w.plan_at_departure()['id']}/activate", headers=h),
    "POST /v1/flight-plans/{own}/telemetry": _telemetry,
    "POST /v1/flight-plans/{own}/end": lambda w, h: w.client.post(
        f"/v1/flight-plans/{w.flying_plan()['id']}/end", headers=h),
    "GET /v1/reviews": lambda w, h: w.client.get("/v1/reviews", headers=h),
    "POST /v1/reviews/{own}": lambda w, h: w.client.post(
        f"/v1/reviews/{w.pending_plan()['id']}", json={"decision": "approve"}, headers=h),
    "POST /v1/constraints": _constraint,
    "GET /v1/constraints": lambda w, h: w.client.get("/v1/constraints", headers=h),
    "GET /v1/alerts": lambda w, h: w.client.get("/v1/alerts", headers=h),
    "GET /v1/map/context": lambda w, h: w.client.get("/v1/map/context", headers=h),
    "GET /v1/map/flights": lambda w, h: w.client.get("/v1/map/flights", headers=h),
    "GET /v1/approvals/{own}": lambda w, h: w.client.get(
        f"/v1/approvals/{w.approved_plan()['approval_id']}", headers=h),
    "GET /v1/approvals/public-key": lambda w, h: w.client.get("/v1/approvals/public-key",
                                                              headers=h),
    "GET /v1/events": lambda w, h: w.client.get("/v1/events", headers=h),
    "GET /v1/health": lambda w, h: w.client.get("/v1/health", headers=h),
    "GET /v1/ready": lambda w, h: w.client.get("/v1/ready", headers=h),
}


CASES = [
    pytest.param(action, who, int(status), id=f"{action} as {who}")
    for action, row in MATRIX.items()
    for who, status in zip(ROLES, row.split(), strict=True)
    if status != "-"
]


def test_the_matrix_covers_every_operation_of_the_api(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items()
                  for method in item}
    covered = {action.replace("{own}", "{flight_plan_id}") for action in MATRIX}
    covered = {c.replace("/v1/approvals/{flight_plan_id}", "/v1/approvals/{approval_id}")
               for c in covered}

    assert operations == covered
    assert set(ACTIONS) == set(MATRIX)


@pytest.mark.parametrize(("action", "who", "status"), CASES)
def test_permission(client: TestClient, clock: SteppedClock, action: str, who: str,
                    status: int) -> None:
    response = ACTIONS[action](World(client, clock), headers_of(who))

    assert response.status_code == status, response.text
    if status in (401, 403, 404):
        assert response.headers["content-type"] == "application/problem+json"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_operators_list_only_their_own_plans(client: TestClient, clock: SteppedClock) -> None:
    World(client, clock).own_plan()

    mine = client.get("/v1/flight-plans?limit=500", headers=auth("operator")).json()["items"]
    theirs = client.get("/v1/flight-plans?limit=500",
                        headers=auth("other_operator")).json()["items"]

    assert mine and {f["operator_id"] for f in mine} == {"sf-express"}
    assert all(f["operator_id"] != "sf-express" for f in theirs)


def test_regulators_list_only_plans_crossing_their_cities(client: TestClient,
                                                           clock: SteppedClock) -> None:
    World(client, clock).own_plan()

    chengdu = client.get("/v1/flight-plans?limit=500", headers=auth("regulator")).json()
    deyang = client.get("/v1/flight-plans?limit=500",
                        headers=auth("other_regulator")).json()

    assert chengdu["items"] and all("chengdu" in f["jurisdictions"] for f in chengdu["items"])
    assert all("deyang" in f["jurisdictions"] for f in deyang["items"])


# -- every route of the app has a row ------------------------------------------------------

OUTSIDE_THE_DOCUMENT = {
    # route (not in /openapi.json)                   anonymous status, where the rest is tested
    "GET /": (307, "redirects to the map"),
    "GET /map": (200, "the page itself; it signs in with a token (test_map_browser.py)"),
    "GET /openapi.json": (200, "public by design"),
    "GET /docs": (200, "public by design"),
    "GET /docs/oauth2-redirect": (200, "public by design"),
    "GET /redoc": (200, "public by design"),
    "MOUNT /static/app": (200, "the map's script and style (public)"),
    "MOUNT /static/leaflet": (200, "Leaflet (public)"),
    "GET /flight_planning/v1/status": (401, "InterUSS scopes: tests/interop/"),
    "PUT /flight_planning/v1/flight_plans/{flight_plan_id}": (401, "tests/interop/"),
    "DELETE /flight_planning/v1/flight_plans/{flight_plan_id}": (401, "tests/interop/"),
    "POST /flight_planning/v1/clear_area_requests": (401, "tests/interop/"),
    "GET /flight_planning/v1/user_notifications": (401, "tests/interop/"),
}
"""Routes the OpenAPI document leaves out, with what an anonymous caller gets."""

_SAMPLE_PATHS = {"{flight_plan_id}": "6f1c3c2e-8f4b-4c1e-9a3d-2b7e5f0a1c9d",
                 "MOUNT /static/app": "/static/app/map.js",
                 "MOUNT /static/leaflet": "/static/leaflet/leaflet.js"}


def app_routes(app: FastAPI) -> set[str]:
    """``"METHOD /path"`` of every route the app serves (``MOUNT /path`` for mounted files),
    walking into included routers; ``HEAD`` next to ``GET`` is not counted apart."""

    def walk(routes: list[Any]) -> set[str]:
        found: set[str] = set()
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                found |= walk(list(included.routes))
            elif isinstance(route, Mount):
                found.add(f"MOUNT {route.path}")
            else:
                methods = set(getattr(route, "methods", None) or ()) - {"HEAD"}
                found |= {f"{method} {route.path}" for method in methods}
        return found

    return walk(list(app.router.routes))


def matrix_routes() -> set[str]:
    """The matrix's actions as route names (``{own}`` is the route's path parameter)."""
    names = {action.replace("{own}", "{flight_plan_id}") for action in MATRIX}
    return {name.replace("/v1/approvals/{flight_plan_id}", "/v1/approvals/{approval_id}")
            for name in names}


def test_every_route_of_the_app_has_a_row(api_app: FastAPI) -> None:
    # A new endpoint fails here until it gets a row: in MATRIX (with an action) if it is in
    # the OpenAPI document, in OUTSIDE_THE_DOCUMENT if it is not.
    routes = app_routes(api_app)

    assert routes - matrix_routes() - set(OUTSIDE_THE_DOCUMENT) == set(), "routes without a row"
    assert matrix_routes() - routes == set(), "rows without a route"
    assert set(OUTSIDE_THE_DOCUMENT) - routes == set(), "rows without a route"


@pytest.mark.parametrize(("route", "status"), [
    pytest.param(route, status, id=route) for route, (status, _) in OUTSIDE_THE_DOCUMENT.items()])
def test_routes_outside_the_document_answer_anonymous_callers(client: TestClient, route: str,
                                                              status: int) -> None:
    method, path = route.split(" ", 1)
    if method == "MOUNT":
        method, path = "GET", _SAMPLE_PATHS[route]
    path = path.replace("{flight_plan_id}", _SAMPLE_PATHS["{flight_plan_id}"])
    body = {} if method in ("PUT", "POST") else None

    response = client.request(method, path, json=body, follow_redirects=False)

    assert response.status_code == status, response.text[:300]
    if status == 401:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
