"""The ``utm`` command line, run in-process with typer's CliRunner.

The console script is ``api.cli:main``: the commands of ``utm.cli`` plus ``serve`` and ``demo``
(added by ``api.cli`` to the same typer app, so ``cli.app`` below has them all).

Loading and indexing the bundled dataset takes seconds, so the tests that are about parsing
and printing reuse the session's airspace and planner (``_reuse_bundled_load``);
``test_check_*`` and the broken-dataset tests load for real.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from airspace import Airspace, bundled_dataset_path
from airspace.loading import Dataset
from airspace.timing import parse_instant
from api import cli as api_cli  # adds `serve` and `demo` to utm.cli.app
from utm import cli

T0 = "2026-12-01T02:00:00Z"
"""A fixed instant (10:00 in Chengdu): tests never depend on the clock."""

ZUUU_RUNWAY = (30.5785, 103.947)
MEISHAN_COUNTRYSIDE = (29.95, 103.6)
BEIJING = (39.9, 116.4)

runner = CliRunner()


@pytest.fixture
def _reuse_bundled_load(
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    dataset: Dataset,
    airspace_model: Airspace,
) -> None:
    """Serve the bundled dataset from the session fixtures of conftest.py instead of loading it.

    Other folders still load for real.
    """
    real_load = cli._load

    def load_shared(folder: Path | None, *, with_planner: bool = False) -> Any:
        if folder is not None:
            return real_load(folder, with_planner=with_planner)
        planner = request.getfixturevalue("planner") if with_planner else None
        return cli._Loaded(dataset, airspace_model, planner, read_s=0.0, index_s=0.0, graph_s=0.0)

    monkeypatch.setattr(cli, "_load", load_shared)


def invoke(*args: str) -> Any:
    return runner.invoke(cli.app, list(args))


def distance_m(lat_a: float, lng_a: float, lat_b: float, lng_b: float) -> float:
    """Great-circle distance on a 6,371 km sphere (ample for a 50 m tolerance)."""
    phi_a, phi_b = math.radians(lat_a), math.radians(lat_b)
    half_chord = (
        math.sin((phi_b - phi_a) / 2) ** 2
        + math.cos(phi_a) * math.cos(phi_b) * math.sin(math.radians(lng_b - lng_a) / 2) ** 2
    )
    return 2 * 6_371_000.0 * math.asin(math.sqrt(half_chord))


# -- help ---------------------------------------------------------------------------------------


def _leaf_commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    # Duck-typed: recent typer vendors its own click, so click.Group is not its base class.
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in subcommands.items():
            yield from _leaf_commands(sub, (*path, name))
    else:
        yield path


ALL_COMMANDS = list(_leaf_commands(typer.main.get_command(cli.app)))


def test_the_cli_has_the_documented_commands() -> None:
    assert {("airspace", "check"), ("airspace", "classify"), ("route",), ("serve",),
            ("demo",)} <= set(ALL_COMMANDS)
    assert api_cli.app is cli.app


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=" ".join)
def test_every_command_help_shows_an_example(command: tuple[str, ...]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Example: utm " + " ".join(command) in " ".join(result.stdout.split())


# -- utm airspace check -------------------------------------------------------------------------


def test_check_summarises_the_bundled_dataset() -> None:
    result = invoke("airspace", "check")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "sichuan4" in out
    assert "reference boundaries" in " ".join(out.split())
    for city in ("Chengdu", "Deyang", "Meishan", "Ziyang"):
        assert city in out
    assert "Loaded and indexed in" in out
    assert "H3 resolution 10" in out
    assert "prohibited" in out
    assert "Corridors:" in out
    assert "Indexed zone cells:" in out


def test_check_refuses_a_broken_dataset_and_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(bundled_dataset_path(), folder)
    zones_path = folder / "zones.geojson"
    zones = json.loads(zones_path.read_text(encoding="utf-8"))
    broken = zones["features"][1]["properties"]
    broken["floor_agl_m"], broken["ceiling_agl_m"] = 500, 100
    zones_path.write_text(json.dumps(zones), encoding="utf-8")

    result = invoke("airspace", "check", str(folder))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "zones.geojson" in result.stderr
    assert "feature #1" in result.stderr
    assert broken["id"] in result.stderr
    assert "Traceback" not in result.output


def test_check_refuses_a_missing_folder(tmp_path: Path) -> None:
    result = invoke("airspace", "check", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "manifest.json" in result.stderr


# -- utm airspace classify ----------------------------------------------------------------------


@pytest.mark.usefixtures("_reuse_bundled_load")
@pytest.mark.parametrize(
    ("position", "alt_agl_m", "expected_class"),
    [
        (ZUUU_RUNWAY, 50, "prohibited"),
        (MEISHAN_COUNTRYSIDE, 50, "suitable"),
        # Above 120 m true height all airspace is controlled (2024 Interim Regulations).
        (MEISHAN_COUNTRYSIDE, 150, "controlled"),
        (BEIJING, 50, "out_of_service"),
    ],
)
def test_classify_prints_the_class(
    position: tuple[float, float], alt_agl_m: float, expected_class: str
) -> None:
    lat, lng = position
    result = invoke(
        "airspace", "classify", "--lat", str(lat), "--lng", str(lng),
        "--alt-agl-m", str(alt_agl_m), "--time", T0,
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["class"] == expected_class
    assert set(answer) >= {"class", "jurisdiction", "cell", "layer", "zones", "corridors"}


@pytest.mark.usefixtures("_reuse_bundled_load")
def test_classify_output_is_the_classification_wire_form(airspace_model: Airspace) -> None:
    result = invoke(
        "airspace", "classify", "--lat", "30.5785", "--lng", "103.947", "--alt-agl-m", "50",
        "--time", "2026-12-01T10:00:00+08:00",
    )
    assert result.exit_code == 0, result.output
    expected = airspace_model.classify(30.5785, 103.947, 50, parse_instant(T0)).to_json()
    assert json.loads(result.stdout) == expected
    assert expected["jurisdiction"] == "chengdu"
    assert "ZUUU-P" in expected["zones"]


@pytest.mark.usefixtures("_reuse_bundled_load")
def test_classify_defaults_to_now() -> None:
    result = invoke("airspace", "classify", "--lat", "39.9", "--lng", "116.4", "--alt-agl-m", "50")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["class"] == "out_of_service"


@pytest.mark.usefixtures("_reuse_bundled_load")
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--lat", "30.6", "--lng", "104.0", "--alt-agl-m", "50", "--time", "2026-12-01T02:00:00"],
         "naive_datetime"),
        (["--lat", "30.6", "--lng", "104.0", "--alt-agl-m", "50", "--time", "tomorrow"],
         "naive_datetime"),
        (["--lat", "91", "--lng", "104.0", "--alt-agl-m", "50", "--time", T0], "invalid_position"),
        (["--lat", "30.6", "--lng", "181", "--alt-agl-m", "50", "--time", T0],
         "invalid_position"),
        (["--lat", "30.6", "--lng", "104.0", "--alt-agl-m", "-5", "--time", T0],
         "invalid_position"),
    ],
)
def test_classify_refuses_bad_input(args: list[str], code: str) -> None:
    result = invoke("airspace", "classify", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {code}: ")
    assert len(result.stderr.strip().splitlines()) == 1


# -- utm route ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("_reuse_bundled_load")
def test_route_between_vertiports(dataset: Dataset) -> None:
    result = invoke("route", "--from", "CD-TFS", "--to", "DY-CTR", "--depart", T0)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)

    assert answer["route"]["type"] == "LineString"
    last_lng, last_lat, _ = answer["route"]["coordinates"][-1]
    first_lng, first_lat, _ = answer["route"]["coordinates"][0]
    vertiports = {v.id: v for v in dataset.vertiports}
    destination, origin = vertiports["DY-CTR"], vertiports["CD-TFS"]
    assert distance_m(last_lat, last_lng, destination.lat, destination.lng) < 50.0
    assert distance_m(first_lat, first_lng, origin.lat, origin.lng) < 50.0

    departure_time = parse_instant(answer["departure_time"])
    arrival_time = parse_instant(answer["arrival_time"])
    assert departure_time == parse_instant(T0)
    assert arrival_time > departure_time
    assert answer["duration_s"] == pytest.approx(
        (arrival_time - departure_time).total_seconds(), abs=0.1
    )
    assert answer["distance_m"] > 40_000  # Tianfu Square to Deyang is about 60 km
    assert answer["legs"][0]["start_time"] == answer["departure_time"]
    assert answer["legs"][-1]["end_time"] == answer["arrival_time"]
    for leg in answer["legs"]:
        assert set(leg) == {"kind", "corridor_id", "start_time", "end_time"}
    assert answer["volumes"]
    for volume in answer["volumes"]:
        assert volume["outline"]["type"] == "Polygon"
        assert volume["floor_agl_m"] < volume["ceiling_agl_m"]
        assert parse_instant(volume["start_time"]) < parse_instant(volume["end_time"])
    assert set(answer["corridors"]) == {
        leg["corridor_id"] for leg in answer["legs"] if leg["corridor_id"]
    }


@pytest.mark.usefixtures("_reuse_bundled_load")
def test_route_from_a_point() -> None:
    lat, lng = MEISHAN_COUNTRYSIDE
    result = invoke(
        "route", "--from-lat", str(lat), "--from-lng", str(lng), "--to", "MS-CTR",
        "--depart", "2026-12-01T10:00:00+08:00", "--drone-category", "small",
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    first_lng, first_lat, _ = answer["route"]["coordinates"][0]
    assert distance_m(first_lat, first_lng, lat, lng) < 50.0
    assert answer["departure_time"] == T0


@pytest.mark.usefixtures("_reuse_bundled_load")
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--from", "CD-NOPE", "--to", "DY-CTR", "--depart", T0], "unknown_vertiport"),
        (["--from", "CD-TFS", "--to", "DY-CTR", "--depart", "2026-12-01T02:00:00"],
         "naive_datetime"),
        (["--from-lat", str(BEIJING[0]), "--from-lng", str(BEIJING[1]), "--to", "DY-CTR",
          "--depart", T0], "outside_service_area"),
        (["--from-lat", str(ZUUU_RUNWAY[0]), "--from-lng", str(ZUUU_RUNWAY[1]), "--to", "DY-CTR",
          "--depart", T0], "endpoint_in_prohibited_airspace"),
        (["--from", "CD-TFS", "--from-lat", "30.6", "--to", "DY-CTR", "--depart", T0],
         "invalid_route_request"),
        (["--from-lat", "30.6", "--to", "DY-CTR", "--depart", T0], "invalid_route_request"),
        (["--to", "DY-CTR", "--depart", T0], "invalid_route_request"),
        (["--from", "CD-TFS", "--to", "DY-CTR", "--depart", T0, "--cruise-agl-m", "500"],
         "invalid_route_request"),
    ],
)
def test_route_refuses_with_a_one_line_error(args: list[str], code: str) -> None:
    result = invoke("route", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {code}: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_route_refuses_an_unknown_drone_category() -> None:
    result = invoke("route", "--from", "CD-TFS", "--to", "DY-CTR", "--depart", T0,
                    "--drone-category", "jumbo")
    assert result.exit_code == 2


def test_route_on_a_broken_dataset_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(bundled_dataset_path(), folder)
    (folder / "vertiports.geojson").write_text("{not json", encoding="utf-8")
    result = invoke("route", "--from", "CD-TFS", "--to", "DY-CTR", "--depart", T0,
                    "--dataset", str(folder))
    assert result.exit_code == 1
    assert "vertiports.geojson" in result.stderr


# -- utm serve and utm demo (api.cli) -----------------------------------------------------------


def test_serve_runs_the_app_factory_with_the_options_as_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[Any, str, int, bool]] = []
    monkeypatch.setattr(api_cli, "_run_server",
                        lambda target, host, port, *, factory: calls.append(
                            (target, host, port, factory)))
    for variable in ("UTM_DATABASE_URL", "UTM_PRINCIPALS", "UTM_AIRSPACE"):
        monkeypatch.delenv(variable, raising=False)
    principals = tmp_path / "principals.json"

    result = invoke("serve", "--port", "8123", "--database", "sqlite:///:memory:",
                    "--principals", str(principals))

    assert result.exit_code == 0, result.output
    assert calls == [("api.app:create_app", "127.0.0.1", 8123, True)]
    assert os.environ["UTM_DATABASE_URL"] == "sqlite:///:memory:"
    assert os.environ["UTM_PRINCIPALS"] == str(principals)


@pytest.mark.usefixtures("_reuse_bundled_load")
def test_demo_replays_the_morning_through_the_api_and_prints_the_summary(
    tmp_path: Path, airspace_model: Airspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    monkeypatch.setattr(api_cli, "_run_server",
                        lambda target, host, port, *, factory: served.append(target))
    zones_before = set(airspace_model.zones)
    database = tmp_path / "demo.sqlite"
    principals = tmp_path / "principals.json"
    try:
        result = invoke("demo", "--no-serve", "--flights", "40", "--database", str(database),
                        "--principals", str(principals))
    finally:  # the demo's constraint is a zone of the shared airspace: take it out again
        for zone_id in set(airspace_model.zones) - zones_before:
            airspace_model.remove_zone(zone_id)

    assert result.exit_code == 0, result.output
    out = result.stdout
    lines = {line.strip().split(":")[0]: line.strip() for line in out.splitlines()}
    assert "Morning replayed through the HTTP API" in out
    assert lines["plans submitted"].startswith("plans submitted: 4")
    approvals = dict(part.rsplit(" ", 1) for part in
                     lines["approvals by city"].removeprefix("approvals by city: ").split(", "))
    assert len(approvals) >= 3 and all(int(count) > 0 for count in approvals.values())
    assert "preempted by emergency flight" in lines["emergency preemption"]
    assert any(line.startswith("constraint cs-") for line in lines.values())
    assert "-> approved" in lines["review"]
    assert "unexpected answer" not in out
    assert served == []  # --no-serve
    tokens = json.loads(principals.read_text())
    assert {p["role"] for p in tokens} == {"operator", "regulator", "admin"}
    assert all(p["token"] in out for p in tokens)
    assert principals.stat().st_mode & 0o077 == 0  # tokens: owner only
    assert database.exists()
