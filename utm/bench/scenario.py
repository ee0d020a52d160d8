"""A seeded day of demand over the bundled region: extra rooftop pads, morning and evening
peaks, cross-city logistics, emergencies, and hot spots where conflicts really happen."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from shapely.geometry import Point

from airspace import Airspace, AirspaceClass
from airspace.features import Vertiport
from airspace.geo import latlng_to_xy_m
from airspace.loading import Dataset
from routes import Endpoint
from utm.plans import FlightPlan, Priority, make_drone

DAY_START = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
"""Midnight in Chengdu (UTC+8) on 2 December 2026."""


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """What the day looks like."""

    flights: int = 10_000
    seed: int = 2026
    extra_pads: int = 150
    cross_city_share: float = 0.10
    emergency_share: float = 0.02
    hot_spot_share: float = 0.30
    """Share of flights that start or end at one of a few hot-spot vertiports."""
    hot_spots: int = 6
    peak_share: float = 0.60
    """Share of flights in the morning (08-10) and evening (17-19) peaks, half each; the
    rest depart evenly from 07 to 22."""


@dataclass(frozen=True, slots=True)
class Demand:
    """One plan and when it is filed."""

    filed_time: datetime
    plan: FlightPlan


def with_extra_pads(dataset: Dataset, count: int, seed: int) -> Dataset:
    """The dataset plus ``count`` generated rooftop pads in suitable airspace of every city,
    at least 400 m from any zone and 300 m from any other pad."""
    if count <= 0:
        return dataset
    rng = random.Random(seed)
    probe = Airspace(dataset)
    existing = [latlng_to_xy_m(v.lat, v.lng) for v in dataset.vertiports]
    added: list[Vertiport] = []
    centres = {v.jurisdiction: (v.lat, v.lng) for v in dataset.vertiports if v.id.endswith("CTR")}
    centres.setdefault("chengdu", (30.6574, 104.0658))
    cities = sorted(centres)
    attempts = 0
    while len(added) < count and attempts < count * 200:
        attempts += 1
        city = rng.choices(cities, [5 if c == "chengdu" else 2 for c in cities])[0]
        lat0, lng0 = centres[city]
        radius_deg = rng.uniform(0.0, 0.18 if city == "chengdu" else 0.10)
        angle = rng.uniform(0.0, 2 * math.pi)
        lat = lat0 + radius_deg * math.sin(angle)
        lng = lng0 + radius_deg * math.cos(angle) / math.cos(math.radians(lat0))
        jurisdiction = probe.jurisdiction_at(lat, lng)
        if jurisdiction is None:
            continue
        x_m, y_m = latlng_to_xy_m(lat, lng)
        if any(math.hypot(x_m - ex, y_m - ey) < 300.0 for ex, ey in existing):
            continue
        spot = Point(x_m, y_m).buffer(400.0)
        if probe.zones_touching(spot, 0.0, 1000.0, DAY_START, DAY_START + timedelta(days=1)):
            continue
        existing.append((x_m, y_m))
        added.append(Vertiport(
            id=f"GEN-{len(added):03d}", name=f"Generated pad {len(added)}",
            jurisdiction=jurisdiction.id, lat=round(lat, 6), lng=round(lng, 6),
            rooftop_height_agl_m=float(rng.randint(15, 45)), pads=rng.randint(1, 4),
            pad_turnaround_s=float(rng.choice([60, 90, 120])), kind="generated",
        ))
    return replace(dataset, vertiports=dataset.vertiports + tuple(added))


def _departure_offset_s(rng: random.Random, peak_share: float) -> float:
    """Seconds after local midnight: morning (08-10) and evening (17-19) peaks, each with
    half of ``peak_share``, over a daytime base (07-22)."""
    roll = rng.random()
    if roll < peak_share / 2.0:
        hours = rng.gauss(9.0, 0.6)
    elif roll < peak_share:
        hours = rng.gauss(18.0, 0.7)
    else:
        hours = rng.uniform(7.0, 22.0)
    return min(max(hours, 6.5), 22.5) * 3600.0


def generate_day(airspace: Airspace, config: ScenarioConfig) -> Iterator[Demand]:
    """The day's plans in the order they are filed (seeded, reproducible)."""
    rng = random.Random(config.seed)
    by_city: dict[str, list[str]] = {}
    for vertiport in airspace.vertiports.values():
        by_city.setdefault(vertiport.jurisdiction, []).append(vertiport.id)
    cities = sorted(by_city)
    city_weights = [6 if c == "chengdu" else 2 for c in cities]
    hot = rng.sample(sorted(by_city["chengdu"]), min(config.hot_spots, len(by_city["chengdu"])))
    demands = []
    for number in range(config.flights):
        offset_s = _departure_offset_s(rng, config.peak_share)
        departure = DAY_START + timedelta(seconds=round(offset_s))
        emergency = rng.random() < config.emergency_share
        if rng.random() < config.cross_city_share:
            origin = rng.choice(by_city["chengdu"])
            destination = rng.choice(by_city[rng.choice([c for c in cities if c != "chengdu"])])
            if rng.random() < 0.5:
                origin, destination = destination, origin
        else:
            city = rng.choices(cities, city_weights)[0]
            origin, destination = rng.sample(by_city[city], 2)
            if city == "chengdu" and rng.random() < config.hot_spot_share:
                origin = rng.choice(hot)
                if origin == destination:
                    continue
        lead = timedelta(minutes=rng.uniform(1, 8) if emergency else rng.uniform(35, 90))
        plan = FlightPlan(
            operator_id=f"op-{rng.randint(1, 40):02d}",
            drone=make_drone(f"drone-{number:06d}", rng.choices(["light", "small"], [85, 15])[0]),
            origin=Endpoint(origin), destination=Endpoint(destination),
            earliest_departure_time=departure,
            latest_departure_time=departure + (timedelta(0) if emergency
                                               else timedelta(minutes=rng.choice([10, 20, 30]))),
            priority=Priority.EMERGENCY if emergency else Priority.COMMERCIAL,
            purpose="medical" if emergency else "delivery",
        )
        demands.append(Demand(departure - lead, plan))
    demands.sort(key=lambda demand: demand.filed_time)
    yield from demands


__all__ = ["AirspaceClass", "Demand", "ScenarioConfig", "generate_day", "with_extra_pads"]
