"""The event stream: engine events fanned out to server-sent-event connections.

The hub is an engine listener. The engine calls it from whichever thread made the decision
(request handlers run in a thread pool), so events cross into each connection's event loop with
``loop.call_soon_threadsafe``; each connection has its own bounded queue and sees only the events
its principal may see (``Principal.may_see_event``). A connection that falls more than
``MAX_QUEUED_EVENTS`` behind loses events and is told so in a comment line; events are not
replayed (``Last-Event-ID`` is ignored): after a reconnect, read the current state from the
flight-plan endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from airspace.timing import format_instant
from api.auth import Principal
from utm.events import Event

MAX_QUEUED_EVENTS = 1000
HEARTBEAT_S = 15.0
"""A comment line is sent after this long without an event, so proxies keep the connection."""


@dataclass(eq=False, slots=True)
class Subscription:
    """One open stream: its principal, its event loop and its queue."""

    principal: Principal
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[int, Event] | None] = field(
        default_factory=lambda: asyncio.Queue(MAX_QUEUED_EVENTS))
    dropped: int = 0

    def offer(self, item: tuple[int, Event] | None) -> None:
        """Queue an item (runs in the subscription's loop); count it as dropped if full."""
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            if item is None:  # closing must get through: make room
                self.queue.get_nowait()
                self.queue.put_nowait(None)
            else:
                self.dropped += 1


class EventHub:
    """Fans engine events out to subscriptions; safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self._sequence = itertools.count(1)
        self.closed = False

    def __len__(self) -> int:
        return len(self._subscriptions)

    def subscribe(self, principal: Principal) -> Subscription:
        """A new subscription in the running event loop."""
        subscription = Subscription(principal, asyncio.get_running_loop())
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription (its stream ended)."""
        with self._lock:
            self._subscriptions.discard(subscription)

    def publish(self, event: Event) -> None:
        """The engine listener: queue ``event`` for every subscription allowed to see it."""
        with self._lock:
            number = next(self._sequence)
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            if not subscription.principal.may_see_event(event):
                continue
            try:
                subscription.loop.call_soon_threadsafe(subscription.offer, (number, event))
            except RuntimeError:  # its loop is closed: the server has stopped
                self.unsubscribe(subscription)

    def close(self) -> None:
        """End every stream (at shutdown)."""
        self.closed = True
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            with contextlib.suppress(RuntimeError):  # its loop is closed already
                subscription.loop.call_soon_threadsafe(subscription.offer, None)


def event_to_json(event: Event) -> dict[str, Any]:
    """The wire form of an event (the ``data:`` line of the stream)."""
    return {
        "kind": event.kind,
        "time": format_instant(event.time),
        "flight_id": event.flight_id,
        "jurisdictions": list(event.jurisdictions),
        "operator_id": event.operator_id,
        "data": event.data,
    }


def event_to_sse(number: int, event: Event) -> bytes:
    """One server-sent event: ``id``, ``event`` (the kind) and one ``data`` line of JSON."""
    data = orjson.dumps(event_to_json(event))
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (number, event.kind.encode(), data)


async def sse_stream(hub: EventHub, principal: Principal,
                     heartbeat_s: float = HEARTBEAT_S) -> AsyncIterator[bytes]:
    """The bytes of one connection's stream, until the hub closes or the client leaves.

    The subscription is made when the stream starts, so the first chunk (``: connected``)
    tells a client that every later event will reach it.
    """
    subscription = hub.subscribe(principal)
    try:
        yield b"retry: 3000\n: connected\n\n"
        while not hub.closed or not subscription.queue.empty():
            try:
                item = await asyncio.wait_for(subscription.queue.get(), timeout=heartbeat_s)
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if subscription.dropped:
                yield b": %d events were dropped (the client was too slow)\n\n" % (
                    subscription.dropped)
                subscription.dropped = 0
            if item is None:
                return
            yield event_to_sse(*item)
    finally:
        hub.unsubscribe(subscription)
