"""The areas a detour keeps out of: each volume in the way once, buffered by the separation,
and the same areas whether computed now or remembered from an earlier decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shapely.geometry import LineString

from airspace.geo import metric_to_lnglat
from routes import Volume4D
from utm.detours import MOST_AREAS, AvoidAreas

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _volume(x_m: float, minutes: int = 0) -> Volume4D:
    outline_m = LineString([(x_m, 3_300_000.0), (x_m + 500.0, 3_300_000.0)]).buffer(20.0)
    return Volume4D.derived(metric_to_lnglat(outline_m), 30.0, 90.0,
                            T0 + timedelta(minutes=minutes),
                            T0 + timedelta(minutes=minutes + 2), outline_m)


def test_each_outline_once_buffered_by_the_separation() -> None:
    first, second = _volume(400_000.0), _volume(401_000.0)
    later = first.shifted(timedelta(minutes=5))  # the same outline, another time
    areas = AvoidAreas().around([first, later, second], 30.0)
    assert len(areas) == 2
    assert areas[0].equals(first.outline_m.buffer(30.0))
    assert areas[1].equals(second.outline_m.buffer(30.0))
    assert areas[0].area > first.outline_m.area


def test_remembered_areas_match_fresh_ones_per_separation() -> None:
    volume = _volume(400_000.0)
    areas = AvoidAreas()
    near, far = areas.around([volume], 30.0), areas.around([volume], 60.0)
    assert areas.around([volume], 30.0)[0] is near[0]
    assert far[0].equals(volume.outline_m.buffer(60.0))
    assert not far[0].equals(near[0])


def test_at_most_the_first_areas() -> None:
    volumes = [_volume(400_000.0 + 1_000.0 * i) for i in range(MOST_AREAS + 5)]
    areas = AvoidAreas().around(volumes, 30.0)
    assert len(areas) == MOST_AREAS
    assert areas[-1].equals(volumes[MOST_AREAS - 1].outline_m.buffer(30.0))


def test_a_full_cache_starts_again_without_losing_an_area() -> None:
    volumes = [_volume(400_000.0 + 1_000.0 * i) for i in range(5)]
    areas = AvoidAreas(limit=4)
    areas.around(volumes[:4], 30.0)
    again = areas.around(volumes, 30.0)  # 4 known and 1 new: over the limit, cleared
    assert [a.equals(v.outline_m.buffer(30.0)) for a, v in zip(again, volumes, strict=True)] \
        == [True] * 5
