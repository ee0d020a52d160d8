"""Hostile dataset files: each is refused with ``DatasetError`` naming the file, the feature
(where there is one) and the problem; never another exception, never a hang.

The cases of ``test_loading.py`` are mistakes a dataset author makes; these are what a broken
or malicious file holds: NaN, infinities, positions that are not positions, polygons the size
of a continent, millions of vertices, deep nesting, control and bidirectional characters and
lone surrogates, oversized files, paths leading out of the dataset folder, absurd counts. A
hypothesis test at the end puts random garbage into random properties.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airspace import DatasetError, bundled_dataset_path, load_dataset
from airspace.loading import (
    MAX_FILE_BYTES,
    MAX_NESTING_DEPTH,
    MAX_POSITIONS_PER_GEOMETRY,
    Dataset,
)

Mutation = Callable[[Path], None]
"""Breaks one file of a copied dataset (given the file's path)."""


def copy_dataset(into: Path) -> Path:
    folder = into / "sichuan4"
    shutil.copytree(bundled_dataset_path("sichuan4"), folder)
    return folder


def refused(folder: Path) -> DatasetError:
    """Load ``folder``, expecting a refusal and nothing half-loaded."""
    loaded: Dataset | None = None
    with pytest.raises(DatasetError) as caught:
        loaded = load_dataset(folder)
    assert loaded is None
    return caught.value


def edited(change: Callable[[dict[str, Any]], None]) -> Mutation:
    """Rewrite a JSON file after ``change`` (``allow_nan``: NaN and Infinity are written as
    Python's json module writes them, as a hostile file would hold them)."""

    def mutate(path: Path) -> None:
        document = json.loads(path.read_text(encoding="utf-8"))
        change(document)
        path.write_text(json.dumps(document, allow_nan=True), encoding="utf-8")

    return mutate


def spliced(change: Callable[[dict[str, Any]], None], **tokens: bytes) -> Mutation:
    """Like ``edited``, then each string ``"<NAME>"`` replaced by the raw bytes
    ``tokens[NAME]`` (what json.dumps cannot write: raw surrogates, 5,000-digit numbers,
    a million positions)."""

    def mutate(path: Path) -> None:
        edited(change)(path)
        content = path.read_bytes()
        for name, value in tokens.items():
            content = content.replace(f'"<{name}>"'.encode(), value)
        path.write_bytes(content)

    return mutate


def prop(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document["features"][index]["properties"][key] = value

    return change


def coords(index: int, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document["features"][index]["geometry"]["coordinates"] = value

    return change


def nested(depth: int) -> Any:
    value: Any = [103.8, 30.8]
    for _ in range(depth):
        value = [value]
    return value


NAN = float("nan")
SQUARE = [[103.79, 30.86], [103.80, 30.86], [103.80, 30.87], [103.79, 30.87], [103.79, 30.86]]
WORLD = [[[-179.0, -89.0], [179.0, -89.0], [179.0, 89.0], [-179.0, 89.0], [-179.0, -89.0]]]
MILLION = b"[[" + b"[103.8,30.8]," * 1_000_000 + b"[103.8,30.8]]]"

FEATURE_CASES = [
    # (case, file, mutation, feature index, feature id or None, words the problem contains)
    ("NaN in a ring", "zones.geojson",
     edited(coords(4, [[[NAN, 30.86], *SQUARE[1:4], [NAN, 30.86]]])), 4, "CD-P-PIDU-DETENTION",
     "coordinates[0][0] must be a position [lng, lat] of finite numbers"),
    ("Infinity in a centreline", "corridors.geojson",
     edited(coords(2, [[float("inf"), 30.7], [104.0, 30.7]])), 2, "CD-C03", "finite numbers"),
    ("NaN height", "zones.geojson", edited(prop(3, "ceiling_agl_m", NAN)), 3, "ZUTF-C",
     "'ceiling_agl_m' must be finite"),
    ("-Infinity rooftop", "vertiports.geojson",
     edited(prop(5, "rooftop_height_agl_m", float("-inf"))), 5, None, "must be finite"),
    ("positions of strings", "zones.geojson", edited(coords(4, [[["103.79", "30.86"]] * 4])), 4,
     "CD-P-PIDU-DETENTION", "must be a position"),
    ("positions of booleans", "zones.geojson", edited(coords(4, [[[True, False]] * 4])), 4,
     "CD-P-PIDU-DETENTION", "must be a position"),
    ("a position of four numbers", "vertiports.geojson",
     edited(coords(1, [104.0, 30.6, 0.0, 1.0])), 1, "CD-WCH", "must be a position"),
    ("coordinates that are an object", "zones.geojson", edited(coords(4, {"0": [1, 2]})), 4,
     "CD-P-PIDU-DETENTION", "coordinates must be an array, got an object"),
    ("coordinates that are null", "corridors.geojson", edited(coords(0, None)), 0, "CD-C01",
     "got null"),
    ("coordinates one level too shallow", "zones.geojson", edited(coords(4, SQUARE)), 4,
     "CD-P-PIDU-DETENTION", "must be a position [lng, lat] of finite numbers, got 103.79"),
    ("coordinates nested 40 deep", "zones.geojson", edited(coords(4, nested(40))), 4,
     "CD-P-PIDU-DETENTION", f"nested more than {MAX_NESTING_DEPTH} levels deep"),
    ("a hole crossing its shell", "zones.geojson",
     edited(coords(4, [SQUARE, [[103.795, 30.865], [103.81, 30.865], [103.81, 30.866],
                                [103.795, 30.865]]])), 4, "CD-P-PIDU-DETENTION",
     "invalid polygon"),
    ("a zone around the world", "zones.geojson", edited(coords(4, WORLD)), 4,
     "CD-P-PIDU-DETENTION", "beyond the cities' extent"),
    ("a zone across the antimeridian", "zones.geojson",
     edited(coords(9, [[[179.5, 30.0], [-179.5, 30.0], [-179.5, 31.0], [179.5, 30.0]]])), 9,
     "DY-P-MUNITIONS-DEPOT", "beyond the cities' extent"),
    ("a corridor to Beijing", "corridors.geojson",
     edited(coords(0, [[104.0, 30.6], [116.4, 39.9]])), 0, "CD-C01", "beyond the cities' extent"),
    ("a million vertices", "zones.geojson", spliced(coords(4, "<M>"), M=MILLION), 4,
     "CD-P-PIDU-DETENTION", f"more than {MAX_POSITIONS_PER_GEOMETRY} positions"),
    ("NUL in an id", "zones.geojson", edited(prop(4, "id", "CD-P\x00")), 4, None,
     "U+0000"),
    ("a lone surrogate escape in a name", "vertiports.geojson",
     spliced(prop(3, "name", "<S>"), S=b'"roof \\ud83d"'), 3, "CD-TCM", "U+D83D"),
    ("raw UTF-8 bytes of a surrogate", "corridors.geojson",
     spliced(prop(1, "name", "<S>"), S=b'"\xed\xa0\x80"'), 1, "CD-C02", "U+D800"),
    ("a right-to-left override in a name", "zones.geojson",
     edited(prop(6, "name", "Dam \u202eeno-on")), 6, "CD-R-DUJIANGYAN-DAM",
     "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("an escape sequence in a reason", "zones.geojson",
     edited(prop(5, "reason", "\x1b[2Jgone")), 5, "CD-R-PROVINCIAL-GOV", "U+001B"),
    ("a control character in a key", "vertiports.geojson", edited(prop(2, "kind\x07", "x")), 2,
     "CD-PPH", "U+0007"),
    ("10^30 pads", "vertiports.geojson", edited(prop(1, "pads", 10**30)), 1, "CD-WCH",
     "at most 100"),
    ("a turnaround of 10^300 s", "vertiports.geojson", edited(prop(1, "pad_turnaround_s", 1e300)),
     1, "CD-WCH", "at most 86400 s"),
    ("a city that is a list", "zones.geojson", edited(prop(4, "jurisdiction", ["chengdu"])), 4,
     "CD-P-PIDU-DETENTION", "unknown jurisdiction"),
    ("a vertiport's city that is an object", "vertiports.geojson",
     edited(prop(1, "jurisdiction", {"id": "chengdu"})), 1, "CD-WCH", "unknown jurisdiction"),
    ("review categories of lists", "jurisdictions.geojson",
     edited(lambda document: document["features"][0]["properties"]["policy"].update(
         review_categories=[["medium"]])), 0, "chengdu", "review_categories"),
    ("an active window in year 9999", "zones.geojson",
     edited(prop(7, "active_windows", [{"start_time": "9999-12-30T00:00:00Z",
                                        "end_time": "9999-12-31T00:00:00Z"}])), 7,
     "CD-C-DONGAN-STADIUM", "outside the supported years"),
    ("an active window before year 1 in UTC", "zones.geojson",
     edited(prop(7, "active_windows", [{"start_time": "0001-01-01T00:00:00+08:00",
                                        "end_time": "2026-01-01T00:00:00Z"}])), 7,
     "CD-C-DONGAN-STADIUM", "outside the supported years"),
]


@pytest.mark.parametrize(
    ("file_name", "mutate", "index", "feature_id", "problem"),
    [case[1:] for case in FEATURE_CASES], ids=[case[0] for case in FEATURE_CASES],
)
def test_a_hostile_feature_is_refused_with_its_location(
    tmp_path: Path, file_name: str, mutate: Mutation, index: int, feature_id: str | None,
    problem: str,
) -> None:
    folder = copy_dataset(tmp_path)
    mutate(folder / file_name)

    error = refused(folder)

    assert Path(error.file or "").name == file_name
    assert error.feature_index == index
    if feature_id is not None:
        assert error.feature_id == feature_id
    assert problem in error.problem, str(error)
    assert f"feature #{index}" in str(error)


FILE_CASES = [
    # (case, file, what to write, words the problem contains)
    ("100,000 nested arrays", "zones.geojson", b"[" * 100_000 + b"]" * 100_000,
     "nested too deeply"),
    ("nesting within the parser's reach but too deep", "corridors.geojson",
     b'{"type": "FeatureCollection", "features": ' + b"[" * 200 + b"]" * 200 + b"}",
     f"nested more than {MAX_NESTING_DEPTH} levels deep"),
    ("an integer of 5,000 digits", "vertiports.geojson",
     b'{"type": "FeatureCollection", "features": [], "n": ' + b"7" * 5000 + b"}",
     "Exceeds the limit"),
    ("invalid UTF-8", "zones.geojson", b'{"type": "\xc0\xaf"}', "not valid JSON"),
    ("NUL in the manifest", "manifest.json", b'{"name": "a\\u0000b"}', "U+0000"),
    ("a lone surrogate in a manifest key", "manifest.json", b'{"\\udc00": 1}', "U+DC00"),
]


@pytest.mark.parametrize(("file_name", "content", "problem"),
                         [case[1:] for case in FILE_CASES], ids=[case[0] for case in FILE_CASES])
def test_a_hostile_file_is_refused_naming_it(tmp_path: Path, file_name: str, content: bytes,
                                             problem: str) -> None:
    folder = copy_dataset(tmp_path)
    (folder / file_name).write_bytes(content)

    error = refused(folder)

    assert Path(error.file or "").name == file_name
    assert problem in error.problem, str(error)


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    folder = copy_dataset(tmp_path)
    with (folder / "zones.geojson").open("r+b") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: the test writes nothing

    error = refused(folder)

    assert Path(error.file or "").name == "zones.geojson"
    assert f"more than the {MAX_FILE_BYTES} bytes" in error.problem


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "../sichuan4/../x.json"])
def test_a_manifest_path_out_of_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    folder = copy_dataset(tmp_path)
    edited(lambda manifest: manifest.update(corridors=name))(folder / "manifest.json")

    error = refused(folder)

    assert Path(error.file or "").name == "manifest.json"
    assert "outside the dataset folder" in error.problem


def test_a_folder_where_a_file_belongs_is_refused(tmp_path: Path) -> None:
    folder = copy_dataset(tmp_path)
    (folder / "corridors.geojson").unlink()
    (folder / "corridors.geojson").mkdir()

    assert "cannot be read" in refused(folder).problem


def test_cities_spanning_a_continent_are_refused(tmp_path: Path) -> None:
    folder = copy_dataset(tmp_path)
    square = [[[95.0, 20.0], [125.0, 20.0], [125.0, 45.0], [95.0, 45.0], [95.0, 20.0]]]
    edited(lambda document: document["features"][3].update(
        geometry={"type": "Polygon", "coordinates": square}))(folder / "jurisdictions.geojson")

    error = refused(folder)

    assert Path(error.file or "").name == "jurisdictions.geojson"
    assert "more than 10.0 degrees" in error.problem


def test_a_zone_reaching_a_little_beyond_the_cities_still_loads(tmp_path: Path) -> None:
    # An aerodrome's protection area may cross the service area's edge: only far is refused.
    folder = copy_dataset(tmp_path)
    dataset = load_dataset(folder)
    min_lng = min(j.boundary.bounds[0] for j in dataset.jurisdictions)
    ring = [[min_lng - 0.5, 30.5], [min_lng + 0.1, 30.5], [min_lng + 0.1, 30.6],
            [min_lng - 0.5, 30.5]]
    edited(coords(4, [ring]))(folder / "zones.geojson")

    assert load_dataset(folder).zones[4].id == "CD-P-PIDU-DETENTION"


# -- random garbage -----------------------------------------------------------------------

GARBAGE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2),
    st.just([[[]]]), st.just([[None, None]]), st.just("\u202e"), st.just("\x00"),
)
TARGETS = st.sampled_from([
    # (file, feature count, keys worth breaking; "geometry" is the geometry's coordinates)
    ("zones.geojson", 12, ("class", "floor_agl_m", "ceiling_agl_m", "active_windows",
                           "jurisdiction", "name", "id", "geometry")),
    ("vertiports.geojson", 52, ("jurisdiction", "rooftop_height_agl_m", "pads",
                                "pad_turnaround_s", "opening_hours", "id", "geometry")),
    ("corridors.geojson", 18, ("width_m", "floor_agl_m", "ceiling_agl_m", "direction",
                               "geometry")),
    ("manifest.json", 0, ("grid", "local_timezone", "zones", "vertiports", "name")),
])


@settings(max_examples=max(10, int(os.environ.get("UTM_FUZZ_EXAMPLES", "60")) // 3),
          deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=TARGETS, index=st.integers(min_value=0, max_value=51), key_index=st.integers(
    min_value=0, max_value=7), value=GARBAGE)
def test_random_garbage_loads_or_is_a_dataset_error(target: tuple[str, int, tuple[str, ...]],
                                                     index: int, key_index: int,
                                                     value: Any) -> None:
    file_name, count, keys = target
    key = keys[key_index % len(keys)]

    def change(document: dict[str, Any]) -> None:
        if file_name == "manifest.json":
            document[key] = value
        elif key == "geometry":
            document["features"][index % count]["geometry"]["coordinates"] = value
        else:
            document["features"][index % count]["properties"][key] = value

    with tempfile.TemporaryDirectory() as scratch:
        folder = copy_dataset(Path(scratch))
        edited(change)(folder / file_name)
        try:
            load_dataset(folder)
        except DatasetError as error:
            assert error.file, str(error)
