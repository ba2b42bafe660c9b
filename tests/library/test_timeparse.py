"""Durations and instants as people write them (metering.timeparse), against plainly computed seconds."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metering import timeparse
from metering.errors import ConfigError
from metering.timeparse import format_duration, format_instant, parse_duration, parse_instant, with_iso


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("2m", 120), ("1h", 3600), ("30d", 2_592_000), ("1h30m", 5400), ("1w2d", 777_600),
     ("1d12h30m15s", 131_415), ("3600", 3600), ("0", 0), (" 1h 30m ", 5400), ("2H", 7200)],
)
def test_durations_in_units_become_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "-5m", "1.5h", "30m1h", "1h1h", "1h30", "m30", "1 h x", "1e3"])
def test_malformed_durations_are_refused_with_examples(text: str) -> None:
    with pytest.raises(ConfigError, match=r"is not a duration: e\.g\. 90s"):
        parse_duration(text, what="--duration")


@settings(deadline=None)  # a shared 2-core machine: timing is not what is tested
@given(st.integers(min_value=0, max_value=10**9))
def test_formatted_durations_read_back_the_same(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-12-01T00:00Z", datetime(2026, 12, 1, tzinfo=UTC)),
     ("2026-12-01T00:00:00Z", datetime(2026, 12, 1, tzinfo=UTC)),
     ("2026-12-01T01:00+01:00", datetime(2026, 12, 1, tzinfo=UTC)),
     ("2026-11-30T19:00:00-05:00", datetime(2026, 12, 1, tzinfo=UTC))],
)
def test_iso_instants_with_a_timezone_become_unix_seconds(text: str, expected: datetime) -> None:
    assert parse_instant(text) == int(expected.timestamp())


def test_plain_integers_are_unix_seconds() -> None:
    assert parse_instant("1796083200") == 1_796_083_200


def test_instants_beyond_year_9999_are_still_shown() -> None:
    assert format_instant(2**40 - 1) == "after 9999-12-31T23:59:59Z"


@pytest.mark.parametrize(
    ("text", "message"),
    [("2026-12-01T00:00", "has no timezone"), ("tomorrow", "not an ISO 8601 time"),
     ("2026-12-01T00:00:00.5Z", "fraction of a second"), ("-5", "not an ISO 8601 time")],
)
def test_instants_without_a_timezone_or_malformed_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_instant(text, what="--starts-at")


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=253_402_300_799))  # through 9999-12-31T23:59:59Z
def test_formatted_instants_read_back_the_same(timestamp: int) -> None:
    text = format_instant(timestamp)
    assert text.endswith("Z")
    assert parse_instant(text) == timestamp
    assert with_iso(timestamp) == f"{timestamp} ({text})"


def test_module_examples_hold() -> None:
    assert doctest.testmod(timeparse).failed == 0
