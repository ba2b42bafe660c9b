"""Block times by bisection: the first block at or after a time, the last at or before, with equal timestamps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metering.audit.blocktime import first_block_at_or_after, last_block_at_or_before


class Clock:
    """A chain whose block ``n`` has ``times[n]``; counts the look-ups."""

    def __init__(self, times: list[int]) -> None:
        self.times = times
        self.asked = 0

    def head(self) -> int:
        return len(self.times) - 1

    def timestamp(self, number: int) -> int:
        self.asked += 1
        return self.times[number]


@given(gaps=st.lists(st.integers(0, 5), min_size=1, max_size=200), when=st.integers(-3, 600), low=st.integers(0, 5))
def test_bisection_finds_what_a_linear_scan_finds(gaps: list[int], when: int, low: int) -> None:
    times = [sum(gaps[: i + 1]) for i in range(len(gaps))]  # never decreasing, equal timestamps allowed
    clock = Clock(times)
    first = next((n for n in range(low, len(times)) if times[n] >= when), None)
    last = max((n for n in range(low, len(times)) if times[n] <= when), default=None)
    if low < len(times) and times[low] > when:
        last = None
    assert first_block_at_or_after(clock, when, low=low) == first
    assert last_block_at_or_before(clock, when, low=low) == last


def test_bisection_needs_a_logarithmic_number_of_blocks() -> None:
    clock = Clock(list(range(0, 12 * 1_000_000, 12)))
    assert first_block_at_or_after(clock, 6_000_001) == 500_001
    assert clock.asked <= 25


@pytest.mark.parametrize(("when", "first", "last"), [(10, 1, 3), (11, 4, 3), (0, 0, None), (99, None, 4)])
def test_equal_timestamps(when: int, first: int | None, last: int | None) -> None:
    clock = Clock([5, 10, 10, 10, 20])
    assert first_block_at_or_after(clock, when) == first
    assert last_block_at_or_before(clock, when) == last
