"""The regulator's map in a real browser: Debian's chromium driven by Playwright, headless,
against uvicorn on 127.0.0.1 serving an app over a SQLite file with demo traffic filed
through the API.

Every request the page makes is recorded, and any to another host is aborted and fails the
test: the map must work with no internet. The screenshot of the main scenario is written
under the test's tmp path, and to ``docs/map-screenshot.png`` with ``UTM_WRITE_SCREENSHOT=1``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from testbed import NOW0, PRINCIPALS, T0, TOKENS, SteppedClock, auth, plan_body

from airspace import Airspace
from airspace.timing import format_instant, parse_instant
from api.app import create_app, shutdown
from api.auth import PrincipalRegistry
from api.settings import Settings
from routes import Planner

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
"""From shared/NOTES.md: no sandbox as root, and none of chromium's calls home."""
WAIT_MS = 30_000
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "map-screenshot.png"
XSS_PURPOSE = "<script>window.__xss=1</script>"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} is missing: apt-get install chromium fonts-noto-cjk "
                              "(.ci/run does)"),
]
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the playwright package is missing (pip install -e .[dev])")


# -- the server -------------------------------------------------------------------------------


@dataclass
class Demo:
    """The served app, its clock, and what the seeding filed."""

    base_url: str
    app: FastAPI
    clock: SteppedClock
    pending_id: str
    xss_id: str
    flights: list[dict[str, Any]] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def seed(client: TestClient) -> tuple[list[dict[str, Any]], str, str]:
    """Three dozen plans in the four cities over an hour, one emergency, and two plans that
    Chengdu must review (medium drones): a bridge inspection and one whose purpose is a
    script. Returns the plans, the inspection's id and the script's id."""
    routes = _routes(client)
    filed = []
    for number in range(36):
        origin, destination = routes[number % len(routes)]
        departure = T0 + timedelta(minutes=(number * 5) % 60)
        body = plan_body(origin={"vertiport": origin}, destination={"vertiport": destination},
                         earliest_departure_time=format_instant(departure),
                         latest_departure_time=format_instant(departure + timedelta(minutes=20)),
                         drone={"id": f"drone-{number:02d}", "category": "light"})
        if number == 7:
            body["priority"], body["purpose"] = "emergency", "blood for surgery"
        response = client.post("/v1/flight-plans", json=body, headers=auth("operator"))
        assert response.status_code == 201, response.text
        filed.append(response.json())
    ids = []
    for purpose in ("bridge inspection", XSS_PURPOSE):
        body = plan_body(destination={"vertiport": "CD-SCU"}, purpose=purpose,
                         drone={"id": f"survey-{len(ids)}", "category": "medium"},
                         latest_departure_time="2026-12-01T02:50:00Z")
        response = client.post("/v1/flight-plans", json=body, headers=auth("other_operator"))
        assert response.status_code == 201, response.text
        assert response.json()["state"] == "pending_review", response.json()["decision"]
        ids.append(response.json()["id"])
    return filed, ids[0], ids[1]


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """Vertiport pairs all over Chengdu, and two in each other city."""
    vertiports = client.get("/v1/vertiports", headers=auth("admin")).json()["features"]
    by_city: dict[str, list[str]] = {}
    for feature in vertiports:
        by_city.setdefault(feature["properties"]["jurisdiction"], []).append(feature["id"])
    chengdu = sorted(by_city.pop("chengdu"))
    pairs = [(chengdu[i], chengdu[(i * 5 + 3) % len(chengdu)]) for i in range(len(chengdu))]
    for ids in by_city.values():
        pairs += [(ids[0], ids[1]), (ids[2], ids[0])]
    return [(origin, destination) for origin, destination in pairs if origin != destination]


@pytest.fixture(scope="module")
def demo(airspace_model: Airspace, planner: Planner,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The app over a SQLite file, seeded through the API, served on loopback."""
    zones_before = set(airspace_model.zones)
    clock = SteppedClock(NOW0)
    database = tmp_path_factory.mktemp("map") / "map.sqlite"
    app = create_app(Settings(database_url=f"sqlite:///{database}"), airspace=airspace_model,
                     planner=planner, clock=clock,
                     principals=PrincipalRegistry.from_documents(
                         PRINCIPALS, list(airspace_model.jurisdictions)))
    flights, pending_id, xss_id = seed(TestClient(app))
    port = free_port()
    # A short graceful shutdown: the page's event stream would otherwise hold the server.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name="uvicorn-map", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Demo(f"http://127.0.0.1:{port}", app, clock, pending_id, xss_id, flights)
    finally:
        server.should_exit = True
        thread.join(15)
        shutdown(app)
        for zone_id in set(airspace_model.zones) - zones_before:
            airspace_model.remove_zone(zone_id)


# -- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield launched
        launched.close()


@dataclass
class Visit:
    """A page with every request URL it made and every script error it raised."""

    page: Any
    requests: list[str]
    errors: list[str]

    def stat(self, name: str) -> int:
        return int(self.page.evaluate(f"window.__mapStats[{name!r}] ?? -1"))

    def wait_for_stat(self, name: str, predicate: str) -> int:
        self.page.wait_for_function(f"(window.__mapStats[{name!r}] ?? -1) {predicate}",
                                    timeout=WAIT_MS)
        return self.stat(name)

    def assert_offline(self) -> None:
        foreign = [url for url in self.requests
                   if urlsplit(url).scheme not in ("data", "blob")
                   and urlsplit(url).hostname != "127.0.0.1"]
        assert not foreign, f"requests left 127.0.0.1: {foreign}"
        assert not self.errors, f"script errors: {self.errors}"


@pytest.fixture
def visit(browser: Any) -> Iterator[Any]:
    """Opens the map in a fresh context (``token``: signed in through sessionStorage)."""
    contexts = []

    def open_map(base_url: str, token: str | None = None, query: str = "") -> Visit:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        contexts.append(context)
        requests: list[str] = []
        errors: list[str] = []

        def only_loopback(route: Any) -> None:
            if urlsplit(route.request.url).hostname == "127.0.0.1":
                route.continue_()
            else:
                route.abort()

        context.route("**/*", only_loopback)
        if token is not None:
            context.add_init_script(f"sessionStorage.setItem('utm-token', {token!r});")
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base_url}/map{query}")
        return Visit(page, requests, errors)

    yield open_map
    for context in contexts:
        context.close()


def api_get(demo: Demo, path: str, who: str) -> Any:
    response = httpx.get(demo.base_url + path, headers=auth(who), timeout=15)
    assert response.status_code == 200, response.text
    return response.json()


# -- the tests --------------------------------------------------------------------------------


def test_a_regulator_signs_in_and_approves_a_review_on_the_map(
        demo: Demo, visit: Any, tmp_path: Path) -> None:
    seen = visit(demo.base_url)
    page = seen.page
    page.fill("#token", TOKENS["regulator"])
    page.click("#signin-button")
    page.wait_for_function("window.__mapReady !== undefined", timeout=WAIT_MS)
    assert "chengdu-caac" in page.text_content("#whoami")

    # The layers are drawn: every flight the regulator may see in the window (three hours
    # from the server's clock), with the two pending reviews.
    end = format_instant(NOW0 + timedelta(hours=3))
    tracks = api_get(demo, f"/v1/map/flights?start_time={format_instant(NOW0)}&end_time={end}",
                     "regulator")["items"]
    assert {demo.pending_id, demo.xss_id} <= {track["id"] for track in tracks}
    assert len(tracks) >= 20
    assert seen.stat("cities") == 4
    assert seen.stat("zones") >= 10
    assert seen.stat("vertiports") >= 40
    assert seen.stat("corridors") >= 15
    assert seen.stat("flights") == len(tracks)
    assert page.locator(".leaflet-overlay-pane canvas").count() >= 1
    assert page.locator(".corridor-arrow").count() >= 10

    # A click on a flight's line shows that flight. The flight is brought to the front (on
    # one canvas the last drawn line under the pointer takes the click) and clicked halfway
    # along its longest stretch that the map itself shows (not under a control or a popup).
    line = page.evaluate("""() => {
        const [id, drawn] = app.tracks.entries().next().value;
        map.closePopup();
        map.fitBounds(drawn.line.getBounds(), { animate: false, padding: [80, 80] });
        drawn.line.bringToFront();
        const points = drawn.line.getLatLngs().map((p) => map.latLngToContainerPoint(p));
        const box = map.getContainer().getBoundingClientRect();
        const spots = points.slice(1).map((b, i) => ({ a: points[i], b }))
            .sort((s, t) => t.a.distanceTo(t.b) - s.a.distanceTo(s.b))
            .map(({ a, b }) => ({ x: Math.round((a.x + b.x) / 2), y: Math.round((a.y + b.y) / 2) }))
            .filter(({ x, y }) => {
                const under = document.elementFromPoint(box.left + x, box.top + y);
                return under !== null && under.tagName === "CANVAS";
            });
        return { id, ...spots[0] };
    }""")
    assert "x" in line, "no stretch of the flight's line is clickable"
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + line["x"], box["y"] + line["y"])
    page.wait_for_selector(f"#details-id:text('{line['id']}')", timeout=WAIT_MS)
    assert page.locator("#details-section").is_visible()

    # The pending reviews are listed, the script among them as text.
    assert seen.stat("reviews") == 2
    assert page.locator("#reviews li", has_text=XSS_PURPOSE).count() == 1
    page.click(f"#reviews li[data-flight-id='{demo.xss_id}']")
    page.wait_for_selector(f"#details-id:text('{demo.xss_id}')", timeout=WAIT_MS)
    assert XSS_PURPOSE in page.text_content("#details")
    assert page.evaluate("window.__xss") is None

    # Approve the inspection from the map: the flight is approved, the list shrinks.
    page.click(f"#reviews li[data-flight-id='{demo.pending_id}']")
    page.wait_for_selector(f"#details-id:text('{demo.pending_id}')", timeout=WAIT_MS)
    assert "chengdu: pending" in page.text_content("#details")
    page.fill("#review-note", "checked on the map")
    page.click("#review-actions button[data-action='approve']")
    page.wait_for_selector("#details .state:text('approved')", timeout=WAIT_MS)
    assert "chengdu: approved" in page.text_content("#details")
    assert seen.wait_for_stat("reviews", "=== 1") == 1
    flight = api_get(demo, f"/v1/flight-plans/{demo.pending_id}", "regulator")
    assert flight["state"] == "approved" and flight["reviews"] == {"chengdu": "approved"}

    # A decision made elsewhere appears without reloading (the event stream).
    page.wait_for_function("window.__mapStats.stream === 'open'", timeout=WAIT_MS)
    before = seen.stat("flights")
    filed = httpx.post(demo.base_url + "/v1/flight-plans", headers=auth("operator"), timeout=15,
                       json=plan_body(drone={"id": "late-1", "category": "light"},
                                      earliest_departure_time="2026-12-01T02:40:00Z",
                                      latest_departure_time="2026-12-01T03:00:00Z")).json()
    assert filed["state"] == "approved"
    page.wait_for_function(f"document.getElementById('events').textContent.includes("
                           f"{filed['id']!r})", timeout=WAIT_MS)
    assert seen.wait_for_stat("flights", f"=== {before + 1}") == before + 1

    # So does an alert: a flight reported off its volumes.
    approved = api_get(demo, "/v1/flight-plans?state=approved", "operator")["items"]
    flying = next(f for f in approved
                  if f["jurisdictions"] == ["chengdu"] and f["priority"] == "commercial")
    alerts_before = seen.stat("alerts")
    demo.clock.instant = parse_instant(flying["departure_time"])
    try:
        for path, body in ((f"/v1/flight-plans/{flying['id']}/activate", None),
                           (f"/v1/flight-plans/{flying['id']}/telemetry",
                            {"lat": 30.70, "lng": 104.20, "alt_agl_m": 50,
                             "time": flying["departure_time"]})):
            response = httpx.post(demo.base_url + path, json=body, headers=auth("operator"),
                                  timeout=15)
            assert response.status_code == 200, response.text
    finally:
        demo.clock.instant = NOW0
    assert seen.wait_for_stat("alerts", f"> {alerts_before}") > alerts_before
    assert page.locator("#alerts li", has_text="nonconforming").count() >= 1

    # The grid cells load once zoomed in enough, for the chosen altitude layer.
    assert seen.stat("cells") <= 0
    page.check("text=Airspace grid cells (H3)")
    page.evaluate("() => { map.setView([30.578, 103.947], 14); }")  # Shuangliu airport
    assert seen.wait_for_stat("cells", "> 0") > 0

    # The screenshot: Chengdu, the script's review open beside the map.
    page.click(f"#reviews li[data-flight-id='{demo.xss_id}']")
    page.wait_for_selector(f"#details-id:text('{demo.xss_id}')", timeout=WAIT_MS)
    page.wait_for_timeout(500)  # the zoom onto the flight
    page.evaluate("() => { map.setView([30.64, 104.05], 10.5, { animate: false }); }")
    page.wait_for_timeout(500)
    shot = tmp_path / "map.png"
    page.screenshot(path=str(shot))
    if os.environ.get("UTM_WRITE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)
    assert page.evaluate("window.__xss") is None
    seen.assert_offline()


def test_a_regulator_draws_a_constraint(demo: Demo, visit: Any) -> None:
    seen = visit(demo.base_url, TOKENS["regulator"])
    page = seen.page
    page.wait_for_function("window.__mapReady !== undefined", timeout=WAIT_MS)
    zones_before = seen.stat("zones")
    page.evaluate("() => { map.setView([30.66, 104.06], 13); }")
    page.click("#draw-button")
    box = page.locator("#map").bounding_box()
    for lat, lng in ((30.665, 104.05), (30.655, 104.07)):
        point = page.evaluate(f"map.latLngToContainerPoint([{lat}, {lng}])")
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_selector("#constraint-form", state="visible", timeout=WAIT_MS)
    page.select_option("#constraint-class", "prohibited")
    page.fill("#constraint-reason", "<b>parade</b>")
    page.click("#constraint-form button[type='submit']")
    page.wait_for_selector("#status:text('issued')", timeout=WAIT_MS)
    assert seen.wait_for_stat("zones", f"> {zones_before}") == zones_before + 1
    constraints = api_get(demo, "/v1/constraints?jurisdiction=chengdu", "regulator")["items"]
    issued = next(c for c in constraints if c["reason"] == "<b>parade</b>")
    assert issued["class"] == "prohibited" and issued["issued_by"] == "regulator:chengdu-caac"
    west, south = min(p[0] for p in issued["outline"]["coordinates"][0]), min(
        p[1] for p in issued["outline"]["coordinates"][0])
    assert west == pytest.approx(104.05, abs=2e-4) and south == pytest.approx(30.655, abs=2e-4)
    seen.assert_offline()


def test_a_bad_token_is_refused_and_nothing_is_drawn(demo: Demo, visit: Any) -> None:
    seen = visit(demo.base_url)
    page = seen.page
    page.fill("#token", "not-a-token-of-anyone")
    page.click("#signin-button")
    page.wait_for_selector("#status:text('not valid')", timeout=WAIT_MS)
    assert page.is_hidden("#reviews-section") and page.evaluate("window.__mapReady") is None
    assert page.evaluate("sessionStorage.getItem('utm-token')") is None
    seen.assert_offline()
