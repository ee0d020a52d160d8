"""Work the service does on its own, beside the requests, every ``UTM_HOUSEKEEPING_INTERVAL_S``.

``keep_house_periodically`` runs for the life of the app (started by its lifespan,
``api.app``). Each round, in a worker thread so that requests are not held up, it asks the
engine to

- expire the plans whose time passed unused (pending reviews at their departure, approvals
  whose volumes ended, flights to file again after their latest departure: ``utm.expiry``);
- flag the active flights still not ended a while after their volumes ended: nonconforming,
  with an alert to the regulators (``Engine.flag_overdue``).

Each node of a multi-node deployment may run it: every change is one transaction that checks
the flight again, so two nodes never change one flight twice.
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


def keep_house(engine: Engine, now: datetime) -> None:
    """One round: expire, then flag overdue flights (logged when something changed)."""
    expired = engine.expire(now)
    overdue = engine.flag_overdue(now)
    if expired or overdue:
        log.info("expired %d flights whose time passed unused; %d active flights overdue",
                 len(expired), len(overdue))


async def keep_house_periodically(engine: Engine, now: Callable[[], datetime],
                                  interval_s: float, stop: asyncio.Event) -> None:
    """A round now, then every ``interval_s`` seconds, until ``stop`` is set (a round under
    way finishes first: the store stays open for it). A failure (the database away) is logged
    and the next round tries again."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(keep_house, engine, now())
        except UtmError as error:
            log.warning("housekeeping failed, will retry: %s", error)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
