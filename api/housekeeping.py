"""Work the service does on its own, beside the requests: expiring plans whose time passed.

``expire_periodically`` runs for the life of the app (started by its lifespan, ``api.app``):
every ``interval_s`` it asks the engine to expire the plans whose time passed unused (pending
reviews at their departure, approvals whose volumes ended, flights to file again after their
latest departure: ``utm.expiry``), in a worker thread so that requests are not held up. Each
node of a multi-node deployment may run it: an expiry is one transaction that checks the flight
again, so two nodes never expire one flight twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime

from utm.engine import Engine
from utm.errors import UtmError

log = logging.getLogger("api.housekeeping")


async def expire_periodically(engine: Engine, now: Callable[[], datetime],
                              interval_s: float, stop: asyncio.Event) -> None:
    """Expire what is due now, then again every ``interval_s`` seconds, until ``stop`` is set
    (a round under way finishes first: the store stays open for it). A failure (the database
    away) is logged and the next round tries again."""
    while not stop.is_set():
        try:
            expired = await asyncio.to_thread(engine.expire, now())
        except UtmError as error:
            log.warning("expiring flights failed, will retry: %s", error)
        else:
            if expired:
                log.info("expired %d flights whose time passed unused", len(expired))
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
