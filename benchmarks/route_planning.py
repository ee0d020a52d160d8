"""Route planning latency over the bundled four-city dataset.

Builds the airspace and the planner (the routing graph), then plans N random intra-city
requests (both vertiports in one city) and N cross-city requests (vertiports in two different
cities, such as Chengdu centre to Deyang centre), drawn with a fixed seed, and prints the
p50 / p90 / p99 planning time of each group and the time to build the graph.

Numbers go to the README from a real run; no test asserts a time.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from airspace import Airspace, bundled_dataset_path, load_dataset
from routes import (
    DroneCategory,
    DronePerformance,
    Endpoint,
    Planner,
    RouteRequest,
    RoutingError,
)

DEPARTURE_TIME = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
"""10:00 Beijing time: every vertiport open, no temporary zone active (the tests' T0)."""

EPILOG = """\
example:
  python benchmarks/route_planning.py                 # 200 + 200 requests, seed 2026
  python benchmarks/route_planning.py --count 1000 --seed 7 --category micro

Run from a checkout installed with `pip install -e .` (or with PYTHONPATH=.).
Targets: cross-city p50 < 30 ms, intra-city p50 < 10 ms.
"""


@dataclass(frozen=True, slots=True)
class GroupResult:
    """Planning times of one group of requests."""

    name: str
    times_ms: list[float]
    failures: Counter[str]
    flight_minutes: list[float]


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--count", type=int, default=200,
                        help="requests per group (default: 200)")
    parser.add_argument("--seed", type=int, default=2026,
                        help="random seed for drawing vertiport pairs (default: 2026)")
    parser.add_argument("--dataset", type=Path, default=bundled_dataset_path("sichuan4"),
                        help="dataset folder (default: the bundled sichuan4)")
    parser.add_argument("--category", choices=[c.value for c in DroneCategory],
                        default=DroneCategory.LIGHT.value,
                        help="drone category, with its default performance (default: light)")
    arguments = parser.parse_args(argv)
    if arguments.count < 2:
        parser.error("--count must be at least 2 (percentiles need two samples)")
    return arguments


def draw_pairs(cities: dict[str, list[str]], count: int, rng: random.Random,
               same_city: bool) -> list[tuple[str, str]]:
    """``count`` (origin, destination) vertiport pairs, distinct, in one city or in two."""
    names = sorted(city for city, ids in cities.items() if len(ids) >= (2 if same_city else 1))
    pairs = []
    while len(pairs) < count:
        if same_city:
            city = rng.choice(names)
            origin, destination = rng.sample(cities[city], 2)
        else:
            origin_city, destination_city = rng.sample(names, 2)
            origin = rng.choice(cities[origin_city])
            destination = rng.choice(cities[destination_city])
        pairs.append((origin, destination))
    return pairs


def time_group(planner: Planner, name: str, pairs: list[tuple[str, str]],
               performance: DronePerformance) -> GroupResult:
    """Plan every pair once, timing each ``plan`` call alone."""
    times_ms: list[float] = []
    failures: Counter[str] = Counter()
    flight_minutes: list[float] = []
    for origin, destination in pairs:
        request = RouteRequest(Endpoint(vertiport_id=origin), Endpoint(vertiport_id=destination),
                               DEPARTURE_TIME, performance)
        started = time.perf_counter()
        try:
            route = planner.plan(request)
        except RoutingError as error:
            failures[type(error).__name__] += 1
            continue
        finally:
            times_ms.append((time.perf_counter() - started) * 1000.0)
        flight_minutes.append(route.duration_s / 60.0)
    return GroupResult(name, times_ms, failures, flight_minutes)


def percentiles_ms(times_ms: list[float]) -> tuple[float, float, float]:
    """p50, p90 and p99 (linear interpolation between order statistics)."""
    cuts = statistics.quantiles(times_ms, n=100, method="inclusive")
    return cuts[49], cuts[89], cuts[98]


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    performance = DronePerformance.default_for(DroneCategory(arguments.category))

    started = time.perf_counter()
    dataset = load_dataset(arguments.dataset)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    airspace = Airspace(dataset)
    airspace_s = time.perf_counter() - started
    started = time.perf_counter()
    planner = Planner(airspace)
    graph_s = time.perf_counter() - started
    graph = planner.graph.graph

    cities: dict[str, list[str]] = {}
    for vertiport in sorted(airspace.vertiports.values(), key=lambda v: v.id):
        cities.setdefault(vertiport.jurisdiction, []).append(vertiport.id)
    rng = random.Random(arguments.seed)
    intra = draw_pairs(cities, arguments.count, rng, same_city=True)
    cross = draw_pairs(cities, arguments.count, rng, same_city=False)

    # The first plan builds the planner's coarse zone index; time it apart from the rest.
    started = time.perf_counter()
    planner.plan_batch([RouteRequest(Endpoint(vertiport_id=intra[0][0]),
                                     Endpoint(vertiport_id=intra[0][1]),
                                     DEPARTURE_TIME, performance)])
    warm_up_ms = (time.perf_counter() - started) * 1000.0

    results = [time_group(planner, "intra-city", intra, performance),
               time_group(planner, "cross-city", cross, performance)]

    print(f"dataset {dataset.name}: {len(airspace.jurisdictions)} cities, "
          f"{len(airspace.vertiports)} vertiports, {len(airspace.corridors)} corridors, "
          f"{len(airspace.zones)} zones")
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"seed {arguments.seed}, {arguments.category} drone, departure "
          f"{DEPARTURE_TIME:%Y-%m-%dT%H:%M:%SZ}")
    print(f"load dataset      {load_s * 1000.0:9.1f} ms")
    print(f"build airspace    {airspace_s * 1000.0:9.1f} ms  (H3 res {airspace.resolution} "
          f"zone and corridor index)")
    print(f"build graph       {graph_s * 1000.0:9.1f} ms  ({graph.number_of_nodes()} nodes, "
          f"{graph.number_of_edges()} edges, H3 res {planner.graph.resolution})")
    print(f"first plan        {warm_up_ms:9.1f} ms  (builds the coarse zone index)")
    print()
    print(f"{'group':<12}{'requests':>9}{'failed':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}{'flight min p50':>16}")
    for result in results:
        p50, p90, p99 = percentiles_ms(result.times_ms)
        failed = sum(result.failures.values())
        flight = statistics.median(result.flight_minutes) if result.flight_minutes else 0.0
        print(f"{result.name:<12}{len(result.times_ms):>9}{failed:>8}{p50:>9.2f}{p90:>9.2f}"
              f"{p99:>9.2f}{max(result.times_ms):>9.2f}{flight:>16.1f}")
    for result in results:
        for kind, number in sorted(result.failures.items()):
            print(f"  {result.name}: {number} x {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
