"""How long the regulator's map takes to become usable with 5,000 approved flights in view.

Example: python3 benchmarks/map_load.py --flights 5000 --runs 3

1. Seeds a SQLite file with ``--flights`` approved flights departing inside one three-hour
   window, decided by ``utm.engine.Engine`` itself (the bundled region plus 150 generated
   rooftop pads, so that the pads are not the bottleneck). The file is kept (``--db``) and
   topped up by later runs; seeding 5,000 flights takes about half an hour (the window is
   nearly full: towards the end fewer than half the plans find a slot), opening it a minute
   (the store indexes every volume held).
2. Serves it with uvicorn on 127.0.0.1 (a free port), the app built over the same airspace.
3. Opens ``/map`` in headless Debian chromium (Playwright), signed in as the admin (the token
   is put in ``sessionStorage`` before the page loads), with the time control on the window,
   ``--runs`` times in fresh browser contexts, and reads ``window.__mapReady``: the
   ``performance.now()`` at which map.js has drawn the flights layer and loaded the review list,
   that is milliseconds since the navigation started.

Prints each load and the median. The issue's target is under 3 s.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import uvicorn

from airspace import Airspace, load_dataset
from airspace.timing import format_instant
from api.app import create_app
from api.auth import PrincipalRegistry
from api.settings import Settings
from routes import Endpoint, Planner
from utm.bench.scenario import with_extra_pads
from utm.engine import Engine
from utm.plans import FlightPlan, Priority, make_drone
from utm.states import FlightState
from utm.storage import Store, open_store

WINDOW_START_TIME = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
"""09:00 in Chengdu."""
WINDOW = timedelta(hours=3)
FILED_TIME = WINDOW_START_TIME - timedelta(hours=1)
"""When the plans are filed and what the server's clock says (every city's lead time holds)."""
EXTRA_PADS = 150
SEED = 2026
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
READY_TIMEOUT_MS = 60_000


def build_airspace() -> Airspace:
    """The bundled region plus the benchmark's generated pads (the same every run)."""
    return Airspace(with_extra_pads(load_dataset(), EXTRA_PADS, SEED))


def count_approved(store: Store) -> int:
    """Approved flights flying in the window."""
    return len(store.list_flight_summaries(
        states=[FlightState.APPROVED], start_time=WINDOW_START_TIME,
        end_time=WINDOW_START_TIME + WINDOW, limit=1_000_000))


def seed(store: Store, airspace: Airspace, planner: Planner, flights: int) -> None:
    """File plans through the engine until ``flights`` approved ones fly in the window.

    Commercial plans only: an emergency may take an approved flight's slot, and the count
    must stay true. Continues a file seeded before (the random draws go on from its size).
    """
    engine = Engine(airspace, store, planner=planner)
    filed = len(store.list_flight_summaries(limit=1_000_000))
    rng = random.Random(SEED + filed)
    by_city: dict[str, list[str]] = {}
    for vertiport in airspace.vertiports.values():
        by_city.setdefault(vertiport.jurisdiction, []).append(vertiport.id)
    cities = sorted(by_city)
    weights = [5 if city == "chengdu" else 2 for city in cities]
    approved = count_approved(store)
    started = time.perf_counter()
    # The last departures leave room for the flight itself inside the window.
    latest_offset_s = (WINDOW - timedelta(minutes=50)).total_seconds()
    while approved < flights:
        city = rng.choices(cities, weights)[0]
        origin, destination = rng.sample(by_city[city], 2)
        departure = WINDOW_START_TIME + timedelta(seconds=round(rng.uniform(0, latest_offset_s)))
        plan = FlightPlan(
            operator_id=f"op-{rng.randint(1, 30):02d}",
            drone=make_drone(f"drone-{filed:05d}", rng.choices(["light", "small"], [85, 15])[0]),
            origin=Endpoint(origin), destination=Endpoint(destination),
            earliest_departure_time=departure,
            latest_departure_time=departure + timedelta(minutes=20),
            priority=Priority.COMMERCIAL, purpose="parcel delivery",
        )
        flight = engine.submit(plan, FILED_TIME, actor="benchmark")
        filed += 1
        approved += flight.state is FlightState.APPROVED
        if filed % 250 == 0:
            print(f"  filed {filed}, approved {approved} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"seeded: {approved} approved flights ({filed} plans in the file), "
          f"{time.perf_counter() - started:.0f} s", flush=True)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(app: object) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on loopback; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",  # type: ignore[arg-type]
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def measure(base_url: str, token: str, runs: int, screenshot: Path | None) -> list[float]:
    """Milliseconds from navigation start to ``window.__mapReady``, one per run."""
    from playwright.sync_api import sync_playwright

    start = quote(format_instant(WINDOW_START_TIME))
    end = quote(format_instant(WINDOW_START_TIME + WINDOW))
    url = f"{base_url}/map?start={start}&end={end}"
    loads: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            for run in range(runs):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                context.add_init_script(
                    f"sessionStorage.setItem('utm-token', {json.dumps(token)});")
                page = context.new_page()
                page.goto(url)
                page.wait_for_function("window.__mapReady !== undefined",
                                       timeout=READY_TIMEOUT_MS)
                ready_ms = float(page.evaluate("window.__mapReady"))
                drawn = page.evaluate("window.__mapStats")
                print(f"  load {run + 1}: {ready_ms:.0f} ms ({json.dumps(drawn)})", flush=True)
                loads.append(ready_ms)
                if screenshot is not None and run == runs - 1:
                    page.screenshot(path=str(screenshot))
                context.close()
        finally:
            browser.close()
    return loads


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flights", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", type=Path, default=Path("var/map-bench.sqlite"),
                        help="the seeded file (kept and reused)")
    parser.add_argument("--fresh", action="store_true", help="seed a new file")
    parser.add_argument("--seed-only", action="store_true", help="seed the file and stop")
    parser.add_argument("--screenshot", type=Path, default=None,
                        help="write a screenshot of the last load here")
    args = parser.parse_args()
    started = time.perf_counter()
    airspace = build_airspace()
    planner = Planner(airspace)
    print(f"airspace and routing graph built in {time.perf_counter() - started:.1f} s "
          f"({len(airspace.vertiports)} vertiports)", flush=True)
    if args.fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    args.db.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{args.db}"
    store = open_store(url, airspace.layers)  # indexes the flights held: a minute for 5,000
    seed(store, airspace, planner, args.flights)
    print(f"{count_approved(store)} approved flights in the window "
          f"({time.perf_counter() - started:.0f} s so far)", flush=True)
    if args.seed_only:
        store.close()
        return
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium fonts-noto-cjk")
    token = f"bench-admin-{secrets.token_urlsafe(18)}"
    principals = PrincipalRegistry.from_documents(
        [{"token": token, "role": "admin", "name": "benchmark"}], list(airspace.jurisdictions))
    app = create_app(Settings(database_url=url), airspace=airspace, planner=planner,
                     store=store, principals=principals, clock=lambda: FILED_TIME)
    try:
        with serving(app) as base_url:
            loads = measure(base_url, token, args.runs, args.screenshot)
    finally:
        store.close()
    print(f"map usable after {statistics.median(loads) / 1000:.2f} s "
          f"(median of {len(loads)} loads: "
          + ", ".join(f"{ms / 1000:.2f}" for ms in loads) + f" s) with {args.flights} "
          "approved flights in the window; target < 3 s")


if __name__ == "__main__":
    main()
