"""The benchmark's day of demand: seeded, and shaped as configured."""

from __future__ import annotations

from dataclasses import replace

import pytest

from airspace import Airspace, load_dataset
from utm.bench.scenario import DAY_START, ScenarioConfig, generate_day


@pytest.fixture(scope="module")
def airspace() -> Airspace:
    return Airspace(load_dataset())


def _peak_share(airspace: Airspace, config: ScenarioConfig) -> float:
    """Share of plans whose earliest departure falls in 08-10 or 17-19 local time."""
    hours = [(d.plan.earliest_departure_time - DAY_START).total_seconds() / 3600.0
             for d in generate_day(airspace, config)]
    return sum(8.0 <= h < 10.0 or 17.0 <= h < 19.0 for h in hours) / len(hours)


def test_the_same_seed_gives_the_same_day(airspace: Airspace) -> None:
    config = ScenarioConfig(flights=300, extra_pads=0)
    first = [(d.filed_time, d.plan) for d in generate_day(airspace, config)]
    again = [(d.filed_time, d.plan) for d in generate_day(airspace, config)]
    other = [(d.filed_time, d.plan) for d in generate_day(airspace, replace(config, seed=7))]
    assert first == again
    assert first != other


def test_peak_share_moves_plans_into_the_peaks(airspace: Airspace) -> None:
    config = ScenarioConfig(flights=4000, extra_pads=0)
    flat = _peak_share(airspace, replace(config, peak_share=0.0))
    default = _peak_share(airspace, config)
    peaked = _peak_share(airspace, replace(config, peak_share=1.0))
    # Uniform over 07-22 puts 4 of 15 hours (27 %) in the peak windows; a gaussian of
    # 0.6-0.7 h around 09:00 or 18:00 keeps about 85-90 % of its plans inside them.
    assert 0.22 < flat < 0.32
    assert 0.80 < peaked < 0.95
    assert flat < default < peaked
