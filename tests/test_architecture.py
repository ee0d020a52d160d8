"""The layering rule and the one-home rule for third-party libraries, checked on the source.

``airspace`` <- ``routes`` <- ``utm`` <- ``api``: a package imports only from those to its left
(ARCHITECTURE.md). Each of the libraries below is imported in one place only, so that swapping
or upgrading it touches one module. The check reads the AST of every module, so it also sees
imports inside functions and under ``if TYPE_CHECKING:`` (a type is a dependency too), and
``importlib.import_module("...")`` with a literal name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

LAYERS = ("airspace", "routes", "utm", "api")
"""Left to right: each package may import only the packages before it."""

LIBRARY_HOMES: dict[str, tuple[str, ...]] = {
    "h3": ("airspace/grid.py",),
    "networkx": ("routes/graph.py",),
    "scipy": ("routes/graph.py",),
    "fastapi": ("api/",),
    "pydantic": ("api/",),
    "pydantic_settings": ("api/",),
    "starlette": ("api/",),
    "psycopg": ("utm/storage/",),
    "psycopg2": ("utm/storage/",),
    "psycopg_pool": ("utm/storage/",),
    "sqlite3": ("utm/storage/",),
    "jwt": ("api/interop_auth.py",),
}
"""Library (top-level import name) -> files or folders (ending in ``/``) allowed to import it.
``utm/storage/`` may not exist yet; then no module may import a database driver."""


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement (or ``import_module`` call) found in a module."""

    path: str
    """The importing file, relative to the project root, POSIX separators."""
    line: int
    module: str
    """The absolute dotted name imported (relative imports resolved)."""

    @property
    def top_level(self) -> str:
        return self.module.split(".")[0]

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def module_name(path: str) -> tuple[str, bool]:
    """``("routes.planner", False)`` for ``routes/planner.py``; packages give ``True``."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _is_import_module_call(node: ast.Call) -> bool:
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr == "import_module"
    if isinstance(function, ast.Name):
        return function.id in {"import_module", "__import__"}
    return False


def imports_in(path: str, source: str) -> Iterator[Import]:
    """Every import of a module's source, with relative imports made absolute."""
    name, is_package = module_name(path)
    package_parts = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                assert node.module is not None
                yield Import(path, node.lineno, node.module)
            else:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                suffix = [node.module] if node.module else []
                yield Import(path, node.lineno, ".".join(base + suffix))
        elif (
            isinstance(node, ast.Call)
            and _is_import_module_call(node)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            yield Import(path, node.lineno, node.args[0].value)


def layer_violations(imports: list[Import]) -> list[str]:
    """Imports of a package to the right of the importing module's package."""
    problems = []
    for found in imports:
        own = found.path.split("/")[0]
        if own not in LAYERS:
            continue
        position = LAYERS.index(own)
        if found.top_level in LAYERS[position + 1 :]:
            problems.append(f"{found} (layer {own!r} may import only {LAYERS[:position]})")
    return problems


def home_violations(imports: list[Import]) -> list[str]:
    """Imports of a library outside its home (``LIBRARY_HOMES``)."""
    problems = []
    for found in imports:
        homes = LIBRARY_HOMES.get(found.top_level)
        if homes is None:
            continue
        at_home = any(
            found.path.startswith(home) if home.endswith("/") else found.path == home
            for home in homes
        )
        if not at_home:
            problems.append(f"{found} (its home is {', '.join(homes)})")
    return problems


def project_imports() -> list[Import]:
    """Every import of every module of the four packages (absent packages are skipped)."""
    result = []
    for package in LAYERS:
        for file in sorted((PROJECT_ROOT / package).rglob("*.py")):
            path = file.relative_to(PROJECT_ROOT).as_posix()
            result.extend(imports_in(path, file.read_text(encoding="utf-8")))
    return result


# -- the project ---------------------------------------------------------------------------------


@pytest.mark.parametrize("package", ["airspace", "routes", "utm"])
def test_the_check_sees_the_packages(package: str) -> None:
    # Guards against a check that passes because it read nothing.
    assert list((PROJECT_ROOT / package).glob("*.py")), f"no modules found in {package}/"
    assert any(found.path.startswith(f"{package}/") for found in project_imports())


def test_no_package_imports_a_package_to_its_right() -> None:
    problems = layer_violations(project_imports())
    assert not problems, "layering broken:\n" + "\n".join(problems)


def test_each_library_is_imported_only_in_its_home() -> None:
    problems = home_violations(project_imports())
    assert not problems, "library outside its home:\n" + "\n".join(problems)


# -- the checker itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("airspace/model.py", "from routes import Planner", ["routes"]),
        ("airspace/model.py", "import utm.plans", ["utm.plans"]),
        ("routes/graph.py", "def f():\n    from utm.errors import UtmError\n", ["utm.errors"]),
        (
            "utm/plans.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from api import app\n",
            ["api"],
        ),
        ("routes/graph.py", "import importlib\nimportlib.import_module('api.app')", ["api.app"]),
        ("utm/flights.py", "from routes import Planner\nfrom airspace import Airspace", []),
        ("api/app.py", "from utm.plans import FlightPlan", []),
        ("routes/__init__.py", "from . import planner\nfrom .errors import RoutingError", []),
    ],
)
def test_layer_check_finds_imports_to_the_right(
    path: str, source: str, expected: list[str]
) -> None:
    problems = layer_violations(list(imports_in(path, source)))
    assert [problem.split(" imports ")[1].split(" ")[0] for problem in problems] == expected


@pytest.mark.parametrize(
    ("path", "source", "is_violation"),
    [
        ("airspace/grid.py", "import h3.api.basic_int as h3", False),
        ("airspace/model.py", "import h3", True),
        ("routes/graph.py", "import networkx as nx", False),
        ("routes/volumes.py", "from networkx import astar_path", True),
        ("api/app.py", "from fastapi import FastAPI", False),
        ("api/models/flights.py", "from pydantic import BaseModel", False),
        ("utm/plans.py", "from pydantic import BaseModel", True),
        ("utm/engine.py", "import sqlite3", True),
        ("utm/storage/sqlite.py", "import sqlite3", False),
        ("utm/storage/postgres.py", "import psycopg", False),
        ("api/deps.py", "import psycopg", True),
    ],
)
def test_home_check_finds_libraries_away_from_home(
    path: str, source: str, is_violation: bool
) -> None:
    assert bool(home_violations(list(imports_in(path, source)))) == is_violation
