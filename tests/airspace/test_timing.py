"""Instants written and read back: the same text every time (signed approvals depend on it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from airspace.timing import format_instant, parse_instant

INSTANTS = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(8999, 12, 30),
                        timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]))


@given(INSTANTS)
def test_written_read_and_written_again_is_the_same_text(instant: datetime) -> None:
    text = format_instant(instant)
    assert format_instant(parse_instant(text)) == text
    assert abs(parse_instant(text) - instant) < timedelta(milliseconds=1)


def test_under_a_millisecond_is_whole_seconds() -> None:
    # An approval signed at 09:29:54.000412 once read back as 09:29:54 and no longer verified.
    assert format_instant(datetime(2026, 11, 24, 9, 29, 54, 412, tzinfo=UTC)) == (
        "2026-11-24T09:29:54Z")
    assert format_instant(datetime(2026, 11, 24, 9, 29, 54, 1412, tzinfo=UTC)) == (
        "2026-11-24T09:29:54.001Z")
