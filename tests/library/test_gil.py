"""The GIL switch interval a sync's reader thread runs under (:mod:`metering._utils.gil`)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from metering._utils.gil import QUICK_SWITCH_SECONDS, quick_switches


@pytest.fixture(autouse=True)
def default_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield
    sys.setswitchinterval(before)


def test_the_interval_is_short_while_held_and_restored_after() -> None:
    with quick_switches():
        assert sys.getswitchinterval() == pytest.approx(QUICK_SWITCH_SECONDS)
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_it_is_restored_after_an_error() -> None:
    with pytest.raises(RuntimeError), quick_switches():
        raise RuntimeError("the sync failed")
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_overlapping_holders_restore_the_interval_only_when_the_last_one_ends() -> None:
    # Adversary: two syncs in one process (a web view's and a watcher's) ending in the other order than they began:
    # the first to end must not restore the long interval under the second, nor the second restore the short one.
    first, second = quick_switches(), quick_switches()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(QUICK_SWITCH_SECONDS)
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_holders_in_threads_leave_the_interval_as_it_was() -> None:
    seen: set[float] = set()

    def hold() -> None:
        for _ in range(500):
            with quick_switches():
                seen.add(sys.getswitchinterval())

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen and all(value == pytest.approx(QUICK_SWITCH_SECONDS) for value in seen)
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_a_program_s_shorter_interval_is_kept() -> None:
    sys.setswitchinterval(0.0001)
    shorter = sys.getswitchinterval()  # as the interpreter keeps it (whole microseconds)
    with quick_switches():
        assert sys.getswitchinterval() == shorter
    assert sys.getswitchinterval() == shorter
