"""The ``utm`` console script: the commands of ``utm.cli`` plus ``serve`` and ``demo``.

``utm.cli`` cannot import the API (layers), so this module takes its typer ``app`` and adds
the two commands that need the HTTP service; ``pyproject.toml`` points the ``utm`` script at
``api.cli:main``.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from utm import cli as utm_cli
from utm.cli import app

__all__ = ["app", "main"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def main() -> None:
    """Entry point of the ``utm`` console script (``pyproject.toml``)."""
    app(prog_name="utm")


def _run_server(target: object, host: str, port: int, *, factory: bool) -> None:
    import uvicorn

    from utm.runtime import tune_garbage_collector

    tune_garbage_collector()
    # A short grace period: open event streams would otherwise hold the shutdown forever.
    uvicorn.run(target, host=host, port=port, factory=factory,  # type: ignore[arg-type]
                timeout_graceful_shutdown=3, log_level="info")


# -- utm serve --------------------------------------------------------------------------------


@app.command(
    "serve",
    epilog="Example: utm serve --host 127.0.0.1 --port 8000 --principals var/principals.json",
)
def serve_command(
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Interface to listen on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535, help="TCP port."),
    database: str | None = typer.Option(
        None, "--database", show_default=False,
        help="Database URL (sets UTM_DATABASE_URL); default: sqlite:///var/utm.sqlite."),
    principals: Path | None = typer.Option(
        None, "--principals", show_default=False,
        help="Principals JSON file (sets UTM_PRINCIPALS)."),
    dataset: Path | None = typer.Option(
        None, "--dataset", help=utm_cli.DATASET_HELP, show_default=False),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the map at http://HOST:PORT/ until stopped.

    Configuration comes from the environment (UTM_DATABASE_URL, UTM_AIRSPACE, UTM_PRINCIPALS);
    the options set those variables. Loading the airspace and the routing graph takes a few
    seconds before the server answers.
    """
    for variable, value in (("UTM_DATABASE_URL", database), ("UTM_PRINCIPALS", principals),
                            ("UTM_AIRSPACE", dataset)):
        if value is not None:
            os.environ[variable] = str(value)
    _run_server("api.app:create_app", host, port, factory=True)


# -- utm demo ---------------------------------------------------------------------------------


@app.command(
    "demo",
    epilog="Example: utm demo --flights 300 --database var/demo.sqlite --no-serve",
)
def demo_command(
    flights: int = typer.Option(300, "--flights", min=10, max=5000,
                                help="How many delivery plans to file over the morning."),
    seed: int = typer.Option(7, "--seed", help="Random seed (same seed, same morning)."),
    database: Path = typer.Option(Path("var/demo.sqlite"), "--database",
                                  help="SQLite file to write (replaced if it exists)."),
    principals_file: Path = typer.Option(
        Path("var/principals.json"), "--principals",
        help="Where to write the demo principals and their tokens (replaced)."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Stop after the summary."),
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Interface to serve on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535, help="TCP port."),
) -> None:
    """Replay a morning of traffic through the HTTP API, print a summary and demo tokens,
    then serve the API and the map at http://127.0.0.1:8000/ until stopped.

    Deliveries in every city, cross-city logistics, a medical emergency that preempts, a
    regulator's temporary restriction and cities' reviews, each an HTTP request made with a
    demo token, on the embedded SQLite store.
    """
    from fastapi.testclient import TestClient

    from api.app import create_app, shutdown
    from api.auth import PrincipalRegistry
    from api.demo import DemoClock, demo_principals, replay_morning, write_principals
    from api.settings import Settings

    loaded = utm_cli._load(None, with_planner=True)
    database.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    principals = demo_principals(sorted(loaded.airspace.jurisdictions))
    write_principals(principals_file, principals)
    clock = DemoClock()
    registry = PrincipalRegistry.from_file(principals_file, list(loaded.airspace.jurisdictions))
    app_ = create_app(Settings(database_url=f"sqlite:///{database}"), airspace=loaded.airspace,
                      planner=loaded.planner, clock=clock, principals=registry)
    # In-process HTTP: the same requests an operator's system would send over the network.
    client = TestClient(app_, base_url=f"http://{host}:{port}")
    console = Console(stderr=True, highlight=False)
    with Progress(TextColumn("Replaying the morning over HTTP"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task("replay", total=flights)
        summary = replay_morning(client, loaded.airspace, clock, principals, flights=flights,
                                 seed=seed,
                                 on_progress=lambda done: progress.update(task, completed=done))
    out = Console(highlight=False, soft_wrap=True)  # one fact per line, even in a pipe
    out.print(f"[bold]Morning replayed through the HTTP API[/bold] into {database}")
    for line in summary.lines():
        out.print(f"  {line}")
    out.print(f"Demo tokens (also in {principals_file}):")
    for principal in principals:
        scope = principal.operator_id or ",".join(principal.jurisdictions) or "all"
        out.print(f"  {principal.role:<9} {principal.name:<22} {principal.token}  ({scope})")
    if no_serve:
        shutdown(app_)
        return
    out.print(f"Serving the API at http://{host}:{port}/ (map), http://{host}:{port}/docs "
              "(OpenAPI); Ctrl-C stops.")
    out.print(f"  Try: curl -H 'Authorization: Bearer {principals[0].token}' "
              f"http://{host}:{port}/v1/flight-plans?limit=1")
    _run_server(app_, host, port, factory=False)


if __name__ == "__main__":
    main()
