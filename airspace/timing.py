"""Time windows: absolute UTC intervals and recurring local times of day.

Domain code never reads the clock; callers pass instants in. Instants are aware datetimes; a
naive datetime is refused where it enters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from airspace.errors import InvalidInstantError, NaiveDatetimeError

EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest instant accepted (inclusive)."""

LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)
"""The first instant refused. Far from ``datetime.max`` (year 9999) on purpose: windows,
buffers, searches for a later departure and local times of day add hours or days to instants,
and must never step outside what ``datetime`` can hold (an ``OverflowError`` is not an
answer)."""


def require_aware(instant: datetime, name: str = "time") -> datetime:
    """Return ``instant`` in UTC.

    Raises
    ------
    NaiveDatetimeError
        If ``instant`` has no time zone.
    InvalidInstantError
        If it is not a datetime, or outside ``[EARLIEST_TIME, LATEST_TIME)``.
    """
    if not isinstance(instant, datetime):
        raise InvalidInstantError(f"{name} must be a datetime, got {type(instant).__name__}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise NaiveDatetimeError(f"{name} {instant.isoformat()} has no time zone (use UTC, 'Z')")
    try:
        utc = instant.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before datetime.min in UTC
        utc = None
    if utc is None or not EARLIEST_TIME <= utc < LATEST_TIME:
        raise InvalidInstantError(
            f"{name} {instant.isoformat()} is outside the supported years "
            f"{EARLIEST_TIME.year} to {LATEST_TIME.year - 1}")
    return utc


def parse_instant(text: object, name: str = "time") -> datetime:
    """Parse an RFC 3339 instant with an offset (``Z`` or ``+08:00``) to aware UTC."""
    if not isinstance(text, str):
        raise NaiveDatetimeError(f"{name} must be an RFC 3339 string, got {text!r}")
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as error:
        raise NaiveDatetimeError(f"{name} {text!r} is not an RFC 3339 instant") from error
    return require_aware(parsed, name)


def format_instant(instant: datetime) -> str:
    """RFC 3339 in UTC with ``Z`` (milliseconds kept when there are any).

    Idempotent through ``parse_instant``: an instant written, read back and written again
    gives the same text (signed approvals depend on it). Below a millisecond there is nothing
    to keep, so such an instant is written in whole seconds, not with ``.000``, which would
    read back as whole seconds and then be written without it."""
    utc = instant.astimezone(UTC)
    if utc.microsecond >= 1000:
        return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return utc.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A UTC interval ``[start_time, end_time)``."""

    start_time: datetime
    end_time: datetime

    def __post_init__(self) -> None:
        require_aware(self.start_time, "start_time")
        require_aware(self.end_time, "end_time")
        if self.end_time <= self.start_time:
            raise ValueError(
                f"time window ends ({format_instant(self.end_time)}) before it starts "
                f"({format_instant(self.start_time)})"
            )

    def contains(self, instant: datetime) -> bool:
        """True if ``instant`` is inside the window."""
        return self.start_time <= instant < self.end_time

    def overlaps(self, start_time: datetime, end_time: datetime) -> bool:
        """True if ``[start_time, end_time)`` shares an instant with the window."""
        return self.start_time < end_time and start_time < self.end_time


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """A recurring local time-of-day window, such as a curfew 23:00 to 06:00.

    The window may wrap past midnight (``start > end``). ``start == end`` means all day.
    """

    start: time
    end: time
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # raises for an unknown zone name

    def contains(self, instant: datetime) -> bool:
        """True if the local time of ``instant`` falls inside the window."""
        local = require_aware(instant).astimezone(ZoneInfo(self.timezone)).time()
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def overlaps(self, start_time: datetime, end_time: datetime) -> bool:
        """True if any instant of ``[start_time, end_time)`` is inside the window.

        Checked by the window's boundaries and the interval's ends, which is exact for
        intervals shorter than a day (all flights are).
        """
        if self.contains(start_time):
            return True
        zone = ZoneInfo(self.timezone)
        local_start = start_time.astimezone(zone)
        for day_offset in (0, 1):
            day = local_start.date().toordinal() + day_offset
            boundary = datetime.combine(datetime.fromordinal(day).date(), self.start, zone)
            if start_time <= boundary < end_time:
                return True
        return False

    def next_inside(self, instant: datetime) -> datetime:
        """``instant`` if it is inside the window, else the next instant the window opens."""
        if self.contains(instant):
            return instant
        zone = ZoneInfo(self.timezone)
        local = require_aware(instant).astimezone(zone)
        for day_offset in (0, 1, 2):
            day = datetime.fromordinal(local.date().toordinal() + day_offset).date()
            opening = datetime.combine(day, self.start, zone)
            if opening > instant:
                return opening.astimezone(UTC)
        return instant  # unreachable for a window that opens daily

    def to_text(self) -> str:
        """``"HH:MM-HH:MM Area/Zone"``, as written in datasets."""
        return f"{self.start.strftime('%H:%M')}-{self.end.strftime('%H:%M')} {self.timezone}"
