"""Replay a day of traffic through the engine, and compare with the naive baselines.

Latency is measured per decision (plan, deconflict, apply policies, store) as the number of
approved flights grows. At checkpoints (1k, 10k, 50k, 100k approved) the next plans are also
decided by the naive baselines on the same state (dry runs: nothing stored), and the decisions
must be identical; the speed ratio is reported there.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

from airspace import Airspace, load_dataset
from routes import Planner
from utm.bench.scenario import Demand, ScenarioConfig, generate_day, with_extra_pads
from utm.engine import Engine
from utm.flights import Flight
from utm.plans import FlightPlan
from utm.states import FlightState
from utm.storage import open_store

CHECKPOINTS = (1_000, 10_000, 50_000, 100_000)
STRATEGIES = ("index", "scan", "strtree")


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to run."""

    scenario: ScenarioConfig
    database: str | None = None
    """SQLite file; None: a temporary file (the embedded default, WAL)."""
    baseline_samples: int = 20
    """Plans decided by every strategy at each checkpoint."""
    window: int = 1_000
    """Decisions after each checkpoint whose latencies are reported for it."""
    first_plans: int | None = None
    """Replay only the day's first plans (in filing order), e.g. up to its morning peak."""


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of ``values`` (any order); 0.0 for none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


@dataclass(slots=True)
class Checkpoint:
    """Figures at one size of the approved traffic."""

    approved: int
    latencies_ms: list[float] = field(default_factory=list)
    baseline_ms: dict[str, list[float]] = field(default_factory=dict)
    identical: bool = True


@dataclass(slots=True)
class BenchResult:
    """Everything the benchmark measured."""

    decisions: int = 0
    states: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    peak_rss_mib: float = 0.0
    delays_s: list[float] = field(default_factory=list)
    altitude_changes: int = 0
    reroutes: int = 0
    added_m: list[float] = field(default_factory=list)
    """Per approved flight: metres it flies beyond its route as filed (0: as filed)."""
    added_s: list[float] = field(default_factory=list)
    """Per approved flight: seconds of flight beyond its route as filed."""
    rerouted_added_m: list[float] = field(default_factory=list)
    rerouted_added_s: list[float] = field(default_factory=list)
    """The same, for the flights re-routed around other flights only."""
    latencies_ms: list[float] = field(default_factory=list)
    approved_at: list[int] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    setup_s: float = 0.0
    replanned: int = 0
    """Flights released by an emergency and re-planned after its answer."""
    replan_batches_ms: list[float] = field(default_factory=list)
    """Time to re-plan what each emergency released (not in ``latencies_ms``: the emergency
    was answered before)."""

    def summary(self) -> dict[str, Any]:
        """Figures for printing and for the README."""
        approved = self.states.get("approved", 0)
        return {
            "decisions": self.decisions,
            "states": dict(self.states),
            "approval_rate": approved / self.decisions if self.decisions else 0.0,
            "throughput_per_s": self.decisions / self.elapsed_s if self.elapsed_s else 0.0,
            "elapsed_s": self.elapsed_s,
            "setup_s": self.setup_s,
            "peak_rss_mib": self.peak_rss_mib,
            "mean_delay_s": _mean(self.delays_s),
            "altitude_changes": self.altitude_changes,
            "reroutes": self.reroutes,
            "mean_added_distance_m": _mean(self.added_m),
            "mean_added_flight_s": _mean(self.added_s),
            "rerouted_mean_added_distance_m": _mean(self.rerouted_added_m),
            "rerouted_mean_added_flight_s": _mean(self.rerouted_added_s),
            "p50_ms": statistics.median(self.latencies_ms) if self.latencies_ms else 0.0,
            "replanned_after_emergencies": self.replanned,
            "replan_batches": len(self.replan_batches_ms),
            "replan_batch_p50_ms": (statistics.median(self.replan_batches_ms)
                                    if self.replan_batches_ms else 0.0),
            "replan_batch_max_ms": max(self.replan_batches_ms, default=0.0),
        }


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _record_resolution(result: BenchResult, engine: Engine, plan: FlightPlan,
                       flight: Flight) -> None:
    """What resolution changed in an approved flight's route: counted (another cruise
    altitude, a route around other flights), and measured (distance and flight time beyond
    the route as filed)."""
    changes = " ".join(flight.decision.changes)
    rerouted, other_layer = "route changed" in changes, "cruise altitude" in changes
    result.altitude_changes += other_layer
    result.reroutes += rerouted
    added_m = added_s = 0.0
    if rerouted or other_layer:
        filed = engine.route_as_filed(plan)
        assert flight.route is not None and filed is not None  # it was decided from it
        added_m = flight.route.distance_m - filed.distance_m
        added_s = flight.route.duration_s - filed.duration_s
    result.added_m.append(added_m)
    result.added_s.append(added_s)
    if rerouted:
        result.rerouted_added_m.append(added_m)
        result.rerouted_added_s.append(added_s)


def _decide_all(engine: Engine, demand: Demand) -> dict[str, tuple[Flight, float]]:
    results = {}
    original = engine.config
    try:
        for strategy in STRATEGIES:
            engine.config = replace(original, candidate_strategy=strategy)
            started = time.perf_counter()
            flight = engine.evaluate(demand.plan, demand.filed_time)
            results[strategy] = (flight, (time.perf_counter() - started) * 1000.0)
    finally:
        engine.config = original
    return results


def _same_decision(a: Flight, b: Flight) -> bool:
    return (a.state == b.state and a.departure_time == b.departure_time
            and [v.to_json() for v in a.volumes] == [v.to_json() for v in b.volumes])


def run(config: BenchConfig, progress: Callable[[int, int], None] | None = None) -> BenchResult:
    """Build the region, replay the day, measure. Raises AssertionError if a baseline ever
    decides differently from the engine."""
    process = psutil.Process()
    started = time.perf_counter()
    scenario = config.scenario
    dataset = with_extra_pads(load_dataset(), scenario.extra_pads, scenario.seed)
    airspace = Airspace(dataset)
    planner = Planner(airspace)
    temporary = None
    if config.database is None:
        temporary = tempfile.TemporaryDirectory(prefix="utm-bench-")
        path = str(Path(temporary.name) / "bench.sqlite")
    else:
        path = config.database
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_store(f"sqlite:///{path}", airspace.layers)
    engine = Engine(airspace, store, planner=planner)
    demands = list(generate_day(airspace, scenario))[:config.first_plans]
    result = BenchResult(setup_s=time.perf_counter() - started)
    pending = [c for c in CHECKPOINTS if c <= len(demands)]
    active: list[Checkpoint] = []
    approved = 0
    replay_started = time.perf_counter()
    for number, demand in enumerate(demands):
        if pending and approved >= pending[0]:
            checkpoint = Checkpoint(pending.pop(0))
            for sample in demands[number:number + config.baseline_samples]:
                decided = _decide_all(engine, sample)
                reference = decided["index"][0]
                for strategy, (flight, elapsed_ms) in decided.items():
                    checkpoint.baseline_ms.setdefault(strategy, []).append(elapsed_ms)
                    if not _same_decision(reference, flight):
                        checkpoint.identical = False
                        raise AssertionError(
                            f"{strategy} decided {flight.state} / {flight.departure_time} but "
                            f"the engine {reference.state} / {reference.departure_time}")
            result.checkpoints.append(checkpoint)
            active.append(checkpoint)
        tick = time.perf_counter()
        flight = engine.submit(demand.plan, demand.filed_time, replan_later=True)
        elapsed_ms = (time.perf_counter() - tick) * 1000.0
        # What an emergency released is re-planned after its answer, as the HTTP service
        # does, and before the next plan (in the replay's wall time, not in the latency).
        tick = time.perf_counter()
        replanned = engine.run_replans(demand.filed_time)
        if replanned:
            result.replanned += len(replanned)
            result.replan_batches_ms.append((time.perf_counter() - tick) * 1000.0)
        result.decisions += 1
        result.states[flight.state.value] += 1
        result.latencies_ms.append(elapsed_ms)
        if flight.state is FlightState.APPROVED:
            approved += 1
            assert flight.departure_time is not None
            result.delays_s.append(
                (flight.departure_time - demand.plan.earliest_departure_time).total_seconds())
            _record_resolution(result, engine, demand.plan, flight)
        result.approved_at.append(approved)
        for checkpoint in active:
            if len(checkpoint.latencies_ms) < config.window:
                checkpoint.latencies_ms.append(elapsed_ms)
        if number % 500 == 0:
            # (The engine lets the store forget the flights that ended over an hour before,
            # as a long-running node does: ``utm.engine.FORGET_AFTER``.)
            result.peak_rss_mib = max(result.peak_rss_mib, process.memory_info().rss / 2**20)
            if progress:
                progress(number, len(demands))
    if progress:
        progress(len(demands), len(demands))
    result.elapsed_s = time.perf_counter() - replay_started
    result.peak_rss_mib = max(result.peak_rss_mib, process.memory_info().rss / 2**20)
    store.close()
    if temporary is not None:
        temporary.cleanup()
    return result


def plot(result: BenchResult, path: Path) -> None:
    """Latency against approved flights, engine and baselines, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5), dpi=110)
    axis.scatter(result.approved_at, result.latencies_ms, s=2, alpha=0.25,
                 label="engine, every decision")
    sizes = [c.approved for c in result.checkpoints]
    # The engine's medians in black, above the cloud of its decisions (same blue otherwise).
    for strategy, style, colour in (("index", "o-", "black"), ("scan", "s--", "tab:orange"),
                                    ("strtree", "^--", "tab:green")):
        medians = [statistics.median(c.baseline_ms[strategy]) for c in result.checkpoints]
        label = {"index": "engine (H3 index), median of samples",
                 "scan": "naive: every flight overlapping in time",
                 "strtree": "naive + shapely STRtree"}[strategy]
        axis.plot(sizes, medians, style, color=colour, label=label, zorder=3)
    axis.set_yscale("log")
    axis.set_xlabel("approved flights so far")
    axis.set_ylabel("decision latency (ms, log)")
    axis.set_title("Decision latency as traffic grows (same plans, same decisions)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def checkpoint_rows(result: BenchResult) -> list[dict[str, Any]]:
    """One row per checkpoint: engine latency percentiles over the decisions after it, the
    baselines' medians on the same sampled plans, and their ratios to the engine."""
    rows = []
    for checkpoint in result.checkpoints:
        row: dict[str, Any] = {
            "approved": checkpoint.approved,
            "engine_p50_ms": round(statistics.median(checkpoint.latencies_ms), 2),
            "engine_p90_ms": round(percentile(checkpoint.latencies_ms, 0.9), 2),
            "engine_p99_ms": round(percentile(checkpoint.latencies_ms, 0.99), 2),
        }
        for strategy, values in checkpoint.baseline_ms.items():
            row[f"{strategy}_sample_p50_ms"] = round(statistics.median(values), 2)
        reference = row["index_sample_p50_ms"]
        row["scan_over_index"] = round(row["scan_sample_p50_ms"] / reference, 2)
        row["strtree_over_index"] = round(row["strtree_sample_p50_ms"] / reference, 2)
        row["identical_decisions"] = checkpoint.identical
        rows.append(row)
    return rows
