"""Where a day's decision time goes, by kind of decision, over a slice of the day.

Replays the day's first plans (untimed; the store they leave is kept as a snapshot file and
reused by later runs with the same day), then decides the next ``--count`` plans and prints,
per kind of outcome (rejected, approved as filed, later, at another altitude, around other
flights, emergencies), how many there were, their share of the time and their latency
percentiles, and the time spent re-planning what emergencies released (after their answer).

Example (the 600-pad day of the README, from its 30,000th plan; the snapshot takes about 20
minutes to build the first time):

    python benchmarks/decision_mix.py --extra-pads 600 --peak-share 0.3 \\
        --start 30000 --count 1800 --warm 300 --snapshot var/day-600pads-30000.sqlite

``--until-approved N`` starts the slice where ``utm bench`` takes its checkpoint of N approved
flights (the replay stops once N are approved; the plan number is kept beside the snapshot,
in ``<snapshot>.json``). ``--decisions FILE`` writes one line per decided plan of the slice,
so that two engines' decisions can be compared with ``cmp``: run the script once as it is
and once with ``PYTHONPATH`` pointing at a checkout of the other engine. The 50k checkpoint
of the README's 600-pad day:

    python benchmarks/decision_mix.py --extra-pads 600 --peak-share 0.3 \
        --until-approved 50000 --count 1200 --warm 200 \
        --snapshot var/day-600pads-50k.sqlite --decisions /tmp/decisions.txt

``--profile FILE`` also profiles the counted decisions (cProfile; slower, so its latencies are
not comparable with a run without it).
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import json
import pstats
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.progress import Progress

from airspace import Airspace, load_dataset
from routes import Planner
from utm.bench.runner import percentile
from utm.bench.scenario import ScenarioConfig, generate_day, with_extra_pads
from utm.engine import Engine
from utm.flights import Flight
from utm.plans import Priority
from utm.runtime import tune_garbage_collector
from utm.states import FlightState
from utm.storage import open_store


def kind_of(flight: Flight, priority: Priority) -> str:
    """The row a decision is counted in."""
    if priority is Priority.EMERGENCY:
        return "emergency"
    if flight.decision.state is FlightState.REJECTED:
        return "rejected"
    changes = " ".join(flight.decision.changes)
    kind = ("around other flights" if "route changed" in changes
            else "other altitude" if "cruise altitude" in changes else "as filed")
    return kind + (", later" if "departure moved" in changes else "")


def describe(flight: Flight, released: list[Flight]) -> str:
    """One decision as a line: state, departure, cruise altitude, volumes, changes, and the
    states of the flights it released that were re-planned after it."""
    cruise = flight.route.cruise_agl_m if flight.route is not None else None
    return (f"{flight.state.value} {flight.departure_time} {cruise} {len(flight.volumes)} "
            f"{'|'.join(flight.decision.changes)} {[r.state.value for r in released]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flights", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--extra-pads", type=int, default=600)
    parser.add_argument("--peak-share", type=float, default=0.3)
    parser.add_argument("--start", type=int, default=30_000,
                        help="plans replayed (untimed) before the slice")
    parser.add_argument("--count", type=int, default=1_800, help="plans in the slice")
    parser.add_argument("--warm", type=int, default=300,
                        help="first plans of the slice decided but not counted (caches)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write cProfile statistics of the slice's decisions to this file "
                             "and print the 25 functions with the most time of their own")
    parser.add_argument("--snapshot", type=Path, default=None,
                        help="SQLite file of the store after --start plans: reused if it "
                             "exists, else written")
    parser.add_argument("--until-approved", type=int, default=None,
                        help="start the slice once this many plans are approved (utm bench's "
                             "checkpoints), instead of at --start")
    parser.add_argument("--decisions", type=Path, default=None,
                        help="write one line per decided plan of the slice (to compare engines)")
    args = parser.parse_args()
    tune_garbage_collector()
    scenario = ScenarioConfig(flights=args.flights, seed=args.seed,
                              extra_pads=args.extra_pads, peak_share=args.peak_share)
    airspace = Airspace(with_extra_pads(load_dataset(), scenario.extra_pads, scenario.seed))
    planner = Planner(airspace)
    demands = list(generate_day(airspace, scenario))
    work = Path(tempfile.mkdtemp(prefix="utm-mix-")) / "store.sqlite"
    have_snapshot = args.snapshot is not None and args.snapshot.exists()
    start_file = Path(f"{args.snapshot}.json") if args.snapshot is not None else None
    if have_snapshot:
        shutil.copy(args.snapshot, work)
        if args.until_approved is not None:
            assert start_file is not None
            args.start = json.loads(start_file.read_text())["start"]
    engine = Engine(airspace, open_store(f"sqlite:///{work}", airspace.layers), planner=planner)
    # Engines before emergencies were answered first re-plan inside ``submit``.
    later: dict[str, Any] = ({"replan_later": True}
             if "replan_later" in inspect.signature(engine.submit).parameters else {})
    with Progress() as progress:
        if not have_snapshot and (args.start or args.until_approved is not None):
            total = args.start if args.until_approved is None else len(demands)
            task = progress.add_task("replaying up to the slice", total=total)
            approved, reached = 0, args.until_approved is None
            for number, demand in enumerate(demands[:total]):
                if args.until_approved is not None and approved >= args.until_approved:
                    args.start, reached = number, True
                    break
                if args.until_approved is None:
                    engine.submit(demand.plan, demand.filed_time)
                else:  # as utm bench replays the day
                    flight = engine.submit(demand.plan, demand.filed_time, **later)
                    engine.run_replans(demand.filed_time)
                    approved += flight.state is FlightState.APPROVED
                if number % 100 == 0:
                    progress.update(task, completed=number)
            if not reached:
                parser.error(f"the day approves only {approved:,} plans, fewer than "
                             f"--until-approved {args.until_approved:,}")
            progress.update(task, completed=total)
            if start_file is not None:
                start_file.parent.mkdir(parents=True, exist_ok=True)
                start_file.write_text(json.dumps({"start": args.start}))
            if args.snapshot is not None:
                engine.store.close()
                with sqlite3.connect(work) as connection:
                    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                args.snapshot.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(work, args.snapshot)
                engine = Engine(airspace, open_store(f"sqlite:///{work}", airspace.layers),
                                planner=planner)
        latencies: dict[str, list[float]] = defaultdict(list)
        replans_ms: list[float] = []
        replanned = 0
        task = progress.add_task("deciding the slice", total=args.count)
        lines: list[str] = []
        profiler = cProfile.Profile() if args.profile is not None else None
        for number, demand in enumerate(demands[args.start:args.start + args.count]):
            if profiler is not None and number == args.warm:
                profiler.enable()
            tick = time.perf_counter()
            flight = engine.submit(demand.plan, demand.filed_time, **later)
            elapsed_ms = (time.perf_counter() - tick) * 1000.0
            tick = time.perf_counter()
            released = engine.run_replans(demand.filed_time) if later else []
            lines.append(describe(flight, released))
            if number >= args.warm:
                latencies[kind_of(flight, demand.plan.priority)].append(elapsed_ms)
                if released:
                    replanned += len(released)
                    replans_ms.append((time.perf_counter() - tick) * 1000.0)
            progress.update(task, completed=number + 1)
    if args.decisions is not None:
        args.decisions.write_text("".join(line + "\n" for line in lines))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    everything = sorted(ms for values in latencies.values() for ms in values)
    total_ms = sum(everything)
    print(f"{len(everything)} decisions from plan {args.start + args.warm:,}: "
          f"{total_ms / 1000:.1f} s, p50 / p90 / p99 {percentile(everything, 0.5):.1f} / "
          f"{percentile(everything, 0.9):.1f} / {percentile(everything, 0.99):.1f} ms")
    print(f"{'kind':34} {'count':>6} {'time':>6} {'p50':>7} {'p90':>7} {'above p99':>9}")
    slowest = percentile(everything, 0.99)
    for kind, values in sorted(latencies.items(), key=lambda item: -sum(item[1])):
        values.sort()
        print(f"{kind:34} {len(values):6d} {sum(values) / total_ms:6.1%} "
              f"{statistics.median(values):7.1f} {percentile(values, 0.9):7.1f} "
              f"{sum(ms > slowest for ms in values):9d}")
    if replans_ms:
        replans_ms.sort()
        print(f"re-planning after emergencies (after their answer): {replanned} flights in "
              f"{len(replans_ms)} batches, {sum(replans_ms) / 1000:.1f} s, batch p50 "
              f"{statistics.median(replans_ms):.1f} ms, max {replans_ms[-1]:.1f} ms")
    engine.store.close()
    shutil.rmtree(work.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
