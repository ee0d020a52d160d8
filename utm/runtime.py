"""Process settings for a process that hosts an engine (the service, the benchmark).

An engine keeps hundreds of thousands of long-lived objects (held volumes and their outlines,
cached routes and cells, flights) and makes many short-lived ones per decision. With CPython's
default collector thresholds (700, 10, 10) a young collection runs every few hundred
allocations, and the full collections that follow walk the whole heap: replaying 1,500 plans
of the 100,000-plan day from its 60,000th, 20 full collections took 9.7 s together and up to
1.8 s each. With ``ENGINE_GC_THRESHOLDS`` one full collection ran, the mean decision went from
28.0 to 25.2 ms and the slowest from 1,246 to 553 ms (same decisions). Reference counting
still frees nearly everything at once (the collector only finds cycles): the 20,000-plan day
peaked at 1,450 MiB with these settings and 1,432 MiB without.

Set by the commands (``utm serve``, ``utm bench``), not by the library: a test run or another
program embedding the engine keeps its own settings.
"""

from __future__ import annotations

import gc

ENGINE_GC_THRESHOLDS = (50_000, 20, 100)
"""Young collections every 50,000 net allocations, middle ones every 20 young, full ones every
100 middle (and, as always, only once long-lived objects grew by a quarter)."""


def tune_garbage_collector() -> None:
    """Apply ``ENGINE_GC_THRESHOLDS`` to this process."""
    gc.set_threshold(*ENGINE_GC_THRESHOLDS)
