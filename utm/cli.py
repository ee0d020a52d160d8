"""The ``utm`` command line: check a dataset, classify a position, plan a route.

The CLI is an edge: it parses text into domain values (aware UTC instants, degrees, metres AGL),
may read the clock (``classify`` defaults to now), and turns the packages' errors into one-line
messages and exit codes. Exit codes:

- 0: done;
- 1: the dataset is broken (``DatasetError``: file, feature index, id and problem);
- 2: the request is wrong (bad time, position or endpoint, no route); typer's own usage errors
  exit 2 as well.

Machine-readable results (``classify``, ``route``) go to stdout as JSON; progress and errors go
to stderr, so ``utm route ... | jq`` works. New commands join ``app`` (or a sub-app such as
``airspace_app``) with a docstring and an ``epilog`` example, like those below. ``serve`` and
``demo`` need the HTTP API, which this layer may not import: ``api.cli`` adds them to ``app``
and is the console script's entry point.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from airspace import Airspace, AirspaceError, DatasetError, bundled_dataset_path, load_dataset
from airspace.classes import ZONE_CLASSES
from airspace.geo import check_latlng
from airspace.loading import Dataset
from airspace.timing import format_instant, parse_instant
from routes import (
    DroneCategory,
    DronePerformance,
    Endpoint,
    InvalidRequestError,
    Planner,
    Route,
    RouteRequest,
    RoutingError,
)

EXIT_BROKEN_DATASET = 1
"""A dataset was refused: the data must be fixed, not the command."""

EXIT_BAD_REQUEST = 2
"""The command asked for something impossible or malformed (same code as typer's usage errors)."""

app = typer.Typer(
    name="utm",
    help="Low-altitude drone traffic management for Chengdu, Deyang, Meishan and Ziyang.",
    no_args_is_help=True,
    add_completion=False,
    # Markdown: docstring paragraphs reflow, and [lng, lat] is not read as rich markup.
    rich_markup_mode="markdown",
)

airspace_app = typer.Typer(
    help="Inspect the airspace dataset: validate it, classify a position.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(airspace_app, name="airspace")


def main() -> None:
    """Entry point of the ``utm`` console script (``pyproject.toml``)."""
    app(prog_name="utm")


# -- shared options ---------------------------------------------------------------------------

DATASET_HELP = "Dataset folder (manifest.json and its files); default: the bundled sichuan4."


def _stderr() -> Console:
    # Made per call, not at import: CliRunner swaps sys.stderr for each invocation.
    return Console(stderr=True, highlight=False)


def _fail(error: AirspaceError | RoutingError, exit_code: int) -> NoReturn:
    """Print ``error: <code>: <message>`` on stderr and exit (no traceback)."""
    code = getattr(error, "code", "error")
    print(f"error: {code}: {error}", file=sys.stderr)
    raise typer.Exit(exit_code)


def _print_json(document: dict[str, Any]) -> None:
    """Write a JSON document on stdout: highlighted on a terminal, plain in a pipe."""
    stdout = Console(highlight=True)
    if stdout.is_terminal:
        stdout.print_json(data=document, ensure_ascii=False)
    else:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def _parse_instant_option(text: str, option: str) -> datetime:
    try:
        return parse_instant(text, option)
    except AirspaceError as error:
        _fail(error, EXIT_BAD_REQUEST)


# -- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A loaded and indexed airspace, its planner if asked for, and how long each step took."""

    dataset: Dataset
    airspace: Airspace
    planner: Planner | None
    read_s: float
    index_s: float
    graph_s: float


@contextmanager
def _step(progress: Progress, description: str) -> Iterator[None]:
    task = progress.add_task(description, total=None)
    try:
        yield
    finally:
        progress.remove_task(task)


def _load(folder: Path | None, *, with_planner: bool = False) -> _Loaded:
    """Load, validate and index a dataset (and build the routing graph), with a spinner.

    Exits with ``EXIT_BROKEN_DATASET`` and the ``DatasetError`` message if the dataset is
    refused.
    """
    root = folder if folder is not None else bundled_dataset_path()
    console = _stderr()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        # In a pipe or a CI log a spinner is noise (rich would still print a blank line).
        disable=not console.is_terminal,
    )
    planner = None
    graph_s = 0.0
    try:
        with progress:
            started = time.perf_counter()
            with _step(progress, f"Reading and validating {root}"):
                dataset = load_dataset(root)
            read_done = time.perf_counter()
            with _step(progress, "Indexing zones and corridors on the H3 grid"):
                airspace = Airspace(dataset)
            index_done = time.perf_counter()
            if with_planner:
                with _step(progress, "Building the routing graph"):
                    planner = Planner(airspace)
                graph_s = time.perf_counter() - index_done
    except DatasetError as error:
        _fail(error, EXIT_BROKEN_DATASET)
    return _Loaded(
        dataset=dataset,
        airspace=airspace,
        planner=planner,
        read_s=read_done - started,
        index_s=index_done - read_done,
        graph_s=graph_s,
    )


# -- utm airspace check -------------------------------------------------------------------------


@airspace_app.command(
    "check",
    epilog="Example: utm airspace check airspace/datasets/sichuan4",
)
def airspace_check(
    dataset: Path | None = typer.Argument(None, help=DATASET_HELP, show_default=False),
) -> None:
    """Load and index a dataset, then print a summary; exit 1 if the dataset is broken.

    The summary gives the dataset's name and notice, the load and index time, the grid, the
    zones per class, the vertiports per city, the corridors and the number of indexed zone
    cells. A broken file refuses the whole dataset; the message names the file, the feature
    (index and id) and the problem.
    """
    loaded = _load(dataset)
    data = loaded.dataset
    space = loaded.airspace
    out = Console(highlight=False)

    out.print(f"[bold]Dataset {data.name}[/bold] ({data.folder})")
    if data.description:
        out.print(data.description)
    if data.notice:
        out.print(f"[yellow]Notice:[/yellow] {data.notice}")
    total_s = loaded.read_s + loaded.index_s
    out.print(
        f"Loaded and indexed in {total_s:.2f} s "
        f"(read and validate {loaded.read_s:.2f} s, index {loaded.index_s:.2f} s)"
    )
    boundaries = "-".join(f"{b:g}" for b in space.layers.boundaries_agl_m)
    out.print(
        f"Grid: H3 resolution {data.grid.resolution} (routing {data.grid.routing_resolution}), "
        f"{space.layers.count} altitude layers {boundaries} m AGL"
    )

    zone_counts = Counter(zone.airspace_class for zone in data.zones)
    zones_text = ", ".join(
        f"{airspace_class.value} {zone_counts.get(airspace_class, 0)}"
        for airspace_class in sorted(ZONE_CLASSES, key=lambda c: -c.severity)
    )
    out.print(f"Zones: {len(data.zones)} ({zones_text})")

    vertiport_counts = Counter(vertiport.jurisdiction for vertiport in data.vertiports)
    cities = Table(title=None, show_edge=False, pad_edge=False)
    cities.add_column("city")
    cities.add_column("name")
    cities.add_column("name_zh")
    cities.add_column("vertiports", justify="right")
    for jurisdiction in data.jurisdictions:
        cities.add_row(
            jurisdiction.id,
            jurisdiction.name,
            jurisdiction.name_zh,
            str(vertiport_counts.get(jurisdiction.id, 0)),
        )
    out.print(
        f"Jurisdictions: {len(data.jurisdictions)}, vertiports: {len(data.vertiports)}"
    )
    out.print(cities)
    out.print(f"Corridors: {len(data.corridors)}")
    out.print(f"Indexed zone cells: {len(space.zone_cells())} (H3 resolution {space.resolution})")
    out.print("[green]OK[/green]")


# -- utm airspace classify ----------------------------------------------------------------------


@airspace_app.command(
    "classify",
    epilog=(
        "Example: utm airspace classify --lat 30.5785 --lng 103.947 --alt-agl-m 50 "
        "--time 2026-12-01T02:00:00Z"
    ),
)
def airspace_classify(
    lat: float = typer.Option(..., "--lat", help="Latitude, WGS84 degrees."),
    lng: float = typer.Option(..., "--lng", help="Longitude, WGS84 degrees."),
    alt_agl_m: float = typer.Option(
        ..., "--alt-agl-m", help="Height above ground level (true height), metres."
    ),
    time_text: str | None = typer.Option(
        None,
        "--time",
        help="RFC 3339 instant with an offset, e.g. 2026-12-01T10:00:00+08:00; default: now.",
        show_default=False,
    ),
    dataset: Path | None = typer.Option(None, "--dataset", help=DATASET_HELP, show_default=False),
) -> None:
    """Print the airspace class of a position at an instant, as JSON.

    The answer is ``Classification.to_json()``: class (prohibited, restricted, controlled,
    suitable, corridor or out_of_service), jurisdiction, H3 cell, altitude layer, and the
    zones or corridors that decided it. Exit 2 for a naive time or a position out of range.
    """
    # Validate what needs no dataset first, so a typo fails in milliseconds.
    at_time = (
        _parse_instant_option(time_text, "--time")
        if time_text is not None
        else datetime.now(UTC)  # the CLI is the edge: it may read the clock
    )
    try:
        check_latlng(lat, lng)
    except AirspaceError as error:
        _fail(error, EXIT_BAD_REQUEST)
    loaded = _load(dataset)
    try:
        classification = loaded.airspace.classify(lat, lng, alt_agl_m, at_time)
    except AirspaceError as error:
        _fail(error, EXIT_BAD_REQUEST)
    _print_json(classification.to_json())


# -- utm route ----------------------------------------------------------------------------------


def _endpoint(
    role: str, option: str, vertiport_id: str | None, lat: float | None, lng: float | None
) -> Endpoint:
    """An endpoint from ``--from`` or ``--from-lat/--from-lng`` (or the ``--to`` pair)."""
    has_point = lat is not None or lng is not None
    if (vertiport_id is None) == (not has_point):
        raise InvalidRequestError(
            f"give the {role} as {option} VERTIPORT or as {option}-lat and {option}-lng"
        )
    if has_point and (lat is None or lng is None):
        raise InvalidRequestError(f"the {role} needs both {option}-lat and {option}-lng")
    return Endpoint(vertiport_id=vertiport_id, lat=lat, lng=lng)


def route_to_json(route: Route, departure_time: datetime, planner: Planner) -> dict[str, Any]:
    """The ``utm route`` output: the route, its times, legs and 4-D volumes.

    Parameters
    ----------
    route : Route
        A planned route, timed from departure.
    departure_time : datetime
        Aware UTC instant the route is flown from.
    planner : Planner
        The planner that made it (its buffers shape the volumes).

    Returns
    -------
    dict
        ``{"route", "departure_time", "arrival_time", "distance_m", "duration_s",
        "corridors", "legs", "volumes"}``; instants are RFC 3339 ``Z``.
    """

    def at(offset_s: float) -> str:
        return format_instant(departure_time + timedelta(seconds=offset_s))

    return {
        "route": route.to_geojson(),
        "departure_time": format_instant(departure_time),
        "arrival_time": at(route.duration_s),
        "distance_m": round(route.distance_m, 1),
        "duration_s": round(route.duration_s, 1),
        "corridors": list(route.corridor_ids),
        "legs": [
            {
                "kind": leg.kind.value,
                "corridor_id": leg.corridor_id,
                "start_time": at(leg.start.offset_s),
                "end_time": at(leg.end.offset_s),
            }
            for leg in route.legs
        ],
        "volumes": [volume.to_json() for volume in planner.volumes(route, departure_time)],
    }


@app.command(
    "route",
    epilog=(
        "Example: utm route --from CD-TFS --to DY-CTR --depart 2026-12-01T02:00:00Z"
        "\n\n"
        "Example: utm route --from-lat 29.95 --from-lng 103.6 --to MS-CTR "
        "--depart 2026-12-01T10:00:00+08:00 --drone-category small"
    ),
)
def route_command(
    origin: str | None = typer.Option(
        None, "--from", help="Origin vertiport id, e.g. CD-TFS.", show_default=False
    ),
    destination: str | None = typer.Option(
        None, "--to", help="Destination vertiport id, e.g. DY-CTR.", show_default=False
    ),
    depart: str = typer.Option(
        ..., "--depart", help="Departure: RFC 3339 instant with an offset (Z or +08:00)."
    ),
    from_lat: float | None = typer.Option(
        None, "--from-lat", help="Origin latitude, degrees (instead of --from).",
        show_default=False,
    ),
    from_lng: float | None = typer.Option(
        None, "--from-lng", help="Origin longitude, degrees.", show_default=False
    ),
    to_lat: float | None = typer.Option(
        None, "--to-lat", help="Destination latitude, degrees (instead of --to).",
        show_default=False,
    ),
    to_lng: float | None = typer.Option(
        None, "--to-lng", help="Destination longitude, degrees.", show_default=False
    ),
    drone_category: DroneCategory = typer.Option(
        DroneCategory.LIGHT, "--drone-category", help="Drone category (its typical performance)."
    ),
    cruise_agl_m: float | None = typer.Option(
        None,
        "--cruise-agl-m",
        help="Free-flight cruise height, metres AGL; default: 45 m (the 30-60 m layer).",
        show_default=False,
    ),
    dataset: Path | None = typer.Option(None, "--dataset", help=DATASET_HELP, show_default=False),
) -> None:
    """Plan a route between vertiports or points and print it as JSON.

    The output holds the route as a GeoJSON LineString of [lng, lat, alt_agl_m], departure and
    arrival times, distance, duration, the corridors flown, the legs and the 4-D volumes the
    flight would reserve. A request the planner refuses (unknown vertiport, outside the
    service area, endpoint in prohibited airspace, no route, invalid request) exits 2 with
    ``error: <code>: <message>``.
    """
    departure_time = _parse_instant_option(depart, "--depart")
    try:
        request = RouteRequest(
            origin=_endpoint("origin", "--from", origin, from_lat, from_lng),
            destination=_endpoint("destination", "--to", destination, to_lat, to_lng),
            departure_time=departure_time,
            performance=DronePerformance.default_for(DroneCategory(drone_category)),
            cruise_agl_m=cruise_agl_m,
        )
    except RoutingError as error:
        _fail(error, EXIT_BAD_REQUEST)
    loaded = _load(dataset, with_planner=True)
    planner = loaded.planner
    assert planner is not None  # asked for with with_planner=True
    try:
        planned = planner.plan(request)
    except (RoutingError, AirspaceError) as error:
        _fail(error, EXIT_BAD_REQUEST)
    _print_json(route_to_json(planned, departure_time, planner))


# -- utm bench ----------------------------------------------------------------------------------


@app.command(
    "bench",
    epilog="Example: utm bench --flights 12000 --seed 2026 --plot docs/bench-latency.png",
)
def bench_command(
    flights: int = typer.Option(10_000, "--flights", min=100, max=100_000,
                                help="Plans in the day (up to 100,000)."),
    seed: int = typer.Option(2026, "--seed", help="Random seed: same seed, same day."),
    extra_pads: int = typer.Option(150, "--extra-pads", min=0, max=600,
                                   help="Generated rooftop pads added to the dataset's."),
    peak_share: float = typer.Option(0.6, "--peak-share", min=0.0, max=1.0,
                                     help="Share of the plans in the morning and evening "
                                          "peaks (the rest spread over 07-22)."),
    hot_spots: int = typer.Option(6, "--hot-spots", min=1, max=50,
                                  help="Chengdu vertiports where a share of the demand "
                                       "clusters."),
    first_plans: int | None = typer.Option(
        None, "--first-plans", min=1, show_default=False,
        help="Replay only the day's first N plans in filing order (its morning, say)."),
    samples: int = typer.Option(20, "--samples", min=1, max=500,
                                help="Plans decided by the engine and both baselines at each "
                                     "checkpoint (1k, 10k, 50k, 100k approved)."),
    plot_path: Path | None = typer.Option(None, "--plot", help="Write the latency PNG here.",
                                          show_default=False),
    json_path: Path | None = typer.Option(None, "--json", help="Write the figures here.",
                                          show_default=False),
) -> None:
    """Replay a seeded day of traffic through the engine and compare with the naive way.

    Reports decision latency as approved flights grow, throughput, approval rate, the delay
    and the detour resolution added (metres and seconds of flight beyond the route as filed),
    peak memory; at each checkpoint the same plans are also decided by checking
    every flight overlapping in time (and with a shapely STRtree), which must reach identical
    decisions, and the speed ratio is printed.
    """
    from rich.progress import BarColumn, MofNCompleteColumn

    from utm.bench.runner import BenchConfig, checkpoint_rows, plot, run
    from utm.bench.scenario import ScenarioConfig
    from utm.runtime import tune_garbage_collector

    tune_garbage_collector()  # as ``utm serve`` does: the engine is measured as it is served
    config = BenchConfig(ScenarioConfig(flights=flights, seed=seed, extra_pads=extra_pads,
                                        peak_share=peak_share, hot_spots=hot_spots),
                         baseline_samples=samples, first_plans=first_plans)
    console = _stderr()
    with Progress(TextColumn("Replaying the day"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("day", total=min(flights, first_plans or flights))
        tenths_told = 0

        def report(done: int, total: int) -> None:
            nonlocal tenths_told
            progress.update(task, completed=done, total=total)
            # Without a terminal (nohup, CI logs) no bar is drawn: a line per tenth instead.
            if not console.is_terminal and done * 10 // total > tenths_told:
                tenths_told = done * 10 // total
                console.print(f"replayed {done:,} of {total:,} plans "
                              f"({progress.tasks[0].elapsed or 0.0:.0f} s)")

        result = run(config, progress=report)
    figures = result.summary()
    rows = checkpoint_rows(result)
    out = Console(highlight=False)
    table = Table(title="Decision latency (ms) as approved flights grow: engine, and the "
                        "naive scan and STRtree baselines on the same sampled plans")
    for column in ("approved", "p50", "p90", "p99", "scan p50", "tree p50", "scan/eng",
                   "tree/eng", "same"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(str(row["approved"]), f"{row['engine_p50_ms']:.1f}",
                      f"{row['engine_p90_ms']:.1f}", f"{row['engine_p99_ms']:.1f}",
                      f"{row['scan_sample_p50_ms']:.1f}", f"{row['strtree_sample_p50_ms']:.1f}",
                      f"{row['scan_over_index']:.1f}x", f"{row['strtree_over_index']:.1f}x",
                      "yes" if row["identical_decisions"] else "NO")
    out.print(table)
    out.print(json.dumps(figures, indent=2))
    if json_path is not None:
        json_path.write_text(json.dumps({"summary": figures, "checkpoints": rows}, indent=2))
    if plot_path is not None:
        plot(result, plot_path)
        out.print(f"plot written to {plot_path}")


if __name__ == "__main__":
    main()
