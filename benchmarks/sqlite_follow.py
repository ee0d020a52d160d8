"""How long a SQLite store takes to follow a write made by another store on the same file.

Two stores open one database (as two processes would: a server started on a file while another
still serves it). One rewrites a flight; the time the other's next transaction takes to start is
the time it spends bringing its volume index up to date. Both ways are measured in one run:
reading only the flights changed since the last change seen (the store's way), and reading
every held flight again (what it does without the change sequence: a read-only old file).

Example (on the snapshot ``benchmarks/decision_mix.py`` writes of the 600-pad day after 30,000
plans; the file is copied first, the original is left alone):

    python benchmarks/sqlite_follow.py var/day-600pads-30000.sqlite --extra-pads 600
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from airspace import Airspace, load_dataset
from utm.bench.scenario import with_extra_pads
from utm.states import FlightState
from utm.storage import open_store
from utm.storage.sqlite import SqliteStore


def follow_ms(writer: SqliteStore, follower: SqliteStore, rounds: int) -> list[float]:
    """Milliseconds the follower takes to start a transaction after each write."""
    [flight] = writer.list_flights(states=[FlightState.APPROVED], limit=1)
    times: list[float] = []
    for number in range(rounds):
        with writer.transaction(()) as tx:
            tx.put_flight(flight.evolve(notes=(*flight.notes, f"touched {number}")))
        tick = time.perf_counter()
        with follower.transaction(()):
            pass
        times.append((time.perf_counter() - tick) * 1000.0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", type=Path, help="a SQLite store file with approved flights")
    parser.add_argument("--extra-pads", type=int, default=600,
                        help="generated pads of the day that wrote it (its vertiports)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rounds", type=int, default=5, help="writes followed each way")
    args = parser.parse_args()
    airspace = Airspace(with_extra_pads(load_dataset(), args.extra_pads, args.seed))
    work = Path(tempfile.mkdtemp(prefix="utm-follow-")) / "store.sqlite"
    shutil.copy(args.database, work)
    url = f"sqlite:///{work}"
    writer = open_store(url, airspace.layers)
    tick = time.perf_counter()
    follower = open_store(url, airspace.layers)
    assert isinstance(writer, SqliteStore) and isinstance(follower, SqliteStore)
    with follower.transaction(()):  # the index is read at the first transaction
        pass
    print(f"opened and read in {time.perf_counter() - tick:.1f} s (every held flight: nothing "
          f"was forgotten yet): {len(follower.index):,} flights held")
    changed = follow_ms(writer, follower, args.rounds)
    follower._sequenced = False  # as a file without the change sequence is followed
    everything = follow_ms(writer, follower, args.rounds)
    print(f"following one write, median of {args.rounds}: changed flights only "
          f"{statistics.median(changed):.1f} ms; every held flight again "
          f"{statistics.median(everything):,.0f} ms")
    writer.close()
    follower.close()
    shutil.rmtree(work.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
