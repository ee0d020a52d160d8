"""Sustained mixed traffic against a real `utm serve` on loopback: requests per second, latency
percentiles and errors, per kind of request and overall.

The script starts the server itself (`python -m api.cli serve` on a free loopback port) on a
new SQLite file in a temporary folder, or on a fresh schema of `--postgres-url` (dropped
afterwards). Before the server starts it files `--flying` plans for flights that depart
during the run (Chengdu hospital pads, open day and night, in a city without curfew), through
the engine on the same database, as if filed an hour earlier; the server then sees them
approved, and the load activates them when their first volume begins, reports their
positions while they fly and ends them when they land.

`--users` virtual users then run back to back (closed loop, no think time) for `--duration-s`
seconds after `--warmup-s` seconds not counted, each request drawn from this mix:

| share | request | expected |
|---:|---|---|
| 20 % | `POST /v1/flight-plans` (a new plan for tomorrow, 10 % cross-city) | 201 |
| 30 % | `GET /v1/flight-plans/{id}` (one of the plans filed during the run) | 200 |
| 10 % | `GET /v1/flight-plans?limit=20` | 200 |
| 10 % | `GET /v1/approvals/{id}` (no token) | 200 |
| 30 % | `POST /v1/flight-plans/{id}/telemetry` (a flying flight's position now) | 200 |

A telemetry turn activates a flight whose first volume has begun (`activate`) and ends one
whose last volume is over (`end`) instead of reporting; those are counted under their names.

A plan the engine cannot decide as filed (422 `no_route`, say) is an intended 4xx and
counted apart; every other status, a 5xx above all, and every transport error is an error.
At the end the independent checker (tests/utm/checks.py) reads every flight back through the
API and counts invariant violations (expected: 0).

Example:
  python benchmarks/load_test.py --duration-s 180 --users 16
  python benchmarks/load_test.py --duration-s 60 \\
      --postgres-url postgresql://postgres@127.0.0.1:5432/utm_test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT_ROOT / "tests" / "multinode"), str(PROJECT_ROOT / "tests" / "utm"),
                str(PROJECT_ROOT)]

from checks import check_invariants  # noqa: E402  (tests/utm: the independent checker)
from utm_cluster import (  # noqa: E402  (tests/multinode: starting and stopping nodes)
    ADMIN_TOKEN,
    CITIES,
    Node,
    bearer,
    fresh_schema,
    operator_id,
    operator_token,
    planning_day,
    running_nodes,
    wire_flights,
    write_principals,
)

from airspace import Airspace, load_dataset  # noqa: E402
from airspace.timing import format_instant  # noqa: E402

MIX: tuple[tuple[str, int], ...] = (
    ("file_plan", 20), ("read_plan", 30), ("list_plans", 10), ("check_approval", 10),
    ("telemetry", 30),
)
"""Request kinds and their weights (percent)."""

FLYING_PADS = ("CD-WCH", "CD-PPH", "CD-TCM", "CD-SLH")
"""Hospital pads in Chengdu: open day and night, and Chengdu has no curfew, so the flights
that fly during the run are approved whatever the hour."""

FLOWN_BEFORE = timedelta(minutes=20)
"""The flights flown during the run depart from this long before it (they last 2 to 35 min)."""

CROSS_CITY_SHARE = 0.1
PLAN_WINDOW = timedelta(minutes=15)
REQUEST_TIMEOUT_S = 60.0


# -- the plans --------------------------------------------------------------------------------


@dataclass(slots=True)
class PlanSource:
    """Plan bodies for tomorrow between random vertiport pairs (the day's 10:00-20:00 in
    Sichuan, light drones), one operator per city."""

    rng: random.Random
    day: datetime
    same_city: dict[str, list[tuple[str, str]]]
    cross_city: list[tuple[str, str]]
    number: int = 0

    @classmethod
    def build(cls, seed: int, day: datetime) -> PlanSource:
        by_city: dict[str, list[str]] = {}
        for vertiport in load_dataset().vertiports:
            by_city.setdefault(vertiport.jurisdiction, []).append(vertiport.id)
        same = {city: [(a, b) for a in ids for b in ids if a != b]
                for city, ids in by_city.items()}
        cross = [(a, b) for a in by_city["chengdu"] for city in by_city if city != "chengdu"
                 for b in by_city[city]]
        return cls(random.Random(seed), day, same, cross)

    def next(self) -> tuple[str, dict[str, Any]]:
        """(city of the filing operator, plan body)."""
        self.number += 1
        if self.rng.random() < CROSS_CITY_SHARE:
            city, (origin, destination) = "chengdu", self.rng.choice(self.cross_city)
        else:
            city = self.rng.choice(CITIES)
            origin, destination = self.rng.choice(self.same_city[city])
        departure = self.day + timedelta(seconds=self.rng.randrange(0, 10 * 3600))
        return city, {
            "origin": {"vertiport": origin}, "destination": {"vertiport": destination},
            "earliest_departure_time": format_instant(departure),
            "latest_departure_time": format_instant(departure + PLAN_WINDOW),
            "drone": {"id": f"load-{self.number:06d}", "category": "light"},
            "priority": "commercial", "purpose": "parcel",
        }


# -- flights that fly during the run ----------------------------------------------------------


@dataclass(slots=True)
class Flying:
    """A flight filed before the run that departs during it."""

    id: str
    volumes: list[dict[str, Any]]
    """Wire volumes (outline, floor, ceiling, start and end)."""
    state: str = "approved"
    busy: bool = False
    reports: int = 0

    @property
    def start_time(self) -> datetime:
        return datetime.fromisoformat(self.volumes[0]["start_time"])

    @property
    def end_time(self) -> datetime:
        return datetime.fromisoformat(self.volumes[-1]["end_time"])

    def position_at(self, instant: datetime) -> dict[str, Any] | None:
        """Where the flight is at ``instant``: the middle of the volume it is in (a volume's
        outline is convex, so its centroid lies inside)."""
        from shapely.geometry import shape

        for volume in self.volumes:
            if datetime.fromisoformat(volume["start_time"]) <= instant < datetime.fromisoformat(
                    volume["end_time"]):
                centroid = shape(volume["outline"]).centroid
                return {"lat": centroid.y, "lng": centroid.x,
                        "alt_agl_m": (volume["floor_agl_m"] + volume["ceiling_agl_m"]) / 2,
                        "time": format_instant(instant)}
        return None


def file_flying(database_url: str, count: int, first_departure: datetime,
                spread: timedelta) -> list[str]:
    """File ``count`` plans between the hospital pads departing from ``first_departure`` over
    ``spread``, through the engine on the database, an hour before; their ids (approved)."""
    from routes import Endpoint, Planner
    from utm.engine import Engine
    from utm.plans import FlightPlan, Priority, make_drone
    from utm.states import FlightState
    from utm.storage import open_store

    airspace = Airspace(load_dataset())
    store = open_store(database_url, airspace.layers)
    try:
        engine = Engine(airspace, store, planner=Planner(airspace))
        filed_time = first_departure - timedelta(hours=1)
        pairs = [(a, b) for a in FLYING_PADS for b in FLYING_PADS if a != b]
        ids = []
        for number in range(count):
            origin, destination = pairs[number % len(pairs)]
            # Staggered, each free to leave until the end of the run: the four pads are few.
            departure = first_departure + spread * (number / max(1, count))
            plan = FlightPlan(operator_id("chengdu"), make_drone(f"flying-{number:03d}", "light"),
                              Endpoint(origin), Endpoint(destination), departure,
                              max(departure, first_departure + spread),
                              priority=Priority.COMMERCIAL, purpose="hospital shuttle")
            flight = engine.submit(plan, filed_time, actor="load-test")
            if flight.state is FlightState.APPROVED:
                ids.append(flight.id)
        return ids
    finally:
        store.close()


# -- measuring --------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """What one kind of request got."""

    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    intended_4xx: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)


@dataclass(slots=True)
class LoadState:
    """Shared by the virtual users."""

    node: Node
    plans: PlanSource
    flying: list[Flying]
    measuring: bool = False
    stopping: bool = False
    filed: list[tuple[str, str]] = field(default_factory=list)
    """(flight id, city of its operator) of every plan filed during the run."""
    approvals: list[str] = field(default_factory=list)
    tallies: dict[str, Tally] = field(default_factory=dict)

    def record(self, kind: str, seconds: float, status: int | None, *, expected: int,
               text: str = "") -> None:
        if not self.measuring:
            return
        tally = self.tallies.setdefault(kind, Tally())
        tally.latencies_s.append(seconds)
        key = -1 if status is None else status
        tally.statuses[key] = tally.statuses.get(key, 0) + 1
        if status == expected:
            return
        if status is not None and 400 <= status < 500 and status not in (401, 403, 404, 429):
            tally.intended_4xx += 1  # e.g. 422 no_route: the plan cannot be decided as filed
            return
        tally.errors += 1
        if len(tally.error_samples) < 5:
            tally.error_samples.append(f"{status}: {text[:200]}")

    def fail(self, kind: str, text: str) -> None:
        """A 2xx answer that is wrong all the same."""
        if self.measuring:
            tally = self.tallies.setdefault(kind, Tally())
            tally.errors += 1
            if len(tally.error_samples) < 5:
                tally.error_samples.append(text[:200])


async def call(state: LoadState, client: httpx.AsyncClient, kind: str, method: str, url: str,
               *, expected: int, **options: Any) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **options)
    except httpx.HTTPError as error:
        state.record(kind, time.perf_counter() - started, None, expected=expected,
                     text=f"{type(error).__name__}: {error}")
        return None
    state.record(kind, time.perf_counter() - started, response.status_code, expected=expected,
                 text=response.text)
    return response


async def file_plan(state: LoadState, client: httpx.AsyncClient) -> None:
    city, body = state.plans.next()
    response = await call(state, client, "file_plan", "POST", "/v1/flight-plans", json=body,
                          headers=bearer(operator_token(city)), expected=201)
    if response is not None and response.status_code == 201:
        answer = response.json()
        state.filed.append((answer["id"], city))
        if answer["approval_id"]:
            state.approvals.append(answer["approval_id"])


async def read_plan(state: LoadState, client: httpx.AsyncClient) -> None:
    if not state.filed:
        return await file_plan(state, client)
    flight_id, city = random.choice(state.filed)
    await call(state, client, "read_plan", "GET", f"/v1/flight-plans/{flight_id}",
               headers=bearer(operator_token(city)), expected=200)
    return None


async def list_plans(state: LoadState, client: httpx.AsyncClient) -> None:
    city = random.choice(CITIES)
    await call(state, client, "list_plans", "GET", "/v1/flight-plans",
               params={"limit": 20}, headers=bearer(operator_token(city)), expected=200)


async def check_approval(state: LoadState, client: httpx.AsyncClient) -> None:
    if not state.approvals:
        return await file_plan(state, client)
    approval_id = random.choice(state.approvals)
    response = await call(state, client, "check_approval", "GET", f"/v1/approvals/{approval_id}",
                          expected=200)
    if response is not None and response.status_code == 200 and not response.json()["valid"]:
        state.fail("check_approval", f"not valid: {response.text}")  # issued here: must verify
    return None


async def telemetry(state: LoadState, client: httpx.AsyncClient) -> None:
    """A position of a flying flight; first its activation, at the end its landing."""
    now = datetime.now(UTC)
    headers = bearer(operator_token("chengdu"))
    candidates = [f for f in state.flying if not f.busy and f.state != "ended"
                  and f.start_time <= now]
    if not candidates:
        return await read_plan(state, client)
    flight = random.choice(candidates)
    flight.busy = True
    try:
        if flight.state == "approved":
            response = await call(state, client, "activate", "POST",
                                  f"/v1/flight-plans/{flight.id}/activate", headers=headers,
                                  expected=200)
            if response is not None and response.status_code == 200:
                flight.state = "activated"
            return None
        position = flight.position_at(now)
        if position is None:  # landed
            response = await call(state, client, "end", "POST",
                                  f"/v1/flight-plans/{flight.id}/end", headers=headers,
                                  expected=200)
            if response is not None and response.status_code == 200:
                flight.state = "ended"
            return None
        response = await call(state, client, "telemetry", "POST",
                              f"/v1/flight-plans/{flight.id}/telemetry", json=position,
                              headers=headers, expected=200)
        if response is not None and response.status_code == 200:
            flight.reports += 1
            if response.json()["state"] != "activated":  # on its volumes: conforming
                state.fail("telemetry", f"not conforming: {response.text}")
        return None
    finally:
        flight.busy = False


ACTIONS = {"file_plan": file_plan, "read_plan": read_plan, "list_plans": list_plans,
           "check_approval": check_approval, "telemetry": telemetry}


async def user(state: LoadState, client: httpx.AsyncClient, seed: int) -> None:
    rng = random.Random(seed)
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    while not state.stopping:
        await ACTIONS[rng.choices(kinds, weights)[0]](state, client)


async def run_load(state: LoadState, users: int, warmup_s: float,
                   duration_s: float) -> float:
    """Run the users; seconds measured."""
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(base_url=state.node.url, timeout=REQUEST_TIMEOUT_S,
                                 limits=limits) as client:
        tasks = [asyncio.create_task(user(state, client, seed)) for seed in range(users)]
        await asyncio.sleep(warmup_s)
        state.measuring = True
        started = time.perf_counter()
        await asyncio.sleep(duration_s)
        state.measuring = False
        measured_s = time.perf_counter() - started
        state.stopping = True
        await asyncio.gather(*tasks)
    return measured_s


# -- the report -------------------------------------------------------------------------------


def percentile_ms(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(state: LoadState, measured_s: float, violations: int, args: argparse.Namespace,
           server_cpu_s: float) -> dict[str, Any]:
    rows = []
    all_latencies: list[float] = []
    totals = {"requests": 0, "errors": 0, "intended_4xx": 0}
    for kind in [*ACTIONS, "activate", "end"]:
        tally = state.tallies.get(kind)
        if tally is None:
            continue
        count = len(tally.latencies_s)
        all_latencies += tally.latencies_s
        totals["requests"] += count
        totals["errors"] += tally.errors
        totals["intended_4xx"] += tally.intended_4xx
        rows.append({"kind": kind, "requests": count, "rps": count / measured_s,
                     "p50_ms": percentile_ms(tally.latencies_s, 0.50),
                     "p99_ms": percentile_ms(tally.latencies_s, 0.99),
                     "max_ms": 1000 * max(tally.latencies_s),
                     "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
                     "intended_4xx": tally.intended_4xx, "errors": tally.errors,
                     "error_samples": tally.error_samples})
    overall = {"requests": totals["requests"], "rps": totals["requests"] / measured_s,
               "p50_ms": percentile_ms(all_latencies, 0.50),
               "p99_ms": percentile_ms(all_latencies, 0.99),
               "errors": totals["errors"], "intended_4xx": totals["intended_4xx"],
               "error_rate": totals["errors"] / max(1, totals["requests"])}
    print(f"\n{args.store}, {args.users} users, {measured_s:.0f} s measured after "
          f"{args.warmup_s:.0f} s warm-up; machine: {platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'request':<16}{'count':>8}{'rps':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'4xx':>6}{'errors':>8}")
    for row in rows:
        print(f"{row['kind']:<16}{row['requests']:>8}{row['rps']:>8.1f}{row['p50_ms']:>9.1f}"
              f"{row['p99_ms']:>9.1f}{row['max_ms']:>9.0f}{row['intended_4xx']:>6}"
              f"{row['errors']:>8}")
        for sample in row["error_samples"]:
            print(f"    {sample}")
    print(f"{'all':<16}{overall['requests']:>8}{overall['rps']:>8.1f}"
          f"{overall['p50_ms']:>9.1f}{overall['p99_ms']:>9.1f}{'':>9}"
          f"{overall['intended_4xx']:>6}{overall['errors']:>8}")
    flying = [f for f in state.flying if f.reports]
    print(f"flights flown during the run: {len(flying)} of {len(state.flying)} "
          f"({sum(f.reports for f in state.flying)} positions); plans filed "
          f"{len(state.filed)}; server CPU {server_cpu_s:.0f} s "
          f"({100 * server_cpu_s / measured_s:.0f} % of one core); checker violations "
          f"{violations}")
    return {"store": args.store, "users": args.users, "duration_s": measured_s,
            "warmup_s": args.warmup_s, "cores": os.cpu_count(), "overall": overall,
            "rows": rows, "flights_flown": len(flying), "plans_filed": len(state.filed),
            "server_cpu_s": server_cpu_s, "violations": violations}


# -- main -------------------------------------------------------------------------------------


@contextmanager
def database(args: argparse.Namespace, folder: Path) -> Iterator[str]:
    if args.postgres_url:
        with fresh_schema(args.postgres_url, prefix="utm_load") as url:
            yield url
    else:
        yield f"sqlite:///{folder / 'load.sqlite'}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Example: python benchmarks/load_test.py --duration-s 180 --users 16",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration-s", type=float, default=180.0,
                        help="seconds measured (default 180)")
    parser.add_argument("--warmup-s", type=float, default=10.0,
                        help="seconds of load before measuring (default 10)")
    parser.add_argument("--users", type=int, default=16,
                        help="concurrent virtual users, back to back (default 16)")
    parser.add_argument("--flying", type=int, default=24,
                        help="flights filed beforehand to fly during the run (default 24)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--postgres-url", default=None,
                        help="run on a fresh schema of this PostgreSQL database instead of a "
                             "SQLite file")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    args.store = "PostgreSQL" if args.postgres_url else "SQLite file"
    random.seed(args.seed)

    with tempfile.TemporaryDirectory(prefix="utm-load-") as temp, \
            database(args, Path(temp)) as url:
        folder = Path(temp)
        principals = write_principals(folder / "principals.json")
        # Departures from FLOWN_BEFORE before the run to its end (the first ones are in the
        # air when it starts; a flight may be activated late, never early).
        first_departure = datetime.now(UTC) - FLOWN_BEFORE
        print(f"filing {args.flying} flights that fly during the run ...", flush=True)
        flying_ids = file_flying(url, args.flying, first_departure, FLOWN_BEFORE + timedelta(
            seconds=args.duration_s + args.warmup_s + 60))
        print(f"starting utm serve on {args.store} ...", flush=True)
        with running_nodes(["load"], url, principals, folder / "logs") as nodes:
            node = nodes[0]
            with httpx.Client(base_url=node.url, timeout=30.0) as client:
                flying = [Flying(flight_id, client.get(
                    f"/v1/flight-plans/{flight_id}", headers=bearer(ADMIN_TOKEN)).json()
                    ["volumes"]) for flight_id in flying_ids]
            state = LoadState(node, PlanSource.build(args.seed, planning_day()), flying)
            server = psutil.Process(node.process.pid)
            cpu_before = sum(server.cpu_times()[:2])
            print(f"{args.users} users for {args.warmup_s:.0f} + {args.duration_s:.0f} s "
                  "...", flush=True)
            measured_s = asyncio.run(run_load(state, args.users, args.warmup_s,
                                              args.duration_s))
            server_cpu_s = sum(server.cpu_times()[:2]) - cpu_before
            with httpx.Client(timeout=120.0) as client:
                docs = wire_flights(client, node)
            violations = len(check_invariants(docs))
            tail = node.log_tail(2000)
        server_errors = sum(1 for line in tail.splitlines()
                            if " 500 " in line or "Traceback" in line)
        figures = report(state, measured_s, violations, args, server_cpu_s)
        figures["server_log_errors"] = server_errors
        if server_errors:
            print(f"the server logged {server_errors} errors (500 or traceback)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
