"""The ground model: where W84 (ellipsoid) altitudes meet heights above ground.

Known answers for the bundled dataset (airspace/datasets/sichuan4/ground.geojson): central
Chengdu's ground is 470-550 m above mean sea level with an EGM96 undulation of -43.2 to
-42.2 m, so 426.8-507.8 m above the WGS84 ellipsoid (81 m of uncertainty).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from interop_support import circle
from shapely.geometry import box

from airspace import Airspace, DatasetError, bundled_dataset_path, load_dataset
from airspace.ground import GroundArea, GroundModel, InvalidAltitudeError, OutsideGroundModelError

CENTRAL_CHENGDU = circle(30.66, 104.07, 300.0)


def test_the_bundled_dataset_has_a_ground_model_covering_every_city(
    airspace_model: Airspace,
) -> None:
    ground = airspace_model.ground
    assert ground is not None
    for city in airspace_model.jurisdictions.values():
        assert ground.areas_under(city.boundary)  # raises if any part is uncovered


def test_known_answer_in_central_chengdu(airspace_model: Airspace) -> None:
    ground = airspace_model.ground
    assert ground is not None

    low, high = ground.ground_w84_range_m(CENTRAL_CHENGDU)

    assert (low, high) == pytest.approx((426.8, 507.8))
    assert [area.id for area in ground.areas_under(CENTRAL_CHENGDU)] == ["chengdu-central"]
    assert ground.uncertainty_m(CENTRAL_CHENGDU) == pytest.approx(81.0)


def test_w84_to_agl_is_conservative_both_ways(airspace_model: Airspace) -> None:
    """The converted range contains the true one wherever the ground lies in its range."""
    ground = airspace_model.ground
    assert ground is not None

    floor_agl_m, ceiling_agl_m = ground.w84_to_agl(CENTRAL_CHENGDU, 520.0, 560.0)

    assert (floor_agl_m, ceiling_agl_m) == pytest.approx((12.2, 133.2))
    for true_ground_w84_m in (426.8, 460.0, 507.8):
        assert floor_agl_m <= 520.0 - true_ground_w84_m
        assert 560.0 - true_ground_w84_m <= ceiling_agl_m


def test_agl_to_w84_contains_the_heights_above_ground(airspace_model: Airspace) -> None:
    ground = airspace_model.ground
    assert ground is not None

    floor_w84_m, ceiling_w84_m = ground.agl_to_w84(CENTRAL_CHENGDU, 30.0, 90.0)

    assert (floor_w84_m, ceiling_w84_m) == pytest.approx((456.8, 597.8))


def test_a_floor_below_the_ground_is_the_ground(airspace_model: Airspace) -> None:
    ground = airspace_model.ground
    assert ground is not None

    assert ground.w84_to_agl(CENTRAL_CHENGDU, 300.0, 540.0)[0] == 0.0


def test_an_outline_across_fine_and_coarse_areas_takes_the_coarse_range(
    airspace_model: Airspace,
) -> None:
    ground = airspace_model.ground
    assert ground is not None
    straddling = box(104.18, 30.70, 104.30, 30.72)  # central Chengdu and its eastern hills

    used = [area.id for area in ground.areas_under(straddling)]

    assert used == ["chengdu-central", "chengdu-city"]
    low, high = ground.ground_w84_range_m(straddling)
    assert low < 426.8 and high > 5000.0


@pytest.mark.parametrize(("floor_m", "ceiling_m", "error"), [
    (100.0, 50.0, InvalidAltitudeError),        # upside down
    (100.0, 400.0, InvalidAltitudeError),       # wholly below the ground (>= 426.8 m W84)
    (float("nan"), 500.0, InvalidAltitudeError),
])
def test_unusable_ranges_are_refused(airspace_model: Airspace, floor_m: float,
                                     ceiling_m: float, error: type[Exception]) -> None:
    ground = airspace_model.ground
    assert ground is not None
    with pytest.raises(error):
        ground.w84_to_agl(CENTRAL_CHENGDU, floor_m, ceiling_m)


def test_outside_the_model_nothing_is_converted(airspace_model: Airspace) -> None:
    ground = airspace_model.ground
    assert ground is not None
    with pytest.raises(OutsideGroundModelError) as caught:
        ground.w84_to_agl(circle(29.56, 106.55, 500.0), 300.0, 400.0)  # Chongqing
    assert caught.value.code == "outside_ground_model"


def test_areas_are_ordered_finest_first() -> None:
    coarse = GroundArea("coarse", box(0, 0, 2, 2), 0.0, 1000.0, -1.0, 1.0)
    fine = GroundArea("fine", box(0, 0, 1, 1), 10.0, 20.0, 0.0, 0.0)

    model = GroundModel([coarse, fine])

    assert [area.id for area in model.areas] == ["fine", "coarse"]
    assert model.ground_w84_range_m(box(0.2, 0.2, 0.4, 0.4)) == (10.0, 20.0)


# -- the dataset file -----------------------------------------------------------------------


def _copy_dataset(tmp_path: Path) -> Path:
    target = tmp_path / "sichuan4"
    shutil.copytree(bundled_dataset_path(), target)
    return target


def _edit_ground(folder: Path, edit: Any) -> None:
    path = folder / "ground.geojson"
    document = json.loads(path.read_text(encoding="utf-8"))
    edit(document)
    path.write_text(json.dumps(document), encoding="utf-8")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["features"][0]["properties"].update(ground_min_amsl_m=9000),
     "ground_min_amsl_m is above ground_max_amsl_m"),
    (lambda d: d["features"][0]["properties"].update(jurisdiction="atlantis"),
     "known 'jurisdiction'"),
    (lambda d: d["features"][0]["properties"].update(geoid_max_m="high"),
     "'geoid_max_m' must be a number"),
    (lambda d: d.update(features=[f for f in d["features"]
                                  if f["properties"]["id"] != "ziyang-city"]),
     "does not cover the whole of ['ziyang']"),
])
def test_a_broken_ground_file_refuses_the_dataset(tmp_path: Path, edit: Any,
                                                 message: str) -> None:
    folder = _copy_dataset(tmp_path)
    _edit_ground(folder, edit)

    with pytest.raises(DatasetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_dataset(folder)


def test_a_dataset_without_a_ground_model_has_none(tmp_path: Path) -> None:
    folder = _copy_dataset(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    del manifest["ground"]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    assert load_dataset(folder).ground is None
