"""Read a uss_qualifier report and say whether every requirement of a participant passed.

    python3 interop/check_report.py REPORT.json [--participant lowalt_utm]
                                    [--table interop/flight_check_table.yaml]

A requirement passes when at least one check naming it passed for the participant and none
failed (as uss_qualifier's "tested requirements" artifact counts them). Exit 0 only if the
test scenario ran to its end without an execution error, no check failed, and every
requirement passed, including every requirement id the flight check table names (so a row
that was never run is a failure too). Prints one line per requirement. Standard library only:
it runs with any Python 3.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in the report, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def table_requirements(table_path: Path) -> set[str]:
    """The requirement ids a flight check table names (read without a YAML library)."""
    found: set[str] = set()
    for line in table_path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*requirement_ids:\s*\[(.*)\]\s*$", line)
        if match:
            found.update(item.strip() for item in match.group(1).split(",") if item.strip())
    return found


def summarise(report: dict[str, Any], participant: str) -> tuple[dict[str, list[int]],
                                                                   list[str]]:
    """``{requirement: [passed, failed]}`` for the participant, and the problems found."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    problems: list[str] = []
    scenarios = 0
    for node in walk(report.get("report", {})):
        if "scenario_type" in node and "cases" in node:
            scenarios += 1
            if node.get("execution_error"):
                problems.append(f"scenario {node.get('name')}: execution error "
                                f"{node['execution_error'].get('message', '')}")
            if not node.get("successful", False):
                problems.append(f"scenario {node.get('name')} did not succeed")
        for key, column in (("passed_checks", 0), ("failed_checks", 1)):
            for check in node.get(key, []) or []:
                if participant not in check.get("participants", []):
                    continue
                if column == 1:
                    problems.append(f"check failed: {check.get('name')}: "
                                    f"{check.get('summary', '')}")
                for requirement in check.get("requirements", []):
                    counts[requirement][column] += 1
    if scenarios == 0:
        problems.append("the report holds no test scenario")
    return dict(counts), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--participant", default="lowalt_utm")
    parser.add_argument("--table", type=Path, default=None,
                        help="a flight check table whose requirement ids must all pass")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    counts, problems = summarise(report, args.participant)
    expected = table_requirements(args.table) if args.table else set()
    print(f"requirements of participant {args.participant}:")
    for requirement in sorted(set(counts) | expected):
        passed, failed = counts.get(requirement, [0, 0])
        verdict = "Pass" if passed and not failed else ("Fail" if failed else "Not tested")
        print(f"  {verdict:10s} {requirement}  ({passed} checks passed, {failed} failed)")
        if verdict != "Pass":
            problems.append(f"requirement {requirement}: {verdict}")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print("report: PASS" if not problems else f"report: FAIL ({len(problems)} problems)")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
