"""Several real ``utm serve`` processes on one database, for the multi-node test and the
``benchmarks/nodes_throughput.py`` benchmark.

Each node is ``python -m api.cli serve`` on a free loopback port, configured only through the
environment, as an operator would run it: ``UTM_DATABASE_URL``, ``UTM_PRINCIPALS`` and
``UTM_NODE_NAME`` (a label for the logs; the service does not read it). Its output goes to a
log file (a pipe nobody reads would fill up and block it). ``running_nodes`` stops them all
when the block ends, whatever happened: SIGTERM, then SIGKILL after a grace period.

Not a test module (no ``test_`` prefix); the benchmark puts this folder on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]

CITIES = ("chengdu", "deyang", "meishan", "ziyang")
"""One node per city, in this order."""

ADMIN_TOKEN = "adm-multinode-" + "0" * 24
HOSPITAL = "west-china-hospital"

START_TIMEOUT_S = 120.0
"""Each node builds the airspace and the routing graph before it answers (a few s each)."""

STOP_GRACE_S = 10.0
"""How long a node may take to stop after SIGTERM before it is killed."""


def operator_id(city: str) -> str:
    """The operator filing at the node of ``city``."""
    return f"op-{city}"


def operator_token(city: str) -> str:
    """Its bearer token (test tokens: they guard nothing but a throwaway database)."""
    return f"op-multinode-{city}-" + "1" * 16


def regulator_token(city: str) -> str:
    """The bearer token of the regulator of ``city``."""
    return f"reg-multinode-{city}-" + "2" * 16


def write_principals(path: Path, cities: Sequence[str] = CITIES) -> Path:
    """A principals file (see ``api.auth``): one admin, and an operator and a regulator per
    city."""
    documents: list[dict[str, Any]] = [{"name": "admin", "role": "admin",
                                        "token": ADMIN_TOKEN}]
    for city in cities:
        documents += [{"name": operator_id(city), "role": "operator",
                       "token": operator_token(city), "operator_id": operator_id(city)},
                      {"name": f"regulator-{city}", "role": "regulator",
                       "token": regulator_token(city), "jurisdictions": [city]}]
    path.write_text(json.dumps(documents, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nobody listens on now (all held open until every
    one is picked, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def planning_day(now: datetime | None = None) -> datetime:
    """02:00 UTC (10:00 in Sichuan) of tomorrow: inside every vertiport's opening hours and
    outside every curfew, and at least two hours ahead, beyond every city's lead time."""
    now = now or datetime.now(UTC)
    day = (now + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)


# -- PostgreSQL ---------------------------------------------------------------------------------


def schema_url(base_url: str, schema: str) -> str:
    """``base_url`` with its ``search_path`` set to ``schema`` (then ``public``, where
    ``btree_gist`` usually lives)."""
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options=-csearch_path%3D{schema},public"


@contextmanager
def fresh_schema(base_url: str, prefix: str = "utm_nodes") -> Iterator[str]:
    """A URL whose search_path is a new, empty schema; the schema is dropped afterwards."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(base_url, schema)
    finally:
        with psycopg.connect(base_url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


# -- nodes ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """One running ``utm serve`` process."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_after_s: float = 0.0
    """Seconds from start to the first answer of ``/v1/health``."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        """The end of its output (for failure messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def node_environment(database_url: str, principals: Path, name: str,
                     extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of one node: ours, plus its configuration; the bundled airspace (the
    checkers read the bundled zones), and the repository importable whatever the cwd."""
    env = dict(os.environ)
    env.pop("UTM_AIRSPACE", None)
    env.update(UTM_DATABASE_URL=database_url, UTM_PRINCIPALS=str(principals),
               UTM_NODE_NAME=name, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


def wait_until_healthy(nodes: Sequence[Node], timeout_s: float = START_TIMEOUT_S) -> float:
    """Wait until every node answers ``GET /v1/health``; seconds waited.

    Raises
    ------
    RuntimeError
        If a node exits, or does not answer in time (with the end of its log).
    """
    started = time.monotonic()
    waiting = list(nodes)
    with httpx.Client(timeout=2.0) as client:
        while waiting:
            for node in list(waiting):
                if node.process.poll() is not None:
                    raise RuntimeError(f"node {node.name} exited with {node.process.returncode} "
                                       f"before answering:\n{node.log_tail()}")
                try:
                    response = client.get(f"{node.url}/v1/health")
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    node.ready_after_s = time.monotonic() - started
                    waiting.remove(node)
            if not waiting:
                break
            if time.monotonic() - started > timeout_s:
                names = ", ".join(node.name for node in waiting)
                raise RuntimeError(f"{names} did not answer /v1/health within {timeout_s:.0f} s:"
                                   f"\n{waiting[0].log_tail()}")
            time.sleep(0.2)
    return time.monotonic() - started


def stop_nodes(nodes: Sequence[Node], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every node, wait for each (at most ``grace_s`` in all), SIGKILL the rest."""
    for node in nodes:
        if node.process.poll() is None:
            node.process.terminate()
    deadline = time.monotonic() + grace_s
    for node in nodes:
        try:
            node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(timeout=grace_s)


@contextmanager
def running_nodes(names: Sequence[str], database_url: str, principals: Path, log_dir: Path,
                  *, extra_env: dict[str, str] | None = None,
                  start_timeout_s: float = START_TIMEOUT_S) -> Iterator[list[Node]]:
    """Start one ``utm serve`` per name on one database, wait until all answer, yield them;
    stop them all afterwards (also when starting fails half-way)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    ports = free_ports(len(names))
    nodes: list[Node] = []
    with ExitStack() as stack:
        try:
            for name, port in zip(names, ports, strict=True):
                log_path = log_dir / f"node-{name}-{port}.log"
                log: IO[bytes] = stack.enter_context(log_path.open("wb"))
                process = subprocess.Popen(
                    [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1",
                     "--port", str(port)],
                    cwd=log_dir, env=node_environment(database_url, principals, name, extra_env),
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
                nodes.append(Node(name, port, process, log_path))
            wait_until_healthy(nodes, start_timeout_s)
            yield nodes
        finally:
            stop_nodes(nodes)


def wire_flights(client: httpx.Client, node: Node, token: str = ADMIN_TOKEN,
                 state: str | None = None) -> list[dict[str, Any]]:
    """Every flight plan a principal sees, through the API (all pages)."""
    flights: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 500}
    if state:
        params["state"] = state
    while True:
        response = client.get(f"{node.url}/v1/flight-plans", params=params,
                              headers=bearer(token))
        response.raise_for_status()
        page = response.json()
        flights += page["items"]
        if not page["next_cursor"]:
            return flights
        params["cursor"] = page["next_cursor"]
