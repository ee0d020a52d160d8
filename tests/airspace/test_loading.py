"""Bad datasets are refused whole, with the file, the feature (index and id) and the problem.

Each case copies the bundled dataset to a temporary folder and breaks one thing in it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airspace import DatasetError, bundled_dataset_path, load_dataset
from airspace.loading import Dataset

Mutation = Callable[[dict[str, Any]], None]


def _copy_dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "sichuan4"
    shutil.copytree(bundled_dataset_path("sichuan4"), folder)
    return folder


def _edit(folder: Path, file_name: str, mutate: Mutation) -> None:
    path = folder / file_name
    document = json.loads(path.read_text(encoding="utf-8"))
    mutate(document)
    path.write_text(json.dumps(document), encoding="utf-8")


def _refused(folder: Path) -> DatasetError:
    """Load ``folder``, expecting a refusal; check that nothing came back half-loaded."""
    loaded: Dataset | None = None
    with pytest.raises(DatasetError) as caught:
        loaded = load_dataset(folder)
    assert loaded is None
    return caught.value


def _props(index: int, **changes: Any) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        document["features"][index]["properties"].update(changes)

    return mutate


def _geometry(index: int, coordinates: Any) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        document["features"][index]["geometry"]["coordinates"] = coordinates

    return mutate


def _swap_point(index: int) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        geometry = document["features"][index]["geometry"]
        lng, lat = geometry["coordinates"]
        geometry["coordinates"] = [lat, lng]

    return mutate


def _move_vertex(index: int, vertex: int, lng: float, lat: float) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        document["features"][index]["geometry"]["coordinates"][0][vertex] = [lng, lat]

    return mutate


def _naive_window(index: int) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        window = document["features"][index]["properties"]["active_windows"][0]
        window["start_time"] = window["start_time"].rstrip("Z")

    return mutate


BOW_TIE = [[[103.79, 30.86], [103.81, 30.88], [103.81, 30.86], [103.79, 30.88], [103.79, 30.86]]]
"""Two triangles meeting at a point: a ring that crosses itself."""

THROUGH_ZUUU = [[103.90, 30.56], [103.96, 30.58]]
"""A centreline straight across Chengdu Shuangliu's prohibited clearance zone."""

CASES = [
    # (case, file, mutation, feature index, feature id, words the problem must contain)
    ("bow-tie polygon", "zones.geojson",
     _geometry(4, BOW_TIE), 4, "CD-P-PIDU-DETENTION", "self-intersect"),
    ("longitude out of range", "zones.geojson",
     _move_vertex(5, 3, 204.15, 30.45), 5, "CD-R-PROVINCIAL-GOV", "out of range"),
    ("latitude out of range", "zones.geojson",
     _move_vertex(10, 3, 104.0, -95.0), 10, "MS-R-RESERVOIR-DAM", "out of range"),
    ("swapped [lat, lng] vertiport", "vertiports.geojson",
     _swap_point(2), 2, "CD-PPH", "looks like [lat, lng]"),
    ("unknown class", "zones.geojson",
     _props(3, **{"class": "forbidden"}), 3, "ZUTF-C", "unknown class 'forbidden'"),
    ("zone floor above ceiling", "zones.geojson",
     _props(6, floor_agl_m=500, ceiling_agl_m=100), 6, "CD-R-DUJIANGYAN-DAM",
     "not below ceiling"),
    ("corridor floor above ceiling", "corridors.geojson",
     _props(2, floor_agl_m=90, ceiling_agl_m=60), 2, "CD-C03", "not below ceiling"),
    ("duplicate zone id", "zones.geojson",
     _props(9, id="ZUUU-P"), 9, "ZUUU-P", "duplicate id"),
    ("duplicate vertiport id", "vertiports.geojson",
     _props(25, id="DY-CTR"), 25, "DY-CTR", "duplicate id"),
    ("vertiport outside every city", "vertiports.geojson",
     _geometry(30, [110.0, 35.0]), 30, "DY-MZU", "outside every jurisdiction"),
    ("vertiport in the wrong city", "vertiports.geojson",
     _props(24, jurisdiction="chengdu"), 24, "DY-CTR", "lies in 'deyang', not in 'chengdu'"),
    ("vertiport in an unknown city", "vertiports.geojson",
     _props(33, jurisdiction="leshan"), 33, "MS-CTR", "unknown jurisdiction 'leshan'"),
    ("corridor crossing a prohibited zone", "corridors.geojson",
     _geometry(6, THROUGH_ZUUU), 6, "CD-C07", "crosses prohibited zone 'ZUUU-P'"),
    ("naive datetime in active_windows", "zones.geojson",
     _naive_window(7), 7, "CD-C-DONGAN-STADIUM", "no time zone"),
    ("height is true", "zones.geojson",
     _props(0, floor_agl_m=True), 0, "ZUUU-P", "'floor_agl_m' must be a number, got True"),
    ("height is a string", "vertiports.geojson",
     _props(1, rooftop_height_agl_m="45"), 1, "CD-WCH",
     "'rooftop_height_agl_m' must be a number, got '45'"),
    ("ceiling is a string with a unit", "corridors.geojson",
     _props(11, ceiling_agl_m="90 m"), 11, "ZY-C01", "'ceiling_agl_m' must be a number"),
    ("height is null", "zones.geojson",
     _props(11, ceiling_agl_m=None), 11, "ZY-R-OIL-DEPOT", "'ceiling_agl_m' must be a number"),
    ("corridor direction unknown", "corridors.geojson",
     _props(13, direction="sideways"), 13, "CD-DY-N", "direction"),
    ("corridor too narrow", "corridors.geojson",
     _props(0, width_m=5), 0, "CD-C01", "width"),
    ("vertiport without pads", "vertiports.geojson",
     _props(44, pads=0), 44, "ZY-PPH", "at least one pad"),
]


@pytest.mark.parametrize(
    ("file_name", "mutate", "index", "feature_id", "problem"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_broken_feature_is_refused_with_its_location(
    tmp_path, file_name, mutate, index, feature_id, problem
):
    folder = _copy_dataset(tmp_path)
    _edit(folder, file_name, mutate)
    error = _refused(folder)
    message = str(error)
    assert file_name in message
    assert f"feature #{index}" in message
    assert repr(feature_id) in message
    assert problem in message
    assert Path(error.file or "").name == file_name
    assert error.feature_index == index
    assert error.feature_id == feature_id
    assert error.code == "invalid_dataset"


def test_out_of_range_longitude_is_not_mistaken_for_a_swap(tmp_path):
    folder = _copy_dataset(tmp_path)
    _edit(folder, "zones.geojson", _move_vertex(5, 3, 204.15, 30.45))
    assert "looks like" not in str(_refused(folder))


def test_swapped_polygon_gets_the_hint(tmp_path):
    folder = _copy_dataset(tmp_path)

    def swap_every_vertex(document: dict[str, Any]) -> None:
        ring = document["features"][8]["geometry"]["coordinates"][0]
        document["features"][8]["geometry"]["coordinates"][0] = [[lat, lng] for lng, lat in ring]

    _edit(folder, "zones.geojson", swap_every_vertex)
    message = str(_refused(folder))
    assert "'DY-R-THERMAL-POWER'" in message
    assert "looks like [lat, lng]" in message


@pytest.mark.parametrize(
    "file_name", ["manifest.json", "zones.geojson", "vertiports.geojson", "corridors.geojson",
                  "jurisdictions.geojson"],
)
def test_missing_file_is_refused(tmp_path, file_name):
    folder = _copy_dataset(tmp_path)
    (folder / file_name).unlink()
    error = _refused(folder)
    assert file_name in str(error)
    assert "file not found" in str(error)


@pytest.mark.parametrize(
    ("file_name", "text"),
    [
        ("corridors.geojson", '{"type": "FeatureCollection", "features": ['),  # truncated
        ("zones.geojson", "{'type': 'FeatureCollection'}"),  # Python, not JSON
        ("manifest.json", ""),
        ("vertiports.geojson", "\xff\xfe not utf-8"),
    ],
)
def test_invalid_json_is_refused(tmp_path, file_name, text):
    folder = _copy_dataset(tmp_path)
    (folder / file_name).write_bytes(text.encode("latin-1"))
    error = _refused(folder)
    assert file_name in str(error)
    assert "not valid JSON" in str(error)


def test_a_feature_without_id_is_refused(tmp_path):
    folder = _copy_dataset(tmp_path)

    def drop_id(document: dict[str, Any]) -> None:
        del document["features"][3]["properties"]["id"]

    _edit(folder, "vertiports.geojson", drop_id)
    message = str(_refused(folder))
    assert "vertiports.geojson" in message
    assert "feature #3" in message
    assert "'id'" in message


def test_an_untouched_copy_loads(tmp_path):
    # The cases above fail because of their one change, not because copying breaks anything.
    dataset = load_dataset(_copy_dataset(tmp_path))
    assert {j.id for j in dataset.jurisdictions} == {"chengdu", "deyang", "meishan", "ziyang"}
    assert len(dataset.zones) == 12
    assert len(dataset.vertiports) == 52
    assert len(dataset.corridors) == 18


def test_dataset_error_is_a_value_error(tmp_path):
    folder = _copy_dataset(tmp_path)
    _edit(folder, "zones.geojson", _props(3, **{"class": "forbidden"}))
    with pytest.raises(ValueError, match="unknown class"):
        load_dataset(folder)
