"""interop/check_report.py: the gate CI applies to uss_qualifier's report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_report", ROOT / "interop" / "check_report.py")
assert _spec is not None and _spec.loader is not None
check_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_report)

TABLE = ROOT / "interop" / "flight_check_table.yaml"


def check(name: str, requirements: list[str], participant: str = "lowalt_utm") -> dict[str, Any]:
    return {"name": name, "participants": [participant], "requirements": requirements,
            "summary": f"{name} went wrong"}


def report(passed: list[dict[str, Any]], failed: list[dict[str, Any]] | None = None,
           error: str | None = None) -> dict[str, Any]:
    failed = failed or []
    scenario: dict[str, Any] = {
        "name": "General flight authorization",
        "scenario_type": "scenarios.interuss.flight_authorization.GeneralFlightAuthorization",
        "successful": not failed and error is None,
        "cases": [{"name": "Flight planning", "steps": [
            {"name": "CD-01", "passed_checks": passed, "failed_checks": failed}]}],
    }
    if error:
        scenario["execution_error"] = {"message": error}
    return {"report": {"test_scenario": scenario}}


def run(tmp_path: Path, document: dict[str, Any], *options: str) -> int:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return int(check_report.main([str(path), *options]))


def test_the_table_names_our_requirements() -> None:
    requirements = check_report.table_requirements(TABLE)

    assert "lowalt_utm.sichuan4.SEP01" in requirements
    assert all(r.startswith("lowalt_utm.sichuan4.") for r in requirements)
    assert len(requirements) >= 10


def test_every_requirement_passing_passes(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    requirements = sorted(check_report.table_requirements(TABLE))
    document = report([check("Allowed flight", [r]) for r in requirements])

    assert run(tmp_path, document, "--table", str(TABLE)) == 0
    assert "report: PASS" in capsys.readouterr().out


@pytest.mark.parametrize("problem", ["failed check", "untested requirement",
                                     "execution error", "no scenario", "other participant"])
def test_anything_short_of_every_pass_fails(tmp_path: Path, problem: str) -> None:
    requirements = sorted(check_report.table_requirements(TABLE))
    passed = [check("Allowed flight", [r]) for r in requirements]
    document = {
        "failed check": report(passed, [check("Disallowed flight", [requirements[0]])]),
        "untested requirement": report(passed[1:]),
        "execution error": report(passed, error="connection refused"),
        "no scenario": {"report": {}},
        "other participant": report([check("Allowed flight", [r], "someone_else")
                                     for r in requirements]),
    }[problem]

    assert run(tmp_path, document, "--table", str(TABLE)) == 1
