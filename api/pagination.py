"""Cursor pagination: ``?limit=1..500&cursor=...`` -> ``{"items": [...], "next_cursor": ...}``.

Lists are ordered by id (ids sort by creation time). The cursor is opaque to clients: it is the
last id of the previous page, base64url-encoded; ``next_cursor`` is null on the last page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Query

from api.problems import ApiProblem

DEFAULT_LIMIT = 100
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1 to 500).")]
Cursor = Annotated[str | None, Query(max_length=200,
                                     description="`next_cursor` of the previous page.")]

T = TypeVar("T")


def encode_cursor(last_id: str) -> str:
    """The opaque cursor after ``last_id``."""
    return base64.urlsafe_b64encode(last_id.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The id a cursor stands for; 422 ``invalid_cursor`` for anything not made by the API."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        last_id = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise ApiProblem(422, "invalid_cursor", "the cursor is not one this API gave out",
                         field="cursor") from None
    if not last_id or not last_id.isprintable() or encode_cursor(last_id) != cursor:
        raise ApiProblem(422, "invalid_cursor", "the cursor is not one this API gave out",
                         field="cursor")
    return last_id


def page(fetch: Callable[[str | None, int], Sequence[T]], cursor: str | None, limit: int,
         id_of: Callable[[T], str], keep: Callable[[T], bool] | None = None,
         max_rounds: int = 20) -> tuple[list[T], str | None]:
    """One page of items and the next cursor.

    ``fetch(after_id, n)`` returns up to ``n`` items after ``after_id`` in id order. ``keep``
    filters what the store cannot; more is read until the page is full, the items run out or
    ``max_rounds`` reads were made (then the page is short, and ``next_cursor`` moves past
    everything read).
    """
    after = decode_cursor(cursor)
    items: list[T] = []
    for _ in range(max_rounds):
        batch = list(fetch(after, limit + 1))
        for position, item in enumerate(batch[:limit]):
            after = id_of(item)
            if keep is None or keep(item):
                items.append(item)
                if len(items) == limit:
                    more = position + 1 < len(batch)
                    return items, encode_cursor(after) if more else None
        if len(batch) <= limit:
            return items, None
    return items, encode_cursor(after) if after is not None else None
