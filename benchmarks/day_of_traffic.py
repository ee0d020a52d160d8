"""Replay a day of traffic through the engine against the naive baselines.

Example: python benchmarks/day_of_traffic.py --flights 10000 --seed 2026 --plot docs/bench.png
(the same as `utm bench`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from utm.bench.runner import BenchConfig, checkpoint_rows, plot, run
from utm.bench.scenario import ScenarioConfig
from utm.runtime import tune_garbage_collector


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flights", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--extra-pads", type=int, default=150)
    parser.add_argument("--peak-share", type=float, default=0.6,
                        help="share of the plans in the morning and evening peaks")
    parser.add_argument("--hot-spots", type=int, default=6,
                        help="Chengdu vertiports where a share of the demand clusters")
    parser.add_argument("--first-plans", type=int, default=None,
                        help="replay only the day's first N plans in filing order")
    parser.add_argument("--samples", type=int, default=20,
                        help="plans decided by every strategy at each checkpoint")
    parser.add_argument("--plot", type=Path, default=None, help="write the latency PNG here")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    config = BenchConfig(ScenarioConfig(flights=args.flights, seed=args.seed,
                                        extra_pads=args.extra_pads,
                                        peak_share=args.peak_share,
                                        hot_spots=args.hot_spots),
                         baseline_samples=args.samples, first_plans=args.first_plans)
    tune_garbage_collector()  # as `utm bench` and `utm serve` do
    result = run(config, progress=lambda done, total: print(f"  {done}/{total}", flush=True))
    figures = result.summary()
    print(json.dumps(figures, indent=2))
    rows = checkpoint_rows(result)
    for row in rows:
        print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps({"summary": figures, "checkpoints": rows}, indent=2))
    if args.plot:
        plot(result, args.plot)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
