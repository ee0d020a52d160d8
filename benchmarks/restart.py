"""How long a node restarted on a busy SQLite file takes to give its first answer.

Opens a copy of a store file left by a day of traffic (the snapshot
``benchmarks/decision_mix.py`` writes), then decides the day's next plan, as a node restarted in
the middle of the day would: seconds to open, seconds to that first answer, and how many flights
the store read into memory (the flights held from an hour before the plan on; those that ended
earlier stay in the file). The decision is printed too, so that two engines' runs can be
compared.

Example (the 600-pad day after 30,000 plans; the file is copied first, the original is left
alone; a file written before ``held_until_us`` existed gets the column on its first opening):

    python benchmarks/restart.py var/day-600pads-30000.sqlite --plan 30000 --extra-pads 600
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from airspace import Airspace, load_dataset
from routes import Planner
from utm.bench.scenario import ScenarioConfig, generate_day, with_extra_pads
from utm.engine import Engine
from utm.storage import open_store
from utm.storage.sqlite import SqliteStore


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", type=Path, help="a SQLite store file left by a day")
    parser.add_argument("--plan", type=int, default=30_000,
                        help="number of the day's plan to decide first (the one after the "
                             "snapshot)")
    parser.add_argument("--flights", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--extra-pads", type=int, default=600)
    parser.add_argument("--peak-share", type=float, default=0.3)
    args = parser.parse_args()
    scenario = ScenarioConfig(flights=args.flights, seed=args.seed, extra_pads=args.extra_pads,
                              peak_share=args.peak_share)
    airspace = Airspace(with_extra_pads(load_dataset(), scenario.extra_pads, scenario.seed))
    planner = Planner(airspace)
    demand = list(generate_day(airspace, scenario))[args.plan]
    work = Path(tempfile.mkdtemp(prefix="utm-restart-")) / "store.sqlite"
    shutil.copy(args.database, work)
    tick = time.perf_counter()
    store = open_store(f"sqlite:///{work}", airspace.layers)
    opened_s = time.perf_counter() - tick
    engine = Engine(airspace, store, planner=planner)
    flight = engine.submit(demand.plan, demand.filed_time, replan_later=True)
    answered_s = time.perf_counter() - tick
    held = len(store.index) if isinstance(store, SqliteStore) else 0
    print(f"opened in {opened_s:.1f} s; first answer after {answered_s:.1f} s "
          f"({flight.state.value}, departure {flight.departure_time}); {held:,} flights read "
          "into memory")
    store.close()
    shutil.rmtree(work.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
