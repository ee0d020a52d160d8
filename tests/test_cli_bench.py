"""`utm bench` on a tiny day: it replays, reports and writes its figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app


def test_bench_replays_a_small_day_and_writes_figures(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--flights", "120", "--extra-pads", "10",
                                      "--samples", "2", "--json", str(figures)])
    assert result.exit_code == 0, result.output
    # Progress, even without a terminal: a plain line when the whole day is replayed.
    assert re.search(r"replayed (\d+) of \1 plans", result.output), result.output
    written = json.loads(figures.read_text())
    summary = written["summary"]
    assert summary["decisions"] >= 100
    assert sum(summary["states"].values()) == summary["decisions"]
    assert summary["states"].get("approved", 0) > summary["decisions"] // 2
    assert summary["peak_rss_mib"] > 0


def test_bench_can_replay_only_the_first_plans_of_a_bigger_day(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--flights", "2000", "--first-plans", "150",
                                      "--extra-pads", "10", "--hot-spots", "3",
                                      "--peak-share", "0.3", "--samples", "1",
                                      "--json", str(figures)])
    assert result.exit_code == 0, result.output
    assert json.loads(figures.read_text())["summary"]["decisions"] == 150
    assert "replayed 150 of 150 plans" in result.output
