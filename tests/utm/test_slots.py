"""The lazy slot search (utm.slots) finds the same earliest delay as comparing every pair
eagerly, and compares far fewer pairs to get there.

The eager reference here is written from the definition: a delay is free when no held volume
overlaps one of the route's volumes, shifted by it, in time, altitude and footprint (more than
1 cm²); the search steps through whole seconds and the interval ends, as the engine does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, box

from routes import Volume4D
from routes.volumes import altitude_ranges_overlap, footprints_intersect, volumes_intersect
from utm.slots import Blockers, FootprintCache
from utm.states import FlightState
from utm.storage.base import Candidates, HeldVolume

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WINDOW_S = 900.0


def _volume(x_m: float, y_m: float, length_m: float, start_s: float, floor_m: float,
            duration_s: float = 60.0) -> Volume4D:
    """A capsule along x in metres near Chengdu; ``outline`` (degrees) is a placeholder box,
    the search works on ``outline_m``."""
    outline_m = LineString([(x_m, y_m), (x_m + length_m, y_m)]).buffer(30.0)
    return Volume4D(outline=box(104.0, 30.0, 104.01, 30.01), floor_agl_m=floor_m,
                    ceiling_agl_m=floor_m + 40.0,
                    start_time=T0 + timedelta(seconds=start_s),
                    end_time=T0 + timedelta(seconds=start_s + duration_s),
                    outline_m=outline_m)


def _eager_first_free(base: list[Volume4D], held: list[HeldVolume],
                      wait_s: dict[float, float]) -> float | None:
    """Every pair compared first: a pair whose footprints and altitudes overlap forbids the
    delays at which their time ranges would overlap; then the smallest delay outside all."""
    intervals = [
        ((h.volume.start_time - v.end_time).total_seconds(),
         (h.volume.end_time - v.start_time).total_seconds())
        for v in base for h in held
        if altitude_ranges_overlap(v, h.volume)
        and footprints_intersect(v.outline_m, h.volume.outline_m)
    ]
    delay_s = 0.0
    while True:
        inside = [hi for lo, hi in intervals if lo < delay_s < hi]
        if inside:
            delay_s = max(inside)
            continue
        if delay_s > WINDOW_S:
            return None
        waiting_s = wait_s.get(delay_s, 0.0)
        if waiting_s <= 0.0:
            return delay_s
        delay_s += waiting_s


placements = st.lists(
    st.tuples(st.floats(-400, 1200), st.sampled_from([-200.0, -60.0, 0.0, 59.99, 60.0, 200.0]),
              st.floats(0, 1500), st.sampled_from([0.0, 20.0, 40.0, 80.0]),
              st.sampled_from([30.0, 60.0])),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(placements, st.booleans())
def test_lazy_search_finds_the_eager_delay(placed: list[tuple[float, float, float, float,
                                                             float]], pad_wait: bool) -> None:
    base = [_volume(i * 400.0, 0.0, 400.0, i * 60.0, 40.0) for i in range(4)]
    held = [
        HeldVolume(f"F{n}", 0, _volume(x, y, 300.0, start, floor, duration), 1,
                   FlightState.APPROVED)
        for n, (x, y, start, floor, duration) in enumerate(placed)
    ]
    wait_s = {0.0: 7.0} if pad_wait else {}
    cache = FootprintCache()
    blockers = Blockers(cache)
    blockers.add_pairs(base, Candidates.of(held), WINDOW_S, None)
    lazy = blockers.first_free(WINDOW_S, lambda delay_s: wait_s.get(delay_s, 0.0))
    assert lazy == _eager_first_free(base, held, wait_s)
    if lazy is not None:  # the delay taken is really free of every held volume
        shifted = [v.shifted(timedelta(seconds=lazy)) for v in base]
        assert not any(volumes_intersect(v, h.volume) for v in shifted for h in held)


def test_a_blocked_corridor_is_proven_with_few_exact_comparisons() -> None:
    # 30 flights in trail along the route, one a minute: the route must wait for all of them.
    base = [_volume(i * 400.0, 0.0, 400.0, i * 60.0, 40.0) for i in range(4)]
    held = [HeldVolume(f"F{n}", i, _volume(i * 400.0, 0.0, 400.0, n * 60.0 + i * 60.0, 40.0),
                       1, FlightState.APPROVED)
            for n in range(30) for i in range(4)]
    cache = FootprintCache()
    blockers = Blockers(cache)
    blockers.add_pairs(base, Candidates.of(held), 3600.0, None)
    delay_s = blockers.first_free(3600.0, lambda delay_s: 0.0)
    assert delay_s == 30 * 60.0 + 60.0  # after the last one has left the first segment
    pairs = len(base) * len(held)
    assert cache.compared < pairs / 4, (cache.compared, pairs)


def test_an_emergency_sees_what_it_would_preempt() -> None:
    base = [_volume(0.0, 0.0, 400.0, 0.0, 40.0)]
    held = [HeldVolume("LOW", 0, _volume(0.0, 0.0, 400.0, 0.0, 40.0), 1, FlightState.APPROVED),
            HeldVolume("HIGH", 0, _volume(0.0, 0.0, 400.0, 120.0, 40.0), 9,
                       FlightState.APPROVED)]
    blockers = Blockers(FootprintCache())
    blockers.add_pairs(base, Candidates.of(held), WINDOW_S, preempt_rank=5)
    assert blockers.first_free(WINDOW_S, lambda delay_s: 0.0) == 0.0
    assert {iv.ref for iv in blockers.all_at(0.0) if iv.preemptable} == {"LOW"}
