"""Approvals per second with 1, 2 and 4 `utm serve` nodes on PostgreSQL, against one node on
SQLite (a file): the same plans, filed over HTTP by N concurrent clients, round-robin over
the nodes.

Each run gets an empty database (a fresh PostgreSQL schema, dropped afterwards; a new SQLite
file) and real `utm serve` processes on loopback ports (started and warmed up with one plan
each before the clock starts; their start-up is not counted). The plans go between distinct
vertiport pairs spread over a day (10:00-20:00 in Sichuan, tomorrow), light drones, so most are
approved; about one in ten crosses two cities. Seconds run from the first request to the last
answer; latency is each request's, as a client sees it. After each run the independent checker
(tests/utm/checks.py) reads every flight back through the API and counts violations (expected:
0).

Example:
  python benchmarks/nodes_throughput.py --plans 200 --clients 16 \\
      --postgres-url postgresql://postgres@127.0.0.1:5432/utm_test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

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
    operator_token,
    planning_day,
    running_nodes,
    wire_flights,
    write_principals,
)

from airspace import load_dataset  # noqa: E402
from airspace.timing import format_instant  # noqa: E402

SPREAD = timedelta(hours=10)
"""Departures spread over 02:00-12:00 UTC (10:00-20:00 in Sichuan)."""
WINDOW = timedelta(minutes=15)
CROSS_CITY_SHARE = 0.1
RETRIES_503 = 3


@dataclass(frozen=True, slots=True)
class Row:
    """One configuration's figures."""

    nodes: int
    store: str
    plans: int
    approved: int
    seconds: float
    approvals_per_s: float
    p50_ms: float
    p99_ms: float
    other_answers: int
    """Answers that were not 201 after retries (503 twice, 4xx): expected 0."""
    violations: int
    """Found by the independent checker over every flight: expected 0."""


def make_plans(count: int, seed: int, day: datetime) -> list[dict[str, Any]]:
    """``count`` plan bodies between distinct vertiport pairs, departures spread over the day.

    Each request is filed by the operator of the node it goes to (the ``operator_id`` is set
    per request), so the bodies carry none."""
    rng = random.Random(seed)
    by_city: dict[str, list[str]] = {}
    for vertiport in load_dataset().vertiports:
        by_city.setdefault(vertiport.jurisdiction, []).append(vertiport.id)
    cities = sorted(by_city)
    same_city = [(a, b) for city in cities for a in by_city[city] for b in by_city[city] if a != b]
    cross_city = [(a, b) for a in by_city["chengdu"] for city in cities if city != "chengdu"
                  for b in by_city[city]]
    rng.shuffle(same_city)
    rng.shuffle(cross_city)
    used = {"same": 0, "cross": 0}
    plans = []
    for number in range(count):
        kind, pool = (("cross", cross_city) if rng.random() < CROSS_CITY_SHARE
                      else ("same", same_city))
        origin, destination = pool[used[kind] % len(pool)]  # distinct until all are used
        used[kind] += 1
        departure = day + SPREAD * (number / count) + timedelta(seconds=rng.randint(0, 120))
        plans.append({
            "origin": {"vertiport": origin}, "destination": {"vertiport": destination},
            "earliest_departure_time": format_instant(departure),
            "latest_departure_time": format_instant(departure + WINDOW),
            "drone": {"id": f"bench-{number:05d}", "category": "light"},
            "priority": "commercial", "purpose": "parcel",
        })
    rng.shuffle(plans)  # not in departure order: the nodes see the day in any order
    return plans


def file_plan(client: httpx.Client, node: Node, city: str,
              body: dict[str, Any]) -> tuple[int, str | None, float]:
    """(status, state if 201, seconds) of one plan; a 503 is retried after Retry-After."""
    started = time.perf_counter()
    status, state = 0, None
    for _ in range(RETRIES_503 + 1):
        response = client.post(f"{node.url}/v1/flight-plans", json=body,
                                headers=bearer(operator_token(city)))
        status = response.status_code
        if status != 503:
            break
        time.sleep(min(float(response.headers.get("Retry-After", "1")), 2.0))
    if status == 201:
        state = response.json()["state"]
    return status, state, time.perf_counter() - started


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@contextmanager
def database(store: str, postgres_url: str | None, work: Path) -> Iterator[str]:
    """An empty database of the kind asked for: its URL."""
    if store == "sqlite":
        path = work / f"bench-{time.monotonic_ns()}.sqlite"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    assert postgres_url is not None
    with fresh_schema(postgres_url, prefix="utm_bench") as url:
        yield url


def run_one(store: str, nodes_count: int, plans: list[dict[str, Any]], clients: int,
            postgres_url: str | None, work: Path, day: datetime) -> Row:
    """Start the nodes on an empty database, warm them up, fire the plans, check."""
    principals = write_principals(work / "principals.json")
    cities = CITIES[:nodes_count]
    with database(store, postgres_url, work) as url, \
            running_nodes(cities, url, principals, work / "logs") as nodes, \
            httpx.Client(timeout=120.0,
                         # Idle connections are dropped before uvicorn's 5 s keep-alive
                         # ends: a request sent on one it is closing is reset.
                         limits=httpx.Limits(max_connections=clients + 8,
                                             keepalive_expiry=2.0)) as client:
        # Warm-up: one plan per node two days later (caches, connections), not counted.
        for index, node in enumerate(nodes):
            warm = dict(plans[index], drone={"id": f"warm-{index}", "category": "light"},
                        earliest_departure_time=format_instant(day + timedelta(days=2)),
                        latest_departure_time=format_instant(day + timedelta(days=2, hours=1)))
            file_plan(client, node, node.name, warm)
        jobs = [(nodes[i % nodes_count], cities[i % nodes_count], body)
                for i, body in enumerate(plans)]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            results = list(pool.map(lambda job: file_plan(client, *job), jobs))
        seconds = time.perf_counter() - started
        flights = wire_flights(client, nodes[0], ADMIN_TOKEN)
    violations = check_invariants(flights)
    approved = sum(1 for _, state, _ in results if state == "approved")
    latencies_ms = [1000.0 * s for _, _, s in results]
    return Row(nodes_count, "PostgreSQL" if store == "postgresql" else "SQLite file",
               len(plans), approved, round(seconds, 2), round(approved / seconds, 1),
               round(percentile(latencies_ms, 0.5)), round(percentile(latencies_ms, 0.99)),
               sum(1 for status, _, _ in results if status != 201), len(violations))


def table(rows: Sequence[Row]) -> str:
    """A Markdown table (pasted as is into the README)."""
    lines = ["| nodes | store | plans | approved | seconds | approvals/s | p50 ms | p99 ms |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row.nodes} | {row.store} | {row.plans} | {row.approved} | "
                     f"{row.seconds:.1f} | {row.approvals_per_s:.1f} | {row.p50_ms:.0f} | "
                     f"{row.p99_ms:.0f} |")
    return "\n".join(lines)


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plans", type=int, default=200, help="plans per run (default 200)")
    parser.add_argument("--clients", type=int, default=16,
                        help="concurrent HTTP clients (default 16)")
    parser.add_argument("--nodes", default="1,2,4",
                        help="node counts to run on PostgreSQL (default 1,2,4; at most 4)")
    parser.add_argument("--postgres-url",
                        default=os.environ.get("UTM_TEST_POSTGRES_URL"),
                        help="a database the runs may create schemas in (default "
                             "$UTM_TEST_POSTGRES_URL); without it only SQLite runs")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    try:
        args.node_counts = [int(n) for n in args.nodes.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--nodes: a comma-separated list of integers, got {args.nodes!r}")
    if any(not 1 <= n <= len(CITIES) for n in args.node_counts):
        parser.error(f"--nodes: each between 1 and {len(CITIES)}")
    if args.plans < 1 or args.clients < 1:
        parser.error("--plans and --clients must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_arguments(argv)
    day = planning_day()
    plans = make_plans(args.plans, args.seed, day)
    runs = [] if args.no_sqlite else [("sqlite", 1)]
    if args.postgres_url:
        runs += [("postgresql", n) for n in args.node_counts]
    else:
        print("no --postgres-url (or UTM_TEST_POSTGRES_URL): SQLite only", file=sys.stderr)
    pg = postgres_version(args.postgres_url) if args.postgres_url else "-"
    print(f"{args.plans} plans, {args.clients} clients, {os.cpu_count()} CPUs (load average "
          f"{os.getloadavg()[0]:.1f} before), Python {platform.python_version()}, PostgreSQL "
          f"{pg}, departures on {day:%Y-%m-%d}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="utm-bench-") as folder:
        for store, count in runs:
            print(f"  {count} node(s) on {store} ...", file=sys.stderr, flush=True)
            row = run_one(store, count, plans, args.clients, args.postgres_url,
                          Path(folder), day)
            if row.other_answers or row.violations:
                print(f"  WARNING: {row.other_answers} answers other than 201, "
                      f"{row.violations} checker violations", file=sys.stderr)
            rows.append(row)
    print(table(rows))
    print(f"load average {os.getloadavg()[0]:.1f} after")
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
